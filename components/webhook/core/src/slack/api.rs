//! Slack's Web API for answers: `chat.postMessage`, `chat.postEphemeral` and
//! `chat.update` with the bot token as a bearer; a command's or click's
//! `response_url` (no token) for private answers.

use serde_json::{Value, json};

use crate::api::{ApiRequest, Bot, Call, Unsendable};
use crate::{ReplyTo, card};

fn buttons(approval_id: &str, grants: &[u64], extend: Option<u64>) -> Value {
    actions(approval_id, card::Verdict::all(grants, extend, true))
}

/// An actions block of `verdicts`' buttons, each carrying `id` (an approval's or a
/// batch's) as its value.
fn actions(approval_id: &str, verdicts: Vec<card::Verdict>) -> Value {
    let button = |v: card::Verdict| {
        let mut b = json!({ "type": "button", "action_id": card::slack_action(v),
            "text": { "type": "plain_text", "text": v.label() }, "value": approval_id });
        match v {
            card::Verdict::Approve => b["style"] = json!("primary"),
            card::Verdict::Deny => b["style"] = json!("danger"),
            card::Verdict::ApproveAll => b["style"] = json!("primary"),
            card::Verdict::DenyAll => b["style"] = json!("danger"),
            card::Verdict::Grant(_) | card::Verdict::Extend(_) | card::Verdict::Reason => {}
        }
        b
    };
    json!({
        "type": "actions",
        "block_id": format!("agency_card_{approval_id}"),
        "elements": verdicts.into_iter().map(button).collect::<Vec<_>>(),
    })
}

/// The reason modal (`views.open`'s `view`): one multi-line input; its metadata names
/// the approval and the card.
fn reason_view(title: &str, meta: &crate::slack::ReasonMetadata) -> Value {
    let text = |t: &str| json!({ "type": "plain_text", "text": t });
    // Slack caps a modal's title at 24 characters.
    let title: String = title.chars().take(24).collect();
    json!({
        "type": "modal",
        "callback_id": card::SLACK_REASON,
        "private_metadata": serde_json::to_string(meta).unwrap_or_default(),
        "title": text(&title),
        "submit": text("Deny"),
        "close": text("Cancel"),
        "blocks": [{
            "type": "input",
            "block_id": card::REASON_INPUT,
            "label": text("Why deny it? The agent is told."),
            "element": {
                "type": "plain_text_input",
                "action_id": card::REASON_INPUT,
                "multiline": true,
                "max_length": card::REASON_CHARS,
            }
        }]
    })
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// The request for `call` (a conversation on Slack) made as `bot`, against `base`.
pub fn request(base: &str, bot: &Bot<'_>, call: &Call) -> Result<ApiRequest, Unsendable> {
    let ReplyTo::Slack {
        channel,
        thread_ts,
        response_url,
        message_ts,
    } = call.to()
    else {
        return Err(bot.wrong(call.to()));
    };
    let web = |method: &str, body: Value| -> Result<ApiRequest, Unsendable> {
        Ok(ApiRequest::post(
            format!("{base}/{method}"),
            Some(format!("Bearer {}", bot.token()?)),
            body,
        ))
    };
    match call {
        Call::Notice { text, .. } => web(
            "chat.postMessage",
            json!({ "channel": channel, "text": text }),
        ),
        Call::Reply { text, .. } => {
            let mut body = json!({ "channel": channel, "text": text });
            if let Some(t) = thread_ts.as_ref().or(message_ts.as_ref()) {
                body["thread_ts"] = json!(t);
            }
            web("chat.postMessage", body)
        }
        Call::Private { user, text, .. } => match (response_url, user) {
            // A command's or click's response_url needs no token.
            (Some(url), _) => Ok(ApiRequest::post(
                url.clone(),
                None,
                json!({ "response_type": "ephemeral", "replace_original": false, "text": text }),
            )),
            (None, Some(user)) => web(
                "chat.postEphemeral",
                json!({ "channel": channel, "user": user, "text": text }),
            ),
            (None, None) => web(
                "chat.postMessage",
                json!({ "channel": channel, "text": text }),
            ),
        },
        Call::Card {
            approval_id,
            text,
            grants,
            extend,
            ..
        } => {
            let mut body = json!({
                "channel": channel,
                "text": text,
                "blocks": [section(text), buttons(approval_id, grants, *extend)],
            });
            if let Some(t) = thread_ts {
                body["thread_ts"] = json!(t);
            }
            web("chat.postMessage", body)
        }
        Call::BatchCard { batch_id, text, .. } => {
            let all = vec![card::Verdict::ApproveAll, card::Verdict::DenyAll];
            let mut body = json!({
                "channel": channel,
                "text": text,
                "blocks": [section(text), actions(batch_id, all)],
            });
            if let Some(t) = thread_ts {
                body["thread_ts"] = json!(t);
            }
            web("chat.postMessage", body)
        }
        Call::Decided { text, .. } => match message_ts {
            Some(ts) => web(
                "chat.update",
                json!({ "channel": channel, "ts": ts, "text": text, "blocks": [section(text)] }),
            ),
            None => web(
                "chat.postMessage",
                json!({ "channel": channel, "text": text }),
            ),
        },
        Call::Edit { message, text, .. } => web(
            "chat.update",
            json!({ "channel": channel, "ts": message, "text": text, "blocks": [section(text)] }),
        ),
        Call::ReasonModal {
            trigger_id,
            approval_id,
            title,
            ..
        } => {
            let meta = crate::slack::ReasonMetadata {
                approval_id: approval_id.clone(),
                channel: channel.clone(),
                message_ts: message_ts.clone(),
            };
            web(
                "views.open",
                json!({ "trigger_id": trigger_id, "view": reason_view(title, &meta) }),
            )
        }
    }
}
