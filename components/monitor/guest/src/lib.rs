//! The monitor component: a thin wit-bindgen shim over `agency-monitor`. It only
//! converts between WIT and core types; everything is computed in the core crate.
#![allow(unsafe_code)] // generated export glue

use std::cell::RefCell;

use agency_monitor::metrics::Fam;
use agency_monitor::{Latency, Registry, prom, sla};

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "monitor-component",
    });
}

use bindings::exports::agency::core::monitor::{self as wit, GuestRegistry, GuestSketch};

struct Component;

struct Sketch(RefCell<Latency>);

struct Metrics(RefCell<Registry>);

impl wit::Guest for Component {
    type Sketch = Sketch;
    type Registry = Metrics;

    fn sla_of(probes: Vec<wit::Probe>, now_ms: i64, window_ms: i64, objective: f64) -> wit::Sla {
        let probes: Vec<sla::Probe> = probes
            .into_iter()
            .map(|p| sla::Probe {
                at_ms: p.at_ms,
                up: p.up,
            })
            .collect();
        let w = sla::window(&probes, now_ms, window_ms, objective);
        wit::Sla {
            uptime: w.uptime,
            budget_remaining: w.budget_remaining,
            burn_rate: w.burn_rate,
        }
    }

    fn trend_of(values: Vec<f64>, tolerance: f64) -> wit::Trend {
        let t = sla::trend(&values, tolerance);
        wit::Trend {
            direction: match t.direction {
                sla::Direction::Rising => wit::Direction::Rising,
                sla::Direction::Stable => wit::Direction::Stable,
                sla::Direction::Falling => wit::Direction::Falling,
            },
            slope: t.slope,
        }
    }
}

impl GuestSketch for Sketch {
    fn new() -> Sketch {
        Sketch(RefCell::new(Latency::default()))
    }

    fn observe(&self, seconds: f64) {
        self.0.borrow_mut().record(seconds);
    }

    fn merge(&self, other: wit::SketchBorrow<'_>) {
        let other = other.get::<Sketch>();
        if std::ptr::eq(other, self) {
            // A sketch merged with itself doubles: copy it first (one cell, one borrow).
            let copy = self.0.borrow().clone();
            self.0.borrow_mut().merge(&copy);
        } else {
            self.0.borrow_mut().merge(&other.0.borrow());
        }
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        self.0.borrow().quantile(q)
    }

    fn count(&self) -> u64 {
        self.0.borrow().count()
    }
}

fn family(name: &str) -> Result<Fam, String> {
    Fam::named(name).ok_or_else(|| format!("no metric family {name:?}"))
}

fn refs(labels: &[String]) -> Vec<&str> {
    labels.iter().map(String::as_str).collect()
}

impl GuestRegistry for Metrics {
    fn new() -> Metrics {
        Metrics(RefCell::new(Registry::default()))
    }

    fn add(&self, family_name: String, labels: Vec<String>, by: f64) -> Result<(), String> {
        let f = family(&family_name)?;
        self.0
            .borrow_mut()
            .add(f, &refs(&labels), by)
            .map_err(|e| e.to_string())
    }

    fn set(&self, family_name: String, labels: Vec<String>, value: f64) -> Result<(), String> {
        let f = family(&family_name)?;
        self.0
            .borrow_mut()
            .set(f, &refs(&labels), value)
            .map_err(|e| e.to_string())
    }

    fn observe(&self, family_name: String, labels: Vec<String>, value: f64) -> Result<(), String> {
        let f = family(&family_name)?;
        self.0
            .borrow_mut()
            .observe(f, &refs(&labels), value)
            .map_err(|e| e.to_string())
    }

    fn merge(&self, snapshot: String) -> Result<(), String> {
        let other: Registry =
            serde_json::from_str(&snapshot).map_err(|e| format!("snapshot: {e}"))?;
        self.0.borrow_mut().merge(&other);
        Ok(())
    }

    fn snapshot(&self) -> String {
        serde_json::to_string(&*self.0.borrow()).unwrap_or_default()
    }

    fn exposition(&self) -> String {
        prom::render(&self.0.borrow())
    }
}

bindings::export!(Component with_types_in bindings);
