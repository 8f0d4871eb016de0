//! The decision: `decide(request, ledger, halt, policy, now)` -> outcome + ledger change.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::money::Micros;
use crate::policy::{Policy, Rule};
use crate::time::{day_key, month_key};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    // Order is precedence: a later variant wins.
    Approve,
    Ask,
    Deny,
}

impl Effect {
    pub fn parse(s: &str) -> Option<Effect> {
        match s {
            "approve" => Some(Effect::Approve),
            "ask" => Some(Effect::Ask),
            "deny" => Some(Effect::Deny),
            _ => None,
        }
    }
}

/// "May this task run?"
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub task_id: String,
    pub agent: String,
    pub action: String,
    pub description: String,
    pub estimated_cost: Micros,
    pub channel: Option<String>,
    pub environment: Option<String>,
    pub risk: Option<String>,
    pub tags: Vec<String>,
}

/// Spent plus reserved money per ledger key (see [`ledger_key`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerSnapshot {
    pub used: BTreeMap<String, Micros>,
}

/// What is halted right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HaltState {
    pub all: bool,
    pub agents: BTreeSet<String>,
    pub tasks: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HaltScope {
    All,
    Agent,
    Task,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Approved,
    Denied,
    Pending,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// Machine reason: "rule", "default", "budget" or "halted".
    pub reason_code: &'static str,
    /// Human-readable reason.
    pub reason: String,
    /// The rule that decided, if one did.
    pub rule: Option<String>,
    pub budget: Option<BudgetStatus>,
    /// For `Pending`: when the ask expires (counts as denied after).
    pub expires_at_ms: Option<i64>,
    pub change: LedgerChange,
}

/// `scope|period` as stored in ledgers: e.g. `agent:codegen|2026-11-25`.
pub fn ledger_key(scope: &str, period: &str) -> String {
    format!("{scope}|{period}")
}

/// One line of `policy explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleTrace {
    pub rule: String,
    pub line: u32,
    pub effect: Effect,
    pub matched: bool,
    /// Why it did or did not match.
    pub why: String,
}

fn field_matches(name: &str, wanted: &[String], got: Option<&str>) -> Result<String, String> {
    if wanted.is_empty() {
        return Ok(String::new());
    }
    match got {
        Some(v) if wanted.iter().any(|w| w == v) => Ok(format!("{name} is {v}")),
        Some(v) => Err(format!("{name} {v} is not one of {wanted:?}")),
        None => Err(format!("no {name} given (rule wants {wanted:?})")),
    }
}

fn rule_matches(rule: &Rule, r: &ApprovalRequest) -> Result<String, String> {
    let w = &rule.when;
    let mut why = Vec::new();
    for res in [
        field_matches("agent", &w.agent, Some(&r.agent)),
        field_matches("action", &w.action, Some(&r.action)),
        field_matches("environment", &w.environment, r.environment.as_deref()),
        field_matches("channel", &w.channel, r.channel.as_deref()),
        field_matches("risk", &w.risk, r.risk.as_deref()),
    ] {
        let s = res?;
        if !s.is_empty() {
            why.push(s);
        }
    }
    if !w.tags.is_empty() {
        match r.tags.iter().find(|t| w.tags.contains(t)) {
            Some(t) => why.push(format!("tagged {t}")),
            None => return Err(format!("none of the tags {:?}", w.tags)),
        }
    }
    if let Some(min) = w.cost_at_least {
        if r.estimated_cost < min {
            return Err(format!("cost {} is under {min}", r.estimated_cost));
        }
        why.push(format!("cost {} >= {min}", r.estimated_cost));
    }
    if let Some(max) = w.cost_at_most {
        if r.estimated_cost > max {
            return Err(format!("cost {} is over {max}", r.estimated_cost));
        }
        why.push(format!("cost {} <= {max}", r.estimated_cost));
    }
    Ok(if why.is_empty() {
        "matches everything".into()
    } else {
        why.join(", ")
    })
}

/// Whether `rule` matches `r`: the allocation-free check `decide` runs on every rule
/// (`rule_matches` explains the winner).
fn rule_applies(rule: &Rule, r: &ApprovalRequest) -> bool {
    let w = &rule.when;
    let field = |wanted: &[String], got: Option<&str>| {
        wanted.is_empty() || got.is_some_and(|g| wanted.iter().any(|x| x == g))
    };
    field(&w.agent, Some(&r.agent))
        && field(&w.action, Some(&r.action))
        && field(&w.environment, r.environment.as_deref())
        && field(&w.channel, r.channel.as_deref())
        && field(&w.risk, r.risk.as_deref())
        && (w.tags.is_empty() || r.tags.iter().any(|t| w.tags.contains(t)))
        && w.cost_at_least.is_none_or(|min| r.estimated_cost >= min)
        && w.cost_at_most.is_none_or(|max| r.estimated_cost <= max)
}

/// Every rule, whether it matched the request and why.
pub fn explain(request: &ApprovalRequest, policy: &Policy) -> Vec<RuleTrace> {
    policy
        .rules
        .iter()
        .map(|rule| {
            let (matched, why) = match rule_matches(rule, request) {
                Ok(w) => (true, w),
                Err(w) => (false, w),
            };
            RuleTrace {
                rule: rule.name.clone(),
                line: rule.line,
                effect: rule.effect,
                matched,
                why,
            }
        })
        .collect()
}

