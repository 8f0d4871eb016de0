use agency::runtime::{ComponentRuntime, RuntimeOptions};

#[test]
fn built_components_import_nothing() {
    let rt = ComponentRuntime::new(RuntimeOptions {
        cache_dir: None,
        ..RuntimeOptions::default()
    })
    .unwrap();
    assert_eq!(rt.component_imports().unwrap(), Vec::<String>::new());
}

#[test]
fn an_invalid_graph_is_rejected_by_the_component() {
    let rt = ComponentRuntime::new(RuntimeOptions {
        cache_dir: None,
        ..RuntimeOptions::default()
    })
    .unwrap();
    let err = rt
        .instantiate_router(r#"{"skills": [{"id": "a", "agent": "ghost"}]}"#)
        .err()
        .unwrap();
    assert!(err.to_string().contains("unknown agent"), "{err}");
    let err = rt.instantiate_router("not json").err().unwrap();
    assert!(err.to_string().contains("invalid graph JSON"), "{err}");
}

#[test]
fn the_precompiled_cache_is_written_and_reused() {
    let dir = crate::util::TempDir::new("cache");
    let opts = RuntimeOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeOptions::default()
    };
    let _ = ComponentRuntime::new(opts.clone()).unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 2, "router and approval components");
    let rt = ComponentRuntime::new(opts).unwrap();
    let g = agency::example::graph().unwrap();
    let mut i = rt.instantiate_router(&g.to_json()).unwrap();
    let d = i
        .route(&agency_router::RouteRequest::new("deploy to production"))
        .unwrap();
    assert_eq!(d.agent.as_deref(), Some("devops"));
}

/// The same approval vectors through the core crate and the component.
#[test]
fn approval_component_and_native_agree_on_vectors() {
    use agency_approval::{
        ApprovalRequest, HaltState, LedgerSnapshot, Micros, Policy, decide, ledger_key,
    };
    let rt = ComponentRuntime::new(RuntimeOptions {
        cache_dir: None,
        ..RuntimeOptions::default()
    })
    .unwrap();
    let text =
        std::fs::read_to_string(crate::util::repo().join("examples/policy/policy.toml")).unwrap();
    let policy = Policy::parse(&text, "policy.toml").unwrap();
    let mut instance = rt.instantiate_policy(&text, "policy.toml").unwrap();
    let now = 1_795_000_000_000;
    let req = |agent: &str, action: &str, cost: f64, env: Option<&str>, risk: Option<&str>| {
        ApprovalRequest {
            task_id: format!("{agent}-{action}"),
            agent: agent.into(),
            action: action.into(),
            description: "vector".into(),
            estimated_cost: Micros::from_usd(cost).unwrap(),
            channel: Some("discord".into()),
            environment: env.map(str::to_owned),
            risk: risk.map(str::to_owned),
            tags: vec![],
        }
    };
    let requests = [
        req("research", "read", 1.0, None, None),
        req("devops", "deploy", 2.5, Some("production"), None),
        req("devops", "deploy", 2.5, Some("staging"), None),
        req("devops", "deploy", 2.5, Some("staging"), Some("high")),
        req("codegen", "open-pr", 4.0, None, None),
        req("codegen", "open-pr", 6.0, None, None),
        req("codegen", "read", 25.0, None, None),
        req("devops", "delete", 0.0, Some("production"), None),
        req("pm", "payment", 10.0, None, None),
        req("pm", "invent-something", 1.0, None, None),
        req("research", "read", 60.0, None, None),
    ];
    let mut ledger = LedgerSnapshot::default();
    ledger.used.insert(
        ledger_key("agent:research", "2026-11-18"),
        Micros::from_usd(9.5).unwrap(),
    );
    let halts = [
        HaltState::default(),
        HaltState {
            agents: ["devops".to_owned()].into(),
            ..HaltState::default()
        },
    ];
    for halt in &halts {
        for ledger in [&LedgerSnapshot::default(), &ledger] {
            for r in &requests {
                let native = decide(r, ledger, halt, &policy, now);
                let component = instance.decide(r, ledger, halt, now).unwrap();
                assert_eq!(native, component, "{r:?}");
            }
        }
    }
    let err = rt
        .instantiate_policy("[budget]\ndaily_usd = -1.0\n", "bad.toml")
        .err()
        .unwrap();
    assert!(err.to_string().contains("bad.toml:2:"), "{err}");
}
