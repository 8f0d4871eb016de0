//! The monitoring service: `GET /metrics` (the Prometheus text exposition of every
//! part's metrics, merged) and `GET /api/stats` (what an operator looks at first),
//! written once and run by the local server (and, next, the monitoring Worker). What the
//! numbers mean is the monitor core's (`agency-monitor`); the runtime hands over the
//! merged registry, the parts' health and the day's cost.
//!
//! Never depends on a runtime crate (tokio, rusqlite, wasmtime, worker).
#![allow(async_fn_in_trait)]

pub mod config;
pub mod dashboard;
#[cfg(feature = "openapi")]
mod doc;
pub mod probes;
pub mod samples;
pub mod series;
pub mod store;
pub mod views;

use agency_kit::http::{json, parse_limit, with_type};
use agency_kit::routes::Route;
use agency_kit::{Access, ApiError, ApiResult, BodyLimit, Clock, Db, Part, Random, Request};
use agency_monitor::metrics::{
    APPROVALS, HTTP_DURATION, HTTP_REQUESTS, ROUTE_DECISIONS, ROUTE_FEEDBACK, Registry, Value,
};
use agency_monitor::{prom, sla};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

pub use probes::{ProbeSettings, Probed};
pub use store::MIGRATIONS;

/// What `/api/stats` reports the status of besides the parts.
const GATEWAY: &str = "gateway";

/// What the monitoring service needs from its runtime.
pub trait MonitorPorts:
    Clock + Random + agency_kit::Metrics + agency_kit::Outbound + agency_kit::Peers
{
    type Db: Db;
    /// Where probes, statuses, incidents, daily costs and shipped samples are stored.
    fn db(&self) -> &Self::Db;
    fn probe_settings(&self) -> ProbeSettings;
    /// The samples this runtime holds in memory and has not stored: the local server's
    /// one registry; at the edge, this isolate's own not yet written to D1.
    fn live(&self) -> Registry;
    /// Probes another part (in-process locally, over a service binding at the edge).
    async fn probe_part(&self, part: Part) -> Probed;
}

/// The current graph's agents, with their pools' instances (none when there is no
/// graph or it can't be read).
pub async fn agents<P: MonitorPorts>(p: &P) -> Vec<agency_skill_graph_service::views::AgentStatus> {
    match p
        .peer(
            Part::SkillGraph,
            Method::GET,
            "/api/agents",
            &serde_json::Value::Null,
        )
        .await
    {
        Ok((200, v)) => serde_json::from_value::<agency_skill_graph_service::views::Agents>(v)
            .map(|a| a.agents)
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Reports an instance's health (and the load its probe answered, else 0) to the skill
/// graph, as the gateway would.
pub async fn report_instance<P: MonitorPorts>(
    p: &P,
    agent: &str,
    instance: &str,
    healthy: bool,
    load: Option<f64>,
) -> Result<(), ApiError> {
    let path = format!("/api/agents/{agent}/instances/{instance}");
    let body = json!({ "healthy": healthy, "load": load.unwrap_or(0.0) });
    match p.peer(Part::SkillGraph, Method::PUT, &path, &body).await? {
        (200, _) => Ok(()),
        (status, body) => Err(ApiError::internal(
            "instance_health",
            &format!("reporting {agent}/{instance} healthy={healthy}: {status} {body}"),
        )),
    }
}

/// Marks an agent up or down in the skill graph (the router falls back meanwhile).
pub async fn set_agent_health<P: MonitorPorts>(
    p: &P,
    agent: &str,
    healthy: bool,
) -> Result<(), ApiError> {
    let path = format!("/api/agents/{agent}/health");
    let body = json!({ "healthy": healthy });
    match p.peer(Part::SkillGraph, Method::PUT, &path, &body).await? {
        (200, _) => Ok(()),
        (status, body) => Err(ApiError::internal(
            "agent_health",
            &format!("marking {agent} healthy={healthy}: {status} {body}"),
        )),
    }
}

/// Money spent today in US dollars (the assistant's global daily budget line), when
/// known.
pub async fn cost_today<P: MonitorPorts>(p: &P) -> Option<f64> {
    let (status, report) = p
        .peer(
            Part::Assistant,
            Method::GET,
            "/api/budget",
            &serde_json::Value::Null,
        )
        .await
        .ok()?;
    if status != 200 {
        return None;
    }
    let report: agency_approval::contract::BudgetReport = serde_json::from_value(report).ok()?;
    report
        .budgets
        .iter()
        .find(|b| b.scope == "global" && b.period == agency_approval::contract::Period::Daily)
        .map(|b| b.spent_usd)
}

/// The endpoints of the monitoring service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Metrics,
    Stats,
    Sla,
    Incidents,
    Series,
    Samples,
    Dashboard,
    DashboardAsset,
    Snapshot,
    Stream,
}

/// The monitoring service, declared once.
pub static SERVICE: agency_kit::Service = agency_kit::Service {
    part: agency_kit::Part::Monitoring,
    summary: "Stats, health probes of every part and the gateway, SLA, Prometheus metrics, the dashboard",
    routes: || agency_kit::service::listed(ROUTES),
    migrations: MIGRATIONS,
    retained: &[],
    edge: agency_kit::EdgeNeeds {
        database: true,
        kv: &[],
        objects: &[],
        queues: &[],
        crons: &["* * * * *"],
        archive: false,
        // Probes every other part.
        calls: &[
            agency_kit::Part::Router,
            agency_kit::Part::SkillGraph,
            agency_kit::Part::Assistant,
            agency_kit::Part::Webhooks,
        ],
        vars: &["AGENCY_MONITORING"],
        secrets: agency_kit::service::ROLE_TOKENS,
    },
};

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
    Route {
        method: Method::GET,
        path: "/api/sla",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Sla,
        summary: "Uptime over 24 hours, 7 and 30 days, the error budget and its burn, latency, routing accuracy, the cost trend",
    },
    Route {
        method: Method::GET,
        path: "/api/incidents",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Incidents,
        summary: "Every change of a part's, the gateway's or an agent's status, newest first",
    },
    Route {
        method: Method::GET,
        path: "/api/metrics/series",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Series,
        summary: "One figure over time, a point per step (what the dashboard charts)",
    },
    Route {
        method: Method::POST,
        path: "/internal/samples",
        access: Access::Write,
        body: BodyLimit::Graph,
        endpoint: Endpoint::Samples,
        summary: "Store a batch of another part's samples (each Worker ships its own here)",
    },
    Route {
        method: Method::GET,
        path: "/dashboard",
        access: Access::Public,
        body: BodyLimit::None,
        endpoint: Endpoint::Dashboard,
        summary: "The dashboard: one HTML page (it asks for a viewer token and reads the API with it)",
    },
    Route {
        method: Method::GET,
        path: "/dashboard/{asset}",
        access: Access::Public,
        body: BodyLimit::None,
        endpoint: Endpoint::DashboardAsset,
        summary: "The dashboard's scripts and styles (uPlot included), served from here",
    },
    Route {
        method: Method::GET,
        path: "/api/dashboard",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Snapshot,
        summary: "Everything the dashboard shows: stats, SLA, the last hour's series, incidents, recent decisions, approvals and dead letters",
    },
    Route {
        method: Method::GET,
        path: "/api/dashboard/stream",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Stream,
        summary: "The dashboard's snapshots as server-sent events",
    },
];

