//! Retention: which records are kept for a while and then archived and deleted, and the
//! SQL that finds and removes them in bounded batches. Each service names its kinds
//! ([`Retained`], next to its tables); a runtime writes the archive (a directory of
//! compressed NDJSON locally) and runs the batches off the request path.
//!
//! A batch is the oldest rows past the cutoff, in (time, key) order, each with the
//! rows of other tables that belong to it ([`Child`]: a decision's feedback, an
//! event's attempts). It is archived first, then deleted by the keys archived, so
//! nothing is deleted that was not archived; a crash between the two archives the same
//! rows again (with any that became due since) under the same file names, which
//! replaces the earlier files.

use serde_json::{Map, Value};

use crate::ports::{Db, PortError, SqlValue, Statement};

/// Nothing is kept for less: the SLA and the relearning loop read 30 days.
pub const MIN_DAYS: u32 = 30;

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
    last: (i64, SqlValue),
    /// The rows' keys, for the delete.
    keys: Vec<SqlValue>,
}

/// Keys per delete statement: D1 binds at most 100 parameters.
const KEYS_PER_DELETE: usize = 90;

impl Retained {
    /// Rows past `cutoff` (`?1`) that may go, up to and including (time `?2`, key `?3`).
    fn bound(&self) -> String {
        let (t, k) = (self.time, self.key);
        let only = self.only.map(|o| format!(" AND ({o})")).unwrap_or_default();
        format!("{t} < ?1{only} AND ({t} < ?2 OR ({t} = ?2 AND {k} <= ?3))")
    }

    /// The oldest rows past `cutoff_ms` (at most `limit`), each with its children;
    /// `None` when there are none.
    pub async fn oldest(
        &self,
        db: &impl Db,
        cutoff_ms: i64,
        limit: u32,
    ) -> Result<Option<Batch>, PortError> {
        let (t, k) = (self.time, self.key);
        let only = self.only.map(|o| format!(" AND ({o})")).unwrap_or_default();
        let mut rows = db
            .rows(
                &format!(
                    "SELECT * FROM {} WHERE {t} < ?1{only} ORDER BY {t}, {k} LIMIT ?2",
                    self.table
                ),
                &[cutoff_ms.into(), i64::from(limit).into()],
            )
            .await?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        let last = (
            last.get(t).and_then(Value::as_i64).unwrap_or(cutoff_ms),
            sql_value(last.get(k).unwrap_or(&Value::Null)),
        );
        for c in self.children {
            let kids = db
                .rows(
                    &format!(
                        "SELECT * FROM {} WHERE {} IN (SELECT {k} FROM {} WHERE {})",
                        c.table,
                        c.column,
                        self.table,
                        self.bound()
                    ),
                    &[cutoff_ms.into(), last.0.into(), last.1.clone()],
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
