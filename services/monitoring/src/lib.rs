//! The monitoring service: `GET /metrics` (the Prometheus text exposition of every
//! part's metrics, merged) and `GET /api/stats` (what an operator looks at first),
//! written once and run by the local server (and, next, the monitoring Worker). What the
//! numbers mean is the monitor core's (`agency-monitor`); the runtime hands over the
//! merged registry, the parts' health and the day's cost.
//!
//! Never depends on a runtime crate (tokio, rusqlite, wasmtime, worker).
#![allow(async_fn_in_trait)]

#[cfg(feature = "openapi")]
mod doc;
pub mod views;

use agency_kit::http::{json, with_type};
use agency_kit::routes::Route;
use agency_kit::{Access, ApiError, ApiResult, BodyLimit, Clock, Request};
use agency_monitor::metrics::{
    APPROVALS, HTTP_DURATION, HTTP_REQUESTS, ROUTE_DECISIONS, Registry, Value,
};
use agency_monitor::prom;
use http::{Method, StatusCode};
use serde_json::json;

/// The parts whose status `/api/stats` reports, in its order.
pub const PARTS: &[&str] = &[
    "webhooks",
    "router",
    "skill-graph",
    "assistant",
    "monitoring",
    "gateway",
];

/// One part's status: `up`, `down`, or `unknown` (not configured, not probed yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartStatus {
    pub part: &'static str,
    pub status: &'static str,
}

/// What the monitoring service needs from its runtime.
pub trait MonitorPorts: Clock {
    /// Every part's metrics, merged.
    async fn metrics(&self) -> Result<Registry, ApiError>;
    /// The status of each of [`PARTS`].
    async fn parts(&self) -> Vec<PartStatus>;
    /// Money spent today in US dollars (the global daily budget's), when known.
    async fn cost_today(&self) -> Option<f64>;
}

/// The endpoints of the monitoring service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Metrics,
    Stats,
}

pub static ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: Method::GET,
        path: "/metrics",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Metrics,
        summary: "Every part's metrics in the Prometheus text exposition format",
    },
    Route {
        method: Method::GET,
        path: "/api/stats",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Stats,
        summary: "Requests, routing latency, approval rate, today's cost and each part's status",
    },
];

/// Answers `req` at `endpoint` (the runtime found the route and checked the token).
pub async fn call<P: MonitorPorts>(p: &P, endpoint: Endpoint, _req: &Request) -> ApiResult {
    match endpoint {
        Endpoint::Metrics => {
            let r = p.metrics().await?;
            Ok(with_type(
                StatusCode::OK,
                prom::render(&r).into_bytes(),
                prom::CONTENT_TYPE,
            ))
        }
        Endpoint::Stats => Ok(json(StatusCode::OK, &stats(p).await?)),
    }
}

/// This service's part of `/health`.
pub async fn health<P: MonitorPorts>(p: &P) -> (bool, serde_json::Value) {
    match p.metrics().await {
        Ok(r) => (true, json!({ "status": "ok", "droppedSeries": r.dropped })),
        Err(_) => (false, json!({ "status": "degraded" })),
    }
}

fn ms(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|s| (s * 1000.0 * 1000.0).round() / 1000.0)
}

async fn stats<P: MonitorPorts>(p: &P) -> Result<views::Stats, ApiError> {
    let r = p.metrics().await?;
    let requests = r.total(HTTP_REQUESTS, |_| true) as u64;
    let routing = r.latency(HTTP_DURATION, |l| l[1] == "/api/route");
    let by = |outcome: &str| r.total(APPROVALS, |l| l[0] == outcome);
    let decided = by("approved") + by("denied");
    let approval_rate = (decided > 0.0).then(|| by("approved") / decided);
    let mut endpoints = Vec::new();
    for (labels, v) in r.series(HTTP_DURATION) {
        let Value::Histogram(h) = v else { continue };
        let (service, route) = (labels[0].clone(), labels[1].clone());
        let errors = r.total(HTTP_REQUESTS, |l| {
            l[0] == service && l[1] == route && l[3] == "5xx"
        }) as u64;
        let client_errors = r.total(HTTP_REQUESTS, |l| {
            l[0] == service && l[1] == route && l[3] == "4xx"
        }) as u64;
        endpoints.push(views::EndpointStats {
            service,
            route,
            requests: h.count(),
            client_errors,
            errors,
            p50_ms: ms(h.sketch.quantile(0.5)),
            p95_ms: ms(h.sketch.quantile(0.95)),
            p99_ms: ms(h.sketch.quantile(0.99)),
        });
    }
    let parts = p.parts().await;
    Ok(views::Stats {
        requests,
        avg_routing_latency: ms(routing.mean()),
        routing_decisions: r.total(ROUTE_DECISIONS, |_| true) as u64,
        approval_rate,
        cost_today: p.cost_today().await,
        worker_status: parts
            .into_iter()
            .map(|s| (s.part.to_owned(), s.status.to_owned()))
            .collect(),
        endpoints,
    })
}
