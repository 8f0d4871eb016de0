//! Grants: a human's "approve this kind of task without asking me until then". A grant
//! names an agent, an action and an environment (and optionally a channel), lasts until
//! it expires or is revoked, and may cap the cost of each task and the total it
//! approves.
//!
//! Where a grant sits: it only ever turns an **ask** into an approval. Deny rules and
//! halts decide before it (a denied or halted request is never pending), and budgets
//! still apply (the approval reserves like a human's, through the same budget check).

use crate::budget::BudgetCheck;
use crate::decide::{ApprovalRequest, Decision, Outcome, ReasonCode};
use crate::money::Micros;
use crate::time::rfc3339;

/// A grant as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub agent: String,
    pub action: String,
    /// The environment it covers: `None` covers requests that name none.
    pub environment: Option<String>,
    /// `None`: any channel.
    pub channel: Option<String>,
    /// The most one task may cost (estimated) to be approved by the grant.
    pub max_task_cost: Option<Micros>,
    /// The most the grant approves in all (the sum of its tasks' estimates).
    pub total: Option<Micros>,
    /// What it has approved so far.
    pub used: Micros,
    pub expires_at_ms: i64,
    pub revoked: bool,
    /// Who granted it.
    pub by: String,
}

/// Why a grant does not cover a request (a verdict, shown by `policy explain`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Miss {
    #[error("{0}")]
    Scope(String),
    #[error("revoked")]
    Revoked,
    #[error("expired at {}", rfc3339(*.0))]
    Expired(i64),
    #[error("the task's estimate {cost} is over the grant's {max} per task")]
    TaskCost { cost: Micros, max: Micros },
    #[error("{cost} more would pass the grant's total {total} ({used} used)")]
    Total {
        cost: Micros,
        used: Micros,
        total: Micros,
    },
}

impl Grant {
    /// Whether the grant covers `r` at `now_ms`, or why not: the same agent, action and
    /// environment (and channel, when it names one), in force, within its cost limits.
    pub fn covers(&self, r: &ApprovalRequest, now_ms: i64) -> Result<(), Miss> {
        let scope = |what: &str, want: Option<&str>, got: Option<&str>| match (want, got) {
            (Some(w), Some(g)) if w == g => Ok(()),
            (None, None) => Ok(()),
            (w, g) => Err(Miss::Scope(format!(
                "{what} {} is not the grant's {}",
                g.unwrap_or("(none)"),
                w.unwrap_or("(none)")
            ))),
        };
        scope("agent", Some(&self.agent), Some(&r.agent))?;
        scope("action", Some(&self.action), Some(&r.action))?;
        scope(
            "environment",
            self.environment.as_deref(),
            r.environment.as_deref(),
        )?;
        if self.channel.is_some() {
            scope("channel", self.channel.as_deref(), r.channel.as_deref())?;
        }
        if self.revoked {
            return Err(Miss::Revoked);
        }
        if now_ms >= self.expires_at_ms {
            return Err(Miss::Expired(self.expires_at_ms));
        }
        let cost = r.estimated_cost;
        if let Some(max) = self.max_task_cost
            && cost > max
        {
            return Err(Miss::TaskCost { cost, max });
        }
        if let Some(total) = self.total
            && self.used.0.saturating_add(cost.0) > total.0
        {
            return Err(Miss::Total {
                cost,
                used: self.used,
                total,
            });
        }
        Ok(())
    }
}

/// The grants that cover `r`, in the order to try them: the narrowest first (one that
/// names a channel before one for any channel, so a broad grant is kept for what only
/// it covers), then the one expiring first, then by id.
pub fn covering<'a>(grants: &'a [Grant], r: &ApprovalRequest, now_ms: i64) -> Vec<&'a Grant> {
    let mut found: Vec<&Grant> = grants
        .iter()
        .filter(|g| g.covers(r, now_ms).is_ok())
        .collect();
    found.sort_by(|a, b| {
        (a.channel.is_none(), a.expires_at_ms, &a.id).cmp(&(
            b.channel.is_none(),
            b.expires_at_ms,
            &b.id,
        ))
    });
    found
}

