//! Calling a Durable Object: one operation (a tagged enum owned by the service whose
//! state the object keeps: the assistant's `LedgerOp`, the webhooks' `GateOp`) as
//! JSON, its JSON answer back. This only carries them.

use agency_kit::{ApiError, PortError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::{Env, Method, Request, RequestInit};

use crate::OrPort;

/// Asks the object `name` of the namespace bound as `binding` to do `op`; its answer.
/// A binding that is missing, an object that fails or answers other than 200, or an
/// answer that does not parse, is a storage error (503).
pub async fn call<T: DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    op: &impl Serialize,
) -> Result<T, ApiError> {
    let stub = env
        .durable_object(binding)
        .or_storage()?
        .get_by_name(name)
        .or_storage()?;
    let text = serde_json::to_string(op).map_err(|e| ApiError::internal("internal", &e))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(text.into()));
    let request = Request::new_with_init("https://object/", &init).or_storage()?;
    let mut resp = stub.fetch_with_request(request).await.or_storage()?;
    if resp.status_code() != 200 {
        return Err(
            PortError::Storage(format!("{binding} {name}: status {}", resp.status_code())).into(),
        );
    }
    resp.json().await.or_storage()
}
