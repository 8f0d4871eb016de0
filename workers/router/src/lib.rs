//! The router Worker: wiring only. The endpoints are `agency-router-service`'s; this
//! crate implements its ports: decisions in D1, and the routing state from the
//! skill-graph Worker over a service binding, its keyword index built once per graph
//! version and kept in the isolate.

use std::cell::RefCell;
use std::rc::Rc;

use agency_approval::HaltView;
use agency_edge::{D1, upstream};
use agency_kit::ApiError;
use agency_router::pool::InstanceReport;
use agency_router::{RouteDecision, RouteRequest, RouterIndex};
use agency_router_service::{HALTS_STALE_MS, ROUTES, RouterPorts, RoutingState, call, health};
use agency_skill_graph::SkillGraph;
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use worker::{Context, Env, Headers, Method, Request, RequestInit, Response, event};

/// A graph version with its index.
struct Loaded {
    version: String,
    graph: SkillGraph,
    index: RouterIndex,
}

thread_local! {
    static INDEX: RefCell<Option<Rc<Loaded>>> = const { RefCell::new(None) };
    /// The halts as last read from the assistant, and when (ms).
    static HALTS: RefCell<Option<(i64, Rc<Vec<HaltView>>)>> = const { RefCell::new(None) };
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    agency_edge::serve_service(req, &env, &ctx, || Edge::new(&env)).await
}

/// Every ten minutes: retention (decisions and feedback past their period archived to
/// the bucket, then deleted; [`agency_edge::archive`]).
#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, ctx: worker::ScheduleContext) {
    agency_edge::run_cron(&env, &ctx, || Edge::new(&env)).await;
}

impl agency_edge::Served for Edge<'_> {
    type Endpoint = agency_router_service::Endpoint;
    fn service() -> &'static agency_kit::Service {
        &agency_router_service::SERVICE
    }
    fn routes() -> &'static [agency_kit::Route<Self::Endpoint>] {
        ROUTES
    }
    async fn health(&self) -> (bool, Value) {
        health(self).await
    }
    async fn call(&self, e: Self::Endpoint, request: agency_kit::Request) -> agency_kit::ApiResult {
        call(self, e, request).await
    }
}

agency_edge::d1_ports!(
    /// The router's ports on this Worker's bindings.
    Edge
);

/// The routing state of one request.
struct EdgeRouting {
    loaded: Rc<Loaded>,
    down: Vec<String>,
    instances: Vec<InstanceReport>,
}

impl RoutingState for EdgeRouting {
    fn version(&self) -> &str {
        &self.loaded.version
    }
    fn engine(&self) -> &'static str {
        "edge"
    }
    fn graph(&self) -> &SkillGraph {
        &self.loaded.graph
    }
    fn down(&self) -> &[String] {
        &self.down
    }
    fn instances(&self) -> &[InstanceReport] {
        &self.instances
    }
    /// `routingLatency` stays null: a Worker's clocks (`Date.now()`,
    /// `performance.now()`) stand still during a computation (they move on only with
    /// I/O, a Spectre mitigation), so a measurement here would always read 0.
    fn route(&self, request: &RouteRequest) -> Result<RouteDecision, ApiError> {
        Ok(self.loaded.index.route(request))
    }
}

impl RouterPorts for Edge<'_> {
    type Db = D1;
    fn db(&self) -> &D1 {
        &self.db
    }

    type State = EdgeRouting;

    /// Asks the skill-graph Worker, sending the graph only when our version is stale.
    async fn state(&self) -> Result<EdgeRouting, ApiError> {
        let have = INDEX.with(|c| c.borrow().clone());
        let service = self
            .env
            .service(agency_kit::Part::SkillGraph.binding())
            .map_err(upstream)?;
        let token = agency_edge::own_token(self.env, "AGENCY_VIEWER_TOKEN");
        let headers = Headers::new();
        headers
            .set("authorization", &format!("Bearer {token}"))
            .map_err(upstream)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(headers);
        let url = match &have {
            Some(l) => format!(
                "https://skill-graph/internal/routing-state?have={}",
                l.version
            ),
            None => "https://skill-graph/internal/routing-state".to_owned(),
        };
        let request = Request::new_with_init(&url, &init).map_err(upstream)?;
        let mut resp = service.fetch_request(request).await.map_err(upstream)?;
        match resp.status_code() {
            200 => {}
            404 => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_graph",
                    "no skill graph has been uploaded yet",
                ));
            }
            status => return Err(upstream(format!("skill-graph answered {status}")).into()),
        }
        #[derive(Deserialize)]
        struct State {
            version: String,
            down: Vec<String>,
            #[serde(default)]
            instances: Vec<InstanceReport>,
            graph: Option<Value>,
        }
        let state: State = resp.json().await.map_err(upstream)?;
        let loaded = match (have, state.graph) {
            (Some(l), None) if l.version == state.version => l,
            (_, Some(g)) => {
                let graph = SkillGraph::from_json(&g.to_string())
                    .map_err(|e| upstream(format!("skill-graph sent an invalid graph: {e}")))?;
                let index = RouterIndex::build(&graph)
                    .map_err(|e| upstream(format!("the graph could not be indexed: {e}")))?;
                let l = Rc::new(Loaded {
                    version: state.version,
                    graph,
                    index,
                });
                INDEX.with(|c| *c.borrow_mut() = Some(l.clone()));
                l
            }
            (_, None) => return Err(upstream("skill-graph sent no graph").into()),
        };
        Ok(EdgeRouting {
            loaded,
            down: state.down,
            instances: state.instances,
        })
    }

    /// The isolate's copy, read again from the assistant Worker (its ledger's halts,
    /// over the `ASSISTANT` binding) once it is [`HALTS_STALE_MS`] old.
    async fn halts(&self) -> Result<Vec<HaltView>, ApiError> {
        let now = worker::Date::now().as_millis() as i64;
        if let Some(h) = HALTS.with(|c| {
            c.borrow()
                .as_ref()
                .filter(|(at, _)| now - at < HALTS_STALE_MS)
                .map(|(_, h)| h.clone())
        }) {
            return Ok(h.as_ref().clone());
        }
        let (status, body) = agency_edge::peer(
            self.env,
            agency_kit::Part::Assistant,
            http::Method::GET,
            "/api/halt",
            &Value::Null,
        )
        .await?;
        if status != 200 {
            return Err(upstream(format!("the assistant's halts answered {status}")).into());
        }
        let halts: agency_approval::HaltsInForce = serde_json::from_value(body)
            .map_err(|e| upstream(format!("the assistant's halts do not parse: {e}")))?;
        let halts = Rc::new(halts.halts);
        HALTS.with(|c| *c.borrow_mut() = Some((now, halts.clone())));
        Ok(halts.as_ref().clone())
    }
}
