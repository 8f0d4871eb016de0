//! One stored approval as the assistant's tables keep it ([`ApprovalRow`], the
//! `approvals` table's columns), its reservations column, and its API shape.

use agency_approval::contract::{ApprovalBody, ApprovalConflict, ApprovalStatus};
use agency_approval::{ApprovalRequest, LedgerChange, Micros, ReasonCode, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[cfg(feature = "openapi")]
use agency_kit::openapi::Nullable;

/// One stored approval, as every store keeps it (SQLite locally, D1 at the edge; the
/// field names are the table's columns). [`ApprovalRow::to_json`] is the API shape.
#[derive(Debug, Clone, Deserialize)]
pub struct ApprovalRow {
    pub id: String,
    pub task_id: String,
    pub agent: String,
    pub action: String,
    pub request_json: String,
    pub status: ApprovalStatus,
    pub reason_code: ReasonCode,
    pub reason: String,
    pub rule: Option<String>,
    pub budget_scope: Option<String>,
    pub budget_remaining_micros: Option<i64>,
    pub estimated_micros: i64,
    pub actual_micros: Option<i64>,
    pub reserved_json: String,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_ms: Option<i64>,
    pub comment: Option<String>,
    /// The grant that approved it, if one did.
    pub grant_id: Option<String>,
    /// How many times approvers extended it.
    pub extensions: i64,
    /// When a pending ask escalates (its rule's `escalate`), to which approver group,
    /// and when it did.
    pub escalate_ms: Option<i64>,
    pub escalate_to: Option<String>,
    pub escalated_ms: Option<i64>,
    /// The table's rowid: the short number operators type in chat.
    pub number: i64,
}

/// The columns of [`ApprovalRow`], in its order, for `SELECT`s.
pub const APPROVAL_COLUMNS: &str = "id, task_id, agent, action, request_json, status, reason_code, reason, rule, budget_scope, \
     budget_remaining_micros, estimated_micros, actual_micros, reserved_json, created_ms, expires_ms, decided_by, decided_ms, \
     comment, grant_id, extensions, escalate_ms, escalate_to, escalated_ms, rowid AS number";

impl ApprovalRow {
    /// The API's status: a human approval being recorded still reads as pending.
    pub fn status(&self) -> ApprovalStatus {
        self.status.shown()
    }

    /// The ledger keys and amounts this approval holds in reserve. An unreadable
    /// column is an error, never "nothing reserved": a spend would otherwise settle
    /// nothing and leave the reservation held.
    pub fn reserved(&self) -> Result<Vec<(String, i64)>, ReservedError> {
        parse_reserved(&self.id, &self.reserved_json)
    }

    /// The request as it was asked, back in core form.
    pub fn request(&self) -> Option<ApprovalRequest> {
        serde_json::from_str::<ApprovalBody>(&self.request_json)
            .ok()?
            .into_request()
            .ok()
    }

    /// Whether `request`, asked again for this row's task, is a retry (the same request:
    /// answered with this row) or reuses the task id for something else, which is the
    /// caller's error ([`ApprovalConflict::TaskReused`]).
    pub fn check_retry(&self, request: &ApprovalRequest) -> Result<(), ApprovalConflict> {
        if self.request().as_ref() == Some(request) {
            return Ok(());
        }
        Err(ApprovalConflict::TaskReused {
            task_id: self.task_id.clone(),
            approval_id: self.id.clone(),
        })
    }

    /// The API's view of it.
    pub fn view(&self) -> ApprovalView {
        let usd = |m: i64| Micros(m).to_usd();
        ApprovalView {
            approval_id: self.id.clone(),
            number: self.number,
            task_id: self.task_id.clone(),
            agent: self.agent.clone(),
            action: self.action.clone(),
            request: shown_request(&self.request_json),
            decision: self.status(),
            reason_code: self.reason_code,
            reason: self.reason.clone(),
            rule: self.rule.clone(),
            budget: match (&self.budget_scope, self.budget_remaining_micros) {
                (Some(scope), Some(rem)) => Some(BudgetView {
                    scope: scope.clone(),
                    remaining_usd: usd(rem),
                }),
                _ => None,
            },
            estimated_cost_usd: usd(self.estimated_micros),
            actual_cost_usd: self.actual_micros.map(usd),
            created_at: rfc3339(self.created_ms),
            expires_at: self.expires_ms.map(rfc3339),
            decided_by: self.decided_by.clone(),
            // A claim's time is not a decision's.
            decided_at: self
                .decided_ms
                .filter(|_| self.status != ApprovalStatus::Deciding)
                .map(rfc3339),
            comment: self.comment.clone(),
            grant_id: self.grant_id.clone(),
            extensions: self.extensions,
            escalate_to: self.escalate_to.clone(),
            escalates_at: self.escalate_ms.map(rfc3339),
            escalated_at: self.escalated_ms.map(rfc3339),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.view()).unwrap_or(Value::Null)
    }
}

// Also read by the webhook service (its cards and clicks).
/// An approval as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "Approval"))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalView {
    pub approval_id: String,
    /// The short number operators type in chat.
    pub number: i64,
    pub task_id: String,
    pub agent: String,
    pub action: String,
    /// The request as it was asked.
    #[cfg_attr(feature = "openapi", schemars(with = "ApprovalBody"))]
    pub request: Value,
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "agency_approval::schema::ShownStatus")
    )]
    pub decision: ApprovalStatus,
    pub reason_code: ReasonCode,
    pub reason: String,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub rule: Option<String>,
    /// The tightest budget the request fell under and what remained of it.
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<BudgetView>"))]
    pub budget: Option<BudgetView>,
    pub estimated_cost_usd: f64,
    /// Reported by `POST /api/spend`.
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<f64>"))]
    pub actual_cost_usd: Option<f64>,
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub expires_at: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub decided_by: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub decided_at: Option<String>,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub comment: Option<String>,
    /// The grant that approved it (reason `grant`), if one did.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub grant_id: Option<String>,
    /// How many times approvers extended the ask (at most 3).
    #[serde(default)]
    pub extensions: i64,
    /// The approver group the ask escalates to when nobody answers (its rule's
    /// `escalate`), if any.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub escalate_to: Option<String>,
    /// When it escalates (or escalated), if its rule says.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub escalates_at: Option<String>,
    /// When it went to `escalateTo`'s group (it was still pending then).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub escalated_at: Option<String>,
}

