//! Agency's router: picks the agent for a message from a skill graph. Keywords are
//! matched with one Aho-Corasick automaton (case-insensitive, whole words, phrases);
//! skill scores flow to agents, links pass on a share, channel and complexity adjust;
//! a confidence below the graph's threshold falls to the channel's default agent; a
//! down agent hands over to its fallback.
//!
//! Pure logic: no I/O, no clock, no wasmtime or worker crate. Health state and timing
//! belong to the caller. Builds natively and for wasm32, with identical decisions.

pub mod affinity;
pub mod calibrate;
#[cfg(test)]
mod clinc_tests;
mod complexity;
pub mod contract;
mod decision;
pub mod eval;
mod index;
mod keywords;
pub mod pool;
pub mod relearn;
pub mod replay;
#[cfg(feature = "schema")]
pub mod schema;
pub mod score;
mod scratch;
#[cfg(test)]
mod tests;

pub use complexity::estimate_complexity;
pub use decision::{
    Alternative, DecodeError, Names, Reason, RouteDecision, RouteIds, RouteRequest,
};
pub use index::{BuildError, RouterIndex};
