//! Agency's approval policy. The agency gateway asks "may this task run?"; this crate
//! answers approve, deny or ask-a-human from a policy file, the budget ledger and the
//! halt switch, and says how the ledger changes. Rule precedence: **deny wins over ask,
//! ask over approve**; when no rule matches, the policy's default effect applies (ask,
//! unless the policy says otherwise).
//!
//! Pure logic: state comes in as plain data and changes go out as plain data; storage
//! and clocks belong to the caller. Money is integer micro-dollars throughout.

mod budget;
pub mod chat;
pub mod contract;
pub mod decide;
pub mod grant;
pub mod halt;
mod money;
mod policy;
#[cfg(feature = "schema")]
pub mod schema;
#[cfg(test)]
mod tests;
mod time;

pub use budget::{
    BudgetCheck, BudgetStatus, LedgerChange, LedgerSnapshot, budget_check, budget_scopes,
    check_scope, join_checks, ledger_key,
};
pub use decide::{
    Answer, ApprovalRequest, Decision, Effect, EscalateAt, Outcome, ReasonCode, RuleTrace, Ruling,
    Verdict, apply_halts, conclude, decide, explain, halt_reason, halted, human_decision,
    rule_verdict, verdict,
};
pub use grant::Grant;
pub use halt::{
    GraphNames, Halt, HaltScope, HaltState, HaltTarget, HaltView, HaltsInForce, Held, HeldWork,
    Work, covering, held_under, unknown_to_graph,
};
pub use money::{LedgerFull, MAX_AMOUNT_USD, Micros, MoneyError};
pub use policy::{
    Budget, DEFAULT_ALERTS, Escalation, Exhausted, Limits, Policy, PolicyError, Rule, When,
};
pub use time::{civil, day_key, duration_secs, month_key, parse_instant, rfc3339};
