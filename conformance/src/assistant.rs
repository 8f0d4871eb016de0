//! The approval assistant's checks: they run when the target has an assistant, which
//! must run the example policy (`examples/policy/policy.toml`).

use serde_json::{Value, json};

use crate::client::{Client, Reply, expect_error, expect_status};
use crate::{Outcome, Target};

/// A task id no earlier run used, so the suite can run again against the same server.
pub(crate) fn fresh(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{nanos}")
}

/// The assistant under test: its base URL and the three roles' tokens, with the calls
/// the checks make most.
pub(crate) struct Assistant<'a> {
    pub(crate) base: &'a str,
    pub(crate) gw: &'a str,
    pub(crate) op: &'a str,
    pub(crate) viewer: &'a str,
}

impl Assistant<'_> {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.trim_end_matches('/'))
    }

    /// GET `path` as a viewer.
    pub(crate) fn view(&self, c: &Client, path: &str) -> Result<Reply, String> {
        c.call("GET", &self.url(path), Some(self.viewer), None, &[])
    }

    /// `POST /api/approve` as the gateway.
    pub(crate) fn approve(&self, c: &Client, body: &Value) -> Result<Reply, String> {
        let url = self.url("/api/approve");
        c.call("POST", &url, Some(self.gw), Some(&body.to_string()), &[])
    }
}

