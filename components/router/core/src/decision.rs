//! What goes in and what comes out of a routing call, in the JSON shape of the API.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Keyword evidence picked the agent.
    Match,
    /// The agent the evidence picked is down; a healthy one took over.
    Fallback,
    /// Too little evidence; the channel's default agent took the message.
    Default,
    /// Too little evidence and no default agent.
    NoMatch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub agent: String,
    pub confidence: f64,
}

/// One routing decision; field names are part of the public API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDecision {
    pub agent: Option<String>,
    pub confidence: f64,
    pub reason: Reason,
    pub skill_files_used: Vec<String>,
    pub matched_keywords: Vec<String>,
    pub fallback_from: Option<String>,
    pub alternatives: Vec<Alternative>,
    pub graph_version: String,
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
