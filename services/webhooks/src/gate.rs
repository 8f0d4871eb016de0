//! The gate every inbound event passes, per source and atomically: a retried delivery
//! is a duplicate (its keys are known), otherwise a token is taken from the source's
//! bucket (none left: rate-limited) and the keys are recorded. Written once over
//! synchronous SQL: locally inside the same SQLite transaction that enqueues the event,
//! at the edge inside the source's Durable Object, so racing retries cannot both pass.

use agency_kit::ports::SyncSql;
use agency_kit::{PortError, SqlValue};
use agency_webhook::limits::{Bucket, Rate};
use serde::{Deserialize, Serialize};

/// The gate's tables, for a Durable Object's storage (locally they are part of the
/// service's migration).
pub const GATE_SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS webhook_dedup (key TEXT PRIMARY KEY, event_id TEXT NOT NULL, expires_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhook_dedup_expiry ON webhook_dedup (expires_ms)",
    "CREATE TABLE IF NOT EXISTS webhook_buckets (source TEXT PRIMARY KEY, tokens REAL NOT NULL, at_ms INTEGER NOT NULL)",
];

/// What the gate says of one delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Admission {
    /// New: enqueue it (its keys now name `event_id`).
    Accepted,
    /// A delivery of an event already accepted as `event_id`.
    #[serde(rename_all = "camelCase")]
    Duplicate { event_id: String },
    /// Over the source's rate: try again in this many seconds.
    #[serde(rename_all = "camelCase")]
    Limited { retry_after_secs: u64 },
}

/// One delivery at the gate, on the wire to a Durable Object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub source: String,
    pub keys: Vec<String>,
    pub event_id: String,
    pub rate: Rate,
    pub ttl_ms: i64,
    pub now_ms: i64,
}

/// The gate over one atomic unit of SQL.
pub struct Gate<S: SyncSql>(pub S);

/// One operation on a source's gate (the wire protocol of the edge's gate objects):
/// `{"op": "admit", "args": {...}}`. `admit` answers an [`Admission`]; `forget` (the
/// keys of an event whose enqueue failed, so the platform's retry can pass) answers
/// `{}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "lowercase")]
pub enum GateOp {
    Admit(Entry),
    #[serde(rename_all = "camelCase")]
    Forget {
        keys: Vec<String>,
        event_id: String,
    },
}

#[derive(Deserialize)]
struct Known {
    event_id: String,
}

impl<S: SyncSql> Gate<S> {
    /// Dedup first (a platform's retry of an accepted event is answered 200 even when
    /// the source is over its rate), then the bucket, then the keys are recorded.
    pub fn admit(&self, e: &Entry) -> Result<Admission, PortError> {
        for key in &e.keys {
            let known: Vec<Known> = self.0.query(
                "SELECT event_id FROM webhook_dedup WHERE key = ?1 AND expires_ms > ?2",
                &[key.as_str().into(), e.now_ms.into()],
            )?;
            if let Some(k) = known.into_iter().next() {
                return Ok(Admission::Duplicate {
                    event_id: k.event_id,
                });
            }
        }
        let stored: Vec<Bucket> = self.0.query(
            "SELECT tokens, at_ms FROM webhook_buckets WHERE source = ?1",
            &[e.source.as_str().into()],
        )?;
        let bucket = stored
            .into_iter()
            .next()
            .unwrap_or_else(|| Bucket::full(e.rate, e.now_ms));
        let bucket = match bucket.take(e.rate, e.now_ms) {
            Ok(b) => b,
            Err(secs) => {
                return Ok(Admission::Limited {
                    retry_after_secs: secs,
                });
            }
        };
        self.0.run(
            "INSERT INTO webhook_buckets (source, tokens, at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(source) DO UPDATE SET tokens = excluded.tokens, at_ms = excluded.at_ms",
            &[
                e.source.as_str().into(),
                bucket.tokens.into(),
                bucket.at_ms.into(),
            ],
        )?;
        let expires = e.now_ms.saturating_add(e.ttl_ms);
        for key in &e.keys {
            self.0.run(
                "INSERT INTO webhook_dedup (key, event_id, expires_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET event_id = excluded.event_id, expires_ms = excluded.expires_ms",
                &[
                    key.as_str().into(),
                    e.event_id.as_str().into(),
                    expires.into(),
                ],
            )?;
        }
        Ok(Admission::Accepted)
    }

    /// Forgets an accepted event's keys, when it could not be enqueued after all (the
    /// platform's retry must then pass).
    pub fn forget(&self, keys: &[String], event_id: &str) -> Result<(), PortError> {
        for key in keys {
            self.0.run(
                "DELETE FROM webhook_dedup WHERE key = ?1 AND event_id = ?2",
                &[key.as_str().into(), event_id.into()],
            )?;
        }
        Ok(())
    }

    /// Drops keys past their time; how many.
    pub fn prune(&self, now_ms: i64) -> Result<usize, PortError> {
        #[derive(Deserialize)]
        struct N {
            n: i64,
        }
        let n: Vec<N> = self.0.query(
            "SELECT COUNT(*) AS n FROM webhook_dedup WHERE expires_ms <= ?1",
            &[SqlValue::Int(now_ms)],
        )?;
        self.0.run(
            "DELETE FROM webhook_dedup WHERE expires_ms <= ?1",
            &[SqlValue::Int(now_ms)],
        )?;
        Ok(n.first().map_or(0, |n| n.n.max(0) as usize))
    }
}
