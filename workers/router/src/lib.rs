//! The router Worker: `/api/route*` with the same JSON as the local server. The graph
//! and agent health come from the skill-graph Worker over a service binding; the keyword
//! index is built once per graph version per isolate; decisions are stored in D1.
//! Routing itself is `agency-router`'s.

use std::cell::RefCell;
use std::rc::Rc;

use agency_edge::{
    Access, ApiError, ApiResult, MESSAGE_LIMIT, authorize, json_response, read_json,
};
use agency_router::RouterIndex;
use agency_router::contract::{FeedbackBody, RouteBody};
use agency_skill_graph::SkillGraph;
use serde::Deserialize;
use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::{Context, Env, Headers, Method, Request, RequestInit, Response, event};

struct Loaded {
    version: String,
    graph: Rc<SkillGraph>,
    index: Rc<RouterIndex>,
}

thread_local! {
    static INDEX: RefCell<Option<Rc<Loaded>>> = const { RefCell::new(None) };
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    agency_edge::respond(handle(&mut req, &env).await)
}

async fn handle(req: &mut Request, env: &Env) -> ApiResult {
    let path = req.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method(), segments.as_slice()) {
        (Method::Get, ["health"]) => health(env).await,
        (Method::Get, ["openapi.json"]) => agency_edge::openapi(),
        (Method::Post, ["api", "route"]) => route(req, env).await,
        (Method::Get, ["api", "route", "decisions"]) => decisions(req, env).await,
        (Method::Post, ["api", "route", "feedback"]) => feedback(req, env).await,
        (
            _,
            ["health"]
            | ["openapi.json"]
            | ["api", "route"]
            | ["api", "route", "decisions"]
            | ["api", "route", "feedback"],
        ) => Err(agency_edge::method_not_allowed()),
        _ => Err(agency_edge::not_found()),
    }
}

/// The current graph's index and the agents marked down, asking the skill-graph Worker
/// and sending the graph only when our version is stale.
async fn routing_state(env: &Env) -> Result<(Rc<Loaded>, Vec<String>), ApiError> {
    let have = INDEX.with(|c| c.borrow().clone());
    let service = env.service("SKILL_GRAPH")?;
    let token = agency_edge::own_token(env, "AGENCY_VIEWER_TOKEN");
    let headers = Headers::new();
    headers.set("authorization", &format!("Bearer {token}"))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let url = match &have {
        Some(l) => format!(
            "https://skill-graph/internal/routing-state?have={}",
            l.version
        ),
        None => "https://skill-graph/internal/routing-state".to_owned(),
    };
    let mut resp = service
        .fetch_request(Request::new_with_init(&url, &init)?)
        .await?;
    let status = resp.status_code();
    if status == 404 {
        return Err(ApiError::new(
            503,
            "no_graph",
            "no skill graph has been uploaded yet",
        ));
    }
    if status != 200 {
        worker::console_error!("skill-graph answered {status}");
        return Err(ApiError::new(
            503,
            "skill_graph_unavailable",
            "the skill-graph service is unavailable",
        ));
    }
    #[derive(Deserialize)]
    struct State {
        version: String,
        down: Vec<String>,
        graph: Option<Value>,
    }
    let state: State = resp.json().await?;
    let loaded = match (have, state.graph) {
        (Some(l), None) if l.version == state.version => l,
        (_, Some(g)) => {
            let graph = SkillGraph::from_json(&g.to_string()).map_err(|e| {
                worker::console_error!("graph from skill-graph is invalid: {e}");
                ApiError::new(
                    503,
                    "skill_graph_unavailable",
                    "the skill-graph service sent an invalid graph",
                )
            })?;
            let index = RouterIndex::build(&graph).map_err(|e| {
                worker::console_error!("index build failed: {e}");
                ApiError::new(
                    503,
                    "skill_graph_unavailable",
                    "the graph could not be indexed",
                )
            })?;
            let l = Rc::new(Loaded {
                version: state.version,
                graph: Rc::new(graph),
                index: Rc::new(index),
            });
            INDEX.with(|c| *c.borrow_mut() = Some(l.clone()));
            l
        }
        (_, None) => {
            return Err(ApiError::new(
                503,
                "skill_graph_unavailable",
                "the skill-graph service sent no graph",
            ));
        }
    };
    Ok((loaded, state.down))
}

