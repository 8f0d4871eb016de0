//! Chat's ports on the local server (the conversation is
//! `agency_assistant_service::chat`'s): sessions in SQLite, "route:" through
//! the in-process router, free text to the configured model.

use agency_approval::{GraphNames, HeldWork};
use agency_assistant_service::ChatPorts;
use agency_assistant_service::chat::{Changed, model_answer};
use agency_kit::ApiError;
use agency_router::RouteRequest;
use serde_json::{Value, json};

use super::ports::Local;
use crate::config::LlmConfig;

impl ChatPorts for Local {
    fn changed(&self, what: Changed) {
        if what == Changed::Halts
            && let Err(e) = self.0.refresh_halts()
        {
            tracing::warn!(error = %e, "the halts could not be read back after a change");
        }
        self.0
            .sweep_due
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.0.webhook_work.notify_one();
    }

    async fn graph_names(&self) -> Result<Option<GraphNames>, ApiError> {
        let active = self.0.active();
        if active.version.is_empty() && active.graph.agents.is_empty() {
            return Ok(None);
        }
        Ok(Some(GraphNames {
            version: active.version.clone(),
            agents: active.graph.agents.iter().map(|a| a.id.clone()).collect(),
            channels: active.graph.channels.iter().map(|c| c.id.clone()).collect(),
        }))
    }

    async fn held(&self) -> Result<Vec<HeldWork>, ApiError> {
        let call = Box::pin(super::site::internal(
            self.0.clone(),
            http::Method::GET,
            "/api/events/held",
            &Value::Null,
        ));
        agency_assistant_service::chat::held_of(call.await)
    }

    async fn last(&self, session: &str) -> Result<Option<String>, ApiError> {
        Ok(self.0.store.chat_last(session)?)
    }

    async fn set_last(&self, session: &str, approval: &str) -> Result<(), ApiError> {
        Ok(self.0.store.chat_set_last(session, approval)?)
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
    let body = resp.body_mut().read_json().map_err(|e| e.to_string());
    model_answer(&url, status, body)
}
