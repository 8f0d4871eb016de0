//! `POST /api/chat`, written once: an operator talks to the assistant. Commands are
//! parsed and answered in the approval core's words ([`agency_approval::chat`]) and
//! carried out through [`ChatPorts`], the same operations the HTTP API uses on each
//! runtime. Free text goes to the configured model, whose answer only ever suggests: it
//! never executes an action; the operator confirms by sending the command itself.
#![allow(async_fn_in_trait)]

use agency_approval::chat::{self, Command, Reply, Target};
use agency_approval::contract::{ApprovalConflict, ChatBody};
use agency_approval::{GraphNames, HaltTarget, HeldWork, unknown_to_graph};
use agency_kit::{ApiError, ApiResult, Request};

use crate::ListPage;
use crate::api::{AssistantPorts, Undecided};
use http::StatusCode;
use serde_json::Value;

/// What chat needs from its runtime beyond the assistant's operations.
pub trait ChatPorts: AssistantPorts + agency_kit::Metrics {
    /// The approval a session is discussing ("approve it").
    async fn last(&self, session: &str) -> Result<Option<String>, ApiError>;
    async fn set_last(&self, session: &str, approval: &str) -> Result<(), ApiError>;
    /// Where the router would send `text` (its decision JSON), or why it could not say.
    async fn route(&self, text: &str) -> Result<Value, String>;
    /// Whether a model is configured for free text.
    fn has_model(&self) -> bool;
    /// The model's completion for `messages` (chat-completions JSON), or why not.
    async fn ask_model(&self, messages: &[Value]) -> Result<Value, String>;
    /// Logs a warning (a failed model call: the operator gets a plain reply).
    fn warn(&self, message: &str);
    /// Something the webhook service acts on changed: an approval asked for with a
    /// `replyTo` or decided (its card in chat may need posting or editing), or a halt
    /// set or lifted (the gateway is told, held events released; locally the router's
    /// copy of the halts is refreshed at once). Nothing waits for the webhook service,
    /// whose own sweep catches up when it is not heard.
    fn changed(&self, what: Changed);
    /// The agents and channels of the current skill graph (`None`: no graph yet).
    async fn graph_names(&self) -> Result<Option<GraphNames>, ApiError>;
    /// The events the webhook service holds, by halt.
    async fn held(&self) -> Result<Vec<HeldWork>, ApiError>;
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
    match p.graph_names().await {
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

/// `GET /api/events/held`'s answer (status, body), as [`ChatPorts::held`] returns it.
pub fn held_of((status, body): (u16, Value)) -> Result<Vec<HeldWork>, ApiError> {
    if status != 200 {
        return Err(agency_kit::PortError::Upstream(format!(
            "the webhook service's held events answered {status}"
        ))
        .into());
    }
    serde_json::from_value::<agency_approval::Held>(body)
        .map(|h| h.held)
        .map_err(|e| {
            agency_kit::PortError::Upstream(format!("the held events do not parse: {e}")).into()
        })
}

/// What the webhook service holds, or nothing when it cannot say (logged: a halt or a
/// resume does not fail for it).
pub async fn held_now<P: ChatPorts>(p: &P) -> Vec<HeldWork> {
    p.held().await.unwrap_or_else(|e| {
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
    if !p.has_model() {
        return Ok(Reply::say(format!(
            "I didn't understand that. {}",
            chat::HELP
        )));
    }
    let history = p.history(session, 20).await?;
    let pending = pending(p, 20).await?;
    let messages = chat::model_messages(&history, &pending, text);
    let answer = p
        .ask_model(&messages)
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

/// A chat-completions answer as [`ChatPorts::ask_model`] returns it: the body of a 200,
/// else why not (`url` names the endpoint; a key never appears in it).
pub fn model_answer(url: &str, status: u16, body: Result<Value, String>) -> Result<Value, String> {
    let body = body.map_err(|e| format!("{url}: unreadable answer: {e}"))?;
    if status != 200 {
        return Err(format!("{url}: status {status}"));
    }
    Ok(body)
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

/// The approval id a target names, or what to tell the operator.
async fn resolve<P: ChatPorts>(
    p: &P,
    session: &str,
    t: &Target,
) -> Result<Result<String, String>, ApiError> {
    Ok(match t {
        Target::Number(n) => p
            .approval_id_by_number(*n)
            .await?
            .ok_or_else(|| chat::no_such_approval(*n)),
        Target::Last => p
            .last(session)
            .await?
            .ok_or_else(|| chat::WHICH_ONE.to_owned()),
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
            human(p, session, &by, &target, true, comment).await?
        }
        Command::Deny { target, comment } => {
            human(p, session, &by, &target, false, comment).await?
        }
        Command::Show(t) | Command::Why(t) => match resolve(p, session, &t).await? {
            Err(m) => Reply::say(m),
            Ok(id) => {
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
        Command::Route(text) => match p.route(&text).await {
            Ok(d) => Reply::say(chat::route_reply(&d)),
            Err(e) => Reply::say(format!("I could not ask the router: {e}.")),
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
) -> Result<Reply, ApiError> {
    let id = match resolve(p, session, target).await? {
        Ok(id) => id,
        Err(m) => return Ok(Reply::say(m)),
    };
    p.set_last(session, &id).await?;
    match p.decide(&id, approve, by, comment.as_deref()).await {
        Ok(a) => Ok(chat::decided_reply(&a)),
        Err(Undecided::Settled(ApprovalConflict::Decided { status, .. })) => {
            Ok(Reply::say(chat::already_reply(&status)))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Chat's ports in memory: one pending approval, a router that fails.
    #[derive(Default)]
    struct Fake {
        last: RefCell<Option<String>>,
        halts: RefCell<Vec<(String, String)>>,
        log: RefCell<Vec<(String, String)>>,
        warnings: RefCell<Vec<String>>,
        changed: RefCell<Vec<Changed>>,
    }

    fn approval() -> Value {
        serde_json::json!({"approvalId": "apr_1", "number": 1, "agent": "devops", "action": "deploy",
            "estimatedCostUsd": 1.5, "decision": "pending", "reason": "ask", "description": "ship"})
    }

    impl AssistantPorts for Fake {
        async fn approve(
            &self,
            _: agency_approval::ApprovalRequest,
            _: &Value,
        ) -> Result<Value, ApiError> {
            Ok(approval())
        }
        async fn approval(&self, id: &str) -> Result<Option<Value>, ApiError> {
            Ok((id == "apr_1").then(approval))
        }
        async fn approvals(&self, _: &ListPage) -> Result<Vec<Value>, ApiError> {
            Ok(vec![approval()])
        }
        async fn decide(
            &self,
            id: &str,
            _: bool,
            _: &str,
            _: Option<&str>,
        ) -> Result<Value, Undecided> {
            Err(Undecided::Settled(ApprovalConflict::Decided {
                approval_id: id.into(),
                status: "approved".into(),
            }))
        }
        async fn halt(&self, what: &HaltTarget, _: &str, _: &str) -> Result<(), ApiError> {
            let halt = (what.scope().as_str().to_owned(), what.target().to_owned());
            self.halts.borrow_mut().push(halt);
            Ok(())
        }
        async fn resume(&self, what: Option<&HaltTarget>, _: &str) -> Result<usize, ApiError> {
            let mut h = self.halts.borrow_mut();
            let before = h.len();
            h.retain(|(s, t)| what.is_some_and(|w| !(s == w.scope().as_str() && t == w.target())));
            Ok(before - h.len())
        }
        async fn halts(&self) -> Result<Vec<crate::ledger::HaltView>, ApiError> {
            Ok(Vec::new())
        }
        async fn spend(&self, _: &str, _: agency_approval::Micros) -> Result<Value, ApiError> {
            Ok(approval())
        }
        async fn budget(&self) -> Result<Value, ApiError> {
            Ok(serde_json::json!({ "budgets": [] }))
        }
        async fn audit(&self, _: &crate::AuditPage) -> Result<Vec<Value>, ApiError> {
            Ok(Vec::new())
        }
        async fn approval_id_by_number(&self, n: i64) -> Result<Option<String>, ApiError> {
            Ok((n == 1).then(|| "apr_1".to_owned()))
        }
        async fn history(&self, _: &str, _: u32) -> Result<Vec<(String, String)>, ApiError> {
            Ok(self.log.borrow().clone())
        }
        async fn append(&self, _: &str, m: &[(&str, &str)]) -> Result<(), ApiError> {
            let mut log = self.log.borrow_mut();
            log.extend(m.iter().map(|(r, c)| (r.to_string(), c.to_string())));
            Ok(())
        }
    }

    impl agency_kit::Metrics for Fake {}

    impl ChatPorts for Fake {
        async fn last(&self, _: &str) -> Result<Option<String>, ApiError> {
            Ok(self.last.borrow().clone())
        }
        async fn set_last(&self, _: &str, id: &str) -> Result<(), ApiError> {
            *self.last.borrow_mut() = Some(id.to_owned());
            Ok(())
        }
        async fn route(&self, _: &str) -> Result<Value, String> {
            Err("the router component trapped".into())
        }
        fn has_model(&self) -> bool {
            true
        }
        async fn ask_model(&self, _: &[Value]) -> Result<Value, String> {
            Err("connection refused".into())
        }
        fn warn(&self, message: &str) {
            self.warnings.borrow_mut().push(message.to_owned());
        }
        fn changed(&self, what: Changed) {
            self.changed.borrow_mut().push(what);
        }
        async fn graph_names(&self) -> Result<Option<GraphNames>, ApiError> {
            Ok(Some(GraphNames {
                version: "v1".into(),
                agents: ["codegen".to_owned()].into(),
                channels: ["ops".to_owned()].into(),
            }))
        }
        async fn held(&self) -> Result<Vec<HeldWork>, ApiError> {
            Ok(vec![HeldWork {
                scope: agency_approval::HaltScope::Agent,
                target: Some("codegen".into()),
                events: 2,
                oldest: "2026-12-06T10:00:00.000Z".into(),
            }])
        }
    }

    fn say(p: &Fake, message: &str) -> (u16, Value) {
        let mut req = Request::new(http::Method::POST, "/api/chat");
        req.body = serde_json::json!({"sessionId": "s", "message": message})
            .to_string()
            .into_bytes();
        let r = match poll(crate::api::call(p, crate::Endpoint::Chat, &req)) {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        let body = serde_json::from_slice(r.body()).unwrap();
        (r.status().as_u16(), body)
    }

    fn poll<F: std::future::Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the fake ports never wait"),
        }
    }

    #[test]
    fn one_conversation_on_any_runtime() {
        let p = Fake::default();
        // A router that cannot answer is an ordinary reply, not a failed request.
        let (status, r) = say(&p, "route: deploy the hotfix");
        assert_eq!(status, 200);
        assert!(
            r["reply"]
                .as_str()
                .unwrap()
                .contains("could not ask the router"),
            "{r}"
        );
        // Halt and resume name the same agent however it is spelled.
        let (_, r) = say(&p, "halt CodeGen");
        assert_eq!(
            *p.halts.borrow(),
            vec![("agent".to_owned(), "codegen".to_owned())]
        );
        assert!(!r["reply"].as_str().unwrap().contains("Note"), "{r}");
        assert_eq!(*p.changed.borrow(), vec![Changed::Halts, Changed::Cards]);
        let (_, r) = say(&p, "status");
        assert!(
            r["reply"].as_str().unwrap().contains("2 messages held"),
            "{r}"
        );
        let (_, r) = say(&p, "resume CODEGEN");
        assert!(p.halts.borrow().is_empty());
        assert_eq!(r["actions"][0]["released"], 2, "{r}");
        // A resume of what was not halted changes nothing and says so: no action.
        let (_, r) = say(&p, "resume nobody");
        assert!(
            r["reply"].as_str().unwrap().contains("was not halted"),
            "{r}"
        );
        assert_eq!(r["actions"], serde_json::json!([]), "{r}");
        // A halt of a name the graph does not know is kept, with a warning.
        let (_, r) = say(&p, "halt channel nowhere");
        assert!(
            r["reply"].as_str().unwrap().contains("has no channel"),
            "{r}"
        );
        assert_eq!(p.halts.borrow().len(), 1);
        say(&p, "resume channel nowhere");
        // "what's pending?" remembers the only approval; "approve it" finds it.
        say(&p, "what's pending?");
        assert_eq!(p.last.borrow().as_deref(), Some("apr_1"));
        let (_, r) = say(&p, "approve it");
        assert!(r["reply"].as_str().unwrap().contains("approved"), "{r}");
        // A failed model call is a plain reply, and a warning for the log.
        let (status, r) = say(&p, "hello there, how are things?");
        assert_eq!(status, 200);
        assert!(r["reply"].as_str().unwrap().contains("unavailable"), "{r}");
        assert_eq!(p.warnings.borrow().len(), 1);
        // Every exchange is remembered, both sides.
        assert_eq!(p.log.borrow().len(), 20);
        // Bad input.
        assert_eq!(say(&p, "").0, 400);
        assert_eq!(say(&p, &"x".repeat(5000)).0, 400);
    }
}