async fn health(env: &Env) -> ApiResult {
    let state = routing_state(env).await;
    let (status, code) = match &state {
        Ok(_)
        | Err(ApiError {
            code: "no_graph", ..
        }) => ("ok", 200),
        Err(_) => ("degraded", 503),
    };
    let version = state.ok().map(|(l, _)| l.version.clone());
    Ok(json_response(
        code,
        &json!({ "status": status, "parts": { "router": { "status": status, "engine": "edge", "graphVersion": version } } }),
    ))
}

async fn route(req: &mut Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Route)?;
    let body: RouteBody = read_json(req, MESSAGE_LIMIT).await?;
    body.clone()
        .into_request(Vec::new())
        .map_err(ApiError::bad_request)?;
    let (loaded, down) = routing_state(env).await?;
    let request = body.into_request(down).map_err(ApiError::bad_request)?;
    let start = agency_edge::now_ms();
    let mut decision = loaded.index.route(&request);
    decision.routing_latency = agency_edge::now_ms() - start;
    let id = agency_edge::random_id("dec_");
    let mut value = serde_json::to_value(&decision)
        .map_err(|_| ApiError::new(500, "internal", "internal error"))?;
    value["decisionId"] = Value::String(id.clone());
    let db = env.d1("DB")?;
    let opt = |s: Option<&str>| s.map(JsValue::from_str).unwrap_or(JsValue::NULL);
    db.prepare("INSERT INTO decisions (id, created_ms, message, channel, agent, reason, graph_version, decision_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
        .bind(&[
            JsValue::from_str(&id),
            JsValue::from_f64(agency_edge::now_ms()),
            JsValue::from_str(&request.message),
            opt(request.channel.as_deref()),
            opt(decision.agent.as_deref()),
            JsValue::from_str(value["reason"].as_str().unwrap_or("")),
            JsValue::from_str(&decision.graph_version),
            JsValue::from_str(&value.to_string()),
        ])?
        .run()
        .await?;
    Ok(json_response(200, &value))
}

async fn decisions(req: &Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Read)?;
    let limit = agency_edge::limit(req, 50, 1000)?;
    #[derive(Deserialize)]
    struct Row {
        decision_json: String,
        message: String,
        channel: Option<String>,
        created_ms: f64,
    }
    let db = env.d1("DB")?;
    let rows = db
        .prepare("SELECT decision_json, message, channel, created_ms FROM decisions ORDER BY created_ms DESC, rowid DESC LIMIT ?1")
        .bind(&[JsValue::from_f64(f64::from(limit))])?
        .all()
        .await?
        .results::<Row>()?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let mut v: Value = serde_json::from_str(&r.decision_json).unwrap_or(Value::Null);
            v["message"] = Value::String(r.message);
            v["channel"] = r.channel.map(Value::String).unwrap_or(Value::Null);
            let d = worker::js_sys::Date::new(&JsValue::from_f64(r.created_ms));
            v["createdAt"] = Value::String(d.to_iso_string().as_string().unwrap_or_default());
            v
        })
        .collect();
    Ok(json_response(200, &json!({ "decisions": items })))
}

async fn feedback(req: &mut Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Write)?;
    let body: FeedbackBody = read_json(req, MESSAGE_LIMIT).await?;
    if let Some(a) = &body.correct_agent {
        let (loaded, _) = routing_state(env).await?;
        if loaded.graph.agent(a).is_none() {
            return Err(ApiError::bad_request(format!(
                "correctAgent {a:?} is not an agent of the current graph"
            )));
        }
    }
    let db = env.d1("DB")?;
    #[derive(Deserialize)]
    struct One {
        #[allow(dead_code)]
        id: String,
    }
    let exists = db
        .prepare("SELECT id FROM decisions WHERE id = ?1")
        .bind(&[JsValue::from_str(&body.decision_id)])?
        .first::<One>(None)
        .await?
        .is_some();
    if !exists {
        return Err(ApiError::not_found(format!(
            "no decision {:?}",
            body.decision_id
        )));
    }
    let result = db
        .prepare(
            "INSERT INTO feedback (decision_id, correct_agent, created_ms) VALUES (?1, ?2, ?3)",
        )
        .bind(&[
            JsValue::from_str(&body.decision_id),
            body.correct_agent
                .as_deref()
                .map(JsValue::from_str)
                .unwrap_or(JsValue::NULL),
            JsValue::from_f64(agency_edge::now_ms()),
        ])?
        .run()
        .await?;
    let id = result.meta()?.and_then(|m| m.last_row_id).unwrap_or(0);
    Ok(json_response(
        201,
        &json!({ "feedbackId": id, "decisionId": body.decision_id, "correctAgent": body.correct_agent }),
    ))
}
