//! The decision: `decide(request, ledger, halt, policy, now)` -> outcome + ledger change.

use serde::{Deserialize, Serialize};

use crate::budget::{BudgetCheck, BudgetStatus, LedgerChange, LedgerSnapshot, budget_check};
use crate::halt::{HaltState, Work};
use crate::money::Micros;
use crate::policy::{Policy, Rule};

mod rules;

pub use rules::explain;
use rules::{rule_applies, rule_matches};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Approved,
    Denied,
    Pending,
}

impl Outcome {
    /// The API's and the stores' name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Denied => "denied",
            Outcome::Pending => "pending",
        }
    }
}

/// Why a decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ReasonCode {
    /// A rule of the policy.
    Rule,
    /// No rule matched: the policy's default.
    Default,
    /// A budget would be overrun.
    Budget,
    /// A halt covers the task.
    Halted,
    /// A human's answer.
    Human,
    /// A human's grant, given earlier ([`crate::grant`]).
    Grant,
    /// A human approved a task past a budget's limit (`on_exhausted = "ask"`).
    Overrun,
}

impl ReasonCode {
    /// The API's and the stores' name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Rule => "rule",
            ReasonCode::Default => "default",
            ReasonCode::Budget => "budget",
            ReasonCode::Halted => "halted",
            ReasonCode::Human => "human",
            ReasonCode::Grant => "grant",
            ReasonCode::Overrun => "overrun",
        }
    }

    pub fn parse(s: &str) -> Option<ReasonCode> {
        [
            ReasonCode::Rule,
            ReasonCode::Default,
            ReasonCode::Budget,
            ReasonCode::Halted,
            ReasonCode::Human,
            ReasonCode::Grant,
            ReasonCode::Overrun,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason_code: ReasonCode,
    /// Human-readable reason.
    pub reason: String,
    /// The rule that decided, if one did.
    pub rule: Option<String>,
    pub budget: Option<BudgetStatus>,
    /// For `Pending`: when the ask expires (counts as denied after).
    pub expires_at_ms: Option<i64>,
    /// For `Pending` under a rule with `escalate`: when, unanswered, it goes to whom.
    pub escalate: Option<EscalateAt>,
    pub change: LedgerChange,
}

/// When a pending ask escalates, and to which approver group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalateAt {
    pub at_ms: i64,
    pub to: String,
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

/// Why `halt` stops `request`, if it does.
pub fn halt_reason(request: &ApprovalRequest, halt: &HaltState) -> Option<String> {
    halt.reason(&Work {
        agent: Some(&request.agent),
        channel: request.channel.as_deref(),
        task: Some(&request.task_id),
    })
}

/// What the rules say before budgets are looked at: approve or ask (deny and halts
/// are final: [`Ruling::Decided`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `Approve` or `Ask`.
    pub effect: Effect,
    pub reason_code: ReasonCode,
    pub reason: String,
    pub rule: Option<String>,
    pub expires_in_secs: u64,
    /// The rule's escalation, if its ask has one.
    pub escalation: Option<crate::Escalation>,
    /// The scopes whose exhaustion asks a human instead of denying (`on_exhausted =
    /// "ask"`, the budget's or their own): `global`, `agent:NAME`, `channel:NAME`.
    pub ask_when_exhausted: Vec<String>,
}

impl Verdict {
    /// Approvals reserve their cost; asks only check that it would fit.
    pub fn reserves(&self) -> bool {
        self.effect == Effect::Approve
    }
}

fn denied(
    code: ReasonCode,
    reason: String,
    rule: Option<String>,
    budget: Option<BudgetStatus>,
) -> Decision {
    Decision {
        outcome: Outcome::Denied,
        reason_code: code,
        reason,
        rule,
        budget,
        expires_at_ms: None,
        escalate: None,
        change: LedgerChange::default(),
    }
}

/// A denial because of a halt.
pub fn halted(reason: String) -> Decision {
    denied(ReasonCode::Halted, reason, None, None)
}

/// What [`verdict`] concludes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ruling {
    /// Final: halted, or denied by a rule.
    Decided(Decision),
    /// Approve or ask, once the budgets are checked ([`conclude`]).
    NeedsBudget(Verdict),
}

