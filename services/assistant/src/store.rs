//! Approvals, audit and chat history over the SQL port (the local server's SQLite, a
//! Worker's D1). Each change and its audit entry go in one batch, which runs as one
//! transaction; state transitions are conditional updates, so two requests racing on
//! one approval cannot both win.

use agency_approval::contract::{ApprovalStatus, decision_audit, human_decision_audit};
use agency_approval::{ApprovalRequest, Decision};
use agency_kit::{ApiError, Db, PortError, SqlValue, Statement};
use serde::Deserialize;

use agency_kit::retention::Retained;

/// The audit trail and chat history: kept for `[retention] audit_days` and
/// `chat_days`, then archived and deleted. (Approvals and the ledger are kept.)
pub const RETAINED: &[Retained] = &[AUDIT, CHAT];

/// The audit trail.
pub const AUDIT: Retained = Retained {
    kind: "audit",
    table: "audit",
    key: "seq",
    time: "created_ms",
    default_days: 365,
    children: &[],
    only: None,
};

/// Chat history.
pub const CHAT: Retained = Retained {
    kind: "chat",
    table: "chat_messages",
    key: "seq",
    time: "created_ms",
    default_days: 90,
    children: &[],
    only: None,
};

use serde_json::{Value, json};

use crate::row::{APPROVAL_COLUMNS, ApprovalRow, AuditRow, reserved_json};

/// How long a human decision may take between its claim and its record before the
/// claim counts as abandoned.
pub const CLAIM_TIMEOUT_MS: i64 = 60_000;

/// The assistant's tables, over a SQL database.
pub struct Store<D> {
    pub(crate) db: D,
}

fn s(v: &str) -> SqlValue {
    v.into()
}
fn n(v: i64) -> SqlValue {
    v.into()
}
fn opt_s(v: Option<&str>) -> SqlValue {
    v.into()
}
fn opt_n(v: Option<i64>) -> SqlValue {
    v.into()
}

/// The reservations `row` holds. Unreadable ones are a damaged row (a 500, logged),
/// never "nothing reserved", which would settle a spend in no scope at all.
pub fn reserved(row: &ApprovalRow) -> Result<Vec<(String, i64)>, ApiError> {
    row.reserved()
        .map_err(|e| PortError::Decode(e.to_string()).into())
}

/// An audit entry to append in the same batch as a change.
pub struct Audit<'a> {
    pub kind: &'a str,
    pub approval: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub detail: Value,
}

pub(crate) fn stmt(q: &str, args: Vec<SqlValue>) -> Statement {
    Statement::new(q, args)
}

impl<D: Db> Store<D> {
    pub fn new(db: D) -> Store<D> {
        Store { db }
    }

    pub(crate) fn audit_stmt(&self, a: &Audit<'_>, now: i64) -> Statement {
        stmt(
            "INSERT INTO audit (created_ms, kind, approval_id, actor, detail_json) VALUES (?1, ?2, ?3, ?4, ?5)",
            vec![
                n(now),
                s(a.kind),
                opt_s(a.approval),
                opt_s(a.actor),
                s(&a.detail.to_string()),
            ],
        )
    }

    /// Appends one audit entry on its own (halts and resumes, whose state lives in the
    /// ledger object).
    pub async fn audit(&self, a: Audit<'_>, now: i64) -> Result<(), ApiError> {
        let st = self.audit_stmt(&a, now);
        self.db.execute(&st.sql, &st.params).await?;
        Ok(())
    }

