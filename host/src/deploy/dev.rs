//! `agency deploy dev`: the five Workers from their generated configuration in one
//! `wrangler dev` (local D1, KV, Durable Objects and Queues), behind the generated
//! front on one URL. Each database is migrated first; the secrets go to `.dev.vars`
//! from this machine's environment (role tokens made up and printed when not set).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use agency_kit::service::ROLE_TOKENS;
use anyhow::{Context, bail};

use super::{Project, front};

/// How `deploy dev` runs.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Where the configuration is written.
    pub out: PathBuf,
    /// Where local D1, KV, Durable Objects and Queues keep their state.
    pub persist: PathBuf,
    pub port: u16,
    pub inspector_port: Option<u16>,
    /// `wrangler dev --test-scheduled`: `GET /__scheduled` runs the crons.
    pub test_scheduled: bool,
    /// The Workers are built already: Wrangler does not build them again.
    pub prebuilt: bool,
}

/// The `wrangler` to run: `$AGENCY_WRANGLER`, else the one on `PATH`.
pub fn wrangler() -> Command {
    Command::new(std::env::var("AGENCY_WRANGLER").unwrap_or_else(|_| "wrangler".into()))
}

/// Writes the configuration, the front and `.dev.vars` into `opts.out`; the
/// configuration files, front first (the primary Worker of `wrangler dev`).
pub fn prepare(project: &Project, opts: &DevOptions) -> anyhow::Result<Vec<PathBuf>> {
    let layout = project.layout(&opts.out, &BTreeMap::new(), opts.prebuilt)?;
    let files = project.write_configs(&opts.out, &layout, &BTreeMap::new())?;
    let front_js = opts.out.join("front.js");
    std::fs::write(&front_js, front::script(&project.desired))
        .with_context(|| format!("{}: cannot write", front_js.display()))?;
    let front_config = opts.out.join("front.jsonc");
    std::fs::write(&front_config, front::config(&project.desired))
        .with_context(|| format!("{}: cannot write", front_config.display()))?;
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for w in &project.desired.workers {
        for s in &w.secrets {
            match std::env::var(&s.from) {
                Ok(v) => {
                    vars.insert(s.name.clone(), v);
                }
                Err(_) if s.generated => {}
                Err(_) => eprintln!(
                    "warning: {} is not set: the {} Worker runs without its secret {}",
                    s.from, w.part, s.name
                ),
            }
        }
    }
    let mut made = Vec::new();
    for t in ROLE_TOKENS {
        if !vars.contains_key(*t) {
            let token = crate::server::generate_token()?;
            made.push(format!("  {t}={token}"));
            vars.insert((*t).to_owned(), token);
        }
    }
    if !made.is_empty() {
        println!("No tokens in the environment; generated for this run:");
        for m in made {
            println!("{m}");
        }
    }
    // .dev.vars is dotenv: a value in double quotes keeps every character. It holds
    // real secrets: readable by this user only.
    let text: String = vars
        .iter()
        .map(|(k, v)| {
            let quoted = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{quoted}\"\n")
        })
        .collect();
    super::apply::write_private(&opts.out.join(".dev.vars"), &text)?;
    let mut all = vec![front_config];
    all.extend(files.into_values());
    Ok(all)
}

/// Applies each Worker's migrations to its local database under `persist`.
pub fn migrate_locally(project: &Project, out: &Path, persist: &Path) -> anyhow::Result<()> {
    for w in &project.desired.workers {
        if w.database.is_none() {
            continue;
        }
        let config = out.join(format!("{}.jsonc", w.part));
        let status = wrangler()
            .args(["d1", "migrations", "apply", "DB", "--local", "--config"])
            .arg(&config)
            .arg("--persist-to")
            .arg(persist)
            .env("CI", "1")
            .status()
            .context("cannot run wrangler (is it installed? scripts/tools.sh installs it)")?;
        if !status.success() {
            bail!("the {} Worker's local migrations failed", w.part);
        }
    }
    Ok(())
}

/// Runs the whole agency under one `wrangler dev` until it stops.
pub fn run(project: &Project, opts: &DevOptions) -> anyhow::Result<ExitCode> {
    let files = prepare(project, opts)?;
    migrate_locally(project, &opts.out, &opts.persist)?;
    let mut cmd = wrangler();
    cmd.arg("dev");
    for f in &files {
        cmd.arg("--config").arg(f);
    }
    cmd.args(["--ip", "127.0.0.1", "--port", &opts.port.to_string()])
        .arg("--persist-to")
        .arg(&opts.persist)
        .arg("--show-interactive-dev-session=false");
    if let Some(p) = opts.inspector_port {
        cmd.args(["--inspector-port", &p.to_string()]);
    }
    if opts.test_scheduled {
        cmd.arg("--test-scheduled");
    }
    println!(
        "The agency ({}) on http://127.0.0.1:{}",
        project.desired.names.env(),
        opts.port
    );
    let status = cmd.status().context("cannot run wrangler dev")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
