//! Router instances and their pool.

use std::sync::{Arc, Mutex};

use std::sync::Arc as StdArc;

use agency_router::{Names, RouteDecision, RouteRequest};
use agency_skill_graph::Complexity;
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::bindings::router::RouterComponent;
use super::bindings::router::exports::agency::core::router as wit;
use super::{ComponentRuntime, RuntimeError, RuntimeOptions};

/// One instance of the router component with one graph's index built inside it.
pub struct RouterInstance {
    store: Store<()>,
    bindings: RouterComponent,
    index: ResourceAny,
    version: String,
    /// The strings the component's decisions point into, fetched once.
    names: Names,
    fuel_per_call: Option<u64>,
    deadline_ticks: u64,
}

impl RouterInstance {
    pub(super) fn new(
        runtime: &ComponentRuntime,
        graph_json: &str,
    ) -> Result<RouterInstance, RuntimeError> {
        let mut store = Store::new(&runtime.engine, ());
        // Building a large index is legitimately expensive: no fuel limit, a longer deadline.
        prepare_store(&mut store, &runtime.options, None)?;
        store.set_epoch_deadline(ticks(runtime.options.call_timeout) * 10);
        let bindings = runtime
            .router_pre
            .instantiate(&mut store)
            .map_err(|e| RuntimeError::Setup(format!("{e:#}")))?;
        let index = bindings
            .agency_core_router()
            .keyword_index()
            .call_build(&mut store, graph_json)
            .map_err(|e| RuntimeError::Trap(format!("{e:#}")))?
            .map_err(RuntimeError::InvalidGraph)?;
        let n = bindings
            .agency_core_router()
            .keyword_index()
            .call_names(&mut store, index)
            .map_err(|e| RuntimeError::Trap(format!("{e:#}")))?;
        let arcs = |v: Vec<String>| v.into_iter().map(|s| StdArc::from(s.as_str())).collect();
        let names = Names {
            agents: arcs(n.agents),
            keywords: arcs(n.keywords),
            files: arcs(n.files),
            channels: arcs(n.channels),
            graph_version: StdArc::from(n.graph_version.as_str()),
        };
        Ok(RouterInstance {
            store,
            bindings,
            index,
            version: n.graph_version,
            names,
            fuel_per_call: runtime.options.fuel_per_call,
            deadline_ticks: ticks(runtime.options.call_timeout),
        })
    }

    pub fn graph_version(&self) -> &str {
        &self.version
    }

    /// Sets the limits for a call doing the work of `calls` routings.
    fn arm(&mut self, calls: u64) -> Result<(), RuntimeError> {
        self.store
            .set_epoch_deadline(self.deadline_ticks.saturating_mul(calls));
        if let Some(f) = self.fuel_per_call {
            self.store
                .set_fuel(f.saturating_mul(calls))
                .map_err(|e| RuntimeError::Setup(e.to_string()))?;
        }
        Ok(())
    }

    pub fn route(&mut self, request: &RouteRequest) -> Result<RouteDecision, RuntimeError> {
        self.arm(1)?;
        let (channel, down) = (self.names.channel_of(request), self.names.down_of(request));
        let packed = self
            .bindings
            .agency_core_router()
            .keyword_index()
            .call_route(
                &mut self.store,
                self.index,
                &request.message,
                channel,
                request.complexity.map(to_wit),
                &down,
            )
            .map_err(|e| RuntimeError::Trap(format!("{e:#}")))?;
        self.names.decode_single(&packed).map_err(malformed)
    }

    /// Routes many messages, packed into one call per run of requests with the same
    /// down agents (normally the whole batch).
    pub fn route_batch(
        &mut self,
        requests: &[RouteRequest],
    ) -> Result<Vec<RouteDecision>, RuntimeError> {
        let mut out = Vec::with_capacity(requests.len());
        for run in requests.chunk_by(|a, b| a.down_agents == b.down_agents) {
            self.arm(run.len() as u64)?;
            let packed = wit::PackedRequests {
                text: run.iter().map(|r| r.message.as_str()).collect(),
                ends: run
                    .iter()
                    .scan(0u32, |end, r| {
                        *end = end.saturating_add(r.message.len() as u32);
                        Some(*end)
                    })
                    .collect(),
                channels: run.iter().map(|r| self.names.channel_of(r)).collect(),
                complexities: run.iter().map(|r| r.complexity.map(to_wit)).collect(),
                // The same in every request of the run.
                down_agents: self.names.down_of(&run[0]),
            };
            let words = self
                .bindings
                .agency_core_router()
                .keyword_index()
                .call_route_batch(&mut self.store, self.index, &packed)
                .map_err(|e| RuntimeError::Trap(format!("{e:#}")))?
                .map_err(RuntimeError::Trap)?;
            let decoded = self
                .names
                .decode_into(&words, &mut out)
                .map_err(malformed)?;
            if decoded != run.len() {
                return Err(RuntimeError::Trap(format!(
                    "the router component returned {decoded} decisions for {} messages",
                    run.len()
                )));
            }
        }
        Ok(out)
    }
}

