//! Inbound: each platform's signature or secret, the handshakes, bad payloads, dedup of
//! concurrent retries and the rate limit.

use super::*;

pub(super) fn checks(h: &Hooks<'_>, check: &mut Check<'_>) {
    let c = h.c;
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
}
