//! The composition root of `agency serve`: every service built from the config, the
//! HTTP server and the background runtime started, and both stopped together. The CLI
//! only layers the config; tests build an [`App`] in-process and serve it on port 0.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use agency_skill_graph::SkillGraph;
use agency_skill_graph_service::store as graph_store;
use anyhow::{Context, anyhow};
use tokio::net::TcpListener;

use crate::assistant::Assistant;
use crate::background::Background;
use crate::config::{Config, Engine};
use crate::routing::Router;
use crate::runtime::{ComponentRuntime, RuntimeOptions};
use crate::server::{ActiveGraph, AppState};
use crate::store::{Store, now_ms};
use crate::{example, graph_files};

/// A built server: its state (every service's) and its background tasks.
pub struct App {
    pub state: Arc<AppState>,
    pub background: Background,
    /// The data directory is this server's alone while it runs (`agency restore`
    /// refuses to swap a database under it).
    _lock: crate::backup::DataLock,
}

impl App {
    /// Builds every service from `config`. With `example`, an empty store is seeded with
    /// the bundled example graph, and the example policy is used when none is set.
    pub async fn build(config: Config, example: bool) -> anyhow::Result<App> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("{}: cannot create data dir", config.data_dir.display()))?;
        let lock = crate::backup::DataLock::acquire(&config.data_dir)?;
        let db_path = config.data_dir.join(crate::backup::DB_FILE);
        let store = Store::open(&db_path)?;
        let checkpointer = crate::store::Checkpointer::open(&db_path)?;
        // This server is its data's only consumer: what a stopped one was processing is
        // queued again now, not after its leases run out.
        let reclaimed = agency_webhooks_service::store::reclaim(&store, now_ms()).await?;
        if reclaimed > 0 {
            tracing::info!(
                reclaimed,
                "webhook work left processing by a stopped server is queued again"
            );
        }
        let (graph, down) = current_graph(&store, config.graph.as_deref(), example).await?;
        let instances = graph_store::instance_reports(&store, now_ms()).await?;
        let runtime = component_runtime(&config)?;
        let router = Router::new(config.engine, runtime.clone(), &graph)?;
        let assistant = assistant(&config, runtime.as_deref(), example)?;
        let (intake, intake_queue) = crate::server::webhooks::Intake::new();
        let (decisions, decision_queue) = crate::server::decisions::DecisionLog::new();
        let state = Arc::new(AppState {
            tokens: config.auth.tokens(),
            config,
            store,
            router,
            active: RwLock::new(Arc::new(ActiveGraph {
                version: graph.version(),
                graph: Arc::new(graph),
            })),
            down: RwLock::new(down),
            instances: RwLock::new(Arc::new(instances)),
            decisions,
            assistant,
            graph_update: Arc::new(tokio::sync::Mutex::new(())),
            webhook_work: tokio::sync::Notify::new(),
            sweep_due: std::sync::atomic::AtomicBool::new(false),
            halts: RwLock::new(Vec::new()),
            closing: tokio::sync::watch::Sender::new(false),
            metrics: std::sync::Mutex::new(agency_monitor::Registry::default()),
            intake,
        });
        state
            .refresh_halts()
            .context("cannot read the halts in force")?;
        intake_queue
            .start(Arc::downgrade(&state))
            .context("cannot start the webhook intake thread")?;
        decision_queue
            .start(Arc::downgrade(&state))
            .context("cannot start the decision log's thread")?;
        let mut background = Background::new();
        let s = state.clone();
        background.spawn("webhook-consumer", move |shutdown| {
            crate::server::webhooks::consumer(s, shutdown, Duration::from_millis(500))
        });
        let checkpointer = Arc::new(checkpointer);
        background.every("sqlite-checkpoint", Duration::from_millis(500), move || {
            let c = checkpointer.clone();
            async move {
                let done = tokio::task::spawn_blocking(move || c.run()).await;
                if let Ok(Err(e)) = done {
                    tracing::warn!(error = %e, "SQLite checkpoint failed");
                }
            }
        });
        let s = state.clone();
        let every = Duration::from_millis(state.config.monitoring.probe_interval_ms);
        background.every("health-probes", every, move || {
            let local = crate::server::ports::Local(s.clone());
            async move {
                if let Err(e) = agency_monitoring_service::probes::round(&local).await {
                    tracing::warn!(error = %e, log = ?e.log, "health probe round failed");
                }
            }
        });
        // Reservations no approval holds are given back: at start, every one made before
        // this process (nothing of the last one is still in flight: a crash between the
        // ledger and the approval's record is repaired on restart), then each minute
        // those older than the longest decision.
        let started = crate::store::now_ms();
        let reconcile = move |s: Arc<AppState>| async move {
            let local = crate::server::ports::Local(s);
            let now = crate::store::now_ms();
            let before = started.max(now - agency_assistant_service::api::ORPHAN_AFTER_MS);
            match agency_assistant_service::api::reconcile(&local, before).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(tasks = n, "released reservations no approval holds"),
                Err(e) => tracing::warn!(error = %e, log = ?e.log, "ledger reconcile failed"),
            }
        };
        let s = state.clone();
        background.spawn("ledger-reconcile-at-start", move |_| reconcile(s));
        let s = state.clone();
        background.every("ledger-reconcile", Duration::from_secs(60), move || {
            reconcile(s.clone())
        });
        let s = state.clone();
        background.every("webhook-prune", Duration::from_secs(600), move || {
            let s = s.clone();
            async move { crate::server::webhooks::prune(&s) }
        });
        // Records past their retention are archived, then deleted, a bounded batch at a
        // time: at start, then ten minutes after each round ends (one task: rounds
        // never overlap).
        let s = state.clone();
        let prune = move || {
            let s = s.clone();
            async move {
                let c = &s.config;
                let dir = crate::retention::dir_in(&c.retention, &c.data_dir);
                match crate::retention::round(&s.store, &dir, &c.retention, now_ms()).await {
                    Ok(p) if p.rows.is_empty() => {}
                    Ok(p) => {
                        tracing::info!(pruned = ?p.rows, files = p.files, archive = %dir.display(), "archived and deleted records past their retention")
                    }
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "retention round failed"),
                }
            }
        };
        background.every_from_now("retention", Duration::from_secs(600), prune);
        if let Some(b) = &state.config.backup {
            let (db, dir, keep) = (db_path.clone(), b.dir_in(&state.config.data_dir), b.keep);
            let every = Duration::from_secs(b.every_secs().unwrap_or(86_400));
            // Checked at start and each minute (or sooner): due when the newest backup is
            // `every` old, so a restart neither skips one nor takes one early.
            let round = move || {
                let (db, dir) = (db.clone(), dir.clone());
                async move {
                    let round = tokio::task::spawn_blocking(move || {
                        crate::backup::scheduled_round(&db, &dir, every, keep, now_ms())
                    })
                    .await;
                    match round {
                        Ok(Ok(Some(t))) => tracing::info!(
                            path = %t.path.display(), bytes = t.bytes, ms = t.took.as_millis() as u64,
                            "backup taken"
                        ),
                        Ok(Ok(None)) => {}
                        Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "backup failed"),
                        Err(e) => tracing::error!(error = %e, "backup failed"),
                    }
                }
            };
            background.every_from_now("backup", every.min(Duration::from_secs(60)), round);
        }
        Ok(App {
            state,
            background,
            _lock: lock,
        })
    }

    /// Serves on `listener` until `shutdown` resolves; then requests in flight finish and
    /// background tasks get `grace` to stop.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> std::io::Result<()> {
        let served = crate::server::serve(self.state.clone(), listener, shutdown).await;
        self.background.shutdown(grace).await;
        // Every decision answered is stored before the process ends.
        if let Err(e) = self.state.decisions.settled().await {
            tracing::error!(error = %e, "the last routing decisions may not be stored");
        }
        served
    }
}

