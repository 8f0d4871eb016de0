//! `POST /api/chat`, written once: an operator talks to the assistant. Commands are
//! parsed and answered in the approval core's words ([`agency_approval::chat`]) and
//! carried out through [`ChatPorts`], the same operations the HTTP API uses on each
//! runtime. Free text goes to the configured model, whose answer only ever suggests: it
//! never executes an action; the operator confirms by sending the command itself.
#![allow(async_fn_in_trait)]

use agency_approval::chat::{self, Command, Reply, Target};
use agency_approval::contract::ChatBody;
use agency_kit::{ApiError, ApiResult, Request};
use http::StatusCode;
use serde_json::Value;

/// Why a human decision from chat was not recorded.
#[derive(Debug)]
pub enum Undecided {
    /// It was decided already: its status now.
    Settled(String),
    Failed(ApiError),
}

impl From<ApiError> for Undecided {
    fn from(e: ApiError) -> Self {
        Undecided::Failed(e)
    }
}

/// What chat needs from its runtime.
pub trait ChatPorts {
    /// Pending approvals (their API JSON), newest first, expired asks swept first.
    async fn pending(&self, limit: u32) -> Result<Vec<Value>, ApiError>;
    /// One approval's API JSON, expired asks swept first.
    async fn approval(&self, id: &str) -> Result<Option<Value>, ApiError>;
    async fn approval_id_by_number(&self, number: i64) -> Result<Option<String>, ApiError>;
    /// The approval a session is discussing ("approve it").
    async fn last(&self, session: &str) -> Result<Option<String>, ApiError>;
    async fn set_last(&self, session: &str, approval: &str) -> Result<(), ApiError>;
    /// A human's answer, as `POST /api/approvals/{id}/decision` records it; the
    /// approval's JSON after.
    async fn decide(
        &self,
        id: &str,
        approve: bool,
        by: &str,
        comment: Option<&str>,
    ) -> Result<Value, Undecided>;
    /// `GET /api/budget`'s `budgets`.
    async fn budgets(&self) -> Result<Vec<Value>, ApiError>;
    async fn halt(&self, scope: &str, target: &str, reason: &str, by: &str)
    -> Result<(), ApiError>;
    /// Lifts an agent's halt; whether there was one.
    async fn resume_agent(&self, agent: &str, by: &str) -> Result<bool, ApiError>;
    /// Lifts every halt; how many there were.
    async fn resume_all(&self, by: &str) -> Result<usize, ApiError>;
    /// Where the router would send `text` (its decision JSON), or why it could not say.
    async fn route(&self, text: &str) -> Result<Value, String>;
    /// The last `limit` messages of a session, oldest first: (role, content).
    async fn history(&self, session: &str, limit: u32) -> Result<Vec<(String, String)>, ApiError>;
    /// Appends messages (role, content) to a session's history.
    async fn append(&self, session: &str, messages: &[(&str, &str)]) -> Result<(), ApiError>;
    /// Whether a model is configured for free text.
    fn has_model(&self) -> bool;
    /// The model's completion for `messages` (chat-completions JSON), or why not.
    async fn ask_model(&self, messages: &[Value]) -> Result<Value, String>;
    /// Logs a warning (a failed model call: the operator gets a plain reply).
    fn warn(&self, message: &str);
}

/// `POST /api/chat`.
pub async fn chat<P: ChatPorts>(p: &P, req: &Request) -> ApiResult {
    let b: ChatBody = req.json()?;
    b.validate().map_err(ApiError::bad_request)?;
    let reply = match chat::parse(&b.message) {
        Command::Other(text) => free_text(p, &b.session_id, &text).await?,
        command => run(p, &b.session_id, command).await?,
    };
    p.append(
        &b.session_id,
        &[("user", &b.message), ("assistant", &reply.text)],
    )
    .await?;
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
    let pending = p.pending(20).await?;
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
            let pending = p.pending(50).await?;
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
                    .ok_or_else(|| ApiError::not_found(format!("no approval {id:?}")))?;
                p.set_last(session, &id).await?;
                Reply::say(chat::show_reply(&a))
            }
        },
        Command::Budget => Reply::say(chat::budget_reply(&p.budgets().await?)),
        Command::Halt { agent, reason } => {
            let (scope, target, reason) = chat::halt_target(session, agent.as_deref(), reason);
            p.halt(scope, &target, &reason, &by).await?;
            chat::halt_reply(scope, &target)
        }
        Command::Resume { agent } => match agent {
            Some(a) => chat::resume_agent_reply(&a, p.resume_agent(&a, &by).await?),
            None => chat::resume_all_reply(p.resume_all(&by).await?),
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
        Err(Undecided::Settled(status)) => Ok(Reply::say(chat::already_reply(&status))),
        Err(Undecided::Failed(e)) => Err(e),
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

    impl ChatPorts for Fake {
        async fn pending(&self, _: u32) -> Result<Vec<Value>, ApiError> {
            Ok(vec![approval()])
        }
        async fn approval(&self, id: &str) -> Result<Option<Value>, ApiError> {
            Ok((id == "apr_1").then(approval))
        }
        async fn approval_id_by_number(&self, n: i64) -> Result<Option<String>, ApiError> {
            Ok((n == 1).then(|| "apr_1".to_owned()))
        }
        async fn last(&self, _: &str) -> Result<Option<String>, ApiError> {
            Ok(self.last.borrow().clone())
        }
        async fn set_last(&self, _: &str, id: &str) -> Result<(), ApiError> {
            *self.last.borrow_mut() = Some(id.to_owned());
            Ok(())
        }
        async fn decide(
            &self,
            _: &str,
            _: bool,
            _: &str,
            _: Option<&str>,
        ) -> Result<Value, Undecided> {
            Err(Undecided::Settled("approved".into()))
        }
        async fn budgets(&self) -> Result<Vec<Value>, ApiError> {
            Ok(Vec::new())
        }
        async fn halt(&self, scope: &str, target: &str, _: &str, _: &str) -> Result<(), ApiError> {
            self.halts.borrow_mut().push((scope.into(), target.into()));
            Ok(())
        }
        async fn resume_agent(&self, agent: &str, _: &str) -> Result<bool, ApiError> {
            let mut h = self.halts.borrow_mut();
            let before = h.len();
            h.retain(|(_, t)| t != agent);
            Ok(h.len() < before)
        }
        async fn resume_all(&self, _: &str) -> Result<usize, ApiError> {
            Ok(std::mem::take(&mut *self.halts.borrow_mut()).len())
        }
        async fn route(&self, _: &str) -> Result<Value, String> {
            Err("the router component trapped".into())
        }
        async fn history(&self, _: &str, _: u32) -> Result<Vec<(String, String)>, ApiError> {
            Ok(self.log.borrow().clone())
        }
        async fn append(&self, _: &str, m: &[(&str, &str)]) -> Result<(), ApiError> {
            let mut log = self.log.borrow_mut();
            log.extend(m.iter().map(|(r, c)| (r.to_string(), c.to_string())));
            Ok(())
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
        let r = match poll(chat(p, &req)) {
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
