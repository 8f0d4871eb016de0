//! Routing benchmarks: the core natively, the same core through the wasm component
//! (single and batch), and two baselines, on three graphs with 200-byte messages; plus
//! component instantiation and index build. Run: `cargo bench -p agency-bench`.

use std::hint::black_box;
use std::path::Path;

use agency::runtime::{ComponentRuntime, RouterInstance, RuntimeOptions};
use agency_bench::{messages, synthetic_graph};
use agency_router::{RouteRequest, RouterIndex};
use agency_skill_graph::SkillGraph;
use agency_skill_graph::learn::{LabelledMessage, LearnOptions, learn};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};

/// The graph `skills learn` writes for CLINC150's train: one skill per intent, or with
/// `per_intent: false` one per agent (the README's earlier row).
fn clinc_graph(per_intent: bool) -> Option<SkillGraph> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/clinc150/train.jsonl");
    let text = std::fs::read_to_string(path).ok()?;
    let examples: Vec<LabelledMessage> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let options = LearnOptions {
        per_intent,
        ..LearnOptions::default()
    };
    let mut g = learn(&examples, &options).ok()?;
    g.version = Some(g.digest());
    Some(g)
}

fn graphs() -> Vec<(&'static str, SkillGraph)> {
    let mut v = vec![
        ("example", agency::example::graph().expect("example graph")),
        ("synthetic-500x5", synthetic_graph(500, 5)),
    ];
    if let Some(g) = clinc_graph(true) {
        v.push(("clinc", g));
    }
    if let Some(g) = clinc_graph(false) {
        v.push(("clinc-per-agent", g));
    }
    v
}

/// The component runtime the benchmarks share (no compilation cache on disk).
fn runtime() -> ComponentRuntime {
    ComponentRuntime::new(RuntimeOptions {
        cache_dir: None,
        ..RuntimeOptions::default()
    })
    .expect("runtime")
}

/// `native` and `component` in `group`: one call per message, cycling over `requests`.
fn single_calls(
    group: &mut BenchmarkGroup<'_, WallTime>,
    index: &RouterIndex,
    instance: &mut RouterInstance,
    requests: &[RouteRequest],
) {
    let mut i = 0;
    group.bench_function("native", |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(index.route(&requests[i]))
        })
    });
    let mut i = 0;
    group.bench_function("component", |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(instance.route(&requests[i]).expect("route"))
        })
    });
}

/// The obvious implementation: lower-case the message, `contains` every keyword.
fn naive_route(keywords: &[(String, usize)], scores: &mut [f64], message: &str) -> usize {
    let lower = message.to_lowercase();
    scores.iter_mut().for_each(|s| *s = 0.0);
    for (k, agent) in keywords {
        if lower.contains(k.as_str()) {
            scores[*agent] += 1.0;
        }
    }
    scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap_or(0)
}

