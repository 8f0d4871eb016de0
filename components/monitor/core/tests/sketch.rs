//! The sketch's promise, checked on random data of several shapes: every quantile is
//! within 1% of an exact quantile, and merging sketches is sketching the union.
#![allow(clippy::unwrap_used)]

use agency_monitor::Latency;
use agency_monitor::sketch::RELATIVE_ACCURACY;

/// xorshift64*: deterministic data without a rand dependency.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn shapes() -> Vec<(&'static str, Vec<f64>)> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let n = 50_000;
    vec![
        ("uniform", (0..n).map(|_| 0.001 + r.unit() * 0.5).collect()),
        (
            "exponential",
            (0..n).map(|_| -0.02 * r.unit().ln()).collect(),
        ),
        (
            "lognormal",
            (0..n).map(|_| (-5.0 + 1.5 * r.normal()).exp()).collect(),
        ),
        (
            "bimodal",
            (0..n)
                .map(|i| {
                    if i % 10 == 0 {
                        1.0 + r.unit()
                    } else {
                        0.0005 + r.unit() * 0.001
                    }
                })
                .collect(),
        ),
        (
            "pareto",
            (0..n).map(|_| 0.001 * r.unit().powf(-1.0 / 1.2)).collect(),
        ),
    ]
}

/// The value of rank `q` (the lower one, as DDSketch ranks).
fn exact(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * (sorted.len() - 1) as f64).floor() as usize;
    sorted[rank]
}

#[test]
fn quantiles_are_within_one_percent_of_the_exact_ones() {
    for (shape, data) in shapes() {
        let mut s = Latency::default();
        for v in &data {
            s.record(*v);
        }
        let mut sorted = data.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let want = exact(&sorted, q);
            let got = s.quantile(q).unwrap();
            let err = (got - want).abs() / want;
            assert!(
                err <= RELATIVE_ACCURACY + 1e-9,
                "{shape} q={q}: sketch {got}, exact {want}, relative error {err}"
            );
        }
        assert_eq!(s.count(), data.len() as u64);
    }
}

#[test]
fn merging_sketches_is_sketching_the_union() {
    for (shape, data) in shapes() {
        let mut whole = Latency::default();
        let mut parts = vec![Latency::default(); 4];
        for (i, v) in data.iter().enumerate() {
            whole.record(*v);
            parts[i % 4].record(*v);
        }
        let mut merged = Latency::default();
        for p in &parts {
            merged.merge(p);
        }
        assert_eq!(merged.count(), whole.count(), "{shape}");
        for q in [0.01, 0.5, 0.9, 0.99, 0.999] {
            assert_eq!(merged.quantile(q), whole.quantile(q), "{shape} q={q}");
        }
        assert!(
            (merged.sum() - whole.sum()).abs() <= 1e-9 * whole.sum().abs(),
            "{shape}"
        );
    }
}

#[test]
fn a_sketch_survives_the_wire() {
    let mut s = Latency::default();
    for i in 1..1000 {
        s.record(f64::from(i) * 0.001);
    }
    let back: Latency = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back.quantile(0.99), s.quantile(0.99));
    s.record(-1.0);
    s.record(f64::NAN);
    assert_eq!(s.count(), 999, "negative and NaN durations are ignored");
}
