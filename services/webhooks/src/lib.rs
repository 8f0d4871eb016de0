//! The webhook service: `POST /slack/{workspaceId}`, `/telegram/{botId}`,
//! `/discord/{guildId}` (verify, parse, gate, durable enqueue, acknowledge), the
//! consumer's step for one event and one platform call ([`consume`]), and the events API
//! (`/api/events`, `/api/deadletters`, replays, `/api/replies`). Written once and run by
//! the local server and by the webhooks Worker; what a platform's payload means is the
//! webhook core's (`agency-webhook`).
//!
//! Never depends on a runtime crate (tokio, rusqlite, wasmtime, worker).
#![allow(async_fn_in_trait)]

pub mod config;
pub mod consume;
pub mod control;
#[cfg(feature = "openapi")]
mod doc;
pub mod gate;
pub mod outbound;
pub mod settings;
pub mod store;
pub mod views;

use agency_kit::http::{json, parse_limit, with_type};
use agency_kit::routes::Route;
use agency_kit::{Access, ApiError, ApiResult, BodyLimit, Clock, Db, PortError, Random, Request};
use agency_webhook::{Inbound, InboundEvent, Origin, Platform, verify};
use http::{HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

#[cfg(feature = "openapi")]
pub use doc::outgoing;
pub use gate::{Admission, Entry};
pub use settings::Settings;
pub use store::MIGRATIONS;

use outbound::Call;
use settings::{Source, Verifier};
use store::NewEvent;

/// What the webhook service counts (`agency_webhook_events_total`'s outcomes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Accepted,
    Duplicate,
    Rejected,
    RateLimited,
    Ignored,
    Retried,
    DeadLettered,
    Dispatched,
    Held,
    Failed,
}

impl Count {
    /// Its `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Count::Accepted => "accepted",
            Count::Duplicate => "duplicate",
            Count::Rejected => "rejected",
            Count::RateLimited => "rate_limited",
            Count::Ignored => "ignored",
            Count::Retried => "retried",
            Count::DeadLettered => "dead_lettered",
            Count::Dispatched => "dispatched",
            Count::Held => "held",
            Count::Failed => "failed",
        }
    }
}

/// What the webhook service needs from its runtime.
pub trait WebhookPorts:
    Clock + Random + agency_kit::Metrics + agency_kit::Outbound + agency_kit::Peers
{
    type Db: Db;
    /// Where events, attempts and the outbox are stored.
    fn db(&self) -> &Self::Db;
    fn settings(&self) -> &Settings;
    /// Atomically for the source: the gate ([`gate::Gate::admit`]) and, when it accepts,
    /// `event` durably queued. Locally one SQLite transaction; at the edge the source's
    /// Durable Object, then the Queue and D1 (the keys forgotten if those fail).
    async fn enqueue(&self, entry: &Entry, event: &NewEvent) -> Result<Admission, ApiError>;
    /// Events queued again (replays) or platform calls queued: look at them now (the
    /// local consumer is woken; at the edge they are sent to the Queue).
    async fn wake(&self, what: Wake<'_>) -> Result<(), ApiError>;
    /// Logs what an operator should know (an event that failed, a dead letter).
    fn warn(&self, message: &str);
    /// Counts `what` for `platform` in the runtime's metrics.
    fn count(&self, what: Count, platform: Platform) {
        self.sample(&mut |r| {
            let _ = r.inc(
                agency_monitor::metrics::WEBHOOK_EVENTS,
                &[platform.as_str(), what.label()],
            );
        });
    }
}

/// What was queued, for [`WebhookPorts::wake`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake<'a> {
    /// Events (by id) to process.
    Events(&'a [String]),
    /// Outbox calls (by id) to deliver.
    Calls(&'a [String]),
}

/// The endpoints of the webhook service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Slack,
    Telegram,
    Discord,
    Events,
    Held,
    Event,
    Drop,
    DeadLetters,
    Replay,
    ReplayAll,
    Replies,
    Sweep,
}

/// Whether `queue`, as the Queue names it to its consumer, is the dead-letter queue the
/// declaration names: as declared (`agency-webhook-dead`), or deployed with an
/// environment (`agency-webhook-dead-production`).
pub fn is_dead_letter_queue(queue: &str) -> bool {
    SERVICE
        .edge
        .queues
        .iter()
        .filter_map(|q| q.dead_letter)
        .any(|dead| {
            queue == dead
                || queue
                    .strip_prefix(dead)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|env| !env.is_empty())
        })
}

