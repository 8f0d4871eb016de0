//! The approval assistant Worker: the same paths and JSON as the local server's
//! `/api/approve`, `/api/approvals*`, `/api/halt`, `/api/resume`, `/api/spend`,
//! `/api/budget`, `/api/audit` and `/api/chat`. Decisions are the approval core's
//! (`verdict`, `check_scope`, `conclude`); budgets are held by one Durable Object per
//! scope ([`ledger`]); approvals, audit and chat history are in D1 ([`store`]).

mod chat;
mod ledger;
mod ledger_client;
mod store;

use std::cell::RefCell;
use std::rc::Rc;

use agency_approval::contract::{
    ApprovalBody, ApprovalConflict, HaltBody, HumanDecisionBody, SpendBody, budget_report,
    page_before, valid_status,
};
use agency_approval::{
    Answer, Policy, Ruling, apply_halts, conclude, halted, human_decision, rule_verdict,
};
use agency_edge::{
    Access, ApiError, ApiResult, MESSAGE_LIMIT, authorize, json_response, read_json,
};
use serde_json::{Value, json};
use worker::{Context, Env, Method, Request, Response, event};

pub use ledger::Ledger;
use ledger_client::{Checked, LedgerClient, halt_json, scopes_of};
use store::{Audit, Store};

/// The example policy, used when the deployment sets no `AGENCY_POLICY`.
const EXAMPLE_POLICY: &str = include_str!("../../../examples/policy/policy.toml");

thread_local! {
    static POLICY: RefCell<Option<(String, Rc<Policy>)>> = const { RefCell::new(None) };
}

/// The policy in force, parsed once per isolate (again only when its text changes).
fn policy(env: &Env) -> Result<Rc<Policy>, ApiError> {
    let text = env
        .var("AGENCY_POLICY")
        .map(|v| v.to_string())
        .unwrap_or_else(|_| EXAMPLE_POLICY.to_owned());
    if let Some(p) = POLICY.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(t, _)| *t == text)
            .map(|(_, p)| p.clone())
    }) {
        return Ok(p);
    }
    let p = Rc::new(Policy::parse(&text, "AGENCY_POLICY").map_err(|errors| {
        for e in &errors {
            worker::console_error!("{e}");
        }
        ApiError::new(
            503,
            "policy_invalid",
            "the configured policy does not parse",
        )
    })?);
    POLICY.with(|c| *c.borrow_mut() = Some((text, p.clone())));
    Ok(p)
}

fn now() -> i64 {
    agency_edge::now_ms() as i64
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    agency_edge::respond(handle(&mut req, &env).await)
}

async fn handle(req: &mut Request, env: &Env) -> ApiResult {
    let path = req.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method(), segments.as_slice()) {
        (Method::Get, ["health"]) => health(env).await,
        (Method::Get, ["openapi.json"]) => agency_edge::openapi(),
        (Method::Post, ["api", "approve"]) => approve(req, env).await,
        (Method::Get, ["api", "approvals"]) => list(req, env).await,
        (Method::Get, ["api", "approvals", id]) => {
            let id = agency_edge::path_segment(id, "approval id")?;
            get(req, env, &id).await
        }
        (Method::Post, ["api", "approvals", id, "decision"]) => {
            let id = agency_edge::path_segment(id, "approval id")?;
            human(req, env, &id).await
        }
        (Method::Post, ["api", "halt"]) => halt(req, env).await,
        (Method::Get, ["api", "halt"]) => halts(req, env).await,
        (Method::Post, ["api", "resume"]) => resume(req, env).await,
        (Method::Post, ["api", "spend"]) => spend(req, env).await,
        (Method::Get, ["api", "budget"]) => budget(req, env).await,
        (Method::Get, ["api", "audit"]) => audit(req, env).await,
        (Method::Post, ["api", "chat"]) => chat::chat(req, env).await,
        (
            _,
            ["health"]
            | ["openapi.json"]
            | [
                "api",
                "approve" | "approvals" | "halt" | "resume" | "spend" | "budget" | "audit" | "chat",
            ]
            | ["api", "approvals", _]
            | ["api", "approvals", _, "decision"],
        ) => Err(agency_edge::method_not_allowed()),
        _ => Err(agency_edge::not_found()),
    }
}

fn ok(v: &Value) -> ApiResult {
    Ok(json_response(200, v))
}

async fn health(env: &Env) -> ApiResult {
    let (status, code) = match policy(env) {
        Ok(_) => ("ok", 200),
        Err(_) => ("degraded", 503),
    };
    Ok(json_response(
        code,
        &json!({ "status": status, "parts": { "assistant": { "status": status, "engine": "edge" } } }),
    ))
}

