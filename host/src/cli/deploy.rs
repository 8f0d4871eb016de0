//! `agency deploy`: plan, build, dev (and apply, destroy) for one environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use agency::deploy::Project;
use agency::deploy::apply::{self, ApplyOptions, WORKERS_DEV};
use agency::deploy::cloud::Cloud;
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
        /// A deployed Worker's public URL ({worker}, {subdomain}), as apply uses it.
        #[arg(long, default_value = WORKERS_DEV)]
        workers_url: String,
    },
    /// Create what is missing, migrate, put the secrets, deploy the five Workers in an
    /// order their bindings allow, upload the graph, register Telegram's webhooks and
    /// check each Worker's /health. Idempotent and resumable.
    Apply {
        #[command(flatten)]
        target: Target,
        /// The Workers are built already (else worker-build runs for each).
        #[arg(long)]
        prebuilt: bool,
        /// A deployed Worker's public URL ({worker}, {subdomain}).
        #[arg(long, default_value = WORKERS_DEV)]
        workers_url: String,
    },
    /// Delete the environment's Workers and what apply created; the archive bucket
    /// stays unless --archive.
    Destroy {
        #[command(flatten)]
        target: Target,
        /// Also delete the R2 archive bucket.
        #[arg(long)]
        archive: bool,
        /// The environment's name, instead of typing it when asked.
        #[arg(long)]
        confirm: Option<String>,
    },
    /// Write each Worker's Wrangler configuration (JSONC) into DIR.
    Build {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        out: PathBuf,
        /// The Workers are built already (worker-build ran): leave the build command out.
        #[arg(long)]
        prebuilt: bool,
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
        /// The Workers are built already: Wrangler does not build them again.
        #[arg(long)]
        prebuilt: bool,
    },
}

pub fn run(command: DeployCommand) -> anyhow::Result<ExitCode> {
    match command {
        DeployCommand::Plan {
            target,
            offline,
            json,
            workers_url,
        } => {
            let project = load(&target)?;
            let dir = env_dir(&project, &target);
            let p = if offline {
                let layout = project.layout(&dir, &BTreeMap::new(), true)?;
                plan(
                    &project.desired,
                    &Observed::default(),
                    &project.local(&layout, &BTreeMap::new()),
                )
            } else {
                apply::settled(&project, &Cloud::from_env()?, &dir, &workers_url)?
            };
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
        DeployCommand::Apply {
            target,
            prebuilt,
            workers_url,
        } => {
            let project = load(&target)?;
            let opts = ApplyOptions {
                dir: env_dir(&project, &target),
                prebuilt,
                workers_url,
            };
            let code = apply::apply(&project, &Cloud::from_env()?, &opts)?;
            Ok(ExitCode::from(code))
        }
        DeployCommand::Destroy {
            target,
            archive,
            confirm,
        } => {
            let project = load(&target)?;
            let typed = match confirm {
                Some(c) => c,
                None => {
                    println!(
                        "This deletes the Workers, databases, namespaces and queues of environment {:?}{}. Type its name to go on:",
                        target.env,
                        if archive {
                            " and its archive bucket"
                        } else {
                            ""
                        }
                    );
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim().to_owned()
                }
            };
            if typed != target.env {
                anyhow::bail!("{typed:?} is not {:?}: nothing was deleted", target.env);
            }
            apply::destroy(
                &project,
                &Cloud::from_env()?,
                &env_dir(&project, &target),
                archive,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        DeployCommand::Build {
            target,
            out,
            prebuilt,
        } => {
            let project = load(&target)?;
            let layout = project.layout(&out, &BTreeMap::new(), prebuilt)?;
            let files = project.write_configs(&out, &layout, &BTreeMap::new())?;
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
            prebuilt,
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
                    prebuilt,
                },
            )
        }
    }
}

/// Where an environment's generated configuration, record and tokens are kept.
fn env_dir(project: &Project, t: &Target) -> PathBuf {
    project.config.data_dir.join("deploy").join(&t.env)
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