/// The webhook service, declared once.
pub static SERVICE: agency_kit::Service = agency_kit::Service {
    part: agency_kit::Part::Webhooks,
    summary: "One entry for Slack, Telegram and Discord webhooks; the durable queue, dispatch to the gateway, cards and replies",
    routes: || agency_kit::service::listed(ROUTES),
    migrations: MIGRATIONS,
    retained: store::RETAINED,
    edge: agency_kit::EdgeNeeds {
        database: true,
        kv: &[],
        objects: &[agency_kit::service::DurableObject {
            binding: "GATE",
            class: "Gate",
        }],
        queues: &[agency_kit::service::Queue {
            binding: "WORK",
            name: "agency-webhook-work",
            dead_letter: Some("agency-webhook-dead"),
        }],
        crons: &["* * * * *"],
        archive: true,
        calls: &[agency_kit::Part::Router, agency_kit::Part::Assistant],
        // The secrets AGENCY_WEBHOOKS names (signing secrets, bot tokens, the gateway's
        // secret) come from the configuration.
        vars: &["AGENCY_WEBHOOKS"],
        secrets: agency_kit::service::ROLE_TOKENS,
    },
};

pub static ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: Method::POST,
        path: "/slack/{workspaceId}",
        access: Access::Public,
        body: BodyLimit::Message,
        endpoint: Endpoint::Slack,
        summary: "Slack's Events API, slash commands and interactivity for a workspace",
    },
    Route {
        method: Method::POST,
        path: "/telegram/{botId}",
        access: Access::Public,
        body: BodyLimit::Message,
        endpoint: Endpoint::Telegram,
        summary: "A Telegram bot's webhook updates",
    },
    Route {
        method: Method::POST,
        path: "/discord/{guildId}",
        access: Access::Public,
        body: BodyLimit::Message,
        endpoint: Endpoint::Discord,
        summary: "A Discord application's interactions endpoint",
    },
    Route {
        method: Method::GET,
        path: "/api/events",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Events,
        summary: "Inbound events, newest first",
    },
    Route {
        method: Method::GET,
        path: "/api/events/held",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Held,
        summary: "How many events each halt holds",
    },
    Route {
        method: Method::GET,
        path: "/api/events/{id}",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Event,
        summary: "One event with its attempts and what went back to the chat",
    },
    Route {
        method: Method::POST,
        path: "/api/events/{id}/drop",
        access: Access::Write,
        body: BodyLimit::None,
        endpoint: Endpoint::Drop,
        summary: "Drop a held event: it is never dispatched",
    },
    Route {
        method: Method::GET,
        path: "/api/deadletters",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::DeadLetters,
        summary: "Events whose dispatch ran out of retries, newest first",
    },
    Route {
        method: Method::POST,
        path: "/api/deadletters/{id}/replay",
        access: Access::Write,
        body: BodyLimit::None,
        endpoint: Endpoint::Replay,
        summary: "Queue a dead letter again, under the same event id",
    },
    Route {
        method: Method::POST,
        path: "/api/deadletters/replay",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::ReplayAll,
        summary: "Queue every dead letter again (or a source's)",
    },
    Route {
        method: Method::POST,
        path: "/api/replies",
        access: Access::Route,
        body: BodyLimit::Message,
        endpoint: Endpoint::Replies,
        summary: "Deliver an agent's answer to the chat or thread a task came from",
    },
    Route {
        method: Method::POST,
        path: "/internal/sweep",
        access: Access::Write,
        body: BodyLimit::None,
        endpoint: Endpoint::Sweep,
        summary: "Sweep now: approval cards, halt events for the gateway, held events whose halt was lifted (the assistant calls it when an ask, a decision, a halt or a resume changes one)",
    },
];

/// Answers `req` at `endpoint` (the runtime found the route and checked the token).
pub async fn call<P: WebhookPorts>(p: &P, endpoint: Endpoint, req: &Request) -> ApiResult {
    match endpoint {
        Endpoint::Slack => inbound(p, Platform::Slack, req).await,
        Endpoint::Telegram => inbound(p, Platform::Telegram, req).await,
        Endpoint::Discord => inbound(p, Platform::Discord, req).await,
        Endpoint::Events => list(p, req, None).await,
        Endpoint::Held => held(p).await,
        Endpoint::Event => one(p, req).await,
        Endpoint::Drop => drop_held(p, req).await,
        Endpoint::DeadLetters => list(p, req, Some("dead")).await,
        Endpoint::Replay => replay(p, req).await,
        Endpoint::ReplayAll => replay_all(p, req).await,
        Endpoint::Replies => replies(p, req).await,
        Endpoint::Sweep => Ok(json(StatusCode::OK, &consume::sweep(p).await?)),
    }
}

