//! Server configuration, layered: built-in defaults -> TOML file -> `AGENCY_*`
//! environment -> command-line flags, then validated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use agency_monitoring_service::config::MonitoringConfig;
use serde::Deserialize;

use agency_webhooks_service::config::{ApproverConfig, GatewayConfig, WebhooksConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The router component under wasmtime (the default).
    Wasm,
    /// The core crate called directly.
    Native,
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wasm" => Ok(Engine::Wasm),
            "native" => Ok(Engine::Native),
            other => Err(format!("engine must be wasm or native, got {other:?}")),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub engine: Engine,
    /// Graph loaded when the store has none yet (directory or JSON file).
    pub graph: Option<PathBuf>,
    /// Approval policy (`policy.toml`).
    pub policy: Option<PathBuf>,
    pub limits: Limits,
    pub auth: Auth,
    pub wasm: WasmLimits,
    /// An OpenAI-compatible chat-completions endpoint for free-text chat (optional).
    pub llm: Option<LlmConfig>,
    /// Chat platforms' webhooks (see `webhook_config`).
    pub webhooks: WebhooksConfig,
    /// Where routed tasks are dispatched.
    pub gateway: Option<GatewayConfig>,
    /// Who may decide approvals from chat.
    pub approvers: Vec<ApproverConfig>,
    /// Health probes and the SLA.
    pub monitoring: MonitoringConfig,
    /// Scheduled backups of the database (none unless set).
    pub backup: Option<BackupConfig>,
    /// How long each kind of record is kept before it is archived and deleted.
    pub retention: crate::retention::RetentionConfig,
    /// The webhook service's settings, secrets resolved from the environment at load.
    #[serde(skip)]
    pub webhook_settings: agency_webhooks_service::Settings,
}

/// `[backup]`: the server backs its database up on a schedule (`agency backup` does
/// it once, by hand).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// How often: a duration such as `"6h"` or `"1d"` (at least a minute).
    pub every: String,
    /// How many backups to keep (the newest); at least 1.
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// Where they go; `<data_dir>/backups` unless set.
    pub dir: Option<PathBuf>,
}

fn default_keep() -> usize {
    7
}

impl BackupConfig {
    /// `every` in seconds, if it reads as a duration.
    pub fn every_secs(&self) -> Option<u64> {
        agency_approval::duration_secs(&self.every)
    }