/// `GET /api/approvals`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Approvals {
    pub approvals: Vec<ApprovalView>,
}

/// What the audit records of a halt or a resume (`detail` of its entry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HaltAudit {
    /// `all`, `agent`, `channel` or `task`; `everything` for a resume of every halt.
    pub scope: String,
    /// The agent, channel or task ("" for all and everything).
    #[serde(default)]
    pub target: String,
    /// A halt's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A resume of one halt: whether it was in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was_halted: Option<bool>,
    /// A resume of every halt: how many were lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted: Option<usize>,
}

impl HaltAudit {
    /// Whether this resume lifted something (a halt always did something).
    pub fn lifted_something(&self) -> bool {
        self.was_halted != Some(false) && self.lifted != Some(0)
    }
}

/// A budget's name and what remains of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    /// e.g. "global daily", "agent:codegen daily".
    pub scope: String,
    pub remaining_usd: f64,
}

/// One entry of the audit trail, as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditRow {
    pub seq: i64,
    pub created_ms: i64,
    pub kind: String,
    pub approval_id: Option<String>,
    pub actor: Option<String>,
    pub detail_json: String,
}

impl AuditRow {
    pub fn view(&self) -> AuditView {
        AuditView {
            seq: self.seq,
            at: rfc3339(self.created_ms),
            kind: self.kind.clone(),
            approval_id: self.approval_id.clone(),
            actor: self.actor.clone(),
            detail: serde_json::from_str(&self.detail_json).unwrap_or(Value::Null),
        }
    }
}

// Also read by the webhook service (it follows the halts and resumes).
/// An audit entry as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AuditEntry"))]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    /// Pages go on below the last `seq` of a page (`?before=`).
    pub seq: i64,
    pub at: String,
    /// decision, human-decision, halt, resume, spend or expired.
    pub kind: String,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub approval_id: Option<String>,
    /// policy, gateway, operator or the human who decided.
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub actor: Option<String>,
    /// What the entry records (its shape depends on `kind`).
    pub detail: Value,
}

/// The stored reservations of an approval (its `reserved_json` column) do not read as
/// a list of (ledger key, micro-dollars).
#[derive(Debug, thiserror::Error)]
#[error("approval {approval_id:?}: the stored reservations are unreadable: {source}")]
pub struct ReservedError {
    pub approval_id: String,
    #[source]
    pub source: serde_json::Error,
}

/// The reservations approval `approval_id` holds, read from its `reserved_json` column
/// (as [`reserved_json`] wrote it); for stores that read the column on its own.
pub fn parse_reserved(
    approval_id: &str,
    reserved_json: &str,
) -> Result<Vec<(String, i64)>, ReservedError> {
    serde_json::from_str(reserved_json).map_err(|source| ReservedError {
        approval_id: approval_id.to_owned(),
        source,
    })
}

