//! Chat platforms' webhooks, without I/O: is a request genuine ([`verify`]), what does
//! it say ([`slack`], [`telegram`], [`discord`] each turn a payload into one
//! [`Inbound`]), and how dispatch signs what it sends on ([`standard`]). The webhook
//! service decides nothing of this itself: it verifies, parses, dedups on
//! [`InboundEvent::dedup_keys`], enqueues and answers with [`Inbound`]'s reply. The way
//! back ([`api`]: a call to a platform's API as data, its request, what the answer
//! means) is here too, each platform's next to its parser.

pub mod api;
pub mod capability;
pub mod card;
pub mod discord;
pub mod limits;
pub mod slack;
pub mod standard;
pub mod telegram;
pub mod verify;

use serde::{Deserialize, Serialize};

/// Where a webhook came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Slack,
    Telegram,
    Discord,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Telegram => "telegram",
            Platform::Discord => "discord",
        }
    }

    /// The platform named `name` (`slack`, `telegram`, `discord`).
    pub fn from_name(name: &str) -> Option<Platform> {
        [Platform::Slack, Platform::Telegram, Platform::Discord]
            .into_iter()
            .find(|p| p.as_str() == name)
    }
}

/// What a normalised event asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum EventKind {
    /// A message in a chat the bot reads.
    Message,
    /// A message that mentions the bot.
    Mention,
    /// The `/agency` command; the event's text is what follows it.
    Command,
    /// A click on an approval card's button (`grant_secs`: "approve for ..." also
    /// grants the same kind of task for that long).
    Click {
        approve: bool,
        approval_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grant_secs: Option<u64>,
        /// "extend": give the ask this many seconds more, deciding nothing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        extend_secs: Option<u64>,
        /// Why (a reason modal's text, or a reply to the card after its verdict).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// "Deny with reason" clicked on a Slack card: a modal asking why is to be opened
    /// with the click's `trigger_id` (valid for 3 seconds). Discord's modal is the
    /// click's answer itself and is not an event.
    ReasonPrompt {
        approval_id: String,
        trigger_id: String,
    },
    /// A batch card's "Approve all" or "Deny all": every ask the batch lists.
    BatchClick { approve: bool, batch_id: String },
}

/// How to answer in the conversation an event came from, in each platform's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", tag = "platform")]
pub enum ReplyTo {
    #[serde(rename_all = "camelCase")]
    Slack {
        channel: String,
        /// The thread to answer in (`thread_ts`), when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_ts: Option<String>,
        /// A slash command's or click's `response_url` (up to 5 answers in 30 minutes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_url: Option<String>,
        /// The clicked message (`ts`), for editing the card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_ts: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Telegram {
        #[serde(deserialize_with = "whole::int")]
        chat_id: i64,
        /// A forum topic (`message_thread_id`).
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "whole::opt"
        )]
        thread_id: Option<i64>,
        /// The message to answer to (or the card that was clicked).
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "whole::opt"
        )]
        message_id: Option<i64>,
        /// A click's `callback_query` id, answered with `answerCallbackQuery`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        callback_query_id: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Discord {
        channel_id: String,
        application_id: String,
        /// The interaction's token: follow-ups for 15 minutes.
        token: String,
        /// The clicked message, for editing the card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
    },
}

impl ReplyTo {
    /// The platform the conversation is on.
    pub fn platform(&self) -> Platform {
        match self {
            ReplyTo::Slack { .. } => Platform::Slack,
            ReplyTo::Telegram { .. } => Platform::Telegram,
            ReplyTo::Discord { .. } => Platform::Discord,
        }
    }

    /// The channel or chat: Slack channel id, Telegram chat id, Discord channel id.
    pub fn chat(&self) -> String {
        match self {
            ReplyTo::Slack { channel, .. } => channel.clone(),
            ReplyTo::Telegram { chat_id, .. } => chat_id.to_string(),
            ReplyTo::Discord { channel_id, .. } => channel_id.clone(),
        }
    }
}

/// Whole numbers as JSON has them: `-114` and `-114.0` are the same number (JSON
/// Schema's `integer` says so), so an address that went through a client that writes
/// every number as a float still reads.
mod whole {
    use serde::{Deserialize, Deserializer, de::Error};

    fn of<E: Error>(n: serde_json::Number) -> Result<i64, E> {
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        match n.as_f64() {
            // 2^63 is exactly representable: anything below it in magnitude fits.
            Some(f) if f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0 => Ok(f as i64),
            _ => Err(E::custom(format!(
                "{n} is not a whole number in i64's range"
            ))),
        }
    }

    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        of(serde_json::Number::deserialize(d)?)
    }

    pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?
            .map(of)
            .transpose()
    }
}

