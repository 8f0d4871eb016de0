//! SQLite for the local server: one connection behind a mutex, the services' migrations
//! applied by name, and the [`Db`] port the service crates write their SQL against.
//! Every write is a single statement or one transaction.

use std::path::Path;
use std::sync::Mutex;

use agency_kit::migrate::{self, Migration};
use agency_kit::ports::Written;
use agency_kit::{Db, PortError, SqlValue, Statement};
use rusqlite::types::{Value as Sqlite, ValueRef};
use rusqlite::{Connection, params_from_iter};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StoreError(#[from] rusqlite::Error);

impl From<StoreError> for PortError {
    fn from(e: StoreError) -> Self {
        PortError::Storage(e.0.to_string())
    }
}

impl From<StoreError> for agency_kit::ApiError {
    fn from(e: StoreError) -> Self {
        PortError::from(e).into()
    }
}

pub struct Store {
    conn: Mutex<Connection>,
}

/// Every service's migrations, in the order they are applied to a new database.
pub fn migrations() -> Vec<Migration> {
    agency_services::migrations()
}

/// Before migrations were recorded by name, a database counted them in `user_version`,
/// in this order.
const BY_POSITION: &[(&str, &str)] = &[
    ("skill-graph", "0001_init"),
    ("router", "0001_init"),
    ("assistant", "0001_init"),
];

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    pub fn in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoints (and their fsync) run beside the requests, on their own connection
        // ([`Checkpointer`]), not inside whichever commit crossed the threshold.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let tx = conn.transaction()?;
        let had_table: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'agency_migrations')",
            [],
            |r| r.get(0),
        )?;
        tx.execute_batch(migrate::APPLIED_TABLE)?;
        if !had_table {
            let by_position: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            for (service, name) in BY_POSITION.iter().take(by_position.max(0) as usize) {
                tx.execute(
                    "INSERT OR IGNORE INTO agency_migrations (service, name, applied_ms) VALUES (?1, ?2, ?3)",
                    rusqlite::params![service, name, now_ms()],
                )?;
            }
        }
        let applied: Vec<(String, String)> = tx
            .prepare("SELECT service, name FROM agency_migrations")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let all = migrations();
        for m in migrate::pending(&all, &applied) {
            tx.execute_batch(m.sql)?;
            tx.execute(
                "INSERT INTO agency_migrations (service, name, applied_ms) VALUES (?1, ?2, ?3)",
                rusqlite::params![m.service, m.name, now_ms()],
            )?;
        }
        tx.commit()?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The names of the applied migrations, as `service/name`.
    pub fn applied_migrations(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT service || '/' || name FROM agency_migrations ORDER BY rowid")?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

fn bind(params: &[SqlValue]) -> impl Iterator<Item = Sqlite> + '_ {
    params.iter().map(|p| match p {
        SqlValue::Null => Sqlite::Null,
        SqlValue::Int(n) => Sqlite::Integer(*n),
        SqlValue::Real(f) => Sqlite::Real(*f),
        SqlValue::Text(s) => Sqlite::Text(s.clone()),
    })
}

pub(crate) fn storage(e: rusqlite::Error) -> PortError {
    PortError::Storage(e.to_string())
}

/// Runs the services' SQL on one connection (or open transaction): the rows as JSON
/// objects keyed by column name.
pub(crate) fn rows(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
) -> Result<Vec<Map<String, Value>>, PortError> {
    let mut stmt = conn.prepare_cached(sql).map_err(storage)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = stmt
        .query(params_from_iter(bind(params)))
        .map_err(storage)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        let mut obj = Map::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let v = match row.get_ref(i).map_err(storage)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::from(n),
                ValueRef::Real(f) => Value::from(f),
                ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(_) => {
                    return Err(PortError::Decode(format!("column {name} is a blob")));
                }
            };
            obj.insert(name.clone(), v);
        }
        out.push(obj);
    }
    Ok(out)
}

