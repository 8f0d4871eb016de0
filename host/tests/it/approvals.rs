use serde_json::{Value, json};

use crate::util::*;

fn start(policy: &str, extra: &[&str]) -> (TempDir, Server) {
    let dir = TempDir::new("approvals");
    let p = dir.path().join("policy.toml");
    std::fs::copy(repo().join(policy), &p).unwrap();
    let mut args = vec!["--example", "--policy", p.to_str().unwrap()];
    args.extend_from_slice(extra);
    let server = Server::start(dir.path(), &args, true);
    (dir, server)
}

fn ask(s: &Server, token: &str, body: Value) -> (u16, Value) {
    post(&s.url("/api/approve"), token, &body.to_string())
}

/// The global daily line of `GET /api/budget`.
fn global_daily(s: &Server) -> Value {
    let (_, b) = get(&s.url("/api/budget"), VIEWER);
    b["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["scope"] == "global" && x["period"] == "daily")
        .cloned()
        .unwrap_or_else(|| panic!("no global daily budget in {b}"))
}

fn req(task: &str, agent: &str, action: &str, cost: f64) -> Value {
    json!({"taskId": task, "agent": agent, "action": action, "description": "test", "estimatedCostUsd": cost})
}

#[test]
fn minimal_policy_end_to_end() {
    for engine in ["wasm", "native"] {
        let (_dir, s) = start("examples/policy/minimal.toml", &["--engine", engine]);
        // Reads are approved, and a retry returns the same answer without reserving twice.
        let (st, a) = ask(&s, GATEWAY, req("t-read", "research", "read", 2.0));
        assert_eq!(st, 200, "{a}");
        assert_eq!(a["decision"], "approved");
        assert_eq!(a["rule"], "reads are free to go");
        assert_eq!(a["budget"]["scope"], "global daily");
        assert_eq!(a["budget"]["remainingUsd"], 48.0);
        let (_, again) = ask(&s, GATEWAY, req("t-read", "research", "read", 2.0));
        assert_eq!(again["approvalId"], a["approvalId"]);
        let global = global_daily(&s);
        assert_eq!(global["reservedUsd"], 2.0, "{global}");

        // Production deploys wait for a human; the first decision settles, the second conflicts.
        let mut d = req("t-deploy", "devops", "deploy", 5.0);
        d["environment"] = json!("production");
        let (_, p) = ask(&s, GATEWAY, d);
        assert_eq!(p["decision"], "pending", "{p}");
        assert!(p["expiresAt"].is_string());
        let id = p["approvalId"].as_str().unwrap().to_owned();
        let (st, _) = post(
            &s.url(&format!("/api/approvals/{id}/decision")),
            GATEWAY,
            r#"{"decision":"approve","by":"x"}"#,
        );
        assert_eq!(st, 403, "the gateway may not decide");
        let (st, done) = post(
            &s.url(&format!("/api/approvals/{id}/decision")),
            OPERATOR,
            r#"{"decision":"approve","by":"alice","comment":"ok"}"#,
        );
        assert_eq!(
            (st, done["decision"].as_str()),
            (200, Some("approved")),
            "{done}"
        );
        let (st, e) = post(
            &s.url(&format!("/api/approvals/{id}/decision")),
            OPERATOR,
            r#"{"decision":"deny","by":"bob"}"#,
        );
        assert_eq!(st, 409, "{e}");
        let (_, pending) = get(&s.url("/api/approvals?status=pending"), VIEWER);
        assert!(pending["approvals"].as_array().unwrap().is_empty());

        // Budgets: codegen's daily 20 USD.
        let (_, over) = ask(&s, GATEWAY, req("t-big", "codegen", "read", 25.0));
        assert_eq!(
            (over["decision"].as_str(), over["reasonCode"].as_str()),
            (Some("denied"), Some("budget")),
            "{over}"
        );
        assert_eq!(over["budget"]["scope"], "agent:codegen daily");

        // Unknown actions ask.
        let (_, unknown) = ask(&s, GATEWAY, req("t-unknown", "pm", "launch-rocket", 1.0));
        assert_eq!(
            (unknown["decision"].as_str(), unknown["reasonCode"].as_str()),
            (Some("pending"), Some("default"))
        );

        // Halt and resume.
        let (st, _) = post(
            &s.url("/api/halt"),
            OPERATOR,
            r#"{"scope":"agent","target":"research","reason":"runaway"}"#,
        );
        assert_eq!(st, 200);
        let (_, h) = ask(&s, GATEWAY, req("t-halted", "research", "read", 1.0));
        assert_eq!(
            (h["decision"].as_str(), h["reasonCode"].as_str()),
            (Some("denied"), Some("halted"))
        );
        let (st, r) = post(
            &s.url("/api/resume"),
            OPERATOR,
            r#"{"scope":"agent","target":"research"}"#,
        );
        assert_eq!((st, r["resumed"].as_bool()), (200, Some(true)));
        let (_, ok) = ask(&s, GATEWAY, req("t-after", "research", "read", 1.0));
        assert_eq!(ok["decision"], "approved");

        // Spend settles the reservation once.
        let spend = json!({"approvalId": a["approvalId"], "actualCostUsd": 1.5}).to_string();
        let (st, sp) = post(&s.url("/api/spend"), GATEWAY, &spend);
        assert_eq!((st, sp["actualCostUsd"].as_f64()), (200, Some(1.5)), "{sp}");
        assert_eq!(post(&s.url("/api/spend"), GATEWAY, &spend).0, 409);
        let global = global_daily(&s);
        assert_eq!(global["spentUsd"], 1.5, "{global}");

        let (_, audit) = get(&s.url("/api/audit?limit=100"), VIEWER);
        let kinds: Vec<&str> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        for k in ["decision", "human-decision", "halt", "resume", "spend"] {
            assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
        }
    }
}

#[test]
fn bad_input_is_rejected_and_changes_nothing() {
    let (_dir, s) = start("examples/policy/minimal.toml", &[]);
    let before = get(&s.url("/api/audit?limit=1000"), VIEWER).1["entries"]
        .as_array()
        .unwrap()
        .len();
    let cases = [
        (
            json!({"taskId": "t", "agent": "a", "action": "read", "estimatedCostUsd": -1}),
            400,
        ),
        (
            json!({"taskId": "t", "agent": "a", "action": "read", "estimatedCostUsd": "5"}),
            400,
        ),
        (
            json!({"taskId": "t", "agent": "a", "action": "read", "estimatedCostUsd": 1, "colour": "red"}),
            400,
        ),
        (
            json!({"taskId": "", "agent": "a", "action": "read", "estimatedCostUsd": 1}),
            400,
        ),
        (
            json!({"agent": "a", "action": "read", "estimatedCostUsd": 1}),
            400,
        ),
    ];
    for (body, want) in cases {
        let (st, e) = ask(&s, GATEWAY, body.clone());
        assert_eq!(st, want, "{body}: {e}");
        assert!(e["error"]["code"].is_string());
    }
    assert_eq!(ask(&s, VIEWER, req("t", "a", "read", 1.0)).0, 403);
    let posts = [
        (
            "/api/approvals/apr_nope/decision",
            OPERATOR,
            r#"{"decision":"approve","by":"x"}"#,
            404,
        ),
        (
            "/api/spend",
            GATEWAY,
            r#"{"approvalId":"apr_nope","actualCostUsd":1}"#,
            404,
        ),
        (
            "/api/spend",
            GATEWAY,
            r#"{"approvalId":"apr_nope","actualCostUsd":-1}"#,
            400,
        ),
        (
            "/api/halt",
            OPERATOR,
            r#"{"scope":"agent","reason":"x"}"#,
            400,
        ),
        (
            "/api/halt",
            OPERATOR,
            r#"{"scope":"everything","reason":"x"}"#,
            400,
        ),
        ("/api/halt", GATEWAY, r#"{"scope":"all","reason":"x"}"#, 403),
    ];
    for (path, token, body, want) in posts {
        assert_eq!(post(&s.url(path), token, body).0, want, "{path} {body}");
    }
    for (path, want) in [
        ("/api/approvals/apr_nope", 404),
        ("/api/approvals?status=maybe", 400),
    ] {
        assert_eq!(get(&s.url(path), VIEWER).0, want, "{path}");
    }
    let after = get(&s.url("/api/audit?limit=1000"), VIEWER).1["entries"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "failed requests leave the audit unchanged");
    let (_, all) = get(&s.url("/api/approvals"), VIEWER);
    assert!(all["approvals"].as_array().unwrap().is_empty());
}

/// 200 concurrent requests whose costs fit 50 times into the budget: exactly 50 approvals.
#[test]
fn concurrent_approvals_never_overspend() {
    let (_dir, s) = start("examples/policy/minimal.toml", &[]);
    let url = s.url("/api/approve");
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let url = url.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        let body = json!({"taskId": format!("c-{t}-{i}"), "agent": "pm", "action": "read", "estimatedCostUsd": 1.0});
                        let (st, v) = post(&url, GATEWAY, &body.to_string());
                        assert_eq!(st, 200, "{v}");
                        v["decision"].as_str().unwrap().to_owned()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let outcomes: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 200);
    assert_eq!(outcomes.iter().filter(|o| *o == "approved").count(), 50);
    assert_eq!(outcomes.iter().filter(|o| *o == "denied").count(), 150);
    let global = global_daily(&s);
    assert_eq!(global["reservedUsd"], 50.0);
    assert_eq!(global["remainingUsd"], 0.0);
}

/// Racing deliveries of one task (a gateway retrying before the first answer came
/// back) get one approval and reserve its cost once.
#[test]
fn racing_retries_of_one_task_reserve_once() {
    let (_dir, s) = start("examples/policy/minimal.toml", &[]);
    let url = s.url("/api/approve");
    for round in 0..5 {
        let body = req(&format!("race-{round}"), "pm", "read", 1.0).to_string();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (url, body) = (url.clone(), body.clone());
                std::thread::spawn(move || post(&url, GATEWAY, &body))
            })
            .collect();
        let answers: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let first = &answers[0].1["approvalId"];
        for (st, a) in &answers {
            assert_eq!((*st, &a["approvalId"]), (200, first), "{a}");
        }
        assert_eq!(global_daily(&s)["reservedUsd"], json!(f64::from(round + 1)));
    }
}