/// One event from any platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundEvent {
    pub platform: Platform,
    /// The workspace, bot or guild named in the webhook's path.
    pub source: String,
    /// The channel or chat.
    pub chat: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// The platform's id of who wrote or clicked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub text: String,
    /// The platform's own id of this event.
    pub event_id: String,
    pub received_at_ms: i64,
    pub kind: EventKind,
    /// Keys a retried delivery of this event repeats (the platform's id, and for Slack
    /// messages channel and `ts` as well, since Slack has sent one message under
    /// several event ids).
    pub dedup_keys: Vec<String>,
    pub reply_to: ReplyTo,
}

impl InboundEvent {
    /// The conversation this message belongs to, for routing's affinity: the thread
    /// when it is in one, else the chat (a channel, a DM, a group), within its source
    /// and platform. At most 256 characters.
    pub fn conversation_id(&self) -> String {
        let mut id = format!("{}:{}:{}", self.platform.as_str(), self.source, self.chat);
        if let Some(t) = &self.thread {
            id.push(':');
            id.push_str(t);
        }
        match id.char_indices().nth(256) {
            Some((cut, _)) => id[..cut].to_owned(),
            None => id,
        }
    }
}

/// The immediate answer to a webhook request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(value: &serde_json::Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
        }
    }

    /// 200 with an empty body.
    pub fn empty() -> Reply {
        Reply {
            status: 200,
            content_type: "text/plain",
            body: Vec::new(),
        }
    }
}

/// What a verified request amounts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A platform's handshake, answered at once and not stored (Slack's
    /// `url_verification`, Discord's PING).
    Handshake(Reply),
    /// An event to enqueue; once it is durably queued, answer with `ack`.
    Event {
        event: Box<InboundEvent>,
        ack: Reply,
    },
    /// Not something Agency acts on (another event type, a bot's own message, an
    /// edit): answered 200 with `ack`, counted, not stored.
    Ignored { why: &'static str, ack: Reply },
}

impl Inbound {
    /// An event to enqueue, answered with `ack` once it is.
    pub fn accept_with(event: InboundEvent, ack: Reply) -> Inbound {
        Inbound::Event {
            event: Box::new(event),
            ack,
        }
    }

    /// The event, when this is one.
    pub fn event(self) -> Option<InboundEvent> {
        match self {
            Inbound::Event { event, .. } => Some(*event),
            _ => None,
        }
    }
}

/// A payload that does not parse as the platform's (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{platform} payload: {message}")]
pub struct ParseError {
    pub platform: &'static str,
    pub message: String,
}

impl ParseError {
    fn new(platform: Platform, message: impl Into<String>) -> ParseError {
        ParseError {
            platform: platform.as_str(),
            message: message.into(),
        }
    }
}

/// Where a request came from, as the webhook's path and the server say.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The workspace, bot or guild id in the path.
    pub source: &'a str,
    pub received_at_ms: i64,
}

impl Origin<'_> {
    /// An event from here with the platform's id `event_id`; the parser fills in the
    /// rest.
    fn event(self, platform: Platform, event_id: String) -> InboundEvent {
        InboundEvent {
            platform,
            source: self.source.to_owned(),
            chat: String::new(),
            thread: None,
            user: None,
            text: String::new(),
            event_id,
            received_at_ms: self.received_at_ms,
            kind: EventKind::Message,
            dedup_keys: Vec::new(),
            reply_to: ReplyTo::Slack {
                channel: String::new(),
                thread_ts: None,
                response_url: None,
                message_ts: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_ids_read_as_whole_numbers_however_written() {
        let to: ReplyTo =
            serde_json::from_str(r#"{"platform":"telegram","chatId":-114.0,"messageId":5}"#)
                .unwrap();
        assert_eq!(
            to,
            ReplyTo::Telegram {
                chat_id: -114,
                thread_id: None,
                message_id: Some(5),
                callback_query_id: None
            }
        );
        // A whole number written as a float reads exactly, however close to 2^53 (JSON
        // numbers are parsed to the nearest double: `float_roundtrip`).
        let big: ReplyTo =
            serde_json::from_str(r#"{"platform":"telegram","chatId":-4355915262946966.0}"#)
                .unwrap();
        assert!(matches!(
            big,
            ReplyTo::Telegram {
                chat_id: -4355915262946966,
                ..
            }
        ));
        for bad in [r#"-1.5"#, r#"1e300"#, r#""7""#] {
            let json = format!(r#"{{"platform":"telegram","chatId":{bad}}}"#);
            assert!(serde_json::from_str::<ReplyTo>(&json).is_err(), "{bad}");
        }
    }
}
