//! The budget ledger and the halt switch: the port each runtime implements
//! ([`LedgerPort`]) and the book both keep it in ([`Book`]).
//!
//! A book holds, per ledger key (`scope|period`), the money spent and reserved, and per
//! task the reservations it holds; reservations are keyed by task, so a retried or
//! racing approval never reserves twice and a release gives back exactly what its task
//! holds. It runs synchronously inside one atomic unit of its runtime: one SQLite
//! transaction over every scope on the local server, one Durable Object request per
//! scope at the edge (where an approval's scopes are visited in a fixed order and what
//! a later scope refuses is given back: the reservation saga in the assistant Worker).
//! Budget arithmetic is the approval core's; this module only stores.

#![allow(async_fn_in_trait)]

use agency_approval::{
    Answer, ApprovalRequest, BudgetCheck, BudgetStatus, Decision, HaltState, HaltTarget,
    LedgerChange, LedgerSnapshot, Limits, Micros, Work, check_scope, day_key, month_key,
};
pub use agency_approval::{Halt, HaltView, HaltsInForce};
use agency_kit::{ApiError, PortError, SqlValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The ledger and the halts on a runtime. Each operation is atomic on its own.
pub trait LedgerPort {
    /// The policy's decision on `request` with the budgets and halts as they are now,
    /// with what it reserves held for the task. A task that holds a reservation
    /// already (a racing retry) keeps it and is not charged twice.
    async fn decide(&self, request: &ApprovalRequest, now: i64) -> Result<Decision, ApiError>;
    /// A human approving `request`: a halt refuses first ([`Answer::Halted`]), then the
    /// budgets as they are now, under `limits` when given (an overrun's raised limits,
    /// [`agency_approval::Policy::for_overrun`]) and the policy in force otherwise,
    /// reserved for the task when they fit ([`Answer::Approve`]).
    async fn approve_human(
        &self,
        request: &ApprovalRequest,
        limits: Option<&agency_approval::Policy>,
        now: i64,
    ) -> Result<Answer, ApiError>;
    /// Gives back what `task` holds under the keys `reserved` (none given: in every
    /// scope) (best effort: a failure is logged and leaves money reserved, never spent).
    async fn release(&self, task: &str, reserved: &[(String, i64)]);
    /// Turns `task`'s reservations (under the keys `reserved`) into spending of
    /// `actual`, once: a repeat answers the amount recorded the first time. Refused
    /// (422), and nothing settled, when a sum would pass what a ledger holds.
    async fn settle(
        &self,
        task: &str,
        reserved: &[(String, i64)],
        actual: Micros,
        now: i64,
    ) -> Result<Micros, ApiError>;
    /// (key, spent, reserved) for the periods containing `now`, every scope.
    async fn ledger(&self, now: i64) -> Result<Vec<(String, Micros, Micros)>, ApiError>;
    /// The tasks holding unsettled reservations made before `before`, in any scope.
    async fn held_since(&self, before: i64) -> Result<Vec<String>, ApiError>;
    /// The halts in force, oldest first.
    async fn halts(&self) -> Result<Vec<Halt>, ApiError>;
    /// Sets the halt `h` (a new reason replaces the old one).
    async fn halt(&self, h: &HaltIn) -> Result<(), ApiError>;
    /// Lifts the halt `h` names (scope `everything`: every halt); how many it lifted.
    async fn resume(&self, h: &HaltIn) -> Result<usize, ApiError>;
}

/// `POST /api/resume`'s answer.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Resumed {
    /// Whether a halt was lifted.
    pub resumed: bool,
    pub halts: Vec<HaltView>,
    /// Events the lifted halt held: released for dispatch now, in the order they came.
    pub released: u64,
}

/// The halts as the core reads them.
pub fn halt_state(halts: &[Halt]) -> HaltState {
    HaltState::of(halts)
}

/// The scopes an approval's reservations (ledger keys `scope|period`) live in, in
/// their order.
pub fn scopes_of<T>(reserved: &[(String, T)]) -> Vec<String> {
    let mut scopes: Vec<String> = reserved
        .iter()
        .filter_map(|(k, _)| k.split_once('|').map(|(s, _)| s.to_owned()))
        .collect();
    scopes.dedup();
    scopes
}

