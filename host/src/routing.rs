//! The router as the host runs it: through the component (default) or natively, behind
//! one small API, with timing added.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use agency_router::{RouteDecision, RouteRequest, RouterIndex};
use agency_skill_graph::SkillGraph;

use crate::config::Engine;
use crate::runtime::{ComponentRuntime, RouterPool, RuntimeError};

pub enum Router {
    Native(RwLock<Arc<RouterIndex>>),
    Wasm(RouterPool),
}

impl Router {
    pub fn new(
        engine: Engine,
        runtime: Option<Arc<ComponentRuntime>>,
        graph: &SkillGraph,
    ) -> Result<Router, RuntimeError> {
        match (engine, runtime) {
            (Engine::Wasm, Some(rt)) => Ok(Router::Wasm(RouterPool::new(
                rt,
                graph.version(),
                graph.to_json(),
            )?)),
            (Engine::Wasm, None) => Err(RuntimeError::Setup(
                "the wasm engine needs a component runtime".into(),
            )),
            (Engine::Native, _) => Ok(Router::Native(RwLock::new(Arc::new(native_index(graph)?)))),
        }
    }

    pub fn engine(&self) -> Engine {
        match self {
            Router::Native(_) => Engine::Native,
            Router::Wasm(_) => Engine::Wasm,
        }
    }

    /// Switches to `graph`; the next call uses it.
    pub fn set_graph(&self, graph: &SkillGraph) -> Result<(), RuntimeError> {
        match self {
            Router::Native(slot) => {
                let index = Arc::new(native_index(graph)?);
                *slot.write().unwrap_or_else(|p| p.into_inner()) = index;
                Ok(())
            }
            Router::Wasm(pool) => pool.set_graph(graph.version(), graph.to_json()),
        }
    }

    pub fn route(&self, request: &RouteRequest) -> Result<RouteDecision, RuntimeError> {
        let start = Instant::now();
        let mut d = match self {
            Router::Native(slot) => slot
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .route(request),
            Router::Wasm(pool) => pool.route(request)?,
        };
        d.routing_latency = Some(start.elapsed().as_secs_f64() * 1000.0);
        Ok(d)
    }

    /// Routes in order; each decision's latency is its share of the batch's time.
    pub fn route_batch(
        &self,
        requests: &[RouteRequest],
    ) -> Result<Vec<RouteDecision>, RuntimeError> {
        let start = Instant::now();
        let mut ds = match self {
            Router::Native(slot) => slot
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .route_batch(requests),
            Router::Wasm(pool) => pool.route_batch(requests)?,
        };
        let each = start.elapsed().as_secs_f64() * 1000.0 / requests.len().max(1) as f64;
        for d in &mut ds {
            d.routing_latency = Some(each);
        }
        Ok(ds)
    }
}

fn native_index(graph: &SkillGraph) -> Result<RouterIndex, RuntimeError> {
    RouterIndex::build(graph).map_err(|e| RuntimeError::InvalidGraph(e.to_string()))
}
