use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use agency::app::App;
use agency::config::{Config, Engine};
use agency::server::generate_token;

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
    if args.example && config.webhook_settings.sources.is_empty() {
        let (sources, lines) = agency::example::webhook_sources().map_err(anyhow::Error::msg)?;
        config.webhook_settings.sources = sources;
        for l in lines {
            println!("{l}");
        }
    }

    let addr = config.addr;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let app = App::build(config, args.example).await?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr()?;
        println!(
            "agency: listening on http://{local} (graph {})",
            app.state.active().version
        );
        use std::io::Write;
        std::io::stdout().flush()?;
        app.run(listener, shutdown_signal(), Duration::from_secs(10))
            .await?;
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
