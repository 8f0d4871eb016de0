//! Each Worker's Wrangler configuration (JSONC), generated from its [`Worker`]: the
//! same input gives the same bytes. Ids the account has not given yet (a database not
//! created, a plan made offline) are stand-ins derived from the resource's name, so
//! `wrangler dev` keeps each database and namespace apart and `wrangler deploy
//! --dry-run` checks the rest.

use std::collections::BTreeMap;

use agency_kit::Part;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::desired::{Desired, Worker};

/// The Workers' compatibility date.
pub const COMPATIBILITY_DATE: &str = "2025-06-01";

/// How the queue consumers take their messages: up to ten at once, within a second;
/// twenty deliveries before a message goes to the dead-letter queue.
pub const QUEUE_BATCH: u32 = 10;
pub const QUEUE_RETRIES: u32 = 20;

/// Where the generated files sit relative to the repository, and the ids the account
/// gave (resource name -> id).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The repository root as seen from the directory the configuration is written to
    /// (`../..`), with `/` separators.
    pub root: String,
    pub ids: BTreeMap<String, String>,
    /// The Workers are built already (`worker-build` ran): no build command, so
    /// Wrangler takes `build/` as it is.
    pub prebuilt: bool,
}

impl Layout {
    fn path(&self, rel: &str) -> String {
        if self.root.is_empty() || self.root == "." {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.root.trim_end_matches('/'))
        }
    }

    /// The account's id for `name`, or a stand-in shaped like one (`uuid`: D1's shape,
    /// else KV's 32 hex digits).
    pub fn id(&self, name: &str, uuid: bool) -> String {
        if let Some(id) = self.ids.get(name) {
            return id.clone();
        }
        let h = hex::encode(Sha256::digest(format!("agency-stand-in:{name}")));
        if uuid {
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        } else {
            h[..32].to_owned()
        }
    }
}

/// The configuration of `w`, leaving out the service bindings to `omit` (Workers that
/// do not exist yet on a first deploy).
pub fn config(desired: &Desired, w: &Worker, layout: &Layout, omit: &[Part]) -> Value {
    let dir = format!("workers/{}", w.part.name());
    let mut c = json!({
        "name": w.name,
        "main": layout.path(&format!("{dir}/build/index.js")),
        "compatibility_date": COMPATIBILITY_DATE,
        "workers_dev": true,
        "observability": { "enabled": true },
    });
    let o = c
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("an object"));
    if !layout.prebuilt {
        o.insert(
            "build".into(),
            json!({
                "command": "worker-build --release",
                "cwd": layout.path(&dir),
                "watch_dir": [layout.path(&format!("{dir}/src"))],
            }),
        );
    }
    if let Some((db, _)) = &w.database {
        o.insert(
            "d1_databases".into(),
            json!([{
                "binding": "DB",
                "database_name": db,
                "database_id": layout.id(db, true),
                "migrations_dir": layout.path(&format!("services/{}/migrations", w.part.name())),
            }]),
        );
    }
    if !w.namespaces.is_empty() {
        let kv: Vec<Value> = w
            .namespaces
            .iter()
            .map(|(b, n)| json!({ "binding": b, "id": layout.id(n, false) }))
            .collect();
        o.insert("kv_namespaces".into(), Value::Array(kv));
    }
    let objects = w.objects;
    if !objects.is_empty() {
        let bindings: Vec<Value> = objects
            .iter()
            .map(|d| json!({ "name": d.binding, "class_name": d.class }))
            .collect();
        let classes: Vec<&str> = objects.iter().map(|d| d.class).collect();
        o.insert("durable_objects".into(), json!({ "bindings": bindings }));
        o.insert(
            "migrations".into(),
            json!([{ "tag": "v1", "new_sqlite_classes": classes }]),
        );
    }
    if !w.queues.is_empty() {
        let producers: Vec<Value> = w
            .queues
            .iter()
            .map(|(b, q, _)| json!({ "binding": b, "queue": q }))
            .collect();
        let mut consumers = Vec::new();
        for (_, q, dead) in &w.queues {
            let mut c = json!({
                "queue": q,
                "max_batch_size": QUEUE_BATCH,
                "max_batch_timeout": 1,
                "max_retries": QUEUE_RETRIES,
            });
            if let Some(d) = dead {
                c["dead_letter_queue"] = json!(d);
                consumers.push(c);
                consumers.push(
                    json!({ "queue": d, "max_batch_size": QUEUE_BATCH, "max_batch_timeout": 1 }),
                );
            } else {
                consumers.push(c);
            }
        }
        o.insert(
            "queues".into(),
            json!({ "producers": producers, "consumers": consumers }),
        );
    }
    if let Some(b) = &w.bucket {
        o.insert(
            "r2_buckets".into(),
            json!([{ "binding": "ARCHIVE", "bucket_name": b }]),
        );
    }
    let services: Vec<Value> = w
        .calls
        .iter()
        .filter(|p| !omit.contains(p))
        .map(|p| json!({ "binding": p.binding(), "service": desired.names.worker(*p) }))
        .collect();
    if !services.is_empty() {
        o.insert("services".into(), Value::Array(services));
    }
    let crons = w.crons;
    if !crons.is_empty() {
        o.insert("triggers".into(), json!({ "crons": crons }));
    }
    if !w.vars.is_empty() {
        o.insert("vars".into(), json!(w.vars));
    }
    c
}

/// `config` as the file's text, with a header saying where it came from.
pub fn text(desired: &Desired, w: &Worker, layout: &Layout, omit: &[Part]) -> String {
    let body = serde_json::to_string_pretty(&config(desired, w, layout, omit))
        .unwrap_or_else(|_| unreachable!("a JSON value prints"));
    format!(
        "// The {} Worker of environment {:?}, generated by `agency deploy build` from the\n\
         // service registry and agency.toml: edit those, not this file. Secrets it reads:\n\
         // {}.\n{body}\n",
        w.part,
        desired.names.env(),
        w.secrets
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A digest of what a Worker is deployed from: its configuration and its code.
pub fn digest(config_text: &str, code: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(config_text.as_bytes());
    h.update([0]);
    h.update(code);
    hex::encode(&h.finalize()[..16])
}
