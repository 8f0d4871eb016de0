//! Approval benchmarks: `decide` over a 100-rule policy, natively and through the wasm
//! component, against the cedar-policy crate evaluating an equivalent policy set in the
//! same run. Run: `cargo bench -p agency-bench --bench approval`.
//!
//! Equivalence: each of our rules becomes one Cedar policy on the same principal
//! (agent), action and context attribute (environment); `approve` -> `permit`, `deny` ->
//! `forbid`, `ask` -> `permit` annotated `@effect("ask")` (the caller reads the
//! determining policies to tell an ask from an approve). Our `decide` does more work
//! than Cedar's evaluation: it also checks halts and budgets.

use std::hint::black_box;
use std::str::FromStr;

use agency::runtime::{ComponentRuntime, RuntimeOptions};
use agency_approval::{ApprovalRequest, HaltState, LedgerSnapshot, Micros, Policy, decide};
use cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicySet, Request};
use criterion::{Criterion, criterion_group, criterion_main};

const RULES: usize = 100;
const ENVS: [&str; 3] = ["production", "staging", "preview"];
const EFFECTS: [&str; 3] = ["approve", "ask", "deny"];

fn rule_parts(i: usize) -> (String, String, &'static str, &'static str) {
    (
        format!("agent{}", i % 10),
        format!("act{}", i % 25),
        ENVS[i % 3],
        EFFECTS[i % 3],
    )
}

fn our_policy() -> String {
    let mut s = String::from("[budget]\ndaily_usd = 1000.0\nmonthly_usd = 10000.0\n\n");
    for i in 0..RULES {
        let (agent, action, env, effect) = rule_parts(i);
        s.push_str(&format!(
            "[[rule]]\nname = \"rule-{i}\"\nwhen = {{ agent = [\"{agent}\"], action = [\"{action}\"], environment = [\"{env}\"] }}\neffect = \"{effect}\"\n\n"
        ));
    }
    s
}

fn cedar_policy() -> String {
    let mut s = String::new();
    for i in 0..RULES {
        let (agent, action, env, effect) = rule_parts(i);
        let (kind, note) = match effect {
            "deny" => ("forbid", "deny"),
            "ask" => ("permit", "ask"),
            _ => ("permit", "approve"),
        };
        s.push_str(&format!(
            "@id(\"rule-{i}\")\n@effect(\"{note}\")\n{kind}(principal == Agent::\"{agent}\", action == Action::\"{action}\", resource)\nwhen {{ context.environment == \"{env}\" }};\n\n"
        ));
    }
    s
}

fn requests() -> Vec<(ApprovalRequest, Request)> {
    (0..64)
        .map(|i| {
            // Mostly matching requests (each matches one rule), some matching none.
            let (agent, action, env, _) = rule_parts(i * 7 % RULES);
            let env = if i % 5 == 0 { "nowhere" } else { env };
            let ours = ApprovalRequest {
                task_id: format!("t{i}"),
                agent: agent.clone(),
                action: action.clone(),
                description: String::new(),
                estimated_cost: Micros::from_usd(1.0).expect("cost"),
                channel: None,
                environment: Some(env.to_owned()),
                risk: None,
                tags: vec![],
            };
            let context = Context::from_json_value(
                serde_json::json!({ "environment": env, "cost": 1_000_000 }),
                None,
            )
            .expect("context");
            let cedar = Request::new(
                EntityUid::from_str(&format!("Agent::\"{agent}\"")).expect("principal"),
                EntityUid::from_str(&format!("Action::\"{action}\"")).expect("action"),
                EntityUid::from_str(&format!("Task::\"t{i}\"")).expect("resource"),
                context,
                None,
            )
            .expect("request");
            (ours, cedar)
        })
        .collect()
}

fn approval(c: &mut Criterion) {
    let text = our_policy();
    let policy = Policy::parse(&text, "bench.toml").expect("policy");
    let cedar: PolicySet = cedar_policy().parse().expect("cedar policy");
    let entities = Entities::empty();
    let authorizer = Authorizer::new();
    let reqs = requests();
    let ledger = LedgerSnapshot::default();
    let halt = HaltState::default();
    let now = 1_795_000_000_000;
    let runtime = ComponentRuntime::new(RuntimeOptions {
        cache_dir: None,
        ..RuntimeOptions::default()
    })
    .expect("runtime");
    let mut instance = runtime
        .instantiate_policy(&text, "bench.toml")
        .expect("instance");

    let mut group = c.benchmark_group("decide/100-rules");
    let mut i = 0;
    group.bench_function("native", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            black_box(decide(&reqs[i].0, &ledger, &halt, &policy, now))
        })
    });
    let mut i = 0;
    group.bench_function("component", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            black_box(
                instance
                    .decide(&reqs[i].0, &ledger, &halt, now)
                    .expect("decide"),
            )
        })
    });
    let mut i = 0;
    group.bench_function("cedar", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            black_box(authorizer.is_authorized(&reqs[i].1, &cedar, &entities))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = approval
}
criterion_main!(benches);
