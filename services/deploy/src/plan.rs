//! The plan: the desired state against what the account has (and what earlier applies
//! recorded), as ordered steps, with what must be supplied before any step can run.
//! Pure: `agency deploy plan` prints it, `agency deploy apply` carries it out and
//! records each step's outcome, so an apply that stopped half way plans only the rest.
//!
//! The order: resources (a dead-letter queue before its queue), each database's
//! migrations, then the Workers in an order the service bindings allow. A binding to a
//! Worker that does not exist yet is refused by the platform, and the bindings form
//! cycles (every part ships samples to monitoring, which probes every part), so a
//! Worker whose peers are missing is deployed first without those bindings and again
//! with them once they exist. Each Worker's secrets follow its first deploy. Then the
//! graph, the Telegram webhooks, the Discord interactions endpoints and a health check
//! of every Worker.

use std::collections::{BTreeMap, BTreeSet};

use agency_kit::Part;
use serde::Serialize;

use crate::desired::{Desired, Resource, Secret};

/// What the account has and what earlier applies recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Resources that exist, with their ids.
    pub resources: BTreeMap<Resource, String>,
    /// Workers that exist: name -> the digest they were deployed from (as recorded;
    /// `None`: it exists but no apply recorded it, or it lacks bindings).
    pub workers: BTreeMap<String, Option<String>>,
    /// The secret names each Worker has.
    pub secrets: BTreeMap<String, BTreeSet<String>>,
    /// The digest of the value each secret was last put with, by (Worker, secret), as
    /// recorded (the account never shows a secret's value).
    pub secret_digests: BTreeMap<(String, String), String>,
    /// Migrations recorded as applied, by database name.
    pub migrated: BTreeMap<String, BTreeSet<String>>,
    /// The graph version recorded as uploaded.
    pub graph: Option<String>,
    /// Telegram sources recorded as registered: source -> a digest of what was sent
    /// (the webhook's URL, its secret token, the bot's token).
    pub telegram: BTreeMap<String, String>,
    /// Discord sources whose interactions endpoint and command were recorded as set:
    /// source -> a digest of what was sent.
    pub discord: BTreeMap<String, String>,
}

/// What this machine can supply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Local {
    /// Environment variables that are set (names only).
    pub set: BTreeSet<String>,
    /// The digest of each secret's value as it would be put now, by variable (role
    /// tokens made up earlier included).
    pub values: BTreeMap<String, String>,
    /// Each Worker's digest as it would be deployed now (configuration and built code).
    pub digests: BTreeMap<Part, String>,
    /// What registering each chat source would send now, as a digest, by
    /// `telegram:<id>` and `discord:<id>` (known once the Workers' URLs are).
    pub hooks: BTreeMap<String, String>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "step")]
pub enum Step {
    Create {
        resource: Resource,
    },
    #[serde(rename_all = "camelCase")]
    Migrate {
        part: Part,
        database: String,
        migrations: Vec<String>,
    },
    /// Deploys a Worker; `without`: bindings left out because their Worker does not
    /// exist yet (a second deploy adds them).
    Deploy {
        part: Part,
        worker: String,
        without: Vec<Part>,
    },
    Secrets {
        part: Part,
        worker: String,
        secrets: Vec<Secret>,
    },
    PushGraph {
        version: String,
    },
    #[serde(rename_all = "camelCase")]
    RegisterTelegram {
        source: String,
    },
    /// The application's interactions endpoint URL and the guild's `/agency` command.
    #[serde(rename_all = "camelCase")]
    RegisterDiscord {
        source: String,
    },
    Check {
        part: Part,
        worker: String,
    },
}

