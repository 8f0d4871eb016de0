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

use agency_approval::{HaltView, Work as HaltWork, covering};
use agency_kit::{ApiError, Db, PortError};
use agency_webhook::limits::retry_after;
use agency_webhook::{EventKind, InboundEvent};
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::control;
use crate::outbound::{self, Answered, Call, OutRequest};
use crate::settings::Source;
use crate::store::{self, Attempt, EventRow, EventStatus, OutboxRow, Settled};
use crate::{Count, Wake, WebhookPorts};

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
                approve,
                approval_id,
            },
            Some(_),
        ) => click(p, &event, *approve, approval_id).await?,
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
    let why = || format!("{who} answered {status}: {}", error_message(&body));
    if transient(status) || (waits_on_404 && status == 404) {
        return Err(Box::new(Outcome::retry(why(), None)));
    }
    if status != 200 {
        return Err(Box::new(Outcome::failed(why())));
    }
    Ok(body)
}

pub(crate) fn error_message(body: &Value) -> String {
    body.pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .to_owned()
}

async fn click<P: WebhookPorts>(
    p: &P,
    e: &InboundEvent,
    approve: bool,
    approval_id: &str,
) -> Result<Outcome, ApiError> {
    let user = e.user.as_deref().unwrap_or("");
    let Some(name) = p.settings().approver(e.platform, user) else {
        return Ok(Outcome::done(
            json!({ "action": "click", "outcome": "notAllowed", "approvalId": approval_id }),
            vec![Call::Private {
                to: e.reply_to.clone(),
                user: e.user.clone(),
                text: "You are not an approver: this decision was not recorded.".into(),
            }],
        ));
    };
    let verdict = if approve { "approve" } else { "deny" };
    let (status, body) = p
        .peer(
            Method::POST,
            &format!("/api/approvals/{approval_id}/decision"),
            &json!({
                "decision": verdict,
                "by": name,
                "comment": format!("from {}", e.platform.as_str()),
            }),
        )
        .await?;
    if transient(status) {
        return Ok(Outcome::retry(
            format!("assistant answered {status}: {}", error_message(&body)),
            None,
        ));
    }
    if status != 200 {
        let text = format!("Not recorded: {}", error_message(&body));
        return Ok(Outcome::done(
            json!({ "action": "click", "outcome": "refused", "approvalId": approval_id, "status": status, "answer": body }),
            vec![Call::Private {
                to: e.reply_to.clone(),
                user: e.user.clone(),
                text,
            }],
        ));
    }
    // The card shows this outcome now: the sweep need not edit it again.
    store::card_decided(p.db(), approval_id).await?;
    let shown = body
        .get("decision")
        .and_then(Value::as_str)
        .unwrap_or(verdict);
    let text = format!("Approval {approval_id}: {shown} by {name}");
    let mut calls = vec![Call::Decided {
        to: e.reply_to.clone(),
        text: text.clone(),
    }];
    if matches!(
        e.reply_to,
        agency_webhook::ReplyTo::Telegram {
            callback_query_id: Some(_),
            ..
        }
    ) {
        // Telegram shows a spinner on the button until the click is answered.
        calls.push(Call::Private {
            to: e.reply_to.clone(),
            user: e.user.clone(),
            text: shown.to_owned(),
        });
    }
    Ok(Outcome::done(
        json!({ "action": "click", "outcome": "decided", "approvalId": approval_id, "by": name, "approval": body }),
        calls,
    ))
}

async fn converse<P: WebhookPorts>(
    p: &P,
    e: &InboundEvent,
    text: &str,
) -> Result<Outcome, ApiError> {
    let user = e.user.as_deref().unwrap_or("");
    if p.settings().approver(e.platform, user).is_none() {
        return Ok(Outcome::done(
            json!({ "action": "chat", "outcome": "notAllowed" }),
            vec![Call::Private {
                to: e.reply_to.clone(),
                user: e.user.clone(),
                text: "Only approvers may talk to the Agency assistant.".into(),
            }],
        ));
    }
    let message = if text.trim().is_empty() {
        "help"
    } else {
        text.trim()
    };
    let (status, body) = p
        .peer(
            Method::POST,
            "/api/chat",
            &json!({ "sessionId": session_of(e), "message": message }),
        )
        .await?;
    let body = match success("assistant", status, body, false) {
        Ok(b) => b,
        Err(o) => return Ok(*o),
    };
    let reply = body
        .get("reply")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Ok(Outcome::done(
        json!({ "action": "chat", "outcome": "replied", "reply": reply }),
        vec![Call::Reply {
            to: e.reply_to.clone(),
            text: reply,
        }],
    ))
}