/// Runs one statement that returns no rows.
pub(crate) fn execute(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
) -> Result<Written, PortError> {
    let changes = conn
        .prepare_cached(sql)
        .and_then(|mut st| st.execute(params_from_iter(bind(params))))
        .map_err(storage)?;
    Ok(Written {
        changes: changes as u64,
        last_row_id: conn.last_insert_rowid(),
    })
}

impl Db for Store {
    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Written, PortError> {
        execute(&self.conn(), sql, params)
    }

    async fn rows(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Map<String, Value>>, PortError> {
        rows(&self.conn(), sql, params)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Written>, PortError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(storage)?;
        let written = statements
            .iter()
            .map(|st| execute(&tx, &st.sql, &st.params))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().map_err(storage)?;
        Ok(written)
    }
}

/// Copies the write-ahead log into the database file from a connection of its own, so
/// no request waits for a checkpoint's fsync. A passive checkpoint never blocks a
/// writer; the log starts over once a checkpoint has copied all of it.
pub struct Checkpointer(Mutex<Connection>);

impl Checkpointer {
    pub fn open(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_millis(100))?;
        Ok(Checkpointer(Mutex::new(conn)))
    }

    /// One passive checkpoint: how many log frames are now in the database file.
    pub fn run(&self) -> Result<i64, StoreError> {
        let conn = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Ok(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(2))?)
    }
}

/// An open connection or transaction as synchronous SQL (for the services' code that
/// must run inside one transaction: the ledger book, the webhooks' gate).
pub(crate) struct TxSql<'c>(pub(crate) &'c Connection);

impl agency_kit::ports::SyncSql for TxSql<'_> {
    fn run(&self, sql: &str, args: &[SqlValue]) -> Result<(), PortError> {
        execute(self.0, sql, args).map(|_| ())
    }

    fn rows(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<Map<String, Value>>, PortError> {
        rows(self.0, sql, args)
    }
}

