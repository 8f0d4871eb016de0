//! Routing decisions on their way to SQLite. `POST /api/route` hands each decision's
//! insert to [`DecisionLog::record`] and answers at once (the decision id is made
//! before); one thread commits whatever is waiting, up to [`DecisionLog::MAX_BATCH`],
//! in one transaction, as the webhook intake does. Reads of the decisions wait for
//! what was recorded before them ([`DecisionLog::settled`]), and the server settles
//! the log before it stops, so a clean shutdown loses no decision; a crash can lose
//! the ones answered in the last few milliseconds.

use std::sync::Weak;
use std::time::Duration;

use agency_kit::{ApiError, PortError, Statement};

use super::AppState;

enum Job {
    Write(Statement),
    /// Answered once everything sent before it is committed (or given up on).
    Settle(tokio::sync::oneshot::Sender<()>),
}

pub struct DecisionLog {
    jobs: std::sync::mpsc::Sender<Job>,
}

/// The jobs the log's thread drains ([`DecisionQueue::start`]).
pub struct DecisionQueue(std::sync::mpsc::Receiver<Job>);

fn gone() -> ApiError {
    PortError::Storage("the decision log's thread stopped".into()).into()
}

impl DecisionLog {
    const MAX_BATCH: usize = 512;
    /// A batch that cannot be committed is tried this many times, a second apart,
    /// before its decisions are given up on (and logged).
    const TRIES: u32 = 5;

    pub fn new() -> (DecisionLog, DecisionQueue) {
        let (jobs, queue) = std::sync::mpsc::channel();
        (DecisionLog { jobs }, DecisionQueue(queue))
    }

    /// Queues one decision's insert.
    pub fn record(&self, insert: Statement) -> Result<(), ApiError> {
        self.jobs.send(Job::Write(insert)).map_err(|_| gone())
    }

    /// Returns once every decision recorded before the call is stored.
    pub async fn settled(&self) -> Result<(), ApiError> {
        let (done, settled) = tokio::sync::oneshot::channel();
        self.jobs.send(Job::Settle(done)).map_err(|_| gone())?;
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
                while let Ok(first) = queue.recv() {
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
