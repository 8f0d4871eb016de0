//! The webhook service's checks: signatures, handshakes, dedup under concurrent
//! retries, the rate limit, signed dispatch to the gateway with retries, dead letters
//! and replays, approval-card clicks and chat through the fake platform APIs, and
//! replies. They need a server configured as [`server_config`] says, pointed at running
//! [`Fakes`](crate::fakes::Fakes).

use std::time::{Duration, Instant};

use agency_webhook::verify::slack_signature;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use crate::assistant::fresh;
use crate::client::{Client, expect_error, expect_status};
use crate::fakes::{DISCORD_TOKEN, SLACK_TOKEN, TELEGRAM_TOKEN};
use crate::{Outcome, Target};

/// The id of the conformance source on each platform.
pub const SOURCE: &str = "conformance";
/// A Slack source with a tiny bucket (burst 3, one token per 20 s).
pub const LIMITED: &str = "conformance-limited";
pub const SLACK_SECRET: &str = "conformance-slack-signing-secret";
pub const TELEGRAM_SECRET: &str = "conformance_telegram-secret";
/// The Discord application's private key (its public key is configured).
pub const DISCORD_SEED: [u8; 32] = [7; 32];
pub const DISCORD_APP: &str = "1100000000000000042";
/// The gateway's Standard Webhooks secret.
pub const GATEWAY_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The approver's id on every platform, and their name.
pub const APPROVER_SLACK: &str = "UAPPROVER";
pub const APPROVER_TELEGRAM: i64 = 4242;
pub const APPROVER_DISCORD: &str = "4242";
pub const APPROVER: &str = "conformance-approver";

/// The Discord public key (hex) matching [`DISCORD_SEED`].
pub fn discord_public_key() -> String {
    hex::encode(
        SigningKey::from_bytes(&DISCORD_SEED)
            .verifying_key()
            .to_bytes(),
    )
}

/// The environment the server needs (secrets are never in files).
pub fn server_env() -> Vec<(&'static str, String)> {
    vec![
        ("CONFORMANCE_SLACK_SECRET", SLACK_SECRET.into()),
        ("CONFORMANCE_TELEGRAM_SECRET", TELEGRAM_SECRET.into()),
        ("CONFORMANCE_SLACK_TOKEN", SLACK_TOKEN.into()),
        ("CONFORMANCE_TELEGRAM_TOKEN", TELEGRAM_TOKEN.into()),
        ("CONFORMANCE_DISCORD_TOKEN", DISCORD_TOKEN.into()),
        ("CONFORMANCE_GATEWAY_SECRET", GATEWAY_SECRET.into()),
    ]
}

/// The local server's config for the suite, against fakes at `fakes` (their URL).
pub fn server_config(fakes: &str) -> String {
    let key = discord_public_key();
    format!(
        r#"[webhooks]
retry_schedule_secs = [1, 1]
slack_api = "{fakes}/slack/api"
telegram_api = "{fakes}/telegram"
discord_api = "{fakes}/discord/api/v10"

[[webhooks.slack]]
id = "{SOURCE}"
signing_secret_env = "CONFORMANCE_SLACK_SECRET"
bot_token_env = "CONFORMANCE_SLACK_TOKEN"

[[webhooks.slack]]
id = "{LIMITED}"
signing_secret_env = "CONFORMANCE_SLACK_SECRET"
burst = 3
rate_per_second = 0.05

[[webhooks.telegram]]
id = "{SOURCE}"
secret_token_env = "CONFORMANCE_TELEGRAM_SECRET"
bot_token_env = "CONFORMANCE_TELEGRAM_TOKEN"
bot_username = "conformance_bot"

[[webhooks.discord]]
id = "{SOURCE}"
application_id = "{DISCORD_APP}"
public_key = "{key}"
bot_token_env = "CONFORMANCE_DISCORD_TOKEN"

[gateway]
url = "{fakes}/gateway"
secret_env = "CONFORMANCE_GATEWAY_SECRET"
timeout_ms = 5000
health_url = "{fakes}/gateway/health"
agent_health_url = "{fakes}/gateway/agents/{{agent}}/health"

[monitoring]
probe_interval_ms = 200
down_after = 2

[[approvers]]
name = "{APPROVER}"
slack = "{APPROVER_SLACK}"
telegram = {APPROVER_TELEGRAM}
discord = "{APPROVER_DISCORD}"
"#
    )
}

/// Where the webhook service and the fakes are.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// Serves `/slack/{id}`, `/telegram/{id}`, `/discord/{id}` and `/api/events*`.
    pub base: String,
    /// The running fakes' URL.
    pub fakes: String,
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct Hooks<'a> {
    c: &'a Client,
    w: &'a WebhookTarget,
    t: &'a Target,
}

