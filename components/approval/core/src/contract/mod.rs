//! The API's request and answer bodies that the approval core owns, shared by every
//! runtime so all accept exactly the same input: the approval request
//! ([`request`]), an approval's status and conflicts ([`status`]), the budget report
//! ([`budget`]) and the operators' bodies ([`bodies`]); here, what every body's check
//! shares.

mod bodies;
mod budget;
mod grants;
mod request;
mod status;

pub use bodies::*;
pub use budget::*;
pub use grants::*;
pub use request::*;
pub use status::*;

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
    use crate::ApprovalRequest;
    use serde_json::{Value, json};

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
