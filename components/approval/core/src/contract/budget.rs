//! `GET /api/budget`: every budget of the policy in its current period.

use serde::{Deserialize, Serialize};

use crate::{Micros, Policy, day_key, ledger_key, month_key};

/// `GET /api/budget`: every limit of the policy for the periods containing `now`, with
/// what the ledger (key, spent, reserved) holds against it.
/// `GET /api/budget`: every budget of the policy in its current period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BudgetReport {
    pub budgets: Vec<BudgetLine>,
}

/// One budget in its current period, in US dollars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BudgetLine {
    /// `global`, `agent:<id>` or `channel:<id>`.
    pub scope: String,
    pub period: Period,
    /// The day (`2026-11-30`) or month (`2026-11`) it counts.
    pub period_key: String,
    pub limit_usd: f64,
    pub spent_usd: f64,
    pub reserved_usd: f64,
    pub remaining_usd: f64,
}

/// A budget's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Monthly,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Monthly => "monthly",
        }
    }
}

pub fn budget_report(
    policy: &Policy,
    ledger: &[(String, Micros, Micros)],
    now_ms: i64,
) -> BudgetReport {
    let find = |key: &str| {
        ledger
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, s, r)| (*s, *r))
            .unwrap_or((Micros::ZERO, Micros::ZERO))
    };
    let b = &policy.budget;
    let mut scopes: Vec<(String, &crate::Limits)> = vec![("global".into(), &b.global)];
    scopes.extend(b.agents.iter().map(|(id, l)| (format!("agent:{id}"), l)));
    scopes.extend(
        b.channels
            .iter()
            .map(|(id, l)| (format!("channel:{id}"), l)),
    );
    let mut out = Vec::new();
    for (scope, limits) in scopes {
        for (period, key, limit) in [
            (Period::Daily, day_key(now_ms), limits.daily),
            (Period::Monthly, month_key(now_ms), limits.monthly),
        ] {
            let Some(limit) = limit else { continue };
            let (spent, reserved) = find(&ledger_key(&scope, &key));
            out.push(BudgetLine {
                scope: scope.clone(),
                period,
                remaining_usd: limit
                    .saturating_sub(spent)
                    .saturating_sub(reserved)
                    .to_usd(),
                period_key: key,
                limit_usd: limit.to_usd(),
                spent_usd: spent.to_usd(),
                reserved_usd: reserved.to_usd(),
            });
        }
    }
    BudgetReport { budgets: out }
}
