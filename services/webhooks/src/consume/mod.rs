//! The consumer's work, written once: what one queued event leads to, and the delivery
//! of one platform call. The runtime only brings the work: locally a background task
//! leases due rows from SQLite; at the edge the Queue delivers messages. Either way it
//! calls [`event`] or [`call`] and does what the returned [`Next`] says.
//!
//! - A click on an approval card: an approver's decision goes to the assistant
//!   (`POST /api/approvals/{id}/decision`, `by` = their name) and the card is edited;
//!   anyone else is told privately that they may not decide.
//! - `/agency`, a mention of the bot, or a message with the configured prefix: the
//!   assistant's chat (approvers only: it can halt and decide), and its reply goes back
//!   to the same chat and thread.
//! - Any other message: routed (`POST /api/route`, under the source's channel) and
//!   dispatched to the gateway, signed as Standard Webhooks, with `Idempotency-Key`.

use agency_approval::chat::Reply;
use agency_approval::contract::{ApprovalBody, ApprovalStatus};
use agency_approval::{HaltView, Work as HaltWork, covering};
use agency_assistant_service::row::{ApprovalView, Approvals};
use agency_kit::{ApiError, Db, PortError};
use agency_router::{Reason, RouteDecision};
use agency_webhook::limits::retry_after;
use agency_webhook::{EventKind, InboundEvent};
use http::Method;
use serde_json::{Value, json};

use crate::control;

mod call;
mod chat;
mod dispatch;
mod sweep;

use crate::outbound::{self, Answered, Call, OutRequest};
use crate::settings::Source;
use crate::store::{self, Attempt, EventRow, EventStatus, OutboxRow, Settled};
use crate::{Count, Wake, WebhookPorts};
pub use call::call;
use chat::{click, converse, extend};
use dispatch::dispatch;
pub(crate) use dispatch::{dead, halts, post_signed};
pub use dispatch::{note_held, task_body};
pub use sweep::{Swept, card_text, cards, outcome_text, release, sweep};

/// Why nothing can be sent to the gateway.
pub(crate) const NO_GATEWAY: &str = "no gateway is configured ([gateway] url)";

/// How long a leased row is the consumer's before another may take it.
pub const LEASE_MS: i64 = 60_000;

/// Delays between a platform call's attempts, in seconds (shorter than dispatch's: a
/// chat answer is only useful soon), never under the platform's `Retry-After`.
pub const OUTBOX_SCHEDULE_SECS: &[u64] = &[1, 5, 30, 120, 600, 1_800];

/// What the runtime does after one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Finished (done, failed, dead or ignored): acknowledge it.
    Settled,
    /// Try again in this many seconds (already recorded as queued).
    RetryIn(u64),
}

