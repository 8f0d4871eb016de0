//! The skill graph service's answers, as types: the handlers serialize these and the
//! API document derives their schemas (feature `openapi`), so a field cannot be in one
//! and not the other.

use agency_skill_graph::search::SearchHit;
use agency_skill_graph::{Channel, GraphSummary, SkillGraph};
use serde::Serialize;

#[cfg(feature = "openapi")]
use agency_kit::openapi::Nullable;

/// `PUT /api/graph`: the version stored.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct GraphStored {
    pub version: String,
    pub sequence: i64,
    pub created_at: String,
    pub summary: GraphSummary,
}

/// One stored version.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct GraphVersion {
    pub sequence: i64,
    pub version: String,
    pub created_at: String,
}

/// `GET /api/graph/versions`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Versions {
    pub versions: Vec<GraphVersion>,
}

/// An agent and whether it takes messages.
#[derive(Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct AgentStatus {
    pub id: String,
    pub name: String,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub fallback: Option<String>,
    pub description: String,
    /// False when the agent is marked down, or when it lists instances and every one
    /// of them is reported down.
    pub healthy: bool,
    /// Its pool (empty: the agent lists no instances).
    #[serde(default)]
    pub instances: Vec<InstanceStatus>,
}

/// One instance of an agent's pool, with its latest report that still counts.
#[derive(Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    pub id: String,
    pub weight: f64,
    /// True unless a report that still counts says it is down.
    pub healthy: bool,
    /// The reported load (0..1); null without a report that still counts.
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<f64>"))]
    pub load: Option<f64>,
    /// When the report was made; null without one.
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub reported_at: Option<String>,
}

/// `PUT /api/agents/{id}/instances/{instance}`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct InstanceHealth {
    pub agent: String,
    pub instance: String,
    pub healthy: bool,
    pub load: f64,
    /// When this report stops counting unless another replaces it.
    pub expires_at: String,
}

// Also read by other services (monitoring probes the agents).
/// `GET /api/agents`.
#[derive(Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Agents {
    pub agents: Vec<AgentStatus>,
    pub graph_version: String,
}

/// `PUT /api/agents/{id}/health`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AgentHealth"))]
pub struct Health {
    pub agent: String,
    pub healthy: bool,
}

// Also read by other services (the assistant checks a halt's target against it).
/// `GET /api/channels`.
#[derive(Debug, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Channels {
    pub channels: Vec<Channel>,
    pub graph_version: String,
}

/// `GET /api/search`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Search {
    pub query: String,
    pub hits: Vec<SearchHit>,
    pub graph_version: String,
}

/// `GET /internal/routing-state`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RoutingState<'g> {
    pub version: String,
    /// The agents marked down.
    pub down: Vec<String>,
    /// The instance reports that still count.
    pub instances: Vec<agency_router::pool::InstanceReport>,
    /// Null when the caller has this version already.
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<SkillGraph>"))]
    pub graph: Option<&'g SkillGraph>,
}

/// `POST /api/graph/preview`: what the candidate would change. Nothing was written.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// The graph routing now: the "before" of every figure.
    pub current_version: String,
    /// The version the candidate would be stored as.
    pub candidate_version: String,
    pub candidate_summary: GraphSummary,
    #[serde(flatten)]
    pub report: agency_router::replay::Report,
}
