//! Table-driven decisions over the issue's minimal policy, extended.

use crate::halt::Work;
use crate::*;

/// The minimal policy of the issue, exactly as written.
const MINIMAL: &str = include_str!("../../../../../examples/policy/minimal.toml");

const EXTENDED: &str = r#"
[budget]
daily_usd = 50.0
[budget.channels.slack]
monthly_usd = 30.0

[defaults]
expires_in = "2h"

[[rule]]
name = "deploys"
when = { action = ["deploy"] }
effect = "approve"

[[rule]]
name = "risky deploys"
when = { action = ["deploy"], risk = ["high"] }
effect = "ask"
expires_in = "30m"

[[rule]]
name = "no payments from codegen"
when = { agent = ["codegen"], action = ["payment", "deploy"], tags = ["money", "prod"] }
effect = "deny"
"#;

const NOW: i64 = 1_795_000_000_000; // 2026-11-18

fn req(agent: &str, action: &str, cost: f64) -> ApprovalRequest {
    ApprovalRequest {
        task_id: "t1".into(),
        agent: agent.into(),
        action: action.into(),
        description: String::new(),
        estimated_cost: Micros::from_usd(cost).unwrap(),
        channel: None,
        environment: None,
        risk: None,
        tags: vec![],
    }
}

fn policy(text: &str) -> Policy {
    Policy::parse(text, "policy.toml").unwrap()
}

#[test]
fn minimal_policy_works_as_written() {
    let p = policy(MINIMAL);
    let none = LedgerSnapshot::default();
    let halt = HaltState::default();
    let d = decide(&req("research", "read", 1.0), &none, &halt, &p, NOW);
    assert_eq!(
        (d.outcome, d.rule.as_deref()),
        (Outcome::Approved, Some("reads are free to go"))
    );
    assert_eq!(d.change.reserve.len(), 2, "global daily and monthly");

    let mut deploy = req("devops", "deploy", 5.0);
    deploy.environment = Some("production".into());
    let d = decide(&deploy, &none, &halt, &p, NOW);
    assert_eq!(d.outcome, Outcome::Pending);
    assert_eq!(
        d.expires_at_ms,
        Some(NOW + 3_600_000),
        "asks expire after 1 h by default"
    );
    assert!(
        d.change.reserve.is_empty(),
        "asks reserve nothing until approved"
    );

    deploy.environment = Some("staging".into());
    let d = decide(&deploy, &none, &halt, &p, NOW);
    assert_eq!(
        (d.outcome, d.reason_code.as_str()),
        (Outcome::Pending, "default"),
        "unknown action -> ask"
    );
}

#[test]
fn budgets_deny_naming_the_scope() {
    let p = policy(MINIMAL);
    let halt = HaltState::default();
    let mut ledger = LedgerSnapshot::default();
    ledger.used.insert(
        ledger_key("agent:codegen", "2026-11-18"),
        Micros::from_usd(15.0).unwrap(),
    );
    let d = decide(&req("codegen", "read", 6.0), &ledger, &halt, &p, NOW);
    assert_eq!(
        (d.outcome, d.reason_code.as_str()),
        (Outcome::Denied, "budget")
    );
    assert_eq!(
        d.budget.unwrap(),
        BudgetStatus {
            scope: "agent:codegen daily".into(),
            remaining: Micros::from_usd(5.0).unwrap()
        }
    );
    let d = decide(&req("codegen", "read", 5.0), &ledger, &halt, &p, NOW);
    assert_eq!(
        d.outcome,
        Outcome::Approved,
        "exactly reaching the limit is allowed"
    );
    assert_eq!(d.budget.unwrap().remaining, Micros::ZERO);
    let d = decide(
        &req("research", "read", 50.01),
        &LedgerSnapshot::default(),
        &halt,
        &p,
        NOW,
    );
    assert_eq!(d.budget.unwrap().scope, "global daily");
}

