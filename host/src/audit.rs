//! Where `agency skills learn --from-audit` and `agency skills diff` find the stored
//! decisions and the current graph: a running service by URL (HTTP, with a token), or
//! a local server's data directory, opened here without a server. Both answer the same
//! endpoints (`GET /api/graph`, `GET /api/route/decisions`, `POST /api/graph/preview`):
//! the directory through the services' own handlers, so what a command reads and
//! reports is what the API would answer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agency_kit::routes;
use agency_kit::{ApiError, Clock, PortError, Random, Request};
use agency_router::contract::{AuditedDecision, read_audit};
use agency_router::{RouteDecision, RouteRequest};
use agency_router_service::{RouterPorts, RoutingState};
use agency_skill_graph::SkillGraph;
use agency_skill_graph_service::GraphPorts;
use anyhow::{Context, anyhow, bail};
use http::Method;
use serde_json::Value;

use crate::store::Store;

/// A service to read from: `http(s)://…` or a data directory.
pub enum Source {
    Remote { base: String, token: Option<String> },
    Local(Offline),
}

impl Source {
    /// `spec` is a base URL (`http://127.0.0.1:8080`) or a data directory holding
    /// `agency.db` (what `agency serve --data` wrote).
    pub fn open(spec: &str, token: Option<String>) -> anyhow::Result<Source> {
        if spec.starts_with("http://") || spec.starts_with("https://") {
            return Ok(Source::Remote {
                base: spec.trim_end_matches('/').to_owned(),
                token,
            });
        }
        let db = PathBuf::from(spec).join("agency.db");
        if !db.is_file() {
            bail!(
                "{spec}: neither an http(s) URL nor a data directory (no {})",
                db.display()
            );
        }
        Ok(Source::Local(Offline::open(&db)?))
    }

    /// Where it is, for messages.
    pub fn name(&self) -> String {
        match self {
            Source::Remote { base, .. } => base.clone(),
            Source::Local(o) => o.path.display().to_string(),
        }
    }

    /// `method path` with a JSON body (null: none): the status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        match self {
            Source::Remote { base, token } => {
                let url = format!("{base}{path}");
                let what = format!("{method} {url}");
                let (token, body) = (token.clone(), body.clone());
                tokio::task::spawn_blocking(move || {
                    http_call(&url, token.as_deref(), method, &body)
                })
                .await?
                .with_context(|| what)
            }
            Source::Local(o) => Ok(o.call(method, path, body).await),
        }
    }

    /// `GET path`, which must answer 200.
    async fn get_ok(&self, path: &str) -> anyhow::Result<Value> {
        match self.call(Method::GET, path, &Value::Null).await? {
            (200, v) => Ok(v),
            (status, v) => Err(anyhow!(
                "{}: GET {path} answered {status}: {v}",
                self.name()
            )),
        }
    }

    /// The graph routing now.
    pub async fn current_graph(&self) -> anyhow::Result<SkillGraph> {
        let v = self.get_ok("/api/graph").await?;
        SkillGraph::from_json(&v.to_string())
            .map_err(|e| anyhow!("{}: the current graph does not load: {e}", self.name()))
    }

    /// The newest `limit` decisions, only those with feedback if `feedback_only`.
    pub async fn decisions(
        &self,
        limit: u32,
        feedback_only: bool,
    ) -> anyhow::Result<Vec<AuditedDecision>> {
        let read = read_audit(
            |path| async move { self.call(Method::GET, &path, &Value::Null).await },
            limit,
            feedback_only,
        )
        .await?;
        read.map_err(|e| anyhow!("{}: {e}", self.name()))
    }
}

fn agent() -> &'static ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .user_agent(concat!("agency-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    })
}

