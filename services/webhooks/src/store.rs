//! All of the webhook service's SQL: the event queue with its leases and attempts, the
//! outbox, and the reads of the events API. Runtimes only execute it (the local store,
//! D1); the gate's statements are in [`crate::gate`].

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

/// Who a card asks: the people where the approval was asked (its `replyTo`), or the
/// approver group it escalated to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    Asked,
    Group(&'a str),
}

impl Audience<'_> {
    fn key(&self) -> &str {
        match self {
            Audience::Asked => "",
            Audience::Group(g) => g,
        }
    }
}

/// The statement that records the card for `approval_id` and `audience` at `address`
/// unless one exists, or the approval already has a card in that chat (an approver
/// group whose channel is where the ask was made sees the card there: a second one
/// would be noise, and a chat holds one card per approval). Its `changes` say whether
/// this one is new.
pub fn insert_card(
    approval_id: &str,
    audience: Audience<'_>,
    address: &crate::outbound::Address,
    now_ms: i64,
) -> Result<Statement, serde_json::Error> {
    Ok(Statement::new(
        "INSERT OR IGNORE INTO webhook_cards (approval_id, audience, platform, source, address_json, chat, decided, created_ms)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, 0, ?7
         WHERE NOT EXISTS (SELECT 1 FROM webhook_cards
             WHERE approval_id = ?1 AND platform = ?3 AND source = ?4 AND chat = ?6)",
        vec![
            approval_id.into(),
            audience.key().into(),
            address.platform().as_str().into(),
            address.source.as_str().into(),
            serde_json::to_string(address)?.into(),
            address.to.chat().into(),
            now_ms.into(),
        ],
    ))
}

/// A card whose outcome is not shown yet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CardRow {
    pub approval_id: String,
    /// `''` for the card where the approval was asked; else the approver group's name.
    pub audience: String,
    pub address_json: String,
    pub message_ref: Option<String>,
}

impl CardRow {
    pub fn audience(&self) -> Audience<'_> {
        match self.audience.as_str() {
            "" => Audience::Asked,
            g => Audience::Group(g),
        }
    }
}

pub async fn open_cards(db: &impl Db, limit: u32) -> Result<Vec<CardRow>, PortError> {
    db.query(
        "SELECT approval_id, audience, address_json, message_ref FROM webhook_cards WHERE decided = 0 ORDER BY created_ms LIMIT ?1",
        &[i64::from(limit).into()],
    )
    .await
}

/// Whether the approval already has its card for `audience`.
pub async fn has_card(
    db: &impl Db,
    approval_id: &str,
    audience: Audience<'_>,
) -> Result<bool, PortError> {
    #[derive(Deserialize)]
    struct One {
        #[allow(dead_code)]
        approval_id: String,
    }
    Ok(db
        .first::<One>(
            "SELECT approval_id FROM webhook_cards WHERE approval_id = ?1 AND audience = ?2",
            &[approval_id.into(), audience.key().into()],
        )
        .await?
        .is_some())
}

/// Notes the posted card's message, on the approval's card in chat `to`.
pub async fn card_posted(
    db: &impl Db,
    approval_id: &str,
    to: &agency_webhook::ReplyTo,
    message_ref: &str,
) -> Result<(), PortError> {
    db.execute(
        "UPDATE webhook_cards SET message_ref = ?3 WHERE approval_id = ?1 AND chat = ?2",
        &[approval_id.into(), to.chat().into(), message_ref.into()],
    )
    .await?;
    Ok(())
}

/// A batch card: several asks of one conversation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BatchRow {
    pub id: String,
    pub approval_ids: String,
    pub address_json: String,
    pub message_ref: Option<String>,
}

impl BatchRow {
    /// The approvals it lists.
    pub fn ids(&self) -> Vec<String> {
        serde_json::from_str(&self.approval_ids).unwrap_or_default()
    }
}

/// The statement that records batch `id` listing `ids` at `address` in `conversation`,
/// unless it exists (its `changes` say whether this one is new).
pub fn insert_batch(
    id: &str,
    ids: &[String],
    address: &crate::outbound::Address,
    conversation: &str,
    now_ms: i64,
) -> Result<Statement, serde_json::Error> {
    Ok(Statement::new(
        "INSERT OR IGNORE INTO webhook_batches (id, approval_ids, platform, source, address_json, chat, conversation, decided, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?8, 0, ?7)",
        vec![
            id.into(),
            serde_json::to_string(ids)?.into(),
            address.platform().as_str().into(),
            address.source.as_str().into(),
            serde_json::to_string(address)?.into(),
            address.to.chat().into(),
            now_ms.into(),
            conversation.into(),
        ],
    ))
}

