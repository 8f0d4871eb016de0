//! `agency deploy`: from the `agency.toml` that `agency serve` reads to the Workers of
//! one environment. What the environment should be, its Wrangler configurations and the
//! plan are computed by `agency-deploy` (pure); this module reads the config file and
//! the source checkout, writes the generated files, observes the account and carries
//! the steps out with the platform's own tools.

pub mod apply;
pub mod cloud;
pub mod dev;
pub mod front;
mod platforms;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agency_deploy::desired::{DiscordSource, Llm, TelegramSource};
use agency_deploy::wrangler::{self, Layout};
use agency_deploy::{Desired, Inputs, Local, Names};
use agency_kit::Part;
use anyhow::{Context, anyhow, bail};

use crate::config::Config;

/// The source checkout this binary was built from: the Workers are built from it.
pub fn source_root() -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if !root.join("workers").is_dir() || !root.join("services").is_dir() {
        bail!(
            "agency deploy builds the Workers from the source checkout this binary was built from ({}), which is not there",
            root.display()
        );
    }
    Ok(root)
}

/// One environment of the agency `agency.toml` describes.
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub config: Config,
    pub desired: Desired,
    /// The graph to upload, as the JSON `PUT /api/graph` takes.
    pub graph_json: Option<String>,
}

impl Project {
    /// Reads `config_file` (as `agency serve` does, without reading any secret) for
    /// environment `env`. `example`: run the example policy when the file names none.
    pub fn load(config_file: Option<&Path>, env: &str, example: bool) -> anyhow::Result<Project> {
        let names = Names::new(env)?;
        let root = source_root()?;
        let (config, raw) = match config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("{}: cannot read", path.display()))?;
                let config: Config = toml::from_str(&text).map_err(|e| {
                    let line = e
                        .span()
                        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                        .unwrap_or(1);
                    anyhow!("{}:{line}: {}", path.display(), e.message())
                })?;
                let raw: toml::Table = toml::from_str(&text)
                    .with_context(|| format!("{}: not TOML", path.display()))?;
                (config, raw)
            }
            None => (Config::default(), toml::Table::new()),
        };
        if let Some(path) = config_file {
            check_sections(&config).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        }
        let policy = match &config.policy {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("{}: cannot read the policy", p.display()))?;
                agency_approval::Policy::parse(&text, &p.display().to_string()).map_err(
                    |errors| {
                        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                        anyhow!("{}", lines.join("\n"))
                    },
                )?;
                Some(text)
            }
            None => None,
        };
        let graph = match &config.graph {
            Some(g) => Some(crate::graph_files::load(g).map_err(|errors| {
                anyhow!(
                    "{}",
                    errors
                        .0
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })?),
            None => None,
        };
        let mut sections = toml::Table::new();
        for key in ["webhooks", "gateway", "approvers", "monitoring"] {
            if let Some(v) = raw.get(key) {
                sections.insert(key.to_owned(), v.clone());
            }
        }
        // The periods only (where the local archive goes means nothing at the edge), as
        // JSON: the Workers that read it parse no TOML otherwise.
        let retention = match raw.get("retention") {
            Some(toml::Value::Table(t)) => {
                let mut t = t.clone();
                t.remove("dir");
                Some(serde_json::to_string(&t).context("[retention] as JSON")?)
            }
            _ => None,
        };
        let w = &config.webhooks;
        let sources = w.slack.iter().chain(&w.telegram).chain(&w.discord);
        let mut webhook_secrets: Vec<String> = sources
            .flat_map(|s| {
                [&s.signing_secret_env, &s.secret_token_env, &s.bot_token_env]
                    .into_iter()
                    .flatten()
                    .cloned()
            })
            .collect();
        if let Some(g) = &config.gateway {
            webhook_secrets.push(g.secret_env.clone());
        }
        webhook_secrets.sort();
        webhook_secrets.dedup();
        let inputs = Inputs {
            policy,
            example,
            sections: toml::to_string(&sections).context("the config's sections as TOML")?,
            retention,
            webhook_secrets,
            llm: config.llm.as_ref().map(|l| Llm {
                base_url: l.base_url.clone(),
                model: l.model.clone(),
                api_key_env: l.api_key_env.clone(),
            }),
            graph: graph.as_ref().map(|g| g.version()),
            telegram: w
                .telegram
                .iter()
                .map(|t| TelegramSource {
                    id: t.id.clone(),
                    secret_token_env: t.secret_token_env.clone().unwrap_or_default(),
                    bot_token_env: t.bot_token_env.clone(),
                })
                .collect(),
            slack: w.slack.iter().map(|s| s.id.clone()).collect(),
            discord: w
                .discord
                .iter()
                .map(|d| DiscordSource {
                    id: d.id.clone(),
                    application_id: d.application_id.clone().unwrap_or_default(),
                    bot_token_env: d.bot_token_env.clone(),
                })
                .collect(),
        };
        Ok(Project {
            root,
            desired: Desired::new(names, &agency_services::SERVICES, &inputs),
            graph_json: graph.map(|g| g.to_json()),
            config,
        })
    }

    /// What this machine can supply: the variables set, a digest of each secret's value
    /// (role tokens an earlier apply made up come from `tokens`), and each Worker's
    /// digest as it would be deployed now (its full configuration and its built code,
    /// when built).
    pub fn local(&self, layout: &Layout, tokens: &BTreeMap<String, String>) -> Local {
        let set = std::env::vars().map(|(k, _)| k).collect();
        let mut values = BTreeMap::new();
        for s in self.desired.workers.iter().flat_map(|w| &w.secrets) {
            let value = std::env::var(&s.from)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| s.generated.then(|| tokens.get(&s.from).cloned()).flatten());
            if let Some(v) = value {
                values.insert(s.from.clone(), agency_deploy::Secret::digest(&v));
            }
        }
        let digests = self
            .desired
            .workers
            .iter()
            .map(|w| (w.part, self.digest(w.part, layout)))
            .collect();
        Local {
            set,
            values,
            digests,
            hooks: BTreeMap::new(),
        }
    }

    /// What `part`'s Worker is deployed from, as a digest: its full configuration (as
    /// apply writes it: built already) and its built code, when built.
    pub fn digest(&self, part: Part, layout: &Layout) -> String {
        let layout = &Layout {
            prebuilt: true,
            ..layout.clone()
        };
        let text = self
            .desired
            .worker(part)
            .map(|w| wrangler::text(&self.desired, w, layout, &[]))
            .unwrap_or_default();
        let code = std::fs::read(self.wasm(part)).unwrap_or_default();
        wrangler::digest(&text, &code)
    }

    /// The built code of `part`'s Worker (worker-build's output).
    pub fn wasm(&self, part: Part) -> PathBuf {
        self.root
            .join("workers")
            .join(part.name())
            .join("build/index_bg.wasm")
    }

    /// Writes each Worker's configuration into `out` (`<part>.jsonc`; `layout` made
    /// for `out`), bindings to `omit` left out; the file names by part.
    pub fn write_configs(
        &self,
        out: &Path,
        layout: &Layout,
        omit: &BTreeMap<Part, Vec<Part>>,
    ) -> anyhow::Result<BTreeMap<Part, PathBuf>> {
        let mut files = BTreeMap::new();
        for w in &self.desired.workers {
            let path = out.join(format!("{}.jsonc", w.part));
            let leave = omit.get(&w.part).map(Vec::as_slice).unwrap_or(&[]);
            std::fs::write(&path, wrangler::text(&self.desired, w, layout, leave))
                .with_context(|| format!("{}: cannot write", path.display()))?;
            files.insert(w.part, path);
        }
        Ok(files)
    }

    /// Where the source checkout is as seen from `out` (created), the account's ids,
    /// and whether the Workers are built already.
    pub fn layout(
        &self,
        out: &Path,
        ids: &BTreeMap<String, String>,
        prebuilt: bool,
    ) -> anyhow::Result<Layout> {
        std::fs::create_dir_all(out)
            .with_context(|| format!("{}: cannot create", out.display()))?;
        let from = out
            .canonicalize()
            .with_context(|| format!("{}: cannot resolve", out.display()))?;
        let to = self.root.canonicalize().context("the source checkout")?;
        Ok(Layout {
            root: relative(&from, &to),
            ids: ids.clone(),
            prebuilt,
        })
    }
}

