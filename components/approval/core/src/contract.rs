//! The JSON body of an approval request (`POST /api/approve`, `policy explain`), shared
//! by every runtime so all accept exactly the same input.

use serde::Deserialize;

use crate::{ApprovalRequest, Micros};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApprovalBody {
    pub task_id: String,
    pub agent: String,
    pub action: String,
    #[serde(default)]
    pub description: String,
    pub estimated_cost_usd: f64,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub risk: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub requester: Option<String>,
}

impl ApprovalBody {
    /// The request, or what is wrong with the body.
    pub fn into_request(self) -> Result<ApprovalRequest, String> {
        for (name, v) in [
            ("taskId", &self.task_id),
            ("agent", &self.agent),
            ("action", &self.action),
        ] {
            if v.trim().is_empty() {
                return Err(format!("{name} must not be empty"));
            }
        }
        let estimated_cost = Micros::from_usd(self.estimated_cost_usd)
            .map_err(|e| format!("estimatedCostUsd: {e}"))?;
        Ok(ApprovalRequest {
            task_id: self.task_id,
            agent: self.agent,
            action: self.action,
            description: self.description,
            estimated_cost,
            channel: self.channel,
            environment: self.environment,
            risk: self.risk,
            tags: self.tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ApprovalRequest, String> {
        serde_json::from_str::<ApprovalBody>(json)
            .map_err(|e| e.to_string())?
            .into_request()
    }

    #[test]
    fn validates() {
        assert!(
            parse(r#"{"taskId":"t","agent":"a","action":"read","estimatedCostUsd":0.5}"#).is_ok()
        );
        assert!(
            parse(r#"{"taskId":"t","agent":"a","action":"read","estimatedCostUsd":-1}"#)
                .unwrap_err()
                .contains("negative")
        );
        assert!(
            parse(r#"{"taskId":"t","agent":"a","action":"read","estimatedCostUsd":"5"}"#).is_err()
        );
        assert!(
            parse(r#"{"taskId":"t","agent":"a","action":"read","estimatedCostUsd":1,"colour":1}"#)
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(
            parse(r#"{"taskId":" ","agent":"a","action":"read","estimatedCostUsd":1}"#)
                .unwrap_err()
                .contains("taskId")
        );
    }
}
