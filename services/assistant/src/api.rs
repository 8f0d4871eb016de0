//! The assistant's operations, written once (its endpoints, which call them, are in
//! [`crate::endpoints`]): each operation (approve, decide, spend, halt...) runs over the
//! runtime's
//! [`AssistantRuntime`]: the SQL store, the budget ledger ([`LedgerPort`]: one SQLite
//! transaction locally, the per-scope Durable Objects at the edge), time and ids.
#![allow(async_fn_in_trait)]

use agency_approval::contract::{
    ApprovalConflict, ApprovalStatus, Batch, BatchDecision, GrantTerms, NewGrant, budget_report,
};
use agency_approval::{
    Answer, ApprovalRequest, Decision, HaltTarget, Micros, Policy, human_decision,
};
use agency_kit::export::Export;
use agency_kit::{ApiError, Clock, Db, Random, Request};
use serde_json::{Value, json};

use crate::grants::{GrantRow, GrantStatus, insert_grant};
use crate::ledger::{Halt, HaltIn, HaltView, LedgerPort};
use crate::row::{ApprovalRow, HaltAudit};
use crate::store::{Audit, Store, reserved};
use crate::{AuditPage, ListPage};

/// Why a human decision was not recorded.
#[derive(Debug)]
pub enum Undecided {
    /// It was decided already (or is being decided).
    Settled(ApprovalConflict),
    Failed(ApiError),
}

impl From<ApiError> for Undecided {
    fn from(e: ApiError) -> Self {
        Undecided::Failed(e)
    }
}

impl From<Undecided> for ApiError {
    fn from(e: Undecided) -> Self {
        match e {
            Undecided::Settled(c) => ApiError::conflict(c.to_string()),
            Undecided::Failed(e) => e,
        }
    }
}

/// The assistant's operations, as the endpoints and the chat use them. Every runtime
/// gets them from its [`AssistantRuntime`] (the blanket impl below: the approve, decide
/// and spend flows are written once); tests may fake them. Approvals and halts come
/// back as the API's JSON.
pub trait AssistantPorts {
    /// The policy's answer to `request` (a retry of a task gets its first answer; the
    /// same task with another request is a 409).
    async fn approve(&self, request: ApprovalRequest, raw: &Value) -> Result<Value, ApiError>;
    /// One approval, expired asks swept first.
    async fn approval(&self, id: &str) -> Result<Option<Value>, ApiError>;
    /// A page of approvals, newest first, expired asks swept first.
    async fn approvals(&self, page: &ListPage) -> Result<Vec<Value>, ApiError>;
    /// A human's answer (approving with a grant when `grant` is given); the approval
    /// after.
    async fn decide(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        comment: Option<&str>,
        grant: Option<&GrantTerms>,
    ) -> Result<Value, Undecided>;
    /// Gives a pending ask `secs` more (bounded: `agency_approval::contract::extended`);
    /// the approval after.
    async fn extend(&self, id: &str, secs: u64, by: &str) -> Result<Value, Undecided>;
    /// Decides many pending approvals, one result each (`BatchResult`).
    async fn decide_batch(&self, batch: &BatchDecision) -> Result<Vec<Value>, ApiError>;
    /// Stores a grant; the grant.
    async fn add_grant(&self, grant: &NewGrant) -> Result<Value, ApiError>;
    /// Grants newest first, of one status when given.
    async fn grants(&self, status: Option<GrantStatus>, limit: u32)
    -> Result<Vec<Value>, ApiError>;
    /// Revokes a grant; the grant after (`None`: unknown).
    async fn revoke_grant(&self, id: &str, by: &str) -> Result<Option<Value>, ApiError>;
    async fn halt(&self, what: &HaltTarget, reason: &str, by: &str) -> Result<(), ApiError>;
    /// Lifts the halt on `what` (`None`: every halt); how many it lifted.
    async fn resume(&self, what: Option<&HaltTarget>, by: &str) -> Result<usize, ApiError>;
    async fn halts(&self) -> Result<Vec<HaltView>, ApiError>;
    /// Records an approved task's real cost; the approval after.
    async fn spend(&self, approval_id: &str, actual: Micros) -> Result<Value, ApiError>;
    /// `GET /api/budget`'s report.
    async fn budget(&self) -> Result<Value, ApiError>;
    /// A page of the audit trail, newest first, expired asks swept first.
    async fn audit(&self, page: &AuditPage) -> Result<Vec<Value>, ApiError>;
    /// The export of the audit trail `req` asks for (`from`, `to`), expired asks swept
    /// first; the runtime streams it.
    async fn audit_export(&self, req: &Request) -> Result<Export, ApiError>;
    /// The id of approval number `number` (the short number operators type in chat).
    async fn approval_id_by_number(&self, number: i64) -> Result<Option<String>, ApiError>;
    /// The last `limit` messages of a chat session, oldest first: (role, content).
    async fn history(&self, session: &str, limit: u32) -> Result<Vec<(String, String)>, ApiError>;
    /// Appends messages (role, content) to a chat session's history.
    async fn append(&self, session: &str, messages: &[(&str, &str)]) -> Result<(), ApiError>;
}

