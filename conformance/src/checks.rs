//! The checks. Each is independent of the others' results, except that the graph
//! upload comes first.

use serde_json::{Value, json};

use crate::client::{Client, expect_error, expect_status};
use crate::{GRAPH, Outcome, Target};

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
        Some("match" | "fallback" | "default" | "no-match")
    ) {
        return Err(format!("bad reason {}", d["reason"]));
    }
    if !d["routingLatency"].is_number()
        || !d["skillFilesUsed"].is_array()
        || !d["matchedKeywords"].is_array()
        || !d["alternatives"].is_array()
    {
        return Err(format!("bad field types in {d}"));
    }
    Ok(())
}

/// Runs every check against `t` and returns the outcomes in order.
pub fn run(t: &Target) -> Vec<Outcome> {
    let c = Client::new();
    let r = |p: &str| format!("{}{p}", t.router.trim_end_matches('/'));
    let g = |p: &str| format!("{}{p}", t.graph.trim_end_matches('/'));
    let (gw, op, viewer) = (
        t.gateway_token.as_str(),
        t.operator_token.as_str(),
        t.viewer_token.as_str(),
    );
    let mut out = Vec::new();
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };

    check("health endpoints are open and JSON", &mut || {
        for base in [r("/health"), g("/health")] {
            let resp = c.call("GET", &base, None, None, &[])?;
            expect_status(&resp, 200, &base)?;
            if resp.body["status"] != "ok" {
                return Err(format!("{base}: status is {}", resp.body["status"]));
            }
        }
        Ok(())
    });
    check("openapi document is served", &mut || {
        for base in [r("/openapi.json"), g("/openapi.json")] {
            let resp = c.call("GET", &base, None, None, &[])?;
            expect_status(&resp, 200, &base)?;
            if !resp.body["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1"))
                || !resp.body["paths"]["/api/route"].is_object()
            {
                return Err(format!("{base}: not the Agency OpenAPI 3.1 document"));
            }
        }
        Ok(())
    });
    check("graph upload needs the operator role", &mut || {
        expect_error(
            &c.call("PUT", &g("/api/graph"), None, Some(GRAPH), &[])?,
            401,
            "no token",
        )?;
        expect_error(
            &c.call("PUT", &g("/api/graph"), Some(viewer), Some(GRAPH), &[])?,
            403,
            "viewer",
        )?;
        expect_error(
            &c.call(
                "PUT",
                &g("/api/graph"),
                Some("not-a-real-token-at-all"),
                Some(GRAPH),
                &[],
            )?,
            401,
            "unknown token",
        )
    });
    let mut version = String::new();
    check("graph upload stores a version", &mut || {
        let resp = c.call("PUT", &g("/api/graph"), Some(op), Some(GRAPH), &[])?;
        expect_status(&resp, 200, "PUT /api/graph")?;
        version = resp.body["version"]
            .as_str()
            .ok_or("no version in PUT response")?
            .to_owned();
        Ok(())
    });
    check("invalid graphs are rejected with every error", &mut || {
        let mut bad: Value = serde_json::from_str(GRAPH).map_err(|e| e.to_string())?;
        bad["skills"][0]["links"] = json!(["nowhere"]);
        bad["skills"][1]["agent"] = json!("ghost");
        let resp = c.call(
            "PUT",
            &g("/api/graph"),
            Some(op),
            Some(&bad.to_string()),
            &[],
        )?;
        expect_error(&resp, 422, "invalid graph")?;
        let details = resp.body["error"]["details"]
            .as_array()
            .ok_or("422 without error.details")?;
        if details.len() != 2 {
            return Err(format!("expected 2 errors, got {details:?}"));
        }
        expect_error(
            &c.call("PUT", &g("/api/graph"), Some(op), Some("{not json"), &[])?,
            400,
            "bad JSON",
        )?;
        let current = c.call("GET", &g("/api/graph"), Some(viewer), None, &[])?;
        if current.body["version"] != version.as_str() {
            return Err("a rejected upload changed the current graph".into());
        }
        Ok(())
    });
    check(
        "graph GET has an ETag and honours If-None-Match",
        &mut || {
            let resp = c.call("GET", &g("/api/graph"), Some(viewer), None, &[])?;
            expect_status(&resp, 200, "GET /api/graph")?;
            if resp.body["version"] != version.as_str()
                || resp.body["skills"].as_array().map(Vec::len) != Some(4)
            {
                return Err(format!(
                    "unexpected graph: version {} (want {version})",
                    resp.body["version"]
                ));
            }
            let tag = resp.etag.ok_or("no ETag")?;
            let again = c.call(
                "GET",
                &g("/api/graph"),
                Some(viewer),
                None,
                &[("if-none-match", &tag)],
            )?;
            expect_status(&again, 304, "If-None-Match")
        },
    );
    check("routing picks the agent by keywords", &mut || {
        let body =
            json!({"message": "Please deploy the release to production", "channel": "slack"})
                .to_string();
        let resp = c.call("POST", &r("/api/route"), Some(gw), Some(&body), &[])?;
        expect_status(&resp, 200, "POST /api/route")?;
        check_decision(&resp.body)?;
        let d = &resp.body;
        if d["agent"] != "devops" || d["reason"] != "match" || d["graphVersion"] != version.as_str()
        {
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
        expect_error(
            &c.call("POST", &url, Some(gw), Some("{oops"), &[])?,
            400,
            "bad JSON",
        )?;
        expect_error(
            &c.call("POST", &url, Some(gw), Some(r#"{"channel":"slack"}"#), &[])?,
            400,
            "missing message",
        )?;
        expect_error(
            &c.call("POST", &url, Some(gw), Some(r#"{"message":""}"#), &[])?,
            400,
            "empty message",
        )?;
        expect_error(
            &c.call(
                "POST",
                &url,
                Some(gw),
                Some(r#"{"message":"x","colour":1}"#),
                &[],
            )?,
            400,
            "unknown field",
        )?;
        expect_error(
            &c.call(
                "POST",
                &url,
                Some(gw),
                Some(r#"{"message":"x","complexity":"huge"}"#),
                &[],
            )?,
            400,
            "bad complexity",
        )?;
        expect_error(
            &c.call("POST", &url, Some(gw), Some(r#"[1,2]"#), &[])?,
            400,
            "not an object",
        )?;
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
        )?;
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
            400,
            "unknown agent",
        )
    });
    check("a down agent hands over to its fallback", &mut || {
        let down = c.call(
            "PUT",
            &g("/api/agents/devops/health"),
            Some(op),
            Some(r#"{"healthy":false}"#),
            &[],
        )?;
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
        let up = c.call(
            "PUT",
            &g("/api/agents/devops/health"),
            Some(op),
            Some(r#"{"healthy":true}"#),
            &[],
        )?;
        expect_status(&up, 200, "mark up")?;
        expect_error(
            &c.call(
                "PUT",
                &g("/api/agents/ghost/health"),
                Some(op),
                Some(r#"{"healthy":true}"#),
                &[],
            )?,
            404,
            "unknown agent",
        )?;
        expect_error(
            &c.call(
                "PUT",
                &g("/api/agents/devops/health"),
                Some(op),
                Some(r#"{"healthy":"yes"}"#),
                &[],
            )?,
            400,
            "bad health body",
        )?;
        result
    });
    check("agents, channels and search", &mut || {
        let a = c.call("GET", &g("/api/agents"), Some(viewer), None, &[])?;
        expect_status(&a, 200, "agents")?;
        if a.body["agents"].as_array().map(Vec::len) != Some(3) {
            return Err(format!("agents: {}", a.body));
        }
        let ch = c.call("GET", &g("/api/channels"), Some(viewer), None, &[])?;
        if ch.body["channels"][0]["id"] != "slack" || ch.body["channels"][0]["defaultAgent"] != "pm"
        {
            return Err(format!("channels: {}", ch.body));
        }
        let s = c.call("GET", &g("/api/search?q=rollback"), Some(viewer), None, &[])?;
        expect_status(&s, 200, "search")?;
        if s.body["hits"][0]["id"] != "deployment" {
            return Err(format!("search: {}", s.body));
        }
        expect_error(
            &c.call("GET", &g("/api/search"), Some(viewer), None, &[])?,
            400,
            "search without q",
        )?;
        expect_error(
            &c.call("GET", &g("/api/agents"), None, None, &[])?,
            401,
            "agents without token",
        )
    });
    check(
        "a new graph version is used by the next request",
        &mut || {
            let mut next: Value = serde_json::from_str(GRAPH).map_err(|e| e.to_string())?;
            next["skills"][3]["keywords"] = json!(["sprint", "roadmap", "backlog", "deploy", {"phrase": "production", "weight": 9}]);
            let put = c.call(
                "PUT",
                &g("/api/graph"),
                Some(op),
                Some(&next.to_string()),
                &[],
            )?;
            expect_status(&put, 200, "PUT v2")?;
            let v2 = put.body["version"].as_str().ok_or("no version")?.to_owned();
            let d = c.call(
                "POST",
                &r("/api/route"),
                Some(gw),
                Some(&json!({"message": "deploy to production"}).to_string()),
                &[],
            )?;
            let result = if d.body["graphVersion"] == v2.as_str() && d.body["agent"] == "pm" {
                Ok(())
            } else {
                Err(format!("expected pm on {v2}: {}", d.body))
            };
            expect_status(
                &c.call("PUT", &g("/api/graph"), Some(op), Some(GRAPH), &[])?,
                200,
                "restore",
            )?;
            result
        },
    );
    check("unknown paths and methods get JSON errors", &mut || {
        expect_error(
            &c.call("GET", &r("/api/nope"), Some(viewer), None, &[])?,
            404,
            "unknown path",
        )?;
        let m = c.call("DELETE", &g("/api/graph"), Some(op), None, &[])?;
        if m.status != 405 && m.status != 404 {
            return Err(format!("DELETE /api/graph: {}", m.status));
        }
        expect_error(&m, m.status, "wrong method")
    });
    check(
        "chunked bodies are limited; path ids are percent-decoded",
        &mut || {
            // About 70 KB sent without a Content-Length (chunked): the limit still applies.
            let big = json!({"message": "deploy ".repeat(10_000)}).to_string();
            let mut reader = std::io::Cursor::new(big.into_bytes());
            let resp = c
                .agent
                .post(&r("/api/route"))
                .header("authorization", &format!("Bearer {gw}"))
                .header("content-type", "application/json")
                .send(ureq::SendBody::from_reader(&mut reader))
                .map_err(|e| format!("chunked POST /api/route: {e}"))?;
            if resp.status().as_u16() != 413 {
                return Err(format!(
                    "chunked oversized body: expected 413, got {}",
                    resp.status()
                ));
            }
            let enc = c.call(
                "PUT",
                &g("/api/agents/%64%65%76%6F%70%73/health"),
                Some(op),
                Some(r#"{"healthy":true}"#),
                &[],
            )?;
            expect_status(&enc, 200, "percent-encoded agent id")?;
            if enc.body["agent"] != "devops" {
                return Err(format!("the id was not decoded: {}", enc.body));
            }
            Ok(())
        },
    );
    if let Some(base) = &t.assistant {
        crate::assistant::assistant_checks(&c, base, t, &mut out);
    }
    out
}