async fn approve(req: &mut Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Route)?;
    let raw: Value = read_json(req, MESSAGE_LIMIT).await?;
    let body: ApprovalBody = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid approval request: {e}")))?;
    let request = body.into_request().map_err(ApiError::bad_request)?;
    let policy = policy(env)?;
    let store = Store::new(env)?;
    let now = now();
    store.expire(now).await?;
    if let Some(row) = store.by_task(&request.task_id).await? {
        row.check_retry(&request).map_err(conflict)?;
        return ok(&row.to_json());
    }
    let ledger = LedgerClient::new(env);
    // Halts live in the global ledger object, which checks them in the same step as the
    // reservation; when a rule denies, the core applies them (a halt outranks the rule).
    let ruling = match rule_verdict(&request, &policy) {
        denied @ Ruling::Decided(_) => apply_halts(&request, denied, &ledger.halt_state().await?),
        ruling => ruling,
    };
    let decision = match ruling {
        Ruling::Decided(d) => d,
        Ruling::NeedsBudget(v) => {
            match ledger
                .check_all(&request, &policy, v.reserves(), true, now)
                .await?
            {
                Checked::Halted(why) => halted(why),
                Checked::Budget(b) => conclude(&request, v, b, now),
            }
        }
    };
    let id = agency_edge::random_id("apr_");
    if let Err(e) = store.insert(&id, &request, &raw, &decision, now).await {
        // Nothing recorded: give the reservation back so the budget is not held by a
        // task nobody will be told about.
        let scopes = scopes_of(&decision.change.reserve);
        ledger.release_in(&scopes, &request.task_id).await;
        return Err(e);
    }
    let row = store
        .by_task(&request.task_id)
        .await?
        .ok_or_else(|| ApiError::new(503, "storage_error", "the approval was not stored"))?;
    // A concurrent ask for the same task may have been stored first.
    row.check_retry(&request).map_err(conflict)?;
    ok(&row.to_json())
}

fn conflict(e: ApprovalConflict) -> ApiError {
    ApiError::new(409, "conflict", e.to_string())
}

async fn list(req: &Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Read)?;
    for (k, _) in req.url()?.query_pairs() {
        if k != "status" && k != "limit" && k != "before" {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter {k}"
            )));
        }
    }
    let status = agency_edge::query(req, "status");
    if status.as_deref().is_some_and(|s| !valid_status(s)) {
        return Err(ApiError::bad_request(
            "status must be pending, approved, denied or expired",
        ));
    }
    let limit = agency_edge::limit(req, 100, 1000)?;
    let store = Store::new(env)?;
    store.expire(now()).await?;
    let before =
        page_before(agency_edge::query(req, "before").as_deref()).map_err(ApiError::bad_request)?;
    ok(&json!({ "approvals": store.list(status.as_deref(), limit, before).await? }))
}

async fn get(req: &Request, env: &Env, id: &str) -> ApiResult {
    authorize(req, env, Access::Read)?;
    let store = Store::new(env)?;
    store.expire(now()).await?;
    match store.by_id(id).await? {
        Some(row) => ok(&row.to_json()),
        None => Err(ApiError::not_found(format!("no approval {id:?}"))),
    }
}

/// Why a human decision was not recorded.
pub enum HumanError {
    Settled(ApprovalConflict),
    Api(ApiError),
}

impl From<ApiError> for HumanError {
    fn from(e: ApiError) -> Self {
        HumanError::Api(e)
    }
}

impl From<HumanError> for ApiError {
    fn from(e: HumanError) -> Self {
        match e {
            HumanError::Settled(c) => conflict(c),
            HumanError::Api(e) => e,
        }
    }
}