/// What a runtime gives the assistant: its SQL database (approvals, audit, chat), its
/// budget ledger and halts, the policy, time and ids.
pub trait AssistantRuntime: Clock + Random {
    type Db: Db;
    type Ledger: LedgerPort;
    fn db(&self) -> &Self::Db;
    fn ledger(&self) -> &Self::Ledger;
    /// The policy in force (its budgets, for the report).
    fn policy(&self) -> Result<&Policy, ApiError>;
}

fn store<R: AssistantRuntime>(r: &R) -> Store<&R::Db> {
    Store::new(r.db())
}

fn conflict(e: ApprovalConflict) -> ApiError {
    ApiError::conflict(e.to_string())
}

impl<R: AssistantRuntime> AssistantPorts for R {
    async fn approve(&self, request: ApprovalRequest, raw: &Value) -> Result<Value, ApiError> {
        let store = store(self);
        let now = self.now_ms();
        store.expire(now).await?;
        if let Some(row) = store.by_task(&request.task_id).await? {
            row.check_retry(&request).map_err(conflict)?;
            return Ok(row.to_json());
        }
        let ledger = self.ledger();
        let mut decision = ledger.decide(&request, now).await?;
        // Only an ask can be granted: deny rules and halts have decided already.
        let mut grant = None;
        if decision.outcome == agency_approval::Outcome::Pending
            && let Some((g, d)) = granted(self, &request, now).await?
        {
            (grant, decision) = (Some(g), d);
        }
        let give_back = async |decision: &Decision| {
            ledger
                .release(&request.task_id, &reserved_pairs(decision))
                .await;
            if let Some(g) = &grant {
                store.unuse_grant(g, request.estimated_cost).await;
            }
        };
        let id = match self.id::<10>("apr_") {
            Ok(id) => id,
            Err(e) => {
                give_back(&decision).await;
                return Err(e.into());
            }
        };
        if let Err(e) = store
            .insert(&id, &request, raw, &decision, grant.as_deref(), now)
            .await
        {
            // Nothing recorded: give the reservation back so the budget is not held by a
            // task nobody will be told about.
            give_back(&decision).await;
            return Err(e);
        }
        let row = store
            .by_task(&request.task_id)
            .await?
            .ok_or_else(|| ApiError::internal("storage_error", &"the approval was not stored"))?;
        // A concurrent ask for the same task may have been stored first (its
        // reservation is the task's, held once).
        row.check_retry(&request).map_err(conflict)?;
        Ok(row.to_json())
    }

    async fn approval(&self, id: &str) -> Result<Option<Value>, ApiError> {
        let store = store(self);
        store.expire(self.now_ms()).await?;
        Ok(store.by_id(id).await?.map(|r| r.to_json()))
    }

    async fn approvals(&self, page: &ListPage) -> Result<Vec<Value>, ApiError> {
        let store = store(self);
        store.expire(self.now_ms()).await?;
        let rows = store.list(page.status, page.limit, page.before).await?;
        Ok(rows.iter().map(ApprovalRow::to_json).collect())
    }

