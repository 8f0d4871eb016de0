//! The router and skill-graph checks. Each is independent of the others' results,
//! except that the graph upload comes first.

use serde_json::{Value, json};

use crate::client::{Client, expect_error, expect_status};
use crate::{GRAPH, Outcome, Target};

/// The router's and the skill graph's URL makers and the three roles' tokens.
pub(crate) fn parts<'a>(
    t: &'a Target,
) -> (
    impl Fn(&str) -> String + 'a,
    impl Fn(&str) -> String + 'a,
    &'a str,
    &'a str,
    &'a str,
) {
    (
        move |p: &str| format!("{}{p}", t.router.trim_end_matches('/')),
        move |p: &str| format!("{}{p}", t.graph.trim_end_matches('/')),
        t.gateway_token.as_str(),
        t.operator_token.as_str(),
        t.viewer_token.as_str(),
    )
}

pub fn run(t: &Target) -> Vec<Outcome> {
    let c = Client::new();
    let mut out = Vec::new();
    let version = graph_checks(&c, t, &mut out);
    crate::routing::routing_checks(&c, t, &version, &mut out);
    crate::audit::audit_checks(&c, t, &mut out);
    crate::exports::export_checks(&c, t, &mut out);
    surface_checks(&c, t, &mut out);
    if let Some(base) = &t.assistant {
        crate::assistant::assistant_checks(&c, base, t, &mut out);
    }
    if let Some(w) = &t.webhooks {
        crate::webhooks::webhook_checks(&c, w, t, &mut out);
    }
    if let Some(base) = &t.monitoring {
        crate::monitoring::monitoring_checks(&c, base, t, &mut out);
    }
    crate::pools::pool_checks(&c, t, &mut out);
    out
}

