//! The desired state of one environment: each Worker with what it binds, the
//! resources they need, the secrets each reads and where their values come from, the
//! variables the config file gives them, the graph and the webhooks to register. Read
//! from the service registry's declarations ([`agency_kit::Service`]) and the parts of
//! `agency.toml` the CLI hands over ([`Inputs`]).

use std::collections::BTreeMap;

use agency_kit::service::{DurableObject, ROLE_TOKENS};
use agency_kit::{Part, Service};
use serde::Serialize;

use crate::names::Names;

/// What the config file says that the edge needs, as the CLI read it.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The policy's text (`policy = "..."`); none: the assistant would refuse approvals.
    pub policy: Option<String>,
    /// Run the example policy when none is given (`--example`), as `agency serve
    /// --example` does: never silently.
    pub example: bool,
    /// The `[webhooks]`, `[gateway]`, `[[approvers]]` and `[monitoring]` sections as TOML
    /// (the webhooks Worker's `AGENCY_WEBHOOKS`, monitoring's `AGENCY_MONITORING`).
    pub sections: String,
    /// `[retention]`'s periods as JSON (`{"decisions_days": 180}`; `dir` is the local
    /// server's): every Worker with an archive reads it as `AGENCY_RETENTION`, the
    /// defaults without it.
    pub retention: Option<String>,
    /// The environment variables those sections name for secrets (signing secrets, bot
    /// tokens, the gateway's secret), each a secret of the webhooks Worker.
    pub webhook_secrets: Vec<String>,
    /// The chat model, when `[llm]` configures one.
    pub llm: Option<Llm>,
    /// The graph's version, when the config names a graph.
    pub graph: Option<String>,
    /// Telegram sources: their webhooks are registered with `setWebhook`.
    pub telegram: Vec<TelegramSource>,
    /// Slack source ids: their settings are printed to paste (Slack's API sets an
    /// app's URLs only with an app configuration token).
    pub slack: Vec<String>,
    /// Discord sources: with a bot token, the interactions endpoint and the `/agency`
    /// command are set through Discord's API.
    pub discord: Vec<DiscordSource>,
}

/// A `[[webhooks.discord]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscordSource {
    /// The guild id (in the webhook's path).
    pub id: String,
    pub application_id: String,
    pub bot_token_env: Option<String>,
}

/// `[llm]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Llm {
    pub base_url: String,
    pub model: String,
    /// The variable holding its key on this machine (the Worker's `AGENCY_LLM_API_KEY`).
    pub api_key_env: String,
}

/// A `[[webhooks.telegram]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TelegramSource {
    pub id: String,
    pub secret_token_env: String,
    pub bot_token_env: Option<String>,
}

/// A secret a Worker reads, and the variable on this machine its value comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// As the Worker reads it.
    pub name: String,
    /// The environment variable holding the value here.
    pub from: String,
    /// A role token: made up when the variable is not set (and printed once).
    pub generated: bool,
}

impl Secret {
    /// What is recorded of a secret's value: a digest, never the value.
    pub fn digest(value: &str) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest(format!("agency-secret:{value}"))[..16])
    }
}

/// A resource a Worker binds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "name")]
pub enum Resource {
    /// A D1 database.
    Database(String),
    /// A KV namespace.
    Namespace(String),
    Queue(String),
    /// An R2 bucket.
    Bucket(String),
}

impl Resource {
    pub fn name(&self) -> &str {
        match self {
            Resource::Database(n)
            | Resource::Namespace(n)
            | Resource::Queue(n)
            | Resource::Bucket(n) => n,
        }
    }

    /// `D1 database`, `KV namespace`, `queue`, `R2 bucket`.
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Database(_) => "D1 database",
            Resource::Namespace(_) => "KV namespace",
            Resource::Queue(_) => "queue",
            Resource::Bucket(_) => "R2 bucket",
        }
    }
}

