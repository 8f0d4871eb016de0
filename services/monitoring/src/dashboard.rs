//! The dashboard: one page and its assets, every one served from here (uPlot vendored
//! under `dashboard/vendor/uplot`, MIT), and the snapshot it shows, as JSON
//! (`GET /api/dashboard`) and as server-sent events (`GET /api/dashboard/stream`). A
//! snapshot gathers the stats, the SLA, the charted series of the last hour, recent
//! incidents and, from the other parts, recent routing decisions, approvals and dead
//! letters.

use agency_kit::http::with_type;
use agency_kit::{ApiError, Part, Response};
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::Value;

use crate::{MonitorPorts, series, store, views};

/// How often the local server sends a snapshot on an open stream.
pub const STREAM_EVERY_MS: u64 = 3_000;
/// How long a client waits before it reconnects when a stream ends (the edge sends one
/// snapshot a connection, so this is its polling period).
pub const RETRY_MS: u64 = 5_000;
/// Rows in each of the snapshot's lists.
const RECENT: usize = 10;
/// The charts' span.
const CHART_MS: i64 = 60 * 60_000;

/// The page's files: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../dashboard/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../dashboard/app.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../dashboard/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../dashboard/vendor/uplot/uPlot.min.css"),
    ),
    (
        "LICENSE-uPlot",
        "text/plain; charset=utf-8",
        include_bytes!("../dashboard/vendor/uplot/LICENSE"),
    ),
];

const PAGE: &[u8] = include_bytes!("../dashboard/index.html");

/// Only this origin's scripts, styles and API; no frames, no inline script.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn secured(mut r: Response, cache: &'static str) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// `GET /dashboard`.
pub fn page() -> Response {
    secured(
        with_type(StatusCode::OK, PAGE.to_vec(), "text/html; charset=utf-8"),
        "no-cache",
    )
}

/// `GET /dashboard/{asset}`.
pub fn asset(name: &str) -> Result<Response, ApiError> {
    let (_, kind, bytes) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| ApiError::not_found(format!("the dashboard has no file {name}")))?;
    Ok(secured(
        with_type(StatusCode::OK, bytes.to_vec(), kind),
        "public, max-age=300",
    ))
}

/// The names of the page's files (for the API document).
pub fn asset_names() -> Vec<&'static str> {
    ASSETS.iter().map(|(n, _, _)| *n).collect()
}

/// A list from another part (`key` of its answer's body), the newest `RECENT`; `None`
/// when the part could not answer.
async fn recent<P: MonitorPorts>(p: &P, part: Part, path: &str, key: &str) -> Option<Vec<Value>> {
    match p.peer(part, Method::GET, path, &Value::Null).await {
        Ok((200, mut body)) => body[key].as_array_mut().map(|a| {
            a.truncate(RECENT);
            std::mem::take(a)
        }),
        _ => None,
    }
}

/// Everything the dashboard shows, now.
pub async fn snapshot<P: MonitorPorts>(p: &P) -> Result<views::Dashboard, ApiError> {
    let now = p.now_ms();
    // One read of the merged metrics serves both.
    let metrics = crate::samples::merged(p).await?;
    let stats = crate::stats(p, &metrics).await?;
    let sla = crate::sla_view(p, &metrics).await?;
    let incidents = store::incidents(p.db(), RECENT as u32)
        .await?
        .into_iter()
        .map(views::IncidentView::from)
        .collect();
    let mut charted = std::collections::BTreeMap::new();
    for (name, _, _) in series::SERIES {
        let points = series::read(p.db(), name, now - CHART_MS, now, 60)
            .await?
            .into_iter()
            .map(|(t, v)| views::PointView { t, v })
            .collect();
        charted.insert((*name).to_owned(), points);
    }
    let limit = format!("?limit={RECENT}");
    Ok(views::Dashboard {
        at: agency_kit::ports::rfc3339(now),
        stats,
        sla,
        incidents,
        series: charted,
        decisions: recent(
            p,
            Part::Router,
            &format!("/api/route/decisions{limit}"),
            "decisions",
        )
        .await,
        approvals: recent(
            p,
            Part::Assistant,
            &format!("/api/approvals{limit}"),
            "approvals",
        )
        .await,
        dead_letters: recent(
            p,
            Part::Webhooks,
            &format!("/api/deadletters{limit}"),
            "events",
        )
        .await,
        halts: recent(p, Part::Assistant, "/api/halt", "halts").await,
        grants: recent(
            p,
            Part::Assistant,
            &format!("/api/grants?status=active&limit={RECENT}"),
            "grants",
        )
        .await,
        held: recent(p, Part::Webhooks, "/api/events/held", "held").await,
        agents: match p
            .peer(Part::SkillGraph, Method::GET, "/api/agents", &Value::Null)
            .await
        {
            Ok((200, mut body)) => body["agents"].as_array_mut().map(std::mem::take),
            _ => None,
        },
    })
}

/// One server-sent event carrying a snapshot (with the client's reconnection delay).
pub async fn event<P: MonitorPorts>(p: &P) -> Result<Vec<u8>, ApiError> {
    let s = snapshot(p).await?;
    let data = serde_json::to_string(&s).map_err(|e| ApiError::internal("dashboard", &e))?;
    Ok(format!("retry: {RETRY_MS}\nevent: snapshot\ndata: {data}\n\n").into_bytes())
}

/// `GET /api/dashboard/stream`: the first event. The local server keeps the stream
/// open and appends one every [`STREAM_EVERY_MS`]; the edge closes it here.
pub async fn stream<P: MonitorPorts>(p: &P) -> Result<Response, ApiError> {
    let mut r = with_type(StatusCode::OK, event(p).await?, "text/event-stream");
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
