//! The router service's storage: its SQL, once, for SQLite and D1 alike.

use agency_kit::migrate::Migration;
use agency_kit::{Db, PortError, Statement};
use agency_router::{RouteDecision, RouteRequest};
use agency_skill_graph::Complexity;
use serde::Deserialize;

use agency_kit::retention::{Child, Retained};

/// Routing decisions (with their feedback, archived inside each) and feedback: kept
/// for `[retention] decisions_days` and `feedback_days`, then archived and deleted. A
/// decision's feedback goes with it at the latest.
pub const RETAINED: &[Retained] = &[DECISIONS, FEEDBACK];

/// Decisions, each with its feedback inside.
pub const DECISIONS: Retained = Retained {
    kind: "decisions",
    table: "decisions",
    key: "id",
    time: "created_ms",
    default_days: 90,
    children: &[Child {
        field: "feedback",
        table: "feedback",
        column: "decision_id",
    }],
    only: None,
};

/// Feedback (archived inside its decision; alone only past its own period).
pub const FEEDBACK: Retained = Retained {
    kind: "feedback",
    table: "feedback",
    key: "id",
    time: "created_ms",
    default_days: 90,
    children: &[],
    only: None,
};

pub static MIGRATIONS: &[Migration] = agency_kit::migrations!("router": "0001_init", "0002_replay", "0003_conversations", "0004_retention");

/// A stored decision.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDecision {
    pub id: String,
    pub message: String,
    pub channel: Option<String>,
    /// The complexity the caller gave (None: estimated).
    pub complexity: Option<Complexity>,
    pub created_ms: i64,
    pub decision: RouteDecision,
    pub feedback: Option<StoredFeedback>,
}

/// The latest feedback on a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFeedback {
    pub correct_agent: Option<String>,
    pub created_ms: i64,
}

/// The statement that stores a decision (see `RouterPorts::record`).
pub fn insert_decision(
    id: &str,
    request: &RouteRequest,
    decision: &RouteDecision,
    now_ms: i64,
) -> Result<Statement, PortError> {
    let decision_json =
        serde_json::to_string(decision).map_err(|e| PortError::Decode(e.to_string()))?;
    let reason = serde_json::to_value(decision.reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(Statement::new(
        "INSERT INTO decisions (id, created_ms, message, channel, agent, reason, graph_version, decision_json, complexity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        vec![
            id.into(),
            now_ms.into(),
            request.message.as_str().into(),
            request.channel.as_deref().into(),
            decision.agent.as_deref().into(),
            reason.into(),
            (&*decision.graph_version).into(),
            decision_json.into(),
            request.complexity.map(|c| c.as_str()).into(),
        ],
    ))
}

/// Who holds a conversation: its agent and instance.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Held {
    pub agent: String,
    pub instance: Option<String>,
}

/// Who holds conversation `id`, unless its last message is older than `since_ms`.
pub async fn conversation(
    db: &impl Db,
    id: &str,
    since_ms: i64,
) -> Result<Option<Held>, PortError> {
    db.first::<Held>(
        "SELECT agent, instance FROM conversations WHERE id = ?1 AND updated_ms >= ?2",
        &[id.into(), since_ms.into()],
    )
    .await
}

/// The statement by which conversation `id` is held by `agent` (and `instance`), as of
/// `now_ms`.
pub fn hold(id: &str, agent: &str, instance: Option<&str>, now_ms: i64) -> Statement {
    Statement::new(
        "INSERT INTO conversations (id, agent, instance, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET agent = excluded.agent, instance = excluded.instance, updated_ms = excluded.updated_ms",
        vec![id.into(), agent.into(), instance.into(), now_ms.into()],
    )
}

/// The statement that forgets conversations idle since before `before_ms`, at most
/// 1,000 at a time.
pub fn forget_conversations(before_ms: i64) -> Statement {
    Statement::new(
        "DELETE FROM conversations WHERE id IN (SELECT id FROM conversations WHERE updated_ms < ?1 LIMIT 1000)",
        vec![before_ms.into()],
    )
}

/// Which stored decisions to list.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub limit: u32,
    /// Only decisions that have feedback.
    pub with_feedback: bool,
    /// Only decisions older than this one (the previous page's last).
    pub before: Option<String>,
}

/// Newest first, each with its latest feedback. `Ok(None)`: `before` names no decision.
pub async fn decisions(
    db: &impl Db,
    filter: &DecisionFilter,
) -> Result<Option<Vec<StoredDecision>>, PortError> {
    #[derive(Deserialize)]
    struct Mark {
        created_ms: i64,
        rowid: i64,
    }
    #[derive(Deserialize)]
    struct Row {
        id: String,
        decision_json: String,
        message: String,
        channel: Option<String>,
        complexity: Option<String>,
        created_ms: i64,
        feedback_agent: Option<String>,
        feedback_ms: Option<i64>,
    }
    // Older than the mark: (created_ms, rowid) below it, in the order listed.
    let (before_ms, before_rowid) = match &filter.before {
        None => (i64::MAX, i64::MAX),
        Some(id) => match db
            .first::<Mark>(
                "SELECT created_ms, rowid FROM decisions WHERE id = ?1",
                &[id.as_str().into()],
            )
            .await?
        {
            Some(m) => (m.created_ms, m.rowid),
            None => return Ok(None),
        },
    };
    let rows = db
        .query::<Row>(
            "SELECT d.id, d.decision_json, d.message, d.channel, d.complexity, d.created_ms, \
                    f.correct_agent AS feedback_agent, f.created_ms AS feedback_ms \
             FROM decisions d \
             LEFT JOIN feedback f ON f.id = (SELECT MAX(id) FROM feedback WHERE decision_id = d.id) \
             WHERE (d.created_ms < ?2 OR (d.created_ms = ?2 AND d.rowid < ?3)) \
               AND (?4 = 0 OR f.id IS NOT NULL) \
             ORDER BY d.created_ms DESC, d.rowid DESC LIMIT ?1",
            &[
                i64::from(filter.limit).into(),
                before_ms.into(),
                before_rowid.into(),
                i64::from(filter.with_feedback).into(),
            ],
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(StoredDecision {
                decision: serde_json::from_str(&r.decision_json)
                    .map_err(|e| PortError::Decode(format!("decision {}: {e}", r.id)))?,
                complexity: r.complexity.as_deref().and_then(Complexity::parse),
                feedback: r.feedback_ms.map(|ms| StoredFeedback {
                    correct_agent: r.feedback_agent,
                    created_ms: ms,
                }),
                id: r.id,
                message: r.message,
                channel: r.channel,
                created_ms: r.created_ms,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
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
