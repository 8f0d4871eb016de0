//! The way back to the chat: each call Agency makes to a chat platform's API, as data
//! (queued in the outbox, so it survives a restart and is retried), and the HTTP request
//! it becomes: Slack's Web API with the bot token as a bearer, Telegram's Bot API with
//! the token in the path, Discord's API with `Authorization: Bot` (interaction
//! follow-ups use the interaction's token instead).

use agency_webhook::{Platform, ReplyTo, card};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::settings::{ApiBases, Source};

/// An HTTP request to the outside (the gateway, a platform's API).
#[derive(Debug, Clone, PartialEq)]
pub struct OutRequest {
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u64,
}

/// Its answer. A request that got no answer (refused, timed out) is an `Err(String)`
/// of the port instead.
#[derive(Debug, Clone, PartialEq)]
pub struct OutResponse {
    pub status: u16,
    /// `Retry-After` in seconds, when the answer had one.
    pub retry_after_secs: Option<u64>,
    pub body: Vec<u8>,
}

/// The most of an answer's body kept: what a platform or the gateway says past it is
/// of no use here. A runtime reads at most this much.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

impl OutResponse {
    /// An answer as a runtime received it: its status, its `Retry-After` header
    /// (seconds; an HTTP date is not honoured, the retry schedule applies), and its
    /// body, cut at [`MAX_ANSWER_BYTES`].
    pub fn new(status: u16, retry_after: Option<&str>, mut body: Vec<u8>) -> OutResponse {
        body.truncate(MAX_ANSWER_BYTES);
        OutResponse {
            status,
            retry_after_secs: retry_after
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite())
                .map(|s| s.max(0.0).ceil() as u64),
            body,
        }
    }
}

impl OutRequest {
    /// Scheme and host of its URL, for errors (a path may hold a capability or a bot
    /// token: never in an error).
    pub fn host(&self) -> String {
        self.url.split('/').take(3).collect::<Vec<_>>().join("/")
    }
}

/// Where an answer goes: the conversation in the platform's terms, and the workspace,
/// bot or guild to answer as. Dispatch gives it to the gateway as `replyTo`; the
/// gateway hands it back unchanged (`POST /api/replies`, an approval's `replyTo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Address {
    #[serde(flatten)]
    pub to: ReplyTo,
    /// The workspace, bot or guild to answer as.
    pub source: String,
}

impl Address {
    pub fn platform(&self) -> Platform {
        match self.to {
            ReplyTo::Slack { .. } => Platform::Slack,
            ReplyTo::Telegram { .. } => Platform::Telegram,
            ReplyTo::Discord { .. } => Platform::Discord,
        }
    }

    /// The answer address of `e`.
    pub fn of(e: &agency_webhook::InboundEvent) -> Address {
        Address {
            to: e.reply_to.clone(),
            source: e.source.clone(),
        }
    }
}

/// How long a platform call may take.
pub const PLATFORM_TIMEOUT_MS: u64 = 10_000;

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
    },
    /// The clicked card, edited to show its outcome (and the click answered).
    Decided { to: ReplyTo, text: String },
    /// A card the bot posted (`message`: Slack `ts`, Telegram `message_id`, Discord
    /// message id), edited to show its outcome.
    Edit {
        to: ReplyTo,
        message: String,
        text: String,
    },
}

impl Call {
    /// The address the call answers.
    pub fn to_mut(&mut self) -> &mut ReplyTo {
        match self {
            Call::Reply { to, .. }
            | Call::Private { to, .. }
            | Call::Card { to, .. }
            | Call::Decided { to, .. }
            | Call::Edit { to, .. } => to,
        }
    }

    /// Whether the call cannot be made without its address's capability: a Discord
    /// answer goes through the interaction's token (a card and a card's edit use the
    /// bot's own token; Slack falls back to the bot's API without a response_url).
    pub fn needs_capability(&self) -> bool {
        matches!(
            self,
            Call::Reply {
                to: ReplyTo::Discord { .. },
                ..
            } | Call::Private {
                to: ReplyTo::Discord { .. },
                ..
            } | Call::Decided {
                to: ReplyTo::Discord { .. },
                ..
            }
        )
    }
}

fn json_request(
    method: http::Method,
    url: String,
    auth: Option<String>,
    body: &Value,
) -> OutRequest {
    let mut headers = vec![(
        "content-type".to_owned(),
        "application/json; charset=utf-8".to_owned(),
    )];
    if let Some(a) = auth {
        headers.push(("authorization".to_owned(), a));
    }
    OutRequest {
        method,
        url,
        headers,
        body: body.to_string().into_bytes(),
        timeout_ms: PLATFORM_TIMEOUT_MS,
    }
}

