//! SQLite storage for the local server: graph versions, routing decisions (the audit
//! trail), feedback and agent health. One connection behind a mutex; every write is a
//! single statement or one transaction.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StoreError(#[from] rusqlite::Error);

pub struct Store {
    conn: Mutex<Connection>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredGraph {
    pub sequence: i64,
    pub version: String,
    #[serde(skip)]
    pub json: String,
    pub created_at: String,
}

/// The schema is the Workers' D1 migrations, so local and edge storage never drift:
/// the skill-graph service's tables, then the router's.
const MIGRATIONS: &[&str] = &[
    include_str!("../../workers/skill-graph/migrations/0001_init.sql"),
    include_str!("../../workers/router/migrations/0001_init.sql"),
    include_str!("../../workers/assistant/migrations/0001_init.sql"),
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
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let tx = conn.transaction()?;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.execute_batch(m)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        tx.commit()?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn current_graph(&self) -> Result<Option<StoredGraph>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT seq, version, graph_json, created_ms FROM graph_versions ORDER BY seq DESC LIMIT 1", [], graph_row)
            .optional()?)
    }

    /// Stores a new version unless it equals the current one.
    pub fn put_graph(&self, version: &str, json: &str) -> Result<StoredGraph, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current = tx
            .query_row("SELECT seq, version, graph_json, created_ms FROM graph_versions ORDER BY seq DESC LIMIT 1", [], graph_row)
            .optional()?;
        if let Some(c) = current.filter(|c| c.version == version) {
            return Ok(c);
        }
        tx.execute(
            "INSERT INTO graph_versions (version, graph_json, created_ms) VALUES (?1, ?2, ?3)",
            params![version, json, now_ms()],
        )?;
        let stored = tx.query_row("SELECT seq, version, graph_json, created_ms FROM graph_versions WHERE seq = last_insert_rowid()", [], graph_row)?;
        tx.commit()?;
        Ok(stored)
    }

    pub fn graph_versions(&self, limit: u32) -> Result<Vec<StoredGraph>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, version, '' , created_ms FROM graph_versions ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit], graph_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn insert_decision(
        &self,
        id: &str,
        message: &str,
        channel: Option<&str>,
        decision: &Value,
    ) -> Result<(), StoreError> {
        let s = |k: &str| decision.get(k).and_then(Value::as_str).map(str::to_owned);
        self.conn().execute(
            "INSERT INTO decisions (id, created_ms, message, channel, agent, reason, graph_version, decision_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![id, now_ms(), message, channel, s("agent"), s("reason").unwrap_or_default(), s("graphVersion").unwrap_or_default(), decision.to_string()],
        )?;
        Ok(())
    }

    /// Most recent first; each entry is the decision JSON plus `message`, `channel`, `createdAt`.
    pub fn recent_decisions(&self, limit: u32) -> Result<Vec<Value>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT decision_json, message, channel, created_ms FROM decisions ORDER BY created_ms DESC, rowid DESC LIMIT ?1")?;
        let rows = stmt
            .query_map([limit], |r| {
                let json: String = r.get(0)?;
                let mut v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut v {
                    o.insert("message".into(), Value::String(r.get(1)?));
                    o.insert(
                        "channel".into(),
                        r.get::<_, Option<String>>(2)?
                            .map(Value::String)
                            .unwrap_or(Value::Null),
                    );
                    o.insert("createdAt".into(), Value::String(rfc3339(r.get(3)?)));
                }
                Ok(v)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn decision_exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT 1 FROM decisions WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn insert_feedback(
        &self,
        decision_id: &str,
        correct_agent: Option<&str>,
    ) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO feedback (decision_id, correct_agent, created_ms) VALUES (?1, ?2, ?3)",
            params![decision_id, correct_agent, now_ms()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    pub fn set_health(&self, agent: &str, healthy: bool) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO agent_health (agent, healthy, updated_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(agent) DO UPDATE SET healthy = excluded.healthy, updated_ms = excluded.updated_ms",
            params![agent, healthy, now_ms()],
        )?;
        Ok(())
    }

    pub fn down_agents(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT agent FROM agent_health WHERE healthy = 0 ORDER BY agent")?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }
}

fn graph_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredGraph> {
    Ok(StoredGraph {
        sequence: r.get(0)?,
        version: r.get(1)?,
        json: r.get(2)?,
        created_at: rfc3339(r.get(3)?),
    })
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

    #[test]
    fn graph_versions_are_appended_once() {
        let s = Store::in_memory().unwrap();
        assert!(s.current_graph().unwrap().is_none());
        let a = s.put_graph("g1", "{}").unwrap();
        let again = s.put_graph("g1", "{}").unwrap();
        assert_eq!(a.sequence, again.sequence);
        let b = s.put_graph("g2", "{}").unwrap();
        assert_eq!(b.sequence, a.sequence + 1);
        assert_eq!(s.graph_versions(10).unwrap().len(), 2);
    }

    #[test]
    fn health_round_trips() {
        let s = Store::in_memory().unwrap();
        s.set_health("dev", false).unwrap();
        s.set_health("pm", true).unwrap();
        assert_eq!(s.down_agents().unwrap(), vec!["dev"]);
        s.set_health("dev", true).unwrap();
        assert!(s.down_agents().unwrap().is_empty());
    }
}
