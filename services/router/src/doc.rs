//! The router's endpoints in the API document: one arm per endpoint (a new one does
//! not compile undocumented). Request bodies are the router core's types.

use agency_kit::openapi::{Answer, Doc, Documented, Operation, Param};
use agency_router::contract::{FeedbackBody, RouteBody};
use serde_json::json;

use crate::{Endpoint, views};

impl Documented for Endpoint {
    fn operation(self, doc: &mut Doc) -> Operation {
        match self {
            Endpoint::Route => Operation {
                description: "Role: gateway or operator. The decision is stored, for feedback and replays.",
                request: Some(doc.schema::<RouteBody>()),
                ok: Answer::ok("The decision", doc.schema::<views::Routed<'static>>()).with_links(
                    json!({
                        "Feedback": {
                            "operationRef": "#/paths/~1api~1route~1feedback/post",
                            "requestBody": { "decisionId": "$response.body#/decisionId" },
                            "description": "Which agent should have taken the message"
                        }
                    }),
                ),
                params: Vec::new(),
                errors: &[
                    (404, "No skill graph has been uploaded yet"),
                    (
                        500,
                        "The router component trapped; the instance was replaced",
                    ),
                ],
            },
            Endpoint::Decisions => Operation {
                description: "Any role. Newest first, each with its latest feedback: the audit a graph is relearned from (`agency skills learn --from-audit`) and replayed against (`POST /api/graph/preview`). Page with `before` = the previous page's `next`.",
                request: None,
                ok: Answer::ok("Decisions", doc.schema::<views::Decisions>()),
                params: vec![
                    Param::query(
                        "limit",
                        json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
                    ),
                    Param::query(
                        "feedback",
                        json!({ "type": "string", "enum": ["any", "only"] }),
                    ),
                    Param::query("before", json!({ "type": "string", "minLength": 1 })),
                ],
                errors: &[
                    (400, "A bad limit or feedback"),
                    (404, "before names no stored decision"),
                ],
            },
            Endpoint::Export => Operation {
                description: "Role: operator. Oldest first, one decision a line as stored (`id`, `created_ms`, `message`, `channel`, `agent`, `reason`, `graph_version`, `complexity`, `decision_json`), its feedback inside (`feedback`: the rows, `correct_agent` and `created_ms`): the rows the archive holds once they pass their retention (`agency archive read`). Streamed a page at a time; a failure midway breaks the connection, so a cut-off export never looks whole.",
                request: None,
                ok: Answer::ndjson("The decisions, one JSON object a line"),
                params: agency_kit::openapi::export_params(),
                errors: &[(
                    400,
                    "A from or to that is neither a day nor an RFC 3339 time",
                )],
            },
            Endpoint::Feedback => Operation {
                description: "Role: operator.",
                request: Some(doc.schema::<FeedbackBody>()),
                ok: Answer {
                    status: 201,
                    description: "Stored",
                    schema: doc.schema::<views::FeedbackStored>(),
                    links: None,
                    also: None,
                },
                params: Vec::new(),
                errors: &[
                    (404, "Unknown decision, or no skill graph uploaded yet"),
                    (422, "correctAgent is not an agent of the current graph"),
                ],
            },
        }
    }
}