/// A packed decision list the host cannot read: the component misbehaved.
fn malformed(e: agency_router::DecodeError) -> RuntimeError {
    RuntimeError::Trap(format!("router component: {e}"))
}

/// Limits for a fresh store: unlimited fuel (when metering is on) and a deadline.
pub(super) fn prepare_store(
    store: &mut Store<()>,
    options: &RuntimeOptions,
    fuel: Option<u64>,
) -> Result<(), RuntimeError> {
    if options.fuel_per_call.is_some() {
        store
            .set_fuel(fuel.unwrap_or(u64::MAX / 2))
            .map_err(|e| RuntimeError::Setup(e.to_string()))?;
    }
    store.set_epoch_deadline(ticks(options.call_timeout));
    Ok(())
}

/// A duration in epoch ticks (at least one).
pub(super) fn ticks(d: std::time::Duration) -> u64 {
    (d.as_millis() / super::EPOCH_TICK.as_millis().max(1)).max(1) as u64
}

/// Idle router instances for the current graph. An instance is taken for one call and
/// put back; one that trapped is dropped, and a new one is built on demand. Instances
/// of an old graph version are discarded as they come back.
pub struct RouterPool {
    runtime: Arc<ComponentRuntime>,
    current: Mutex<Arc<GraphSlot>>,
    idle: Mutex<Vec<RouterInstance>>,
}

struct GraphSlot {
    version: String,
    json: String,
}

impl RouterPool {
    /// Builds one instance up front so a bad graph fails here, not on first use.
    pub fn new(
        runtime: Arc<ComponentRuntime>,
        version: String,
        graph_json: String,
    ) -> Result<RouterPool, RuntimeError> {
        let first = runtime.instantiate_router(&graph_json)?;
        Ok(RouterPool {
            runtime,
            current: Mutex::new(Arc::new(GraphSlot {
                version,
                json: graph_json,
            })),
            idle: Mutex::new(vec![first]),
        })
    }

    /// Switches to another graph; the next call uses it.
    pub fn set_graph(&self, version: String, graph_json: String) -> Result<(), RuntimeError> {
        let first = self.runtime.instantiate_router(&graph_json)?;
        *lock(&self.current) = Arc::new(GraphSlot {
            version,
            json: graph_json,
        });
        let mut idle = lock(&self.idle);
        idle.clear();
        idle.push(first);
        Ok(())
    }

    fn with_instance<T>(
        &self,
        f: impl FnOnce(&mut RouterInstance) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError> {
        let slot = lock(&self.current).clone();
        let taken = {
            let mut idle = lock(&self.idle);
            idle.retain(|i| i.version == slot.version);
            idle.pop()
        };
        let mut instance = match taken {
            Some(i) => i,
            None => self.runtime.instantiate_router(&slot.json)?,
        };
        let result = f(&mut instance);
        match &result {
            Err(RuntimeError::Trap(e)) => {
                tracing::error!(error = %e, "router component trapped; instance replaced")
            }
            _ => {
                if lock(&self.current).version == instance.version {
                    lock(&self.idle).push(instance);
                }
            }
        }
        result
    }

    pub fn route(&self, request: &RouteRequest) -> Result<RouteDecision, RuntimeError> {
        self.with_instance(|i| i.route(request))
    }

    pub fn route_batch(
        &self,
        requests: &[RouteRequest],
    ) -> Result<Vec<RouteDecision>, RuntimeError> {
        self.with_instance(|i| i.route_batch(requests))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn to_wit(c: Complexity) -> wit::Complexity {
    match c {
        Complexity::Simple => wit::Complexity::Simple,
        Complexity::Moderate => wit::Complexity::Moderate,
        Complexity::Complex => wit::Complexity::Complex,
    }
}
