//! The metric families Agency reports, fixed here (name, help, kind, label names,
//! buckets) so every part reports the same and no label can carry an unbounded value
//! (message text, user or task ids never are labels), and the [`Registry`] that holds a
//! part's series and merges with others'.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sketch::Latency;

/// What a family's series are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Family {
    /// Prometheus naming: `agency_` prefix, base units, `_total` on counters.
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    /// A histogram's upper bounds (its `+Inf` bucket is implied).
    pub buckets: &'static [f64],
}

/// Request and dispatch durations, in seconds: 100 µs to 10 s.
pub const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// A ratio from 0 to 1 (a routing decision's confidence).
pub const RATIO: &[f64] = &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

macro_rules! families {
    ($($id:ident = $name:literal, $kind:ident, [$($label:literal),*], $buckets:expr, $help:literal;)*) => {
        /// Every family, by index.
        pub static FAMILIES: &[Family] = &[
            $(Family { name: $name, help: $help, kind: Kind::$kind, labels: &[$($label),*], buckets: $buckets },)*
        ];
        families!(@ids 0usize, $($id)*);
    };
    (@ids $n:expr, $id:ident $($rest:ident)*) => {
        pub const $id: Fam = Fam($n);
        families!(@ids $n + 1usize, $($rest)*);
    };
    (@ids $n:expr,) => {};
}

/// A family, by its index in [`FAMILIES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fam(pub usize);

impl Fam {
    pub fn family(self) -> &'static Family {
        &FAMILIES[self.0]
    }

    /// The family named `name`.
    pub fn named(name: &str) -> Option<Fam> {
        FAMILIES.iter().position(|f| f.name == name).map(Fam)
    }
}

families! {
    HTTP_REQUESTS = "agency_http_requests_total", Counter, ["service", "route", "method", "class"], &[],
        "Requests answered, by service, route pattern, method and status class (2xx, 4xx, 5xx).";
    HTTP_DURATION = "agency_http_request_duration_seconds", Histogram, ["service", "route"], SECONDS,
        "Time to answer a request, by service and route pattern.";
    ROUTE_DECISIONS = "agency_route_decisions_total", Counter, ["agent", "reason"], &[],
        "Routing decisions, by chosen agent (none when it abstained) and reason.";
    ROUTE_CONFIDENCE = "agency_route_confidence_ratio", Histogram, [], RATIO,
        "Confidence of routing decisions.";
    ROUTE_FEEDBACK = "agency_route_feedback_total", Counter, ["verdict"], &[],
        "Operators' feedback on routing decisions: correct or wrong.";
    APPROVALS = "agency_approval_decisions_total", Counter, ["outcome", "reason"], &[],
        "Approval decisions, by outcome (approved, denied, pending) and reason code.";
    SPENT = "agency_approval_spent_usd_total", Counter, [], &[],
        "Money spent by approved tasks, in US dollars.";
    RESERVED = "agency_approval_reserved_usd", Gauge, [], &[],
        "Money reserved by approved tasks not yet settled, in US dollars.";
    WEBHOOK_EVENTS = "agency_webhook_events_total", Counter, ["platform", "outcome"], &[],
        "Webhook deliveries and dispatches, by platform and outcome (accepted, duplicate, rejected, rate_limited, ignored, dispatched, retried, dead_lettered, held, failed).";
    WEBHOOK_HELD = "agency_webhook_events_held", Gauge, [], &[],
        "Events held because a halt covers them, waiting for a resume.";
    DISPATCH_DURATION = "agency_webhook_dispatch_duration_seconds", Histogram, ["platform"], SECONDS,
        "Time the agency gateway took to answer a dispatch.";
    PROBE_UP = "agency_probe_up", Gauge, ["part"], &[],
        "Whether a part's last health probe succeeded (1) or not (0).";
    PROBE_DURATION = "agency_probe_duration_seconds", Histogram, ["part"], SECONDS,
        "Time a health probe took.";
}