/// Why a call cannot be made at all (a dead letter at once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsendable {
    #[error("source {0} has no bot token configured")]
    NoToken(String),
    #[error("a {0} call cannot answer a {1} conversation")]
    WrongPlatform(&'static str, &'static str),
}

fn slack_buttons(approval_id: &str) -> Value {
    json!({
        "type": "actions",
        "block_id": format!("agency_card_{approval_id}"),
        "elements": [
            { "type": "button", "action_id": card::SLACK_APPROVE, "style": "primary",
              "text": { "type": "plain_text", "text": "Approve" }, "value": approval_id },
            { "type": "button", "action_id": card::SLACK_DENY, "style": "danger",
              "text": { "type": "plain_text", "text": "Deny" }, "value": approval_id },
        ]
    })
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// The HTTP request for `call` from `source`, against `api`.
pub fn request(api: &ApiBases, source: &Source, call: &Call) -> Result<OutRequest, Unsendable> {
    use http::Method;
    let token = || {
        source
            .bot_token
            .clone()
            .ok_or_else(|| Unsendable::NoToken(source.key()))
    };
    let to = match call {
        Call::Reply { to, .. }
        | Call::Private { to, .. }
        | Call::Card { to, .. }
        | Call::Decided { to, .. }
        | Call::Edit { to, .. } => to,
    };
    let wrong = |to: &ReplyTo| {
        let kind = match to {
            ReplyTo::Slack { .. } => "slack",
            ReplyTo::Telegram { .. } => "telegram",
            ReplyTo::Discord { .. } => "discord",
        };
        Unsendable::WrongPlatform(source.platform.as_str(), kind)
    };
    match (source.platform, to) {
        (
            Platform::Slack,
            ReplyTo::Slack {
                channel,
                thread_ts,
                response_url,
                message_ts,
            },
        ) => {
            let slack = |method: &str, body: Value| -> Result<OutRequest, Unsendable> {
                Ok(json_request(
                    Method::POST,
                    format!("{}/{method}", api.slack),
                    Some(format!("Bearer {}", token()?)),
                    &body,
                ))
            };
            match call {
                Call::Reply { text, .. } => {
                    let mut body = json!({ "channel": channel, "text": text });
                    if let Some(t) = thread_ts.as_ref().or(message_ts.as_ref()) {
                        body["thread_ts"] = json!(t);
                    }
                    slack("chat.postMessage", body)
                }
                Call::Private { user, text, .. } => match (response_url, user) {
                    // A command's or click's response_url needs no token.
                    (Some(url), _) => Ok(json_request(
                        Method::POST,
                        url.clone(),
                        None,
                        &json!({ "response_type": "ephemeral", "replace_original": false, "text": text }),
                    )),
                    (None, Some(user)) => slack(
                        "chat.postEphemeral",
                        json!({ "channel": channel, "user": user, "text": text }),
                    ),
                    (None, None) => slack(
                        "chat.postMessage",
                        json!({ "channel": channel, "text": text }),
                    ),
                },
                Call::Card {
                    approval_id, text, ..
                } => {
                    let mut body = json!({
                        "channel": channel,
                        "text": text,
                        "blocks": [section(text), slack_buttons(approval_id)],
                    });
                    if let Some(t) = thread_ts {
                        body["thread_ts"] = json!(t);
                    }
                    slack("chat.postMessage", body)
                }
                Call::Decided { text, .. } => match message_ts {
                    Some(ts) => slack(
                        "chat.update",
                        json!({ "channel": channel, "ts": ts, "text": text, "blocks": [section(text)] }),
                    ),
                    None => slack(
                        "chat.postMessage",
                        json!({ "channel": channel, "text": text }),
                    ),
                },
                Call::Edit { message, text, .. } => slack(
                    "chat.update",
                    json!({ "channel": channel, "ts": message, "text": text, "blocks": [section(text)] }),
                ),
            }
        }
        (
            Platform::Telegram,
            ReplyTo::Telegram {
                chat_id,
                thread_id,
                message_id,
                callback_query_id,
            },
        ) => {
            let bot = |method: &str, body: Value| -> Result<OutRequest, Unsendable> {
                Ok(json_request(
                    Method::POST,
                    format!("{}/bot{}/{method}", api.telegram, token()?),
                    None,
                    &body,
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
                bot("sendMessage", body)
            };
            match call {
                Call::Reply { text, .. } => send(text, None),
                Call::Private { text, .. } => match callback_query_id {
                    Some(q) => bot(
                        "answerCallbackQuery",
                        json!({ "callback_query_id": q, "text": text, "show_alert": true }),
                    ),
                    None => send(text, None),
                },
                Call::Card {
                    approval_id, text, ..
                } => {
                    let button = |label: &str, approve: bool| json!({ "text": label, "callback_data": card::button_data(approve, approval_id) });
                    send(
                        text,
                        Some(
                            json!({ "inline_keyboard": [[button("Approve", true), button("Deny", false)]] }),
                        ),
                    )
                }
                Call::Decided { text, .. } => match message_id {
                    Some(m) => bot(
                        "editMessageText",
                        json!({ "chat_id": chat_id, "message_id": m, "text": text,
                                "reply_markup": { "inline_keyboard": [] } }),
                    ),
                    None => send(text, None),
                },
                Call::Edit { message, text, .. } => bot(
                    "editMessageText",
                    json!({ "chat_id": chat_id, "message_id": message.parse::<i64>().unwrap_or(0),
                            "text": text, "reply_markup": { "inline_keyboard": [] } }),
                ),
            }
        }
        (
            Platform::Discord,
            ReplyTo::Discord {
                channel_id,
                application_id,
                token: interaction,
                message_id,
            },
        ) => {
            let follow_up = |body: Value| {
                Ok(json_request(
                    Method::POST,
                    format!("{}/webhooks/{application_id}/{interaction}", api.discord),
                    None,
                    &body,
                ))
            };
            match call {
                Call::Reply { text, .. } => follow_up(json!({ "content": text })),
                Call::Private { text, .. } => follow_up(
                    json!({ "content": text, "flags": agency_webhook::discord::EPHEMERAL }),
                ),
                Call::Card {
                    approval_id, text, ..
                } => {
                    let button = |label: &str, style: u8, approve: bool| {
                        json!({ "type": 2, "style": style, "label": label,
                                "custom_id": card::button_data(approve, approval_id) })
                    };
                    Ok(json_request(
                        Method::POST,
                        format!("{}/channels/{channel_id}/messages", api.discord),
                        Some(format!("Bot {}", token()?)),
                        &json!({
                            "content": text,
                            "components": [{ "type": 1, "components": [
                                button("Approve", 3, true), button("Deny", 4, false)
                            ]}]
                        }),
                    ))
                }
                Call::Decided { text, .. } => match message_id {
                    // The click was answered with a deferred update: edit the original.
                    Some(_) => Ok(json_request(
                        Method::PATCH,
                        format!(
                            "{}/webhooks/{application_id}/{interaction}/messages/@original",
                            api.discord
                        ),
                        None,
                        &json!({ "content": text, "components": [] }),
                    )),
                    None => follow_up(json!({ "content": text })),
                },
                Call::Edit { message, text, .. } => Ok(json_request(
                    Method::PATCH,
                    format!("{}/channels/{channel_id}/messages/{message}", api.discord),
                    Some(format!("Bot {}", token()?)),
                    &json!({ "content": text, "components": [] }),
                )),
            }
        }
        (_, to) => Err(wrong(to)),
    }
}

/// The id of the message a platform's answer to a post names (Slack `ts`, Telegram
/// `result.message_id`, Discord `id`), for editing it later.
pub fn posted_message(platform: Platform, body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let id = match platform {
        Platform::Slack => v.get("ts")?.clone(),
        Platform::Telegram => v.pointer("/result/message_id")?.clone(),
        Platform::Discord => v.get("id")?.clone(),
    };
    match id {
        Value::String(s) => Some(s),
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

/// Reads a platform's answer: HTTP 429 and 5xx are worth another try; Slack answers
/// 200 with `ok: false` for its own errors (`ratelimited` among them).
pub fn answered(platform: Platform, r: &OutResponse) -> Answered {
    let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
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
    if r.status == 429 {
        let secs = r.retry_after_secs.or_else(|| {
            body.pointer("/parameters/retry_after")
                .or_else(|| body.get("retry_after"))
                .and_then(Value::as_f64)
                .map(|s| s.ceil() as u64)
        });
        return Answered::Retry(secs, format!("429: {}", said("rate limited")));
    }
    if r.status >= 500 {
        return Answered::Retry(
            r.retry_after_secs,
            format!("{}: {}", r.status, said("server error")),
        );
    }
    if !(200..300).contains(&r.status) {
        return Answered::Refused(format!("{}: {}", r.status, said("refused")));
    }
    if platform == Platform::Slack && body.get("ok") == Some(&Value::Bool(false)) {
        let e = said("not ok");
        return if e == "ratelimited" {
            Answered::Retry(r.retry_after_secs, e)
        } else {
            Answered::Refused(e)
        };
    }
    Answered::Done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Source;

    fn source(platform: Platform) -> Source {
        let mut s = match platform {
            Platform::Slack => Source::slack("T1", "secret").unwrap(),
            Platform::Telegram => Source::telegram("bot", "secret").unwrap(),
            Platform::Discord => Source::discord(
                "G1",
                "A1",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            )
            .unwrap(),
        };
        s.bot_token = Some("TOKEN".into());
        s
    }

    fn body(r: &OutRequest) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    fn header<'a>(r: &'a OutRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
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
            &source(Platform::Slack),
            &Call::Reply {
                to: slack,
                text: "hi".into(),
            },
        )
        .unwrap();
        assert_eq!(r.url, "https://slack.com/api/chat.postMessage");
        assert_eq!(header(&r, "authorization"), Some("Bearer TOKEN"));
        assert_eq!(body(&r)["thread_ts"], "1.2");

        let tg = ReplyTo::Telegram {
            chat_id: -5,
            thread_id: None,
            message_id: None,
            callback_query_id: None,
        };
        let card = Call::Card {
            to: tg,
            approval_id: "apr_1".into(),
            text: "?".into(),
        };
        let r = request(&api, &source(Platform::Telegram), &card).unwrap();
        assert_eq!(r.url, "https://api.telegram.org/botTOKEN/sendMessage");
        assert_eq!(header(&r, "authorization"), None);
        let keys = body(&r)["reply_markup"]["inline_keyboard"][0].clone();
        assert_eq!(keys[0]["callback_data"], "agency:a:apr_1");
        assert_eq!(keys[1]["callback_data"], "agency:d:apr_1");

        let dc = ReplyTo::Discord {
            channel_id: "9".into(),
            application_id: "A1".into(),
            token: "itok".into(),
            message_id: None,
        };
        let r = request(
            &api,
            &source(Platform::Discord),
            &Call::Reply {
                to: dc.clone(),
                text: "x".into(),
            },
        )
        .unwrap();
        assert_eq!(r.url, "https://discord.com/api/v10/webhooks/A1/itok");
        let r = request(
            &api,
            &source(Platform::Discord),
            &Call::Edit {
                to: dc,
                message: "77".into(),
                text: "done".into(),
            },
        )
        .unwrap();
        assert_eq!(r.method, http::Method::PATCH);
        assert_eq!(r.url, "https://discord.com/api/v10/channels/9/messages/77");
        assert_eq!(header(&r, "authorization"), Some("Bot TOKEN"));
    }

    #[test]
    fn a_call_that_cannot_be_made_is_refused_not_tried() {
        let mut s = source(Platform::Slack);
        s.bot_token = None;
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
        assert!(matches!(
            request(&ApiBases::default(), &s, &c),
            Err(Unsendable::NoToken(_))
        ));
        let tg = source(Platform::Telegram);
        assert!(matches!(
            request(&ApiBases::default(), &tg, &c),
            Err(Unsendable::WrongPlatform(..))
        ));
    }

    #[test]
    fn answers_are_read_as_the_platforms_mean_them() {
        let r = |status: u16, body: &str, after: Option<u64>| OutResponse {
            status,
            retry_after_secs: after,
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(
            answered(Platform::Slack, &r(200, r#"{"ok":true}"#, None)),
            Answered::Done
        );
        assert!(
            matches!(answered(Platform::Slack, &r(200, r#"{"ok":false,"error":"channel_not_found"}"#, None)), Answered::Refused(e) if e == "channel_not_found")
        );
        assert!(matches!(
            answered(
                Platform::Slack,
                &r(200, r#"{"ok":false,"error":"ratelimited"}"#, None)
            ),
            Answered::Retry(..)
        ));
        assert!(matches!(
            answered(
                Platform::Telegram,
                &r(429, r#"{"ok":false,"parameters":{"retry_after":7}}"#, None)
            ),
            Answered::Retry(Some(7), _)
        ));
        assert!(matches!(
            answered(Platform::Discord, &r(429, "{}", Some(3))),
            Answered::Retry(Some(3), _)
        ));
        assert!(matches!(
            answered(Platform::Discord, &r(503, "", None)),
            Answered::Retry(None, _)
        ));
        assert!(matches!(
            answered(
                Platform::Telegram,
                &r(400, r#"{"description":"chat not found"}"#, None)
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