    /// Where the backups go, for data directory `data_dir`.
    pub fn dir_in(&self, data_dir: &Path) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| data_dir.join("backups"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// e.g. `http://127.0.0.1:8080/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// The model to ask; [`agency_approval::chat::DEFAULT_MODEL`] when not given.
    #[serde(default = "default_model")]
    pub model: String,
    /// Name of the environment variable holding the API key.
    #[serde(default = "default_key_env")]
    pub api_key_env: String,
    /// Resolved from `api_key_env` at load; never logged.
    #[serde(skip)]
    pub api_key: Option<String>,
}

fn default_model() -> String {
    agency_approval::chat::DEFAULT_MODEL.into()
}

fn default_key_env() -> String {
    "AGENCY_LLM_API_KEY".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body for routing and other small JSON requests.
    pub message_bytes: usize,
    /// Largest graph upload.
    pub graph_bytes: usize,
    /// A client must send a request's headers within this time, or its connection is
    /// closed (also while a kept-alive connection waits for its next request).
    pub header_timeout_ms: u64,
    /// Longest time one request may take, reading its body included: past it the
    /// answer is 408, and a client trickling a body cannot hold a connection.
    pub request_timeout_ms: u64,
    /// Open connections at most; more wait to be accepted.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    pub gateway_tokens: Vec<String>,
    pub operator_tokens: Vec<String>,
    pub viewer_tokens: Vec<String>,
}

impl Auth {
    /// The tokens as the service layer checks them.
    pub fn tokens(&self) -> agency_kit::Tokens {
        agency_kit::Tokens {
            operator: self.operator_tokens.clone(),
            gateway: self.gateway_tokens.clone(),
            viewer: self.viewer_tokens.clone(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.gateway_tokens.is_empty()
            && self.operator_tokens.is_empty()
            && self.viewer_tokens.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WasmLimits {
    /// Wall-clock limit of one component call, in milliseconds.
    pub call_timeout_ms: u64,
    /// Exact instruction budget per call; 0 = no metering (the default: it costs time).
    pub fuel_per_call: u64,
    pub max_memory_mb: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data_dir: PathBuf::from(".agency"),
            engine: Engine::Wasm,
            graph: None,
            policy: None,
            limits: Limits::default(),
            auth: Auth::default(),
            wasm: WasmLimits::default(),
            llm: None,
            webhooks: WebhooksConfig::default(),
            gateway: None,
            approvers: Vec::new(),
            monitoring: MonitoringConfig::default(),
            backup: None,
            retention: Default::default(),
            webhook_settings: agency_webhooks_service::Settings::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            message_bytes: 64 * 1024,
            graph_bytes: 8 * 1024 * 1024,
            header_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
            max_connections: 4096,
        }
    }
}

impl Default for WasmLimits {
    fn default() -> Self {
        WasmLimits {
            call_timeout_ms: 1000,
            fuel_per_call: 0,
            max_memory_mb: 512,
        }
    }
}

impl Config {
    /// Defaults, then `file` if given, then the environment (`vars`, usually
    /// `std::env::vars()`), validated.
    pub fn load(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, String> {
        let mut config = match file {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| {
                    let line = e
                        .span()
                        .map(|s| {
                            text.as_bytes()[..s.start.min(text.len())]
                                .iter()
                                .filter(|b| **b == b'\n')
                                .count()
                                + 1
                        })
                        .unwrap_or(1);
                    format!("{}:{line}: {}", path.display(), e.message())
                })?
            }
        };
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        for (key, value) in &vars {
            match key.as_str() {
                "AGENCY_LLM_BASE_URL" => {
                    let model = config
                        .llm
                        .as_ref()
                        .map(|l| l.model.clone())
                        .unwrap_or_else(default_model);
                    config.llm = Some(LlmConfig {
                        base_url: value.clone(),
                        model,
                        api_key_env: default_key_env(),
                        api_key: None,
                    });
                }
                "AGENCY_LLM_MODEL" => {
                    if let Some(l) = &mut config.llm {
                        l.model = value.clone();
                    }
                }
                _ => {}
            }
        }
        if let Some(l) = &mut config.llm {
            l.api_key = vars
                .iter()
                .find(|(k, _)| *k == l.api_key_env)
                .map(|(_, v)| v.clone());
        }
        let env = |name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        config.webhook_settings = agency_webhooks_service::config::settings(
            &config.webhooks,
            config.gateway.as_ref(),
            &config.approvers,
            &env,
        )?;
        for (key, value) in vars {
            let bad = |what: &str| format!("environment variable {key}: {what}");
            match key.as_str() {
                "AGENCY_ADDR" => {
                    config.addr = value.parse().map_err(|_| bad("expected HOST:PORT"))?
                }
                "AGENCY_DATA_DIR" => config.data_dir = PathBuf::from(value),
                "AGENCY_ENGINE" => config.engine = value.parse().map_err(|e: String| bad(&e))?,
                "AGENCY_GRAPH" => config.graph = Some(PathBuf::from(value)),
                "AGENCY_POLICY" => config.policy = Some(PathBuf::from(value)),
                "AGENCY_MAX_MESSAGE_BYTES" => {
                    config.limits.message_bytes =
                        value.parse().map_err(|_| bad("expected a byte count"))?
                }
                "AGENCY_MAX_GRAPH_BYTES" => {
                    config.limits.graph_bytes =
                        value.parse().map_err(|_| bad("expected a byte count"))?
                }
                "AGENCY_GATEWAY_TOKEN" => config.auth.gateway_tokens.push(value),
                "AGENCY_OPERATOR_TOKEN" => config.auth.operator_tokens.push(value),
                "AGENCY_VIEWER_TOKEN" => config.auth.viewer_tokens.push(value),
                _ => {}
            }
        }
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.limits.message_bytes < 1024 {
            return Err("limits.message_bytes must be at least 1024".into());
        }
        if self.limits.graph_bytes < self.limits.message_bytes {
            return Err("limits.graph_bytes must be at least limits.message_bytes".into());
        }
        if self.limits.header_timeout_ms == 0 || self.limits.request_timeout_ms == 0 {
            return Err(
                "limits.header_timeout_ms and limits.request_timeout_ms must be above 0".into(),
            );
        }
        self.monitoring.validate()?;
        if let Some(b) = &self.backup {
            match b.every_secs() {
                Some(s) if s >= 60 => {}
                _ => {
                    return Err(format!(
                        "backup.every must be a duration of at least a minute, such as \"6h\", got {:?}",
                        b.every
                    ));
                }
            }
            if b.keep == 0 {
                return Err("backup.keep must be at least 1".into());
            }
        }
        self.retention.validate(&agency_services::retained())?;
        if self.limits.max_connections == 0 {
            return Err("limits.max_connections must be at least 1".into());
        }
        let all = self
            .auth
            .gateway_tokens
            .iter()
            .chain(&self.auth.operator_tokens)
            .chain(&self.auth.viewer_tokens);
        for t in all {
            if t.len() < 16 {
                return Err("auth tokens must be at least 16 characters".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_file_then_env() {
        let dir = std::env::temp_dir().join(format!("agency-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("agency.toml");
        std::fs::write(
            &file,
            "addr = \"127.0.0.1:9000\"\nengine = \"native\"\n[limits]\nmessage_bytes = 2048\n",
        )
        .unwrap();
        let env = vec![
            ("AGENCY_ADDR".to_owned(), "127.0.0.1:9001".to_owned()),
            (
                "AGENCY_OPERATOR_TOKEN".to_owned(),
                "op-token-0123456789".to_owned(),
            ),
        ];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.addr.port(), 9001);
        assert_eq!(c.engine, Engine::Native);
        assert_eq!(c.limits.message_bytes, 2048);
        assert_eq!(c.auth.operator_tokens, vec!["op-token-0123456789"]);
    }

    #[test]
    fn file_errors_name_file_and_line() {
        let dir = std::env::temp_dir().join(format!("agency-cfg-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("agency.toml");
        std::fs::write(&file, "addr = \"127.0.0.1:9000\"\nnope = 1\n").unwrap();
        let err = Config::load(Some(&file), vec![]).unwrap_err();
        assert!(err.contains("agency.toml:2:"), "{err}");
    }

    /// Without a model named, the local server asks for the same default as the edge.
    #[test]
    fn the_default_model_is_the_cores() {
        let url = (
            "AGENCY_LLM_BASE_URL".to_owned(),
            "http://127.0.0.1:1/v1".to_owned(),
        );
        let c = Config::load(None, vec![url.clone()]).unwrap();
        assert_eq!(c.llm.unwrap().model, agency_approval::chat::DEFAULT_MODEL);
        let named = ("AGENCY_LLM_MODEL".to_owned(), "local-model".to_owned());
        let c = Config::load(None, vec![url, named]).unwrap();
        assert_eq!(c.llm.unwrap().model, "local-model");

        let dir = std::env::temp_dir().join(format!("agency-cfg-llm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("agency.toml");
        std::fs::write(&file, "[llm]\nbase_url = \"http://127.0.0.1:1/v1\"\n").unwrap();
        let c = Config::load(Some(&file), vec![]).unwrap();
        assert_eq!(c.llm.unwrap().model, agency_approval::chat::DEFAULT_MODEL);
    }

    #[test]
    fn short_tokens_rejected() {
        let err = Config::load(
            None,
            vec![("AGENCY_VIEWER_TOKEN".to_owned(), "short".to_owned())],
        )
        .unwrap_err();
        assert!(err.contains("16 characters"));
    }
}
