//! Retention for the local server: each kind of record the services name
//! ([`agency_kit::retention::Retained`]) past its period is written to the archive, a
//! directory of gzipped NDJSON files per kind and day
//! (`{kind}/{yyyy}/{mm}/{dd}/{first key}.ndjson.gz`), then deleted, in bounded
//! batches off the request path. A file is written as `.partial`, synced and renamed
//! before its rows are deleted: a crash leaves either the rows (archived again, under
//! the same name, next round) or a whole file, never a half file that reads as whole.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use agency_kit::Db;
use agency_kit::retention::{MIN_DAYS, Retained, line};
use anyhow::{Context, bail};
use serde::Deserialize;

/// Rows per batch: one batch is archived and deleted at a time.
pub const BATCH: u32 = 1000;

/// `[retention]`: days each kind is kept (defaults: the services'), and where the
/// archive goes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub decisions_days: Option<u32>,
    pub feedback_days: Option<u32>,
    pub events_days: Option<u32>,
    pub audit_days: Option<u32>,
    pub chat_days: Option<u32>,
    /// `<data_dir>/archive` unless set.
    pub dir: Option<PathBuf>,
}

impl RetentionConfig {
    /// The days `r` is kept.
    pub fn days(&self, r: &Retained) -> u32 {
        let set = match r.kind {
            "decisions" => self.decisions_days,
            "feedback" => self.feedback_days,
            "events" => self.events_days,
            "audit" => self.audit_days,
            "chat" => self.chat_days,
            _ => None,
        };
        set.unwrap_or(r.default_days)
    }

    /// Every period at least [`MIN_DAYS`]; feedback kept at least as long as the
    /// decisions it is about (it goes with its decision, archived inside it).
    pub fn validate(&self) -> Result<(), String> {
        let days = |k: &str| {
            agency_services::retained()
                .into_iter()
                .find(|r| r.kind == k)
                .map_or(0, |r| self.days(&r))
        };
        if days("feedback") < days("decisions") {
            return Err(format!(
                "retention.feedback_days ({}) must be at least retention.decisions_days ({}): feedback goes with its decision",
                days("feedback"),
                days("decisions")
            ));
        }
        for (key, v) in [
            ("decisions_days", self.decisions_days),
            ("feedback_days", self.feedback_days),
            ("events_days", self.events_days),
            ("audit_days", self.audit_days),
            ("chat_days", self.chat_days),
        ] {
            if let Some(d) = v
                && d < MIN_DAYS
            {
                return Err(format!(
                    "retention.{key} must be at least {MIN_DAYS} (the SLA and relearning read 30 days), got {d}"
                ));
            }
        }
        Ok(())
    }

    /// Where the archive goes, for data directory `data_dir`.
    pub fn dir_in(&self, data_dir: &Path) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| data_dir.join("archive"))
    }
}

/// What one round archived and deleted, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub rows: Vec<(&'static str, u64)>,
    pub files: u64,
}

/// One round: for each kind, batches of its oldest rows past its period are archived
/// under `dir`, then deleted.
pub async fn round(
    db: &impl Db,
    dir: &Path,
    config: &RetentionConfig,
    kinds: &[Retained],
    now_ms: i64,
) -> anyhow::Result<Pruned> {
    let mut out = Pruned::default();
    for r in kinds {
        let cutoff = now_ms - i64::from(config.days(r)) * 86_400_000;
        let mut rows = 0u64;
        while let Some(batch) = r.oldest(db, cutoff, BATCH).await? {
            for (name, lines) in r.files(&batch) {
                let text: String = lines.iter().map(|l| line(l) + "\n").collect();
                let path = dir.join(format!("{name}.gz"));
                tokio::task::spawn_blocking(move || write_file(&path, text.as_bytes())).await??;
                out.files += 1;
            }
            db.batch(r.delete(&batch)).await?;
            rows += batch.rows.len() as u64;
            // Let requests in between batches.
            tokio::task::yield_now().await;
        }
        if rows > 0 {
            out.rows.push((r.kind, rows));
        }
    }
    Ok(out)
}

/// Writes `bytes` gzipped at `path`: as `.partial`, synced, then renamed (over an
/// earlier copy of the same rows, if a crash left one).
fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("{}: cannot create", partial.display()))?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    gz.write_all(bytes)
        .and_then(|()| gz.finish())
        .and_then(|f| f.sync_all())
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
