//! Request handlers: parse, authorize, delegate, store. No routing logic lives here.

use std::sync::Arc;

use agency_router::contract::{FeedbackBody, HealthBody, RouteBody};
use agency_skill_graph::{SkillGraph, search as graph_search};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::auth::{Access, authorize, hex};
use super::error::{ApiError, ApiQuery, PathId};
use super::{AppState, CurrentGraph};
use crate::config::Limits;
use crate::runtime::RuntimeError;

type ApiResult = Result<Response, ApiError>;
type St = State<Arc<AppState>>;

pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Reads a JSON object body of at most `limits.message_bytes`: see [`read_json_within`].
pub(super) async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limits: &Limits,
) -> Result<T, ApiError> {
    read_json_within(headers, body, limits.message_bytes, limits).await
}

/// Reads a JSON object body of at most `limit` bytes: 413 past it, 408 when it has not
/// all arrived within `limits.request_timeout_ms`, 400 for bad JSON or fields.
pub(super) async fn read_json_within<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    limits: &Limits,
) -> Result<T, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is over the {limit}-byte limit"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let within = std::time::Duration::from_millis(limits.request_timeout_ms);
    let read = tokio::time::timeout(within, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {} ms",
                    limits.request_timeout_ms
                ),
            )
        })?;
    let bytes: Bytes = read.map_err(|e| {
        if e.into_inner().is::<http_body_util::LengthLimitError>() {
            too_large()
        } else {
            // A broken chunk encoding, a client gone mid-body: not a size problem.
            ApiError::bad_request("the request body could not be read")
        }
    })?;
    // Serde would read a JSON array into a struct field by field, in order.
    if bytes.iter().find(|b| !b" \t\n\r".contains(b)) != Some(&b'{') {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (status, Json(value)).into_response()
}

pub async fn health(State(state): St) -> Response {
    let current = state.current();
    let storage_ok = state.store.current_graph().is_ok();
    let engine = match state.router.engine() {
        crate::config::Engine::Wasm => "wasm",
        crate::config::Engine::Native => "native",
    };
    let status = if storage_ok { "ok" } else { "degraded" };
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "parts": {
            "router": {"status": "ok", "engine": engine, "graphVersion": current.stored.version},
            "skillGraph": {"status": "ok", "version": current.stored.version, "sequence": current.stored.sequence},
            "storage": {"status": if storage_ok { "ok" } else { "error" }},
        }
    });
    json_response(
        if storage_ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &body,
    )
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub async fn route(State(state): St, headers: HeaderMap, body: Body) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Route)?;
    let body: RouteBody = read_json(&headers, body, &state.config.limits).await?;
    let request = body
        .into_request(state.down_agents())
        .map_err(ApiError::bad_request)?;
    let decision = state.router.route(&request).map_err(runtime_error)?;
    let id = decision_id();
    let mut value =
        serde_json::to_value(&decision).map_err(|e| ApiError::internal("internal", &e))?;
    value["decisionId"] = Value::String(id.clone());
    state
        .store
        .insert_decision(&id, &request.message, request.channel.as_deref(), &value)?;
    Ok(json_response(StatusCode::OK, &value))
}

fn runtime_error(e: RuntimeError) -> ApiError {
    match e {
        RuntimeError::Trap(_) => ApiError::internal("component_trap", &e),
        RuntimeError::InvalidGraph(m) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_graph", m)
        }
        RuntimeError::Setup(_) | RuntimeError::InvalidPolicy(_) => {
            ApiError::internal("component_setup", &e)
        }
    }
}

fn decision_id() -> String {
    let mut b = [0u8; 10];
    if getrandom::fill(&mut b).is_err() {
        b[..8].copy_from_slice(&(crate::store::now_ms() as u64).to_le_bytes());
    }
    format!("dec_{}", hex(&b))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    pub(super) limit: Option<String>,
}

pub(super) fn parse_limit(raw: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be an integer from 1 to {max}"
            ))),
        },
    }
}

pub async fn decisions(
    State(state): St,
    headers: HeaderMap,
    query: ApiQuery<LimitQuery>,
) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Read)?;
    let q = query.into_inner()?;
    let limit = parse_limit(q.limit.as_deref(), 50, 1000)?;
    let rows = state.store.recent_decisions(limit)?;
    Ok(json_response(StatusCode::OK, &json!({ "decisions": rows })))
}