impl Hooks<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.w.base.trim_end_matches('/'))
    }

    fn slack_at(
        &self,
        source: &str,
        body: &str,
        content_type: &str,
        ts: i64,
        sig: Option<String>,
    ) -> Result<crate::client::Raw, String> {
        let sig =
            sig.unwrap_or_else(|| slack_signature(SLACK_SECRET.as_bytes(), ts, body.as_bytes()));
        let ts = ts.to_string();
        self.c.raw(
            "POST",
            &self.url(&format!("/slack/{source}")),
            &[
                ("content-type", content_type),
                ("x-slack-request-timestamp", &ts),
                ("x-slack-signature", &sig),
            ],
            body.as_bytes(),
        )
    }

    fn slack(&self, body: &Value) -> Result<crate::client::Raw, String> {
        self.slack_at(SOURCE, &body.to_string(), "application/json", now_s(), None)
    }

    fn slack_form(&self, form: &[(&str, &str)]) -> Result<crate::client::Raw, String> {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.slack_at(
            SOURCE,
            &body,
            "application/x-www-form-urlencoded",
            now_s(),
            None,
        )
    }

    fn telegram(&self, body: &Value, secret: Option<&str>) -> Result<crate::client::Raw, String> {
        let mut h = vec![("content-type", "application/json")];
        if let Some(s) = secret {
            h.push(("x-telegram-bot-api-secret-token", s));
        }
        self.c.raw(
            "POST",
            &self.url(&format!("/telegram/{SOURCE}")),
            &h,
            body.to_string().as_bytes(),
        )
    }

    fn discord(&self, body: &Value, tamper: bool) -> Result<crate::client::Raw, String> {
        let ts = now_s().to_string();
        let raw = body.to_string();
        let key = SigningKey::from_bytes(&DISCORD_SEED);
        let mut signed = ts.clone().into_bytes();
        signed.extend_from_slice(raw.as_bytes());
        let mut sig = key.sign(&signed).to_bytes();
        if tamper {
            sig[0] ^= 1;
        }
        let sig = hex::encode(sig);
        self.c.raw(
            "POST",
            &self.url(&format!("/discord/{SOURCE}")),
            &[
                ("content-type", "application/json"),
                ("x-signature-ed25519", &sig),
                ("x-signature-timestamp", &ts),
            ],
            raw.as_bytes(),
        )
    }

    /// The stored event with this platform id (newest first), if any.
    fn events_with(&self, platform_event_id: &str) -> Result<Vec<Value>, String> {
        let r = self.c.call(
            "GET",
            &self.url("/api/events?limit=1000"),
            Some(&self.t.viewer_token),
            None,
            &[],
        )?;
        expect_status(&r, 200, "GET /api/events")?;
        Ok(r.body["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["platformEventId"] == platform_event_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits until the event with this platform id is in one of `statuses`; its detail.
    fn settled(&self, platform_event_id: &str, statuses: &[&str]) -> Result<Value, String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(e) = self.events_with(platform_event_id)?.first() {
                let id = e["id"].as_str().unwrap_or("");
                let d = self.c.call(
                    "GET",
                    &self.url(&format!("/api/events/{id}")),
                    Some(&self.t.viewer_token),
                    None,
                    &[],
                )?;
                expect_status(&d, 200, "GET /api/events/{id}")?;
                if statuses.iter().any(|s| d.body["status"] == *s) {
                    return Ok(d.body);
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "event {platform_event_id} is still {} (wanted {statuses:?}): {}",
                        d.body["status"], d.body
                    ));
                }
            } else if Instant::now() > deadline {
                return Err(format!("event {platform_event_id} was never stored"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the fakes received of `kind` (`gateway`, `slack`, ...) matching `pred`,
    /// waiting up to 15 s for at least `n`.
    fn seen(
        &self,
        kind: &str,
        n: usize,
        pred: &dyn Fn(&Value) -> bool,
    ) -> Result<Vec<Value>, String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = self
                .c
                .call("GET", &format!("{}/_seen", self.w.fakes), None, None, &[])?;
            let got: Vec<Value> = r.body["seen"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|s| s["kind"] == kind && pred(s))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if got.len() >= n || Instant::now() > deadline {
                return Ok(got);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn header<'a>(seen: &'a Value, name: &str) -> Option<&'a str> {
    seen["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0] == name)
        .and_then(|h| h[1].as_str())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn slack_message(event_id: &str, ts: &str, text: &str, user: &str) -> Value {
    json!({
        "token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event_id": event_id, "event_time": now_s(),
        "event": { "type": "message", "channel": "C1", "user": user, "text": text, "ts": ts, "channel_type": "channel" },
    })
}

fn expect_401(r: &crate::client::Raw, what: &str) -> Result<(), String> {
    if r.status != 401 {
        return Err(format!("{what}: expected 401, got {} {}", r.status, r.body));
    }
    let v: Value = serde_json::from_str(&r.body)
        .map_err(|_| format!("{what}: 401 body is not JSON: {}", r.body))?;
    if !v["error"]["code"].is_string() {
        return Err(format!("{what}: 401 body is not an API error: {}", r.body));
    }
    Ok(())
}

fn expect_200(r: &crate::client::Raw, what: &str) -> Result<(), String> {
    if r.status != 200 {
        return Err(format!("{what}: expected 200, got {} {}", r.status, r.body));
    }
    Ok(())
}

/// A unique numeric id (Telegram update ids, Discord snowflakes).
fn number() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_nanos() % 1_000_000_000_000) as i64)
        .unwrap_or(1)
}

pub(crate) fn webhook_checks(c: &Client, w: &WebhookTarget, t: &Target, out: &mut Vec<Outcome>) {
    let h = Hooks { c, w, t };
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };
    check(
        "webhooks: Slack signatures good, tampered, stale and missing",
        &mut || {
            let body = slack_message(
                &fresh("EvSig"),
                &format!("{}.000100", now_s()),
                "hello",
                "U1",
            )
            .to_string();
            let ts = now_s();
            let good = slack_signature(SLACK_SECRET.as_bytes(), ts, body.as_bytes());
            let mut tampered = good.clone();
            tampered.pop();
            tampered.push(if good.ends_with('0') { '1' } else { '0' });
            expect_401(
                &h.slack_at(SOURCE, &body, "application/json", ts, Some(tampered))?,
                "tampered",
            )?;
            let stale = ts - 301;
            expect_401(
                &h.slack_at(SOURCE, &body, "application/json", stale, None)?,
                "stale (301 s)",
            )?;
            let r = c.raw(
                "POST",
                &h.url(&format!("/slack/{SOURCE}")),
                &[("content-type", "application/json")],
                body.as_bytes(),
            )?;
            expect_401(&r, "missing")?;
            let other = slack_signature(b"another-secret", ts, body.as_bytes());
            expect_401(
                &h.slack_at(SOURCE, &body, "application/json", ts, Some(other))?,
                "another app's secret",
            )?;
            expect_401(
                &h.slack_at("nobody", &body, "application/json", ts, Some(good.clone()))?,
                "unknown workspace",
            )?;
            expect_200(
                &h.slack_at(SOURCE, &body, "application/json", ts, Some(good))?,
                "good",
            )
        },
    );
    check(
        "webhooks: Telegram secret token good, wrong and missing",
        &mut || {
            let update = json!({ "update_id": number(), "message": { "message_id": 1, "from": { "id": 7, "is_bot": false, "first_name": "A" }, "chat": { "id": -100, "type": "group" }, "date": now_s(), "text": "hi there" } });
            expect_401(&h.telegram(&update, Some("wrong-secret"))?, "wrong")?;
            expect_401(&h.telegram(&update, None)?, "missing")?;
            let r = c.raw(
                "POST",
                &h.url("/telegram/nobody"),
                &[
                    ("content-type", "application/json"),
                    ("x-telegram-bot-api-secret-token", TELEGRAM_SECRET),
                ],
                update.to_string().as_bytes(),
            )?;
            expect_401(&r, "unknown bot")?;
            expect_200(&h.telegram(&update, Some(TELEGRAM_SECRET))?, "good")
        },
    );
    check(
        "webhooks: Discord signatures good, tampered and missing; PING answered",
        &mut || {
            let ping = json!({ "id": number().to_string(), "application_id": DISCORD_APP, "type": 1, "token": "t", "version": 1 });
            expect_401(&h.discord(&ping, true)?, "tampered (Discord's own probe)")?;
            let r = c.raw(
                "POST",
                &h.url(&format!("/discord/{SOURCE}")),
                &[("content-type", "application/json")],
                ping.to_string().as_bytes(),
            )?;
            expect_401(&r, "missing")?;
            let r = h.discord(&ping, false)?;
            expect_200(&r, "good PING")?;
            let v: Value = serde_json::from_str(&r.body).map_err(|e| e.to_string())?;
            if v != json!({ "type": 1 }) {
                return Err(format!("PING must be answered {{\"type\":1}}, got {v}"));
            }
            Ok(())
        },
    );
    check(
        "webhooks: Slack url_verification answers its challenge",
        &mut || {
            let r = h.slack(&json!({ "token": "x", "challenge": "conformance-challenge-42", "type": "url_verification" }))?;
            expect_200(&r, "url_verification")?;
            if !r.body.contains("conformance-challenge-42") {
                return Err(format!("the challenge is not in the answer: {}", r.body));
            }
            Ok(())
        },
    );
    check(
        "webhooks: bad payloads are 400 with a JSON error",
        &mut || {
            let r = h.slack_at(SOURCE, "{not json", "application/json", now_s(), None)?;
            if r.status != 400 || !r.body.contains("\"error\"") {
                return Err(format!(
                    "expected a 400 API error, got {} {}",
                    r.status, r.body
                ));
            }
            Ok(())
        },
    );
    check(
        "webhooks: concurrent retries of one event pass once",
        &mut || {
            let event_id = fresh("EvDup");
            let ts = format!("{}.{:06}", now_s(), number() % 1_000_000);
            let text = format!("status of the deploy pipeline {}", fresh("dup"));
            let body = slack_message(&event_id, &ts, &text, "U1");
            let results: Vec<Result<u16, String>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| s.spawn(|| h.slack(&body).map(|r| r.status)))
                    .collect();
                handles
                    .into_iter()
                    .map(|j| j.join().unwrap_or(Err("panicked".into())))
                    .collect()
            });
            for r in results {
                if r? != 200 {
                    return Err("a retry was not acknowledged with 200".into());
                }
            }
            // Slack has sent one message under another event id, without retry headers.
            let again = slack_message(&fresh("EvDup2"), &ts, &text, "U1");
            expect_200(&h.slack(&again)?, "same channel and ts, another event id")?;
            h.settled(&event_id, &["done", "dead", "failed"])?;
            let stored = h.events_with(&event_id)?.len()
                + h.events_with(again["event_id"].as_str().unwrap_or(""))?
                    .len();
            if stored != 1 {
                return Err(format!("expected one stored event, found {stored}"));
            }
            let tasks = h.seen("gateway", 1, &|s| {
                s["body"]["event"]["text"] == text.as_str()
            })?;
            if tasks.len() != 1 {
                return Err(format!("the gateway got the message {} times", tasks.len()));
            }
            Ok(())
        },
    );
    check(
        "webhooks: a source over its rate gets 429 with Retry-After",
        &mut || {
            let mut limited = None;
            for i in 0..6 {
                let body = slack_message(
                    &fresh(&format!("EvRate{i}")),
                    &format!("{}.{i:06}", now_s()),
                    "rate",
                    "U1",
                )
                .to_string();
                let r = h.slack_at(LIMITED, &body, "application/json", now_s(), None)?;
                if r.status == 429 {
                    limited = Some(r);
                    break;
                }
                expect_200(&r, "within the burst")?;
            }
            let r =
                limited.ok_or("6 deliveries to a source with a burst of 3 were all accepted")?;
            let after: u64 = r
                .retry_after
                .as_deref()
                .and_then(|v| v.parse().ok())
                .ok_or("429 without a Retry-After in seconds")?;
            if after == 0 {
                return Err("Retry-After must be at least 1".into());
            }
            Ok(())
        },
    );
    check(
        "webhooks: a message is routed and dispatched, signed, to the gateway",
        &mut || {
            let event_id = fresh("EvRoute");
            let text = format!("deploy the api to production {}", fresh("route"));
            let ts = format!("{}.{:06}", now_s(), number() % 1_000_000);
            expect_200(
                &h.slack(&slack_message(&event_id, &ts, &text, "U1"))?,
                "message",
            )?;
            let detail = h.settled(&event_id, &["done", "dead", "failed"])?;
            if detail["status"] != "done" {
                return Err(format!("expected done: {detail}"));
            }
            let tasks = h.seen("gateway", 1, &|s| {
                s["body"]["event"]["text"] == text.as_str()
            })?;
            let task = tasks.first().ok_or("the gateway never got the task")?;
            if task["verified"] != true {
                return Err("the gateway could not verify the Standard Webhooks signature".into());
            }
            let task_id = task["body"]["taskId"].as_str().unwrap_or("");
            if task_id != detail["id"]
                || header(task, "webhook-id") != Some(task_id)
                || header(task, "idempotency-key") != Some(task_id)
            {
                return Err(format!(
                    "taskId, webhook-id and Idempotency-Key must be the event id: {task}"
                ));
            }
            let b = &task["body"];
            if !b["decision"].is_object()
                || b["replyTo"]["platform"] != "slack"
                || b["replyTo"]["source"] != SOURCE
                || b["replyTo"]["channel"] != "C1"
            {
                return Err(format!("the task lacks its decision or replyTo: {b}"));
            }
            if detail["attemptLog"].as_array().map(Vec::len) != Some(1)
                || detail["attemptLog"][0]["status"] != 200
            {
                return Err(format!(
                    "expected one attempt with 200: {}",
                    detail["attemptLog"]
                ));
            }
            if !detail["decision"].is_object() {
                return Err(format!(
                    "the event does not show its routing decision: {detail}"
                ));
            }
            Ok(())
        },
    );
    check(
        "webhooks: a failed dispatch is retried, honouring Retry-After",
        &mut || {
            let event_id = fresh("EvFlaky");
            let text = format!("deploy [flaky] {}", fresh("f"));
            expect_200(
                &h.slack(&slack_message(
                    &event_id,
                    &format!("{}.1", number()),
                    &text,
                    "U1",
                ))?,
                "message",
            )?;
            let d = h.settled(&event_id, &["done", "dead", "failed"])?;
            let log = d["attemptLog"].as_array().cloned().unwrap_or_default();
            if d["status"] != "done"
                || log.len() != 2
                || log[0]["status"] != 503
                || log[1]["status"] != 200
            {
                return Err(format!("expected 503 then 200: {d}"));
            }
            let tasks = h.seen("gateway", 2, &|s| {
                s["body"]["event"]["text"] == text.as_str()
            })?;
            let gap = tasks.get(1).and_then(|b| b["atMs"].as_i64()).unwrap_or(0)
                - tasks.first().and_then(|a| a["atMs"].as_i64()).unwrap_or(0);
            if gap < 900 {
                return Err(format!(
                    "retried after {gap} ms, under the gateway's Retry-After of 1 s"
                ));
            }
            if tasks
                .iter()
                .any(|t| header(t, "webhook-id") != Some(d["id"].as_str().unwrap_or("")))
            {
                return Err("a retry changed the webhook-id".into());
            }
            Ok(())
        },
    );
    check(
        "webhooks: 410 stops; failing dispatches become dead letters and replay under their id",
        &mut || {
            let gone = fresh("EvGone");
            expect_200(
                &h.slack(&slack_message(
                    &gone,
                    &format!("{}.2", number()),
                    &format!("deploy [gone] {gone}"),
                    "U1",
                ))?,
                "gone",
            )?;
            let d = h.settled(&gone, &["failed", "done", "dead"])?;
            if d["status"] != "failed" || d["attemptLog"].as_array().map(Vec::len) != Some(1) {
                return Err(format!("410 must stop after one attempt: {d}"));
            }
            c.call(
                "POST",
                &format!("{}/_control", w.fakes),
                None,
                Some(r#"{"down": true}"#),
                &[],
            )?;
            let down = fresh("EvDown");
            let text = format!("deploy [down] {down}");
            expect_200(
                &h.slack(&slack_message(
                    &down,
                    &format!("{}.3", number()),
                    &text,
                    "U1",
                ))?,
                "down",
            )?;
            let d = h.settled(&down, &["dead", "done", "failed"])?;
            if d["status"] != "dead" || d["attemptLog"].as_array().map(Vec::len) != Some(3) {
                return Err(format!(
                    "expected a dead letter after 3 attempts (schedule [1, 1]): {d}"
                ));
            }
            let id = d["id"].as_str().unwrap_or("").to_owned();
            let letters = c.call(
                "GET",
                &h.url("/api/deadletters?limit=1000"),
                Some(&t.viewer_token),
                None,
                &[],
            )?;
            expect_status(&letters, 200, "GET /api/deadletters")?;
            if !letters.body["events"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e["id"] == id.as_str()))
            {
                return Err("the dead letter is not listed".into());
            }
            let replay = h.url(&format!("/api/deadletters/{id}/replay"));
            expect_error(
                &c.call("POST", &replay, Some(&t.viewer_token), None, &[])?,
                403,
                "viewer replay",
            )?;
            c.call(
                "POST",
                &format!("{}/_control", w.fakes),
                None,
                Some(r#"{"down": false}"#),
                &[],
            )?;
            let r = c.call("POST", &replay, Some(&t.operator_token), None, &[])?;
            expect_status(&r, 200, "replay")?;
            let d = h.settled(&down, &["done"])?;
            let tasks = h.seen("gateway", 4, &|s| {
                s["body"]["event"]["text"] == text.as_str()
            })?;
            if tasks.len() != 4
                || tasks
                    .iter()
                    .any(|t| header(t, "idempotency-key") != Some(id.as_str()))
            {
                return Err(format!(
                    "expected 4 deliveries under one Idempotency-Key, got {}",
                    tasks.len()
                ));
            }
            expect_error(
                &c.call("POST", &replay, Some(&t.operator_token), None, &[])?,
                409,
                "replaying a done event",
            )?;
            expect_error(
                &c.call(
                    "POST",
                    &h.url("/api/deadletters/evt_nope/replay"),
                    Some(&t.operator_token),
                    None,
                    &[],
                )?,
                404,
                "unknown event",
            )?;
            let all = c.call(
                "POST",
                &h.url("/api/deadletters/replay"),
                Some(&t.operator_token),
                Some(r#"{"source": "no-such-source"}"#),
                &[],
            )?;
            expect_status(&all, 200, "replay all of a source")?;
            if all.body["replayed"] != json!([]) {
                return Err(format!(
                    "nothing to replay for an unknown source: {}",
                    all.body
                ));
            }
            let _ = d;
            Ok(())
        },
    );
    check(
        "webhooks: replies reach the chat, retrying a platform's 429",
        &mut || {
            let text = format!("[platform-429] the answer {}", fresh("reply"));
            let body = json!({ "replyTo": { "platform": "telegram", "source": SOURCE, "chatId": -100, "messageId": 5 }, "text": text });
            let r = c.call(
                "POST",
                &h.url("/api/replies"),
                Some(&t.gateway_token),
                Some(&body.to_string()),
                &[],
            )?;
            expect_status(&r, 202, "POST /api/replies")?;
            let calls = h.seen("telegram", 2, &|s| s["body"]["text"] == text.as_str())?;
            if calls.len() != 2 || calls[0]["status"] != 429 || calls[1]["status"] != 200 {
                return Err(format!("expected a 429 then a delivery: {calls:?}"));
            }
            let gap =
                calls[1]["atMs"].as_i64().unwrap_or(0) - calls[0]["atMs"].as_i64().unwrap_or(0);
            if gap < 900
                || !calls[1]["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/sendMessage"))
                || calls[1]["body"]["chat_id"] != -100
            {
                return Err(format!(
                    "the retry must wait Retry-After and be sendMessage to the chat: {:?}",
                    calls[1]
                ));
            }
            expect_error(&c.call("POST", &h.url("/api/replies"), Some(&t.gateway_token), Some(r#"{"replyTo": {"platform": "telegram", "source": "nobody", "chatId": 1}, "text": "x"}"#), &[])?, 422, "unknown source")?;
            expect_error(
                &c.call(
                    "POST",
                    &h.url("/api/replies"),
                    Some(&t.gateway_token),
                    Some(r#"{"replyTo": {"platform": "fax"}, "text": "x"}"#),
                    &[],
                )?,
                400,
                "bad replyTo",
            )?;
            expect_error(
                &c.call(
                    "POST",
                    &h.url("/api/replies"),
                    Some(&t.viewer_token),
                    Some(&body.to_string()),
                    &[],
                )?,
                403,
                "viewer",
            )
        },
    );
    if t.assistant.is_some() {
        check(
            "webhooks: card clicks decide for approvers only, and the card is updated",
            &mut || {
                let a = t.assistant.as_deref().unwrap_or("");
                let ask = |task: &str| -> Result<String, String> {
                    let body = json!({"taskId": task, "agent": "devops", "action": "deploy", "description": "c", "estimatedCostUsd": 0.01, "environment": "production"});
                    let r = c.call(
                        "POST",
                        &format!("{a}/api/approve"),
                        Some(&t.gateway_token),
                        Some(&body.to_string()),
                        &[],
                    )?;
                    r.body["approvalId"]
                        .as_str()
                        .map(str::to_owned)
                        .ok_or(format!("no pending approval: {}", r.body))
                };
                let id = ask(&fresh("card"))?;
                let click = |user: &str, trigger: &str| {
                    let payload = json!({
                        "type": "block_actions", "trigger_id": trigger,
                        "user": { "id": user }, "channel": { "id": "C9" },
                        "container": { "message_ts": "1700000000.000200", "channel_id": "C9" },
                        "response_url": format!("{}/slack/response/{trigger}", w.fakes),
                        "actions": [{ "action_id": "agency_approve", "value": id, "action_ts": "1" }],
                    });
                    h.slack_form(&[("payload", &payload.to_string())])
                };
                let stranger = fresh("trig");
                expect_200(&click("USTRANGER", &stranger)?, "a stranger's click")?;
                let d = h.settled(&stranger, &["done", "failed", "dead"])?;
                if d["result"]["outcome"] != "notAllowed" {
                    return Err(format!("a stranger's click must not decide: {d}"));
                }
                let told = h.seen("slack-response", 1, &|s| {
                    s["path"].as_str().is_some_and(|p| p.ends_with(&stranger))
                })?;
                if told.first().map(|s| s["body"]["response_type"].clone())
                    != Some(json!("ephemeral"))
                {
                    return Err(format!("the stranger was not told privately: {told:?}"));
                }
                let shown = c.call(
                    "GET",
                    &format!("{a}/api/approvals/{id}"),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?;
                if shown.body["decision"] != "pending" {
                    return Err(format!(
                        "a stranger's click changed the approval: {}",
                        shown.body
                    ));
                }
                let trig = fresh("trig");
                expect_200(&click(APPROVER_SLACK, &trig)?, "the approver's click")?;
                let d = h.settled(&trig, &["done", "failed", "dead"])?;
                if d["result"]["outcome"] != "decided" {
                    return Err(format!("the approver's click must decide: {d}"));
                }
                let shown = c.call(
                    "GET",
                    &format!("{a}/api/approvals/{id}"),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?;
                if shown.body["decision"] != "approved" || shown.body["decidedBy"] != APPROVER {
                    return Err(format!("expected approved by {APPROVER}: {}", shown.body));
                }
                let updated = h.seen("slack", 1, &|s| {
                    s["path"] == "/slack/api/chat.update" && s["body"]["ts"] == "1700000000.000200"
                })?;
                if updated.first().map(|u| u["authorized"].clone()) != Some(json!(true)) {
                    return Err(
                        "the card was not updated with chat.update and the bot token".into(),
                    );
                }
                // Telegram: the card is edited and the click answered.
                let id2 = ask(&fresh("tgcard"))?;
                let q = fresh("cq");
                let update = json!({ "update_id": number(), "callback_query": { "id": q, "from": { "id": APPROVER_TELEGRAM, "is_bot": false, "first_name": "A" }, "message": { "message_id": 99, "chat": { "id": -5, "type": "group" }, "date": 1 }, "chat_instance": "1", "data": format!("agency:d:{id2}") } });
                expect_200(
                    &h.telegram(&update, Some(TELEGRAM_SECRET))?,
                    "telegram click",
                )?;
                let edited = h.seen("telegram", 1, &|s| {
                    s["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/editMessageText"))
                        && s["body"]["message_id"] == 99
                })?;
                let answered = h.seen("telegram", 1, &|s| {
                    s["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/answerCallbackQuery"))
                        && s["body"]["callback_query_id"] == q.as_str()
                })?;
                if edited.is_empty() || answered.is_empty() {
                    return Err("the Telegram card was not edited or the click not answered".into());
                }
                let shown = c.call(
                    "GET",
                    &format!("{a}/api/approvals/{id2}"),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?;
                if shown.body["decision"] != "denied" {
                    return Err(format!("expected denied: {}", shown.body));
                }
                // Discord: a deferred update at once, then the original message edited.
                let id3 = ask(&fresh("dccard"))?;
                let token = fresh("itok");
                let click = json!({ "id": number().to_string(), "application_id": DISCORD_APP, "type": 3, "token": token, "channel_id": "555", "member": { "user": { "id": APPROVER_DISCORD } }, "message": { "id": "666" }, "data": { "custom_id": format!("agency:a:{id3}"), "component_type": 2 }, "version": 1 });
                let r = h.discord(&click, false)?;
                expect_200(&r, "discord click")?;
                if serde_json::from_str::<Value>(&r.body).ok() != Some(json!({ "type": 6 })) {
                    return Err(format!(
                        "a click is answered with a deferred update (type 6): {}",
                        r.body
                    ));
                }
                let patched = h.seen("discord", 1, &|s| {
                    s["method"] == "PATCH"
                        && s["path"].as_str().is_some_and(|p| {
                            p.contains(&token) && p.ends_with("/messages/@original")
                        })
                })?;
                if patched.is_empty() {
                    return Err("the Discord card was not edited".into());
                }
                Ok(())
            },
        );
        check(
            "webhooks: an ask with replyTo gets a card, edited once decided elsewhere",
            &mut || {
                let a = t.assistant.as_deref().unwrap_or("");
                let ask = |to: Value| -> Result<(String, i64), String> {
                    let body = json!({"taskId": fresh("cardask"), "agent": "devops", "action": "deploy", "description": "ship it", "estimatedCostUsd": 0.01, "environment": "production", "replyTo": to});
                    let r = c.call(
                        "POST",
                        &format!("{a}/api/approve"),
                        Some(&t.gateway_token),
                        Some(&body.to_string()),
                        &[],
                    )?;
                    match (r.body["approvalId"].as_str(), r.body["number"].as_i64()) {
                        (Some(id), Some(n)) if r.body["decision"] == "pending" => {
                            Ok((id.to_owned(), n))
                        }
                        _ => Err(format!("no pending approval: {}", r.body)),
                    }
                };
                let bad = json!({"taskId": fresh("cardbad"), "agent": "devops", "action": "deploy", "estimatedCostUsd": 0.01, "replyTo": "C1"});
                let r = c.call(
                    "POST",
                    &format!("{a}/api/approve"),
                    Some(&t.gateway_token),
                    Some(&bad.to_string()),
                    &[],
                )?;
                expect_error(&r, 400, "a replyTo that is not an address")?;
                let decide = |id: &str, verdict: &str| -> Result<(), String> {
                    let r = c.call(
                        "POST",
                        &format!("{a}/api/approvals/{id}/decision"),
                        Some(&t.operator_token),
                        Some(&json!({"decision": verdict, "by": "ops"}).to_string()),
                        &[],
                    )?;
                    expect_status(&r, 200, "decision by API")
                };
                // Slack: blocks with both buttons, in the thread; chat.update once approved.
                let (id, n) = ask(
                    json!({"platform": "slack", "source": SOURCE, "channel": "C7", "threadTs": "1700000000.000300"}),
                )?;
                let posted = h.seen("slack", 1, &|s| {
                    s["path"] == "/slack/api/chat.postMessage"
                        && s["body"]["channel"] == "C7"
                        && s["body"]["text"]
                            .as_str()
                            .is_some_and(|x| x.contains(&format!("#{n} ")))
                })?;
                let card = posted.first().ok_or("no Slack card was posted")?;
                let buttons = card["body"]["blocks"].to_string();
                if card["body"]["thread_ts"] != "1700000000.000300"
                    || !buttons.contains("agency_approve")
                    || !buttons.contains("agency_deny")
                    || !buttons.contains(&id)
                    || card["authorized"] != true
                {
                    return Err(format!(
                        "the Slack card lacks its thread, buttons or token: {card}"
                    ));
                }
                decide(&id, "approve")?;
                let edited = h.seen("slack", 1, &|s| {
                    s["path"] == "/slack/api/chat.update"
                        && s["body"]["text"].as_str().is_some_and(|x| {
                            x.contains(&format!("#{n} ")) && x.contains("approved")
                        })
                })?;
                if edited.is_empty() {
                    return Err("the Slack card was not updated with the outcome".into());
                }
                // Telegram: an inline keyboard whose data fits 64 bytes; edited once denied.
                let (id, n) =
                    ask(json!({"platform": "telegram", "source": SOURCE, "chatId": -77}))?;
                let posted = h.seen("telegram", 1, &|s| {
                    s["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/sendMessage"))
                        && s["body"]["chat_id"] == -77
                        && s["body"]["text"]
                            .as_str()
                            .is_some_and(|x| x.contains(&format!("#{n} ")))
                })?;
                let card = posted.first().ok_or("no Telegram card was sent")?;
                let keys = card["body"]["reply_markup"]["inline_keyboard"][0]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if keys.len() != 2
                    || keys.iter().any(|k| {
                        !k["callback_data"]
                            .as_str()
                            .is_some_and(|d| d.len() <= 64 && d.ends_with(&id))
                    })
                {
                    return Err(format!("the Telegram card's buttons are wrong: {card}"));
                }
                decide(&id, "deny")?;
                let edited = h.seen("telegram", 1, &|s| {
                    s["path"]
                        .as_str()
                        .is_some_and(|p| p.ends_with("/editMessageText"))
                        && s["body"]["message_id"] == 777
                        && s["body"]["text"]
                            .as_str()
                            .is_some_and(|x| x.contains(&format!("#{n} ")) && x.contains("denied"))
                })?;
                if edited.is_empty() {
                    return Err("the Telegram card was not edited with the outcome".into());
                }
                // Discord: a channel message with button components, by the bot; edited.
                let (id, n) = ask(
                    json!({"platform": "discord", "source": SOURCE, "channelId": "888", "applicationId": DISCORD_APP, "token": "unused"}),
                )?;
                let posted = h.seen("discord", 1, &|s| {
                    s["path"] == "/discord/api/v10/channels/888/messages"
                        && s["body"]["content"]
                            .as_str()
                            .is_some_and(|x| x.contains(&format!("#{n} ")))
                })?;
                let card = posted.first().ok_or("no Discord card was posted")?;
                let ids = card["body"]["components"][0]["components"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if ids.len() != 2
                    || ids.iter().any(|b| {
                        !b["custom_id"]
                            .as_str()
                            .is_some_and(|d| d.len() <= 100 && d.ends_with(&id))
                    })
                    || card["authorized"] != true
                {
                    return Err(format!(
                        "the Discord card's buttons or token are wrong: {card}"
                    ));
                }
                decide(&id, "approve")?;
                let edited = h.seen("discord", 1, &|s| {
                    s["method"] == "PATCH"
                        && s["path"] == "/discord/api/v10/channels/888/messages/1100000000000000001"
                        && s["body"]["content"]
                            .as_str()
                            .is_some_and(|x| x.contains(&format!("#{n} ")))
                })?;
                if edited.is_empty() {
                    return Err("the Discord card was not edited with the outcome".into());
                }
                Ok(())
            },
        );
        check(
            "webhooks: commands and mentions go to the assistant and its reply to the thread",
            &mut || {
                let event_id = fresh("EvMention");
                let body = json!({
                    "token": "x", "team_id": "T1", "type": "event_callback", "event_id": event_id, "event_time": now_s(),
                    "event": { "type": "app_mention", "channel": "C2", "user": APPROVER_SLACK, "text": "<@UBOT> help", "ts": "1700000001.000100", "thread_ts": "1700000000.000001" },
                });
                expect_200(&h.slack(&body)?, "mention")?;
                let d = h.settled(&event_id, &["done", "failed", "dead"])?;
                if d["result"]["outcome"] != "replied" {
                    return Err(format!("expected the assistant's reply: {d}"));
                }
                let posted = h.seen("slack", 1, &|s| {
                    s["path"] == "/slack/api/chat.postMessage"
                        && s["body"]["channel"] == "C2"
                        && s["body"]["thread_ts"] == "1700000000.000001"
                })?;
                if posted.first().map(|p| p["authorized"].clone()) != Some(json!(true)) {
                    return Err("the reply was not posted to the thread with the bot token".into());
                }
                // Discord: the command is deferred (type 5) and answered by a follow-up.
                let token = fresh("ctok");
                let cmd = json!({ "id": number().to_string(), "application_id": DISCORD_APP, "type": 2, "token": token, "channel_id": "555", "member": { "user": { "id": APPROVER_DISCORD } }, "data": { "name": "agency", "options": [{ "name": "text", "type": 3, "value": "help" }] }, "version": 1 });
                let r = h.discord(&cmd, false)?;
                if serde_json::from_str::<Value>(&r.body).ok() != Some(json!({ "type": 5 })) {
                    return Err(format!(
                        "a command is answered with a deferred response (type 5): {} {}",
                        r.status, r.body
                    ));
                }
                let followed = h.seen("discord", 1, &|s| {
                    s["method"] == "POST"
                        && s["path"]
                            == format!("/discord/api/v10/webhooks/{DISCORD_APP}/{token}").as_str()
                })?;
                if followed.is_empty() {
                    return Err("no follow-up through the interaction's webhook".into());
                }
                Ok(())
            },
        );
    }
    check(
        "webhooks: the events API lists, filters, pages and hides capabilities",
        &mut || {
            let list = |q: &str, token: Option<&str>| {
                c.call("GET", &h.url(&format!("/api/events{q}")), token, None, &[])
            };
            expect_error(&list("", None)?, 401, "no token")?;
            expect_error(
                &list("?status=bogus", Some(&t.viewer_token))?,
                400,
                "unknown status",
            )?;
            expect_error(&list("?limit=0", Some(&t.viewer_token))?, 400, "limit 0")?;
            expect_error(
                &list("?before=evt_nope", Some(&t.viewer_token))?,
                404,
                "unknown before",
            )?;
            let page = list(&format!("?source={SOURCE}&limit=2"), Some(&t.viewer_token))?;
            expect_status(&page, 200, "page 1")?;
            let first = page.body["events"].as_array().cloned().unwrap_or_default();
            let next = page.body["nextBefore"]
                .as_str()
                .ok_or(format!("no nextBefore on a full page: {}", page.body))?;
            let page2 = list(
                &format!("?source={SOURCE}&limit=2&before={next}"),
                Some(&t.viewer_token),
            )?;
            let second = page2.body["events"].as_array().cloned().unwrap_or_default();
            if first.len() != 2
                || second.is_empty()
                || second
                    .iter()
                    .any(|e| first.iter().any(|f| f["id"] == e["id"]))
            {
                return Err("pages overlap or are short".into());
            }
            let done = list("?status=done&limit=1000", Some(&t.viewer_token))?;
            if done.body["events"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e["status"] != "done"))
            {
                return Err("the status filter lets others through".into());
            }
            expect_error(
                &c.call(
                    "GET",
                    &h.url("/api/events/evt_nope"),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?,
                404,
                "unknown event",
            )?;
            let all = list("?limit=1000", Some(&t.viewer_token))?;
            for e in all.body["events"].as_array().cloned().unwrap_or_default() {
                let d = c.call(
                    "GET",
                    &h.url(&format!("/api/events/{}", e["id"].as_str().unwrap_or(""))),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?;
                let to = &d.body["payload"]["replyTo"];
                for secret in ["token", "responseUrl"] {
                    if to.get(secret).is_some_and(|v| v != "(hidden)") {
                        return Err(format!("event {} shows its {secret}", e["id"]));
                    }
                }
            }
            Ok(())
        },
    );
}
