//! The approvals' promise under a crash: `kill -9` the server while a grant approves
//! tasks and their budget crosses an alert threshold; after a restart on the same
//! data, the ledger holds exactly what the stored approvals hold (a reservation left by
//! a request cut off between the ledger and the approval's record is given back at
//! start), every acknowledged approval is stored as answered, and each alert reaches
//! the gateway under one id.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use agency_conformance::fakes::Fakes;
use agency_conformance::webhooks::{GATEWAY_SECRET, server_config, server_env};
use serde_json::{Value, json};

use crate::util::*;

/// What the ledger holds for the research agent today, and what its approved
/// approvals hold, in micro-dollars.
pub(crate) fn held_and_approved(server: &Server, token: &str) -> (i64, i64) {
    let micros = |usd: f64| (usd * 1e6).round() as i64;
    let (s, budget) = get(&server.url("/api/budget"), token);
    assert_eq!(s, 200, "{budget}");
    let line = budget["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["scope"] == "agent:research" && l["period"] == "daily")
        .unwrap()
        .clone();
    let held =
        micros(line["spentUsd"].as_f64().unwrap()) + micros(line["reservedUsd"].as_f64().unwrap());
    let mut approved = 0;
    let mut before = String::new();
    loop {
        let url = format!("/api/approvals?status=approved&limit=1000{before}");
        let (s, page) = get(&server.url(&url), token);
        assert_eq!(s, 200, "{page}");
        let list = page["approvals"].as_array().unwrap();
        approved += list
            .iter()
            .filter(|a| a["agent"] == "research")
            .map(|a| micros(a["estimatedCostUsd"].as_f64().unwrap()))
            .sum::<i64>();
        match list.last() {
            Some(last) => before = format!("&before={}", last["number"]),
            None => break,
        }
    }
    (held, approved)
}

#[test]
fn after_kill_9_the_ledger_equals_the_approvals_and_each_alert_arrives_under_one_id() {
    let data = TempDir::new("approvals-crash");
    let fakes = Fakes::start(GATEWAY_SECRET).unwrap();
    let config = data.path().join("agency.toml");
    std::fs::write(&config, server_config(&fakes.url)).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let env = server_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["--example", "--config", config.as_str()];

    let server = Server::start_with_env(data.path(), &args, false, &env);
    let (op, gw) = (
        server.printed_token("AGENCY_OPERATOR_TOKEN"),
        server.printed_token("AGENCY_GATEWAY_TOKEN"),
    );
    // Payments ask (the example policy); the grant approves them. $10 a day fits 9,090 of
    // them.
    let (s, grant) = post(
        &server.url("/api/grants"),
        &op,
        r#"{"agent": "research", "action": "payment", "by": "crash", "durationSecs": 3600}"#,
    );
    assert_eq!(s, 201, "{grant}");
    let grant_id = grant["grantId"].as_str().unwrap().to_owned();
    let answered: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());
    let gone = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (base, gw, answered, gone) = (server.base.clone(), &gw, &answered, &gone);
            s.spawn(move || {
                let agent = agent();
                for i in 0.. {
                    let task = format!("crash-{t}-{i}");
                    let body = json!({"taskId": task, "agent": "research", "action": "payment",
                        "description": "crash", "estimatedCostUsd": 0.0011})
                    .to_string();
                    let r = agent
                        .post(format!("{base}/api/approve"))
                        .header("authorization", &format!("Bearer {gw}"))
                        .header("content-type", "application/json")
                        .send(body);
                    match r {
                        Ok(mut r) if r.status() == 200 => {
                            let v: Value = r.body_mut().read_json().unwrap();
                            let d = v["decision"].as_str().unwrap().to_owned();
                            answered.lock().unwrap().insert(task, d);
                        }
                        Ok(r) => panic!("an approval got {}", r.status()),
                        Err(_) if gone.load(Ordering::SeqCst) => return,
                        Err(e) => panic!("the server stopped answering before it was killed: {e}"),
                    }
                }
            });
        }
        // The kill comes mid-load, once the approvals are past 80% of the budget.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let approved = answered
                .lock()
                .unwrap()
                .values()
                .filter(|d| *d == "approved")
                .count();
            if approved >= 7_400 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        gone.store(true, Ordering::SeqCst);
        drop(server); // SIGKILL, mid-load
    });
    let answered = answered.into_inner().unwrap();
    let approved = answered.values().filter(|d| *d == "approved").count();
    assert!(
        approved > 7272,
        "only {approved} approvals before the kill (80% is 7,273)"
    );

    let server = Server::start_with_env(data.path(), &args, false, &env);
    let op = server.printed_token("AGENCY_OPERATOR_TOKEN");
    // Every acknowledged answer is stored as it was given.
    let mut stored: HashMap<String, String> = HashMap::new();
    let mut before = String::new();
    loop {
        let (s, page) = get(
            &server.url(&format!("/api/approvals?limit=1000{before}")),
            &op,
        );
        assert_eq!(s, 200, "{page}");
        let list = page["approvals"].as_array().unwrap();
        for a in list {
            stored.insert(
                a["taskId"].as_str().unwrap().to_owned(),
                a["decision"].as_str().unwrap().to_owned(),
            );
        }
        match list.last() {
            Some(last) => before = format!("&before={}", last["number"]),
            None => break,
        }
    }
    for (task, decision) in &answered {
        assert_eq!(
            stored.get(task),
            Some(decision),
            "{task} was answered {decision}"
        );
    }
    // The ledger holds what the approvals hold, once the start's reconcile has run.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (held, held_by_approvals) = loop {
        let (held, approved) = held_and_approved(&server, &op);
        if held == approved || Instant::now() > deadline {
            break (held, approved);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        held, held_by_approvals,
        "the ledger holds {held} µ$, the approved approvals {held_by_approvals} µ$"
    );
    let (_, released) = get(&server.url("/api/audit?kind=released&limit=100"), &op);
    eprintln!(
        "approvals crash: {} answered ({approved} approved), {} stored, {} reservations released at start",
        answered.len(),
        stored.len(),
        released["entries"].as_array().map_or(0, Vec::len)
    );
    // The grant counted at least what it approved (a use cut off by the kill may stay
    // counted: a grant errs towards asking).
    let granted = stored.values().filter(|d| *d == "approved").count() as i64;
    let (s, grants) = get(&server.url("/api/grants"), &op);
    assert_eq!(s, 200);
    let uses = grants["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["grantId"] == grant_id.as_str())
        .unwrap()["uses"]
        .as_i64()
        .unwrap();
    assert!(
        (granted..=granted + 4).contains(&uses),
        "the grant counts {uses} uses for {granted} approvals"
    );
    // 80% and 100% of the research budget: each reaches the gateway, under one id each.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut ids: HashMap<u64, HashSet<String>> = HashMap::new();
        for seen in fakes.seen() {
            if seen.kind != "gateway-event"
                || seen.body["type"] != "budget.threshold"
                || seen.body["data"]["scope"] != "agent:research"
            {
                continue;
            }
            assert!(seen.verified, "an alert the gateway could not verify");
            let id = seen
                .headers
                .iter()
                .find(|(k, _)| k == "webhook-id")
                .map(|(_, v)| v.clone())
                .unwrap();
            ids.entry(seen.body["data"]["percent"].as_u64().unwrap())
                .or_default()
                .insert(id);
        }
        if ids.contains_key(&80) {
            for (percent, ids) in &ids {
                assert_eq!(
                    ids.len(),
                    1,
                    "{percent}% was announced under {} ids",
                    ids.len()
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway got alerts for {:?} only",
            ids.keys()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
