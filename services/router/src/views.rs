//! The router service's answers, as types: the handlers serialize these and the API
//! document derives their schemas (feature `openapi`).

use agency_router::RouteDecision;
use agency_router::contract::Feedback;
use agency_skill_graph::Complexity;
use serde::Serialize;

#[cfg(feature = "openapi")]
use agency_kit::openapi::Nullable;

/// `POST /api/route`: the decision and the id it is stored under.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Routed<'d> {
    #[serde(flatten)]
    pub decision: &'d RouteDecision,
    /// For `POST /api/route/feedback`.
    pub decision_id: String,
    /// With reason `halted`: the halt that covers the agent or the channel (the
    /// message goes nowhere until it is lifted). Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halt: Option<agency_approval::HaltView>,
}

/// A stored decision, with what it decided on.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct StoredDecision {
    #[serde(flatten)]
    pub decision: RouteDecision,
    pub decision_id: String,
    pub message: String,
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub channel: Option<String>,
    /// The complexity the caller gave; null: estimated from the message.
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<Complexity>"))]
    pub complexity: Option<Complexity>,
    pub created_at: String,
    /// The latest feedback on it (`POST /api/route/feedback`); null: none.
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<Feedback>"))]
    pub feedback: Option<Feedback>,
}

/// `GET /api/route/decisions`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Decisions {
    pub decisions: Vec<StoredDecision>,
    /// Pass as `before` for the next (older) page; null when this page is the last.
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub next: Option<String>,
}

/// `POST /api/route/feedback`: what was stored.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct FeedbackStored {
    pub feedback_id: i64,
    pub decision_id: String,
    /// null: nobody should have taken the message.
    #[cfg_attr(feature = "openapi", schemars(with = "Nullable<String>"))]
    pub correct_agent: Option<String>,
}
