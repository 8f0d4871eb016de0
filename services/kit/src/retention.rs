//! Retention: which records are kept for a while and then archived and deleted, the SQL
//! that finds and removes them in bounded batches, and the [`round`] that does it.
//! Each service names its kinds ([`Retained`], next to its tables); `[retention]`
//! ([`RetentionConfig`]) sets their periods; a runtime implements the [`Archive`] port
//! (a directory locally, the R2 bucket at the edge) and runs rounds off the request
//! path (a background task locally, the Workers' crons at the edge).
//!
//! A batch is the oldest rows past the cutoff, in (time, key) order, each with the
//! rows of other tables that belong to it ([`Child`]: a decision's feedback, an
//! event's attempts). It is archived first, then deleted by the keys archived, so
//! nothing is deleted that was not archived; a crash between the two archives the same
//! rows again (with any that became due since) under the same file names, which
//! replaces the earlier files.

use std::io::Write;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ports::{Db, PortError, SqlValue, Statement};

/// Nothing is kept for less: the SLA and the relearning loop read 30 days.
pub const MIN_DAYS: u32 = 30;

/// Rows per batch: one batch is archived and deleted at a time.
pub const BATCH: u32 = 1000;

/// Where archived rows go: a directory locally, the R2 bucket at the edge. (`async fn`
/// as in [`crate::ports`]: the local server's future is `Send` because its type is.)
#[allow(async_fn_in_trait)]
pub trait Archive {
    /// Stores `ndjson` gzipped ([`gzip`]) under `name` (`{kind}/{yyyy}/{mm}/{dd}/{first
    /// key}.ndjson.gz`), whole or not at all (never a part that reads as whole),
    /// replacing what an earlier round stored under the name. The archive compresses,
    /// so that the local server can do it off the threads that answer requests (a
    /// batch takes milliseconds).
    async fn put(&self, name: &str, ndjson: Vec<u8>) -> Result<(), PortError>;
}

/// `[retention]`: days each kind is kept (defaults: the services'), and where the
/// archive goes locally (at the edge it is the environment's bucket).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub decisions_days: Option<u32>,
    pub feedback_days: Option<u32>,
    pub events_days: Option<u32>,
    pub audit_days: Option<u32>,
    pub chat_days: Option<u32>,
    /// Locally: `<data_dir>/archive` unless set.
    pub dir: Option<std::path::PathBuf>,
}

impl RetentionConfig {
    /// Each kind's period as set (`None`: its service's default), by kind.
    fn periods(&self) -> [(&'static str, Option<u32>); 5] {
        [
            ("decisions", self.decisions_days),
            ("feedback", self.feedback_days),
            ("events", self.events_days),
            ("audit", self.audit_days),
            ("chat", self.chat_days),
        ]
    }

    /// The days `r` is kept.
    pub fn days(&self, r: &Retained) -> u32 {
        self.periods()
            .into_iter()
            .find(|(kind, _)| *kind == r.kind)
            .and_then(|(_, set)| set)
            .unwrap_or(r.default_days)
    }

    /// Every period at least [`MIN_DAYS`]; feedback kept at least as long as the
    /// decisions it is about (it goes with its decision, archived inside it). `kinds`:
    /// every service's.
    pub fn validate(&self, kinds: &[Retained]) -> Result<(), String> {
        let days = |k: &str| {
            kinds
                .iter()
                .find(|r| r.kind == k)
                .map_or(0, |r| self.days(r))
        };
        if days("feedback") < days("decisions") {
            return Err(format!(
                "retention.feedback_days ({}) must be at least retention.decisions_days ({}): feedback goes with its decision",
                days("feedback"),
                days("decisions")
            ));
        }
        for (kind, set) in self.periods() {
            if let Some(d) = set
                && d < MIN_DAYS
            {
                return Err(format!(
                    "retention.{kind}_days must be at least {MIN_DAYS} (the SLA and relearning read 30 days), got {d}"
                ));
            }
        }
        Ok(())
    }
}

/// What one round archived and deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Rows per kind (kinds with none left out).
    pub rows: Vec<(&'static str, u64)>,
    pub files: u64,
    /// The round stopped at its batch limit with rows still due.
    pub more: bool,
}

/// One round: for each kind, batches of its oldest rows past its period (as of
/// `now_ms`) are archived, then deleted; at most `max_batches` per kind when given (a
/// Worker's cron has a budget of subrequests), else until none is due.
pub async fn round(
    db: &impl Db,
    archive: &impl Archive,
    config: &RetentionConfig,
    kinds: &[Retained],
    now_ms: i64,
    max_batches: Option<u32>,
) -> Result<Pruned, PortError> {
    let mut out = Pruned::default();
    for r in kinds {
        let cutoff = now_ms - i64::from(config.days(r)) * 86_400_000;
        let (mut rows, mut batches) = (0u64, 0u32);
        loop {
            if max_batches.is_some_and(|m| batches >= m) {
                out.more |= r.oldest(db, cutoff, 1).await?.is_some();
                break;
            }
            let Some(batch) = r.oldest(db, cutoff, BATCH).await? else {
                break;
            };
            for (name, rows) in r.files(&batch) {
                archive.put(&format!("{name}.gz"), ndjson(rows)).await?;
                out.files += 1;
            }
            db.batch(r.delete(&batch)).await?;
            rows += batch.rows.len() as u64;
            batches += 1;
        }
        if rows > 0 {
            out.rows.push((r.kind, rows));
        }
    }
    Ok(out)
}

/// `bytes` gzipped, as the archive stores them.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, PortError> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes)
        .and_then(|()| gz.finish())
        .map_err(|e| PortError::Storage(format!("gzip: {e}")))
}