    /// Pending approvals whose escalation is due go to their second approver group
    /// (`escalated_ms` set, audited `escalated` with the group, once each); pending
    /// approvals past their expiry become `expired` (which counts as denied), each with
    /// an audit entry. The escalation is recorded when it is noticed (each request
    /// and each webhook sweep looks: within a second locally, a cron's period at the
    /// edge); an ask that also expired before anyone looked escalates first.
    pub async fn expire(&self, now: i64) -> Result<(), ApiError> {
        let escalating = "status IN ('pending', 'deciding') AND escalate_ms IS NOT NULL AND escalated_ms IS NULL AND escalate_ms <= ?1";
        // Pending, or claimed by a decision that never finished (the server stopped
        // between the claim and the record).
        let due = "(status = 'pending' OR (status = 'deciding' AND decided_ms < ?2)) AND expires_ms IS NOT NULL AND expires_ms <= ?1";
        let args = || vec![n(now), n(now - CLAIM_TIMEOUT_MS)];
        self.db
            .batch(vec![
                stmt(
                    &format!("INSERT INTO audit (created_ms, kind, approval_id, actor, detail_json) SELECT ?1, 'escalated', id, 'policy', json_object('to', escalate_to) FROM approvals WHERE {escalating} ORDER BY escalate_ms"),
                    vec![n(now)],
                ),
                stmt(
                    &format!("UPDATE approvals SET escalated_ms = ?1 WHERE {escalating}"),
                    vec![n(now)],
                ),
                stmt(
                    &format!("INSERT INTO audit (created_ms, kind, approval_id, actor, detail_json) SELECT ?1, 'expired', id, NULL, '{{}}' FROM approvals WHERE {due}"),
                    args(),
                ),
                stmt(
                    // Decided when it expired, not when a later request noticed.
                    &format!("UPDATE approvals SET status = 'expired', decided_ms = expires_ms WHERE {due}"),
                    args(),
                ),
            ])
            .await?;
        Ok(())
    }

    async fn one(&self, filter: &str, arg: SqlValue) -> Result<Option<ApprovalRow>, ApiError> {
        Ok(self
            .db
            .first::<ApprovalRow>(
                &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE {filter}"),
                &[arg],
            )
            .await?)
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<ApprovalRow>, ApiError> {
        self.one("id = ?1", s(id)).await
    }

    /// The approval `id`, or the 404 that names it.
    pub async fn require(&self, id: &str) -> Result<ApprovalRow, ApiError> {
        self.by_id(id).await?.ok_or_else(|| crate::no_approval(id))
    }

    pub async fn by_task(&self, task: &str) -> Result<Option<ApprovalRow>, ApiError> {
        self.one("task_id = ?1", s(task)).await
    }

    pub async fn by_number(&self, number: i64) -> Result<Option<ApprovalRow>, ApiError> {
        self.one("rowid = ?1", n(number)).await
    }

    /// Newest first; `before` pages on from an earlier page's last `number`.
    pub async fn list(
        &self,
        status: Option<ApprovalStatus>,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<ApprovalRow>, ApiError> {
        let rows = self
            .db
            .query::<ApprovalRow>(
                &format!(
                    "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE (?1 IS NULL OR status = ?1 OR (?1 = 'pending' AND status = 'deciding')) \
                     AND (?3 IS NULL OR rowid < ?3) ORDER BY rowid DESC LIMIT ?2"
                ),
                &[
                    opt_s(status.map(ApprovalStatus::as_str)),
                    n(i64::from(limit)),
                    opt_n(before),
                ],
            )
            .await?;
        Ok(rows)
    }

    /// Records a policy decision (`grant`: the grant that approved it). A concurrent
    /// retry of the same task may have recorded first; then nothing is written and the
    /// caller reads that one back.
    pub async fn insert(
        &self,
        id: &str,
        request: &ApprovalRequest,
        request_json: &Value,
        d: &Decision,
        grant: Option<&str>,
        now: i64,
    ) -> Result<(), ApiError> {
        let mut detail = decision_audit(d);
        if let Some(g) = grant {
            detail["grantId"] = g.into();
        }
        self.db
            .batch(vec![
                stmt(
                    "INSERT INTO approvals (id, task_id, agent, action, request_json, status, reason_code, reason, rule, budget_scope,
                         budget_remaining_micros, estimated_micros, reserved_json, created_ms, expires_ms, grant_id, decided_ms,
                         escalate_ms, escalate_to)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, CASE WHEN ?16 IS NULL THEN NULL ELSE ?14 END,
                         ?17, ?18)
                     ON CONFLICT(task_id) DO NOTHING",
                    vec![
                        s(id),
                        s(&request.task_id),
                        s(&request.agent),
                        s(&request.action),
                        s(&request_json.to_string()),
                        s(d.outcome.as_str()),
                        s(d.reason_code.as_str()),
                        s(&d.reason),
                        opt_s(d.rule.as_deref()),
                        opt_s(d.budget.as_ref().map(|b| b.scope.as_str())),
                        opt_n(d.budget.as_ref().map(|b| b.remaining.0)),
                        n(request.estimated_cost.0),
                        s(&reserved_json(&d.change)),
                        n(now),
                        opt_n(d.expires_at_ms),
                        opt_s(grant),
                        opt_n(d.escalate.as_ref().map(|e| e.at_ms)),
                        opt_s(d.escalate.as_ref().map(|e| e.to.as_str())),
                    ],
                ),
                // Audited only when the row above is ours.
                stmt(
                    "INSERT INTO audit (created_ms, kind, approval_id, actor, detail_json)
                     SELECT ?1, 'decision', id, 'policy', ?3 FROM approvals WHERE id = ?2",
                    vec![n(now), s(id), s(&detail.to_string())],
                ),
            ])
            .await?;
        Ok(())
    }