/// How a store keeps the reservations an approval holds (read back by
/// [`ApprovalRow::reserved`] and [`parse_reserved`]).
pub fn reserved_json(change: &LedgerChange) -> String {
    let pairs: Vec<(&str, i64)> = change
        .reserve
        .iter()
        .map(|(k, m)| (k.as_str(), m.0))
        .collect();
    json!(pairs).to_string()
}

/// A stored request as anyone may see it: a capability in its `replyTo` (a Slack
/// `response_url`, a Discord interaction token), which lets its holder post as the bot,
/// is hidden. Dispatch hands the gateway only the webhook service's sealed references;
/// this also covers a gateway that passed a real one. (Cards are posted with the bot's
/// own token: nothing needs the field from here.)
fn shown_request(request_json: &str) -> Value {
    let mut v: Value = serde_json::from_str(request_json).unwrap_or(Value::Null);
    if let Some(to) = v.get_mut("replyTo").and_then(Value::as_object_mut) {
        for key in ["responseUrl", "token"] {
            if let Some(c) = to.get_mut(key) {
                *c = Value::String("(hidden)".into());
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ApprovalRequest, String> {
        serde_json::from_str::<ApprovalBody>(json)
            .map_err(|e| e.to_string())?
            .into_request()
            .map_err(|e| e.0)
    }

    fn row(reserved_json: &str) -> ApprovalRow {
        ApprovalRow {
            id: "apr_1".into(),
            task_id: "t1".into(),
            agent: "devops".into(),
            action: "deploy".into(),
            request_json: "{}".into(),
            status: ApprovalStatus::Approved,
            reason_code: ReasonCode::Rule,
            reason: String::new(),
            rule: None,
            budget_scope: None,
            budget_remaining_micros: None,
            estimated_micros: 1_000_000,
            actual_micros: None,
            reserved_json: reserved_json.into(),
            created_ms: 0,
            expires_ms: None,
            decided_by: None,
            decided_ms: None,
            comment: None,
            grant_id: None,
            extensions: 0,
            escalate_ms: None,
            escalate_to: None,
            escalated_ms: None,
            number: 1,
        }
    }

    /// What a store wrote reads back; a damaged column is an error naming the
    /// approval, never an empty reservation (which would make a spend debit nothing).
    #[test]
    fn reservations_read_back_or_fail() {
        let change = LedgerChange {
            reserve: vec![
                ("global|2026-11-18".into(), Micros(1_500_000)),
                ("agent:devops|2026-11".into(), Micros(1_500_000)),
            ],
        };
        assert_eq!(
            row(&reserved_json(&change)).reserved().unwrap(),
            vec![
                ("global|2026-11-18".to_owned(), 1_500_000),
                ("agent:devops|2026-11".to_owned(), 1_500_000)
            ]
        );
        assert_eq!(row("[]").reserved().unwrap(), vec![]);
        for damaged in [
            "",
            "not json",
            "{\"global|2026-11-18\": 1}",
            "[[\"global\"]]",
            "null",
        ] {
            let err = row(damaged).reserved().unwrap_err();
            assert_eq!(err.approval_id, "apr_1", "{damaged:?}");
            assert!(err.to_string().contains("\"apr_1\""), "{err}");
            assert!(
                parse_reserved("apr_1", damaged).is_err(),
                "{damaged:?} reads the same on its own"
            );
        }
    }

    /// A task id asked about again: the same request is a retry, another one is the
    /// typed conflict, whose message (both runtimes answer with it) quotes both ids.
    #[test]
    fn a_reused_task_id_is_a_typed_conflict() {
        let body = r#"{"taskId":"t1","agent":"devops","action":"deploy","estimatedCostUsd":1}"#;
        let mut stored = row("[]");
        stored.request_json = body.into();
        assert_eq!(stored.check_retry(&parse(body).unwrap()), Ok(()));
        let other =
            parse(r#"{"taskId":"t1","agent":"devops","action":"deploy","estimatedCostUsd":2}"#)
                .unwrap();
        let err = stored.check_retry(&other).unwrap_err();
        assert_eq!(
            err,
            ApprovalConflict::TaskReused {
                task_id: "t1".into(),
                approval_id: "apr_1".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "task \"t1\" was already asked about with a different request (approval \"apr_1\"); \
             a new request needs a new taskId"
        );
    }
}
