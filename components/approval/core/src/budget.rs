//! Budgets: which scopes a request falls under, and whether its cost fits each of
//! them given what the ledger holds. Money is integer micro-dollars.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::decide::ApprovalRequest;
use crate::money::Micros;
use crate::policy::{Exhausted, Limits, Policy};
use crate::time::{day_key, month_key};

/// Spent plus reserved money per ledger key (see [`ledger_key`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerSnapshot {
    pub used: BTreeMap<String, Micros>,
}

/// The tightest budget a request falls under and what would remain of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetStatus {
    /// e.g. "global daily", "agent:codegen daily", "channel:slack monthly".
    pub scope: String,
    pub remaining: Micros,
}

/// How the ledger changes: amounts to reserve under each ledger key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerChange {
    pub reserve: Vec<(String, Micros)>,
}

/// `scope|period` as stored in ledgers: e.g. `agent:codegen|2026-11-25`.
pub fn ledger_key(scope: &str, period: &str) -> String {
    format!("{scope}|{period}")
}

/// The budgets a request falls under, in a fixed order (global, its agent, its
/// channel), as ledger scopes with their limits. Global comes first even without
/// limits: it is where halts live at the edge.
pub fn budget_scopes<'p>(
    request: &ApprovalRequest,
    policy: &'p Policy,
) -> Vec<(String, &'p Limits)> {
    let mut scopes: Vec<(String, &Limits)> = vec![("global".into(), &policy.budget.global)];
    if let Some(l) = policy.budget.agents.get(&request.agent) {
        scopes.push((format!("agent:{}", request.agent), l));
    }
    if let Some(c) = &request.channel
        && let Some(l) = policy.budget.channels.get(c)
    {
        scopes.push((format!("channel:{c}"), l));
    }
    scopes
}

/// The result of checking budgets: Ok with the reservations to make and the tightest
/// remaining budget, Err with the first budget the cost would overrun.
pub type BudgetCheck = Result<(LedgerChange, Option<BudgetStatus>), BudgetStatus>;

/// Checks `cost` against one scope's daily and monthly limits, `used` being what its
/// ledger holds (spent + reserved) per ledger key.
pub fn check_scope(
    scope: &str,
    limits: &Limits,
    cost: Micros,
    used: impl Fn(&str) -> Micros,
    now_ms: i64,
) -> BudgetCheck {
    let mut change = LedgerChange::default();
    let mut tightest: Option<BudgetStatus> = None;
    for (label, period, limit) in [
        ("daily", day_key(now_ms), limits.daily),
        ("monthly", month_key(now_ms), limits.monthly),
    ] {
        let Some(limit) = limit else { continue };
        let key = ledger_key(scope, &period);
        let used = used(&key);
        let after = used.saturating_add(cost);
        let name = format!("{scope} {label}");
        if after > limit {
            // Negative when spending already passed the limit (a spend may exceed its
            // estimate): the same figure `GET /api/budget` shows.
            return Err(BudgetStatus {
                scope: name,
                remaining: limit.saturating_sub(used),
            });
        }
        let remaining = limit.saturating_sub(after);
        tightest = tighter(
            tightest,
            Some(BudgetStatus {
                scope: name,
                remaining,
            }),
        );
        change.reserve.push((key, cost));
    }
    Ok((change, tightest))
}

fn tighter(a: Option<BudgetStatus>, b: Option<BudgetStatus>) -> Option<BudgetStatus> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.remaining < a.remaining { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Joins the checks of several scopes, each with what its exhaustion does: when every
/// scope fits, all reservations together with the tightest remaining budget; else the
/// overrun that decides: the first of a scope that denies when exhausted (a scope that
/// would ask never outranks one that denies), else the first.
pub fn join_checks(checks: impl IntoIterator<Item = (BudgetCheck, Exhausted)>) -> BudgetCheck {
    let mut change = LedgerChange::default();
    let mut tightest = None;
    let mut asking: Option<BudgetStatus> = None;
    for (c, exhausted) in checks {
        match c {
            Err(b) if exhausted == Exhausted::Deny => return Err(b),
            Err(b) => {
                asking.get_or_insert(b);
            }
            Ok((c, t)) => {
                change.reserve.extend(c.reserve);
                tightest = tighter(tightest, t);
            }
        }
    }
    match asking {
        Some(b) => Err(b),
        None => Ok((change, tightest)),
    }
}

/// Checks `cost` against every budget the request falls under.
pub fn budget_check(
    request: &ApprovalRequest,
    policy: &Policy,
    ledger: &LedgerSnapshot,
    now_ms: i64,
) -> BudgetCheck {
    let used = |key: &str| ledger.used.get(key).copied().unwrap_or(Micros::ZERO);
    join_checks(
        budget_scopes(request, policy)
            .into_iter()
            .map(|(scope, limits)| {
                (
                    check_scope(&scope, limits, request.estimated_cost, used, now_ms),
                    policy.budget.exhausted_of(limits),
                )
            }),
    )
}