/// Halt first, then rules: deny > ask > approve; no match -> the default effect.
/// That is [`apply_halts`] over [`rule_verdict`].
pub fn verdict(request: &ApprovalRequest, halt: &HaltState, policy: &Policy) -> Ruling {
    apply_halts(request, rule_verdict(request, policy), halt)
}

/// The final ruling once the halts are known: a halt outranks every rule, so a halted
/// request is denied with reason `halted` (and the halt's why) whatever the rules said,
/// a rule's denial included; otherwise the rules' ruling stands. For callers that ask
/// the rules first and read the halts only when they must (the edge keeps its halts
/// with the budget ledger, which checks them in the same step as a reservation).
pub fn apply_halts(request: &ApprovalRequest, ruling: Ruling, halt: &HaltState) -> Ruling {
    match halt_reason(request, halt) {
        Some(why) => Ruling::Decided(halted(why)),
        None => ruling,
    }
}

/// What the rules alone say, halts not considered: deny > ask > approve; no match ->
/// the default effect. A denial is [`Ruling::Decided`]; see [`apply_halts`].
pub fn rule_verdict(request: &ApprovalRequest, policy: &Policy) -> Ruling {
    let mut winner: Option<&Rule> = None;
    for rule in &policy.rules {
        if winner.is_none_or(|w| rule.effect > w.effect) && rule_applies(rule, request) {
            winner = Some(rule);
            if rule.effect == Effect::Deny {
                break; // nothing outranks a deny
            }
        }
    }
    let v = match winner {
        Some(r) => Verdict {
            effect: r.effect,
            reason_code: ReasonCode::Rule,
            rule: Some(r.name.clone()),
            reason: format!(
                "rule {:?}: {}",
                r.name,
                rule_matches(r, request).unwrap_or_default()
            ),
            expires_in_secs: r.expires_in_secs,
            escalation: r.escalation.clone(),
            ask_when_exhausted: asks_when_exhausted(request, policy),
        },
        None => Verdict {
            effect: policy.default_effect,
            reason_code: ReasonCode::Default,
            rule: None,
            reason: format!(
                "no rule matches action {:?}; the default is to {}",
                request.action,
                effect_verb(policy.default_effect)
            ),
            expires_in_secs: policy.default_expires_in_secs,
            escalation: None,
            ask_when_exhausted: asks_when_exhausted(request, policy),
        },
    };
    if v.effect == Effect::Deny {
        return Ruling::Decided(denied(v.reason_code, v.reason, v.rule, None));
    }
    Ruling::NeedsBudget(v)
}

/// When an ask made now for `secs` expires.
fn expiry(now_ms: i64, secs: u64) -> i64 {
    now_ms.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000))
}

/// The budget scopes `r` falls under whose exhaustion asks a human.
fn asks_when_exhausted(r: &ApprovalRequest, policy: &Policy) -> Vec<String> {
    crate::budget_scopes(r, policy)
        .into_iter()
        .filter(|(_, l)| policy.budget.exhausted_of(l) == crate::Exhausted::Ask)
        .map(|(scope, _)| scope)
        .collect()
}

impl Verdict {
    /// Whether exhausting budget `scope` (as a check names it: `agent:codegen daily`)
    /// asks a human.
    fn asks_when(&self, scope: &str) -> bool {
        // Names may hold spaces: the period is the last word.
        let name = scope.rsplit_once(' ').map_or(scope, |(n, _)| n);
        self.ask_when_exhausted.iter().any(|s| s == name)
    }

    /// When an ask made now under this verdict escalates, if its rule says.
    fn escalate(&self, now_ms: i64) -> Option<EscalateAt> {
        self.escalation.as_ref().map(|e| EscalateAt {
            at_ms: expiry(now_ms, e.after_secs),
            to: e.to.clone(),
        })
    }
}