/// The open batch cards of `conversation` other than `newest`: a newer card there
/// supersedes them.
pub async fn superseded_batches(
    db: &impl Db,
    conversation: &str,
    newest: &str,
) -> Result<Vec<BatchRow>, PortError> {
    db.query(
        &format!("SELECT {BATCH_COLUMNS} FROM webhook_batches WHERE conversation = ?1 AND decided = 0 AND id <> ?2"),
        &[conversation.into(), newest.into()],
    )
    .await
}

const BATCH_COLUMNS: &str = "id, approval_ids, address_json, message_ref";

/// Batch `id`, if there is one.
pub async fn batch(db: &impl Db, id: &str) -> Result<Option<BatchRow>, PortError> {
    db.first(
        &format!("SELECT {BATCH_COLUMNS} FROM webhook_batches WHERE id = ?1"),
        &[id.into()],
    )
    .await
}

/// Batch cards not showing an outcome yet, oldest first.
pub async fn open_batches(db: &impl Db, limit: u32) -> Result<Vec<BatchRow>, PortError> {
    db.query(
        &format!("SELECT {BATCH_COLUMNS} FROM webhook_batches WHERE decided = 0 ORDER BY created_ms LIMIT ?1"),
        &[i64::from(limit).into()],
    )
    .await
}

/// Notes the posted batch card's message.
pub async fn batch_posted(db: &impl Db, id: &str, message_ref: &str) -> Result<(), PortError> {
    db.execute(
        "UPDATE webhook_batches SET message_ref = ?2 WHERE id = ?1",
        &[id.into(), message_ref.into()],
    )
    .await?;
    Ok(())
}

/// Marks the batch card as showing its outcome; false when it already did.
pub async fn batch_decided(db: &impl Db, id: &str) -> Result<bool, PortError> {
    let w = db
        .execute(
            "UPDATE webhook_batches SET decided = 1 WHERE id = ?1 AND decided = 0",
            &[id.into()],
        )
        .await?;
    Ok(w.changes == 1)
}

/// Marks the approval's card in `chat` (the one clicked) as showing its outcome.
pub async fn card_clicked(db: &impl Db, approval_id: &str, chat: &str) -> Result<(), PortError> {
    db.execute(
        "UPDATE webhook_cards SET decided = 1 WHERE approval_id = ?1 AND chat = ?2 AND decided = 0",
        &[approval_id.into(), chat.into()],
    )
    .await?;
    Ok(())
}

/// Marks the card as showing its outcome; false when it already did.
pub async fn card_decided(
    db: &impl Db,
    approval_id: &str,
    audience: Audience<'_>,
) -> Result<bool, PortError> {
    let w = db
        .execute(
            "UPDATE webhook_cards SET decided = 1 WHERE approval_id = ?1 AND audience = ?2 AND decided = 0",
            &[approval_id.into(), audience.key().into()],
        )
        .await?;
    Ok(w.changes == 1)
}

/// What leasing one row by id found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lease<T> {
    /// Ours until the lease runs out.
    Leased(T),
    /// Another consumer holds it until this time.
    Busy(i64),
    /// Finished, or never queued: nothing to do.
    Gone,
}

#[derive(Deserialize)]
struct Holder {
    status: String,
    lease_until_ms: Option<i64>,
}

