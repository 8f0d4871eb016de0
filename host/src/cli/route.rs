use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use agency_router::RouteRequest;
use agency_skill_graph::Complexity;
use clap::Args;
use serde::Deserialize;

use agency::config::Engine;
use agency::graph_files;
use agency::routing::Router;
use agency::runtime::{ComponentRuntime, RuntimeOptions};

#[derive(Args)]
pub struct RouteArgs {
    /// Skill graph: a directory (graph.yaml + skill files) or a JSON file.
    #[arg(long)]
    graph: PathBuf,
    /// Channel the message came from.
    #[arg(long)]
    channel: Option<String>,
    /// simple, moderate or complex (estimated when absent).
    #[arg(long, value_parser = parse_complexity)]
    complexity: Option<Complexity>,
    /// wasm (the component under wasmtime) or native (the core crate).
    #[arg(long, default_value = "wasm")]
    engine: Engine,
    /// Treat this agent as down (repeatable).
    #[arg(long = "down")]
    down: Vec<String>,
    /// JSONL file of {"text", "channel"?, "complexity"?}: one decision per line, in order.
    #[arg(long, conflicts_with = "message")]
    batch: Option<PathBuf>,
    /// The message to route.
    #[arg(required_unless_present = "batch")]
    message: Option<String>,
}

fn parse_complexity(s: &str) -> Result<Complexity, String> {
    Complexity::parse(s).ok_or_else(|| format!("expected simple, moderate or complex, got {s:?}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchLine {
    text: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    complexity: Option<Complexity>,
    /// Labels are allowed so eval files can be routed as they are.
    #[serde(default, rename = "agent")]
    _agent: Option<serde_json::Value>,
    #[serde(default, rename = "intent")]
    _intent: Option<serde_json::Value>,
}

pub fn run(args: RouteArgs) -> anyhow::Result<ExitCode> {
    let graph = match graph_files::load(&args.graph) {
        Ok(g) => g,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let runtime = match args.engine {
        Engine::Wasm => Some(Arc::new(ComponentRuntime::new(RuntimeOptions::default())?)),
        Engine::Native => None,
    };
    let router = Router::new(args.engine, runtime, &graph)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match (&args.batch, &args.message) {
        (Some(path), _) => {
            let lines: Vec<BatchLine> = super::read_jsonl(path)?;
            let requests: Vec<RouteRequest> = lines
                .into_iter()
                .map(|l| RouteRequest {
                    message: l.text,
                    channel: l.channel.or_else(|| args.channel.clone()),
                    complexity: l.complexity.or(args.complexity),
                    down_agents: args.down.clone(),
                })
                .collect();
            for chunk in requests.chunks(256) {
                for d in router.route_batch(chunk)? {
                    serde_json::to_writer(&mut out, &d)?;
                    out.write_all(b"\n")?;
                }
            }
        }
        (None, Some(message)) => {
            let request = RouteRequest {
                message: message.clone(),
                channel: args.channel.clone(),
                complexity: args.complexity,
                down_agents: args.down.clone(),
            };
            let d = router.route(&request)?;
            serde_json::to_writer_pretty(&mut out, &d)?;
            out.write_all(b"\n")?;
        }
        (None, None) => anyhow::bail!("give a MESSAGE or --batch FILE"),
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