/// The `[webhooks]`, `[gateway]` and `[[approvers]]` sections checked as the webhooks
/// Worker will check them at start (keys of the wrong platform, required keys, rates,
/// the gateway's URL), before anything is deployed. A secret that is set is checked
/// too; one that is not stands in with a well-formed value (`plan` names it missing).
fn check_sections(config: &Config) -> Result<(), String> {
    let gateway = config.gateway.as_ref().map(|g| g.secret_env.as_str());
    let env = |name: &str| {
        let set = std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(set.unwrap_or_else(|| {
            if Some(name) == gateway {
                agency_webhook::standard::Secret::from_bytes(&[7; 32])
                    .map(|s| s.to_text())
                    .unwrap_or_default()
            } else {
                "stand-in-secret-0123456789".to_owned()
            }
        }))
    };
    agency_webhooks_service::config::settings(
        &config.webhooks,
        config.gateway.as_ref(),
        &config.approvers,
        &env,
    )
    .map(|_| ())
}

/// The HTTP client of every call `agency deploy` makes itself (the Cloudflare API, the
/// Workers, the chat platforms): any status is an answer, none takes past `timeout`.
pub(crate) fn http(timeout: std::time::Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(concat!("agency/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Uploads a graph (`PUT {base}/api/graph` with an operator token); the version the
/// service stored it as.
pub fn push_graph(base: &str, token: &str, json: &str) -> anyhow::Result<String> {
    let url = format!("{}/api/graph", base.trim_end_matches('/'));
    let agent = http(std::time::Duration::from_secs(60));
    let mut resp = agent
        .put(&url)
        .header("authorization", &format!("Bearer {token}"))
        .header("content-type", "application/json")
        .send(json)
        .map_err(|e| anyhow!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.body_mut().read_json().unwrap_or_default();
    if !(200..300).contains(&status) {
        bail!(
            "{url} answered {status}: {}",
            agency_kit::http::error_message(&body)
        );
    }
    Ok(body["version"].as_str().unwrap_or_default().to_owned())
}

/// `to` as a path relative to `from` (both absolute), with `/` separators.
fn relative(from: &Path, to: &Path) -> String {
    let f: Vec<_> = from.components().collect();
    let t: Vec<_> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_then_descend() {
        let r = |a: &str, b: &str| relative(Path::new(a), Path::new(b));
        assert_eq!(r("/repo/target/deploy", "/repo"), "../..");
        assert_eq!(r("/repo", "/repo"), ".");
        assert_eq!(r("/tmp/x", "/repo"), "../../repo");
    }
}