/// A uniform draw in [0, 1) for the retry jitter.
fn unit<P: WebhookPorts>(p: &P) -> Result<f64, PortError> {
    let mut b = [0u8; 8];
    p.fill(&mut b)?;
    Ok((u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64)
}

/// The session the assistant keeps for a conversation.
pub fn session_of(e: &InboundEvent) -> String {
    let mut s = format!("{}:{}:{}", e.platform.as_str(), e.source, e.chat);
    if let Some(t) = &e.thread {
        s.push(':');
        s.push_str(t);
    }
    s.chars().take(128).collect()
}

/// Queues platform calls for delivery (and wakes the consumer); their ids.
pub async fn queue_calls<P: WebhookPorts>(
    p: &P,
    event_id: Option<&str>,
    source: &Source,
    calls: Vec<Call>,
) -> Result<Vec<String>, ApiError> {
    let now = p.now_ms();
    let mut ids = Vec::with_capacity(calls.len());
    let mut statements = Vec::with_capacity(calls.len());
    for c in calls {
        let id = p.id::<10>("out_")?;
        let json = serde_json::to_string(&c).map_err(|e| ApiError::internal("internal", &e))?;
        statements.push(store::insert_outbox(
            &id,
            event_id,
            source.platform.as_str(),
            &source.id,
            &json,
            now,
        ));
        ids.push(id);
    }
    if !statements.is_empty() {
        p.db().batch(statements).await?;
        p.wake(Wake::Calls(&ids)).await?;
    }
    Ok(ids)
}

/// What one step came to, before it is recorded.
pub(crate) struct Outcome {
    status: EventStatus,
    result: Option<Value>,
    error: Option<String>,
    attempt: Option<Attempt>,
    /// Worth another try, not before this many seconds.
    retry: Option<Option<u64>>,
    /// Platform calls to queue when it is recorded.
    calls: Vec<Call>,
    /// The routing decision made in this step, kept with the event (a retry
    /// dispatches the same one).
    decision: Option<Value>,
    /// Held by this halt (its key).
    held_by: Option<String>,
}

impl Outcome {
    fn done(result: Value, calls: Vec<Call>) -> Outcome {
        Outcome {
            status: EventStatus::Done,
            result: Some(result),
            error: None,
            attempt: None,
            retry: None,
            calls,
            decision: None,
            held_by: None,
        }
    }

    pub(crate) fn failed(error: impl Into<String>) -> Outcome {
        Outcome {
            status: EventStatus::Failed,
            result: None,
            error: Some(error.into()),
            attempt: None,
            retry: None,
            calls: Vec::new(),
            decision: None,
            held_by: None,
        }
    }

    /// Kept, unrouted, until the halt `halt` is lifted.
    fn held(halt: &HaltView) -> Outcome {
        Outcome {
            status: EventStatus::Held,
            result: Some(json!({ "action": "hold", "halt": halt })),
            held_by: Some(halt.what().key()),
            ..Outcome::failed(format!(
                "held: {} is halted ({})",
                halt.what().describe(),
                halt.reason
            ))
        }
    }

    pub(crate) fn retry(error: impl Into<String>, after: Option<u64>) -> Outcome {
        Outcome {
            retry: Some(after),
            ..Outcome::failed(error)
        }
    }
}

/// Processes the leased event `row` and records what came of it.
pub async fn event<P: WebhookPorts>(p: &P, row: &EventRow) -> Result<Next, ApiError> {
    if row.kind == control::KIND {
        let outcome = control::deliver(p, row).await?;
        return record(p, row, None, outcome).await;
    }
    let event: InboundEvent = serde_json::from_str(&row.event_json)
        .map_err(|e| ApiError::from(PortError::Decode(format!("event {}: {e}", row.id))))?;
    let settings = p.settings();
    let source = settings.source(event.platform, &event.source);
    let outcome = match (&event.kind, source) {
        (_, None) => Outcome::failed(format!(
            "source {}:{} is no longer configured",
            event.platform.as_str(),
            event.source
        )),
        (
            EventKind::Click {
                approval_id,
                extend_secs: Some(secs),
                ..
            },
            Some(_),
        ) => extend(p, &event, approval_id, *secs).await?,
        (
            EventKind::Click {
                approve,
                approval_id,
                grant_secs,
                reason,
                ..
            },
            Some(_),
        ) => {
            let verdict = chat::Verdict {
                approve: *approve,
                grant_secs: *grant_secs,
                reason: reason.as_deref(),
            };
            click(p, &event, approval_id, verdict).await?
        }
        (
            EventKind::ReasonPrompt {
                approval_id,
                trigger_id,
            },
            Some(_),
        ) => chat::reason_prompt(p, &event, approval_id, trigger_id).await?,
        (EventKind::BatchClick { approve, batch_id }, Some(_)) => {
            chat::batch_click(p, &event, *approve, batch_id).await?
        }
        (EventKind::Command | EventKind::Mention, Some(_)) => {
            converse(p, &event, &event.text).await?
        }
        (EventKind::Message, Some(_)) => match prefixed(settings.prefix.as_deref(), &event.text) {
            Some(rest) => converse(p, &event, rest).await?,
            None => dispatch(p, row, &event, source).await?,
        },
    };
    record(p, row, source, outcome).await
}

fn prefixed<'a>(prefix: Option<&str>, text: &'a str) -> Option<&'a str> {
    let prefix = prefix.filter(|p| !p.is_empty())?;
    text.trim_start().strip_prefix(prefix).map(str::trim)
}

