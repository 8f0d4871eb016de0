//! The skill graph's endpoints in the API document: one arm per endpoint (a new one
//! does not compile undocumented). The graph and the health body are the core's types.

use agency_kit::openapi::{Answer, Doc, Documented, Operation, Param};
use agency_router::contract::{HealthBody, InstanceBody};
use agency_skill_graph::SkillGraph;
use serde_json::{Value, json};

use crate::{Endpoint, views};

/// The graph's schema (its parts' follow from it).
fn graph(doc: &mut Doc) -> Value {
    doc.schema::<SkillGraph>()
}

fn limit(max: u32) -> Param {
    Param::query(
        "limit",
        json!({ "type": "integer", "minimum": 1, "maximum": max }),
    )
}

const NO_GRAPH: (u16, &str) = (404, "No skill graph has been uploaded yet");

impl Documented for Endpoint {
    fn operation(self, doc: &mut Doc) -> Operation {
        match self {
            Endpoint::GetGraph => Operation {
                description: "Any role. The version is the ETag; If-None-Match with it answers 304.",
                request: None,
                ok: Answer::ok("The graph", graph(doc)),
                params: vec![Param::header("If-None-Match", json!({ "type": "string" }))],
                errors: &[(304, "Not modified"), NO_GRAPH],
            },
            Endpoint::PutGraph => Operation {
                description: "Role: operator. Routing uses the new version from the next request.",
                request: Some(graph(doc)),
                ok: Answer::ok("Stored version", doc.schema::<views::GraphStored>()),
                params: Vec::new(),
                errors: &[(422, "Invalid graph; error.details lists every problem")],
            },
            Endpoint::Preview => Operation {
                description: "Role: operator. The body is a graph, as for PUT /api/graph. The newest `limit` stored decisions (default 1000) are replayed under the current graph and under this one, as they were asked (message, channel, complexity) with no agent down; nothing is written. Accuracy is measured on the replayed decisions that have feedback.",
                request: Some(graph(doc)),
                ok: Answer::ok("What would change", doc.schema::<views::Preview>()),
                params: vec![
                    limit(agency_router::replay::MAX_REPLAY),
                    Param::query(
                        "sample",
                        json!({ "type": "integer", "minimum": 0, "maximum": 100 }),
                    ),
                ],
                errors: &[
                    (400, "A bad limit or sample"),
                    NO_GRAPH,
                    (422, "Invalid graph; error.details lists every problem"),
                    (502, "The router's stored decisions could not be read"),
                ],
            },
            Endpoint::Versions => Operation {
                description: "Any role. Newest first.",
                request: None,
                ok: Answer::ok("Versions", doc.schema::<views::Versions>()),
                params: vec![limit(1000)],
                errors: &[],
            },
            Endpoint::Agents => Operation {
                description: "Any role.",
                request: None,
                ok: Answer::ok("Agents", doc.schema::<views::Agents>()),
                params: Vec::new(),
                errors: &[NO_GRAPH],
            },
            Endpoint::SetHealth => Operation {
                description: "Role: operator. A down agent's messages go to its fallback.",
                request: Some(doc.schema::<HealthBody>()),
                ok: Answer::ok("New health", doc.schema::<views::Health>()),
                params: vec![Param::path("id", json!({ "type": "string", "minLength": 1 }))],
                errors: &[(404, "Unknown agent, or no skill graph uploaded yet")],
            },
            Endpoint::SetInstance => Operation {
                description: "Role: operator (the gateway reports as one). One instance's health and load (0 idle to 1 full); the report counts for 90 seconds, so report again before then. Routing picks among an agent's healthy instances by spare capacity and weight; an agent whose every instance is down counts as down (its messages go to its fallback).",
                request: Some(doc.schema::<InstanceBody>()),
                ok: Answer::ok("The report stored", doc.schema::<views::InstanceHealth>()),
                params: vec![
                    Param::path("id", json!({ "type": "string", "minLength": 1 })),
                    Param::path("instance", json!({ "type": "string", "minLength": 1 })),
                ],
                errors: &[(404, "Unknown agent or instance, or no skill graph uploaded yet")],
            },
            Endpoint::Channels => Operation {
                description: "Any role.",
                request: None,
                ok: Answer::ok("Channels", doc.schema::<views::Channels>()),
                params: Vec::new(),
                errors: &[NO_GRAPH],
            },
            Endpoint::Search => Operation {
                description: "Any role.",
                request: None,
                ok: Answer::ok("Hits", doc.schema::<views::Search>()),
                params: vec![
                    Param::query(
                        "q",
                        json!({"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "[^\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"}),
                    )
                    .described("1 to 1024 characters, not blank")
                    .required(),
                    limit(100),
                ],
                errors: &[NO_GRAPH],
            },
            Endpoint::RoutingState => Operation {
                description: "Any role. For a router running elsewhere (the router Worker over a service binding): the current graph version, the agents marked down, and the graph itself unless the caller already has that version.",
                request: None,
                ok: Answer::ok("Routing state", doc.schema::<views::RoutingState<'static>>()),
                params: vec![
                    Param::query("have", json!({ "type": "string" }))
                        .described("The graph version the caller has"),
                ],
                errors: &[NO_GRAPH],
            },
        }
    }
}
