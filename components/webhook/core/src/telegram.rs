//! Telegram's updates (Bot API): messages (`/agency` commands among them),
//! `callback_query` clicks on inline keyboards, and replies to an approval card
//! (`deny: why`), which decide with a reason: Telegram has no modals.

pub mod api;

use serde::Deserialize;

use crate::card::{parse_button, reply_verdict};
use crate::{EventKind, Inbound, InboundEvent, Origin, ParseError, Platform, Reply, ReplyTo};

fn err(message: impl Into<String>) -> ParseError {
    ParseError::new(Platform::Telegram, message)
}

fn ignored(why: &'static str) -> Inbound {
    Inbound::Ignored {
        why,
        ack: Reply::empty(),
    }
}

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    callback_query: Option<CallbackQuery>,
}

#[derive(Deserialize)]
struct Message {
    message_id: i64,
    chat: Chat,
    #[serde(default)]
    from: Option<User>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    message_thread_id: Option<i64>,
    #[serde(default)]
    entities: Vec<Entity>,
    #[serde(default)]
    reply_to_message: Option<Box<Replied>>,
}

/// The message a message replies to (Telegram sends it whole, its keyboard too).
#[derive(Deserialize)]
struct Replied {
    message_id: i64,
    #[serde(default)]
    from: Option<BotUser>,
    /// Set when a user sent it through an inline bot: not a card of ours.
    #[serde(default)]
    via_bot: Option<serde_json::Value>,
    #[serde(default)]
    reply_markup: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct BotUser {
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    username: Option<String>,
}

impl Replied {
    /// The approval whose card this is: the one its buttons name, when it is a message
    /// of this bot (`bot_username`, when known) and not one sent through an inline bot.
    fn card_of(&self, bot_username: Option<&str>) -> Option<String> {
        let from = self.from.as_ref().filter(|f| f.is_bot)?;
        if self.via_bot.is_some() {
            return None;
        }
        if let (Some(me), Some(name)) = (bot_username, from.username.as_deref())
            && !me.eq_ignore_ascii_case(name)
        {
            return None;
        }
        self.reply_markup
            .as_ref()?
            .get("inline_keyboard")?
            .as_array()?
            .iter()
            .filter_map(serde_json::Value::as_array)
            .flatten()
            .filter_map(|b| b.get("callback_data")?.as_str())
            .find_map(parse_button)
            .map(|(_, id)| id)
    }
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    is_bot: bool,
}

#[derive(Deserialize)]
struct Entity {
    #[serde(rename = "type")]
    kind: String,
    offset: usize,
    length: usize,
}

#[derive(Deserialize)]
struct CallbackQuery {
    id: String,
    from: User,
    #[serde(default)]
    message: Option<CardMessage>,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Deserialize)]
struct CardMessage {
    message_id: i64,
    chat: Chat,
    #[serde(default)]
    message_thread_id: Option<i64>,
}

/// The text of an entity: Telegram counts offsets in UTF-16 code units.
fn entity_text(text: &str, e: &Entity) -> Option<String> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let end = e.offset.checked_add(e.length)?;
    String::from_utf16(units.get(e.offset..end)?).ok()
}

/// `/agency rest` or `/agency@bot rest` (at the start of the message): the rest.
fn command_rest(text: &str, bot: Option<&str>) -> Option<String> {
    let rest = text.strip_prefix(crate::slack::COMMAND)?;
    let (addressed, rest) = match rest.strip_prefix('@') {
        Some(r) => {
            let end = r.find(char::is_whitespace).unwrap_or(r.len());
            (Some(&r[..end]), &r[end..])
        }
        None => (None, rest),
    };
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None; // `/agencyx`
    }
    if let (Some(to), Some(bot)) = (addressed, bot)
        && !to.eq_ignore_ascii_case(bot)
    {
        return None; // another bot's command
    }
    Some(rest.trim().to_owned())
}