/// Most series one family may hold; past it new label sets are dropped (and counted):
/// a guard against a label that turned out unbounded.
pub const MAX_SERIES_PER_FAMILY: usize = 1000;
/// Longest label value kept; longer ones are cut.
pub const MAX_LABEL_CHARS: usize = 64;

/// Why a sample was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{family} takes {want} labels, got {got}")]
    Labels {
        family: &'static str,
        want: usize,
        got: usize,
    },
    #[error("{0} is not a {1:?}")]
    Kind(&'static str, Kind),
    #[error("{0} already has {MAX_SERIES_PER_FAMILY} series")]
    Full(&'static str),
}

/// A histogram series: classic cumulative buckets for Prometheus, and a sketch for
/// percentiles that merge.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Histogram {
    /// Per bucket (not cumulative), the family's bounds in order; the last is `+Inf`.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub sketch: Latency,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            sketch: Latency::default(),
        }
    }

    fn observe(&mut self, bounds: &[f64], v: f64) {
        let i = bounds.partition_point(|b| *b < v);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum += v;
        self.sketch.record(v);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.sum += o.sum;
        self.sketch.merge(&o.sketch);
    }
}

/// One series' value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Value {
    Counter(f64),
    Gauge(f64),
    Histogram(Histogram),
}

/// The series of one part (or of all, merged), by family and label values. On the wire
/// (JSON) it is a list of series naming their family, so parts of different versions
/// can still merge what they share.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(into = "Wire", from = "Wire")]
pub struct Registry {
    series: BTreeMap<Fam, BTreeMap<Vec<String>, Value>>,
    /// Samples refused because their family was full.
    pub dropped: u64,
}

/// One series on the wire.
#[derive(Serialize, Deserialize)]
struct WireSeries {
    family: String,
    labels: Vec<String>,
    value: Value,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    series: Vec<WireSeries>,
    #[serde(default)]
    dropped: u64,
}

impl From<Registry> for Wire {
    fn from(r: Registry) -> Wire {
        let series = r
            .series
            .into_iter()
            .flat_map(|(fam, s)| {
                s.into_iter().map(move |(labels, value)| WireSeries {
                    family: fam.family().name.to_owned(),
                    labels,
                    value,
                })
            })
            .collect();
        Wire {
            series,
            dropped: r.dropped,
        }
    }
}

impl From<Wire> for Registry {
    /// Series of a family this version does not know, or of the wrong shape, are
    /// dropped (and counted).
    fn from(w: Wire) -> Registry {
        let mut r = Registry {
            dropped: w.dropped,
            ..Registry::default()
        };
        for s in w.series {
            let fits = Fam::named(&s.family).filter(|f| {
                let fam = f.family();
                let kind = match &s.value {
                    Value::Counter(_) => Kind::Counter,
                    Value::Gauge(_) => Kind::Gauge,
                    Value::Histogram(h) => {
                        if h.counts.len() != fam.buckets.len() + 1 {
                            return false;
                        }
                        Kind::Histogram
                    }
                };
                fam.kind == kind && fam.labels.len() == s.labels.len()
            });
            match fits {
                Some(f) => {
                    let mine = r.series.entry(f).or_default();
                    if mine.len() < MAX_SERIES_PER_FAMILY {
                        mine.insert(s.labels.iter().map(|l| label(l)).collect(), s.value);
                    } else {
                        r.dropped += 1;
                    }
                }
                None => r.dropped += 1,
            }
        }
        r
    }
}

fn label(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_control())
        .take(MAX_LABEL_CHARS)
        .collect()
}

