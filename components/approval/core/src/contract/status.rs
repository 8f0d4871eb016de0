//! An approval's status as the API shows it, why a human decision could not be taken,
//! and the audit entries of decisions.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Decision, Outcome};

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
