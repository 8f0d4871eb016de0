//! One Durable Object per budget scope ("global", "agent:<id>", "channel:<id>") holds
//! that scope's ledger book ([`Book`]: spent and reserved money per period, the
//! reservations each task holds; the global one also the halt switch). A Durable Object
//! runs one request at a time and its SQL calls are synchronous, so a check and the
//! reservation it allows happen with nothing in between: concurrent approvals never
//! overspend a scope. The book and its wire protocol are the assistant service's; this
//! file is its storage binding.
//!
//! An approval falls under several scopes; [`crate::ledger_client::LedgerClient`]
//! visits them in a fixed order and gives back what it reserved when a later scope
//! says no.

use agency_assistant_service::ledger::{BOOK_SCHEMA, Book, BookSql, LedgerOp};
use agency_edge::ObjectSql;
use worker::{DurableObject, Env, Request, Response, State, durable_object};

#[durable_object]
pub struct Ledger {
    state: State,
}

impl Ledger {
    fn book(&self) -> Book<ObjectSql> {
        Book(ObjectSql(self.state.storage().sql()))
    }
}

impl DurableObject for Ledger {
    fn new(state: State, _env: Env) -> Self {
        let l = Ledger { state };
        let book = l.book();
        for q in BOOK_SCHEMA {
            if let Err(e) = book.0.run(q, &[]) {
                worker::console_error!("ledger schema: {e}");
            }
        }
        l
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let op: LedgerOp = match req.json().await {
            Ok(op) => op,
            Err(e) => return Response::error(format!("not a ledger operation: {e}"), 400),
        };
        match self.book().answer(op) {
            Ok(v) => Response::from_json(&v),
            Err(e) => {
                worker::console_error!("ledger: {e}");
                Ok(Response::error("ledger error", 500)?)
            }
        }
    }
}
