//! Local stand-ins for what cannot be reached from here, speaking the real wire
//! formats: the agency gateway (`POST /gateway/tasks`, which checks the Standard
//! Webhooks signature with the Standard Webhooks project's library, as a receiver
//! would) and the chat platforms' APIs (Slack's Web
//! API under `/slack/api`, Telegram's Bot API under `/telegram`, Discord's under
//! `/discord/api/v10`, a Slack `response_url` under `/slack/response`), each checking
//! the caller's credentials. Everything received is recorded and readable over HTTP
//! (`GET /_seen`), so the suite can run in another process than the fakes (the edge
//! run starts them with `agency-conformance fakes`).
//!
//! Scripted answers, by the task's text: `[flaky]` gets one 503 with `Retry-After: 1`
//! per delivery id, then 200; `[gone]` gets 410; `[down]` gets 500 while the gateway is
//! down (`POST /_control {"down": false}` brings it up). The gateway's health URLs
//! (`/gateway/health`, `/gateway/agents/{id}/health`,
//! `/gateway/agents/{id}/instances/{instance}/health` with a `load`) answer 200, or 503 for the agents
//! named by `POST /_control {"agentsDown": [...]}`. A platform call whose text has
//! `[platform-429]` gets one 429 with `Retry-After: 1`, then succeeds.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// The bot tokens the fakes accept (the server under test must be configured with them).
pub const SLACK_TOKEN: &str = "xoxb-conformance-token";
pub const TELEGRAM_TOKEN: &str = "4242:conformance-token";
pub const DISCORD_TOKEN: &str = "conformance-discord-token";

/// One request a fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `gateway` (a task), `gateway-event` (a halt or resume), `slack`,
    /// `slack-response`, `telegram` or `discord`.
    pub kind: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// Gateway: the Standard Webhooks signature checked out.
    pub verified: bool,
    /// Platform: the credentials were the configured ones.
    pub authorized: bool,
    pub status: u16,
    pub at_ms: i64,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    down: bool,
    /// Agents whose health URL at the gateway answers 503.
    agents_down: HashSet<String>,
    /// Instances (`agent/instance`) whose health URL answers 503.
    instances_down: HashSet<String>,
    /// The load an instance's health URL answers (0.25 otherwise).
    instance_load: std::collections::HashMap<String, f64>,
    flaked: HashSet<String>,
    throttled: HashSet<String>,
}

/// Running fakes.
pub struct Fakes {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Fakes {
    /// Starts the fakes on a free port of 127.0.0.1; the gateway verifies with
    /// `gateway_secret` (`whsec_...`). They stop with the process.
    pub fn start(gateway_secret: &str) -> Result<Fakes, String> {
        standardwebhooks::Webhook::new(gateway_secret).map_err(|e| e.to_string())?;
        let _ = GATEWAY_SECRET.set(gateway_secret.to_owned());
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or("no port")?;
        let state = Arc::new(Mutex::new(State {
            down: true,
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(req, &shared));
            }
        });
        Ok(Fakes {
            url: format!("http://127.0.0.1:{port}"),
            state,
        })
    }

    /// What the fakes received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state
            .lock()
            .map(|s| s.seen.clone())
            .unwrap_or_default()
    }

    /// The gateway's URL as the server is configured with (`{url}/tasks` is posted).
    pub fn gateway_url(&self) -> String {
        format!("{}/gateway", self.url)
    }

    /// Blocks forever (the `fakes` subcommand).
    pub fn park(self) -> ! {
        loop {
            std::thread::park();
        }
    }
}

/// The gateway's secret, for the Standard Webhooks library.
static GATEWAY_SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Verifies a delivery as a gateway written with the Standard Webhooks reference
/// library would.
fn standard_webhooks_verify(body: &[u8], headers: &[(String, String)]) -> bool {
    let Some(secret) = GATEWAY_SECRET.get() else {
        return false;
    };
    let Ok(hook) = standardwebhooks::Webhook::new(secret) else {
        return false;
    };
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            http::header::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            map.append(k, v);
        }
    }
    hook.verify(body, &map).is_ok()
}

fn respond(req: tiny_http::Request, status: u16, body: &Value, headers: &[(&str, &str)]) {
    let mut r = tiny_http::Response::from_string(body.to_string()).with_status_code(status);
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    for (k, v) in all {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            r.add_header(h);
        }
    }
    let _ = req.respond(r);
}

