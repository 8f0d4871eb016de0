//! Slack's requests: the Events API (JSON: `url_verification`, `event_callback` with
//! `message` and `app_mention`), slash commands (form-encoded) and interactivity (a
//! form field `payload` holding JSON; `block_actions` for button clicks).

pub mod api;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::card::{REASON_CHARS, REASON_INPUT, SLACK_REASON, Verdict, parse_slack_action};
use crate::{EventKind, Inbound, InboundEvent, Origin, ParseError, Platform, Reply, ReplyTo};

fn err(message: impl Into<String>) -> ParseError {
    ParseError::new(Platform::Slack, message)
}

fn ignored(why: &'static str) -> Inbound {
    Inbound::Ignored {
        why,
        ack: Reply::empty(),
    }
}

/// The command Agency answers to.
pub const COMMAND: &str = "/agency";

/// Parses a verified request's body (`content_type` as sent).
pub fn parse(
    origin: Origin<'_>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Inbound, ParseError> {
    let form = content_type
        .map(|t| {
            t.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if form {
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| err(format!("form body: {e}")))?;
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if let Some(payload) = field("payload") {
            return interaction(origin, payload);
        }
        if field("command").is_some() {
            return command(origin, &field);
        }
        return Err(err("a form body has neither payload nor command"));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| err(format!("JSON body: {e}")))?;
    match v.get("type").and_then(Value::as_str) {
        Some("url_verification") => {
            let challenge = v
                .get("challenge")
                .and_then(Value::as_str)
                .ok_or_else(|| err("url_verification without a challenge"))?;
            Ok(Inbound::Handshake(Reply::json(
                &json!({ "challenge": challenge }),
            )))
        }
        Some("event_callback") => event_callback(origin, &v),
        Some(_) => Ok(ignored("slack request type")),
        None => Err(err("no type")),
    }
}

#[derive(Deserialize)]
struct Callback {
    event_id: String,
    event: Event,
    #[serde(default)]
    authorizations: Vec<Authorization>,
}

#[derive(Deserialize)]
struct Authorization {
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
}

fn event_callback(origin: Origin<'_>, v: &Value) -> Result<Inbound, ParseError> {
    let cb: Callback =
        serde_json::from_value(v.clone()).map_err(|e| err(format!("event_callback: {e}")))?;
    let e = cb.event;
    if !matches!(e.kind.as_str(), "message" | "app_mention") {
        return Ok(ignored("slack event type"));
    }
    // Edits, joins, bots (ourselves included): nothing to act on.
    if e.subtype.is_some() || e.bot_id.is_some() {
        return Ok(ignored("slack message subtype or bot"));
    }
    let channel = e
        .channel
        .ok_or_else(|| err("a message event without channel"))?;
    let ts = e.ts.ok_or_else(|| err("a message event without ts"))?;
    let text = e.text.unwrap_or_default();
    let bot = cb.authorizations.first().and_then(|a| a.user_id.clone());
    let mention = bot.as_ref().map(|b| format!("<@{b}>"));
    let mentioned =
        e.kind == "app_mention" || mention.as_ref().is_some_and(|m| text.contains(m.as_str()));
    let text = match &mention {
        Some(m) if mentioned => text.replace(m.as_str(), " ").trim().to_owned(),
        _ => text.trim().to_owned(),
    };
    let source = origin.source;
    Ok(Inbound::accept_with(
        InboundEvent {
            chat: channel.clone(),
            thread: e.thread_ts.clone(),
            user: e.user,
            text,
            kind: if mentioned {
                EventKind::Mention
            } else {
                EventKind::Message
            },
            dedup_keys: vec![
                format!("slack:{source}:ev:{}", cb.event_id),
                format!("slack:{source}:msg:{channel}:{ts}"),
            ],
            reply_to: ReplyTo::Slack {
                channel,
                thread_ts: Some(e.thread_ts.unwrap_or(ts)),
                response_url: None,
                message_ts: None,
            },
            ..origin.event(Platform::Slack, cb.event_id.clone())
        },
        Reply::empty(),
    ))
}

fn command<'f>(
    origin: Origin<'_>,
    field: &impl Fn(&str) -> Option<&'f str>,
) -> Result<Inbound, ParseError> {
    if field("command").map(str::trim) != Some(COMMAND) {
        return Ok(ignored("slack command"));
    }
    let need =
        |name: &'static str| field(name).ok_or_else(|| err(format!("a command without {name}")));
    let channel = need("channel_id")?.to_owned();
    let trigger = need("trigger_id")?.to_owned();
    let source = origin.source;
    Ok(Inbound::accept_with(
        InboundEvent {
            chat: channel.clone(),
            thread: None,
            user: field("user_id").map(str::to_owned),
            text: field("text").unwrap_or_default().trim().to_owned(),
            kind: EventKind::Command,
            dedup_keys: vec![format!("slack:{source}:cmd:{trigger}")],
            reply_to: ReplyTo::Slack {
                channel,
                thread_ts: None,
                response_url: field("response_url").map(str::to_owned),
                message_ts: None,
            },
            ..origin.event(Platform::Slack, trigger.clone())
        },
        Reply::empty(),
    ))
}

