//! Which of a policy's rules hold of a request, and why or why not: what the decision
//! picks from, and what `policy explain` shows.

use super::{ApprovalRequest, RuleTrace};
use crate::policy::{Policy, Rule};

/// Why a rule's condition does not hold of a request (a verdict, not a failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unmatched(String);

fn field_matches(name: &str, wanted: &[String], got: Option<&str>) -> Result<String, Unmatched> {
    if wanted.is_empty() {
        return Ok(String::new());
    }
    match got {
        Some(v) if wanted.iter().any(|w| w == v) => Ok(format!("{name} is {v}")),
        Some(v) => Err(Unmatched(format!("{name} {v} is not one of {wanted:?}"))),
        None => Err(Unmatched(format!(
            "no {name} given (rule wants {wanted:?})"
        ))),
    }
}

/// Why `rule` matches `r` (what it matched on), or why not.
pub(super) fn rule_matches(rule: &Rule, r: &ApprovalRequest) -> Result<String, Unmatched> {
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
            None => return Err(Unmatched(format!("none of the tags {:?}", w.tags))),
        }
    }
    if let Some(min) = w.cost_at_least {
        if r.estimated_cost < min {
            return Err(Unmatched(format!(
                "cost {} is under {min}",
                r.estimated_cost
            )));
        }
        why.push(format!("cost {} >= {min}", r.estimated_cost));
    }
    if let Some(max) = w.cost_at_most {
        if r.estimated_cost > max {
            return Err(Unmatched(format!(
                "cost {} is over {max}",
                r.estimated_cost
            )));
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
pub(super) fn rule_applies(rule: &Rule, r: &ApprovalRequest) -> bool {
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
                Err(Unmatched(w)) => (false, w),
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
