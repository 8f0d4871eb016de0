//! One port for every service: find the route in the services' tables, check the token,
//! read the body within the route's limit and the request deadline, call the service,
//! and turn its answer (or a panic) into the response.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use agency_kit::export::Export;
use agency_kit::observe::{UNMATCHED, observed};
use agency_kit::routes::{self, Matched, Miss};
use agency_kit::{ApiError, ApiResult, Part, Request, root};
use futures_util::FutureExt;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};

use super::AppState;
use super::ports::Local;

/// Where a request came from (set by the connection loop).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

/// Every endpoint the local server answers, by service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Root(root::Endpoint),
    Graph(agency_skill_graph_service::Endpoint),
    Router(agency_router_service::Endpoint),
    Assistant(agency_assistant_service::Endpoint),
    Webhooks(agency_webhooks_service::Endpoint),
    Monitoring(agency_monitoring_service::Endpoint),
}

impl Endpoint {
    /// The service that answers it, as requests are counted.
    fn service(self) -> &'static str {
        match self {
            Endpoint::Root(_) => "agency",
            Endpoint::Graph(_) => Part::SkillGraph.name(),
            Endpoint::Router(_) => Part::Router.name(),
            Endpoint::Assistant(_) => Part::Assistant.name(),
            Endpoint::Webhooks(_) => Part::Webhooks.name(),
            Endpoint::Monitoring(_) => Part::Monitoring.name(),
        }
    }
}

/// Every (method, path) the server answers: the kit's own and every registered
/// service's ([`agency_services::routes`]), for the OpenAPI drift check.
pub fn routes() -> Vec<(String, &'static str)> {
    root::ROUTES
        .iter()
        .map(|r| (r.method.clone(), r.path))
        .chain(agency_services::routes())
        .map(|(m, p)| (m.as_str().to_lowercase(), p))
        .collect()
}

fn find(method: &http::Method, path: &str) -> Result<Matched<Endpoint>, Miss> {
    let miss = match routes::find(root::ROUTES, method, path) {
        Ok(m) => return Ok(m.map(Endpoint::Root)),
        Err(miss) => miss,
    };
    let miss = match routes::find(agency_skill_graph_service::ROUTES, method, path) {
        Ok(m) => return Ok(m.map(Endpoint::Graph)),
        Err(m) => miss.or(m),
    };
    let miss = match routes::find(agency_router_service::ROUTES, method, path) {
        Ok(m) => return Ok(m.map(Endpoint::Router)),
        Err(m) => miss.or(m),
    };
    let miss = match routes::find(agency_assistant_service::ROUTES, method, path) {
        Ok(m) => return Ok(m.map(Endpoint::Assistant)),
        Err(m) => miss.or(m),
    };
    let miss = match routes::find(agency_webhooks_service::ROUTES, method, path) {
        Ok(m) => return Ok(m.map(Endpoint::Webhooks)),
        Err(m) => miss.or(m),
    };
    match routes::find(agency_monitoring_service::ROUTES, method, path) {
        Ok(m) => Ok(m.map(Endpoint::Monitoring)),
        Err(m) => Err(miss.or(m)),
    }
}

/// The answer to one request.
pub async fn handle(state: Arc<AppState>, req: hyper::Request<Incoming>) -> hyper::Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let found = find(&method, &path);
    let follow = matches!(
        found.as_ref().map(|m| m.endpoint),
        Ok(Endpoint::Monitoring(
            agency_monitoring_service::Endpoint::Stream
        ))
    ) && method == http::Method::GET
        && req
            .headers()
            .get_all(http::header::ACCEPT)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.contains("text/event-stream")));
    let streamed = state.clone();
    let route = found.as_ref().map_or(UNMATCHED, |m| m.route);
    let service = found.as_ref().map_or("agency", |m| m.endpoint.service());
    let local = Local(state.clone());
    let response = observed(&local, service, &method, route, async {
        match found {
            Err(miss) => miss.into_response(),
            Ok(matched) => {
                let answer = AssertUnwindSafe(answer(state, matched, req))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err(ApiError::internal("internal", &"a request handler panicked"))
                    });
                if let Err(e) = &answer
                    && let Some(detail) = &e.log
                {
                    tracing::error!(code = e.code, error = %detail, %method, %path, "request failed");
                }
                routes::finish(&method, answer)
            }
        }
    })
    .await;
    let mut response = response;
    if let Some(export) = Export::of_response(&mut response)
        && method != http::Method::HEAD
    {
        return response.map(|_| exported(streamed, export));
    }
    if follow && response.status() == http::StatusCode::OK {
        return response.map(|first| events(streamed, first));
    }
    response.map(|b| {
        Full::new(Bytes::from(b))
            .map_err(|e| match e {})
            .boxed_unsync()
    })
}

