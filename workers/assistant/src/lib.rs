//! The approval assistant Worker: wiring only. `agency_assistant_service` answers every
//! request (route table, endpoints, the approve, decide and spend flows, chat); this
//! crate implements its ports at the edge: the budget ledger and halts in one Durable
//! Object per budget scope ([`ledger`], the service's ledger book, visited by
//! [`ledger_client`]'s reservation saga), approvals, audit and chat history in D1,
//! chat sessions in KV, the router through a service binding.

mod chat;
mod ledger;
mod ledger_client;

use std::rc::Rc;

use agency_approval::{
    Answer, ApprovalRequest, Decision, Micros, Policy, Ruling, apply_halts, conclude, halted,
    rule_verdict,
};
use agency_assistant_service::ledger::{Halt, HaltIn, halt_state, scopes_of};
use agency_assistant_service::{AssistantRuntime, LedgerPort, ROUTES};
use agency_edge::D1;
use agency_kit::ApiError;
use http::StatusCode;
use serde_json::json;
use worker::{Context, Env, Request, Response, event};

pub use ledger::Ledger;
use ledger_client::{Checked, LedgerClient};

/// The example policy, used only when the deployment sets no `AGENCY_POLICY` and says
/// `AGENCY_EXAMPLE=1` (as `agency deploy --example` does).
const EXAMPLE_POLICY: &str = include_str!("../../../examples/policy/policy.toml");

thread_local! {
    static POLICY: agency_edge::isolate::ByText<Policy> = const { agency_edge::isolate::ByText::new() };
}

/// The policy in force, parsed once per isolate (again only when its text changes).
/// None set is an error naming the variable, unless example mode is on: never a silent
/// fallback to a policy that approves reads for anyone.
fn policy(env: &Env) -> Result<Rc<Policy>, ApiError> {
    let set = env
        .var("AGENCY_POLICY")
        .map(|v| v.to_string())
        .ok()
        .filter(|t| !t.trim().is_empty());
    let example = env
        .var("AGENCY_EXAMPLE")
        .map(|v| v.to_string() == "1")
        .unwrap_or(false);
    let text = match set {
        Some(t) => t,
        None if example => EXAMPLE_POLICY.to_owned(),
        None => return Err(policy_missing()),
    };
    POLICY.with(|cache| {
        cache.get(&text, |text| {
            Policy::parse(text, "AGENCY_POLICY").map_err(|errors| {
                for e in &errors {
                    worker::console_error!("{e}");
                }
                policy_invalid()
            })
        })
    })
}

fn policy_missing() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "policy_missing",
        "no policy is configured: set the variable AGENCY_POLICY to your policy.toml's text (agency deploy does it from agency.toml), or AGENCY_EXAMPLE=1 to run the example policy",
    )
}

fn policy_invalid() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "policy_invalid",
        "the configured policy does not parse",
    )
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    agency_edge::serve_service(req, &env, &ctx, || Edge::new(&env, Some(&ctx))).await
}

/// Every five minutes ([`agency_edge::Served::cron`]).
#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, ctx: worker::ScheduleContext) {
    agency_edge::run_cron(&env, &ctx, || Edge::new(&env, None)).await;
}

impl agency_edge::Served for Edge<'_> {
    type Endpoint = agency_assistant_service::Endpoint;
    fn service() -> &'static agency_kit::Service {
        &agency_assistant_service::SERVICE
    }
    fn routes() -> &'static [agency_kit::Route<Self::Endpoint>] {
        ROUTES
    }
    /// Reservations no approval holds, older than the longest decision, given back.
    async fn cron(&self) -> Result<(), ApiError> {
        use agency_kit::Clock;
        let before = self.now_ms() - agency_assistant_service::api::ORPHAN_AFTER_MS;
        agency_assistant_service::api::reconcile(self, before)
            .await
            .map(|_| ())
    }
    async fn health(&self) -> (bool, serde_json::Value) {
        health(self).await
    }
    async fn call(&self, e: Self::Endpoint, request: agency_kit::Request) -> agency_kit::ApiResult {
        agency_assistant_service::call(self, e, &request).await
    }
}

/// The assistant's ports on this Worker's bindings.
pub struct Edge<'a> {
    pub env: &'a Env,
    pub db: D1,
    /// Why there is none: not configured, or it does not parse (its errors logged).
    pub policy: Result<Rc<Policy>, ApiError>,
    /// The request's context: work that runs after the answer (`wait_until`); none in
    /// a cron run.
    pub ctx: Option<&'a Context>,
}

