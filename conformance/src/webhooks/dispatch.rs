//! Outbound to the gateway: the signed dispatch, retries honouring Retry-After, and dead
//! letters with their replay.

use super::*;

pub(super) fn checks(h: &Hooks<'_>, check: &mut Check<'_>) {
    let (c, w, t) = (h.c, h.w, h.t);
    check(
        "webhooks: a message is routed and dispatched, signed, to the gateway",
        &mut || {
            let event_id = fresh("EvRoute");
            let text = format!("deploy the api to production {}", fresh("route"));
            let ts = format!("{}.{:06}", now_s(), number() % 1_000_000);
            expect_200(
                &h.slack(&slack_message(&event_id, &ts, &text, "U1"))?,
                "message",
            )?;
            let detail = h.settled(&event_id, &["done", "dead", "failed"])?;
            if detail["status"] != "done" {
                return Err(format!("expected done: {detail}"));
            }
            let task = h.expect_seen("gateway", "the gateway never got the task", &|s| {
                s["body"]["event"]["text"] == text.as_str()
            })?;
            if task["verified"] != true {
                return Err("the gateway could not verify the Standard Webhooks signature".into());
            }
            let task_id = task["body"]["taskId"].as_str().unwrap_or("");
            if task_id != detail["id"]
                || header(&task, "webhook-id") != Some(task_id)
                || header(&task, "idempotency-key") != Some(task_id)
            {
                return Err(format!(
                    "taskId, webhook-id and Idempotency-Key must be the event id: {task}"
                ));
            }
            let b = &task["body"];
            if !b["decision"].is_object()
                || b["replyTo"]["platform"] != "slack"
                || b["replyTo"]["source"] != SOURCE
                || b["replyTo"]["channel"] != "C1"
            {
                return Err(format!("the task lacks its decision or replyTo: {b}"));
            }
            if detail["attemptLog"].as_array().map(Vec::len) != Some(1)
                || detail["attemptLog"][0]["status"] != 200
            {
                return Err(format!(
                    "expected one attempt with 200: {}",
                    detail["attemptLog"]
                ));
            }
            if !detail["decision"].is_object() {
                return Err(format!(
                    "the event does not show its routing decision: {detail}"
                ));
            }
            Ok(())
        },
    );
    check(
        "webhooks: a failed dispatch is retried, honouring Retry-After",
        &mut || {
            let event_id = fresh("EvFlaky");
            let text = format!("deploy [flaky] {}", fresh("f"));
            expect_200(
                &h.slack(&slack_message(
                    &event_id,
                    &format!("{}.1", number()),
                    &text,
                    "U1",
                ))?,
                "message",
            )?;
            let d = h.settled(&event_id, &["done", "dead", "failed"])?;
            let log = d["attemptLog"].as_array().cloned().unwrap_or_default();
            if d["status"] != "done"
                || log.len() != 2
                || log[0]["status"] != 503
                || log[1]["status"] != 200
            {
                return Err(format!("expected 503 then 200: {d}"));
            }
            let tasks = h.seen("gateway", 2, &|s| {
                s["body"]["event"]["text"] == text.as_str()
            })?;
            let gap = tasks.get(1).and_then(|b| b["atMs"].as_i64()).unwrap_or(0)
                - tasks.first().and_then(|a| a["atMs"].as_i64()).unwrap_or(0);
            if gap < 900 {
                return Err(format!(
                    "retried after {gap} ms, under the gateway's Retry-After of 1 s"
                ));
            }
            if tasks
                .iter()
                .any(|t| header(t, "webhook-id") != Some(d["id"].as_str().unwrap_or("")))
            {
                return Err("a retry changed the webhook-id".into());
            }
            Ok(())
        },
    );
    check(
        "webhooks: 410 stops; failing dispatches become dead letters and replay under their id",
        &mut || {
            let gone = fresh("EvGone");
            expect_200(
                &h.slack(&slack_message(
                    &gone,
                    &format!("{}.2", number()),
                    &format!("deploy [gone] {gone}"),
                    "U1",
                ))?,
                "gone",
            )?;
            let d = h.settled(&gone, &["failed", "done", "dead"])?;
            if d["status"] != "failed" || d["attemptLog"].as_array().map(Vec::len) != Some(1) {
                return Err(format!("410 must stop after one attempt: {d}"));
            }
            c.call(
                "POST",
                &format!("{}/_control", w.fakes),
                None,
                Some(r#"{"down": true}"#),
                &[],
            )?;
            let down = fresh("EvDown");
            let text = format!("deploy [down] {down}");
            expect_200(
                &h.slack(&slack_message(
                    &down,
                    &format!("{}.3", number()),
                    &text,
                    "U1",
                ))?,
                "down",
            )?;
            let d = h.settled(&down, &["dead", "done", "failed"])?;
            if d["status"] != "dead" || d["attemptLog"].as_array().map(Vec::len) != Some(3) {
                return Err(format!(
                    "expected a dead letter after 3 attempts (schedule [1, 1]): {d}"
                ));
            }
            let id = d["id"].as_str().unwrap_or("").to_owned();
            let letters = c.call(
                "GET",
                &h.url("/api/deadletters?limit=1000"),
                Some(&t.viewer_token),
                None,
                &[],
            )?;
            expect_status(&letters, 200, "GET /api/deadletters")?;
            if !letters.body["events"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e["id"] == id.as_str()))
            {
                return Err("the dead letter is not listed".into());
            }
            let replay = h.url(&format!("/api/deadletters/{id}/replay"));
            expect_error(
                &c.call("POST", &replay, Some(&t.viewer_token), None, &[])?,
                403,
                "viewer replay",
            )?;
            c.call(
                "POST",
                &format!("{}/_control", w.fakes),
                None,
                Some(r#"{"down": false}"#),
                &[],
            )?;
            let r = c.call("POST", &replay, Some(&t.operator_token), None, &[])?;
            expect_status(&r, 200, "replay")?;
            let d = h.settled(&down, &["done"])?;
            let tasks = h.seen("gateway", 4, &|s| {
                s["body"]["event"]["text"] == text.as_str()
            })?;
            if tasks.len() != 4
                || tasks
                    .iter()
                    .any(|t| header(t, "idempotency-key") != Some(id.as_str()))
            {
                return Err(format!(
                    "expected 4 deliveries under one Idempotency-Key, got {}",
                    tasks.len()
                ));
            }
            expect_error(
                &c.call("POST", &replay, Some(&t.operator_token), None, &[])?,
                409,
                "replaying a done event",
            )?;
            expect_error(
                &c.call(
                    "POST",
                    &h.url("/api/deadletters/evt_nope/replay"),
                    Some(&t.operator_token),
                    None,
                    &[],
                )?,
                404,
                "unknown event",
            )?;
            let all = c.call(
                "POST",
                &h.url("/api/deadletters/replay"),
                Some(&t.operator_token),
                Some(r#"{"source": "no-such-source"}"#),
                &[],
            )?;
            expect_status(&all, 200, "replay all of a source")?;
            if all.body["replayed"] != json!([]) {
                return Err(format!(
                    "nothing to replay for an unknown source: {}",
                    all.body
                ));
            }
            let _ = d;
            Ok(())
        },
    );
}
