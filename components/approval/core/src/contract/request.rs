//! `POST /api/approve`'s body (and `policy explain`'s): what it may hold, checked the
//! same on every runtime, and the request it becomes.

use serde::Deserialize;
use serde_json::Value;

use super::*;
use crate::{ApprovalRequest, Micros};

/// May this task run? (`POST /api/approve`, `policy explain`)
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "ApprovalRequest"))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApprovalBody {
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::ShortId"))]
    pub task_id: String,
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::Name"))]
    pub agent: String,
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::Name"))]
    pub action: String,
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::Text"))]
    pub description: String,
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::Amount"))]
    pub estimated_cost_usd: f64,
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::Name>"))]
    pub channel: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::Name>"))]
    pub environment: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::Name>"))]
    pub risk: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<crate::schema::Name>"))]
    pub tags: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::ShortId>"))]
    pub requester: Option<String>,
    /// Where to ask a human in chat: the `replyTo` the task was dispatched with (an
    /// object naming its `platform` and `source`). An ask is then posted there as a card
    /// with Approve and Deny buttons, and the card shows the outcome once decided.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::ReplyTo>"))]
    pub reply_to: Option<Value>,
}

/// Most fields of a `replyTo` (an address has at most six).
pub const MAX_REPLY_TO_FIELDS: usize = 8;
/// Longest field name of a `replyTo`, and longest `platform`.
pub const MAX_REPLY_TO_KEY_CHARS: usize = 32;
/// Longest string value of a `replyTo` (a Slack response_url, a Discord token).
pub const MAX_REPLY_TO_VALUE_CHARS: usize = 512;

/// Whether `to` is an address as dispatch gives it: an object with a `platform` and a
/// `source`, at most [`MAX_REPLY_TO_FIELDS`] scalar fields with short names and values.
fn reply_to(to: &Value) -> Result<(), Invalid> {
    let bad = || {
        Invalid(format!(
            "replyTo must be an object with platform and source (as dispatch gave it): at most {MAX_REPLY_TO_FIELDS} fields, names up to {MAX_REPLY_TO_KEY_CHARS} characters, values strings up to {MAX_REPLY_TO_VALUE_CHARS} characters, numbers, booleans or null"
        ))
    };
    let fields = to.as_object().ok_or_else(bad)?;
    let named = |k: &str, max: usize| {
        fields
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty() && v.chars().count() <= max)
    };
    if fields.len() > MAX_REPLY_TO_FIELDS
        || !named("platform", MAX_REPLY_TO_KEY_CHARS)
        || !named("source", MAX_NAME_CHARS)
    {
        return Err(bad());
    }
    for (k, v) in fields {
        let short = match v {
            Value::String(s) => s.chars().count() <= MAX_REPLY_TO_VALUE_CHARS,
            Value::Number(_) | Value::Bool(_) | Value::Null => true,
            _ => false,
        };
        if k.chars().count() > MAX_REPLY_TO_KEY_CHARS || !short {
            return Err(bad());
        }
    }
    Ok(())
}

impl ApprovalBody {
    /// The request, or what is wrong with the body. Names come out canonical
    /// ([`canonical_name`]); the task id is kept as given, since ids are the caller's.
    pub fn into_request(self) -> Result<ApprovalRequest, Invalid> {
        let task = self.task_id.trim();
        if !is_short_name(task) {
            return Err(Invalid(format!(
                "taskId must be 1 to {MAX_NAME_CHARS} characters, without control characters"
            )));
        }
        bounded_text("description", &self.description)?;
        if let Some(to) = &self.reply_to {
            reply_to(to)?;
        }
        if let Some(r) = &self.requester
            && !is_short_name(r.trim())
        {
            return Err(Invalid(format!(
                "requester must be 1 to {MAX_NAME_CHARS} characters, without control characters"
            )));
        }
        let optional =
            |what: &str, v: Option<String>| v.map(|v| canonical_name(what, &v)).transpose();
        let estimated_cost = Micros::from_usd(self.estimated_cost_usd)
            .map_err(|e| Invalid(format!("estimatedCostUsd: {e}")))?;
        Ok(ApprovalRequest {
            task_id: task.to_owned(),
            agent: canonical_name("agent", &self.agent)?,
            action: canonical_name("action", &self.action)?,
            description: self.description,
            estimated_cost,
            channel: optional("channel", self.channel)?,
            environment: optional("environment", self.environment)?,
            risk: optional("risk", self.risk)?,
            tags: self
                .tags
                .iter()
                .map(|t| canonical_name("a tag", t))
                .collect::<Result<_, _>>()?,
        })
    }
}