/// A response body: whole, the dashboard's event stream, or an export's pages.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BodyError>;

/// Why a streamed body broke off (the connection is cut: the client sees a short body,
/// never one that looks whole).
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// An export's pages, read from the store one at a time as the client takes them.
fn exported(state: Arc<AppState>, export: Export) -> Body {
    use futures_util::StreamExt;
    let kind = export.of.kind;
    let pages = export
        .pages(state, |s| &s.store)
        .map(move |page| match page {
            Ok(page) => Ok(hyper::body::Frame::data(Bytes::from(page))),
            Err(e) => {
                tracing::error!(error = %e, kind, "export broke off");
                Err(BodyError::from(e.to_string()))
            }
        });
    http_body_util::StreamBody::new(pages).boxed_unsync()
}

/// The dashboard's stream kept open: `first` (the service's answer), then a snapshot
/// every `STREAM_EVERY_MS` until the client goes away or the server stops; at most an
/// hour, after which the client reconnects.
fn events(state: Arc<AppState>, first: Vec<u8>) -> Body {
    use agency_monitoring_service::dashboard::{STREAM_EVERY_MS, event};
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
    let mut closing = state.closing.subscribe();
    tokio::spawn(async move {
        if tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        let every = std::time::Duration::from_millis(STREAM_EVERY_MS);
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
        while tokio::time::Instant::now() < until {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = closing.changed() => return,
                () = tx.closed() => return,
            }
            let next = match event(&Local(state.clone())).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, log = ?e.log, "dashboard snapshot failed");
                    return;
                }
            };
            if tx.send(Bytes::from(next)).await.is_err() {
                return;
            }
        }
    });
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok(hyper::body::Frame::data(b)), rx))
    });
    http_body_util::StreamBody::new(frames).boxed_unsync()
}

async fn answer(
    state: Arc<AppState>,
    matched: Matched<Endpoint>,
    req: hyper::Request<Incoming>,
) -> ApiResult {
    let (parts, body) = req.into_parts();
    // `[monitoring] open_metrics`: a Prometheus on this machine scrapes without a token.
    let open_scrape = matches!(
        matched.endpoint,
        Endpoint::Monitoring(agency_monitoring_service::Endpoint::Metrics)
    ) && state.config.monitoring.open_metrics
        && parts
            .extensions
            .get::<Peer>()
            .is_some_and(|p| p.0.ip().is_loopback());
    if !open_scrape {
        routes::admit(&matched, &state.tokens, &parts.headers)?;
    }
    let limits = agency_kit::Limits {
        message_bytes: state.config.limits.message_bytes,
        graph_bytes: state.config.limits.graph_bytes,
    };
    let body = match limits.bytes(matched.body) {
        None => Vec::new(),
        Some(limit) => {
            read_body(
                &parts.headers,
                body,
                limit,
                state.config.limits.request_timeout_ms,
            )
            .await?
        }
    };
    let request = Request {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        params: matched.params,
    };
    let local = Local(state);
    match matched.endpoint {
        Endpoint::Root(root::Endpoint::OpenApi) => Ok(root::openapi()),
        Endpoint::Root(root::Endpoint::Health) => Ok(health(&local).await),
        Endpoint::Graph(e) => agency_skill_graph_service::call(&local, e, request).await,
        Endpoint::Router(e) => agency_router_service::call(&local, e, request).await,
        Endpoint::Assistant(e) => agency_assistant_service::call(&local, e, &request).await,
        Endpoint::Webhooks(e) => agency_webhooks_service::call(&local, e, &request).await,
        Endpoint::Monitoring(e) => agency_monitoring_service::call(&local, e, &request).await,
    }
}

