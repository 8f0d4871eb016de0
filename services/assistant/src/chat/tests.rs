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
        _: Option<&agency_approval::contract::GrantTerms>,
    ) -> Result<Value, Undecided> {
        Err(Undecided::Settled(ApprovalConflict::Decided {
            approval_id: id.into(),
            status: "approved".into(),
        }))
    }
    async fn extend(&self, _: &str, _: u64, _: &str) -> Result<Value, Undecided> {
        Ok(approval())
    }
    async fn decide_batch(
        &self,
        _: &agency_approval::contract::BatchDecision,
    ) -> Result<Vec<Value>, ApiError> {
        Ok(Vec::new())
    }
    async fn add_grant(&self, _: &agency_approval::contract::NewGrant) -> Result<Value, ApiError> {
        Ok(Value::Null)
    }
    async fn grants(
        &self,
        _: Option<crate::grants::GrantStatus>,
        _: u32,
    ) -> Result<Vec<Value>, ApiError> {
        Ok(Vec::new())
    }
    async fn revoke_grant(&self, _: &str, _: &str) -> Result<Option<Value>, ApiError> {
        Ok(None)
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
    async fn audit_export(&self, _: &Request) -> Result<agency_kit::export::Export, ApiError> {
        Ok(agency_kit::export::Export::new(&crate::store::AUDIT, 0, 0))
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
    fn model(&self) -> Option<Model> {
        Some(Model {
            base_url: "http://127.0.0.1:9/v1".into(),
            model: "m".into(),
            api_key: None,
        })
    }
    fn warn(&self, message: &str) {
        self.warnings.borrow_mut().push(message.to_owned());
    }
    fn changed(&self, what: Changed) {
        self.changed.borrow_mut().push(what);
    }
}

impl agency_kit::Peers for Fake {
    async fn peer(
        &self,
        part: Part,
        method: Method,
        path: &str,
        _: &Value,
    ) -> Result<(u16, Value), ApiError> {
        Ok(match (part, method, path) {
            (Part::Router, Method::POST, "/api/route") => (
                500,
                json!({ "error": { "code": "internal", "message": "the router component trapped" } }),
            ),
            (Part::SkillGraph, Method::GET, "/api/agents") => (
                200,
                json!({ "graphVersion": "v1", "agents": [{ "id": "codegen", "name": "Codegen",
                        "fallback": null, "description": "writes code", "healthy": true }] }),
            ),
            (Part::SkillGraph, Method::GET, "/api/channels") => (
                200,
                json!({ "graphVersion": "v1", "channels": [{ "id": "ops", "context": "operations" }] }),
            ),
            (Part::Webhooks, Method::GET, "/api/events/held") => (
                200,
                json!({ "held": [{ "scope": "agent", "target": "codegen", "events": 2,
                                       "oldest": "2026-12-06T10:00:00.000Z" }] }),
            ),
            other => panic!("chat asked {other:?}"),
        })
    }
}

impl agency_kit::Outbound for Fake {
    async fn send(
        &self,
        r: agency_kit::OutRequest,
    ) -> Result<agency_kit::OutResponse, agency_kit::Unanswered> {
        Err(agency_kit::Unanswered::Unreached {
            host: r.host(),
            why: "connection refused".into(),
        })
    }
}

fn say(p: &Fake, message: &str) -> (u16, Value) {
    let mut req = Request::new(http::Method::POST, "/api/chat");
    req.body = serde_json::json!({"sessionId": "s", "message": message})
        .to_string()
        .into_bytes();
    let r = match poll(crate::endpoints::call(p, crate::Endpoint::Chat, &req)) {
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
