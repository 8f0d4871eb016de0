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
    assert_eq!(files.len(), 1);
    let rt = ComponentRuntime::new(opts).unwrap();
    let g = agency::example::graph().unwrap();
    let mut i = rt.instantiate_router(&g.to_json()).unwrap();
    let d = i
        .route(&agency_router::RouteRequest::new("deploy to production"))
        .unwrap();
    assert_eq!(d.agent.as_deref(), Some("devops"));
}