/// `method url` with a JSON body (null: none), blocking: the status and JSON body.
pub fn http_call(
    url: &str,
    token: Option<&str>,
    method: Method,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let mut req = ureq::http::Request::builder()
        .method(method.as_str())
        .uri(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        req = req.header("content-type", "application/json");
        body.to_string().into_bytes()
    };
    let mut resp = agent().run(req.body(bytes)?)?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// A local server's data opened without a server: the skill-graph and router services'
/// handlers over its SQLite file. Routing itself is not served here (a preview routes
/// with the router core directly).
pub struct Offline {
    store: Store,
    path: PathBuf,
}

impl Offline {
    pub fn open(db: &Path) -> anyhow::Result<Offline> {
        Ok(Offline {
            store: Store::open(db).with_context(|| format!("{}: cannot open", db.display()))?,
            path: db.to_owned(),
        })
    }

    /// One request to the skill-graph or router service, trusted (no token).
    pub async fn call(&self, method: Method, path_and_query: &str, body: &Value) -> (u16, Value) {
        let answer = Box::pin(self.answer(method, path_and_query, body)).await;
        let r = answer.unwrap_or_else(ApiError::into_response);
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_slice(r.body()).unwrap_or(Value::Null),
        )
    }

    async fn answer(
        &self,
        method: Method,
        path_and_query: &str,
        body: &Value,
    ) -> agency_kit::ApiResult {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (path_and_query, None),
        };
        let request = |params: Vec<String>| Request {
            method: method.clone(),
            path: path.to_owned(),
            query: query.clone(),
            headers: http::HeaderMap::new(),
            body: if body.is_null() {
                Vec::new()
            } else {
                body.to_string().into_bytes()
            },
            params,
        };
        match routes::find(agency_skill_graph_service::ROUTES, &method, path) {
            Ok(m) => agency_skill_graph_service::call(self, m.endpoint, request(m.params)).await,
            Err(miss) => match routes::find(agency_router_service::ROUTES, &method, path) {
                Ok(m) => agency_router_service::call(self, m.endpoint, request(m.params)).await,
                Err(other) => Ok(miss.or(other).into_response()),
            },
        }
    }
}

impl Clock for Offline {
    fn now_ms(&self) -> i64 {
        crate::store::now_ms()
    }
}

impl Random for Offline {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), PortError> {
        crate::server::ports::OsRandom.fill(bytes)
    }
}

impl agency_kit::Metrics for Offline {
    fn sample(&self, _f: &mut dyn FnMut(&mut agency_monitor::Registry)) {}
}

impl GraphPorts for Offline {
    type Db = Store;
    fn db(&self) -> &Store {
        &self.store
    }

    type UploadGuard = ();
    async fn upload_lock(&self) {}

    async fn cached(&self, _version: &str) -> Option<std::sync::Arc<SkillGraph>> {
        None
    }

    async fn remember(
        &self,
        _version: &str,
        _json: &str,
        _graph: &std::sync::Arc<SkillGraph>,
    ) -> Result<(), PortError> {
        Ok(())
    }

    async fn activate(&self, _graph: &std::sync::Arc<SkillGraph>) -> Result<(), ApiError> {
        Err(ApiError::new(
            http::StatusCode::CONFLICT,
            "not_serving",
            "a data directory opened without its server cannot take a new graph: upload it to the server",
        ))
    }

    async fn health_changed(
        &self,
        _down: &[String],
        _reports: &[agency_router::pool::InstanceReport],
    ) {
    }

    async fn router(&self, path: &str) -> Result<(u16, Value), ApiError> {
        Ok(self.call(Method::GET, path, &Value::Null).await)
    }
}

/// No routing here: `POST /api/route` on a data directory answers 409.
pub enum NotServing {}

impl RoutingState for NotServing {
    fn version(&self) -> &str {
        match *self {}
    }
    fn engine(&self) -> &'static str {
        match *self {}
    }
    fn graph(&self) -> &agency_skill_graph::SkillGraph {
        match *self {}
    }
    fn down(&self) -> &[String] {
        match *self {}
    }
    fn instances(&self) -> &[agency_router::pool::InstanceReport] {
        match *self {}
    }
    fn route(&self, _request: &RouteRequest) -> Result<RouteDecision, ApiError> {
        match *self {}
    }
}

impl RouterPorts for Offline {
    type Db = Store;
    fn db(&self) -> &Store {
        &self.store
    }

    type State = NotServing;
    async fn state(&self) -> Result<NotServing, ApiError> {
        Err(ApiError::new(
            http::StatusCode::CONFLICT,
            "not_serving",
            "a data directory opened without its server does not route",
        ))
    }

    /// Never asked: [`Self::state`] refuses first.
    async fn halts(&self) -> Result<Vec<agency_approval::HaltView>, ApiError> {
        Err(ApiError::new(
            http::StatusCode::CONFLICT,
            "not_serving",
            "a data directory opened without its server does not route",
        ))
    }
}
