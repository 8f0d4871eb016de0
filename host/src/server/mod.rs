//! The local server: every Agency service on one port, state in SQLite. The endpoints
//! are the service crates' (`services/`); this module only implements their ports
//! ([`ports`]), finds the route and reads the body ([`site`]), and runs hyper's
//! connection loop ([`serve`]). `serve` takes its state and listener as arguments so
//! tests can bind port 0.

mod approvals;
mod chat;
pub mod decisions;
mod monitoring;
mod outbound;
pub mod ports;
pub mod site;
pub mod webhooks;

use std::sync::{Arc, RwLock};

use agency_kit::Tokens;
use agency_skill_graph::SkillGraph;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::routing::Router;
use crate::store::Store;

/// The graph the router serves, by version.
pub struct ActiveGraph {
    pub version: String,
    pub graph: Arc<SkillGraph>,
}

pub struct AppState {
    pub config: Config,
    pub tokens: Tokens,
    pub store: Store,
    pub router: Router,
    pub active: RwLock<Arc<ActiveGraph>>,
    pub down: RwLock<Vec<String>>,
    /// The reports about agents' instances that counted when last read (routing
    /// ignores those that expire meanwhile).
    pub instances: RwLock<Arc<Vec<agency_router::pool::InstanceReport>>>,
    /// Routing decisions on their way to the database (group commit, off the request's
    /// path).
    pub decisions: decisions::DecisionLog,
    pub assistant: crate::assistant::Assistant,
    /// Serialises graph uploads so version, router and store switch together.
    pub graph_update: Arc<tokio::sync::Mutex<()>>,
    /// Wakes the webhook consumer when something is queued.
    pub webhook_work: tokio::sync::Notify,
    /// Every service's metrics (the monitoring service reads them).
    pub metrics: std::sync::Mutex<agency_monitor::Registry>,
    /// The assistant asked, decided, halted or resumed something the webhook service
    /// acts on: sweep now (cards, halt events, held events).
    pub sweep_due: std::sync::atomic::AtomicBool,
    /// The halts in force, as the ledger holds them: read again on every halt and
    /// resume (and at start), so routing reads memory, never the database.
    pub halts: RwLock<Vec<agency_approval::HaltView>>,
    /// The webhooks' group commit (set once the state exists: its thread holds a weak
    /// reference to it).
    pub intake: webhooks::Intake,
    /// Set once the server stops accepting: open event streams end.
    pub closing: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    pub fn active(&self) -> Arc<ActiveGraph> {
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The metrics registry, for one sample or one read.
    pub fn metrics(&self) -> std::sync::MutexGuard<'_, agency_monitor::Registry> {
        self.metrics.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn down_agents(&self) -> Vec<String> {
        self.down.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn instances(&self) -> Arc<Vec<agency_router::pool::InstanceReport>> {
        self.instances
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads the halts in force from the ledger into memory.
    pub fn refresh_halts(&self) -> Result<(), agency_kit::PortError> {
        let halts = agency_assistant_service::ledger::Book(crate::store::TxSql(&self.store.conn()))
            .halts()?;
        *self.halts.write().unwrap_or_else(|p| p.into_inner()) =
            halts.iter().map(agency_approval::Halt::view).collect();
        Ok(())
    }

    pub fn halts(&self) -> Vec<agency_approval::HaltView> {
        self.halts.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A fresh random token, `agt_` + 32 hex digits, from the OS random source (no token
/// at all without it).
pub fn generate_token() -> Result<String, agency_kit::PortError> {
    agency_kit::Random::id::<16>(&ports::OsRandom, "agt_")
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

    let limits = state.config.limits.clone();
    let header_timeout = std::time::Duration::from_millis(limits.header_timeout_ms);
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
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
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
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
        let st = state.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            let st = st.clone();
            req.extensions_mut().insert(site::Peer(peer));
            async move { Ok::<_, std::convert::Infallible>(site::handle(st, req).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are the client's (a timeout, a reset): nothing to answer.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    state.closing.send_replace(true);
    graceful.shutdown().await;
    Ok(())
}
