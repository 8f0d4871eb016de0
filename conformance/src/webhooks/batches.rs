//! Batch cards: when two or more asks wait in one conversation, one card there offers
//! "Approve all" and "Deny all"; a click decides every one of them and the card says
//! how many.

use super::*;

pub(super) fn checks(h: &Hooks<'_>, check: &mut Check<'_>) {
    if h.t.assistant.is_none() {
        return;
    }
    check(
        "webhooks: two asks in one chat get a batch card; Approve all decides both and edits it",
        &mut || {
            // A chat of its own, so asks of other checks (and runs) are not in it.
            let chat = -(1_000_000 + number() % 1_000_000);
            let ask = || -> Result<String, String> {
                let body = json!({"taskId": fresh("batch"), "agent": "devops", "action": "deploy",
                    "description": "batch", "estimatedCostUsd": 0.01, "environment": "production",
                    "replyTo": {"platform": "telegram", "source": SOURCE, "chatId": chat}});
                let r = h.api()?.approve(h.c, &body)?;
                match r.body["approvalId"].as_str() {
                    Some(id) if r.body["decision"] == "pending" => Ok(id.to_owned()),
                    _ => Err(format!("no pending approval: {}", r.body)),
                }
            };
            let ids = [ask()?, ask()?];
            // At the edge the webhooks Worker sweeps on its cron; ask for one.
            let cron = format!("{}/internal/cron/webhooks", h.w.base.trim_end_matches('/'));
            let _ =
                h.c.call("POST", &cron, Some(&h.t.operator_token), None, &[]);
            let card = h.expect_seen("telegram", "no batch card was posted in the chat", &|s| {
                s["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/sendMessage"))
                    && s["body"]["chat_id"] == chat
                    && s["body"]["reply_markup"].to_string().contains("agency:aa:")
            })?;
            let text = card["body"]["text"].as_str().unwrap_or("");
            if !text.starts_with("2 approvals are waiting here") {
                return Err(format!("the batch card's text: {card}"));
            }
            let data = card["body"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if !data.starts_with("agency:aa:") || data.len() > 64 {
                return Err(format!("the batch card's Approve all button: {card}"));
            }
            let q = fresh("cq");
            let click = json!({ "update_id": number(), "callback_query": { "id": q,
                "from": { "id": APPROVER_TELEGRAM, "is_bot": false, "first_name": "A" },
                "message": { "message_id": 555, "chat": { "id": chat, "type": "group" }, "date": 1 },
                "chat_instance": "1", "data": data } });
            expect_200(
                &h.telegram(&click, Some(TELEGRAM_SECRET))?,
                "the Approve all click",
            )?;
            h.expect_seen("telegram", "the batch card was not edited", &|s| {
                s["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/editMessageText"))
                    && s["body"]["chat_id"] == chat
                    && s["body"]["message_id"] == 555
                    && s["body"]["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("Approved 2 of 2 by"))
            })?;
            for id in &ids {
                let a = h.get(&h.assistant(&format!("/api/approvals/{id}"))?)?;
                if a["decision"] != "approved" || a["decidedBy"] != APPROVER {
                    return Err(format!("expected approved by {APPROVER}: {a}"));
                }
            }
            Ok(())
        },
    );
}
