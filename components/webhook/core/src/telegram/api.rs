//! Telegram's Bot API for answers: `sendMessage` (with an inline keyboard for a card),
//! `editMessageText` and `answerCallbackQuery`, the bot token in the path.

use serde_json::{Value, json};

use crate::api::{ApiRequest, Bot, Call, Unsendable};
use crate::{ReplyTo, card};

/// The request for `call` (a chat on Telegram) made as `bot`, against `base`.
pub fn request(base: &str, bot: &Bot<'_>, call: &Call) -> Result<ApiRequest, Unsendable> {
    let ReplyTo::Telegram {
        chat_id,
        thread_id,
        message_id,
        callback_query_id,
    } = call.to()
    else {
        return Err(bot.wrong(call.to()));
    };
    let method = |name: &str, body: Value| -> Result<ApiRequest, Unsendable> {
        Ok(ApiRequest::post(
            format!("{base}/bot{}/{name}", bot.token()?),
            None,
            body,
        ))
    };
    let send = |text: &str, markup: Option<Value>| {
        let mut body = json!({ "chat_id": chat_id, "text": text });
        if let Some(t) = thread_id {
            body["message_thread_id"] = json!(t);
        }
        if let Some(m) = message_id {
            body["reply_parameters"] =
                json!({ "message_id": m, "allow_sending_without_reply": true });
        }
        if let Some(m) = markup {
            body["reply_markup"] = m;
        }
        method("sendMessage", body)
    };
    let edit = |message: i64, text: &str| {
        method(
            "editMessageText",
            json!({ "chat_id": chat_id, "message_id": message, "text": text,
                    "reply_markup": { "inline_keyboard": [] } }),
        )
    };
    match call {
        Call::Reply { text, .. } | Call::Notice { text, .. } => send(text, None),
        Call::Private { text, .. } => match callback_query_id {
            Some(q) => method(
                "answerCallbackQuery",
                json!({ "callback_query_id": q, "text": text, "show_alert": true }),
            ),
            None => send(text, None),
        },
        Call::Card {
            approval_id,
            text,
            grants,
            extend,
            ..
        } => {
            let button = |v: card::Verdict| json!({ "text": v.label(), "callback_data": card::button_data(v, approval_id) });
            let row: Vec<Value> = card::Verdict::all(grants, *extend, false)
                .into_iter()
                .map(button)
                .collect();
            // Telegram has no modals: a reply to the card carries a reason.
            let text = format!("{text}\n\n{}", card::TELEGRAM_REPLY_HINT);
            send(&text, Some(json!({ "inline_keyboard": [row] })))
        }
        Call::BatchCard { batch_id, text, .. } => {
            let row: Vec<Value> = [card::Verdict::ApproveAll, card::Verdict::DenyAll]
                .into_iter()
                .map(|v| json!({ "text": v.label(), "callback_data": card::button_data(v, batch_id) }))
                .collect();
            send(text, Some(json!({ "inline_keyboard": [row] })))
        }
        Call::Decided { text, .. } => match message_id {
            Some(m) => edit(*m, text),
            None => send(text, None),
        },
        Call::Edit { message, text, .. } => {
            let id = message
                .parse::<i64>()
                .map_err(|_| Unsendable::MessageId(message.clone()))?;
            edit(id, text)
        }
        Call::ReasonModal { .. } => Err(Unsendable::NoModal("Telegram")),
    }
}
