//! Request bodies of the router's HTTP API, shared by the local server and the Worker
//! so both accept exactly the same JSON.

use agency_skill_graph::Complexity;
use serde::Deserialize;

/// `POST /api/route`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    pub message: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub complexity: Option<Complexity>,
}

impl RouteBody {
    /// The routing request, or why the body is unacceptable.
    pub fn into_request(
        self,
        down_agents: Vec<String>,
    ) -> Result<crate::RouteRequest, &'static str> {
        if self.message.trim().is_empty() {
            return Err("message must not be empty");
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
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FeedbackBody {
    pub decision_id: String,
    #[serde(deserialize_with = "present")]
    pub correct_agent: Option<String>,
}

/// Deserializes a nullable field that must be present (serde takes a missing `Option`
/// as `None` unless the field has its own deserializer).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// `PUT /api/agents/:id/health`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthBody {
    pub healthy: bool,
}
