//! What the monitoring service answers, as types.

use std::collections::BTreeMap;

use serde::Serialize;

/// `GET /api/stats`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Stats {
    /// Requests answered by every part since the counters started.
    pub requests: u64,
    /// Mean time to answer `POST /api/route`, in milliseconds (null before any).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub avg_routing_latency: Option<f64>,
    pub routing_decisions: u64,
    /// Approved among approved and denied decisions (null before any).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub approval_rate: Option<f64>,
    /// Spent today in US dollars, against the global daily budget (null without one).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub cost_today: Option<f64>,
    /// `up`, `down` or `unknown` for webhooks, router, skill-graph, assistant,
    /// monitoring and the gateway.
    pub worker_status: BTreeMap<String, String>,
    /// Per endpoint: requests, errors and latency percentiles.
    pub endpoints: Vec<EndpointStats>,
}

/// One endpoint's figures.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EndpointStats {
    pub service: String,
    /// The route pattern (`/api/approvals/{id}`).
    pub route: String,
    pub requests: u64,
    /// 4xx answers.
    pub client_errors: u64,
    /// 5xx answers.
    pub errors: u64,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub p50_ms: Option<f64>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub p95_ms: Option<f64>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub p99_ms: Option<f64>,
}
