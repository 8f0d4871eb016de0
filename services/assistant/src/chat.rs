//! `POST /api/chat`, written once: an operator talks to the assistant. Commands are
//! parsed and answered in the approval core's words ([`agency_approval::chat`]) and
//! carried out through [`ChatPorts`], the same operations the HTTP API uses on each
//! runtime. Free text goes to the configured model, whose answer only ever suggests: it
//! never executes an action; the operator confirms by sending the command itself.
#![allow(async_fn_in_trait)]

use agency_approval::chat::{self, Command, Reply, Target};
use agency_approval::contract::{ApprovalConflict, ChatBody};
use agency_approval::{GraphNames, HaltTarget, HeldWork, unknown_to_graph};
use agency_kit::{ApiError, ApiResult, Part, Request};
use agency_router::RouteDecision;
use agency_skill_graph_service::views::{Agents, Channels};

use crate::ListPage;
use crate::api::{AssistantPorts, Undecided};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// What chat needs from its runtime beyond the assistant's operations. Whatever chat
/// asks another part (the router's decision, the skill graph's names, the held events)
/// goes through [`agency_kit::Peers`] and is read here as that part's answer type; the
/// model is asked through [`agency_kit::Outbound`].
pub trait ChatPorts:
    AssistantPorts + agency_kit::Metrics + agency_kit::Outbound + agency_kit::Peers
{
    /// The approval a session is discussing ("approve it").
    async fn last(&self, session: &str) -> Result<Option<String>, ApiError>;
    async fn set_last(&self, session: &str, approval: &str) -> Result<(), ApiError>;
    /// The chat model free text goes to, when one is configured.
    fn model(&self) -> Option<Model>;
    /// Logs a warning (a failed model call: the operator gets a plain reply).
    fn warn(&self, message: &str);
    /// Something the webhook service acts on changed: an approval asked for with a
    /// `replyTo` or decided (its card in chat may need posting or editing), or a halt
    /// set or lifted (the gateway is told, held events released; locally the router's
    /// copy of the halts is refreshed at once). Nothing waits for the webhook service,
    /// whose own sweep catches up when it is not heard.
    fn changed(&self, what: Changed);
}

/// An OpenAI-compatible chat-completions endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// e.g. `http://127.0.0.1:8080/v1`; `/chat/completions` is appended.
    pub base_url: String,
    pub model: String,
    /// Sent as a bearer token; never logged.
    pub api_key: Option<String>,
}

/// How long the model may take to answer.
pub const MODEL_TIMEOUT_MS: u64 = 30_000;

/// Why another part's answer is of no use to chat.
fn upstream(what: &str, why: impl std::fmt::Display) -> ApiError {
    agency_kit::PortError::Upstream(format!("{what}: {why}")).into()
}

/// `(status, body)` of a peer call read as `T` when the status is 200.
fn answer_of<T: serde::de::DeserializeOwned>(
    what: &str,
    (status, body): (u16, Value),
) -> Result<T, ApiError> {
    if status != 200 {
        let said = agency_kit::http::error_message(&body);
        return Err(upstream(what, format!("answered {status}: {said}")));
    }
    serde_json::from_value(body).map_err(|e| upstream(what, format!("does not parse: {e}")))
}

/// The agents and channels of the current skill graph (`None`: no graph yet).
pub async fn graph_names<P: ChatPorts>(p: &P) -> Result<Option<GraphNames>, ApiError> {
    let get = async |path: &str| {
        p.peer(Part::SkillGraph, Method::GET, path, &Value::Null)
            .await
    };
    let agents = get("/api/agents").await?;
    if agents.0 == 404 {
        return Ok(None);
    }
    let agents: Agents = answer_of("the skill graph's agents", agents)?;
    let channels: Channels = answer_of("the skill graph's channels", get("/api/channels").await?)?;
    Ok(Some(GraphNames {
        version: agents.graph_version,
        agents: agents.agents.into_iter().map(|a| a.id).collect(),
        channels: channels.channels.into_iter().map(|c| c.id).collect(),
    }))
}

/// The events the webhook service holds, by halt.
pub async fn held<P: ChatPorts>(p: &P) -> Result<Vec<HeldWork>, ApiError> {
    let answer = p
        .peer(
            Part::Webhooks,
            Method::GET,
            "/api/events/held",
            &Value::Null,
        )
        .await?;
    answer_of::<agency_approval::Held>("the webhook service's held events", answer).map(|h| h.held)
}