/// A decision the server never finished recording (it stopped between claiming the
/// approval and recording the answer) does not lock the approval: a fresh claim is
/// "being decided" (409), one older than the claim timeout is taken over.
#[test]
fn an_abandoned_decision_can_be_taken_over() {
    let (dir, s) = start("examples/policy/minimal.toml", &[]);
    let mut d = req("t-abandoned", "devops", "deploy", 1.0);
    d["environment"] = json!("production");
    let (_, p) = ask(&s, GATEWAY, d);
    assert_eq!(p["decision"], "pending", "{p}");
    let id = p["approvalId"].as_str().unwrap().to_owned();
    let claim = |age_ms: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        rusqlite::Connection::open(dir.path().join("agency.db"))
            .unwrap()
            .execute(
                "UPDATE approvals SET status = 'deciding', decided_ms = ?2 WHERE id = ?1",
                rusqlite::params![id, now - age_ms],
            )
            .unwrap()
    };
    let decide = || {
        post(
            &s.url(&format!("/api/approvals/{id}/decision")),
            OPERATOR,
            r#"{"decision":"approve","by":"alice"}"#,
        )
    };
    assert_eq!(claim(1_000), 1);
    let (_, shown) = get(&s.url(&format!("/api/approvals/{id}")), VIEWER);
    assert_eq!(
        (&shown["decision"], &shown["decidedAt"]),
        (&json!("pending"), &Value::Null)
    );
    let (st, e) = decide();
    assert_eq!(st, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("being decided"),
        "{e}"
    );
    assert_eq!(claim(10 * 60_000), 1);
    let (st, done) = decide();
    assert_eq!(
        (st, done["decision"].as_str()),
        (200, Some("approved")),
        "{done}"
    );
}

