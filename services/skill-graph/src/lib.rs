//! The skill-graph service: every endpoint of the graph API, written once and run by the
//! local server and by the skill-graph Worker. A handler parses, calls the core
//! (`agency-skill-graph`), persists through the [`GraphPorts`] and shapes the response;
//! storage is the SQL in [`store`], the same text on SQLite and D1.
//!
//! Never depends on a runtime crate (tokio, rusqlite, wasmtime, worker).
#![allow(async_fn_in_trait)]

#[cfg(feature = "openapi")]
mod doc;
pub mod store;
pub mod views;

use std::sync::Arc;

use agency_kit::http::{json, parse_limit};
use agency_kit::routes::Route;
use agency_kit::{Access, ApiError, ApiResult, BodyLimit, Clock, Db, PortError, Request};
use agency_router::contract::{HealthBody, InstanceBody, read_audit};
use agency_router::pool;
use agency_router::{RouterIndex, replay};
use agency_skill_graph::{SkillGraph, search};
use http::{HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

pub use agency_router::pool::InstanceReport;
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
        Endpoint::GetGraph => get_graph(p, &req).await,
        Endpoint::PutGraph => put_graph(p, &req).await,
        Endpoint::Preview => preview(p, &req).await,
        Endpoint::Versions => versions(p, &req).await,
        Endpoint::Agents => agents(p).await,
        Endpoint::SetHealth => set_health(p, &req).await,
        Endpoint::SetInstance => set_instance(p, &req).await,
        Endpoint::Channels => channels(p).await,
        Endpoint::Search => search_graph(p, &req).await,
        Endpoint::RoutingState => routing_state(p, &req).await,
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

async fn get_graph<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
    let (head, graph) = current(p).await?;
    let none_match = req.header(header::IF_NONE_MATCH);
    let mut r = if none_match.is_some_and(|v| agency_skill_graph::if_none_match(v, &head.version)) {
        let mut r = http::Response::new(Vec::new());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        agency_kit::http::with_type(
            StatusCode::OK,
            graph.to_json().into_bytes(),
            "application/json",
        )
    };
    set_etag(&mut r, &head.version)?;
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(r)
}

fn set_etag(r: &mut agency_kit::Response, version: &str) -> Result<(), ApiError> {
    let tag = HeaderValue::from_str(&agency_skill_graph::etag(version))
        .map_err(|e| ApiError::internal("internal", &e))?;
    r.headers_mut().insert(header::ETAG, tag);
    Ok(())
}

/// The graph in a request's body (`PUT /api/graph`, `POST /api/graph/preview`), or
/// 422 with every problem in `error.details`.
fn body_graph(req: &Request) -> Result<SkillGraph, ApiError> {
    let raw: Value = req.json()?;
    SkillGraph::from_json(&raw.to_string()).map_err(|e| {
        let details = serde_json::to_value(&e.0).unwrap_or(Value::Null);
        ApiError::unprocessable(
            "invalid_graph",
            format!("the graph has {} error(s)", e.0.len()),
        )
        .with_details(details)
    })
}

async fn put_graph<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
    let graph = Arc::new(body_graph(req)?);
    let version = graph.version();
    let json_text = graph.to_json();
    let _guard = p.upload_lock().await;
    let previous = match current(p).await {
        Ok((_, g)) => Some(g),
        Err(e) if e.code == "no_graph" => None,
        Err(e) => return Err(e),
    };
    p.activate(&graph).await?;
    let stored = async {
        store::insert_unless_current(p.db(), &version, &json_text, p.now_ms()).await?;
        store::head(p.db()).await
    }
    .await;
    let head = match stored {
        Ok(Some(h)) => h,
        failed => {
            // Keep serving what is stored rather than a graph that would vanish on restart.
            if let Some(prev) = previous {
                let _ = p.activate(&prev).await;
            }
            return Err(match failed {
                Err(e) => e.into(),
                _ => ApiError::internal("storage_error", &"the graph was not stored"),
            });
        }
    };
    p.remember(&head.version, &json_text, &graph).await?;
    let mut r = json(
        StatusCode::OK,
        &views::GraphStored {
            version: head.version.clone(),
            sequence: head.seq,
            created_at: agency_kit::ports::rfc3339(head.created_ms),
            summary: graph.summary(),
        },
    );
    set_etag(&mut r, &head.version)?;
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewQuery {
    limit: Option<String>,
    sample: Option<String>,
}

async fn preview<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
    let q: PreviewQuery = req.query()?;
    let limit = parse_limit(
        q.limit.as_deref(),
        replay::DEFAULT_REPLAY,
        replay::MAX_REPLAY,
    )?;
    let sample = match q.sample.as_deref() {
        None => replay::SAMPLE,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n <= 100 => n,
            _ => {
                return Err(ApiError::bad_request(
                    "sample must be an integer from 0 to 100",
                ));
            }
        },
    };
    let candidate = body_graph(req)?;
    Ok(json(
        StatusCode::OK,
        &preview_of(p, &candidate, limit, sample).await?,
    ))
}