async fn record<P: WebhookPorts>(
    p: &P,
    row: &EventRow,
    source: Option<&Source>,
    o: Outcome,
) -> Result<Next, ApiError> {
    let now = p.now_ms();
    let tries = row.tries + i64::from(o.attempt.is_some());
    let (status, next_in, error) = match o.retry {
        None => (o.status, None, o.error),
        Some(after) => {
            let attempt = u32::try_from(tries.max(1)).unwrap_or(u32::MAX);
            match retry_after(&p.settings().schedule_secs, attempt, unit(p)?, after) {
                Some(secs) => (EventStatus::Queued, Some(secs), o.error),
                None => (EventStatus::Dead, None, o.error),
            }
        }
    };
    let held = o.held_by.is_some();
    let settled = Settled {
        status,
        tries,
        next_at_ms: after(now, next_in),
        decision_json: o.decision.map(|d| d.to_string()),
        result_json: o.result.map(|r| r.to_string()),
        error,
        held_by: o.held_by,
    };
    let platform = agency_webhook::Platform::from_name(&row.platform);
    if store::settle(p.db(), &row.id, o.attempt.as_ref(), &settled, now).await?
        && let Some(source) = source
        && !o.calls.is_empty()
    {
        queue_calls(p, Some(&row.id), source, o.calls).await?;
    }
    if let Some(platform) = platform {
        match status {
            EventStatus::Queued => p.count(Count::Retried, platform),
            EventStatus::Dead => p.count(Count::DeadLettered, platform),
            EventStatus::Held => p.count(Count::Held, platform),
            EventStatus::Failed => p.count(Count::Failed, platform),
            _ => {}
        }
    }
    if matches!(status, EventStatus::Failed | EventStatus::Dead) {
        p.warn(&format!(
            "webhook event {} is {}: {}",
            row.id,
            status.as_str(),
            settled.error.as_deref().unwrap_or("no error recorded")
        ));
    }
    if held {
        note_held(p).await;
    }
    Ok(match next_in {
        Some(secs) => Next::RetryIn(secs),
        None => Next::Settled,
    })
}

/// `secs` after `now_ms` (now when there is no wait).
fn after(now_ms: i64, secs: Option<u64>) -> i64 {
    secs.map_or(now_ms, |s| now_ms.saturating_add(s as i64 * 1000))
}

/// A peer's answer that is worth another try (it or its storage is down).
pub(crate) fn transient(status: u16) -> bool {
    status >= 500 || status == 429
}

/// The body of a peer's 200, or what the step comes to otherwise: another try when
/// the peer is down (or, with `waits_on_404`, has nothing to answer with yet), failed
/// for any other answer.
fn success(who: &str, status: u16, body: Value, waits_on_404: bool) -> Result<Value, Box<Outcome>> {
    let why = || {
        format!(
            "{who} answered {status}: {}",
            agency_kit::http::error_message(&body)
        )
    };
    if transient(status) || (waits_on_404 && status == 404) {
        return Err(Box::new(Outcome::retry(why(), None)));
    }
    if status != 200 {
        return Err(Box::new(Outcome::failed(why())));
    }
    Ok(body)
}

/// A peer's 200 answer read as the type its service answers with; what the step comes
/// to otherwise ([`success`]), and failed when the answer does not parse.
fn answer<T: serde::de::DeserializeOwned>(
    who: &str,
    status: u16,
    body: Value,
    waits_on_404: bool,
) -> Result<T, Box<Outcome>> {
    let body = success(who, status, body, waits_on_404)?;
    serde_json::from_value(body).map_err(|e| {
        Box::new(Outcome::failed(format!(
            "{who}'s answer does not parse: {e}"
        )))
    })
}

/// One piece of work, as a queue message carries it (`{"event": id}`, `{"call": id}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Work {
    Event(String),
    Call(String),
}

/// Does `work` now (the edge's queue consumer): leases the row, runs its step. A row
/// another consumer holds is tried again once its lease runs out; a finished one is
/// acknowledged.
pub async fn work<P: WebhookPorts>(p: &P, work: &Work) -> Result<Next, ApiError> {
    let now = p.now_ms();
    let until = now + LEASE_MS;
    let wait =
        |held_until: i64| Next::RetryIn(((held_until - now).max(0) as u64).div_ceil(1000).max(1));
    match work {
        Work::Event(id) => match store::lease_event(p.db(), id, now, until).await? {
            store::Lease::Leased(row) => event(p, &row).await,
            store::Lease::Busy(t) => Ok(wait(t)),
            store::Lease::Gone => Ok(Next::Settled),
        },
        Work::Call(id) => match store::lease_call(p.db(), id, now, until).await? {
            store::Lease::Leased(row) => call(p, &row).await,
            store::Lease::Busy(t) => Ok(wait(t)),
            store::Lease::Gone => Ok(Next::Settled),
        },
    }
}
