//! The other bodies operators and the gateway send: halt and resume, a human decision,
//! a spend, a chat message.

use serde::Deserialize;

use super::*;
use crate::{HaltTarget, Micros};

/// A halt or resume body: `{scope: "all"|"agent"|"task", target?, reason?}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaltBody {
    pub scope: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// What a halt or resume in `scope` covers, or what is wrong with it: an agent is a
/// name (folded like every name), a task an id (checked like `taskId`).
fn halt_target(scope: &str, target: Option<&str>) -> Result<HaltTarget, Invalid> {
    match (scope, target) {
        ("all", None) => Ok(HaltTarget::All),
        ("all", Some(_)) => Err("scope all takes no target".into()),
        ("agent", Some(t)) => canonical_name("target", t).map(HaltTarget::Agent),
        ("channel", Some(t)) => canonical_name("target", t).map(HaltTarget::Channel),
        ("task", Some(t)) if !t.trim().is_empty() => {
            let t = t.trim();
            if is_short_name(t) {
                Ok(HaltTarget::Task(t.to_owned()))
            } else {
                Err(Invalid(format!(
                    "target must be a task id of 1 to {MAX_NAME_CHARS} characters, without control characters"
                )))
            }
        }
        ("agent" | "channel" | "task", _) => {
            Err("scope agent, channel and task need a target".into())
        }
        _ => Err("scope must be all, agent, channel or task".into()),
    }
}

/// `POST /api/resume`: what to lift (a resume gives no reason).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeBody {
    pub scope: String,
    #[serde(default)]
    pub target: Option<String>,
}

impl ResumeBody {
    /// The halt to lift, or what is wrong with the body.
    pub fn target(&self) -> Result<HaltTarget, Invalid> {
        halt_target(&self.scope, self.target.as_deref())
    }
}

impl HaltBody {
    /// What the halt covers, or what is wrong with the body.
    pub fn target(&self) -> Result<HaltTarget, Invalid> {
        halt_target(&self.scope, self.target.as_deref())
    }

    /// The reason a halt must give.
    pub fn reason(&self) -> Result<&str, Invalid> {
        let reason = self
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or("reason is required")?;
        bounded_text("reason", reason)?;
        Ok(reason)
    }
}

/// A human's answer: `{decision: "approve"|"deny", by, comment?, grant?}` (its schema is
/// written out in `crate::schema`: a grant only with approve).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HumanDecisionBody {
    pub decision: String,
    pub by: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// Approve and grant: the same agent, action and environment are approved without
    /// asking for the grant's duration (see `POST /api/grants`).
    /// (Read through [`HumanDecisionBody::grant_terms`]: an object, not the array
    /// serde would also take for a struct.)
    #[serde(default)]
    pub grant: Option<serde_json::Value>,
}

impl HumanDecisionBody {
    /// true to approve, or what is wrong with the body.
    pub fn approve(&self) -> Result<bool, Invalid> {
        let (approve, _) = verdict(&self.decision, &self.by, self.comment.as_deref())?;
        let grant = self.grant_terms()?;
        if !approve && grant.is_some() {
            return Err("a grant goes with approve, not deny".into());
        }
        Ok(approve)
    }

    /// The grant asked for with the approval, if any.
    pub fn grant_terms(&self) -> Result<Option<super::GrantTerms>, Invalid> {
        match &self.grant {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v @ serde_json::Value::Object(_)) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| Invalid(format!("grant: {e}"))),
            Some(_) => Err("grant must be an object".into()),
        }
    }
}

/// A human's verdict, checked: (approve, who, trimmed), or what is wrong with it.
pub(super) fn verdict(
    decision: &str,
    by: &str,
    comment: Option<&str>,
) -> Result<(bool, String), Invalid> {
    let by = by.trim();
    if !is_short_name(by) {
        return Err(Invalid(format!(
            "by must name who decided, in at most {MAX_NAME_CHARS} characters"
        )));
    }
    if let Some(c) = comment {
        bounded_text("comment", c)?;
    }
    match decision {
        "approve" => Ok((true, by.to_owned())),
        "deny" => Ok((false, by.to_owned())),
        _ => Err("decision must be approve or deny".into()),
    }
}

