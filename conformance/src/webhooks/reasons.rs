//! Reasons: an approver denies with a reason through a Slack modal, a Discord modal
//! or a reply to a Telegram card; the reason is stored as the decision's comment,
//! shown on the edited card and sent to the gateway.

use super::*;

pub(super) fn checks(h: &Hooks<'_>, check: &mut Check<'_>) {
    if h.t.assistant.is_none() {
        return;
    }
    let ask = |tag: &str| -> Result<String, String> {
        let body = json!({"taskId": fresh(tag), "agent": "devops", "action": "deploy",
            "description": "reason", "estimatedCostUsd": 0.01, "environment": "production"});
        let r = h.api()?.approve(h.c, &body)?;
        r.body["approvalId"]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("no pending approval: {}", r.body))
    };
    // The approval is denied with `reason` as its comment, and the gateway is told.
    let denied_with = |id: &str, reason: &str| -> Result<(), String> {
        let shown = h.get(&h.assistant(&format!("/api/approvals/{id}"))?)?;
        if shown["decision"] != "denied"
            || shown["comment"] != reason
            || shown["decidedBy"] != APPROVER
        {
            return Err(format!(
                "expected denied by {APPROVER} with {reason:?}: {shown}"
            ));
        }
        let e = h.expect_seen(
            "gateway-event",
            &format!("no approval.decided for {id}"),
            &|s| s["body"]["type"] == "approval.decided" && s["body"]["data"]["approvalId"] == id,
        )?;
        if e["body"]["data"]["comment"] != reason {
            return Err(format!("the gateway was not told the reason: {e}"));
        }
        Ok(())
    };
    check(
        "webhooks: Slack's Deny with reason opens a modal; its submission denies with the reason, on the card and to the gateway",
        &mut || {
            let id = ask("slack-reason")?;
            let trigger = fresh("trig");
            let ts = "1700000000.000300";
            let click = json!({
                "type": "block_actions", "trigger_id": trigger,
                "user": { "id": APPROVER_SLACK }, "channel": { "id": "C9" },
                "container": { "message_ts": ts, "channel_id": "C9" },
                "response_url": format!("{}/slack/response/{trigger}", h.w.fakes),
                "actions": [{ "action_id": "agency_reason", "value": id, "action_ts": "1" }],
            });
            expect_200(
                &h.slack_form(&[("payload", &click.to_string())])?,
                "the reason click",
            )?;
            let opened = h.expect_seen("slack", "views.open was never called", &|s| {
                s["path"] == "/slack/api/views.open" && s["body"]["trigger_id"] == trigger.as_str()
            })?;
            let view = &opened["body"]["view"];
            if opened["authorized"] != true
                || view["type"] != "modal"
                || view["callback_id"] != "agency_reason"
            {
                return Err(format!("the modal: {opened}"));
            }
            let view_id = fresh("V");
            let submit = json!({
                "type": "view_submission", "user": { "id": APPROVER_SLACK }, "team": { "id": SOURCE },
                "trigger_id": fresh("trig"),
                "view": { "id": view_id, "type": "modal", "callback_id": "agency_reason",
                    "private_metadata": view["private_metadata"],
                    "state": { "values": { "reason": { "reason": { "type": "plain_text_input", "value": "not on a Friday" } } } } }
            });
            let r = h.slack_form(&[("payload", &submit.to_string())])?;
            expect_200(&r, "the modal's submission")?;
            if !r.body.trim().is_empty() {
                return Err(format!(
                    "a submission is answered with an empty body (it closes the modal): {}",
                    r.body
                ));
            }
            let d = h.settled(&view_id, &["done", "failed", "dead"])?;
            if d["result"]["outcome"] != "decided" {
                return Err(format!("the submission did not decide: {d}"));
            }
            h.expect_seen("slack", "the card was not updated with the reason", &|s| {
                s["path"] == "/slack/api/chat.update"
                    && s["body"]["ts"] == ts
                    && s["body"]["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("not on a Friday"))
            })?;
            denied_with(&id, "not on a Friday")
        },
    );
    check(
        "webhooks: Discord's Deny with reason answers with a modal; its submission denies with the reason and edits the card",
        &mut || {
            let id = ask("discord-reason")?;
            let click = json!({ "id": number().to_string(), "application_id": DISCORD_APP, "type": 3,
                "token": fresh("itok"), "channel_id": "555", "member": { "user": { "id": APPROVER_DISCORD } },
                "message": { "id": "667" }, "data": { "custom_id": format!("agency:r:{id}"), "component_type": 2 }, "version": 1 });
            let r = h.discord(&click, false)?;
            expect_200(&r, "the reason click")?;
            let modal: Value =
                serde_json::from_str(&r.body).map_err(|e| format!("{e}: {}", r.body))?;
            if modal["type"] != 9 || modal["data"]["custom_id"] != format!("agency:r:{id}") {
                return Err(format!("expected the modal (type 9): {modal}"));
            }
            let token = fresh("itok");
            let submit = json!({ "id": number().to_string(), "application_id": DISCORD_APP, "type": 5,
                "token": token, "channel_id": "555", "member": { "user": { "id": APPROVER_DISCORD } },
                "message": { "id": "667" },
                "data": { "custom_id": format!("agency:r:{id}"), "components": [{ "type": 1, "components": [
                    { "type": 4, "custom_id": "reason", "value": "wait for the freeze to end" }] }] },
                "version": 1 });
            let r = h.discord(&submit, false)?;
            expect_200(&r, "the modal's submission")?;
            if serde_json::from_str::<Value>(&r.body).ok() != Some(json!({ "type": 6 })) {
                return Err(format!(
                    "a submission is answered with a deferred update (type 6): {}",
                    r.body
                ));
            }
            h.expect_seen(
                "discord",
                "the Discord card was not edited with the reason",
                &|s| {
                    s["method"] == "PATCH"
                        && s["path"].as_str().is_some_and(|p| {
                            p.contains(&token) && p.ends_with("/messages/@original")
                        })
                        && s["body"]["content"]
                            .as_str()
                            .is_some_and(|t| t.contains("wait for the freeze to end"))
                },
            )?;
            denied_with(&id, "wait for the freeze to end")
        },
    );
    check(
        "webhooks: a reply to a Telegram card (deny: why) denies with the reason and edits the card",
        &mut || {
            let id = ask("tg-reason")?;
            let update = json!({ "update_id": number(), "message": {
                "message_id": number() % 100_000, "from": { "id": APPROVER_TELEGRAM, "is_bot": false, "first_name": "A" },
                "chat": { "id": -5, "type": "group" }, "date": 2, "text": "Deny: too close to the release",
                "reply_to_message": { "message_id": 4321, "from": { "id": 1, "is_bot": true, "first_name": "bot" },
                    "chat": { "id": -5, "type": "group" }, "date": 1, "text": "Approval needed",
                    "reply_markup": { "inline_keyboard": [[
                        { "text": "Approve", "callback_data": format!("agency:a:{id}") },
                        { "text": "Deny", "callback_data": format!("agency:d:{id}") }]] } } } });
            expect_200(&h.telegram(&update, Some(TELEGRAM_SECRET))?, "the reply")?;
            h.expect_seen(
                "telegram",
                "the Telegram card was not edited with the reason",
                &|s| {
                    s["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/editMessageText"))
                        && s["body"]["message_id"] == 4321
                        && s["body"]["text"]
                            .as_str()
                            .is_some_and(|t| t.contains("too close to the release"))
                },
            )?;
            denied_with(&id, "too close to the release")
        },
    );
}
