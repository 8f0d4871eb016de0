//! Grants and batch decisions. Each check uses an agent of its own (a fresh name), so
//! its grants cover nothing any other check asks for, and the suite can run again
//! against the same server.

use serde_json::{Value, json};

use crate::assistant::{Assistant, fresh};
use crate::client::{Client, Reply, expect_error, expect_status};
use crate::{Outcome, Target};

impl Assistant<'_> {
    /// `method path` with `body` as an operator.
    fn operate(&self, c: &Client, method: &str, path: &str, body: &Value) -> Result<Reply, String> {
        c.call(
            method,
            &self.url(path),
            Some(self.op),
            Some(&body.to_string()),
            &[],
        )
    }

    /// Asks about `agent` doing `action`; the answer's decision and body.
    fn ask(
        &self,
        c: &Client,
        agent: &str,
        action: &str,
        cost: f64,
        extra: Value,
    ) -> Result<Value, String> {
        let mut body = json!({"taskId": fresh("grant"), "agent": agent, "action": action,
            "description": "conformance", "estimatedCostUsd": cost});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self.approve(c, &body)?;
        expect_status(&r, 200, "approve")?;
        Ok(r.body)
    }
}

fn decision(a: &Value) -> &str {
    a["decision"].as_str().unwrap_or("?")
}

fn want(a: &Value, decision_is: &str, reason: &str, what: &str) -> Result<(), String> {
    if a["decision"] != decision_is || a["reasonCode"] != reason {
        return Err(format!(
            "{what}: expected {decision_is} ({reason}), got {a}"
        ));
    }
    Ok(())
}

