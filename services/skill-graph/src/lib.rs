//! The skill-graph service: every endpoint of the graph API, written once and run by the
//! local server and by the skill-graph Worker. A handler parses, calls the core
//! (`agency-skill-graph`), persists through the [`GraphPorts`] and shapes the response;
//! storage is the SQL in [`store`], the same text on SQLite and D1.
//!
//! Never depends on a runtime crate (tokio, rusqlite, wasmtime, worker).
#![allow(async_fn_in_trait)]

mod agents;
#[cfg(feature = "openapi")]
mod doc;
mod graph;
pub mod store;
pub mod views;

use std::sync::Arc;

use agency_kit::routes::Route;
use agency_kit::{Access, ApiError, ApiResult, BodyLimit, Clock, Db, PortError, Request};
use agency_skill_graph::SkillGraph;
use http::{Method, StatusCode};
use serde_json::{Value, json};

pub use agency_router::pool::InstanceReport;
pub use graph::preview_of;
pub use store::{Head, MIGRATIONS};

/// What the skill-graph service needs from its runtime.
pub trait GraphPorts: Clock {
    type Db: Db;
    /// Where the graph's versions and the agents' health are stored.
    fn db(&self) -> &Self::Db;

    /// Held while a graph is uploaded, so version, index and store change together.
    type UploadGuard;

    /// Waits until no other upload is running.
    async fn upload_lock(&self) -> Self::UploadGuard;

    /// The parsed graph of `version` if this runtime keeps it (memory, a KV cache).
    async fn cached(&self, version: &str) -> Option<Arc<SkillGraph>>;

    /// Keeps a parsed graph (and its JSON) for [`GraphPorts::cached`].
    async fn remember(
        &self,
        version: &str,
        json: &str,
        graph: &Arc<SkillGraph>,
    ) -> Result<(), PortError>;

    /// `graph` is about to become current: a runtime that routes in-process builds its
    /// index here, and an error refuses the upload.
    async fn activate(&self, graph: &Arc<SkillGraph>) -> Result<(), ApiError>;

    /// The agents marked down, or the reports about instances, changed: `down` is every
    /// agent marked down, `reports` every instance report that still counts.
    async fn health_changed(&self, down: &[String], reports: &[InstanceReport]);

    /// `GET path` of the router service as an operator (in-process locally, over the
    /// `ROUTER` binding at the edge): its status and JSON body, errors included. A
    /// preview reads the stored decisions through it.
    async fn router(&self, path: &str) -> Result<(u16, Value), ApiError>;
}

/// The endpoints of the skill-graph service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    GetGraph,
    PutGraph,
    Preview,
    Versions,
    Agents,
    SetHealth,
    SetInstance,
    Channels,
    Search,
    RoutingState,
}

/// The skill-graph service, declared once.
pub static SERVICE: agency_kit::Service = agency_kit::Service {
    part: agency_kit::Part::SkillGraph,
    summary: "The knowledge base: skills, agents, channels and keywords; versioned uploads, search, agent health",
    routes: || agency_kit::service::listed(ROUTES),
    migrations: MIGRATIONS,
    retained: &[],
    edge: agency_kit::EdgeNeeds {
        database: true,
        kv: &["CACHE"],
        objects: &[],
        queues: &[],
        crons: &[],
        archive: false,
        // The graph preview replays the router's stored decisions.
        calls: &[agency_kit::Part::Router],
        vars: &[],
        secrets: agency_kit::service::ROLE_TOKENS,
    },
};

/// The skill-graph service's routes.
pub static ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: Method::GET,
        path: "/api/graph",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::GetGraph,
        summary: "The current graph (ETag, If-None-Match)",
    },
    Route {
        method: Method::PUT,
        path: "/api/graph",
        access: Access::Write,
        body: BodyLimit::Graph,
        endpoint: Endpoint::PutGraph,
        summary: "Upload a new graph version",
    },
    Route {
        method: Method::POST,
        path: "/api/graph/preview",
        access: Access::Write,
        body: BodyLimit::Graph,
        endpoint: Endpoint::Preview,
        summary: "What a candidate graph would change: the last stored decisions replayed",
    },
    Route {
        method: Method::GET,
        path: "/api/graph/versions",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Versions,
        summary: "Graph versions, newest first",
    },
    Route {
        method: Method::GET,
        path: "/api/agents",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Agents,
        summary: "Agents with their health",
    },
    Route {
        method: Method::PUT,
        path: "/api/agents/{id}/health",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::SetHealth,
        summary: "Mark an agent up or down",
    },
    Route {
        method: Method::PUT,
        path: "/api/agents/{id}/instances/{instance}",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::SetInstance,
        summary: "Report one instance's health and load",
    },
    Route {
        method: Method::GET,
        path: "/api/channels",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Channels,
        summary: "Channels of the current graph",
    },
    Route {
        method: Method::GET,
        path: "/api/search",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Search,
        summary: "Search skills",
    },
    Route {
        method: Method::GET,
        path: "/internal/routing-state",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::RoutingState,
        summary: "Graph version, down agents and (if stale) the graph, for a router",
    },
];

/// Answers `req` at `endpoint` (the runtime found the route and checked the token).
pub async fn call<P: GraphPorts>(p: &P, endpoint: Endpoint, req: Request) -> ApiResult {
    match endpoint {
        Endpoint::GetGraph => graph::get_graph(p, &req).await,
        Endpoint::PutGraph => graph::put_graph(p, &req).await,
        Endpoint::Preview => graph::preview(p, &req).await,
        Endpoint::Versions => graph::versions(p, &req).await,
        Endpoint::Agents => agents::agents(p).await,
        Endpoint::SetHealth => agents::set_health(p, &req).await,
        Endpoint::SetInstance => agents::set_instance(p, &req).await,
        Endpoint::Channels => agents::channels(p).await,
        Endpoint::Search => graph::search_graph(p, &req).await,
        Endpoint::RoutingState => graph::routing_state(p, &req).await,
    }
}

/// The current graph: the stored head, parsed once per version.
pub async fn current<P: GraphPorts>(p: &P) -> Result<(Head, Arc<SkillGraph>), ApiError> {
    let head = store::head(p.db()).await?.ok_or_else(no_graph)?;
    if let Some(g) = p.cached(&head.version).await {
        return Ok((head, g));
    }
    let json = store::graph_json(p.db(), &head.version)
        .await?
        .ok_or_else(|| {
            ApiError::internal("storage_error", &"the current graph version vanished")
        })?;
    let graph = Arc::new(SkillGraph::from_json(&json).map_err(|e| {
        ApiError::internal(
            "storage_error",
            &format!("stored graph {} is invalid: {e}", head.version),
        )
    })?);
    p.remember(&head.version, &json, &graph).await?;
    Ok((head, graph))
}

fn no_graph() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_graph",
        "no skill graph has been uploaded yet",
    )
}

/// This service's part of `/health`: `(healthy, part)`.
pub async fn health<P: GraphPorts>(p: &P) -> (bool, Value) {
    match store::head(p.db()).await {
        Ok(h) => (
            true,
            json!({ "status": "ok", "version": h.as_ref().map(|h| &h.version), "sequence": h.map(|h| h.seq) }),
        ),
        Err(_) => (false, json!({ "status": "error" })),
    }
}
