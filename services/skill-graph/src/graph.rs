//! The graph's endpoints: the current graph (with its ETag), uploads, the preview of a
//! new version against the stored decisions, the versions, search and the routing
//! state.

use std::sync::Arc;

use agency_kit::http::{json, parse_limit};
use agency_kit::{ApiError, ApiResult, PortError, Request};
use agency_router::contract::read_audit;
use agency_router::{RouterIndex, replay};
use agency_skill_graph::{SkillGraph, search};
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::Value;

use crate::{GraphPorts, current, store, views};

pub(crate) async fn get_graph<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
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

pub(crate) fn set_etag(r: &mut agency_kit::Response, version: &str) -> Result<(), ApiError> {
    let tag = HeaderValue::from_str(&agency_skill_graph::etag(version))
        .map_err(|e| ApiError::internal("internal", &e))?;
    r.headers_mut().insert(header::ETAG, tag);
    Ok(())
}

/// The graph in a request's body (`PUT /api/graph`, `POST /api/graph/preview`), or
/// 422 with every problem in `error.details`.
pub(crate) fn body_graph(req: &Request) -> Result<SkillGraph, ApiError> {
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

pub(crate) async fn put_graph<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
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

pub(crate) async fn preview<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
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

pub(crate) async fn versions<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: Option<String>,
    limit: Option<String>,
}

pub(crate) async fn search_graph<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
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
pub(crate) async fn routing_state<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
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
