//! Reading `policy.toml` into a [`Policy`]: every problem found, each with its line.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use toml::Spanned;

use super::{
    Budget, DEFAULT_ALERTS, Escalation, Exhausted, Limits, Policy, PolicyError, Rule, When,
};
use crate::decide::Effect;
use crate::money::Micros;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    budget: Option<BudgetFile>,
    #[serde(default)]
    rule: Vec<RuleFile>,
    #[serde(default)]
    defaults: Option<DefaultsFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    daily_usd: Option<Spanned<f64>>,
    monthly_usd: Option<Spanned<f64>>,
    alerts: Option<Spanned<Vec<f64>>>,
    on_exhausted: Option<Spanned<String>>,
    overrun_usd: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetFile {
    daily_usd: Option<Spanned<f64>>,
    monthly_usd: Option<Spanned<f64>>,
    /// Fractions of each limit, e.g. `[0.8, 1.0]`.
    alerts: Option<Spanned<Vec<f64>>>,
    /// `deny` (the default) or `ask`.
    on_exhausted: Option<Spanned<String>>,
    /// With `ask`: the most a human may approve past a limit.
    overrun_usd: Option<Spanned<f64>>,
    #[serde(default)]
    agents: BTreeMap<String, LimitsFile>,
    #[serde(default)]
    channels: BTreeMap<String, LimitsFile>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WhenFile {
    #[serde(default)]
    agent: Vec<String>,
    #[serde(default)]
    action: Vec<String>,
    #[serde(default)]
    environment: Vec<String>,
    #[serde(default)]
    channel: Vec<String>,
    #[serde(default)]
    risk: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    cost_at_least_usd: Option<Spanned<f64>>,
    cost_at_most_usd: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    name: Spanned<String>,
    #[serde(default)]
    when: WhenFile,
    effect: Spanned<String>,
    expires_in: Option<Spanned<toml::Value>>,
    escalate: Option<EscalateFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EscalateFile {
    after: Spanned<toml::Value>,
    to: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsFile {
    effect: Option<Spanned<String>>,
    expires_in: Option<Spanned<toml::Value>>,
}

const DEFAULT_EXPIRY_SECS: u64 = 3600;

impl Policy {
    /// Parses and checks a policy; `file` names it in errors. Every problem found is
    /// returned, each with its line.
    pub fn parse(text: &str, file: &str) -> Result<Policy, Vec<PolicyError>> {
        let mut r = Reader {
            text,
            file,
            errors: Vec::new(),
        };
        let raw: PolicyFile = toml::from_str(text).map_err(|e| {
            vec![r.err(
                e.span().and_then(|s| r.line_of(s.start)),
                e.message().to_owned(),
            )]
        })?;
        let budget = r.budget(raw.budget.as_ref());
        let mut names = BTreeSet::new();
        let mut rules: Vec<Rule> = raw.rule.iter().map(|x| r.rule(x, &mut names)).collect();
        let (default_effect, default_expires_in_secs) = r.defaults(raw.defaults.as_ref());
        for rule in &mut rules {
            if rule.expires_in_secs == 0 {
                rule.expires_in_secs = default_expires_in_secs;
            }
            r.check_escalation(rule);
        }
        if r.errors.is_empty() {
            Ok(Policy {
                budget,
                rules,
                default_effect,
                default_expires_in_secs,
            })
        } else {
            Err(r.errors)
        }
    }
}

/// A policy file being read: its text for lines, its name for errors, and every
/// problem found so far.
struct Reader<'t> {
    text: &'t str,
    file: &'t str,
    errors: Vec<PolicyError>,
}

impl Reader<'_> {
    /// The line of byte `offset` (counted on bytes: a span need not fall on a char
    /// boundary).
    fn line_of(&self, offset: usize) -> Option<u32> {
        Some(
            self.text.as_bytes()[..offset.min(self.text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u32
                + 1,
        )
    }

    fn err(&self, line: Option<u32>, message: String) -> PolicyError {
        PolicyError {
            file: self.file.to_owned(),
            line,
            message,
        }
    }

    fn push(&mut self, line: Option<u32>, message: String) {
        let e = self.err(line, message);
        self.errors.push(e);
    }

    /// An amount in dollars as micros; a bad one is an error (and `None`).
    fn money(&mut self, v: &Option<Spanned<f64>>, what: &str) -> Option<Micros> {
        let v = v.as_ref()?;
        match Micros::from_usd(*v.get_ref()) {
            Ok(m) => Some(m),
            Err(e) => {
                self.push(self.line_of(v.span().start), format!("{what}: {e}"));
                None
            }
        }
    }

    /// Alert thresholds: fractions above 0 and at most 1, as whole percents, ascending
    /// and each once; a bad list is an error (and `None`).
    fn alerts(&mut self, v: &Option<Spanned<Vec<f64>>>, what: &str) -> Option<Vec<u32>> {
        let v = v.as_ref()?;
        let mut out = Vec::new();
        for f in v.get_ref() {
            let pct = (f * 100.0).round();
            if !(f.is_finite() && *f > 0.0 && *f <= 1.0) || (f * 100.0 - pct).abs() > 1e-9 {
                self.push(
                    self.line_of(v.span().start),
                    format!("{what}: each threshold is a fraction of the limit above 0 and at most 1, in whole percents (0.8 is 80%), got {f}"),
                );
                return None;
            }
            out.push(pct as u32);
        }
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    /// `on_exhausted` at `what`: deny or ask (an error, and deny, otherwise).
    fn exhausted(&mut self, e: &Spanned<String>, what: &str) -> Exhausted {
        match e.get_ref().as_str() {
            "deny" => Exhausted::Deny,
            "ask" => Exhausted::Ask,
            other => {
                self.push(
                    self.line_of(e.span().start),
                    format!("{what} must be deny or ask, got {other:?}"),
                );
                Exhausted::Deny
            }
        }
    }

    /// A scope's limits; its `on_exhausted = "ask"` needs an overrun, its own or the
    /// budget's (`budget_overrun`).
    fn limits(&mut self, l: &LimitsFile, prefix: &str, budget_overrun: bool) -> Limits {
        let on_exhausted = l
            .on_exhausted
            .as_ref()
            .map(|e| self.exhausted(e, &format!("{prefix}.on_exhausted")));
        if let (Some(Exhausted::Ask), Some(e)) = (on_exhausted, &l.on_exhausted)
            && l.overrun_usd.is_none()
            && !budget_overrun
        {
            self.push(
                self.line_of(e.span().start),
                format!("{prefix}.on_exhausted = \"ask\" needs overrun_usd (here or in [budget]): the most a human may approve past a limit"),
            );
        }
        Limits {
            daily: self.money(&l.daily_usd, &format!("{prefix}.daily_usd")),
            monthly: self.money(&l.monthly_usd, &format!("{prefix}.monthly_usd")),
            alerts: self.alerts(&l.alerts, &format!("{prefix}.alerts")),
            on_exhausted,
            overrun: self.money(&l.overrun_usd, &format!("{prefix}.overrun_usd")),
        }
    }

    fn budget(&mut self, b: Option<&BudgetFile>) -> Budget {
        let mut budget = Budget {
            alerts: DEFAULT_ALERTS.to_vec(),
            ..Budget::default()
        };
        let Some(b) = b else { return budget };
        budget.global = Limits {
            daily: self.money(&b.daily_usd, "budget.daily_usd"),
            monthly: self.money(&b.monthly_usd, "budget.monthly_usd"),
            ..Limits::default()
        };
        if let Some(a) = self.alerts(&b.alerts, "budget.alerts") {
            budget.alerts = a;
        }
        if let Some(e) = &b.on_exhausted {
            let line = self.line_of(e.span().start);
            budget.on_exhausted = self.exhausted(e, "budget.on_exhausted");
            if budget.on_exhausted == Exhausted::Ask && b.overrun_usd.is_none() {
                self.push(
                    line,
                    "budget.on_exhausted = \"ask\" needs overrun_usd: the most a human may approve past a limit".into(),
                );
            }
        }
        if let Some(o) = self.money(&b.overrun_usd, "budget.overrun_usd") {
            budget.overrun = o;
        }
        let overrun = b.overrun_usd.is_some();
        for (id, l) in &b.agents {
            let limits = self.limits(l, &format!("budget.agents.{id}"), overrun);
            budget.agents.insert(fold(id), limits);
        }
        for (id, l) in &b.channels {
            let limits = self.limits(l, &format!("budget.channels.{id}"), overrun);
            budget.channels.insert(fold(id), limits);
        }
        budget
    }

    /// One `[[rule]]`; its name must be new to `names`. An expiry it does not set is 0
    /// here (the defaults' is filled in after).
    fn rule(&mut self, r: &RuleFile, names: &mut BTreeSet<String>) -> Rule {
        let line = self.line_of(r.name.span().start).unwrap_or(1);
        let name = r.name.get_ref().trim().to_owned();
        if name.is_empty() {
            self.push(Some(line), "rule name must not be empty".into());
        } else if !names.insert(name.clone()) {
            self.push(Some(line), format!("duplicate rule name {name:?}"));
        }
        let effect = Effect::parse(r.effect.get_ref()).unwrap_or_else(|| {
            self.push(
                self.line_of(r.effect.span().start),
                format!(
                    "effect must be approve, deny or ask, got {:?}",
                    r.effect.get_ref()
                ),
            );
            Effect::Ask
        });
        let expires_in_secs = r.expires_in.as_ref().and_then(|v| {
            let secs = duration_secs(v.get_ref());
            if secs.is_none() {
                self.push(
                    self.line_of(v.span().start),
                    "expires_in must be seconds or a duration like \"30m\", \"2h\", \"1d\"".into(),
                );
            }
            secs
        });
        let w = &r.when;
        let folded = |v: &[String]| v.iter().map(|x| fold(x)).collect();
        let when = When {
            agent: folded(&w.agent),
            action: folded(&w.action),
            environment: folded(&w.environment),
            channel: folded(&w.channel),
            risk: folded(&w.risk),
            tags: folded(&w.tags),
            cost_at_least: self.money(&w.cost_at_least_usd, "when.cost_at_least_usd"),
            cost_at_most: self.money(&w.cost_at_most_usd, "when.cost_at_most_usd"),
        };
        if let (Some(min), Some(max)) = (when.cost_at_least, when.cost_at_most)
            && min > max
        {
            self.push(
                Some(line),
                format!("rule {name:?} can never match: cost_at_least_usd {min} is above cost_at_most_usd {max}"),
            );
        }
        let escalation = r.escalate.as_ref().and_then(|e| self.escalation(e));
        Rule {
            name,
            when,
            effect,
            expires_in_secs: expires_in_secs.unwrap_or(0),
            escalation,
            line,
        }
    }

    /// A rule's `escalate`: a positive delay and an approver group's name.
    fn escalation(&mut self, e: &EscalateFile) -> Option<Escalation> {
        let after = duration_secs(e.after.get_ref());
        if after.is_none() {
            self.push(
                self.line_of(e.after.span().start),
                "escalate.after must be seconds or a duration like \"15m\"".into(),
            );
        }
        let to = fold(e.to.get_ref());
        let named = !to.is_empty()
            && to
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !named {
            self.push(
                self.line_of(e.to.span().start),
                format!(
                    "escalate.to must name an approver group (letters, digits, - and _), got {:?}",
                    e.to.get_ref()
                ),
            );
        }
        Some(Escalation {
            after_secs: after?,
            to: named.then_some(to)?,
        })
    }

    /// An escalation only makes sense on an ask, before the ask expires.
    fn check_escalation(&mut self, rule: &Rule) {
        let Some(e) = &rule.escalation else { return };
        if rule.effect != Effect::Ask {
            self.push(
                Some(rule.line),
                format!(
                    "rule {:?}: escalate applies only to effect = \"ask\"",
                    rule.name
                ),
            );
        } else if e.after_secs >= rule.expires_in_secs {
            self.push(
                Some(rule.line),
                format!(
                    "rule {:?}: escalate.after ({} s) must be shorter than the ask's expiry ({} s): an expired ask cannot escalate",
                    rule.name, e.after_secs, rule.expires_in_secs
                ),
            );
        }
    }

    /// `[defaults]`: the effect when no rule matches, and how long an ask waits.
    fn defaults(&mut self, d: Option<&DefaultsFile>) -> (Effect, u64) {
        let mut effect = Effect::Ask;
        let mut expires_in_secs = DEFAULT_EXPIRY_SECS;
        let Some(d) = d else {
            return (effect, expires_in_secs);
        };
        if let Some(e) = &d.effect {
            match Effect::parse(e.get_ref()) {
                Some(parsed) => effect = parsed,
                None => self.push(
                    self.line_of(e.span().start),
                    format!(
                        "defaults.effect must be approve, deny or ask, got {:?}",
                        e.get_ref()
                    ),
                ),
            }
        }
        if let Some(v) = &d.expires_in {
            match duration_secs(v.get_ref()) {
                Some(s) => expires_in_secs = s,
                None => self.push(
                    self.line_of(v.span().start),
                    "defaults.expires_in must be seconds or a duration like \"1h\"".into(),
                ),
            }
        }
        (effect, expires_in_secs)
    }
}

/// `3600`, `"90s"`, `"30m"`, `"2h"`, `"1d"` -> seconds (positive).
fn duration_secs(v: &toml::Value) -> Option<u64> {
    match v {
        toml::Value::Integer(n) if *n > 0 => Some(*n as u64),
        toml::Value::String(s) => crate::time::duration_secs(s),
        _ => None,
    }
    .filter(|s| *s <= MAX_EXPIRY_SECS)
}

/// Asks wait at most a year; longer is a typo, and would overflow timestamps.
const MAX_EXPIRY_SECS: u64 = 366 * 86_400;

/// A name as requests carry it after [`crate::contract::canonical_name`]: trimmed and
/// lower-cased, so a rule or budget written `Production` or `CodeGen` still applies.
fn fold(name: &str) -> String {
    name.trim().to_lowercase()
}