/// Health, OpenAPI, graph upload, validation and ETags; the uploaded graph's version.
fn graph_checks(c: &Client, t: &Target, out: &mut Vec<Outcome>) -> String {
    let (r, g, _, op, viewer) = parts(t);
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };
    check("health endpoints are open and JSON", &mut || {
        for base in [r("/health"), g("/health")] {
            let resp = c.call("GET", &base, None, None, &[])?;
            expect_status(&resp, 200, &base)?;
            if resp.body["status"] != "ok" {
                return Err(format!("{base}: status is {}", resp.body["status"]));
            }
        }
        Ok(())
    });
    check("openapi document is served", &mut || {
        for base in [r("/openapi.json"), g("/openapi.json")] {
            let resp = c.call("GET", &base, None, None, &[])?;
            expect_status(&resp, 200, &base)?;
            if !resp.body["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1"))
                || !resp.body["paths"]["/api/route"].is_object()
            {
                return Err(format!("{base}: not the Agency OpenAPI 3.1 document"));
            }
        }
        Ok(())
    });
    check("graph upload needs the operator role", &mut || {
        expect_error(
            &c.call("PUT", &g("/api/graph"), None, Some(GRAPH), &[])?,
            401,
            "no token",
        )?;
        expect_error(
            &c.call("PUT", &g("/api/graph"), Some(viewer), Some(GRAPH), &[])?,
            403,
            "viewer",
        )?;
        expect_error(
            &c.call(
                "PUT",
                &g("/api/graph"),
                Some("not-a-real-token-at-all"),
                Some(GRAPH),
                &[],
            )?,
            401,
            "unknown token",
        )
    });
    let mut version = String::new();
    check("graph upload stores a version", &mut || {
        let resp = c.call("PUT", &g("/api/graph"), Some(op), Some(GRAPH), &[])?;
        expect_status(&resp, 200, "PUT /api/graph")?;
        version = resp.body["version"]
            .as_str()
            .ok_or("no version in PUT response")?
            .to_owned();
        Ok(())
    });
    check("invalid graphs are rejected with every error", &mut || {
        let mut bad: Value = serde_json::from_str(GRAPH).map_err(|e| e.to_string())?;
        bad["skills"][0]["links"] = json!(["nowhere"]);
        bad["skills"][1]["agent"] = json!("ghost");
        let resp = c.call(
            "PUT",
            &g("/api/graph"),
            Some(op),
            Some(&bad.to_string()),
            &[],
        )?;
        expect_error(&resp, 422, "invalid graph")?;
        let details = resp.body["error"]["details"]
            .as_array()
            .ok_or("422 without error.details")?;
        if details.len() != 2 {
            return Err(format!("expected 2 errors, got {details:?}"));
        }
        expect_error(
            &c.call("PUT", &g("/api/graph"), Some(op), Some("{not json"), &[])?,
            400,
            "bad JSON",
        )?;
        // Nor may an agent written as an array be read field by field.
        let mut arrays: Value = serde_json::from_str(GRAPH).map_err(|e| e.to_string())?;
        arrays["agents"][0] = json!(["devops", "DevOps"]);
        expect_error(
            &c.call(
                "PUT",
                &g("/api/graph"),
                Some(op),
                Some(&arrays.to_string()),
                &[],
            )?,
            422,
            "an agent written as an array",
        )?;
        // Serde would read an array field by field: `[]` must not become an empty graph.
        for array in ["[]", r#"["ignored", 0.9]"#] {
            expect_error(
                &c.call("PUT", &g("/api/graph"), Some(op), Some(array), &[])?,
                400,
                "a JSON array as the graph",
            )?;
        }
        expect_error(
            &c.call("PUT", &g("/api/graph"), Some(op), Some("{}"), &[])?,
            422,
            "a graph with no agents",
        )?;
        // Bounds that keep routing linear and every confidence a number.
        let bounded = |path: &str, value: Value| -> Result<(), String> {
            let mut bad: Value = serde_json::from_str(GRAPH).map_err(|e| e.to_string())?;
            bad["skills"][0]["keywords"] = json!([{ "phrase": "x", "weight": 1.0 }]);
            bad["skills"][0]["keywords"][0][path] = value;
            let body = bad.to_string();
            expect_error(
                &c.call("PUT", &g("/api/graph"), Some(op), Some(&body), &[])?,
                422,
                path,
            )
        };
        bounded("weight", json!(1.7e308))?;
        bounded("phrase", json!("ab ".repeat(9)))?;
        let current = c.call("GET", &g("/api/graph"), Some(viewer), None, &[])?;
        if current.body["version"] != version.as_str() {
            return Err("a rejected upload changed the current graph".into());
        }
        Ok(())
    });
    check(
        "graph GET has an ETag and honours If-None-Match",
        &mut || {
            let resp = c.call("GET", &g("/api/graph"), Some(viewer), None, &[])?;
            expect_status(&resp, 200, "GET /api/graph")?;
            if resp.body["version"] != version.as_str()
                || resp.body["skills"].as_array().map(Vec::len) != Some(4)
            {
                return Err(format!(
                    "unexpected graph: version {} (want {version})",
                    resp.body["version"]
                ));
            }
            let tag = resp.etag.ok_or("no ETag")?;
            let again = c.call(
                "GET",
                &g("/api/graph"),
                Some(viewer),
                None,
                &[("if-none-match", &tag)],
            )?;
            expect_status(&again, 304, "If-None-Match")?;
            let weak = format!("W/{tag}");
            let again = c.call(
                "GET",
                &g("/api/graph"),
                Some(viewer),
                None,
                &[("if-none-match", &weak)],
            )?;
            expect_status(&again, 304, "If-None-Match with the weak tag")
        },
    );
    version
}

