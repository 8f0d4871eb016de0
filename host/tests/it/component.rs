use agency::runtime::{ComponentRuntime, RuntimeOptions};

/// A runtime without the precompiled cache.
fn runtime() -> ComponentRuntime {
    ComponentRuntime::new(RuntimeOptions {
        cache_dir: None,
        ..RuntimeOptions::default()
    })
    .unwrap()
}

#[test]
fn built_components_import_nothing() {
    let rt = runtime();
    assert_eq!(rt.component_imports().unwrap(), Vec::<String>::new());
}

#[test]
fn an_invalid_graph_is_rejected_by_the_component() {
    let rt = runtime();
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
    assert_eq!(files.len(), 3, "router, approval and monitor components");
    let rt = ComponentRuntime::new(opts).unwrap();
    let g = agency::example::graph().unwrap();
    let mut i = rt.instantiate_router(&g.to_json()).unwrap();
    let d = i
        .route(&agency_router::RouteRequest::new("deploy to production"))
        .unwrap();
    assert_eq!(d.agent.as_deref(), Some("devops"));
}

/// Old entries (other versions of the components) are pruned, least recently used
/// first, down to `cache::KEEP`; the entries in use stay.
#[test]
fn the_precompiled_cache_keeps_only_recent_entries() {
    let dir = crate::util::TempDir::new("cache-prune");
    let hour = std::time::Duration::from_secs(3600);
    let old = |i: u32| dir.path().join(format!("component-{i:016x}.cwasm"));
    for i in 0..10 {
        std::fs::write(old(i), b"an older build").unwrap();
        let f = std::fs::File::options().append(true).open(old(i)).unwrap();
        // Entry 0 is the oldest.
        f.set_modified(std::time::SystemTime::now() - hour * (20 - i))
            .unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), b"not ours").unwrap();
    let opts = RuntimeOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeOptions::default()
    };
    let _ = ComponentRuntime::new(opts.clone()).unwrap();
    let kept = |i: u32| old(i).exists();
    assert!((0..5).all(|i| !kept(i)), "the five oldest are pruned");
    assert!(
        (5..10).all(kept),
        "the five newest stay, with the three just written"
    );
    assert!(
        dir.path().join("notes.txt").exists(),
        "other files are left alone"
    );
    // The three real entries are still used: a restart compiles nothing new.
    let cwasm = || {
        let mut v: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().ends_with(".cwasm"))
            .collect();
        v.sort();
        v
    };
    let before = cwasm();
    assert_eq!(before.len(), 8);
    let _ = ComponentRuntime::new(opts).unwrap();
    assert_eq!(cwasm(), before);
}

