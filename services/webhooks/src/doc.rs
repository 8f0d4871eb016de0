//! The webhook service's endpoints in the API document: one arm per endpoint (a new one
//! does not compile undocumented). The platforms' own payloads are not described here:
//! they are Slack's, Telegram's and Discord's (see the README's platform sections).

use std::borrow::Cow;

use agency_kit::openapi::{Answer, Doc, Documented, Operation, Param};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::json;

use crate::store::EventStatus;
use crate::{Endpoint, ReplayBody, ReplyBody, views};

/// A reply's text: 1 to [`crate::MAX_REPLY_CHARS`] characters, not blank (at least one
/// character `str::trim` keeps).
pub struct ReplyText;

impl JsonSchema for ReplyText {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "ReplyText".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": crate::MAX_REPLY_CHARS,
            "pattern": r"[^\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
        })
    }
}

fn id(name: &'static str) -> Param {
    Param::path(name, json!({ "type": "string", "minLength": 1 }))
}

const INBOUND_ERRORS: &[(u16, &str)] = &[
    (400, "The payload is not the platform's"),
    (
        401,
        "Unknown source, or a bad, missing or stale signature (nothing is stored)",
    ),
    (
        429,
        "The source is over its rate; Retry-After says when to come back",
    ),
    (
        503,
        "Storage unavailable: not acknowledged, so the platform retries",
    ),
];

fn inbound(description: &'static str, source: &'static str) -> Operation {
    Operation {
        description,
        request: None,
        ok: Answer::ok(
            "Acknowledged (the event is durably queued, or was already), or the platform's handshake answered",
            json!({}),
        ),
        params: vec![id(source)],
        errors: INBOUND_ERRORS,
    }
}

fn list_params(with_status: bool) -> Vec<Param> {
    let mut p = vec![
        Param::query("source", json!({ "type": "string" })),
        Param::query(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
        ),
        Param::query("before", json!({ "type": "string" }))
            .described("An event id: the page after it (nextBefore of the previous page)"),
    ];
    if with_status {
        p.insert(
            0,
            Param::query(
                "status",
                json!({ "type": "string", "enum": EventStatus::ALL.map(EventStatus::as_str) }),
            ),
        );
    }
    p
}