impl Store {
    /// Runs `f` inside one immediate transaction (the write lock taken up front),
    /// committed when `f` succeeds and rolled back otherwise.
    pub(crate) fn in_tx<T, E: From<PortError>>(
        &self,
        f: impl FnOnce(&TxSql<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(storage)?;
        let out = f(&TxSql(&tx))?;
        tx.commit().map_err(storage)?;
        Ok(out)
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2026-11-25T13:45:01.123Z` from Unix milliseconds.
pub use agency_approval::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures_util::FutureExt::now_or_never(f).expect("the SQLite port never waits")
    }

    #[test]
    fn migrations_apply_once_by_name() {
        let dir = std::env::temp_dir().join(format!("agency-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.db");
        let _ = std::fs::remove_file(&path);
        let names = Store::open(&path).unwrap().applied_migrations().unwrap();
        assert_eq!(
            names,
            vec![
                "skill-graph/0001_init",
                "skill-graph/0002_instances",
                "router/0001_init",
                "router/0002_replay",
                "router/0003_conversations",
                "router/0004_retention",
                "assistant/0001_init",
                "assistant/0002_ledger_book",
                "assistant/0003_grants",
                "assistant/0004_escalation",
                "assistant/0005_retention",
                "webhooks/0001_init",
                "webhooks/0002_held_and_sealed",
                "webhooks/0003_reply_keys",
                "webhooks/0004_escalation_cards",
                "webhooks/0005_batch_cards",
                "monitoring/0001_init",
                "monitoring/0002_series",
                "monitoring/0003_samples"
            ]
        );
        // Opening again applies nothing twice (a second CREATE TABLE would fail).
        assert_eq!(
            Store::open(&path).unwrap().applied_migrations().unwrap(),
            names
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_database_counted_by_position_is_adopted() {
        let conn = Connection::open_in_memory().unwrap();
        let old = [
            agency_skill_graph_service::MIGRATIONS[0].sql,
            agency_router_service::MIGRATIONS[0].sql,
        ];
        for sql in old {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        let s = Store::init(conn).unwrap();
        assert_eq!(
            s.applied_migrations().unwrap(),
            vec![
                "skill-graph/0001_init",
                "router/0001_init",
                "skill-graph/0002_instances",
                "router/0002_replay",
                "router/0003_conversations",
                "router/0004_retention",
                "assistant/0001_init",
                "assistant/0002_ledger_book",
                "assistant/0003_grants",
                "assistant/0004_escalation",
                "assistant/0005_retention",
                "webhooks/0001_init",
                "webhooks/0002_held_and_sealed",
                "webhooks/0003_reply_keys",
                "webhooks/0004_escalation_cards",
                "webhooks/0005_batch_cards",
                "monitoring/0001_init",
                "monitoring/0002_series",
                "monitoring/0003_samples"
            ]
        );
    }

    /// A database from before the ledger book keeps its money and what approved,
    /// unspent approvals hold: their reservations move to the book's table (so a spend
    /// settles them), damaged ones are left out instead of failing the upgrade.
    #[test]
    fn the_ledger_book_migration_keeps_reservations() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(migrate::APPLIED_TABLE).unwrap();
        for m in migrations().iter().filter(|m| m.name == "0001_init") {
            conn.execute_batch(m.sql).unwrap();
            conn.execute(
                "INSERT INTO agency_migrations (service, name, applied_ms) VALUES (?1, ?2, 0)",
                rusqlite::params![m.service, m.name],
            )
            .unwrap();
        }
        let approval = |id: &str, status: &str, reserved: &str, actual: Option<i64>| {
            conn.execute(
                "INSERT INTO approvals (id, task_id, agent, action, request_json, status, reason_code, reason,
                     estimated_micros, actual_micros, reserved_json, created_ms)
                 VALUES (?1, ?1, 'a', 'read', '{}', ?2, 'rule', 'r', 5, ?4, ?3, 9)",
                rusqlite::params![id, status, reserved, actual],
            )
            .unwrap();
        };
        approval(
            "held",
            "approved",
            r#"[["global|2026-11-30",5],["agent:a|2026-11",5]]"#,
            None,
        );
        approval("spent", "approved", "[]", Some(4));
        approval("denied", "denied", "[]", None);
        approval("damaged", "approved", "not json", None);
        approval("odd", "approved", r#"{"k":1}"#, None);
        conn.execute(
            "INSERT INTO ledger (key, spent_micros, reserved_micros) VALUES ('global|2026-11-30', 4, 10)",
            [],
        )
        .unwrap();
        let s = Store::init(conn).unwrap();
        let conn = s.conn();
        let held: Vec<(String, String, i64, i64)> = conn
            .prepare("SELECT task, key, micros, created_ms FROM reservations ORDER BY key")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            held,
            vec![
                ("held".into(), "agent:a|2026-11".into(), 5, 9),
                ("held".into(), "global|2026-11-30".into(), 5, 9)
            ]
        );
        let ledger: (i64, i64) = conn
            .query_row("SELECT spent, reserved FROM ledger", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(ledger, (4, 10));
    }

    #[test]
    fn rows_come_back_typed() {
        let s = Store::in_memory().unwrap();
        let w = block_on(s.execute(
            "INSERT INTO graph_versions (version, graph_json, created_ms) VALUES (?1, ?2, ?3)",
            &["g1".into(), "{}".into(), 7i64.into()],
        ))
        .unwrap();
        assert_eq!(w.changes, 1);
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Row {
            seq: i64,
            version: String,
            created_ms: i64,
        }
        let rows: Vec<Row> =
            block_on(s.query("SELECT seq, version, created_ms FROM graph_versions", &[])).unwrap();
        assert_eq!(
            rows,
            vec![Row {
                seq: w.last_row_id,
                version: "g1".into(),
                created_ms: 7
            }]
        );
        let bad = block_on(s.execute("INSERT INTO nowhere VALUES (1)", &[]));
        assert!(matches!(bad, Err(PortError::Storage(_))));
    }
}