/// Agents, channels, search, graph replacement, unknown paths and body limits.
fn surface_checks(c: &Client, t: &Target, out: &mut Vec<Outcome>) {
    let (r, g, gw, op, viewer) = parts(t);
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };
    check("agents, channels and search", &mut || {
        let a = c.call("GET", &g("/api/agents"), Some(viewer), None, &[])?;
        expect_status(&a, 200, "agents")?;
        if a.body["agents"].as_array().map(Vec::len) != Some(3) {
            return Err(format!("agents: {}", a.body));
        }
        let ch = c.call("GET", &g("/api/channels"), Some(viewer), None, &[])?;
        if ch.body["channels"][0]["id"] != "slack" || ch.body["channels"][0]["defaultAgent"] != "pm"
        {
            return Err(format!("channels: {}", ch.body));
        }
        let s = c.call("GET", &g("/api/search?q=rollback"), Some(viewer), None, &[])?;
        expect_status(&s, 200, "search")?;
        if s.body["hits"][0]["id"] != "deployment" {
            return Err(format!("search: {}", s.body));
        }
        expect_error(
            &c.call("GET", &g("/api/search"), Some(viewer), None, &[])?,
            400,
            "search without q",
        )?;
        expect_error(
            &c.call("GET", &g("/api/agents"), None, None, &[])?,
            401,
            "agents without token",
        )
    });
    check(
        "a new graph version is used by the next request",
        &mut || {
            let mut next: Value = serde_json::from_str(GRAPH).map_err(|e| e.to_string())?;
            next["skills"][3]["keywords"] = json!(["sprint", "roadmap", "backlog", "deploy", {"phrase": "production", "weight": 9}]);
            let put = c.call(
                "PUT",
                &g("/api/graph"),
                Some(op),
                Some(&next.to_string()),
                &[],
            )?;
            expect_status(&put, 200, "PUT v2")?;
            let v2 = put.body["version"].as_str().ok_or("no version")?.to_owned();
            let d = c.call(
                "POST",
                &r("/api/route"),
                Some(gw),
                Some(&json!({"message": "deploy to production"}).to_string()),
                &[],
            )?;
            let result = if d.body["graphVersion"] == v2.as_str() && d.body["agent"] == "pm" {
                Ok(())
            } else {
                Err(format!("expected pm on {v2}: {}", d.body))
            };
            expect_status(
                &c.call("PUT", &g("/api/graph"), Some(op), Some(GRAPH), &[])?,
                200,
                "restore",
            )?;
            result
        },
    );
    check(
        "one routing rule: 404, 405 with Allow, HEAD, no trailing slash",
        &mut || {
            expect_error(
                &c.call("GET", &r("/api/nope"), Some(viewer), None, &[])?,
                404,
                "unknown path",
            )?;
            let m = c.call("DELETE", &g("/api/graph"), Some(op), None, &[])?;
            expect_error(&m, 405, "DELETE /api/graph")?;
            if m.allow.as_deref() != Some("GET, HEAD, PUT") {
                return Err(format!("405 Allow: {:?}", m.allow));
            }
            let m = c.call("GET", &r("/api/route"), Some(viewer), None, &[])?;
            expect_error(&m, 405, "GET /api/route")?;
            if m.allow.as_deref() != Some("POST") {
                return Err(format!("405 Allow: {:?}", m.allow));
            }
            let h = c.call("HEAD", &g("/api/graph"), Some(viewer), None, &[])?;
            expect_status(&h, 200, "HEAD /api/graph")?;
            if !h.body.is_null() || h.etag.is_none() {
                return Err(format!("HEAD: body {} etag {:?}", h.body, h.etag));
            }
            expect_status(
                &c.call("HEAD", &g("/api/graph"), None, None, &[])?,
                401,
                "HEAD without a token",
            )?;
            expect_error(
                &c.call("GET", &g("/api/graph/"), Some(viewer), None, &[])?,
                404,
                "a trailing slash",
            )?;
            expect_error(
                &c.call(
                    "POST",
                    &r("/api/route/"),
                    Some(gw),
                    Some(r#"{"message":"deploy"}"#),
                    &[],
                )?,
                404,
                "a trailing slash on a POST",
            )
        },
    );
    check(
        "chunked bodies are limited; path ids are percent-decoded",
        &mut || {
            // About 70 KB sent without a Content-Length (chunked): the limit still applies.
            let big = json!({"message": "deploy ".repeat(10_000)}).to_string();
            let mut reader = std::io::Cursor::new(big.into_bytes());
            let resp = c
                .agent
                .post(&r("/api/route"))
                .header("authorization", &format!("Bearer {gw}"))
                .header("content-type", "application/json")
                .send(ureq::SendBody::from_reader(&mut reader))
                .map_err(|e| format!("chunked POST /api/route: {e}"))?;
            if resp.status().as_u16() != 413 {
                return Err(format!(
                    "chunked oversized body: expected 413, got {}",
                    resp.status()
                ));
            }
            let enc = c.call(
                "PUT",
                &g("/api/agents/%64%65%76%6F%70%73/health"),
                Some(op),
                Some(r#"{"healthy":true}"#),
                &[],
            )?;
            expect_status(&enc, 200, "percent-encoded agent id")?;
            if enc.body["agent"] != "devops" {
                return Err(format!("the id was not decoded: {}", enc.body));
            }
            expect_error(
                &c.call(
                    "PUT",
                    &g("/api/agents/%FF/health"),
                    Some(op),
                    Some(r#"{"healthy":true}"#),
                    &[],
                )?,
                400,
                "an agent id that is not UTF-8",
            )
        },
    );
}