/// `rows` as NDJSON, a line each ([`line`]): what the archive and an export hold.
pub(crate) fn ndjson<'r>(rows: impl IntoIterator<Item = &'r Map<String, Value>>) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        out.extend_from_slice(line(row).as_bytes());
        out.push(b'\n');
    }
    out
}

/// A kind of record with a retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    /// `decisions`, `feedback`, `events`, `audit`, `chat`: the archive's folder and
    /// the `[retention]` key (`{kind}_days`).
    pub kind: &'static str,
    pub table: &'static str,
    /// Its primary key column.
    pub key: &'static str,
    /// Its time column (milliseconds).
    pub time: &'static str,
    pub default_days: u32,
    /// Rows of other tables archived inside each row, and deleted with it.
    pub children: &'static [Child],
    /// A condition a row must meet to go (an event still in flight stays).
    pub only: Option<&'static str>,
}

/// Rows of `table` whose `column` holds a retained row's key: archived in it under
/// `field`, deleted with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Child {
    pub field: &'static str,
    pub table: &'static str,
    pub column: &'static str,
}

/// The oldest rows of a kind past its cutoff, with their children.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub rows: Vec<Map<String, Value>>,
    /// The last row's time and key: the batch's bound.
    pub(crate) last: (i64, SqlValue),
    /// The rows' keys, for the delete.
    keys: Vec<SqlValue>,
}

/// Keys per delete statement: D1 binds at most 100 parameters.
const KEYS_PER_DELETE: usize = 90;

impl Retained {
    /// The oldest rows past `cutoff_ms` (at most `limit`), each with its children;
    /// `None` when there are none.
    pub async fn oldest(
        &self,
        db: &impl Db,
        cutoff_ms: i64,
        limit: u32,
    ) -> Result<Option<Batch>, PortError> {
        let only = self.only.map(|o| format!(" AND ({o})")).unwrap_or_default();
        let cond = format!("{} < ?1{only}", self.time);
        self.select(db, &cond, vec![cutoff_ms.into()], limit).await
    }

    /// The first `limit` rows meeting `cond` (over parameters `params`, `?1`..), in
    /// (time, key) order, each with its children; `None` when there are none.
    pub(crate) async fn select(
        &self,
        db: &impl Db,
        cond: &str,
        mut params: Vec<SqlValue>,
        limit: u32,
    ) -> Result<Option<Batch>, PortError> {
        let (t, k, n) = (self.time, self.key, params.len());
        let mut with_limit = params.clone();
        with_limit.push(i64::from(limit).into());
        let mut rows = db
            .rows(
                &format!(
                    "SELECT * FROM {} WHERE {cond} ORDER BY {t}, {k} LIMIT ?{}",
                    self.table,
                    n + 1
                ),
                &with_limit,
            )
            .await?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        let last = (
            last.get(t).and_then(Value::as_i64).unwrap_or_default(),
            sql_value(last.get(k).unwrap_or(&Value::Null)),
        );
        // The batch's rows again: `cond`, up to and including the last one.
        params.extend([last.0.into(), last.1.clone()]);
        let (lt, lk) = (n + 1, n + 2);
        let upto = format!("{cond} AND ({t} < ?{lt} OR ({t} = ?{lt} AND {k} <= ?{lk}))");
        for c in self.children {
            let kids = db
                .rows(
                    &format!(
                        "SELECT * FROM {} WHERE {} IN (SELECT {k} FROM {} WHERE {upto})",
                        c.table, c.column, self.table
                    ),
                    &params,
                )
                .await?;
            for row in &mut rows {
                let key = row.get(k).cloned().unwrap_or(Value::Null);
                let mine: Vec<Value> = kids
                    .iter()
                    .filter(|kid| kid.get(c.column) == Some(&key))
                    .cloned()
                    .map(Value::Object)
                    .collect();
                row.insert(c.field.to_owned(), Value::Array(mine));
            }
        }
        let keys = rows
            .iter()
            .map(|r| sql_value(r.get(k).unwrap_or(&Value::Null)))
            .collect();
        Ok(Some(Batch { rows, last, keys }))
    }