/// How long a task's reservation rows are kept: longer than any budget period.
const RESERVATION_DAYS: i64 = 62;

/// Ledger sums stop here ([`Micros::MAX_LEDGER`]: JavaScript numbers are exact up to
/// 2^53); a spend that would pass it is refused beforehand ([`Book::room`]).
const MAX_MICROS: i64 = Micros::MAX_LEDGER.0;

/// The book's tables, for a store that creates them itself (a Durable Object); the
/// local server's come from the assistant's migrations, to the same definitions.
pub const BOOK_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS ledger (key TEXT PRIMARY KEY, spent INTEGER NOT NULL DEFAULT 0, reserved INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS reservations (task TEXT NOT NULL, key TEXT NOT NULL, micros INTEGER NOT NULL, created_ms INTEGER NOT NULL, settled INTEGER, PRIMARY KEY (task, key))",
    "CREATE INDEX IF NOT EXISTS reservations_by_age ON reservations (created_ms)",
    "CREATE TABLE IF NOT EXISTS halts (scope TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL, created_ms INTEGER NOT NULL, PRIMARY KEY (scope, target))",
];

/// What a [`Book`] runs on: synchronous SQL inside one atomic unit.
pub use agency_kit::ports::SyncSql as BookSql;

/// A scope check asked of a book (a Durable Object's `reserve`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReserveIn {
    pub task: String,
    pub agent: String,
    /// The approval's channel, for channel halts.
    #[serde(default)]
    pub channel: Option<String>,
    pub scope: String,
    pub daily: Option<i64>,
    pub monthly: Option<i64>,
    pub cost: i64,
    pub now: i64,
    /// Reserve (an approval) or only check (an ask).
    pub commit: bool,
    /// Refuse when halted (the global scope, asked first).
    pub halt_check: bool,
}

/// A budget's name and what remains of it, on the wire.
#[derive(Serialize, Deserialize)]
pub struct Status {
    pub scope: String,
    pub remaining: i64,
}

impl From<BudgetStatus> for Status {
    fn from(b: BudgetStatus) -> Self {
        Status {
            scope: b.scope,
            remaining: b.remaining.0,
        }
    }
}

impl From<Status> for BudgetStatus {
    fn from(s: Status) -> Self {
        BudgetStatus {
            scope: s.scope,
            remaining: Micros(s.remaining),
        }
    }
}

/// What a scope check came to.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReserveOut {
    Halted(String),
    Over(Status),
    Fits {
        reserve: Vec<(String, i64)>,
        tightest: Option<Status>,
    },
}

/// A task's release or settlement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskIn {
    pub task: String,
    /// For settle and room: the actual cost.
    pub actual: Option<i64>,
    #[serde(default)]
    pub now: i64,
}

/// Asks for the ledger rows of the periods containing `now`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerIn {
    pub now: i64,
}

/// Sets or lifts a halt (on the wire to a scope object, and as the `halts` table's
/// columns: scope `all`, `agent`, `channel` or `task`, or `everything` to lift them
/// all).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HaltIn {
    pub scope: String,
    pub target: String,
    pub reason: Option<String>,
    pub now: i64,
}

impl HaltIn {
    /// Halts `what` for `reason`.
    pub fn set(what: &HaltTarget, reason: &str, now: i64) -> HaltIn {
        HaltIn {
            scope: what.scope().as_str().to_owned(),
            target: what.target().to_owned(),
            reason: Some(reason.to_owned()),
            now,
        }
    }

    /// Lifts the halt on `what` (`None`: every halt).
    pub fn lift(what: Option<&HaltTarget>) -> HaltIn {
        HaltIn {
            scope: what.map_or("everything", |w| w.scope().as_str()).to_owned(),
            target: what.map(|w| w.target().to_owned()).unwrap_or_default(),
            reason: None,
            now: 0,
        }
    }
}

