//! The routing checks: decisions, their storage, feedback and fallbacks, against the
//! graph the suite uploaded (`version`).

use serde_json::{Value, json};

use crate::checks::parts;
use crate::client::{Client, expect_error, expect_status};
use crate::{Outcome, Target};

fn check_decision(d: &Value) -> Result<(), String> {
    let fields = [
        "agent",
        "confidence",
        "reason",
        "skillFilesUsed",
        "matchedKeywords",
        "fallbackFrom",
        "alternatives",
        "graphVersion",
        "routingLatency",
        "instance",
        "conversation",
        "decisionId",
    ];
    for f in fields {
        if d.get(f).is_none() {
            return Err(format!("decision lacks {f}: {d}"));
        }
    }
    let c = d["confidence"]
        .as_f64()
        .ok_or("confidence is not a number")?;
    if !(0.0..=1.0).contains(&c) {
        return Err(format!("confidence {c} outside 0..1"));
    }
    if !matches!(
        d["reason"].as_str(),
        Some("match" | "fallback" | "default" | "no-match" | "affinity")
    ) {
        return Err(format!("bad reason {}", d["reason"]));
    }
    // A Worker cannot measure it (its clocks stand still while it computes): null
    // there, a non-negative number where it was measured.
    let latency = &d["routingLatency"];
    if !(latency.is_null() || latency.as_f64().is_some_and(|ms| ms >= 0.0))
        || !d["skillFilesUsed"].is_array()
        || !d["matchedKeywords"].is_array()
        || !d["alternatives"].is_array()
    {
        return Err(format!("bad field types in {d}"));
    }
    Ok(())
}

/// `POST /api/route` with `body` as the gateway: the decision, or why there is none
/// (a status other than 200 is an error).
pub(crate) fn route(c: &Client, t: &Target, body: &Value) -> Result<Value, String> {
    let (r, _, gw, _, _) = parts(t);
    let resp = c.call(
        "POST",
        &r("/api/route"),
        Some(gw),
        Some(&body.to_string()),
        &[],
    )?;
    expect_status(&resp, 200, "POST /api/route")?;
    Ok(resp.body)
}

/// `POST /api/route/feedback` as the operator: decision `id` should have gone to
/// `agent` (a status other than 201 is an error).
pub(crate) fn feedback(c: &Client, t: &Target, id: &str, agent: &str) -> Result<(), String> {
    let (r, _, _, op, _) = parts(t);
    let body = json!({"decisionId": id, "correctAgent": agent}).to_string();
    expect_status(
        &c.call(
            "POST",
            &r("/api/route/feedback"),
            Some(op),
            Some(&body),
            &[],
        )?,
        201,
        "feedback",
    )
}