/// What dispatch reads of a routing decision.
#[derive(Debug, Default, Deserialize)]
struct Picked {
    agent: Option<String>,
    #[serde(default)]
    reason: String,
}

/// `GET /api/halt`'s answer.
#[derive(Debug, Deserialize)]
struct HaltsInForce {
    halts: Vec<HaltView>,
}

/// The halts in force, as the assistant's ledger keeps them; what the step comes to
/// when they cannot be read (another try: nothing is sent unchecked).
pub(crate) async fn halts<P: WebhookPorts>(p: &P) -> Result<Vec<HaltView>, Box<Outcome>> {
    let (status, body) = p
        .peer(Method::GET, "/api/halt", &Value::Null)
        .await
        .map_err(|e| Box::new(Outcome::retry(format!("assistant: {}", e.message), None)))?;
    let body = success("assistant", status, body, false)?;
    serde_json::from_value::<HaltsInForce>(body)
        .map(|h| h.halts)
        .map_err(|e| {
            Box::new(Outcome::retry(
                format!("the assistant's halts do not parse: {e}"),
                None,
            ))
        })
}

/// Sets the held-events gauge to what is held now (best effort: a failed count is
/// logged by the next one).
pub async fn note_held<P: WebhookPorts>(p: &P) {
    if let Ok(n) = store::held_total(p.db()).await {
        p.sample(&mut |r| {
            let _ = r.set(agency_monitor::metrics::WEBHOOK_HELD, &[], n as f64);
        });
    }
}

/// The body the gateway gets for a routed event.
pub fn task_body(row_id: &str, e: &InboundEvent, decision: &Value) -> Value {
    json!({
        "taskId": row_id,
        "event": e,
        "decision": decision,
        "replyTo": outbound::Address::of(e),
    })
}

async fn dispatch<P: WebhookPorts>(
    p: &P,
    row: &EventRow,
    e: &InboundEvent,
    source: Option<&Source>,
) -> Result<Outcome, ApiError> {
    let Some(gateway) = p.settings().gateway.clone() else {
        // A dead letter: replayed once a gateway is configured.
        return Ok(dead("dispatch", NO_GATEWAY));
    };
    let channel = source.map_or(e.platform.as_str(), |s| s.channel.as_str());
    let mut routed = None;
    let decision: Value = match &row.decision_json {
        Some(d) => match serde_json::from_str(d) {
            Ok(d) => d,
            Err(e) => {
                return Ok(Outcome::failed(format!(
                    "the stored routing decision does not parse: {e}"
                )));
            }
        },
        None => {
            let (status, body) = p
                .peer(
                    Method::POST,
                    "/api/route",
                    &json!({ "message": e.text, "channel": channel }),
                )
                .await?;
            // 404: no graph yet; the event waits for one.
            let body = match success("router", status, body, true) {
                Ok(b) => b,
                Err(o) => return Ok(*o),
            };
            routed = Some(body.clone());
            body
        }
    };
    // The ledger's own halts, read before anything is sent: the router's copy may be
    // a few seconds old.
    let picked: Picked = serde_json::from_value(decision.clone()).unwrap_or_default();
    let halts = match halts(p).await {
        Ok(h) => h,
        Err(o) => return Ok(*o),
    };
    let work = HaltWork {
        agent: picked.agent.as_deref(),
        channel: Some(channel),
        task: None,
    };
    if let Some(h) = covering(&halts, &work, HaltView::what) {
        return Ok(Outcome::held(h));
    }
    if picked.reason == "halted" {
        // Routed under a halt the ledger no longer has: route again shortly.
        return Ok(Outcome::retry(
            "routed while a halt was in force that has since been lifted",
            Some(1),
        ));
    }
    let body = task_body(&row.id, e, &decision).to_string().into_bytes();
    let (mut o, took) = post_signed(p, &gateway, "tasks", &row.id, body, "dispatch").await;
    p.sample(&mut |r| {
        let _ = r.observe(
            agency_monitor::metrics::DISPATCH_DURATION,
            &[e.platform.as_str()],
            took / 1000.0,
        );
    });
    if o.status == EventStatus::Done {
        p.count(Count::Dispatched, e.platform);
    }
    o.decision = routed;
    Ok(o)
}

