//! `agency deploy`: plan, build, dev (and apply, destroy) for one environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use agency::deploy::Project;
use agency::deploy::dev::{self, DevOptions};
use agency_deploy::{Observed, plan};
use clap::{Args, Subcommand};

#[derive(Args, Clone)]
pub struct Target {
    /// The config file `agency serve` reads (graph, policy, webhooks, gateway,
    /// approvers, monitoring).
    #[arg(long, default_value = "agency.toml")]
    config: PathBuf,
    /// The environment: Worker and resource names carry it.
    #[arg(long, default_value = "production")]
    env: String,
    /// Run the example policy when the config names none (it approves reads for
    /// anyone: never in production).
    #[arg(long)]
    example: bool,
}

#[derive(Subcommand)]
pub enum DeployCommand {
    /// What exists, what will be created, changed or left, in order, and what is
    /// missing first. Exit 0 when the plan is complete, 2 when something is missing.
    Plan {
        #[command(flatten)]
        target: Target,
        /// Plan against an empty account, with no credentials.
        #[arg(long)]
        offline: bool,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write each Worker's Wrangler configuration (JSONC) into DIR.
    Build {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        out: PathBuf,
    },
    /// All five Workers in one `wrangler dev`, on one URL, with local state.
    Dev {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 8787)]
        port: u16,
        #[arg(long)]
        inspector_port: Option<u16>,
        /// Where the configuration is written (default: .agency/deploy/ENV).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Where local state is kept (default: .agency/deploy/ENV/state).
        #[arg(long)]
        persist: Option<PathBuf>,
        /// `GET /__scheduled` runs the crons.
        #[arg(long)]
        test_scheduled: bool,
    },
}

pub fn run(command: DeployCommand) -> anyhow::Result<ExitCode> {
    match command {
        DeployCommand::Plan {
            target,
            offline,
            json,
        } => {
            let project = load(&target)?;
            if !offline {
                anyhow::bail!(
                    "planning against the account is not available yet: pass --offline to plan against an empty account"
                );
            }
            let out = project.config.data_dir.join("deploy").join(&target.env);
            std::fs::create_dir_all(&out)?;
            let layout = project.layout(&out, &BTreeMap::new())?;
            let p = plan(
                &project.desired,
                &Observed::default(),
                &project.local(&layout),
            );
            if json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                print_plan(&p);
            }
            Ok(if p.complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        DeployCommand::Build { target, out } => {
            let project = load(&target)?;
            let files = project.write_configs(&out, &BTreeMap::new(), &BTreeMap::new())?;
            for f in files.values() {
                println!("{}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        DeployCommand::Dev {
            target,
            port,
            inspector_port,
            out,
            persist,
            test_scheduled,
        } => {
            let project = load(&target)?;
            let out =
                out.unwrap_or_else(|| project.config.data_dir.join("deploy").join(&target.env));
            let persist = persist.unwrap_or_else(|| out.join("state"));
            dev::run(
                &project,
                &DevOptions {
                    out,
                    persist,
                    port,
                    inspector_port,
                    test_scheduled,
                },
            )
        }
    }
}

fn load(t: &Target) -> anyhow::Result<Project> {
    Project::load(Some(&t.config), &t.env, t.example)
}

fn print_plan(p: &agency_deploy::Plan) {
    println!("Environment {}", p.env);
    if !p.missing.is_empty() {
        println!("\nMissing before anything can happen:");
        for m in &p.missing {
            println!("  - {}", m.describe());
        }
    }
    if !p.kept.is_empty() {
        println!("\nThere and left as it is:");
        for k in &p.kept {
            println!("  = {k}");
        }
    }
    if p.nothing_to_do() {
        println!("\nNothing to do.");
    } else {
        println!("\nSteps, in order:");
        for (i, s) in p.steps.iter().enumerate() {
            println!("  {:>2}. {}", i + 1, s.describe());
        }
    }
}
