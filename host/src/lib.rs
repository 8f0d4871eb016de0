//! The Agency host: runs the components under wasmtime, keeps state in SQLite, serves
//! the HTTP API on one port and implements the `agency` CLI. Decisions are never made
//! here: they come from the core crates, natively or through the components.

pub mod app;
pub mod assistant;
pub mod audit;
pub mod background;
pub mod backup;
mod chat_history;
pub mod config;
pub mod deploy;
pub mod example;
pub mod graph_files;
pub mod retention;
pub mod routing;
/// The wasmtime side (its own crate, `host/runtime`).
pub use agency_runtime as runtime;
pub mod server;
pub mod store;
