//! The Cloudflare API where Wrangler has no command for what `agency deploy` needs:
//! listing an account's D1 databases, KV namespaces, Queues, R2 buckets, Workers and
//! their secrets, creating and deleting those resources, and the account's
//! `workers.dev` subdomain. `CLOUDFLARE_ACCOUNT_ID` and `CLOUDFLARE_API_TOKEN` as
//! Wrangler reads them; `CLOUDFLARE_API_BASE_URL` points both elsewhere (tests use a
//! local stand-in speaking the same wire format).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use agency_deploy::Resource;
use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

/// The API's base URL when none is set.
pub const API: &str = "https://api.cloudflare.com/client/v4";

/// An account, reached with a token.
pub struct Cloud {
    base: String,
    account: String,
    token: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloud")
            .field("base", &self.base)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// What the account holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    pub resources: BTreeMap<Resource, String>,
    pub workers: BTreeSet<String>,
}

impl Cloud {
    /// From the environment, as Wrangler reads it.
    pub fn from_env() -> anyhow::Result<Cloud> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(account), Some(token)) =
            (var("CLOUDFLARE_ACCOUNT_ID"), var("CLOUDFLARE_API_TOKEN"))
        else {
            bail!(
                "set CLOUDFLARE_ACCOUNT_ID (your account's id) and CLOUDFLARE_API_TOKEN (a token allowed to edit Workers, D1, KV, Queues and R2), or plan with --offline"
            );
        };
        Ok(Cloud {
            base: var("CLOUDFLARE_API_BASE_URL")
                .unwrap_or_else(|| API.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            account,
            token,
            agent: super::http(Duration::from_secs(60)),
        })
    }

    /// One call; its `result`, or the API's own words for why not.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        self.envelope(method, path, body).map(|(result, _)| result)
    }

    /// One call: the answer's `result` and `result_info` (where a list's cursor is).
    fn envelope(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(Value, Value)> {
        let url = format!("{}/accounts/{}{path}", self.base, self.account);
        let auth = format!("Bearer {}", self.token);
        let sent = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("authorization", &auth)
                .call(),
            ("POST", Some(b)) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(b.to_string()),
            _ => bail!("{method} {path}: not a call this client makes"),
        };
        let mut resp = sent.map_err(|e| anyhow!("{method} {path}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("{method} {path}: the answer could not be read"))?;
        let v: Value = serde_json::from_str(&text).map_err(|_| {
            anyhow!(
                "{method} {path}: the API answered {status} with no JSON: {}",
                text.chars().take(200).collect::<String>()
            )
        })?;
        if v["success"] == json!(true) {
            return Ok((v["result"].clone(), v["result_info"].clone()));
        }
        let errors: Vec<String> = v["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| format!("{} ({})", e["message"].as_str().unwrap_or("?"), e["code"]))
            .collect();
        let hint = if status == 401 || status == 403 {
            " (is CLOUDFLARE_API_TOKEN valid and allowed to edit Workers, D1, KV, Queues and R2?)"
        } else {
            ""
        };
        bail!("{method} {path}: {status}: {}{hint}", errors.join("; "))
    }

    /// Every item of a paged list (`page`, `per_page`).
    fn list(&self, path: &str, per_page: usize) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        for page in 1.. {
            let sep = if path.contains('?') { '&' } else { '?' };
            let items = self.call(
                "GET",
                &format!("{path}{sep}page={page}&per_page={per_page}"),
                None,
            )?;
            let items = items.as_array().cloned().unwrap_or_default();
            let n = items.len();
            out.extend(items);
            if n < per_page || page > 1000 {
                break;
            }
        }
        Ok(out)
    }

    /// What the account holds of the kinds `agency deploy` makes.
    pub fn account(&self) -> anyhow::Result<Account> {
        let mut resources = BTreeMap::new();
        let mut add = |items: Vec<Value>, name: &str, id: &str, make: fn(String) -> Resource| {
            for i in items {
                if let (Some(n), Some(d)) = (i[name].as_str(), i[id].as_str()) {
                    resources.insert(make(n.to_owned()), d.to_owned());
                }
            }
        };
        add(
            self.list("/d1/database", 100)?,
            "name",
            "uuid",
            Resource::Database,
        );
        add(
            self.list("/storage/kv/namespaces", 100)?,
            "title",
            "id",
            Resource::Namespace,
        );
        // The queues list comes whole (it takes no paging).
        let queues = self.call("GET", "/queues", None)?;
        add(
            queues.as_array().cloned().unwrap_or_default(),
            "queue_name",
            "queue_id",
            Resource::Queue,
        );
        for n in self.buckets()? {
            resources.insert(Resource::Bucket(n.clone()), n);
        }
        let workers = self
            .call("GET", "/workers/scripts", None)?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect();
        Ok(Account { resources, workers })
    }

    /// Every R2 bucket's name (the list is paged by a cursor).
    fn buckets(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        for _ in 0..1000 {
            let path = if cursor.is_empty() {
                "/r2/buckets?per_page=1000".to_owned()
            } else {
                format!("/r2/buckets?per_page=1000&cursor={cursor}")
            };
            let (result, info) = self.envelope("GET", &path, None)?;
            out.extend(
                result["buckets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|b| b["name"].as_str().map(str::to_owned)),
            );
            match info["cursor"].as_str() {
                Some(c) if !c.is_empty() && c != cursor => cursor = c.to_owned(),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The names of `worker`'s secrets.
    pub fn secrets(&self, worker: &str) -> anyhow::Result<BTreeSet<String>> {
        Ok(self
            .call("GET", &format!("/workers/scripts/{worker}/secrets"), None)?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str().map(str::to_owned))
            .collect())
    }

    /// Creates `r`; its id.
    pub fn create(&self, r: &Resource) -> anyhow::Result<String> {
        let (path, body, id) = match r {
            Resource::Database(n) => ("/d1/database", json!({ "name": n }), "uuid"),
            Resource::Namespace(n) => ("/storage/kv/namespaces", json!({ "title": n }), "id"),
            Resource::Queue(n) => ("/queues", json!({ "queue_name": n }), "queue_id"),
            Resource::Bucket(n) => ("/r2/buckets", json!({ "name": n }), "name"),
        };
        let made = self.call("POST", path, Some(&body))?;
        made[id]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("POST {path}: the answer names no {id}"))
    }

    /// Deletes `r` (by its id).
    pub fn delete(&self, r: &Resource, id: &str) -> anyhow::Result<()> {
        let path = match r {
            Resource::Database(_) => format!("/d1/database/{id}"),
            Resource::Namespace(_) => format!("/storage/kv/namespaces/{id}"),
            Resource::Queue(_) => format!("/queues/{id}"),
            Resource::Bucket(n) => format!("/r2/buckets/{n}"),
        };
        self.call("DELETE", &path, None).map(|_| ())
    }

    /// The account's `workers.dev` subdomain (`<sub>.workers.dev`).
    pub fn subdomain(&self) -> anyhow::Result<String> {
        let s = self.call("GET", "/workers/subdomain", None)?;
        s["subdomain"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the account has no workers.dev subdomain yet: open Workers & Pages in the dashboard once to pick one"))
    }
}