/// This service's part of `/health`: event counts by status.
pub async fn health<P: WebhookPorts>(p: &P) -> (bool, Value) {
    match store::counts(p.db()).await {
        Ok(counts) => {
            let by: serde_json::Map<String, Value> =
                counts.into_iter().map(|c| (c.status, json!(c.n))).collect();
            (
                true,
                json!({ "status": "ok", "sources": p.settings().sources.len(), "events": by }),
            )
        }
        Err(_) => (false, json!({ "status": "degraded" })),
    }
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Is this request from the platform? Nothing of the secret is in the answer or log.
fn verified(source: &Source, req: &Request, now_ms: i64) -> Result<(), verify::Rejection> {
    let h = |name: &'static str| req.headers.get(name).and_then(|v| v.to_str().ok());
    match &source.verifier {
        Verifier::Slack(secret) => verify::slack(
            secret,
            h("x-slack-request-timestamp"),
            h("x-slack-signature"),
            &req.body,
            now_ms.div_euclid(1000),
        ),
        Verifier::Telegram(secret) => {
            verify::telegram(secret, h("x-telegram-bot-api-secret-token"))
        }
        Verifier::Discord(key) => verify::discord(
            key,
            h("x-signature-ed25519"),
            h("x-signature-timestamp"),
            &req.body,
        ),
    }
}

async fn inbound<P: WebhookPorts>(p: &P, platform: Platform, req: &Request) -> ApiResult {
    let id = req.param(0, "source id")?;
    let now = p.now_ms();
    let Some(source) = p.settings().source(platform, &id) else {
        p.count(Count::Rejected, platform);
        return Err(unauthorized(format!(
            "no {} source {id:?} is configured",
            platform.as_str()
        )));
    };
    if let Err(why) = verified(source, req, now) {
        p.count(Count::Rejected, platform);
        return Err(unauthorized(format!("request verification failed: {why}")));
    }
    let origin = Origin {
        source: &source.id,
        received_at_ms: now,
    };
    let parsed = match platform {
        Platform::Slack => {
            agency_webhook::slack::parse(origin, req.header(header::CONTENT_TYPE), &req.body)
        }
        Platform::Telegram => {
            agency_webhook::telegram::parse(origin, source.bot_username.as_deref(), &req.body)
        }
        Platform::Discord => agency_webhook::discord::parse(origin, &req.body),
    }
    .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_payload", e.to_string()))?;
    match parsed {
        Inbound::Handshake(reply) => Ok(reply_of(reply)),
        Inbound::Ignored { ack, .. } => {
            p.count(Count::Ignored, platform);
            Ok(reply_of(ack))
        }
        Inbound::Event { mut event, ack } => {
            let event_id = p.id::<10>("evt_")?;
            // The capability stays here; the event (and whoever reads it) gets a
            // reference.
            let sealed = match event.reply_to.capability() {
                Some(_) => {
                    let reference = p.id::<16>(agency_webhook::capability::PREFIX)?;
                    event
                        .reply_to
                        .seal(&reference)
                        .map(|secret| (reference, secret))
                }
                None => None,
            };
            let entry = Entry {
                source: source.key(),
                keys: event.dedup_keys.clone(),
                event_id: event_id.clone(),
                rate: p.settings().rate_of(source),
                ttl_ms: p.settings().dedup_ttl_ms,
                now_ms: now,
            };
            let new = NewEvent {
                id: event_id,
                platform: platform.as_str().to_owned(),
                source: source.id.clone(),
                platform_event_id: event.event_id.clone(),
                kind: kind_name(&event).to_owned(),
                event_json: serde_json::to_string(&*event)
                    .map_err(|e| ApiError::internal("internal", &e))?,
                received_ms: now,
                sealed,
            };
            match p.enqueue(&entry, &new).await? {
                Admission::Accepted => {
                    p.count(Count::Accepted, platform);
                    Ok(reply_of(ack))
                }
                Admission::Duplicate { .. } => {
                    p.count(Count::Duplicate, platform);
                    Ok(reply_of(ack))
                }
                Admission::Limited { retry_after_secs } => {
                    p.count(Count::RateLimited, platform);
                    let mut r = ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        format!(
                            "source {} is over its rate; retry in {retry_after_secs} s",
                            source.key()
                        ),
                    )
                    .into_response();
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                    Ok(r)
                }
            }
        }
    }
}

