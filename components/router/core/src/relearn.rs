//! Learning from the audit: the feedback operators gave on stored decisions, turned
//! into labelled examples and learned into an existing graph (`agency skills learn
//! --from-audit`). Hand-written skills, links, channels and agents stay; the skills the
//! learner wrote (`learned: true`) get new keyword weights.
//!
//! Two ways, by what is at hand:
//! - **With the base examples** the graph was learned from: the learned skills are
//!   learned again from the base set plus the audit's examples, and the threshold is
//!   calibrated again ([`crate::calibrate::learn`]). On CLINC150 this fixes the corrected
//!   decisions without costing accuracy elsewhere: prefer it.
//! - **Without them**: training starts from the learned skills' weights (a warm start)
//!   on the audit's examples, plus the decisions nobody gave feedback on, labelled with
//!   what the graph answers now. Those anchor the model: a correction moves the weights
//!   it needs and the rest of the traffic keeps its answers as far as it can. The
//!   threshold and its calibration are kept.

use std::collections::BTreeSet;

use agency_skill_graph::SkillGraph;
use agency_skill_graph::learn::{self, LabelledMessage, LearnError, LearnOptions};
use serde::Serialize;

use crate::RouterIndex;
use crate::calibrate::{self, Abstain};
use crate::contract::AuditedDecision;

/// With the base examples, each decision with feedback counts as this many of them: an
/// operator's word on real traffic outweighs one training sentence. A correction names
/// an agent, not which of its skills, so it teaches all of the agent's skills at once
/// and moves each less than a labelled sentence does. On CLINC150 (the README's loop),
/// counted once 17 of 29 corrections were fixed, three times 26, five times 29 with
/// held-out accuracy 0.2 points lower.
pub const FEEDBACK_WEIGHT: usize = 3;

/// What the audit gave to learn from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditCounts {
    /// Decisions with feedback naming another answer than the stored one.
    pub corrected: usize,
    /// Decisions with feedback agreeing with the stored answer.
    pub confirmed: usize,
    /// Of those two, the ones whose feedback says nobody should have taken it.
    pub out_of_scope: usize,
    /// Feedback naming an agent the graph no longer has: left out, so a removed agent
    /// does not come back.
    pub skipped: usize,
    /// Decisions without feedback used as anchors (warm start only).
    pub anchors: usize,
}

impl AuditCounts {
    pub fn labelled(&self) -> usize {
        self.corrected + self.confirmed
    }
}

/// Every decision with feedback is an example: its message (and channel) labelled with
/// the agent the feedback names, or out of scope.
pub fn examples(
    graph: &SkillGraph,
    decisions: &[AuditedDecision],
) -> (Vec<LabelledMessage>, AuditCounts) {
    let mut counts = AuditCounts::default();
    let mut out = Vec::new();
    for d in decisions {
        let Some(f) = &d.feedback else { continue };
        if let Some(agent) = &f.correct_agent
            && graph.agent(agent).is_none()
        {
            counts.skipped += 1;
            continue;
        }
        counts.out_of_scope += usize::from(f.correct_agent.is_none());
        if f.correct_agent == d.agent {
            counts.confirmed += 1;
        } else {
            counts.corrected += 1;
        }
        out.push(LabelledMessage {
            text: d.message.clone(),
            agent: f.correct_agent.clone(),
            intent: None,
            channel: d.channel.clone(),
        });
    }
    (out, counts)
}

