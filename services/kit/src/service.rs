//! What a service is, declared once: its [`Part`] (one name everywhere), its routes,
//! its migrations and what it needs at the edge. Each service crate exports one
//! [`Service`]; the registry (`agency-services`) lists them, and the local server, the
//! API document, monitoring's probes, the Workers' peers and their generated
//! configuration read those declarations instead of keeping lists of their own.

use http::Method;

use crate::migrate::Migration;
use crate::routes::Route;

/// The five parts of an agency. One spelling each: [`Part::name`] on the wire (the
/// parts of `/health`, the `service` label of the request metrics, monitoring's probe
/// targets), [`Part::binding`] for the service binding that reaches its Worker,
/// [`Part::worker`] for that Worker's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    SkillGraph,
    Router,
    Assistant,
    Webhooks,
    Monitoring,
}

impl Part {
    /// In the order their migrations are applied locally.
    pub const ALL: [Part; 5] = [
        Part::SkillGraph,
        Part::Router,
        Part::Assistant,
        Part::Webhooks,
        Part::Monitoring,
    ];

    /// `webhooks`, `router`, `skill-graph`, `assistant`, `monitoring`.
    pub const fn name(self) -> &'static str {
        match self {
            Part::Webhooks => "webhooks",
            Part::Router => "router",
            Part::SkillGraph => "skill-graph",
            Part::Assistant => "assistant",
            Part::Monitoring => "monitoring",
        }
    }

    /// The service binding to its Worker: `WEBHOOKS`, `SKILL_GRAPH`...
    pub const fn binding(self) -> &'static str {
        match self {
            Part::Webhooks => "WEBHOOKS",
            Part::Router => "ROUTER",
            Part::SkillGraph => "SKILL_GRAPH",
            Part::Assistant => "ASSISTANT",
            Part::Monitoring => "MONITORING",
        }
    }

    /// Its Worker's name (without an environment): `agency-skill-graph`...
    pub fn worker(self) -> String {
        format!("agency-{}", self.name())
    }

    /// The part named `name` ([`Part::name`]).
    pub fn parse(name: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.name() == name)
    }
}

// One spelling on the wire too: `"skill-graph"`.
impl serde::Serialize for Part {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Part {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Part, D::Error> {
        let name = String::deserialize(d)?;
        Part::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown part {name:?} (one of {})",
                Part::ALL.map(Part::name).join(", ")
            ))
        })
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Durable Object class a service keeps state in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurableObject {
    /// The binding its Worker reaches it by (`LEDGER`).
    pub binding: &'static str,
    /// The class its Worker exports (`Ledger`).
    pub class: &'static str,
}

/// A queue a service produces to and consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queue {
    /// The producer's binding (`WORK`).
    pub binding: &'static str,
    /// The queue's name (without an environment).
    pub name: &'static str,
    /// Where what the consumer gives up on goes (also consumed by the service).
    pub dead_letter: Option<&'static str>,
}

/// What a service needs at the edge, beyond its Worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeNeeds {
    /// A D1 database (binding `DB`) with the service's migrations.
    pub database: bool,
    /// KV namespaces, by binding.
    pub kv: &'static [&'static str],
    pub objects: &'static [DurableObject],
    pub queues: &'static [Queue],
    /// Cron schedules.
    pub crons: &'static [&'static str],
    /// Binds the environment's archive bucket (R2, binding `ARCHIVE`): what it keeps
    /// past its retention goes there.
    pub archive: bool,
    /// The parts it calls over service bindings ([`Part::binding`]). Every part but
    /// monitoring also calls monitoring, to ship its samples.
    pub calls: &'static [Part],
    /// The variables it reads (configuration, not secret).
    pub vars: &'static [&'static str],
    /// The secrets it reads.
    pub secrets: &'static [&'static str],
}

/// The role tokens every Worker checks requests with.
pub const ROLE_TOKENS: &[&str] = &[
    "AGENCY_GATEWAY_TOKEN",
    "AGENCY_OPERATOR_TOKEN",
    "AGENCY_VIEWER_TOKEN",
];

/// One service, declared once.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    pub part: Part,
    /// What it does, in a line.
    pub summary: &'static str,
    /// Every (method, path) it answers (its route table's).
    pub routes: fn() -> Vec<(Method, &'static str)>,
    pub migrations: &'static [Migration],
    /// Its records kept for a while, then archived and deleted.
    pub retained: &'static [crate::retention::Retained],
    pub edge: EdgeNeeds,
}

impl Service {
    /// The parts it calls at the edge, monitoring included (samples are shipped there).
    pub fn bindings(&self) -> Vec<Part> {
        let mut calls = self.edge.calls.to_vec();
        if self.part != Part::Monitoring && !calls.contains(&Part::Monitoring) {
            calls.push(Part::Monitoring);
        }
        calls
    }
}

/// The (method, path) pairs of a route table.
pub fn listed<E>(table: &'static [Route<E>]) -> Vec<(Method, &'static str)> {
    table.iter().map(|r| (r.method.clone(), r.path)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_per_part() {
        for p in Part::ALL {
            assert_eq!(Part::parse(p.name()), Some(p));
            assert_eq!(p.binding(), p.name().replace('-', "_").to_uppercase());
            assert_eq!(p.worker(), format!("agency-{p}"));
        }
        assert_eq!(Part::parse("skillGraph"), None);
    }
}
