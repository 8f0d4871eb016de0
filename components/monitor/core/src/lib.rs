//! Monitoring without I/O, the same natively, in the monitor component and in every
//! Worker:
//!
//! - [`sketch`]: latency sketches (DDSketch, 1% relative accuracy) that merge exactly:
//!   merging the sketches of two instances gives the sketch of all their samples;
//! - [`metrics`]: the metric families Agency reports (names, help, kinds and labels,
//!   fixed here so no label can carry unbounded values) and a [`metrics::Registry`] of
//!   counters, gauges and histograms that merges across instances;
//! - [`prom`]: the Prometheus text exposition (`text/plain; version=0.0.4`);
//! - [`sla`]: uptime, error budget and burn rate from probe results, and trends.

pub mod metrics;
pub mod prom;
pub mod sketch;
pub mod sla;

pub use metrics::{Family, Kind, Registry};
pub use sketch::Latency;
