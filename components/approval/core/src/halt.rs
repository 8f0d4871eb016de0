//! The halt switch: what one halt covers, and which halt, if any, stops a piece of
//! work. The approval decision, the router's answer and the webhook consumer's hold all
//! ask [`covering`] (or [`HaltState::reason`]), so "is this halted?" has one answer.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum HaltScope {
    All,
    Agent,
    Channel,
    Task,
}

impl HaltScope {
    /// The API's and the stores' name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            HaltScope::All => "all",
            HaltScope::Agent => "agent",
            HaltScope::Channel => "channel",
            HaltScope::Task => "task",
        }
    }

    pub fn parse(s: &str) -> Option<HaltScope> {
        [
            HaltScope::All,
            HaltScope::Agent,
            HaltScope::Channel,
            HaltScope::Task,
        ]
        .into_iter()
        .find(|h| h.as_str() == s)
    }
}

impl std::fmt::Display for HaltScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one halt covers: every agent, one agent or one channel (canonical names), or
/// one task.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HaltTarget {
    All,
    Agent(String),
    Channel(String),
    Task(String),
}

impl HaltTarget {
    pub fn new(scope: HaltScope, target: &str) -> HaltTarget {
        match scope {
            HaltScope::All => HaltTarget::All,
            HaltScope::Agent => HaltTarget::Agent(target.to_owned()),
            HaltScope::Channel => HaltTarget::Channel(target.to_owned()),
            HaltScope::Task => HaltTarget::Task(target.to_owned()),
        }
    }

    pub fn scope(&self) -> HaltScope {
        match self {
            HaltTarget::All => HaltScope::All,
            HaltTarget::Agent(_) => HaltScope::Agent,
            HaltTarget::Channel(_) => HaltScope::Channel,
            HaltTarget::Task(_) => HaltScope::Task,
        }
    }

    /// The agent, channel or task ("" for all), as stores keep it.
    pub fn target(&self) -> &str {
        match self {
            HaltTarget::All => "",
            HaltTarget::Agent(t) | HaltTarget::Channel(t) | HaltTarget::Task(t) => t,
        }
    }

    /// "all agents", "agent codegen", "channel ops", "task t-1": how replies name it.
    pub fn describe(&self) -> String {
        match self {
            HaltTarget::All => "all agents".to_owned(),
            t => format!("{} {}", t.scope(), t.target()),
        }
    }

    /// A stable key ("all", "agent:codegen"...), as held work records what held it.
    pub fn key(&self) -> String {
        match self {
            HaltTarget::All => "all".to_owned(),
            t => format!("{}:{}", t.scope(), t.target()),
        }
    }

    /// The target a [`HaltTarget::key`] names (`None`: not a key).
    pub fn from_key(key: &str) -> Option<HaltTarget> {
        match key.split_once(':') {
            None if key == "all" => Some(HaltTarget::All),
            Some((scope, target)) if !target.is_empty() => HaltScope::parse(scope)
                .filter(|s| *s != HaltScope::All)
                .map(|s| HaltTarget::new(s, target)),
            _ => None,
        }
    }

    /// Whether this halt stops `work`.
    pub fn covers(&self, work: &Work<'_>) -> bool {
        match self {
            HaltTarget::All => true,
            HaltTarget::Agent(a) => work.agent == Some(a.as_str()),
            HaltTarget::Channel(c) => work.channel == Some(c.as_str()),
            HaltTarget::Task(t) => work.task == Some(t.as_str()),
        }
    }
}

/// A piece of work a halt may stop: an approval (agent, channel, task), a routed
/// message (the agent it would go to, its channel), a queued event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work<'a> {
    pub agent: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub task: Option<&'a str>,
}

/// One halt in force, as the ledger keeps it (its rows, and the edge's wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    pub scope: HaltScope,
    /// The agent, channel or task; "" for all.
    pub target: String,
    pub reason: String,
    pub created_ms: i64,
}

impl Halt {
    pub fn what(&self) -> HaltTarget {
        HaltTarget::new(self.scope, &self.target)
    }

    /// The API's view of a halt.
    pub fn view(&self) -> HaltView {
        HaltView {
            scope: self.scope,
            target: (!self.target.is_empty()).then(|| self.target.clone()),
            reason: self.reason.clone(),
            since: crate::rfc3339(self.created_ms),
        }
    }
}