impl Registry {
    fn slot(&mut self, fam: Fam, labels: &[&str], kind: Kind) -> Result<&mut Value, Refused> {
        let f = fam.family();
        if f.kind != kind {
            return Err(Refused::Kind(f.name, kind));
        }
        if labels.len() != f.labels.len() {
            return Err(Refused::Labels {
                family: f.name,
                want: f.labels.len(),
                got: labels.len(),
            });
        }
        let key: Vec<String> = labels.iter().map(|l| label(l)).collect();
        let series = self.series.entry(fam).or_default();
        if !series.contains_key(&key) && series.len() >= MAX_SERIES_PER_FAMILY {
            self.dropped += 1;
            return Err(Refused::Full(f.name));
        }
        Ok(series.entry(key).or_insert_with(|| match kind {
            Kind::Counter => Value::Counter(0.0),
            Kind::Gauge => Value::Gauge(0.0),
            Kind::Histogram => Value::Histogram(Histogram::new(f.buckets)),
        }))
    }

    /// Adds `by` (not negative) to a counter.
    pub fn add(&mut self, fam: Fam, labels: &[&str], by: f64) -> Result<(), Refused> {
        if let Value::Counter(c) = self.slot(fam, labels, Kind::Counter)?
            && by.is_finite()
            && by > 0.0
        {
            *c += by;
        }
        Ok(())
    }

    /// Adds one to a counter.
    pub fn inc(&mut self, fam: Fam, labels: &[&str]) -> Result<(), Refused> {
        self.add(fam, labels, 1.0)
    }

    /// Sets a gauge.
    pub fn set(&mut self, fam: Fam, labels: &[&str], v: f64) -> Result<(), Refused> {
        if let Value::Gauge(g) = self.slot(fam, labels, Kind::Gauge)? {
            *g = v;
        }
        Ok(())
    }

    /// Records one observation in a histogram.
    pub fn observe(&mut self, fam: Fam, labels: &[&str], v: f64) -> Result<(), Refused> {
        let bounds = fam.family().buckets;
        if !v.is_finite() {
            return Ok(());
        }
        if let Value::Histogram(h) = self.slot(fam, labels, Kind::Histogram)? {
            h.observe(bounds, v);
        }
        Ok(())
    }

    /// How many series it holds.
    pub fn len(&self) -> usize {
        self.series.values().map(BTreeMap::len).sum()
    }

    /// No series (and nothing dropped): nothing to report.
    pub fn is_empty(&self) -> bool {
        self.dropped == 0 && self.series.values().all(BTreeMap::is_empty)
    }

    /// Adds `other`'s series: counters and histograms add up, a gauge takes `other`'s
    /// value (the later report).
    pub fn merge(&mut self, other: &Registry) {
        for (fam, series) in &other.series {
            for (labels, v) in series {
                let mine = self.series.entry(*fam).or_default();
                if !mine.contains_key(labels) && mine.len() >= MAX_SERIES_PER_FAMILY {
                    self.dropped += 1;
                    continue;
                }
                match (mine.get_mut(labels), v) {
                    (Some(Value::Counter(a)), Value::Counter(b)) => *a += b,
                    (Some(Value::Histogram(a)), Value::Histogram(b)) => a.merge(b),
                    (Some(slot), v) => *slot = v.clone(),
                    (None, v) => {
                        mine.insert(labels.clone(), v.clone());
                    }
                }
            }
        }
        self.dropped += other.dropped;
    }

    /// The series of `fam`, by label values.
    pub fn series(&self, fam: Fam) -> impl Iterator<Item = (&[String], &Value)> {
        self.series
            .get(&fam)
            .into_iter()
            .flat_map(|s| s.iter().map(|(k, v)| (k.as_slice(), v)))
    }

