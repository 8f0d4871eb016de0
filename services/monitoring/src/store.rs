//! All of the monitoring service's SQL: probe results, statuses, incidents and daily
//! costs.

use agency_kit::migrate::Migration;
use agency_kit::{Db, PortError, Statement};
use agency_monitor::sla::Probe;
use serde::Deserialize;

pub static MIGRATIONS: &[Migration] =
    agency_kit::migrations!("monitoring": "0001_init", "0002_series");

/// A target's current status.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Status {
    pub target: String,
    pub status: String,
    pub failures: i64,
    pub since_ms: i64,
}

pub async fn statuses(db: &impl Db) -> Result<Vec<Status>, PortError> {
    db.query(
        "SELECT target, status, failures, since_ms FROM monitor_status ORDER BY target",
        &[],
    )
    .await
}

/// Records a probe, the target's new status and (when it changed) the incident, in
/// one step.
pub async fn record(
    db: &impl Db,
    target: &str,
    at_ms: i64,
    up: bool,
    ms: f64,
    now: &Status,
    incident: Option<(&str, &str, Option<&str>)>,
) -> Result<(), PortError> {
    let mut st = vec![
        Statement::new(
            "INSERT INTO monitor_probes (target, at_ms, up, ms) VALUES (?1, ?2, ?3, ?4)",
            vec![target.into(), at_ms.into(), up.into(), ms.into()],
        ),
        Statement::new(
            "INSERT INTO monitor_status (target, status, failures, since_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(target) DO UPDATE SET status = excluded.status, failures = excluded.failures, since_ms = excluded.since_ms",
            vec![
                target.into(),
                now.status.as_str().into(),
                now.failures.into(),
                now.since_ms.into(),
            ],
        ),
    ];
    if let Some((status, previous, detail)) = incident {
        st.push(Statement::new(
            "INSERT INTO monitor_incidents (target, at_ms, status, previous, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            vec![
                target.into(),
                at_ms.into(),
                status.into(),
                previous.into(),
                detail.map(str::to_owned).into(),
            ],
        ));
    }
    db.batch(st).await?;
    Ok(())
}

#[derive(Deserialize)]
struct ProbeRow {
    at_ms: i64,
    up: i64,
}

/// `target`'s probes since `from_ms`.
pub async fn probes(db: &impl Db, target: &str, from_ms: i64) -> Result<Vec<Probe>, PortError> {
    let rows: Vec<ProbeRow> = db
        .query(
            "SELECT at_ms, up FROM monitor_probes WHERE target = ?1 AND at_ms > ?2 ORDER BY at_ms",
            &[target.into(), from_ms.into()],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Probe {
            at_ms: r.at_ms,
            up: r.up != 0,
        })
        .collect())
}

/// Drops probes older than `before_ms` (the SLA looks back 30 days).
pub async fn prune(db: &impl Db, before_ms: i64) -> Result<(), PortError> {
    db.execute(
        "DELETE FROM monitor_probes WHERE at_ms < ?1",
        &[before_ms.into()],
    )
    .await?;
    Ok(())
}

/// One change of status.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub target: String,
    pub at_ms: i64,
    pub status: String,
    pub previous: String,
    pub detail: Option<String>,
}

pub async fn incidents(db: &impl Db, limit: u32) -> Result<Vec<Incident>, PortError> {
    db.query(
        "SELECT id, target, at_ms, status, previous, detail FROM monitor_incidents ORDER BY id DESC LIMIT ?1",
        &[i64::from(limit).into()],
    )
    .await
}

/// Notes the day's spending.
pub async fn cost(db: &impl Db, day: &str, usd: f64) -> Result<(), PortError> {
    db.execute(
        "INSERT INTO monitor_costs (day, usd) VALUES (?1, ?2) ON CONFLICT(day) DO UPDATE SET usd = excluded.usd",
        &[day.into(), usd.into()],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct Cost {
    usd: f64,
}

/// The last `days` days' spending, oldest first.
pub async fn costs(db: &impl Db, days: u32) -> Result<Vec<f64>, PortError> {
    let mut v: Vec<Cost> = db
        .query(
            "SELECT usd FROM monitor_costs ORDER BY day DESC LIMIT ?1",
            &[i64::from(days).into()],
        )
        .await?;
    v.reverse();
    Ok(v.into_iter().map(|c| c.usd).collect())
}

/// Notes `values` (name, value) for the minute of `now_ms`.
pub async fn note(db: &impl Db, now_ms: i64, values: &[(&str, f64)]) -> Result<(), PortError> {
    let minute = now_ms.div_euclid(60_000);
    db.batch(
        values
            .iter()
            .map(|(name, v)| {
                Statement::new(
                    "INSERT INTO monitor_series (name, minute, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(name, minute) DO UPDATE SET value = excluded.value",
                    vec![(*name).into(), minute.into(), (*v).into()],
                )
            })
            .collect(),
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct Point {
    minute: i64,
    value: f64,
}

/// `name`'s notes from minute `from` to minute `to` (inclusive), oldest first, with
/// the last note before `from` (for a counter's first rate).
pub async fn points(
    db: &impl Db,
    name: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, f64)>, PortError> {
    let rows: Vec<Point> = db
        .query(
            "SELECT minute, value FROM (
                 SELECT minute, value FROM monitor_series WHERE name = ?1 AND minute < ?2
                 ORDER BY minute DESC LIMIT 1)
             UNION ALL
             SELECT minute, value FROM monitor_series WHERE name = ?1 AND minute BETWEEN ?2 AND ?3
             ORDER BY minute",
            &[name.into(), from.into(), to.into()],
        )
        .await?;
    Ok(rows.into_iter().map(|p| (p.minute, p.value)).collect())
}