/// Where the router sends `text` (recorded as any decision is).
async fn route<P: ChatPorts>(p: &P, text: &str) -> Result<RouteDecision, ApiError> {
    let answer = p
        .peer(
            Part::Router,
            Method::POST,
            "/api/route",
            &json!({ "message": text }),
        )
        .await?;
    answer_of("the router", answer)
}

/// The model's completion for `messages`.
async fn ask_model<P: ChatPorts>(
    p: &P,
    model: &Model,
    messages: &[Value],
) -> Result<Value, String> {
    let url = format!("{}/chat/completions", model.base_url.trim_end_matches('/'));
    let request = agency_kit::OutRequest::json(
        Method::POST,
        url.clone(),
        model.api_key.as_ref().map(|k| format!("Bearer {k}")),
        &json!({ "model": model.model, "messages": messages }),
        MODEL_TIMEOUT_MS,
    );
    let r = p.send(request).await.map_err(|e| e.to_string())?;
    let host = agency_kit::outbound::host_of(&url);
    if r.status != 200 {
        return Err(format!("{host}: status {}", r.status));
    }
    serde_json::from_slice(&r.body).map_err(|e| format!("{host}: unreadable answer: {e}"))
}

/// What [`ChatPorts::changed`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// An approval card may need posting or editing.
    Cards,
    /// A halt was set or lifted.
    Halts,
}

/// The warning a halt of `what` deserves ([`unknown_to_graph`]); when the graph cannot
/// be read, that (the halt stands either way).
pub async fn halt_warning<P: ChatPorts>(p: &P, what: &HaltTarget) -> Option<String> {
    if !matches!(what, HaltTarget::Agent(_) | HaltTarget::Channel(_)) {
        return None;
    }
    match graph_names(p).await {
        Ok(names) => unknown_to_graph(what, names.as_ref()),
        Err(e) => {
            p.warn(&format!(
                "halt: the skill graph could not be read: {}",
                e.message
            ));
            Some(format!(
                "the skill graph could not be read, so {} was not checked against it",
                what.describe()
            ))
        }
    }
}

/// What the webhook service holds, or nothing when it cannot say (logged: a halt or a
/// resume does not fail for it).
pub async fn held_now<P: ChatPorts>(p: &P) -> Vec<HeldWork> {
    held(p).await.unwrap_or_else(|e| {
        p.warn(&format!("the held events could not be read: {}", e.message));
        Vec::new()
    })
}

/// `POST /api/chat`.
pub async fn chat<P: ChatPorts>(p: &P, req: &Request) -> ApiResult {
    let b: ChatBody = req.json()?;
    b.validate()?;
    let reply = match chat::parse(&b.message) {
        Command::Other(text) => free_text(p, &b.session_id, &text).await?,
        command => run(p, &b.session_id, command).await?,
    };
    p.append(
        &b.session_id,
        &[("user", &b.message), ("assistant", &reply.text)],
    )
    .await?;
    if !reply.actions.is_empty() {
        // A decision...: a card may show an outcome now.
        p.changed(Changed::Cards);
    }
    Ok(agency_kit::http::json(StatusCode::OK, &reply.to_json()))
}

/// Free text to the model, with the history and the pending approvals as context. Lines
/// of the answer that start with `COMMAND:` become suggestions, never actions.
async fn free_text<P: ChatPorts>(p: &P, session: &str, text: &str) -> Result<Reply, ApiError> {
    let Some(model) = p.model() else {
        return Ok(Reply::say(format!(
            "I didn't understand that. {}",
            chat::HELP
        )));
    };
    let history = p.history(session, 20).await?;
    let pending = pending(p, 20).await?;
    let messages = chat::model_messages(&history, &pending, text);
    let answer = ask_model(p, &model, &messages)
        .await
        .and_then(|a| chat::reply_from_completion(&a).map_err(|e| e.to_string()));
    Ok(answer.unwrap_or_else(|e| {
        p.warn(&format!("the chat model failed: {e}"));
        Reply::say(format!(
            "The model is unavailable right now. {}",
            chat::HELP
        ))
    }))
}

/// Pending approvals, newest first.
async fn pending<P: ChatPorts>(p: &P, limit: u32) -> Result<Vec<Value>, ApiError> {
    let page = ListPage {
        status: Some(agency_approval::contract::ApprovalStatus::Pending),
        limit,
        before: None,
    };
    p.approvals(&page).await
}

/// What a command's target names.
enum Which {
    /// This approval.
    Approval(String),
    /// None: what to tell the operator instead.
    Nothing(String),
}

