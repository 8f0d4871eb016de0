use serde_json::json;

use crate::util::*;

fn target(s: &Server, fakes: &agency_conformance::fakes::Fakes) -> agency_conformance::Target {
    agency_conformance::Target {
        router: s.base.clone(),
        graph: s.base.clone(),
        assistant: Some(s.base.clone()),
        monitoring: Some(s.base.clone()),
        webhooks: Some(agency_conformance::webhooks::WebhookTarget {
            base: s.base.clone(),
            fakes: fakes.url.clone(),
        }),
        fake_model: false,
        quick_expiry: true,
        gateway_token: GATEWAY.into(),
        operator_token: OPERATOR.into(),
        viewer_token: VIEWER.into(),
    }
}

/// The example policy plus the rule whose asks expire in a second, as the edge runs it.
fn conformance_policy(dir: &std::path::Path) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policy");
    let text = std::fs::read_to_string(root.join("policy.toml")).unwrap()
        + &std::fs::read_to_string(root.join("quick-expiry.toml")).unwrap();
    let path = dir.join("conformance-policy.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The server the suite expects: the example agency with the conformance policy, its
/// webhook sources pointed at fresh fakes.
fn conformance_server(
    data: &std::path::Path,
    extra: &[&str],
) -> (Server, agency_conformance::fakes::Fakes) {
    use agency_conformance::webhooks;
    let policy = conformance_policy(data);
    let fakes = agency_conformance::fakes::Fakes::start(webhooks::GATEWAY_SECRET).unwrap();
    let config = data.join("agency.toml");
    std::fs::write(&config, webhooks::server_config(&fakes.url)).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let mut args = vec!["--example", "--policy", &policy, "--config", &config];
    args.extend_from_slice(extra);
    let env = webhooks::server_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (Server::start_with_env(data, &args, true, &env), fakes)
}

#[test]
fn conformance_suite_passes_on_the_local_server_wasm_engine() {
    let data = TempDir::new("conf-wasm");
    let (server, fakes) = conformance_server(data.path(), &[]);
    let outcomes = agency_conformance::run(&target(&server, &fakes));
    assert!(
        agency_conformance::report(&outcomes),
        "conformance failures (see output)"
    );
}

#[test]
fn conformance_suite_passes_on_the_local_server_native_engine() {
    let data = TempDir::new("conf-native");
    let (server, fakes) = conformance_server(data.path(), &["--engine", "native"]);
    assert!(agency_conformance::report(&agency_conformance::run(
        &target(&server, &fakes)
    )));
}

/// The dashboard in real headless Chromium (scripts/dashboard-check.mjs, playwright-core
/// over the DevTools protocol; `scripts/tools.sh` installs both): after routing and
/// approval traffic and with a grant in force, at desktop size in light mode and phone
/// size in dark mode, it asks
/// for the token once, shows the parts and the gateway with their status, draws its
/// charts, updates live over server-sent events, and logs no error. Screenshots land in
/// `target/dashboard/`.
#[test]
fn the_dashboard_works_in_headless_chromium() {
    let data = TempDir::new("dashboard");
    let (server, _fakes) = conformance_server(data.path(), &[]);
    for message in [
        "deploy the api to production",
        "rollback the release now",
        "review this pull request",
        "write the quarterly plan",
    ] {
        let body = json!({ "message": message }).to_string();
        assert_eq!(post(&server.url("/api/route"), GATEWAY, &body).0, 200);
    }
    for (i, (action, cost)) in [("read", 0.5), ("deploy", 3.0), ("read", 1.25)]
        .into_iter()
        .enumerate()
    {
        let body = json!({
            "taskId": format!("dash-{i}"),
            "agent": "devops",
            "action": action,
            "estimatedCostUsd": cost
        })
        .to_string();
        assert_eq!(post(&server.url("/api/approve"), GATEWAY, &body).0, 200);
    }
    // A grant in force, for the dashboard to list.
    let grant = json!({"agent": "devops", "action": "read", "durationSecs": 3600,
        "totalCostUsd": 10.0, "by": "ana", "reason": "dashboard check"});
    assert_eq!(
        post(&server.url("/api/grants"), OPERATOR, &grant.to_string()).0,
        201
    );
    let out = repo().join("target/dashboard");
    let run = std::process::Command::new("node")
        .arg(repo().join("scripts/dashboard-check.mjs"))
        .args([server.base.as_str(), VIEWER, out.to_str().unwrap(), "local"])
        .output()
        .expect("node is needed (scripts/tools.sh installs the browser tools)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    println!("{said}");
    assert!(run.status.success(), "the dashboard check failed:\n{said}");
    assert!(out.join("dashboard-local-desktop.png").exists());
    assert!(out.join("dashboard-local-phone.png").exists());
}

#[test]
fn a_trapping_component_is_contained_and_replaced() {
    let data = TempDir::new("trap");
    // Fuel small enough that a 60 KB message runs out, large enough for a short one.
    let config = data.path().join("agency.toml");
    std::fs::write(&config, "[wasm]\nfuel_per_call = 300000\n").unwrap();
    let server = Server::start(
        data.path(),
        &["--example", "--config", config.to_str().unwrap()],
        true,
    );
    let url = server.url("/api/route");
    let short = json!({"message": "deploy to production"}).to_string();
    let (s, d) = post(&url, GATEWAY, &short);
    assert_eq!(s, 200, "{d}");
    let long = json!({"message": "please deploy the new build to production and then check the canary ".repeat(800)}).to_string();
    assert!(long.len() < 64 * 1024);
    let (s, body) = post(&url, GATEWAY, &long);
    assert_eq!(s, 500, "{body}");
    assert_eq!(body["error"]["code"], "component_trap");
    for _ in 0..3 {
        let (s, d) = post(&url, GATEWAY, &short);
        assert_eq!(s, 200, "server keeps serving after a trap: {d}");
        assert_eq!(d["agent"], "devops");
    }
    assert_eq!(get(&server.url("/health"), VIEWER).0, 200);
}

#[test]
fn graph_versions_and_decisions_survive_a_restart() {
    let data = TempDir::new("restart");
    let graph = std::fs::read_to_string(repo().join("conformance/data/graph.json")).unwrap();
    let version;
    let decision;
    {
        let server = Server::start(data.path(), &["--example"], true);
        let (s, put) = {
            let mut r = agent()
                .put(&server.url("/api/graph"))
                .header("authorization", &format!("Bearer {OPERATOR}"))
                .content_type("application/json")
                .send(&graph)
                .unwrap();
            (
                r.status().as_u16(),
                serde_json::from_str::<serde_json::Value>(&r.body_mut().read_to_string().unwrap())
                    .unwrap(),
            )
        };
        assert_eq!(s, 200, "{put}");
        version = put["version"].as_str().unwrap().to_owned();
        let (_, d) = post(
            &server.url("/api/route"),
            GATEWAY,
            r#"{"message":"fix this crash"}"#,
        );
        decision = d["decisionId"].as_str().unwrap().to_owned();
    }
    let server = Server::start(data.path(), &["--example"], true);
    let (_, g) = get(&server.url("/api/graph"), VIEWER);
    assert_eq!(
        g["version"],
        version.as_str(),
        "--example only seeds an empty store"
    );
    let (_, list) = get(&server.url("/api/route/decisions?limit=10"), VIEWER);
    assert!(
        list["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["decisionId"] == decision.as_str())
    );
}

#[test]
fn example_without_tokens_prints_fresh_ones() {
    let data = TempDir::new("tokens");
    let server = Server::start(data.path(), &["--example"], false);
    let token = server.printed_token("AGENCY_OPERATOR_TOKEN");
    assert!(token.starts_with("agt_") && token.len() > 20);
    let (s, body) = get(&server.url("/api/agents"), &token);
    assert_eq!(s, 200, "{body}");
    assert!(body["agents"].as_array().unwrap().len() >= 5);
    assert_eq!(get(&server.url("/api/agents"), "agt_wrong").0, 401);
}

#[test]
fn openapi_documents_every_route_and_nothing_else() {
    let doc: serde_json::Value = serde_json::from_str(agency_kit::root::OPENAPI).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|k| k.as_str() != "parameters")
                .map(move |m| (m.clone(), p.clone()))
        })
        .collect();
    documented.sort();
    let mut served: Vec<(String, String)> = agency::server::site::routes()
        .into_iter()
        .map(|(m, p)| (m, p.to_string()))
        .collect();
    served.sort();
    assert_eq!(documented, served);
    assert_eq!(doc["openapi"], "3.1.0");
}