#[derive(Debug, thiserror::Error)]
pub enum RelearnError {
    #[error("no decision has feedback on an agent of the graph: nothing to learn from")]
    NoFeedback,
    #[error(transparent)]
    Learn(#[from] LearnError),
    #[error("the graph cannot be routed with: {0}")]
    Build(#[from] crate::BuildError),
}

/// `existing` relearned from the feedback in `decisions` (newest first, with and
/// without feedback), with `base` if given (see the module's note).
pub fn relearn(
    existing: &SkillGraph,
    decisions: &[AuditedDecision],
    base: Option<&[LabelledMessage]>,
    options: &LearnOptions,
    abstain: Abstain,
) -> Result<(SkillGraph, AuditCounts), RelearnError> {
    let (audit, mut counts) = examples(existing, decisions);
    if audit.is_empty() {
        return Err(RelearnError::NoFeedback);
    }
    let graph = match base {
        Some(base) => {
            let all: Vec<LabelledMessage> = base
                .iter()
                .cloned()
                .chain((0..FEEDBACK_WEIGHT).flat_map(|_| audit.iter().cloned()))
                .collect();
            let (mut learned, _curve) = calibrate::learn(&all, options, abstain)?;
            // Calibrated anew: the learned point replaces the existing graph's.
            let (threshold, none_per_word, calibration) = (
                learned.threshold,
                learned.none_per_word,
                learned.calibration.take(),
            );
            let mut g = learn::merge(existing, learned);
            g.threshold = threshold;
            g.none_per_word = none_per_word;
            g.calibration = calibration;
            g
        }
        None => {
            let index = RouterIndex::build(existing)?;
            // Each message once: the newest feedback wins, then the anchors.
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            let mut training = Vec::new();
            for e in &audit {
                if seen.insert(&e.text) {
                    training.push(e.clone());
                }
            }
            for d in decisions.iter().filter(|d| d.feedback.is_none()) {
                if !seen.insert(&d.message) {
                    continue;
                }
                let now = index.route(&d.request()).agent;
                counts.anchors += 1;
                training.push(LabelledMessage {
                    text: d.message.clone(),
                    agent: now.map(|a| a.to_string()),
                    intent: None,
                    channel: d.channel.clone(),
                });
            }
            let learned = learn::learn_from(&training, options, Some(existing))?;
            learn::merge(existing, learned)
        }
    };
    Ok((graph, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RouteRequest;

    fn decided(
        message: &str,
        agent: Option<&str>,
        correct: Option<Option<&str>>,
    ) -> AuditedDecision {
        AuditedDecision::decided(&format!("dec_{message}"), message, agent, correct)
    }

    fn base() -> Vec<LabelledMessage> {
        let mut ex = Vec::new();
        for i in 0..10 {
            ex.push(LabelledMessage::new(
                &format!("deploy the api to production {i}"),
                Some("devops"),
            ));
            ex.push(LabelledMessage::new(
                &format!("rollback the release {i}"),
                Some("devops"),
            ));
            ex.push(LabelledMessage::new(
                &format!("plan the sprint roadmap {i}"),
                Some("pm"),
            ));
            ex.push(LabelledMessage::new(
                &format!("write the quarterly roadmap {i}"),
                Some("pm"),
            ));
            ex.push(LabelledMessage::new(
                &format!("what is the weather like {i}"),
                None,
            ));
        }
        ex
    }

    /// A learned graph with a hand-written skill added, as an operator would keep it.
    fn existing() -> SkillGraph {
        let mut g = learn::learn(&base(), &LearnOptions::default()).unwrap();
        let mut hand = g.skills[0].clone();
        hand.id = "oncall".into();
        hand.learned = false;
        hand.keywords = vec![agency_skill_graph::Keyword::new("pager", 2.0)];
        g.skills.push(hand);
        g
    }

    fn routed(g: &SkillGraph, message: &str) -> Option<String> {
        RouterIndex::build(g)
            .unwrap()
            .route(&RouteRequest::new(message))
            .agent
            .map(|a| a.to_string())
    }

    #[test]
    fn corrections_move_their_messages_and_hand_written_skills_stay() {
        let g = existing();
        let corrected = "the sprint deploy plan";
        let before = routed(&g, corrected);
        let want = if before.as_deref() == Some("pm") {
            "devops"
        } else {
            "pm"
        };
        let mut decisions = vec![
            decided(corrected, before.as_deref(), Some(Some(want))),
            decided("tell me a joke", Some("pm"), Some(None)),
            decided("deploy the api", Some("devops"), Some(Some("devops"))),
            decided("someone left", Some("ghost"), Some(Some("ghost"))),
        ];
        for i in 0..5 {
            decisions.push(decided(&format!("roadmap review {i}"), Some("pm"), None));
        }
        for with_base in [false, true] {
            let b = base();
            let (new, counts) = relearn(
                &g,
                &decisions,
                with_base.then_some(b.as_slice()),
                &LearnOptions::default(),
                Abstain::Medium,
            )
            .unwrap();
            assert_eq!(
                (
                    counts.corrected,
                    counts.confirmed,
                    counts.out_of_scope,
                    counts.skipped
                ),
                (2, 1, 1, 1)
            );
            assert_eq!(counts.anchors, if with_base { 0 } else { 5 });
            assert_eq!(
                routed(&new, corrected).as_deref(),
                Some(want),
                "base {with_base}"
            );
            if !with_base {
                // The anchors: what nobody corrected keeps its answer.
                assert_eq!(
                    routed(&new, "roadmap review 3"),
                    routed(&g, "roadmap review 3")
                );
            }
            // The hand-written skill is as it was; the learned ones are still learned.
            let hand = new.skills.iter().find(|s| s.id == "oncall").unwrap();
            assert_eq!(hand, g.skills.iter().find(|s| s.id == "oncall").unwrap());
            assert!(
                new.skills
                    .iter()
                    .filter(|s| s.id != "oncall")
                    .all(|s| s.learned)
            );
            assert_eq!(new.agents, g.agents, "no agent comes back or goes");
        }
        let none: Vec<AuditedDecision> = vec![decided("x", None, None)];
        assert!(matches!(
            relearn(&g, &none, None, &LearnOptions::default(), Abstain::Medium),
            Err(RelearnError::NoFeedback)
        ));
    }
}