#[test]
fn expired_asks_count_as_denied() {
    let dir = TempDir::new("expiry");
    let p = dir.path().join("policy.toml");
    std::fs::write(&p, "[[rule]]\nname = \"quick\"\nwhen = { action = [\"deploy\"] }\neffect = \"ask\"\nexpires_in = 1\n").unwrap();
    let s = Server::start(
        dir.path(),
        &["--example", "--policy", p.to_str().unwrap()],
        true,
    );
    let (_, a) = ask(&s, GATEWAY, req("t-exp", "devops", "deploy", 1.0));
    assert_eq!(a["decision"], "pending");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let id = a["approvalId"].as_str().unwrap();
    let (_, now) = get(&s.url(&format!("/api/approvals/{id}")), VIEWER);
    assert_eq!(now["decision"], "expired", "{now}");
    let (st, _) = post(
        &s.url(&format!("/api/approvals/{id}/decision")),
        OPERATOR,
        r#"{"decision":"approve","by":"late"}"#,
    );
    assert_eq!(st, 409, "an expired ask cannot be approved");
    let (_, audit) = get(&s.url("/api/audit?limit=10"), VIEWER);
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "expired")
    );
}

/// A spend that would take a ledger sum past what it holds is refused (422) and changes
/// nothing; the sums before it are exact, not clamped.
#[test]
fn spends_past_what_a_ledger_holds_are_refused() {
    let (_dir, s) = start("examples/policy/minimal.toml", &[]);
    let ids: Vec<String> = (0..10)
        .map(|i| {
            let (st, a) = ask(
                &s,
                GATEWAY,
                req(&format!("big-{i}"), "research", "read", 0.0),
            );
            assert_eq!((st, a["decision"].as_str()), (200, Some("approved")), "{a}");
            a["approvalId"].as_str().unwrap().to_owned()
        })
        .collect();
    let spend = |id: &str| {
        let body = json!({"approvalId": id, "actualCostUsd": 1e9}).to_string();
        post(&s.url("/api/spend"), GATEWAY, &body)
    };
    for id in &ids[..9] {
        assert_eq!(spend(id).0, 200);
    }
    let (st, e) = spend(&ids[9]);
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (422, Some("ledger_limit")),
        "{e}"
    );
    assert_eq!(global_daily(&s)["spentUsd"].as_f64(), Some(9e9));
    // Spending has passed the daily limit: a new ask says by how much, as the budget does.
    let (_, d) = ask(&s, GATEWAY, req("after", "research", "read", 0.0));
    assert_eq!(d["reasonCode"], "budget", "{d}");
    assert!(d["reason"].as_str().unwrap().contains(" over)"), "{d}");
    assert_eq!(
        d["budget"]["remainingUsd"],
        global_daily(&s)["remainingUsd"]
    );
    // Over the single-amount limit is a plain bad request.
    let body = json!({"approvalId": ids[9], "actualCostUsd": 2e9}).to_string();
    assert_eq!(post(&s.url("/api/spend"), GATEWAY, &body).0, 400);
}