/// Checks `cost` against every budget the request falls under. Ok: the reservations to
/// make and the tightest remaining budget; Err: the first budget it would overrun.
pub fn budget_check(
    request: &ApprovalRequest,
    policy: &Policy,
    ledger: &LedgerSnapshot,
    now_ms: i64,
) -> Result<(LedgerChange, Option<BudgetStatus>), BudgetStatus> {
    let (day, month) = (day_key(now_ms), month_key(now_ms));
    let mut scopes: Vec<(String, &crate::policy::Limits)> =
        vec![("global".into(), &policy.budget.global)];
    if let Some(l) = policy.budget.agents.get(&request.agent) {
        scopes.push((format!("agent:{}", request.agent), l));
    }
    if let Some(c) = &request.channel
        && let Some(l) = policy.budget.channels.get(c)
    {
        scopes.push((format!("channel:{c}"), l));
    }
    let mut change = LedgerChange::default();
    let mut tightest: Option<BudgetStatus> = None;
    for (scope, limits) in scopes {
        for (label, period, limit) in [
            ("daily", &day, limits.daily),
            ("monthly", &month, limits.monthly),
        ] {
            let Some(limit) = limit else { continue };
            let key = ledger_key(&scope, period);
            let used = ledger.used.get(&key).copied().unwrap_or(Micros::ZERO);
            let after = used.saturating_add(request.estimated_cost);
            let name = format!("{scope} {label}");
            if after > limit {
                return Err(BudgetStatus {
                    scope: name,
                    remaining: limit.saturating_sub(used).max(Micros::ZERO),
                });
            }
            let remaining = limit.saturating_sub(after);
            if tightest.as_ref().is_none_or(|t| remaining < t.remaining) {
                tightest = Some(BudgetStatus {
                    scope: name,
                    remaining,
                });
            }
            change.reserve.push((key, request.estimated_cost));
        }
    }
    Ok((change, tightest))
}

/// Decides a request. Halt first, then rules (deny > ask > approve; no match -> the
/// default effect), then budgets: an approval or ask that would push any budget past
/// its limit is denied with reason `budget`. Approvals reserve their estimated cost.
pub fn decide(
    request: &ApprovalRequest,
    ledger: &LedgerSnapshot,
    halt: &HaltState,
    policy: &Policy,
    now_ms: i64,
) -> Decision {
    let denied = |code: &'static str,
                  reason: String,
                  rule: Option<String>,
                  budget: Option<BudgetStatus>| Decision {
        outcome: Outcome::Denied,
        reason_code: code,
        reason,
        rule,
        budget,
        expires_at_ms: None,
        change: LedgerChange::default(),
    };
    if halt.all {
        return denied("halted", "all agents are halted".into(), None, None);
    }
    if halt.agents.contains(&request.agent) {
        return denied(
            "halted",
            format!("agent {} is halted", request.agent),
            None,
            None,
        );
    }
    if halt.tasks.contains(&request.task_id) {
        return denied(
            "halted",
            format!("task {} is halted", request.task_id),
            None,
            None,
        );
    }

    let mut winner: Option<&Rule> = None;
    for rule in &policy.rules {
        if winner.is_none_or(|w| rule.effect > w.effect) && rule_applies(rule, request) {
            winner = Some(rule);
            if rule.effect == Effect::Deny {
                break; // nothing outranks a deny
            }
        }
    }
    let winner = winner.map(|r| (r, rule_matches(r, request).unwrap_or_default()));
    let (effect, code, rule, why, expires) = match &winner {
        Some((r, why)) => (
            r.effect,
            "rule",
            Some(r.name.clone()),
            format!("rule {:?}: {why}", r.name),
            r.expires_in_secs,
        ),
        None => (
            policy.default_effect,
            "default",
            None,
            format!(
                "no rule matches action {:?}; the default is to {}",
                request.action,
                effect_verb(policy.default_effect)
            ),
            policy.default_expires_in_secs,
        ),
    };
    if effect == Effect::Deny {
        return denied(code, why, rule, None);
    }
    match budget_check(request, policy, ledger, now_ms) {
        Err(b) => denied(
            "budget",
            format!(
                "{} would exceed the {} budget ({} left)",
                request.estimated_cost, b.scope, b.remaining
            ),
            rule,
            Some(b),
        ),
        Ok((change, budget)) => match effect {
            Effect::Approve => Decision {
                outcome: Outcome::Approved,
                reason_code: code,
                reason: why,
                rule,
                budget,
                expires_at_ms: None,
                change,
            },
            _ => Decision {
                outcome: Outcome::Pending,
                reason_code: code,
                reason: why,
                rule,
                budget,
                expires_at_ms: Some(
                    now_ms.saturating_add(
                        i64::try_from(expires)
                            .unwrap_or(i64::MAX)
                            .saturating_mul(1000),
                    ),
                ),
                change: LedgerChange::default(),
            },
        },
    }
}

fn effect_verb(e: Effect) -> &'static str {
    match e {
        Effect::Approve => "approve",
        Effect::Ask => "ask a human",
        Effect::Deny => "deny",
    }
}