#[derive(Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    trigger_id: Option<String>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    user: Option<Id>,
    #[serde(default)]
    channel: Option<Id>,
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    actions: Vec<Action>,
    #[serde(default)]
    view: Option<View>,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

/// A submitted modal (`view_submission`).
#[derive(Deserialize)]
struct View {
    id: String,
    #[serde(default)]
    callback_id: Option<String>,
    #[serde(default)]
    private_metadata: Option<String>,
    #[serde(default)]
    state: Option<Value>,
}

/// What the reason modal carries through Slack (`private_metadata`): the approval and
/// the card, so the decision can edit it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct ReasonMetadata {
    #[serde(rename = "a")]
    pub approval_id: String,
    #[serde(rename = "c")]
    pub channel: String,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub message_ts: Option<String>,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    message_ts: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
}

#[derive(Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    action_ts: Option<String>,
}

fn interaction(origin: Origin<'_>, payload: &str) -> Result<Inbound, ParseError> {
    let i: Interaction =
        serde_json::from_str(payload).map_err(|e| err(format!("interaction payload: {e}")))?;
    if i.kind == "view_submission" {
        return reason_submitted(origin, i);
    }
    if i.kind != "block_actions" {
        return Ok(ignored("slack interaction type"));
    }
    let Some((verdict, action)) = i
        .actions
        .iter()
        .find_map(|a| parse_slack_action(&a.action_id).map(|v| (v, a)))
    else {
        return Ok(ignored("slack action"));
    };
    let approval_id = action
        .value
        .clone()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| err("an approval button without value"))?;
    let channel = i
        .channel
        .map(|c| c.id)
        .or_else(|| i.container.as_ref().and_then(|c| c.channel_id.clone()))
        .ok_or_else(|| err("a click without channel"))?;
    let id = i
        .trigger_id
        .clone()
        .or_else(|| action.action_ts.clone())
        .ok_or_else(|| err("a click without trigger_id"))?;
    let message_ts = i
        .container
        .as_ref()
        .and_then(|c| c.message_ts.clone())
        .or_else(|| i.message.as_ref().and_then(|m| m.ts.clone()));
    let source = origin.source;
    let kind = match (verdict, &i.trigger_id) {
        (Verdict::Reason, Some(trigger)) => EventKind::ReasonPrompt {
            approval_id,
            trigger_id: trigger.clone(),
        },
        (Verdict::Reason, None) => return Err(err("a reason button's click without trigger_id")),
        (v, _) if v.is_batch() => EventKind::BatchClick {
            approve: v.approves(),
            batch_id: approval_id,
        },
        _ => EventKind::Click {
            approve: verdict.approves(),
            approval_id,
            grant_secs: verdict.grant_secs(),
            extend_secs: verdict.extend_secs(),
            reason: None,
        },
    };
    Ok(Inbound::accept_with(
        InboundEvent {
            chat: channel.clone(),
            thread: i.message.as_ref().and_then(|m| m.thread_ts.clone()),
            user: i.user.map(|u| u.id),
            text: String::new(),
            kind,
            dedup_keys: vec![format!("slack:{source}:act:{id}")],
            reply_to: ReplyTo::Slack {
                channel,
                thread_ts: None,
                response_url: i.response_url,
                message_ts,
            },
            ..origin.event(Platform::Slack, id.clone())
        },
        Reply::empty(),
    ))
}

/// The reason modal submitted: a denial with its reason, for the card its metadata
/// names. Answered with an empty 200, which closes the modal. Another app's modal is
/// ignored.
fn reason_submitted(origin: Origin<'_>, i: Interaction) -> Result<Inbound, ParseError> {
    let Some(view) = i
        .view
        .filter(|v| v.callback_id.as_deref() == Some(SLACK_REASON))
    else {
        return Ok(ignored("slack view"));
    };
    let meta: ReasonMetadata = view
        .private_metadata
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .ok_or_else(|| err("a reason modal without its approval in private_metadata"))?;
    let reason = view
        .state
        .as_ref()
        .and_then(|s| s.pointer(&format!("/values/{REASON_INPUT}/{REASON_INPUT}/value")))
        .and_then(Value::as_str)
        .map(|r| {
            r.trim()
                .chars()
                .take(REASON_CHARS as usize)
                .collect::<String>()
        })
        .filter(|r| !r.is_empty());
    let source = origin.source;
    Ok(Inbound::accept_with(
        InboundEvent {
            chat: meta.channel.clone(),
            thread: None,
            user: i.user.map(|u| u.id),
            text: String::new(),
            kind: EventKind::Click {
                approve: false,
                approval_id: meta.approval_id,
                grant_secs: None,
                extend_secs: None,
                reason,
            },
            dedup_keys: vec![format!("slack:{source}:view:{}", view.id)],
            reply_to: ReplyTo::Slack {
                channel: meta.channel,
                thread_ts: None,
                response_url: None,
                message_ts: meta.message_ts,
            },
            ..origin.event(Platform::Slack, view.id.clone())
        },
        Reply::empty(),
    ))
}

#[cfg(test)]
mod tests;
