//! All of the webhook service's SQL: the event queue with its attempts, the outbox and
//! the reads of the events API here; cards ([`cards`]), leases and held events
//! ([`lease`]), and what is kept by key ([`keys`]) beside it. Runtimes only execute it
//! (the local store, D1); the gate's statements are in [`crate::gate`].

mod cards;
mod keys;
mod lease;

pub use cards::*;
pub use keys::*;
pub use lease::*;

use agency_kit::migrate::Migration;
use agency_kit::ports::{SyncSql, Written};
use agency_kit::{Db, PortError, Statement};
use serde::Deserialize;

use agency_kit::retention::{Child, Retained};

/// Webhook events that are settled (done, failed, dead, ignored), with their dispatch
/// attempts archived inside each: kept for `[retention] events_days`, then archived and
/// deleted. An event still queued, processing or held stays.
pub const RETAINED: &[Retained] = &[Retained {
    kind: "events",
    table: "webhook_events",
    key: "id",
    time: "received_ms",
    default_days: 30,
    children: &[Child {
        field: "attempts",
        table: "webhook_attempts",
        column: "event_id",
    }],
    only: Some("status IN ('done', 'failed', 'dead', 'ignored', 'dropped')"),
}];

pub static MIGRATIONS: &[Migration] = agency_kit::migrations!("webhooks": "0001_init", "0002_held_and_sealed", "0003_reply_keys", "0004_escalation_cards", "0005_batch_cards");

/// Where an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// Waiting for its time (new, or to be tried again).
    Queued,
    /// A consumer holds its lease.
    Processing,
    /// Dispatched, or answered in chat.
    Done,
    /// Will not be tried again (the gateway refused it, its source is gone).
    Failed,
    /// Out of retries: a dead letter, replayable.
    Dead,
    /// Nothing to do.
    Ignored,
    /// A halt covers it: kept, in order, until a resume releases it.
    Held,
    /// Held, then dropped by an operator.
    Dropped,
}

impl EventStatus {
    pub const ALL: [EventStatus; 8] = [
        EventStatus::Queued,
        EventStatus::Processing,
        EventStatus::Done,
        EventStatus::Failed,
        EventStatus::Dead,
        EventStatus::Ignored,
        EventStatus::Held,
        EventStatus::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Queued => "queued",
            EventStatus::Processing => "processing",
            EventStatus::Done => "done",
            EventStatus::Failed => "failed",
            EventStatus::Dead => "dead",
            EventStatus::Ignored => "ignored",
            EventStatus::Held => "held",
            EventStatus::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<EventStatus> {
        EventStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// An event as it is queued.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: String,
    pub platform: String,
    pub source: String,
    pub platform_event_id: String,
    pub kind: String,
    pub event_json: String,
    pub received_ms: i64,
    /// The capability taken out of the event ([`agency_webhook::capability`]): its
    /// reference and value.
    pub sealed: Option<(String, String)>,
}

/// The statements that queue `e` with the capability it carried (run in the gate's
/// transaction locally, in one D1 batch at the edge).
pub fn insert_event(e: &NewEvent) -> Vec<Statement> {
    let mut statements = vec![queue_event(e)];
    if let Some((reference, secret)) = &e.sealed {
        statements.push(Statement::new(
            "INSERT OR IGNORE INTO webhook_capabilities (ref, secret, expires_ms) VALUES (?1, ?2, ?3)",
            vec![
                reference.as_str().into(),
                secret.as_str().into(),
                (e.received_ms + agency_webhook::capability::KEEP_MS).into(),
            ],
        ));
    }
    statements
}

fn queue_event(e: &NewEvent) -> Statement {
    Statement::new(
        "INSERT INTO webhook_events (id, platform, source, platform_event_id, kind, event_json, status, tries, next_at_ms, received_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?7, ?7)",
        vec![
            e.id.as_str().into(),
            e.platform.as_str().into(),
            e.source.as_str().into(),
            e.platform_event_id.as_str().into(),
            e.kind.as_str().into(),
            e.event_json.as_str().into(),
            e.received_ms.into(),
        ],
    )
}

/// Runs `s` on synchronous SQL.
pub fn run_sync(sql: &impl SyncSql, s: &Statement) -> Result<(), PortError> {
    sql.run(&s.sql, &s.params)
}

/// A stored event, as the API and the consumer read it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventRow {
    pub id: String,
    pub platform: String,
    pub source: String,
    pub platform_event_id: String,
    pub kind: String,
    pub event_json: String,
    pub status: String,
    pub tries: i64,
    pub next_at_ms: i64,
    pub received_ms: i64,
    pub updated_ms: i64,
    pub decision_json: Option<String>,
    pub result_json: Option<String>,
    pub error: Option<String>,
    /// The halt that holds it (status `held`).
    #[serde(default)]
    pub held_by: Option<String>,
}

const OUTBOX_COLUMNS: &str = "id, event_id, platform, source, call_json, tries";

const EVENT_COLUMNS: &str = "id, platform, source, platform_event_id, kind, event_json, status, tries, next_at_ms, received_ms, updated_ms, decision_json, result_json, error, held_by";

/// Up to `n` pieces of work that are due: queued events and calls whose time has come,
/// and those left processing under a lease that ran out (a consumer that stopped).
/// Each is then leased by id ([`lease_event`], [`lease_call`]), so two consumers never
/// both take one.
pub async fn due(
    db: &impl Db,
    now_ms: i64,
    n: u32,
) -> Result<(Vec<String>, Vec<String>), PortError> {
    Ok((
        due_in(db, "webhook_events", "received_ms", now_ms, n).await?,
        due_in(db, "webhook_outbox", "created_ms", now_ms, n).await?,
    ))
}

/// The due rows of `table` (the queue or the outbox: they share the lease columns),
/// in the order they are due, ties in the order they came (`born`): released held
/// events, all due at once, go out in their original order.
async fn due_in(
    db: &impl Db,
    table: &str,
    born: &str,
    now_ms: i64,
    n: u32,
) -> Result<Vec<String>, PortError> {
    let ids: Vec<Id> = db
        .query(
            &format!(
                "SELECT id FROM {table}
                 WHERE (status = 'queued' AND next_at_ms <= ?1) OR (status = 'processing' AND lease_until_ms <= ?1)
                 ORDER BY next_at_ms, {born}, id LIMIT ?2"
            ),
            &[now_ms.into(), i64::from(n).into()],
        )
        .await?;
    Ok(ids.into_iter().map(|i| i.id).collect())
}

/// The event `id`.
pub async fn event(db: &impl Db, id: &str) -> Result<Option<EventRow>, PortError> {
    db.first(
        &format!("SELECT {EVENT_COLUMNS} FROM webhook_events WHERE id = ?1"),
        &[id.into()],
    )
    .await
}

/// Filters of the events list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub status: Option<String>,
    pub source: Option<String>,
    /// Only events listed after this one (newest first).
    pub before: Option<String>,
    pub limit: u32,
}

