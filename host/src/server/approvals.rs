//! Approval assistant handlers: parse, authorize, delegate to the policy (component or
//! core) and the store. No policy logic lives here.

use std::sync::Arc;

use agency_approval::contract::{
    ApprovalBody, HaltBody, HumanDecisionBody, SpendBody, budget_report, page_before, valid_status,
};
use agency_approval::{ApprovalRequest, budget_check};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::api::{parse_limit, read_json};
use super::auth::{Access, authorize};
use super::error::{ApiError, ApiQuery, PathId};
use crate::approvals::{ApprovalError, HumanAnswer};
use crate::store::now_ms;

type ApiResult = Result<Response, ApiError>;
type St = State<Arc<AppState>>;

fn ok(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        match e {
            ApprovalError::NotFound(_) => ApiError::not_found(e.to_string()),
            ApprovalError::Settled { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            ApprovalError::Invalid(m) => ApiError::bad_request(m),
            ApprovalError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            ApprovalError::LedgerLimit(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "ledger_limit", m)
            }
            ApprovalError::Store(s) => s.into(),
            ApprovalError::Decide(_) => ApiError::internal("component_trap", &e),
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

pub async fn approve(State(state): St, headers: HeaderMap, body: Body) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Route)?;
    let raw: Value = read_json(&headers, body, &state.config.limits).await?;
    let parsed: ApprovalBody = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid approval request: {e}")))?;
    let request = parsed.into_request().map_err(ApiError::bad_request)?;
    let now = now_ms();
    let v = state.store.approve(&request, &raw, now, |ledger, halt| {
        state.assistant.decide(&request, ledger, halt, now)
    })?;
    Ok(ok(StatusCode::OK, v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

pub async fn list(State(state): St, headers: HeaderMap, q: ApiQuery<ListQuery>) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Read)?;
    let q = q.into_inner()?;
    if let Some(s) = &q.status
        && !valid_status(s)
    {
        return Err(ApiError::bad_request(
            "status must be pending, approved, denied or expired",
        ));
    }
    let limit = parse_limit(q.limit.as_deref(), 100, 1000)?;
    let before = page_before(q.before.as_deref()).map_err(ApiError::bad_request)?;
    Ok(ok(
        StatusCode::OK,
        json!({ "approvals": state.store.approvals(q.status.as_deref(), limit, before)? }),
    ))
}

pub async fn get(State(state): St, headers: HeaderMap, id: PathId) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Read)?;
    let id = id.into_inner("approval id")?;
    Ok(ok(StatusCode::OK, state.store.approval(&id)?))
}

pub async fn decide(State(state): St, headers: HeaderMap, id: PathId, body: Body) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Write)?;
    let id = id.into_inner("approval id")?;
    let b: HumanDecisionBody = read_json(&headers, body, &state.config.limits).await?;
    let approve = b.approve().map_err(ApiError::bad_request)?;
    let now = now_ms();
    let policy = &state.assistant.policy;
    let answer = HumanAnswer {
        approve,
        by: &b.by,
        comment: b.comment.as_deref(),
    };
    let v = state.store.decide_human(
        &id,
        answer,
        now,
        |req, ledger| budget_check(req, policy, ledger, now),
        stored_request,
    )?;
    Ok(ok(StatusCode::OK, v))
}

pub async fn halt(State(state): St, headers: HeaderMap, body: Body) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Write)?;
    let b: HaltBody = read_json(&headers, body, &state.config.limits).await?;
    let target = b.target().map_err(ApiError::bad_request)?;
    let reason = b.reason().map_err(ApiError::bad_request)?;
    state
        .store
        .halt(&b.scope, &target, reason, Some("operator"))?;
    Ok(ok(StatusCode::OK, json!({ "halts": state.store.halts()? })))
}

pub async fn resume(State(state): St, headers: HeaderMap, body: Body) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Write)?;
    let b: HaltBody = read_json(&headers, body, &state.config.limits).await?;
    let target = b.target().map_err(ApiError::bad_request)?;
    let was = state.store.resume(&b.scope, &target, Some("operator"))?;
    Ok(ok(
        StatusCode::OK,
        json!({ "resumed": was, "halts": state.store.halts()? }),
    ))
}

pub async fn halts(State(state): St, headers: HeaderMap) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Read)?;
    Ok(ok(StatusCode::OK, json!({ "halts": state.store.halts()? })))
}

pub async fn spend(State(state): St, headers: HeaderMap, body: Body) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Route)?;
    let b: SpendBody = read_json(&headers, body, &state.config.limits).await?;
    let actual = b.actual().map_err(ApiError::bad_request)?;
    Ok(ok(
        StatusCode::OK,
        state.store.spend(&b.approval_id, actual, Some("gateway"))?,
    ))
}

pub async fn budget(State(state): St, headers: HeaderMap) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Read)?;
    let now = now_ms();
    let ledger = state.store.ledger(now)?;
    Ok(ok(
        StatusCode::OK,
        budget_report(&state.assistant.policy, &ledger, now),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    limit: Option<String>,
    before: Option<String>,
}

pub async fn audit(State(state): St, headers: HeaderMap, q: ApiQuery<AuditQuery>) -> ApiResult {
    authorize(&state.config.auth, &headers, Access::Read)?;
    let q = q.into_inner()?;
    let limit = parse_limit(q.limit.as_deref(), 100, 1000)?;
    let before = page_before(q.before.as_deref()).map_err(ApiError::bad_request)?;
    Ok(ok(
        StatusCode::OK,
        json!({ "entries": state.store.audit_log(limit, before)? }),
    ))
}
