//! Chat's ports at the edge (the conversation is `agency_assistant_service::chat`'s):
//! the approval each session is discussing ("approve it") in KV,
//! "route:" through the router Worker's service binding, free text to an
//! OpenAI-compatible endpoint when one is configured.

use agency_approval::chat::DEFAULT_MODEL;
use agency_assistant_service::ChatPorts;
use agency_assistant_service::chat::model_answer;
use agency_edge::OrPort;
use agency_kit::ApiError;
use serde_json::{Value, json};
use worker::{Fetch, Headers, Method, Request, RequestInit};

use crate::Edge;

fn session_key(session: &str) -> String {
    format!("session:{session}")
}

impl ChatPorts for Edge<'_> {
    /// Asks the webhooks Worker (its `WEBHOOKS` binding, when the deployment has one)
    /// to sweep its approval cards, after the answer has gone out.
    fn cards_changed(&self) {
        let Ok(webhooks) = self.env.service("WEBHOOKS") else {
            return;
        };
        let token = agency_edge::own_token(self.env, "AGENCY_OPERATOR_TOKEN");
        self.ctx.wait_until(async move {
            let headers = worker::Headers::new();
            if headers
                .set("authorization", &format!("Bearer {token}"))
                .is_err()
            {
                return;
            }
            let mut init = worker::RequestInit::new();
            init.with_method(worker::Method::Post).with_headers(headers);
            let Ok(request) =
                worker::Request::new_with_init("https://webhooks/internal/cards", &init)
            else {
                return;
            };
            if let Err(e) = webhooks.fetch_request(request).await {
                worker::console_warn!("webhooks card sweep: {e}");
            }
        });
    }

    async fn last(&self, session: &str) -> Result<Option<String>, ApiError> {
        self.env
            .kv("SESSIONS")
            .or_storage()?
            .get(&session_key(session))
            .text()
            .await
            .or_storage()
    }

    async fn set_last(&self, session: &str, approval: &str) -> Result<(), ApiError> {
        self.env
            .kv("SESSIONS")
            .or_storage()?
            .put(&session_key(session), approval)
            .or_storage()?
            .execute()
            .await
            .or_storage()
    }

    /// Asks the router Worker (service binding `ROUTER`).
    async fn route(&self, text: &str) -> Result<Value, String> {
        let service = self.env.service("ROUTER").map_err(|e| e.to_string())?;
        let token = agency_edge::own_token(self.env, "AGENCY_OPERATOR_TOKEN");
        let headers = Headers::new();
        let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
        set("authorization", &format!("Bearer {token}"))?;
        set("content-type", "application/json")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers.clone())
            .with_body(Some(json!({ "message": text }).to_string().into()));
        let req =
            Request::new_with_init("https://router/api/route", &init).map_err(|e| e.to_string())?;
        let mut resp = service
            .fetch_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status_code();
        let body: Value = resp.json().await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(body["error"]["message"]
                .as_str()
                .unwrap_or("the router failed")
                .to_owned());
        }
        Ok(body)
    }

    fn has_model(&self) -> bool {
        self.base_url().is_some()
    }

    async fn ask_model(&self, messages: &[Value]) -> Result<Value, String> {
        let base = self.base_url().ok_or("no model is configured")?;
        let model = self
            .env
            .var("AGENCY_LLM_MODEL")
            .map(|v| v.to_string())
            .unwrap_or_else(|_| DEFAULT_MODEL.into());
        let headers = Headers::new();
        let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
        set("content-type", "application/json")?;
        if let Ok(key) = self.env.secret("AGENCY_LLM_API_KEY") {
            set("authorization", &format!("Bearer {key}"))?;
        }
        let url = format!("{}/chat/completions", base.trim_end_matches('/'));
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers.clone())
            .with_body(Some(
                json!({"model": model, "messages": messages})
                    .to_string()
                    .into(),
            ));
        let req = Request::new_with_init(&url, &init).map_err(|e| e.to_string())?;
        let mut resp = Fetch::Request(req)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status_code();
        let body = resp.json().await.map_err(|e| e.to_string());
        model_answer(&url, status, body)
    }

    fn warn(&self, message: &str) {
        worker::console_warn!("{message}");
    }
}

impl Edge<'_> {
    fn base_url(&self) -> Option<String> {
        self.env
            .var("AGENCY_LLM_BASE_URL")
            .map(|v| v.to_string())
            .ok()
            .filter(|b| !b.is_empty())
    }
}
