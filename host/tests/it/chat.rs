use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::util::*;

fn say(s: &Server, session: &str, message: &str) -> (u16, Value) {
    post(
        &s.url("/api/chat"),
        OPERATOR,
        &json!({"sessionId": session, "message": message}).to_string(),
    )
}

fn deploy(s: &Server, task: &str) -> Value {
    let body = json!({"taskId": task, "agent": "devops", "action": "deploy", "description": "ship v2", "estimatedCostUsd": 3.0, "environment": "production"});
    let (st, v) = post(&s.url("/api/approve"), GATEWAY, &body.to_string());
    assert_eq!(st, 200, "{v}");
    v
}

#[test]
fn chat_commands_with_memory_that_survives_restart() {
    let dir = TempDir::new("chat");
    let policy = dir.path().join("policy.toml");
    std::fs::copy(repo().join("examples/policy/minimal.toml"), &policy).unwrap();
    let args = ["--example", "--policy", policy.to_str().unwrap()];
    let (first, second);
    {
        let s = Server::start(dir.path(), &args, true);
        first = deploy(&s, "d1");
        second = deploy(&s, "d2");
        let (st, r) = say(&s, "ops", "what's pending?");
        assert_eq!(st, 200, "{r}");
        assert!(r["reply"].as_str().unwrap().starts_with("2 pending"), "{r}");
        let n = first["number"].as_i64().unwrap();
        let (_, r) = say(&s, "ops", &format!("why was {n} denied?"));
        assert!(
            r["reply"]
                .as_str()
                .unwrap()
                .contains("production deploys need a human"),
            "{r}"
        );
        let (_, r) = say(&s, "ops", "help");
        assert!(r["reply"].as_str().unwrap().contains("approve 42"));
        let (_, r) = say(&s, "ops", "route: please deploy the hotfix to production");
        assert!(r["reply"].as_str().unwrap().contains("devops"), "{r}");
        let (_, r) = say(&s, "ops", "budget");
        assert!(r["reply"].as_str().unwrap().contains("$50.00"), "{r}");
    }
    // Restart: "approve it" still means the approval discussed before.
    let s = Server::start(dir.path(), &args, true);
    let (_, r) = say(&s, "ops", "approve it");
    assert_eq!(r["actions"][0]["type"], "approved", "{r}");
    assert_eq!(r["actions"][0]["approvalId"], first["approvalId"]);
    let (_, r) = say(&s, "ops", "approve it");
    assert!(
        r["reply"].as_str().unwrap().contains("already approved"),
        "{r}"
    );
    let n2 = second["number"].as_i64().unwrap();
    let (_, r) = say(&s, "ops", &format!("deny {n2}: too expensive"));
    assert_eq!(r["actions"][0]["type"], "denied", "{r}");
    let (_, a) = get(
        &s.url(&format!(
            "/api/approvals/{}",
            second["approvalId"].as_str().unwrap()
        )),
        VIEWER,
    );
    assert_eq!(a["comment"], "too expensive");
    let (_, r) = say(&s, "ops", "halt codegen");
    assert_eq!(r["actions"][0]["type"], "halted");
    let (_, h) = get(&s.url("/api/halt"), VIEWER);
    assert_eq!(h["halts"][0]["target"], "codegen");
    let (_, r) = say(&s, "ops", "resume");
    assert!(r["reply"].as_str().unwrap().contains("Lifted 1"), "{r}");
    let (_, r) = say(&s, "other-session", "approve it");
    assert!(
        r["reply"].as_str().unwrap().contains("haven't discussed"),
        "sessions don't share memory: {r}"
    );
    let (_, r) = say(&s, "ops", "approve 999");
    assert!(
        r["reply"].as_str().unwrap().contains("no approval #999"),
        "{r}"
    );
    let (_, r) = say(&s, "ops", "tell me a joke");
    assert!(
        r["reply"].as_str().unwrap().contains("didn't understand"),
        "without a model: {r}"
    );

    // Bad input.
    let long = "x".repeat(5000);
    assert_eq!(say(&s, "ops", &long).0, 400);
    assert_eq!(say(&s, "", "help").0, 400);
    assert_eq!(
        post(
            &s.url("/api/chat"),
            GATEWAY,
            r#"{"sessionId":"a","message":"help"}"#
        )
        .0,
        403
    );
    assert_eq!(
        post(&s.url("/api/chat"), OPERATOR, r#"{"sessionId":"a"}"#).0,
        400
    );
}

/// A local server speaking the chat-completions wire format; records what it was sent.
fn fake_model(answer: &'static str) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let (mut len, mut auth) = (0, String::new());
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                let lower = h.to_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if lower.starts_with("authorization:") {
                    auth = h.trim().to_owned();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let mut req: Value = serde_json::from_slice(&body).unwrap();
            req["_path"] = json!(line.split_whitespace().nth(1));
            req["_auth"] = json!(auth);
            log.lock().unwrap().push(req);
            let resp = json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "fake",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{resp}",
                resp.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn free_text_goes_to_the_model_which_only_suggests() {
    let (url, seen) = fake_model("The deploy looks routine.\nCOMMAND: approve 1");
    let dir = TempDir::new("chat-llm");
    let policy = dir.path().join("policy.toml");
    std::fs::copy(repo().join("examples/policy/minimal.toml"), &policy).unwrap();
    let env = [
        ("AGENCY_LLM_BASE_URL", url.as_str()),
        ("AGENCY_LLM_MODEL", "fake-model"),
        ("AGENCY_LLM_API_KEY", "sk-test-key"),
    ];
    let s = Server::start_with_env(
        dir.path(),
        &["--example", "--policy", policy.to_str().unwrap()],
        true,
        &env,
    );
    let a = deploy(&s, "llm-1");
    let (_, _) = say(&s, "ops", "what's pending?");
    let (st, r) = say(&s, "ops", "should I let the deploy go out?");
    assert_eq!(st, 200, "{r}");
    assert!(
        r["reply"]
            .as_str()
            .unwrap()
            .contains("To do this, send: approve 1"),
        "{r}"
    );
    assert_eq!(r["actions"][0]["type"], "suggested");
    // Nothing was executed.
    let (_, now) = get(
        &s.url(&format!(
            "/api/approvals/{}",
            a["approvalId"].as_str().unwrap()
        )),
        VIEWER,
    );
    assert_eq!(now["decision"], "pending");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req["_path"], "/v1/chat/completions");
    assert_eq!(req["_auth"], "authorization: Bearer sk-test-key");
    assert_eq!(req["model"], "fake-model");
    let messages = req["messages"].as_array().unwrap();
    assert!(
        messages[0]["content"].as_str().unwrap().contains("ship v2"),
        "pending approvals are context"
    );
    assert!(
        messages.iter().any(|m| m["content"] == "what's pending?"),
        "history is context"
    );
    assert_eq!(
        messages.last().unwrap()["content"],
        "should I let the deploy go out?"
    );
}

/// "resume X" lifts what "halt X" stored, whatever the case: names fold the same way.
#[test]
fn resume_lifts_a_halt_spelled_in_any_case() {
    let dir = TempDir::new("chat-resume");
    let s = Server::start(dir.path(), &["--example"], true);
    let (st, r) = say(&s, "ops", "halt CodeGen");
    assert_eq!(
        (st, &r["actions"][0]["type"]),
        (200, &json!("halted")),
        "{r}"
    );
    let (_, h) = get(&s.url("/api/halt"), VIEWER);
    assert_eq!(h["halts"][0]["target"], "codegen", "{h}");
    let (_, r) = say(&s, "ops", "resume CodeGen");
    assert_eq!(
        r["reply"], "Agent codegen is resumed. Nothing was held.",
        "{r}"
    );
    let (_, h) = get(&s.url("/api/halt"), VIEWER);
    assert_eq!(h["halts"], json!([]), "{h}");
    let (_, r) = say(&s, "ops", "resume CODEGEN");
    assert_eq!(
        r["reply"], "Agent codegen was not halted; nothing changed.",
        "{r}"
    );
    assert_eq!(r["actions"], json!([]), "nothing happened: {r}");
}