/// The stored name of an event's kind.
pub fn kind_name(e: &InboundEvent) -> &'static str {
    match e.kind {
        agency_webhook::EventKind::Message => "message",
        agency_webhook::EventKind::Mention => "mention",
        agency_webhook::EventKind::Command => "command",
        agency_webhook::EventKind::Click { .. } => "click",
        agency_webhook::EventKind::ReasonPrompt { .. } => "reasonPrompt",
        agency_webhook::EventKind::BatchClick { .. } => "batchClick",
    }
}

fn reply_of(r: agency_webhook::Reply) -> agency_kit::Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    with_type(status, r.body, r.content_type)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    status: Option<String>,
    source: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

async fn list<P: WebhookPorts>(p: &P, req: &Request, only: Option<&str>) -> ApiResult {
    let q: EventsQuery = req.query()?;
    if let Some(s) = &q.status
        && store::EventStatus::parse(s).is_none()
    {
        let all: Vec<&str> = store::EventStatus::ALL.iter().map(|s| s.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "status must be one of {}",
            all.join(", ")
        )));
    }
    if only.is_some() && q.status.is_some() {
        return Err(ApiError::bad_request(
            "dead letters have status dead: no status filter here",
        ));
    }
    let limit = parse_limit(q.limit.as_deref(), 50, 1000)?;
    if let Some(b) = &q.before
        && store::event(p.db(), b).await?.is_none()
    {
        return Err(ApiError::not_found(format!("no event {b:?} (before)")));
    }
    let rows = store::events(
        p.db(),
        &store::EventFilter {
            status: only.map(str::to_owned).or(q.status),
            source: q.source,
            before: q.before,
            limit,
        },
    )
    .await?;
    let events: Vec<views::EventView> = rows.iter().map(views::EventView::of).collect();
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.id.clone()))
        .flatten();
    Ok(json(
        StatusCode::OK,
        &views::Events {
            events,
            next_before: next,
        },
    ))
}