/// The decision once budgets are checked: an approval or ask that would push any
/// budget past its limit is denied with reason `budget` (or, with `on_exhausted =
/// "ask"`, asked of a human with reason `budget`); approvals reserve.
pub fn conclude(
    request: &ApprovalRequest,
    v: Verdict,
    budget: BudgetCheck,
    now_ms: i64,
) -> Decision {
    let escalate = v.escalate(now_ms);
    match budget {
        Err(b) if v.asks_when(&b.scope) => Decision {
            outcome: Outcome::Pending,
            reason_code: ReasonCode::Budget,
            reason: format!(
                "{} would exceed the {} budget ({}): a human may approve it as an overrun",
                request.estimated_cost,
                b.scope,
                b.remaining.left()
            ),
            rule: v.rule,
            budget: Some(b),
            expires_at_ms: Some(expiry(now_ms, v.expires_in_secs)),
            escalate,
            change: LedgerChange::default(),
        },
        Err(b) => denied(
            ReasonCode::Budget,
            format!(
                "{} would exceed the {} budget ({})",
                request.estimated_cost,
                b.scope,
                b.remaining.left()
            ),
            v.rule,
            Some(b),
        ),
        Ok((change, budget)) => {
            let approve = v.reserves();
            Decision {
                outcome: if approve {
                    Outcome::Approved
                } else {
                    Outcome::Pending
                },
                reason_code: v.reason_code,
                reason: v.reason,
                rule: v.rule,
                budget,
                expires_at_ms: (!approve).then(|| expiry(now_ms, v.expires_in_secs)),
                escalate: if approve { None } else { escalate },
                change: if approve {
                    change
                } else {
                    LedgerChange::default()
                },
            }
        }
    }
}

/// What a human answered to a pending approval.
pub enum Answer {
    /// Approve, with the budgets checked (and, when they fit, reserved) as they are now.
    Approve(BudgetCheck),
    /// Approve a task asked about because it would pass a limit, with the budgets
    /// checked (and reserved) with every limit raised by the policy's overrun.
    Overrun(BudgetCheck),
    /// Approve, while a halt covers the request ([`halt_reason`]'s why): a halt denies
    /// first, a human's approval included.
    Halted(String),
    Deny,
}

/// The decision a human's answer makes: approving takes the reservation, unless a halt
/// covers the request (denied, reason `halted`) or a budget would be overrun (denied,
/// reason `budget`).
pub fn human_decision(request: &ApprovalRequest, by: &str, answer: Answer) -> Decision {
    let (outcome, reason_code, reason, budget, change) = match answer {
        Answer::Approve(Ok((change, budget))) => (
            Outcome::Approved,
            ReasonCode::Human,
            format!("approved by {by}"),
            budget,
            change,
        ),
        Answer::Overrun(Ok((change, budget))) => (
            Outcome::Approved,
            ReasonCode::Overrun,
            format!(
                "approved by {by} as an overrun{}",
                budget
                    .as_ref()
                    .map(|b| format!(" of the {} budget", b.scope))
                    .unwrap_or_default()
            ),
            budget,
            change,
        ),
        Answer::Approve(Err(b)) | Answer::Overrun(Err(b)) => (
            Outcome::Denied,
            ReasonCode::Budget,
            format!(
                "approved by {by}, but {} would exceed the {} budget ({})",
                request.estimated_cost,
                b.scope,
                b.remaining.left()
            ),
            Some(b),
            LedgerChange::default(),
        ),
        Answer::Halted(why) => (
            Outcome::Denied,
            ReasonCode::Halted,
            format!("approved by {by}, but {why}"),
            None,
            LedgerChange::default(),
        ),
        Answer::Deny => (
            Outcome::Denied,
            ReasonCode::Human,
            format!("denied by {by}"),
            None,
            LedgerChange::default(),
        ),
    };
    Decision {
        outcome,
        reason_code,
        reason,
        rule: None,
        budget,
        expires_at_ms: None,
        escalate: None,
        change,
    }
}

/// Decides a request: [`verdict`], then [`budget_check`], then [`conclude`].
pub fn decide(
    request: &ApprovalRequest,
    ledger: &LedgerSnapshot,
    halt: &HaltState,
    policy: &Policy,
    now_ms: i64,
) -> Decision {
    match verdict(request, halt, policy) {
        Ruling::Decided(d) => d,
        Ruling::NeedsBudget(v) => {
            let budget = budget_check(request, policy, ledger, now_ms);
            conclude(request, v, budget, now_ms)
        }
    }
}

fn effect_verb(e: Effect) -> &'static str {
    match e {
        Effect::Approve => "approve",
        Effect::Ask => "ask a human",
        Effect::Deny => "deny",
    }
}