/// Most extensions of one ask.
pub const MAX_EXTENSIONS: i64 = 3;
/// Shortest and longest extension, in seconds: a minute to a day.
pub const EXTEND_SECS: std::ops::RangeInclusive<u64> = 60..=86_400;
/// An extension's length when none is given: 30 minutes.
pub const DEFAULT_EXTEND_SECS: u64 = 1_800;

/// `POST /api/approvals/{id}/extend`: `{by, secs?}`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::ShortId"))]
    pub by: String,
    /// Seconds, 60 to 86,400; default 1,800.
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<crate::schema::ExtendSecs>")
    )]
    pub secs: Option<f64>,
}

impl ExtendBody {
    /// (who, seconds), or what is wrong with the body.
    pub fn checked(&self) -> Result<(String, u64), Invalid> {
        let (_, by) = verdict("approve", &self.by, None)?;
        Ok((
            by,
            seconds("secs", self.secs, DEFAULT_EXTEND_SECS, EXTEND_SECS)?,
        ))
    }
}

/// A length in seconds: `default` when absent, else a whole number in `range` (`130.0`
/// is 130, as JSON Schema's integer has it); the error names the field `what`.
pub(super) fn seconds(
    what: &str,
    v: Option<f64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, Invalid> {
    let secs = match v {
        None => default,
        Some(s) if s.fract() == 0.0 && s >= 0.0 && s <= *range.end() as f64 => s as u64,
        Some(_) => 0,
    };
    if !range.contains(&secs) {
        return Err(Invalid(format!(
            "{what} must be a whole number from {} to {}",
            range.start(),
            range.end()
        )));
    }
    Ok(secs)
}

/// Why a pending ask cannot be extended (a 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotExtended(pub String);

/// The new expiry of an ask that expires at `expires_ms`, extended by `secs` at `now_ms`
/// for the `(extensions + 1)`th time: `secs` after the later of its expiry and now, at
/// most [`MAX_EXTENSIONS`] times.
pub fn extended(
    expires_ms: Option<i64>,
    now_ms: i64,
    extensions: i64,
    secs: u64,
) -> Result<i64, NotExtended> {
    let Some(expires) = expires_ms else {
        return Err(NotExtended("the ask does not expire".into()));
    };
    if extensions >= MAX_EXTENSIONS {
        return Err(NotExtended(format!(
            "the ask was extended {MAX_EXTENSIONS} times already, the most allowed"
        )));
    }
    let by = i64::try_from(secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    Ok(expires.max(now_ms).saturating_add(by))
}

/// `{approvalId, actualCostUsd}`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpendBody {
    pub approval_id: String,
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::Amount"))]
    pub actual_cost_usd: f64,
}

impl SpendBody {
    pub fn actual(&self) -> Result<Micros, Invalid> {
        Micros::from_usd(self.actual_cost_usd).map_err(|e| Invalid(format!("actualCostUsd: {e}")))
    }
}

/// `{sessionId, message}` for `POST /api/chat`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChatBody {
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::SessionId"))]
    pub session_id: String,
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::ChatMessage"))]
    pub message: String,
}

/// Longest chat message accepted, in characters (as the API's `maxLength` counts).
pub const MAX_CHAT_CHARS: usize = 4096;

impl ChatBody {
    /// Ok, or what is wrong (a field bound, like any other: not the body's size limit).
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.session_id.trim().is_empty() || self.session_id.chars().count() > 128 {
            return Err("sessionId must be 1 to 128 characters".into());
        }
        if self.message.trim().is_empty() {
            return Err("message must not be empty".into());
        }
        if self.message.chars().count() > MAX_CHAT_CHARS {
            return Err(Invalid(format!(
                "chat messages are limited to {MAX_CHAT_CHARS} characters"
            )));
        }
        Ok(())
    }
}
