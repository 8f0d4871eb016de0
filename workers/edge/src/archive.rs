//! Retention at the edge: a Worker's scheduled work also archives its service's records
//! past their period into the environment's R2 bucket (binding `ARCHIVE`, keys
//! `archive/{kind}/{yyyy}/{mm}/{dd}/{first key}.ndjson.gz`: the local archive's layout
//! under [`PREFIX`]) and deletes them from its D1 database, a bounded number of batches
//! a run ([`agency_kit::retention::round`]). The periods are `agency.toml`'s
//! `[retention]`, which `agency deploy` puts in the variable `AGENCY_RETENTION` as JSON
//! (`{"decisions_days": 180}`); the services' defaults without it.

use agency_kit::retention::{Archive, Pruned, RetentionConfig, round};
use agency_kit::{ApiError, Clock, PortError, Service};
use worker::{Bucket, Env, HttpMetadata};

use crate::{D1, EdgeClock, storage};

/// Batches (of [`agency_kit::retention::BATCH`] rows) per kind and run: about 40 of a
/// run's subrequests for a kind with children at most, well inside a Worker's budget.
/// What is left goes at the next run.
pub const BATCHES_PER_RUN: u32 = 10;

/// The bucket binding.
pub const BINDING: &str = "ARCHIVE";

/// Where in the bucket the archive is.
pub const PREFIX: &str = "archive/";

/// The R2 bucket as the archive. A put is whole or absent: R2 never shows part of an
/// object.
pub struct R2(pub Bucket);

impl Archive for R2 {
    async fn put(&self, name: &str, ndjson: Vec<u8>) -> Result<(), PortError> {
        self.0
            .put(
                format!("{PREFIX}{name}"),
                agency_kit::retention::gzip(&ndjson)?,
            )
            .http_metadata(HttpMetadata {
                content_type: Some("application/gzip".into()),
                ..HttpMetadata::default()
            })
            .execute()
            .await
            .map(|_| ())
            .map_err(storage)
    }
}

/// The periods in force: `AGENCY_RETENTION`'s, checked as the local server checks
/// them (a period under 30 days is refused), or the defaults.
pub fn config(env: &Env, service: &Service) -> Result<RetentionConfig, ApiError> {
    let Ok(text) = env.var("AGENCY_RETENTION").map(|v| v.to_string()) else {
        return Ok(RetentionConfig::default());
    };
    let invalid = |why: String| {
        ApiError::new(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "retention_invalid",
            format!("the retention configuration (AGENCY_RETENTION) is invalid: {why}"),
        )
    };
    let config: RetentionConfig =
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    config.validate(service.retained).map_err(invalid)?;
    Ok(config)
}

/// One run for `service`: nothing when it keeps no records or binds no bucket.
pub async fn run(env: &Env, service: &Service) -> Result<Pruned, ApiError> {
    if service.retained.is_empty() || !service.edge.archive {
        return Ok(Pruned::default());
    }
    let config = config(env, service)?;
    let bucket = R2(env.bucket(BINDING).map_err(storage)?);
    let db = D1::from_env(env)?;
    let now = EdgeClock.now_ms();
    Ok(round(
        &db,
        &bucket,
        &config,
        service.retained,
        now,
        Some(BATCHES_PER_RUN),
    )
    .await?)
}
