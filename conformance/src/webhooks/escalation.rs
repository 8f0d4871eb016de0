//! Escalation: an ask nobody answers in time goes to a second group of approvers (its
//! rule's `escalate`): the gateway is told (`approval.escalated`, signed, once), the
//! group's channel gets a card with the buttons, and once decided that card shows it.

use super::*;

pub(super) fn checks(h: &Hooks<'_>, check: &mut Check<'_>) {
    // The rule that escalates after a second is the quick-expiry policy's.
    if h.t.assistant.is_none() || !h.t.quick_expiry {
        return;
    }
    check(
        "approvals: an unanswered ask escalates once: approval.escalated to the gateway, a card in the group's channel, edited when decided",
        &mut || {
            let body = json!({"taskId": fresh("esc"), "agent": "pm", "action": "conformance-escalation",
                "description": "escalate me", "estimatedCostUsd": 0.01});
            let asked = h.api()?.approve(h.c, &body)?;
            expect_status(&asked, 200, "POST /api/approve")?;
            if asked.body["decision"] != "pending"
                || asked.body["escalateTo"] != "leads"
                || !asked.body["escalatesAt"].is_string()
                || !asked.body["escalatedAt"].is_null()
            {
                return Err(format!(
                    "expected a pending ask escalating to leads: {}",
                    asked.body
                ));
            }
            let id = asked.body["approvalId"]
                .as_str()
                .ok_or("no approvalId")?
                .to_owned();
            std::thread::sleep(Duration::from_millis(1200));
            // At the edge the webhooks Worker sweeps on its cron; ask for one (the local
            // server sweeps every second and has no such route).
            let url = format!("{}/internal/cron/webhooks", h.w.base.trim_end_matches('/'));
            let _ = h.c.call("POST", &url, Some(&h.t.operator_token), None, &[]);
            let e = h.expect_seen(
                "gateway-event",
                &format!("the gateway was never sent approval.escalated for {id}"),
                &|s| {
                    s["body"]["type"] == "approval.escalated"
                        && s["body"]["data"]["approvalId"] == id.as_str()
                },
            )?;
            let d = &e["body"]["data"];
            if e["verified"] != true
                || d["escalatedTo"] != "leads"
                || d["decision"] != "pending"
                || d["reason"] != "escalated"
            {
                return Err(format!("approval.escalated: {e}"));
            }
            let card = h.expect_seen("telegram", "no card in the leads' channel", &|s| {
                s["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/sendMessage"))
                    && s["body"]["chat_id"] == -1002
                    && s["body"]["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("Escalated to leads"))
                    && s["body"].to_string().contains(&id)
            })?;
            if !card["body"]["reply_markup"]["inline_keyboard"].is_array() {
                return Err(format!("the leads' card has no buttons: {card}"));
            }
            let shown = h.get(&h.assistant(&format!("/api/approvals/{id}"))?)?;
            if shown["decision"] != "pending" || !shown["escalatedAt"].is_string() {
                return Err(format!("expected pending and escalated: {shown}"));
            }
            let decided = h.c.call(
                "POST",
                &h.assistant(&format!("/api/approvals/{id}/decision"))?,
                Some(&h.t.operator_token),
                Some(r#"{"decision": "approve", "by": "lead"}"#),
                &[],
            )?;
            expect_status(&decided, 200, "deciding the escalated ask")?;
            let _ = h.c.call("POST", &url, Some(&h.t.operator_token), None, &[]);
            h.expect_seen(
                "telegram",
                "the leads' card was not edited to show the decision",
                &|s| {
                    s["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/editMessageText"))
                        && s["body"]["chat_id"] == -1002
                        && s["body"]["text"]
                            .as_str()
                            .is_some_and(|t| t.contains(&id) || t.contains("approved"))
                },
            )?;
            // Once: one audit entry, one event, however many sweeps ran.
            let audit = h.get(&h.assistant("/api/audit?kind=escalated&limit=100")?)?;
            let entries = audit["entries"]
                .as_array()
                .map(|l| l.iter().filter(|e| e["approvalId"] == id.as_str()).count());
            if entries != Some(1) {
                return Err(format!(
                    "expected one escalated audit entry for {id}: {audit}"
                ));
            }
            let events = h.seen("gateway-event", 1, &|s| {
                s["body"]["type"] == "approval.escalated"
                    && s["body"]["data"]["approvalId"] == id.as_str()
            })?;
            let ids: std::collections::BTreeSet<String> = events
                .iter()
                .filter_map(|s| {
                    s["headers"].as_array()?.iter().find_map(|kv| {
                        (kv[0].as_str()?.eq_ignore_ascii_case("webhook-id"))
                            .then(|| kv[1].as_str().map(str::to_owned))?
                    })
                })
                .collect();
            if ids.len() > 1 {
                return Err(format!(
                    "approval.escalated was sent under {} ids: {ids:?}",
                    ids.len()
                ));
            }
            Ok(())
        },
    );
}