    /// Claims a pending, unexpired approval for a human decision (noting when, in
    /// `decided_ms`); false when it is not (any more) pending. A claim older than
    /// [`CLAIM_TIMEOUT_MS`] was abandoned (the server stopped mid-decision) and can be
    /// claimed again.
    pub async fn claim(&self, id: &str, now: i64) -> Result<bool, ApiError> {
        let w = self
            .db
            .execute(
                "UPDATE approvals SET status = 'deciding', decided_ms = ?2 WHERE id = ?1 \
                 AND (status = 'pending' OR (status = 'deciding' AND decided_ms < ?3)) \
                 AND (expires_ms IS NULL OR expires_ms > ?2)",
                &[s(id), n(now), n(now - CLAIM_TIMEOUT_MS)],
            )
            .await?;
        Ok(w.changes > 0)
    }

    /// Moves a pending ask's expiry to `expires`, if it is still pending, unexpired and
    /// extended `extensions` times so far (a racing extension wins once), with its
    /// audit entry; whether it did.
    pub async fn extend(
        &self,
        id: &str,
        extensions: i64,
        expires: i64,
        by: &str,
        now: i64,
    ) -> Result<bool, ApiError> {
        let detail =
            json!({ "expiresAt": agency_approval::rfc3339(expires), "extension": extensions + 1 });
        let results = self
            .db
            .batch(vec![
                stmt(
                    "UPDATE approvals SET expires_ms = ?2, extensions = extensions + 1 WHERE id = ?1 \
                     AND status = 'pending' AND expires_ms > ?3 AND extensions = ?4",
                    vec![s(id), n(expires), n(now), n(extensions)],
                ),
                stmt(
                    "INSERT INTO audit (created_ms, kind, approval_id, actor, detail_json) SELECT ?1, 'extended', ?2, ?3, ?4 WHERE changes() > 0",
                    vec![n(now), s(id), s(by), s(&detail.to_string())],
                ),
            ])
            .await?;
        Ok(results.first().is_some_and(|w| w.changes > 0))
    }

    /// Gives a claimed approval back (its decision could not be recorded).
    pub async fn unclaim(&self, id: &str) -> Result<(), PortError> {
        self.db
            .execute(
                "UPDATE approvals SET status = 'pending', decided_ms = NULL WHERE id = ?1 AND status = 'deciding'",
                &[s(id)],
            )
            .await
            .map(|_| ())
    }

    /// Records the human decision `d` on a claimed approval, with its audit entry, and
    /// `also` (a grant given with it) in the same batch.
    pub async fn settle_human(
        &self,
        id: &str,
        d: &Decision,
        by: &str,
        comment: Option<&str>,
        also: Vec<Statement>,
        now: i64,
    ) -> Result<(), ApiError> {
        let mut batch = vec![
                stmt(
                    "UPDATE approvals SET status = ?2, reason_code = ?3, reason = ?4, decided_by = ?5, decided_ms = ?6, comment = ?7,
                         reserved_json = ?8, budget_scope = COALESCE(?9, budget_scope), budget_remaining_micros = COALESCE(?10, budget_remaining_micros)
                     WHERE id = ?1 AND status = 'deciding'",
                    vec![
                        s(id),
                        s(d.outcome.as_str()),
                        s(d.reason_code.as_str()),
                        s(&d.reason),
                        s(by),
                        n(now),
                        opt_s(comment),
                        s(&reserved_json(&d.change)),
                        opt_s(d.budget.as_ref().map(|b| b.scope.as_str())),
                        opt_n(d.budget.as_ref().map(|b| b.remaining.0)),
                    ],
                ),
                self.audit_stmt(
                    &Audit {
                        kind: "human-decision",
                        approval: Some(id),
                        actor: Some(by),
                        detail: human_decision_audit(d, comment),
                    },
                    now,
                ),
        ];
        batch.extend(also);
        self.db.batch(batch).await?;
        Ok(())
    }

