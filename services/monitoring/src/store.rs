//! All of the monitoring service's SQL: probe results, statuses, incidents and daily
//! costs.

use agency_kit::migrate::Migration;
use agency_kit::{Db, PortError, Statement};
use agency_monitor::sla::Probe;
use serde::Deserialize;

pub static MIGRATIONS: &[Migration] =
    agency_kit::migrations!("monitoring": "0001_init", "0002_series", "0003_samples");

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

/// Stores one shipment of samples (a registry as JSON) for the minute it arrived in.
pub async fn add_samples(db: &impl Db, minute: i64, data: &str) -> Result<(), PortError> {
    db.execute(
        "INSERT INTO monitor_samples (minute, data) VALUES (?1, ?2)",
        &[minute.into(), data.into()],
    )
    .await?;
    Ok(())
}

/// A stored registry: the total (`id` 0) or a shipment not folded into it yet.
#[derive(Debug, Clone, Deserialize)]
pub struct Stored {
    pub id: i64,
    pub minute: i64,
    pub data: String,
}

/// The total and every shipment after it, read in one statement (so a fold in between
/// cannot make a shipment count twice or not at all).
pub async fn stored_samples(db: &impl Db) -> Result<Vec<Stored>, PortError> {
    db.query(
        "SELECT 0 AS id, 0 AS minute, data FROM monitor_total
         UNION ALL
         SELECT id, minute, data FROM monitor_samples
          WHERE id > (SELECT coalesce(max(through_id), 0) FROM monitor_total)
         ORDER BY id",
        &[],
    )
    .await
}

/// The total, with the last shipment folded into it (0 and none before the first fold).
pub async fn total(db: &impl Db) -> Result<(i64, Option<String>), PortError> {
    #[derive(Deserialize)]
    struct Row {
        through_id: i64,
        data: String,
    }
    let rows: Vec<Row> = db
        .query("SELECT through_id, data FROM monitor_total", &[])
        .await?;
    Ok(rows
        .into_iter()
        .next()
        .map_or((0, None), |r| (r.through_id, Some(r.data))))
}

/// Up to `limit` shipments after `after`, oldest first.
pub async fn shipments(db: &impl Db, after: i64, limit: i64) -> Result<Vec<Stored>, PortError> {
    db.query(
        "SELECT id, minute, data FROM monitor_samples WHERE id > ?1 ORDER BY id LIMIT ?2",
        &[after.into(), limit.into()],
    )
    .await
}

/// The merged counts of these minutes, as stored.
pub async fn minutes(db: &impl Db, minutes: &[i64]) -> Result<Vec<Stored>, PortError> {
    let list = minutes
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    db.query(
        &format!("SELECT minute AS id, minute, data FROM monitor_minutes WHERE minute IN ({list})"),
        &[],
    )
    .await
}

/// One fold, all or nothing: the new total (only if the total still ends at `from`,
/// so two folds racing can't both count the same shipments), then, only if this fold
/// won, the minutes' merged counts, the folded shipments deleted and minutes older than
/// `keep_from_minute` dropped.
pub async fn fold(
    db: &impl Db,
    from: i64,
    through: i64,
    token: &str,
    total: &str,
    minutes: &[(i64, String)],
    keep_from_minute: i64,
) -> Result<(), PortError> {
    let won = "EXISTS (SELECT 1 FROM monitor_total WHERE fold = ?1)";
    // The first fold inserts the total; a later one moves it on from where it read it.
    let mut st = vec![if from == 0 {
        Statement::new(
            "INSERT OR IGNORE INTO monitor_total (one, through_id, fold, data) VALUES (1, ?1, ?2, ?3)",
            vec![through.into(), token.into(), total.into()],
        )
    } else {
        Statement::new(
            "UPDATE monitor_total SET through_id = ?1, fold = ?2, data = ?3 WHERE through_id = ?4",
            vec![through.into(), token.into(), total.into(), from.into()],
        )
    }];
    for (minute, data) in minutes {
        st.push(Statement::new(
            format!(
                "INSERT INTO monitor_minutes (minute, data) SELECT ?2, ?3 WHERE {won}
                 ON CONFLICT(minute) DO UPDATE SET data = excluded.data"
            ),
            vec![token.into(), (*minute).into(), data.as_str().into()],
        ));
    }
    st.push(Statement::new(
        format!("DELETE FROM monitor_samples WHERE id <= ?2 AND {won}"),
        vec![token.into(), through.into()],
    ));
    st.push(Statement::new(
        format!("DELETE FROM monitor_minutes WHERE minute < ?2 AND {won}"),
        vec![token.into(), keep_from_minute.into()],
    ));
    db.batch(st).await?;
    Ok(())
}
