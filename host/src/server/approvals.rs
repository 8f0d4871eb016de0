//! The approval assistant's operations on the local server: the endpoints are
//! `agency_assistant_service`'s; these are its ports, on the SQLite store (one
//! transaction around each decision and its ledger change) and the policy (component or
//! core). No policy logic lives here.

use agency_approval::contract::{ApprovalBody, budget_report};
use agency_approval::{ApprovalRequest, Micros, budget_check};
use agency_assistant_service::{AssistantPorts, AuditPage, ListPage, Undecided};
use agency_kit::ApiError;
use serde_json::Value;

use super::ports::Local;
use crate::approvals::{ApprovalError, HumanAnswer};
use crate::store::now_ms;

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        match e {
            ApprovalError::NotFound(_) => ApiError::not_found(e.to_string()),
            ApprovalError::Settled { .. } => ApiError::conflict(e.to_string()),
            ApprovalError::Invalid(m) => ApiError::bad_request(m),
            ApprovalError::Conflict(m) => ApiError::conflict(m),
            ApprovalError::LedgerLimit(m) => ApiError::unprocessable("ledger_limit", m),
            ApprovalError::Store(s) => s.into(),
            ApprovalError::Decide(_) => ApiError::component_trap("approval", &e),
        }
    }
}

/// The request stored with an approval, back in core form.
fn stored_request(v: &Value) -> Option<ApprovalRequest> {
    serde_json::from_value::<ApprovalBody>(v.clone())
        .ok()?
        .into_request()
        .ok()
}

impl AssistantPorts for Local {
    async fn approve(&self, request: ApprovalRequest, raw: &Value) -> Result<Value, ApiError> {
        let state = &self.0;
        let now = now_ms();
        Ok(state.store.approve(&request, raw, now, |ledger, halt| {
            state.assistant.decide(&request, ledger, halt, now)
        })?)
    }

    async fn approval(&self, id: &str) -> Result<Option<Value>, ApiError> {
        match self.0.store.approval(id) {
            Ok(v) => Ok(Some(v)),
            Err(ApprovalError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn approvals(&self, page: &ListPage) -> Result<Vec<Value>, ApiError> {
        Ok(self
            .0
            .store
            .approvals(page.status.as_deref(), page.limit, page.before)?)
    }

    async fn decide(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        comment: Option<&str>,
    ) -> Result<Value, Undecided> {
        let now = now_ms();
        let policy = &self.0.assistant.policy;
        let answer = HumanAnswer {
            approve,
            by,
            comment,
        };
        self.0
            .store
            .decide_human(
                id,
                answer,
                now,
                |req, ledger| budget_check(req, policy, ledger, now),
                stored_request,
            )
            .map_err(|e| match e {
                ApprovalError::Settled { conflict, .. } => Undecided::Settled(conflict),
                e => Undecided::Failed(e.into()),
            })
    }

    async fn halt(
        &self,
        scope: &str,
        target: &str,
        reason: &str,
        by: &str,
    ) -> Result<(), ApiError> {
        Ok(self.0.store.halt(scope, target, reason, Some(by))?)
    }

    async fn resume(&self, scope: &str, target: &str, by: &str) -> Result<usize, ApiError> {
        Ok(match scope {
            "everything" => self.0.store.resume_all(Some(by))?,
            _ => usize::from(self.0.store.resume(scope, target, Some(by))?),
        })
    }

    async fn halts(&self) -> Result<Vec<Value>, ApiError> {
        Ok(self.0.store.halts()?)
    }

    async fn spend(&self, approval_id: &str, actual: Micros) -> Result<Value, ApiError> {
        Ok(self.0.store.spend(approval_id, actual, Some("gateway"))?)
    }

    async fn budget(&self) -> Result<Value, ApiError> {
        let now = now_ms();
        let ledger = self.0.store.ledger(now)?;
        Ok(budget_report(&self.0.assistant.policy, &ledger, now))
    }

    async fn audit(&self, page: &AuditPage) -> Result<Vec<Value>, ApiError> {
        Ok(self.0.store.audit_log(page.limit, page.before)?)
    }
}
