//! What a candidate graph would change: stored decisions replayed under the current
//! graph and under the candidate, compared agent by agent and scored against the
//! feedback operators gave. `POST /api/graph/preview` and `agency skills diff` report
//! this; nothing is written.

use std::sync::Arc;

use serde::Serialize;

use crate::contract::{AuditedDecision, Feedback};
use crate::{Reason, RouterIndex};

/// How many stored decisions a preview replays unless told otherwise.
pub const DEFAULT_REPLAY: u32 = 1000;
/// The most it replays.
pub const MAX_REPLAY: u32 = 5000;
/// How many changed decisions a preview shows.
pub const SAMPLE: usize = 20;

/// One graph's answer to a replayed message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "ReplayAnswer"))]
pub struct Answer {
    /// null: nobody.
    pub agent: Option<Arc<str>>,
    pub confidence: f64,
    pub reason: Reason,
}

/// A decision whose agent the candidate changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChangedDecision {
    pub decision_id: String,
    pub message: String,
    pub channel: Option<String>,
    pub created_at: String,
    /// What the agent stored with the decision was (it may differ from `before` when an
    /// agent was down then, or an older graph decided).
    pub stored_agent: Option<String>,
    /// The operators' word on it, if any.
    pub feedback: Option<Feedback>,
    /// Under the current graph.
    pub before: Answer,
    /// Under the candidate graph.
    pub after: Answer,
}

/// What the candidate changes over the replayed decisions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "ReplayReport"))]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Decisions replayed (the newest stored ones).
    pub replayed: usize,
    /// Decisions whose agent changes (the next three added up).
    pub changed: usize,
    /// One agent before, another after.
    pub reassigned: usize,
    /// An agent before, nobody after.
    pub newly_abstain: usize,
    /// Nobody before, an agent after.
    pub newly_route: usize,
    /// Replayed decisions with feedback: the accuracies are measured on these.
    pub with_feedback: usize,
    /// Share of the decisions with feedback the current graph answers as the feedback
    /// says (null without feedback).
    pub accuracy_before: Option<f64>,
    /// The same under the candidate.
    pub accuracy_after: Option<f64>,
    /// Decisions with feedback wrong before and right after.
    pub fixed: usize,
    /// Decisions with feedback right before and wrong after.
    pub broken: usize,
    /// Up to [`SAMPLE`] changed decisions, those with feedback first, newest first.
    pub sample: Vec<ChangedDecision>,
}

fn answer(index: &RouterIndex, d: &AuditedDecision) -> Answer {
    let r = index.route(&d.request());
    Answer {
        agent: r.agent,
        confidence: r.confidence,
        reason: r.reason,
    }
}

/// Replays `decisions` (newest first) under `current` and `candidate`.
pub fn replay(
    current: &RouterIndex,
    candidate: &RouterIndex,
    decisions: &[AuditedDecision],
    sample: usize,
) -> Report {
    let mut report = Report {
        replayed: decisions.len(),
        changed: 0,
        reassigned: 0,
        newly_abstain: 0,
        newly_route: 0,
        with_feedback: 0,
        accuracy_before: None,
        accuracy_after: None,
        fixed: 0,
        broken: 0,
        sample: Vec::new(),
    };
    let (mut right_before, mut right_after) = (0usize, 0usize);
    let mut changed_plain = Vec::new();
    for d in decisions {
        let before = answer(current, d);
        let after = answer(candidate, d);
        if let Some(f) = &d.feedback {
            report.with_feedback += 1;
            let right = |a: &Answer| a.agent.as_deref() == f.correct_agent.as_deref();
            let (b, a) = (right(&before), right(&after));
            right_before += usize::from(b);
            right_after += usize::from(a);
            report.fixed += usize::from(!b && a);
            report.broken += usize::from(b && !a);
        }
        if before.agent == after.agent {
            continue;
        }
        report.changed += 1;
        match (&before.agent, &after.agent) {
            (Some(_), Some(_)) => report.reassigned += 1,
            (Some(_), None) => report.newly_abstain += 1,
            _ => report.newly_route += 1,
        }
        let changed = ChangedDecision {
            decision_id: d.decision_id.clone(),
            message: d.message.clone(),
            channel: d.channel.clone(),
            created_at: d.created_at.clone(),
            stored_agent: d.agent.clone(),
            feedback: d.feedback.clone(),
            before,
            after,
        };
        if changed.feedback.is_some() {
            if report.sample.len() < sample {
                report.sample.push(changed);
            }
        } else if changed_plain.len() < sample {
            changed_plain.push(changed);
        }
    }
    let room = sample - report.sample.len();
    report.sample.extend(changed_plain.into_iter().take(room));
    if report.with_feedback > 0 {
        let share = |n: usize| round4(n as f64 / report.with_feedback as f64);
        report.accuracy_before = Some(share(right_before));
        report.accuracy_after = Some(share(right_after));
    }
    report
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use agency_skill_graph::SkillGraph;

    fn graph(extra: &str) -> RouterIndex {
        let json = format!(
            r#"{{"threshold": 0.3,
                "agents": [{{"id": "devops", "name": "DevOps"}}, {{"id": "pm", "name": "PM"}}],
                "skills": [
                  {{"id": "deploy", "agent": "devops", "keywords": ["deploy", "rollback"{extra}]}},
                  {{"id": "plan", "agent": "pm", "keywords": ["roadmap", "sprint"]}}
                ]}}"#
        );
        RouterIndex::build(&SkillGraph::from_json(&json).unwrap()).unwrap()
    }

    fn decided(
        id: &str,
        message: &str,
        agent: Option<&str>,
        correct: Option<Option<&str>>,
    ) -> AuditedDecision {
        AuditedDecision::decided(id, message, agent, correct)
    }

    #[test]
    fn changes_are_counted_by_kind_and_scored_on_feedback() {
        let current = graph("");
        // The candidate also sends "incident" to devops.
        let candidate = graph(r#", "incident""#);
        let decisions = [
            decided("d1", "deploy the api", Some("devops"), Some(Some("devops"))),
            decided("d2", "an incident in prod", None, Some(Some("devops"))),
            decided("d3", "another incident", None, None),
            decided("d4", "plan the sprint", Some("pm"), None),
            decided("d5", "what is the weather", None, Some(None)),
        ];
        let r = replay(&current, &candidate, &decisions, 10);
        assert_eq!(r.replayed, 5);
        assert_eq!(
            (r.changed, r.newly_route, r.newly_abstain, r.reassigned),
            (2, 2, 0, 0)
        );
        assert_eq!(r.with_feedback, 3);
        assert_eq!(r.accuracy_before, Some(0.6667));
        assert_eq!(r.accuracy_after, Some(1.0));
        assert_eq!((r.fixed, r.broken), (1, 0));
        // The corrected decision comes first in the sample, with both answers.
        let ids: Vec<&str> = r.sample.iter().map(|c| c.decision_id.as_str()).collect();
        assert_eq!(ids, ["d2", "d3"]);
        assert_eq!(r.sample[0].before.agent, None);
        assert_eq!(r.sample[0].after.agent.as_deref(), Some("devops"));
        // Same graph: nothing changes.
        let same = replay(&current, &current, &decisions, 10);
        assert_eq!((same.changed, same.fixed, same.broken), (0, 0, 0));
        assert_eq!(same.accuracy_before, same.accuracy_after);
        assert!(same.sample.is_empty());
        // The sample is bounded.
        assert_eq!(replay(&current, &candidate, &decisions, 1).sample.len(), 1);
    }
}