/// The approval a target names, or what to tell the operator.
async fn resolve<P: ChatPorts>(p: &P, session: &str, t: &Target) -> Result<Which, ApiError> {
    let found = match t {
        Target::Number(n) => p
            .approval_id_by_number(*n)
            .await?
            .ok_or_else(|| chat::no_such_approval(*n)),
        Target::Last => p
            .last(session)
            .await?
            .ok_or_else(|| chat::WHICH_ONE.to_owned()),
    };
    Ok(match found {
        Ok(id) => Which::Approval(id),
        Err(say) => Which::Nothing(say),
    })
}

async fn run<P: ChatPorts>(p: &P, session: &str, command: Command) -> Result<Reply, ApiError> {
    let by = format!("chat:{session}");
    Ok(match command {
        Command::Help | Command::Other(_) => Reply::say(chat::HELP),
        Command::Pending => {
            let pending = pending(p, 50).await?;
            if let [only] = pending.as_slice()
                && let Some(id) = only["approvalId"].as_str()
            {
                p.set_last(session, id).await?;
            }
            Reply::say(chat::pending_reply(&pending))
        }
        Command::Approve { target, comment } => {
            human(p, session, &by, &target, true, comment, None).await?
        }
        Command::Deny { target, comment } => {
            human(p, session, &by, &target, false, comment, None).await?
        }
        Command::Grant {
            target,
            secs,
            comment,
        } => {
            let terms = agency_approval::contract::GrantTerms {
                duration_secs: secs.map(|s| s as f64),
                ..Default::default()
            };
            human(p, session, &by, &target, true, comment, Some(&terms)).await?
        }
        Command::DecideAll {
            approve,
            agent,
            action,
            comment,
        } => {
            let batch = agency_approval::contract::BatchDecision {
                approve,
                by: by.clone(),
                comment,
                which: agency_approval::contract::Batch::Filter {
                    agent: Some(agent.clone()),
                    action,
                    channel: None,
                },
            };
            let results = p.decide_batch(&batch).await?;
            if results.iter().any(|r| r["decided"] == true) {
                p.changed(Changed::Cards);
            }
            chat::batch_reply(approve, &agent, &results)
        }
        Command::Show(t) | Command::Why(t) => match resolve(p, session, &t).await? {
            Which::Nothing(m) => Reply::say(m),
            Which::Approval(id) => {
                let a = p
                    .approval(&id)
                    .await?
                    .ok_or_else(|| crate::no_approval(&id))?;
                p.set_last(session, &id).await?;
                Reply::say(chat::show_reply(&a))
            }
        },
        Command::Budget => {
            let report = p.budget().await?;
            let budgets = report["budgets"].as_array().cloned().unwrap_or_default();
            Reply::say(chat::budget_reply(&budgets))
        }
        Command::Halt { what, reason } => {
            let reason = chat::halt_reason(session, reason);
            p.halt(&what, &reason, &by).await?;
            p.changed(Changed::Halts);
            chat::halt_reply(&what, halt_warning(p, &what).await.as_deref())
        }
        Command::Resume { what } => {
            let held = held_now(p).await;
            let lifted = p.resume(what.as_ref(), &by).await?;
            if lifted > 0 {
                p.changed(Changed::Halts);
            }
            chat::resume_reply(what.as_ref(), lifted, &held)
        }
        Command::Status => {
            let halts = p.halts().await?;
            Reply::say(chat::status_reply(&halts, &held_now(p).await))
        }
        Command::Route(text) if text.is_empty() => Reply::say(chat::ASK_ROUTE),
        // A router that cannot answer is news for the operator, not a failed request.
        Command::Route(text) => match route(p, &text).await {
            Ok(d) => Reply::say(chat::route_reply(&chat::Routed {
                agent: d.agent.as_deref(),
                reason: d.reason.as_str(),
                confidence: d.confidence,
                matched: &d.matched_keywords,
                fallback_from: d.fallback_from.as_deref(),
            })),
            Err(e) => Reply::say(format!("I could not ask the router: {}.", e.message)),
        },
    })
}

async fn human<P: ChatPorts>(
    p: &P,
    session: &str,
    by: &str,
    target: &Target,
    approve: bool,
    comment: Option<String>,
    grant: Option<&agency_approval::contract::GrantTerms>,
) -> Result<Reply, ApiError> {
    let id = match resolve(p, session, target).await? {
        Which::Approval(id) => id,
        Which::Nothing(m) => return Ok(Reply::say(m)),
    };
    p.set_last(session, &id).await?;
    match p.decide(&id, approve, by, comment.as_deref(), grant).await {
        Ok(a) => Ok(chat::decided_reply(&a)),
        Err(Undecided::Settled(ApprovalConflict::Decided { status, .. })) => {
            Ok(Reply::say(chat::already_reply(&status)))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
