//! The kit every Agency service crate builds on, and the only thing the runtimes (`host/`,
//! `workers/`) need to know about HTTP:
//!
//! - [`http`]: the request a handler reads, the response it writes, and [`ApiError`],
//!   the one error type of the API, mapped to a status and the body
//!   `{"error": {"code", "message", "details"?}}` in one place;
//! - [`auth`]: bearer tokens with three roles;
//! - [`routes`]: route tables and the one matching rule (404, 405 with `Allow`, `HEAD`
//!   for every `GET`, no trailing slash);
//! - [`ports`]: the traits a runtime implements (SQL database, clock, randomness);
//! - [`migrate`]: migrations by name;
//! - [`service`]: a service declared once ([`Part`], routes, migrations, edge needs);
//! - [`outbound`]: requests to the outside as data, the port that sends them, and the
//!   port to the other parts;
//! - [`observe`]: the request middleware (id, timing, one log record per request);
//! - [`retention`]: records kept for a period, archived (the [`retention::Archive`]
//!   port) and then deleted; [`export`]: the same rows in a window, streamed.
//!
//! No runtime crate (tokio, hyper, wasmtime, rusqlite, worker) may be a dependency here:
//! this code runs natively and inside Workers.

pub mod auth;
pub mod export;
pub mod http;
pub mod migrate;
pub mod observe;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod outbound;
pub mod ports;
pub mod retention;
pub mod root;
pub mod routes;
pub mod service;

pub use auth::{Access, Role, Tokens};
pub use http::{ApiError, ApiResult, Request, Response};
pub use outbound::{OutRequest, OutResponse, Outbound, Peers, Unanswered};
pub use ports::{Clock, Db, Metrics, PortError, Random, SqlValue, Statement};
pub use routes::{BodyLimit, Limits, Route};
pub use service::{EdgeNeeds, Part, Service};
