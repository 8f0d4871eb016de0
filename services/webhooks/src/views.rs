//! What the events API answers, as types (the API document derives their schemas).
//! Capabilities inside an event (Slack's `response_url`, a Discord interaction's token)
//! are never shown.

use serde::Serialize;
use serde_json::Value;

use agency_kit::ports::rfc3339;

use crate::store::{AttemptRow, EventRow, SentRow};

/// One event in a list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EventView {
    /// Agency's id of the event; also the dispatched task's `taskId`.
    pub id: String,
    /// `slack`, `telegram` or `discord`.
    pub platform: String,
    /// The workspace, bot or guild.
    pub source: String,
    /// The platform's own id (Slack `event_id`, Telegram `update_id`, Discord interaction id).
    pub platform_event_id: String,
    /// `message`, `mention`, `command` or `click`.
    pub kind: String,
    /// `queued`, `processing`, `done`, `failed`, `dead`, `ignored`, `held` or `dropped`.
    pub status: String,
    /// The halt that holds it (`all`, `agent:<id>`, `channel:<id>`, `task:<id>`), while
    /// it is held.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<String>"))]
    pub held_by: Option<String>,
    /// Attempts in the current round (a replay starts a new one).
    pub attempts: i64,
    pub received_at: String,
    pub updated_at: String,
    /// When it is tried next (queued events).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<String>"))]
    pub next_attempt_at: Option<String>,
    /// The routing decision it was dispatched with.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<Value>"))]
    pub decision: Option<Value>,
    /// What came of it: the dispatch's status, the assistant's answer.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<Value>"))]
    pub result: Option<Value>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<String>"))]
    pub error: Option<String>,
}

fn parsed(s: &Option<String>) -> Option<Value> {
    s.as_deref().and_then(|s| serde_json::from_str(s).ok())
}

impl EventView {
    pub fn of(r: &EventRow) -> EventView {
        EventView {
            id: r.id.clone(),
            platform: r.platform.clone(),
            source: r.source.clone(),
            platform_event_id: r.platform_event_id.clone(),
            kind: r.kind.clone(),
            status: r.status.clone(),
            held_by: r.held_by.clone(),
            attempts: r.tries,
            received_at: rfc3339(r.received_ms),
            updated_at: rfc3339(r.updated_ms),
            next_attempt_at: (r.status == "queued").then(|| rfc3339(r.next_at_ms)),
            decision: parsed(&r.decision_json),
            result: parsed(&r.result_json),
            error: r.error.clone(),
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Events {
    pub events: Vec<EventView>,
    /// Pass as `before` for the next page; null on the last.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<String>"))]
    pub next_before: Option<String>,
}

/// One dispatch attempt.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct AttemptView {
    pub n: i64,
    pub at: String,
    /// How long the gateway took, in milliseconds.
    pub ms: i64,
    /// The gateway's status; null when it did not answer.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<i64>"))]
    pub status: Option<i64>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<String>"))]
    pub error: Option<String>,
}

/// A call back to the chat made for the event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SentView {
    pub id: String,
    /// `reply`, `private`, `card` or `decided`.
    pub call: String,
    /// `queued`, `processing`, `done` or `dead`.
    pub status: String,
    pub attempts: i64,
    /// The platform's last HTTP status.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<i64>"))]
    pub last_status: Option<i64>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<String>"))]
    pub error: Option<String>,
}

/// One event in full.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EventDetail {
    #[serde(flatten)]
    pub summary: EventView,
    /// The normalised event (capabilities hidden).
    #[cfg_attr(feature = "openapi", schemars(with = "Value"))]
    pub payload: Value,
    pub attempt_log: Vec<AttemptView>,
    pub sent: Vec<SentView>,
}

/// The event's JSON without the capabilities it carries: events are sealed at intake
/// (a `cap_` reference in the capability's place), and one stored before that shows
/// `(hidden)`.
pub fn redacted(event_json: &str) -> Value {
    let mut v: Value = serde_json::from_str(event_json).unwrap_or(Value::Null);
    if let Some(to) = v.get_mut("replyTo").and_then(Value::as_object_mut) {
        for secret in ["token", "responseUrl"] {
            if let Some(c) = to.get_mut(secret)
                && !c
                    .as_str()
                    .is_some_and(agency_webhook::capability::is_sealed)
            {
                *c = Value::String("(hidden)".into());
            }
        }
    }
    v
}

impl EventDetail {
    pub fn of(r: &EventRow, attempts: &[AttemptRow], sent: &[SentRow]) -> EventDetail {
        EventDetail {
            summary: EventView::of(r),
            payload: redacted(&r.event_json),
            attempt_log: attempts
                .iter()
                .map(|a| AttemptView {
                    n: a.n,
                    at: rfc3339(a.at_ms),
                    ms: a.ms,
                    status: a.status,
                    error: a.error.clone(),
                })
                .collect(),
            sent: sent
                .iter()
                .map(|s| SentView {
                    id: s.id.clone(),
                    call: serde_json::from_str::<Value>(&s.call_json)
                        .ok()
                        .and_then(|v| v.get("call").and_then(Value::as_str).map(str::to_owned))
                        .unwrap_or_default(),
                    status: s.status.clone(),
                    attempts: s.tries,
                    last_status: s.last_status,
                    error: s.error.clone(),
                })
                .collect(),
        }
    }
}

/// Dead letters queued again.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Replayed {
    /// Their event ids (unchanged: the gateway's idempotency still holds).
    pub replayed: Vec<String>,
}

/// A reply queued for delivery.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ReplyQueued {
    pub reply_id: String,
    /// `queued`: it is delivered by the outbox, with retries.
    pub status: &'static str,
}

#[cfg(test)]
mod tests {
    #[test]
    fn capabilities_in_an_event_are_hidden() {
        let v = super::redacted(
            r#"{"text":"x","replyTo":{"platform":"discord","token":"secret-token","channelId":"1"}}"#,
        );
        assert_eq!(v["replyTo"]["token"], "(hidden)");
        assert_eq!(v["replyTo"]["channelId"], "1");
        let v =
            super::redacted(r#"{"replyTo":{"platform":"slack","responseUrl":"https://hooks/x"}}"#);
        assert_eq!(v["replyTo"]["responseUrl"], "(hidden)");
    }
}
