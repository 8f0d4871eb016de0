//! The wasmtime side: one engine with the pooling allocator, components compiled once
//! (and cached precompiled on disk), `InstancePre` for cheap instantiation, and a pool of
//! router instances that each hold a built keyword index.

mod approval;
mod bindings;
mod cache;
mod monitor;
mod router;

pub use approval::PolicyInstance;
pub use monitor::{Handle, MonitorInstance};
pub use router::{RouterInstance, RouterPool};

use std::path::PathBuf;

use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances; call timeouts are counted in these ticks.
pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Errors from running a component. A `Trap` means the instance is gone and must not
/// be reused; the caller answers 500 and carries on.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the component trapped: {0}")]
    Trap(String),
    #[error("the graph was rejected: {0}")]
    InvalidGraph(String),
    #[error("the policy was rejected:\n{0}")]
    InvalidPolicy(String),
    #[error("component setup failed: {0}")]
    Setup(String),
}

/// Limits for component instances.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where precompiled components are kept; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Wall-clock limit of one call (epoch interruption, ticking every 10 ms): a
    /// runaway call traps instead of hanging a worker.
    pub call_timeout: std::time::Duration,
    /// Optional exact budget of wasm instructions ("fuel") per routing call. Metering
    /// costs time on every call, so it is off unless set.
    pub fuel_per_call: Option<u64>,
    /// Linear memory limit per instance, in bytes.
    pub max_memory_bytes: usize,
    /// Instances the pool may keep at once.
    pub max_instances: u32,
    /// Name the compiled wasm functions in `/tmp/perf-PID.map`, for `perf report`.
    /// Defaults to whether `AGENCY_WASM_PERFMAP` is set, so a profiling run of any
    /// binary (the server, a bench) needs no code change.
    pub perf_map: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            cache_dir: default_cache_dir(),
            call_timeout: std::time::Duration::from_secs(1),
            fuel_per_call: None,
            max_memory_bytes: 512 << 20,
            max_instances: 64,
            perf_map: std::env::var_os("AGENCY_WASM_PERFMAP").is_some(),
        }
    }
}

/// `$XDG_CACHE_HOME/agency` or `~/.cache/agency`.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("agency"))
}

/// Compiled components and the engine that runs them. Cheap to share (`Arc`).
pub struct ComponentRuntime {
    engine: Engine,
    router_pre: bindings::router::RouterComponentPre<()>,
    approval_pre: bindings::approval::ApprovalComponentPre<()>,
    monitor_pre: bindings::monitor::MonitorComponentPre<()>,
    options: RuntimeOptions,
}

/// A component compiled (or read from the precompiled cache) and pre-instantiated.
fn load(
    engine: &Engine,
    linker: &Linker<()>,
    bytes: &[u8],
    cache_dir: Option<&std::path::Path>,
    name: &str,
) -> anyhow::Result<InstancePre<()>> {
    let component = cache::load_or_compile(engine, bytes, cache_dir)
        .map_err(|e| e.context(format!("compiling the {name} component")))?;
    linker.instantiate_pre(&component).map_err(|e| {
        anyhow::Error::from(e).context(format!("pre-instantiating the {name} component"))
    })
}

impl ComponentRuntime {
    pub fn new(options: RuntimeOptions) -> anyhow::Result<ComponentRuntime> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(options.max_instances)
            .total_core_instances(options.max_instances * 2)
            .total_memories(options.max_instances * 2)
            .total_tables(options.max_instances * 2)
            .max_memory_size(options.max_memory_bytes);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(options.fuel_per_call.is_some())
            .epoch_interruption(true)
            // Reserve 4 GiB of address space per memory so that compiled code needs no
            // explicit bounds checks (guard pages do it); growth is still capped above.
            .memory_reservation(4 << 30)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if options.perf_map {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)
            .map_err(|e| anyhow::Error::from(e).context("creating the wasmtime engine"))?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| anyhow::anyhow!("starting the epoch ticker: {e}"))?;

        let linker: Linker<()> = Linker::new(&engine);
        let cache_dir = options.cache_dir.as_deref();
        let pre = load(
            &engine,
            &linker,
            agency_artifacts::ROUTER_COMPONENT,
            cache_dir,
            "router",
        )?;
        let router_pre = bindings::router::RouterComponentPre::new(pre).map_err(|e| {
            anyhow::Error::from(e).context("checking the router component's exports")
        })?;
        let pre = load(
            &engine,
            &linker,
            agency_artifacts::APPROVAL_COMPONENT,
            cache_dir,
            "approval",
        )?;
        let approval_pre = bindings::approval::ApprovalComponentPre::new(pre).map_err(|e| {
            anyhow::Error::from(e).context("checking the approval component's exports")
        })?;
        let pre = load(
            &engine,
            &linker,
            agency_artifacts::MONITOR_COMPONENT,
            cache_dir,
            "monitor",
        )?;
        let monitor_pre = bindings::monitor::MonitorComponentPre::new(pre).map_err(|e| {
            anyhow::Error::from(e).context("checking the monitor component's exports")
        })?;
        Ok(ComponentRuntime {
            engine,
            router_pre,
            approval_pre,
            monitor_pre,
            options,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Names of everything the built components import (expected: nothing).
    pub fn component_imports(&self) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        for (_, bytes) in agency_artifacts::ALL {
            let component = Component::new(&self.engine, bytes)?;
            names.extend(
                component
                    .component_type()
                    .imports(&self.engine)
                    .map(|(name, _)| name.to_owned()),
            );
        }
        Ok(names)
    }

    /// Instantiates the router component without building an index: the fixed cost of
    /// a new instance (what the pooling allocator and `InstancePre` make cheap).
    pub fn instantiate_empty(&self) -> Result<(), RuntimeError> {
        let mut store = wasmtime::Store::new(&self.engine, ());
        router::prepare_store(&mut store, &self.options, None)?;
        self.router_pre
            .instantiate(&mut store)
            .map_err(|e| RuntimeError::Setup(format!("{e:#}")))?;
        Ok(())
    }

    /// A fresh approval-component instance holding `toml` parsed as a policy.
    pub fn instantiate_policy(
        &self,
        toml: &str,
        file: &str,
    ) -> Result<PolicyInstance, RuntimeError> {
        PolicyInstance::new(self, toml, file)
    }

    /// A fresh monitor-component instance.
    pub fn instantiate_monitor(&self) -> Result<MonitorInstance, RuntimeError> {
        MonitorInstance::new(self)
    }

    /// A fresh router instance with `graph_json`'s index built inside it.
    pub fn instantiate_router(&self, graph_json: &str) -> Result<RouterInstance, RuntimeError> {
        RouterInstance::new(self, graph_json)
    }
}