/// Events newest first.
pub async fn events(db: &impl Db, f: &EventFilter) -> Result<Vec<EventRow>, PortError> {
    db.query(
        &format!(
            "SELECT {EVENT_COLUMNS} FROM webhook_events
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR source = ?2)
               AND (?3 IS NULL OR (received_ms, id) < (SELECT received_ms, id FROM webhook_events WHERE id = ?3))
             ORDER BY received_ms DESC, id DESC LIMIT ?4"
        ),
        &[
            f.status.clone().into(),
            f.source.clone().into(),
            f.before.clone().into(),
            i64::from(f.limit).into(),
        ],
    )
    .await
}

/// One attempt at an event's dispatch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AttemptRow {
    pub n: i64,
    pub at_ms: i64,
    pub ms: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
}

pub async fn attempts(db: &impl Db, event_id: &str) -> Result<Vec<AttemptRow>, PortError> {
    db.query(
        "SELECT n, at_ms, ms, status, error FROM webhook_attempts WHERE event_id = ?1 ORDER BY n",
        &[event_id.into()],
    )
    .await
}

/// An attempt to record with an outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub at_ms: i64,
    pub ms: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
}

fn attempt_statement(event_id: &str, a: &Attempt) -> Statement {
    Statement::new(
        "INSERT INTO webhook_attempts (event_id, n, at_ms, ms, status, error)
         VALUES (?1, (SELECT COUNT(*) + 1 FROM webhook_attempts WHERE event_id = ?1), ?2, ?3, ?4, ?5)",
        vec![
            event_id.into(),
            a.at_ms.into(),
            a.ms.into(),
            a.status.map(i64::from).into(),
            a.error.clone().into(),
        ],
    )
}

/// What became of a leased event.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub status: EventStatus,
    pub tries: i64,
    pub next_at_ms: i64,
    pub decision_json: Option<String>,
    pub result_json: Option<String>,
    pub error: Option<String>,
    /// For `held`: the halt that holds it. A held event forgets its routing decision:
    /// it is routed again when released.
    pub held_by: Option<String>,
}

/// Records the attempt (if one was made) and the event's new status in one step; false
/// when the event was no longer this consumer's to settle.
pub async fn settle(
    db: &impl Db,
    event_id: &str,
    attempt: Option<&Attempt>,
    s: &Settled,
    now_ms: i64,
) -> Result<bool, PortError> {
    let mut statements = vec![Statement::new(
        "UPDATE webhook_events SET status = ?2, tries = ?3, next_at_ms = ?4, lease_until_ms = NULL,
                decision_json = CASE WHEN ?9 IS NULL THEN COALESCE(?5, decision_json) END,
                result_json = COALESCE(?6, result_json), error = ?7, updated_ms = ?8, held_by = ?9
         WHERE id = ?1 AND status IN ('processing', 'queued')",
        vec![
            event_id.into(),
            s.status.as_str().into(),
            s.tries.into(),
            s.next_at_ms.into(),
            s.decision_json.clone().into(),
            s.result_json.clone().into(),
            s.error.clone().into(),
            now_ms.into(),
            s.held_by.clone().into(),
        ],
    )];
    if let Some(a) = attempt {
        statements.push(attempt_statement(event_id, a));
    }
    let written = db.batch(statements).await?;
    Ok(written.first().is_some_and(|w| w.changes == 1))
}

