//! The two routes every runtime serves beside its services: `/health` (the parts'
//! health, 503 when one is unhealthy) and `/openapi.json` (the one API document).

use ::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::auth::Access;
use crate::http::{Response, json, with_type};
use crate::routes::{BodyLimit, Route};

/// The API document, served as it is by every runtime.
pub const OPENAPI: &str = include_str!("../openapi.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Health,
    OpenApi,
}

pub static ROUTES: &[Route<Endpoint>] = &[
    Route {
        method: Method::GET,
        path: "/health",
        access: Access::Public,
        body: BodyLimit::None,
        endpoint: Endpoint::Health,
        summary: "Health of each part",
    },
    Route {
        method: Method::GET,
        path: "/openapi.json",
        access: Access::Public,
        body: BodyLimit::None,
        endpoint: Endpoint::OpenApi,
        summary: "This document",
    },
];

pub fn openapi() -> Response {
    with_type(
        StatusCode::OK,
        OPENAPI.as_bytes().to_vec(),
        "application/json",
    )
}

/// `{"status": "ok"|"degraded", "version", "parts": {name: part}}`, 503 when a part is
/// unhealthy.
pub fn health(parts: Vec<(&str, bool, Value)>) -> Response {
    let healthy = parts.iter().all(|(_, ok, _)| *ok);
    let parts: Map<String, Value> = parts
        .into_iter()
        .map(|(name, _, part)| (name.to_owned(), part))
        .collect();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        &json!({
            "status": if healthy { "ok" } else { "degraded" },
            "version": env!("CARGO_PKG_VERSION"),
            "parts": parts,
        }),
    )
}
