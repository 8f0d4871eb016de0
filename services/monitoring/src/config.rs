//! The `[monitoring]` section (both runtimes) and what probes need of `[gateway]`,
//! into [`ProbeSettings`]. The local server reads them from its config file; the
//! monitoring Worker from `AGENCY_MONITORING` (the same TOML, other sections ignored).

use serde::Deserialize;

use crate::ProbeSettings;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// How often every part, the gateway and the agents are probed (the local
    /// server's timer; the monitoring Worker's cron runs once a minute).
    pub probe_interval_ms: u64,
    /// Failures in a row before a target counts as down.
    pub down_after: u32,
    /// The SLA's objective, as a share (0.999 is 99.9%).
    pub objective: f64,
    /// `GET /metrics` without a token for connections from this machine (a local
    /// Prometheus); others still need a viewer token. Local server only.
    pub open_metrics: bool,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            probe_interval_ms: 15_000,
            down_after: 3,
            objective: agency_monitor::sla::DEFAULT_OBJECTIVE,
            open_metrics: false,
        }
    }
}

impl MonitoringConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.probe_interval_ms < 100
            || self.down_after == 0
            || !(self.objective > 0.0 && self.objective < 1.0)
        {
            return Err("monitoring: probe_interval_ms must be at least 100, down_after at least 1, objective between 0 and 1 (0.999 is 99.9%)".into());
        }
        Ok(())
    }

    /// The probes' settings, with the gateway's health URLs (`[gateway] health_url`,
    /// `agent_health_url`, `instance_health_url`).
    pub fn probes(&self, gateway: Option<&GatewayHealth>) -> ProbeSettings {
        ProbeSettings {
            down_after: self.down_after,
            objective: self.objective,
            gateway: gateway.and_then(|g| g.health_url.clone()),
            agent: gateway.and_then(|g| g.agent_health_url.clone()),
            instance: gateway.and_then(|g| g.instance_health_url.clone()),
            timeout_ms: self.probe_interval_ms.clamp(100, 5_000),
        }
    }
}

/// What the probes read of `[gateway]` (the webhook service owns the section and checks
/// the rest of it).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct GatewayHealth {
    pub health_url: Option<String>,
    pub agent_health_url: Option<String>,
    #[serde(default)]
    pub instance_health_url: Option<String>,
}

/// The sections the monitoring Worker reads from `AGENCY_MONITORING`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Sections {
    #[serde(default)]
    pub monitoring: MonitoringConfig,
    pub gateway: Option<GatewayHealth>,
}
