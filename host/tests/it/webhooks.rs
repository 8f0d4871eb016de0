//! The webhook intake's promise under a crash: `kill -9` the server in the middle of a
//! load of signed Slack events; after a restart on the same data, every event that got
//! a 200 reaches the (fake) gateway, under one task id each.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use agency_conformance::fakes::Fakes;
use agency_conformance::webhooks::{
    GATEWAY_SECRET, SLACK_SECRET, SOURCE, server_config, server_env, slack_signature,
};
use serde_json::json;

use crate::util::*;

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Sends one signed Slack message; its status, or None when the server is gone.
fn send(agent: &ureq::Agent, base: &str, text: &str, id: &str) -> Option<u16> {
    let ts = now_s();
    let body = json!({
        "type": "event_callback", "team_id": "T1", "event_id": format!("Ev{id}"), "event_time": ts,
        "event": { "type": "message", "channel": "CCRASH", "user": "U1", "text": text, "ts": format!("{ts}.{id}") },
    })
    .to_string();
    let sig = slack_signature(SLACK_SECRET.as_bytes(), ts, body.as_bytes());
    agent
        .post(format!("{base}/slack/{SOURCE}"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", &ts.to_string())
        .header("x-slack-signature", &sig)
        .send(body)
        .ok()
        .map(|r| r.status().as_u16())
}

#[test]
fn after_kill_9_every_acknowledged_event_is_dispatched_under_one_task_id() {
    let data = TempDir::new("crash");
    let fakes = Fakes::start(GATEWAY_SECRET).unwrap();
    let config = data.path().join("agency.toml");
    let text = server_config(&fakes.url).replacen(
        "[webhooks]\n",
        "[webhooks]\nrate_per_second = 100000\nburst = 100000\n",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let env = server_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["--example", "--config", config.as_str()];

    let server = Server::start_with_env(data.path(), &args, false, &env);
    let accepted = Mutex::new(Vec::new());
    let gone = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (base, accepted, gone) = (server.base.clone(), &accepted, &gone);
            s.spawn(move || {
                let agent = agent();
                for i in 0.. {
                    let id = format!("{t}x{i}");
                    let text = format!("deploy the api crash-{id}");
                    match send(&agent, &base, &text, &id) {
                        Some(200) => accepted.lock().unwrap().push(text),
                        Some(status) => panic!("a delivery got {status}"),
                        None if gone.load(Ordering::SeqCst) => return,
                        None => panic!("the server stopped answering before it was killed"),
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1500));
        gone.store(true, Ordering::SeqCst);
        drop(server); // SIGKILL, mid-load
    });
    let accepted = accepted.into_inner().unwrap();
    assert!(
        accepted.len() > 100,
        "only {} events were sent before the kill",
        accepted.len()
    );

    let _server = Server::start_with_env(data.path(), &args, false, &env);
    let want: HashSet<&str> = accepted.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    let (keys, deliveries) = loop {
        let mut keys: HashMap<String, HashSet<String>> = HashMap::new();
        let mut deliveries = 0;
        for seen in fakes.seen() {
            if seen.kind != "gateway" || seen.status != 200 {
                continue;
            }
            assert!(seen.verified, "a dispatch the gateway could not verify");
            let text = seen.body["event"]["text"].as_str().unwrap_or("").to_owned();
            let key = seen
                .headers
                .iter()
                .find(|(k, _)| k == "idempotency-key")
                .map(|(_, v)| v.clone())
                .unwrap();
            deliveries += 1;
            keys.entry(text).or_default().insert(key);
        }
        let missing = want.iter().filter(|t| !keys.contains_key(**t)).count();
        if missing == 0 {
            break (keys, deliveries);
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} acknowledged events never reached the gateway",
            want.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for (text, ks) in &keys {
        assert_eq!(
            ks.len(),
            1,
            "{text} was dispatched under {} task ids",
            ks.len()
        );
    }
    // A dispatch in flight at the kill is sent again after the restart, under the same
    // Idempotency-Key: at most the consumer's parallel steps.
    let repeated = deliveries - keys.len();
    eprintln!(
        "crash: {} acknowledged, {} dispatched ({} more accepted but unanswered), {repeated} repeated deliveries",
        want.len(),
        keys.len(),
        keys.len() - want.len()
    );
    assert!(repeated <= 8, "{repeated} deliveries were repeated");
}

/// The held events' ids, oldest first.
fn held(server: &Server, token: &str) -> Vec<String> {
    let (s, body) = get(&server.url("/api/events?status=held&limit=1000"), token);
    assert_eq!(s, 200, "{body}");
    let mut ids: Vec<(String, String)> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["receivedAt"].as_str().unwrap().to_owned(),
                e["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ids.sort();
    ids.into_iter().map(|(_, id)| id).collect()
}

/// The suite's server configuration against `fakes`, written into `data`: its path, and
/// the environment it needs.
fn webhook_setup(data: &TempDir, fakes: &Fakes) -> (String, Vec<(&'static str, String)>) {
    let config = data.path().join("agency.toml");
    std::fs::write(&config, server_config(&fakes.url)).unwrap();
    (config.to_str().unwrap().to_owned(), server_env())
}

/// Held events survive `kill -9`: after a restart they are still held, and a resume
/// sends each to the gateway exactly once.
#[test]
fn after_kill_9_held_events_are_kept_and_each_reaches_the_gateway_once_on_resume() {
    let data = TempDir::new("crash-held");
    let fakes = Fakes::start(GATEWAY_SECRET).unwrap();
    let (config, env) = webhook_setup(&data, &fakes);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["--example", "--config", config.as_str()];

    let server = Server::start_with_env(data.path(), &args, false, &env);
    let token = server.printed_token("AGENCY_OPERATOR_TOKEN");
    let (s, body) = post(
        &server.url("/api/halt"),
        &token,
        r#"{"scope": "all", "reason": "incident: crash test"}"#,
    );
    assert_eq!(s, 200, "{body}");
    let agent = agent();
    let texts: Vec<String> = (0..20)
        .map(|i| format!("deploy the api held-{i}"))
        .collect();
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(
            send(&agent, &server.base, text, &format!("h{i}")),
            Some(200)
        );
        // One at a time, so their order is the order they came in.
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let before = loop {
        let ids = held(&server, &token);
        if ids.len() == texts.len() {
            break ids;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {} events were held",
            ids.len(),
            texts.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        !fakes.seen().iter().any(|s| s.kind == "gateway"),
        "a task reached the gateway during the halt"
    );
    drop(server); // SIGKILL, with everything held

    let server = Server::start_with_env(data.path(), &args, false, &env);
    let token = server.printed_token("AGENCY_OPERATOR_TOKEN");
    assert_eq!(
        held(&server, &token),
        before,
        "the held events, in order, after the restart"
    );
    let (s, body) = post(&server.url("/api/resume"), &token, r#"{"scope": "all"}"#);
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["released"], texts.len(), "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: HashSet<String> = fakes
            .seen()
            .iter()
            .filter(|s| s.kind == "gateway" && s.status == 200)
            .map(|s| s.body["event"]["text"].as_str().unwrap_or("").to_owned())
            .collect();
        if texts.iter().all(|t| got.contains(t)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} released events never reached the gateway",
            texts.iter().filter(|t| !got.contains(*t)).count(),
            texts.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let a second delivery, if there were one, arrive.
    std::thread::sleep(Duration::from_millis(1500));
    let mut deliveries: HashMap<String, usize> = HashMap::new();
    for s in fakes.seen().iter().filter(|s| s.kind == "gateway") {
        assert!(s.verified, "a dispatch the gateway could not verify");
        *deliveries
            .entry(s.body["event"]["text"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    for t in &texts {
        assert_eq!(deliveries.get(t), Some(&1), "{t} reached the gateway");
    }
    // The gateway was told of the halt and of the resume, once each.
    let told: Vec<String> = fakes
        .seen()
        .iter()
        .filter(|s| s.kind == "gateway-event" && s.verified)
        .map(|s| s.body["type"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(told, ["halt.set", "halt.lifted"], "{told:?}");
    assert!(held(&server, &token).is_empty());
}

/// A stored routing decision that does not parse is never dispatched as something
/// else: the event fails, says why in `GET /api/events/:id`, and is counted.
#[test]
fn a_stored_decision_that_does_not_parse_fails_the_event_visibly() {
    let data = TempDir::new("bad-decision");
    let fakes = Fakes::start(GATEWAY_SECRET).unwrap();
    let (config, env) = webhook_setup(&data, &fakes);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with_env(
        data.path(),
        &["--example", "--config", config.as_str()],
        true,
        &env,
    );
    // One real event, dispatched, whose stored row serves as a template.
    assert_eq!(
        send(&agent(), &server.base, "deploy the api first", "t1"),
        Some(200)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fakes.seen().iter().any(|s| s.kind == "gateway") {
        assert!(
            Instant::now() < deadline,
            "the first event never reached the gateway"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let db = rusqlite::Connection::open(data.path().join("agency.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute(
        "INSERT INTO webhook_events (id, platform, source, platform_event_id, kind, event_json, status, tries, next_at_ms, received_ms, updated_ms, decision_json)
         SELECT 'evt_garbled', platform, source, 'EvGarbled', kind, event_json, 'queued', 0, 0, received_ms, updated_ms, '{not a decision'
         FROM webhook_events LIMIT 1",
        [],
    )
    .unwrap();
    drop(db);
    let deadline = Instant::now() + Duration::from_secs(20);
    let detail = loop {
        let (s, body) = get(&server.url("/api/events/evt_garbled"), VIEWER);
        assert_eq!(s, 200, "{body}");
        if body["status"] != "queued" && body["status"] != "processing" {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the event was never taken: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(detail["status"], "failed", "{detail}");
    assert!(
        detail["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not parse")),
        "{detail}"
    );
    let metrics = agent()
        .get(server.url("/metrics"))
        .header("authorization", &format!("Bearer {VIEWER}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains(r#"agency_webhook_events_total{platform="slack",outcome="failed"} 1"#),
        "the failure is counted"
    );
    assert_eq!(
        fakes.seen().iter().filter(|s| s.kind == "gateway").count(),
        1,
        "nothing was dispatched for it"
    );
}

/// An approval has one card a chat: the card of an approver group whose channel is the
/// chat where the ask was made is not recorded (nor posted) a second time there; in
/// another chat it is.
#[test]
fn an_escalation_card_is_not_doubled_in_the_chat_of_the_ask() {
    use agency_kit::Db;
    use agency_webhooks_service::outbound::Address;
    use agency_webhooks_service::store::{Audience, insert_card};
    let data = TempDir::new("cards");
    let store = agency::store::Store::open(&data.path().join("agency.db")).unwrap();
    let at = |chat: i64| -> Address {
        serde_json::from_value(json!({"platform": "telegram", "chatId": chat, "source": "bot"}))
            .unwrap()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let insert = |audience: Audience<'_>, address: &Address| {
        let st = insert_card("apr_1", audience, address, 1).unwrap();
        rt.block_on(store.execute(&st.sql, &st.params))
            .unwrap()
            .changes
    };
    assert_eq!(insert(Audience::Asked, &at(-1001)), 1);
    assert_eq!(
        insert(Audience::Asked, &at(-1001)),
        0,
        "the same card twice"
    );
    assert_eq!(
        insert(Audience::Group("leads"), &at(-1001)),
        0,
        "the ask's chat"
    );
    assert_eq!(
        insert(Audience::Group("leads"), &at(-1002)),
        1,
        "the group's own chat"
    );
}
