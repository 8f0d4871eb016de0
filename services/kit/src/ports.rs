//! The ports: what a service needs from the runtime it runs on. Each runtime implements
//! them once (the local server on SQLite and the OS, the Workers on D1 and the platform's
//! crypto), and every handler is written against these traits only.
//!
//! The traits use `async fn`: the local server's futures are `Send` because its types
//! are, which the compiler sees through the concrete types; the Workers' are not and
//! need not be.
#![allow(async_fn_in_trait)]

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A port that failed. Each kind is a different answer: storage is 503, a service
/// we call is 502, the rest are 500s (see `From<PortError> for ApiError`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PortError {
    #[error("storage: {0}")]
    Storage(String),
    #[error("upstream: {0}")]
    Upstream(String),
    #[error("no randomness: {0}")]
    Random(String),
    #[error("stored data does not decode: {0}")]
    Decode(String),
}

/// A value bound to a SQL parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_owned())
    }
}
impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}
impl From<i64> for SqlValue {
    fn from(n: i64) -> Self {
        SqlValue::Int(n)
    }
}
impl From<bool> for SqlValue {
    fn from(b: bool) -> Self {
        SqlValue::Int(i64::from(b))
    }
}
impl From<f64> for SqlValue {
    fn from(n: f64) -> Self {
        SqlValue::Real(n)
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(SqlValue::Null)
    }
}

/// One SQL statement with its parameters, for [`Db::batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

impl Statement {
    pub fn new(sql: impl Into<String>, params: Vec<SqlValue>) -> Statement {
        Statement {
            sql: sql.into(),
            params,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    pub changes: u64,
    pub last_row_id: i64,
}

/// A SQL database speaking SQLite's dialect: the local server's SQLite file, a Worker's
/// D1. Statements are written once, in the service crates; the runtime only executes
/// them. Rows come back as JSON objects keyed by column name (integers as integers),
/// and [`Db::query`] turns them into the service's typed rows.
pub trait Db {
    /// Runs one statement that returns no rows.
    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Written, PortError>;

    /// Runs one statement and returns its rows.
    async fn rows(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Map<String, Value>>, PortError>;

    /// Runs statements in order, all or none (a transaction locally, a D1 batch at the
    /// edge); what each did.
    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Written>, PortError>;

    /// The rows as `T`.
    async fn query<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<T>, PortError> {
        self.rows(sql, params)
            .await?
            .into_iter()
            .map(|row| {
                serde_json::from_value(Value::Object(row))
                    .map_err(|e| PortError::Decode(e.to_string()))
            })
            .collect()
    }

    /// The first row as `T`, if any.
    async fn first<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Option<T>, PortError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }
}

/// A borrowed database is a database (a service's store over the runtime's one).
impl<T: Db> Db for &T {
    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Written, PortError> {
        (**self).execute(sql, params).await
    }

    async fn rows(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Map<String, Value>>, PortError> {
        (**self).rows(sql, params).await
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Written>, PortError> {
        (**self).batch(statements).await
    }
}

/// Synchronous SQL inside one atomic unit: an open SQLite transaction locally, a
/// Durable Object's request at the edge (its storage runs synchronously and each
/// request is atomic). What state kept per key is written against (the assistant's
/// ledger book, the webhooks' gate).
pub trait SyncSql {
    fn run(&self, sql: &str, args: &[SqlValue]) -> Result<(), PortError>;
    /// Rows as JSON objects keyed by column name.
    fn rows(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<Map<String, Value>>, PortError>;

    /// The rows as `T`.
    fn query<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: &[SqlValue],
    ) -> Result<Vec<T>, PortError> {
        self.rows(sql, args)?
            .into_iter()
            .map(|row| {
                serde_json::from_value(Value::Object(row))
                    .map_err(|e| PortError::Decode(e.to_string()))
            })
            .collect()
    }
}

impl<T: SyncSql> SyncSql for &T {
    fn run(&self, sql: &str, args: &[SqlValue]) -> Result<(), PortError> {
        (**self).run(sql, args)
    }

    fn rows(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<Map<String, Value>>, PortError> {
        (**self).rows(sql, args)
    }
}

/// Where a service's metrics go: the runtime's registry (the local server's one
/// registry; at the edge, the request's, shipped to the monitoring Worker). Services
/// record their own samples through it, typed by the monitor core's families; by
/// default nothing is kept.
pub trait Metrics {
    fn sample(&self, f: &mut dyn FnMut(&mut agency_monitor::Registry)) {
        let _ = f;
    }
}

/// Wall-clock time.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// A finer clock for durations, in milliseconds from any fixed point.
    fn precise_ms(&self) -> f64 {
        self.now_ms() as f64
    }
}

/// The platform's cryptographic random source. There is no fallback: without it, no
/// token or id is made (an id from the clock could be guessed).
pub trait Random {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), PortError>;

    /// `prefix` + `2 * N` hex digits of fresh randomness (`dec_9f...`).
    fn id<const N: usize>(&self, prefix: &str) -> Result<String, PortError> {
        let mut bytes = [0u8; N];
        self.fill(&mut bytes)?;
        let mut s = String::with_capacity(prefix.len() + 2 * N);
        s.push_str(prefix);
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        Ok(s)
    }
}

/// `2026-11-25T13:45:01.123Z` from Unix milliseconds.
pub use agency_approval::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Random for Fixed {
        fn fill(&self, bytes: &mut [u8]) -> Result<(), PortError> {
            bytes.fill(0xab);
            Ok(())
        }
    }
    struct Broken;
    impl Random for Broken {
        fn fill(&self, _: &mut [u8]) -> Result<(), PortError> {
            Err(PortError::Random("no getrandom".into()))
        }
    }

    #[test]
    fn ids_need_randomness() {
        assert_eq!(Fixed.id::<2>("dec_").unwrap(), "dec_abab");
        assert!(matches!(Broken.id::<10>("dec_"), Err(PortError::Random(_))));
    }
}