/// POSTs `body` to the gateway's `path`, signed as Standard Webhooks under the id `id`
/// (also its `Idempotency-Key`), and says what came of it (`action` names it in the
/// result) and how long the gateway took, in milliseconds: done on a 2xx, failed on
/// 410 Gone, another try otherwise (never before the gateway's `Retry-After`).
pub(crate) async fn post_signed<P: WebhookPorts>(
    p: &P,
    gateway: &crate::settings::Gateway,
    path: &str,
    id: &str,
    body: Vec<u8>,
    action: &str,
) -> (Outcome, f64) {
    let now = p.now_ms();
    let ts = now.div_euclid(1000);
    let request = OutRequest {
        method: Method::POST,
        url: format!("{}/{path}", gateway.url.trim_end_matches('/')),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), id.to_owned()),
            ("webhook-timestamp".into(), ts.to_string()),
            (
                "webhook-signature".into(),
                gateway.secret.sign(id, ts, &body),
            ),
            ("idempotency-key".into(), id.to_owned()),
        ],
        body,
        timeout_ms: gateway.timeout_ms,
    };
    let started = p.precise_ms();
    let answer = p.send(request).await;
    let took = (p.precise_ms() - started).max(0.0);
    let attempt = |status: Option<u16>, error: Option<String>| Attempt {
        at_ms: now,
        ms: took.round() as i64,
        status,
        error,
    };
    let mut o = match answer {
        Err(why) => Outcome {
            attempt: Some(attempt(None, Some(why.clone()))),
            ..Outcome::retry(format!("gateway: {why}"), None)
        },
        Ok(r) if (200..300).contains(&r.status) => Outcome {
            attempt: Some(attempt(Some(r.status), None)),
            ..Outcome::done(json!({ "action": action, "status": r.status }), Vec::new())
        },
        Ok(r) if r.status == 410 => Outcome {
            attempt: Some(attempt(Some(410), Some("gone".into()))),
            ..Outcome::failed("the gateway answered 410 Gone: not retried")
        },
        Ok(r) => {
            let why = format!("gateway answered {}", r.status);
            Outcome {
                attempt: Some(attempt(Some(r.status), Some(why.clone()))),
                ..Outcome::retry(why, r.retry_after_secs)
            }
        }
    };
    if o.status == EventStatus::Failed || o.retry.is_some() {
        o.result = Some(json!({ "action": action }));
    }
    (o, took)
}

/// A dead letter at once: nothing can be done until the configuration changes (then a
/// replay sends it).
pub(crate) fn dead(action: &str, why: &str) -> Outcome {
    Outcome {
        status: EventStatus::Dead,
        result: Some(json!({ "action": action })),
        ..Outcome::failed(why)
    }
}

