use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use agency_skill_graph::SkillGraph;
use clap::Args;

use agency::config::{Config, Engine};
use agency::routing::Router;
use agency::runtime::{ComponentRuntime, RuntimeOptions};
use agency::server::{ActiveGraph, AppState, generate_token};
use agency::store::{Store, now_ms};
use agency::{example, graph_files};
use agency_skill_graph_service::store as graph_store;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Directory for the SQLite database and the component cache.
    #[arg(long = "data")]
    data: Option<PathBuf>,
    /// TOML config file (layered: defaults -> file -> AGENCY_* env -> flags).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Serve the bundled example agency (seeds an empty store with its skill graph).
    #[arg(long)]
    example: bool,
    /// Skill graph to serve (directory or JSON); stored as a new version if it differs.
    #[arg(long)]
    graph: Option<PathBuf>,
    /// Approval policy (policy.toml); wins over the one --example ships.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// wasm (default) or native.
    #[arg(long)]
    engine: Option<Engine>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AGENCY_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut config =
        Config::load(args.config.as_deref(), std::env::vars()).map_err(anyhow::Error::msg)?;
    if let Some(a) = args.addr {
        config.addr = a;
    }
    if let Some(d) = args.data {
        config.data_dir = d;
    }
    if let Some(e) = args.engine {
        config.engine = e;
    }
    if let Some(g) = args.graph {
        config.graph = Some(g);
    }
    if let Some(p) = args.policy {
        config.policy = Some(p);
    }
    if config.auth.is_empty() {
        // Never serve without auth: make tokens for this run and show them once.
        config.auth.gateway_tokens.push(generate_token()?);
        config.auth.operator_tokens.push(generate_token()?);
        config.auth.viewer_tokens.push(generate_token()?);
        println!("No tokens configured; generated for this run:");
        println!("  AGENCY_GATEWAY_TOKEN={}", config.auth.gateway_tokens[0]);
        println!("  AGENCY_OPERATOR_TOKEN={}", config.auth.operator_tokens[0]);
        println!("  AGENCY_VIEWER_TOKEN={}", config.auth.viewer_tokens[0]);
    }

    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        anyhow::anyhow!("{}: cannot create data dir: {e}", config.data_dir.display())
    })?;
    let store = Store::open(&config.data_dir.join("agency.db"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let explicit: Option<SkillGraph> = match &config.graph {
        Some(path) => Some(graph_files::load(path).map_err(|e| anyhow::anyhow!("{e}"))?),
        None => None,
    };
    let (graph, down) = rt.block_on(async {
        let seed = match (explicit, graph_store::head(&store).await?) {
            (Some(g), _) => Some(g),
            (None, Some(_)) => None,
            (None, None) if args.example => Some(
                example::graph()
                    .map_err(|e| anyhow::anyhow!("the bundled example graph is invalid:\n{e}"))?,
            ),
            (None, None) => anyhow::bail!(
                "no skill graph: pass --graph PATH, set AGENCY_GRAPH, or use --example"
            ),
        };
        if let Some(g) = seed {
            graph_store::insert_unless_current(&store, &g.version(), &g.to_json(), now_ms())
                .await?;
        }
        let head = graph_store::head(&store)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the graph was not stored"))?;
        let json = graph_store::graph_json(&store, &head.version)
            .await?
            .ok_or_else(|| anyhow::anyhow!("stored graph {} vanished", head.version))?;
        let graph = SkillGraph::from_json(&json)
            .map_err(|e| anyhow::anyhow!("stored graph {} is invalid: {e}", head.version))?;
        anyhow::Ok((graph, graph_store::down_agents(&store).await?))
    })?;

    let runtime = match config.engine {
        Engine::Wasm => Some(Arc::new(ComponentRuntime::new(RuntimeOptions {
            cache_dir: Some(config.data_dir.join("cache")),
            call_timeout: std::time::Duration::from_millis(config.wasm.call_timeout_ms.max(10)),
            fuel_per_call: Some(config.wasm.fuel_per_call).filter(|f| *f > 0),
            max_memory_bytes: config.wasm.max_memory_mb << 20,
            ..RuntimeOptions::default()
        })?)),
        Engine::Native => None,
    };
    let router = Router::new(config.engine, runtime.clone(), &graph)?;

    // The policy: --policy / config / env, else the example's with --example, else
    // none (every action asks a human).
    let (policy_text, policy_file) = match &config.policy {
        Some(p) => (
            std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", p.display()))?,
            p.display().to_string(),
        ),
        None if args.example => (
            example::POLICY.to_owned(),
            "examples/policy/policy.toml".to_owned(),
        ),
        None => (String::new(), "(no policy)".to_owned()),
    };
    let policy = agency_approval::Policy::parse(&policy_text, &policy_file).map_err(|errors| {
        anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let component = match &runtime {
        Some(rt) => Some(std::sync::Mutex::new(
            rt.instantiate_policy(&policy_text, &policy_file)?,
        )),
        None => None,
    };
    let assistant = agency::assistant::Assistant { policy, component };
    let addr = config.addr;
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
        assistant,
        graph_update: Arc::new(tokio::sync::Mutex::new(())),
    });

    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr()?;
        println!(
            "agency: listening on http://{local} (graph {})",
            state.active().version
        );
        use std::io::Write;
        std::io::stdout().flush()?;
        agency::server::serve(state, listener, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
