//! The approval assistant's state in SQLite: approvals (idempotent on task id), the
//! budget ledger, halts and the append-only audit trail. Every change is one
//! transaction, so concurrent approvals never overspend and a failed request leaves
//! nothing half-written. Decisions come from the caller's `decide` (the policy
//! component or the core crate); this module only moves state.

use agency_approval::contract::{
    APPROVAL_COLUMNS, ApprovalConflict, ApprovalRow, decision_audit, human_decision_audit,
    parse_reserved, reserved_json,
};
use agency_approval::{
    Answer, ApprovalRequest, BudgetStatus, Decision, HaltState, LedgerChange, LedgerSnapshot,
    Micros, day_key, halt_reason, human_decision, month_key,
};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde_json::{Value, json};

use crate::store::{Store, StoreError, now_ms, rfc3339};

/// Why a state change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no approval {0:?}")]
    NotFound(String),
    /// The approval is past what was asked of it (decided already; for a spend, not
    /// approved or already spent). `status` is its status, for the operator.
    #[error("{conflict}")]
    Settled {
        status: String,
        conflict: ApprovalConflict,
    },
    #[error("{0}")]
    Invalid(String),
    /// A task id asked about again with a different request (the message of
    /// [`ApprovalConflict::TaskReused`]).
    #[error("{0}")]
    Conflict(String),
    /// A spend the ledger cannot hold.
    #[error("{0}")]
    LedgerLimit(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the policy component failed: {0}")]
    Decide(String),
}

impl From<rusqlite::Error> for ApprovalError {
    fn from(e: rusqlite::Error) -> Self {
        ApprovalError::Store(StoreError::from(e))
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRow> {
    Ok(ApprovalRow {
        id: r.get(0)?,
        task_id: r.get(1)?,
        agent: r.get(2)?,
        action: r.get(3)?,
        request_json: r.get(4)?,
        status: r.get(5)?,
        reason_code: r.get(6)?,
        reason: r.get(7)?,
        rule: r.get(8)?,
        budget_scope: r.get(9)?,
        budget_remaining_micros: r.get(10)?,
        estimated_micros: r.get(11)?,
        actual_micros: r.get(12)?,
        reserved_json: r.get(13)?,
        created_ms: r.get(14)?,
        expires_ms: r.get(15)?,
        decided_by: r.get(16)?,
        decided_ms: r.get(17)?,
        comment: r.get(18)?,
        number: r.get(19)?,
    })
}

fn row_json(r: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    row(r).map(|a| a.to_json())
}

/// The approval with `id`, as API JSON.
fn by_id(tx: &rusqlite::Connection, id: &str) -> rusqlite::Result<Option<Value>> {
    tx.query_row(
        &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
        [id],
        row_json,
    )
    .optional()
}

fn snapshot(tx: &rusqlite::Transaction<'_>, now: i64) -> rusqlite::Result<LedgerSnapshot> {
    let mut stmt = tx.prepare(&format!(
        "SELECT key, MIN(spent_micros + reserved_micros, {MAX}) FROM ledger WHERE key LIKE ?1 OR key LIKE ?2",
        MAX = Micros::MAX_LEDGER.0
    ))?;
    let rows = stmt.query_map(
        params![
            format!("%|{}", day_key(now)),
            format!("%|{}", month_key(now))
        ],
        |r| Ok((r.get::<_, String>(0)?, Micros(r.get(1)?))),
    )?;
    Ok(LedgerSnapshot {
        used: rows.collect::<Result<_, _>>()?,
    })
}

fn halts(tx: &rusqlite::Connection) -> rusqlite::Result<HaltState> {
    let mut stmt = tx.prepare("SELECT scope, target FROM halts")?;
    let mut h = HaltState::default();
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (scope, target) = row?;
        match scope.as_str() {
            "all" => h.all = true,
            "agent" => {
                h.agents.insert(target);
            }
            "task" => {
                h.tasks.insert(target);
            }
            _ => {}
        }
    }
    Ok(h)
}

fn reserve(tx: &rusqlite::Transaction<'_>, change: &LedgerChange) -> rusqlite::Result<()> {
    for (key, m) in &change.reserve {
        tx.execute(
            "INSERT INTO ledger (key, reserved_micros) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET reserved_micros = MIN(reserved_micros + excluded.reserved_micros, ?3)",
            params![key, m.0, Micros::MAX_LEDGER.0],
        )?;
    }
    Ok(())
}

pub(crate) fn audit(
    tx: &rusqlite::Connection,
    kind: &str,
    approval: Option<&str>,
    actor: Option<&str>,
    detail: &Value,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO audit (created_ms, kind, approval_id, actor, detail_json) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_ms(), kind, approval, actor, detail.to_string()],
    )?;
    Ok(())
}

