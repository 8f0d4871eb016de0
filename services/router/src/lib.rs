//! The router service: `POST /api/route`, the decision audit trail and feedback, written
//! once and run by the local server and by the router Worker. Routing itself is the
//! router core's (natively or through the component): the runtime hands it over as a
//! [`RoutingState`]; storage is the SQL in [`store`].
//!
//! Never depends on a runtime crate (tokio, rusqlite, wasmtime, worker).
#![allow(async_fn_in_trait)]

#[cfg(feature = "openapi")]
mod doc;
pub mod store;
pub mod views;

use agency_approval::{HaltView, Work, covering};
use agency_kit::http::{json, parse_limit};
use agency_kit::routes::Route;
use agency_kit::{Access, ApiError, ApiResult, BodyLimit, Clock, Db, Random, Request, Statement};
use agency_router::contract::{BadRoute, Feedback, FeedbackBody, RouteBody};
use agency_router::pool::{self, InstanceReport};
use agency_router::{RouteDecision, RouteRequest, affinity};
use agency_skill_graph::SkillGraph;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub use store::MIGRATIONS;

/// The graph a runtime routes with right now, the agents marked down and the reports
/// about their instances.
pub trait RoutingState {
    /// The graph's version.
    fn version(&self) -> &str;
    /// `wasm`, `native` or `edge`: what routes.
    fn engine(&self) -> &'static str;
    fn graph(&self) -> &SkillGraph;
    /// The agents marked down.
    fn down(&self) -> &[String];
    /// The reports about instances (expired ones may be among them: they are ignored).
    fn instances(&self) -> &[InstanceReport];
    /// Routes `request`, with `routing_latency` measured.
    fn route(&self, request: &RouteRequest) -> Result<RouteDecision, ApiError>;
}

/// How long a conversation is kept when the graph has no `affinity` (which sets its
/// own): 30 minutes. Without affinity a conversation only keeps its instance.
pub const CONVERSATION_TTL_MS: i64 = 30 * 60 * 1000;

/// What the router service needs from its runtime.
pub trait RouterPorts: Clock + Random + agency_kit::Metrics {
    type Db: Db;
    /// Where decisions and feedback are stored.
    fn db(&self) -> &Self::Db;
    type State: RoutingState;
    /// The routing state now; `no_graph` (404) before any graph exists.
    async fn state(&self) -> Result<Self::State, ApiError>;
    /// The halts in force, as the assistant's ledger keeps them: locally the ledger's
    /// own copy, refreshed on every halt and resume; at the edge a copy at most
    /// [`HALTS_STALE_MS`] old, so routing adds no round trip per message. Dispatch
    /// checks the ledger itself before sending, so a stale copy never lets work out.
    async fn halts(&self) -> Result<Vec<HaltView>, ApiError>;

    /// Stores a decision (the statement of `store::insert_decision`), as the audit
    /// trail (or another write that need not hold up the answer). By default at once; the local server commits them in groups off the
    /// request's path and stores every one before it stops.
    async fn record(&self, decision: Statement) -> Result<(), ApiError> {
        self.db().batch(vec![decision]).await?;
        Ok(())
    }

    /// Returns once every decision recorded so far is stored: before they are read.
    async fn settled(&self) -> Result<(), ApiError> {
        Ok(())
    }

    /// Who holds conversation `id`, unless its last message is older than `since_ms`.
    /// By default the table; the local server keeps the conversations it saw in memory
    /// in front of it.
    async fn held(&self, id: &str, since_ms: i64) -> Result<Option<store::Held>, ApiError> {
        Ok(store::conversation(self.db(), id, since_ms).await?)
    }

    /// Conversation `id` is now `held`'s, as of `now_ms` (the statement of
    /// `store::hold`). By default written at once; the local server remembers it and
    /// commits it with the decisions.
    async fn hold(&self, id: &str, held: store::Held, now_ms: i64) -> Result<(), ApiError> {
        let statement = store::hold(id, &held.agent, held.instance.as_deref(), now_ms);
        self.db().batch(vec![statement]).await?;
        Ok(())
    }
}

/// How old the edge's copy of the halts may be, in milliseconds.
pub const HALTS_STALE_MS: i64 = 2_000;

/// The endpoints of the router service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Route,
    Decisions,
    Export,
    Feedback,
}

