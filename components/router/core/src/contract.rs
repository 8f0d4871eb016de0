//! Request bodies of the router's HTTP API, shared by the local server and the Worker
//! so both accept exactly the same JSON.

use agency_skill_graph::Complexity;
use serde::{Deserialize, Serialize};

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
    /// The conversation the message belongs to (a chat thread, a DM): its agent keeps
    /// follow-ups when the graph has `affinity`, and its instance keeps it while
    /// healthy. 1 to 256 characters.
    #[serde(default, rename = "conversationId")]
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 256)))]
    pub conversation_id: Option<String>,
}

/// A routing body that cannot be routed (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRoute {
    #[error("message must not be empty")]
    EmptyMessage,
    #[error("conversationId must be 1 to 256 characters")]
    ConversationId,
}

impl RouteBody {
    /// The routing request, or why the body is unacceptable.
    pub fn into_request(self, down_agents: Vec<String>) -> Result<crate::RouteRequest, BadRoute> {
        if self.message.trim().is_empty() {
            return Err(BadRoute::EmptyMessage);
        }
        if self
            .conversation_id
            .as_ref()
            .is_some_and(|c| c.is_empty() || c.chars().count() > 256)
        {
            return Err(BadRoute::ConversationId);
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

/// `PUT /api/agents/:id/instances/:instance`: one instance's health and load, as the
/// gateway (or a probe) sees it. It counts for [`crate::pool::REPORT_TTL_MS`]; report
/// again before then.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct InstanceBody {
    pub healthy: bool,
    /// How busy it is: 0 idle ..= 1 full (default 0).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 1.0)))]
    pub load: f64,
}

/// The feedback on a stored decision (the latest, when it was given more than once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "DecisionFeedback"))]
#[serde(rename_all = "camelCase")]
pub struct Feedback {
    /// The agent that should have taken the message; null: nobody.
    #[serde(deserialize_with = "present")]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "agency_skill_graph::schema::AgentOrNobody")
    )]
    pub correct_agent: Option<String>,
    pub created_at: String,
}

/// A stored decision as `GET /api/route/decisions` lists it, read back by what replays
/// the audit (`POST /api/graph/preview`) or learns from it (`skills learn
/// --from-audit`). Fields it does not name are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditedDecision {
    pub decision_id: String,
    pub message: String,
    #[serde(default)]
    pub channel: Option<String>,
    /// The complexity the caller gave; null: it was estimated.
    #[serde(default)]
    pub complexity: Option<Complexity>,
    /// The agent that took it; null: nobody.
    pub agent: Option<String>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub feedback: Option<Feedback>,
}

impl AuditedDecision {
    /// The request to replay: the same message, channel and complexity, no agent down
    /// (a replay compares graphs, not the health of the moment).
    pub fn request(&self) -> crate::RouteRequest {
        crate::RouteRequest {
            message: self.message.clone(),
            channel: self.channel.clone(),
            complexity: self.complexity,
            down_agents: Vec::new(),
        }
    }
}

/// `GET /api/route/decisions`, as read back.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditPage {
    pub decisions: Vec<AuditedDecision>,
    /// The `before` of the next (older) page; null on the last.
    #[serde(default)]
    pub next: Option<String>,
}

/// The path of one page of `GET /api/route/decisions`: up to `limit` (at most 1,000)
/// decisions older than `before`, only those with feedback if `feedback_only`.
pub fn audit_path(limit: u32, feedback_only: bool, before: Option<&str>) -> String {
    let mut path = format!(
        "/api/route/decisions?limit={}&feedback={}",
        limit.clamp(1, 1000),
        if feedback_only { "only" } else { "any" }
    );
    if let Some(b) = before {
        path.push_str("&before=");
        // Ids are `dec_` and base-32; anything else is escaped all the same.
        for byte in b.bytes() {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                path.push(byte as char);
            } else {
                path.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    path
}

/// Why the audit could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuditError {
    /// The router answered this status (and body).
    #[error("GET {path} answered {status}: {body}")]
    Status {
        path: String,
        status: u16,
        body: String,
    },
    #[error("GET {path}: {message}")]
    Unreadable { path: String, message: String },
}

/// The newest `limit` stored decisions (only those with feedback if `feedback_only`),
/// newest first, read page by page through `get` (a path to its status and JSON body).
/// Written once for every reader: the skill-graph service over its port, the CLI over
/// HTTP or the local database.
pub async fn read_audit<G, F, E>(
    mut get: G,
    limit: u32,
    feedback_only: bool,
) -> Result<Result<Vec<AuditedDecision>, AuditError>, E>
where
    G: FnMut(String) -> F,
    F: std::future::Future<Output = Result<(u16, serde_json::Value), E>>,
{
    let mut out: Vec<AuditedDecision> = Vec::new();
    let mut before: Option<String> = None;
    while out.len() < limit as usize {
        let want = (limit as usize - out.len()).min(1000) as u32;
        let path = audit_path(want, feedback_only, before.as_deref());
        let (status, body) = get(path.clone()).await?;
        if status != 200 {
            return Ok(Err(AuditError::Status {
                path,
                status,
                body: body.to_string(),
            }));
        }
        let page: AuditPage = match serde_json::from_value(body) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Err(AuditError::Unreadable {
                    path,
                    message: e.to_string(),
                }));
            }
        };
        let last = page.decisions.is_empty();
        out.extend(page.decisions);
        match page.next {
            Some(n) if !last => before = Some(n),
            _ => break,
        }
    }
    out.truncate(limit as usize);
    Ok(Ok(out))
}

#[cfg(test)]
impl AuditedDecision {
    /// A stored decision for tests: `agent` decided, `correct` the feedback (None: none).
    pub(crate) fn decided(
        id: &str,
        message: &str,
        agent: Option<&str>,
        correct: Option<Option<&str>>,
    ) -> AuditedDecision {
        AuditedDecision {
            decision_id: id.into(),
            message: message.into(),
            channel: None,
            complexity: None,
            agent: agent.map(str::to_owned),
            created_at: String::new(),
            feedback: correct.map(|c| Feedback {
                correct_agent: c.map(str::to_owned),
                created_at: String::new(),
            }),
        }
    }
}