/// Sends `raw` on a fresh connection and reads until the server closes it; `None` when
/// it is still open after `wait`.
fn raw_exchange(base: &str, raw: &[u8], wait: std::time::Duration) -> Option<String> {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(raw).unwrap();
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => Some(String::from_utf8_lossy(&got).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            Some(String::from_utf8_lossy(&got).into_owned())
        }
        Err(_) => None,
    }
}

/// Clients that send nothing, half a header or half a body cannot keep a connection:
/// headers have `limits.header_timeout_ms`, a whole request `limits.request_timeout_ms`
/// (answered 408 in the JSON error format). A broken chunked body is a 400, not a 413.
#[test]
fn slow_and_broken_clients_are_cut_off() {
    let data = TempDir::new("slow");
    let config = data.path().join("agency.toml");
    std::fs::write(
        &config,
        "[limits]\nheader_timeout_ms = 300\nrequest_timeout_ms = 600\n",
    )
    .unwrap();
    let server = Server::start(
        data.path(),
        &["--example", "--config", config.to_str().unwrap()],
        true,
    );
    let wait = std::time::Duration::from_secs(5);
    let started = std::time::Instant::now();
    assert!(
        raw_exchange(&server.base, b"", wait).is_some(),
        "an idle connection is closed"
    );
    assert!(
        raw_exchange(&server.base, b"GET /health HTTP/1.1\r\nHost: x\r\n", wait).is_some(),
        "a connection with half a header is closed"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(4));

    let head = |extra: &str| {
        format!(
            "POST /api/route HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {GATEWAY}\r\n\
             Content-Type: application/json\r\n{extra}\r\n"
        )
    };
    let partial = head("Content-Length: 100\r\n") + r#"{"message": "de"#;
    let reply = raw_exchange(&server.base, partial.as_bytes(), wait).expect("closed");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains(r#""code":"request_timeout""#), "{reply}");

    let broken = head("Transfer-Encoding: chunked\r\n") + "zz\r\n{}\r\n0\r\n\r\n";
    let reply = raw_exchange(&server.base, broken.as_bytes(), wait).expect("closed");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");

    // The server still serves.
    let (status, body) = post(
        &server.url("/api/route"),
        GATEWAY,
        r#"{"message":"deploy to production"}"#,
    );
    assert_eq!((status, body["agent"].as_str()), (200, Some("devops")));
}

/// `[monitoring] open_metrics` lets a scraper on this machine read `/metrics` without a
/// token; everything else still needs one.
#[test]
fn open_metrics_lets_a_local_scraper_in() {
    let data = TempDir::new("open-metrics");
    let config = data.path().join("agency.toml");
    std::fs::write(&config, "[monitoring]\nopen_metrics = true\n").unwrap();
    let server = Server::start(
        data.path(),
        &["--example", "--config", config.to_str().unwrap()],
        true,
    );
    // One request counted first (a request is counted once answered).
    assert_eq!(
        agent().get(server.url("/health")).call().unwrap().status(),
        200
    );
    let mut r = agent().get(server.url("/metrics")).call().unwrap();
    assert_eq!(r.status(), 200);
    let text = r.body_mut().read_to_string().unwrap();
    assert!(
        text.contains("# TYPE agency_http_requests_total counter"),
        "{text}"
    );
    let r = agent().get(server.url("/api/stats")).call().unwrap();
    assert_eq!(r.status(), 401, "only /metrics is open");
}