/// A human's answer to a pending approval: claim it, re-check and reserve the budgets
/// when approving, record. Returns the approval's JSON after.
pub async fn decide_human(
    env: &Env,
    id: &str,
    approve: bool,
    by: &str,
    comment: Option<&str>,
) -> Result<Value, HumanError> {
    let store = Store::new(env)?;
    let now = now();
    store.expire(now).await?;
    let row = store
        .by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no approval {id:?}")))?;
    let settled = |status: &str| {
        HumanError::Settled(ApprovalConflict::Decided {
            approval_id: id.to_owned(),
            status: status.to_owned(),
        })
    };
    if row.status() != "pending" || !store.claim(id, now).await? {
        let status = store
            .by_id(id)
            .await?
            .map(|r| r.status().to_owned())
            .unwrap_or_default();
        return Err(settled(if status == "pending" {
            "being decided"
        } else {
            &status
        }));
    }
    let outcome = async {
        let request = row
            .request()
            .ok_or_else(|| ApiError::bad_request("stored request is unreadable"))?;
        let ledger = LedgerClient::new(env);
        let answer = if approve {
            let policy = policy(env)?;
            // The global ledger checks halts in the same step as the reservation: a
            // halt denies first, a human's approval included.
            match ledger.check_all(&request, &policy, true, true, now).await? {
                Checked::Budget(b) => Answer::Approve(b),
                Checked::Halted(why) => Answer::Halted(why),
            }
        } else {
            Answer::Deny
        };
        let d = human_decision(&request, by, answer);
        if let Err(e) = store.settle_human(id, &d, by, comment, now).await {
            ledger
                .release_in(&scopes_of(&d.change.reserve), &request.task_id)
                .await;
            return Err(e);
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        store.unclaim(id).await;
        return Err(e.into());
    }
    let row = store
        .by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no approval {id:?}")))?;
    Ok(row.to_json())
}

async fn human(req: &mut Request, env: &Env, id: &str) -> ApiResult {
    authorize(req, env, Access::Write)?;
    let b: HumanDecisionBody = read_json(req, MESSAGE_LIMIT).await?;
    let approve = b.approve().map_err(ApiError::bad_request)?;
    ok(&decide_human(env, id, approve, &b.by, b.comment.as_deref()).await?)
}

/// Puts a halt in force and audits it; the halts after.
pub async fn apply_halt(
    env: &Env,
    scope: &str,
    target: &str,
    reason: &str,
    actor: &str,
) -> Result<Vec<Value>, ApiError> {
    let now = now();
    let halts = LedgerClient::new(env)
        .halt(scope, target, reason, now)
        .await?;
    Store::new(env)?
        .audit(
            Audit {
                kind: "halt",
                approval: None,
                actor: Some(actor),
                detail: json!({ "scope": scope, "target": target, "reason": reason }),
            },
            now,
        )
        .await?;
    Ok(halts.iter().map(halt_json).collect())
}

/// Lifts a halt (`scope` "everything": all of them) and audits it; how many were lifted.
pub async fn apply_resume(
    env: &Env,
    scope: &str,
    target: &str,
    actor: &str,
) -> Result<usize, ApiError> {
    let lifted = LedgerClient::new(env).resume(scope, target).await?;
    let detail = if scope == "everything" {
        json!({ "scope": scope, "lifted": lifted })
    } else {
        json!({ "scope": scope, "target": target, "wasHalted": lifted > 0 })
    };
    Store::new(env)?
        .audit(
            Audit {
                kind: "resume",
                approval: None,
                actor: Some(actor),
                detail,
            },
            now(),
        )
        .await?;
    Ok(lifted)
}

async fn halt(req: &mut Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Write)?;
    let b: HaltBody = read_json(req, MESSAGE_LIMIT).await?;
    let target = b.target().map_err(ApiError::bad_request)?;
    let reason = b.reason().map_err(ApiError::bad_request)?;
    let halts = apply_halt(env, &b.scope, &target, reason, "operator").await?;
    ok(&json!({ "halts": halts }))
}

async fn resume(req: &mut Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Write)?;
    let b: HaltBody = read_json(req, MESSAGE_LIMIT).await?;
    let target = b.target().map_err(ApiError::bad_request)?;
    let lifted = apply_resume(env, &b.scope, &target, "operator").await?;
    let halts = LedgerClient::new(env).halts().await?;
    ok(&json!({ "resumed": lifted > 0, "halts": halts.iter().map(halt_json).collect::<Vec<_>>() }))
}

async fn halts(req: &Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Read)?;
    let halts = LedgerClient::new(env).halts().await?;
    ok(&json!({ "halts": halts.iter().map(halt_json).collect::<Vec<_>>() }))
}

async fn spend(req: &mut Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Route)?;
    let b: SpendBody = read_json(req, MESSAGE_LIMIT).await?;
    let actual = b.actual().map_err(ApiError::bad_request)?;
    let store = Store::new(env)?;
    let id = &b.approval_id;
    let row = store
        .by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no approval {id:?}")))?;
    let spent = || {
        conflict(ApprovalConflict::Spent {
            approval_id: id.clone(),
        })
    };
    if row.status() != "approved" {
        return Err(conflict(ApprovalConflict::NotApproved {
            approval_id: id.clone(),
            status: row.status().to_owned(),
        }));
    }
    if row.actual_micros.is_some() {
        return Err(spent());
    }
    // The ledger first: settling is idempotent per task and answers with the amount it
    // recorded, so a retry after a failed write below still lands on the same figure.
    let recorded = LedgerClient::new(env)
        .settle(&scopes_of(&store::reserved(&row)?), &row.task_id, actual.0)
        .await?;
    if !store.spend(id, recorded, Some("gateway"), now()).await? {
        return Err(spent());
    }
    let row = store
        .by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no approval {id:?}")))?;
    ok(&row.to_json())
}

/// `GET /api/budget`'s report, over every scope object of the policy.
pub async fn budget_value(env: &Env) -> Result<Value, ApiError> {
    let policy = policy(env)?;
    let now = now();
    let ledger = LedgerClient::new(env).ledger(&policy, now).await?;
    Ok(budget_report(&policy, &ledger, now))
}

async fn budget(req: &Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Read)?;
    ok(&budget_value(env).await?)
}

async fn audit(req: &Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Read)?;
    let limit = agency_edge::limit(req, 100, 1000)?;
    let store = Store::new(env)?;
    // Asks that expired since the last request are in the log before it is read.
    store.expire(now()).await?;
    let before =
        page_before(agency_edge::query(req, "before").as_deref()).map_err(ApiError::bad_request)?;
    ok(&json!({ "entries": store.audit_log(limit, before).await? }))
}
