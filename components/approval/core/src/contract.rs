//! The JSON body of an approval request (`POST /api/approve`, `policy explain`), shared
//! by every runtime so all accept exactly the same input.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    ApprovalRequest, Decision, HaltTarget, Micros, Outcome, Policy, day_key, ledger_key, month_key,
};

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

/// A request body that breaks the API's contract (a 400), in the words every runtime
/// answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<&str> for Invalid {
    fn from(message: &str) -> Self {
        Invalid(message.to_owned())
    }
}

/// Longest agent, action, environment, channel, risk or tag name, and task id.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest free text: a description, a comment, a halt's reason.
pub const MAX_TEXT_CHARS: usize = 4096;

/// A name that policies, budgets and halts compare (an agent, action, environment,
/// channel, risk or tag): trimmed and lower-cased, so `Codegen` and `codegen ` are the
/// agent `codegen` to every rule, budget and halt alike, and none can be dodged by
/// spelling. Empty, over-long and control-character names are errors naming `what`.
pub fn canonical_name(what: &str, value: &str) -> Result<String, Invalid> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Invalid(format!("{what} must not be empty")));
    }
    if !is_short_name(v) {
        return Err(Invalid(format!(
            "{what} must be at most {MAX_NAME_CHARS} characters, without control characters"
        )));
    }
    Ok(v.to_lowercase())
}

/// Whether `v` (already trimmed) is a usable name or id: not empty, at most
/// [`MAX_NAME_CHARS`] characters, no control characters.
pub(crate) fn is_short_name(v: &str) -> bool {
    !v.is_empty() && v.chars().count() <= MAX_NAME_CHARS && !v.chars().any(char::is_control)
}

/// Free text of at most [`MAX_TEXT_CHARS`] characters.
pub fn bounded_text(what: &str, value: &str) -> Result<(), Invalid> {
    match value.chars().count() > MAX_TEXT_CHARS {
        true => Err(Invalid(format!(
            "{what} must be at most {MAX_TEXT_CHARS} characters"
        ))),
        false => Ok(()),
    }
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

/// Why a request conflicts with a stored approval (HTTP 409), in the words every runtime
/// answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalConflict {
    /// A task id asked about again with a different request.
    #[error(
        "task {task_id:?} was already asked about with a different request (approval {approval_id:?}); \
         a new request needs a new taskId"
    )]
    TaskReused {
        task_id: String,
        approval_id: String,
    },
    /// A human's answer to an approval that is no longer pending (`status` "being
    /// decided" while another answer is recorded).
    #[error("approval {approval_id:?} is already {status}")]
    Decided { approval_id: String, status: String },
    /// A spend reported for an approval that was not approved.
    #[error("approval {approval_id:?} is already {status} (only approved tasks can spend)")]
    NotApproved { approval_id: String, status: String },
    /// A spend reported twice.
    #[error("approval {approval_id:?} is already settled (spend was already reported)")]
    Spent { approval_id: String },
}

/// Where an approval stands, as stored. `Deciding` is a human's answer being recorded
/// (the approval is claimed), which the API shows as pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    Pending,
    Deciding,
    Approved,
    Denied,
    Expired,
}

impl ApprovalStatus {
    /// The stores' name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Deciding => "deciding",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }

    /// What the API shows: an answer being recorded is still pending.
    pub fn shown(self) -> ApprovalStatus {
        match self {
            ApprovalStatus::Deciding => ApprovalStatus::Pending,
            s => s,
        }
    }

    /// A status a client may list by (`?status=`): the ones the API shows.
    pub fn parse_shown(s: &str) -> Option<ApprovalStatus> {
        match s {
            "pending" => Some(ApprovalStatus::Pending),
            "approved" => Some(ApprovalStatus::Approved),
            "denied" => Some(ApprovalStatus::Denied),
            "expired" => Some(ApprovalStatus::Expired),
            _ => None,
        }
    }
}

impl std::fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Outcome> for ApprovalStatus {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Approved => ApprovalStatus::Approved,
            Outcome::Denied => ApprovalStatus::Denied,
            Outcome::Pending => ApprovalStatus::Pending,
        }
    }
}

/// The audit entry of a policy decision.
pub fn decision_audit(d: &Decision) -> Value {
    json!({ "decision": d.outcome.as_str(), "reasonCode": d.reason_code.as_str(), "reason": d.reason, "rule": d.rule })
}

