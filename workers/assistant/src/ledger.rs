//! One Durable Object per budget scope ("global", "agent:<id>", "channel:<id>") holds
//! that scope's ledger: spent and reserved micro-dollars per period, and the
//! reservations each task holds. The global one also holds the halt switch. A Durable
//! Object runs one request at a time and its SQL calls are synchronous, so a check and
//! the reservation it allows happen with nothing in between: concurrent approvals
//! never overspend a scope. The budget arithmetic is the approval core's
//! (`check_scope`); this file only stores.
//!
//! An approval falls under several scopes; [`LedgerClient::check_all`] visits them in a
//! fixed order and gives back what it reserved when a later scope says no.
//! Reservations are keyed by task id, so a retried approval never reserves twice.

use agency_approval::{
    BudgetCheck, BudgetStatus, HaltState, Limits, Micros, check_scope, day_key, month_key,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use worker::{
    DurableObject, Env, Request, Response, SqlStorage, SqlStorageValue, State, durable_object,
};

/// How long a task's reservation rows are kept: longer than any budget period.
const RESERVATION_DAYS: i64 = 62;

/// Ledger sums stop here: JavaScript numbers are exact up to 2^53. A spend that would
/// pass it is refused beforehand ([`LedgerObject::room`]).
const MAX_MICROS: i64 = Micros::MAX_LEDGER.0;

#[derive(Serialize, Deserialize)]
pub(crate) struct ReserveIn {
    pub(crate) task: String,
    pub(crate) agent: String,
    pub(crate) scope: String,
    pub(crate) daily: Option<i64>,
    pub(crate) monthly: Option<i64>,
    pub(crate) cost: i64,
    pub(crate) now: i64,
    /// Reserve (an approval) or only check (an ask).
    pub(crate) commit: bool,
    /// Refuse when halted (the global scope, asked first).
    pub(crate) halt_check: bool,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Status {
    pub(crate) scope: String,
    pub(crate) remaining: i64,
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

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ReserveOut {
    Halted(String),
    Over(Status),
    Fits {
        reserve: Vec<(String, i64)>,
        tightest: Option<Status>,
    },
}

#[derive(Serialize, Deserialize)]
pub(crate) struct TaskIn {
    pub(crate) task: String,
    /// For settle: the actual cost.
    pub(crate) actual: Option<i64>,
}

/// Asks for the ledger rows of the periods containing `now`.
#[derive(Serialize, Deserialize)]
pub(crate) struct LedgerIn {
    pub(crate) now: i64,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct HaltIn {
    pub(crate) scope: String,
    pub(crate) target: String,
    pub(crate) reason: Option<String>,
    pub(crate) now: i64,
}

/// One halt in force.
#[derive(Serialize, Deserialize, Clone)]
pub struct Halt {
    pub scope: String,
    pub target: String,
    pub reason: String,
    pub created_ms: i64,
}

/// One ledger row: key, spent, reserved.
#[derive(Serialize, Deserialize)]
pub(crate) struct LedgerRow {
    pub(crate) key: String,
    pub(crate) spent: i64,
    pub(crate) reserved: i64,
}

#[durable_object]
pub struct Ledger {
    state: State,
}

fn sql_err(e: worker::Error) -> worker::Error {
    worker::console_error!("ledger storage: {e}");
    e
}

impl Ledger {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn rows<T: DeserializeOwned>(
        &self,
        q: &str,
        args: Vec<SqlStorageValue>,
    ) -> worker::Result<Vec<T>> {
        self.sql().exec(q, args).map_err(sql_err)?.to_array()
    }

    fn run(&self, q: &str, args: Vec<SqlStorageValue>) -> worker::Result<()> {
        self.sql().exec(q, args).map_err(sql_err).map(|_| ())
    }

    fn halts(&self) -> worker::Result<Vec<Halt>> {
        self.rows(
            "SELECT scope, target, reason, created_ms FROM halts ORDER BY created_ms",
            vec![],
        )
    }

    fn held(&self, task: &str) -> worker::Result<Vec<(String, i64)>> {
        #[derive(Deserialize)]
        struct H {
            key: String,
            micros: i64,
        }
        Ok(self
            .rows::<H>(
                "SELECT key, micros FROM reservations WHERE task = ?1 AND settled IS NULL",
                vec![task.into()],
            )?
            .into_iter()
            .map(|h| (h.key, h.micros))
            .collect())
    }

    /// Checks the cost against this scope and, for an approval, reserves it. Runs
    /// without awaiting: nothing else touches the ledger in between.
    fn reserve(&self, r: ReserveIn) -> worker::Result<ReserveOut> {
        if r.halt_check
            && let Some(why) = halt_state(self.halts()?).reason(&r.agent, &r.task)
        {
            return Ok(ReserveOut::Halted(why));
        }
        let limits = Limits {
            daily: r.daily.map(Micros),
            monthly: r.monthly.map(Micros),
        };
        // What this scope holds for the current periods, read up front so that a storage
        // failure fails the request instead of counting as nothing spent.
        let rows = self.ledger(r.now)?;
        let used = |key: &str| {
            rows.iter()
                .find(|x| x.key == key)
                .map_or(Micros::ZERO, |x| {
                    Micros(x.spent.saturating_add(x.reserved).min(MAX_MICROS))
                })
        };
        let held = self.held(&r.task)?;
        if r.commit && !held.is_empty() {
            // A retry: the task already holds its reservation here.
            let check = check_scope(&r.scope, &limits, Micros::ZERO, used, r.now);
            return Ok(fits(held, check));
        }
        let check = check_scope(&r.scope, &limits, Micros(r.cost), used, r.now);
        if let (true, Ok((change, _))) = (r.commit, &check) {
            for (key, m) in &change.reserve {
                self.run(
                    "INSERT INTO ledger (key, spent, reserved) VALUES (?1, 0, ?2)
                     ON CONFLICT(key) DO UPDATE SET reserved = MIN(reserved + excluded.reserved, ?3)",
                    vec![key.as_str().into(), m.0.into(), MAX_MICROS.into()],
                )?;
                self.run(
                    "INSERT INTO reservations (task, key, micros, created_ms) VALUES (?1, ?2, ?3, ?4)",
                    vec![r.task.as_str().into(), key.as_str().into(), m.0.into(), r.now.into()],
                )?;
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

    /// Gives back what `task` holds (a denial after reserving, or a failed write).
    fn release(&self, task: &str) -> worker::Result<usize> {
        let held = self.held(task)?;
        for (key, m) in &held {
            self.run(
                "UPDATE ledger SET reserved = MAX(0, reserved - ?2) WHERE key = ?1",
                vec![key.as_str().into(), (*m).into()],
            )?;
        }
        self.run(
            "DELETE FROM reservations WHERE task = ?1 AND settled IS NULL",
            vec![task.into()],
        )?;
        Ok(held.len())
    }

    /// Why settling `task` at `actual` would pass what a ledger sum holds, if it would.
    fn room(&self, task: &str, actual: i64) -> worker::Result<Option<String>> {
        #[derive(Deserialize)]
        struct S {
            spent: i64,
        }
        for (key, _) in self.held(task)? {
            let spent = self
                .rows::<S>(
                    "SELECT spent FROM ledger WHERE key = ?1",
                    vec![key.as_str().into()],
                )?
                .first()
                .map_or(0, |s| s.spent);
            if let Err(why) = Micros(spent).room_for(Micros(actual), &key) {
                return Ok(Some(why));
            }
        }
        Ok(None)
    }

    /// Turns `task`'s reservation into spending of `actual`, once: a repeat returns the
    /// amount recorded the first time.
    fn settle(&self, task: &str, actual: i64) -> worker::Result<i64> {
        #[derive(Deserialize)]
        struct S {
            settled: i64,
        }
        let before = self.rows::<S>(
            "SELECT settled FROM reservations WHERE task = ?1 AND settled IS NOT NULL LIMIT 1",
            vec![task.into()],
        )?;
        if let Some(s) = before.first() {
            return Ok(s.settled);
        }
        for (key, m) in self.held(task)? {
            self.run(
                "UPDATE ledger SET reserved = MAX(0, reserved - ?2), spent = MIN(spent + ?3, ?4) WHERE key = ?1",
                vec![key.into(), m.into(), actual.into(), MAX_MICROS.into()],
            )?;
        }
        self.run(
            "UPDATE reservations SET settled = ?2 WHERE task = ?1",
            vec![task.into(), actual.into()],
        )?;
        // Reservations older than any budget period (a month) can no longer matter: a
        // settled one is only kept to answer a repeated spend, an unsettled one holds
        // money in a period that is over. Without this the table only grows.
        let horizon = worker::Date::now().as_millis() as i64 - RESERVATION_DAYS * 86_400_000;
        self.run(
            "DELETE FROM reservations WHERE created_ms < ?1",
            vec![horizon.into()],
        )?;
        Ok(actual)
    }

    fn ledger(&self, now: i64) -> worker::Result<Vec<LedgerRow>> {
        self.rows(
            "SELECT key, spent, reserved FROM ledger WHERE key LIKE ?1 OR key LIKE ?2 ORDER BY key",
            vec![
                format!("%|{}", day_key(now)).into(),
                format!("%|{}", month_key(now)).into(),
            ],
        )
    }

    async fn answer(&self, mut req: Request) -> worker::Result<Value> {
        let op = req.path();
        Ok(match op.trim_start_matches('/') {
            "reserve" => json!(self.reserve(req.json().await?)?),
            "release" => {
                let t: TaskIn = req.json().await?;
                json!(self.release(&t.task)?)
            }
            "settle" => {
                let t: TaskIn = req.json().await?;
                json!(self.settle(&t.task, t.actual.unwrap_or(0))?)
            }
            "room" => {
                let t: TaskIn = req.json().await?;
                json!(self.room(&t.task, t.actual.unwrap_or(0))?)
            }
            "ledger" => {
                let l: LedgerIn = req.json().await?;
                json!(self.ledger(l.now)?)
            }
            "halts" => json!(self.halts()?),
            "halt" => {
                let h: HaltIn = req.json().await?;
                self.run(
                    "INSERT INTO halts (scope, target, reason, created_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(scope, target) DO UPDATE SET reason = excluded.reason",
                    vec![
                        h.scope.into(),
                        h.target.into(),
                        h.reason.unwrap_or_default().into(),
                        h.now.into(),
                    ],
                )?;
                json!(self.halts()?)
            }
            "resume" => {
                let h: HaltIn = req.json().await?;
                let before = self.halts()?.len();
                if h.scope == "everything" {
                    self.run("DELETE FROM halts", vec![])?;
                } else {
                    self.run(
                        "DELETE FROM halts WHERE scope = ?1 AND target = ?2",
                        vec![h.scope.into(), h.target.into()],
                    )?;
                }
                json!(before - self.halts()?.len())
            }
            other => return Err(worker::Error::RustError(format!("no ledger op {other}"))),
        })
    }
}

fn fits(held: Vec<(String, i64)>, check: BudgetCheck) -> ReserveOut {
    ReserveOut::Fits {
        reserve: held,
        tightest: check.ok().and_then(|(_, t)| t).map(Status::from),
    }
}

impl DurableObject for Ledger {
    fn new(state: State, _env: Env) -> Self {
        let l = Ledger { state };
        let schema = [
            "CREATE TABLE IF NOT EXISTS ledger (key TEXT PRIMARY KEY, spent INTEGER NOT NULL DEFAULT 0, reserved INTEGER NOT NULL DEFAULT 0)",
            "CREATE TABLE IF NOT EXISTS reservations (task TEXT NOT NULL, key TEXT NOT NULL, micros INTEGER NOT NULL, created_ms INTEGER NOT NULL, settled INTEGER, PRIMARY KEY (task, key))",
            "CREATE INDEX IF NOT EXISTS reservations_by_age ON reservations (created_ms)",
            "CREATE TABLE IF NOT EXISTS halts (scope TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL, created_ms INTEGER NOT NULL, PRIMARY KEY (scope, target))",
        ];
        for q in schema {
            if let Err(e) = l.run(q, vec![]) {
                worker::console_error!("ledger schema: {e}");
            }
        }
        l
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        match self.answer(req).await {
            Ok(v) => Response::from_json(&v),
            Err(e) => {
                worker::console_error!("ledger: {e}");
                Ok(Response::error("ledger error", 500)?)
            }
        }
    }
}

pub(crate) fn halt_state(halts: Vec<Halt>) -> HaltState {
    let mut h = HaltState::default();
    for x in halts {
        match x.scope.as_str() {
            "all" => h.all = true,
            "agent" => {
                h.agents.insert(x.target);
            }
            "task" => {
                h.tasks.insert(x.target);
            }
            _ => {}
        }
    }
    h
}
