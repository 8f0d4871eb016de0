//! Escalation: which asks escalate, when, to whom, and the policies refused.

use super::*;

const ESCALATING: &str = r#"
[defaults]
expires_in = "1h"

[[rule]]
name = "prod deploys"
when = { action = ["deploy"], environment = ["production"] }
effect = "ask"
expires_in = "30m"
escalate = { after = "10m", to = "Leads" }

[[rule]]
name = "payments"
when = { action = ["payment"] }
effect = "ask"

[[rule]]
name = "reads"
when = { action = ["read"] }
effect = "approve"
escalate = { after = 60, to = "leads" }
"#;

fn parse_errors(text: &str) -> Vec<String> {
    Policy::parse(text, "p.toml")
        .err()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn an_ask_under_an_escalating_rule_says_when_and_to_whom() {
    // The approve rule's escalate is refused: take it out for the decisions.
    let text = ESCALATING.replace("escalate = { after = 60, to = \"leads\" }\n", "");
    let p = policy(&text);
    let (none, halt) = (LedgerSnapshot::default(), HaltState::default());
    let mut deploy = req("ops", "deploy", 1.0);
    deploy.environment = Some("production".into());
    let d = decide(&deploy, &none, &halt, &p, NOW);
    assert_eq!(d.outcome, Outcome::Pending);
    assert_eq!(d.expires_at_ms, Some(NOW + 30 * 60_000));
    assert_eq!(
        d.escalate,
        Some(EscalateAt {
            at_ms: NOW + 10 * 60_000,
            to: "leads".into()
        })
    );
    // An ask under a rule without escalate, an approval and a denial do not escalate.
    for (r, outcome) in [
        (req("pm", "payment", 1.0), Outcome::Pending),
        (req("pm", "read", 1.0), Outcome::Approved),
    ] {
        let d = decide(&r, &none, &halt, &p, NOW);
        assert_eq!((d.outcome, d.escalate), (outcome, None), "{}", r.action);
    }
    let halted = HaltState {
        all: true,
        ..HaltState::default()
    };
    let d = decide(&deploy, &none, &halted, &p, NOW);
    assert_eq!((d.outcome, d.escalate), (Outcome::Denied, None));
}

#[test]
fn an_over_budget_ask_escalates_like_its_rule() {
    let text = format!(
        "[budget]\ndaily_usd = 1.0\non_exhausted = \"ask\"\noverrun_usd = 5.0\n{}",
        ESCALATING.replace("escalate = { after = 60, to = \"leads\" }\n", "")
    );
    let p = policy(&text);
    let mut deploy = req("ops", "deploy", 2.0);
    deploy.environment = Some("production".into());
    let d = decide(
        &deploy,
        &LedgerSnapshot::default(),
        &HaltState::default(),
        &p,
        NOW,
    );
    assert_eq!(
        (d.outcome, d.reason_code),
        (Outcome::Pending, ReasonCode::Budget)
    );
    assert_eq!(d.escalate.map(|e| e.to), Some("leads".into()));
}

#[test]
fn escalations_that_cannot_happen_are_refused_with_their_line() {
    let errors = parse_errors(ESCALATING);
    assert_eq!(
        errors,
        vec!["p.toml:18: rule \"reads\": escalate applies only to effect = \"ask\"".to_owned()]
    );
    for (bad, wanted) in [
        (
            "after = \"40m\", to = \"leads\"",
            "must be shorter than the ask's expiry (1800 s)",
        ),
        (
            "after = \"30m\", to = \"leads\"",
            "must be shorter than the ask's expiry",
        ),
        (
            "after = \"soon\", to = \"leads\"",
            "escalate.after must be seconds or a duration",
        ),
        (
            "after = 0, to = \"leads\"",
            "escalate.after must be seconds",
        ),
        (
            "after = \"5m\", to = \"\"",
            "escalate.to must name an approver group",
        ),
        (
            "after = \"5m\", to = \"team leads\"",
            "escalate.to must name an approver group",
        ),
        ("after = \"5m\"", "missing field `to`"),
        (
            "after = \"5m\", to = \"x\", also = 1",
            "unknown field `also`",
        ),
    ] {
        let text = ESCALATING
            .replace("after = \"10m\", to = \"Leads\"", bad)
            .replace("escalate = { after = 60, to = \"leads\" }\n", "");
        let errors = parse_errors(&text);
        assert!(
            errors.len() == 1 && errors[0].contains(wanted) && errors[0].starts_with("p.toml:"),
            "{bad}: {errors:?}"
        );
    }
    // Under the default expiry (an hour) a 50-minute escalation is fine.
    let text = ESCALATING
        .replace("escalate = { after = 60, to = \"leads\" }\n", "")
        .replace("expires_in = \"30m\"\n", "")
        .replace("after = \"10m\"", "after = \"50m\"");
    assert!(Policy::parse(&text, "p.toml").is_ok());
}

/// `on_exhausted` per scope: an agent's budget may ask while the rest deny, and an
/// approved overrun is bounded by that scope's own overrun.
#[test]
fn one_scope_may_ask_when_exhausted_while_the_others_deny() {
    let p = policy(
        "[budget]\ndaily_usd = 100.0\n[budget.agents.ops]\ndaily_usd = 1.0\non_exhausted = \"ask\"\noverrun_usd = 2.0\n[budget.agents.pm]\ndaily_usd = 1.0\n[[rule]]\nname = \"reads\"\nwhen = { action = [\"read\"] }\neffect = \"approve\"\n",
    );
    let (none, halt) = (LedgerSnapshot::default(), HaltState::default());
    let d = decide(&req("ops", "read", 1.5), &none, &halt, &p, NOW);
    assert_eq!(
        (d.outcome, d.reason_code),
        (Outcome::Pending, ReasonCode::Budget)
    );
    let d = decide(&req("pm", "read", 1.5), &none, &halt, &p, NOW);
    assert_eq!(
        (d.outcome, d.reason_code),
        (Outcome::Denied, ReasonCode::Budget)
    );
    let raised = p.for_overrun().expect("one scope asks");
    let approve = |cost: f64| {
        let r = req("ops", "read", cost);
        human_decision(
            &r,
            "ana",
            Answer::Overrun(budget_check(&r, &raised, &none, NOW)),
        )
    };
    // ops: $1 + its $2 overrun; pm and the global budget are not raised.
    assert_eq!(approve(2.9).reason_code, ReasonCode::Overrun);
    assert_eq!(approve(3.1).outcome, Outcome::Denied);
    assert_eq!(
        raised.budget.agents["pm"].daily,
        p.budget.agents["pm"].daily
    );
    assert_eq!(raised.budget.global.daily, p.budget.global.daily);
    // A scope that asks needs an overrun, its own or the budget's.
    let e = Policy::parse(
        "[budget.agents.ops]\ndaily_usd = 1.0\non_exhausted = \"ask\"\n",
        "p.toml",
    )
    .unwrap_err();
    assert!(
        e[0].to_string().contains("budget.agents.ops.on_exhausted"),
        "{e:?}"
    );
    assert!(Policy::parse("[budget]\noverrun_usd = 1.0\n[budget.agents.ops]\ndaily_usd = 1.0\non_exhausted = \"ask\"\n", "p.toml").is_ok());
    assert!(Policy::parse("[budget.agents.ops]\non_exhausted = \"later\"\n", "p.toml").is_err());
}

/// Several scopes exhausted at once: one that denies decides, wherever it comes in the
/// order; only when every exhausted scope asks is a human asked.
#[test]
fn a_scope_that_denies_outranks_one_that_asks() {
    let (none, halt) = (LedgerSnapshot::default(), HaltState::default());
    let rules =
        "[[rule]]\nname = \"reads\"\nwhen = { action = [\"read\"] }\neffect = \"approve\"\n";
    // The global budget (checked first) asks; the agent's denies.
    let p = policy(&format!(
        "[budget]\ndaily_usd = 1.0\non_exhausted = \"ask\"\noverrun_usd = 5.0\n[budget.agents.ops]\ndaily_usd = 1.0\non_exhausted = \"deny\"\n[budget.agents.pm]\ndaily_usd = 1.0\n[budget.channels.ops-room]\ndaily_usd = 1.0\n{rules}"
    ));
    let outcome = |agent: &str, channel: Option<&str>, cost: f64| {
        let mut r = req(agent, "read", cost);
        r.channel = channel.map(str::to_owned);
        let d = decide(&r, &none, &halt, &p, NOW);
        (d.outcome, d.reason_code, d.budget.map(|b| b.scope))
    };
    assert_eq!(
        outcome("ops", None, 1.5),
        (
            Outcome::Denied,
            ReasonCode::Budget,
            Some("agent:ops daily".into())
        )
    );
    // pm's own budget and the channel's ask too (the budget's on_exhausted): all of
    // them ask, and the first overrun is named.
    assert_eq!(
        outcome("pm", Some("ops-room"), 1.5),
        (
            Outcome::Pending,
            ReasonCode::Budget,
            Some("global daily".into())
        )
    );
    // Within the global budget, only an asking scope over: asked.
    let p2 = policy(&format!(
        "[budget]\ndaily_usd = 100.0\noverrun_usd = 5.0\n[budget.agents.ops]\ndaily_usd = 1.0\non_exhausted = \"ask\"\n[budget.channels.ops-room]\ndaily_usd = 1.0\n{rules}"
    ));
    let mut r = req("ops", "read", 1.5);
    r.channel = Some("ops-room".into());
    // ops asks, the channel (the budget's default: deny) denies.
    let d = decide(&r, &none, &halt, &p2, NOW);
    assert_eq!(
        (d.outcome, d.budget.map(|b| b.scope)),
        (Outcome::Denied, Some("channel:ops-room daily".into()))
    );
    r.channel = None;
    assert_eq!(decide(&r, &none, &halt, &p2, NOW).outcome, Outcome::Pending);
}
