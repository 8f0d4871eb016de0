//! The service crates' ports on the local server: storage is the SQLite [`Store`], the
//! graph the router serves lives in memory and in the router (component or native),
//! time and randomness come from the OS.

use std::sync::Arc;

use agency_kit::observe::{Observer, RequestLog};
use agency_kit::{ApiError, Clock, PortError, Random};
use agency_router::pool::InstanceReport;
use agency_router::{RouteDecision, RouteRequest};
use agency_router_service::{RouterPorts, RoutingState};
use agency_skill_graph::SkillGraph;
use agency_skill_graph_service::GraphPorts;

use super::{ActiveGraph, AppState};
use crate::config::Engine;
use crate::runtime::RuntimeError;
use crate::store::Store;

/// The ports of every service, over the server's state.
#[derive(Clone)]
pub struct Local(pub Arc<AppState>);

/// The OS random source.
#[derive(Debug, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), PortError> {
        getrandom::fill(bytes).map_err(|e| PortError::Random(e.to_string()))
    }
}

impl Random for Local {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), PortError> {
        OsRandom.fill(bytes)
    }
}

impl Clock for Local {
    fn now_ms(&self) -> i64 {
        crate::store::now_ms()
    }

    fn precise_ms(&self) -> f64 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs_f64()
            * 1000.0
    }
}

impl agency_kit::Metrics for Local {
    fn sample(&self, f: &mut dyn FnMut(&mut agency_monitor::Registry)) {
        f(&mut self.0.metrics());
    }
}

impl Observer for Local {
    fn record(&self, log: &RequestLog) {
        log.count(&mut self.0.metrics());
        tracing::info!(
            request_id = %log.id,
            method = %log.method,
            route = log.route,
            status = log.status,
            ms = log.ms,
            "request"
        );
    }
}

/// What the router's runtime errors mean to a client.
pub fn runtime_error(e: RuntimeError) -> ApiError {
    match e {
        RuntimeError::Trap(_) => ApiError::component_trap("router", &e),
        RuntimeError::InvalidGraph(m) => ApiError::unprocessable("invalid_graph", m),
        RuntimeError::Setup(_) | RuntimeError::InvalidPolicy(_) => {
            ApiError::internal("component_setup", &e)
        }
    }
}

impl GraphPorts for Local {
    type Db = Store;
    fn db(&self) -> &Store {
        &self.0.store
    }

    type UploadGuard = tokio::sync::OwnedMutexGuard<()>;

    async fn upload_lock(&self) -> Self::UploadGuard {
        self.0.graph_update.clone().lock_owned().await
    }

    async fn cached(&self, version: &str) -> Option<Arc<SkillGraph>> {
        let active = self.0.active();
        (active.version == version).then(|| active.graph.clone())
    }

    async fn remember(
        &self,
        _version: &str,
        _json: &str,
        _graph: &Arc<SkillGraph>,
    ) -> Result<(), PortError> {
        // The active graph is the only one kept in memory, set by `activate`.
        Ok(())
    }

    async fn activate(&self, graph: &Arc<SkillGraph>) -> Result<(), ApiError> {
        self.0.router.set_graph(graph).map_err(runtime_error)?;
        *self.0.active.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ActiveGraph {
            version: graph.version(),
            graph: graph.clone(),
        });
        Ok(())
    }

    async fn health_changed(&self, down: &[String], reports: &[InstanceReport]) {
        *self.0.down.write().unwrap_or_else(|p| p.into_inner()) = down.to_vec();
        *self.0.instances.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(reports.to_vec());
    }

    async fn router(&self, path: &str) -> Result<(u16, serde_json::Value), ApiError> {
        // Boxed: the skill-graph service's own handler is on the way in.
        let call = Box::pin(super::site::internal(
            self.0.clone(),
            http::Method::GET,
            path,
            &serde_json::Value::Null,
        ));
        Ok(call.await)
    }
}

/// The router as the local server runs it, with the graph and down agents of now.
pub struct LocalRouting {
    state: Arc<AppState>,
    active: Arc<ActiveGraph>,
    down: Vec<String>,
    instances: Arc<Vec<InstanceReport>>,
}

impl RoutingState for LocalRouting {
    fn version(&self) -> &str {
        &self.active.version
    }

    fn engine(&self) -> &'static str {
        match self.state.router.engine() {
            Engine::Wasm => "wasm",
            Engine::Native => "native",
        }
    }

    fn graph(&self) -> &SkillGraph {
        &self.active.graph
    }

    fn down(&self) -> &[String] {
        &self.down
    }

    fn instances(&self) -> &[InstanceReport] {
        &self.instances
    }

    fn route(&self, request: &RouteRequest) -> Result<RouteDecision, ApiError> {
        self.state.router.route(request).map_err(runtime_error)
    }
}

impl RouterPorts for Local {
    type Db = Store;
    fn db(&self) -> &Store {
        &self.0.store
    }

    type State = LocalRouting;

    async fn state(&self) -> Result<LocalRouting, ApiError> {
        Ok(LocalRouting {
            state: self.0.clone(),
            active: self.0.active(),
            down: self.0.down_agents(),
            instances: self.0.instances(),
        })
    }

    async fn halts(&self) -> Result<Vec<agency_approval::HaltView>, ApiError> {
        Ok(self.0.halts())
    }

    /// Through the decision log's thread ([`super::decisions::DecisionLog`]): committed
    /// in groups after the answer has gone.
    async fn record(&self, decision: agency_kit::Statement) -> Result<(), ApiError> {
        self.0.decisions.record(decision).await
    }

    async fn settled(&self) -> Result<(), ApiError> {
        self.0.decisions.settled().await
    }

    /// From memory when this server saw the conversation, else the table.
    async fn held(
        &self,
        id: &str,
        since_ms: i64,
    ) -> Result<Option<agency_router_service::store::Held>, ApiError> {
        if let Some(found) = self.0.decisions.held(id, since_ms) {
            return Ok(found);
        }
        Ok(agency_router_service::store::conversation(&self.0.store, id, since_ms).await?)
    }

    /// Remembered at once, committed with the decisions.
    async fn hold(
        &self,
        id: &str,
        held: agency_router_service::store::Held,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        self.0.decisions.hold(id, held, now_ms).await
    }
}
