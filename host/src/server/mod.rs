//! The local server: every Agency API on one port, state in SQLite. Handlers only parse,
//! authorize, call the core (or component) and store; `serve` takes its config and
//! listener as arguments so tests can bind port 0.

mod api;
mod approvals;
pub mod auth;
mod chat;
pub mod error;

pub use api::OPENAPI;

use std::sync::{Arc, RwLock};

use agency_skill_graph::SkillGraph;
use axum::Router as AxumRouter;
use axum::routing::{get, post, put};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::routing::Router;
use crate::store::{Store, StoredGraph};

/// The graph currently served, with its JSON form and storage record.
pub struct CurrentGraph {
    pub graph: SkillGraph,
    pub stored: StoredGraph,
}

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub router: Router,
    pub graph: RwLock<Arc<CurrentGraph>>,
    pub down: RwLock<Vec<String>>,
    pub assistant: crate::assistant::Assistant,
    /// Serialises graph uploads so version, router and store switch together.
    pub graph_update: tokio::sync::Mutex<()>,
}

impl AppState {
    pub fn current(&self) -> Arc<CurrentGraph> {
        self.graph.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn down_agents(&self) -> Vec<String> {
        self.down.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Every (method, path) the server answers, as written in `openapi.json`.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/openapi.json"),
    ("post", "/api/route"),
    ("get", "/api/route/decisions"),
    ("post", "/api/route/feedback"),
    ("get", "/api/graph"),
    ("put", "/api/graph"),
    ("get", "/api/graph/versions"),
    ("get", "/api/agents"),
    ("put", "/api/agents/{id}/health"),
    ("get", "/api/channels"),
    ("get", "/api/search"),
    ("post", "/api/approve"),
    ("get", "/api/approvals"),
    ("get", "/api/approvals/{id}"),
    ("post", "/api/approvals/{id}/decision"),
    ("post", "/api/halt"),
    ("get", "/api/halt"),
    ("post", "/api/resume"),
    ("post", "/api/spend"),
    ("get", "/api/budget"),
    ("get", "/api/audit"),
    ("post", "/api/chat"),
];

pub fn app(state: Arc<AppState>) -> AxumRouter {
    AxumRouter::new()
        .route("/health", get(api::health))
        .route("/openapi.json", get(api::openapi))
        .route("/api/route", post(api::route))
        .route("/api/route/decisions", get(api::decisions))
        .route("/api/route/feedback", post(api::feedback))
        .route("/api/graph", get(api::get_graph).put(api::put_graph))
        .route("/api/graph/versions", get(api::graph_versions))
        .route("/api/agents", get(api::agents))
        .route("/api/agents/{id}/health", put(api::set_health))
        .route("/api/channels", get(api::channels))
        .route("/api/search", get(api::search))
        .route("/api/approve", post(approvals::approve))
        .route("/api/approvals", get(approvals::list))
        .route("/api/approvals/{id}", get(approvals::get))
        .route("/api/approvals/{id}/decision", post(approvals::decide))
        .route("/api/halt", get(approvals::halts).post(approvals::halt))
        .route("/api/resume", post(approvals::resume))
        .route("/api/spend", post(approvals::spend))
        .route("/api/budget", get(approvals::budget))
        .route("/api/audit", get(approvals::audit))
        .route("/api/chat", post(chat::chat))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            api::panic_response,
        ))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then lets requests in flight finish.
///
/// Hyper's own connection loop, not `axum::serve`, for limits that one does not set:
/// request headers must arrive within `limits.header_timeout_ms` (a client that opens
/// connections and sends nothing cannot keep them), and at most
/// `limits.max_connections` are open at once (past that, new ones wait in the listen
/// backlog instead of using up the process's file descriptors).
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let limits = state.config.limits.clone();
    let header_timeout = std::time::Duration::from_millis(limits.header_timeout_ms);
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let service = TowerToHyperService::new(app(state));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // the semaphore is never closed
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept: wait a
                    // little and go on; the listener itself is fine.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service.clone());
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are the client's (a timeout, a reset): nothing to answer.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    graceful.shutdown().await;
    Ok(())
}
