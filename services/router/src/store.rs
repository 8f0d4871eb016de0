//! The router service's storage: its SQL, once, for SQLite and D1 alike.

use agency_kit::migrate::Migration;
use agency_kit::{Db, PortError};
use agency_router::{RouteDecision, RouteRequest};
use serde::Deserialize;

pub static MIGRATIONS: &[Migration] = agency_kit::migrations!("router": "0001_init");

/// A stored decision.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDecision {
    pub id: String,
    pub message: String,
    pub channel: Option<String>,
    pub created_ms: i64,
    pub decision: RouteDecision,
}

pub async fn insert_decision(
    db: &impl Db,
    id: &str,
    request: &RouteRequest,
    decision: &RouteDecision,
    now_ms: i64,
) -> Result<(), PortError> {
    let decision_json =
        serde_json::to_string(decision).map_err(|e| PortError::Decode(e.to_string()))?;
    let reason = serde_json::to_value(decision.reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    db.execute(
        "INSERT INTO decisions (id, created_ms, message, channel, agent, reason, graph_version, decision_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &[
            id.into(),
            now_ms.into(),
            request.message.as_str().into(),
            request.channel.as_deref().into(),
            decision.agent.as_deref().into(),
            reason.into(),
            (&*decision.graph_version).into(),
            decision_json.into(),
        ],
    )
    .await
    .map(|_| ())
}

/// Newest first.
pub async fn recent_decisions(db: &impl Db, limit: u32) -> Result<Vec<StoredDecision>, PortError> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        decision_json: String,
        message: String,
        channel: Option<String>,
        created_ms: i64,
    }
    db.query::<Row>(
        "SELECT id, decision_json, message, channel, created_ms FROM decisions ORDER BY created_ms DESC, rowid DESC LIMIT ?1",
        &[i64::from(limit).into()],
    )
    .await?
    .into_iter()
    .map(|r| {
        Ok(StoredDecision {
            decision: serde_json::from_str(&r.decision_json)
                .map_err(|e| PortError::Decode(format!("decision {}: {e}", r.id)))?,
            id: r.id,
            message: r.message,
            channel: r.channel,
            created_ms: r.created_ms,
        })
    })
    .collect()
}

/// The agent decision `id` chose (None inside: it abstained), or None when there is no
/// such decision.
pub async fn decision_agent(db: &impl Db, id: &str) -> Result<Option<Option<String>>, PortError> {
    #[derive(Deserialize)]
    struct Agent {
        agent: Option<String>,
    }
    Ok(db
        .first::<Agent>("SELECT agent FROM decisions WHERE id = ?1", &[id.into()])
        .await?
        .map(|a| a.agent))
}

pub async fn insert_feedback(
    db: &impl Db,
    decision_id: &str,
    correct_agent: Option<&str>,
    now_ms: i64,
) -> Result<i64, PortError> {
    Ok(db
        .execute(
            "INSERT INTO feedback (decision_id, correct_agent, created_ms) VALUES (?1, ?2, ?3)",
            &[decision_id.into(), correct_agent.into(), now_ms.into()],
        )
        .await?
        .last_row_id)
}
