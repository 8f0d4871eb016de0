use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use agency_router::RouteRequest;
use agency_router::eval::{self, Example};
use agency_skill_graph::learn::{self, LabelledMessage, LearnOptions};
use clap::Subcommand;

use agency::config::Engine;
use agency::graph_files;
use agency::routing::Router;
use agency::runtime::{ComponentRuntime, RuntimeOptions};

#[derive(Subcommand)]
pub enum SkillsCommand {
    /// Validate a skill graph; errors are FILE:LINE: message.
    Check {
        /// A directory (graph.yaml + skill files) or a JSON file.
        path: PathBuf,
    },
    /// Mine weighted keywords from labelled messages and write a skill graph.
    Learn {
        /// JSONL of {"text": ..., "agent": ... | null}; null = out of scope.
        #[arg(long)]
        examples: PathBuf,
        /// Output: ending in .json = one JSON file, else a directory of skill files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Score a graph against labelled messages.
    Eval {
        #[arg(long)]
        graph: PathBuf,
        #[arg(long)]
        examples: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// wasm (the component) or native (the core crate); both decide the same.
        #[arg(long, default_value = "native")]
        engine: Engine,
    },
}

pub fn run(cmd: SkillsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SkillsCommand::Check { path } => match graph_files::load(&path) {
            Ok(g) => {
                println!("{}: ok: {}", path.display(), g.summary());
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in &errors.0 {
                    println!("{e}");
                }
                eprintln!("{}: {} error(s)", path.display(), errors.0.len());
                Ok(ExitCode::FAILURE)
            }
        },
        SkillsCommand::Learn { examples, out } => {
            let messages: Vec<LabelledMessage> = super::read_jsonl(&examples)?;
            let graph = learn::learn(&messages, &LearnOptions::default())
                .map_err(|e| anyhow::anyhow!("{}: {e}", examples.display()))?;
            graph_files::write(&graph, &out)
                .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", out.display()))?;
            // Read back what was written, so what we report is what the file holds.
            let written = graph_files::load(&out)
                .map_err(|e| anyhow::anyhow!("the learned graph does not load back:\n{e}"))?;
            println!(
                "{}: learned from {} messages: {}",
                out.display(),
                messages.len(),
                written.summary()
            );
            Ok(ExitCode::SUCCESS)
        }
        SkillsCommand::Eval {
            graph,
            examples,
            json,
            engine,
        } => {
            let g = match graph_files::load(&graph) {
                Ok(g) => g,
                Err(errors) => {
                    for e in &errors.0 {
                        println!("{e}");
                    }
                    return Ok(ExitCode::FAILURE);
                }
            };
            let examples: Vec<Example> = super::read_jsonl(&examples)?;
            let runtime = match engine {
                Engine::Wasm => Some(Arc::new(ComponentRuntime::new(RuntimeOptions::default())?)),
                Engine::Native => None,
            };
            let router = Router::new(engine, runtime, &g)?;
            let requests: Vec<RouteRequest> = examples
                .iter()
                .map(|e| RouteRequest {
                    message: e.text.clone(),
                    channel: e.channel.clone(),
                    ..RouteRequest::default()
                })
                .collect();
            let mut predictions = Vec::with_capacity(requests.len());
            for chunk in requests.chunks(256) {
                predictions.extend(
                    router
                        .route_batch(chunk)?
                        .into_iter()
                        .map(|d| d.agent.map(|a| a.to_string())),
                );
            }
            let report = eval::score(&examples, &predictions);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