    /// Claims the approval, re-checks and reserves the budgets when approving, records;
    /// a claim whose decision cannot be recorded is given back.
    async fn decide(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        comment: Option<&str>,
        grant: Option<&GrantTerms>,
    ) -> Result<Value, Undecided> {
        let store = store(self);
        let now = self.now_ms();
        store.expire(now).await?;
        let row = store.require(id).await?;
        if row.status() != ApprovalStatus::Pending || !store.claim(id, now).await? {
            let status = match store.require(id).await?.status() {
                ApprovalStatus::Pending => "being decided".to_owned(),
                s => s.to_string(),
            };
            return Err(Undecided::Settled(ApprovalConflict::Decided {
                approval_id: id.to_owned(),
                status,
            }));
        }
        let outcome = async {
            let request = row
                .request()
                .ok_or_else(|| ApiError::bad_request("stored request is unreadable"))?;
            let ledger = self.ledger();
            // An ask made because the task would pass a limit is approved as an overrun,
            // under limits raised by the policy's overrun (when it still allows one).
            let raised = match row.reason_code {
                agency_approval::ReasonCode::Budget => self.policy()?.for_overrun(),
                _ => None,
            };
            let answer = if approve {
                match ledger.approve_human(&request, raised.as_ref(), now).await? {
                    Answer::Approve(check) if raised.is_some() => Answer::Overrun(check),
                    answer => answer,
                }
            } else {
                Answer::Deny
            };
            let d = human_decision(&request, by, answer);
            // The grant is stored with the approval it came with, and only with one.
            let also = match grant {
                Some(terms) if d.outcome == agency_approval::Outcome::Approved => {
                    let g = terms.for_request(&request, by, comment, id)?;
                    insert_grant(&store, &self.id::<10>("grt_")?, &g, now)
                }
                _ => Vec::new(),
            };
            if let Err(e) = store.settle_human(id, &d, by, comment, also, now).await {
                ledger.release(&request.task_id, &reserved_pairs(&d)).await;
                return Err(e);
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            if let Err(u) = store.unclaim(id).await {
                let log = format!(
                    "{}; unclaim {id}: {u}",
                    e.log.as_deref().unwrap_or(&e.message)
                );
                return Err(Undecided::Failed(ApiError {
                    log: Some(log),
                    ..e
                }));
            }
            return Err(e.into());
        }
        Ok(store.require(id).await?.to_json())
    }

    async fn extend(&self, id: &str, secs: u64, by: &str) -> Result<Value, Undecided> {
        let store = store(self);
        let now = self.now_ms();
        store.expire(now).await?;
        let row = store.require(id).await?;
        let refused =
            |why: String| Undecided::Failed(ApiError::conflict(format!("approval {id:?}: {why}")));
        match row.status {
            ApprovalStatus::Pending => {}
            ApprovalStatus::Deciding => return Err(refused("it is being decided".into())),
            s => return Err(refused(format!("it is {s}, not pending"))),
        }
        let expires =
            agency_approval::contract::extended(row.expires_ms, now, row.extensions, secs)
                .map_err(|e| refused(e.0))?;
        if !store.extend(id, row.extensions, expires, by, now).await? {
            return Err(refused(
                "it changed meanwhile (decided, expired or extended)".into(),
            ));
        }
        Ok(store.require(id).await?.to_json())
    }

    async fn decide_batch(&self, batch: &BatchDecision) -> Result<Vec<Value>, ApiError> {
        let ids = match &batch.which {
            Batch::Ids(ids) => ids.clone(),
            filter => {
                let store = store(self);
                store.expire(self.now_ms()).await?;
                let pending = store
                    .list(
                        Some(ApprovalStatus::Pending),
                        agency_approval::contract::MAX_BATCH as u32,
                        None,
                    )
                    .await?;
                pending
                    .iter()
                    .filter(|r| r.status == ApprovalStatus::Pending)
                    .filter(|r| r.request().is_some_and(|q| filter.matches(&q)))
                    .map(|r| r.id.clone())
                    .collect()
            }
        };
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            let comment = batch.comment.as_deref();
            let result = match self
                .decide(&id, batch.approve, &batch.by, comment, None)
                .await
            {
                Ok(a) => {
                    json!({ "approvalId": id, "decided": true, "status": a["decision"], "approval": a })
                }
                Err(Undecided::Settled(c)) => {
                    let status = match &c {
                        ApprovalConflict::Decided { status, .. } => json!(status),
                        _ => Value::Null,
                    };
                    json!({ "approvalId": id, "decided": false, "status": status, "error": { "code": "conflict", "message": c.to_string() } })
                }
                Err(Undecided::Failed(e)) => {
                    json!({ "approvalId": id, "decided": false, "status": null, "error": { "code": e.code, "message": e.message } })
                }
            };
            results.push(result);
        }
        Ok(results)
    }

