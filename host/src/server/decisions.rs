//! Routing decisions (and who holds each conversation) on their way to SQLite. `POST /api/route` hands each decision's
//! insert to [`DecisionLog::record`] and answers at once (the decision id is made
//! before); one thread commits whatever is waiting, up to [`DecisionLog::MAX_BATCH`],
//! in one transaction, as the webhook intake does. Reads of the decisions wait for
//! what was recorded before them ([`DecisionLog::settled`]), and the server settles
//! the log before it stops, so a clean shutdown loses no decision; a crash can lose
//! the ones answered in the last few milliseconds.

use std::sync::Weak;
use std::time::Duration;

use std::collections::HashMap;

use agency_kit::{ApiError, PortError, Statement};
use agency_router_service::store::{self, Held};

use super::AppState;

enum Job {
    Write(Statement),
    /// Answered once everything sent before it is committed (or given up on).
    Settle(tokio::sync::oneshot::Sender<()>),
}

pub struct DecisionLog {
    jobs: tokio::sync::mpsc::Sender<Job>,
    /// The conversations this server routed, newest state first in line for the table:
    /// who holds each and since when (ms). Bounded: past [`DecisionLog::MAX_HELD`] the
    /// older half is dropped (the table still has them).
    held: std::sync::Mutex<HashMap<String, (Held, i64)>>,
}

/// The jobs the log's thread drains ([`DecisionQueue::start`]).
pub struct DecisionQueue(tokio::sync::mpsc::Receiver<Job>);

fn gone() -> ApiError {
    PortError::Storage("the decision log's thread stopped".into()).into()
}

impl DecisionLog {
    const MAX_BATCH: usize = 512;
    /// Writes waiting at most: past this, recording waits for the thread (the route
    /// endpoint slows to what SQLite commits instead of growing a backlog).
    const MAX_WAITING: usize = 16_384;
    /// Conversations kept in memory (the table keeps every one).
    const MAX_HELD: usize = 100_000;
    /// A batch that cannot be committed is tried this many times, a second apart,
    /// before its decisions are given up on (and logged).
    const TRIES: u32 = 5;

    pub fn new() -> (DecisionLog, DecisionQueue) {
        let (jobs, queue) = tokio::sync::mpsc::channel(Self::MAX_WAITING);
        (
            DecisionLog {
                jobs,
                held: std::sync::Mutex::new(HashMap::new()),
            },
            DecisionQueue(queue),
        )
    }

    /// Queues one decision's insert.
    pub async fn record(&self, insert: Statement) -> Result<(), ApiError> {
        self.jobs.send(Job::Write(insert)).await.map_err(|_| gone())
    }

    /// Who holds conversation `id` as this server last routed it: `None` when it has not
    /// seen it (ask the table), `Some(None)` when it is idle since before `since_ms`.
    pub fn held(&self, id: &str, since_ms: i64) -> Option<Option<Held>> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(id)
            .map(|(h, at)| (*at >= since_ms).then(|| h.clone()))
    }

    /// Conversation `id` is `held`'s as of `now_ms`: remembered now, written to the
    /// table with the next group of decisions.
    pub async fn hold(&self, id: &str, held: Held, now_ms: i64) -> Result<(), ApiError> {
        let statement = store::hold(id, &held.agent, held.instance.as_deref(), now_ms);
        {
            let mut map = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= Self::MAX_HELD && !map.contains_key(id) {
                let mut ages: Vec<i64> = map.values().map(|(_, at)| *at).collect();
                let (_, median, _) = ages.select_nth_unstable(map.len() / 2);
                let median = *median;
                map.retain(|_, (_, at)| *at > median);
            }
            map.insert(id.to_owned(), (held, now_ms));
        }
        self.jobs
            .send(Job::Write(statement))
            .await
            .map_err(|_| gone())
    }

    /// Returns once every decision recorded before the call is stored.
    pub async fn settled(&self) -> Result<(), ApiError> {
        let (done, settled) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job::Settle(done))
            .await
            .map_err(|_| gone())?;
        settled.await.map_err(|_| gone())
    }

    fn commit(state: &AppState, writes: &[Statement]) {
        for attempt in 1..=Self::TRIES {
            let done = state.store.in_tx(|sql| {
                for w in writes {
                    agency_kit::ports::SyncSql::run(sql, &w.sql, &w.params)?;
                }
                Ok::<_, PortError>(())
            });
            match done {
                Ok(()) => return,
                Err(e) if attempt < Self::TRIES => {
                    tracing::warn!(error = %e, decisions = writes.len(), attempt, "storing routing decisions failed; trying again");
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(e) => {
                    tracing::error!(error = %e, decisions = writes.len(), "routing decisions could not be stored and are lost from the audit trail");
                }
            }
        }
    }
}

impl DecisionQueue {
    /// Starts the log's thread; it ends with the server's state (when the last sender,
    /// in the state, is dropped), after committing what is left.
    pub fn start(self, state: Weak<AppState>) -> std::io::Result<()> {
        let queue = self.0;
        std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || {
                let mut queue = queue;
                while let Some(first) = queue.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < DecisionLog::MAX_BATCH {
                        match queue.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    let mut writes = Vec::with_capacity(batch.len());
                    let mut settles = Vec::new();
                    for job in batch {
                        match job {
                            Job::Write(w) => writes.push(w),
                            Job::Settle(s) => settles.push(s),
                        }
                    }
                    if !writes.is_empty() {
                        let Some(state) = state.upgrade() else { return };
                        DecisionLog::commit(&state, &writes);
                    }
                    for s in settles {
                        let _ = s.send(());
                    }
                }
            })?;
        Ok(())
    }
}
