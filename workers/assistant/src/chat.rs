//! `POST /api/chat` at the edge: commands parsed and answered in the approval core's
//! words, carried out through the same paths as the HTTP API. History is in D1; the
//! approval each session is discussing ("approve it") is in KV. Free text goes to an
//! OpenAI-compatible endpoint when one is configured; its answer only ever suggests.

use agency_approval::chat::{self, Command, Reply, Target};
use agency_approval::contract::ChatBody;
use agency_edge::{EdgeClock, OrPort};
use agency_kit::{ApiError, ApiResult, Clock};
use http::StatusCode;
use serde_json::{Value, json};
use worker::{Env, Fetch, Headers, Method, Request, RequestInit};

use crate::{HumanError, Store, apply_halt, apply_resume, budget_value, decide_human};

fn session_key(session: &str) -> String {
    format!("session:{session}")
}

async fn last(env: &Env, session: &str) -> Result<Option<String>, ApiError> {
    env.kv("SESSIONS")
        .or_storage()?
        .get(&session_key(session))
        .text()
        .await
        .or_storage()
}

async fn set_last(env: &Env, session: &str, id: &str) -> Result<(), ApiError> {
    env.kv("SESSIONS")
        .or_storage()?
        .put(&session_key(session), id)
        .or_storage()?
        .execute()
        .await
        .or_storage()
}

pub async fn chat(req: &agency_kit::Request, env: &Env) -> ApiResult {
    let b: ChatBody = req.json()?;
    b.validate().map_err(ApiError::bad_request)?;
    let store = crate::store(env)?;
    let reply = match chat::parse(&b.message) {
        Command::Other(text) => match env.var("AGENCY_LLM_BASE_URL").map(|v| v.to_string()) {
            Ok(base) if !base.is_empty() => {
                let history = store.chat_history(&b.session_id, 20).await?;
                let pending = store.list(Some("pending"), 20, None).await?;
                match ask_model(env, &base, &history, &pending, &text).await {
                    Ok(r) => r,
                    Err(e) => {
                        worker::console_warn!("the chat model failed: {e}");
                        Reply::say(format!(
                            "The model is unavailable right now. {}",
                            chat::HELP
                        ))
                    }
                }
            }
            _ => Reply::say(format!("I didn't understand that. {}", chat::HELP)),
        },
        command => run(env, &store, &b.session_id, command).await?,
    };
    store
        .chat_append(
            &b.session_id,
            &[("user", &b.message), ("assistant", &reply.text)],
            EdgeClock.now_ms(),
        )
        .await?;
    Ok(agency_kit::http::json(StatusCode::OK, &reply.to_json()))
}

/// The approval id a target names, or what to tell the operator.
async fn resolve(
    env: &Env,
    store: &Store,
    session: &str,
    t: &Target,
) -> Result<Result<String, String>, ApiError> {
    Ok(match t {
        Target::Number(n) => store
            .by_number(*n)
            .await?
            .map(|r| r.id)
            .ok_or_else(|| chat::no_such_approval(*n)),
        Target::Last => last(env, session)
            .await?
            .ok_or_else(|| chat::WHICH_ONE.to_owned()),
    })
}