    /// The statements that delete `batch`'s rows by their keys (their inner rows
    /// first), to run once it is archived.
    pub fn delete(&self, batch: &Batch) -> Vec<Statement> {
        let mut out = Vec::new();
        for keys in batch.keys.chunks(KEYS_PER_DELETE) {
            let marks = (1..=keys.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            for c in self.children {
                out.push(Statement::new(
                    format!("DELETE FROM {} WHERE {} IN ({marks})", c.table, c.column),
                    keys.to_vec(),
                ));
            }
            out.push(Statement::new(
                format!("DELETE FROM {} WHERE {} IN ({marks})", self.table, self.key),
                keys.to_vec(),
            ));
        }
        out
    }

    /// The batch's rows by the UTC day of their time (`yyyy/mm/dd`), each day's rows in
    /// order, with the archive file's path for them: `{kind}/{yyyy}/{mm}/{dd}/{first
    /// key}.ndjson` (archived again after a crash, the same first row gives the same
    /// name: the new file, a superset, replaces the old).
    pub fn files<'b>(&self, batch: &'b Batch) -> Vec<(String, Vec<&'b Map<String, Value>>)> {
        let mut out: Vec<(String, Vec<&Map<String, Value>>)> = Vec::new();
        for row in &batch.rows {
            let ms = row.get(self.time).and_then(Value::as_i64).unwrap_or(0);
            let day = day_path(ms);
            match out.last_mut() {
                Some((d, rows)) if *d == day => rows.push(row),
                _ => out.push((day, vec![row])),
            }
        }
        out.into_iter()
            .map(|(day, rows)| {
                let key = |r: &Map<String, Value>| {
                    let v = r.get(self.key).cloned().unwrap_or(Value::Null);
                    let s = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    s.chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                        .collect::<String>()
                };
                let name = format!(
                    "{}/{day}/{}.ndjson",
                    self.kind,
                    rows.first().map(|r| key(r)).unwrap_or_default()
                );
                (name, rows)
            })
            .collect()
    }
}

/// `2026/12/07` for a time in milliseconds (UTC).
pub fn day_path(ms: i64) -> String {
    let (y, m, d) = agency_approval::civil(ms);
    format!("{y:04}/{m:02}/{d:02}")
}

/// One archived row as its NDJSON line (without the newline).
pub fn line(row: &Map<String, Value>) -> String {
    serde_json::to_string(row).unwrap_or_default()
}

fn sql_value(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Int(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Int(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(day_path(0), "1970/01/01");
        assert_eq!(day_path(1_796_000_000_000), "2026/11/30");
        assert_eq!(day_path(951_782_400_000), "2000/02/29");
        assert_eq!(day_path(-1), "1969/12/31");
    }

    #[test]
    fn a_batch_splits_into_one_file_per_day_named_by_its_keys() {
        let r = Retained {
            kind: "audit",
            table: "audit",
            key: "seq",
            time: "created_ms",
            default_days: 365,
            children: &[],
            only: None,
        };
        let row = |seq: i64, ms: i64| {
            let mut m = Map::new();
            m.insert("seq".into(), seq.into());
            m.insert("created_ms".into(), ms.into());
            m
        };
        let day = 86_400_000;
        let batch = Batch {
            rows: vec![row(1, 0), row(2, 10), row(3, day), row(4, 2 * day + 5)],
            last: (2 * day + 5, SqlValue::Int(4)),
            keys: (1..=4).map(SqlValue::Int).collect(),
        };
        let files: Vec<(String, usize)> = r
            .files(&batch)
            .into_iter()
            .map(|(n, rows)| (n, rows.len()))
            .collect();
        assert_eq!(
            files,
            vec![
                ("audit/1970/01/01/1.ndjson".into(), 2),
                ("audit/1970/01/02/3.ndjson".into(), 1),
                ("audit/1970/01/03/4.ndjson".into(), 1),
            ]
        );
        let d = r.delete(&batch);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].sql, "DELETE FROM audit WHERE seq IN (?1, ?2, ?3, ?4)");
    }
}
