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
            Endpoint::Sla => Operation {
                description: "Any role. Uptime counts the probe rounds in which every part answered its health check.",
                request: None,
                ok: Answer::ok("The SLA", doc.schema::<views::Sla>()),
                params: Vec::new(),
                errors: &[],
            },
            Endpoint::Incidents => Operation {
                description: "Any role.",
                request: None,
                ok: Answer::ok("Incidents", doc.schema::<views::Incidents>()),
                params: vec![agency_kit::openapi::Param::query(
                    "limit",
                    serde_json::json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
                )],
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
