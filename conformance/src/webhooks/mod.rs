//! The webhook service's checks: signatures, handshakes, dedup under concurrent
//! retries, the rate limit, signed dispatch to the gateway with retries, dead letters
//! and replays, approval-card clicks and chat through the fake platform APIs, and
//! replies. They need a server configured as [`server_config`] says, pointed at running
//! [`Fakes`](crate::fakes::Fakes). One module per concern; this one has what they share.

mod alerts;
mod batches;
mod chat;
mod dispatch;
mod escalation;
mod events;
mod halts;
mod intake;
mod reasons;

use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
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

/// Slack's `X-Slack-Signature` for `body` sent at `ts`, as Slack computes it: `v0=` and
/// the hex HMAC-SHA256 of `v0:{ts}:{body}` under the signing secret. Written here from
/// Slack's documentation, not taken from the code under test, so a signing bug on both
/// sides cannot pass.
pub fn slack_signature(secret: &[u8], ts: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

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

[webhooks.operators]
platform = "telegram"
source = "{SOURCE}"
chat = "-1001"

[webhooks.groups.leads]
platform = "telegram"
source = "{SOURCE}"
chat = "-1002"

[gateway]
url = "{fakes}/gateway"
secret_env = "CONFORMANCE_GATEWAY_SECRET"
timeout_ms = 5000
health_url = "{fakes}/gateway/health"
agent_health_url = "{fakes}/gateway/agents/{{agent}}/health"
instance_health_url = "{fakes}/gateway/agents/{{agent}}/instances/{{instance}}/health"

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

    /// The first call of `kind` matching `pred` the fakes received (waiting as
    /// [`Hooks::seen`] does), or the error `missing`.
    fn expect_seen(
        &self,
        kind: &str,
        missing: &str,
        pred: &dyn Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        self.seen(kind, 1, pred)?
            .into_iter()
            .next()
            .ok_or_else(|| missing.to_owned())
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

/// How a group of checks records each of its checks.
type Check<'a> = dyn FnMut(&'static str, &mut dyn FnMut() -> Result<(), String>) + 'a;

pub(crate) fn webhook_checks(c: &Client, w: &WebhookTarget, t: &Target, out: &mut Vec<Outcome>) {
    let h = Hooks { c, w, t };
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };
    intake::checks(&h, &mut check);
    dispatch::checks(&h, &mut check);
    chat::checks(&h, &mut check);
    events::checks(&h, &mut check);
    halts::checks(&h, &mut check);
    alerts::checks(&h, &mut check);
    escalation::checks(&h, &mut check);
    reasons::checks(&h, &mut check);
    batches::checks(&h, &mut check);
}
