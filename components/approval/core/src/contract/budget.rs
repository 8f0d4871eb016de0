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
    /// Its alert thresholds, in percent of the limit.
    pub alerts: Vec<u32>,
    /// The thresholds that spending and reservations have reached this period: each is
    /// announced once per period (`budget.threshold`).
    pub crossed: Vec<u32>,
}

/// The thresholds (in percent of `limit`) that `used` has reached. A limit of zero is
/// reached by any use.
pub fn crossed(alerts: &[u32], limit: Micros, used: Micros) -> Vec<u32> {
    alerts
        .iter()
        .copied()
        .filter(|t| used.0 > 0 && i128::from(used.0) * 100 >= i128::from(limit.0) * i128::from(*t))
        .collect()
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
            let alerts = b.alerts_of(limits).to_vec();
            out.push(BudgetLine {
                crossed: crossed(&alerts, limit, spent.saturating_add(reserved)),
                alerts,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each threshold is crossed once spending and reservations reach it, exactly.
    #[test]
    fn thresholds_are_crossed_at_their_share_of_the_limit() {
        let m = |usd: f64| Micros::from_usd(usd).unwrap();
        for (used, want) in [
            (0.0, vec![]),
            (7.99, vec![]),
            (8.0, vec![80]),
            (9.999999, vec![80]),
            (10.0, vec![80, 100]),
            (12.0, vec![80, 100]),
        ] {
            assert_eq!(crossed(&[80, 100], m(10.0), m(used)), want, "{used}");
        }
        assert_eq!(crossed(&[50], m(0.0), m(0.0)), Vec::<u32>::new());
        assert_eq!(crossed(&[50], m(0.0), m(0.01)), vec![50]);
        let policy = Policy::parse(
            "[budget]\ndaily_usd = 10.0\nalerts = [0.5, 0.9]\n[budget.agents.a]\ndaily_usd = 2.0\nalerts = [1.0]\n[budget.agents.b]\ndaily_usd = 2.0\n",
            "p.toml",
        )
        .unwrap();
        let now = 1_795_000_000_000;
        let ledger = [(ledger_key("global", &day_key(now)), m(4.0), m(1.0))];
        let r = budget_report(&policy, &ledger, now);
        let line = |scope: &str| r.budgets.iter().find(|l| l.scope == scope).unwrap();
        assert_eq!(
            (
                line("global").alerts.clone(),
                line("global").crossed.clone()
            ),
            (vec![50, 90], vec![50])
        );
        assert_eq!(line("agent:a").alerts, vec![100]);
        assert_eq!(line("agent:b").alerts, vec![50, 90]);
        for bad in [
            "[budget]\nalerts = [0]\n",
            "[budget]\nalerts = [1.5]\n",
            "[budget]\nalerts = [0.805]\n",
        ] {
            let e = Policy::parse(bad, "p.toml").unwrap_err();
            assert!(e[0].to_string().contains("alerts"), "{bad}: {e:?}");
        }
        assert_eq!(
            Policy::parse("", "p.toml").unwrap().budget.alerts,
            crate::DEFAULT_ALERTS
        );
    }
}