/// Another service's answer to a call from inside the server (the webhook consumer
/// asking the router or the assistant, the monitoring service reading the others):
/// found like any request, but trusted (no token); every service's endpoints but the
/// monitoring service's own.
pub async fn internal(
    state: Arc<AppState>,
    method: http::Method,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (path, None),
    };
    let matched = match find(&method, path) {
        Ok(m) => m,
        Err(miss) => return parsed(miss.into_response()),
    };
    let request = Request {
        method,
        path: path.to_owned(),
        query,
        headers: http::HeaderMap::new(),
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
        params: matched.params,
    };
    let local = Local(state);
    let answer = match matched.endpoint {
        Endpoint::Graph(e) => agency_skill_graph_service::call(&local, e, request).await,
        Endpoint::Router(e) => agency_router_service::call(&local, e, request).await,
        Endpoint::Assistant(e) => agency_assistant_service::call(&local, e, &request).await,
        // Boxed: the webhook service calls back in here (its `peer` port).
        Endpoint::Webhooks(e) => Box::pin(agency_webhooks_service::call(&local, e, &request)).await,
        Endpoint::Root(_) | Endpoint::Monitoring(_) => Err(ApiError::not_found(format!(
            "{path} is not callable from inside the server"
        ))),
    };
    if let Err(e) = &answer
        && let Some(detail) = &e.log
    {
        tracing::error!(code = e.code, error = %detail, %path, "internal call failed");
    }
    parsed(answer.unwrap_or_else(ApiError::into_response))
}

fn parsed(r: agency_kit::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let body = serde_json::from_slice(r.body()).unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// One part's health, as its service reports it (`/health`, monitoring's probes).
pub async fn part_health(local: &Local, part: Part) -> (bool, serde_json::Value) {
    match part {
        Part::SkillGraph => agency_skill_graph_service::health(local).await,
        Part::Router => agency_router_service::health(local).await,
        Part::Assistant => agency_assistant_service::health(local).await,
        Part::Webhooks => agency_webhooks_service::health(local).await,
        Part::Monitoring => agency_monitoring_service::health(local).await,
    }
}

/// Every part's health, and the store's (the one SQLite file they share).
async fn health(local: &Local) -> agency_kit::Response {
    let mut parts = Vec::new();
    for part in Part::ALL {
        let (ok, detail) = part_health(local, part).await;
        parts.push((part.name(), ok, detail));
    }
    let stored = parts.iter().all(|(_, ok, _)| *ok);
    let storage = serde_json::json!({ "status": if stored { "ok" } else { "error" } });
    parts.push(("storage", stored, storage));
    root::health(parts)
}

/// The body, at most `limit` bytes (413 past it, up front when Content-Length says so),
/// all of it within `timeout_ms` (408), or 400 when the client breaks it off.
async fn read_body(
    headers: &http::HeaderMap,
    body: Incoming,
    limit: usize,
    timeout_ms: u64,
) -> Result<Vec<u8>, ApiError> {
    agency_kit::http::declared_within(headers, limit)?;
    let within = std::time::Duration::from_millis(timeout_ms);
    let collected = tokio::time::timeout(within, Limited::new(body, limit).collect())
        .await
        .map_err(|_| ApiError::request_timeout(timeout_ms))?;
    match collected {
        Ok(c) => Ok(c.to_bytes().to_vec()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::payload_too_large(limit))
        }
        // A broken chunk encoding, a client gone mid-body: not a size problem.
        Err(_) => Err(ApiError::unreadable_body()),
    }
}
