//! The monitoring service on the local server: every service runs in this process, so
//! the merged metrics are the server's one registry (fed by the request middleware and
//! the services' samples), a part's probe is its health check called in-process, and
//! the day's cost is the assistant's global daily budget line. What a probe round
//! decides is the service's (`agency_monitoring_service::probes`).

use agency_assistant_service::AssistantPorts;
use agency_kit::{ApiError, Clock};
use agency_monitor::Registry;
use agency_monitoring_service::{MonitorPorts, ProbeSettings, Probed};
use agency_webhooks_service::WebhookPorts;
use agency_webhooks_service::outbound::OutRequest;

use super::ports::Local;
use crate::store::Store;

impl MonitorPorts for Local {
    type Db = Store;

    fn db(&self) -> &Store {
        &self.0.store
    }

    fn probe_settings(&self) -> ProbeSettings {
        let c = &self.0.config;
        ProbeSettings {
            down_after: c.monitoring.down_after,
            objective: c.monitoring.objective,
            gateway: c.gateway.as_ref().and_then(|g| g.health_url.clone()),
            agent: c.gateway.as_ref().and_then(|g| g.agent_health_url.clone()),
            timeout_ms: c.monitoring.probe_interval_ms.clamp(100, 5_000),
        }
    }

    async fn metrics(&self) -> Result<Registry, ApiError> {
        Ok(self.0.metrics().clone())
    }

    async fn probe_part(&self, part: &str) -> Probed {
        let start = self.precise_ms();
        let (up, detail) = match part {
            "router" => agency_router_service::health(self).await,
            "skill-graph" => agency_skill_graph_service::health(self).await,
            "webhooks" => agency_webhooks_service::health(self).await,
            // The assistant answers from this process and its store.
            _ => match self.budget().await {
                Ok(_) => (true, serde_json::Value::Null),
                Err(e) => (false, serde_json::json!(e.message)),
            },
        };
        Probed {
            up,
            ms: (self.precise_ms() - start).max(0.0),
            detail: (!up).then(|| detail.to_string()),
        }
    }

    /// Through the HTTP client the webhook service's calls use (its agent keeps
    /// connections to the gateway open).
    async fn get(&self, url: &str, timeout_ms: u64) -> Result<u16, String> {
        let request = OutRequest {
            method: http::Method::GET,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms,
        };
        WebhookPorts::send(self, request).await.map(|r| r.status)
    }

    async fn agents(&self) -> Vec<String> {
        self.0
            .active()
            .graph
            .agents
            .iter()
            .map(|a| a.id.to_string())
            .collect()
    }

    async fn set_agent_health(&self, agent: &str, healthy: bool) -> Result<(), ApiError> {
        let path = format!("/api/agents/{agent}/health");
        let (status, body) = super::site::internal(
            self.0.clone(),
            http::Method::PUT,
            &path,
            &serde_json::json!({ "healthy": healthy }),
        )
        .await;
        if status == 200 {
            Ok(())
        } else {
            Err(ApiError::internal(
                "agent_health",
                &format!("marking {agent} healthy={healthy}: {status} {body}"),
            ))
        }
    }

    async fn cost_today(&self) -> Option<f64> {
        let report = self.budget().await.ok()?;
        report["budgets"]
            .as_array()?
            .iter()
            .find(|b| b["scope"] == "global" && b["period"] == "daily")
            .and_then(|b| b["spentUsd"].as_f64())
    }
}
