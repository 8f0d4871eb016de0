//! The three verifiers and Standard Webhooks on any headers and body: never a panic,
//! and nothing made up passes (the secrets are not in the input's reach).
#![no_main]
use agency_webhook::standard::Secret;
use agency_webhook::verify::{self, DiscordKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // Three header values and a body, split at the first three 0xff bytes.
    let mut parts = input.splitn(4, |b| *b == 0xff);
    let mut next = || parts.next().map(|p| String::from_utf8_lossy(p).into_owned());
    let (a, b, c) = (next(), next(), next());
    let body = input;
    let now = 1_700_000_000;
    assert!(verify::slack(b"secret", a.as_deref(), b.as_deref(), body, now).is_err());
    assert!(verify::telegram("secret_token", a.as_deref()).is_err() || a.as_deref() == Some("secret_token"));
    let key = DiscordKey::parse("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap();
    assert!(verify::discord(&key, a.as_deref(), b.as_deref(), body).is_err());
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert!(secret.verify(a.as_deref(), b.as_deref(), c.as_deref(), body, now).is_err());
    let _ = DiscordKey::parse(a.as_deref().unwrap_or(""));
    let _ = Secret::parse(a.as_deref().unwrap_or(""));
});