impl<'a> Edge<'a> {
    fn new(env: &'a Env, ctx: Option<&'a Context>) -> Result<Self, ApiError> {
        Ok(Edge {
            env,
            db: D1::from_env(env)?,
            policy: policy(env),
            ctx,
        })
    }
}

/// Healthy when a policy is in force.
async fn health(p: &Edge<'_>) -> (bool, serde_json::Value) {
    match &p.policy {
        Ok(_) => (true, json!({ "status": "ok", "engine": "edge" })),
        Err(e) => (
            false,
            json!({ "status": "degraded", "engine": "edge", "error": { "code": e.code, "message": e.message } }),
        ),
    }
}

agency_edge::edge_clock_and_random!(Edge);
agency_edge::edge_calls!(Edge);

impl<'a> AssistantRuntime for Edge<'a> {
    type Db = D1;
    type Ledger = Self;

    fn db(&self) -> &D1 {
        &self.db
    }

    fn ledger(&self) -> &Self {
        self
    }

    fn policy(&self) -> Result<&Policy, ApiError> {
        self.policy.as_deref().map_err(Clone::clone)
    }
}

/// The ledger at the edge: the scope objects, visited by [`LedgerClient`]'s saga. The
/// policy is decided natively (the approval core), by rules first and by each scope's
/// budget in the scope's object.
impl LedgerPort for Edge<'_> {
    async fn decide(&self, request: &ApprovalRequest, now: i64) -> Result<Decision, ApiError> {
        let policy = self.policy()?;
        let ledger = LedgerClient::new(self.env);
        // Halts live in the global ledger object, which checks them in the same step as the
        // reservation; when a rule denies, the core applies them (a halt outranks the rule).
        let ruling = match rule_verdict(request, policy) {
            denied @ Ruling::Decided(_) => {
                apply_halts(request, denied, &halt_state(&ledger.halts().await?))
            }
            ruling => ruling,
        };
        Ok(match ruling {
            Ruling::Decided(d) => d,
            Ruling::NeedsBudget(v) => {
                match ledger
                    .check_all(request, policy, v.reserves(), true, now)
                    .await?
                {
                    Checked::Halted(why) => halted(why),
                    Checked::Budget(b) => conclude(request, v, b, now),
                }
            }
        })
    }

    async fn approve_human(
        &self,
        request: &ApprovalRequest,
        limits: Option<&Policy>,
        now: i64,
    ) -> Result<Answer, ApiError> {
        let policy = match limits {
            Some(p) => p,
            None => self.policy()?,
        };
        // The global ledger checks halts in the same step as the reservation: a halt
        // denies first, a human's approval included.
        Ok(
            match LedgerClient::new(self.env)
                .check_all(request, policy, true, true, now)
                .await?
            {
                Checked::Budget(b) => Answer::Approve(b),
                Checked::Halted(why) => Answer::Halted(why),
            },
        )
    }

    async fn release(&self, task: &str, reserved: &[(String, i64)]) {
        let client = LedgerClient::new(self.env);
        let scopes = match (reserved.is_empty(), self.policy()) {
            (true, Ok(policy)) => LedgerClient::scopes(policy),
            _ => scopes_of(reserved),
        };
        client.release_in(&scopes, task).await;
    }

    async fn settle(
        &self,
        task: &str,
        reserved: &[(String, i64)],
        actual: Micros,
        now: i64,
    ) -> Result<Micros, ApiError> {
        LedgerClient::new(self.env)
            .settle(&scopes_of(reserved), task, actual.0, now)
            .await
            .map(Micros)
    }

    async fn ledger(&self, now: i64) -> Result<Vec<(String, Micros, Micros)>, ApiError> {
        LedgerClient::new(self.env)
            .ledger(self.policy()?, now)
            .await
    }

    async fn held_since(&self, before: i64) -> Result<Vec<String>, ApiError> {
        LedgerClient::new(self.env)
            .held_since(self.policy()?, before)
            .await
    }

    async fn halts(&self) -> Result<Vec<Halt>, ApiError> {
        LedgerClient::new(self.env).halts().await
    }

    async fn halt(&self, h: &HaltIn) -> Result<(), ApiError> {
        LedgerClient::new(self.env).halt(h).await
    }

    async fn resume(&self, h: &HaltIn) -> Result<usize, ApiError> {
        LedgerClient::new(self.env).resume(h).await
    }
}
