//! Leases on events and platform calls (one consumer at a time, reclaimed when it
//! dies), and events held by a halt.

use agency_kit::{Db, PortError, Statement};
use serde::Deserialize;

use super::{EVENT_COLUMNS, EventRow, OUTBOX_COLUMNS, OutboxRow, due};

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