impl Step {
    /// Whether it changes the account (a check does not).
    pub fn changes(&self) -> bool {
        !matches!(self, Step::Check { .. })
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Step::Create { resource } => format!("create {} {}", resource.kind(), resource.name()),
            Step::Migrate {
                database,
                migrations,
                ..
            } => format!("migrate {database}: {}", migrations.join(", ")),
            Step::Deploy {
                worker, without, ..
            } if without.is_empty() => format!("deploy {worker}"),
            Step::Deploy {
                worker, without, ..
            } => format!(
                "deploy {worker} without its bindings to {} (not deployed yet)",
                without
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Step::Secrets {
                worker, secrets, ..
            } => format!(
                "put secrets on {worker}: {}",
                secrets
                    .iter()
                    .map(|s| if s.generated && s.name == s.from {
                        format!("{} (generated unless set)", s.name)
                    } else if s.name == s.from {
                        s.name.clone()
                    } else {
                        format!("{} (from {})", s.name, s.from)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Step::PushGraph { version } => format!("upload the skill graph {version}"),
            Step::RegisterTelegram { source } => {
                format!("register the Telegram webhook of {source} (setWebhook)")
            }
            Step::RegisterDiscord { source } => format!(
                "set the Discord interactions endpoint and the /agency command of guild {source}"
            ),
            Step::Check { worker, .. } => format!("check {worker} /health"),
        }
    }
}

/// Something to supply before anything can happen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase", tag = "missing")]
pub enum Missing {
    /// An environment variable holding a secret's value.
    Secret {
        variable: String,
        for_workers: Vec<String>,
    },
    /// No `policy` in the config and no `--example`.
    Policy,
    /// No `graph` in the config.
    Graph,
    /// A variable over what Cloudflare allows a Worker's variable to hold.
    #[serde(rename_all = "camelCase")]
    TooLarge {
        variable: String,
        worker: String,
        bytes: usize,
    },
}

/// The most a Worker's variable may hold (Cloudflare's limit), in bytes.
pub const MAX_VAR_BYTES: usize = 5 * 1024;

impl Missing {
    pub fn describe(&self) -> String {
        match self {
            Missing::Secret {
                variable,
                for_workers,
            } => format!(
                "environment variable {variable} (a secret of {})",
                for_workers.join(", ")
            ),
            Missing::Policy => "a policy: set `policy = \"policy.toml\"` in agency.toml (or pass --example to run the example policy, which approves reads for anyone)".into(),
            Missing::Graph => "a skill graph: set `graph = \"graph/\"` in agency.toml".into(),
            Missing::TooLarge {
                variable,
                worker,
                bytes,
            } => format!(
                "a smaller {variable} for {worker}: it is {bytes} bytes, and a Worker's variable holds at most {MAX_VAR_BYTES}"
            ),
        }
    }
}

/// The plan for one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub env: String,
    pub steps: Vec<Step>,
    /// What exists and stays as it is.
    pub kept: Vec<String>,
    pub missing: Vec<Missing>,
}

impl Plan {
    /// Whether it can be carried out (nothing missing).
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// Whether carrying it out changes nothing.
    pub fn nothing_to_do(&self) -> bool {
        !self.steps.iter().any(Step::changes)
    }
}

/// The plan that takes the account from `observed` to `desired`.
pub fn plan(desired: &Desired, observed: &Observed, local: &Local) -> Plan {
    let mut steps = Vec::new();
    let mut kept = Vec::new();
    for r in desired.resources() {
        if observed.resources.contains_key(&r) {
            kept.push(format!("{} {}", r.kind(), r.name()));
        } else {
            steps.push(Step::Create { resource: r });
        }
    }
    for w in &desired.workers {
        let Some((db, migrations)) = &w.database else {
            continue;
        };
        let done = observed.migrated.get(db);
        let pending: Vec<String> = migrations
            .iter()
            .filter(|m| !done.is_some_and(|d| d.contains(**m)))
            .map(|m| (*m).to_owned())
            .collect();
        if pending.is_empty() {
            kept.push(format!("D1 database {db}: every migration applied"));
        } else {
            steps.push(Step::Migrate {
                part: w.part,
                database: db.clone(),
                migrations: pending,
            });
        }
    }
    deploys(desired, observed, local, &mut steps, &mut kept);
    if let Some(v) = &desired.graph {
        if observed.graph.as_ref() == Some(v) {
            kept.push(format!("skill graph {v}"));
        } else {
            steps.push(Step::PushGraph { version: v.clone() });
        }
    }
    let hook_is = |recorded: Option<&String>, key: String| {
        recorded.is_some() && recorded == local.hooks.get(&key)
    };
    for t in &desired.telegram {
        if hook_is(observed.telegram.get(&t.id), format!("telegram:{}", t.id)) {
            kept.push(format!("Telegram webhook of {}", t.id));
        } else {
            steps.push(Step::RegisterTelegram {
                source: t.id.clone(),
            });
        }
    }
    for d in desired.discord.iter().filter(|d| d.bot_token_env.is_some()) {
        if hook_is(observed.discord.get(&d.id), format!("discord:{}", d.id)) {
            kept.push(format!("Discord interactions endpoint of {}", d.id));
        } else {
            steps.push(Step::RegisterDiscord {
                source: d.id.clone(),
            });
        }
    }
    for w in &desired.workers {
        steps.push(Step::Check {
            part: w.part,
            worker: w.name.clone(),
        });
    }
    Plan {
        env: desired.names.env().to_owned(),
        steps,
        kept,
        missing: missing(desired, local),
    }
}

/// The Workers' deploys and secrets, in an order the bindings allow.
fn deploys(
    desired: &Desired,
    observed: &Observed,
    local: &Local,
    steps: &mut Vec<Step>,
    kept: &mut Vec<String>,
) {
    let exists = |name: &str| observed.workers.contains_key(name);
    let mut up: BTreeSet<Part> = desired
        .workers
        .iter()
        .filter(|w| exists(&w.name))
        .map(|w| w.part)
        .collect();
    let current =
        |part: Part, name: &str| match (observed.workers.get(name), local.digests.get(&part)) {
            (Some(Some(had)), Some(now)) => had == now,
            _ => false,
        };
    let todo: Vec<Part> = desired
        .workers
        .iter()
        .filter(|w| !current(w.part, &w.name))
        .map(|w| w.part)
        .collect();
    for w in &desired.workers {
        if todo.contains(&w.part) {
            continue;
        }
        kept.push(format!(
            "Worker {} (deployed from this code and configuration)",
            w.name
        ));
        // Deployed as it is, but a secret may have changed.
        let secrets = secrets_to_put(w, observed, local);
        if !secrets.is_empty() {
            steps.push(Step::Secrets {
                part: w.part,
                worker: w.name.clone(),
                secrets,
            });
        }
    }
    let mut second = Vec::new();
    for part in order(desired, &up, &todo) {
        let Some(w) = desired.worker(part) else {
            continue;
        };
        let without: Vec<Part> = w
            .calls
            .iter()
            .copied()
            .filter(|c| !up.contains(c) && *c != part)
            .collect();
        if !without.is_empty() {
            second.push(part);
        }
        steps.push(Step::Deploy {
            part,
            worker: w.name.clone(),
            without,
        });
        up.insert(part);
        let secrets = secrets_to_put(w, observed, local);
        if !secrets.is_empty() {
            steps.push(Step::Secrets {
                part,
                worker: w.name.clone(),
                secrets,
            });
        }
    }
    for part in second {
        if let Some(w) = desired.worker(part) {
            steps.push(Step::Deploy {
                part,
                worker: w.name.clone(),
                without: Vec::new(),
            });
        }
    }
}

/// The secrets of `w` to put: those it lacks, and those whose value changed since they
/// were put (or were put by someone else: their value is not known).
fn secrets_to_put(w: &crate::Worker, observed: &Observed, local: &Local) -> Vec<Secret> {
    let had = observed.secrets.get(&w.name);
    w.secrets
        .iter()
        .filter(|s| {
            let there = had.is_some_and(|h| h.contains(&s.name));
            let recorded = observed
                .secret_digests
                .get(&(w.name.clone(), s.name.clone()));
            let now = local.values.get(&s.from);
            !there || (now.is_some() && recorded != now)
        })
        .cloned()
        .collect()
}

/// The order to deploy `todo` in when `up` exist already: the one that leaves the
/// fewest Workers to deploy twice, then the fewest bindings out, then the registry's
/// order. Every order is tried (there are five Workers).
fn order(desired: &Desired, up: &BTreeSet<Part>, todo: &[Part]) -> Vec<Part> {
    let cost = |order: &[Part]| {
        let mut there = up.clone();
        let (mut twice, mut left_out) = (0, 0);
        for p in order {
            let missing = desired.worker(*p).map_or(0, |w| {
                w.calls
                    .iter()
                    .filter(|c| !there.contains(c) && *c != p)
                    .count()
            });
            twice += usize::from(missing > 0);
            left_out += missing;
            there.insert(*p);
        }
        (twice, left_out)
    };
    let mut best = todo.to_vec();
    let mut best_cost = cost(&best);
    let mut current = todo.to_vec();
    permutations(&mut current, 0, &mut |candidate| {
        let c = cost(candidate);
        if c < best_cost {
            best_cost = c;
            best = candidate.to_vec();
        }
    });
    best
}

/// Calls `f` with every ordering of `items[k..]` (Heap's order is not needed: the
/// first ordering found at the lowest cost wins, so the walk is lexicographic by
/// position).
fn permutations(items: &mut Vec<Part>, k: usize, f: &mut dyn FnMut(&[Part])) {
    if k == items.len() {
        f(items);
        return;
    }
    for i in k..items.len() {
        let p = items.remove(i);
        items.insert(k, p);
        permutations(items, k + 1, f);
        let p = items.remove(k);
        items.insert(i, p);
    }
}

fn missing(desired: &Desired, local: &Local) -> Vec<Missing> {
    let mut by_variable: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for w in &desired.workers {
        for s in &w.secrets {
            if !s.generated && !local.set.contains(&s.from) {
                by_variable
                    .entry(s.from.clone())
                    .or_default()
                    .insert(w.name.clone());
            }
        }
    }
    let mut out: Vec<Missing> = by_variable
        .into_iter()
        .map(|(variable, workers)| Missing::Secret {
            variable,
            for_workers: workers.into_iter().collect(),
        })
        .collect();
    for w in &desired.workers {
        for (name, value) in &w.vars {
            if value.len() > MAX_VAR_BYTES {
                out.push(Missing::TooLarge {
                    variable: name.clone(),
                    worker: w.name.clone(),
                    bytes: value.len(),
                });
            }
        }
    }
    if !desired.policy {
        out.push(Missing::Policy);
    }
    if desired.graph.is_none() {
        out.push(Missing::Graph);
    }
    out
}
