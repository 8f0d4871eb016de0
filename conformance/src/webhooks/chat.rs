//! Back to the chat: replies through the platforms' APIs (retrying their 429), approval
//! cards and their clicks, asks with a replyTo, and commands to the assistant.

use super::*;

pub(super) fn checks(h: &Hooks<'_>, check: &mut Check<'_>) {
    let (c, w, t) = (h.c, h.w, h.t);
    check(
        "webhooks: replies reach the chat, retrying a platform's 429",
        &mut || {
            let text = format!("[platform-429] the answer {}", fresh("reply"));
            let body = json!({ "replyTo": { "platform": "telegram", "source": SOURCE, "chatId": -100, "messageId": 5 }, "text": text });
            let r = c.call(
                "POST",
                &h.url("/api/replies"),
                Some(&t.gateway_token),
                Some(&body.to_string()),
                &[],
            )?;
            expect_status(&r, 202, "POST /api/replies")?;
            let calls = h.seen("telegram", 2, &|s| s["body"]["text"] == text.as_str())?;
            if calls.len() != 2 || calls[0]["status"] != 429 || calls[1]["status"] != 200 {
                return Err(format!("expected a 429 then a delivery: {calls:?}"));
            }
            let gap =
                calls[1]["atMs"].as_i64().unwrap_or(0) - calls[0]["atMs"].as_i64().unwrap_or(0);
            if gap < 900
                || !calls[1]["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/sendMessage"))
                || calls[1]["body"]["chat_id"] != -100
            {
                return Err(format!(
                    "the retry must wait Retry-After and be sendMessage to the chat: {:?}",
                    calls[1]
                ));
            }
            expect_error(&c.call("POST", &h.url("/api/replies"), Some(&t.gateway_token), Some(r#"{"replyTo": {"platform": "telegram", "source": "nobody", "chatId": 1}, "text": "x"}"#), &[])?, 422, "unknown source")?;
            expect_error(
                &c.call(
                    "POST",
                    &h.url("/api/replies"),
                    Some(&t.gateway_token),
                    Some(r#"{"replyTo": {"platform": "fax"}, "text": "x"}"#),
                    &[],
                )?,
                400,
                "bad replyTo",
            )?;
            expect_error(
                &c.call(
                    "POST",
                    &h.url("/api/replies"),
                    Some(&t.viewer_token),
                    Some(&body.to_string()),
                    &[],
                )?,
                403,
                "viewer",
            )
        },
    );
    check(
        "webhooks: a reply's Idempotency-Key answers the first reply and posts once",
        &mut || {
            let text = format!("the idempotent answer {}", fresh("reply"));
            let body = json!({ "replyTo": { "platform": "telegram", "source": SOURCE, "chatId": -101 }, "text": text }).to_string();
            let key = fresh("key");
            let post = |body: &str, key: &str| {
                c.call(
                    "POST",
                    &h.url("/api/replies"),
                    Some(&t.gateway_token),
                    Some(body),
                    &[("Idempotency-Key", key)],
                )
            };
            let first = post(&body, &key)?;
            expect_status(&first, 202, "the first reply")?;
            let again = post(&body, &key)?;
            expect_status(&again, 202, "the same reply again")?;
            if again.body["replyId"] != first.body["replyId"] {
                return Err(format!(
                    "a retry got another reply: {} then {}",
                    first.body, again.body
                ));
            }
            let other = json!({ "replyTo": { "platform": "telegram", "source": SOURCE, "chatId": -101 }, "text": "something else" }).to_string();
            expect_error(&post(&other, &key)?, 409, "the key for another reply")?;
            expect_error(&post(&body, "")?, 400, "an empty key")?;
            h.expect_seen("telegram", "the reply was not posted", &|s| {
                s["body"]["text"] == text.as_str() && s["status"] == 200
            })?;
            std::thread::sleep(Duration::from_millis(1500));
            let sent = h.seen("telegram", 1, &|s| s["body"]["text"] == text.as_str())?;
            if sent.len() != 1 {
                return Err(format!("the reply was posted {} times", sent.len()));
            }
            // Without a key, each request posts.
            let plain = json!({ "replyTo": { "platform": "telegram", "source": SOURCE, "chatId": -101 }, "text": format!("{text} plain") }).to_string();
            for _ in 0..2 {
                expect_status(
                    &c.call(
                        "POST",
                        &h.url("/api/replies"),
                        Some(&t.gateway_token),
                        Some(&plain),
                        &[],
                    )?,
                    202,
                    "a reply",
                )?;
            }
            let plain_text = format!("{text} plain");
            let sent = h.seen("telegram", 2, &|s| s["body"]["text"] == plain_text.as_str())?;
            if sent.len() != 2 {
                return Err(format!(
                    "two replies without a key were posted {} times",
                    sent.len()
                ));
            }
            Ok(())
        },
    );
    if t.assistant.is_some() {
        check(
            "webhooks: card clicks decide for approvers only, and the card is updated",
            &mut || {
                let a = t.assistant.as_deref().unwrap_or("");
                let ask = |task: &str| -> Result<String, String> {
                    let body = json!({"taskId": task, "agent": "devops", "action": "deploy", "description": "c", "estimatedCostUsd": 0.01, "environment": "production"});
                    let r = c.call(
                        "POST",
                        &format!("{a}/api/approve"),
                        Some(&t.gateway_token),
                        Some(&body.to_string()),
                        &[],
                    )?;
                    r.body["approvalId"]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or(format!("no pending approval: {}", r.body))
                };
                let id = ask(&fresh("card"))?;
                let click = |user: &str, trigger: &str| {
                    let payload = json!({
                        "type": "block_actions", "trigger_id": trigger,
                        "user": { "id": user }, "channel": { "id": "C9" },
                        "container": { "message_ts": "1700000000.000200", "channel_id": "C9" },
                        "response_url": format!("{}/slack/response/{trigger}", w.fakes),
                        "actions": [{ "action_id": "agency_approve", "value": id, "action_ts": "1" }],
                    });
                    h.slack_form(&[("payload", &payload.to_string())])
                };
                let stranger = fresh("trig");
                expect_200(&click("USTRANGER", &stranger)?, "a stranger's click")?;
                let d = h.settled(&stranger, &["done", "failed", "dead"])?;
                if d["result"]["outcome"] != "notAllowed" {
                    return Err(format!("a stranger's click must not decide: {d}"));
                }
                let told = h.seen("slack-response", 1, &|s| {
                    s["path"].as_str().is_some_and(|p| p.ends_with(&stranger))
                })?;
                if told.first().map(|s| s["body"]["response_type"].clone())
                    != Some(json!("ephemeral"))
                {
                    return Err(format!("the stranger was not told privately: {told:?}"));
                }
                let shown = c.call(
                    "GET",
                    &format!("{a}/api/approvals/{id}"),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?;
                if shown.body["decision"] != "pending" {
                    return Err(format!(
                        "a stranger's click changed the approval: {}",
                        shown.body
                    ));
                }
                let trig = fresh("trig");
                expect_200(&click(APPROVER_SLACK, &trig)?, "the approver's click")?;
                let d = h.settled(&trig, &["done", "failed", "dead"])?;
                if d["result"]["outcome"] != "decided" {
                    return Err(format!("the approver's click must decide: {d}"));
                }
                let shown = c.call(
                    "GET",
                    &format!("{a}/api/approvals/{id}"),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?;
                if shown.body["decision"] != "approved" || shown.body["decidedBy"] != APPROVER {
                    return Err(format!("expected approved by {APPROVER}: {}", shown.body));
                }
                let updated = h.seen("slack", 1, &|s| {
                    s["path"] == "/slack/api/chat.update" && s["body"]["ts"] == "1700000000.000200"
                })?;
                if updated.first().map(|u| u["authorized"].clone()) != Some(json!(true)) {
                    return Err(
                        "the card was not updated with chat.update and the bot token".into(),
                    );
                }
                // Telegram: the card is edited and the click answered.
                let id2 = ask(&fresh("tgcard"))?;
                let q = fresh("cq");
                let update = json!({ "update_id": number(), "callback_query": { "id": q, "from": { "id": APPROVER_TELEGRAM, "is_bot": false, "first_name": "A" }, "message": { "message_id": 99, "chat": { "id": -5, "type": "group" }, "date": 1 }, "chat_instance": "1", "data": format!("agency:d:{id2}") } });
                expect_200(
                    &h.telegram(&update, Some(TELEGRAM_SECRET))?,
                    "telegram click",
                )?;
                h.expect_seen("telegram", "the Telegram card was not edited", &|s| {
                    s["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/editMessageText"))
                        && s["body"]["message_id"] == 99
                })?;
                h.expect_seen("telegram", "the click was not answered", &|s| {
                    s["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/answerCallbackQuery"))
                        && s["body"]["callback_query_id"] == q.as_str()
                })?;
                let shown = c.call(
                    "GET",
                    &format!("{a}/api/approvals/{id2}"),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?;
                if shown.body["decision"] != "denied" {
                    return Err(format!("expected denied: {}", shown.body));
                }
                // Discord: a deferred update at once, then the original message edited.
                let id3 = ask(&fresh("dccard"))?;
                let token = fresh("itok");
                let click = json!({ "id": number().to_string(), "application_id": DISCORD_APP, "type": 3, "token": token, "channel_id": "555", "member": { "user": { "id": APPROVER_DISCORD } }, "message": { "id": "666" }, "data": { "custom_id": format!("agency:a:{id3}"), "component_type": 2 }, "version": 1 });
                let r = h.discord(&click, false)?;
                expect_200(&r, "discord click")?;
                if serde_json::from_str::<Value>(&r.body).ok() != Some(json!({ "type": 6 })) {
                    return Err(format!(
                        "a click is answered with a deferred update (type 6): {}",
                        r.body
                    ));
                }
                h.expect_seen("discord", "the Discord card was not edited", &|s| {
                    s["method"] == "PATCH"
                        && s["path"].as_str().is_some_and(|p| {
                            p.contains(&token) && p.ends_with("/messages/@original")
                        })
                })?;
                Ok(())
            },
        );
        check(
            "webhooks: a card's approve-for-an-hour grants the same kind of task",
            &mut || {
                let a = t.assistant.as_deref().unwrap_or("");
                let agent = fresh("cardgrant");
                let ask = || -> Result<Value, String> {
                    let body = json!({"taskId": fresh("cardgrant"), "agent": agent, "action": "payment", "description": "c", "estimatedCostUsd": 0.01});
                    let r = c.call(
                        "POST",
                        &format!("{a}/api/approve"),
                        Some(&t.gateway_token),
                        Some(&body.to_string()),
                        &[],
                    )?;
                    Ok(r.body)
                };
                let first = ask()?;
                let id = first["approvalId"]
                    .as_str()
                    .ok_or(format!("no approval: {first}"))?
                    .to_owned();
                let trig = fresh("trig");
                let payload = json!({
                    "type": "block_actions", "trigger_id": trig,
                    "user": { "id": APPROVER_SLACK }, "channel": { "id": "C9" },
                    "container": { "message_ts": "1700000000.000300", "channel_id": "C9" },
                    "response_url": format!("{}/slack/response/{trig}", w.fakes),
                    "actions": [{ "action_id": "agency_grant_3600", "value": id, "action_ts": "1" }],
                });
                expect_200(
                    &h.slack_form(&[("payload", &payload.to_string())])?,
                    "the grant click",
                )?;
                let d = h.settled(&trig, &["done", "failed", "dead"])?;
                if d["result"]["outcome"] != "decided" {
                    return Err(format!("the grant click must decide: {d}"));
                }
                h.expect_seen("slack", "the card does not say what was granted", &|s| {
                    s["path"] == "/slack/api/chat.update"
                        && s["body"]["ts"] == "1700000000.000300"
                        && s["body"]["text"]
                            .as_str()
                            .is_some_and(|x| x.contains("for 1 hour"))
                })?;
                let grants = c.call(
                    "GET",
                    &format!("{a}/api/grants?status=active&limit=1000"),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?;
                let g = grants.body["grants"]
                    .as_array()
                    .and_then(|l| l.iter().find(|g| g["fromApproval"] == id.as_str()).cloned())
                    .ok_or(format!(
                        "no grant from the clicked approval: {}",
                        grants.body
                    ))?;
                if g["createdBy"] != APPROVER || g["agent"] != agent.as_str() {
                    return Err(format!("the card's grant: {g}"));
                }
                let next = ask()?;
                if next["decision"] != "approved" || next["reasonCode"] != "grant" {
                    return Err(format!("the next of its kind is not granted: {next}"));
                }
                // "Extend" on another kind of task's card: more time, nothing decided.
                let other = c.call("POST", &format!("{a}/api/approve"), Some(&t.gateway_token),
                    Some(&json!({"taskId": fresh("extend"), "agent": agent, "action": "send-email", "description": "c", "estimatedCostUsd": 0.01}).to_string()), &[])?;
                let oid = other.body["approvalId"]
                    .as_str()
                    .ok_or(format!("no approval: {}", other.body))?
                    .to_owned();
                let q = fresh("cq");
                let update = json!({ "update_id": number(), "callback_query": { "id": q, "from": { "id": APPROVER_TELEGRAM, "is_bot": false, "first_name": "A" }, "message": { "message_id": 98, "chat": { "id": -5, "type": "group" }, "date": 1 }, "chat_instance": "1", "data": format!("agency:x1800:{oid}") } });
                expect_200(
                    &h.telegram(&update, Some(TELEGRAM_SECRET))?,
                    "telegram extend",
                )?;
                h.expect_seen("telegram", "the extend click was not answered", &|s| {
                    s["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/answerCallbackQuery"))
                        && s["body"]["callback_query_id"] == q.as_str()
                        && s["body"]["text"]
                            .as_str()
                            .is_some_and(|t| t.starts_with("Extended by"))
                })?;
                let shown = c.call(
                    "GET",
                    &format!("{a}/api/approvals/{oid}"),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?;
                if shown.body["decision"] != "pending"
                    || shown.body["extensions"] != 1
                    || shown.body["expiresAt"] == other.body["expiresAt"]
                {
                    return Err(format!("the extended ask: {}", shown.body));
                }
                Ok(())
            },
        );
        check(
            "webhooks: an ask with replyTo gets a card, edited once decided elsewhere",
            &mut || {
                let a = t.assistant.as_deref().unwrap_or("");
                let ask = |to: Value| -> Result<(String, i64), String> {
                    let body = json!({"taskId": fresh("cardask"), "agent": "devops", "action": "deploy", "description": "ship it", "estimatedCostUsd": 0.01, "environment": "production", "replyTo": to});
                    let r = c.call(
                        "POST",
                        &format!("{a}/api/approve"),
                        Some(&t.gateway_token),
                        Some(&body.to_string()),
                        &[],
                    )?;
                    match (r.body["approvalId"].as_str(), r.body["number"].as_i64()) {
                        (Some(id), Some(n)) if r.body["decision"] == "pending" => {
                            Ok((id.to_owned(), n))
                        }
                        _ => Err(format!("no pending approval: {}", r.body)),
                    }
                };
                let bad = json!({"taskId": fresh("cardbad"), "agent": "devops", "action": "deploy", "estimatedCostUsd": 0.01, "replyTo": "C1"});
                let r = c.call(
                    "POST",
                    &format!("{a}/api/approve"),
                    Some(&t.gateway_token),
                    Some(&bad.to_string()),
                    &[],
                )?;
                expect_error(&r, 400, "a replyTo that is not an address")?;
                let decide = |id: &str, verdict: &str| -> Result<(), String> {
                    let r = c.call(
                        "POST",
                        &format!("{a}/api/approvals/{id}/decision"),
                        Some(&t.operator_token),
                        Some(&json!({"decision": verdict, "by": "ops"}).to_string()),
                        &[],
                    )?;
                    expect_status(&r, 200, "decision by API")
                };
                // Slack: blocks with both buttons, in the thread; chat.update once approved.
                let (id, n) = ask(
                    json!({"platform": "slack", "source": SOURCE, "channel": "C7", "threadTs": "1700000000.000300"}),
                )?;
                let card = h.expect_seen("slack", "no Slack card was posted", &|s| {
                    s["path"] == "/slack/api/chat.postMessage"
                        && s["body"]["channel"] == "C7"
                        && s["body"]["text"]
                            .as_str()
                            .is_some_and(|x| x.contains(&format!("#{n} ")))
                })?;
                let buttons = card["body"]["blocks"].to_string();
                if card["body"]["thread_ts"] != "1700000000.000300"
                    || !buttons.contains("agency_approve")
                    || !buttons.contains("agency_deny")
                    || !buttons.contains("agency_reason")
                    || !buttons.contains(&id)
                    || card["authorized"] != true
                {
                    return Err(format!(
                        "the Slack card lacks its thread, buttons or token: {card}"
                    ));
                }
                decide(&id, "approve")?;
                h.expect_seen(
                    "slack",
                    "the Slack card was not updated with the outcome",
                    &|s| {
                        s["path"] == "/slack/api/chat.update"
                            && s["body"]["text"].as_str().is_some_and(|x| {
                                x.contains(&format!("#{n} ")) && x.contains("approved")
                            })
                    },
                )?;
                // Telegram: an inline keyboard whose data fits 64 bytes; edited once denied.
                let (id, n) =
                    ask(json!({"platform": "telegram", "source": SOURCE, "chatId": -77}))?;
                let card = h.expect_seen("telegram", "no Telegram card was sent", &|s| {
                    s["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/sendMessage"))
                        && s["body"]["chat_id"] == -77
                        && s["body"]["text"]
                            .as_str()
                            .is_some_and(|x| x.contains(&format!("#{n} ")))
                })?;
                let keys = card["body"]["reply_markup"]["inline_keyboard"][0]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let codes: Vec<&str> = keys
                    .iter()
                    .filter_map(|k| k["callback_data"].as_str())
                    .filter(|d| d.len() <= 64 && d.ends_with(&id))
                    .filter_map(|d| d.split(':').nth(1))
                    .collect();
                // Approve, approve for an hour and extend 30 minutes (the default
                // offers), deny.
                if keys.len() != 4 || codes != ["a", "g3600", "x1800", "d"] {
                    return Err(format!("the Telegram card's buttons are wrong: {card}"));
                }
                decide(&id, "deny")?;
                h.expect_seen(
                    "telegram",
                    "the Telegram card was not edited with the outcome",
                    &|s| {
                        s["path"]
                            .as_str()
                            .is_some_and(|p| p.ends_with("/editMessageText"))
                            && s["body"]["message_id"] == 777
                            && s["body"]["text"].as_str().is_some_and(|x| {
                                x.contains(&format!("#{n} ")) && x.contains("denied")
                            })
                    },
                )?;
                // Discord: a channel message with button components, by the bot; edited.
                let (id, n) = ask(
                    json!({"platform": "discord", "source": SOURCE, "channelId": "888", "applicationId": DISCORD_APP, "token": "unused"}),
                )?;
                let card = h.expect_seen("discord", "no Discord card was posted", &|s| {
                    s["path"] == "/discord/api/v10/channels/888/messages"
                        && s["body"]["content"]
                            .as_str()
                            .is_some_and(|x| x.contains(&format!("#{n} ")))
                })?;
                let ids = card["body"]["components"][0]["components"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                // Approve, approve for an hour, extend, deny, deny with reason.
                if ids.len() != 5
                    || ids.iter().any(|b| {
                        !b["custom_id"]
                            .as_str()
                            .is_some_and(|d| d.len() <= 100 && d.ends_with(&id))
                    })
                    || card["authorized"] != true
                {
                    return Err(format!(
                        "the Discord card's buttons or token are wrong: {card}"
                    ));
                }
                decide(&id, "approve")?;
                h.expect_seen(
                    "discord",
                    "the Discord card was not edited with the outcome",
                    &|s| {
                        s["method"] == "PATCH"
                            && s["path"]
                                == "/discord/api/v10/channels/888/messages/1100000000000000001"
                            && s["body"]["content"]
                                .as_str()
                                .is_some_and(|x| x.contains(&format!("#{n} ")))
                    },
                )?;
                Ok(())
            },
        );
        check(
            "webhooks: commands and mentions go to the assistant and its reply to the thread",
            &mut || {
                let event_id = fresh("EvMention");
                let body = json!({
                    "token": "x", "team_id": "T1", "type": "event_callback", "event_id": event_id, "event_time": now_s(),
                    "event": { "type": "app_mention", "channel": "C2", "user": APPROVER_SLACK, "text": "<@UBOT> help", "ts": "1700000001.000100", "thread_ts": "1700000000.000001" },
                });
                expect_200(&h.slack(&body)?, "mention")?;
                let d = h.settled(&event_id, &["done", "failed", "dead"])?;
                if d["result"]["outcome"] != "replied" {
                    return Err(format!("expected the assistant's reply: {d}"));
                }
                let posted = h.seen("slack", 1, &|s| {
                    s["path"] == "/slack/api/chat.postMessage"
                        && s["body"]["channel"] == "C2"
                        && s["body"]["thread_ts"] == "1700000000.000001"
                })?;
                if posted.first().map(|p| p["authorized"].clone()) != Some(json!(true)) {
                    return Err("the reply was not posted to the thread with the bot token".into());
                }
                // Discord: the command is deferred (type 5) and answered by a follow-up.
                let token = fresh("ctok");
                let cmd = json!({ "id": number().to_string(), "application_id": DISCORD_APP, "type": 2, "token": token, "channel_id": "555", "member": { "user": { "id": APPROVER_DISCORD } }, "data": { "name": "agency", "options": [{ "name": "text", "type": 3, "value": "help" }] }, "version": 1 });
                let r = h.discord(&cmd, false)?;
                if serde_json::from_str::<Value>(&r.body).ok() != Some(json!({ "type": 5 })) {
                    return Err(format!(
                        "a command is answered with a deferred response (type 5): {} {}",
                        r.status, r.body
                    ));
                }
                h.expect_seen(
                    "discord",
                    "no follow-up through the interaction's webhook",
                    &|s| {
                        s["method"] == "POST"
                            && s["path"]
                                == format!("/discord/api/v10/webhooks/{DISCORD_APP}/{token}")
                                    .as_str()
                    },
                )?;
                Ok(())
            },
        );
    }
}