pub async fn feedback(State(state): St, headers: HeaderMap, body: Body) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Write)?;
    let body: FeedbackBody = read_json(&headers, body, &state.config.limits).await?;
    if let Some(a) = &body.correct_agent
        && state.current().graph.agent(a).is_none()
    {
        return Err(ApiError::bad_request(format!(
            "correctAgent {a:?} is not an agent of the current graph"
        )));
    }
    if !state.store.decision_exists(&body.decision_id)? {
        return Err(ApiError::not_found(format!(
            "no decision {:?}",
            body.decision_id
        )));
    }
    let id = state
        .store
        .insert_feedback(&body.decision_id, body.correct_agent.as_deref())?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "feedbackId": id, "decisionId": body.decision_id, "correctAgent": body.correct_agent }),
    ))
}

pub async fn get_graph(State(state): St, headers: HeaderMap) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Read)?;
    let current = state.current();
    let tag = agency_skill_graph::etag(&current.stored.version);
    let none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let mut response = if none_match
        .is_some_and(|v| agency_skill_graph::if_none_match(v, &current.stored.version))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            current.graph.to_json(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&tag).map_err(|e| ApiError::internal("internal", &e))?,
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

pub async fn put_graph(State(state): St, headers: HeaderMap, body: Body) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Write)?;
    let raw: Value = read_json_within(
        &headers,
        body,
        state.config.limits.graph_bytes,
        &state.config.limits,
    )
    .await?;
    let graph = SkillGraph::from_json(&raw.to_string()).map_err(|e| {
        let details = serde_json::to_value(&e.0).unwrap_or(Value::Null);
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_graph",
            format!("the graph has {} error(s)", e.0.len()),
        )
        .with_details(details)
    })?;
    let _guard = state.graph_update.lock().await;
    let version = graph.version();
    state.router.set_graph(&graph).map_err(runtime_error)?;
    let stored = match state.store.put_graph(&version, &graph.to_json()) {
        Ok(s) => s,
        Err(e) => {
            // Keep serving what is stored rather than a graph that would vanish on restart.
            let _ = state.router.set_graph(&state.current().graph);
            return Err(e.into());
        }
    };
    let summary = graph.summary();
    *state.graph.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(CurrentGraph {
        graph,
        stored: stored.clone(),
    });
    let mut response = json_response(
        StatusCode::OK,
        &json!({ "version": stored.version, "sequence": stored.sequence, "createdAt": stored.created_at, "summary": summary }),
    );
    response.headers_mut().insert(
        header::ETAG,
        HeaderValue::from_str(&agency_skill_graph::etag(&stored.version))
            .map_err(|e| ApiError::internal("internal", &e))?,
    );
    Ok(response)
}

pub async fn graph_versions(
    State(state): St,
    headers: HeaderMap,
    query: ApiQuery<LimitQuery>,
) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Read)?;
    let q = query.into_inner()?;
    let limit = parse_limit(q.limit.as_deref(), 50, 1000)?;
    let versions = state.store.graph_versions(limit)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "versions": versions }),
    ))
}

pub async fn agents(State(state): St, headers: HeaderMap) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Read)?;
    let current = state.current();
    let down = state.down_agents();
    let agents: Vec<Value> = current
        .graph
        .agents
        .iter()
        .map(|a| json!({ "id": a.id, "name": a.name, "fallback": a.fallback, "description": a.description, "healthy": !down.contains(&a.id) }))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "agents": agents, "graphVersion": current.stored.version }),
    ))
}

pub async fn set_health(State(state): St, headers: HeaderMap, id: PathId, body: Body) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Write)?;
    let id = id.into_inner("agent id")?;
    let body: HealthBody = read_json(&headers, body, &state.config.limits).await?;
    if state.current().graph.agent(&id).is_none() {
        return Err(ApiError::not_found(format!("no agent {id:?}")));
    }
    state.store.set_health(&id, body.healthy)?;
    let down = state.store.down_agents()?;
    *state.down.write().unwrap_or_else(|p| p.into_inner()) = down;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "agent": id, "healthy": body.healthy }),
    ))
}

pub async fn channels(State(state): St, headers: HeaderMap) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Read)?;
    let current = state.current();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "channels": current.graph.channels, "graphVersion": current.stored.version }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: Option<String>,
    limit: Option<String>,
}

pub async fn search(
    State(state): St,
    headers: HeaderMap,
    query: ApiQuery<SearchQuery>,
) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Read)?;
    let q = query.into_inner()?;
    let text =
        q.q.filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ApiError::bad_request("query parameter q is required"))?;
    if text.len() > 1024 {
        return Err(ApiError::bad_request("q must be at most 1024 bytes"));
    }
    let limit = parse_limit(q.limit.as_deref(), 20, 100)?;
    let current = state.current();
    let hits = graph_search::search(&current.graph, &text, limit as usize);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "query": text, "hits": hits, "graphVersion": current.stored.version }),
    ))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
    .into_response()
}