    async fn add_grant(&self, g: &NewGrant) -> Result<Value, ApiError> {
        let store = store(self);
        let (id, now) = (self.id::<10>("grt_")?, self.now_ms());
        store.add_grant(&id, g, now).await?;
        let row = store
            .grant(&id)
            .await?
            .ok_or_else(|| ApiError::internal("storage_error", &"the grant was not stored"))?;
        Ok(row.to_json(now))
    }

    async fn grants(
        &self,
        status: Option<GrantStatus>,
        limit: u32,
    ) -> Result<Vec<Value>, ApiError> {
        let now = self.now_ms();
        let rows = store(self).grants(status, limit, now).await?;
        Ok(rows.iter().map(|r| r.to_json(now)).collect())
    }

    async fn revoke_grant(&self, id: &str, by: &str) -> Result<Option<Value>, ApiError> {
        let store = store(self);
        let now = self.now_ms();
        if !store.revoke_grant(id, by, now).await? {
            return Ok(None);
        }
        Ok(store.grant(id).await?.map(|r| r.to_json(now)))
    }

    async fn halt(&self, what: &HaltTarget, reason: &str, by: &str) -> Result<(), ApiError> {
        let now = self.now_ms();
        self.ledger().halt(&HaltIn::set(what, reason, now)).await?;
        store(self)
            .audit(
                Audit {
                    kind: "halt",
                    approval: None,
                    actor: Some(by),
                    detail: json!(HaltAudit {
                        scope: what.scope().as_str().to_owned(),
                        target: what.target().to_owned(),
                        reason: Some(reason.to_owned()),
                        ..HaltAudit::default()
                    }),
                },
                now,
            )
            .await
    }

    async fn resume(&self, what: Option<&HaltTarget>, by: &str) -> Result<usize, ApiError> {
        let lifted = self.ledger().resume(&HaltIn::lift(what)).await?;
        let detail = json!(match what {
            None => HaltAudit {
                scope: "everything".to_owned(),
                lifted: Some(lifted),
                ..HaltAudit::default()
            },
            Some(w) => HaltAudit {
                scope: w.scope().as_str().to_owned(),
                target: w.target().to_owned(),
                was_halted: Some(lifted > 0),
                ..HaltAudit::default()
            },
        });
        store(self)
            .audit(
                Audit {
                    kind: "resume",
                    approval: None,
                    actor: Some(by),
                    detail,
                },
                self.now_ms(),
            )
            .await?;
        Ok(lifted)
    }

    async fn halts(&self) -> Result<Vec<HaltView>, ApiError> {
        let halts = self.ledger().halts().await?;
        Ok(halts.iter().map(Halt::view).collect())
    }

    /// The ledger first: settling is idempotent per task and answers with the amount it
    /// recorded, so a retry after a failed write below lands on the same figure.
    async fn spend(&self, id: &str, actual: Micros) -> Result<Value, ApiError> {
        let store = store(self);
        let row = store.require(id).await?;
        let spent = || {
            conflict(ApprovalConflict::Spent {
                approval_id: id.to_owned(),
            })
        };
        if row.status() != ApprovalStatus::Approved {
            return Err(conflict(ApprovalConflict::NotApproved {
                approval_id: id.to_owned(),
                status: row.status().to_string(),
            }));
        }
        if row.actual_micros.is_some() {
            return Err(spent());
        }
        let now = self.now_ms();
        let recorded = self
            .ledger()
            .settle(&row.task_id, &reserved(&row)?, actual, now)
            .await?;
        if !store.spend(id, recorded.0, Some("gateway"), now).await? {
            return Err(spent());
        }
        Ok(store.require(id).await?.to_json())
    }

    async fn budget(&self) -> Result<Value, ApiError> {
        let policy = self.policy()?;
        let now = self.now_ms();
        let ledger = self.ledger().ledger(now).await?;
        serde_json::to_value(budget_report(policy, &ledger, now))
            .map_err(|e| ApiError::internal("internal", &e))
    }

    async fn audit_export(&self, req: &Request) -> Result<Export, ApiError> {
        let now = self.now_ms();
        let export = Export::asked(&crate::store::AUDIT, req, now)?;
        store(self).expire(now).await?;
        Ok(export)
    }