async fn one<P: WebhookPorts>(p: &P, req: &Request) -> ApiResult {
    let id = req.param(0, "event id")?;
    let row = store::event(p.db(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
    let attempts = store::attempts(p.db(), &id).await?;
    let sent = store::sent_for(p.db(), &id).await?;
    Ok(json(
        StatusCode::OK,
        &views::EventDetail::of(&row, &attempts, &sent),
    ))
}

async fn held<P: WebhookPorts>(p: &P) -> ApiResult {
    let held = store::held(p.db())
        .await?
        .into_iter()
        .map(|h| {
            let what = agency_approval::HaltTarget::from_key(&h.held_by).ok_or_else(|| {
                PortError::Decode(format!("held by an unknown halt {:?}", h.held_by))
            })?;
            Ok(agency_approval::HeldWork {
                scope: what.scope(),
                target: (what != agency_approval::HaltTarget::All)
                    .then(|| what.target().to_owned()),
                events: u64::try_from(h.n).unwrap_or(0),
                oldest: agency_kit::ports::rfc3339(h.oldest_ms),
            })
        })
        .collect::<Result<Vec<_>, PortError>>()?;
    Ok(json(StatusCode::OK, &agency_approval::Held { held }))
}

async fn drop_held<P: WebhookPorts>(p: &P, req: &Request) -> ApiResult {
    let id = req.param(0, "event id")?;
    if !store::drop_held(p.db(), &id, "operator", p.now_ms()).await? {
        return match store::event(p.db(), &id).await? {
            None => Err(ApiError::not_found(format!("no event {id:?}"))),
            Some(e) => Err(ApiError::conflict(format!(
                "event {id} is {}, not held",
                e.status
            ))),
        };
    }
    consume::note_held(p).await;
    let row = store::event(p.db(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id:?}")))?;
    Ok(json(StatusCode::OK, &views::EventView::of(&row)))
}

async fn replay<P: WebhookPorts>(p: &P, req: &Request) -> ApiResult {
    let id = req.param(0, "event id")?;
    if !store::replay(p.db(), &id, p.now_ms()).await? {
        return match store::event(p.db(), &id).await? {
            None => Err(ApiError::not_found(format!("no event {id:?}"))),
            Some(e) => Err(ApiError::conflict(format!(
                "event {id} is {}, not a dead letter",
                e.status
            ))),
        };
    }
    p.wake(Wake::Events(std::slice::from_ref(&id))).await?;
    Ok(json(
        StatusCode::OK,
        &views::Replayed { replayed: vec![id] },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
/// `{source?}` for `POST /api/deadletters/replay`: every dead letter (`{}`), or one
/// source's.
pub struct ReplayBody {
    /// The workspace, bot or guild id.
    #[serde(default)]
    pub source: Option<String>,
}

async fn replay_all<P: WebhookPorts>(p: &P, req: &Request) -> ApiResult {
    let body: ReplayBody = req.json()?;
    let ids = store::replay_all(p.db(), body.source.as_deref(), p.now_ms()).await?;
    p.wake(Wake::Events(&ids)).await?;
    Ok(json(StatusCode::OK, &views::Replayed { replayed: ids }))
}

/// `{replyTo, text}` for `POST /api/replies`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ReplyBody {
    /// As dispatch gave it to the gateway (the task's `replyTo`).
    pub reply_to: outbound::Address,
    /// The answer, 1 to 4,000 characters, not blank.
    #[cfg_attr(feature = "openapi", schemars(with = "doc::ReplyText"))]
    pub text: String,
}

/// The request's `Idempotency-Key`, if it has one: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(key) = req.header(http::header::HeaderName::from_static("idempotency-key")) else {
        return Ok(None);
    };
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// Longest reply delivered, in characters (Telegram's message limit is 4,096).
pub const MAX_REPLY_CHARS: usize = 4000;

async fn replies<P: WebhookPorts>(p: &P, req: &Request) -> ApiResult {
    let body: ReplyBody = req.json()?;
    let chars = body.text.chars().count();
    if body.text.trim().is_empty() || chars > MAX_REPLY_CHARS {
        // (The API document states the same bound: `doc::ReplyText`.)
        return Err(ApiError::bad_request(format!(
            "text must be 1 to {MAX_REPLY_CHARS} characters, not blank"
        )));
    }
    let platform = body.reply_to.platform();
    let Some(source) = p.settings().source(platform, &body.reply_to.source) else {
        return Err(ApiError::unprocessable(
            "unknown_source",
            format!(
                "no {} source {:?} is configured",
                platform.as_str(),
                body.reply_to.source
            ),
        ));
    };
    let call = Call::Reply {
        to: body.reply_to.to,
        text: body.text,
    };
    // A call that could never be made is refused now, not dead-lettered later.
    outbound::request(&p.settings().api, source, &call)
        .map_err(|e| ApiError::unprocessable("unsendable", e.to_string()))?;
    if let Some(key) = idempotency_key(req)? {
        // The same key within 24 hours answers the first reply and posts nothing again.
        let call_json =
            serde_json::to_string(&call).map_err(|e| ApiError::internal("internal", &e))?;
        let ours = p.id::<10>("out_")?;
        let (reply_id, first) = store::queue_reply_once(
            p.db(),
            &key,
            (source.platform.as_str(), &source.id),
            &ours,
            &call_json,
            p.now_ms(),
        )
        .await?;
        if first != call_json {
            return Err(ApiError::conflict(format!(
                "Idempotency-Key {key:?} was used within 24 hours for another reply ({reply_id})"
            )));
        }
        if reply_id == ours {
            p.wake(Wake::Calls(std::slice::from_ref(&ours))).await?;
        }
        return Ok(json(
            StatusCode::ACCEPTED,
            &views::ReplyQueued {
                reply_id,
                status: "queued",
            },
        ));
    }
    let reply_id = consume::queue_calls(p, None, source, vec![call])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("internal", &"the reply was not queued"))?;
    Ok(json(
        StatusCode::ACCEPTED,
        &views::ReplyQueued {
            reply_id,
            status: "queued",
        },
    ))
}

#[cfg(test)]
mod dead_letter_tests {
    use super::is_dead_letter_queue;

    #[test]
    fn the_dead_letter_queue_is_known_under_any_environment() {
        assert!(is_dead_letter_queue("agency-webhook-dead"));
        assert!(is_dead_letter_queue("agency-webhook-dead-production"));
        assert!(is_dead_letter_queue("agency-webhook-dead-ci"));
        assert!(!is_dead_letter_queue("agency-webhook-work-production"));
        assert!(!is_dead_letter_queue("agency-webhook-dead-"));
        assert!(!is_dead_letter_queue("agency-webhook-deadline"));
    }
}
