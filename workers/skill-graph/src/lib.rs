//! The skill-graph Worker: the graph's versions, agents, channels, search and agent
//! health, with the same paths and JSON as the local server. Thin glue: validation,
//! versioning and search come from `agency-skill-graph`.

use std::cell::RefCell;
use std::rc::Rc;

use agency_edge::{
    Access, ApiError, ApiResult, GRAPH_LIMIT, MESSAGE_LIMIT, authorize, json_response, read_json,
};
use agency_router::contract::HealthBody;
use agency_skill_graph::{SkillGraph, search};
use serde::Deserialize;
use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::{Context, Env, Method, Request, Response, event};

thread_local! {
    /// The last graph this isolate loaded, by version.
    static GRAPH: RefCell<Option<(String, Rc<SkillGraph>)>> = const { RefCell::new(None) };
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
        (Method::Get, ["api", "graph"]) => get_graph(req, env).await,
        (Method::Put, ["api", "graph"]) => put_graph(req, env).await,
        (Method::Get, ["api", "graph", "versions"]) => versions(req, env).await,
        (Method::Get, ["api", "agents"]) => agents(req, env).await,
        (Method::Put, ["api", "agents", id, "health"]) => {
            let id = agency_edge::path_segment(id, "agent id")?;
            set_health(req, env, &id).await
        }
        (Method::Get, ["api", "channels"]) => channels(req, env).await,
        (Method::Get, ["api", "search"]) => search_graph(req, env).await,
        (Method::Get, ["internal", "routing-state"]) => routing_state(req, env).await,
        (
            _,
            ["health"]
            | ["openapi.json"]
            | ["api", "graph"]
            | ["api", "graph", "versions"]
            | ["api", "agents"]
            | ["api", "agents", _, "health"]
            | ["api", "channels"]
            | ["api", "search"],
        ) => Err(agency_edge::method_not_allowed()),
        _ => Err(agency_edge::not_found()),
    }
}

#[derive(Deserialize)]
struct Head {
    seq: f64,
    version: String,
    created_ms: f64,
}

async fn head(env: &Env) -> Result<Option<Head>, ApiError> {
    let db = env.d1("DB")?;
    Ok(db
        .prepare("SELECT seq, version, created_ms FROM graph_versions ORDER BY seq DESC LIMIT 1")
        .first::<Head>(None)
        .await?)
}

/// The current graph: isolate cache, then KV, then D1.
async fn current(env: &Env) -> Result<(Head, Rc<SkillGraph>), ApiError> {
    let head = head(env)
        .await?
        .ok_or_else(|| ApiError::new(404, "no_graph", "no skill graph has been uploaded yet"))?;
    if let Some(g) = GRAPH.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(v, _)| *v == head.version)
            .map(|(_, g)| g.clone())
    }) {
        return Ok((head, g));
    }
    let kv = env.kv("CACHE")?;
    let key = format!("graph:{}", head.version);
    let json = match kv.get(&key).text().await? {
        Some(j) => j,
        None => {
            #[derive(Deserialize)]
            struct Row {
                graph_json: String,
            }
            let db = env.d1("DB")?;
            let row = db
                .prepare("SELECT graph_json FROM graph_versions WHERE version = ?1 ORDER BY seq DESC LIMIT 1")
                .bind(&[JsValue::from_str(&head.version)])?
                .first::<Row>(None)
                .await?
                .ok_or_else(|| ApiError::new(503, "storage_error", "graph version vanished"))?;
            kv.put(&key, row.graph_json.clone())?.execute().await?;
            row.graph_json
        }
    };
    let graph = Rc::new(SkillGraph::from_json(&json).map_err(|e| {
        worker::console_error!("stored graph {} is invalid: {e}", head.version);
        ApiError::new(503, "storage_error", "the stored graph is unreadable")
    })?);
    GRAPH.with(|c| *c.borrow_mut() = Some((head.version.clone(), graph.clone())));
    Ok((head, graph))
}

async fn down_agents(env: &Env) -> Result<Vec<String>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        agent: String,
    }
    let db = env.d1("DB")?;
    Ok(db
        .prepare("SELECT agent FROM agent_health WHERE healthy = 0 ORDER BY agent")
        .all()
        .await?
        .results::<Row>()?
        .into_iter()
        .map(|r| r.agent)
        .collect())
}

async fn health(env: &Env) -> ApiResult {
    let h = head(env).await;
    let (status, code) = if h.is_ok() {
        ("ok", 200)
    } else {
        ("degraded", 503)
    };
    let version = h.ok().flatten().map(|h| h.version);
    Ok(json_response(
        code,
        &json!({ "status": status, "parts": { "skillGraph": { "status": status, "version": version } } }),
    ))
}

async fn get_graph(req: &Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Read)?;
    let (head, graph) = current(env).await?;
    let tag = agency_skill_graph::etag(&head.version);
    let none_match = req.headers().get("if-none-match").ok().flatten();
    let mut r = if none_match.is_some_and(|v| agency_skill_graph::if_none_match(&v, &head.version))
    {
        Response::empty()?.with_status(304)
    } else {
        let mut r = Response::ok(graph.to_json())?;
        r.headers_mut().set("content-type", "application/json")?;
        r
    };
    r.headers_mut().set("etag", &tag)?;
    r.headers_mut().set("cache-control", "no-cache")?;
    Ok(r)
}

