use serde_json::json;

use crate::util::*;

fn target(s: &Server) -> agency_conformance::Target {
    agency_conformance::Target {
        router: s.base.clone(),
        graph: s.base.clone(),
        assistant: Some(s.base.clone()),
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

#[test]
fn conformance_suite_passes_on_the_local_server_wasm_engine() {
    let data = TempDir::new("conf-wasm");
    let policy = conformance_policy(data.path());
    let server = Server::start(data.path(), &["--example", "--policy", &policy], true);
    let outcomes = agency_conformance::run(&target(&server));
    assert!(
        agency_conformance::report(&outcomes),
        "conformance failures (see output)"
    );
}

#[test]
fn conformance_suite_passes_on_the_local_server_native_engine() {
    let data = TempDir::new("conf-native");
    let policy = conformance_policy(data.path());
    let server = Server::start(
        data.path(),
        &["--example", "--engine", "native", "--policy", &policy],
        true,
    );
    assert!(agency_conformance::report(&agency_conformance::run(
        &target(&server)
    )));
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
    let token = server
        .stdout_head
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("AGENCY_OPERATOR_TOKEN=")
                .map(str::to_owned)
        })
        .expect("printed operator token");
    assert!(token.starts_with("agt_") && token.len() > 20);
    let (s, body) = get(&server.url("/api/agents"), &token);
    assert_eq!(s, 200, "{body}");
    assert!(body["agents"].as_array().unwrap().len() >= 5);
    assert_eq!(get(&server.url("/api/agents"), "agt_wrong").0, 401);
}

#[test]
fn openapi_documents_every_route_and_nothing_else() {
    let doc: serde_json::Value = serde_json::from_str(agency::server::OPENAPI).unwrap();
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
    let mut served: Vec<(String, String)> = agency::server::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    served.sort();
    assert_eq!(documented, served);
    assert_eq!(doc["openapi"], "3.1.0");
}