/// The graph to serve and the agents marked down: `path` is stored as a new version if
/// it differs from the newest; an empty store takes the example (with `example`).
async fn current_graph(
    store: &Store,
    path: Option<&Path>,
    example: bool,
) -> anyhow::Result<(SkillGraph, Vec<String>)> {
    let explicit = match path {
        Some(p) => Some(graph_files::load(p).map_err(|e| anyhow!("{e}"))?),
        None => None,
    };
    let seed = match (explicit, graph_store::head(store).await?) {
        (Some(g), _) => Some(g),
        (None, Some(_)) => None,
        (None, None) if example => Some(
            example::graph().map_err(|e| anyhow!("the bundled example graph is invalid:\n{e}"))?,
        ),
        (None, None) => {
            anyhow::bail!("no skill graph: pass --graph PATH, set AGENCY_GRAPH, or use --example")
        }
    };
    if let Some(g) = seed {
        graph_store::insert_unless_current(store, &g.version(), &g.to_json(), now_ms()).await?;
    }
    let head = graph_store::head(store)
        .await?
        .ok_or_else(|| anyhow!("the graph was not stored"))?;
    let json = graph_store::graph_json(store, &head.version)
        .await?
        .ok_or_else(|| anyhow!("stored graph {} vanished", head.version))?;
    let graph = SkillGraph::from_json(&json)
        .map_err(|e| anyhow!("stored graph {} is invalid: {e}", head.version))?;
    Ok((graph, graph_store::down_agents(store).await?))
}

fn component_runtime(config: &Config) -> anyhow::Result<Option<Arc<ComponentRuntime>>> {
    Ok(match config.engine {
        Engine::Wasm => Some(Arc::new(ComponentRuntime::new(RuntimeOptions {
            cache_dir: Some(config.data_dir.join("cache")),
            call_timeout: Duration::from_millis(config.wasm.call_timeout_ms.max(10)),
            fuel_per_call: Some(config.wasm.fuel_per_call).filter(|f| *f > 0),
            max_memory_bytes: config.wasm.max_memory_mb << 20,
            ..RuntimeOptions::default()
        })?)),
        Engine::Native => None,
    })
}

/// The policy: `--policy` / config / env, else the example's with `example`, else none
/// (every action asks a human).
fn assistant(
    config: &Config,
    runtime: Option<&ComponentRuntime>,
    example: bool,
) -> anyhow::Result<Assistant> {
    let (text, file) = match &config.policy {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?,
            p.display().to_string(),
        ),
        None if example => (
            example::POLICY.to_owned(),
            "examples/policy/policy.toml".to_owned(),
        ),
        None => (String::new(), "(no policy)".to_owned()),
    };
    let policy = agency_approval::Policy::parse(&text, &file).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow!("{}", lines.join("\n"))
    })?;
    let component = match runtime {
        Some(rt) => Some(std::sync::Mutex::new(rt.instantiate_policy(&text, &file)?)),
        None => None,
    };
    Ok(Assistant { policy, component })
}