    /// Records the actual cost of an approved task once; false when it was not approved
    /// or already settled.
    pub async fn spend(
        &self,
        id: &str,
        actual: i64,
        actor: Option<&str>,
        now: i64,
    ) -> Result<bool, ApiError> {
        let results = self
            .db
            .batch(vec![
                stmt(
                    "UPDATE approvals SET actual_micros = ?2, reserved_json = '[]' WHERE id = ?1 AND status = 'approved' AND actual_micros IS NULL",
                    vec![s(id), n(actual)],
                ),
                stmt(
                    "INSERT INTO audit (created_ms, kind, approval_id, actor, detail_json) SELECT ?1, 'spend', ?2, ?3, ?4 WHERE changes() > 0",
                    vec![
                        n(now),
                        s(id),
                        opt_s(actor),
                        s(&json!({ "actualCostUsd": agency_approval::Micros(actual).to_usd() }).to_string()),
                    ],
                ),
            ])
            .await?;
        Ok(results.first().is_some_and(|w| w.changes > 0))
    }

    /// Newest first; `before` pages on from an earlier page's last `seq`.
    /// A page of the trail: below `before` newest first, or above `after` oldest first;
    /// only `kinds` when some are named.
    pub async fn audit_log(&self, page: &crate::AuditPage) -> Result<Vec<AuditRow>, ApiError> {
        let kinds = (!page.kinds.is_empty())
            .then(|| serde_json::to_string(&page.kinds).unwrap_or_default());
        let args = [
            n(i64::from(page.limit)),
            opt_n(page.before),
            opt_s(kinds.as_deref()),
        ];
        let of_kind = "(?3 IS NULL OR kind IN (SELECT value FROM json_each(?3)))";
        let q = match page.after {
            None => format!(
                "SELECT seq, created_ms, kind, approval_id, actor, detail_json FROM audit WHERE (?2 IS NULL OR seq < ?2) AND {of_kind} ORDER BY seq DESC LIMIT ?1"
            ),
            Some(after) => {
                return Ok(self
                    .db
                    .query::<AuditRow>(
                        &format!("SELECT seq, created_ms, kind, approval_id, actor, detail_json FROM audit WHERE seq > ?2 AND (?4 IS NULL OR seq < ?4) AND {of_kind} ORDER BY seq LIMIT ?1"),
                        &[args[0].clone(), n(after), args[2].clone(), opt_n(page.before)],
                    )
                    .await?);
            }
        };
        Ok(self.db.query::<AuditRow>(&q, &args).await?)
    }

    pub async fn chat_append(
        &self,
        session: &str,
        messages: &[(&str, &str)],
        now: i64,
    ) -> Result<(), ApiError> {
        let mut batch = Vec::new();
        for (role, content) in messages {
            batch.push(stmt(
                "INSERT INTO chat_messages (session_id, role, content, created_ms) VALUES (?1, ?2, ?3, ?4)",
                vec![s(session), s(role), s(content), n(now)],
            ));
        }
        self.db.batch(batch).await?;
        Ok(())
    }

    /// The last `limit` messages of a session, oldest first: (role, content).
    pub async fn chat_history(
        &self,
        session: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, ApiError> {
        #[derive(Deserialize)]
        struct Row {
            role: String,
            content: String,
        }
        let rows = self
            .db
            .query::<Row>(
                "SELECT role, content FROM (SELECT seq, role, content FROM chat_messages WHERE session_id = ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
                &[s(session), n(i64::from(limit))],
            )
            .await?;
        Ok(rows.into_iter().map(|r| (r.role, r.content)).collect())
    }
}
