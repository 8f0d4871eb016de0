use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use agency_router::RouteRequest;
use agency_router::calibrate::{self, Abstain};
use agency_router::eval::{self, Example};
use agency_skill_graph::learn::{LabelledMessage, LearnOptions};
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
        /// How eagerly to abstain on messages no agent should take: low, medium, high,
        /// or a target out-of-scope recall (e.g. 0.8). The threshold is chosen on folds
        /// in which some agents are left out of training and play unseen topics.
        #[arg(long, default_value = "medium")]
        abstain: Abstain,
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
        /// Evaluate at this confidence threshold instead of the graph's.
        #[arg(long, value_parser = threshold)]
        threshold: Option<f64>,
        /// Also report in-scope accuracy and out-of-scope recall at thresholds 0 to
        /// 0.95 in steps of 0.05, to pick an operating point.
        #[arg(long)]
        curve: bool,
    },
}

fn threshold(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if (0.0..=1.0).contains(&t) => Ok(t),
        _ => Err(format!("{s:?}: a threshold is a number from 0 to 1")),
    }
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
        SkillsCommand::Learn {
            examples,
            out,
            abstain,
        } => {
            let messages: Vec<LabelledMessage> = super::read_jsonl(&examples)?;
            let (graph, _curve) = calibrate::learn(&messages, &LearnOptions::default(), abstain)
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
            match &written.calibration {
                Some(c) => println!("{}", calibration_line(c)),
                None => println!(
                    "threshold {} (not calibrated: folds need at least two agents)",
                    written.threshold
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        SkillsCommand::Eval {
            graph,
            examples,
            json,
            engine,
            threshold,
            curve,
        } => {
            let mut g = match graph_files::load(&graph) {
                Ok(g) => g,
                Err(errors) => {
                    for e in &errors.0 {
                        println!("{e}");
                    }
                    return Ok(ExitCode::FAILURE);
                }
            };
            if let Some(t) = threshold {
                g.threshold = t;
            }
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
            let points = if curve {
                let ts: Vec<f64> = (0..20).map(|i| f64::from(i) / 20.0).collect();
                Some(eval::curve(&g, &examples, &ts)?)
            } else {
                None
            };
            if json {
                let mut v = serde_json::to_value(&report)?;
                v["threshold"] = serde_json::json!(g.threshold);
                v["calibration"] = serde_json::to_value(&g.calibration)?;
                if let Some(points) = &points {
                    v["curve"] = serde_json::to_value(points)?;
                }
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("threshold: {}", g.threshold);
                if let Some(c) = &g.calibration {
                    println!("{}", calibration_line(c));
                }
                print!("{}", report.to_text());
                if let Some(points) = &points {
                    println!("\nthreshold  in-scope accuracy  out-of-scope recall");
                    for p in points {
                        println!(
                            "{:>9.2}  {:>17.4}  {:>19.4}",
                            p.threshold, p.in_scope_accuracy, p.out_of_scope_recall
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What `learn` measured when it chose the threshold, in one line.
fn calibration_line(c: &agency_skill_graph::Calibration) -> String {
    let part =
        |name: &str, v: Option<f64>| v.map(|v| format!(", {name} {v:.4}")).unwrap_or_default();
    format!(
        "threshold {} (abstain {}, calibrated on {} folds): expected in-scope accuracy {:.4}, out-of-scope recall {:.4}{}{}",
        c.threshold,
        c.abstain,
        c.folds,
        c.in_scope_accuracy,
        c.out_of_scope_recall,
        part("unseen topics", c.unseen_recall),
        part("labelled out of scope", c.labelled_recall),
    )
}
