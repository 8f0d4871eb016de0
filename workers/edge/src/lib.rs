//! HTTP glue shared by the Agency Workers, mirroring the local server's contract: the
//! error body `{"error": {"code", "message"}}`, bearer tokens with three roles (from
//! Worker secrets), and JSON bodies with a size limit. No routing or policy logic here.

use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use worker::{Env, Request, Response};

/// The same OpenAPI document the local server serves.
pub const OPENAPI: &str = include_str!("../../../host/openapi.json");

/// Largest body for routing and other small requests.
pub const MESSAGE_LIMIT: usize = 64 * 1024;
/// Largest graph upload.
pub const GRAPH_LIMIT: usize = 8 * 1024 * 1024;

/// An API error: status, machine code, human message, optional details.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(400, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(404, "not_found", message)
    }
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }
    pub fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(d) = self.details {
            error["details"] = d;
        }
        json_response(self.status, &json!({ "error": error }))
    }
}

/// Binding and storage failures: logged, answered as 503 without internals.
impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        worker::console_error!("storage error: {e}");
        ApiError::new(503, "storage_error", "storage is unavailable")
    }
}

impl From<worker::kv::KvError> for ApiError {
    fn from(e: worker::kv::KvError) -> Self {
        worker::console_error!("kv error: {e:?}");
        ApiError::new(503, "storage_error", "storage is unavailable")
    }
}

pub type ApiResult = Result<Response, ApiError>;

/// A handler's result as the response to send: errors become their JSON body.
pub fn respond(result: ApiResult) -> worker::Result<Response> {
    Ok(result.unwrap_or_else(ApiError::into_response))
}

pub fn json_response(status: u16, value: &Value) -> Response {
    match Response::from_json(value) {
        Ok(r) => r.with_status(status),
        Err(_) => Response::empty()
            .map(|r| r.with_status(500))
            .unwrap_or_else(|_| Response::empty().expect("empty response")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any role.
    Read,
    /// Gateway or operator.
    Route,
    /// Operator only.
    Write,
}

fn secret_list(env: &Env, name: &str) -> Vec<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .map(|v| {
            v.split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The first token of role secret `name` (e.g. `AGENCY_VIEWER_TOKEN`), for a Worker
/// calling another over a service binding; "" when none is set.
pub fn own_token(env: &Env, name: &str) -> String {
    secret_list(env, name)
        .into_iter()
        .next()
        .unwrap_or_default()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The bearer token of `req`, checked against the secrets `AGENCY_*_TOKEN`.
pub fn authorize(req: &Request, env: &Env, access: Access) -> Result<(), ApiError> {
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .ok_or_else(|| ApiError::new(401, "unauthorized", "missing Authorization: Bearer token"))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::new(
                401,
                "unauthorized",
                "Authorization must be 'Bearer <token>'",
            )
        })?;
    let has = |name: &str| {
        secret_list(env, name)
            .iter()
            .fold(false, |f, t| f | same(t, token))
    };
    let (operator, gateway, viewer) = (
        has("AGENCY_OPERATOR_TOKEN"),
        has("AGENCY_GATEWAY_TOKEN"),
        has("AGENCY_VIEWER_TOKEN"),
    );
    if !(operator || gateway || viewer) {
        return Err(ApiError::new(401, "unauthorized", "unknown token"));
    }
    let allowed = match access {
        Access::Read => true,
        Access::Route => operator || gateway,
        Access::Write => operator,
    };
    if !allowed {
        return Err(ApiError::new(
            403,
            "forbidden",
            "this token's role may not do this",
        ));
    }
    Ok(())
}

/// A JSON body of at most `limit` bytes: 413 past it, 400 when it does not parse.
pub async fn read_json<T: DeserializeOwned>(
    req: &mut Request,
    limit: usize,
) -> Result<T, ApiError> {
    let too_large = || {
        ApiError::new(
            413,
            "payload_too_large",
            format!("request body is over the {limit}-byte limit"),
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // Read chunk by chunk and stop past the limit: a chunked body has no length to check
    // up front, and buffering it whole could exhaust the isolate's memory.
    let mut bytes = Vec::new();
    if let Ok(mut stream) = req.stream() {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| ApiError::bad_request("unreadable request body"))?;
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    // Serde would read a JSON array into a struct field by field, in order.
    if bytes.iter().find(|b| !b" \t\n\r".contains(b)) != Some(&b'{') {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// A path segment with its `%XX` escapes decoded (as the local server's router does);
/// 400 "`what` is not valid UTF-8" when the escapes are not.
pub fn path_segment(raw: &str, what: &str) -> Result<String, ApiError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = raw
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request(format!("{what} is not valid UTF-8")))
}

/// `?name=value` from the request URL.
pub fn query(req: &Request, name: &str) -> Option<String> {
    req.url()
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `limit` query parameter within 1..=max.
pub fn limit(req: &Request, default: u32, max: u32) -> Result<u32, ApiError> {
    match query(req, "limit") {
        None => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be an integer from 1 to {max}"
            ))),
        },
    }
}

pub fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

pub fn method_not_allowed() -> ApiError {
    ApiError::new(
        405,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

pub fn openapi() -> ApiResult {
    let mut r = Response::ok(OPENAPI)?;
    r.headers_mut().set("content-type", "application/json")?;
    Ok(r)
}

pub fn now_ms() -> f64 {
    worker::Date::now().as_millis() as f64
}

/// `dec_` + 20 hex digits from the platform's CSPRNG.
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 10];
    let crypto = worker::js_sys::Reflect::get(&worker::js_sys::global(), &"crypto".into()).ok();
    let filled = crypto.and_then(|c| {
        let arr = worker::js_sys::Uint8Array::new_with_length(10);
        let f = worker::js_sys::Reflect::get(&c, &"getRandomValues".into()).ok()?;
        let f: worker::js_sys::Function = f.into();
        f.call1(&c, &arr).ok()?;
        arr.copy_to(&mut bytes);
        Some(())
    });
    if filled.is_none() {
        let t = (now_ms() as u64).to_le_bytes();
        bytes[..8].copy_from_slice(&t);
    }
    format!(
        "{prefix}{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}
