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
            Endpoint::Series => Operation {
                description: "Any role. Counters (requests, errors, routing_decisions, approvals, spent_usd) read as the increase per step; gauges (latency_p95_ms, up) as the last value. `from` and `to` are Unix milliseconds (default: the last hour; at most 1,440 points, the most recent when the range is longer; none when `from` is after `to`), `step` seconds (a multiple of 60).",
                request: None,
                ok: Answer::ok("The series", doc.schema::<views::Series>()),
                params: vec![
                    agency_kit::openapi::Param::query(
                        "name",
                        serde_json::json!({ "type": "string", "enum": crate::series::SERIES.iter().map(|(n, _, _)| *n).collect::<Vec<_>>() }),
                    )
                    .required(),
                    agency_kit::openapi::Param::query(
                        "from",
                        serde_json::json!({ "type": "integer", "minimum": 0, "maximum": crate::MAX_MS }),
                    ),
                    agency_kit::openapi::Param::query(
                        "to",
                        serde_json::json!({ "type": "integer", "minimum": 0, "maximum": crate::MAX_MS }),
                    ),
                    agency_kit::openapi::Param::query(
                        "step",
                        serde_json::json!({ "type": "integer", "minimum": 60, "maximum": 86400, "multipleOf": 60 }),
                    ),
                ],
                errors: &[],
            },
            Endpoint::Samples => Operation {
                description: "Operator. Each Worker ships the samples it gathered (batched, after its answers have gone out) to the monitoring Worker with this; they count in `/metrics`, `/api/stats` and the SLA from then on, and are folded into their minute by the next probe round. Series of a family this version does not know are dropped and counted, not refused. 422 when a histogram or its sketch does not hold together.",
                request: Some(samples_schema()),
                ok: Answer {
                    status: 202,
                    ..Answer::ok("Stored", serde_json::json!({
                        "type": "object",
                        "required": ["stored", "dropped"],
                        "properties": {
                            "stored": { "type": "integer", "minimum": 0, "description": "series stored" },
                            "dropped": { "type": "integer", "minimum": 0, "description": "series refused (unknown family, wrong shape, full)" }
                        }
                    }))
                },
                params: Vec::new(),
                errors: &[(422, "A histogram or its sketch that does not hold together")],
            },
            Endpoint::Dashboard => Operation {
                description: "No token: the page asks for a viewer token once and keeps it in the browser tab's session storage. Its scripts, styles and charts (uPlot) come from `/dashboard/{asset}`; nothing is loaded from elsewhere (a Content-Security-Policy says so).",
                request: None,
                ok: Answer::text("The page", "text/html"),
                params: Vec::new(),
                errors: &[],
            },
            Endpoint::DashboardAsset => Operation {
                description: "No token. 404 for a name the dashboard does not have.",
                request: None,
                ok: Answer::text("The file (a script, a style sheet or a licence)", "text/*"),
                params: vec![agency_kit::openapi::Param::path(
                    "asset",
                    serde_json::json!({ "type": "string", "enum": crate::dashboard::asset_names() }),
                )],
                errors: &[(404, "The dashboard has no file of that name")],
            },
            Endpoint::Snapshot => Operation {
                description: "Any role. Lists from a part that could not answer are null.",
                request: None,
                ok: Answer::ok("The snapshot", doc.schema::<views::Dashboard>()),
                params: Vec::new(),
                errors: &[],
            },
            Endpoint::Stream => Operation {
                description: "Any role. `text/event-stream`: events named `snapshot` whose data is `GET /api/dashboard`'s body, and a `retry` (ms). With `Accept: text/event-stream` the local server keeps the stream open and sends a snapshot every 3 seconds; otherwise, and always at the edge, it sends one and closes, and the client reconnects after `retry` (polling).",
                request: None,
                ok: Answer::events(
                    "Server-sent events",
                    serde_json::json!({
                        "type": "object",
                        "required": ["event", "data"],
                        "properties": {
                            "event": { "const": "snapshot" },
                            "data": { "type": "string", "contentMediaType": "application/json", "description": "GET /api/dashboard's body" },
                            "retry": { "type": "integer", "minimum": 0 }
                        }
                    }),
                ),
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

/// A registry on the wire: series naming their family, labels and value.
fn samples_schema() -> serde_json::Value {
    let number = serde_json::json!({ "type": "number" });
    serde_json::json!({
        "type": "object",
        "required": ["series"],
        "properties": {
            "series": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["family", "labels", "value"],
                    "properties": {
                        "family": { "type": "string", "description": "a family of the monitor core's table, e.g. agency_http_requests_total" },
                        "labels": { "type": "array", "items": { "type": "string" }, "description": "the family's label values, in its order" },
                        "value": {
                            "description": "{\"counter\": n}, {\"gauge\": n} or {\"histogram\": {counts, sum, sketch}} (counts per bucket, the last +Inf; sketch a DDSketch)",
                            "oneOf": [
                                { "type": "object", "required": ["counter"], "additionalProperties": false, "properties": { "counter": number } },
                                { "type": "object", "required": ["gauge"], "additionalProperties": false, "properties": { "gauge": number } },
                                { "type": "object", "required": ["histogram"], "additionalProperties": false, "properties": { "histogram": {
                                    "type": "object",
                                    "required": ["counts", "sum", "sketch"],
                                    "properties": {
                                        "counts": { "type": "array", "items": { "type": "integer", "minimum": 0 } },
                                        "sum": number,
                                        "sketch": { "type": "object" }
                                    }
                                } } }
                            ]
                        }
                    }
                }
            },
            "dropped": { "type": "integer", "minimum": 0 }
        }
    })
}