/// Delivers the leased platform call `row` and records what came of it.
pub async fn call<P: WebhookPorts>(p: &P, row: &OutboxRow) -> Result<Next, ApiError> {
    let now = p.now_ms();
    let platform = agency_webhook::Platform::from_name(&row.platform);
    let settle = |status: &'static str,
                  next_in: Option<u64>,
                  last_status: Option<u16>,
                  error: Option<String>| async move {
        let s = store::CallSettled {
            status,
            tries: row.tries + 1,
            next_at_ms: after(now, next_in),
            last_status,
            error: error.as_deref(),
        };
        store::settle_outbox(p.db(), &row.id, &s, now).await
    };
    let source = platform.and_then(|pl| p.settings().source(pl, &row.source));
    let parsed: Result<Call, _> = serde_json::from_str(&row.call_json);
    let (Some(source), Ok(c)) = (source, parsed) else {
        settle(
            "dead",
            None,
            None,
            Some("source gone or call unreadable".into()),
        )
        .await?;
        return Ok(Next::Settled);
    };
    // A sealed capability is read back for this call only; it never reaches a row,
    // an error or a log.
    let (c, secret) = match unseal(p, c).await? {
        Ok(unsealed) => unsealed,
        Err(why) => {
            settle("dead", None, None, Some(why)).await?;
            return Ok(Next::Settled);
        }
    };
    let hide = |why: String| match &secret {
        Some(s) if !s.is_empty() => why.replace(s.as_str(), "(capability)"),
        _ => why,
    };
    let request = match outbound::request(&p.settings().api, source, &c) {
        Ok(r) => r,
        Err(e) => {
            settle("dead", None, None, Some(hide(e.to_string()))).await?;
            return Ok(Next::Settled);
        }
    };
    let (answered, posted) = match p.send(request).await {
        Err(why) => ((Answered::Retry(None, hide(why)), None), None),
        Ok(r) => (
            (outbound::answered(source.platform, &r), Some(r.status)),
            outbound::posted_message(source.platform, &r.body),
        ),
    };
    match answered {
        (Answered::Done, code) => {
            if let (Call::Card { approval_id, .. }, Some(m)) = (&c, posted) {
                store::card_posted(p.db(), approval_id, &m).await?;
            }
            settle("done", None, code, None).await?;
            Ok(Next::Settled)
        }
        (Answered::Refused(why), code) => {
            settle("dead", None, code, Some(hide(why))).await?;
            Ok(Next::Settled)
        }
        (Answered::Retry(after, why), code) => {
            let why = hide(why);
            let attempt = u32::try_from(row.tries + 1).unwrap_or(u32::MAX);
            match retry_after(OUTBOX_SCHEDULE_SECS, attempt, unit(p)?, after) {
                Some(secs) => {
                    settle("queued", Some(secs), code, Some(why)).await?;
                    Ok(Next::RetryIn(secs))
                }
                None => {
                    settle("dead", None, code, Some(why)).await?;
                    Ok(Next::Settled)
                }
            }
        }
    }
}

/// `call` with its sealed capability read back, and the capability (to keep out of
/// what is recorded); or why it cannot be made (a Discord follow-up whose interaction
/// token expired).
async fn unseal<P: WebhookPorts>(
    p: &P,
    mut call: Call,
) -> Result<Result<(Call, Option<String>), String>, ApiError> {
    let to = call.to_mut();
    let Some(reference) = to.sealed().map(str::to_owned) else {
        return Ok(Ok((call, None)));
    };
    let secret = store::capability(p.db(), &reference, p.now_ms()).await?;
    to.unseal(secret.clone());
    if secret.is_none() && call.needs_capability() {
        return Ok(Err(
            "the interaction's token expired before this call could be made".to_owned(),
        ));
    }
    Ok(Ok((call, secret)))
}

