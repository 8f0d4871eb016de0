//! Samples that other processes ship here: each Worker's requests and decisions,
//! batched, over a service binding (`POST /internal/samples`). A shipment is stored as
//! it comes (one insert, so concurrent shipments never overwrite each other) and later
//! folded by minute into the totals ([`fold`], on the probes' schedule). Every reader
//! sees the total plus the shipments after it ([`stored`]).

use agency_kit::{ApiError, Clock, Db, Random};
use agency_monitor::Registry;

use crate::{MonitorPorts, store};

/// Shipments folded per round at most (a round goes on while there are more).
const FOLD_BATCH: i64 = 200;
/// Folding stops after this many batches in one round (the next round goes on).
const FOLD_ROUNDS: usize = 10;
/// Each minute's own counts are kept this long.
const KEEP_MINUTES: i64 = 24 * 60;

fn minute(ms: i64) -> i64 {
    ms.div_euclid(60_000)
}

fn text(r: &Registry) -> Result<String, ApiError> {
    serde_json::to_string(r).map_err(|e| ApiError::internal("samples", &e))
}

/// Parses a stored registry; one that no longer parses counts as dropped samples
/// rather than failing every reader.
fn parse(data: &str) -> Registry {
    serde_json::from_str(data).unwrap_or_else(|_| {
        let mut r = Registry::default();
        r.dropped = 1;
        r
    })
}

/// Stores one shipment.
pub async fn ingest(db: &impl Db, now_ms: i64, r: &Registry) -> Result<(), ApiError> {
    store::add_samples(db, minute(now_ms), &text(r)?).await?;
    Ok(())
}

/// Everything shipped here, merged.
pub async fn stored(db: &impl Db) -> Result<Registry, ApiError> {
    let mut all = Registry::default();
    for row in store::stored_samples(db).await? {
        all.merge(&parse(&row.data));
    }
    Ok(all)
}

/// Every part's metrics: what this runtime holds in memory and what was shipped here.
pub async fn merged<P: MonitorPorts>(p: &P) -> Result<Registry, ApiError> {
    let mut r = stored(p.db()).await?;
    r.merge(&p.live());
    Ok(r)
}

/// Folds the shipments stored so far into the total and their minutes; how many. Safe
/// to run concurrently: a fold that lost the race to another changes nothing.
pub async fn fold<P: Clock + Random>(p: &P, db: &impl Db) -> Result<usize, ApiError> {
    let mut folded = 0;
    for _ in 0..FOLD_ROUNDS {
        let (from, total) = store::total(db).await?;
        let batch = store::shipments(db, from, FOLD_BATCH).await?;
        let Some(last) = batch.last().map(|s| s.id) else {
            break;
        };
        let mut total = total.as_deref().map(parse).unwrap_or_default();
        let mut by_minute: Vec<(i64, Registry)> = Vec::new();
        let touched: Vec<i64> = {
            let mut m: Vec<i64> = batch.iter().map(|s| s.minute).collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        for s in store::minutes(db, &touched).await? {
            by_minute.push((s.minute, parse(&s.data)));
        }
        for s in &batch {
            let r = parse(&s.data);
            total.merge(&r);
            match by_minute.iter_mut().find(|(m, _)| *m == s.minute) {
                Some((_, mine)) => mine.merge(&r),
                None => by_minute.push((s.minute, r)),
            }
        }
        let minutes = by_minute
            .iter()
            .map(|(m, r)| Ok((*m, text(r)?)))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let token = p.id::<12>("fold_")?;
        let keep_from = minute(p.now_ms()) - KEEP_MINUTES;
        store::fold(db, from, last, &token, &text(&total)?, &minutes, keep_from).await?;
        folded += batch.len();
        if (batch.len() as i64) < FOLD_BATCH {
            break;
        }
    }
    Ok(folded)
}
