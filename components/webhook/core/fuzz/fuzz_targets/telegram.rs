//! Telegram's parser on any body: never a panic; every event keys on its update id.
#![no_main]
use agency_webhook::{Origin, telegram};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let origin = Origin { source: "bot", received_at_ms: 1 };
    if let Ok(inbound) = telegram::parse(origin, Some("agency_bot"), body)
        && let Some(e) = inbound.event()
    {
        assert_eq!(e.dedup_keys.len(), 1);
    }
});
