//! Instances of the monitor component: its sketches and registries, and the SLA
//! arithmetic, called through the component (the monitoring service's engine under
//! `--engine wasm`; the benches compare it with the core called natively).

use agency_monitor::sla;
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::bindings::monitor::MonitorComponent;
use super::bindings::monitor::exports::agency::core::monitor as wit;
use super::{ComponentRuntime, RuntimeError};

/// A trap of the monitor component, named so.
fn trap(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Trap(format!("monitor component: {e}"))
}

/// One instance of the monitor component. An instance that trapped must be dropped.
pub struct MonitorInstance {
    store: Store<()>,
    bindings: MonitorComponent,
    deadline_ticks: u64,
}

/// A sketch or registry living in a [`MonitorInstance`].
#[derive(Debug, Clone, Copy)]
pub struct Handle(ResourceAny);

impl MonitorInstance {
    pub(super) fn new(runtime: &ComponentRuntime) -> Result<MonitorInstance, RuntimeError> {
        let mut store = Store::new(&runtime.engine, ());
        super::router::prepare_store(&mut store, &runtime.options, None)?;
        let bindings = runtime
            .monitor_pre
            .instantiate(&mut store)
            .map_err(|e| RuntimeError::Setup(format!("{e:#}")))?;
        Ok(MonitorInstance {
            store,
            bindings,
            deadline_ticks: super::router::ticks(runtime.options.call_timeout),
        })
    }

    fn iface(&mut self) -> (&mut Store<()>, &wit::Guest) {
        self.store.set_epoch_deadline(self.deadline_ticks);
        (&mut self.store, self.bindings.agency_core_monitor())
    }

    pub fn sketch(&mut self) -> Result<Handle, RuntimeError> {
        let (store, m) = self.iface();
        m.sketch().call_constructor(store).map(Handle).map_err(trap)
    }

    pub fn record(&mut self, sketch: Handle, seconds: f64) -> Result<(), RuntimeError> {
        let (store, m) = self.iface();
        m.sketch()
            .call_observe(store, sketch.0, seconds)
            .map_err(trap)
    }

    /// Adds `other`'s samples to `into`.
    pub fn merge_sketch(&mut self, into: Handle, other: Handle) -> Result<(), RuntimeError> {
        let (store, m) = self.iface();
        m.sketch().call_merge(store, into.0, other.0).map_err(trap)
    }

    pub fn quantile(&mut self, sketch: Handle, q: f64) -> Result<Option<f64>, RuntimeError> {
        let (store, m) = self.iface();
        m.sketch().call_quantile(store, sketch.0, q).map_err(trap)
    }

    pub fn registry(&mut self) -> Result<Handle, RuntimeError> {
        let (store, m) = self.iface();
        m.registry()
            .call_constructor(store)
            .map(Handle)
            .map_err(trap)
    }

    /// A counter's increment, a gauge's value or a histogram's observation, as the
    /// family's kind says (`kind`: what the caller means to do).
    pub fn sample(
        &mut self,
        registry: Handle,
        kind: agency_monitor::Kind,
        family: &str,
        labels: &[String],
        value: f64,
    ) -> Result<Result<(), String>, RuntimeError> {
        let (store, m) = self.iface();
        let r = m.registry();
        match kind {
            agency_monitor::Kind::Counter => r.call_add(store, registry.0, family, labels, value),
            agency_monitor::Kind::Gauge => r.call_set(store, registry.0, family, labels, value),
            agency_monitor::Kind::Histogram => {
                r.call_observe(store, registry.0, family, labels, value)
            }
        }
        .map_err(trap)
    }

    /// Adds another registry's JSON snapshot.
    pub fn merge_registry(
        &mut self,
        registry: Handle,
        snapshot: &str,
    ) -> Result<Result<(), String>, RuntimeError> {
        let (store, m) = self.iface();
        m.registry()
            .call_merge(store, registry.0, snapshot)
            .map_err(trap)
    }

    pub fn snapshot(&mut self, registry: Handle) -> Result<String, RuntimeError> {
        let (store, m) = self.iface();
        m.registry().call_snapshot(store, registry.0).map_err(trap)
    }

    pub fn exposition(&mut self, registry: Handle) -> Result<String, RuntimeError> {
        let (store, m) = self.iface();
        m.registry()
            .call_exposition(store, registry.0)
            .map_err(trap)
    }

    /// Uptime, budget left and burn rate over a window, through the component.
    pub fn sla(
        &mut self,
        probes: &[sla::Probe],
        now_ms: i64,
        window_ms: i64,
        objective: f64,
    ) -> Result<sla::Window, RuntimeError> {
        let probes: Vec<wit::Probe> = probes
            .iter()
            .map(|p| wit::Probe {
                at_ms: p.at_ms,
                up: p.up,
            })
            .collect();
        let (store, m) = self.iface();
        let s = m
            .call_sla_of(store, &probes, now_ms, window_ms, objective)
            .map_err(trap)?;
        Ok(sla::Window {
            uptime: s.uptime,
            budget_remaining: s.budget_remaining,
            burn_rate: s.burn_rate,
        })
    }
}