/// The audit entry of a human's decision.
pub fn human_decision_audit(d: &Decision, comment: Option<&str>) -> Value {
    json!({ "decision": d.outcome.as_str(), "comment": comment, "reason": d.reason })
}

/// `GET /api/budget`: every limit of the policy for the periods containing `now`, with
/// what the ledger (key, spent, reserved) holds against it.
/// `GET /api/budget`: every budget of the policy in its current period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BudgetReport {
    pub budgets: Vec<BudgetLine>,
}

/// One budget in its current period, in US dollars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct BudgetLine {
    /// `global`, `agent:<id>` or `channel:<id>`.
    pub scope: String,
    pub period: Period,
    /// The day (`2026-11-30`) or month (`2026-11`) it counts.
    pub period_key: String,
    pub limit_usd: f64,
    pub spent_usd: f64,
    pub reserved_usd: f64,
    pub remaining_usd: f64,
}

/// A budget's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Monthly,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Monthly => "monthly",
        }
    }
}

pub fn budget_report(
    policy: &Policy,
    ledger: &[(String, Micros, Micros)],
    now_ms: i64,
) -> BudgetReport {
    let find = |key: &str| {
        ledger
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, s, r)| (*s, *r))
            .unwrap_or((Micros::ZERO, Micros::ZERO))
    };
    let b = &policy.budget;
    let mut scopes: Vec<(String, &crate::Limits)> = vec![("global".into(), &b.global)];
    scopes.extend(b.agents.iter().map(|(id, l)| (format!("agent:{id}"), l)));
    scopes.extend(
        b.channels
            .iter()
            .map(|(id, l)| (format!("channel:{id}"), l)),
    );
    let mut out = Vec::new();
    for (scope, limits) in scopes {
        for (period, key, limit) in [
            (Period::Daily, day_key(now_ms), limits.daily),
            (Period::Monthly, month_key(now_ms), limits.monthly),
        ] {
            let Some(limit) = limit else { continue };
            let (spent, reserved) = find(&ledger_key(&scope, &key));
            out.push(BudgetLine {
                scope: scope.clone(),
                period,
                remaining_usd: limit
                    .saturating_sub(spent)
                    .saturating_sub(reserved)
                    .to_usd(),
                period_key: key,
                limit_usd: limit.to_usd(),
                spent_usd: spent.to_usd(),
                reserved_usd: reserved.to_usd(),
            });
        }
    }
    BudgetReport { budgets: out }
}

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

/// A human's answer: `{decision: "approve"|"deny", by, comment?}`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HumanDecisionBody {
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::Verdict"))]
    pub decision: String,
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::ShortId"))]
    pub by: String,
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::Text>"))]
    pub comment: Option<String>,
}