#[test]
fn deny_beats_ask_beats_approve() {
    let p = policy(EXTENDED);
    let halt = HaltState::default();
    let none = LedgerSnapshot::default();
    let mut r = req("devops", "deploy", 1.0);
    assert_eq!(decide(&r, &none, &halt, &p, NOW).outcome, Outcome::Approved);
    r.risk = Some("high".into());
    let d = decide(&r, &none, &halt, &p, NOW);
    assert_eq!(
        (d.outcome, d.rule.as_deref()),
        (Outcome::Pending, Some("risky deploys"))
    );
    assert_eq!(d.expires_at_ms, Some(NOW + 1_800_000));
    r.agent = "codegen".into();
    r.tags = vec!["prod".into()];
    let d = decide(&r, &none, &halt, &p, NOW);
    assert_eq!(
        (d.outcome, d.rule.as_deref()),
        (Outcome::Denied, Some("no payments from codegen"))
    );
}

#[test]
fn halts_deny_first() {
    let p = policy(MINIMAL);
    let none = LedgerSnapshot::default();
    for halt in [
        HaltState {
            all: true,
            ..HaltState::default()
        },
        HaltState {
            agents: ["research".to_owned()].into(),
            ..HaltState::default()
        },
        HaltState {
            tasks: ["t1".to_owned()].into(),
            ..HaltState::default()
        },
    ] {
        let d = decide(&req("research", "read", 1.0), &none, &halt, &p, NOW);
        assert_eq!(
            (d.outcome, d.reason_code.as_str()),
            (Outcome::Denied, "halted")
        );
    }
}

#[test]
fn channel_budgets_apply() {
    let p = policy(EXTENDED);
    let mut r = req("devops", "deploy", 31.0);
    r.channel = Some("slack".into());
    let d = decide(
        &r,
        &LedgerSnapshot::default(),
        &HaltState::default(),
        &p,
        NOW,
    );
    assert_eq!(d.budget.unwrap().scope, "channel:slack monthly");
}

#[test]
fn explain_says_why() {
    let p = policy(EXTENDED);
    let mut r = req("codegen", "deploy", 1.0);
    r.tags = vec!["money".into()];
    let t = explain(&r, &p);
    assert_eq!(t.len(), 3);
    assert!(t[0].matched && t[0].why.contains("action is deploy"));
    assert!(!t[1].matched && t[1].why.contains("no risk given"));
    assert!(t[2].matched && t[2].why.contains("tagged money"));
}

/// A human's answer: approving reserves what fits, a budget overrun denies naming the
/// scope, denying reserves nothing; and the per-scope checks joined equal the whole.
#[test]
fn human_answers_and_per_scope_checks() {
    let p = policy(MINIMAL);
    let r = req("codegen", "deploy", 15.0);
    let mut used = LedgerSnapshot::default();
    let fits = budget_check(&r, &p, &used, NOW);
    let per_scope = join_checks(budget_scopes(&r, &p).into_iter().map(|(scope, limits)| {
        (
            check_scope(
                &scope,
                limits,
                r.estimated_cost,
                |k| used.used.get(k).copied().unwrap_or(Micros::ZERO),
                NOW,
            ),
            p.budget.exhausted_of(limits),
        )
    }));
    assert_eq!(fits, per_scope);
    let d = human_decision(&r, "ana", Answer::Approve(fits));
    assert_eq!(
        (d.outcome, d.reason_code.as_str()),
        (Outcome::Approved, "human")
    );
    assert_eq!(d.reason, "approved by ana");
    assert_eq!(d.change.reserve.len(), 3); // global daily + monthly, codegen daily
    assert_eq!(d.budget.unwrap().scope, "agent:codegen daily");

    used.used.insert(
        ledger_key("agent:codegen", &day_key(NOW)),
        Micros::from_usd(10.0).unwrap(),
    );
    let d = human_decision(&r, "ana", Answer::Approve(budget_check(&r, &p, &used, NOW)));
    assert_eq!(
        (d.outcome, d.reason_code.as_str()),
        (Outcome::Denied, "budget")
    );
    assert!(
        d.reason
            .contains("agent:codegen daily budget ($10.00 left)"),
        "{}",
        d.reason
    );
    assert!(d.change.reserve.is_empty());

    let d = human_decision(&r, "ana", Answer::Deny);
    assert_eq!(
        (d.outcome, d.reason_code.as_str(), d.reason.as_str()),
        (Outcome::Denied, "human", "denied by ana")
    );
    assert!(d.change.reserve.is_empty() && d.budget.is_none());
}

