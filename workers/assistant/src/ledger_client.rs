//! The Worker's side of the budget ledger: calls to the scope objects ([`Ledger`]),
//! and the saga that reserves an approval's cost in every scope it falls under.

use agency_approval::{
    ApprovalRequest, BudgetCheck, BudgetStatus, Exhausted, LedgerChange, Micros, Policy,
    budget_scopes, join_checks,
};
use agency_assistant_service::ledger::{
    Halt, HaltIn, LedgerIn, LedgerOp, LedgerRow, ReserveIn, ReserveOut, TaskIn, ledger_limit,
};
use agency_kit::ApiError;
use serde::de::DeserializeOwned;
use worker::Env;

#[cfg(doc)]
use crate::ledger::Ledger;

/// What checking every scope of an approval came to.
pub enum Checked {
    Halted(String),
    Budget(BudgetCheck),
}

/// The Worker's side: calls to the scope objects.
pub struct LedgerClient<'a> {
    env: &'a Env,
}

impl<'a> LedgerClient<'a> {
    pub fn new(env: &'a Env) -> Self {
        LedgerClient { env }
    }

    async fn call<T: DeserializeOwned>(&self, scope: &str, op: &LedgerOp) -> Result<T, ApiError> {
        agency_edge::object::call(self.env, "LEDGER", scope, op).await
    }

    /// Checks (`commit`: and reserves) `request`'s cost under every budget scope it falls
    /// under, global first (which also checks halts when `halt_check`). When a scope
    /// says no, or a call fails, what the earlier scopes reserved is given back.
    pub async fn check_all(
        &self,
        request: &ApprovalRequest,
        policy: &Policy,
        commit: bool,
        halt_check: bool,
        now: i64,
    ) -> Result<Checked, ApiError> {
        let mut done: Vec<String> = Vec::new();
        let mut checks = Vec::new();
        let mut commit = commit;
        for (i, (scope, limits)) in budget_scopes(request, policy).into_iter().enumerate() {
            let exhausted = policy.budget.exhausted_of(limits);
            let r = ReserveIn {
                task: request.task_id.clone(),
                agent: request.agent.clone(),
                channel: request.channel.clone(),
                scope: scope.clone(),
                daily: limits.daily.map(|m| m.0),
                monthly: limits.monthly.map(|m| m.0),
                cost: request.estimated_cost.0,
                now,
                commit,
                halt_check: halt_check && i == 0,
            };
            let out = match self.call::<ReserveOut>(&scope, &LedgerOp::Reserve(r)).await {
                Ok(o) => o,
                Err(e) => {
                    self.release_in(&done, &request.task_id).await;
                    return Err(e);
                }
            };
            match out {
                ReserveOut::Halted(why) => return Ok(Checked::Halted(why)),
                ReserveOut::Over(b) => {
                    if commit {
                        self.release_in(&done, &request.task_id).await;
                    }
                    if exhausted == Exhausted::Deny {
                        return Ok(Checked::Budget(Err(b.into())));
                    }
                    // This scope would ask, and an ask reserves nothing; the rest are
                    // still checked, since one that denies decides (`join_checks`).
                    commit = false;
                    checks.push((Err(b.into()), exhausted));
                }
                ReserveOut::Fits { reserve, tightest } => {
                    if commit {
                        done.push(scope);
                    }
                    checks.push((
                        Ok((
                            LedgerChange {
                                reserve: reserve.into_iter().map(|(k, m)| (k, Micros(m))).collect(),
                            },
                            tightest.map(BudgetStatus::from),
                        )),
                        exhausted,
                    ));
                }
            }
        }
        Ok(Checked::Budget(join_checks(checks)))
    }

    /// Gives back `task`'s reservations in `scopes` (best effort: a failure is logged
    /// and leaves money reserved, never spent).
    pub async fn release_in(&self, scopes: &[String], task: &str) {
        for scope in scopes {
            let body = TaskIn {
                task: task.to_owned(),
                actual: None,
                now: 0,
            };
            if let Err(e) = self.call::<usize>(scope, &LedgerOp::Release(body)).await {
                worker::console_error!(
                    "release {task} in {scope}: {}",
                    e.log.as_deref().unwrap_or(&e.message)
                );
            }
        }
    }

    /// Settles `task` in each scope it reserved in; the actual cost each recorded.
    pub async fn settle(
        &self,
        scopes: &[String],
        task: &str,
        actual: i64,
        now: i64,
    ) -> Result<i64, ApiError> {
        let body = TaskIn {
            task: task.to_owned(),
            actual: Some(actual),
            now,
        };
        // Every scope first: refused, not recorded short, when a sum would pass what a
        // ledger holds (and not settled in some scopes but not others).
        for scope in scopes {
            if let Some(why) = self
                .call::<Option<String>>(scope, &LedgerOp::Room(body.clone()))
                .await?
            {
                return Err(ledger_limit(why));
            }
        }
        let mut recorded = actual;
        for scope in scopes {
            recorded = self
                .call::<i64>(scope, &LedgerOp::Settle(body.clone()))
                .await?;
        }
        Ok(recorded)
    }

    /// Every budget scope of `policy`, one object each.
    pub fn scopes(policy: &Policy) -> Vec<String> {
        let b = &policy.budget;
        let mut scopes = vec!["global".to_owned()];
        scopes.extend(b.agents.keys().map(|a| format!("agent:{a}")));
        scopes.extend(b.channels.keys().map(|c| format!("channel:{c}")));
        scopes
    }

    /// The tasks holding unsettled reservations made before `before`, in any scope.
    pub async fn held_since(&self, policy: &Policy, before: i64) -> Result<Vec<String>, ApiError> {
        let scopes = Self::scopes(policy);
        let op = LedgerOp::HeldSince(LedgerIn { now: before });
        let calls = scopes
            .iter()
            .map(|scope| self.call::<Vec<String>>(scope, &op));
        let mut out = Vec::new();
        for tasks in futures_util::future::join_all(calls).await {
            for t in tasks? {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        Ok(out)
    }

    /// (key, spent, reserved) for the current periods, over every scope of `policy`.
    pub async fn ledger(
        &self,
        policy: &Policy,
        now: i64,
    ) -> Result<Vec<(String, Micros, Micros)>, ApiError> {
        let scopes = Self::scopes(policy);
        let op = LedgerOp::Ledger(LedgerIn { now });
        // One call per scope object, all at once.
        let calls = scopes
            .iter()
            .map(|scope| self.call::<Vec<LedgerRow>>(scope, &op));
        let mut out = Vec::new();
        for rows in futures_util::future::join_all(calls).await {
            out.extend(
                rows?
                    .into_iter()
                    .map(|r| (r.key, Micros(r.spent), Micros(r.reserved))),
            );
        }
        Ok(out)
    }

    pub async fn halts(&self) -> Result<Vec<Halt>, ApiError> {
        self.call("global", &LedgerOp::Halts).await
    }

    pub async fn halt(&self, h: &HaltIn) -> Result<(), ApiError> {
        self.call::<Vec<Halt>>("global", &LedgerOp::Halt(h.clone()))
            .await?;
        Ok(())
    }

    /// Lifts a halt (`scope` "everything" lifts all); how many were lifted.
    pub async fn resume(&self, h: &HaltIn) -> Result<usize, ApiError> {
        self.call("global", &LedgerOp::Resume(h.clone())).await
    }
}