/// The router service, declared once.
pub static SERVICE: agency_kit::Service = agency_kit::Service {
    part: agency_kit::Part::Router,
    summary: "Picks the agent for a message from the skill graph; the decision audit trail and feedback",
    routes: || agency_kit::service::listed(ROUTES),
    migrations: MIGRATIONS,
    retained: store::RETAINED,
    edge: agency_kit::EdgeNeeds {
        database: true,
        kv: &[],
        objects: &[],
        queues: &[],
        // Retention: decisions and feedback past their period go to the archive.
        crons: &["*/10 * * * *"],
        archive: true,
        // The graph and down agents from the skill graph; the halts from the assistant.
        calls: &[agency_kit::Part::SkillGraph, agency_kit::Part::Assistant],
        vars: &[],
        secrets: agency_kit::service::ROLE_TOKENS,
    },
};

pub static ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: Method::POST,
        path: "/api/route",
        access: Access::Route,
        body: BodyLimit::Message,
        endpoint: Endpoint::Route,
        summary: "Pick the agent for a message",
    },
    Route {
        method: Method::GET,
        path: "/api/route/decisions",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Decisions,
        summary: "Recent routing decisions, newest first",
    },
    Route {
        method: Method::GET,
        path: "/api/route/decisions/export",
        access: Access::Write,
        body: BodyLimit::None,
        endpoint: Endpoint::Export,
        summary: "Every routing decision in a time range, with its feedback, as NDJSON (streamed)",
    },
    Route {
        method: Method::POST,
        path: "/api/route/feedback",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::Feedback,
        summary: "Say which agent should have taken a decision's message",
    },
];

/// Answers `req` at `endpoint` (the runtime found the route and checked the token).
pub async fn call<P: RouterPorts>(p: &P, endpoint: Endpoint, req: Request) -> ApiResult {
    match endpoint {
        Endpoint::Route => route(p, &req).await,
        Endpoint::Decisions => decisions(p, &req).await,
        Endpoint::Export => {
            let export = agency_kit::export::Export::asked(&store::DECISIONS, &req, p.now_ms())?;
            // Recorded decisions are stored before they are read.
            p.settled().await?;
            Ok(export.response())
        }
        Endpoint::Feedback => feedback(p, &req).await,
    }
}

/// This service's part of `/health`: `(healthy, part)`. No graph yet is healthy.
pub async fn health<P: RouterPorts>(p: &P) -> (bool, Value) {
    match p.state().await {
        Ok(s) => (
            true,
            json!({ "status": "ok", "engine": s.engine(), "graphVersion": s.version() }),
        ),
        Err(e) if e.code == "no_graph" => (true, json!({ "status": "ok", "graphVersion": null })),
        Err(_) => (false, json!({ "status": "degraded" })),
    }
}

