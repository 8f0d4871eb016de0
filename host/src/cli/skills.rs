use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use agency_router::RouteRequest;
use agency_router::calibrate::Abstain;
use agency_router::eval::{self, Example};
use agency_skill_graph::learn::LearnOptions;
use clap::Subcommand;

mod learn;

use agency::audit::Source;
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
    /// Mine weighted keywords from labelled messages and write a skill graph; with
    /// --from-audit, relearn a graph from the feedback on its stored decisions.
    Learn {
        /// JSONL of {"text": ..., "agent": ... | null}; null = out of scope. With
        /// --from-audit: optional, the base set learned again together with the audit
        /// (the threshold is calibrated anew).
        #[arg(long, required_unless_present = "from_audit")]
        examples: Option<PathBuf>,
        /// Learn from the decisions that have feedback: a running service's base URL
        /// (GET /api/route/decisions, with --token) or a local server's data directory.
        /// Corrections become labelled examples (a correction to null: out of scope).
        #[arg(long, value_name = "URL|DIR")]
        from_audit: Option<String>,
        /// With --from-audit: the graph to relearn (default: the source's current
        /// graph). Its hand-written skills, links, channels and agents stay; its learned
        /// skills' keyword weights are updated from the feedback.
        #[arg(long, requires = "from_audit")]
        graph: Option<PathBuf>,
        /// With --from-audit: how many of the newest decisions with feedback to read.
        #[arg(long, default_value_t = 10_000, requires = "from_audit")]
        limit: u32,
        /// With --from-audit: also the archived decisions with feedback under this
        /// archive directory (or file), past what the source still stores
        /// (`agency archive read` reads the same).
        #[arg(long, value_name = "DIR", requires = "from_audit")]
        archive: Option<PathBuf>,
        /// Bearer token for a URL source.
        #[arg(long, env = "AGENCY_OPERATOR_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Output: ending in .json = one JSON file, else a directory of skill files.
        #[arg(long)]
        out: PathBuf,
        /// How eagerly to abstain on messages no agent should take: low, medium, high,
        /// or a target out-of-scope recall (e.g. 0.8). The threshold is chosen on folds
        /// in which some agents are left out of training and play unseen topics. With
        /// --from-audit it applies with --examples; a warm start keeps the threshold.
        #[arg(long, default_value = "medium")]
        abstain: Abstain,
        /// What a learned skill stands for: `intent` (one skill per intent of the
        /// examples that carry one; the graph pools skills by probability, so a message
        /// must fit one intent well) or `agent` (one skill per agent).
        #[arg(long, value_enum, default_value_t = SkillPer::Intent)]
        skill_per: SkillPer,
        /// Write conversation affinity into the graph: conversations idle this long are
        /// forgotten, and the switch margin is the one proposed from the folds (printed
        /// either way).
        #[arg(long, value_name = "SECONDS", conflicts_with = "from_audit",
              value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
        affinity_ttl: Option<u64>,
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
    /// What a candidate graph would change before it is uploaded: the newest stored
    /// decisions replayed under the current graph and under it (POST /api/graph/preview).
    /// Writes nothing.
    Diff {
        /// The candidate: a directory (graph.yaml + skill files) or a JSON file.
        #[arg(long)]
        graph: PathBuf,
        /// A running service's base URL (with --token, an operator's).
        #[arg(long, conflicts_with = "data", required_unless_present = "data")]
        against: Option<String>,
        /// A local server's data directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Bearer token for --against.
        #[arg(long, env = "AGENCY_OPERATOR_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// How many of the newest decisions to replay (at most 5000).
        #[arg(long, default_value_t = agency_router::replay::DEFAULT_REPLAY)]
        limit: u32,
        /// How many changed decisions to show (at most 100).
        #[arg(long, default_value_t = agency_router::replay::SAMPLE)]
        sample: usize,
        /// Print the report as JSON (the endpoint's answer).
        #[arg(long)]
        json: bool,
    },
    /// Upload a graph written as a directory (or one JSON file) to a running service
    /// (PUT /api/graph): checked here first, errors as FILE:LINE.
    Push {
        /// A directory (graph.yaml + skill files) or a JSON file.
        #[arg(long)]
        graph: PathBuf,
        /// The skill-graph service's base URL (`agency serve`'s, or its Worker's).
        #[arg(long)]
        url: String,
        /// An operator's bearer token.
        #[arg(long, env = "AGENCY_OPERATOR_TOKEN", hide_env_values = true)]
        token: String,
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
        SkillsCommand::Push { graph, url, token } => match graph_files::load(&graph) {
            Ok(g) => {
                let stored = agency::deploy::push_graph(&url, &token, &g.to_json())?;
                println!(
                    "{}: uploaded as {stored} ({})",
                    graph.display(),
                    g.summary()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in &errors.0 {
                    println!("{e}");
                }
                eprintln!(
                    "{}: {} error(s); nothing uploaded",
                    graph.display(),
                    errors.0.len()
                );
                Ok(ExitCode::FAILURE)
            }
        },
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
            from_audit: Some(source),
            graph,
            limit,
            archive,
            token,
            out,
            abstain,
            skill_per,
            affinity_ttl: _,
        } => learn::from_audit(
            &Source::open(&source, token)?,
            learn::AuditInputs {
                graph,
                limit,
                archive,
                base: examples,
            },
            &out,
            abstain,
            &skill_per.options(),
        ),
        SkillsCommand::Learn {
            examples: Some(examples),
            out,
            abstain,
            skill_per,
            affinity_ttl,
            ..
        } => learn::from_examples(&examples, &out, abstain, skill_per, affinity_ttl),
        SkillsCommand::Learn { .. } => unreachable!("clap requires --examples or --from-audit"),
        SkillsCommand::Diff {
            graph,
            against,
            data,
            token,
            limit,
            sample,
            json,
        } => {
            let source = match (against, data) {
                (Some(url), _) => Source::open(&url, token)?,
                (None, Some(dir)) => Source::open(&dir.to_string_lossy(), None)?,
                (None, None) => unreachable!("clap requires --against or --data"),
            };
            diff(&graph, source, limit, sample, json)
        }
        SkillsCommand::Eval {
            graph,
            examples,
            json,
            engine,
            threshold,
            curve,
        } => eval_graph(&graph, &examples, json, engine, threshold, curve),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// `skills learn --skill-per`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SkillPer {
    Intent,
    Agent,
}

impl SkillPer {
    fn options(self) -> LearnOptions {
        LearnOptions {
            per_intent: matches!(self, SkillPer::Intent),
            ..LearnOptions::default()
        }
    }
}

/// `skills eval`: the graph's decisions on labelled messages, scored (and, with
/// `--curve`, over thresholds).
fn eval_graph(
    graph: &Path,
    examples: &Path,
    json: bool,
    engine: Engine,
    threshold: Option<f64>,
    curve: bool,
) -> anyhow::Result<ExitCode> {
    let mut g = match graph_files::load(graph) {
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
    let examples: Vec<Example> = super::read_jsonl(examples)?;
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

/// `skills diff`: the source's `POST /api/graph/preview` for the candidate.
fn diff(
    candidate: &Path,
    source: Source,
    limit: u32,
    sample: usize,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let graph = match graph_files::load(candidate) {
        Ok(g) => g,
        Err(errors) => {
            for e in &errors.0 {
                println!("{e}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let body: serde_json::Value = serde_json::from_str(&graph.to_json())?;
    let path = format!("/api/graph/preview?limit={limit}&sample={sample}");
    let (status, report) = runtime()?.block_on(source.call(http::Method::POST, &path, &body))?;
    if status != 200 {
        eprintln!("{}: POST {path} answered {status}: {report}", source.name());
        return Ok(ExitCode::FAILURE);
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", diff_text(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// The preview as an operator reads it.
fn diff_text(r: &serde_json::Value) -> String {
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    let share = |k: &str| r[k].as_f64().map_or("-".to_owned(), |v| format!("{v:.4}"));
    let answer = |a: &serde_json::Value| match a["agent"].as_str() {
        Some(agent) => format!("{agent} ({:.2})", a["confidence"].as_f64().unwrap_or(0.0)),
        None => format!("nobody ({:.2})", a["confidence"].as_f64().unwrap_or(0.0)),
    };
    let mut out = format!(
        "candidate {} against current {}: {} decisions replayed\n\
         changed agent: {} ({} reassigned, {} newly abstain, {} newly route)\n\
         with feedback: {}: accuracy {} -> {} ({} fixed, {} broken)\n",
        r["candidateVersion"].as_str().unwrap_or("?"),
        r["currentVersion"].as_str().unwrap_or("?"),
        n("replayed"),
        n("changed"),
        n("reassigned"),
        n("newlyAbstain"),
        n("newlyRoute"),
        n("withFeedback"),
        share("accuracyBefore"),
        share("accuracyAfter"),
        n("fixed"),
        n("broken"),
    );
    for c in r["sample"].as_array().into_iter().flatten() {
        let feedback = match &c["feedback"] {
            serde_json::Value::Null => String::new(),
            f => format!(
                "  (feedback: {})",
                f["correctAgent"].as_str().unwrap_or("nobody")
            ),
        };
        let message: String = c["message"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(60)
            .collect();
        out.push_str(&format!(
            "  {}  {:?}: {} -> {}{}\n",
            c["decisionId"].as_str().unwrap_or("?"),
            message,
            answer(&c["before"]),
            answer(&c["after"]),
            feedback
        ));
    }
    out
}

/// What `learn` measured when it chose the threshold, in one line.
fn calibration_line(c: &agency_skill_graph::Calibration) -> String {
    let part =
        |name: &str, v: Option<f64>| v.map(|v| format!(", {name} {v:.4}")).unwrap_or_default();
    format!(
        "threshold {}, nobody +{} per word (abstain {}, calibrated on {} folds): expected in-scope accuracy {:.4}, out-of-scope recall {:.4}{}{}",
        c.threshold,
        c.none_per_word,
        c.abstain,
        c.folds,
        c.in_scope_accuracy,
        c.out_of_scope_recall,
        part("unseen topics", c.unseen_recall),
        part("labelled out of scope", c.labelled_recall),
    )
}