/// One ledger row: key, spent, reserved.
#[derive(Debug, Serialize, Deserialize)]
pub struct LedgerRow {
    pub key: String,
    pub spent: i64,
    pub reserved: i64,
}

/// The ledger book over `S`. Every method runs without awaiting: nothing else touches
/// the book in between.
pub struct Book<S>(pub S);

impl<S: BookSql> Book<S> {
    fn query<T: DeserializeOwned>(&self, q: &str, args: &[SqlValue]) -> Result<Vec<T>, PortError> {
        self.0.query(q, args)
    }

    pub fn halts(&self) -> Result<Vec<Halt>, PortError> {
        self.query(
            "SELECT scope, target, reason, created_ms FROM halts ORDER BY created_ms",
            &[],
        )
    }

    pub fn halt(&self, h: &HaltIn) -> Result<(), PortError> {
        self.0.run(
            "INSERT INTO halts (scope, target, reason, created_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(scope, target) DO UPDATE SET reason = excluded.reason",
            &[
                h.scope.as_str().into(),
                h.target.as_str().into(),
                h.reason.as_deref().unwrap_or_default().into(),
                h.now.into(),
            ],
        )
    }

    /// Lifts a halt (`everything`: all of them); how many were lifted.
    pub fn resume(&self, h: &HaltIn) -> Result<usize, PortError> {
        let before = self.halts()?.len();
        if h.scope == "everything" {
            self.0.run("DELETE FROM halts", &[])?;
        } else {
            self.0.run(
                "DELETE FROM halts WHERE scope = ?1 AND target = ?2",
                &[h.scope.as_str().into(), h.target.as_str().into()],
            )?;
        }
        Ok(before - self.halts()?.len())
    }

    /// What `task` holds and has not settled: (key, micros).
    pub fn held(&self, task: &str) -> Result<Vec<(String, i64)>, PortError> {
        #[derive(Deserialize)]
        struct H {
            key: String,
            micros: i64,
        }
        Ok(self
            .query::<H>(
                "SELECT key, micros FROM reservations WHERE task = ?1 AND settled IS NULL",
                &[task.into()],
            )?
            .into_iter()
            .map(|h| (h.key, h.micros))
            .collect())
    }

    /// Reserves `micros` under `key` for `task`.
    pub fn hold(&self, task: &str, key: &str, micros: i64, now: i64) -> Result<(), PortError> {
        self.0.run(
            "INSERT INTO ledger (key, spent, reserved) VALUES (?1, 0, ?2)
             ON CONFLICT(key) DO UPDATE SET reserved = MIN(reserved + excluded.reserved, ?3)",
            &[key.into(), micros.into(), MAX_MICROS.into()],
        )?;
        self.0.run(
            "INSERT INTO reservations (task, key, micros, created_ms) VALUES (?1, ?2, ?3, ?4)",
            &[task.into(), key.into(), micros.into(), now.into()],
        )
    }

    /// Holds what `change` reserves for `task` under every key at once (a ledger in one
    /// transaction), unless the task holds a reservation already (a racing retry),
    /// which then stands for it: `change` becomes what is held.
    pub fn hold_once(
        &self,
        task: &str,
        change: &mut LedgerChange,
        held: Vec<(String, i64)>,
        now: i64,
    ) -> Result<(), PortError> {
        if change.reserve.is_empty() {
            return Ok(());
        }
        if !held.is_empty() {
            change.reserve = held.into_iter().map(|(k, m)| (k, Micros(m))).collect();
            return Ok(());
        }
        for (key, m) in &change.reserve {
            self.hold(task, key, m.0, now)?;
        }
        Ok(())
    }

    /// The rows of the periods containing `now`.
    pub fn ledger(&self, now: i64) -> Result<Vec<LedgerRow>, PortError> {
        self.query(
            "SELECT key, spent, reserved FROM ledger WHERE key LIKE ?1 OR key LIKE ?2 ORDER BY key",
            &[
                format!("%|{}", day_key(now)).into(),
                format!("%|{}", month_key(now)).into(),
            ],
        )
    }

