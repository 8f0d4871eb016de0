//! Discord's parser on any body: never a panic; every event keys on its interaction id.
#![no_main]
use agency_webhook::{Origin, discord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let origin = Origin { source: "G1", received_at_ms: 1 };
    if let Ok(inbound) = discord::parse(origin, body)
        && let Some(e) = inbound.event()
    {
        assert_eq!(e.dedup_keys.len(), 1);
    }
});
