//! `POST /api/chat`: an operator talks to the assistant. Commands are parsed by the core
//! crate and carried out here against the store; history and the approval under
//! discussion survive restarts. Free text goes to the configured model, whose answer is
//! only ever a suggestion: it never executes an action; the operator confirms by
//! sending the command itself.

use std::sync::Arc;

use agency_approval::chat::{self, Command, Reply, Target};
use agency_approval::contract::{ApprovalBody, ChatBody, budget_report};
use agency_approval::{ApprovalRequest, budget_check};
use agency_kit::{ApiError, ApiResult, Request};
use agency_router::RouteRequest;
use http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use crate::approvals::{ApprovalError, HumanAnswer};
use crate::config::LlmConfig;
use crate::store::now_ms;

pub async fn chat(state: &Arc<AppState>, req: &Request) -> ApiResult {
    let b: ChatBody = req.json()?;
    b.validate().map_err(ApiError::bad_request)?;
    let reply = match chat::parse(&b.message) {
        Command::Other(text) => match state.config.llm.clone() {
            Some(llm) => {
                let history = state.store.chat_history(&b.session_id, 20)?;
                let pending = state.store.approvals(Some("pending"), 20, None)?;
                let outcome =
                    tokio::task::spawn_blocking(move || ask_model(&llm, &history, &pending, &text))
                        .await
                        .map_err(|e| ApiError::internal("internal", &e))?;
                match outcome {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "the chat model failed");
                        Reply::say(format!(
                            "The model is unavailable right now. {}",
                            chat::HELP
                        ))
                    }
                }
            }
            None => Reply::say(format!("I didn't understand that. {}", chat::HELP)),
        },
        command => run(state, &b.session_id, command)?,
    };
    state.store.chat_append(&b.session_id, "user", &b.message)?;
    state
        .store
        .chat_append(&b.session_id, "assistant", &reply.text)?;
    Ok(agency_kit::http::json(StatusCode::OK, &reply.to_json()))
}

fn resolve(
    state: &AppState,
    session: &str,
    t: &Target,
) -> Result<Result<String, String>, ApiError> {
    Ok(match t {
        Target::Number(n) => state
            .store
            .approval_id_by_number(*n)?
            .ok_or_else(|| chat::no_such_approval(*n)),
        Target::Last => state
            .store
            .chat_last(session)?
            .ok_or_else(|| chat::WHICH_ONE.to_owned()),
    })
}

fn run(state: &AppState, session: &str, command: Command) -> Result<Reply, ApiError> {
    let by = format!("chat:{session}");
    Ok(match command {
        Command::Help => Reply::say(chat::HELP),
        Command::Pending => {
            let pending = state.store.approvals(Some("pending"), 50, None)?;
            if let [only] = pending.as_slice()
                && let Some(id) = only["approvalId"].as_str()
            {
                state.store.chat_set_last(session, id)?;
            }
            Reply::say(chat::pending_reply(&pending))
        }
        Command::Approve { target, comment } => human(state, session, &by, &target, true, comment)?,
        Command::Deny { target, comment } => human(state, session, &by, &target, false, comment)?,
        Command::Show(t) | Command::Why(t) => match resolve(state, session, &t)? {
            Err(m) => Reply::say(m),
            Ok(id) => {
                let a = state.store.approval(&id)?;
                state.store.chat_set_last(session, &id)?;
                Reply::say(chat::show_reply(&a))
            }
        },
        Command::Budget => {
            let now = now_ms();
            let report = budget_report(&state.assistant.policy, &state.store.ledger(now)?, now);
            let budgets = report["budgets"].as_array().cloned().unwrap_or_default();
            Reply::say(chat::budget_reply(&budgets))
        }
        Command::Halt { agent, reason } => {
            let (scope, target, reason) = chat::halt_target(session, agent.as_deref(), reason);
            state.store.halt(scope, &target, &reason, Some(&by))?;
            chat::halt_reply(scope, &target)
        }
        Command::Resume { agent } => match agent {
            Some(a) => chat::resume_agent_reply(&a, state.store.resume("agent", &a, Some(&by))?),
            None => chat::resume_all_reply(state.store.resume_all(Some(&by))?),
        },
        Command::Route(text) => {
            if text.is_empty() {
                Reply::say(chat::ASK_ROUTE)
            } else {
                let request = RouteRequest {
                    message: text,
                    down_agents: state.down_agents(),
                    ..RouteRequest::default()
                };
                let d = state
                    .router
                    .route(&request)
                    .map_err(super::ports::runtime_error)?;
                let d = serde_json::to_value(&d).map_err(|e| ApiError::internal("internal", &e))?;
                Reply::say(chat::route_reply(&d))
            }
        }
        Command::Other(_) => Reply::say(chat::HELP),
    })
}

fn human(
    state: &AppState,
    session: &str,
    by: &str,
    target: &Target,
    approve: bool,
    comment: Option<String>,
) -> Result<Reply, ApiError> {
    let id = match resolve(state, session, target)? {
        Ok(id) => id,
        Err(m) => return Ok(Reply::say(m)),
    };
    state.store.chat_set_last(session, &id)?;
    let now = now_ms();
    let policy = &state.assistant.policy;
    let answer = HumanAnswer {
        approve,
        by,
        comment: comment.as_deref(),
    };
    let stored = |v: &Value| {
        serde_json::from_value::<ApprovalBody>(v.clone())
            .ok()
            .and_then(|b| b.into_request().ok())
    };
    match state.store.decide_human(
        &id,
        answer,
        now,
        |req: &ApprovalRequest, ledger| budget_check(req, policy, ledger, now),
        stored,
    ) {
        Ok(a) => Ok(chat::decided_reply(&a)),
        Err(ApprovalError::Settled { status, .. }) => Ok(Reply::say(chat::already_reply(&status))),
        Err(e) => Err(e.into()),
    }
}

/// Free text to the model, with the history and the pending approvals as context. Lines
/// of the answer that start with `COMMAND:` become suggestions, never actions.
fn ask_model(
    llm: &LlmConfig,
    history: &[(String, String)],
    pending: &[Value],
    text: &str,
) -> Result<Reply, String> {
    let messages = chat::model_messages(history, pending, text);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}/chat/completions", llm.base_url.trim_end_matches('/'));
    let mut req = agent.post(&url).header("content-type", "application/json");
    if let Some(key) = &llm.api_key {
        req = req.header("authorization", &format!("Bearer {key}"));
    }
    let mut resp = req
        .send(json!({"model": llm.model, "messages": messages}).to_string())
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    let body: Value = resp
        .body_mut()
        .read_json()
        .map_err(|e| format!("{url}: unreadable answer: {e}"))?;
    if status != 200 {
        return Err(format!("{url}: status {status}"));
    }
    chat::reply_from_completion(&body)
}