/// The same approval vectors through the core crate and the component.
#[test]
fn approval_component_and_native_agree_on_vectors() {
    use agency_approval::{
        ApprovalRequest, HaltState, LedgerSnapshot, Micros, Policy, decide, ledger_key,
    };
    let rt = runtime();
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

/// Pooled by probability over CLINC's per-intent graph (the `exp` of ~130 skills a
/// message, natively two at a time in SIMD), the component decides every validation
/// message exactly as the core crate does, alone and in batches.
#[test]
fn router_component_pools_clinc_as_native() {
    use agency_router::{RouteRequest, RouterIndex};
    use agency_skill_graph::learn::{LabelledMessage, LearnOptions, learn};
    let data = crate::util::repo().join("../shared/data/clinc150");
    let read = |name: &str| -> Vec<LabelledMessage> {
        std::fs::read_to_string(data.join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let graph = learn(&read("train.jsonl"), &LearnOptions::default()).unwrap();
    assert_eq!(graph.pooling, agency_skill_graph::Pooling::Probability);
    let native = RouterIndex::build(&graph).unwrap();
    let mut component = runtime().instantiate_router(&graph.to_json()).unwrap();
    let requests: Vec<RouteRequest> = read("val.jsonl")
        .into_iter()
        .map(|m| RouteRequest::new(m.text))
        .collect();
    let want: Vec<_> = requests.iter().map(|r| native.route(r)).collect();
    for (r, want) in requests.iter().zip(&want).step_by(7) {
        assert_eq!(&component.route(r).unwrap(), want, "{:?}", r.message);
    }
    for (chunk, want) in requests.chunks(100).zip(want.chunks(100)) {
        assert_eq!(component.route_batch(chunk).unwrap(), want);
    }
}

/// The router component, one message at a time and in packed batches (down agents
/// changing within the batch), gives the core crate's decisions on varied requests.
#[test]
fn router_component_single_and_batch_agree_with_native() {
    use agency_router::{RouteRequest, RouterIndex};
    use agency_skill_graph::Complexity;
    let rt = runtime();
    let g = agency::example::graph().unwrap();
    let native = RouterIndex::build(&g).unwrap();
    let mut component = rt.instantiate_router(&g.to_json()).unwrap();
    let texts = [
        "Please deploy the hotfix to production and roll back if the canary fails",
        "we have a CVE in a dependency; rotate the leaked API key!!",
        "summarize   this article -- for me",
        "good morning",
        "",
        "Ärger mit dem Deploy auf Production!",
        "refactor the legacy code, then write unit tests and also plan the sprint",
    ];
    let channels = [
        None,
        Some("slack"),
        Some("telegram"),
        Some("discord"),
        Some("irc"),
    ];
    let complexities = [None, Some(Complexity::Simple), Some(Complexity::Complex)];
    let downs: [&[&str]; 3] = [&[], &["devops"], &["devops", "codegen", "pm", "nobody"]];
    let mut requests = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        for (j, channel) in channels.iter().enumerate() {
            for complexity in complexities {
                requests.push(RouteRequest {
                    message: text.to_string(),
                    channel: channel.map(str::to_owned),
                    complexity,
                    down_agents: downs[(i + j) % 3].iter().map(|d| d.to_string()).collect(),
                });
            }
        }
    }
    let want: Vec<_> = requests.iter().map(|r| native.route(r)).collect();
    let single: Vec<_> = requests
        .iter()
        .map(|r| component.route(r).unwrap())
        .collect();
    assert_eq!(single, want);
    assert_eq!(component.route_batch(&requests).unwrap(), want);
    assert_eq!(component.route_batch(&[]).unwrap(), vec![]);
    assert!(want.iter().any(|d| d.fallback_from.is_some()));
    assert!(
        want.iter()
            .any(|d| d.reason == agency_router::Reason::Default)
    );
}

/// A policy instance that traps is replaced, not reused: the trap names the approval
/// component, the next decision comes from a fresh instance holding the same policy,
/// and it agrees with the core crate. (A request whose description does not fit the
/// instance's memory makes the component trap when the host copies it in.)
#[test]
fn a_trapped_policy_instance_is_replaced() {
    use agency_approval::{ApprovalRequest, HaltState, LedgerSnapshot, Micros, Policy, decide};
    let rt = ComponentRuntime::new(RuntimeOptions {
        cache_dir: None,
        max_memory_bytes: 4 << 20,
        ..RuntimeOptions::default()
    })
    .unwrap();
    let text =
        std::fs::read_to_string(crate::util::repo().join("examples/policy/minimal.toml")).unwrap();
    let policy = Policy::parse(&text, "minimal.toml").unwrap();
    let mut instance = rt.instantiate_policy(&text, "minimal.toml").unwrap();
    let now = 1_795_000_000_000;
    let request = |description: String| ApprovalRequest {
        task_id: "t1".into(),
        agent: "research".into(),
        action: "read".into(),
        description,
        estimated_cost: Micros::from_usd(1.0).unwrap(),
        channel: None,
        environment: None,
        risk: None,
        tags: vec![],
    };
    let (ledger, halt) = (LedgerSnapshot::default(), HaltState::default());
    let fine = request("fits".into());
    let native = decide(&fine, &ledger, &halt, &policy, now);
    assert_eq!(instance.decide(&fine, &ledger, &halt, now).unwrap(), native);
    assert_eq!(instance.generation(), 1);

    let too_big = request("x".repeat(8 << 20));
    for round in 2..4 {
        let err = instance.decide(&too_big, &ledger, &halt, now).unwrap_err();
        assert!(
            matches!(err, agency::runtime::RuntimeError::Trap(_)),
            "{err}"
        );
        assert!(err.to_string().contains("approval component"), "{err}");
        assert!(!err.to_string().contains("router"), "{err}");
        assert_eq!(instance.generation(), round, "replaced after the trap");
        assert_eq!(
            instance.decide(&fine, &ledger, &halt, now).unwrap(),
            native,
            "the replacement holds the same policy"
        );
        assert_eq!(instance.generation(), round, "and is kept while it works");
    }
}

/// The monitor component computes what the core computes natively: sketches, their
/// merge, the registry's exposition and snapshot, and the SLA.
#[test]
fn monitor_component_and_native_agree() {
    use agency_monitor::metrics::{HTTP_DURATION, HTTP_REQUESTS, Registry};
    use agency_monitor::{Kind, Latency, prom, sla};

    let rt = runtime();
    let mut m = rt.instantiate_monitor().unwrap();
    let (a, b) = (m.sketch().unwrap(), m.sketch().unwrap());
    let (mut na, mut nb) = (Latency::default(), Latency::default());
    for i in 1..2000 {
        let v = f64::from(i) * 0.0007;
        m.record(if i % 2 == 0 { a } else { b }, v).unwrap();
        if i % 2 == 0 {
            na.record(v)
        } else {
            nb.record(v)
        }
    }
    m.merge_sketch(a, b).unwrap();
    na.merge(&nb);
    for q in [0.5, 0.9, 0.99] {
        assert_eq!(m.quantile(a, q).unwrap(), na.quantile(q));
    }

    let reg = m.registry().unwrap();
    let mut native = Registry::default();
    let labels = ["router".to_owned(), "/api/route".to_owned()];
    let counter_labels = ["router", "/api/route", "POST", "2xx"].map(str::to_owned);
    for v in [0.0004, 0.03, 2.0] {
        m.sample(
            reg,
            Kind::Histogram,
            "agency_http_request_duration_seconds",
            &labels,
            v,
        )
        .unwrap()
        .unwrap();
        native
            .observe(HTTP_DURATION, &["router", "/api/route"], v)
            .unwrap();
    }
    m.sample(
        reg,
        Kind::Counter,
        "agency_http_requests_total",
        &counter_labels,
        2.0,
    )
    .unwrap()
    .unwrap();
    native
        .add(HTTP_REQUESTS, &["router", "/api/route", "POST", "2xx"], 2.0)
        .unwrap();
    let refused = m
        .sample(reg, Kind::Counter, "agency_nope_total", &[], 1.0)
        .unwrap();
    assert!(refused.unwrap_err().contains("no metric family"));
    assert_eq!(m.exposition(reg).unwrap(), prom::render(&native));
    // A snapshot merged into another registry adds up.
    let snap = m.snapshot(reg).unwrap();
    let other = m.registry().unwrap();
    m.merge_registry(other, &snap).unwrap().unwrap();
    m.merge_registry(other, &snap).unwrap().unwrap();
    let twice: Registry = serde_json::from_str(&m.snapshot(other).unwrap()).unwrap();
    assert_eq!(twice.total(HTTP_REQUESTS, |_| true), 4.0);

    let probes: Vec<sla::Probe> = (1..=100)
        .map(|i| sla::Probe {
            at_ms: i * 1000,
            up: i % 50 != 0,
        })
        .collect();
    let through = m.sla(&probes, 100_000, 100_000, 0.999).unwrap();
    assert_eq!(through, sla::window(&probes, 100_000, 100_000, 0.999));
    assert_eq!(through.uptime, Some(0.98));
}
