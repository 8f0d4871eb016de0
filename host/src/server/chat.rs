//! Chat's ports on the local server (the conversation is
//! `agency_assistant_service::chat`'s): sessions in SQLite, the configured model, and
//! a change to the halts or cards seen at once by the router and the webhook consumer.

use agency_assistant_service::ChatPorts;
use agency_assistant_service::chat::{Changed, Model};
use agency_kit::ApiError;

use super::ports::Local;

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

    async fn last(&self, session: &str) -> Result<Option<String>, ApiError> {
        Ok(self.0.store.chat_last(session)?)
    }

    async fn set_last(&self, session: &str, approval: &str) -> Result<(), ApiError> {
        Ok(self.0.store.chat_set_last(session, approval)?)
    }

    fn model(&self) -> Option<Model> {
        self.0.config.llm.as_ref().map(|l| Model {
            base_url: l.base_url.clone(),
            model: l.model.clone(),
            api_key: l.api_key.clone(),
        })
    }

    fn warn(&self, message: &str) {
        tracing::warn!("{message}");
    }
}