/// Answers `req` at `endpoint` (the runtime found the route and checked the token).
pub async fn call<P: MonitorPorts>(p: &P, endpoint: Endpoint, req: &Request) -> ApiResult {
    match endpoint {
        Endpoint::Samples => {
            let body: serde_json::Value = req.json()?;
            // Well-formed JSON whose histogram or sketch does not hold together is 422.
            let shipped: Registry = serde_json::from_value(body).map_err(|e| {
                ApiError::unprocessable(
                    "invalid_samples",
                    format!("the body is not a samples registry: {e}"),
                )
            })?;
            samples::ingest(p.db(), p.now_ms(), &shipped).await?;
            Ok(json(
                StatusCode::ACCEPTED,
                &json!({ "stored": shipped.len(), "dropped": shipped.dropped }),
            ))
        }
        Endpoint::Metrics => {
            let r = samples::merged(p).await?;
            Ok(with_type(
                StatusCode::OK,
                prom::render(&r).into_bytes(),
                prom::CONTENT_TYPE,
            ))
        }
        Endpoint::Stats => {
            let r = samples::merged(p).await?;
            Ok(json(StatusCode::OK, &stats(p, &r).await?))
        }
        Endpoint::Dashboard => Ok(dashboard::page()),
        Endpoint::DashboardAsset => dashboard::asset(&req.param(0, "asset")?),
        Endpoint::Snapshot => Ok(json(StatusCode::OK, &dashboard::snapshot(p).await?)),
        Endpoint::Stream => dashboard::stream(p).await,
        Endpoint::Sla => {
            let r = samples::merged(p).await?;
            Ok(json(StatusCode::OK, &sla_view(p, &r).await?))
        }
        Endpoint::Series => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Q {
                name: Option<String>,
                from: Option<String>,
                to: Option<String>,
                step: Option<String>,
            }
            let q: Q = req.query()?;
            let int = |v: &Option<String>, what: &str| -> Result<Option<i64>, ApiError> {
                v.as_deref()
                    .map(|s| {
                        s.parse::<i64>()
                            .ok()
                            .filter(|n| (0..=MAX_MS).contains(n))
                            .ok_or_else(|| {
                                ApiError::bad_request(format!(
                                    "{what} must be an integer from 0 to {MAX_MS}"
                                ))
                            })
                    })
                    .transpose()
            };
            let name = q
                .name
                .clone()
                .ok_or_else(|| ApiError::bad_request("name is required"))?;
            let to = int(&q.to, "to (Unix milliseconds)")?.unwrap_or_else(|| p.now_ms());
            let from = int(&q.from, "from (Unix milliseconds)")?.unwrap_or(to.saturating_sub(HOUR));
            let step = int(&q.step, "step (seconds)")?.unwrap_or(60);
            if step < 60 || step % 60 != 0 || step > 86_400 {
                return Err(ApiError::bad_request(
                    "step must be a multiple of 60 seconds, at most 86400",
                ));
            }
            // At most MAX_POINTS points: a longer range keeps its most recent part.
            let from = from.max(to.saturating_sub((series::MAX_POINTS - 1) * step * 1000));
            let points = series::read(p.db(), &name, from, to, step)
                .await?
                .into_iter()
                .map(|(t, v)| views::PointView { t, v })
                .collect();
            Ok(json(StatusCode::OK, &views::Series { name, step, points }))
        }
        Endpoint::Incidents => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Q {
                limit: Option<String>,
            }
            let q: Q = req.query()?;
            let limit = parse_limit(q.limit.as_deref(), 50, 1000)?;
            let incidents = store::incidents(p.db(), limit)
                .await?
                .into_iter()
                .map(views::IncidentView::from)
                .collect();
            Ok(json(StatusCode::OK, &views::Incidents { incidents }))
        }
    }
}

