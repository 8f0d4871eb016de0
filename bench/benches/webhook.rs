//! Webhook benchmarks: verifying a Slack (HMAC-SHA256) and a Discord (Ed25519)
//! request, and parsing each platform's payload into an event with its dedup keys.
//! Run: `cargo bench -p agency-bench --bench webhook`.

use std::hint::black_box;

use agency_webhook::verify::{self, DiscordKey};
use agency_webhook::{Origin, discord, slack, telegram};
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};

const ORIGIN: Origin<'static> = Origin {
    source: "T1",
    received_at_ms: 0,
};

const SLACK_EVENT: &[u8] = br#"{"token":"ZZZZZZWSxiZZZ2yIvs3peJ","team_id":"T061EG9R6","api_app_id":"A0MDYCDME","event":{"type":"app_mention","user":"U061F7AUR","text":"<@U0LAN0Z89> please deploy the hotfix to staging","ts":"1515449522.000016","channel":"C0LAN2Q65","event_ts":"1515449522000016"},"type":"event_callback","event_id":"Ev0LAN670R","event_time":1515449522000016,"authorizations":[{"enterprise_id":null,"team_id":"T061EG9R6","user_id":"U0LAN0Z89","is_bot":true}]}"#;
const TELEGRAM_UPDATE: &[u8] = br#"{"update_id":10000,"message":{"message_id":1365,"from":{"id":1111111,"is_bot":false,"first_name":"Test"},"chat":{"id":-1001,"type":"supergroup"},"date":1441645532,"text":"/agency what's pending?","entities":[{"type":"bot_command","offset":0,"length":7}]}}"#;
const DISCORD_COMMAND: &[u8] = br#"{"id":"786008729715212338","application_id":"A9","type":2,"token":"tok","channel_id":"C5","guild_id":"G1","member":{"user":{"id":"53908232506183680","username":"Mason"}},"data":{"id":"771825006014889984","name":"agency","type":1,"options":[{"name":"text","type":3,"value":"what's pending?"}]},"version":1}"#;

fn verify_benches(c: &mut Criterion) {
    let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
    let ts = 1_700_000_000i64;
    let sig = verify::slack_signature(secret, ts, SLACK_EVENT);
    let t = ts.to_string();
    c.bench_function("webhook/verify/slack", |b| {
        b.iter(|| verify::slack(secret, Some(&t), Some(&sig), black_box(SLACK_EVENT), ts))
    });
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let key = DiscordKey::parse(&hex::encode(signing.verifying_key().to_bytes()))
        .expect("a fresh key parses");
    let mut msg = t.as_bytes().to_vec();
    msg.extend_from_slice(DISCORD_COMMAND);
    let dsig = hex::encode(signing.sign(&msg).to_bytes());
    c.bench_function("webhook/verify/discord", |b| {
        b.iter(|| verify::discord(&key, Some(&dsig), Some(&t), black_box(DISCORD_COMMAND)))
    });
}

fn parse_benches(c: &mut Criterion) {
    c.bench_function("webhook/parse/slack", |b| {
        b.iter(|| slack::parse(ORIGIN, Some("application/json"), black_box(SLACK_EVENT)))
    });
    c.bench_function("webhook/parse/telegram", |b| {
        b.iter(|| telegram::parse(ORIGIN, Some("agency_bot"), black_box(TELEGRAM_UPDATE)))
    });
    c.bench_function("webhook/parse/discord", |b| {
        b.iter(|| discord::parse(ORIGIN, black_box(DISCORD_COMMAND)))
    });
}

criterion_group!(benches, verify_benches, parse_benches);
criterion_main!(benches);
