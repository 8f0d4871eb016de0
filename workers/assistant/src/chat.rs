//! Chat's ports at the edge (the conversation is `agency_assistant_service::chat`'s):
//! the approval each session is discussing ("approve it") in KV, the model from the
//! Worker's variables, and a change told to the webhooks Worker.

use agency_approval::chat::DEFAULT_MODEL;
use agency_assistant_service::ChatPorts;
use agency_assistant_service::chat::{Changed, Model};
use agency_edge::OrPort;
use agency_kit::ApiError;
use serde_json::Value;

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
        let Some(ctx) = self.ctx else {
            return; // a cron run: the webhooks Worker's own cron catches up
        };
        if self
            .env
            .service(agency_kit::Part::Webhooks.binding())
            .is_err()
        {
            return;
        }
        let env = self.env.clone();
        ctx.wait_until(async move {
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

    /// `AGENCY_LLM_BASE_URL` (none or empty: no model), `AGENCY_LLM_MODEL`, the secret
    /// `AGENCY_LLM_API_KEY`.
    fn model(&self) -> Option<Model> {
        let var = |name: &str| {
            self.env
                .var(name)
                .map(|v| v.to_string())
                .ok()
                .filter(|v| !v.is_empty())
        };
        Some(Model {
            base_url: var("AGENCY_LLM_BASE_URL")?,
            model: var("AGENCY_LLM_MODEL").unwrap_or_else(|| DEFAULT_MODEL.into()),
            api_key: self
                .env
                .secret("AGENCY_LLM_API_KEY")
                .ok()
                .map(|k| k.to_string()),
        })
    }

    fn warn(&self, message: &str) {
        worker::console_warn!("{message}");
    }
}
