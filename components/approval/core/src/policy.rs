//! The policy file (`policy.toml`): budgets and rules.

use std::collections::BTreeMap;
use std::fmt;

use crate::decide::Effect;
use crate::money::Micros;

mod parse;

/// A problem in a policy file, with the line it is on when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: String,
    pub line: Option<u32>,
    pub message: String,
}

impl fmt::Display for PolicyError {
    /// `FILE:LINE: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Daily and monthly caps of one budget scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub daily: Option<Micros>,
    pub monthly: Option<Micros>,
    /// Its own alert thresholds, in percent (`None`: the budget's).
    pub alerts: Option<Vec<u32>>,
    /// Its own `on_exhausted` (`None`: the budget's).
    pub on_exhausted: Option<Exhausted>,
    /// Its own overrun a human may approve past its limits (`None`: the budget's).
    pub overrun: Option<Micros>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Budget {
    pub global: Limits,
    pub agents: BTreeMap<String, Limits>,
    pub channels: BTreeMap<String, Limits>,
    /// Alert thresholds in percent of a limit, ascending: crossing one is announced
    /// once per period ([`DEFAULT_ALERTS`] unless the policy says).
    pub alerts: Vec<u32>,
    /// What a task that would pass a limit gets: denied, or asked of a human who may
    /// approve it as an overrun of at most `overrun` past each limit.
    pub on_exhausted: Exhausted,
    pub overrun: Micros,
}

/// `on_exhausted`: what happens to a task that would pass a budget's limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Exhausted {
    #[default]
    Deny,
    Ask,
}

/// Alert at 80% and 100% of every limit unless the policy says otherwise.
pub const DEFAULT_ALERTS: [u32; 2] = [80, 100];

impl Policy {
    /// The policy a human's approval of an overrun is checked against: the limits of
    /// every scope whose `on_exhausted` is `ask` raised by its overrun (`None` when no
    /// scope allows one).
    pub fn for_overrun(&self) -> Option<Policy> {
        let b = &self.budget;
        let any = std::iter::once(&b.global)
            .chain(b.agents.values())
            .chain(b.channels.values())
            .any(|l| b.exhausted_of(l) == Exhausted::Ask);
        any.then(|| Policy {
            budget: b.with_overrun(),
            ..self.clone()
        })
    }
}

impl Budget {
    /// What a task past `limits` gets: its own `on_exhausted`, else the budget's.
    pub fn exhausted_of(&self, limits: &Limits) -> Exhausted {
        limits.on_exhausted.unwrap_or(self.on_exhausted)
    }

    /// These budgets with the limits of every scope that asks when exhausted raised by
    /// its overrun (its own, else the budget's); the others as they are.
    pub fn with_overrun(&self) -> Budget {
        let raise = |l: &Limits| {
            if self.exhausted_of(l) != Exhausted::Ask {
                return l.clone();
            }
            let by = l.overrun.unwrap_or(self.overrun);
            Limits {
                daily: l.daily.map(|m| m.saturating_add(by)),
                monthly: l.monthly.map(|m| m.saturating_add(by)),
                ..l.clone()
            }
        };
        Budget {
            global: raise(&self.global),
            agents: self
                .agents
                .iter()
                .map(|(k, l)| (k.clone(), raise(l)))
                .collect(),
            channels: self
                .channels
                .iter()
                .map(|(k, l)| (k.clone(), raise(l)))
                .collect(),
            ..self.clone()
        }
    }

    /// The alert thresholds of a scope's limits.
    pub fn alerts_of<'a>(&'a self, limits: &'a Limits) -> &'a [u32] {
        limits.alerts.as_deref().unwrap_or(&self.alerts)
    }
}

/// What a rule matches. Empty lists match anything; `tags` matches when the request
/// carries any of them; costs are inclusive bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct When {
    pub agent: Vec<String>,
    pub action: Vec<String>,
    pub environment: Vec<String>,
    pub channel: Vec<String>,
    pub risk: Vec<String>,
    pub tags: Vec<String>,
    pub cost_at_least: Option<Micros>,
    pub cost_at_most: Option<Micros>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub when: When,
    pub effect: Effect,
    /// How long an `ask` waits for a human before it counts as denied.
    pub expires_in_secs: u64,
    /// Who else is asked when nobody answers an `ask` in time.
    pub escalation: Option<Escalation>,
    pub line: u32,
}

/// An ask's escalation (`escalate = { after = "15m", to = "leads" }`): once it has
/// waited `after_secs` unanswered, the ask also goes to the approver group `to` (their
/// own channel); it still expires, denied, at its rule's `expires_in`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub after_secs: u64,
    /// The approver group's name (lower case).
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub budget: Budget,
    pub rules: Vec<Rule>,
    /// Effect when no rule matches (an unknown action): ask, unless set.
    pub default_effect: Effect,
    pub default_expires_in_secs: u64,
}
