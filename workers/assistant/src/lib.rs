//! The approval assistant Worker: the assistant's route table
//! (`agency_assistant_service::ROUTES`, the local server's too) served through
//! `agency_edge::serve`. Decisions are the approval core's (`rule_verdict`,
//! `check_scope`, `conclude`); budgets are held by one Durable Object per scope
//! ([`ledger`]); approvals, audit and chat history are the service crate's store over
//! D1. The endpoints' steps here are still this runtime's own copy of the local
//! server's (`host/src/server/{approvals,chat}.rs`); they move into
//! `services/assistant` next.

mod chat;
mod ledger;
mod ledger_client;

use std::cell::RefCell;
use std::rc::Rc;

use agency_approval::contract::{
    ApprovalBody, ApprovalConflict, HaltBody, HumanDecisionBody, ResumeBody, SpendBody,
    budget_report,
};
use agency_approval::{
    Answer, Policy, Ruling, apply_halts, conclude, halted, human_decision, rule_verdict,
};
use agency_assistant_service::store::{Audit, reserved};
use agency_assistant_service::{Endpoint, ROUTES, audit_page, list_page};
use agency_edge::{D1, EdgeClock, EdgeRandom};
use agency_kit::http::json;
use agency_kit::{ApiError, ApiResult, Clock, Random, Request as ApiRequest};
use http::StatusCode;
use serde_json::{Value, json};
use worker::{Context, Env, Request, Response, event};

pub use ledger::Ledger;
use ledger_client::{Checked, LedgerClient, halt_json, scopes_of};

/// The assistant's store on this Worker's D1.
pub type Store = agency_assistant_service::store::Store<D1>;

pub fn store(env: &Env) -> Result<Store, ApiError> {
    Ok(Store::new(D1::from_env(env)?))
}

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
            StatusCode::SERVICE_UNAVAILABLE,
            "policy_invalid",
            "the configured policy does not parse",
        )
    })?);
    POLICY.with(|c| *c.borrow_mut() = Some((text, p.clone())));
    Ok(p)
}

fn now() -> i64 {
    EdgeClock.now_ms()
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let env = &env;
    agency_edge::serve(req, env, ROUTES, move |endpoint, request| async move {
        match endpoint {
            agency_edge::Endpoint::Health => Ok(health(env)),
            agency_edge::Endpoint::Service(e) => call(e, &request, env).await,
        }
    })
    .await
}

async fn call(endpoint: Endpoint, req: &ApiRequest, env: &Env) -> ApiResult {
    match endpoint {
        Endpoint::Approve => approve(req, env).await,
        Endpoint::List => list(req, env).await,
        Endpoint::Get => get(req, env).await,
        Endpoint::Decide => human(req, env).await,
        Endpoint::Halt => halt(req, env).await,
        Endpoint::Halts => halts(env).await,
        Endpoint::Resume => resume(req, env).await,
        Endpoint::Spend => spend(req, env).await,
        Endpoint::Budget => budget(env).await,
        Endpoint::Audit => audit(req, env).await,
        Endpoint::Chat => chat::chat(req, env).await,
    }
}

fn ok(v: &Value) -> ApiResult {
    Ok(json(StatusCode::OK, v))
}

fn health(env: &Env) -> agency_kit::Response {
    let ok = policy(env).is_ok();
    let status = if ok { "ok" } else { "degraded" };
    agency_kit::root::health(vec![(
        "assistant",
        ok,
        json!({ "status": status, "engine": "edge" }),
    )])
}

async fn approve(req: &ApiRequest, env: &Env) -> ApiResult {
    let raw: Value = req.json()?;
    let body: ApprovalBody = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid approval request: {e}")))?;
    let request = body.into_request().map_err(ApiError::bad_request)?;
    let policy = policy(env)?;
    let store = store(env)?;
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
    let id = EdgeRandom.id::<10>("apr_")?;
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
        .ok_or_else(|| ApiError::internal("storage_error", &"the approval was not stored"))?;
    // A concurrent ask for the same task may have been stored first.
    row.check_retry(&request).map_err(conflict)?;
    ok(&row.to_json())
}

fn conflict(e: ApprovalConflict) -> ApiError {
    ApiError::conflict(e.to_string())
}

async fn list(req: &ApiRequest, env: &Env) -> ApiResult {
    let p = list_page(req)?;
    let store = store(env)?;
    store.expire(now()).await?;
    ok(&json!({ "approvals": store.list(p.status.as_deref(), p.limit, p.before).await? }))
}

async fn get(req: &ApiRequest, env: &Env) -> ApiResult {
    let id = &req.param(0, "approval id")?;
    let store = store(env)?;
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
    let store = store(env)?;
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
        if let Err(e) = store.unclaim(id).await {
            worker::console_error!("unclaim {id}: {e}");
        }
        return Err(e.into());
    }
    let row = store
        .by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no approval {id:?}")))?;
    Ok(row.to_json())
}

async fn human(req: &ApiRequest, env: &Env) -> ApiResult {
    let id = &req.param(0, "approval id")?;
    let b: HumanDecisionBody = req.json()?;
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
    store(env)?
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
    store(env)?
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

async fn halt(req: &ApiRequest, env: &Env) -> ApiResult {
    let b: HaltBody = req.json()?;
    let target = b.target().map_err(ApiError::bad_request)?;
    let reason = b.reason().map_err(ApiError::bad_request)?;
    let halts = apply_halt(env, &b.scope, &target, reason, "operator").await?;
    ok(&json!({ "halts": halts }))
}

async fn resume(req: &ApiRequest, env: &Env) -> ApiResult {
    let b: ResumeBody = req.json()?;
    let target = b.target().map_err(ApiError::bad_request)?;
    let lifted = apply_resume(env, &b.scope, &target, "operator").await?;
    let halts = LedgerClient::new(env).halts().await?;
    ok(&json!({ "resumed": lifted > 0, "halts": halts.iter().map(halt_json).collect::<Vec<_>>() }))
}

async fn halts(env: &Env) -> ApiResult {
    let halts = LedgerClient::new(env).halts().await?;
    ok(&json!({ "halts": halts.iter().map(halt_json).collect::<Vec<_>>() }))
}

async fn spend(req: &ApiRequest, env: &Env) -> ApiResult {
    let b: SpendBody = req.json()?;
    let actual = b.actual().map_err(ApiError::bad_request)?;
    let store = store(env)?;
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
        .settle(&scopes_of(&reserved(&row)?), &row.task_id, actual.0)
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

async fn budget(env: &Env) -> ApiResult {
    ok(&budget_value(env).await?)
}

async fn audit(req: &ApiRequest, env: &Env) -> ApiResult {
    let p = audit_page(req)?;
    let store = store(env)?;
    // Asks that expired since the last request are in the log before it is read.
    store.expire(now()).await?;
    ok(&json!({ "entries": store.audit_log(p.limit, p.before).await? }))
}