fn serve(mut req: tiny_http::Request, state: &Mutex<State>) {
    let mut raw = Vec::new();
    let _ = req.as_reader().read_to_end(&mut raw);
    let method = req.method().as_str().to_owned();
    let url = req.url().to_owned();
    let path = url.split('?').next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let Ok(mut s) = state.lock() else {
        return respond(req, 500, &json!({"error": "poisoned"}), &[]);
    };
    if path == "/_seen" {
        let list: Vec<Value> = s
            .seen
            .iter()
            .map(|x| {
                json!({
                    "kind": x.kind, "method": x.method, "path": x.path,
                    "headers": x.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                    "body": x.body, "verified": x.verified, "authorized": x.authorized,
                    "status": x.status, "atMs": x.at_ms,
                })
            })
            .collect();
        return respond(req, 200, &json!({ "seen": list }), &[]);
    }
    if path == "/_control" {
        if let Some(d) = body.get("down").and_then(Value::as_bool) {
            s.down = d;
        }
        if let Some(a) = body.get("agentsDown").and_then(Value::as_array) {
            s.agents_down = a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
        if let Some(a) = body.get("instancesDown").and_then(Value::as_array) {
            s.instances_down = a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
        if let Some(m) = body.get("instanceLoad").and_then(Value::as_object) {
            s.instance_load = m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                .collect();
        }
        return respond(req, 200, &json!({ "down": s.down }), &[]);
    }
    // Health URLs, probed by monitoring (not recorded: they come every round).
    if path == "/gateway/health" {
        drop(s);
        return respond(req, 200, &json!({ "status": "ok" }), &[]);
    }
    if let Some((agent, instance)) = path
        .strip_prefix("/gateway/agents/")
        .and_then(|r| r.strip_suffix("/health"))
        .and_then(|r| r.split_once("/instances/"))
    {
        let key = format!("{agent}/{instance}");
        let status = if s.instances_down.contains(&key) {
            503
        } else {
            200
        };
        let load = s.instance_load.get(&key).copied().unwrap_or(0.25);
        drop(s);
        return respond(
            req,
            status,
            &json!({ "instance": instance, "load": load }),
            &[],
        );
    }
    if let Some(agent) = path
        .strip_prefix("/gateway/agents/")
        .and_then(|r| r.strip_suffix("/health"))
    {
        let status = if s.agents_down.contains(agent) {
            503
        } else {
            200
        };
        drop(s);
        return respond(req, status, &json!({ "agent": agent }), &[]);
    }
    let text = body
        .pointer("/event/text")
        .or_else(|| body.get("text"))
        .or_else(|| body.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let record = |s: &mut State, kind: &str, verified: bool, authorized: bool, status: u16| {
        s.seen.push(Seen {
            kind: kind.into(),
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
            body: body.clone(),
            verified,
            authorized,
            status,
            at_ms: now_ms(),
        });
    };
    if path == "/gateway/events" {
        let verified = standard_webhooks_verify(&raw, &headers);
        let status = if verified { 200 } else { 401 };
        record(&mut s, "gateway-event", verified, true, status);
        drop(s);
        return respond(req, status, &json!({ "ok": verified }), &[]);
    }
    if path == "/gateway/tasks" {
        let verified = standard_webhooks_verify(&raw, &headers);
        let id = header("webhook-id").unwrap_or("").to_owned();
        let (status, extra): (u16, &[(&str, &str)]) = if !verified {
            (401, &[])
        } else if text.contains("[gone]") {
            (410, &[])
        } else if text.contains("[down]") && s.down {
            (500, &[])
        } else if text.contains("[flaky]") && !s.flaked.contains(&id) {
            (503, &[("retry-after", "1")])
        } else {
            (200, &[])
        };
        if status == 503 {
            s.flaked.insert(id);
        }
        record(&mut s, "gateway", verified, true, status);
        drop(s);
        return respond(req, status, &json!({ "ok": status == 200 }), extra);
    }
    let (kind, authorized) = if let Some(rest) = path.strip_prefix("/slack/api/") {
        let _ = rest;
        (
            "slack",
            header("authorization") == Some(&format!("Bearer {SLACK_TOKEN}")),
        )
    } else if path.starts_with("/slack/response/") {
        ("slack-response", header("authorization").is_none())
    } else if let Some(rest) = path.strip_prefix("/telegram/bot") {
        ("telegram", rest.split('/').next() == Some(TELEGRAM_TOKEN))
    } else if let Some(rest) = path.strip_prefix("/discord/api/v10/") {
        let bot = header("authorization") == Some(&format!("Bot {DISCORD_TOKEN}"));
        // Interaction follow-ups authenticate with the interaction's token in the path.
        (
            "discord",
            if rest.starts_with("webhooks/") {
                true
            } else {
                bot
            },
        )
    } else {
        record(&mut s, "unknown", false, false, 404);
        drop(s);
        return respond(req, 404, &json!({ "error": "no such fake" }), &[]);
    };
    if !authorized {
        record(&mut s, kind, false, false, 401);
        drop(s);
        return respond(
            req,
            401,
            &json!({ "ok": false, "error": "invalid_auth" }),
            &[],
        );
    }
    let key = format!("{path}|{text}");
    if text.contains("[platform-429]") && !s.throttled.contains(&key) {
        s.throttled.insert(key);
        record(&mut s, kind, false, true, 429);
        drop(s);
        return respond(
            req,
            429,
            &json!({ "ok": false, "error": "ratelimited", "retry_after": 1 }),
            &[("retry-after", "1")],
        );
    }
    record(&mut s, kind, false, true, 200);
    drop(s);
    let answer = match kind {
        "slack" => json!({ "ok": true, "channel": body.get("channel"), "ts": "1700000000.000100" }),
        "telegram" => {
            json!({ "ok": true, "result": { "message_id": 777, "chat": { "id": body.get("chat_id") } } })
        }
        "discord" => json!({ "id": "1100000000000000001", "channel_id": "1" }),
        _ => json!({ "ok": true }),
    };
    respond(req, 200, &answer, &[]);
}
