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

use agency_assistant_service::ledger::{BOOK_SCHEMA, Book, BookSql};
use agency_kit::{PortError, SqlValue};
use serde_json::{Map, Value};
use worker::{
    DurableObject, Env, Request, Response, SqlStorage, SqlStorageValue, State, durable_object,
};

#[durable_object]
pub struct Ledger {
    state: State,
}

/// The object's SQLite storage, as the book's synchronous SQL.
struct ObjectSql(SqlStorage);

fn value(v: &SqlValue) -> SqlStorageValue {
    match v {
        SqlValue::Null => SqlStorageValue::Null,
        SqlValue::Int(n) => SqlStorageValue::Integer(*n),
        SqlValue::Real(f) => SqlStorageValue::Float(*f),
        SqlValue::Text(s) => SqlStorageValue::String(s.clone()),
    }
}

fn storage(e: worker::Error) -> PortError {
    PortError::Storage(e.to_string())
}

impl BookSql for ObjectSql {
    fn run(&self, sql: &str, args: &[SqlValue]) -> Result<(), PortError> {
        self.0
            .exec(sql, args.iter().map(value).collect::<Vec<_>>())
            .map(|_| ())
            .map_err(storage)
    }

    fn rows(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<Map<String, Value>>, PortError> {
        self.0
            .exec(sql, args.iter().map(value).collect::<Vec<_>>())
            .map_err(storage)?
            .to_array()
            .map_err(storage)
    }
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
        let path = req.path();
        let op = path.trim_start_matches('/');
        let body: Value = req.json().await?;
        match self.book().answer(op, body) {
            Ok(v) => Response::from_json(&v),
            Err(e) => {
                worker::console_error!("ledger {op}: {e}");
                Ok(Response::error("ledger error", 500)?)
            }
        }
    }
}