/// A spend whose stored reservations are unreadable fails with an error and changes
/// nothing, instead of settling nothing (the reservation would stay held and the
/// spend never be counted); once the column is readable again the spend goes through.
#[test]
fn a_damaged_reservation_fails_the_spend() {
    let (dir, s) = start("examples/policy/minimal.toml", &[]);
    let (_, a) = ask(&s, GATEWAY, req("t-damaged", "research", "read", 2.0));
    assert_eq!(a["decision"], "approved", "{a}");
    let id = a["approvalId"].as_str().unwrap().to_owned();
    let before = global_daily(&s);
    assert_eq!(before["reservedUsd"], 2.0, "{before}");

    let db = dir.path().join("agency.db");
    let column = |value: Option<&str>| {
        let conn = rusqlite::Connection::open(&db).unwrap();
        match value {
            Some(v) => {
                conn.execute(
                    "UPDATE approvals SET reserved_json = ?2 WHERE id = ?1",
                    [id.as_str(), v],
                )
                .unwrap();
                v.to_owned()
            }
            None => conn
                .query_row(
                    "SELECT reserved_json FROM approvals WHERE id = ?1",
                    [id.as_str()],
                    |r| r.get(0),
                )
                .unwrap(),
        }
    };
    let good = column(None);
    let spend = json!({"approvalId": id, "actualCostUsd": 1.5}).to_string();
    for damaged in ["not json", "", "{}"] {
        column(Some(damaged));
        let (st, e) = post(&s.url("/api/spend"), GATEWAY, &spend);
        assert_eq!(
            (st, e["error"]["code"].as_str()),
            (500, Some("internal")),
            "{damaged:?}: {e}"
        );
        assert_eq!(global_daily(&s), before, "nothing spent or released");
        let (_, a) = get(&s.url(&format!("/api/approvals/{id}")), VIEWER);
        assert_eq!(a["actualCostUsd"], Value::Null, "{a}");
    }
    column(Some(&good));
    let (st, spent) = post(&s.url("/api/spend"), GATEWAY, &spend);
    assert_eq!((st, &spent["actualCostUsd"]), (200, &json!(1.5)), "{spent}");
    let after = global_daily(&s);
    assert_eq!(
        (&after["spentUsd"], &after["reservedUsd"]),
        (&json!(1.5), &json!(0.0)),
        "{after}"
    );
}

