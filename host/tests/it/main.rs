//! Integration tests for the host: one test binary (see ripgrep's tests/tests.rs).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod approvals;
mod approvals_crash;
mod audit_loop;
mod backup;
mod chat;
mod cli;
mod component;
mod docs;
mod retention;
mod server;
mod util;
mod webhooks;