fn new_id() -> String {
    let mut b = [0u8; 10];
    if getrandom::fill(&mut b).is_err() {
        b[..8].copy_from_slice(&(now_ms() as u64).to_le_bytes());
    }
    format!(
        "apr_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// Pending approvals past their expiry become `expired` (which counts as denied).
fn expire(tx: &rusqlite::Connection, now: i64) -> rusqlite::Result<()> {
    let ids: Vec<String> = {
        let mut stmt = tx.prepare("SELECT id FROM approvals WHERE status = 'pending' AND expires_ms IS NOT NULL AND expires_ms <= ?1")?;
        stmt.query_map([now], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    for id in ids {
        // Decided when it expired, not when a later request noticed.
        tx.execute(
            "UPDATE approvals SET status = 'expired', decided_ms = expires_ms WHERE id = ?1",
            params![id],
        )?;
        audit(tx, "expired", Some(&id), None, &json!({}))?;
    }
    Ok(())
}

/// A human's answer to a pending approval.
#[derive(Debug, Clone, Copy)]
pub struct HumanAnswer<'a> {
    pub approve: bool,
    pub by: &'a str,
    pub comment: Option<&'a str>,
}

impl Store {
    /// Records the decision for `request`, or returns the stored one when the task was
    /// asked about before (a retry never reserves twice). `decide` sees the ledger and
    /// halts as they are inside the transaction.
    pub fn approve(
        &self,
        request: &ApprovalRequest,
        request_json: &Value,
        now: i64,
        decide: impl FnOnce(&LedgerSnapshot, &HaltState) -> Result<Decision, String>,
    ) -> Result<Value, ApprovalError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        expire(&tx, now)?;
        let existing = tx
            .query_row(
                &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE task_id = ?1"),
                [&request.task_id],
                row,
            )
            .optional()?;
        if let Some(r) = existing {
            tx.commit()?;
            r.check_retry(request)
                .map_err(|e| ApprovalError::Conflict(e.to_string()))?;
            return Ok(r.to_json());
        }
        let ledger = snapshot(&tx, now)?;
        let halt = halts(&tx)?;
        let d = decide(&ledger, &halt).map_err(ApprovalError::Decide)?;
        let id = new_id();
        tx.execute(
            "INSERT INTO approvals (id, task_id, agent, action, request_json, status, reason_code, reason, rule, budget_scope,
                 budget_remaining_micros, estimated_micros, reserved_json, created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                id,
                request.task_id,
                request.agent,
                request.action,
                request_json.to_string(),
                d.outcome.as_str(),
                d.reason_code,
                d.reason,
                d.rule,
                d.budget.as_ref().map(|b| b.scope.clone()),
                d.budget.as_ref().map(|b| b.remaining.0),
                request.estimated_cost.0,
                reserved_json(&d.change),
                now,
                d.expires_at_ms,
            ],
        )?;
        reserve(&tx, &d.change)?;
        audit(
            &tx,
            "decision",
            Some(&id),
            Some("policy"),
            &decision_audit(&d),
        )?;
        let v = by_id(&tx, &id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        tx.commit()?;
        Ok(v)
    }

    pub fn approval(&self, id: &str) -> Result<Value, ApprovalError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        expire(&tx, now_ms())?;
        let v = by_id(&tx, id)?;
        tx.commit()?;
        v.ok_or_else(|| ApprovalError::NotFound(id.to_owned()))
    }

    /// Newest first; `before` pages on from an earlier page's last `number`.
    pub fn approvals(
        &self,
        status: Option<&str>,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<Value>, ApprovalError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        expire(&tx, now_ms())?;
        let rows = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE (?1 IS NULL OR status = ?1) AND (?3 IS NULL OR rowid < ?3) \
                 ORDER BY rowid DESC LIMIT ?2"
            ))?;
            stmt.query_map(params![status, limit, before], row_json)?
                .collect::<Result<Vec<_>, _>>()?
        };
        tx.commit()?;
        Ok(rows)
    }

    /// A human's answer to a pending approval. Approving re-checks the budgets as they
    /// are now (`check`) and reserves; a settled approval is refused.
    pub fn decide_human(
        &self,
        id: &str,
        answer: HumanAnswer<'_>,
        now: i64,
        check: impl FnOnce(
            &ApprovalRequest,
            &LedgerSnapshot,
        ) -> Result<(LedgerChange, Option<BudgetStatus>), BudgetStatus>,
        request_of: impl FnOnce(&Value) -> Option<ApprovalRequest>,
    ) -> Result<Value, ApprovalError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        expire(&tx, now)?;
        let current = by_id(&tx, id)?;
        let current = current.ok_or_else(|| ApprovalError::NotFound(id.to_owned()))?;
        let status = current["decision"].as_str().unwrap_or("").to_owned();
        if status != "pending" {
            // Keep the expiry sweep above: an ask that just expired is recorded so now.
            tx.commit()?;
            return Err(ApprovalError::Settled {
                conflict: ApprovalConflict::Decided {
                    approval_id: id.to_owned(),
                    status: status.clone(),
                },
                status,
            });
        }
        let request = request_of(&current["request"])
            .ok_or_else(|| ApprovalError::Invalid("stored request is unreadable".into()))?;
        let HumanAnswer {
            approve,
            by,
            comment,
        } = answer;
        let d = human_decision(
            &request,
            by,
            if !approve {
                Answer::Deny
            } else if let Some(why) = halt_reason(&request, &halts(&tx)?) {
                Answer::Halted(why)
            } else {
                Answer::Approve(check(&request, &snapshot(&tx, now)?))
            },
        );
        tx.execute(
            "UPDATE approvals SET status = ?2, reason_code = ?3, reason = ?4, decided_by = ?5, decided_ms = ?6, comment = ?7,
                 reserved_json = ?8, budget_scope = COALESCE(?9, budget_scope), budget_remaining_micros = COALESCE(?10, budget_remaining_micros)
             WHERE id = ?1",
            params![
                id,
                d.outcome.as_str(),
                d.reason_code,
                d.reason,
                by,
                now,
                comment,
                reserved_json(&d.change),
                d.budget.as_ref().map(|b| b.scope.clone()),
                d.budget.as_ref().map(|b| b.remaining.0),
            ],
        )?;
        reserve(&tx, &d.change)?;
        audit(
            &tx,
            "human-decision",
            Some(id),
            Some(by),
            &human_decision_audit(&d, comment),
        )?;
        let v = by_id(&tx, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        tx.commit()?;
        Ok(v)
    }

    /// Settles an approved task's real cost: its reservation becomes spending.
    pub fn spend(
        &self,
        id: &str,
        actual: Micros,
        actor: Option<&str>,
    ) -> Result<Value, ApprovalError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(String, String, Option<i64>)> = tx
            .query_row(
                "SELECT status, reserved_json, actual_micros FROM approvals WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (status, reserved, actual_before) =
            row.ok_or_else(|| ApprovalError::NotFound(id.to_owned()))?;
        if status != "approved" {
            return Err(ApprovalError::Settled {
                conflict: ApprovalConflict::NotApproved {
                    approval_id: id.to_owned(),
                    status: status.clone(),
                },
                status,
            });
        }
        if actual_before.is_some() {
            return Err(ApprovalError::Settled {
                conflict: ApprovalConflict::Spent {
                    approval_id: id.to_owned(),
                },
                status,
            });
        }
        // Unreadable reservations fail the spend (the stored row is damaged): read as
        // none, the spend would settle nothing and leave the reservation held.
        let reserved = parse_reserved(id, &reserved).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?;
        for (key, m) in &reserved {
            // Refused, not recorded short, when a sum would pass what a ledger holds
            // (the transaction then rolls back the keys already updated).
            let spent: i64 = tx
                .query_row(
                    "SELECT spent_micros FROM ledger WHERE key = ?1",
                    [key],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            Micros(spent)
                .room_for(actual, key)
                .map_err(ApprovalError::LedgerLimit)?;
            tx.execute(
                "UPDATE ledger SET reserved_micros = MAX(0, reserved_micros - ?2), spent_micros = MIN(spent_micros + ?3, ?4) WHERE key = ?1",
                params![key, m, actual.0, Micros::MAX_LEDGER.0],
            )?;
        }
        tx.execute(
            "UPDATE approvals SET actual_micros = ?2, reserved_json = '[]' WHERE id = ?1",
            params![id, actual.0],
        )?;
        audit(
            &tx,
            "spend",
            Some(id),
            actor,
            &json!({ "actualCostUsd": actual.to_usd() }),
        )?;
        let v = by_id(&tx, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        tx.commit()?;
        Ok(v)
    }

    /// The id of approval number `n` (the short number operators type in chat).
    pub fn approval_id_by_number(&self, n: i64) -> Result<Option<String>, ApprovalError> {
        Ok(self
            .conn()
            .query_row("SELECT id FROM approvals WHERE rowid = ?1", [n], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Spent and reserved micro-dollars per ledger key for the periods containing `now`.
    pub fn ledger(&self, now: i64) -> Result<Vec<(String, Micros, Micros)>, ApprovalError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT key, spent_micros, reserved_micros FROM ledger WHERE key LIKE ?1 OR key LIKE ?2 ORDER BY key")?;
        let rows = stmt
            .query_map(
                params![
                    format!("%|{}", day_key(now)),
                    format!("%|{}", month_key(now))
                ],
                |r| Ok((r.get(0)?, Micros(r.get(1)?), Micros(r.get(2)?))),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Newest first; `before` pages on from an earlier page's last `seq`.
    pub fn audit_log(&self, limit: u32, before: Option<i64>) -> Result<Vec<Value>, ApprovalError> {
        let mut conn = self.conn();
        {
            // Asks that expired since the last request are in the log before it is read.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            expire(&tx, now_ms())?;
            tx.commit()?;
        }
        let mut stmt = conn.prepare("SELECT seq, created_ms, kind, approval_id, actor, detail_json FROM audit WHERE (?2 IS NULL OR seq < ?2) ORDER BY seq DESC LIMIT ?1")?;
        let rows = stmt
            .query_map(params![limit, before], |r| {
                let detail: Value = serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or(Value::Null);
                Ok(json!({ "seq": r.get::<_, i64>(0)?, "at": rfc3339(r.get(1)?), "kind": r.get::<_, String>(2)?,
                           "approvalId": r.get::<_, Option<String>>(3)?, "actor": r.get::<_, Option<String>>(4)?, "detail": detail }))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