/// The 409s carry the core's conflict messages: a reused task id, a spend on an
/// approval that is not approved, a second spend.
#[test]
fn conflicts_are_the_cores() {
    use agency_approval::contract::ApprovalConflict;

    let (_dir, s) = start("examples/policy/minimal.toml", &[]);
    let (_, a) = ask(&s, GATEWAY, req("t-conflict", "research", "read", 1.0));
    let id = a["approvalId"].as_str().unwrap().to_owned();
    let (st, e) = ask(&s, GATEWAY, req("t-conflict", "research", "read", 2.0));
    let reused = ApprovalConflict::TaskReused {
        task_id: "t-conflict".into(),
        approval_id: id.clone(),
    };
    assert_eq!(
        (st, e["error"]["message"].as_str()),
        (409, Some(reused.to_string().as_str())),
        "{e}"
    );
    assert!(reused.to_string().contains(&format!("{id:?}")), "{reused}");

    let mut deploy = req("t-ask", "devops", "deploy", 1.0);
    deploy["environment"] = json!("production");
    let (_, pending) = ask(&s, GATEWAY, deploy);
    assert_eq!(pending["decision"], "pending", "{pending}");
    let pending_id = pending["approvalId"].as_str().unwrap().to_owned();
    let spend = |id: &str| {
        post(
            &s.url("/api/spend"),
            GATEWAY,
            &json!({"approvalId": id, "actualCostUsd": 1.0}).to_string(),
        )
    };
    let not_approved = ApprovalConflict::NotApproved {
        approval_id: pending_id.clone(),
        status: "pending".into(),
    };
    let (st, e) = spend(&pending_id);
    assert_eq!(
        (st, e["error"]["message"].as_str()),
        (409, Some(not_approved.to_string().as_str())),
        "{e}"
    );

    assert_eq!(spend(&id).0, 200);
    let (st, e) = spend(&id);
    let again = ApprovalConflict::Spent { approval_id: id }.to_string();
    assert_eq!(
        (st, e["error"]["message"].as_str()),
        (409, Some(again.as_str())),
        "{e}"
    );
}
