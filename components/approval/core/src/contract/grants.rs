//! The grant bodies (`POST /api/grants`, the `grant` of a human decision) and the
//! batch decision (`POST /api/approvals/decide`).

use serde::Deserialize;

use super::*;
use crate::{ApprovalRequest, Micros};

/// Shortest and longest grant, in seconds: a minute to a year.
pub const GRANT_SECS: std::ops::RangeInclusive<u64> = 60..=365 * 86_400;
/// A grant's length when none is given: an hour.
pub const DEFAULT_GRANT_SECS: u64 = 3_600;
/// Most approvals one batch decides.
pub const MAX_BATCH: usize = 500;

/// `POST /api/grants`: approve the agent's action in the environment (and, when given,
/// the channel) without asking, for `durationSecs`, within the cost limits.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GrantBody {
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::Name"))]
    pub agent: String,
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::Name"))]
    pub action: String,
    /// The environment covered; absent: requests that name none.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::Name>"))]
    pub environment: Option<String>,
    /// Only this channel; absent: any.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::Name>"))]
    pub channel: Option<String>,
    /// Seconds, 60 to 31,536,000 (a year); default 3,600.
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<crate::schema::GrantSecs>")
    )]
    pub duration_secs: Option<f64>,
    /// The most one task may be estimated at.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::Amount>"))]
    pub max_task_cost_usd: Option<f64>,
    /// The most the grant approves in all.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::Amount>"))]
    pub total_cost_usd: Option<f64>,
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::ShortId"))]
    pub by: String,
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::Text>"))]
    pub reason: Option<String>,
}

/// How long a grant lasts and what it may approve.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GrantTerms {
    /// Seconds, 60 to 31,536,000 (a year); default 3,600.
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<crate::schema::GrantSecs>")
    )]
    pub duration_secs: Option<f64>,
    /// The most one task may be estimated at.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::Amount>"))]
    pub max_task_cost_usd: Option<f64>,
    /// The most the grant approves in all.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::Amount>"))]
    pub total_cost_usd: Option<f64>,
}

/// A grant to store, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    pub agent: String,
    pub action: String,
    pub environment: Option<String>,
    pub channel: Option<String>,
    pub duration_secs: u64,
    pub max_task_cost: Option<Micros>,
    pub total: Option<Micros>,
    pub by: String,
    pub reason: Option<String>,
    /// The approval it was granted from (a card's "approve for 1 hour").
    pub from_approval: Option<String>,
}

impl GrantTerms {
    fn checked(&self) -> Result<(u64, Option<Micros>, Option<Micros>), Invalid> {
        let secs = super::bodies::seconds(
            "durationSecs",
            self.duration_secs,
            DEFAULT_GRANT_SECS,
            GRANT_SECS,
        )?;
        let usd = |what: &str, v: Option<f64>| {
            v.map(|v| Micros::from_usd(v).map_err(|e| Invalid(format!("{what}: {e}"))))
                .transpose()
        };
        Ok((
            secs,
            usd("maxTaskCostUsd", self.max_task_cost_usd)?,
            usd("totalCostUsd", self.total_cost_usd)?,
        ))
    }

    /// A grant of these terms for the kind of task `r` is: its agent, action and
    /// environment, any channel.
    pub fn for_request(
        &self,
        r: &ApprovalRequest,
        by: &str,
        reason: Option<&str>,
        from_approval: &str,
    ) -> Result<NewGrant, Invalid> {
        let (duration_secs, max_task_cost, total) = self.checked()?;
        Ok(NewGrant {
            agent: r.agent.clone(),
            action: r.action.clone(),
            environment: r.environment.clone(),
            channel: None,
            duration_secs,
            max_task_cost,
            total,
            by: by.trim().to_owned(),
            reason: reason.map(str::to_owned),
            from_approval: Some(from_approval.to_owned()),
        })
    }
}

fn who(by: &str) -> Result<String, Invalid> {
    super::bodies::verdict("approve", by, None).map(|(_, by)| by)
}

impl GrantBody {
    /// The grant to store, or what is wrong with the body. Names are canonical as
    /// in every request, so a grant covers exactly what a rule would.
    pub fn checked(&self) -> Result<NewGrant, Invalid> {
        let terms = GrantTerms {
            duration_secs: self.duration_secs,
            max_task_cost_usd: self.max_task_cost_usd,
            total_cost_usd: self.total_cost_usd,
        };
        let (duration_secs, max_task_cost, total) = terms.checked()?;
        let opt = |what: &str, v: &Option<String>| {
            v.as_deref().map(|v| canonical_name(what, v)).transpose()
        };
        if let Some(r) = &self.reason {
            bounded_text("reason", r)?;
        }
        Ok(NewGrant {
            agent: canonical_name("agent", &self.agent)?,
            action: canonical_name("action", &self.action)?,
            environment: opt("environment", &self.environment)?,
            channel: opt("channel", &self.channel)?,
            duration_secs,
            max_task_cost,
            total,
            by: who(&self.by)?,
            reason: self.reason.clone(),
            from_approval: None,
        })
    }
}

/// `POST /api/approvals/decide`: decide many pending approvals at once, named by
/// `ids` or by a filter (`agent`, `action`, `channel`: every pending approval that
/// matches all the given ones). Its schema is written out in `crate::schema` (ids or a
/// filter, not both).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchDecisionBody {
    pub decision: String,
    pub by: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// Approval ids (1 to 500); or a filter below.
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
}