/// What `candidate` would change over the newest `limit` stored decisions: each
/// replayed under the current graph and under `candidate` (the router core's
/// [`replay`]). Writes nothing.
pub async fn preview_of<P: GraphPorts>(
    p: &P,
    candidate: &SkillGraph,
    limit: u32,
    sample: usize,
) -> Result<views::Preview, ApiError> {
    let unroutable = |e: agency_router::BuildError| {
        ApiError::unprocessable(
            "invalid_graph",
            format!("the graph cannot be routed with: {e}"),
        )
    };
    let candidate_index = RouterIndex::build(candidate).map_err(unroutable)?;
    let (head, graph) = current(p).await?;
    let current_index = RouterIndex::build(&graph)
        .map_err(|e| ApiError::internal("storage_error", &format!("the current graph: {e}")))?;
    let decisions = read_audit(|path| async move { p.router(&path).await }, limit, false)
        .await?
        .map_err(|e| ApiError::from(PortError::Upstream(format!("router: {e}"))))?;
    Ok(views::Preview {
        current_version: head.version,
        candidate_version: candidate.version(),
        candidate_summary: candidate.summary(),
        report: replay::replay(&current_index, &candidate_index, &decisions, sample),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<String>,
}

async fn versions<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
    let q: LimitQuery = req.query()?;
    let limit = parse_limit(q.limit.as_deref(), 50, 1000)?;
    let versions = store::versions(p.db(), limit)
        .await?
        .into_iter()
        .map(|h| views::GraphVersion {
            sequence: h.seq,
            version: h.version,
            created_at: agency_kit::ports::rfc3339(h.created_ms),
        })
        .collect();
    Ok(json(StatusCode::OK, &views::Versions { versions }))
}

async fn agents<P: GraphPorts>(p: &P) -> ApiResult {
    let (head, graph) = current(p).await?;
    let now = p.now_ms();
    let reports = store::instance_reports(p.db(), now).await?;
    let down = pool::down_agents(&graph, &store::down_agents(p.db()).await?, &reports, now);
    let agents = graph
        .agents
        .iter()
        .map(|a| views::AgentStatus {
            id: a.id.clone(),
            name: a.name.clone(),
            fallback: a.fallback.clone(),
            description: a.description.clone(),
            healthy: !down.contains(&a.id),
            instances: pool::candidates(a, &reports, now)
                .into_iter()
                .map(|c| views::InstanceStatus {
                    id: c.id.to_owned(),
                    weight: c.weight,
                    healthy: c.healthy,
                    load: c.report.map(|r| r.load),
                    reported_at: c.report.map(|r| agency_kit::ports::rfc3339(r.updated_ms)),
                })
                .collect(),
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &views::Agents {
            agents,
            graph_version: head.version,
        },
    ))
}

async fn set_health<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
    let id = req.param(0, "agent id")?;
    let body: HealthBody = req.json()?;
    let (_, graph) = current(p).await?;
    if graph.agent(&id).is_none() {
        return Err(ApiError::not_found(format!("no agent {id:?}")));
    }
    store::set_health(p.db(), &id, body.healthy, p.now_ms()).await?;
    health_changed(p).await?;
    Ok(json(
        StatusCode::OK,
        &views::Health {
            agent: id,
            healthy: body.healthy,
        },
    ))
}

/// Tells the runtime the health it routes with now.
async fn health_changed<P: GraphPorts>(p: &P) -> Result<(), ApiError> {
    let down = store::down_agents(p.db()).await?;
    let reports = store::instance_reports(p.db(), p.now_ms()).await?;
    p.health_changed(&down, &reports).await;
    Ok(())
}

async fn set_instance<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
    let agent = req.param(0, "agent id")?;
    let instance = req.param(1, "instance id")?;
    let body: InstanceBody = req.json()?;
    if !(0.0..=1.0).contains(&body.load) {
        return Err(ApiError::bad_request(format!(
            "load must be within 0..1, got {}",
            body.load
        )));
    }
    let (_, graph) = current(p).await?;
    let Some(a) = graph.agent(&agent) else {
        return Err(ApiError::not_found(format!("no agent {agent:?}")));
    };
    if !a.instances.iter().any(|i| i.id == instance) {
        return Err(ApiError::not_found(format!(
            "agent {agent:?} lists no instance {instance:?}"
        )));
    }
    let report = InstanceReport {
        agent,
        instance,
        healthy: body.healthy,
        load: body.load,
        updated_ms: p.now_ms(),
    };
    store::set_instance(p.db(), &report).await?;
    health_changed(p).await?;
    Ok(json(
        StatusCode::OK,
        &views::InstanceHealth {
            expires_at: agency_kit::ports::rfc3339(report.updated_ms + pool::REPORT_TTL_MS),
            agent: report.agent,
            instance: report.instance,
            healthy: report.healthy,
            load: report.load,
        },
    ))
}

async fn channels<P: GraphPorts>(p: &P) -> ApiResult {
    let (head, graph) = current(p).await?;
    Ok(json(
        StatusCode::OK,
        &views::Channels {
            channels: graph.channels.clone(),
            graph_version: head.version,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: Option<String>,
    limit: Option<String>,
}

async fn search_graph<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
    let q: SearchQuery = req.query()?;
    let text =
        q.q.filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ApiError::bad_request("query parameter q is required"))?;
    // Characters, as the API document's maxLength counts.
    if text.chars().count() > 1024 {
        return Err(ApiError::bad_request("q must be at most 1024 characters"));
    }
    let limit = parse_limit(q.limit.as_deref(), 20, 100)?;
    let (head, graph) = current(p).await?;
    let hits = search::search(&graph, &text, limit as usize);
    Ok(json(
        StatusCode::OK,
        &views::Search {
            query: text,
            hits,
            graph_version: head.version,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateQuery {
    have: Option<String>,
}

/// For a router elsewhere (the router Worker, over a service binding): the current
/// version, the agents marked down, and the graph unless the caller has that version.
async fn routing_state<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
    let q: StateQuery = req.query()?;
    let (head, graph) = current(p).await?;
    let down = store::down_agents(p.db()).await?;
    let instances = store::instance_reports(p.db(), p.now_ms()).await?;
    let has = q.have.as_deref() == Some(head.version.as_str());
    Ok(json(
        StatusCode::OK,
        &views::RoutingState {
            graph: (!has).then_some(&*graph),
            version: head.version,
            down,
            instances,
        },
    ))
}