fn routing(c: &mut Criterion) {
    let runtime = runtime();
    for (name, graph) in graphs() {
        let msgs = messages(&graph, 256, 200);
        let requests: Vec<RouteRequest> =
            msgs.iter().map(|m| RouteRequest::new(m.clone())).collect();
        let index = RouterIndex::build(&graph).expect("index");
        let mut instance = runtime
            .instantiate_router(&graph.to_json())
            .expect("instance");
        let mut group = c.benchmark_group(format!("route/{name}"));
        group.throughput(Throughput::Elements(1));

        single_calls(&mut group, &index, &mut instance, &requests);

        let keywords: Vec<(String, usize)> = graph
            .skills
            .iter()
            .flat_map(|s| {
                let agent = graph
                    .agents
                    .iter()
                    .position(|a| Some(&a.id) == s.agent.as_ref())
                    .unwrap_or(0);
                s.keywords
                    .iter()
                    .map(move |k| (k.phrase.to_lowercase(), agent))
            })
            .collect();
        let mut scores = vec![0.0; graph.agents.len()];
        let mut i = 0;
        group.bench_function("naive-contains", |b| {
            b.iter(|| {
                i = (i + 1) % msgs.len();
                black_box(naive_route(&keywords, &mut scores, &msgs[i]))
            })
        });
        if keywords.len() <= 5000 {
            let patterns: Vec<String> = keywords
                .iter()
                .map(|(k, _)| format!(r"(?i)\b{}\b", regex::escape(k)))
                .collect();
            if let Ok(set) = regex::RegexSetBuilder::new(&patterns)
                .size_limit(1 << 30)
                .dfa_size_limit(1 << 30)
                .build()
            {
                let mut i = 0;
                group.bench_function("regex-set", |b| {
                    b.iter(|| {
                        i = (i + 1) % msgs.len();
                        black_box(set.matches(&msgs[i]).iter().count())
                    })
                });
            }
        }
        // Where the time goes: normalising the message, and the automaton scan alone.
        let phrases: Vec<String> = keywords
            .iter()
            .map(|(k, _)| agency_skill_graph::text::canonicalize(k))
            .collect();
        let ac = aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&phrases)
            .expect("automaton");
        let canon: Vec<Vec<u8>> = msgs
            .iter()
            .map(|m| {
                let mut b = Vec::new();
                agency_skill_graph::text::canonicalize_bytes_into(m, &mut b);
                b
            })
            .collect();
        let (mut buf, mut starts) = (Vec::new(), Vec::new());
        let mut i = 0;
        group.bench_function("part-canonicalize", |b| {
            b.iter(|| {
                i = (i + 1) % msgs.len();
                agency_skill_graph::text::word_spans_into(&msgs[i], &mut buf, &mut starts);
                black_box(buf.len())
            })
        });
        let ac_noprefilter = aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .prefilter(false)
            .build(&phrases)
            .expect("automaton");
        let ac_noclasses = aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .prefilter(false)
            .byte_classes(false)
            .build(&phrases)
            .expect("automaton");
        let mut i = 0;
        group.bench_function("part-scan-dfa-noprefilter", |b| {
            b.iter(|| {
                i = (i + 1) % canon.len();
                black_box(ac_noprefilter.find_overlapping_iter(&canon[i]).count())
            })
        });
        let mut i = 0;
        group.bench_function("part-scan-dfa-noclasses", |b| {
            b.iter(|| {
                i = (i + 1) % canon.len();
                black_box(ac_noclasses.find_overlapping_iter(&canon[i]).count())
            })
        });
        let mut i = 0;
        group.bench_function("part-scan-dfa", |b| {
            b.iter(|| {
                i = (i + 1) % canon.len();
                black_box(ac.find_overlapping_iter(&canon[i]).count())
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("route-batch/{name}"));
        let batch = &requests[..100];
        group.throughput(Throughput::Elements(batch.len() as u64));
        group.bench_function("native", |b| b.iter(|| black_box(index.route_batch(batch))));
        group.bench_function("component", |b| {
            b.iter(|| black_box(instance.route_batch(batch).expect("batch")))
        });
        group.finish();
    }
}

/// CLINC150's validation messages (real user text, neither graph's keywords), joined
/// in order into messages of at least `len` bytes: the same text for both graphs.
fn clinc_text(len: usize) -> Option<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/clinc150/val.jsonl");
    let text = std::fs::read_to_string(path).ok()?;
    let mut out = Vec::new();
    let mut m = String::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        if !m.is_empty() {
            m.push_str(". ");
        }
        m.push_str(v["text"].as_str()?);
        if m.len() >= len {
            out.push(std::mem::take(&mut m));
        }
    }
    Some(out)
}

/// The per-intent and the per-agent CLINC graphs on the same messages, so that their
/// ratio is per message and not per workload (`route/clinc*` each draw messages from
/// their own graph's keywords, and the per-intent graph has more of them).
fn same_text(c: &mut Criterion) {
    let (Some(text), Some(per_intent), Some(per_agent)) =
        (clinc_text(200), clinc_graph(true), clinc_graph(false))
    else {
        return;
    };
    let runtime = runtime();
    let requests: Vec<RouteRequest> = text.iter().map(|m| RouteRequest::new(m.clone())).collect();
    let batch = &requests[..100];
    for (name, graph) in [("per-intent", per_intent), ("per-agent", per_agent)] {
        let index = RouterIndex::build(&graph).expect("index");
        let mut instance = runtime
            .instantiate_router(&graph.to_json())
            .expect("instance");
        let mut group = c.benchmark_group(format!("route-text/{name}"));
        group.throughput(Throughput::Elements(1));
        single_calls(&mut group, &index, &mut instance, &requests);
        group.throughput(Throughput::Elements(batch.len() as u64));
        group.bench_function("native-batch", |b| {
            b.iter(|| black_box(index.route_batch(batch)))
        });
        group.bench_function("component-batch", |b| {
            b.iter(|| black_box(instance.route_batch(batch).expect("batch")))
        });
        group.finish();
    }
}

fn setup(c: &mut Criterion) {
    let runtime = runtime();
    c.bench_function("instantiate/component", |b| {
        b.iter(|| runtime.instantiate_empty().expect("instantiate"))
    });
    // The fixed cost of one call: an empty message has no routing work.
    let example = agency::example::graph().expect("example graph");
    let index = RouterIndex::build(&example).expect("index");
    let mut instance = runtime
        .instantiate_router(&example.to_json())
        .expect("instance");
    let empty = RouteRequest::new("");
    c.bench_function("empty-message/native", |b| {
        b.iter(|| black_box(index.route(&empty)))
    });
    c.bench_function("empty-message/component", |b| {
        b.iter(|| black_box(instance.route(&empty).expect("route")))
    });
    let empties = vec![empty.clone(); 100];
    c.bench_function("empty-message/native-batch", |b| {
        b.iter(|| black_box(index.route_batch(&empties)))
    });
    c.bench_function("empty-message/component-batch", |b| {
        b.iter(|| black_box(instance.route_batch(&empties).expect("route")))
    });
    let big = synthetic_graph(2000, 5);
    c.bench_function("index-build/10000-keywords", |b| {
        b.iter(|| black_box(RouterIndex::build(&big).expect("build")))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = routing, same_text, setup
}
criterion_main!(benches);