/// Which pending approvals a batch decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    Ids(Vec<String>),
    /// Every pending approval of this agent, action and channel (`None`: any).
    Filter {
        agent: Option<String>,
        action: Option<String>,
        channel: Option<String>,
    },
}

/// A batch decision, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchDecision {
    pub approve: bool,
    pub by: String,
    pub comment: Option<String>,
    pub which: Batch,
}

impl Batch {
    /// Whether a pending request falls under the filter (ids are looked up instead).
    pub fn matches(&self, r: &ApprovalRequest) -> bool {
        match self {
            Batch::Ids(_) => false,
            Batch::Filter {
                agent,
                action,
                channel,
            } => {
                agent.as_ref().is_none_or(|a| *a == r.agent)
                    && action.as_ref().is_none_or(|a| *a == r.action)
                    && channel
                        .as_ref()
                        .is_none_or(|c| r.channel.as_ref() == Some(c))
            }
        }
    }
}

impl BatchDecisionBody {
    pub fn checked(&self) -> Result<BatchDecision, Invalid> {
        let (approve, by) =
            super::bodies::verdict(&self.decision, &self.by, self.comment.as_deref())?;
        let opt = |what: &str, v: &Option<String>| {
            v.as_deref().map(|v| canonical_name(what, v)).transpose()
        };
        let filter = (
            opt("agent", &self.agent)?,
            opt("action", &self.action)?,
            opt("channel", &self.channel)?,
        );
        let which = match (&self.ids, filter) {
            (Some(_), (Some(_), _, _) | (_, Some(_), _) | (_, _, Some(_))) => {
                return Err("give ids or a filter (agent, action, channel), not both".into());
            }
            (Some(ids), _) => {
                if ids.is_empty() || ids.len() > MAX_BATCH {
                    return Err(Invalid(format!(
                        "ids must hold 1 to {MAX_BATCH} approval ids"
                    )));
                }
                if ids.iter().any(|i| !is_short_name(i.trim())) {
                    return Err("every id must be an approval id".into());
                }
                let mut seen = std::collections::BTreeSet::new();
                let ids: Vec<String> = ids
                    .iter()
                    .map(|i| i.trim().to_owned())
                    .filter(|i| seen.insert(i.clone()))
                    .collect();
                Batch::Ids(ids)
            }
            (None, (None, None, None)) => {
                return Err("give ids or a filter (agent, action, channel)".into());
            }
            (None, (agent, action, channel)) => Batch::Filter {
                agent,
                action,
                channel,
            },
        };
        Ok(BatchDecision {
            approve,
            by,
            comment: self.comment.clone(),
            which,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant(body: serde_json::Value) -> Result<NewGrant, Invalid> {
        serde_json::from_value::<GrantBody>(body)
            .map_err(|e| Invalid(e.to_string()))?
            .checked()
    }

    #[test]
    fn grant_bodies_are_checked() {
        let g = grant(json!({"agent": " CodeGen ", "action": "deploy", "environment": "Staging", "by": "alice"})).unwrap();
        assert_eq!(
            (g.agent.as_str(), g.environment.as_deref()),
            ("codegen", Some("staging"))
        );
        assert_eq!((g.duration_secs, g.channel, g.total), (3600, None, None));
        let g = grant(json!({"agent": "a", "action": "b", "by": "x", "durationSecs": 60, "maxTaskCostUsd": 2.5, "totalCostUsd": 10})).unwrap();
        assert_eq!(
            (g.max_task_cost, g.total),
            (Some(Micros(2_500_000)), Some(Micros(10_000_000)))
        );
        for bad in [
            json!({"agent": "a", "action": "b", "by": "x", "durationSecs": 59}),
            json!({"agent": "a", "action": "b", "by": "x", "durationSecs": 31_536_001}),
            json!({"agent": "a", "action": "b", "by": "x", "maxTaskCostUsd": -1}),
            json!({"agent": "", "action": "b", "by": "x"}),
            json!({"agent": "a", "action": "b", "by": " "}),
            json!({"agent": "a", "action": "b"}),
            json!({"agent": "a", "action": "b", "by": "x", "forever": true}),
        ] {
            assert!(grant(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn batches_name_ids_or_a_filter() {
        let batch = |body: serde_json::Value| {
            serde_json::from_value::<BatchDecisionBody>(body)
                .map_err(|e| Invalid(e.to_string()))?
                .checked()
        };
        let b =
            batch(json!({"decision": "approve", "by": "a", "ids": ["apr_1", " apr_2", "apr_1"]}))
                .unwrap();
        assert_eq!(b.which, Batch::Ids(vec!["apr_1".into(), "apr_2".into()]));
        let b = batch(json!({"decision": "deny", "by": "a", "agent": "CodeGen"})).unwrap();
        assert!(!b.approve);
        let mut r = crate::ApprovalRequest {
            task_id: "t".into(),
            agent: "codegen".into(),
            action: "deploy".into(),
            description: String::new(),
            estimated_cost: Micros::ZERO,
            channel: None,
            environment: None,
            risk: None,
            tags: vec![],
        };
        assert!(b.which.matches(&r));
        r.agent = "research".into();
        assert!(!b.which.matches(&r));
        for bad in [
            json!({"decision": "approve", "by": "a"}),
            json!({"decision": "approve", "by": "a", "ids": []}),
            json!({"decision": "approve", "by": "a", "ids": ["x"], "agent": "y"}),
            json!({"decision": "maybe", "by": "a", "ids": ["x"]}),
            json!({"decision": "approve", "by": "a", "ids": vec!["x"; 501]}),
        ] {
            assert!(batch(bad.clone()).is_err(), "{bad}");
        }
    }
}
