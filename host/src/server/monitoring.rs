//! The monitoring service on the local server: every service runs in this process, so
//! the merged metrics are the server's one registry (fed by the request middleware
//! and the services' hooks), each part is up while the server answers, and the day's
//! cost is the assistant's global daily budget line.

use agency_assistant_service::AssistantPorts;
use agency_kit::ApiError;
use agency_monitor::Registry;
use agency_monitoring_service::{MonitorPorts, PARTS, PartStatus};

use super::ports::Local;

impl MonitorPorts for Local {
    async fn metrics(&self) -> Result<Registry, ApiError> {
        Ok(self.0.metrics().clone())
    }

    async fn parts(&self) -> Vec<PartStatus> {
        PARTS
            .iter()
            .map(|&part| PartStatus {
                part,
                // In-process parts answer with this server; the gateway is not probed
                // yet (issue 11's probes).
                status: if part == "gateway" { "unknown" } else { "up" },
            })
            .collect()
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
