//! The approval assistant's service crate: its route table and endpoints ([`api`]),
//! the operations behind them (approve, decide, spend, halt), the chat conversation
//! ([`chat`]), the approvals, audit and chat tables over the SQL port ([`store`]), the
//! budget ledger's port and book ([`ledger`]) and the migrations. A runtime implements
//! [`AssistantRuntime`] (and [`ChatPorts`]) and nothing else.

pub mod api;
pub mod chat;
#[cfg(feature = "openapi")]
mod doc;
pub mod endpoints;
pub mod grants;
pub mod ledger;
pub mod row;
pub mod store;

pub use api::{AssistantPorts, AssistantRuntime, Undecided};
pub use chat::ChatPorts;
pub use endpoints::call;
pub use ledger::LedgerPort;

use agency_approval::contract::ApprovalStatus;
use agency_kit::migrate::Migration;
use agency_kit::routes::Route;
use agency_kit::{Access, BodyLimit};
use http::Method;

pub static MIGRATIONS: &[Migration] = agency_kit::migrations!("assistant": "0001_init", "0002_ledger_book", "0003_grants", "0004_escalation", "0005_retention");

/// The assistant's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Approve,
    List,
    Get,
    Decide,
    DecideMany,
    Extend,
    AddGrant,
    Grants,
    RevokeGrant,
    Halt,
    Halts,
    Resume,
    Spend,
    Budget,
    Audit,
    AuditExport,
    Chat,
}

/// This service's part of `/health`: healthy when its policy and budget ledger answer.
pub async fn health<P: api::AssistantPorts>(p: &P) -> (bool, serde_json::Value) {
    match p.budget().await {
        Ok(_) => (true, serde_json::json!({ "status": "ok" })),
        Err(e) => (
            false,
            serde_json::json!({ "status": "degraded", "error": e.code }),
        ),
    }
}

/// The assistant service, declared once.
pub static SERVICE: agency_kit::Service = agency_kit::Service {
    part: agency_kit::Part::Assistant,
    summary: "The approval assistant: policy, budgets, halts, human approval in chat, chat with memory, audit",
    routes: || agency_kit::service::listed(ROUTES),
    migrations: MIGRATIONS,
    retained: store::RETAINED,
    edge: agency_kit::EdgeNeeds {
        database: true,
        kv: &["SESSIONS"],
        objects: &[agency_kit::service::DurableObject {
            binding: "LEDGER",
            class: "Ledger",
        }],
        queues: &[],
        // Reservations no approval holds given back (`api::reconcile`).
        crons: &["*/5 * * * *"],
        archive: true,
        // "route:" in chat; cards, halt events and held work; a halt's names checked.
        calls: &[
            agency_kit::Part::Router,
            agency_kit::Part::Webhooks,
            agency_kit::Part::SkillGraph,
        ],
        // AGENCY_EXAMPLE=1: the example policy when AGENCY_POLICY is not set.
        vars: &[
            "AGENCY_POLICY",
            "AGENCY_EXAMPLE",
            "AGENCY_LLM_BASE_URL",
            "AGENCY_LLM_MODEL",
        ],
        secrets: &[
            "AGENCY_GATEWAY_TOKEN",
            "AGENCY_OPERATOR_TOKEN",
            "AGENCY_VIEWER_TOKEN",
            "AGENCY_LLM_API_KEY",
        ],
    },
};

pub static ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: Method::POST,
        path: "/api/approve",
        access: Access::Route,
        body: BodyLimit::Message,
        endpoint: Endpoint::Approve,
        summary: "May this task run?",
    },
    Route {
        method: Method::GET,
        path: "/api/approvals",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::List,
        summary: "Approvals, newest first",
    },
    Route {
        method: Method::GET,
        path: "/api/approvals/{id}",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Get,
        summary: "One approval",
    },
    Route {
        method: Method::POST,
        path: "/api/approvals/{id}/decision",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::Decide,
        summary: "A human approves or denies",
    },
    Route {
        method: Method::POST,
        path: "/api/approvals/{id}/extend",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::Extend,
        summary: "Give a pending ask more time",
    },
    Route {
        method: Method::POST,
        path: "/api/approvals/decide",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::DecideMany,
        summary: "Decide many pending approvals at once",
    },
    Route {
        method: Method::POST,
        path: "/api/grants",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::AddGrant,
        summary: "Approve a kind of task without asking, for a while",
    },
    Route {
        method: Method::GET,
        path: "/api/grants",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Grants,
        summary: "Grants, newest first",
    },
    Route {
        method: Method::DELETE,
        path: "/api/grants/{id}",
        access: Access::Write,
        body: BodyLimit::None,
        endpoint: Endpoint::RevokeGrant,
        summary: "Revoke a grant",
    },
    Route {
        method: Method::POST,
        path: "/api/halt",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::Halt,
        summary: "Halt an agent, a channel or everything",
    },
    Route {
        method: Method::GET,
        path: "/api/halt",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Halts,
        summary: "Halts in force",
    },
    Route {
        method: Method::POST,
        path: "/api/resume",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::Resume,
        summary: "Lift a halt",
    },
    Route {
        method: Method::POST,
        path: "/api/spend",
        access: Access::Route,
        body: BodyLimit::Message,
        endpoint: Endpoint::Spend,
        summary: "Report a task's real cost",
    },
    Route {
        method: Method::GET,
        path: "/api/budget",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Budget,
        summary: "Budgets and what is left",
    },
    Route {
        method: Method::GET,
        path: "/api/audit",
        access: Access::Read,
        body: BodyLimit::None,
        endpoint: Endpoint::Audit,
        summary: "The audit trail, newest first",
    },
    Route {
        method: Method::GET,
        path: "/api/audit/export",
        access: Access::Write,
        body: BodyLimit::None,
        endpoint: Endpoint::AuditExport,
        summary: "The audit trail in a time range, oldest first, as NDJSON (streamed)",
    },
    Route {
        method: Method::POST,
        path: "/api/chat",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::Chat,
        summary: "Talk to the assistant",
    },
];

