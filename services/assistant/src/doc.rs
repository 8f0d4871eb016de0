//! The assistant's endpoints in the API document: one arm per endpoint (a new one
//! does not compile undocumented); bodies and answers are the handlers' types.

use agency_approval::chat::Reply;
use agency_approval::contract::{
    ApprovalBody, BatchDecisionBody, BudgetReport, ChatBody, GrantBody, HaltBody,
    HumanDecisionBody, ResumeBody, SpendBody,
};
use agency_kit::openapi::{Answer, Doc, Documented, Operation, Param};
use serde_json::json;

use crate::Endpoint;
use crate::grants::{GrantView, Grants};
use crate::ledger::{HaltsInForce, Resumed};
use crate::row::{ApprovalView, AuditView};

const NO_APPROVAL: (u16, &str) = (404, "Unknown approval");

fn limit() -> Param {
    Param::query(
        "limit",
        json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
    )
}

fn before(what: &'static str) -> Param {
    Param::query(
        "before",
        json!({ "type": "integer", "minimum": 1, "maximum": i64::MAX }),
    )
    .described(what)
}

fn approval_id() -> Param {
    Param::path("id", json!({ "type": "string", "minLength": 1 }))
}

impl Documented for Endpoint {
    fn operation(self, doc: &mut Doc) -> Operation {
        let approval = doc.schema::<ApprovalView>();
        let op = |description, request, ok, params, errors| Operation {
            description,
            request,
            ok,
            params,
            errors,
        };
        match self {
            Endpoint::Approve => op(
                "Role: gateway or operator. Idempotent on taskId: a retry returns the stored answer and never reserves twice. Rule precedence: deny over ask over approve; no matching rule: ask.",
                Some(doc.schema::<ApprovalBody>()),
                Answer::ok("The decision", approval).with_links(json!({
                    "GetApproval": {
                        "operationRef": "#/paths/~1api~1approvals~1{id}/get",
                        "parameters": { "id": "$response.body#/approvalId" },
                        "description": "The approval, as stored"
                    },
                    "DecideApproval": {
                        "operationRef": "#/paths/~1api~1approvals~1{id}~1decision/post",
                        "parameters": { "id": "$response.body#/approvalId" },
                        "description": "A human's answer to a pending approval"
                    },
                    "SpendApproval": {
                        "operationRef": "#/paths/~1api~1spend/post",
                        "requestBody": { "approvalId": "$response.body#/approvalId" },
                        "description": "The actual cost of an approved task"
                    }
                })),
                Vec::new(),
                &[(
                    409,
                    "The taskId was already asked about with a different request",
                )],
            ),
            Endpoint::List => op(
                "Any role.",
                None,
                Answer::ok(
                    "Approvals",
                    json!({
                        "type": "object",
                        "required": ["approvals"],
                        "properties": { "approvals": { "type": "array", "items": approval } }
                    }),
                ),
                vec![
                    Param::query(
                        "status",
                        json!({ "type": "string", "enum": ["pending", "approved", "denied", "expired"] }),
                    ),
                    limit(),
                    before(
                        "The next page: only entries whose `number` is below this (the last `number` of the previous page)",
                    ),
                ],
                &[],
            ),
            Endpoint::Get => op(
                "Any role.",
                None,
                Answer::ok("The approval", approval),
                vec![approval_id()],
                &[NO_APPROVAL],
            ),
            Endpoint::Decide => op(
                "Role: operator. Approving re-checks the budgets (and halts) as they are now. With `grant`, an approval also grants the same agent, action and environment (any channel) for `durationSecs`: later asks of that kind are approved without asking (reason `grant`, `grantId` set) while the grant lasts and within its cost limits; deny rules, halts and budgets still decide first. A denial cannot carry a grant (400). The gateway is sent a signed `approval.decided` event with the decision and comment.",
                Some(doc.schema::<HumanDecisionBody>()),
                Answer::ok("The settled approval", approval),
                vec![approval_id()],
                &[NO_APPROVAL, (409, "Already settled or expired")],
            ),
            Endpoint::Extend => op(
                "Role: operator. Gives a pending ask more time: its expiry moves `secs` (default 1,800; 60 to 86,400) past the later of its expiry and now, at most 3 times per approval (`extensions` counts them). Audited (`extended`).",
                Some(doc.schema::<agency_approval::contract::ExtendBody>()),
                Answer::ok("The approval", approval),
                vec![approval_id()],
                &[NO_APPROVAL, (409, "Not pending, or extended 3 times already")],
            ),
            Endpoint::DecideMany => op(
                "Role: operator. Decides many pending approvals at once, named by `ids` (1 to 500) or by a filter (`agent`, `action`, `channel`: every pending approval matching all the given ones, at most 500). Each approval is decided as by `POST /api/approvals/{id}/decision`: racing deciders get exactly one winner per approval, and an approval already settled, expired or unknown is reported in its result, not decided. The answer lists one result per approval.",
                Some(doc.schema::<BatchDecisionBody>()),
                Answer::ok(
                    "One result per approval",
                    json!({
                        "type": "object",
                        "required": ["decided", "results"],
                        "properties": {
                            "decided": { "type": "integer", "minimum": 0, "description": "How many were decided by this call" },
                            "results": { "type": "array", "items": {
                                "type": "object",
                                "required": ["approvalId", "decided", "status"],
                                "properties": {
                                    "approvalId": { "type": "string" },
                                    "decided": { "type": "boolean", "description": "Whether this call decided it" },
                                    "status": { "type": ["string", "null"], "description": "Its status after the call (null: unknown approval)" },
                                    "approval": approval,
                                    "error": { "type": "object", "required": ["code", "message"], "properties": { "code": { "type": "string" }, "message": { "type": "string" } } }
                                }
                            } }
                        }
                    }),
                ),
                Vec::new(),
                &[],
            ),
            Endpoint::AddGrant => op(
                "Role: operator. Approves the agent's action in the environment (and only in `channel`, when given) without asking until the grant expires, each task up to `maxTaskCostUsd` and all of them up to `totalCostUsd`. A grant only turns an ask into an approval: deny rules and halts decide before it, and budgets still apply. Every use is audited (the decision's entry names the grant).",
                Some(doc.schema::<GrantBody>()),
                Answer {
                    status: 201,
                    description: "The grant",
                    schema: doc.schema::<GrantView>(),
                    links: None,
                    also: None,
                },
                Vec::new(),
                &[],
            ),
            Endpoint::Grants => op(
                "Any role.",
                None,
                Answer::ok("Grants, newest first", doc.schema::<Grants>()),
                vec![
                    Param::query(
                        "status",
                        json!({ "type": "string", "enum": ["active", "expired", "revoked"] }),
                    ),
                    limit(),
                ],
                &[],
            ),
            Endpoint::RevokeGrant => op(
                "Role: operator. From now on the grant approves nothing; revoking it again changes nothing.",
                None,
                Answer::ok("The grant", doc.schema::<GrantView>()),
                vec![Param::path("id", json!({ "type": "string", "minLength": 1 }))],
                &[(404, "Unknown grant")],
            ),
            Endpoint::Halt => op(
                "Role: operator. A halt covers every agent (`all`), one agent, one channel or one task. While it lasts, matching approvals are denied (reason `halted`), `POST /api/route` answers the agent it would pick with reason `halted` and the halt, and the webhook consumer holds matching events (status `held`) until a resume; the gateway is sent a signed `halt.set` event (`POST {gateway}/events`). A halt naming an agent or channel the current skill graph does not know is kept, with a warning in `warnings`.",
                Some(doc.schema::<HaltBody>()),
                Answer::ok("Halts in force", doc.schema::<HaltsInForce>()),
                Vec::new(),
                &[],
            ),
            Endpoint::Halts => op(
                "Any role.",
                None,
                Answer::ok("Halts in force", doc.schema::<HaltsInForce>()),
                Vec::new(),
                &[],
            ),
            Endpoint::Resume => op(
                "Role: operator. Lifts the halt with this scope and target; the events it held are released for dispatch in the order they came, each once (`released` counts them), and the gateway is sent a signed `halt.lifted` event. Resuming what was not halted changes nothing (`resumed: false`).",
                Some(doc.schema::<ResumeBody>()),
                Answer::ok(
                    "Whether a halt was lifted, and the halts in force",
                    doc.schema::<Resumed>(),
                ),
                Vec::new(),
                &[],
            ),
            Endpoint::Spend => op(
                "Role: gateway or operator. The approval's reservation becomes spending.",
                Some(doc.schema::<SpendBody>()),
                Answer::ok("The approval", approval),
                Vec::new(),
                &[
                    NO_APPROVAL,
                    (409, "Not approved, or already reported"),
                    (422, "The spend would pass the most a budget ledger records"),
                ],
            ),
            Endpoint::Budget => op(
                "Any role.",
                None,
                Answer::ok("Budgets", doc.schema::<BudgetReport>()),
                Vec::new(),
                &[],
            ),
            Endpoint::AuditExport => op(
                "Role: operator. Oldest first, one entry a line as stored (`seq`, `created_ms`, `kind`, `approval_id`, `actor`, `detail_json`): the rows the archive holds once they pass their retention (`agency archive read`). Streamed a page at a time; a failure midway breaks the connection, so a cut-off export never looks whole.",
                None,
                Answer::ndjson("The entries, one JSON object a line"),
                agency_kit::openapi::export_params(),
                &[(400, "A from or to that is neither a day nor an RFC 3339 time")],
            ),
            Endpoint::Audit => op(
                "Any role. Decisions, human decisions, halts, resumes, spends and expiries.",
                None,
                Answer::ok(
                    "Entries",
                    json!({
                        "type": "object",
                        "required": ["entries"],
                        "properties": { "entries": { "type": "array", "items": doc.schema::<AuditView>() } }
                    }),
                ),
                vec![
                    limit(),
                    before(
                        "The next page, newest first: only entries whose `seq` is below this (the last `seq` of the previous page)",
                    ),
                    Param::query(
                        "after",
                        json!({ "type": "integer", "minimum": 0, "maximum": i64::MAX }),
                    )
                    .described(
                        "Following the trail, oldest first: only entries whose `seq` is above this (with `before`, the entries between the two)",
                    ),
                    Param::query(
                        "kind",
                        json!({
                            "type": "string",
                            "pattern": format!("^({k})(,({k}))*$", k = crate::AUDIT_KINDS.join("|")),
                        }),
                    )
                    .described("Only entries of these kinds, comma-separated"),
                ],
                &[],
            ),
            Endpoint::Chat => op(
                "Role: operator. Commands are understood deterministically; free text goes to the configured model, whose suggestions are never carried out unless the operator sends the command.",
                Some(doc.schema::<ChatBody>()),
                Answer::ok("The reply", doc.schema::<Reply>()),
                Vec::new(),
                &[],
            ),
        }
    }
}