async fn route<P: RouterPorts>(p: &P, req: &Request) -> ApiResult {
    let mut body: RouteBody = req.json()?;
    // Bad input is a 400 before anything is asked of the routing state.
    let bad = |e: BadRoute| ApiError::bad_request(e.to_string());
    body.clone().into_request(Vec::new()).map_err(bad)?;
    let conversation = body.conversation_id.take();
    let state = p.state().await?;
    let now = p.now_ms();
    let graph = state.graph();
    let down = pool::down_agents(graph, state.down(), state.instances(), now);
    let request = body.into_request(down).map_err(bad)?;
    let mut decision = state.route(&request)?;
    let ttl = graph
        .affinity
        .map_or(CONVERSATION_TTL_MS, |a| a.ttl_seconds as i64 * 1000);
    let held = match &conversation {
        Some(c) => p.held(c, now - ttl).await?,
        None => None,
    };
    if let Some(c) = &conversation {
        decision = affinity::follow(
            decision,
            c,
            held.as_ref().map(|h| h.agent.as_str()),
            graph.affinity.map(|a| a.switch_margin),
            |a| request.down_agents.iter().any(|d| d == a),
        );
    }
    if let Some(agent) = decision.agent.as_deref().and_then(|a| graph.agent(a))
        && !agent.instances.is_empty()
    {
        let candidates = pool::candidates(agent, state.instances(), now);
        let sticky = held
            .as_ref()
            .filter(|h| h.agent == agent.id)
            .and_then(|h| h.instance.as_deref());
        let mut random = [0u8; 8];
        p.fill(&mut random)?;
        decision.instance = pool::choose(&candidates, sticky, u64::from_le_bytes(random))
            .map(|i| Arc::from(candidates[i].id));
    }
    let halts = p.halts().await?;
    let work = Work {
        agent: decision.agent.as_deref(),
        channel: request.channel.as_deref(),
        task: None,
    };
    let halt = covering(&halts, &work, HaltView::what).cloned();
    if halt.is_some() {
        decision = decision.halted();
    }
    let reason = serde_json::to_value(decision.reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    p.sample(&mut |r| {
        use agency_monitor::metrics::{ROUTE_CONFIDENCE, ROUTE_DECISIONS};
        let agent = decision.agent.as_deref().unwrap_or("none");
        let _ = r.inc(ROUTE_DECISIONS, &[agent, &reason]);
        let _ = r.observe(ROUTE_CONFIDENCE, &[], decision.confidence);
    });
    let id = p.id::<10>("dec_")?;
    p.record(store::insert_decision(&id, &request, &decision, now)?)
        .await?;
    if let (Some(c), Some(agent)) = (&conversation, decision.agent.as_deref()) {
        let held = store::Held {
            agent: agent.to_owned(),
            instance: decision.instance.as_deref().map(str::to_owned),
        };
        p.hold(c, held, now).await?;
        // Idle conversations are forgotten now and then (one message in 256), written
        // as the decisions are.
        if p.id::<1>("")?.starts_with("00") {
            p.record(store::forget_conversations(now - ttl)).await?;
        }
    }
    Ok(json(
        StatusCode::OK,
        &views::Routed {
            decision: &decision,
            decision_id: id,
            halt,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionsQuery {
    limit: Option<String>,
    feedback: Option<String>,
    before: Option<String>,
}

async fn decisions<P: RouterPorts>(p: &P, req: &Request) -> ApiResult {
    let q: DecisionsQuery = req.query()?;
    p.settled().await?;
    let filter = store::DecisionFilter {
        limit: parse_limit(q.limit.as_deref(), 50, 1000)?,
        with_feedback: match q.feedback.as_deref() {
            None | Some("any") => false,
            Some("only") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "feedback must be any or only, not {other:?}"
                )));
            }
        },
        before: q.before,
    };
    let Some(rows) = store::decisions(p.db(), &filter).await? else {
        return Err(ApiError::not_found(format!(
            "before: no decision {:?}",
            filter.before.unwrap_or_default()
        )));
    };
    let full = rows.len() == filter.limit as usize;
    let next = rows.last().filter(|_| full).map(|r| r.id.clone());
    let decisions = rows
        .into_iter()
        .map(|r| views::StoredDecision {
            decision: r.decision,
            decision_id: r.id,
            message: r.message,
            channel: r.channel,
            complexity: r.complexity,
            created_at: agency_kit::ports::rfc3339(r.created_ms),
            feedback: r.feedback.map(|f| Feedback {
                correct_agent: f.correct_agent,
                created_at: agency_kit::ports::rfc3339(f.created_ms),
            }),
        })
        .collect();
    Ok(json(StatusCode::OK, &views::Decisions { decisions, next }))
}

async fn feedback<P: RouterPorts>(p: &P, req: &Request) -> ApiResult {
    let body: FeedbackBody = req.json()?;
    if let Some(a) = &body.correct_agent
        && p.state().await?.graph().agent(a).is_none()
    {
        return Err(ApiError::unprocessable(
            "unknown_agent",
            format!("correctAgent {a:?} is not an agent of the current graph"),
        ));
    }
    p.settled().await?;
    let Some(decided) = store::decision_agent(p.db(), &body.decision_id).await? else {
        return Err(ApiError::not_found(format!(
            "no decision {:?}",
            body.decision_id
        )));
    };
    let verdict = if decided == body.correct_agent {
        "correct"
    } else {
        "wrong"
    };
    p.sample(&mut |r| {
        let _ = r.inc(agency_monitor::metrics::ROUTE_FEEDBACK, &[verdict]);
    });
    let id = store::insert_feedback(
        p.db(),
        &body.decision_id,
        body.correct_agent.as_deref(),
        p.now_ms(),
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &views::FeedbackStored {
            feedback_id: id,
            decision_id: body.decision_id,
            correct_agent: body.correct_agent,
        },
    ))
}
