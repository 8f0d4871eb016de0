//! Command-line parsing and dispatch.

mod archive;
mod backup;
mod deploy;
mod policy;
mod route;
mod serve;
mod skills;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "agency",
    version,
    about = "Routes and guards the work of an AI agency"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with skill graphs: check, learn, eval.
    Skills {
        #[command(subcommand)]
        command: skills::SkillsCommand,
    },
    /// Work with approval policies: check, explain.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Route one message (or a JSONL batch) and print the decision(s) as JSON.
    Route(route::RouteArgs),
    /// Run the local server: every API on one port, state in SQLite.
    Serve(serve::ServeArgs),
    /// Read the archive of records past their retention.
    Archive {
        #[command(subcommand)]
        command: archive::ArchiveCommand,
    },
    /// Back the running server's database up to a file, without stopping it.
    Backup(backup::BackupArgs),
    /// Restore a backup into the data directory (the server must be stopped).
    Restore(backup::RestoreArgs),
    /// Put the agency on Cloudflare Workers: plan, build, dev.
    Deploy {
        #[command(subcommand)]
        command: deploy::DeployCommand,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Skills { command } => skills::run(command),
        Command::Policy { command } => policy::run(command),
        Command::Route(args) => route::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Archive { command } => archive::run(command),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Deploy { command } => deploy::run(command),
    }
}

/// Reads JSONL, one value per non-blank line; an error names the file and line.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(
    path: impl AsRef<std::path::Path>,
) -> anyhow::Result<Vec<T>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))?;
        out.push(item);
    }
    Ok(out)
}
