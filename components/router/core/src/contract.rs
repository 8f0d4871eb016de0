//! Request bodies of the router's HTTP API, shared by the local server and the Worker
//! so both accept exactly the same JSON.

use agency_skill_graph::Complexity;
use serde::Deserialize;

/// At least one character that is not whitespace.
#[cfg(feature = "schema")]
const NOT_BLANK: &str =
    r"[^\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// `POST /api/route`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "RouteRequest"))]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    /// Not blank (more than whitespace).
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1), regex(pattern = NOT_BLANK))
    )]
    pub message: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub complexity: Option<Complexity>,
}

/// A routing body that cannot be routed (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRoute {
    #[error("message must not be empty")]
    EmptyMessage,
}

impl RouteBody {
    /// The routing request, or why the body is unacceptable.
    pub fn into_request(self, down_agents: Vec<String>) -> Result<crate::RouteRequest, BadRoute> {
        if self.message.trim().is_empty() {
            return Err(BadRoute::EmptyMessage);
        }
        Ok(crate::RouteRequest {
            message: self.message,
            channel: self.channel,
            complexity: self.complexity,
            down_agents,
        })
    }
}

/// `POST /api/route/feedback`: `correctAgent: null` = nobody should have taken it. The
/// field is required: feedback that forgot to say who was right is not "nobody".
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "Feedback"))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FeedbackBody {
    pub decision_id: String,
    /// An agent of the current graph (another one is refused with 422), or null:
    /// nobody should have taken the message.
    #[serde(deserialize_with = "present")]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "agency_skill_graph::schema::AgentOrNobody")
    )]
    pub correct_agent: Option<String>,
}

/// Deserializes a nullable field that must be present (serde takes a missing `Option`
/// as `None` unless the field has its own deserializer).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// `PUT /api/agents/:id/health`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HealthBody {
    pub healthy: bool,
}
