//! What the dashboard charts over time: a few figures noted once a minute (by each
//! probe round) and read back per step. Counters are noted cumulative and read as the
//! increase per step; gauges as their last value in the step.

use agency_kit::ApiError;
use agency_monitor::Registry;
use agency_monitor::metrics::{APPROVALS, HTTP_DURATION, HTTP_REQUESTS, ROUTE_DECISIONS, SPENT};

use crate::store;

/// How a series reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Cumulative: read as the increase in each step.
    Counter,
    /// Read as the last value in each step.
    Gauge,
}

/// Every series, with its kind and what it is.
pub const SERIES: &[(&str, Kind, &str)] = &[
    ("requests", Kind::Counter, "requests answered"),
    ("errors", Kind::Counter, "5xx answers"),
    ("routing_decisions", Kind::Counter, "routing decisions"),
    ("approvals", Kind::Counter, "approval decisions"),
    ("spent_usd", Kind::Counter, "money spent, US dollars"),
    (
        "latency_p95_ms",
        Kind::Gauge,
        "p95 request latency since start, ms",
    ),
    ("up", Kind::Gauge, "1 when every part answered its probe"),
];

/// The figures to note now, from the merged registry and the round's result.
pub fn figures(r: &Registry, up: bool) -> Vec<(&'static str, f64)> {
    let mut v = vec![
        ("requests", r.total(HTTP_REQUESTS, |_| true)),
        ("errors", r.total(HTTP_REQUESTS, |l| l[3] == "5xx")),
        ("routing_decisions", r.total(ROUTE_DECISIONS, |_| true)),
        ("approvals", r.total(APPROVALS, |_| true)),
        ("spent_usd", r.total(SPENT, |_| true)),
        ("up", if up { 1.0 } else { 0.0 }),
    ];
    if let Some(p95) = r.latency(HTTP_DURATION, |_| true).quantile(0.95) {
        v.push(("latency_p95_ms", p95 * 1000.0));
    }
    v
}

/// At most this many points in one answer.
pub const MAX_POINTS: i64 = 1440;

/// `name` from `from_ms` to `to_ms` in steps of `step_secs` (a multiple of 60): one
/// point per step, at the step's start, null where nothing was noted.
pub async fn read(
    db: &impl agency_kit::Db,
    name: &str,
    from_ms: i64,
    to_ms: i64,
    step_secs: i64,
) -> Result<Vec<(i64, Option<f64>)>, ApiError> {
    let kind = SERIES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, k, _)| *k)
        .ok_or_else(|| {
            let names: Vec<&str> = SERIES.iter().map(|(n, _, _)| *n).collect();
            ApiError::bad_request(format!("name must be one of {}", names.join(", ")))
        })?;
    let step_min = (step_secs / 60).max(1);
    let (from, to) = (from_ms.div_euclid(60_000), to_ms.div_euclid(60_000));
    let notes = store::points(db, name, from, to).await?;
    let mut out = Vec::new();
    let mut before: Option<f64> = notes.first().filter(|(m, _)| *m < from).map(|(_, v)| *v);
    let mut start = from;
    while start <= to {
        let end = start + step_min;
        let last = notes
            .iter()
            .rev()
            .find(|(m, _)| *m >= start && *m < end)
            .map(|(_, v)| *v);
        let v = match (kind, last) {
            (_, None) => None,
            (Kind::Gauge, Some(v)) => Some(v),
            // A counter that restarted (the server did) counts from zero again.
            (Kind::Counter, Some(v)) => Some(match before {
                Some(b) if v >= b => v - b,
                _ => v,
            }),
        };
        if last.is_some() {
            before = last;
        }
        out.push((start * 60_000, v));
        start = end;
    }
    Ok(out)
}
