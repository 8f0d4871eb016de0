//! Properties of the verifiers and parsers over generated input: a signature made for
//! a body verifies, any change to body, timestamp or signature does not; no input makes
//! a parser panic, and whatever it accepts has dedup keys naming its source.

use agency_webhook::limits::{Bucket, Rate, retry_after};
use agency_webhook::standard::Secret;
use agency_webhook::verify::{self, DiscordKey, Rejection};
use agency_webhook::{Inbound, Origin, discord, slack, telegram};
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;

const ORIGIN: Origin<'static> = Origin {
    source: "src",
    received_at_ms: 0,
};

fn keys_name_source(inbound: &Inbound, platform: &str) {
    if let Inbound::Event { event, .. } = inbound {
        assert!(!event.dedup_keys.is_empty());
        for k in &event.dedup_keys {
            assert!(k.starts_with(&format!("{platform}:src:")), "{k}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn slack_signatures_bind_body_and_time(
        secret in proptest::collection::vec(any::<u8>(), 1..64),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        ts in 1_000_000_000i64..2_000_000_000,
        skew in -300i64..=300,
        flip in any::<prop::sample::Index>(),
    ) {
        let sig = verify::slack_signature(&secret, ts, &body);
        let t = ts.to_string();
        prop_assert_eq!(verify::slack(&secret, Some(&t), Some(&sig), &body, ts + skew), Ok(()));
        prop_assert_eq!(verify::slack(&secret, Some(&t), Some(&sig), &body, ts + 301), Err(Rejection::Stale));
        if !body.is_empty() {
            let mut tampered = body.clone();
            let i = flip.index(body.len());
            tampered[i] ^= 0x01;
            prop_assert_eq!(verify::slack(&secret, Some(&t), Some(&sig), &tampered, ts), Err(Rejection::BadSignature));
        }
        let later = (ts + 1).to_string();
        prop_assert_eq!(verify::slack(&secret, Some(&later), Some(&sig), &body, ts), Err(Rejection::BadSignature));
    }

    #[test]
    fn slack_verification_never_panics(
        ts in proptest::option::of(".{0,24}"),
        sig in proptest::option::of(".{0,80}"),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        now in any::<i64>(),
    ) {
        let _ = verify::slack(b"secret", ts.as_deref(), sig.as_deref(), &body, now);
    }

    #[test]
    fn discord_signatures_bind_timestamp_and_body(
        seed in any::<[u8; 32]>(),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        ts in "[0-9]{10}",
        flip in any::<prop::sample::Index>(),
    ) {
        let signing = SigningKey::from_bytes(&seed);
        let key = DiscordKey::parse(&hex::encode(signing.verifying_key().to_bytes())).unwrap();
        let mut msg = ts.as_bytes().to_vec();
        msg.extend_from_slice(&body);
        let sig = hex::encode(signing.sign(&msg).to_bytes());
        prop_assert_eq!(verify::discord(&key, Some(&sig), Some(&ts), &body), Ok(()));
        let mut bad = sig.clone().into_bytes();
        let i = flip.index(bad.len());
        bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        prop_assert!(verify::discord(&key, Some(&bad), Some(&ts), &body).is_err());
    }

    #[test]
    fn standard_webhooks_round_trip(
        secret in proptest::collection::vec(any::<u8>(), 24..=64),
        id in "msg_[A-Za-z0-9]{1,30}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
        ts in 1_000_000_000i64..2_000_000_000,
    ) {
        let s = Secret::from_bytes(&secret).unwrap();
        let again = Secret::parse(&s.to_text()).unwrap();
        let sig = s.sign(&id, ts, &body);
        prop_assert_eq!(again.verify(Some(&id), Some(&ts.to_string()), Some(&sig), &body, ts), Ok(()));
        prop_assert_eq!(
            again.verify(Some("msg_other"), Some(&ts.to_string()), Some(&sig), &body, ts),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn parsers_never_panic_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(i) = slack::parse(ORIGIN, None, &body) { keys_name_source(&i, "slack") }
        if let Ok(i) = slack::parse(ORIGIN, Some("application/x-www-form-urlencoded"), &body) { keys_name_source(&i, "slack") }
        if let Ok(i) = telegram::parse(ORIGIN, Some("bot"), &body) { keys_name_source(&i, "telegram") }
        if let Ok(i) = discord::parse(ORIGIN, &body) { keys_name_source(&i, "discord") }
    }

    /// Structured input that gets past the JSON layer: the parsers' own checks.
    #[test]
    fn parsers_never_panic_on_json_shapes(
        kind in 0u8..6,
        text in ".{0,40}",
        offset in 0usize..64,
        length in 0usize..64,
        data in ".{0,70}",
        id in any::<i64>(),
    ) {
        let tg = serde_json::json!({
            "update_id": id,
            "message": { "message_id": 1, "chat": { "id": id }, "from": { "id": 1, "is_bot": false },
                         "text": text, "entities": [{ "type": "mention", "offset": offset, "length": length }] },
        });
        let _ = telegram::parse(ORIGIN, Some("bot"), tg.to_string().as_bytes());
        let cb = serde_json::json!({
            "update_id": id,
            "callback_query": { "id": "q", "from": { "id": 1 }, "data": data,
                                "message": { "message_id": 2, "chat": { "id": 3 } } },
        });
        let _ = telegram::parse(ORIGIN, None, cb.to_string().as_bytes());
        let dc = serde_json::json!({
            "id": id.to_string(), "type": kind, "application_id": "A", "token": "t", "channel_id": "C",
            "data": { "name": "agency", "custom_id": data, "options": [{ "value": text }] },
        });
        if let Ok(i) = discord::parse(ORIGIN, dc.to_string().as_bytes()) { keys_name_source(&i, "discord") }
        let sl = serde_json::json!({
            "type": "event_callback", "event_id": data,
            "event": { "type": if kind % 2 == 0 { "message" } else { "app_mention" }, "channel": "C", "ts": text, "text": text },
            "authorizations": [{ "user_id": text }],
        });
        if let Ok(i) = slack::parse(ORIGIN, None, sl.to_string().as_bytes()) { keys_name_source(&i, "slack") }
    }

    /// However deliveries arrive, a bucket lets through at most its burst plus what
    /// its rate refilled since the first one; and a refused delivery is told to wait
    /// at least a second.
    #[test]
    fn a_bucket_never_admits_more_than_its_rate(
        per_second in 0.5f64..100.0,
        burst in 1.0f64..50.0,
        gaps in proptest::collection::vec(0i64..200, 1..300),
    ) {
        let rate = Rate { per_second, burst };
        let mut now = 1_000_000i64;
        let start = now;
        let mut bucket = Bucket::full(rate, now);
        let mut admitted = 0u32;
        for gap in gaps {
            now += gap;
            match bucket.take(rate, now) {
                Ok(b) => { bucket = b; admitted += 1; }
                Err(wait) => prop_assert!(wait >= 1),
            }
        }
        let allowed = burst + per_second * (now - start) as f64 / 1000.0;
        prop_assert!(f64::from(admitted) <= allowed + 1e-6, "{admitted} > {allowed}");
    }

    #[test]
    fn retries_stay_within_their_step(attempt in 1u32..10, unit in 0.0f64..1.0, floor in proptest::option::of(0u64..100_000)) {
        let s = agency_webhook::limits::DEFAULT_SCHEDULE_SECS;
        match retry_after(s, attempt, unit, floor) {
            Some(d) => {
                let step = s[attempt as usize - 1];
                prop_assert!(d >= 1 && d <= step.max(floor.unwrap_or(0)).max(1));
                prop_assert!(d >= floor.unwrap_or(0));
            }
            None => prop_assert!(attempt as usize > s.len()),
        }
    }
}
