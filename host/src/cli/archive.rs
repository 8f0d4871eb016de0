//! `agency archive read`: the archive's rows back, as NDJSON on stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum ArchiveCommand {
    /// Print archived rows (NDJSON, one per line) from an archive file or directory.
    Read {
        /// An archive file (`.ndjson.gz`) or directory (e.g. `.agency/archive`).
        path: PathBuf,
        /// Only this kind: decisions, feedback, events, audit, chat.
        #[arg(long)]
        kind: Option<String>,
        /// Only days from this one (YYYY-MM-DD, UTC).
        #[arg(long)]
        from: Option<String>,
        /// Only days up to this one (YYYY-MM-DD, UTC).
        #[arg(long)]
        to: Option<String>,
    },
}

fn day(v: &Option<String>, flag: &str) -> anyhow::Result<()> {
    if let Some(d) = v {
        let ok = d.len() == 10
            && d.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !ok {
            anyhow::bail!("{flag} takes a day as YYYY-MM-DD, got {d:?}");
        }
    }
    Ok(())
}

pub fn run(cmd: ArchiveCommand) -> anyhow::Result<ExitCode> {
    let ArchiveCommand::Read {
        path,
        kind,
        from,
        to,
    } = cmd;
    day(&from, "--from")?;
    day(&to, "--to")?;
    let files =
        agency::retention::archived(&path, kind.as_deref(), from.as_deref(), to.as_deref())?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for f in files {
        agency::retention::read_lines(&f, |n, l| {
            if serde_json::from_str::<serde_json::Value>(l).is_err() {
                anyhow::bail!("{}:{n}: not a JSON line", f.display());
            }
            writeln!(out, "{l}")?;
            Ok(())
        })?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