impl Documented for Endpoint {
    fn operation(self, doc: &mut Doc) -> Operation {
        match self {
            Endpoint::Slack => inbound(
                "Public: verified with the workspace's signing secret (X-Slack-Signature, X-Slack-Request-Timestamp within 5 minutes). Events API JSON, slash commands and interactivity (form-encoded). `url_verification` is answered with its challenge.",
                "workspaceId",
            ),
            Endpoint::Telegram => inbound(
                "Public: verified with X-Telegram-Bot-Api-Secret-Token, the secret given to setWebhook.",
                "botId",
            ),
            Endpoint::Discord => inbound(
                "Public: verified with the application's Ed25519 public key (X-Signature-Ed25519, X-Signature-Timestamp). PING is answered with type 1, commands with a deferred response (type 5), button clicks with a deferred update (type 6).",
                "guildId",
            ),
            Endpoint::Events => Operation {
                description: "Any role. Newest first; page with `before`.",
                request: None,
                ok: Answer::ok("Events", doc.schema::<views::Events>()),
                params: list_params(true),
                errors: &[(404, "The `before` event does not exist")],
            },
            Endpoint::Held => Operation {
                description: "Any role. Events held while a halt covers them, counted by the halt that holds them (`GET /api/events?status=held` lists them). A resume releases them for dispatch in the order they came, each once.",
                request: None,
                ok: Answer::ok("Held events by halt", doc.schema::<agency_approval::Held>()),
                params: Vec::new(),
                errors: &[],
            },
            Endpoint::Drop => Operation {
                description: "Role: operator. The held event becomes `dropped` and is never dispatched; its result records who dropped it and which halt held it.",
                request: None,
                ok: Answer::ok("The dropped event", doc.schema::<views::EventView>()),
                params: vec![id("id")],
                errors: &[(404, "No such event"), (409, "The event is not held")],
            },
            Endpoint::Event => Operation {
                description: "Any role. Capabilities (Slack's response_url, Discord's interaction token) never leave the webhook service: the event holds a reference (`cap_...`) in their place.",
                request: None,
                ok: Answer::ok("The event", doc.schema::<views::EventDetail>()),
                params: vec![id("id")],
                errors: &[(404, "No such event")],
            },
            Endpoint::DeadLetters => Operation {
                description: "Any role. Events with status `dead`, newest first.",
                request: None,
                ok: Answer::ok("Dead letters", doc.schema::<views::Events>()),
                params: list_params(false),
                errors: &[(404, "The `before` event does not exist")],
            },
            Endpoint::Replay => Operation {
                description: "Role: operator. The event keeps its id, so the gateway's idempotency (Idempotency-Key, webhook-id) still holds.",
                request: None,
                ok: Answer::ok("Queued again", doc.schema::<views::Replayed>()),
                params: vec![id("id")],
                errors: &[
                    (404, "No such event"),
                    (409, "The event is not a dead letter"),
                ],
            },
            Endpoint::ReplayAll => Operation {
                description: "Role: operator. `{}` replays every dead letter.",
                request: Some(doc.schema::<ReplayBody>()),
                ok: Answer::ok("Queued again", doc.schema::<views::Replayed>()),
                params: Vec::new(),
                errors: &[],
            },
            Endpoint::Sweep => Operation {
                description: "Role: operator (the assistant calls it when an ask, a decision, a halt or a resume changes something; it also runs on a timer). Idempotent: a card is posted once and edited once, a halt announced once, a held event released once.",
                request: None,
                ok: Answer::ok("Swept", doc.schema::<crate::consume::Swept>()),
                params: Vec::new(),
                errors: &[],
            },
            Endpoint::Replies => Operation {
                description: "Role: gateway or operator. Delivered by the outbox with retries (honouring the platform's Retry-After). With `Idempotency-Key`, the same key within 24 hours answers the first reply's `replyId` and posts nothing again; the key with another reply is a 409.",
                request: Some(doc.schema::<ReplyBody>()),
                ok: Answer {
                    status: 202,
                    description: "Queued for delivery",
                    schema: doc.schema::<views::ReplyQueued>(),
                    links: None,
                    also: None,
                },
                params: vec![
                    agency_kit::openapi::Param::header(
                        "Idempotency-Key",
                        json!({ "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" }),
                    )
                    .described("A retry with the same key within 24 hours posts the reply once"),
                ],
                errors: &[
                    (
                        422,
                        "No such source, or a replyTo that source cannot answer (no bot token)",
                    ),
                    (409, "The Idempotency-Key was used for another reply within 24 hours"),
                ],
            },
        }
    }
}

/// What the webhook service sends the gateway, as OpenAPI's `webhooks`.
pub fn outgoing(doc: &mut Doc) {
    let decision = json!({ "$ref": "#/components/schemas/Decision" });
    let task = doc.named(
        "Task",
        json!({
            "type": "object",
            "required": ["taskId", "event", "decision", "replyTo"],
            "properties": {
                "taskId": { "type": "string", "description": "The event's id; also the `webhook-id` and the `Idempotency-Key`: run each once" },
                "event": { "type": "object", "description": "The normalised chat event (platform, source, chat, thread, user, text, kind...); capabilities are `cap_` references" },
                "decision": { "allOf": [decision], "description": "The routing decision, as `POST /api/route` answers it" },
                "replyTo": { "type": "object", "description": "Where to answer: hand it back unchanged to `POST /api/replies` or in an approval's `replyTo`" },
            },
        }),
    );
    doc.webhook(
        "task",
        "A routed chat message, to run (POST {gateway.url}/tasks)",
        "Sent for every chat message that is routed and not held by a halt; retried on failure with the `[webhooks] retry_schedule_secs`, then a dead letter.",
        task,
    );
    let event = doc.schema::<crate::control::ControlEvent>();
    doc.webhook(
        "control",
        "A halt set or lifted, an approval decided, expired or escalated, a budget threshold reached (POST {gateway.url}/events)",
        "`halt.set` when an operator halts all agents, an agent, a channel or a task; `halt.lifted` when a resume lifts one (`scope: everything` when every halt was): stop or restart the work already running. `approval.decided` when a human decides an approval (card, chat or API; `data.decision` approved or denied, with the reason and comment), `approval.expired` when nobody answered in time (it counts as denied): no need to poll `GET /api/approvals/{id}`. `approval.escalated` when an ask nobody answered within its rule's `escalate.after` goes to a second approver group (`data.escalatedTo`; still pending), once per approval. `budget.threshold` when a budget's spending and reservations reach one of its alert thresholds (default 80% and 100% of each limit), once per budget, period and threshold. Retried like tasks; one `webhook-id` per audit entry, and per budget, period and threshold.",
        event,
    );
}