macro_rules! bad_policy {
    ($($name:ident: $text:expr => $want:expr;)*) => {$(
        #[test]
        fn $name() {
            let errs = Policy::parse($text, "p.toml").unwrap_err();
            let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            assert!(all.iter().any(|e| e.starts_with($want)), "{all:?}");
        }
    )*};
}

bad_policy! {
    syntax: "[budget\ndaily_usd = 1" => "p.toml:1:";
    negative_budget: "[budget]\ndaily_usd = -5.0\n" => "p.toml:2: budget.daily_usd: amount must not be negative";
    bad_effect: "[[rule]]\nname = \"x\"\neffect = \"maybe\"\n" => "p.toml:3: effect must be approve, deny or ask";
    duplicate_rule: "[[rule]]\nname = \"x\"\neffect = \"ask\"\n[[rule]]\nname = \"x\"\neffect = \"ask\"\n" => "p.toml:5: duplicate rule name";
    unknown_field: "[[rule]]\nname = \"x\"\neffect = \"ask\"\nwhen = { acton = [\"read\"] }\n" => "p.toml:4:";
    bad_expiry: "[[rule]]\nname = \"x\"\neffect = \"ask\"\nexpires_in = \"soon\"\n" => "p.toml:4: expires_in must be";
    dead_rule: "[[rule]]\nname = \"x\"\neffect = \"ask\"\nwhen = { cost_at_least_usd = 5.0, cost_at_most_usd = 1.0 }\n" => "p.toml:2: rule \"x\" can never match";
    huge_expiry: "[[rule]]\nname = \"x\"\neffect = \"ask\"\nexpires_in = 9223372036854775807\n" => "p.toml:4: expires_in must be";
}

/// Names compare without case and surrounding space: a request cannot slip past a rule,
/// a per-agent budget or a halt by spelling its agent or environment differently.
#[test]
fn spelling_does_not_dodge_rules_budgets_or_halts() {
    let p = policy(
        r#"
[budget.agents.CodeGen]
daily_usd = 10.0

[[rule]]
name = "no deletes in production"
when = { action = ["Delete"], environment = ["Production"] }
effect = "deny"

[[rule]]
name = "reads"
when = { action = ["read"] }
effect = "approve"
"#,
    );
    let body = |agent: &str, action: &str, env: &str, cost: f64| {
        serde_json::from_value::<contract::ApprovalBody>(serde_json::json!({
            "taskId": " t1 ", "agent": agent, "action": action, "environment": env,
            "estimatedCostUsd": cost,
        }))
        .unwrap()
        .into_request()
        .unwrap()
    };
    let none = LedgerSnapshot::default();
    let free = HaltState::default();
    let r = body("Codegen ", " DELETE", "production", 1.0);
    assert_eq!((r.agent.as_str(), r.action.as_str()), ("codegen", "delete"));
    assert_eq!(r.task_id, "t1");
    assert_eq!(
        decide(&r, &none, &free, &p, NOW).reason_code.as_str(),
        "rule"
    );
    // Over the CodeGen budget whatever the spelling.
    let d = decide(&body("CODEGEN", "read", "dev", 11.0), &none, &free, &p, NOW);
    assert_eq!(
        (d.outcome, d.reason_code.as_str()),
        (Outcome::Denied, "budget")
    );
    // A halt of "CodeGen" (folded as the API and chat fold it) stops "codegen".
    let halted = HaltState {
        agents: [contract::canonical_name("target", "CodeGen").unwrap()].into(),
        ..HaltState::default()
    };
    let d = decide(
        &body("codegen", "read", "dev", 1.0),
        &none,
        &halted,
        &p,
        NOW,
    );
    assert_eq!(d.reason_code.as_str(), "halted");
    // Control characters and over-long names are refused.
    for bad in ["dev\u{0}ops", "", "   "] {
        assert!(contract::canonical_name("agent", bad).is_err(), "{bad:?}");
    }
    assert!(contract::canonical_name("agent", &"a".repeat(129)).is_err());
}