const HOUR: i64 = 3_600_000;

/// The latest time a series is asked about: the end of year 9999, in Unix milliseconds.
pub const MAX_MS: i64 = 253_402_300_799_999;

fn percent(share: Option<f64>) -> Option<f64> {
    share.map(sla::percent4)
}

/// The SLA over the merged metrics `r` and the stored probes.
async fn sla_view<P: MonitorPorts>(p: &P, r: &Registry) -> Result<views::Sla, ApiError> {
    let now = p.now_ms();
    let objective = p.probe_settings().objective;
    let probes = store::probes(p.db(), probes::AGENCY, now - 30 * 24 * HOUR).await?;
    let window = |hours: i64| sla::window(&probes, now, hours * HOUR, objective);
    let all = r.latency(HTTP_DURATION, |_| true);
    let feedback = |v: &str| r.total(ROUTE_FEEDBACK, |l| l[0] == v);
    let judged = feedback("correct") + feedback("wrong");
    let trend = sla::trend(&store::costs(p.db(), 14).await?, 0.05);
    Ok(views::Sla {
        uptime24h: percent(window(24).uptime),
        uptime7d: percent(window(7 * 24).uptime),
        uptime30d: percent(window(30 * 24).uptime),
        objective: sla::percent4(objective),
        error_budget_remaining: window(30 * 24).budget_remaining,
        burn_rate1h: window(1).burn_rate,
        burn_rate6h: window(6).burn_rate,
        avg_latency: ms(all.mean()),
        p95_latency: ms(all.quantile(0.95)),
        p99_latency: ms(all.quantile(0.99)),
        routing_accuracy: (judged > 0.0).then(|| feedback("correct") / judged),
        cost_trend: views::CostTrend {
            direction: match trend.direction {
                sla::Direction::Rising => "rising",
                sla::Direction::Stable => "stable",
                sla::Direction::Falling => "falling",
            },
            slope: trend.slope,
        },
    })
}

/// This service's part of `/health`.
pub async fn health<P: MonitorPorts>(p: &P) -> (bool, serde_json::Value) {
    match samples::merged(p).await {
        Ok(r) => (true, json!({ "status": "ok", "droppedSeries": r.dropped })),
        Err(_) => (false, json!({ "status": "degraded" })),
    }
}

fn ms(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|s| (s * 1000.0 * 1000.0).round() / 1000.0)
}

/// The stats over the merged metrics `r` and the stored statuses.
async fn stats<P: MonitorPorts>(p: &P, r: &Registry) -> Result<views::Stats, ApiError> {
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
    let known = store::statuses(p.db()).await?;
    let status_of = |part: &str| -> String {
        if part == Part::Monitoring.name() {
            return "up".into();
        }
        known
            .iter()
            .find(|s| s.target == part)
            .map_or_else(|| "unknown".into(), |s| s.status.clone())
    };
    Ok(views::Stats {
        requests,
        avg_routing_latency: ms(routing.mean()),
        routing_decisions: r.total(ROUTE_DECISIONS, |_| true) as u64,
        approval_rate,
        cost_today: cost_today(p).await,
        worker_status: Part::ALL
            .iter()
            .map(|p| p.name())
            .chain([GATEWAY])
            .map(|part| (part.to_owned(), status_of(part)))
            .collect(),
        endpoints,
    })
}
