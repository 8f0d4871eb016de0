//! `agency backup` and `agency restore`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use agency::backup;
use agency::config::Config;

/// Where the data directory is: `--data`, else the config's (`--config`,
/// `AGENCY_DATA_DIR`), as `agency serve` finds it.
#[derive(Args)]
pub struct DataArgs {
    /// The server's data directory (holds agency.db).
    #[arg(long = "data")]
    data: Option<PathBuf>,
    /// The server's TOML config file, for its data_dir.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl DataArgs {
    fn dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(d) = &self.data {
            return Ok(d.clone());
        }
        let config =
            Config::load(self.config.as_deref(), std::env::vars()).map_err(anyhow::Error::msg)?;
        Ok(config.data_dir)
    }
}

#[derive(Args)]
pub struct BackupArgs {
    /// The file to write (never overwritten).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A backup `agency backup` wrote.
    file: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

/// Takes a consistent copy of the database while the server runs.
pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let db = args.data.dir()?.join(backup::DB_FILE);
    let t = backup::take(&db, &args.out)?;
    println!(
        "{}: backup of {} ({} bytes, {} migrations, {} approvals) in {} ms",
        t.path.display(),
        db.display(),
        t.bytes,
        t.checked.migrations.len(),
        t.checked.approvals,
        t.took.as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

/// Swaps a checked backup in, with the server stopped.
pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.dir()?;
    let r = backup::restore(&args.file, &dir)?;
    println!(
        "{}: restored into {} ({} migrations, {} approvals)",
        args.file.display(),
        dir.join(backup::DB_FILE).display(),
        r.checked.migrations.len(),
        r.checked.approvals
    );
    if let Some(aside) = r.replaced {
        println!("the database it replaced is kept in {}", aside.display());
    }
    Ok(ExitCode::SUCCESS)
}
