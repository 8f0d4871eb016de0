//! The monitoring checks: traffic sent to the other services shows up in `/api/stats`
//! and `/metrics`, and Prometheus's own linter accepts the exposition.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::client::{Client, expect_error, expect_status};
use crate::{Outcome, Target};

/// The value of the series `line` starts (`name{labels}`) in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `GET /metrics` with `token`: the exposition's text, or why not (any status but 200).
fn exposition(c: &Client, url: &str, token: &str) -> Result<String, String> {
    let m = c.raw(
        "GET",
        url,
        &[("authorization", &format!("Bearer {token}"))],
        b"",
    )?;
    if m.status != 200 {
        return Err(format!("GET /metrics: {} {}", m.status, m.body));
    }
    Ok(m.body)
}

pub(crate) fn monitoring_checks(c: &Client, base: &str, t: &Target, out: &mut Vec<Outcome>) {
    let url = |p: &str| format!("{}{p}", base.trim_end_matches('/'));
    let route = |p: &str| format!("{}{p}", t.router.trim_end_matches('/'));
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };
    check(
        "monitoring: traffic to the other services shows up in /api/stats and /metrics",
        &mut || {
            expect_error(
                &c.call("GET", &url("/api/stats"), None, None, &[])?,
                401,
                "stats without a token",
            )?;
            let before = c.call("GET", &url("/api/stats"), Some(&t.viewer_token), None, &[])?;
            expect_status(&before, 200, "GET /api/stats")?;
            let requests = |v: &Value| v["requests"].as_u64().unwrap_or(0);
            let routed = |v: &Value| {
                v["endpoints"]
                    .as_array()
                    .and_then(|a| a.iter().find(|e| e["route"] == "/api/route"))
                    .and_then(|e| e["requests"].as_u64())
                    .unwrap_or(0)
            };
            for _ in 0..3 {
                let body = json!({ "message": "deploy the api to production" }).to_string();
                let r = c.call(
                    "POST",
                    &route("/api/route"),
                    Some(&t.gateway_token),
                    Some(&body),
                    &[],
                )?;
                expect_status(&r, 200, "POST /api/route")?;
            }
            // Locally the counts are in-process; a Worker ships its samples in
            // batches after answering, so they may take a few seconds to arrive.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let after = loop {
                let after = c.call("GET", &url("/api/stats"), Some(&t.viewer_token), None, &[])?;
                expect_status(&after, 200, "GET /api/stats")?;
                if requests(&after.body) >= requests(&before.body) + 3
                    && routed(&after.body) >= routed(&before.body) + 3
                {
                    break after;
                }
                if std::time::Instant::now() > deadline {
                    return Err(format!(
                        "three routings did not show up: before {}, after {}",
                        before.body, after.body
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(250));
            };
            for part in [
                "webhooks",
                "router",
                "skill-graph",
                "assistant",
                "monitoring",
                "gateway",
            ] {
                if !after.body["workerStatus"][part].is_string() {
                    return Err(format!("workerStatus lacks {part}: {}", after.body));
                }
            }
            if !after.body["avgRoutingLatency"].is_number() {
                return Err(format!(
                    "no avgRoutingLatency after routing: {}",
                    after.body
                ));
            }
            let m = exposition(c, &url("/metrics"), &t.viewer_token)?;
            let series = r#"agency_http_requests_total{service="router",route="/api/route",method="POST",class="2xx"}"#;
            if sample(&m, series).unwrap_or(0.0) < 3.0 {
                return Err(format!("{series} is missing or under 3"));
            }
            if !m.contains("agency_route_decisions_total{agent=")
                || !m.contains("agency_http_request_duration_seconds_bucket{")
            {
                return Err("routing decisions or request durations are not in /metrics".into());
            }
            let open = c.raw("GET", &url("/metrics"), &[], b"")?;
            if open.status != 401 {
                return Err(format!("/metrics without a token: {}", open.status));
            }
            Ok(())
        },
    );
    if let Some(w) = &t.webhooks {
        let fakes = w.fakes.clone();
        check(
            "monitoring: a failing agent health URL marks it down, routing falls back, recovery restores it",
            &mut || {
                let control = |body: &str| {
                    c.call("POST", &format!("{fakes}/_control"), None, Some(body), &[])
                };
                let incident = |status: &str, after: i64| -> Result<(), String> {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                    loop {
                        let r = c.call(
                            "GET",
                            &url("/api/incidents?limit=50"),
                            Some(&t.viewer_token),
                            None,
                            &[],
                        )?;
                        expect_status(&r, 200, "GET /api/incidents")?;
                        let found = r.body["incidents"].as_array().is_some_and(|a| {
                            a.iter().any(|i| {
                                i["target"] == "agent:devops"
                                    && i["status"] == status
                                    && i["id"].as_i64().unwrap_or(0) > after
                            })
                        });
                        if found {
                            return Ok(());
                        }
                        if std::time::Instant::now() > deadline {
                            return Err(format!("no agent:devops {status} incident: {}", r.body));
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                };
                let last = || -> Result<i64, String> {
                    let r = c.call(
                        "GET",
                        &url("/api/incidents?limit=1"),
                        Some(&t.viewer_token),
                        None,
                        &[],
                    )?;
                    Ok(r.body["incidents"][0]["id"].as_i64().unwrap_or(0))
                };
                let routed = || -> Result<Value, String> {
                    let body = json!({ "message": "deploy to production now" }).to_string();
                    let r = c.call(
                        "POST",
                        &route("/api/route"),
                        Some(&t.gateway_token),
                        Some(&body),
                        &[],
                    )?;
                    expect_status(&r, 200, "POST /api/route")?;
                    Ok(r.body)
                };
                // A probe round records the incident before it marks the agent in the
                // skill graph: routing follows within a few seconds, not at once.
                let routed_until = |ok: &dyn Fn(&Value) -> bool| -> Result<Value, String> {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                    loop {
                        let d = routed()?;
                        if ok(&d) || std::time::Instant::now() > deadline {
                            return Ok(d);
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                };
                let fell_back = |d: &Value| d["agent"] != "devops" && d["reason"] == "fallback";
                let before = last()?;
                control(r#"{"agentsDown": ["devops"]}"#)?;
                let outcome = incident("down", before);
                let during = routed_until(&fell_back);
                control(r#"{"agentsDown": []}"#)?;
                outcome?;
                let during = during?;
                if !fell_back(&during) {
                    return Err(format!(
                        "routing did not fall back while devops was down: {during}"
                    ));
                }
                incident("up", before)?;
                let after = routed_until(&|d| d["agent"] == "devops")?;
                if after["agent"] != "devops" {
                    return Err(format!(
                        "devops is back but routing still avoids it: {after}"
                    ));
                }
                let s = c.call("GET", &url("/api/sla"), Some(&t.viewer_token), None, &[])?;
                expect_status(&s, 200, "GET /api/sla")?;
                if !s.body["uptime24h"].is_number()
                    || s.body["objective"] != 99.9
                    || !s.body["costTrend"]["direction"].is_string()
                {
                    return Err(format!("the SLA lacks its figures: {}", s.body));
                }
                let series = c.call(
                    "GET",
                    &url("/api/metrics/series?name=requests&step=60"),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?;
                expect_status(&series, 200, "GET /api/metrics/series")?;
                let points = series.body["points"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if points.len() < 60
                    || !points
                        .iter()
                        .any(|p| p["v"].as_f64().is_some_and(|v| v > 0.0))
                {
                    return Err(format!(
                        "the requests series has no counted minute: {}",
                        series.body
                    ));
                }
                expect_error(
                    &c.call(
                        "GET",
                        &url("/api/metrics/series?name=nope"),
                        Some(&t.viewer_token),
                        None,
                        &[],
                    )?,
                    400,
                    "unknown series",
                )?;
                expect_error(
                    &c.call(
                        "GET",
                        &url("/api/metrics/series?name=up&step=30"),
                        Some(&t.viewer_token),
                        None,
                        &[],
                    )?,
                    400,
                    "a step under a minute",
                )?;
                let st = c.call("GET", &url("/api/stats"), Some(&t.viewer_token), None, &[])?;
                if st.body["workerStatus"]["gateway"] != "up"
                    || st.body["workerStatus"]["router"] != "up"
                {
                    return Err(format!(
                        "probed parts are not up: {}",
                        st.body["workerStatus"]
                    ));
                }
                Ok(())
            },
        );
    }
    check(
        "monitoring: shipped samples are checked, stored and counted",
        &mut || {
            let ship = |token: &str, body: &str| {
                c.call(
                    "POST",
                    &url("/internal/samples"),
                    Some(token),
                    Some(body),
                    &[],
                )
            };
            let series = r#"agency_webhook_events_total{platform="conformance",outcome="shipped"}"#;
            let value = || -> Result<f64, String> {
                let m = exposition(c, &url("/metrics"), &t.viewer_token)?;
                Ok(sample(&m, series).unwrap_or(0.0))
            };
            let good = json!({ "series": [{
                "family": "agency_webhook_events_total",
                "labels": ["conformance", "shipped"],
                "value": { "counter": 2 }
            }]})
            .to_string();
            expect_error(&ship(&t.viewer_token, &good)?, 403, "samples from a viewer")?;
            expect_error(
                &ship(&t.operator_token, "{not json")?,
                400,
                "samples that are not JSON",
            )?;
            let bad_histogram = json!({ "series": [{
                "family": "agency_http_request_duration_seconds",
                "labels": ["router", "/api/route"],
                "value": { "histogram": { "counts": [1], "sum": 1.0, "sketch": {} } }
            }]})
            .to_string();
            expect_error(
                &ship(&t.operator_token, &bad_histogram)?,
                422,
                "a histogram whose sketch does not hold together",
            )?;
            let before = value()?;
            let r = ship(&t.operator_token, &good)?;
            expect_status(&r, 202, "POST /internal/samples")?;
            if r.body["stored"] != 1 {
                return Err(format!("one series shipped, answer {}", r.body));
            }
            let after = value()?;
            if after != before + 2.0 {
                return Err(format!(
                    "{series} went from {before} to {after}, not up by 2"
                ));
            }
            Ok(())
        },
    );
    check(
        "monitoring: promtool check metrics accepts the exposition after real traffic",
        &mut || {
            let m = exposition(c, &url("/metrics"), &t.viewer_token)?;
            let mut child = Command::new("promtool")
                .args(["check", "metrics"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("promtool (Debian's prometheus package) is needed: {e}"))?;
            child
                .stdin
                .take()
                .ok_or("no stdin")?
                .write_all(m.as_bytes())
                .map_err(|e| e.to_string())?;
            let o = child.wait_with_output().map_err(|e| e.to_string())?;
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            if !o.status.success() || !said.trim().is_empty() {
                return Err(format!("promtool: {said}"));
            }
            Ok(())
        },
    );
}