/// One Worker as the environment wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Worker {
    pub part: Part,
    pub name: String,
    /// Its Durable Object classes and cron schedules, as declared.
    pub objects: &'static [DurableObject],
    pub crons: &'static [&'static str],
    /// Its D1 database and that database's migrations, by name.
    pub database: Option<(String, Vec<&'static str>)>,
    /// KV namespaces: (binding, name).
    pub namespaces: Vec<(&'static str, String)>,
    /// Queues: (binding, name, dead-letter queue's name).
    pub queues: Vec<(&'static str, String, Option<String>)>,
    pub bucket: Option<String>,
    /// The parts it binds, by service binding.
    pub calls: Vec<Part>,
    pub vars: BTreeMap<String, String>,
    pub secrets: Vec<Secret>,
}

impl Worker {
    /// What it binds that must exist before it is deployed, in creation order (a
    /// dead-letter queue before the queue that sends to it).
    pub fn resources(&self) -> Vec<Resource> {
        let mut out = Vec::new();
        if let Some((db, _)) = &self.database {
            out.push(Resource::Database(db.clone()));
        }
        for (_, ns) in &self.namespaces {
            out.push(Resource::Namespace(ns.clone()));
        }
        for (_, q, dead) in &self.queues {
            if let Some(d) = dead {
                out.push(Resource::Queue(d.clone()));
            }
            out.push(Resource::Queue(q.clone()));
        }
        if let Some(b) = &self.bucket {
            out.push(Resource::Bucket(b.clone()));
        }
        out
    }
}

/// The whole environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub names: Names,
    /// In [`Part::ALL`]'s order.
    pub workers: Vec<Worker>,
    pub policy: bool,
    pub graph: Option<String>,
    pub telegram: Vec<TelegramSource>,
    pub slack: Vec<String>,
    pub discord: Vec<DiscordSource>,
}

impl Desired {
    /// The environment `names` wants for `services` (the registry's) and `inputs`.
    pub fn new(names: Names, services: &[&'static Service], inputs: &Inputs) -> Desired {
        let workers = services.iter().map(|s| worker(&names, s, inputs)).collect();
        Desired {
            names,
            workers,
            policy: inputs.policy.is_some() || inputs.example,
            graph: inputs.graph.clone(),
            telegram: inputs.telegram.clone(),
            slack: inputs.slack.clone(),
            discord: inputs.discord.clone(),
        }
    }

    pub fn worker(&self, part: Part) -> Option<&Worker> {
        self.workers.iter().find(|w| w.part == part)
    }

    /// Every resource, once, in creation order.
    pub fn resources(&self) -> Vec<Resource> {
        let mut out: Vec<Resource> = Vec::new();
        for r in self.workers.iter().flat_map(Worker::resources) {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }
}

fn worker(names: &Names, s: &'static Service, inputs: &Inputs) -> Worker {
    let part = s.part;
    let edge = &s.edge;
    let mut vars = BTreeMap::new();
    let mut secrets: Vec<Secret> = ROLE_TOKENS
        .iter()
        .map(|t| Secret {
            name: (*t).to_owned(),
            from: (*t).to_owned(),
            generated: true,
        })
        .collect();
    for var in edge.vars {
        let value = match *var {
            "AGENCY_POLICY" => inputs.policy.clone(),
            "AGENCY_WEBHOOKS" | "AGENCY_MONITORING" => Some(inputs.sections.clone()),
            "AGENCY_LLM_BASE_URL" => inputs.llm.as_ref().map(|l| l.base_url.clone()),
            "AGENCY_LLM_MODEL" => inputs.llm.as_ref().map(|l| l.model.clone()),
            _ => None,
        };
        if let Some(v) = value {
            vars.insert((*var).to_owned(), v);
        }
    }
    if edge.archive
        && let Some(r) = &inputs.retention
    {
        vars.insert("AGENCY_RETENTION".to_owned(), r.clone());
    }
    if edge.vars.contains(&"AGENCY_POLICY") && inputs.policy.is_none() && inputs.example {
        vars.insert("AGENCY_EXAMPLE".to_owned(), "1".to_owned());
    }
    for name in edge.secrets {
        if ROLE_TOKENS.contains(name) {
            continue;
        }
        if *name == "AGENCY_LLM_API_KEY"
            && let Some(l) = &inputs.llm
        {
            secrets.push(Secret {
                name: (*name).to_owned(),
                from: l.api_key_env.clone(),
                generated: false,
            });
        }
    }
    if edge.vars.contains(&"AGENCY_WEBHOOKS") {
        for name in &inputs.webhook_secrets {
            secrets.push(Secret {
                name: name.clone(),
                from: name.clone(),
                generated: false,
            });
        }
    }
    secrets.sort();
    secrets.dedup();
    Worker {
        part,
        name: names.worker(part),
        objects: edge.objects,
        crons: edge.crons,
        database: edge.database.then(|| {
            let m = s.migrations.iter().map(|m| m.name).collect();
            (names.database(part), m)
        }),
        namespaces: edge
            .kv
            .iter()
            .map(|b| (*b, names.namespace(part, b)))
            .collect(),
        queues: edge
            .queues
            .iter()
            .map(|q| {
                (
                    q.binding,
                    names.queue(q.name),
                    q.dead_letter.map(|d| names.queue(d)),
                )
            })
            .collect(),
        bucket: edge.archive.then(|| names.bucket()),
        calls: s.bindings(),
        vars,
        secrets,
    }
}
