//! Monitoring benchmarks, natively and through the monitor component under wasmtime:
//! recording a sample in a latency sketch, merging two full (2,048-bin) sketches, and
//! rendering the Prometheus exposition of 1,000 series.
//! Run: `cargo bench -p agency-bench --bench monitor`.

use std::hint::black_box;

use agency_monitor::metrics::{HTTP_DURATION, HTTP_REQUESTS, ROUTE_DECISIONS, Registry};
use agency_monitor::{Latency, prom};
use criterion::{Criterion, criterion_group, criterion_main};

/// 200,000 values spread over 1e-9 .. 1e9: 18 decades, about 2,070 bins at 1%
/// accuracy, so a sketch of them is full (2,048 bins).
fn spread(seed: u64) -> impl Iterator<Item = f64> {
    let mut x = seed;
    (0..200_000).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        10f64.powf((x % 18_000) as f64 / 1000.0 - 9.0)
    })
}

/// A full sketch.
fn full_sketch(seed: u64) -> Latency {
    let mut s = Latency::default();
    spread(seed).for_each(|v| s.record(v));
    s
}

fn monitor_benches(c: &mut Criterion) {
    let mut s = Latency::default();
    let mut v = 0.0004f64;
    c.bench_function("monitor/record", |b| {
        b.iter(|| {
            v = if v > 2.0 { 0.0004 } else { v * 1.01 };
            s.record(black_box(v));
        })
    });
    let a = full_sketch(1);
    let other = full_sketch(2);
    c.bench_function("monitor/merge_2048_bins", |b| {
        b.iter_batched_ref(
            || a.clone(),
            |m| m.merge(black_box(&other)),
            criterion::BatchSize::SmallInput,
        )
    });
    // 1,000 series: 700 counters, 250 decisions, 50 histograms (17 buckets each).
    let mut r = Registry::default();
    for i in 0..700 {
        let route = format!("/api/r{}", i / 12);
        let class = ["2xx", "4xx", "5xx"][i % 3];
        let method = ["GET", "POST", "PUT", "DELETE"][i % 4];
        let _ = r.add(HTTP_REQUESTS, &["svc", &route, method, class], i as f64);
    }
    for i in 0..250 {
        let _ = r.inc(ROUTE_DECISIONS, &[&format!("agent{i}"), "keywords"]);
    }
    for i in 0..50 {
        for v in [0.0003, 0.002, 0.04, 0.9] {
            let _ = r.observe(HTTP_DURATION, &["svc", &format!("/api/h{i}")], v);
        }
    }
    c.bench_function("monitor/exposition_1000_series", |b| {
        b.iter(|| prom::render(black_box(&r)))
    });
}

/// The same three through the component (each call crosses the boundary).
fn component_benches(c: &mut Criterion) {
    use agency::runtime::{ComponentRuntime, RuntimeOptions};
    use agency_monitor::Kind;
    let rt = ComponentRuntime::new(RuntimeOptions::default()).expect("the wasmtime runtime");
    let mut m = rt.instantiate_monitor().expect("a monitor instance");
    let s = m.sketch().expect("a sketch");
    let mut v = 0.0004f64;
    c.bench_function("monitor/component/record", |b| {
        b.iter(|| {
            v = if v > 2.0 { 0.0004 } else { v * 1.01 };
            m.record(s, black_box(v)).expect("record");
        })
    });
    let fill = |m: &mut agency::runtime::MonitorInstance, seed: u64| {
        let h = m.sketch().expect("a sketch");
        spread(seed).for_each(|v| m.record(h, v).expect("record"));
        h
    };
    let a = fill(&mut m, 1);
    let other = fill(&mut m, 2);
    c.bench_function("monitor/component/merge_2048_bins", |b| {
        b.iter(|| m.merge_sketch(a, other).expect("merge"))
    });
    let reg = m.registry().expect("a registry");
    let sample =
        |m: &mut agency::runtime::MonitorInstance, kind, family: &str, labels: &[&str], v| {
            let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
            let _ = m.sample(reg, kind, family, &labels, v).expect("sample");
        };
    for i in 0..700 {
        let route = format!("/api/r{}", i / 12);
        let class = ["2xx", "4xx", "5xx"][i % 3];
        let method = ["GET", "POST", "PUT", "DELETE"][i % 4];
        sample(
            &mut m,
            Kind::Counter,
            "agency_http_requests_total",
            &["svc", &route, method, class],
            i as f64,
        );
    }
    for i in 0..250 {
        sample(
            &mut m,
            Kind::Counter,
            "agency_route_decisions_total",
            &[&format!("agent{i}"), "keywords"],
            1.0,
        );
    }
    for i in 0..50 {
        for v in [0.0003, 0.002, 0.04, 0.9] {
            sample(
                &mut m,
                Kind::Histogram,
                "agency_http_request_duration_seconds",
                &["svc", &format!("/api/h{i}")],
                v,
            );
        }
    }
    c.bench_function("monitor/component/exposition_1000_series", |b| {
        b.iter(|| m.exposition(reg).expect("exposition"))
    });
}

criterion_group!(benches, monitor_benches, component_benches);
criterion_main!(benches);
