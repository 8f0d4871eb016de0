//! Approval assistant handlers of the local server: parse, delegate to the policy
//! (component or core) and the store. No policy logic lives here. (These move into the
//! assistant's service crate next; see ARCHITECTURE.md.)

use std::sync::Arc;

use agency_approval::contract::{
    ApprovalBody, HaltBody, HumanDecisionBody, ResumeBody, SpendBody, budget_report,
};
use agency_approval::{ApprovalRequest, budget_check};
use agency_assistant_service::{Endpoint, audit_page, list_page};
use agency_kit::http::json;
use agency_kit::{ApiError, ApiResult, Request};
use http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use crate::approvals::{ApprovalError, HumanAnswer};
use crate::store::now_ms;

/// Answers `req` at `endpoint` (not `Chat`: see `chat::chat`).
pub async fn call(state: &Arc<AppState>, endpoint: Endpoint, req: &Request) -> ApiResult {
    match endpoint {
        Endpoint::Approve => approve(state, req),
        Endpoint::List => list(state, req),
        Endpoint::Get => get(state, req),
        Endpoint::Decide => decide(state, req),
        Endpoint::Halt => halt(state, req),
        Endpoint::Halts => halts(state),
        Endpoint::Resume => resume(state, req),
        Endpoint::Spend => spend(state, req),
        Endpoint::Budget => budget(state),
        Endpoint::Audit => audit(state, req),
        Endpoint::Chat => super::chat::chat(state, req).await,
    }
}

fn ok(status: StatusCode, v: Value) -> agency_kit::Response {
    json(status, &v)
}

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

fn approve(state: &AppState, req: &Request) -> ApiResult {
    let raw: Value = req.json()?;
    let parsed: ApprovalBody = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid approval request: {e}")))?;
    let request = parsed.into_request().map_err(ApiError::bad_request)?;
    let now = now_ms();
    let v = state.store.approve(&request, &raw, now, |ledger, halt| {
        state.assistant.decide(&request, ledger, halt, now)
    })?;
    Ok(ok(StatusCode::OK, v))
}

fn list(state: &AppState, req: &Request) -> ApiResult {
    let p = list_page(req)?;
    Ok(ok(
        StatusCode::OK,
        json!({ "approvals": state.store.approvals(p.status.as_deref(), p.limit, p.before)? }),
    ))
}

fn get(state: &AppState, req: &Request) -> ApiResult {
    let id = req.param(0, "approval id")?;
    Ok(ok(StatusCode::OK, state.store.approval(&id)?))
}

fn decide(state: &AppState, req: &Request) -> ApiResult {
    let id = req.param(0, "approval id")?;
    let b: HumanDecisionBody = req.json()?;
    let approve = b.approve().map_err(ApiError::bad_request)?;
    let v = decide_human(state, &id, approve, &b.by, b.comment.as_deref())?;
    Ok(ok(StatusCode::OK, v))
}

/// A human's answer (from the API or chat): budgets re-checked as they are now when
/// approving; the approval's JSON after.
pub(super) fn decide_human(
    state: &AppState,
    id: &str,
    approve: bool,
    by: &str,
    comment: Option<&str>,
) -> Result<Value, ApprovalError> {
    let now = now_ms();
    let policy = &state.assistant.policy;
    let answer = HumanAnswer {
        approve,
        by,
        comment,
    };
    state.store.decide_human(
        id,
        answer,
        now,
        |req, ledger| budget_check(req, policy, ledger, now),
        stored_request,
    )
}

fn halt(state: &AppState, req: &Request) -> ApiResult {
    let b: HaltBody = req.json()?;
    let target = b.target().map_err(ApiError::bad_request)?;
    let reason = b.reason().map_err(ApiError::bad_request)?;
    state
        .store
        .halt(&b.scope, &target, reason, Some("operator"))?;
    Ok(ok(StatusCode::OK, json!({ "halts": state.store.halts()? })))
}

fn resume(state: &AppState, req: &Request) -> ApiResult {
    let b: ResumeBody = req.json()?;
    let target = b.target().map_err(ApiError::bad_request)?;
    let was = state.store.resume(&b.scope, &target, Some("operator"))?;
    Ok(ok(
        StatusCode::OK,
        json!({ "resumed": was, "halts": state.store.halts()? }),
    ))
}

fn halts(state: &AppState) -> ApiResult {
    Ok(ok(StatusCode::OK, json!({ "halts": state.store.halts()? })))
}

fn spend(state: &AppState, req: &Request) -> ApiResult {
    let b: SpendBody = req.json()?;
    let actual = b.actual().map_err(ApiError::bad_request)?;
    Ok(ok(
        StatusCode::OK,
        state.store.spend(&b.approval_id, actual, Some("gateway"))?,
    ))
}

fn budget(state: &AppState) -> ApiResult {
    Ok(ok(StatusCode::OK, budget_value(state)?))
}

/// `GET /api/budget`'s report.
pub(super) fn budget_value(state: &AppState) -> Result<Value, ApprovalError> {
    let now = now_ms();
    let ledger = state.store.ledger(now)?;
    Ok(budget_report(&state.assistant.policy, &ledger, now))
}

fn audit(state: &AppState, req: &Request) -> ApiResult {
    let p = audit_page(req)?;
    Ok(ok(
        StatusCode::OK,
        json!({ "entries": state.store.audit_log(p.limit, p.before)? }),
    ))
}
