//! `POST /api/chat`, written once: an operator talks to the assistant. Commands are
//! parsed and answered in the approval core's words ([`agency_approval::chat`]) and
//! carried out through [`ChatPorts`], the same operations the HTTP API uses on each
//! runtime. Free text goes to the configured model, whose answer only ever suggests: it
//! never executes an action; the operator confirms by sending the command itself.
#![allow(async_fn_in_trait)]

use agency_approval::HaltTarget;
use agency_approval::chat::{self, Command, Reply, Target};
use agency_approval::contract::{ApprovalConflict, ChatBody};
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
    /// An approval was asked for with a `replyTo`, or decided: its card in chat (the
    /// webhook service's) may need posting or editing now. Nothing waits for it, and
    /// the webhook service's own sweep catches up when it is not heard (the default).
    fn cards_changed(&self) {}
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
        // A halt, a decision...: a card may show an outcome now.
        p.cards_changed();
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
        .and_then(|a| chat::reply_from_completion(&a));
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
        Command::Halt { agent, reason } => {
            let (what, reason) = chat::halt_target(session, agent.as_deref(), reason);
            p.halt(&what, &reason, &by).await?;
            chat::halt_reply(&what)
        }
        Command::Resume { agent } => match agent {
            Some(a) => {
                let was = p.resume(Some(&HaltTarget::Agent(a.clone())), &by).await?;
                chat::resume_agent_reply(&a, was > 0)
            }
            None => chat::resume_all_reply(p.resume(None, &by).await?),
        },
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
        say(&p, "halt CodeGen");
        assert_eq!(
            *p.halts.borrow(),
            vec![("agent".to_owned(), "codegen".to_owned())]
        );
        say(&p, "resume CODEGEN");
        assert!(p.halts.borrow().is_empty());
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
        assert_eq!(p.log.borrow().len(), 12);
        // Bad input.
        assert_eq!(say(&p, "").0, 400);
        assert_eq!(say(&p, &"x".repeat(5000)).0, 400);
    }
}