impl HumanDecisionBody {
    /// true to approve, or what is wrong with the body.
    pub fn approve(&self) -> Result<bool, Invalid> {
        let by = self.by.trim();
        if !is_short_name(by) {
            return Err(Invalid(format!(
                "by must name who decided, in at most {MAX_NAME_CHARS} characters"
            )));
        }
        if let Some(c) = &self.comment {
            bounded_text("comment", c)?;
        }
        match self.decision.as_str() {
            "approve" => Ok(true),
            "deny" => Ok(false),
            _ => Err("decision must be approve or deny".into()),
        }
    }
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

/// `?before=N` of the approvals and audit listings: the next page starts below the last
/// `number` (approvals) or `seq` (audit) of the previous one.
pub fn page_before(raw: Option<&str>) -> Result<Option<i64>, Invalid> {
    match raw.map(str::parse::<i64>) {
        None => Ok(None),
        Some(Ok(n)) if n > 0 => Ok(Some(n)),
        Some(_) => Err("before must be a positive integer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ApprovalRequest, Invalid> {
        serde_json::from_str::<ApprovalBody>(json)
            .map_err(|e| Invalid(e.to_string()))?
            .into_request()
    }

    /// The chat limit counts characters, as the API's `maxLength` does: 4,096 emoji
    /// (16 KB) pass, one more does not.
    #[test]
    fn chat_limit_counts_characters() {
        let chat = |message: String| ChatBody {
            session_id: "s".into(),
            message,
        };
        assert_eq!(chat("🙂".repeat(MAX_CHAT_CHARS)).validate(), Ok(()));
        assert_eq!(
            chat("🙂".repeat(MAX_CHAT_CHARS + 1)).validate(),
            Err(Invalid(format!(
                "chat messages are limited to {MAX_CHAT_CHARS} characters"
            )))
        );
    }

    #[test]
    fn halt_and_resume_targets_are_checked_alike() {
        let halt = |scope: &str, target: Option<&str>| HaltBody {
            scope: scope.into(),
            target: target.map(str::to_owned),
            reason: Some("r".into()),
        };
        let resume = |scope: &str, target: Option<&str>| ResumeBody {
            scope: scope.into(),
            target: target.map(str::to_owned),
        };
        for (scope, target, want) in [
            ("all", None, Ok("")),
            ("agent", Some(" CodeGen "), Ok("codegen")),
            ("channel", Some(" Ops "), Ok("ops")),
            ("channel", None, Err(())),
            ("task", Some(" t-1 "), Ok("t-1")),
            ("task", Some("a\u{1}b"), Err(())),
            ("task", Some(&*"t".repeat(129)), Err(())),
            ("task", None, Err(())),
            ("all", Some("x"), Err(())),
            ("everything", None, Err(())),
        ] {
            let got = halt(scope, target).target();
            assert_eq!(
                got.as_ref().map(|t| t.target()).map_err(|_| ()),
                want,
                "{scope} {target:?}"
            );
            assert_eq!(resume(scope, target).target(), got);
        }
        let extra = serde_json::from_str::<ResumeBody>(r#"{"scope":"all","reason":"x"}"#);
        assert!(extra.is_err(), "a resume takes no reason");
    }

    #[test]
    fn a_requester_is_a_short_name_when_given() {
        let body = |requester: Option<&str>| ApprovalBody {
            task_id: "t".into(),
            agent: "a".into(),
            action: "read".into(),
            description: String::new(),
            estimated_cost_usd: 1.0,
            channel: None,
            environment: None,
            risk: None,
            tags: Vec::new(),
            requester: requester.map(str::to_owned),
            reply_to: None,
        };
        assert!(body(None).into_request().is_ok());
        assert!(body(Some("ci-bot")).into_request().is_ok());
        for bad in ["", "  ", "a\nb", &"r".repeat(129)] {
            assert!(body(Some(bad)).into_request().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_reply_to_is_an_address_within_its_size() {
        let with = |to: Value| {
            serde_json::from_value::<ApprovalBody>(json!({
                "taskId": "t", "agent": "a", "action": "read", "estimatedCostUsd": 1.0, "replyTo": to
            }))
            .unwrap()
            .into_request()
        };
        assert!(with(json!({"platform": "slack", "source": "T1", "channel": "C1"})).is_ok());
        for bad in [
            json!("C1"),
            json!({"platform": "slack"}),
            json!({"platform": "", "source": "T1"}),
            json!({"platform": "slack", "source": "T1", "pad": "x".repeat(3000)}),
            json!({"platform": "slack", "source": "T1", "nested": {"a": 1}}),
            json!({"platform": "slack", "source": "T1", "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7}),
        ] {
            assert!(with(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn settled_conflicts_quote_the_approval_id() {
        let id = || "apr_1".to_owned();
        let cases = [
            (
                ApprovalConflict::Decided {
                    approval_id: id(),
                    status: "approved".into(),
                },
                "approval \"apr_1\" is already approved",
            ),
            (
                ApprovalConflict::NotApproved {
                    approval_id: id(),
                    status: "denied".into(),
                },
                "approval \"apr_1\" is already denied (only approved tasks can spend)",
            ),
            (
                ApprovalConflict::Spent { approval_id: id() },
                "approval \"apr_1\" is already settled (spend was already reported)",
            ),
        ];
        for (conflict, message) in cases {
            assert_eq!(conflict.to_string(), message);
        }
    }

    #[test]
    fn validates() {
        assert!(
            parse(r#"{"taskId":"t","agent":"a","action":"read","estimatedCostUsd":0.5}"#).is_ok()
        );
        assert!(
            parse(r#"{"taskId":"t","agent":"a","action":"read","estimatedCostUsd":-1}"#)
                .unwrap_err()
                .0
                .contains("negative")
        );
        assert!(
            parse(r#"{"taskId":"t","agent":"a","action":"read","estimatedCostUsd":"5"}"#).is_err()
        );
        assert!(
            parse(r#"{"taskId":"t","agent":"a","action":"read","estimatedCostUsd":1,"colour":1}"#)
                .unwrap_err()
                .0
                .contains("unknown field")
        );
        assert!(
            parse(r#"{"taskId":" ","agent":"a","action":"read","estimatedCostUsd":1}"#)
                .unwrap_err()
                .0
                .contains("taskId")
        );
    }
}