/// The 404 for an approval id nobody knows.
pub fn no_approval(id: &str) -> agency_kit::ApiError {
    agency_kit::ApiError::not_found(format!("no approval {id:?}"))
}

/// `GET /api/approvals?status=&limit=&before=`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub status: Option<ApprovalStatus>,
    pub limit: u32,
    pub before: Option<i64>,
}

/// `GET /api/audit?limit=&before=&after=&kind=`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    pub limit: u32,
    /// Entries below this `seq`, newest first.
    pub before: Option<i64>,
    /// Entries above this `seq`, oldest first (following the trail); with `before`, the
    /// entries between the two.
    pub after: Option<i64>,
    /// Only these kinds (empty: every kind).
    pub kinds: Vec<String>,
}

/// The kinds of audit entries.
pub const AUDIT_KINDS: &[&str] = &[
    "decision",
    "human-decision",
    "grant",
    "grant-revoked",
    "extended",
    "escalated",
    "released",
    "halt",
    "resume",
    "spend",
    "expired",
];

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    status: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

/// The listing page `req` asks for: 400 for an unknown parameter, status, limit or
/// `before`.
pub fn list_page(req: &agency_kit::Request) -> Result<ListPage, agency_kit::ApiError> {
    let q: PageQuery = req.query()?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(ApprovalStatus::parse_shown(s).ok_or_else(|| {
            agency_kit::ApiError::bad_request("status must be pending, approved, denied or expired")
        })?),
    };
    Ok(ListPage {
        limit: agency_kit::http::parse_limit(q.limit.as_deref(), 100, 1000)?,
        before: agency_approval::contract::page_before(q.before.as_deref())?,
        status,
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantQuery {
    status: Option<String>,
    limit: Option<String>,
}

/// `GET /api/grants?status=&limit=`, checked: 400 for an unknown parameter or status.
pub fn grant_page(
    req: &agency_kit::Request,
) -> Result<(Option<grants::GrantStatus>, u32), agency_kit::ApiError> {
    let q: GrantQuery = req.query()?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(grants::GrantStatus::parse(s).ok_or_else(|| {
            agency_kit::ApiError::bad_request("status must be active, expired or revoked")
        })?),
    };
    Ok((
        status,
        agency_kit::http::parse_limit(q.limit.as_deref(), 100, 1000)?,
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<String>,
    before: Option<String>,
    after: Option<String>,
    kind: Option<String>,
}

/// The audit page `req` asks for: 400 for an unknown parameter, limit or kind.
pub fn audit_page(req: &agency_kit::Request) -> Result<AuditPage, agency_kit::ApiError> {
    let q: AuditQuery = req.query()?;
    let bad = agency_kit::ApiError::bad_request;
    let after = match q.after.as_deref() {
        None => None,
        Some(a) => Some(
            a.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad("after must be an entry's seq (a whole number, 0 or more)"))?,
        ),
    };
    let kinds: Vec<String> = q
        .kind
        .as_deref()
        .map(|k| k.split(',').map(|k| k.trim().to_owned()).collect())
        .unwrap_or_default();
    if let Some(k) = kinds.iter().find(|k| !AUDIT_KINDS.contains(&k.as_str())) {
        return Err(agency_kit::ApiError::bad_request(format!(
            "kind {k:?} is not one of {}",
            AUDIT_KINDS.join(", ")
        )));
    }
    Ok(AuditPage {
        limit: agency_kit::http::parse_limit(q.limit.as_deref(), 100, 1000)?,
        before: agency_approval::contract::page_before(q.before.as_deref())?,
        after,
        kinds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use agency_kit::Request;
    use http::Method;

    #[test]
    fn pages_are_checked() {
        let page = |q: &str| list_page(&Request::new(Method::GET, &format!("/api/approvals{q}")));
        assert_eq!(
            page("?status=pending&limit=5&before=9").unwrap(),
            ListPage {
                status: Some(ApprovalStatus::Pending),
                limit: 5,
                before: Some(9)
            }
        );
        assert_eq!(
            page("").unwrap(),
            ListPage {
                status: None,
                limit: 100,
                before: None
            }
        );
        for bad in ["?status=maybe", "?limit=0", "?before=x", "?sort=asc"] {
            assert_eq!(page(bad).unwrap_err().status.as_u16(), 400, "{bad}");
        }
        let audit = |q: &str| audit_page(&Request::new(Method::GET, &format!("/api/audit{q}")));
        assert_eq!(
            audit("?limit=2").unwrap(),
            AuditPage {
                limit: 2,
                before: None,
                after: None,
                kinds: Vec::new(),
            }
        );
        assert_eq!(
            audit("?after=7&kind=halt,resume").unwrap(),
            AuditPage {
                limit: 100,
                before: None,
                after: Some(7),
                kinds: vec!["halt".into(), "resume".into()],
            }
        );
        for bad in ["?status=pending", "?kind=nonsense", "?after=-1", "?after=x"] {
            assert!(audit(bad).is_err(), "{bad}");
        }
    }
}
