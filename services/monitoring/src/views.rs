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

/// `GET /api/sla`. Uptimes are percentages to four decimals (null before any probe).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Sla {
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub uptime24h: Option<f64>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub uptime7d: Option<f64>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub uptime30d: Option<f64>,
    /// The objective, as a percentage (99.9).
    pub objective: f64,
    /// Over 30 days: 1 untouched, 0 spent, negative overspent.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub error_budget_remaining: Option<f64>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub burn_rate1h: Option<f64>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub burn_rate6h: Option<f64>,
    /// Over every request, in milliseconds.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub avg_latency: Option<f64>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub p95_latency: Option<f64>,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub p99_latency: Option<f64>,
    /// Correct among the routing decisions operators judged.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub routing_accuracy: Option<f64>,
    pub cost_trend: CostTrend,
}

/// The daily cost's trend over the last 14 days.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CostTrend {
    /// `rising`, `stable` or `falling`.
    pub direction: &'static str,
    /// US dollars per day (least squares).
    pub slope: f64,
}

/// `GET /api/incidents`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Incidents {
    pub incidents: Vec<IncidentView>,
}

/// One change of status.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct IncidentView {
    pub id: i64,
    /// A part (`router`), `gateway`, `agency` (every part) or `agent:<id>`.
    pub target: String,
    pub at: String,
    /// `up` or `down`.
    pub status: String,
    pub previous: String,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<String>"))]
    pub detail: Option<String>,
}

impl From<crate::store::Incident> for IncidentView {
    fn from(i: crate::store::Incident) -> IncidentView {
        IncidentView {
            id: i.id,
            target: i.target,
            at: agency_kit::ports::rfc3339(i.at_ms),
            status: i.status,
            previous: i.previous,
            detail: i.detail,
        }
    }
}

/// `GET /api/dashboard` (and each event of `/api/dashboard/stream`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Dashboard {
    /// When it was taken.
    pub at: String,
    pub stats: Stats,
    pub sla: Sla,
    /// The newest incidents.
    pub incidents: Vec<IncidentView>,
    /// Every series of `/api/metrics/series` over the last hour, a point a minute.
    pub series: BTreeMap<String, Vec<PointView>>,
    /// The newest routing decisions, as `GET /api/route/decisions` lists them (null
    /// when the router could not answer).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<Vec<serde_json::Value>>"))]
    pub decisions: Option<Vec<serde_json::Value>>,
    /// The newest approvals, as `GET /api/approvals` lists them (null when the
    /// assistant could not answer).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<Vec<serde_json::Value>>"))]
    pub approvals: Option<Vec<serde_json::Value>>,
    /// The newest dead letters, as `GET /api/deadletters` lists them (null when the
    /// webhook service could not answer).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<Vec<serde_json::Value>>"))]
    pub dead_letters: Option<Vec<serde_json::Value>>,
    /// The halts in force, as `GET /api/halt` lists them (null when the assistant could
    /// not answer).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<Vec<serde_json::Value>>"))]
    pub halts: Option<Vec<serde_json::Value>>,
    /// The grants in force, as `GET /api/grants?status=active` lists them (null when
    /// the assistant could not answer).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<Vec<serde_json::Value>>"))]
    pub grants: Option<Vec<serde_json::Value>>,
    /// The events held by each halt, as `GET /api/events/held` counts them (null when
    /// the webhook service could not answer).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<Vec<serde_json::Value>>"))]
    pub held: Option<Vec<serde_json::Value>>,
    /// The agents with their health and their pools' instances, as `GET /api/agents`
    /// lists them (null when the skill graph could not answer).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<Vec<serde_json::Value>>"))]
    pub agents: Option<Vec<serde_json::Value>>,
}

/// `GET /api/metrics/series`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Series {
    pub name: String,
    /// Seconds per point.
    pub step: i64,
    pub points: Vec<PointView>,
}

/// One step: its start (Unix milliseconds) and value (null: nothing noted).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PointView {
    pub t: i64,
    #[cfg_attr(feature = "openapi", schemars(with = "Option<f64>"))]
    pub v: Option<f64>,
}
