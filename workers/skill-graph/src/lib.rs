//! The skill-graph Worker: wiring only. The endpoints are `agency-skill-graph-service`'s;
//! this crate implements its ports on D1 (versions, health), KV (the parsed graph's
//! JSON by version) and the isolate (the parsed graph), and hands each request over.

use std::cell::RefCell;
use std::sync::Arc;

use agency_edge::{D1, storage};
use agency_kit::{ApiError, PortError};
use agency_skill_graph::SkillGraph;
use agency_skill_graph_service::{GraphPorts, ROUTES, call, health};
use worker::{Context, Env, Request, Response, event};

thread_local! {
    /// The last graph this isolate parsed, by version.
    static GRAPH: RefCell<Option<(String, Arc<SkillGraph>)>> = const { RefCell::new(None) };
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    agency_edge::serve_service(req, &env, &ctx, || Edge::new(&env)).await
}

impl agency_edge::Served for Edge<'_> {
    type Endpoint = agency_skill_graph_service::Endpoint;
    fn service() -> &'static agency_kit::Service {
        &agency_skill_graph_service::SERVICE
    }
    fn routes() -> &'static [agency_kit::Route<Self::Endpoint>] {
        ROUTES
    }
    async fn health(&self) -> (bool, serde_json::Value) {
        health(self).await
    }
    async fn call(&self, e: Self::Endpoint, request: agency_kit::Request) -> agency_kit::ApiResult {
        call(self, e, request).await
    }
}

agency_edge::d1_ports!(
    /// The skill graph's ports on this Worker's bindings.
    Edge
);

fn kv_key(version: &str) -> String {
    format!("graph:{version}")
}

impl GraphPorts for Edge<'_> {
    type Db = D1;
    fn db(&self) -> &D1 {
        &self.db
    }

    /// At the edge an upload is one D1 statement; nothing else changes with it.
    type UploadGuard = ();

    async fn upload_lock(&self) {}

    async fn cached(&self, version: &str) -> Option<Arc<SkillGraph>> {
        let isolate = GRAPH.with(|c| {
            c.borrow()
                .as_ref()
                .filter(|(v, _)| v == version)
                .map(|(_, g)| g.clone())
        });
        if isolate.is_some() {
            return isolate;
        }
        // KV is a cache: a miss or a failure falls through to D1.
        let json = self
            .env
            .kv("CACHE")
            .ok()?
            .get(&kv_key(version))
            .text()
            .await
            .ok()??;
        let graph = Arc::new(SkillGraph::from_json(&json).ok()?);
        GRAPH.with(|c| *c.borrow_mut() = Some((version.to_owned(), graph.clone())));
        Some(graph)
    }

    async fn remember(
        &self,
        version: &str,
        json: &str,
        graph: &Arc<SkillGraph>,
    ) -> Result<(), PortError> {
        GRAPH.with(|c| *c.borrow_mut() = Some((version.to_owned(), graph.clone())));
        self.env
            .kv("CACHE")
            .map_err(storage)?
            .put(&kv_key(version), json)
            .map_err(|e| storage(format!("{e:?}")))?
            .execute()
            .await
            .map_err(|e| storage(format!("{e:?}")))
    }

    async fn activate(&self, _graph: &Arc<SkillGraph>) -> Result<(), ApiError> {
        // Routers at the edge fetch the graph when its version changes.
        Ok(())
    }

    async fn health_changed(
        &self,
        _down: &[String],
        _reports: &[agency_skill_graph_service::InstanceReport],
    ) {
    }

    async fn router(&self, path: &str) -> Result<(u16, serde_json::Value), ApiError> {
        agency_edge::peer(
            self.env,
            agency_kit::Part::Router,
            http::Method::GET,
            path,
            &serde_json::Value::Null,
        )
        .await
    }
}
