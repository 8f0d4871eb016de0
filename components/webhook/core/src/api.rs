//! The way back to the chat, without I/O: each call Agency makes to a platform's API,
//! as data ([`Call`], queued in the outbox so it survives a restart and is retried),
//! the request it becomes ([`request`]; each platform's shapes are built next to its
//! inbound parser, in [`crate::slack::api`], [`crate::telegram::api`] and
//! [`crate::discord::api`]), and what the platform's answer means ([`answered`],
//! [`posted_message`]). The webhook service sends the request and stores the outcome.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Platform, ReplyTo};

/// One call to a platform, in Agency's terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "call")]
pub enum Call {
    /// A message in the conversation `to` (a thread's answer when it has one).
    Reply { to: ReplyTo, text: String },
    /// A message only `user` sees (Slack ephemeral, Discord ephemeral follow-up,
    /// Telegram's answer to the click).
    Private {
        to: ReplyTo,
        user: Option<String>,
        text: String,
    },
    /// An approval card with Approve and Deny buttons.
    Card {
        to: ReplyTo,
        approval_id: String,
        text: String,
        /// The "approve for ..." buttons it offers, in seconds.
        #[serde(default)]
        grants: Vec<u64>,
        /// The "extend" button it offers, in seconds.
        #[serde(default)]
        extend: Option<u64>,
    },
    /// The clicked card, edited to show its outcome (and the click answered).
    Decided { to: ReplyTo, text: String },
    /// A message of Agency's own in a channel (a budget alert to the operators), posted
    /// as the bot: not an answer to anything.
    Notice { to: ReplyTo, text: String },
    /// A card the bot posted (`message`: Slack `ts`, Telegram `message_id`, Discord
    /// message id), edited to show its outcome.
    Edit {
        to: ReplyTo,
        message: String,
        text: String,
    },
    /// A card for several asks of one conversation, with "Approve all" and "Deny all"
    /// (`batch_id` names the batch the webhook service keeps).
    BatchCard {
        to: ReplyTo,
        batch_id: String,
        text: String,
    },
    /// The modal asking an approver why they deny (Slack `views.open` with the click's
    /// `trigger_id`, which Slack honours for 3 seconds); `to` is the card's address.
    ReasonModal {
        to: ReplyTo,
        trigger_id: String,
        approval_id: String,
        title: String,
    },
}

impl Call {
    /// The address the call answers.
    pub fn to(&self) -> &ReplyTo {
        match self {
            Call::Reply { to, .. }
            | Call::Private { to, .. }
            | Call::Card { to, .. }
            | Call::Decided { to, .. }
            | Call::Notice { to, .. }
            | Call::Edit { to, .. }
            | Call::BatchCard { to, .. }
            | Call::ReasonModal { to, .. } => to,
        }
    }

    /// The address the call answers, to replace a sealed capability in it.
    pub fn to_mut(&mut self) -> &mut ReplyTo {
        match self {
            Call::Reply { to, .. }
            | Call::Private { to, .. }
            | Call::Card { to, .. }
            | Call::Decided { to, .. }
            | Call::Notice { to, .. }
            | Call::Edit { to, .. }
            | Call::BatchCard { to, .. }
            | Call::ReasonModal { to, .. } => to,
        }
    }

    /// Whether the call cannot be made without its address's capability: a Discord
    /// answer goes through the interaction's token (a card and a card's edit use the
    /// bot's own token; Slack falls back to the bot's API without a response_url).
    pub fn needs_capability(&self) -> bool {
        matches!(
            (self, self.to()),
            (
                Call::Reply { .. } | Call::Private { .. } | Call::Decided { .. },
                ReplyTo::Discord { .. }
            )
        )
    }
}

/// Each platform's API base URL (tests point them at local fakes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBases {
    pub slack: String,
    pub telegram: String,
    pub discord: String,
}

impl Default for ApiBases {
    fn default() -> Self {
        ApiBases {
            slack: "https://slack.com/api".into(),
            telegram: "https://api.telegram.org".into(),
            discord: "https://discord.com/api/v10".into(),
        }
    }
}

/// The bot a call is made as: its platform, the name of the source it belongs to (for
/// errors) and its API token, when one is configured.
#[derive(Debug, Clone, Copy)]
pub struct Bot<'a> {
    pub platform: Platform,
    pub name: &'a str,
    pub token: Option<&'a str>,
}

impl Bot<'_> {
    /// Its token, or why a call that needs one cannot be made.
    pub(crate) fn token(&self) -> Result<&str, Unsendable> {
        self.token
            .ok_or_else(|| Unsendable::NoToken(self.name.to_owned()))
    }

    /// A call to a conversation on another platform than this bot's.
    pub(crate) fn wrong(&self, to: &ReplyTo) -> Unsendable {
        Unsendable::WrongPlatform(self.platform.as_str(), to.platform().as_str())
    }
}

/// An HTTP method a platform call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Post,
    Patch,
}