/// Halts outrank rules, a deny rule included, when the halts are applied after the
/// rules (as the edge does: it reads its halts only when a rule denies): the answer is
/// `halted`, with the halt's why, and the same as `verdict`'s, which sees both at once.
#[test]
fn a_halt_beats_a_deny_rule_when_applied_after_the_rules() {
    let p = policy(EXTENDED);
    let mut r = req("codegen", "payment", 1.0);
    r.tags = vec!["money".into()];
    let by_rule = rule_verdict(&r, &p);
    let Ruling::Decided(d) = &by_rule else {
        panic!("a deny rule decides: {by_rule:?}")
    };
    assert_eq!(
        (d.reason_code.as_str(), d.rule.as_deref()),
        ("rule", Some("no payments from codegen"))
    );
    let free = HaltState::default();
    let agent = HaltState {
        agents: ["codegen".to_owned()].into(),
        ..HaltState::default()
    };
    let task = HaltState {
        tasks: ["t1".to_owned()].into(),
        ..HaltState::default()
    };
    let all = HaltState {
        all: true,
        ..agent.clone()
    };
    // No halt: the rule's denial stands.
    assert_eq!(apply_halts(&r, by_rule.clone(), &free), by_rule);
    for (halt, why) in [
        (&agent, "agent codegen is halted"),
        (&task, "task t1 is halted"),
        (&all, "all agents are halted"),
    ] {
        let ruling = apply_halts(&r, by_rule.clone(), halt);
        assert_eq!(ruling, Ruling::Decided(halted(why.to_owned())));
        assert_eq!(ruling, verdict(&r, halt, &p));
    }
    // An approval or ask the rules allow is halted too.
    let deploy = req("codegen", "deploy", 1.0);
    assert!(matches!(rule_verdict(&deploy, &p), Ruling::NeedsBudget(_)));
    assert_eq!(
        apply_halts(&deploy, rule_verdict(&deploy, &p), &agent),
        Ruling::Decided(halted("agent codegen is halted".into()))
    );
    assert_eq!(
        apply_halts(&deploy, rule_verdict(&deploy, &p), &free),
        verdict(&deploy, &free, &p)
    );
}

/// What the edge's ledger object asks with only an agent and a task: the same why as
/// for a whole request.
#[test]
fn halt_reasons_by_agent_and_task() {
    let halt = HaltState {
        agents: ["codegen".to_owned()].into(),
        channels: ["ops".to_owned()].into(),
        tasks: ["t9".to_owned()].into(),
        ..HaltState::default()
    };
    let work = |agent, channel, task| Work {
        agent: Some(agent),
        channel,
        task: Some(task),
    };
    assert_eq!(
        halt.reason(&work("codegen", None, "t1")).as_deref(),
        Some("agent codegen is halted")
    );
    assert_eq!(
        halt.reason(&work("devops", None, "t9")).as_deref(),
        Some("task t9 is halted")
    );
    assert_eq!(
        halt.reason(&work("devops", Some("ops"), "t1")).as_deref(),
        Some("channel ops is halted")
    );
    assert_eq!(halt.reason(&work("devops", Some("dev"), "t1")), None);
    let mut r = req("codegen", "read", 1.0);
    assert_eq!(
        halt_reason(&r, &halt),
        halt.reason(&work("codegen", None, "t1"))
    );
    r.agent = "devops".into();
    r.channel = Some("ops".into());
    assert_eq!(
        halt_reason(&r, &halt).as_deref(),
        Some("channel ops is halted"),
        "an approval asked in a halted channel is denied"
    );
}