/// Parses an update for bot `origin.source`; `bot_username` (without `@`), when known,
/// tells mentions of this bot from others.
pub fn parse(
    origin: Origin<'_>,
    bot_username: Option<&str>,
    body: &[u8],
) -> Result<Inbound, ParseError> {
    let u: Update = serde_json::from_slice(body).map_err(|e| err(format!("update: {e}")))?;
    let source = origin.source;
    let key = format!("telegram:{source}:{}", u.update_id);
    if let Some(q) = u.callback_query {
        let Some((verdict, approval_id)) = q.data.as_deref().and_then(parse_button) else {
            return Ok(ignored("telegram callback data"));
        };
        let card = q
            .message
            .ok_or_else(|| err("a callback query without its message"))?;
        let kind = if verdict.is_batch() {
            EventKind::BatchClick {
                approve: verdict.approves(),
                batch_id: approval_id,
            }
        } else {
            EventKind::Click {
                approve: verdict.approves(),
                approval_id,
                grant_secs: verdict.grant_secs(),
                extend_secs: verdict.extend_secs(),
                reason: None,
            }
        };
        return Ok(Inbound::accept_with(
            InboundEvent {
                chat: card.chat.id.to_string(),
                thread: card.message_thread_id.map(|t| t.to_string()),
                user: Some(q.from.id.to_string()),
                text: String::new(),
                kind,
                dedup_keys: vec![key],
                reply_to: ReplyTo::Telegram {
                    chat_id: card.chat.id,
                    thread_id: card.message_thread_id,
                    message_id: Some(card.message_id),
                    callback_query_id: Some(q.id),
                },
                ..origin.event(Platform::Telegram, u.update_id.to_string())
            },
            Reply::empty(),
        ));
    }
    let Some(m) = u.message else {
        return Ok(ignored("telegram update type"));
    };
    if m.from.as_ref().is_some_and(|f| f.is_bot) {
        return Ok(ignored("telegram message from a bot"));
    }
    let Some(text) = m.text.clone().filter(|t| !t.trim().is_empty()) else {
        return Ok(ignored("telegram message without text"));
    };
    // A reply to a card that starts with approve or deny decides it, with the reason.
    let card = m
        .reply_to_message
        .as_ref()
        .and_then(|r| Some((r.message_id, r.card_of(bot_username)?)));
    if let (Some((card_message, approval_id)), Some((approve, reason))) =
        (card, reply_verdict(&text))
    {
        return Ok(Inbound::accept_with(
            InboundEvent {
                chat: m.chat.id.to_string(),
                thread: m.message_thread_id.map(|t| t.to_string()),
                user: m.from.map(|f| f.id.to_string()),
                text: String::new(),
                kind: EventKind::Click {
                    approve,
                    approval_id,
                    grant_secs: None,
                    extend_secs: None,
                    reason,
                },
                dedup_keys: vec![key],
                reply_to: ReplyTo::Telegram {
                    chat_id: m.chat.id,
                    thread_id: m.message_thread_id,
                    // The card, edited to show the outcome.
                    message_id: Some(card_message),
                    callback_query_id: None,
                },
                ..origin.event(Platform::Telegram, u.update_id.to_string())
            },
            Reply::empty(),
        ));
    }
    let (kind, text) = if let Some(rest) = command_rest(&text, bot_username) {
        (EventKind::Command, rest)
    } else {
        let me = bot_username.map(|b| format!("@{b}"));
        let mentioned = me.as_ref().is_some_and(|me| {
            m.entities.iter().any(|e| {
                e.kind == "mention"
                    && entity_text(&text, e).is_some_and(|t| t.eq_ignore_ascii_case(me))
            })
        });
        match (&me, mentioned) {
            (Some(me), true) => (
                EventKind::Mention,
                text.replace(me.as_str(), " ").trim().to_owned(),
            ),
            _ => (EventKind::Message, text.trim().to_owned()),
        }
    };
    Ok(Inbound::accept_with(
        InboundEvent {
            chat: m.chat.id.to_string(),
            thread: m.message_thread_id.map(|t| t.to_string()),
            user: m.from.map(|f| f.id.to_string()),
            text,
            kind,
            dedup_keys: vec![key],
            reply_to: ReplyTo::Telegram {
                chat_id: m.chat.id,
                thread_id: m.message_thread_id,
                message_id: Some(m.message_id),
                callback_query_id: None,
            },
            ..origin.event(Platform::Telegram, u.update_id.to_string())
        },
        Reply::empty(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: Origin<'static> = Origin {
        source: "bot1",
        received_at_ms: 5,
    };

    fn event(inbound: Inbound) -> InboundEvent {
        inbound.event().expect("an event")
    }

    #[test]
    fn messages_commands_and_mentions() {
        let msg = |text: &str, entities: &str| {
            format!(
                r#"{{"update_id":10000,"message":{{"message_id":1365,"from":{{"id":1111111,"is_bot":false,"first_name":"Test"}},"chat":{{"id":-1001,"type":"supergroup"}},"date":1441645532,"text":{},"entities":[{entities}]}}}}"#,
                serde_json::to_string(text).unwrap()
            )
        };
        let e = event(
            parse(
                ORIGIN,
                Some("agency_bot"),
                msg("deploy the hotfix", "").as_bytes(),
            )
            .unwrap(),
        );
        assert_eq!(
            (e.kind, e.text.as_str(), e.chat.as_str()),
            (EventKind::Message, "deploy the hotfix", "-1001")
        );
        assert_eq!(e.dedup_keys, vec!["telegram:bot1:10000"]);
        assert_eq!(e.user.as_deref(), Some("1111111"));

        let c = event(
            parse(
                ORIGIN,
                Some("agency_bot"),
                msg(
                    "/agency@Agency_Bot halt codegen",
                    r#"{"type":"bot_command","offset":0,"length":17}"#,
                )
                .as_bytes(),
            )
            .unwrap(),
        );
        assert_eq!(
            (c.kind, c.text.as_str()),
            (EventKind::Command, "halt codegen")
        );
        let other = event(
            parse(
                ORIGIN,
                Some("agency_bot"),
                msg("/agency@other_bot hi", "").as_bytes(),
            )
            .unwrap(),
        );
        assert_eq!(other.kind, EventKind::Message);
        let bare = event(parse(ORIGIN, None, msg("/agency", "").as_bytes()).unwrap());
        assert_eq!((bare.kind, bare.text.as_str()), (EventKind::Command, ""));

        // Offsets count UTF-16 units: the emoji takes two.
        let text = "🙂 @agency_bot what's pending?";
        let m = event(
            parse(
                ORIGIN,
                Some("agency_bot"),
                msg(text, r#"{"type":"mention","offset":3,"length":11}"#).as_bytes(),
            )
            .unwrap(),
        );
        assert_eq!(
            (m.kind, m.text.as_str()),
            (EventKind::Mention, "🙂   what's pending?")
        );
    }

    #[test]
    fn a_card_click_and_what_is_ignored() {
        let click = r#"{"update_id":7,"callback_query":{"id":"4382bfdwdsb323b2d9","from":{"id":42,"is_bot":false,"first_name":"A"},"message":{"message_id":99,"chat":{"id":-5,"type":"group"},"date":1},"chat_instance":"1","data":"agency:a:apr_1"}}"#;
        let e = event(parse(ORIGIN, None, click.as_bytes()).unwrap());
        assert_eq!(
            e.kind,
            EventKind::Click {
                approve: true,
                approval_id: "apr_1".into(),
                grant_secs: None,
                extend_secs: None,
                reason: None,
            }
        );
        assert_eq!(
            e.reply_to,
            ReplyTo::Telegram {
                chat_id: -5,
                thread_id: None,
                message_id: Some(99),
                callback_query_id: Some("4382bfdwdsb323b2d9".into())
            }
        );
        // A reply to the card (Telegram sends the card whole, its keyboard too).
        let reply = |text: &str| {
            format!(
                r#"{{"update_id":11,"message":{{"message_id":120,"from":{{"id":42,"is_bot":false,"first_name":"A"}},"chat":{{"id":-5,"type":"group"}},"date":2,"text":{},"reply_to_message":{{"message_id":99,"from":{{"id":7,"is_bot":true,"first_name":"bot"}},"chat":{{"id":-5,"type":"group"}},"date":1,"text":"Approval #3 needed","reply_markup":{{"inline_keyboard":[[{{"text":"Approve","callback_data":"agency:a:apr_1"}},{{"text":"Deny","callback_data":"agency:d:apr_1"}}]]}}}}}}}}"#,
                serde_json::to_string(text).unwrap()
            )
        };
        let e = event(parse(ORIGIN, None, reply("Deny: not on a Friday").as_bytes()).unwrap());
        assert_eq!(
            e.kind,
            EventKind::Click {
                approve: false,
                approval_id: "apr_1".into(),
                grant_secs: None,
                extend_secs: None,
                reason: Some("not on a Friday".into()),
            }
        );
        assert!(matches!(
            e.reply_to,
            ReplyTo::Telegram {
                message_id: Some(99),
                callback_query_id: None,
                ..
            }
        ));
        // A keyboard on a message sent through an inline bot is not a card of ours.
        let forged = reply("deny: x").replace(r#""date":1,"text":"Approval #3 needed""#, r#""date":1,"via_bot":{"id":9,"is_bot":true,"first_name":"x"},"text":"Approval #3 needed""#);
        assert_eq!(
            event(parse(ORIGIN, None, forged.as_bytes()).unwrap()).kind,
            EventKind::Message
        );
        // Nor one of another bot, when this bot's name is known.
        let named = |bot: &str| {
            reply("deny: x").replace(
                r#""first_name":"bot"}"#,
                &format!(r#""first_name":"bot","username":"{bot}"}}"#),
            )
        };
        let other =
            event(parse(ORIGIN, Some("agency_bot"), named("other_bot").as_bytes()).unwrap());
        assert_eq!(other.kind, EventKind::Message);
        let ours =
            event(parse(ORIGIN, Some("agency_bot"), named("agency_bot").as_bytes()).unwrap());
        assert!(matches!(ours.kind, EventKind::Click { .. }));
        // Other words in reply to a card are an ordinary message.
        let chatter = event(parse(ORIGIN, None, reply("who asked for this?").as_bytes()).unwrap());
        assert_eq!(chatter.kind, EventKind::Message);
        for body in [
            r#"{"update_id":8,"edited_message":{"message_id":1,"chat":{"id":1},"date":1,"text":"x"}}"#,
            r#"{"update_id":9,"message":{"message_id":1,"chat":{"id":1},"date":1,"photo":[]}}"#,
            r#"{"update_id":9,"message":{"message_id":1,"from":{"id":2,"is_bot":true,"first_name":"b"},"chat":{"id":1},"date":1,"text":"x"}}"#,
            r#"{"update_id":10,"callback_query":{"id":"q","from":{"id":1,"is_bot":false,"first_name":"a"},"data":"other"}}"#,
        ] {
            assert!(
                matches!(
                    parse(ORIGIN, None, body.as_bytes()).unwrap(),
                    Inbound::Ignored { .. }
                ),
                "{body}"
            );
        }
        for bad in [
            "",
            "{}",
            r#"{"update_id":"x"}"#,
            r#"{"update_id":1,"message":{"text":"x"}}"#,
        ] {
            assert!(parse(ORIGIN, None, bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