/// A platform call as an HTTP request: a JSON body, and the `Authorization` header when
/// the credentials are not in the URL (Telegram's token, an interaction's token, a
/// Slack `response_url`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    pub verb: Verb,
    pub url: String,
    pub authorization: Option<String>,
    pub body: Value,
}

impl ApiRequest {
    pub(crate) fn post(url: String, authorization: Option<String>, body: Value) -> ApiRequest {
        ApiRequest {
            verb: Verb::Post,
            url,
            authorization,
            body,
        }
    }

    pub(crate) fn patch(url: String, authorization: Option<String>, body: Value) -> ApiRequest {
        ApiRequest {
            verb: Verb::Patch,
            ..ApiRequest::post(url, authorization, body)
        }
    }
}

/// Why a call cannot be made at all (a dead letter at once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsendable {
    #[error("source {0} has no bot token configured")]
    NoToken(String),
    #[error("a {0} call cannot answer a {1} conversation")]
    WrongPlatform(&'static str, &'static str),
    #[error("{0:?} is not a Telegram message id")]
    MessageId(String),
    #[error("{0} has no modals to open")]
    NoModal(&'static str),
}

/// The request for `call` made as `bot`, against `api`.
pub fn request(api: &ApiBases, bot: &Bot<'_>, call: &Call) -> Result<ApiRequest, Unsendable> {
    match bot.platform {
        Platform::Slack => crate::slack::api::request(&api.slack, bot, call),
        Platform::Telegram => crate::telegram::api::request(&api.telegram, bot, call),
        Platform::Discord => crate::discord::api::request(&api.discord, bot, call),
    }
}

