//! The skill-graph service's storage: its SQL, once, for SQLite and D1 alike.

use agency_kit::migrate::Migration;
use agency_kit::{Db, PortError, SqlValue};
use agency_router::pool::{InstanceReport, REPORT_TTL_MS};
use serde::Deserialize;

pub static MIGRATIONS: &[Migration] =
    agency_kit::migrations!("skill-graph": "0001_init", "0002_instances");

/// The newest stored version.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Head {
    pub seq: i64,
    pub version: String,
    pub created_ms: i64,
}

pub async fn head(db: &impl Db) -> Result<Option<Head>, PortError> {
    db.first(
        "SELECT seq, version, created_ms FROM graph_versions ORDER BY seq DESC LIMIT 1",
        &[],
    )
    .await
}

pub async fn graph_json(db: &impl Db, version: &str) -> Result<Option<String>, PortError> {
    #[derive(Deserialize)]
    struct Row {
        graph_json: String,
    }
    Ok(db
        .first::<Row>(
            "SELECT graph_json FROM graph_versions WHERE version = ?1 ORDER BY seq DESC LIMIT 1",
            &[version.into()],
        )
        .await?
        .map(|r| r.graph_json))
}

/// Appends `version` unless it is already the newest; one statement, so two uploads
/// cannot both append the same version.
pub async fn insert_unless_current(
    db: &impl Db,
    version: &str,
    json: &str,
    now_ms: i64,
) -> Result<(), PortError> {
    db.execute(
        "INSERT INTO graph_versions (version, graph_json, created_ms)
         SELECT ?1, ?2, ?3
         WHERE NOT EXISTS (SELECT 1 FROM (SELECT version FROM graph_versions ORDER BY seq DESC LIMIT 1) WHERE version = ?1)",
        &[version.into(), json.into(), now_ms.into()],
    )
    .await
    .map(|_| ())
}

pub async fn versions(db: &impl Db, limit: u32) -> Result<Vec<Head>, PortError> {
    db.query(
        "SELECT seq, version, created_ms FROM graph_versions ORDER BY seq DESC LIMIT ?1",
        &[i64::from(limit).into()],
    )
    .await
}

pub async fn set_health(
    db: &impl Db,
    agent: &str,
    healthy: bool,
    now_ms: i64,
) -> Result<(), PortError> {
    db.execute(
        "INSERT INTO agent_health (agent, healthy, updated_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT(agent) DO UPDATE SET healthy = excluded.healthy, updated_ms = excluded.updated_ms",
        &[agent.into(), healthy.into(), now_ms.into()],
    )
    .await
    .map(|_| ())
}

pub async fn down_agents(db: &impl Db) -> Result<Vec<String>, PortError> {
    #[derive(Deserialize)]
    struct Row {
        agent: String,
    }
    Ok(db
        .query::<Row>(
            "SELECT agent FROM agent_health WHERE healthy = 0 ORDER BY agent",
            &[] as &[SqlValue],
        )
        .await?
        .into_iter()
        .map(|r| r.agent)
        .collect())
}

/// Records one instance's report (health and load), replacing the previous one.
pub async fn set_instance(db: &impl Db, r: &InstanceReport) -> Result<(), PortError> {
    db.execute(
        "INSERT INTO instance_health (agent, instance, healthy, load, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(agent, instance) DO UPDATE SET healthy = excluded.healthy, load = excluded.load, updated_ms = excluded.updated_ms",
        &[
            r.agent.as_str().into(),
            r.instance.as_str().into(),
            r.healthy.into(),
            r.load.into(),
            r.updated_ms.into(),
        ],
    )
    .await
    .map(|_| ())
}

/// The instance reports that still count at `now_ms` (expired ones are left out).
pub async fn instance_reports(db: &impl Db, now_ms: i64) -> Result<Vec<InstanceReport>, PortError> {
    #[derive(Deserialize)]
    struct Row {
        agent: String,
        instance: String,
        healthy: i64,
        load: f64,
        updated_ms: i64,
    }
    Ok(db
        .query::<Row>(
            "SELECT agent, instance, healthy, load, updated_ms FROM instance_health
             WHERE updated_ms > ?1 ORDER BY agent, instance",
            &[(now_ms - REPORT_TTL_MS).into()],
        )
        .await?
        .into_iter()
        .map(|r| InstanceReport {
            agent: r.agent,
            instance: r.instance,
            healthy: r.healthy != 0,
            load: r.load,
            updated_ms: r.updated_ms,
        })
        .collect())
}