pub(crate) fn assistant_checks(c: &Client, base: &str, t: &Target, out: &mut Vec<Outcome>) {
    let api = Assistant {
        base,
        gw: &t.gateway_token,
        op: &t.operator_token,
        viewer: &t.viewer_token,
    };
    let (gw, op, viewer) = (api.gw, api.op, api.viewer);
    let a = |p: &str| api.url(p);
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };
    let view = |path: &str| api.view(c, path);
    let approve = |body: Value| api.approve(c, &body);

    check(
        "approvals: policy decides, retries are idempotent",
        &mut || {
            let task = fresh("read");
            let body = json!({"taskId": task, "agent": "pm", "action": "read", "description": "c", "estimatedCostUsd": 0.01});
            let first = approve(body.clone())?;
            expect_status(&first, 200, "approve")?;
            for f in ["approvalId", "decision", "reason", "rule", "budget"] {
                if first.body.get(f).is_none() {
                    return Err(format!("approval lacks {f}: {}", first.body));
                }
            }
            if first.body["decision"] != "approved"
                || first.body["budget"]["scope"].as_str().is_none()
            {
                return Err(format!("expected approved with a budget: {}", first.body));
            }
            // Key order and number spelling do not make a different request.
            let mut same = body.clone();
            same["estimatedCostUsd"] = json!(0.010);
            let again = approve(same)?;
            if again.body["approvalId"] != first.body["approvalId"] {
                return Err("a retry with the same taskId got a new approval".into());
            }
            // The same task id for a different request is the caller's mistake.
            let mut other = body;
            other["estimatedCostUsd"] = json!(5.0);
            expect_error(&approve(other)?, 409, "the same taskId, another cost")
        },
    );
    check("approvals: asks wait for one human decision", &mut || {
        let body = json!({"taskId": fresh("deploy"), "agent": "devops", "action": "deploy", "description": "c", "estimatedCostUsd": 0.01, "environment": "production"});
        let p = approve(body)?;
        if p.body["decision"] != "pending" || !p.body["expiresAt"].is_string() {
            return Err(format!("expected pending with expiresAt: {}", p.body));
        }
        let id = p.body["approvalId"]
            .as_str()
            .ok_or("no approvalId")?
            .to_owned();
        let url = a(&format!("/api/approvals/{id}/decision"));
        expect_error(
            &c.call(
                "POST",
                &url,
                Some(gw),
                Some(r#"{"decision":"approve","by":"c"}"#),
                &[],
            )?,
            403,
            "gateway decides",
        )?;
        let d = c.call(
            "POST",
            &url,
            Some(op),
            Some(r#"{"decision":"approve","by":"conformance"}"#),
            &[],
        )?;
        expect_status(&d, 200, "decide")?;
        if d.body["decision"] != "approved" {
            return Err(format!("expected approved: {}", d.body));
        }
        expect_error(
            &c.call(
                "POST",
                &url,
                Some(op),
                Some(r#"{"decision":"deny","by":"c"}"#),
                &[],
            )?,
            409,
            "second decision",
        )?;
        let got = view(&format!("/api/approvals/{id}"))?;
        expect_status(&got, 200, "get approval")?;
        let list = view("/api/approvals?status=approved")?;
        if !list.body["approvals"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["approvalId"] == id.as_str()))
        {
            return Err("the approved approval is not listed under status=approved".into());
        }
        expect_error(&view("/api/approvals/apr_none")?, 404, "unknown approval")
    });
    check("approvals: halt denies, resume restores", &mut || {
        let agent = fresh("agent");
        // An ask made before the halt: a human's approval during it is denied too.
        let asked = approve(
            json!({"taskId": fresh("hp"), "agent": agent, "action": "deploy", "description": "c", "estimatedCostUsd": 0.01, "environment": "production"}),
        )?;
        if asked.body["decision"] != "pending" {
            return Err(format!("expected pending: {}", asked.body));
        }
        let asked_id = asked.body["approvalId"].as_str().ok_or("no approvalId")?;
        let halt = json!({"scope": "agent", "target": agent, "reason": "conformance"}).to_string();
        expect_status(
            &c.call("POST", &a("/api/halt"), Some(op), Some(&halt), &[])?,
            200,
            "halt",
        )?;
        let human = c.call(
            "POST",
            &a(&format!("/api/approvals/{asked_id}/decision")),
            Some(op),
            Some(r#"{"decision":"approve","by":"conformance"}"#),
            &[],
        )?;
        expect_status(&human, 200, "a human approval during a halt")?;
        if human.body["decision"] != "denied" || human.body["reasonCode"] != "halted" {
            return Err(format!(
                "a human approval during a halt must be denied (halted): {}",
                human.body
            ));
        }
        let d = approve(
            json!({"taskId": fresh("h"), "agent": agent, "action": "read", "description": "c", "estimatedCostUsd": 0.01}),
        )?;
        if d.body["decision"] != "denied"
            || !d.body["reason"]
                .as_str()
                .is_some_and(|r| r.contains("halted"))
        {
            return Err(format!("expected denied: halted: {}", d.body));
        }
        let resume = json!({"scope": "agent", "target": agent}).to_string();
        expect_status(
            &c.call("POST", &a("/api/resume"), Some(op), Some(&resume), &[])?,
            200,
            "resume",
        )?;
        let d = approve(
            json!({"taskId": fresh("h2"), "agent": agent, "action": "read", "description": "c", "estimatedCostUsd": 0.01}),
        )?;
        if d.body["decision"] != "approved" {
            return Err(format!("expected approved after resume: {}", d.body));
        }
        expect_status(&view("/api/halt")?, 200, "halts")
    });
    check(
        "approvals: spend settles once; budget and audit report it",
        &mut || {
            let d = approve(
                json!({"taskId": fresh("s"), "agent": "pm", "action": "read", "description": "c", "estimatedCostUsd": 0.02}),
            )?;
            let id = d.body["approvalId"].as_str().ok_or("no approvalId")?;
            let spend = json!({"approvalId": id, "actualCostUsd": 0.01}).to_string();
            expect_status(
                &c.call("POST", &a("/api/spend"), Some(gw), Some(&spend), &[])?,
                200,
                "spend",
            )?;
            expect_error(
                &c.call("POST", &a("/api/spend"), Some(gw), Some(&spend), &[])?,
                409,
                "second spend",
            )?;
            let b = view("/api/budget")?;
            if b.body["budgets"].as_array().is_none_or(|l| l.is_empty()) {
                return Err(format!("no budgets: {}", b.body));
            }
            let audit = view("/api/audit?limit=50")?;
            if !audit.body["entries"]
                .as_array()
                .is_some_and(|l| l.iter().any(|e| e["kind"] == "spend"))
            {
                return Err("no spend in the audit".into());
            }
            Ok(())
        },
    );
    check("approvals and audit page with ?before", &mut || {
        for (path, items, key) in [
            ("/api/audit", "entries", "seq"),
            ("/api/approvals", "approvals", "number"),
        ] {
            let first = view(&format!("{path}?limit=2"))?;
            let page = first.body[items].as_array().ok_or("no list")?;
            let (Some(a), Some(b)) = (page.first(), page.get(1)) else {
                return Err(format!("{path}: expected two items: {}", first.body));
            };
            let (a, b) = (a[key].as_i64().unwrap_or(0), b[key].as_i64().unwrap_or(0));
            if a <= b {
                return Err(format!("{path}: not newest first: {a} then {b}"));
            }
            let next = view(&format!("{path}?limit=1&before={b}"))?;
            expect_status(&next, 200, path)?;
            let after = next.body[items][0][key].as_i64();
            if after.is_none_or(|n| n >= b) {
                return Err(format!("{path}?before={b}: got {}", next.body));
            }
            expect_error(&view(&format!("{path}?before=0"))?, 400, "before=0")?;
        }
        Ok(())
    });
    check(
        "approvals: bad input gets 4xx and changes nothing",
        &mut || {
            let before = c
                .call("GET", &a("/api/audit?limit=1000"), Some(viewer), None, &[])?
                .body["entries"]
                .as_array()
                .map(Vec::len);
            for (body, want) in [
                (
                    json!({"taskId": "x", "agent": "pm", "action": "read", "estimatedCostUsd": -1}),
                    400,
                ),
                (
                    json!({"taskId": "x", "agent": "pm", "action": "read", "estimatedCostUsd": "1"}),
                    400,
                ),
                (
                    json!({"taskId": "x", "agent": "pm", "action": "read", "estimatedCostUsd": 1, "extra": true}),
                    400,
                ),
                (
                    json!({"taskId": "x", "agent": "pm", "action": "read", "estimatedCostUsd": 1, "requester": " "}),
                    400,
                ),
            ] {
                expect_error(&approve(body)?, want, "bad approval")?;
            }
            for (path, body) in [
                (
                    "/api/halt",
                    json!({"scope": "task", "target": "a\u{1}b", "reason": "r"}),
                ),
                (
                    "/api/halt",
                    json!({"scope": "task", "target": "t".repeat(129), "reason": "r"}),
                ),
                (
                    "/api/resume",
                    json!({"scope": "all", "reason": "a resume gives none"}),
                ),
            ] {
                let r = c.call("POST", &a(path), Some(op), Some(&body.to_string()), &[])?;
                expect_error(&r, 400, &format!("{path} {body}"))?;
            }
            expect_error(
                &c.call(
                    "POST",
                    &a("/api/approve"),
                    Some(viewer),
                    Some(r#"{"taskId":"v","agent":"pm","action":"read","estimatedCostUsd":1}"#),
                    &[],
                )?,
                403,
                "viewer approves",
            )?;
            let after = c
                .call("GET", &a("/api/audit?limit=1000"), Some(viewer), None, &[])?
                .body["entries"]
                .as_array()
                .map(Vec::len);
            if before != after {
                return Err("a rejected request wrote to the audit".into());
            }
            Ok(())
        },
    );
    check("chat answers commands", &mut || {
        let r = c.call(
            "POST",
            &a("/api/chat"),
            Some(op),
            Some(&json!({"sessionId": fresh("s"), "message": "help"}).to_string()),
            &[],
        )?;
        expect_status(&r, 200, "chat")?;
        if !r.body["reply"]
            .as_str()
            .is_some_and(|t| t.contains("approve"))
            || !r.body["actions"].is_array()
        {
            return Err(format!("unexpected chat reply: {}", r.body));
        }
        let long = json!({"sessionId": fresh("s"), "message": "x".repeat(5000)}).to_string();
        expect_error(
            &c.call("POST", &a("/api/chat"), Some(op), Some(&long), &[])?,
            400,
            "a 5,000-character chat message",
        )?;
        expect_error(
            &c.call(
                "POST",
                &a("/api/chat"),
                Some(op),
                Some(r#"{"sessionId":"s","message":"help","mood":"happy"}"#),
                &[],
            )?,
            400,
            "an unknown chat field",
        )?;
        expect_error(
            &c.call(
                "POST",
                &a("/api/chat"),
                Some(viewer),
                Some(r#"{"sessionId":"s","message":"help"}"#),
                &[],
            )?,
            403,
            "viewer chats",
        )
    });
    check(
        "chat remembers the approval under discussion and routes",
        &mut || {
            let say = |session: &str, message: &str| -> Result<Value, String> {
                let r = c.call(
                    "POST",
                    &a("/api/chat"),
                    Some(op),
                    Some(&json!({"sessionId": session, "message": message}).to_string()),
                    &[],
                )?;
                expect_status(&r, 200, "chat")?;
                Ok(r.body)
            };
            let p = approve(
                json!({"taskId": fresh("chat"), "agent": "devops", "action": "deploy", "description": "ship it",
                       "estimatedCostUsd": 0.01, "environment": "production"}),
            )?;
            let number = p.body["number"].as_i64().ok_or("approval has no number")?;
            let session = fresh("ops");
            let shown = say(&session, &format!("why is {number} pending?"))?;
            if !shown["reply"]
                .as_str()
                .is_some_and(|t| t.contains("production deploys need a human"))
            {
                return Err(format!("'why' does not give the rule: {shown}"));
            }
            let done = say(&session, "approve it")?;
            if done["actions"][0]["type"] != "approved"
                || done["actions"][0]["approvalId"] != p.body["approvalId"]
            {
                return Err(format!(
                    "'approve it' did not approve the one discussed: {done}"
                ));
            }
            let again = say(&session, "approve it")?;
            if !again["reply"]
                .as_str()
                .is_some_and(|t| t.contains("already approved"))
            {
                return Err(format!(
                    "a second 'approve it' should say it is settled: {again}"
                ));
            }
            let other = say(&fresh("ops"), "approve it")?;
            if other["actions"].as_array().is_none_or(|a| !a.is_empty()) {
                return Err(format!(
                    "a new session has nothing under discussion: {other}"
                ));
            }
            let routed = say(&session, "route: please deploy the release to production")?;
            if !routed["reply"]
                .as_str()
                .is_some_and(|t| t.contains("devops"))
            {
                return Err(format!("'route:' should name devops: {routed}"));
            }
            Ok(())
        },
    );
    check(
        "approvals: racing human decisions, exactly one wins",
        &mut || crate::races::racing_decisions(&api),
    );
    if t.fake_model {
        check(
            "chat free text goes to the model with history; suggestions only",
            &mut || {
                let session = fresh("llm");
                let last_audit = || -> Result<Value, String> {
                    Ok(view("/api/audit?limit=1")?.body["entries"][0]["seq"].clone())
                };
                let before = last_audit()?;
                for seen in [2, 4] {
                    let r = c.call(
                        "POST",
                        &a("/api/chat"),
                        Some(op),
                        Some(
                            &json!({"sessionId": session, "message": "should we ship on friday?"})
                                .to_string(),
                        ),
                        &[],
                    )?;
                    expect_status(&r, 200, "chat")?;
                    let reply = r.body["reply"].as_str().unwrap_or("");
                    if !reply.contains(&format!("I saw {seen} messages"))
                        || !reply.contains("To do this, send: deny 1: too risky")
                        || r.body["actions"]
                            != json!([{"type": "suggested", "command": "deny 1: too risky"}])
                    {
                        return Err(format!("unexpected model reply: {}", r.body));
                    }
                }
                if last_audit()? != before {
                    return Err("the model's suggestion was carried out".into());
                }
                Ok(())
            },
        );
    }
    if t.quick_expiry {
        check("approvals: an expired ask counts as denied", &mut || {
            let p = approve(
                json!({"taskId": fresh("exp"), "agent": "pm", "action": "conformance-expiry", "description": "c",
                       "estimatedCostUsd": 0.01}),
            )?;
            if p.body["decision"] != "pending" {
                return Err(format!("expected pending: {}", p.body));
            }
            let id = p.body["approvalId"].as_str().ok_or("no approvalId")?;
            std::thread::sleep(std::time::Duration::from_millis(1500));
            let got = view(&format!("/api/approvals/{id}"))?;
            if got.body["decision"] != "expired" {
                return Err(format!("expected expired after its second: {}", got.body));
            }
            expect_error(
                &c.call(
                    "POST",
                    &a(&format!("/api/approvals/{id}/decision")),
                    Some(op),
                    Some(r#"{"decision":"approve","by":"late"}"#),
                    &[],
                )?,
                409,
                "approving an expired ask",
            )?;
            let audit = view("/api/audit?limit=100")?;
            if !audit.body["entries"].as_array().is_some_and(|l| {
                l.iter()
                    .any(|e| e["approvalId"] == id && e["kind"] == "expired")
            }) {
                return Err("the expiry is not in the audit".into());
            }
            Ok(())
        });
    }
    check(
        "approvals: 200 concurrent approvals that fit 50 times get exactly 50",
        &mut || crate::races::concurrent_budget(&api),
    );
    crate::grants::grant_checks(c, t, base, out);
    crate::overrun::checks(c, t, base, out);
}
