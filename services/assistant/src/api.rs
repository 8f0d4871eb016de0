//! The assistant's HTTP endpoints, written once: each parses and checks its input,
//! calls one of the runtime's [`AssistantPorts`] operations and shapes the answer. The
//! operations themselves (approve, decide, spend, halt) are still each runtime's own,
//! because each keeps the budget ledger its own way: one SQLite transaction around the
//! decision locally, the per-scope Durable Objects' reservation saga at the edge.
#![allow(async_fn_in_trait)]

use agency_approval::contract::{
    ApprovalBody, ApprovalConflict, HaltBody, HumanDecisionBody, ResumeBody, SpendBody,
};
use agency_approval::{ApprovalRequest, Micros};
use agency_kit::http::json;
use agency_kit::{ApiError, ApiResult, Request};
use http::StatusCode;
use serde_json::{Value, json};

use crate::chat::ChatPorts;
use crate::{AuditPage, Endpoint, ListPage, audit_page, list_page};

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

/// The assistant's operations on a runtime. Approvals and halts come back as the API's
/// JSON (`ApprovalRow::to_json`, the halt view), the same on both runtimes.
pub trait AssistantPorts {
    /// The policy's answer to `request` (a retry of a task gets its first answer; the
    /// same task with another request is a 409).
    async fn approve(&self, request: ApprovalRequest, raw: &Value) -> Result<Value, ApiError>;
    /// One approval, expired asks swept first.
    async fn approval(&self, id: &str) -> Result<Option<Value>, ApiError>;
    /// A page of approvals, newest first, expired asks swept first.
    async fn approvals(&self, page: &ListPage) -> Result<Vec<Value>, ApiError>;
    /// A human's answer; the approval after.
    async fn decide(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        comment: Option<&str>,
    ) -> Result<Value, Undecided>;
    async fn halt(&self, scope: &str, target: &str, reason: &str, by: &str)
    -> Result<(), ApiError>;
    /// Lifts the halt on `scope`/`target` (`everything`: every halt); how many it lifted.
    async fn resume(&self, scope: &str, target: &str, by: &str) -> Result<usize, ApiError>;
    async fn halts(&self) -> Result<Vec<Value>, ApiError>;
    /// Records an approved task's real cost; the approval after.
    async fn spend(&self, approval_id: &str, actual: Micros) -> Result<Value, ApiError>;
    /// `GET /api/budget`'s report.
    async fn budget(&self) -> Result<Value, ApiError>;
    /// A page of the audit trail, newest first, expired asks swept first.
    async fn audit(&self, page: &AuditPage) -> Result<Vec<Value>, ApiError>;
}

/// Answers `req` at `endpoint` (the runtime found the route and checked the token).
pub async fn call<P: ChatPorts>(p: &P, endpoint: Endpoint, req: &Request) -> ApiResult {
    let ok = |v: Value| Ok(json(StatusCode::OK, &v));
    match endpoint {
        Endpoint::Approve => {
            let raw: Value = req.json()?;
            let body: ApprovalBody = serde_json::from_value(raw.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid approval request: {e}")))?;
            let request = body.into_request().map_err(ApiError::bad_request)?;
            ok(p.approve(request, &raw).await?)
        }
        Endpoint::List => ok(json!({ "approvals": p.approvals(&list_page(req)?).await? })),
        Endpoint::Get => {
            let id = req.param(0, "approval id")?;
            match p.approval(&id).await? {
                Some(a) => ok(a),
                None => Err(crate::no_approval(&id)),
            }
        }
        Endpoint::Decide => {
            let id = req.param(0, "approval id")?;
            let b: HumanDecisionBody = req.json()?;
            let approve = b.approve().map_err(ApiError::bad_request)?;
            ok(p.decide(&id, approve, &b.by, b.comment.as_deref()).await?)
        }
        Endpoint::Halt => {
            let b: HaltBody = req.json()?;
            let target = b.target().map_err(ApiError::bad_request)?;
            let reason = b.reason().map_err(ApiError::bad_request)?;
            p.halt(&b.scope, &target, reason, "operator").await?;
            ok(json!({ "halts": p.halts().await? }))
        }
        Endpoint::Halts => ok(json!({ "halts": p.halts().await? })),
        Endpoint::Resume => {
            let b: ResumeBody = req.json()?;
            let target = b.target().map_err(ApiError::bad_request)?;
            let lifted = p.resume(&b.scope, &target, "operator").await?;
            ok(json!({ "resumed": lifted > 0, "halts": p.halts().await? }))
        }
        Endpoint::Spend => {
            let b: SpendBody = req.json()?;
            let actual = b.actual().map_err(ApiError::bad_request)?;
            ok(p.spend(&b.approval_id, actual).await?)
        }
        Endpoint::Budget => ok(p.budget().await?),
        Endpoint::Audit => ok(json!({ "entries": p.audit(&audit_page(req)?).await? })),
        Endpoint::Chat => crate::chat::chat(p, req).await,
    }
}
