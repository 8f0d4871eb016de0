//! Retention for the local server: each kind of record the services name
//! ([`agency_kit::retention::Retained`]) past its period is written to the archive, a
//! directory of gzipped NDJSON files per kind and day
//! (`{kind}/{yyyy}/{mm}/{dd}/{first key}.ndjson.gz`), then deleted, in bounded
//! batches off the request path. A file is written as `.partial`, synced and renamed
//! before its rows are deleted: a crash leaves either the rows (archived again, under
//! the same name, next round) or a whole file, never a half file that reads as whole.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use agency_kit::PortError;
use anyhow::{Context, bail};

pub use agency_kit::retention::{Pruned, RetentionConfig};

/// The local archive: a directory of `{kind}/{yyyy}/{mm}/{dd}/{first key}.ndjson.gz`.
#[derive(Debug, Clone)]
pub struct Directory(pub PathBuf);

impl agency_kit::retention::Archive for Directory {
    /// Compressed and written on a blocking thread: gzipping a batch takes a few
    /// milliseconds, which would hold up the requests of a worker thread.
    async fn put(&self, name: &str, ndjson: Vec<u8>) -> Result<(), PortError> {
        let path = self.0.join(name);
        tokio::task::spawn_blocking(move || {
            let gz = agency_kit::retention::gzip(&ndjson)?;
            write_file(&path, &gz).map_err(|e| PortError::Storage(format!("{e:#}")))
        })
        .await
        .map_err(|e| PortError::Storage(e.to_string()))?
    }
}

/// Where the archive goes, for data directory `data_dir`.
pub fn dir_in(config: &RetentionConfig, data_dir: &Path) -> PathBuf {
    config
        .dir
        .clone()
        .unwrap_or_else(|| data_dir.join("archive"))
}

/// One round over every service's kinds, archived under `dir` (until none is due).
pub async fn round(
    db: &impl agency_kit::Db,
    dir: &Path,
    config: &RetentionConfig,
    now_ms: i64,
) -> Result<Pruned, PortError> {
    let kinds = agency_services::retained();
    agency_kit::retention::round(db, &Directory(dir.to_owned()), config, &kinds, now_ms, None).await
}

/// Writes `gz` at `path`: as `.partial`, synced, then renamed (over an earlier copy of
/// the same rows, if a crash left one).
fn write_file(path: &Path, gz: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut file = std::fs::File::create(&partial)
        .with_context(|| format!("{}: cannot create", partial.display()))?;
    file.write_all(gz)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("{}: cannot write", partial.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("{}: cannot rename", partial.display()))?;
    if let Some(parent) = path.parent() {
        let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// The archive files under `path` (a file, or a directory searched through), in name
/// order, of kind `kind` and days `from..=to` (`yyyy-mm-dd`) when given.
pub fn archived(
    path: &Path,
    kind: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    if !path.is_dir() {
        bail!("{}: no archive file or directory here", path.display());
    }
    let mut found = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in
            std::fs::read_dir(&dir).with_context(|| format!("{}: cannot read", dir.display()))?
        {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".ndjson.gz") {
                found.push(p);
            }
        }
    }
    // `{kind}/{yyyy}/{mm}/{dd}/name`, relative to `path` (or deeper inside it).
    let keep = |p: &Path| {
        let rel: Vec<String> = p
            .strip_prefix(path)
            .unwrap_or(p)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let n = rel.len();
        if n < 5 {
            return kind.is_none() && from.is_none() && to.is_none();
        }
        let (k, day) = (
            &rel[n - 5],
            format!("{}-{}-{}", rel[n - 4], rel[n - 3], rel[n - 2]),
        );
        kind.is_none_or(|want| want == k)
            && from.is_none_or(|f| day.as_str() >= f)
            && to.is_none_or(|t| day.as_str() <= t)
    };
    found.retain(|p| keep(p));
    found.sort();
    Ok(found)
}

/// The archived routing decisions under `path` (an archive directory or file), as the
/// relearning reads stored ones (`skills learn --from-audit ... --archive PATH`): each
/// with its latest feedback; only those with feedback if `feedback_only`.
pub fn archived_decisions(
    path: &Path,
    feedback_only: bool,
) -> anyhow::Result<Vec<agency_router::contract::AuditedDecision>> {
    use agency_router::contract::{AuditedDecision, Feedback};
    let mut out = Vec::new();
    // A crash between archiving and deleting can leave a decision in two files.
    let mut seen = std::collections::HashSet::new();
    for f in archived(path, Some("decisions"), None, None)? {
        read_lines(&f, |n, l| {
            let row: serde_json::Value = serde_json::from_str(l)
                .with_context(|| format!("{}:{n}: not a JSON line", f.display()))?;
            let text = |k: &str| row[k].as_str().map(str::to_owned);
            let latest = row["feedback"].as_array().and_then(|fb| {
                fb.iter().max_by_key(|x| {
                    (
                        x["created_ms"].as_i64().unwrap_or(0),
                        x["id"].as_i64().unwrap_or(0),
                    )
                })
            });
            let feedback = latest.map(|x| Feedback {
                correct_agent: x["correct_agent"].as_str().map(str::to_owned),
                created_at: agency_approval::rfc3339(x["created_ms"].as_i64().unwrap_or(0)),
            });
            if feedback_only && feedback.is_none() {
                return Ok(());
            }
            let (Some(id), Some(message)) = (text("id"), text("message")) else {
                anyhow::bail!("{}:{n}: a decision without its id or message", f.display());
            };
            if !seen.insert(id.clone()) {
                return Ok(());
            }
            out.push(AuditedDecision {
                decision_id: id,
                message,
                channel: text("channel"),
                complexity: row["complexity"]
                    .as_str()
                    .and_then(agency_skill_graph::Complexity::parse),
                agent: text("agent"),
                created_at: agency_approval::rfc3339(row["created_ms"].as_i64().unwrap_or(0)),
                feedback,
            });
            Ok(())
        })?;
    }
    Ok(out)
}

/// Calls `each` with every NDJSON line of the archive file `path` (and its number).
pub fn read_lines(
    path: &Path,
    mut each: impl FnMut(usize, &str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    for (i, l) in reader.lines().enumerate() {
        let l = l.with_context(|| {
            format!(
                "{}:{}: cannot read (not a whole gzip file?)",
                path.display(),
                i + 1
            )
        })?;
        if !l.trim().is_empty() {
            each(i + 1, &l)?;
        }
    }
    Ok(())
}