/// A halt in force, as the API shows it (`GET /api/halt`, and the halt a routing
/// decision names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(rename = "HaltInForce", transform = crate::schema::all_required)
)]
pub struct HaltView {
    pub scope: HaltScope,
    /// The agent, channel or task; null for a halt of all agents.
    pub target: Option<String>,
    pub reason: String,
    /// When it was set.
    pub since: String,
}

impl HaltView {
    pub fn what(&self) -> HaltTarget {
        HaltTarget::new(self.scope, self.target.as_deref().unwrap_or(""))
    }
}

// Also what routing and dispatch read of the ledger's halts.
/// `GET /api/halt`, and `POST /api/halt`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HaltsInForce {
    pub halts: Vec<HaltView>,
    /// What the operator should know: a halt naming an agent or channel the current
    /// skill graph does not know is kept, with a warning here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Work the webhook consumer holds under one halt (`GET /api/events/held`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(rename = "HeldWork", transform = crate::schema::all_required)
)]
#[serde(rename_all = "camelCase")]
pub struct HeldWork {
    /// The halt that held it (it may have been lifted since: then it goes out soon).
    pub scope: HaltScope,
    /// The agent, channel or task; null for a halt of all agents.
    pub target: Option<String>,
    /// How many events it holds.
    pub events: u64,
    /// When the oldest of them was received.
    pub oldest: String,
}

impl HeldWork {
    pub fn what(&self) -> HaltTarget {
        HaltTarget::new(self.scope, self.target.as_deref().unwrap_or(""))
    }
}

/// `GET /api/events/held`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Held {
    /// By halt, oldest first.
    pub held: Vec<HeldWork>,
}

/// How many events `held` counts for `what` (`None`: under every halt).
pub fn held_under(held: &[HeldWork], what: Option<&HaltTarget>) -> u64 {
    held.iter()
        .filter(|h| what.is_none_or(|w| h.what() == *w))
        .map(|h| h.events)
        .sum()
}

/// The names the current skill graph knows, for [`unknown_to_graph`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphNames {
    pub version: String,
    pub agents: BTreeSet<String>,
    pub channels: BTreeSet<String>,
}

/// Why a halt of `what` deserves a warning: it names an agent or a channel the current
/// graph (`None`: no graph yet) does not know. The halt is kept all the same: a graph
/// may add the name later, and an operator in an incident must not be refused.
pub fn unknown_to_graph(what: &HaltTarget, graph: Option<&GraphNames>) -> Option<String> {
    let (kind, name, known) = match (what, graph) {
        (HaltTarget::Agent(a), g) => ("agent", a, g.map(|g| g.agents.contains(a))),
        (HaltTarget::Channel(c), g) => ("channel", c, g.map(|g| g.channels.contains(c))),
        _ => return None,
    };
    match (known, graph) {
        (Some(true), _) => None,
        (_, Some(g)) => Some(format!(
            "the current skill graph ({}) has no {kind} {name:?}; the halt is kept in case a graph adds it",
            g.version
        )),
        (_, None) => Some(format!(
            "no skill graph is loaded, so {kind} {name:?} could not be checked; the halt is kept"
        )),
    }
}

/// The halt that stops `work`, if one does: a halt of all agents is named first, then
/// the agent's, the channel's and the task's (the order of [`HaltScope`]).
pub fn covering<'h, H>(
    halts: &'h [H],
    work: &Work<'_>,
    what: impl Fn(&H) -> HaltTarget,
) -> Option<&'h H> {
    halts
        .iter()
        .map(|h| (what(h), h))
        .filter(|(t, _)| t.covers(work))
        .min_by_key(|(t, _)| t.scope())
        .map(|(_, h)| h)
}

/// What is halted right now, as the approval decision reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HaltState {
    pub all: bool,
    pub agents: BTreeSet<String>,
    pub channels: BTreeSet<String>,
    pub tasks: BTreeSet<String>,
}

