//! The service layer's ports on Cloudflare's bindings: [`D1`] (the SQL port), a Durable
//! Object's SQLite ([`ObjectSql`]), the clock and the platform's CSPRNG.

use agency_kit::ports::Written;
use agency_kit::{Clock, Db, PortError, Random, SqlValue, Statement};
use serde_json::{Map, Value};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::storage;

/// D1 as the service layer's SQL database.
pub struct D1(pub D1Database);

impl D1 {
    /// The `DB` binding.
    pub fn from_env(env: &Env) -> Result<D1, PortError> {
        env.d1("DB").map(D1).map_err(storage)
    }

    fn statement(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<worker::D1PreparedStatement, PortError> {
        let values: Vec<JsValue> = params.iter().map(js).collect();
        self.0.prepare(sql).bind(&values).map_err(storage)
    }
}

fn js(v: &SqlValue) -> JsValue {
    match v {
        SqlValue::Null => JsValue::NULL,
        // D1 takes numbers as JavaScript numbers: integers are exact up to 2^53, which
        // every stored integer stays within (the ledger's cap is 2^53 - 1).
        SqlValue::Int(n) => JsValue::from_f64(*n as f64),
        SqlValue::Real(f) => JsValue::from_f64(*f),
        SqlValue::Text(s) => JsValue::from_str(s),
    }
}

fn written(r: &worker::D1Result) -> Result<Written, PortError> {
    let meta = r.meta().map_err(storage)?;
    Ok(Written {
        changes: meta.as_ref().and_then(|m| m.changes).unwrap_or(0) as u64,
        last_row_id: meta.and_then(|m| m.last_row_id).unwrap_or(0),
    })
}

impl Db for D1 {
    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Written, PortError> {
        written(&self.statement(sql, params)?.run().await.map_err(storage)?)
    }

    async fn rows(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Map<String, Value>>, PortError> {
        self.statement(sql, params)?
            .all()
            .await
            .map_err(storage)?
            .results::<Map<String, Value>>()
            .map_err(storage)
    }

    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Written>, PortError> {
        let prepared = statements
            .iter()
            .map(|st| self.statement(&st.sql, &st.params))
            .collect::<Result<Vec<_>, _>>()?;
        let results = self.0.batch(prepared).await.map_err(storage)?;
        results.iter().map(written).collect()
    }
}

/// Wall-clock time at the edge (frozen within a request, as workerd keeps it).
#[derive(Debug, Clone, Copy)]
pub struct EdgeClock;

impl Clock for EdgeClock {
    fn now_ms(&self) -> i64 {
        worker::Date::now().as_millis() as i64
    }
}

/// The platform's `crypto.getRandomValues`; an error, never a weaker source, when it
/// is missing.
#[derive(Debug, Clone, Copy)]
pub struct EdgeRandom;

impl Random for EdgeRandom {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), PortError> {
        use worker::js_sys::{Function, Reflect, Uint8Array, global};
        let missing = || PortError::Random("crypto.getRandomValues is unavailable".into());
        let crypto = Reflect::get(&global(), &"crypto".into()).map_err(|_| missing())?;
        let f: Function = Reflect::get(&crypto, &"getRandomValues".into())
            .map_err(|_| missing())?
            .into();
        for chunk in bytes.chunks_mut(65_536) {
            let arr = Uint8Array::new_with_length(chunk.len() as u32);
            f.call1(&crypto, &arr).map_err(|_| missing())?;
            arr.copy_to(chunk);
        }
        Ok(())
    }
}

/// A Durable Object's SQLite storage as synchronous SQL: its calls run synchronously
/// and each request to the object is atomic, so the services' per-key state (the
/// assistant's ledger book, the webhooks' gate) runs on it as on a SQLite transaction.
pub struct ObjectSql(pub worker::SqlStorage);

fn sql_value(v: &agency_kit::SqlValue) -> worker::SqlStorageValue {
    use agency_kit::SqlValue;
    use worker::SqlStorageValue;
    match v {
        SqlValue::Null => SqlStorageValue::Null,
        SqlValue::Int(n) => SqlStorageValue::Integer(*n),
        SqlValue::Real(f) => SqlStorageValue::Float(*f),
        SqlValue::Text(s) => SqlStorageValue::String(s.clone()),
    }
}

impl agency_kit::ports::SyncSql for ObjectSql {
    fn run(&self, sql: &str, args: &[agency_kit::SqlValue]) -> Result<(), PortError> {
        self.0
            .exec(sql, args.iter().map(sql_value).collect::<Vec<_>>())
            .map(|_| ())
            .map_err(storage)
    }

    fn rows(
        &self,
        sql: &str,
        args: &[agency_kit::SqlValue],
    ) -> Result<Vec<serde_json::Map<String, Value>>, PortError> {
        self.0
            .exec(sql, args.iter().map(sql_value).collect::<Vec<_>>())
            .map_err(storage)?
            .to_array()
            .map_err(storage)
    }
}