/// `on_exhausted = "ask"`: a task past a limit is asked of a human (reason `budget`),
/// who may approve it as an overrun up to the policy's `overrun_usd` past each limit.
#[test]
fn an_exhausted_budget_asks_when_the_policy_says_and_an_overrun_is_bounded() {
    let p = policy(
        "[budget]\ndaily_usd = 10.0\non_exhausted = \"ask\"\noverrun_usd = 5.0\n[[rule]]\nname = \"reads\"\nwhen = { action = [\"read\"] }\neffect = \"approve\"\n",
    );
    let mut used = LedgerSnapshot::default();
    used.used.insert(
        ledger_key("global", &day_key(NOW)),
        Micros::from_usd(8.0).unwrap(),
    );
    let halt = HaltState::default();
    let read = |cost: f64| req("a", "read", cost);
    assert_eq!(
        decide(&read(1.0), &used, &halt, &p, NOW).outcome,
        Outcome::Approved
    );
    let d = decide(&read(4.0), &used, &halt, &p, NOW);
    assert_eq!(
        (d.outcome, d.reason_code),
        (Outcome::Pending, ReasonCode::Budget)
    );
    assert!(d.expires_at_ms.is_some() && d.change.reserve.is_empty());
    let raised = p.for_overrun().unwrap();
    let overrun = |r: &ApprovalRequest| {
        human_decision(
            r,
            "ana",
            Answer::Overrun(budget_check(r, &raised, &used, NOW)),
        )
    };
    // 8 + 4 = 12: within the limit and its $5 overrun.
    let d = overrun(&read(4.0));
    assert_eq!(
        (d.outcome, d.reason_code),
        (Outcome::Approved, ReasonCode::Overrun)
    );
    assert!(!d.change.reserve.is_empty());
    assert!(d.reason.contains("as an overrun"), "{}", d.reason);
    // 8 + 8 = 16: past it, even so.
    let d = overrun(&read(8.0));
    assert_eq!(
        (d.outcome, d.reason_code),
        (Outcome::Denied, ReasonCode::Budget)
    );
    // The default denies, and allows no overrun.
    let strict = policy(
        "[budget]\ndaily_usd = 10.0\n[[rule]]\nname = \"reads\"\nwhen = { action = [\"read\"] }\neffect = \"approve\"\n",
    );
    let d = decide(&read(4.0), &used, &halt, &strict, NOW);
    assert_eq!(
        (d.outcome, d.reason_code),
        (Outcome::Denied, ReasonCode::Budget)
    );
    assert!(strict.for_overrun().is_none());
    // Asking with no stated overrun is an error on its line.
    let e = Policy::parse(
        "[budget]\ndaily_usd = 1.0\non_exhausted = \"ask\"\n",
        "p.toml",
    )
    .unwrap_err();
    assert!(e[0].to_string().starts_with("p.toml:3:"), "{e:?}");
    let e = Policy::parse("[budget]\non_exhausted = \"maybe\"\n", "p.toml").unwrap_err();
    assert!(e[0].to_string().contains("deny or ask"), "{e:?}");
}

/// An ask is extended from the later of its expiry and now, at most three times.
#[test]
fn asks_are_extended_a_bounded_number_of_times() {
    use crate::contract::{MAX_EXTENSIONS, extended};
    let h = 3_600_000;
    assert_eq!(
        extended(Some(NOW + h), NOW, 0, 1800),
        Ok(NOW + h + 1_800_000)
    );
    // Already past (an expiry nobody swept yet): from now.
    assert_eq!(extended(Some(NOW - 5), NOW, 1, 60), Ok(NOW + 60_000));
    assert!(extended(Some(NOW + h), NOW, MAX_EXTENSIONS, 60).is_err());
    assert!(extended(None, NOW, 0, 60).is_err());
    let body = |v: serde_json::Value| {
        serde_json::from_value::<crate::contract::ExtendBody>(v)
            .unwrap()
            .checked()
    };
    assert_eq!(
        body(serde_json::json!({"by": " ana "})),
        Ok(("ana".into(), 1800))
    );
    assert_eq!(
        body(serde_json::json!({"by": "ana", "secs": 120.0})),
        Ok(("ana".into(), 120))
    );
    for bad in [
        serde_json::json!({"by": "ana", "secs": 59}),
        serde_json::json!({"by": "ana", "secs": 86_401}),
        serde_json::json!({"by": "ana", "secs": 90.5}),
        serde_json::json!({"by": ""}),
    ] {
        assert!(body(bad.clone()).is_err(), "{bad}");
    }
}

mod escalation;