    /// Spent plus reserved per key for the periods containing `now`, leaving out what
    /// `held` (one task's reservations) accounts for.
    pub fn snapshot(&self, now: i64, held: &[(String, i64)]) -> Result<LedgerSnapshot, PortError> {
        let used = self
            .ledger(now)?
            .into_iter()
            .map(|r| {
                let own: i64 = held
                    .iter()
                    .filter(|(k, _)| *k == r.key)
                    .map(|(_, m)| m)
                    .sum();
                let used = r.spent.saturating_add(r.reserved).min(MAX_MICROS);
                (r.key, Micros(used.saturating_sub(own).max(0)))
            })
            .collect();
        Ok(LedgerSnapshot { used })
    }

    /// Checks the cost against one scope and, for an approval, reserves it.
    pub fn reserve(&self, r: &ReserveIn) -> Result<ReserveOut, PortError> {
        let work = Work {
            agent: Some(&r.agent),
            channel: r.channel.as_deref(),
            task: Some(&r.task),
        };
        if r.halt_check
            && let Some(why) = halt_state(&self.halts()?).reason(&work)
        {
            return Ok(ReserveOut::Halted(why));
        }
        let limits = Limits {
            daily: r.daily.map(Micros),
            monthly: r.monthly.map(Micros),
            ..Limits::default()
        };
        // What this scope holds for the current periods, read up front so that a storage
        // failure fails the request instead of counting as nothing spent.
        let held = self.held(&r.task)?;
        let snapshot = self.snapshot(r.now, &held)?;
        let used = |key: &str| snapshot.used.get(key).copied().unwrap_or(Micros::ZERO);
        let check = check_scope(&r.scope, &limits, Micros(r.cost), used, r.now);
        if r.commit && !held.is_empty() {
            // A retry: the task already holds its reservation here.
            return Ok(fits(held, check));
        }
        if let (true, Ok((change, _))) = (r.commit, &check) {
            for (key, m) in &change.reserve {
                self.hold(&r.task, key, m.0, r.now)?;
            }
        }
        Ok(match check {
            Err(b) => ReserveOut::Over(b.into()),
            Ok((change, tightest)) => ReserveOut::Fits {
                reserve: change.reserve.into_iter().map(|(k, m)| (k, m.0)).collect(),
                tightest: tightest.map(Status::from),
            },
        })
    }

    /// The tasks holding reservations made before `before` and not yet settled, newest
    /// first (at most 2,000): what [`crate::api::reconcile`] checks against the
    /// approvals. Newest first, because what it looks for is left by a crash just
    /// before `before` (it runs at every start and every minute).
    pub fn held_since(&self, before: i64) -> Result<Vec<String>, PortError> {
        #[derive(Deserialize)]
        struct Row {
            task: String,
        }
        let rows: Vec<Row> = self.query(
            "SELECT task FROM reservations WHERE settled IS NULL AND created_ms < ?1 GROUP BY task ORDER BY MAX(created_ms) DESC LIMIT 2000",
            &[before.into()],
        )?;
        Ok(rows.into_iter().map(|r| r.task).collect())
    }

    /// Gives back what `task` holds (a denial after reserving, or a failed write);
    /// how many reservations it gave back.
    pub fn release(&self, task: &str) -> Result<usize, PortError> {
        let held = self.held(task)?;
        for (key, m) in &held {
            self.0.run(
                "UPDATE ledger SET reserved = MAX(0, reserved - ?2) WHERE key = ?1",
                &[key.as_str().into(), (*m).into()],
            )?;
        }
        self.0.run(
            "DELETE FROM reservations WHERE task = ?1 AND settled IS NULL",
            &[task.into()],
        )?;
        Ok(held.len())
    }

