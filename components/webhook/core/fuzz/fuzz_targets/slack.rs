//! Slack's parser on any body, as JSON and as a form: never a panic; every event it
//! accepts has its dedup keys.
#![no_main]
use agency_webhook::{Origin, slack};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let origin = Origin { source: "T1", received_at_ms: 1 };
    for content_type in ["application/json", "application/x-www-form-urlencoded"] {
        if let Ok(inbound) = slack::parse(origin, Some(content_type), body)
            && let Some(e) = inbound.event()
        {
            assert!(!e.dedup_keys.is_empty());
        }
    }
});
