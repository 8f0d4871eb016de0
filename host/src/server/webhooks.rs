//! The webhook service on the local server: its ports (the gate and the queue in one
//! SQLite transaction, the other services called in-process, HTTP out through `super::outbound`) and
//! the consumer, a background task that leases due events and platform calls from
//! SQLite and hands each to the service's step ([`agency_webhooks_service::consume`]).
//! What an event leads to is decided there, not here.

use std::sync::Arc;
use std::time::Duration;

use agency_kit::{ApiError, Clock};
use agency_webhooks_service::consume::Work;
use agency_webhooks_service::gate::Gate;
use agency_webhooks_service::store::{self, NewEvent};
use agency_webhooks_service::{Admission, Entry, Settings, Wake, WebhookPorts, consume};

use super::AppState;
use super::ports::Local;
use crate::background::Shutdown;
use crate::store::Store;

impl WebhookPorts for Local {
    type Db = Store;

    fn warn(&self, message: &str) {
        tracing::warn!("{message}");
    }

    fn db(&self) -> &Store {
        &self.0.store
    }

    fn settings(&self) -> &Settings {
        &self.0.config.webhook_settings
    }

    /// Through the intake thread ([`Intake`]): the gate and the insert in one SQLite
    /// transaction, shared with whatever other deliveries arrived meanwhile.
    async fn enqueue(&self, entry: &Entry, event: &NewEvent) -> Result<Admission, ApiError> {
        let admitted = self.0.intake.enqueue(entry.clone(), event.clone()).await?;
        if admitted == Admission::Accepted {
            self.0.webhook_work.notify_one();
        }
        Ok(admitted)
    }

    async fn wake(&self, _what: Wake<'_>) -> Result<(), ApiError> {
        self.0.webhook_work.notify_one();
        Ok(())
    }
}

/// One delivery waiting for the intake thread.
struct Job {
    entry: Entry,
    event: NewEvent,
    answer: tokio::sync::oneshot::Sender<Result<Admission, ApiError>>,
}

/// Group commit for the webhooks' intake: one thread takes the deliveries waiting at
/// the moment (up to [`Intake::MAX_BATCH`]) and runs them in one SQLite transaction,
/// each through the gate and, when admitted, into the queue, in arrival order (a
/// retry in the same batch as its original is a duplicate, as it would be later).
/// Each delivery is answered once the transaction committed: the 200 still means
/// durably queued. One commit per batch instead of per event is what lets the intake
/// keep up with thousands of events a second on one SQLite file.
pub struct Intake {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Intake {
    const MAX_BATCH: usize = 256;

    /// The intake and the queue its thread will drain ([`IntakeQueue::start`], once
    /// the server's state exists).
    pub fn new() -> (Intake, IntakeQueue) {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        (Intake { jobs }, IntakeQueue(queue))
    }

    fn commit(store: &Store, batch: Vec<Job>) {
        let outcome = store.in_tx(|sql| {
            let mut admitted = Vec::with_capacity(batch.len());
            for job in &batch {
                let a = Gate(sql).admit(&job.entry)?;
                if a == Admission::Accepted {
                    for st in store::insert_event(&job.event) {
                        store::run_sync(sql, &st)?;
                    }
                }
                admitted.push(a);
            }
            Ok::<_, ApiError>(admitted)
        });
        match outcome {
            Ok(admitted) => {
                for (job, a) in batch.into_iter().zip(admitted) {
                    let _ = job.answer.send(Ok(a));
                }
            }
            Err(e) => {
                for job in batch {
                    let _ = job.answer.send(Err(e.clone()));
                }
            }
        }
    }