/// The id of the message a platform's answer to a post names (Slack `ts`, Telegram
/// `result.message_id`, Discord `id`), for editing it later.
pub fn posted_message(platform: Platform, body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let id = match platform {
        Platform::Slack => v.get("ts")?,
        Platform::Telegram => v.pointer("/result/message_id")?,
        Platform::Discord => v.get("id")?,
    };
    match id {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What a platform's answer means for the call.
#[derive(Debug, Clone, PartialEq)]
pub enum Answered {
    Done,
    /// Try again, not before this many seconds.
    Retry(Option<u64>, String),
    /// Will never work (bad token, unknown chat): a dead letter.
    Refused(String),
}

/// Reads a platform's answer (`retry_after_secs`: its `Retry-After` header): HTTP 429
/// and 5xx are worth another try (Telegram says how long in `parameters.retry_after`,
/// Discord in `retry_after`); Slack answers 200 with `ok: false` for its own errors
/// (`ratelimited` among them).
pub fn answered(
    platform: Platform,
    status: u16,
    retry_after_secs: Option<u64>,
    body: &[u8],
) -> Answered {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let said = |default: &str| {
        body.get("error")
            .or_else(|| body.get("description"))
            .or_else(|| body.get("message"))
            .and_then(Value::as_str)
            .unwrap_or(default)
            .chars()
            .take(200)
            .collect::<String>()
    };
    if status == 429 {
        let secs = retry_after_secs.or_else(|| {
            body.pointer("/parameters/retry_after")
                .or_else(|| body.get("retry_after"))
                .and_then(Value::as_f64)
                .filter(|s| s.is_finite())
                .map(|s| s.max(0.0).ceil() as u64)
        });
        return Answered::Retry(secs, format!("429: {}", said("rate limited")));
    }
    if status >= 500 {
        return Answered::Retry(
            retry_after_secs,
            format!("{status}: {}", said("server error")),
        );
    }
    if !(200..300).contains(&status) {
        return Answered::Refused(format!("{status}: {}", said("refused")));
    }
    if platform == Platform::Slack && body.get("ok") == Some(&Value::Bool(false)) {
        let e = said("not ok");
        return if e == "ratelimited" {
            Answered::Retry(retry_after_secs, e)
        } else {
            Answered::Refused(e)
        };
    }
    Answered::Done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot(platform: Platform) -> Bot<'static> {
        Bot {
            platform,
            name: "src",
            token: Some("TOKEN"),
        }
    }

    #[test]
    fn each_platform_gets_its_own_api_shape_and_credentials() {
        let api = ApiBases::default();
        let slack = ReplyTo::Slack {
            channel: "C1".into(),
            thread_ts: Some("1.2".into()),
            response_url: None,
            message_ts: None,
        };
        let r = request(
            &api,
            &bot(Platform::Slack),
            &Call::Reply {
                to: slack,
                text: "hi".into(),
            },
        )
        .unwrap();
        assert_eq!(r.url, "https://slack.com/api/chat.postMessage");
        assert_eq!(r.authorization.as_deref(), Some("Bearer TOKEN"));
        assert_eq!(r.body["thread_ts"], "1.2");

        let tg = ReplyTo::Telegram {
            chat_id: -5,
            thread_id: None,
            message_id: None,
            callback_query_id: None,
        };
        let card = Call::Card {
            to: tg.clone(),
            approval_id: "apr_1".into(),
            text: "?".into(),
            grants: vec![3600],
            extend: None,
        };
        let r = request(&api, &bot(Platform::Telegram), &card).unwrap();
        assert_eq!(r.url, "https://api.telegram.org/botTOKEN/sendMessage");
        assert_eq!(r.authorization, None);
        let keys = r.body["reply_markup"]["inline_keyboard"][0].clone();
        assert_eq!(keys[0]["callback_data"], "agency:a:apr_1");
        assert_eq!(keys[1]["callback_data"], "agency:g3600:apr_1");
        assert_eq!(keys[1]["text"], "Approve for 1 hour");
        assert_eq!(keys[2]["callback_data"], "agency:d:apr_1");
        let edit = Call::Edit {
            to: tg,
            message: "41".into(),
            text: "done".into(),
        };
        let r = request(&api, &bot(Platform::Telegram), &edit).unwrap();
        assert_eq!(r.body["message_id"], 41);

        let dc = ReplyTo::Discord {
            channel_id: "9".into(),
            application_id: "A1".into(),
            token: "itok".into(),
            message_id: None,
        };
        let r = request(
            &api,
            &bot(Platform::Discord),
            &Call::Reply {
                to: dc.clone(),
                text: "x".into(),
            },
        )
        .unwrap();
        assert_eq!(r.url, "https://discord.com/api/v10/webhooks/A1/itok");
        assert_eq!(r.authorization, None);
        let r = request(
            &api,
            &bot(Platform::Discord),
            &Call::Edit {
                to: dc,
                message: "77".into(),
                text: "done".into(),
            },
        )
        .unwrap();
        assert_eq!(r.verb, Verb::Patch);
        assert_eq!(r.url, "https://discord.com/api/v10/channels/9/messages/77");
        assert_eq!(r.authorization.as_deref(), Some("Bot TOKEN"));
    }

    #[test]
    fn a_call_that_cannot_be_made_is_refused_not_tried() {
        let mut b = bot(Platform::Slack);
        b.token = None;
        let to = ReplyTo::Slack {
            channel: "C".into(),
            thread_ts: None,
            response_url: None,
            message_ts: None,
        };
        let c = Call::Reply {
            to,
            text: "x".into(),
        };
        assert_eq!(
            request(&ApiBases::default(), &b, &c),
            Err(Unsendable::NoToken("src".into()))
        );
        assert_eq!(
            request(&ApiBases::default(), &bot(Platform::Telegram), &c),
            Err(Unsendable::WrongPlatform("telegram", "slack"))
        );
        let edit = Call::Edit {
            to: ReplyTo::Telegram {
                chat_id: 1,
                thread_id: None,
                message_id: None,
                callback_query_id: None,
            },
            message: "1.5".into(),
            text: "x".into(),
        };
        assert_eq!(
            request(&ApiBases::default(), &bot(Platform::Telegram), &edit),
            Err(Unsendable::MessageId("1.5".into()))
        );
    }

    #[test]
    fn answers_are_read_as_the_platforms_mean_them() {
        let r = |p: Platform, status: u16, body: &str, after: Option<u64>| {
            answered(p, status, after, body.as_bytes())
        };
        assert_eq!(
            r(Platform::Slack, 200, r#"{"ok":true}"#, None),
            Answered::Done
        );
        assert!(
            matches!(r(Platform::Slack, 200, r#"{"ok":false,"error":"channel_not_found"}"#, None), Answered::Refused(e) if e == "channel_not_found")
        );
        assert!(matches!(
            r(
                Platform::Slack,
                200,
                r#"{"ok":false,"error":"ratelimited"}"#,
                None
            ),
            Answered::Retry(..)
        ));
        assert!(matches!(
            r(
                Platform::Telegram,
                429,
                r#"{"ok":false,"parameters":{"retry_after":7}}"#,
                None
            ),
            Answered::Retry(Some(7), _)
        ));
        assert!(matches!(
            r(Platform::Discord, 429, r#"{"retry_after":1.2}"#, None),
            Answered::Retry(Some(2), _)
        ));
        assert!(matches!(
            r(Platform::Discord, 429, "{}", Some(3)),
            Answered::Retry(Some(3), _)
        ));
        assert!(matches!(
            r(Platform::Discord, 503, "", None),
            Answered::Retry(None, _)
        ));
        assert!(matches!(
            r(
                Platform::Telegram,
                400,
                r#"{"description":"chat not found"}"#,
                None
            ),
            Answered::Refused(_)
        ));
        assert_eq!(
            posted_message(
                Platform::Telegram,
                br#"{"ok":true,"result":{"message_id":5}}"#
            ),
            Some("5".into())
        );
        assert_eq!(
            posted_message(Platform::Slack, br#"{"ok":true,"ts":"1.2"}"#),
            Some("1.2".into())
        );
    }
}
