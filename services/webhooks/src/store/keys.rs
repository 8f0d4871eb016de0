//! What is kept by key for a while: sealed capabilities, replies' idempotency keys,
//! the sweep's cursors and the control events it records.

use agency_kit::{Db, PortError, Statement};
use serde::Deserialize;

use super::outbox_row;

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
