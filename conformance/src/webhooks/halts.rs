//! The halt switch across the agency: routing answers `halted`, the consumer holds the
//! events of halted work (listed, counted, droppable) and releases each once on resume,
//! the gateway is told with signed events (verified by the Standard Webhooks library),
//! chat says what is held; and capabilities (a Slack `response_url`, a Discord
//! interaction token) appear in no view a viewer can read.
//!
//! Every check lifts what it halted, even when it fails, so the checks after it run on
//! an agency that is not halted.

use super::*;

/// How long a copy of the halts may be behind at the edge, plus margin.
const STALE: Duration = Duration::from_secs(6);

impl Hooks<'_> {
    pub(super) fn assistant(&self, path: &str) -> Result<String, String> {
        Ok(self.api()?.url(path))
    }

    /// The assistant under test, with the calls the assistant's checks make.
    pub(super) fn api(&self) -> Result<crate::assistant::Assistant<'_>, String> {
        Ok(crate::assistant::Assistant {
            base: self
                .t
                .assistant
                .as_deref()
                .ok_or("no assistant in this deployment")?,
            gw: &self.t.gateway_token,
            op: &self.t.operator_token,
            viewer: &self.t.viewer_token,
        })
    }

    fn halt(&self, scope: &str, target: Option<&str>, reason: &str) -> Result<Value, String> {
        let body = json!({ "scope": scope, "target": target, "reason": reason }).to_string();
        let r = self.c.call(
            "POST",
            &self.assistant("/api/halt")?,
            Some(&self.t.operator_token),
            Some(&body),
            &[],
        )?;
        expect_status(&r, 200, "POST /api/halt")?;
        Ok(r.body)
    }

    fn resume(&self, scope: &str, target: Option<&str>) -> Result<Value, String> {
        let body = json!({ "scope": scope, "target": target }).to_string();
        let r = self.c.call(
            "POST",
            &self.assistant("/api/resume")?,
            Some(&self.t.operator_token),
            Some(&body),
            &[],
        )?;
        expect_status(&r, 200, "POST /api/resume")?;
        Ok(r.body)
    }

    fn route(&self, message: &str, channel: &str) -> Result<Value, String> {
        let body = json!({ "message": message, "channel": channel }).to_string();
        let r = self.c.call(
            "POST",
            &format!("{}/api/route", self.t.router.trim_end_matches('/')),
            Some(&self.t.gateway_token),
            Some(&body),
            &[],
        )?;
        expect_status(&r, 200, "POST /api/route")?;
        Ok(r.body)
    }

    /// Routes until `done` holds of the decision (the edge's copy of the halts may be a
    /// few seconds old); the last decision.
    fn route_until(
        &self,
        message: &str,
        channel: &str,
        done: &dyn Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        let deadline = Instant::now() + STALE;
        loop {
            let d = self.route(message, channel)?;
            if done(&d) || Instant::now() > deadline {
                return Ok(d);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub(super) fn get(&self, url: &str) -> Result<Value, String> {
        let r = self
            .c
            .call("GET", url, Some(&self.t.viewer_token), None, &[])?;
        expect_status(&r, 200, url)?;
        Ok(r.body)
    }

    /// Sends a Slack message in the conformance workspace (channel `slack`).
    fn message(&self, text: &str) -> Result<String, String> {
        let event_id = fresh("EvHalt");
        let ts = format!("{}.{:06}", now_s(), number() % 1_000_000);
        expect_200(
            &self.slack(&slack_message(&event_id, &ts, text, "U1"))?,
            "message",
        )?;
        Ok(event_id)
    }

    fn tasks_with(&self, text: &str) -> Result<Vec<Value>, String> {
        let r = self
            .c
            .call("GET", &format!("{}/_seen", self.w.fakes), None, None, &[])?;
        Ok(r.body["seen"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["kind"] == "gateway" && s["body"]["event"]["text"] == text)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// Runs `f`, then `cleanup` whatever `f` came to; `f`'s error first.
fn always(
    f: impl FnOnce() -> Result<(), String>,
    cleanup: impl FnOnce() -> Result<Value, String>,
) -> Result<(), String> {
    let result = f();
    let cleaned = cleanup();
    result?;
    cleaned.map(|_| ())
}

/// A message the conformance graph sends to devops.
fn devops_text(tag: &str) -> String {
    format!("deploy the api to production {tag}")
}

pub(super) fn checks(h: &Hooks<'_>, check: &mut Check<'_>) {
    if h.t.assistant.is_none() {
        return;
    }
    check(
        "halts: scopes all, agent, channel and task; an unknown name is kept with a warning",
        &mut || {
            let nobody = fresh("nobody").to_lowercase();
            always(
                || {
                    let r = h.halt("agent", Some(&nobody), "conformance: unknown name")?;
                    let warned = r["warnings"].as_array().is_some_and(|w| {
                        w.iter()
                            .any(|x| x.as_str().is_some_and(|x| x.contains(&nobody)))
                    });
                    if !warned {
                        return Err(format!("no warning for an agent the graph lacks: {r}"));
                    }
                    if !r["halts"].as_array().is_some_and(|a| {
                        a.iter()
                            .any(|x| x["scope"] == "agent" && x["target"] == nobody.as_str())
                    }) {
                        return Err(format!("the halt was not kept: {r}"));
                    }
                    let known = h.halt("channel", Some("slack"), "conformance: known")?;
                    if known["warnings"].as_array().is_some_and(|w| !w.is_empty()) {
                        return Err(format!("a known channel got a warning: {known}"));
                    }
                    let lifted = h.resume("channel", Some("slack"))?;
                    if lifted["resumed"] != true {
                        return Err(format!("the channel halt was not lifted: {lifted}"));
                    }
                    let again = h.resume("channel", Some("slack"))?;
                    if again["resumed"] != false {
                        return Err(format!("a second resume lifted something: {again}"));
                    }
                    for bad in [
                        json!({"scope": "planet", "target": "x", "reason": "r"}),
                        json!({"scope": "channel", "reason": "r"}),
                        json!({"scope": "all", "target": "x", "reason": "r"}),
                    ] {
                        let r = h.c.call(
                            "POST",
                            &h.assistant("/api/halt")?,
                            Some(&h.t.operator_token),
                            Some(&bad.to_string()),
                            &[],
                        )?;
                        expect_error(&r, 400, &format!("halt {bad}"))?;
                    }
                    Ok(())
                },
                || h.resume("agent", Some(&nobody)),
            )
        },
    );
    check(
        "halts: routing answers halted with the halt that applies, and never reroutes",
        &mut || {
            let text = devops_text(&fresh("route"));
            always(
                || {
                    h.halt("channel", Some("discord"), "conformance: channel")?;
                    let d = h.route_until(&text, "discord", &|d| d["reason"] == "halted")?;
                    if d["reason"] != "halted"
                        || d["agent"] != "devops"
                        || d["halt"]["scope"] != "channel"
                        || d["halt"]["target"] != "discord"
                        || !d["decisionId"].is_string()
                    {
                        return Err(format!(
                            "a message in a halted channel must name its agent, reason halted and the halt: {d}"
                        ));
                    }
                    let other = h.route(&text, "slack")?;
                    if other["reason"] == "halted" || other.get("halt").is_some() {
                        return Err(format!("another channel is not halted: {other}"));
                    }
                    h.halt("agent", Some("devops"), "conformance: agent")?;
                    let d = h.route_until(&text, "slack", &|d| d["reason"] == "halted")?;
                    if d["agent"] != "devops" || d["halt"]["target"] != "devops" {
                        return Err(format!(
                            "a halted agent must be answered, not rerouted: {d}"
                        ));
                    }
                    h.resume("agent", Some("devops"))?;
                    h.resume("channel", Some("discord"))?;
                    let d = h.route_until(&text, "discord", &|d| d["reason"] != "halted")?;
                    if d["reason"] == "halted" {
                        return Err(format!("still halted after the resume: {d}"));
                    }
                    Ok(())
                },
                || {
                    h.resume("agent", Some("devops"))?;
                    h.resume("channel", Some("discord"))
                },
            )
        },
    );
    check(
        "halts: events for a halted agent are held, listed and counted; one is dropped; resume dispatches the rest once each",
        &mut || {
            let tag = fresh("held");
            let texts: Vec<String> = (1..=3)
                .map(|i| devops_text(&format!("{tag} #{i}")))
                .collect();
            always(
                || {
                    h.halt("agent", Some("devops"), "conformance: hold")?;
                    let mut ids = Vec::new();
                    for text in &texts {
                        let event = h.message(text)?;
                        let d = h.settled(&event, &["held", "done", "failed", "dead"])?;
                        if d["status"] != "held" || d["heldBy"] != "agent:devops" {
                            return Err(format!("expected held by agent:devops: {d}"));
                        }
                        ids.push(d["id"].as_str().unwrap_or("").to_owned());
                    }
                    let listed = h.get(&h.url("/api/events?status=held&limit=1000"))?;
                    let listed: Vec<&str> = listed["events"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|e| e["id"].as_str()).collect())
                        .unwrap_or_default();
                    if ids.iter().any(|id| !listed.contains(&id.as_str())) {
                        return Err(format!("GET /api/events?status=held lacks {ids:?}"));
                    }
                    let counted = h.get(&h.url("/api/events/held"))?;
                    let n = counted["held"]
                        .as_array()
                        .and_then(|a| {
                            a.iter()
                                .find(|w| w["scope"] == "agent" && w["target"] == "devops")
                        })
                        .and_then(|w| w["events"].as_u64())
                        .unwrap_or(0);
                    if n < 3 {
                        return Err(format!("GET /api/events/held counts {n}: {counted}"));
                    }
                    if let Some(m) = &h.t.monitoring {
                        let url = format!("{}/metrics", m.trim_end_matches('/'));
                        let auth = format!("Bearer {}", h.t.viewer_token);
                        let deadline = Instant::now() + Duration::from_secs(15);
                        // The webhook service's held gauge, as /metrics merges it (at
                        // the edge it is shipped from the webhooks Worker).
                        let gauge = loop {
                            let r = h.c.raw("GET", &url, &[("authorization", &auth)], b"")?;
                            let v = r
                                .body
                                .lines()
                                .find_map(|l| l.strip_prefix("agency_webhook_events_held "))
                                .and_then(|v| v.trim().parse::<f64>().ok());
                            match v {
                                Some(v) if v >= 3.0 => break v,
                                _ if Instant::now() > deadline => {
                                    return Err(format!(
                                        "/metrics does not count the held events: {v:?}"
                                    ));
                                }
                                _ => std::thread::sleep(Duration::from_millis(300)),
                            }
                        };
                        let _ = gauge;
                    }
                    // Dropping: an operator's call, only for held events.
                    let drop = |id: &str, token: &str| {
                        h.c.call(
                            "POST",
                            &h.url(&format!("/api/events/{id}/drop")),
                            Some(token),
                            None,
                            &[],
                        )
                    };
                    expect_error(&drop(&ids[1], &h.t.viewer_token)?, 403, "a viewer's drop")?;
                    let dropped = drop(&ids[1], &h.t.operator_token)?;
                    expect_status(&dropped, 200, "drop")?;
                    if dropped.body["status"] != "dropped" {
                        return Err(format!("expected dropped: {}", dropped.body));
                    }
                    expect_error(&drop(&ids[1], &h.t.operator_token)?, 409, "a second drop")?;
                    expect_error(
                        &drop("evt_nonexistent", &h.t.operator_token)?,
                        404,
                        "an unknown drop",
                    )?;
                    for text in &texts {
                        if !h.tasks_with(text)?.is_empty() {
                            return Err(format!("a held event reached the gateway: {text}"));
                        }
                    }
                    let resumed = h.resume("agent", Some("devops"))?;
                    if resumed["resumed"] != true || resumed["released"].as_u64() < Some(2) {
                        return Err(format!("the resume should release the two held: {resumed}"));
                    }
                    for i in [0, 2] {
                        h.expect_seen(
                            "gateway",
                            "a released event never reached the gateway",
                            &|s| s["body"]["event"]["text"] == texts[i].as_str(),
                        )?;
                    }
                    // Let any second delivery show itself.
                    std::thread::sleep(Duration::from_millis(1500));
                    for i in [0, 2] {
                        let n = h
                            .tasks_with(&texts[i])?
                            .iter()
                            .filter(|s| s["status"] == 200)
                            .count();
                        if n != 1 {
                            return Err(format!("{} reached the gateway {n} times", texts[i]));
                        }
                    }
                    if !h.tasks_with(&texts[1])?.is_empty() {
                        return Err("the dropped event reached the gateway".into());
                    }
                    let d = h.get(&h.url(&format!("/api/events/{}", ids[1])))?;
                    if d["status"] != "dropped" || d["result"]["heldBy"] != "agent:devops" {
                        return Err(format!("the dropped event does not say who held it: {d}"));
                    }
                    Ok(())
                },
                || h.resume("agent", Some("devops")),
            )
        },
    );
    check(
        "halts: the gateway gets halt.set and halt.lifted, signed (Standard Webhooks library), once per id",
        &mut || {
            let agent = fresh("ctl").to_lowercase();
            always(
                || {
                    h.halt("agent", Some(&agent), "conformance: control")?;
                    h.resume("agent", Some(&agent))?;
                    for kind in ["halt.set", "halt.lifted"] {
                        let e = h.expect_seen(
                            "gateway-event",
                            &format!("the gateway was never sent {kind} for {agent}"),
                            &|s| {
                                s["body"]["type"] == kind
                                    && s["body"]["data"]["target"] == agent.as_str()
                            },
                        )?;
                        if e["verified"] != true || e["path"] != "/gateway/events" {
                            return Err(format!("{kind} did not verify as Standard Webhooks: {e}"));
                        }
                        let d = &e["body"]["data"];
                        if d["scope"] != "agent"
                            || !d["auditSeq"].is_i64()
                            || !e["body"]["timestamp"].is_string()
                            || (kind == "halt.set" && d["reason"] != "conformance: control")
                        {
                            return Err(format!("{kind} lacks what it is about: {e}"));
                        }
                        let id = header(&e, "webhook-id").unwrap_or("").to_owned();
                        std::thread::sleep(Duration::from_millis(1200));
                        let same = h.seen("gateway-event", 2, &|s| {
                            header(s, "webhook-id") == Some(id.as_str())
                        })?;
                        if same.len() != 1 {
                            return Err(format!("{kind} {id} was delivered {} times", same.len()));
                        }
                    }
                    Ok(())
                },
                || h.resume("agent", Some(&agent)),
            )
        },
    );
    check(
        "approvals: the gateway gets approval.decided, signed, with the decision and its comment",
        &mut || {
            let body = json!({"taskId": fresh("told"), "agent": "devops", "action": "deploy", "description": "told", "estimatedCostUsd": 0.01, "environment": "production"});
            let asked = h.api()?.approve(h.c, &body)?;
            expect_status(&asked, 200, "POST /api/approve")?;
            if asked.body["decision"] != "pending" {
                return Err(format!("expected an ask: {}", asked.body));
            }
            let id = asked.body["approvalId"]
                .as_str()
                .ok_or("no approvalId")?
                .to_owned();
            let decided = h.c.call(
                "POST",
                &h.assistant(&format!("/api/approvals/{id}/decision"))?,
                Some(&h.t.operator_token),
                Some(r#"{"decision": "deny", "by": "conformance", "comment": "not today"}"#),
                &[],
            )?;
            expect_status(&decided, 200, "POST /api/approvals/{id}/decision")?;
            let e = h.expect_seen(
                "gateway-event",
                &format!("the gateway was never sent approval.decided for {id}"),
                &|s| {
                    s["body"]["type"] == "approval.decided"
                        && s["body"]["data"]["approvalId"] == id.as_str()
                },
            )?;
            let d = &e["body"]["data"];
            if e["verified"] != true
                || d["decision"] != "denied"
                || d["comment"] != "not today"
                || d["by"] != "conformance"
                || !d["auditSeq"].is_i64()
            {
                return Err(format!("approval.decided: {e}"));
            }
            Ok(())
        },
    );
    check(
        "halts: under a halt of everything every event is held; resume all sends it",
        &mut || {
            let text = format!("hello there {}", fresh("all"));
            always(
                || {
                    h.halt("all", None, "conformance: everything")?;
                    let event = h.message(&text)?;
                    let d = h.settled(&event, &["held", "done", "failed", "dead"])?;
                    if d["status"] != "held" || d["heldBy"] != "all" {
                        return Err(format!("expected held by all: {d}"));
                    }
                    let r = h.route_until(&text, "slack", &|d| d["reason"] == "halted")?;
                    if r["halt"]["scope"] != "all" {
                        return Err(format!("routing under a halt of everything: {r}"));
                    }
                    h.resume("all", None)?;
                    let d = h.settled(&event, &["done", "failed", "dead"])?;
                    if d["status"] != "done" {
                        return Err(format!("expected done after the resume: {d}"));
                    }
                    Ok(())
                },
                || h.resume("all", None),
            )
        },
    );
    check(
        "halts: chat halt, status and resume say what is held, and report only what happened",
        &mut || {
            let chat = |message: &str| -> Result<Value, String> {
                let body =
                    json!({ "sessionId": fresh("halt-chat"), "message": message }).to_string();
                let r = h.c.call(
                    "POST",
                    &h.assistant("/api/chat")?,
                    Some(&h.t.operator_token),
                    Some(&body),
                    &[],
                )?;
                expect_status(&r, 200, message)?;
                Ok(r.body)
            };
            let text = devops_text(&fresh("chat-held"));
            always(
                || {
                    let r = chat("halt devops: conformance chat")?;
                    if r["actions"][0]["type"] != "halted" {
                        return Err(format!("halt: {r}"));
                    }
                    let event = h.message(&text)?;
                    h.settled(&event, &["held"])?;
                    let r = chat("status")?;
                    let said = r["reply"].as_str().unwrap_or("");
                    if !said.contains("devops") || !said.contains("1 message held") {
                        return Err(format!("status must say what is held for whom: {r}"));
                    }
                    let r = chat("resume devops")?;
                    if r["actions"][0]["type"] != "resumed" || r["actions"][0]["released"] != 1 {
                        return Err(format!("resume must say it released 1: {r}"));
                    }
                    h.settled(&event, &["done"])?;
                    let r = chat("resume nobody")?;
                    if r["actions"] != json!([])
                        || !r["reply"]
                            .as_str()
                            .is_some_and(|s| s.contains("was not halted"))
                    {
                        return Err(format!("resuming what was not halted is no action: {r}"));
                    }
                    let r = chat("halt nobody-at-all")?;
                    if !r["reply"]
                        .as_str()
                        .is_some_and(|s| s.contains("has no agent"))
                    {
                        return Err(format!("halting an unknown agent must warn: {r}"));
                    }
                    chat("resume nobody-at-all")?;
                    Ok(())
                },
                || h.resume("agent", Some("devops")),
            )
        },
    );
    check(
        "capabilities: no view a viewer can read shows a Slack response_url or a Discord interaction token",
        &mut || capabilities(h),
    );
}

fn capabilities(h: &Hooks<'_>) -> Result<(), String> {
    let (c, w, t) = (h.c, h.w, h.t);
    let secret = fresh("SECRETcapability");
    let response_url = format!("{}/slack/response/{secret}", w.fakes);
    let token = format!("{secret}-discord-token");
    // A stranger's slash command: answered privately through the response_url.
    let trigger = fresh("capcmd");
    expect_200(
        &h.slack_form(&[
            ("command", "/agency"),
            ("text", "help"),
            ("team_id", "T1"),
            ("channel_id", "C7"),
            ("user_id", "USTRANGER"),
            ("trigger_id", &trigger),
            ("response_url", &response_url),
        ])?,
        "slash command",
    )?;
    h.expect_seen(
        "slack-response",
        "the slash command was not answered through its response_url",
        &|s| s["path"].as_str().is_some_and(|p| p.ends_with(&secret)),
    )?;
    // A stranger's Discord command: answered with a follow-up under its token.
    let cmd = json!({ "id": number().to_string(), "application_id": DISCORD_APP, "type": 2, "token": token, "channel_id": "555", "member": { "user": { "id": "4343" } }, "data": { "name": "agency", "options": [{ "name": "text", "type": 3, "value": "help" }] }, "version": 1 });
    expect_200(&h.discord(&cmd, false)?, "discord command")?;
    h.expect_seen(
        "discord",
        "the Discord command was not followed up under its token",
        &|s| s["path"].as_str().is_some_and(|p| p.ends_with(&token)),
    )?;
    // The stored event keeps a reference in the capability's place.
    let stored = h.settled(&trigger, &["done", "failed", "dead"])?;
    if !stored["payload"]["replyTo"]["responseUrl"]
        .as_str()
        .is_some_and(|r| r.starts_with("cap_"))
    {
        return Err(format!(
            "the event must keep a reference (cap_...) in the response_url's place: {stored}"
        ));
    }
    // An approval whose gateway passed real capabilities in its replyTo.
    if let Some(a) = &t.assistant {
        for reply_to in [
            json!({"platform": "slack", "source": SOURCE, "channel": "C9", "responseUrl": response_url}),
            json!({"platform": "discord", "source": SOURCE, "channelId": "888", "applicationId": DISCORD_APP, "token": token}),
        ] {
            let body = json!({
                "taskId": fresh("cap-task"), "agent": "devops", "action": "deploy",
                "description": "capabilities", "estimatedCostUsd": 1.0, "environment": "production",
                "replyTo": reply_to,
            });
            let r = c.call(
                "POST",
                &format!("{a}/api/approve"),
                Some(&t.gateway_token),
                Some(&body.to_string()),
                &[],
            )?;
            expect_status(&r, 200, "approve with a replyTo")?;
        }
    }
    // Every view a viewer can reach.
    let mut urls = vec![
        h.url("/api/events?limit=1000"),
        h.url("/api/deadletters?limit=1000"),
        h.url("/api/events/held"),
        format!(
            "{}/api/route/decisions?limit=1000",
            t.router.trim_end_matches('/')
        ),
    ];
    let events = h.get(&h.url("/api/events?limit=200"))?;
    for e in events["events"].as_array().into_iter().flatten() {
        if let Some(id) = e["id"].as_str() {
            urls.push(h.url(&format!("/api/events/{id}")));
        }
    }
    if let Some(a) = &t.assistant {
        let a = a.trim_end_matches('/');
        urls.push(format!("{a}/api/approvals?limit=1000"));
        urls.push(format!("{a}/api/audit?limit=1000"));
        urls.push(format!("{a}/api/halt"));
        let approvals = h.get(&format!("{a}/api/approvals?limit=50"))?;
        for x in approvals["approvals"].as_array().into_iter().flatten() {
            if let Some(id) = x["approvalId"].as_str() {
                urls.push(format!("{a}/api/approvals/{id}"));
            }
        }
    }
    if let Some(m) = &t.monitoring {
        let m = m.trim_end_matches('/');
        urls.push(format!("{m}/api/dashboard"));
        urls.push(format!("{m}/api/incidents"));
    }
    for url in &urls {
        let body = h.get(url)?.to_string();
        if body.contains(&secret) {
            return Err(format!("{url} shows a capability: {body}"));
        }
    }
    if let Some(m) = &t.monitoring {
        let metrics = c.raw(
            "GET",
            &format!("{}/metrics", m.trim_end_matches('/')),
            &[("authorization", &format!("Bearer {}", t.viewer_token))],
            b"",
        )?;
        if metrics.body.contains(&secret) {
            return Err("/metrics shows a capability".into());
        }
    }
    Ok(())
}