pub(crate) fn grant_checks(c: &Client, t: &Target, base: &str, out: &mut Vec<Outcome>) {
    let api = Assistant {
        base,
        gw: &t.gateway_token,
        op: &t.operator_token,
        viewer: &t.viewer_token,
    };
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };
    check(
        "grants: an ask of the granted kind is approved, within the grant's limits",
        &mut || {
            let agent = fresh("grantee");
            // Payments ask (example policy): one before the grant waits for a human.
            let before = api.ask(c, &agent, "payment", 0.5, json!({}))?;
            want(&before, "pending", "rule", "before the grant")?;
            expect_error(
                &c.call(
                    "POST",
                    &api.url("/api/grants"),
                    Some(api.viewer),
                    Some(&json!({"agent": agent, "action": "payment", "by": "v"}).to_string()),
                    &[],
                )?,
                403,
                "a viewer grants",
            )?;
            for bad in [
                json!({"agent": agent, "action": "payment", "by": "c", "durationSecs": 1}),
                json!({"agent": agent, "action": "payment"}),
                json!({"agent": agent, "action": "payment", "by": "c", "totalCostUsd": -1}),
            ] {
                expect_error(
                    &api.operate(c, "POST", "/api/grants", &bad)?,
                    400,
                    &bad.to_string(),
                )?;
            }
            let g = api.operate(c, "POST", "/api/grants", &json!({"agent": agent, "action": "payment", "durationSecs": 600,
            "maxTaskCostUsd": 1.0, "totalCostUsd": 1.2, "by": "conformance", "reason": "month end"}))?;
            expect_status(&g, 201, "POST /api/grants")?;
            let id = g.body["grantId"].as_str().ok_or("no grantId")?.to_owned();
            if g.body["status"] != "active" || g.body["agent"] != agent.as_str() {
                return Err(format!("the new grant: {}", g.body));
            }
            let granted = api.ask(c, &agent, "payment", 0.5, json!({}))?;
            want(&granted, "approved", "grant", "under the grant")?;
            if granted["grantId"] != id.as_str() {
                return Err(format!("the approval does not name its grant: {granted}"));
            }
            // Over the cost per task, then over the total: a human decides.
            want(
                &api.ask(c, &agent, "payment", 2.0, json!({}))?,
                "pending",
                "rule",
                "over the cost per task",
            )?;
            want(
                &api.ask(c, &agent, "payment", 0.5, json!({}))?,
                "approved",
                "grant",
                "the second, within the total",
            )?;
            want(
                &api.ask(c, &agent, "payment", 0.5, json!({}))?,
                "pending",
                "rule",
                "past the total",
            )?;
            // Another action, or a channel-bound grant elsewhere, is not covered.
            want(
                &api.ask(c, &agent, "send-email", 0.1, json!({}))?,
                "pending",
                "rule",
                "another action",
            )?;
            let listed = api.view(c, "/api/grants?status=active&limit=1000")?;
            let mine = listed.body["grants"]
                .as_array()
                .and_then(|l| l.iter().find(|x| x["grantId"] == id.as_str()).cloned())
                .ok_or_else(|| format!("the grant is not listed as active: {}", listed.body))?;
            if mine["uses"] != 2 || mine["usedCostUsd"] != 1.0 {
                return Err(format!("the grant's uses: {mine}"));
            }
            expect_error(
                &api.view(c, "/api/grants?status=maybe")?,
                400,
                "unknown status",
            )?;
            // Revoked, it approves nothing; revoking again changes nothing; unknown is 404.
            let del = c.call(
                "DELETE",
                &api.url(&format!("/api/grants/{id}")),
                Some(api.op),
                None,
                &[],
            )?;
            expect_status(&del, 200, "DELETE grant")?;
            if del.body["status"] != "revoked" || !del.body["revokedAt"].is_string() {
                return Err(format!("the revoked grant: {}", del.body));
            }
            let again = c.call(
                "DELETE",
                &api.url(&format!("/api/grants/{id}")),
                Some(api.op),
                None,
                &[],
            )?;
            if again.status != 200 || again.body["revokedAt"] != del.body["revokedAt"] {
                return Err(format!("a second revoke: {} {}", again.status, again.body));
            }
            expect_error(
                &c.call(
                    "DELETE",
                    &api.url("/api/grants/grt_nobody"),
                    Some(api.op),
                    None,
                    &[],
                )?,
                404,
                "unknown grant",
            )?;
            want(
                &api.ask(c, &agent, "payment", 0.1, json!({}))?,
                "pending",
                "rule",
                "after the revoke",
            )?;
            let audit = api.view(c, "/api/audit?kind=grant,grant-revoked,decision&limit=200")?;
            let entries = audit.body["entries"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let kinds: Vec<&str> = entries
                .iter()
                .filter(|e| e["detail"]["grantId"] == id.as_str())
                .filter_map(|e| e["kind"].as_str())
                .collect();
            for k in ["grant", "grant-revoked", "decision"] {
                if !kinds.contains(&k) {
                    return Err(format!(
                        "no {k} entry names the grant in the audit: {kinds:?}"
                    ));
                }
            }
            if kinds.iter().filter(|k| **k == "decision").count() != 2 {
                return Err(format!("each use is audited once: {kinds:?}"));
            }
            Ok(())
        },
    );
    check("grants: a deny rule and a halt beat a grant", &mut || {
        let agent = fresh("grantee");
        for action in ["delete", "payment"] {
            let g = api.operate(c, "POST", "/api/grants", &json!({"agent": agent, "action": action, "environment": "production", "by": "conformance"}))?;
            expect_status(&g, 201, "POST /api/grants")?;
        }
        let denied = api.ask(
            c,
            &agent,
            "delete",
            0.1,
            json!({"environment": "production"}),
        )?;
        want(&denied, "denied", "rule", "a deny rule under a grant")?;
        // A halt on one task: the grant would approve it, the halt denies it.
        let task = fresh("halted");
        let h = api.operate(
            c,
            "POST",
            "/api/halt",
            &json!({"scope": "task", "target": task, "reason": "conformance: grant"}),
        )?;
        expect_status(&h, 200, "halt task")?;
        let r = api.approve(c, &json!({"taskId": task, "agent": agent, "action": "payment", "estimatedCostUsd": 0.1, "environment": "production"}))?;
        let lifted = api.operate(
            c,
            "POST",
            "/api/resume",
            &json!({"scope": "task", "target": task}),
        )?;
        expect_status(&lifted, 200, "resume task")?;
        want(&r.body, "denied", "halted", "a halt under a grant")?;
        let ok = api.ask(
            c,
            &agent,
            "payment",
            0.1,
            json!({"environment": "production"}),
        )?;
        want(&ok, "approved", "grant", "the same kind, not halted")?;
        // The environment is matched exactly: none given is not production.
        want(
            &api.ask(c, &agent, "payment", 0.1, json!({}))?,
            "pending",
            "rule",
            "no environment",
        )
    });
    check(
        "grants: approving with a grant covers the same kind of task",
        &mut || {
            let agent = fresh("grantee");
            let first = api.ask(c, &agent, "send-email", 0.2, json!({"channel": "ops"}))?;
            want(&first, "pending", "rule", "the first")?;
            let id = first["approvalId"].as_str().ok_or("no approvalId")?;
            let url = format!("/api/approvals/{id}/decision");
            expect_error(
                &api.operate(
                    c,
                    "POST",
                    &url,
                    &json!({"decision": "deny", "by": "c", "grant": {"durationSecs": 3600}}),
                )?,
                400,
                "a denial with a grant",
            )?;
            let d = api.operate(c, "POST", &url, &json!({"decision": "approve", "by": "conformance", "comment": "fine for today", "grant": {"durationSecs": 3600}}))?;
            expect_status(&d, 200, "approve with a grant")?;
            if decision(&d.body) != "approved" {
                return Err(format!("approve with a grant: {}", d.body));
            }
            let listed = api.view(c, "/api/grants?limit=1000")?;
            let g = listed.body["grants"]
                .as_array()
                .and_then(|l| l.iter().find(|x| x["fromApproval"] == id).cloned())
                .ok_or("no grant from the approval")?;
            if g["agent"] != agent.as_str()
                || g["action"] != "send-email"
                || !g["channel"].is_null()
                || g["createdBy"] != "conformance"
            {
                return Err(format!("the grant from the approval: {g}"));
            }
            want(
                &api.ask(c, &agent, "send-email", 0.2, json!({"channel": "eng"}))?,
                "approved",
                "grant",
                "the next of its kind",
            )
        },
    );
    check(
        "approvals: an ask is extended at most three times, audited",
        &mut || {
            let agent = fresh("extend");
            let a = api.ask(c, &agent, "payment", 0.1, json!({}))?;
            let id = a["approvalId"].as_str().ok_or("no approvalId")?.to_owned();
            let url = format!("/api/approvals/{id}/extend");
            expect_error(
                &api.operate(c, "POST", &url, &json!({"by": "c", "secs": 30}))?,
                400,
                "too short",
            )?;
            expect_error(
                &c.call(
                    "POST",
                    &api.url(&url),
                    Some(api.viewer),
                    Some(r#"{"by":"v"}"#),
                    &[],
                )?,
                403,
                "a viewer extends",
            )?;
            let mut expires = a["expiresAt"].as_str().unwrap_or("").to_owned();
            for n in 1..=3 {
                let e = api.operate(c, "POST", &url, &json!({"by": "conformance", "secs": 600}))?;
                expect_status(&e, 200, "extend")?;
                let now = e.body["expiresAt"].as_str().unwrap_or("").to_owned();
                if e.body["extensions"] != n || now <= expires || e.body["decision"] != "pending" {
                    return Err(format!("extension {n}: {}", e.body));
                }
                expires = now;
            }
            expect_error(
                &api.operate(c, "POST", &url, &json!({"by": "c"}))?,
                409,
                "a fourth extension",
            )?;
            expect_error(
                &api.operate(
                    c,
                    "POST",
                    "/api/approvals/apr_nobody/extend",
                    &json!({"by": "c"}),
                )?,
                404,
                "unknown",
            )?;
            let audit = api.view(c, "/api/audit?kind=extended&limit=50")?;
            let n = audit.body["entries"]
                .as_array()
                .map(|l| l.iter().filter(|e| e["approvalId"] == id.as_str()).count())
                .unwrap_or(0);
            if n != 3 {
                return Err(format!("{n} extensions audited, not 3"));
            }
            // A decided approval is not extended.
            let b = api.ask(c, &agent, "payment", 0.1, json!({}))?;
            let bid = b["approvalId"].as_str().ok_or("no approvalId")?;
            let d = api.operate(
                c,
                "POST",
                &format!("/api/approvals/{bid}/decision"),
                &json!({"decision": "approve", "by": "c"}),
            )?;
            expect_status(&d, 200, "approve")?;
            expect_error(
                &api.operate(
                    c,
                    "POST",
                    &format!("/api/approvals/{bid}/extend"),
                    &json!({"by": "c"}),
                )?,
                409,
                "extending a decided one",
            )
        },
    );
    check(
        "batches: decide by ids or a filter, one winner per approval",
        &mut || {
            let agent = fresh("batch");
            let mut ids = Vec::new();
            for _ in 0..3 {
                let a = api.ask(c, &agent, "payment", 0.1, json!({}))?;
                ids.push(a["approvalId"].as_str().ok_or("no approvalId")?.to_owned());
            }
            for bad in [
                json!({"decision": "approve", "by": "c"}),
                json!({"decision": "approve", "by": "c", "ids": []}),
                json!({"decision": "approve", "by": "c", "ids": ["x"], "agent": agent}),
            ] {
                expect_error(
                    &api.operate(c, "POST", "/api/approvals/decide", &bad)?,
                    400,
                    &bad.to_string(),
                )?;
            }
            expect_error(
                &c.call(
                    "POST",
                    &api.url("/api/approvals/decide"),
                    Some(api.viewer),
                    Some(&json!({"decision": "approve", "by": "v", "agent": agent}).to_string()),
                    &[],
                )?,
                403,
                "a viewer decides",
            )?;
            let b = api.operate(c, "POST", "/api/approvals/decide", &json!({"decision": "approve", "by": "conformance", "comment": "batch", "agent": agent}))?;
            expect_status(&b, 200, "batch by agent")?;
            let results = b.body["results"].as_array().cloned().unwrap_or_default();
            let decided: Vec<&str> = results
                .iter()
                .filter(|r| r["decided"] == true && r["status"] == "approved")
                .filter_map(|r| r["approvalId"].as_str())
                .collect();
            if b.body["decided"] != 3
                || decided.len() != 3
                || ids.iter().any(|i| !decided.contains(&i.as_str()))
            {
                return Err(format!("batch by agent: {}", b.body));
            }
            // Decided already, and unknown: reported, not decided.
            let again = api.operate(
                c,
                "POST",
                "/api/approvals/decide",
                &json!({"decision": "deny", "by": "c", "ids": [ids[0], "apr_nobody"]}),
            )?;
            expect_status(&again, 200, "batch of settled ids")?;
            let r = again.body["results"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if again.body["decided"] != 0
                || r.len() != 2
                || r[0]["error"]["code"] != "conflict"
                || r[0]["status"] != "approved"
                || r[1]["error"]["code"] != "not_found"
            {
                return Err(format!("batch of settled ids: {}", again.body));
            }
            // Two batches race over the same five asks: each is decided exactly once.
            let mut race = Vec::new();
            for _ in 0..5 {
                let a = api.ask(c, &agent, "payment", 0.1, json!({}))?;
                race.push(a["approvalId"].as_str().ok_or("no approvalId")?.to_owned());
            }
            let url = api.url("/api/approvals/decide");
            let counts: Vec<Result<(u64, Vec<Value>), String>> = std::thread::scope(|s| {
                let hs: Vec<_> = ["approve", "deny"].into_iter().map(|verb| {
                let (url, race) = (&url, &race);
                s.spawn(move || {
                    let c = Client::new();
                    let body = json!({"decision": verb, "by": format!("racer-{verb}"), "ids": race}).to_string();
                    let r = c.call("POST", url, Some(api.op), Some(&body), &[])?;
                    expect_status(&r, 200, "racing batch")?;
                    Ok((r.body["decided"].as_u64().unwrap_or(99), r.body["results"].as_array().cloned().unwrap_or_default()))
                })
            }).collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
                    .collect()
            });
            let mut total = 0;
            for c in counts {
                total += c?.0;
            }
            if total != 5 {
                return Err(format!(
                    "two racing batches decided {total} of 5 approvals; each must be decided once"
                ));
            }
            let audit = api.view(c, "/api/audit?kind=human-decision&limit=200")?;
            let entries = audit.body["entries"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for id in &race {
                let n = entries
                    .iter()
                    .filter(|e| e["approvalId"] == id.as_str())
                    .count();
                if n != 1 {
                    return Err(format!("{id}: {n} human decisions audited"));
                }
            }
            Ok(())
        },
    );
}
