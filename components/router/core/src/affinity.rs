//! Conversation affinity: a message in a conversation that an agent already holds goes
//! to that agent, unless the message's own evidence picks another agent with at least
//! the graph's switch margin. A follow-up with no topic words ("yes, do it") stays; a
//! clear new topic moves the conversation. The router service keeps who holds each
//! conversation (with the graph's time to live) and calls [`follow`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::decision::{Alternative, Reason, RouteDecision};

/// The conversation a decision was made in, and what it followed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(transform = crate::schema::all_required))]
#[serde(rename_all = "camelCase")]
pub struct InConversation {
    /// The `conversationId` of the request.
    pub id: String,
    /// The agent that held the conversation before this message; null for a new
    /// conversation (or one idle for longer than the graph's `affinity.ttlSeconds`).
    pub held_by: Option<Arc<str>>,
    /// `conversation`: the agent that holds it kept the message (reason `affinity`);
    /// `message`: the message's own routing decided (the same agent, a switch to
    /// another, or a conversation without affinity).
    pub followed: Followed,
}

/// What a decision in a conversation followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Followed {
    Conversation,
    Message,
}

/// The decision for a message of conversation `id`, given `alone` (the message routed
/// on its own), the agent that holds the conversation (`held`, None for a new one), the
/// graph's `switch_margin` (None: the graph has no affinity, the message decides) and
/// whether an agent is down.
///
/// The message decides when nobody holds the conversation, when its holder is down,
/// when its evidence picks the holder, or when its evidence picks another agent with a
/// confidence at or above the margin. Otherwise (no evidence, the channel's default, or
/// evidence for another agent below the margin) the holder keeps it: reason
/// `affinity`, the confidence still the message's own, the agent the message alone
/// would have gone to first among the alternatives.
pub fn follow(
    alone: RouteDecision,
    id: &str,
    held: Option<&str>,
    switch_margin: Option<f64>,
    down: impl Fn(&str) -> bool,
) -> RouteDecision {
    let conversation = |followed| {
        Some(InConversation {
            id: id.to_owned(),
            held_by: held.map(Arc::from),
            followed,
        })
    };
    let by_message = |alone: RouteDecision| RouteDecision {
        conversation: conversation(Followed::Message),
        ..alone
    };
    let (Some(holder), Some(margin)) = (held, switch_margin) else {
        return by_message(alone);
    };
    if down(holder) {
        return by_message(alone);
    }
    // The agent the message's own evidence picked (before any fallback).
    let evidence = match alone.reason {
        Reason::Match => alone.agent.as_deref(),
        Reason::Fallback => alone.fallback_from.as_deref(),
        _ => None,
    };
    match evidence {
        Some(e) if e == holder => return by_message(alone),
        Some(_) if alone.confidence >= margin => return by_message(alone),
        _ => {}
    }
    let mut alternatives: Vec<Alternative> = Vec::with_capacity(3);
    if let Some(a) = alone.agent.as_ref().filter(|a| &***a != holder) {
        alternatives.push(Alternative {
            agent: a.clone(),
            confidence: alone.confidence,
        });
    }
    alternatives.extend(
        alone
            .alternatives
            .iter()
            .filter(|a| &*a.agent != holder && Some(&a.agent) != alone.agent.as_ref())
            .cloned(),
    );
    alternatives.truncate(3);
    RouteDecision {
        agent: Some(Arc::from(holder)),
        reason: Reason::Affinity,
        skill_files_used: Vec::new(),
        fallback_from: None,
        alternatives,
        conversation: conversation(Followed::Conversation),
        ..alone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alone(agent: Option<&str>, reason: Reason, confidence: f64) -> RouteDecision {
        RouteDecision {
            agent: agent.map(Arc::from),
            confidence,
            reason,
            skill_files_used: vec![],
            matched_keywords: vec![],
            fallback_from: None,
            alternatives: vec![],
            graph_version: Arc::from("g1"),
            routing_latency: None,
            instance: None,
            conversation: None,
        }
    }

    #[test]
    fn who_decides() {
        let up = |_: &str| false;
        let margin = Some(0.8);
        // (alone's agent, reason, confidence, holder, margin) -> (agent, reason, followed)
        type Case<'a> = (
            Option<&'a str>,
            Reason,
            f64,
            Option<&'a str>,
            Option<f64>,
            &'a str,
            Reason,
            Followed,
        );
        let cases: &[Case<'_>] = &[
            // nobody holds it: the message decides
            (
                Some("pm"),
                Reason::Match,
                0.6,
                None,
                margin,
                "pm",
                Reason::Match,
                Followed::Message,
            ),
            // a follow-up with no evidence stays
            (
                None,
                Reason::NoMatch,
                0.1,
                Some("devops"),
                margin,
                "devops",
                Reason::Affinity,
                Followed::Conversation,
            ),
            // the channel's default does not move it
            (
                Some("pm"),
                Reason::Default,
                0.2,
                Some("devops"),
                margin,
                "devops",
                Reason::Affinity,
                Followed::Conversation,
            ),
            // weak evidence for another agent does not move it
            (
                Some("pm"),
                Reason::Match,
                0.7,
                Some("devops"),
                margin,
                "devops",
                Reason::Affinity,
                Followed::Conversation,
            ),
            // evidence at the margin does
            (
                Some("pm"),
                Reason::Match,
                0.8,
                Some("devops"),
                margin,
                "pm",
                Reason::Match,
                Followed::Message,
            ),
            // evidence for the holder: the message's own decision
            (
                Some("devops"),
                Reason::Match,
                0.55,
                Some("devops"),
                margin,
                "devops",
                Reason::Match,
                Followed::Message,
            ),
            // no affinity in the graph: the message decides
            (
                None,
                Reason::NoMatch,
                0.1,
                Some("devops"),
                None,
                "",
                Reason::NoMatch,
                Followed::Message,
            ),
        ];
        for &(agent, reason, confidence, holder, margin, want, want_reason, followed) in cases {
            let d = follow(alone(agent, reason, confidence), "c1", holder, margin, up);
            assert_eq!(
                d.agent.as_deref().unwrap_or(""),
                want,
                "{agent:?} {reason:?} {holder:?}"
            );
            assert_eq!(d.reason, want_reason);
            let c = d.conversation.unwrap();
            assert_eq!((c.id.as_str(), c.followed), ("c1", followed));
            assert_eq!(c.held_by.as_deref(), holder);
            assert_eq!(d.confidence, confidence);
        }
    }

    #[test]
    fn a_down_holder_lets_the_message_decide() {
        let d = follow(
            alone(Some("pm"), Reason::Default, 0.1),
            "c",
            Some("devops"),
            Some(0.8),
            |a| a == "devops",
        );
        assert_eq!(
            (d.agent.as_deref(), d.reason),
            (Some("pm"), Reason::Default)
        );
    }

    #[test]
    fn staying_names_where_the_message_alone_would_have_gone() {
        let mut a = alone(Some("pm"), Reason::Match, 0.6);
        a.fallback_from = None;
        a.skill_files_used = vec![Arc::from("skills/plan.md")];
        a.alternatives = vec![
            Alternative {
                agent: Arc::from("devops"),
                confidence: 0.2,
            },
            Alternative {
                agent: Arc::from("research"),
                confidence: 0.1,
            },
        ];
        let d = follow(a, "c", Some("devops"), Some(0.8), |_| false);
        assert_eq!(d.agent.as_deref(), Some("devops"));
        assert!(d.skill_files_used.is_empty());
        let alts: Vec<(&str, f64)> = d
            .alternatives
            .iter()
            .map(|a| (&*a.agent, a.confidence))
            .collect();
        assert_eq!(alts, vec![("pm", 0.6), ("research", 0.1)]);
    }

    #[test]
    fn a_fallback_is_evidence_for_the_agent_that_is_down() {
        let mut a = alone(Some("pm"), Reason::Fallback, 0.9);
        a.fallback_from = Some(Arc::from("codegen"));
        // The conversation is codegen's and codegen is down: the fallback stands.
        let d = follow(a.clone(), "c", Some("codegen"), Some(0.5), |x| {
            x == "codegen"
        });
        assert_eq!(
            (d.agent.as_deref(), d.reason),
            (Some("pm"), Reason::Fallback)
        );
        // Held by devops (up): evidence for codegen at 0.9 >= 0.5 switches.
        let d = follow(a, "c", Some("devops"), Some(0.5), |x| x == "codegen");
        assert_eq!(
            (d.agent.as_deref(), d.reason),
            (Some("pm"), Reason::Fallback)
        );
    }
}