/// The consumer's periodic work, on a timer locally and on the cron at the edge (and at
/// once when the assistant says something changed): approval cards, the gateway told
/// of halts and resumes, held events whose halt was lifted released in order, expired
/// capabilities forgotten. Each part runs even when another fails; the first failure
/// is returned.
pub async fn sweep<P: WebhookPorts>(p: &P) -> Result<Swept, ApiError> {
    let cards = cards(p).await;
    let announced = control::announce(p).await;
    let released = release(p).await;
    let pruned = store::prune_capabilities(p.db(), p.now_ms()).await;
    note_held(p).await;
    Ok(Swept {
        cards: cards?,
        announced: announced?,
        released: released?,
        capabilities_forgotten: pruned?,
    })
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Swept {
    /// Approval cards posted or edited.
    pub cards: usize,
    /// Halt events queued for the gateway.
    pub announced: usize,
    /// Held events released for dispatch.
    pub released: usize,
    pub capabilities_forgotten: u64,
}

/// Releases the held events whose halt is no longer in force, in the order they came;
/// how many.
pub async fn release<P: WebhookPorts>(p: &P) -> Result<usize, ApiError> {
    let in_force = match halts(p).await {
        Ok(h) => h,
        Err(o) => {
            return Err(ApiError::from(PortError::Upstream(
                o.error.unwrap_or_default(),
            )));
        }
    };
    let keys: Vec<String> = in_force.iter().map(|h| h.what().key()).collect();
    let ids = store::release_held(p.db(), &keys, p.now_ms()).await?;
    if !ids.is_empty() {
        p.wake(Wake::Events(&ids)).await?;
        note_held(p).await;
    }
    Ok(ids.len())
}

/// How many asks and open cards one sweep looks at.
const SWEEP: u32 = 100;

/// The approval cards' sweep: an ask whose request names a `replyTo` gets a card with
/// Approve and Deny buttons there; a card whose approval was decided elsewhere (by API,
/// in chat, by expiry) is edited to show the outcome. Runs on a timer on both runtimes;
/// how many cards it posted or edited.
pub async fn cards<P: WebhookPorts>(p: &P) -> Result<usize, ApiError> {
    let mut n = 0;
    let (status, body) = p
        .peer(
            Method::GET,
            &format!("/api/approvals?status=pending&limit={SWEEP}"),
            &Value::Null,
        )
        .await?;
    if status == 200 {
        for a in body["approvals"].as_array().into_iter().flatten() {
            let (Some(id), Some(to)) = (a["approvalId"].as_str(), a.pointer("/request/replyTo"))
            else {
                continue;
            };
            let Ok(address) = serde_json::from_value::<outbound::Address>(to.clone()) else {
                continue;
            };
            let Some(source) = p.settings().source(address.platform(), &address.source) else {
                continue;
            };
            if store::has_card(p.db(), id).await? {
                continue;
            }
            let json =
                serde_json::to_string(&address).map_err(|e| ApiError::internal("internal", &e))?;
            let card = store::insert_card(
                id,
                address.platform().as_str(),
                &address.source,
                &json,
                p.now_ms(),
            );
            p.db().execute(&card.sql, &card.params).await?;
            let call = Call::Card {
                to: address.to,
                approval_id: id.to_owned(),
                text: card_text(a),
            };
            queue_calls(p, None, source, vec![call]).await?;
            n += 1;
        }
    }
    for card in store::open_cards(p.db(), SWEEP).await? {
        let (status, a) = p
            .peer(
                Method::GET,
                &format!("/api/approvals/{}", card.approval_id),
                &Value::Null,
            )
            .await?;
        if transient(status) {
            continue;
        }
        let decision = a["decision"].as_str().unwrap_or("");
        if status == 200 && decision == "pending" {
            continue;
        }
        if !store::card_decided(p.db(), &card.approval_id).await? {
            continue;
        }
        let (Ok(address), Some(message)) = (
            serde_json::from_str::<outbound::Address>(&card.address_json),
            card.message_ref,
        ) else {
            continue;
        };
        let Some(source) = p.settings().source(address.platform(), &address.source) else {
            continue;
        };
        let text = if status == 200 {
            outcome_text(&a)
        } else {
            format!("Approval {} no longer exists.", card.approval_id)
        };
        let call = Call::Edit {
            to: address.to,
            message,
            text,
        };
        queue_calls(p, None, source, vec![call]).await?;
        n += 1;
    }
    Ok(n)
}

fn usd(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "?".to_owned(), |x| format!("${x:.2}"))
}

/// What a card asks.
pub fn card_text(a: &Value) -> String {
    let s = |k: &str| a[k].as_str().unwrap_or("?").to_owned();
    let mut t = format!(
        "Approval #{} needed: {} wants to {}",
        a["number"],
        s("agent"),
        s("action")
    );
    if let Some(env) = a.pointer("/request/environment").and_then(Value::as_str) {
        t.push_str(&format!(" in {env}"));
    }
    t.push_str(&format!(" (estimated {}).", usd(&a["estimatedCostUsd"])));
    if let Some(d) = a.pointer("/request/description").and_then(Value::as_str)
        && !d.trim().is_empty()
    {
        t.push_str(&format!("\n{}", d.chars().take(500).collect::<String>()));
    }
    t.push_str(&format!("\nWhy asked: {}", s("reason")));
    t
}

/// What a decided card shows.
pub fn outcome_text(a: &Value) -> String {
    let decision = a["decision"].as_str().unwrap_or("decided");
    let mut t = format!(
        "Approval #{} ({} wants to {}): {decision}",
        a["number"],
        a["agent"].as_str().unwrap_or("?"),
        a["action"].as_str().unwrap_or("?")
    );
    if let Some(by) = a["decidedBy"].as_str() {
        t.push_str(&format!(" by {by}"));
    }
    t
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