/// Leases row `id` of `table` (the queue or the outbox) when it is queued (whatever
/// its time: the queue delivering it keeps the time at the edge) or its lease ran out;
/// the row's `columns` come back.
async fn lease<T: serde::de::DeserializeOwned>(
    db: &impl Db,
    table: &str,
    columns: &str,
    id: &str,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<Lease<T>, PortError> {
    let row: Option<T> = db
        .first(
            &format!(
                "UPDATE {table} SET status = 'processing', lease_until_ms = ?3, updated_ms = ?2
                 WHERE id = ?1 AND (status = 'queued' OR (status = 'processing' AND lease_until_ms <= ?2))
                 RETURNING {columns}"
            ),
            &[id.into(), now_ms.into(), lease_until_ms.into()],
        )
        .await?;
    if let Some(r) = row {
        return Ok(Lease::Leased(r));
    }
    let held: Option<Holder> = db
        .first(
            &format!("SELECT status, lease_until_ms FROM {table} WHERE id = ?1"),
            &[id.into()],
        )
        .await?;
    Ok(match held {
        Some(h) if h.status == "processing" => Lease::Busy(h.lease_until_ms.unwrap_or(0)),
        _ => Lease::Gone,
    })
}

/// Leases event `id` ([`lease`]).
pub async fn lease_event(
    db: &impl Db,
    id: &str,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<Lease<EventRow>, PortError> {
    lease(
        db,
        "webhook_events",
        EVENT_COLUMNS,
        id,
        now_ms,
        lease_until_ms,
    )
    .await
}

/// Leases platform call `id` ([`lease`]).
pub async fn lease_call(
    db: &impl Db,
    id: &str,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<Lease<OutboxRow>, PortError> {
    lease(
        db,
        "webhook_outbox",
        OUTBOX_COLUMNS,
        id,
        now_ms,
        lease_until_ms,
    )
    .await
}

/// Marks an event the queue gave up on (its dead-letter queue) as dead, unless it
/// finished after all.
pub async fn given_up(db: &impl Db, id: &str, now_ms: i64) -> Result<(), PortError> {
    db.execute(
        "UPDATE webhook_events SET status = 'dead', lease_until_ms = NULL, updated_ms = ?2,
                error = COALESCE(error, 'the queue gave up on it')
         WHERE id = ?1 AND status IN ('queued', 'processing')",
        &[id.into(), now_ms.into()],
    )
    .await?;
    Ok(())
}

/// Queued events and calls overdue by more than `grace_ms`: their queue message was
/// lost (a send that failed after a replay), so they are sent again.
pub async fn overdue(
    db: &impl Db,
    now_ms: i64,
    grace_ms: i64,
) -> Result<(Vec<String>, Vec<String>), PortError> {
    due(db, now_ms - grace_ms, 500).await
}

/// Takes back every lease: for a consumer starting over the only queue it serves (the
/// local server at start), whatever was processing belonged to a process that is gone.
/// How many events and calls were queued again.
pub async fn reclaim(db: &impl Db, now_ms: i64) -> Result<u64, PortError> {
    let written = db
        .batch(vec![
            Statement::new(
                "UPDATE webhook_events SET status = 'queued', lease_until_ms = NULL, next_at_ms = ?1, updated_ms = ?1
                 WHERE status = 'processing'",
                vec![now_ms.into()],
            ),
            Statement::new(
                "UPDATE webhook_outbox SET status = 'queued', lease_until_ms = NULL, next_at_ms = ?1, updated_ms = ?1
                 WHERE status = 'processing'",
                vec![now_ms.into()],
            ),
        ])
        .await?;
    Ok(written.iter().map(|w| w.changes).sum())
}

/// Held events, by the halt that holds them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HeldRow {
    pub held_by: String,
    pub n: i64,
    pub oldest_ms: i64,
}

pub async fn held(db: &impl Db) -> Result<Vec<HeldRow>, PortError> {
    db.query(
        "SELECT held_by, COUNT(*) AS n, MIN(received_ms) AS oldest_ms FROM webhook_events
         WHERE status = 'held' GROUP BY held_by ORDER BY oldest_ms",
        &[],
    )
    .await
}

/// How many events are held.
pub async fn held_total(db: &impl Db) -> Result<i64, PortError> {
    #[derive(Deserialize)]
    struct N {
        n: i64,
    }
    Ok(db
        .first::<N>(
            "SELECT COUNT(*) AS n FROM webhook_events WHERE status = 'held'",
            &[],
        )
        .await?
        .map_or(0, |n| n.n))
}

/// How many held events one release looks at.
const RELEASE_BATCH: i64 = 500;

/// Queues again the held events whose halt is no longer in force (`in_force`: the
/// keys of the halts that are), all due now; their ids in the order they came. Each is
/// released once: the update takes only rows still held.
pub async fn release_held(
    db: &impl Db,
    in_force: &[String],
    now_ms: i64,
) -> Result<Vec<String>, PortError> {
    #[derive(Deserialize)]
    struct Released {
        id: String,
        received_ms: i64,
    }
    let keys = serde_json::to_string(in_force).map_err(|e| PortError::Decode(e.to_string()))?;
    let mut released: Vec<Released> = db
        .query(
            "UPDATE webhook_events SET status = 'queued', held_by = NULL, next_at_ms = ?2, updated_ms = ?2, error = NULL
             WHERE id IN (SELECT id FROM webhook_events
                          WHERE status = 'held' AND held_by NOT IN (SELECT value FROM json_each(?1))
                          ORDER BY received_ms, id LIMIT ?3)
               AND status = 'held'
             RETURNING id, received_ms",
            &[keys.into(), now_ms.into(), RELEASE_BATCH.into()],
        )
        .await?;
    released.sort_by(|a, b| (a.received_ms, &a.id).cmp(&(b.received_ms, &b.id)));
    Ok(released.into_iter().map(|r| r.id).collect())
}

/// Drops held event `id` (an operator's call), recording who and when; false when it
/// is not held.
pub async fn drop_held(db: &impl Db, id: &str, by: &str, now_ms: i64) -> Result<bool, PortError> {
    let result = serde_json::json!({ "action": "drop", "by": by, "heldBy": null }).to_string();
    let w = db
        .execute(
            "UPDATE webhook_events SET status = 'dropped', updated_ms = ?3,
                    result_json = json_set(?2, '$.heldBy', held_by), held_by = NULL,
                    error = 'dropped by ' || ?4 || ' while held'
             WHERE id = ?1 AND status = 'held'",
            &[id.into(), result.into(), now_ms.into(), by.into()],
        )
        .await?;
    Ok(w.changes == 1)
}

/// The capability sealed under `reference`, unless it expired.
pub async fn capability(
    db: &impl Db,
    reference: &str,
    now_ms: i64,
) -> Result<Option<String>, PortError> {
    #[derive(Deserialize)]
    struct C {
        secret: String,
    }
    Ok(db
        .first::<C>(
            "SELECT secret FROM webhook_capabilities WHERE ref = ?1 AND expires_ms > ?2",
            &[reference.into(), now_ms.into()],
        )
        .await?
        .map(|c| c.secret))
}

/// Forgets expired capabilities.
pub async fn prune_capabilities(db: &impl Db, now_ms: i64) -> Result<u64, PortError> {
    Ok(db
        .execute(
            "DELETE FROM webhook_capabilities WHERE expires_ms <= ?1",
            &[now_ms.into()],
        )
        .await?
        .changes)
}

/// How long an `Idempotency-Key` of `POST /api/replies` is remembered.
pub const REPLY_KEY_MS: i64 = 24 * 3600 * 1000;

/// Queues the reply `call_json` from `source` (`platform`) under `Idempotency-Key` `key`
/// as `reply_id`, unless the key was seen within [`REPLY_KEY_MS`]: then nothing is
/// queued. The reply id and call the key stands for now (ours, or the first one's).
pub async fn queue_reply_once(
    db: &impl Db,
    key: &str,
    (platform, source): (&str, &str),
    reply_id: &str,
    call_json: &str,
    now_ms: i64,
) -> Result<(String, String), PortError> {
    db.batch(vec![
        Statement::new(
            "DELETE FROM reply_keys WHERE key = ?1 AND created_ms <= ?2",
            vec![key.into(), (now_ms - REPLY_KEY_MS).into()],
        ),
        Statement::new(
            "INSERT OR IGNORE INTO reply_keys (key, reply_id, call_json, created_ms) VALUES (?1, ?2, ?3, ?4)",
            vec![key.into(), reply_id.into(), call_json.into(), now_ms.into()],
        ),
        // Only when the key is new: the insert just before changed a row.
        outbox_row(reply_id, None, platform, source, call_json, now_ms, true),
    ])
    .await?;
    #[derive(Deserialize)]
    struct Row {
        reply_id: String,
        call_json: String,
    }
    let row: Option<Row> = db
        .first(
            "SELECT reply_id, call_json FROM reply_keys WHERE key = ?1",
            &[key.into()],
        )
        .await?;
    let row = row.ok_or_else(|| PortError::Decode("the reply key was not stored".into()))?;
    Ok((row.reply_id, row.call_json))
}

/// Forgets reply keys older than [`REPLY_KEY_MS`]; how many.
pub async fn prune_reply_keys(db: &impl Db, now_ms: i64) -> Result<u64, PortError> {
    Ok(db
        .execute(
            "DELETE FROM reply_keys WHERE created_ms <= ?1",
            &[(now_ms - REPLY_KEY_MS).into()],
        )
        .await?
        .changes)
}

/// Where the follower `name` got to (0 before its first step).
pub async fn cursor(db: &impl Db, name: &str) -> Result<i64, PortError> {
    #[derive(Deserialize)]
    struct V {
        value: i64,
    }
    Ok(db
        .first::<V>(
            "SELECT value FROM webhook_cursors WHERE name = ?1",
            &[name.into()],
        )
        .await?
        .map_or(0, |v| v.value))
}

/// Moves the follower `name` on to `value` (never back).
pub fn advance(name: &str, value: i64) -> Statement {
    Statement::new(
        "INSERT INTO webhook_cursors (name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)",
        vec![name.into(), value.into()],
    )
}

/// Queues an event Agency itself sends the gateway (a halt or a resume), under an id
/// made from what it announces, so announcing it twice queues it once.
pub fn insert_control(id: &str, kind: &str, event_json: &str, now_ms: i64) -> Statement {
    Statement::new(
        "INSERT OR IGNORE INTO webhook_events (id, platform, source, platform_event_id, kind, event_json, status, tries, next_at_ms, received_ms, updated_ms)
         VALUES (?1, 'agency', 'gateway', ?1, ?2, ?3, 'queued', 0, ?4, ?4, ?4)",
        vec![id.into(), kind.into(), event_json.into(), now_ms.into()],
    )
}
