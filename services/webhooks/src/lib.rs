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
mod events;
pub mod gate;
mod intake;
pub mod outbound;
mod replies;
pub mod settings;
pub mod store;
pub mod views;

use agency_kit::http::json;
use agency_kit::routes::Route;
use agency_kit::{Access, ApiError, ApiResult, BodyLimit, Clock, Db, Random, Request};
use agency_webhook::Platform;
use http::{Method, StatusCode};
use serde_json::{Value, json};

#[cfg(feature = "openapi")]
pub use doc::outgoing;
pub use events::ReplayBody;
pub use gate::{Admission, Entry};
pub use intake::kind_name;
pub use replies::{MAX_REPLY_CHARS, ReplyBody};
pub use settings::Settings;
pub use store::MIGRATIONS;

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
        Endpoint::Slack => intake::inbound(p, Platform::Slack, req).await,
        Endpoint::Telegram => intake::inbound(p, Platform::Telegram, req).await,
        Endpoint::Discord => intake::inbound(p, Platform::Discord, req).await,
        Endpoint::Events => events::list(p, req, None).await,
        Endpoint::Held => events::held(p).await,
        Endpoint::Event => events::one(p, req).await,
        Endpoint::Drop => events::drop_held(p, req).await,
        Endpoint::DeadLetters => events::list(p, req, Some("dead")).await,
        Endpoint::Replay => events::replay(p, req).await,
        Endpoint::ReplayAll => events::replay_all(p, req).await,
        Endpoint::Replies => replies::replies(p, req).await,
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
