//! Latency sketches: DDSketch (the `sketches-ddsketch` crate) with a relative accuracy
//! of 1% and at most 2,048 bins. Any quantile it answers is within 1% of a value whose
//! rank is the true quantile's (tested against exact percentiles in
//! `tests/sketch.rs`), and two sketches merge into the sketch of the union of their
//! samples, so instances and Workers can each keep their own and the monitor adds them.

use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};

/// The relative accuracy every sketch is built with.
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// The most bins a sketch keeps (the lowest collapse past it).
pub const MAX_BINS: u32 = 2048;
/// Below this (seconds), values count as zero: a nanosecond.
pub const MIN_VALUE: f64 = 1e-9;

fn config() -> Config {
    Config::new(RELATIVE_ACCURACY, MAX_BINS, MIN_VALUE)
}

/// Durations in seconds.
#[derive(Clone, Serialize, Deserialize)]
pub struct Latency(DDSketch);

impl std::fmt::Debug for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latency")
            .field("count", &self.count())
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .finish()
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency(DDSketch::new(config()))
    }
}

impl Latency {
    /// Records one duration; a negative or non-finite one is ignored (a clock that
    /// stepped back measures nothing).
    pub fn record(&mut self, seconds: f64) {
        if seconds.is_finite() && seconds >= 0.0 {
            self.0.add(seconds);
        }
    }

    /// Adds `other`'s samples.
    pub fn merge(&mut self, other: &Latency) {
        // Every sketch here has the same config, the one condition merge checks.
        let _ = self.0.merge(&other.0);
    }

    /// The `q` quantile (0 to 1), or None when empty or `q` is out of range.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.0.quantile(q).ok().flatten()
    }

    pub fn count(&self) -> u64 {
        self.0.count() as u64
    }

    pub fn sum(&self) -> f64 {
        self.0.sum().unwrap_or(0.0)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.sum() / self.count() as f64)
    }
}