/// The decision a grant makes of a pending ask, given the budgets checked (and, when
/// they fit, reserved) for it as a human's approval is: approved with reason `grant`.
/// `None` when a budget no longer fits: the ask stands and a human decides.
pub fn granted(grant: &Grant, check: BudgetCheck) -> Option<Decision> {
    let (change, budget) = check.ok()?;
    Some(Decision {
        outcome: Outcome::Approved,
        reason_code: ReasonCode::Grant,
        reason: format!(
            "approved by grant {} from {}, in force until {}",
            grant.id,
            grant.by,
            rfc3339(grant.expires_at_ms)
        ),
        rule: None,
        budget,
        expires_at_ms: None,
        escalate: None,
        change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HaltScope, HaltState, LedgerSnapshot, Policy, budget_check, decide, halt::Halt};

    const NOW: i64 = 1_795_000_000_000;

    fn grant() -> Grant {
        Grant {
            id: "grt_1".into(),
            agent: "codegen".into(),
            action: "deploy".into(),
            environment: Some("staging".into()),
            channel: None,
            max_task_cost: None,
            total: None,
            used: Micros::ZERO,
            expires_at_ms: NOW + 3_600_000,
            revoked: false,
            by: "alice".into(),
        }
    }

    fn request(cost: f64) -> ApprovalRequest {
        ApprovalRequest {
            task_id: "t1".into(),
            agent: "codegen".into(),
            action: "deploy".into(),
            description: String::new(),
            estimated_cost: Micros::from_usd(cost).unwrap(),
            channel: Some("ops".into()),
            environment: Some("staging".into()),
            risk: None,
            tags: vec!["prod".into()],
        }
    }

    const POLICY: &str = r#"
[budget]
daily_usd = 10.0

[[rule]]
name = "deploys ask"
when = { action = ["deploy"] }
effect = "ask"

[[rule]]
name = "no prod payments"
when = { action = ["payment"] }
effect = "deny"
"#;

    /// The whole path a request takes: the policy's decision, then a grant for an ask.
    fn decide_with(
        r: &ApprovalRequest,
        grants: &[Grant],
        halt: &HaltState,
        spent: f64,
    ) -> (Outcome, ReasonCode) {
        let policy = Policy::parse(POLICY, "policy.toml").unwrap();
        let mut ledger = LedgerSnapshot::default();
        ledger.used.insert(
            crate::ledger_key("global", &crate::day_key(NOW)),
            Micros::from_usd(spent).unwrap(),
        );
        let d = decide(r, &ledger, halt, &policy, NOW);
        if d.outcome != Outcome::Pending {
            return (d.outcome, d.reason_code);
        }
        match covering(grants, r, NOW).first() {
            Some(g) => match granted(g, budget_check(r, &policy, &ledger, NOW)) {
                Some(d) => (d.outcome, d.reason_code),
                None => (Outcome::Pending, d.reason_code),
            },
            None => (d.outcome, d.reason_code),
        }
    }

    #[test]
    fn a_grant_turns_an_ask_into_an_approval_and_nothing_else() {
        let g = [grant()];
        let none = HaltState::default();
        let halted = HaltState::of(&[Halt {
            scope: HaltScope::Agent,
            target: "codegen".into(),
            reason: "incident".into(),
            created_ms: NOW,
        }]);
        let mut payment = request(1.0);
        payment.action = "payment".into();
        let mut g_payment = grant();
        g_payment.action = "payment".into();
        for (name, r, grants, halt, spent, want) in [
            (
                "granted",
                request(1.0),
                &g[..],
                &none,
                0.0,
                (Outcome::Approved, ReasonCode::Grant),
            ),
            (
                "no grant: ask",
                request(1.0),
                &[][..],
                &none,
                0.0,
                (Outcome::Pending, ReasonCode::Rule),
            ),
            (
                "a halt beats a grant",
                request(1.0),
                &g[..],
                &halted,
                0.0,
                (Outcome::Denied, ReasonCode::Halted),
            ),
            (
                "a deny rule beats a grant",
                payment,
                &[g_payment][..],
                &none,
                0.0,
                (Outcome::Denied, ReasonCode::Rule),
            ),
            (
                "budgets still apply",
                request(5.0),
                &g[..],
                &none,
                6.0,
                (Outcome::Denied, ReasonCode::Budget),
            ),
        ] {
            assert_eq!(decide_with(&r, grants, halt, spent), want, "{name}");
        }
    }

    #[test]
    fn what_a_grant_covers() {
        let r = request(2.0);
        let with = |f: &dyn Fn(&mut Grant)| {
            let mut g = grant();
            f(&mut g);
            g.covers(&r, NOW)
        };
        assert_eq!(with(&|_| ()), Ok(()));
        assert_eq!(with(&|g| g.channel = Some("ops".into())), Ok(()));
        assert!(matches!(
            with(&|g| g.channel = Some("eng".into())),
            Err(Miss::Scope(_))
        ));
        assert!(matches!(
            with(&|g| g.agent = "research".into()),
            Err(Miss::Scope(_))
        ));
        assert!(matches!(
            with(&|g| g.action = "read".into()),
            Err(Miss::Scope(_))
        ));
        // An environment is matched exactly: a staging grant does not cover production,
        // nor a request that names none.
        assert!(matches!(
            with(&|g| g.environment = Some("production".into())),
            Err(Miss::Scope(_))
        ));
        assert!(matches!(
            with(&|g| g.environment = None),
            Err(Miss::Scope(_))
        ));
        assert_eq!(with(&|g| g.revoked = true), Err(Miss::Revoked));
        assert_eq!(with(&|g| g.expires_at_ms = NOW), Err(Miss::Expired(NOW)));
        assert_eq!(with(&|g| g.expires_at_ms = NOW + 1), Ok(()));
        // Cost per task: at the limit passes, over it asks.
        assert_eq!(with(&|g| g.max_task_cost = Some(Micros(2_000_000))), Ok(()));
        assert!(matches!(
            with(&|g| g.max_task_cost = Some(Micros(1_999_999))),
            Err(Miss::TaskCost { .. })
        ));
        // The total counts what the grant approved before.
        assert_eq!(
            with(&|g| {
                g.total = Some(Micros(5_000_000));
                g.used = Micros(3_000_000)
            }),
            Ok(())
        );
        let over = with(&|g| {
            g.total = Some(Micros(5_000_000));
            g.used = Micros(3_000_001)
        });
        assert!(matches!(over, Err(Miss::Total { .. })), "{over:?}");
        assert_eq!(
            over.unwrap_err().to_string(),
            "$2.00 more would pass the grant's total $5.00 ($3.00 used)"
        );
    }

    #[test]
    fn the_narrowest_grant_is_used_first() {
        let r = request(1.0);
        let mut any = grant();
        any.id = "grt_any".into();
        any.expires_at_ms = NOW + 60_000;
        let mut ops = grant();
        ops.id = "grt_ops".into();
        ops.channel = Some("ops".into());
        let mut ops_soon = ops.clone();
        ops_soon.id = "grt_ops_soon".into();
        ops_soon.expires_at_ms = NOW + 120_000;
        let mut expired = ops.clone();
        expired.id = "grt_old".into();
        expired.expires_at_ms = NOW - 1;
        let all = [any, ops, expired, ops_soon];
        let order: Vec<&str> = covering(&all, &r, NOW)
            .iter()
            .map(|g| g.id.as_str())
            .collect();
        assert_eq!(order, ["grt_ops_soon", "grt_ops", "grt_any"]);
    }
}
