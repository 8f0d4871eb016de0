//! `POST /api/chat` on the local server: the conversation is
//! `agency_assistant_service::chat`'s; this implements its ports on the store, the
//! in-process router and the configured model.

use std::sync::Arc;

use agency_assistant_service::chat::{ChatPorts, Undecided};
use agency_kit::{ApiError, ApiResult, Request};
use agency_router::RouteRequest;
use serde_json::{Value, json};

use super::AppState;
use super::approvals::{budget_value, decide_human};
use crate::approvals::ApprovalError;
use crate::config::LlmConfig;

pub async fn chat(state: &Arc<AppState>, req: &Request) -> ApiResult {
    agency_assistant_service::chat::chat(&LocalChat(state.clone()), req).await
}

struct LocalChat(Arc<AppState>);

impl ChatPorts for LocalChat {
    async fn pending(&self, limit: u32) -> Result<Vec<Value>, ApiError> {
        Ok(self.0.store.approvals(Some("pending"), limit, None)?)
    }

    async fn approval(&self, id: &str) -> Result<Option<Value>, ApiError> {
        match self.0.store.approval(id) {
            Ok(v) => Ok(Some(v)),
            Err(ApprovalError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn approval_id_by_number(&self, number: i64) -> Result<Option<String>, ApiError> {
        Ok(self.0.store.approval_id_by_number(number)?)
    }

    async fn last(&self, session: &str) -> Result<Option<String>, ApiError> {
        Ok(self.0.store.chat_last(session)?)
    }

    async fn set_last(&self, session: &str, approval: &str) -> Result<(), ApiError> {
        Ok(self.0.store.chat_set_last(session, approval)?)
    }

    async fn decide(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        comment: Option<&str>,
    ) -> Result<Value, Undecided> {
        decide_human(&self.0, id, approve, by, comment).map_err(|e| match e {
            ApprovalError::Settled { status, .. } => Undecided::Settled(status),
            e => Undecided::Failed(e.into()),
        })
    }

    async fn budgets(&self) -> Result<Vec<Value>, ApiError> {
        let report = budget_value(&self.0)?;
        Ok(report["budgets"].as_array().cloned().unwrap_or_default())
    }

    async fn halt(
        &self,
        scope: &str,
        target: &str,
        reason: &str,
        by: &str,
    ) -> Result<(), ApiError> {
        Ok(self.0.store.halt(scope, target, reason, Some(by))?)
    }

    async fn resume_agent(&self, agent: &str, by: &str) -> Result<bool, ApiError> {
        Ok(self.0.store.resume("agent", agent, Some(by))?)
    }

    async fn resume_all(&self, by: &str) -> Result<usize, ApiError> {
        Ok(self.0.store.resume_all(Some(by))?)
    }

    async fn route(&self, text: &str) -> Result<Value, String> {
        let request = RouteRequest {
            message: text.to_owned(),
            down_agents: self.0.down_agents(),
            ..RouteRequest::default()
        };
        let d = self.0.router.route(&request).map_err(|e| e.to_string())?;
        serde_json::to_value(&d).map_err(|e| e.to_string())
    }

    async fn history(&self, session: &str, limit: u32) -> Result<Vec<(String, String)>, ApiError> {
        Ok(self.0.store.chat_history(session, limit)?)
    }

    async fn append(&self, session: &str, messages: &[(&str, &str)]) -> Result<(), ApiError> {
        for (role, content) in messages {
            self.0.store.chat_append(session, role, content)?;
        }
        Ok(())
    }

    fn has_model(&self) -> bool {
        self.0.config.llm.is_some()
    }

    async fn ask_model(&self, messages: &[Value]) -> Result<Value, String> {
        let llm = self.0.config.llm.clone().ok_or("no model is configured")?;
        let messages = messages.to_vec();
        tokio::task::spawn_blocking(move || completion(&llm, messages))
            .await
            .map_err(|e| e.to_string())?
    }

    fn warn(&self, message: &str) {
        tracing::warn!("{message}");
    }
}

/// One chat-completions call (blocking: run off the async workers).
fn completion(llm: &LlmConfig, messages: Vec<Value>) -> Result<Value, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}/chat/completions", llm.base_url.trim_end_matches('/'));
    let mut req = agent.post(&url).header("content-type", "application/json");
    if let Some(key) = &llm.api_key {
        req = req.header("authorization", &format!("Bearer {key}"));
    }
    let mut resp = req
        .send(json!({"model": llm.model, "messages": messages}).to_string())
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    let body: Value = resp
        .body_mut()
        .read_json()
        .map_err(|e| format!("{url}: unreadable answer: {e}"))?;
    if status != 200 {
        return Err(format!("{url}: status {status}"));
    }
    Ok(body)
}
