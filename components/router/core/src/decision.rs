//! What goes in and what comes out of a routing call, in the JSON shape of the API.

use std::sync::Arc;

use agency_skill_graph::Complexity;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRequest {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Estimated from the message when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity: Option<Complexity>,
    /// Agents currently marked down (kept by the caller, which owns health state).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub down_agents: Vec<String>,
}

impl RouteRequest {
    pub fn new(message: impl Into<String>) -> RouteRequest {
        RouteRequest {
            message: message.into(),
            ..RouteRequest::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Keyword evidence picked the agent.
    Match,
    /// The agent the evidence picked is down; a healthy one took over.
    Fallback,
    /// Too little evidence; the channel's default agent took the message.
    Default,
    /// Too little evidence and no default agent.
    #[default]
    NoMatch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub agent: Arc<str>,
    pub confidence: f64,
}

/// One routing decision; field names are part of the public API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDecision {
    pub agent: Option<Arc<str>>,
    pub confidence: f64,
    pub reason: Reason,
    pub skill_files_used: Vec<Arc<str>>,
    pub matched_keywords: Vec<Arc<str>>,
    pub fallback_from: Option<Arc<str>>,
    pub alternatives: Vec<Alternative>,
    pub graph_version: Arc<str>,
    /// Milliseconds spent routing, filled in by the caller that measured it.
    pub routing_latency: f64,
}

impl RouteDecision {
    /// The decision without its timing, for comparing runs and runtimes.
    pub fn without_latency(&self) -> RouteDecision {
        RouteDecision {
            routing_latency: 0.0,
            ..self.clone()
        }
    }
}

/// A decision as indexes into the index's [`Names`]: what routing computes, cheap to
/// hand across the component boundary (no strings), resolved by [`Names::resolve`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteIds {
    pub agent: Option<u32>,
    pub confidence: f64,
    pub reason: Reason,
    /// Indexes into [`Names::files`], in file-name order.
    pub skill_files: Vec<u32>,
    /// Indexes into [`Names::keywords`], in order of first occurrence.
    pub matched_keywords: Vec<u32>,
    pub fallback_from: Option<u32>,
    /// (agent index, confidence)
    pub alternatives: Vec<(u32, f64)>,
}

/// The strings a [`RouteIds`] points into, fixed for one index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Names {
    pub agents: Vec<Arc<str>>,
    pub keywords: Vec<Arc<str>>,
    /// Sorted, unique.
    pub files: Vec<Arc<str>>,
    pub graph_version: Arc<str>,
}

impl Names {
    /// The decision in names. An index out of range (a corrupt table) yields "".
    pub fn resolve(&self, ids: &RouteIds) -> RouteDecision {
        let get = |table: &[Arc<str>], i: u32| {
            table
                .get(i as usize)
                .cloned()
                .unwrap_or_else(|| Arc::from(""))
        };
        RouteDecision {
            agent: ids.agent.map(|a| get(&self.agents, a)),
            confidence: ids.confidence,
            reason: ids.reason,
            skill_files_used: ids
                .skill_files
                .iter()
                .map(|&f| get(&self.files, f))
                .collect(),
            matched_keywords: ids
                .matched_keywords
                .iter()
                .map(|&k| get(&self.keywords, k))
                .collect(),
            fallback_from: ids.fallback_from.map(|a| get(&self.agents, a)),
            alternatives: ids
                .alternatives
                .iter()
                .map(|&(a, confidence)| Alternative {
                    agent: get(&self.agents, a),
                    confidence,
                })
                .collect(),
            graph_version: self.graph_version.clone(),
            routing_latency: 0.0,
        }
    }
}
