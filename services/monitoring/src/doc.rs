//! The monitoring service's endpoints in the API document.

use agency_kit::openapi::{Answer, Doc, Documented, Operation};

use crate::{Endpoint, views};

impl Documented for Endpoint {
    fn operation(self, doc: &mut Doc) -> Operation {
        match self {
            Endpoint::Metrics => Operation {
                description: "Any role. `text/plain; version=0.0.4`: HELP and TYPE on every family, counters end in `_total`, base units, classic histograms whose `+Inf` bucket equals `_count`; no label holds message text or user or task ids.",
                request: None,
                ok: Answer::text("The exposition", "text/plain"),
                params: Vec::new(),
                errors: &[],
            },
            Endpoint::Stats => Operation {
                description: "Any role.",
                request: None,
                ok: Answer::ok("The stats", doc.schema::<views::Stats>()),
                params: Vec::new(),
                errors: &[],
            },
        }
    }
}
