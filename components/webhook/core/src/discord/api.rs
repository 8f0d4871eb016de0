//! Discord's API for answers: an interaction's follow-ups and its original message
//! (the interaction's token in the path), and the bot's own messages in a channel
//! (`Authorization: Bot`) for a card and its later edit.

use serde_json::{Value, json};

use crate::api::{ApiRequest, Bot, Call, Unsendable};
use crate::discord::EPHEMERAL;
use crate::{ReplyTo, card};

/// The request for `call` (a channel on Discord) made as `bot`, against `base`.
pub fn request(base: &str, bot: &Bot<'_>, call: &Call) -> Result<ApiRequest, Unsendable> {
    let ReplyTo::Discord {
        channel_id,
        application_id,
        token: interaction,
        message_id,
    } = call.to()
    else {
        return Err(bot.wrong(call.to()));
    };
    let follow_up = |body: Value| {
        Ok(ApiRequest::post(
            format!("{base}/webhooks/{application_id}/{interaction}"),
            None,
            body,
        ))
    };
    let as_bot = || Ok::<_, Unsendable>(Some(format!("Bot {}", bot.token()?)));
    match call {
        Call::Notice { text, .. } => Ok(ApiRequest::post(
            format!("{base}/channels/{channel_id}/messages"),
            as_bot()?,
            json!({ "content": text }),
        )),
        Call::Reply { text, .. } => follow_up(json!({ "content": text })),
        Call::Private { text, .. } => follow_up(json!({ "content": text, "flags": EPHEMERAL })),
        Call::Card {
            approval_id,
            text,
            grants,
            extend,
            ..
        } => {
            // Success (green), secondary (grey), danger (red).
            let button = |v: card::Verdict| {
                let style = match v {
                    card::Verdict::Approve => 3,
                    card::Verdict::Grant(_) | card::Verdict::Extend(_) => 2,
                    card::Verdict::Deny | card::Verdict::Reason | card::Verdict::DenyAll => 4,
                    card::Verdict::ApproveAll => 3,
                };
                json!({ "type": 2, "style": style, "label": v.label(),
                        "custom_id": card::button_data(v, approval_id) })
            };
            let buttons: Vec<Value> = card::Verdict::all(grants, *extend, true)
                .into_iter()
                .map(button)
                .collect();
            // An action row holds at most 5 buttons.
            let rows: Vec<Value> = buttons
                .chunks(5)
                .map(|row| json!({ "type": 1, "components": row }))
                .collect();
            Ok(ApiRequest::post(
                format!("{base}/channels/{channel_id}/messages"),
                as_bot()?,
                json!({ "content": text, "components": rows }),
            ))
        }
        Call::BatchCard { batch_id, text, .. } => {
            let buttons: Vec<Value> = [card::Verdict::ApproveAll, card::Verdict::DenyAll]
                .into_iter()
                .map(|v| {
                    let style = if v.approves() { 3 } else { 4 };
                    json!({ "type": 2, "style": style, "label": v.label(),
                            "custom_id": card::button_data(v, batch_id) })
                })
                .collect();
            Ok(ApiRequest::post(
                format!("{base}/channels/{channel_id}/messages"),
                as_bot()?,
                json!({ "content": text, "components": [{ "type": 1, "components": buttons }] }),
            ))
        }
        Call::Decided { text, .. } => match message_id {
            // The click was answered with a deferred update: edit the original.
            Some(_) => Ok(ApiRequest::patch(
                format!("{base}/webhooks/{application_id}/{interaction}/messages/@original"),
                None,
                json!({ "content": text, "components": [] }),
            )),
            None => follow_up(json!({ "content": text })),
        },
        Call::Edit { message, text, .. } => Ok(ApiRequest::patch(
            format!("{base}/channels/{channel_id}/messages/{message}"),
            as_bot()?,
            json!({ "content": text, "components": [] }),
        )),
        // Discord's modal is the click's own answer (see `discord::parse`).
        Call::ReasonModal { .. } => Err(Unsendable::NoModal("Discord's API")),
    }
}