/// Queues dead letter `id` again (a new round of attempts, the same event id): false
/// when there is no such dead letter.
pub async fn replay(db: &impl Db, id: &str, now_ms: i64) -> Result<bool, PortError> {
    let w: Written = db
        .execute(
            "UPDATE webhook_events SET status = 'queued', tries = 0, next_at_ms = ?2, error = NULL, updated_ms = ?2
             WHERE id = ?1 AND status = 'dead'",
            &[id.into(), now_ms.into()],
        )
        .await?;
    Ok(w.changes == 1)
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

/// Queues every dead letter again (of `source` only, when given); their ids.
pub async fn replay_all(
    db: &impl Db,
    source: Option<&str>,
    now_ms: i64,
) -> Result<Vec<String>, PortError> {
    let ids: Vec<Id> = db
        .query(
            "UPDATE webhook_events SET status = 'queued', tries = 0, next_at_ms = ?2, error = NULL, updated_ms = ?2
             WHERE status = 'dead' AND (?1 IS NULL OR source = ?1)
             RETURNING id",
            &[source.into(), now_ms.into()],
        )
        .await?;
    Ok(ids.into_iter().map(|i| i.id).collect())
}

/// A call to a chat platform's API, queued.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OutboxRow {
    pub id: String,
    pub event_id: Option<String>,
    pub platform: String,
    pub source: String,
    pub call_json: String,
    pub tries: i64,
}

/// The statement that queues a platform call.
pub fn insert_outbox(
    id: &str,
    event_id: Option<&str>,
    platform: &str,
    source: &str,
    call_json: &str,
    now_ms: i64,
) -> Statement {
    outbox_row(id, event_id, platform, source, call_json, now_ms, false)
}

/// An outbox row, inserted unless its id is taken; with `if_changed`, only when the
/// statement before it in the batch changed a row.
fn outbox_row(
    id: &str,
    event_id: Option<&str>,
    platform: &str,
    source: &str,
    call_json: &str,
    now_ms: i64,
    if_changed: bool,
) -> Statement {
    const INTO: &str = "INSERT OR IGNORE INTO webhook_outbox (id, event_id, platform, source, call_json, status, tries, next_at_ms, created_ms, updated_ms)";
    const ROW: &str = "?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?6, ?6";
    let sql = if if_changed {
        format!("{INTO} SELECT {ROW} WHERE changes() > 0")
    } else {
        format!("{INTO} VALUES ({ROW})")
    };
    Statement::new(
        &sql,
        vec![
            id.into(),
            event_id.into(),
            platform.into(),
            source.into(),
            call_json.into(),
            now_ms.into(),
        ],
    )
}

/// What became of a platform call: `done`, `dead`, or `queued` again at `next_at_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSettled<'a> {
    pub status: &'static str,
    pub tries: i64,
    pub next_at_ms: i64,
    pub last_status: Option<u16>,
    pub error: Option<&'a str>,
}

pub async fn settle_outbox(
    db: &impl Db,
    id: &str,
    s: &CallSettled<'_>,
    now_ms: i64,
) -> Result<(), PortError> {
    db.execute(
        "UPDATE webhook_outbox SET status = ?2, tries = ?3, next_at_ms = ?4, lease_until_ms = NULL,
                last_status = ?5, error = ?6, updated_ms = ?7
         WHERE id = ?1",
        &[
            id.into(),
            s.status.into(),
            s.tries.into(),
            s.next_at_ms.into(),
            s.last_status.map(i64::from).into(),
            s.error.into(),
            now_ms.into(),
        ],
    )
    .await?;
    Ok(())
}

/// The outbox's calls for an event (what went back to the chat).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SentRow {
    pub id: String,
    pub call_json: String,
    pub status: String,
    pub tries: i64,
    pub last_status: Option<i64>,
    pub error: Option<String>,
}

pub async fn sent_for(db: &impl Db, event_id: &str) -> Result<Vec<SentRow>, PortError> {
    db.query(
        "SELECT id, call_json, status, tries, last_status, error FROM webhook_outbox WHERE event_id = ?1 ORDER BY created_ms, id",
        &[event_id.into()],
    )
    .await
}

/// Counts by status, for `/health` and the dashboard.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatusCount {
    pub status: String,
    pub n: i64,
}

pub async fn counts(db: &impl Db) -> Result<Vec<StatusCount>, PortError> {
    db.query(
        "SELECT status, COUNT(*) AS n FROM webhook_events GROUP BY status ORDER BY status",
        &[],
    )
    .await
}