    async fn enqueue(&self, entry: Entry, event: NewEvent) -> Result<Admission, ApiError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let gone = || {
            ApiError::from(agency_kit::PortError::Storage(
                "the intake thread stopped".into(),
            ))
        };
        self.jobs
            .send(Job {
                entry,
                event,
                answer,
            })
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

/// The deliveries the intake thread commits.
pub struct IntakeQueue(std::sync::mpsc::Receiver<Job>);

impl IntakeQueue {
    /// Starts the intake thread over `state`'s store; it ends with the server's state
    /// (when the last sender, in the state, is dropped).
    pub fn start(self, state: std::sync::Weak<AppState>) -> std::io::Result<()> {
        let queue = self.0;
        std::thread::Builder::new()
            .name("webhook-intake".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < Intake::MAX_BATCH {
                        match queue.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    let Some(state) = state.upgrade() else { return };
                    Intake::commit(&state.store, batch);
                }
            })?;
        Ok(())
    }
}

/// How often the consumer sweeps (cards to post and edit, halt events for the gateway,
/// held events to release) when nothing asks for it sooner.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How many steps run at once.
const PARALLEL: usize = 8;

/// How many due rows one pass leases.
const BATCH: u32 = 32;

/// The consumer: leases due events and platform calls and processes them, until
/// shutdown. Woken at once when something is queued, and every `idle` otherwise (for
/// retries whose time has come). Events are processed `parallel` at a time.
pub async fn consumer(state: Arc<AppState>, mut shutdown: Shutdown, idle: Duration) {
    let local = Local(state.clone());
    let mut swept_at = std::time::Instant::now();
    loop {
        if shutdown.is_set() {
            return;
        }
        let asked = state
            .sweep_due
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        if asked || swept_at.elapsed() >= SWEEP_EVERY {
            swept_at = std::time::Instant::now();
            if let Err(e) = consume::sweep(&local).await {
                tracing::warn!(error = %e, log = ?e.log, "webhook sweep failed");
            }
        }
        let worked = match pass(&local).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "webhook consumer: pass failed");
                0
            }
        };
        if worked > 0 {
            continue;
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = state.webhook_work.notified() => {}
            _ = tokio::time::sleep(idle.min(SWEEP_EVERY)) => {}
        }
    }
}

/// One pass: what was due, processed; how many rows.
async fn pass(local: &Local) -> Result<usize, ApiError> {
    let (events, calls) = store::due(local.db(), local.now_ms(), BATCH).await?;
    let work: Vec<Work> = events
        .into_iter()
        .map(Work::Event)
        .chain(calls.into_iter().map(Work::Call))
        .collect();
    // A few at a time: the gateway's latency overlaps, while the intake (which answers
    // the platforms) keeps most of the store and the CPU under load.
    for chunk in work.chunks(PARALLEL) {
        let steps = chunk.iter().map(|w| async move {
            // A step that fails leaves its row processing: the lease runs out and it
            // is tried again.
            if let Err(e) = consume::work(local, w).await {
                tracing::warn!(work = ?w, error = %e, log = ?e.log, "webhook step failed");
            }
        });
        futures_util::future::join_all(steps).await;
    }
    Ok(work.len())
}

/// Drops dedup keys past their time.
pub fn prune(state: &AppState) {
    let now = crate::store::now_ms();
    match state.store.in_tx(|sql| Gate(sql).prune(now)) {
        Ok(n) if n > 0 => tracing::info!(keys = n, "webhook dedup keys pruned"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "webhook dedup prune failed"),
    }
}

#[cfg(test)]
mod tests {
    use agency_webhook::limits::Rate;

    use super::*;

    fn entry(keys: &[&str], id: &str, now_ms: i64) -> Entry {
        Entry {
            source: "slack:T1".into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            event_id: id.into(),
            rate: Rate {
                per_second: 1.0,
                burst: 2.0,
            },
            ttl_ms: 60_000,
            now_ms,
        }
    }

    /// The gate on real SQLite: dedup before the bucket, keys forgotten on request and
    /// pruned after their time.
    #[test]
    fn the_gate_dedups_first_then_limits() {
        let store = Store::in_memory().unwrap();
        let admit = |e: &Entry| store.in_tx(|sql| Gate(sql).admit(e)).unwrap();
        assert_eq!(
            admit(&entry(&["ev:1", "msg:C:1"], "evt_a", 0)),
            Admission::Accepted
        );
        // A retry, and the same message under another event id: duplicates of evt_a.
        let dup = Admission::Duplicate {
            event_id: "evt_a".into(),
        };
        assert_eq!(admit(&entry(&["ev:1", "msg:C:1"], "evt_b", 10)), dup);
        assert_eq!(admit(&entry(&["ev:2", "msg:C:1"], "evt_c", 20)), dup);
        assert_eq!(admit(&entry(&["ev:3"], "evt_d", 30)), Admission::Accepted);
        // The burst of 2 is spent: a new event waits a second; a retry still passes as one.
        assert_eq!(
            admit(&entry(&["ev:4"], "evt_e", 40)),
            Admission::Limited {
                retry_after_secs: 1
            }
        );
        assert_eq!(admit(&entry(&["ev:1"], "evt_f", 50)), dup);
        // Forgotten keys (an enqueue that failed at the edge) let the retry through.
        store
            .in_tx(|sql| Gate(sql).forget(&["ev:3".into()], "evt_d"))
            .unwrap();
        assert_eq!(
            admit(&entry(&["ev:3"], "evt_g", 2_000)),
            Admission::Accepted
        );
        // Past the TTL the keys are pruned and the id is new again.
        assert_eq!(store.in_tx(|sql| Gate(sql).prune(70_000)).unwrap(), 3);
        assert_eq!(
            admit(&entry(&["ev:1"], "evt_h", 70_000)),
            Admission::Accepted
        );
    }
}
