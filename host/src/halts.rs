//! The halt switch in SQLite: halts in force (all agents, one agent, one task), set
//! and lifted with an audit entry each.

use rusqlite::{TransactionBehavior, params};
use serde_json::{Value, json};

use crate::approvals::{ApprovalError, audit};
use crate::store::{Store, now_ms, rfc3339};

impl Store {
    pub fn halt(
        &self,
        scope: &str,
        target: &str,
        reason: &str,
        actor: Option<&str>,
    ) -> Result<(), ApprovalError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO halts (scope, target, reason, created_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(scope, target) DO UPDATE SET reason = excluded.reason",
            params![scope, target, reason, now_ms()],
        )?;
        audit(
            &tx,
            "halt",
            None,
            actor,
            &json!({ "scope": scope, "target": target, "reason": reason }),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Lifts a halt; true when one was in force.
    pub fn resume(
        &self,
        scope: &str,
        target: &str,
        actor: Option<&str>,
    ) -> Result<bool, ApprovalError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "DELETE FROM halts WHERE scope = ?1 AND target = ?2",
            params![scope, target],
        )?;
        audit(
            &tx,
            "resume",
            None,
            actor,
            &json!({ "scope": scope, "target": target, "wasHalted": n > 0 }),
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Lifts every halt; how many were in force.
    pub fn resume_all(&self, actor: Option<&str>) -> Result<usize, ApprovalError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute("DELETE FROM halts", [])?;
        audit(
            &tx,
            "resume",
            None,
            actor,
            &json!({ "scope": "everything", "lifted": n }),
        )?;
        tx.commit()?;
        Ok(n)
    }

    pub fn halts(&self) -> Result<Vec<Value>, ApprovalError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT scope, target, reason, created_ms FROM halts ORDER BY created_ms")?;
        let rows = stmt
            .query_map([], |r| {
                let target: String = r.get(1)?;
                Ok(json!({ "scope": r.get::<_, String>(0)?, "target": if target.is_empty() { Value::Null } else { Value::String(target) },
                           "reason": r.get::<_, String>(2)?, "since": rfc3339(r.get(3)?) }))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