    /// Why settling `task` at `actual` would pass what a ledger sum holds, if it would.
    pub fn room(&self, task: &str, actual: i64) -> Result<Option<String>, PortError> {
        #[derive(Deserialize)]
        struct S {
            spent: i64,
        }
        for (key, _) in self.held(task)? {
            let spent = self
                .query::<S>(
                    "SELECT spent FROM ledger WHERE key = ?1",
                    &[key.as_str().into()],
                )?
                .first()
                .map_or(0, |s| s.spent);
            if let Err(full) = Micros(spent).room_for(Micros(actual), &key) {
                return Ok(Some(full.to_string()));
            }
        }
        Ok(None)
    }

    /// Turns `task`'s reservation into spending of `actual`, once: a repeat returns the
    /// amount recorded the first time.
    pub fn settle(&self, task: &str, actual: i64, now: i64) -> Result<i64, PortError> {
        #[derive(Deserialize)]
        struct S {
            settled: i64,
        }
        let before = self.query::<S>(
            "SELECT settled FROM reservations WHERE task = ?1 AND settled IS NOT NULL LIMIT 1",
            &[task.into()],
        )?;
        if let Some(s) = before.first() {
            return Ok(s.settled);
        }
        for (key, m) in self.held(task)? {
            self.0.run(
                "UPDATE ledger SET reserved = MAX(0, reserved - ?2), spent = MIN(spent + ?3, ?4) WHERE key = ?1",
                &[key.into(), m.into(), actual.into(), MAX_MICROS.into()],
            )?;
        }
        self.0.run(
            "UPDATE reservations SET settled = ?2 WHERE task = ?1",
            &[task.into(), actual.into()],
        )?;
        // Reservations older than any budget period (a month) can no longer matter: a
        // settled one is only kept to answer a repeated spend, an unsettled one holds
        // money in a period that is over. Without this the table only grows.
        let horizon = now - RESERVATION_DAYS * 86_400_000;
        self.0.run(
            "DELETE FROM reservations WHERE created_ms < ?1",
            &[horizon.into()],
        )?;
        Ok(actual)
    }

    /// Answers one operation of the book's protocol: how the edge's scope objects are
    /// driven.
    pub fn answer(&self, op: LedgerOp) -> Result<Value, PortError> {
        Ok(match op {
            LedgerOp::Reserve(r) => json!(self.reserve(&r)?),
            LedgerOp::Release(t) => json!(self.release(&t.task)?),
            LedgerOp::Settle(t) => json!(self.settle(&t.task, t.actual.unwrap_or(0), t.now)?),
            LedgerOp::Room(t) => json!(self.room(&t.task, t.actual.unwrap_or(0))?),
            LedgerOp::Ledger(l) => json!(self.ledger(l.now)?),
            LedgerOp::HeldSince(l) => json!(self.held_since(l.now)?),
            LedgerOp::Halts => json!(self.halts()?),
            LedgerOp::Halt(h) => {
                self.halt(&h)?;
                json!(self.halts()?)
            }
            LedgerOp::Resume(h) => json!(self.resume(&h)?),
        })
    }
}

/// One operation on a scope's book (the wire protocol of the edge's ledger objects):
/// `{"op": "reserve", "args": {...}}`. What each answers: `reserve` a [`ReserveOut`],
/// `release` how many reservations it gave back, `settle` the amount recorded, `room`
/// why a settlement would not fit (or null), `ledger` the [`LedgerRow`]s, `halts` and
/// `halt` the [`Halt`]s in force, `resume` how many halts it lifted.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "lowercase")]
pub enum LedgerOp {
    Reserve(ReserveIn),
    Release(TaskIn),
    Settle(TaskIn),
    Room(TaskIn),
    Ledger(LedgerIn),
    /// The tasks holding unsettled reservations made before `now`.
    HeldSince(LedgerIn),
    Halts,
    Halt(HaltIn),
    Resume(HaltIn),
}

fn fits(held: Vec<(String, i64)>, check: BudgetCheck) -> ReserveOut {
    ReserveOut::Fits {
        reserve: held,
        tightest: check.ok().and_then(|(_, t)| t).map(Status::from),
    }
}

/// The 422 of a spend a ledger sum cannot hold.
pub fn ledger_limit(why: String) -> ApiError {
    ApiError::unprocessable("ledger_limit", why)
}