impl HaltState {
    /// The state of these halts.
    pub fn of<'h>(halts: impl IntoIterator<Item = &'h Halt>) -> HaltState {
        let mut h = HaltState::default();
        for x in halts {
            let target = x.target.clone();
            match x.scope {
                HaltScope::All => h.all = true,
                HaltScope::Agent => {
                    h.agents.insert(target);
                }
                HaltScope::Channel => {
                    h.channels.insert(target);
                }
                HaltScope::Task => {
                    h.tasks.insert(target);
                }
            }
        }
        h
    }

    /// Why these halts stop `work`, if they do, in [`covering`]'s order.
    pub fn reason(&self, work: &Work<'_>) -> Option<String> {
        let has = |set: &BTreeSet<String>, v: Option<&str>| v.is_some_and(|v| set.contains(v));
        if self.all {
            Some("all agents are halted".into())
        } else if has(&self.agents, work.agent) {
            Some(format!(
                "agent {} is halted",
                work.agent.unwrap_or_default()
            ))
        } else if has(&self.channels, work.channel) {
            Some(format!(
                "channel {} is halted",
                work.channel.unwrap_or_default()
            ))
        } else if has(&self.tasks, work.task) {
            Some(format!("task {} is halted", work.task.unwrap_or_default()))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn halt(scope: HaltScope, target: &str) -> Halt {
        Halt {
            scope,
            target: target.into(),
            reason: "r".into(),
            created_ms: 0,
        }
    }

    #[test]
    fn the_widest_halt_is_named_first() {
        let work = Work {
            agent: Some("codegen"),
            channel: Some("ops"),
            task: Some("t1"),
        };
        let cases: &[(&[Halt], Option<HaltScope>)] = &[
            (&[], None),
            (&[halt(HaltScope::Agent, "other")], None),
            (&[halt(HaltScope::Channel, "dev")], None),
            (&[halt(HaltScope::Task, "t1")], Some(HaltScope::Task)),
            (
                &[halt(HaltScope::Task, "t1"), halt(HaltScope::Channel, "ops")],
                Some(HaltScope::Channel),
            ),
            (
                &[
                    halt(HaltScope::Channel, "ops"),
                    halt(HaltScope::Agent, "codegen"),
                ],
                Some(HaltScope::Agent),
            ),
            (
                &[halt(HaltScope::Agent, "codegen"), halt(HaltScope::All, "")],
                Some(HaltScope::All),
            ),
        ];
        for (halts, want) in cases {
            let got = covering(halts, &work, Halt::what).map(|h| h.scope);
            assert_eq!(got, *want, "{halts:?}");
            let state = HaltState::of(halts.iter());
            assert_eq!(state.reason(&work).is_some(), want.is_some(), "{halts:?}");
        }
    }

    #[test]
    fn work_without_an_agent_or_channel_is_covered_only_by_what_names_it() {
        let nobody = Work {
            agent: None,
            channel: Some("ops"),
            task: None,
        };
        assert!(!HaltTarget::Agent("codegen".into()).covers(&nobody));
        assert!(HaltTarget::Channel("ops".into()).covers(&nobody));
        assert!(HaltTarget::All.covers(&Work::default()));
        assert!(!HaltTarget::Task("t".into()).covers(&Work::default()));
    }

    #[test]
    fn a_name_the_graph_does_not_know_is_warned_about() {
        let graph = GraphNames {
            version: "v1".into(),
            agents: ["codegen".to_owned()].into(),
            channels: ["ops".to_owned()].into(),
        };
        let warn = |w: &HaltTarget, g| unknown_to_graph(w, g).is_some();
        assert!(!warn(&HaltTarget::Agent("codegen".into()), Some(&graph)));
        assert!(warn(&HaltTarget::Agent("nobody".into()), Some(&graph)));
        assert!(!warn(&HaltTarget::Channel("ops".into()), Some(&graph)));
        assert!(warn(&HaltTarget::Channel("codegen".into()), Some(&graph)));
        assert!(warn(&HaltTarget::Agent("codegen".into()), None));
        assert!(!warn(&HaltTarget::All, None));
        assert!(!warn(&HaltTarget::Task("t".into()), Some(&graph)));
    }

    #[test]
    fn keys_and_names() {
        assert_eq!(HaltTarget::All.key(), "all");
        assert_eq!(HaltTarget::Channel("ops".into()).key(), "channel:ops");
        for t in [
            HaltTarget::All,
            HaltTarget::Agent("codegen".into()),
            HaltTarget::Channel("ops".into()),
            HaltTarget::Task("t:1".into()),
        ] {
            assert_eq!(HaltTarget::from_key(&t.key()), Some(t));
        }
        for bad in ["", "agent:", "planet:x", "all:x", "codegen"] {
            assert_eq!(HaltTarget::from_key(bad), None, "{bad}");
        }
        assert_eq!(
            HaltTarget::Agent("codegen".into()).describe(),
            "agent codegen"
        );
        assert_eq!(HaltScope::parse("channel"), Some(HaltScope::Channel));
        assert_eq!(HaltScope::parse("everything"), None);
    }
}
