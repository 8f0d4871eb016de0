//! The approval assistant on the local server. Its endpoints and operations are
//! `agency_assistant_service`'s; this is its runtime: the SQLite store, and the ledger
//! port as the service's ledger book inside one SQLite transaction over every scope,
//! with the policy (the approval component, or the core natively) deciding inside that
//! transaction. No policy logic lives here.

use agency_approval::{
    Answer, ApprovalRequest, BudgetCheck, Decision, Micros, Policy, budget_check, halt_reason,
};
use agency_assistant_service::ledger::{Book, Halt, HaltIn, halt_state, ledger_limit};
use agency_assistant_service::{AssistantRuntime, LedgerPort};
use agency_kit::{ApiError, PortError};

use super::ports::Local;
use crate::store::{Store, TxSql};

type Sql<'c> = TxSql<'c>;

impl Local {
    /// Runs `f` on the ledger book inside one immediate transaction, committed when `f`
    /// succeeds (rolled back otherwise).
    fn in_book<T>(
        &self,
        f: impl FnOnce(&Book<Sql<'_>>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.0.store.in_tx(|sql| f(&Book(TxSql(sql.0))))
    }

    /// Runs `f`, which only reads, on the ledger book (no write lock taken).
    fn read_book<T>(
        &self,
        f: impl FnOnce(&Book<Sql<'_>>) -> Result<T, PortError>,
    ) -> Result<T, ApiError> {
        Ok(f(&Book(TxSql(&self.0.store.conn())))?)
    }
}

impl AssistantRuntime for Local {
    type Db = Store;
    type Ledger = Self;

    fn db(&self) -> &Store {
        &self.0.store
    }

    fn ledger(&self) -> &Self {
        self
    }

    fn policy(&self) -> Result<&Policy, ApiError> {
        Ok(&self.0.assistant.policy)
    }
}

impl LedgerPort for Local {
    async fn decide(&self, request: &ApprovalRequest, now: i64) -> Result<Decision, ApiError> {
        self.in_book(|book| {
            let held = book.held(&request.task_id)?;
            let halts = halt_state(&book.halts()?);
            let snapshot = book.snapshot(now, &held)?;
            let mut d = self
                .0
                .assistant
                .decide(request, &snapshot, &halts, now)
                .map_err(|e| ApiError::component_trap("approval", &e))?;
            book.hold_once(&request.task_id, &mut d.change, held, now)?;
            Ok(d)
        })
    }

    async fn approve_human(
        &self,
        request: &ApprovalRequest,
        limits: Option<&Policy>,
        now: i64,
    ) -> Result<Answer, ApiError> {
        let policy = limits.unwrap_or(&self.0.assistant.policy);
        self.in_book(|book| {
            if let Some(why) = halt_reason(request, &halt_state(&book.halts()?)) {
                return Ok(Answer::Halted(why));
            }
            let held = book.held(&request.task_id)?;
            let snapshot = book.snapshot(now, &held)?;
            let mut check: BudgetCheck = budget_check(request, policy, &snapshot, now);
            if let Ok((change, _)) = &mut check {
                book.hold_once(&request.task_id, change, held, now)?;
            }
            Ok(Answer::Approve(check))
        })
    }

    async fn release(&self, task: &str, _reserved: &[(String, i64)]) {
        if let Err(e) = self.in_book(|book| Ok(book.release(task)?)) {
            tracing::error!(task, error = %e.log.as_deref().unwrap_or(&e.message), "release");
        }
    }

    async fn settle(
        &self,
        task: &str,
        _reserved: &[(String, i64)],
        actual: Micros,
        now: i64,
    ) -> Result<Micros, ApiError> {
        self.in_book(|book| {
            // Refused, not recorded short, when a sum would pass what a ledger holds.
            if let Some(why) = book.room(task, actual.0)? {
                return Err(ledger_limit(why));
            }
            Ok(Micros(book.settle(task, actual.0, now)?))
        })
    }

    async fn ledger(&self, now: i64) -> Result<Vec<(String, Micros, Micros)>, ApiError> {
        let rows = self.read_book(|book| book.ledger(now))?;
        Ok(rows
            .into_iter()
            .map(|r| (r.key, Micros(r.spent), Micros(r.reserved)))
            .collect())
    }

    async fn held_since(&self, before: i64) -> Result<Vec<String>, ApiError> {
        self.read_book(|book| book.held_since(before))
    }

    async fn halts(&self) -> Result<Vec<Halt>, ApiError> {
        self.read_book(|book| book.halts())
    }

    async fn halt(&self, h: &HaltIn) -> Result<(), ApiError> {
        self.in_book(|book| Ok(book.halt(h)?))
    }

    async fn resume(&self, h: &HaltIn) -> Result<usize, ApiError> {
        self.in_book(|book| Ok(book.resume(h)?))
    }
}
