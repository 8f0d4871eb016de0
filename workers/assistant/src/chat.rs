//! Chat's ports at the edge (the conversation is `agency_assistant_service::chat`'s):
//! the approval each session is discussing ("approve it") in KV,
//! "route:" through the router Worker's service binding, free text to an
//! OpenAI-compatible endpoint when one is configured.

use agency_approval::chat::DEFAULT_MODEL;
use agency_approval::{GraphNames, HeldWork};
use agency_assistant_service::ChatPorts;
use agency_assistant_service::chat::{Changed, held_of, model_answer};
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
    /// to sweep (cards, halt events, held events), after the answer has gone out; its
    /// cron catches up otherwise. The router's copy of the halts is at most
    /// `HALTS_STALE_MS` old by itself.
    fn changed(&self, _what: Changed) {
        if self
            .env
            .service(agency_kit::Part::Webhooks.binding())
            .is_err()
        {
            return;
        }
        let env = self.env.clone();
        self.ctx.wait_until(async move {
            let swept = agency_edge::peer(
                &env,
                agency_kit::Part::Webhooks,
                http::Method::POST,
                "/internal/sweep",
                &Value::Null,
            )
            .await;
            match swept {
                Ok((200, _)) => {}
                Ok((status, body)) => worker::console_warn!("webhooks sweep: {status} {body}"),
                Err(e) => worker::console_warn!("webhooks sweep: {e}"),
            }
        });
    }

    /// Asks the skill-graph Worker (service binding `SKILL_GRAPH`).
    async fn graph_names(&self) -> Result<Option<GraphNames>, ApiError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Agents {
            agents: Vec<Named>,
            graph_version: String,
        }
        #[derive(serde::Deserialize)]
        struct Channels {
            channels: Vec<Named>,
        }
        #[derive(serde::Deserialize)]
        struct Named {
            id: String,
        }
        let get = async |path: &str| {
            agency_edge::peer(
                self.env,
                agency_kit::Part::SkillGraph,
                http::Method::GET,
                path,
                &Value::Null,
            )
            .await
        };
        let (status, agents) = get("/api/agents").await?;
        if status == 404 {
            return Ok(None);
        }
        let (channel_status, channels) = get("/api/channels").await?;
        if status != 200 || channel_status != 200 {
            return Err(agency_kit::PortError::Upstream(format!(
                "the skill graph answered {status} and {channel_status}"
            ))
            .into());
        }
        let unreadable =
            |e: serde_json::Error| ApiError::from(agency_kit::PortError::Upstream(e.to_string()));
        let agents: Agents = serde_json::from_value(agents).map_err(unreadable)?;
        let channels: Channels = serde_json::from_value(channels).map_err(unreadable)?;
        Ok(Some(GraphNames {
            version: agents.graph_version,
            agents: agents.agents.into_iter().map(|a| a.id).collect(),
            channels: channels.channels.into_iter().map(|c| c.id).collect(),
        }))
    }

    /// Asks the webhooks Worker (service binding `WEBHOOKS`).
    async fn held(&self) -> Result<Vec<HeldWork>, ApiError> {
        held_of(
            agency_edge::peer(
                self.env,
                agency_kit::Part::Webhooks,
                http::Method::GET,
                "/api/events/held",
                &Value::Null,
            )
            .await?,
        )
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
        let service = self
            .env
            .service(agency_kit::Part::Router.binding())
            .map_err(|e| e.to_string())?;
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
