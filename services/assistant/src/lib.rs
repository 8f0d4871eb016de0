//! The approval assistant's service crate. Today it holds the assistant's route table
//! (served by the local server and by the assistant Worker), its migrations (applied by
//! the local store and by D1) and [`store`], its approvals, audit and chat tables over
//! the SQL port (used by the Worker). The endpoints' steps are still written per runtime
//! (`host/src/server/{approvals,chat}.rs` and `workers/assistant`) and move here next.

pub mod store;

use agency_kit::migrate::Migration;
use agency_kit::routes::Route;
use agency_kit::{Access, BodyLimit};
use http::Method;

pub static MIGRATIONS: &[Migration] = agency_kit::migrations!("assistant": "0001_init");

/// The assistant's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Approve,
    List,
    Get,
    Decide,
    Halt,
    Halts,
    Resume,
    Spend,
    Budget,
    Audit,
    Chat,
}

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
        method: Method::POST,
        path: "/api/chat",
        access: Access::Write,
        body: BodyLimit::Message,
        endpoint: Endpoint::Chat,
        summary: "Talk to the assistant",
    },
];