async fn run(env: &Env, store: &Store, session: &str, command: Command) -> Result<Reply, ApiError> {
    let by = format!("chat:{session}");
    Ok(match command {
        Command::Help | Command::Other(_) => Reply::say(chat::HELP),
        Command::Pending => {
            store.expire(EdgeClock.now_ms()).await?;
            let pending = store.list(Some("pending"), 50, None).await?;
            if let [only] = pending.as_slice()
                && let Some(id) = only["approvalId"].as_str()
            {
                set_last(env, session, id).await?;
            }
            Reply::say(chat::pending_reply(&pending))
        }
        Command::Approve { target, comment } => {
            human(env, store, session, &by, &target, true, comment).await?
        }
        Command::Deny { target, comment } => {
            human(env, store, session, &by, &target, false, comment).await?
        }
        Command::Show(t) | Command::Why(t) => match resolve(env, store, session, &t).await? {
            Err(m) => Reply::say(m),
            Ok(id) => {
                store.expire(EdgeClock.now_ms()).await?;
                let a = store
                    .by_id(&id)
                    .await?
                    .ok_or_else(|| ApiError::not_found(format!("no approval {id:?}")))?;
                set_last(env, session, &id).await?;
                Reply::say(chat::show_reply(&a.to_json()))
            }
        },
        Command::Budget => {
            let report = budget_value(env).await?;
            let budgets = report["budgets"].as_array().cloned().unwrap_or_default();
            Reply::say(chat::budget_reply(&budgets))
        }
        Command::Halt { agent, reason } => {
            let (scope, target, reason) = chat::halt_target(session, agent.as_deref(), reason);
            apply_halt(env, scope, &target, &reason, &by).await?;
            chat::halt_reply(scope, &target)
        }
        Command::Resume { agent } => match agent {
            Some(a) => chat::resume_agent_reply(&a, apply_resume(env, "agent", &a, &by).await? > 0),
            None => chat::resume_all_reply(apply_resume(env, "everything", "", &by).await?),
        },
        Command::Route(text) if text.is_empty() => Reply::say(chat::ASK_ROUTE),
        Command::Route(text) => match route(env, &text).await {
            Ok(d) => Reply::say(chat::route_reply(&d)),
            Err(e) => Reply::say(format!("I could not ask the router: {e}.")),
        },
    })
}

async fn human(
    env: &Env,
    store: &Store,
    session: &str,
    by: &str,
    target: &Target,
    approve: bool,
    comment: Option<String>,
) -> Result<Reply, ApiError> {
    let id = match resolve(env, store, session, target).await? {
        Ok(id) => id,
        Err(m) => return Ok(Reply::say(m)),
    };
    set_last(env, session, &id).await?;
    match decide_human(env, &id, approve, by, comment.as_deref()).await {
        Ok(a) => Ok(chat::decided_reply(&a)),
        Err(HumanError::Settled(_)) => {
            let status = store
                .by_id(&id)
                .await?
                .map(|r| r.status().to_owned())
                .unwrap_or_default();
            Ok(Reply::say(chat::already_reply(&status)))
        }
        Err(HumanError::Api(e)) => Err(e),
    }
}

/// Asks the router Worker (service binding `ROUTER`) where a message would go.
async fn route(env: &Env, text: &str) -> Result<Value, String> {
    let service = env.service("ROUTER").map_err(|e| e.to_string())?;
    let token = agency_edge::own_token(env, "AGENCY_OPERATOR_TOKEN");
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
    set("authorization", &format!("Bearer {token}"))?;
    set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers.clone())
        .with_body(Some(json!({ "message": text }).to_string().into()));
    let req =
        Request::new_with_init("https://router/api/route", &init).map_err(|e| e.to_string())?;
    let mut resp = service
        .fetch_request(req)
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status_code();
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(body["error"]["message"]
            .as_str()
            .unwrap_or("the router failed")
            .to_owned());
    }
    Ok(body)
}

/// Free text to the model, with the history and the pending approvals as context.
async fn ask_model(
    env: &Env,
    base: &str,
    history: &[(String, String)],
    pending: &[Value],
    text: &str,
) -> Result<Reply, String> {
    let model = env
        .var("AGENCY_LLM_MODEL")
        .map(|v| v.to_string())
        .unwrap_or_else(|_| chat::DEFAULT_MODEL.into());
    let messages = chat::model_messages(history, pending, text);
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
    set("content-type", "application/json")?;
    if let Ok(key) = env.secret("AGENCY_LLM_API_KEY") {
        set("authorization", &format!("Bearer {key}"))?;
    }
    let url = format!("{}/chat/completions", base.trim_end_matches('/'));
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers.clone())
        .with_body(Some(
            json!({"model": model, "messages": messages})
                .to_string()
                .into(),
        ));
    let req = Request::new_with_init(&url, &init).map_err(|e| e.to_string())?;
    let mut resp = Fetch::Request(req)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status_code();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| format!("{url}: unreadable answer: {e}"))?;
    if status != 200 {
        return Err(format!("{url}: status {status}"));
    }
    chat::reply_from_completion(&body)
}
