//! The approval assistant Worker: wiring for `agency_assistant_service`, whose route
//! table, handlers and chat answer every request. This crate implements the service's
//! ports at the edge: budgets and halts in one Durable Object per budget scope
//! ([`ledger`], driven by [`ledger_client`]'s reservation saga), approvals, audit and
//! chat history in the service's store over D1, chat sessions in KV. The approve,
//! decide and spend operations here are still this runtime's own (the local server
//! keeps its ledger in one SQLite transaction instead); they move into the service
//! behind a ledger port next.

mod chat;
mod ledger;
mod ledger_client;

use std::cell::RefCell;
use std::rc::Rc;

use agency_approval::contract::{ApprovalConflict, budget_report};
use agency_approval::{
    Answer, ApprovalRequest, Micros, Policy, Ruling, apply_halts, conclude, halted, human_decision,
    rule_verdict,
};
use agency_assistant_service::store::{Audit, reserved};
use agency_assistant_service::{AssistantPorts, AuditPage, ListPage, ROUTES, Undecided};
use agency_edge::{D1, EdgeClock, EdgeRandom};
use agency_kit::{ApiError, Clock, Random};
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
            agency_edge::Endpoint::Service(e) => {
                let ports = Edge {
                    env,
                    store: store(env)?,
                };
                agency_assistant_service::call(&ports, e, &request).await
            }
        }
    })
    .await
}

/// The assistant's ports on this Worker's bindings.
pub struct Edge<'a> {
    pub env: &'a Env,
    pub store: Store,
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

impl AssistantPorts for Edge<'_> {
    async fn approve(&self, request: ApprovalRequest, raw: &Value) -> Result<Value, ApiError> {
        let policy = policy(self.env)?;
        let now = now();
        self.store.expire(now).await?;
        if let Some(row) = self.store.by_task(&request.task_id).await? {
            row.check_retry(&request).map_err(conflict)?;
            return Ok(row.to_json());
        }
        let ledger = LedgerClient::new(self.env);
        // Halts live in the global ledger object, which checks them in the same step as the
        // reservation; when a rule denies, the core applies them (a halt outranks the rule).
        let ruling = match rule_verdict(&request, &policy) {
            denied @ Ruling::Decided(_) => {
                apply_halts(&request, denied, &ledger.halt_state().await?)
            }
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
        if let Err(e) = self.store.insert(&id, &request, raw, &decision, now).await {
            // Nothing recorded: give the reservation back so the budget is not held by a
            // task nobody will be told about.
            let scopes = scopes_of(&decision.change.reserve);
            ledger.release_in(&scopes, &request.task_id).await;
            return Err(e);
        }
        let row =
            self.store.by_task(&request.task_id).await?.ok_or_else(|| {
                ApiError::internal("storage_error", &"the approval was not stored")
            })?;
        // A concurrent ask for the same task may have been stored first.
        row.check_retry(&request).map_err(conflict)?;
        Ok(row.to_json())
    }

    async fn approval(&self, id: &str) -> Result<Option<Value>, ApiError> {
        self.store.expire(now()).await?;
        Ok(self.store.by_id(id).await?.map(|r| r.to_json()))
    }

    async fn approvals(&self, page: &ListPage) -> Result<Vec<Value>, ApiError> {
        self.store.expire(now()).await?;
        self.store
            .list(page.status.as_deref(), page.limit, page.before)
            .await
    }

    /// Claims the approval, re-checks and reserves the budgets when approving, records.
    async fn decide(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        comment: Option<&str>,
    ) -> Result<Value, Undecided> {
        let now = now();
        self.store.expire(now).await?;
        let row = self.store.require(id).await?;
        let settled = |status: &str| {
            Undecided::Settled(ApprovalConflict::Decided {
                approval_id: id.to_owned(),
                status: status.to_owned(),
            })
        };
        if row.status() != "pending" || !self.store.claim(id, now).await? {
            let status = self
                .store
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
            let ledger = LedgerClient::new(self.env);
            let answer = if approve {
                let policy = policy(self.env)?;
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
            if let Err(e) = self.store.settle_human(id, &d, by, comment, now).await {
                ledger
                    .release_in(&scopes_of(&d.change.reserve), &request.task_id)
                    .await;
                return Err(e);
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            if let Err(e) = self.store.unclaim(id).await {
                worker::console_error!("unclaim {id}: {e}");
            }
            return Err(e.into());
        }
        let row = self.store.require(id).await?;
        Ok(row.to_json())
    }

    async fn halt(
        &self,
        scope: &str,
        target: &str,
        reason: &str,
        by: &str,
    ) -> Result<(), ApiError> {
        let now = now();
        LedgerClient::new(self.env)
            .halt(scope, target, reason, now)
            .await?;
        self.store
            .audit(
                Audit {
                    kind: "halt",
                    approval: None,
                    actor: Some(by),
                    detail: json!({ "scope": scope, "target": target, "reason": reason }),
                },
                now,
            )
            .await
    }

    async fn resume(&self, scope: &str, target: &str, by: &str) -> Result<usize, ApiError> {
        let lifted = LedgerClient::new(self.env).resume(scope, target).await?;
        let detail = if scope == "everything" {
            json!({ "scope": scope, "lifted": lifted })
        } else {
            json!({ "scope": scope, "target": target, "wasHalted": lifted > 0 })
        };
        self.store
            .audit(
                Audit {
                    kind: "resume",
                    approval: None,
                    actor: Some(by),
                    detail,
                },
                now(),
            )
            .await?;
        Ok(lifted)
    }

    async fn halts(&self) -> Result<Vec<Value>, ApiError> {
        let halts = LedgerClient::new(self.env).halts().await?;
        Ok(halts.iter().map(halt_json).collect())
    }

    /// The ledger first: settling is idempotent per task and answers with the amount it
    /// recorded, so a retry after a failed write below lands on the same figure.
    async fn spend(&self, id: &str, actual: Micros) -> Result<Value, ApiError> {
        let row = self.store.require(id).await?;
        let spent = || {
            conflict(ApprovalConflict::Spent {
                approval_id: id.to_owned(),
            })
        };
        if row.status() != "approved" {
            return Err(conflict(ApprovalConflict::NotApproved {
                approval_id: id.to_owned(),
                status: row.status().to_owned(),
            }));
        }
        if row.actual_micros.is_some() {
            return Err(spent());
        }
        // The ledger first: settling is idempotent per task and answers with the amount it
        // recorded, so a retry after a failed write below still lands on the same figure.
        let recorded = LedgerClient::new(self.env)
            .settle(&scopes_of(&reserved(&row)?), &row.task_id, actual.0)
            .await?;
        if !self
            .store
            .spend(id, recorded, Some("gateway"), now())
            .await?
        {
            return Err(spent());
        }
        let row = self.store.require(id).await?;
        Ok(row.to_json())
    }

    async fn budget(&self) -> Result<Value, ApiError> {
        let policy = policy(self.env)?;
        let now = now();
        let ledger = LedgerClient::new(self.env).ledger(&policy, now).await?;
        Ok(budget_report(&policy, &ledger, now))
    }

    async fn audit(&self, page: &AuditPage) -> Result<Vec<Value>, ApiError> {
        // Asks that expired since the last request are in the log before it is read.
        self.store.expire(now()).await?;
        self.store.audit_log(page.limit, page.before).await
    }
}

fn conflict(e: ApprovalConflict) -> ApiError {
    ApiError::conflict(e.to_string())
}