    async fn audit(&self, page: &AuditPage) -> Result<Vec<Value>, ApiError> {
        let store = store(self);
        // Asks that expired since the last request are in the log before it is read.
        store.expire(self.now_ms()).await?;
        let rows = store.audit_log(page).await?;
        Ok(rows
            .iter()
            .map(|r| serde_json::to_value(r.view()).unwrap_or(Value::Null))
            .collect())
    }

    async fn approval_id_by_number(&self, number: i64) -> Result<Option<String>, ApiError> {
        Ok(store(self).by_number(number).await?.map(|r| r.id))
    }

    async fn history(&self, session: &str, limit: u32) -> Result<Vec<(String, String)>, ApiError> {
        store(self).chat_history(session, limit).await
    }

    async fn append(&self, session: &str, messages: &[(&str, &str)]) -> Result<(), ApiError> {
        store(self)
            .chat_append(session, messages, self.now_ms())
            .await
    }
}

/// A grant's approval of the pending ask `request`: the grants that cover it, tried
/// narrowest first, each counted against before the budgets are reserved as for a
/// human's approval (given back when they no longer fit: the ask stands). The grant's
/// id and the decision; `None` when no grant approves it.
async fn granted<R: AssistantRuntime>(
    r: &R,
    request: &ApprovalRequest,
    now: i64,
) -> Result<Option<(String, Decision)>, ApiError> {
    let store = store(r);
    let rows = store
        .grants_for(&request.agent, &request.action, now)
        .await?;
    let grants: Vec<_> = rows.iter().map(GrantRow::grant).collect();
    for g in agency_approval::grant::covering(&grants, request, now) {
        if !store.use_grant(&g.id, request.estimated_cost, now).await? {
            continue; // a racing approval took what was left of it
        }
        let answer = match r.ledger().approve_human(request, None, now).await {
            Ok(a) => a,
            Err(e) => {
                store.unuse_grant(&g.id, request.estimated_cost).await;
                return Err(e);
            }
        };
        let decision = match answer {
            Answer::Approve(check) => agency_approval::grant::granted(g, check),
            Answer::Overrun(_) | Answer::Halted(_) | Answer::Deny => None,
        };
        return Ok(match decision {
            Some(d) => Some((g.id.clone(), d)),
            None => {
                store.unuse_grant(&g.id, request.estimated_cost).await;
                None
            }
        });
    }
    Ok(None)
}

/// How long a reservation may go without an approval that holds it before it counts as
/// abandoned: longer than any approve or human decision takes between the ledger and
/// the approval's record.
pub const ORPHAN_AFTER_MS: i64 = 2 * crate::store::CLAIM_TIMEOUT_MS;

/// Gives back the reservations made before `before` that no approval holds: a task's
/// reservation is held by its approval while that is approved (and not yet spent) or
/// being decided; one left behind by a crash between the ledger and the approval's
/// record (or a decision that never finished and has since expired) is released, with
/// an audit entry (`released`). How many tasks it released. `before` must be at least
/// [`ORPHAN_AFTER_MS`] ago, or the time this process started when it alone writes the
/// ledger (nothing older can still be in flight).
pub async fn reconcile<R: AssistantRuntime>(r: &R, before: i64) -> Result<usize, ApiError> {
    let store = store(r);
    let now = r.now_ms();
    store.expire(now).await?;
    let mut released = 0;
    for task in r.ledger().held_since(before).await? {
        let held = store.by_task(&task).await?.is_some_and(|row| {
            matches!(
                row.status,
                ApprovalStatus::Approved | ApprovalStatus::Deciding
            )
        });
        if held {
            continue;
        }
        r.ledger().release(&task, &[]).await;
        store
            .audit(
                Audit {
                    kind: "released",
                    approval: None,
                    actor: Some("assistant"),
                    detail: json!({ "taskId": task, "why": "no approval holds its reservation" }),
                },
                now,
            )
            .await?;
        released += 1;
    }
    Ok(released)
}

/// What a decision reserves, as (ledger key, micro-dollars).
fn reserved_pairs(d: &Decision) -> Vec<(String, i64)> {
    d.change
        .reserve
        .iter()
        .map(|(k, m)| (k.clone(), m.0))
        .collect()
}