/// Runs every check against `t` and returns the outcomes in order.
pub(crate) fn routing_checks(c: &Client, t: &Target, version: &str, out: &mut Vec<Outcome>) {
    let (r, g, gw, op, viewer) = parts(t);
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };
    check("routing picks the agent by keywords", &mut || {
        let body =
            json!({"message": "Please deploy the release to production", "channel": "slack"})
                .to_string();
        let resp = c.call("POST", &r("/api/route"), Some(gw), Some(&body), &[])?;
        expect_status(&resp, 200, "POST /api/route")?;
        check_decision(&resp.body)?;
        let d = &resp.body;
        if d["agent"] != "devops" || d["reason"] != "match" || d["graphVersion"] != version {
            return Err(format!("unexpected decision {d}"));
        }
        if !d["matchedKeywords"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "deploy"))
        {
            return Err(format!("deploy not among matchedKeywords: {d}"));
        }
        if d["skillFilesUsed"] != json!(["skills/deployment.md"]) {
            return Err(format!("skillFilesUsed: {}", d["skillFilesUsed"]));
        }
        Ok(())
    });
    check(
        "weak evidence goes to the channel default or nobody",
        &mut || {
            let d = c.call(
                "POST",
                &r("/api/route"),
                Some(op),
                Some(&json!({"message": "good morning everyone", "channel": "slack"}).to_string()),
                &[],
            )?;
            expect_status(&d, 200, "default")?;
            if d.body["agent"] != "pm" || d.body["reason"] != "default" {
                return Err(format!("expected the slack default: {}", d.body));
            }
            let n = c.call(
                "POST",
                &r("/api/route"),
                Some(op),
                Some(
                    &json!({"message": "good morning everyone", "channel": "discord"}).to_string(),
                ),
                &[],
            )?;
            if !n.body["agent"].is_null() || n.body["reason"] != "no-match" {
                return Err(format!("expected no-match: {}", n.body));
            }
            Ok(())
        },
    );
    check("routing input is validated", &mut || {
        let url = r("/api/route");
        expect_error(
            &c.call("POST", &url, None, Some(r#"{"message":"x"}"#), &[])?,
            401,
            "no token",
        )?;
        expect_error(
            &c.call("POST", &url, Some(viewer), Some(r#"{"message":"x"}"#), &[])?,
            403,
            "viewer routes",
        )?;
        for (body, what) in [
            ("{oops", "bad JSON"),
            (r#"{"channel":"slack"}"#, "missing message"),
            (r#"{"message":""}"#, "empty message"),
            (r#"{"message":"x","colour":1}"#, "unknown field"),
            (r#"{"message":"x","complexity":"huge"}"#, "bad complexity"),
            (r#"[1,2]"#, "not an object"),
            (
                r#"["deploy the hotfix to production", "slack"]"#,
                "an array read as an object",
            ),
        ] {
            expect_error(&c.call("POST", &url, Some(gw), Some(body), &[])?, 400, what)?;
        }
        let big = json!({"message": "deploy ".repeat(12_000)}).to_string();
        expect_error(
            &c.call("POST", &url, Some(gw), Some(&big), &[])?,
            413,
            "oversized body",
        )
    });
    let mut decision_id = String::new();
    check("decisions are stored and listed", &mut || {
        let resp = c.call(
            "POST",
            &r("/api/route"),
            Some(gw),
            Some(&json!({"message": "the app has a crash with this stack trace"}).to_string()),
            &[],
        )?;
        expect_status(&resp, 200, "route")?;
        if resp.body["agent"] != "codegen" {
            return Err(format!("expected codegen: {}", resp.body));
        }
        decision_id = resp.body["decisionId"]
            .as_str()
            .ok_or("no decisionId")?
            .to_owned();
        let list = c.call(
            "GET",
            &r("/api/route/decisions?limit=5"),
            Some(viewer),
            None,
            &[],
        )?;
        expect_status(&list, 200, "decisions")?;
        let items = list.body["decisions"]
            .as_array()
            .ok_or("no decisions array")?;
        if items.len() > 5
            || !items
                .iter()
                .any(|d| d["decisionId"] == decision_id.as_str())
        {
            return Err(format!(
                "decision {decision_id} not listed among {} items",
                items.len()
            ));
        }
        expect_error(
            &c.call(
                "GET",
                &r("/api/route/decisions?limit=abc"),
                Some(viewer),
                None,
                &[],
            )?,
            400,
            "bad limit",
        )
    });
    check("feedback is recorded for known decisions", &mut || {
        let body = json!({"decisionId": decision_id, "correctAgent": "devops"}).to_string();
        expect_error(
            &c.call(
                "POST",
                &r("/api/route/feedback"),
                Some(viewer),
                Some(&body),
                &[],
            )?,
            403,
            "viewer feedback",
        )?;
        feedback(c, t, &decision_id, "devops")?;
        let unknown = json!({"decisionId": "dec_nope", "correctAgent": "devops"}).to_string();
        expect_error(
            &c.call(
                "POST",
                &r("/api/route/feedback"),
                Some(op),
                Some(&unknown),
                &[],
            )?,
            404,
            "unknown decision",
        )?;
        let bad_agent = json!({"decisionId": decision_id, "correctAgent": "ghost"}).to_string();
        expect_error(
            &c.call(
                "POST",
                &r("/api/route/feedback"),
                Some(op),
                Some(&bad_agent),
                &[],
            )?,
            422,
            "unknown agent",
        )?;
        let silent = json!({ "decisionId": decision_id }).to_string();
        expect_error(
            &c.call(
                "POST",
                &r("/api/route/feedback"),
                Some(op),
                Some(&silent),
                &[],
            )?,
            400,
            "feedback without correctAgent",
        )
    });
    check("a down agent hands over to its fallback", &mut || {
        let health = |agent: &str, body: &str| {
            c.call(
                "PUT",
                &g(&format!("/api/agents/{agent}/health")),
                Some(op),
                Some(body),
                &[],
            )
        };
        let down = health("devops", r#"{"healthy":false}"#)?;
        expect_status(&down, 200, "mark down")?;
        let agents = c.call("GET", &g("/api/agents"), Some(viewer), None, &[])?;
        let devops = agents.body["agents"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["id"] == "devops").cloned())
            .ok_or("devops not listed")?;
        if devops["healthy"] != false {
            return Err(format!("devops should be unhealthy: {devops}"));
        }
        let d = c.call(
            "POST",
            &r("/api/route"),
            Some(gw),
            Some(&json!({"message": "deploy to production now"}).to_string()),
            &[],
        )?;
        let result = if d.body["agent"] == "codegen"
            && d.body["reason"] == "fallback"
            && d.body["fallbackFrom"] == "devops"
        {
            Ok(())
        } else {
            Err(format!("expected fallback to codegen: {}", d.body))
        };
        let up = health("devops", r#"{"healthy":true}"#)?;
        expect_status(&up, 200, "mark up")?;
        expect_error(
            &health("ghost", r#"{"healthy":true}"#)?,
            404,
            "unknown agent",
        )?;
        expect_error(
            &health("devops", r#"{"healthy":"yes"}"#)?,
            400,
            "bad health body",
        )?;
        result
    });
}