    /// Every family with at least one series, in [`FAMILIES`] order.
    pub fn families(&self) -> impl Iterator<Item = Fam> + '_ {
        self.series
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(f, _)| *f)
    }

    /// A counter's total over every series whose labels `pick` accepts.
    pub fn total(&self, fam: Fam, pick: impl Fn(&[String]) -> bool) -> f64 {
        self.series(fam)
            .filter(|(l, _)| pick(l))
            .map(|(_, v)| match v {
                Value::Counter(c) | Value::Gauge(c) => *c,
                Value::Histogram(h) => h.count() as f64,
            })
            .sum()
    }

    /// The merged sketch of a histogram family's series that `pick` accepts.
    pub fn latency(&self, fam: Fam, pick: impl Fn(&[String]) -> bool) -> Latency {
        let mut all = Latency::default();
        for (l, v) in self.series(fam) {
            if let (true, Value::Histogram(h)) = (pick(l), v) {
                all.merge(&h.sketch);
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_or_misshapen_series_from_the_wire_are_dropped() {
        let wire = r#"{"series":[
            {"family":"agency_nope_total","labels":[],"value":{"counter":1}},
            {"family":"agency_probe_up","labels":["a","b"],"value":{"gauge":1}},
            {"family":"agency_probe_up","labels":["router"],"value":{"counter":1}},
            {"family":"agency_probe_up","labels":["router"],"value":{"gauge":1}}]}"#;
        let r: Registry = serde_json::from_str(wire).unwrap();
        assert_eq!(r.dropped, 3);
        assert_eq!(r.total(PROBE_UP, |_| true), 1.0);
    }

    #[test]
    fn family_names_follow_prometheus_rules() {
        for f in FAMILIES {
            assert!(f.name.starts_with("agency_"), "{}", f.name);
            assert!(
                f.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                f.name
            );
            assert_eq!(
                f.kind == Kind::Counter,
                f.name.ends_with("_total"),
                "{}",
                f.name
            );
            assert!(!f.help.is_empty());
            assert_eq!(
                f.kind == Kind::Histogram,
                !f.buckets.is_empty(),
                "{}",
                f.name
            );
            assert!(f.buckets.windows(2).all(|w| w[0] < w[1]), "{}", f.name);
            for l in f.labels {
                assert!(!["message", "text", "user", "task", "task_id"].contains(l));
            }
        }
        assert_eq!(Fam::named("agency_probe_up"), Some(PROBE_UP));
    }

    #[test]
    fn samples_of_the_wrong_shape_are_refused() {
        let mut r = Registry::default();
        assert!(matches!(
            r.inc(HTTP_REQUESTS, &["router"]),
            Err(Refused::Labels {
                want: 4,
                got: 1,
                ..
            })
        ));
        assert!(matches!(
            r.set(HTTP_REQUESTS, &["a", "b", "c", "d"], 1.0),
            Err(Refused::Kind(..))
        ));
        for i in 0..MAX_SERIES_PER_FAMILY {
            r.inc(ROUTE_FEEDBACK, &[&i.to_string()]).unwrap();
        }
        assert!(matches!(
            r.inc(ROUTE_FEEDBACK, &["one more"]),
            Err(Refused::Full(_))
        ));
        assert_eq!(r.dropped, 1);
        r.inc(ROUTE_FEEDBACK, &["7"]).unwrap();
    }

    #[test]
    fn registries_merge_counters_histograms_and_gauges() {
        let mut a = Registry::default();
        let mut b = Registry::default();
        a.inc(ROUTE_DECISIONS, &["devops", "keywords"]).unwrap();
        b.add(ROUTE_DECISIONS, &["devops", "keywords"], 2.0)
            .unwrap();
        b.inc(ROUTE_DECISIONS, &["pm", "keywords"]).unwrap();
        a.observe(HTTP_DURATION, &["router", "/api/route"], 0.002)
            .unwrap();
        b.observe(HTTP_DURATION, &["router", "/api/route"], 0.2)
            .unwrap();
        a.set(PROBE_UP, &["router"], 1.0).unwrap();
        b.set(PROBE_UP, &["router"], 0.0).unwrap();
        // Through the wire, as parts ship their registries.
        let b: Registry = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        a.merge(&b);
        assert_eq!(a.total(ROUTE_DECISIONS, |l| l[0] == "devops"), 3.0);
        assert_eq!(a.total(ROUTE_DECISIONS, |_| true), 4.0);
        assert_eq!(a.latency(HTTP_DURATION, |_| true).count(), 2);
        assert_eq!(a.total(PROBE_UP, |_| true), 0.0);
    }
}
