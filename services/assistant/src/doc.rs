//! The assistant's endpoints in the API document: one arm per endpoint (a new one
//! does not compile undocumented); bodies and answers are the handlers' types.

use agency_approval::chat::Reply;
use agency_approval::contract::{
    ApprovalBody, BudgetReport, ChatBody, HaltBody, HumanDecisionBody, ResumeBody, SpendBody,
};
use agency_kit::openapi::{Answer, Doc, Documented, Operation, Param};
use serde_json::json;

use crate::Endpoint;
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
                "Role: operator. Approving re-checks the budgets (and halts) as they are now.",
                Some(doc.schema::<HumanDecisionBody>()),
                Answer::ok("The settled approval", approval),
                vec![approval_id()],
                &[NO_APPROVAL, (409, "Already settled or expired")],
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