async fn put_graph(req: &mut Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Write)?;
    let raw: Value = read_json(req, GRAPH_LIMIT).await?;
    let graph = SkillGraph::from_json(&raw.to_string()).map_err(|e| {
        let details = serde_json::to_value(&e.0).unwrap_or(Value::Null);
        ApiError::new(
            422,
            "invalid_graph",
            format!("the graph has {} error(s)", e.0.len()),
        )
        .with_details(details)
    })?;
    let version = graph.version();
    let json = graph.to_json();
    let db = env.d1("DB")?;
    let current = head(env).await?;
    if current.as_ref().map(|h| h.version.as_str()) != Some(version.as_str()) {
        env.kv("CACHE")?
            .put(&format!("graph:{version}"), json.clone())?
            .execute()
            .await?;
        db.prepare(
            "INSERT INTO graph_versions (version, graph_json, created_ms) VALUES (?1, ?2, ?3)",
        )
        .bind(&[
            JsValue::from_str(&version),
            JsValue::from_str(&json),
            JsValue::from_f64(agency_edge::now_ms()),
        ])?
        .run()
        .await?;
    }
    let head = head(env)
        .await?
        .ok_or_else(|| ApiError::new(503, "storage_error", "graph not stored"))?;
    GRAPH.with(|c| *c.borrow_mut() = Some((head.version.clone(), Rc::new(graph.clone()))));
    let mut r = json_response(
        200,
        &json!({ "version": head.version, "sequence": head.seq as i64, "createdAt": rfc3339(head.created_ms), "summary": graph.summary() }),
    );
    r.headers_mut()
        .set("etag", &agency_skill_graph::etag(&head.version))?;
    Ok(r)
}

async fn versions(req: &Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Read)?;
    let limit = agency_edge::limit(req, 50, 1000)?;
    let db = env.d1("DB")?;
    let rows = db
        .prepare("SELECT seq, version, created_ms FROM graph_versions ORDER BY seq DESC LIMIT ?1")
        .bind(&[JsValue::from_f64(f64::from(limit))])?
        .all()
        .await?
        .results::<Head>()?;
    let versions: Vec<Value> = rows.into_iter().map(|h| json!({ "sequence": h.seq as i64, "version": h.version, "createdAt": rfc3339(h.created_ms) })).collect();
    Ok(json_response(200, &json!({ "versions": versions })))
}

async fn agents(req: &Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Read)?;
    let (head, graph) = current(env).await?;
    let down = down_agents(env).await?;
    let agents: Vec<Value> = graph
        .agents
        .iter()
        .map(|a| json!({ "id": a.id, "name": a.name, "fallback": a.fallback, "description": a.description, "healthy": !down.contains(&a.id) }))
        .collect();
    Ok(json_response(
        200,
        &json!({ "agents": agents, "graphVersion": head.version }),
    ))
}

async fn set_health(req: &mut Request, env: &Env, id: &str) -> ApiResult {
    authorize(req, env, Access::Write)?;
    let body: HealthBody = read_json(req, MESSAGE_LIMIT).await?;
    let (_, graph) = current(env).await?;
    if graph.agent(id).is_none() {
        return Err(ApiError::not_found(format!("no agent {id:?}")));
    }
    let db = env.d1("DB")?;
    db.prepare(
        "INSERT INTO agent_health (agent, healthy, updated_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT(agent) DO UPDATE SET healthy = excluded.healthy, updated_ms = excluded.updated_ms",
    )
    .bind(&[JsValue::from_str(id), JsValue::from_f64(if body.healthy { 1.0 } else { 0.0 }), JsValue::from_f64(agency_edge::now_ms())])?
    .run()
    .await?;
    Ok(json_response(
        200,
        &json!({ "agent": id, "healthy": body.healthy }),
    ))
}

async fn channels(req: &Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Read)?;
    let (head, graph) = current(env).await?;
    Ok(json_response(
        200,
        &json!({ "channels": graph.channels, "graphVersion": head.version }),
    ))
}

async fn search_graph(req: &Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Read)?;
    let q = agency_edge::query(req, "q")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("query parameter q is required"))?;
    if q.len() > 1024 {
        return Err(ApiError::bad_request("q must be at most 1024 bytes"));
    }
    let limit = agency_edge::limit(req, 20, 100)?;
    let (head, graph) = current(env).await?;
    let hits = search::search(&graph, &q, limit as usize);
    Ok(json_response(
        200,
        &json!({ "query": q, "hits": hits, "graphVersion": head.version }),
    ))
}

/// For the router Worker (over the service binding): the current version, the agents
/// marked down, and the graph itself unless the caller already has that version.
async fn routing_state(req: &Request, env: &Env) -> ApiResult {
    authorize(req, env, Access::Read)?;
    let (head, graph) = current(env).await?;
    let have = agency_edge::query(req, "have");
    let down = down_agents(env).await?;
    let graph = if have.as_deref() == Some(head.version.as_str()) {
        Value::Null
    } else {
        serde_json::to_value(&*graph).unwrap_or(Value::Null)
    };
    Ok(json_response(
        200,
        &json!({ "version": head.version, "down": down, "graph": graph }),
    ))
}

fn rfc3339(ms: f64) -> String {
    let d = worker::js_sys::Date::new(&JsValue::from_f64(ms));
    d.to_iso_string().as_string().unwrap_or_default()
}
