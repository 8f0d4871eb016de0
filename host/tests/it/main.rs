//! Integration tests for the host: one test binary (see ripgrep's tests/tests.rs).

mod cli;
mod component;
mod server;
mod util;
