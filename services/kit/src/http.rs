//! Requests and responses as every handler sees them, on both runtimes, and the API's
//! one error type.

use ::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::ports::PortError;

/// An HTTP request whose route is known and whose body (if the route takes one) has been
/// read within the route's limit by the runtime.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The path's `{param}` segments in order, still percent-encoded.
    pub params: Vec<String>,
}

/// The response a handler writes; the runtime sends it as it is.
pub type Response = ::http::Response<Vec<u8>>;

pub type ApiResult = Result<Response, ApiError>;

impl Request {
    /// A request with no headers, body or params (for tests and internal calls).
    pub fn new(method: Method, path_and_query: &str) -> Request {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (path_and_query.to_owned(), None),
        };
        Request {
            method,
            path,
            query,
            headers: HeaderMap::new(),
            body: Vec::new(),
            params: Vec::new(),
        }
    }

    /// The body as a JSON object of type `T`: 400 when it is not an object or not `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        // Serde would read a JSON array into a struct field by field, in order.
        if self.body.iter().find(|b| !b" \t\n\r".contains(b)) != Some(&b'{') {
            return Err(ApiError::bad_request("request body must be a JSON object"));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }

    /// The query string as `T` (declare it `deny_unknown_fields`): 400 when it is not.
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_urlencoded::from_str(self.query.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("Failed to deserialize query string: {e}")))
    }

    /// Path parameter `i` with its `%XX` escapes decoded; `what` names it in the 400
    /// ("agent id is not valid UTF-8").
    pub fn param(&self, i: usize, what: &str) -> Result<String, ApiError> {
        let raw = self.params.get(i).map(String::as_str).unwrap_or("");
        percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| ApiError::bad_request(format!("{what} is not valid UTF-8")))
    }

    /// A header as text, if present and visible ASCII.
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `value` as a JSON response with `status`.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => with_type(status, body, "application/json"),
        Err(e) => ApiError::internal("internal", &e).into_response(),
    }
}

/// A response with `body` of content type `content_type`.
pub fn with_type(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response {
    let mut r = ::http::Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An error answer of the API: a status, a stable machine code, a message for people and
/// optional structured details. Internal detail is logged by the runtime (see
/// [`ApiError::internal`]), never sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Boxed: errors travel in every `Result` of the handlers, so they stay small.
    pub details: Option<Box<Value>>,
    /// What went wrong inside, for the runtime's log line; never sent.
    pub log: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            log: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 422: well-formed but semantically invalid.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is over the {limit}-byte limit"),
        )
    }

    pub fn request_timeout(ms: u64) -> ApiError {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request body did not arrive within {ms} ms"),
        )
    }

    pub fn unreadable_body() -> ApiError {
        Self::bad_request("the request body could not be read")
    }

    /// A fault of ours: `detail` goes to the log ([`ApiError::log`]) and the answer says
    /// only what failed.
    pub fn internal(code: &'static str, detail: &dyn std::fmt::Display) -> ApiError {
        let (status, message) = match code {
            "storage_error" => (StatusCode::SERVICE_UNAVAILABLE, "storage is unavailable"),
            "upstream_error" => (
                StatusCode::BAD_GATEWAY,
                "a service this one depends on is unavailable",
            ),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        };
        let mut e = Self::new(status, code, message);
        e.log = Some(detail.to_string());
        e
    }

    /// A component trapped (it has been replaced): `component` names it ("router").
    pub fn component_trap(component: &str, detail: &dyn std::fmt::Display) -> ApiError {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "component_trap",
            format!("the {component} component failed on this request; it has been replaced"),
        );
        e.log = Some(detail.to_string());
        e
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(Box::new(details));
        self
    }

    pub fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(d) = self.details {
            error["details"] = *d;
        }
        let mut r = json(self.status, &json!({ "error": error }));
        if matches!(
            self.status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
        ) {
            // The rest of the body is left unread, so this connection cannot carry another
            // request: say so, or a client reusing it would find it closed mid-request.
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }
}

/// The `message` of an error body as [`ApiError::into_response`] writes it
/// (`{"error": {"message"}}`), read back by a service that called another; "no
/// message" when the body has none.
pub fn error_message(body: &Value) -> String {
    body.pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .to_owned()
}

/// A port failed: storage is 503 `storage_error`, a service we call is 502
/// `upstream_error`, no randomness is 500 `internal`.
/// A request body that breaks the contract is a 400 with the contract's words.
impl From<agency_approval::contract::Invalid> for ApiError {
    fn from(e: agency_approval::contract::Invalid) -> Self {
        ApiError::bad_request(e.0)
    }
}

impl From<PortError> for ApiError {
    fn from(e: PortError) -> Self {
        let code = match &e {
            PortError::Storage(_) => "storage_error",
            PortError::Upstream(_) => "upstream_error",
            PortError::Random(_) | PortError::Decode(_) => "internal",
        };
        ApiError::internal(code, &e)
    }
}

/// A handler's answer for `HEAD`: the `GET` answer without its body.
pub fn head_of(mut r: Response) -> Response {
    r.body_mut().clear();
    r
}

/// The method list of a 405's `Allow` header.
pub fn allow_header(methods: &[Method]) -> HeaderValue {
    let list: Vec<&str> = methods.iter().map(Method::as_str).collect();
    HeaderValue::from_str(&list.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// 413 up front when the request's `Content-Length` says the body is over `limit`
/// (a chunked body is measured as it is read).
pub fn declared_within(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    match declared {
        Some(n) if n > limit => Err(ApiError::payload_too_large(limit)),
        _ => Ok(()),
    }
}

/// Parses `limit` within `1..=max`, `default` when absent.
pub fn parse_limit(raw: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be an integer from 1 to {max}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_must_be_objects() {
        let mut r = Request::new(Method::POST, "/x");
        r.body = b" [1, 2]".to_vec();
        let e = r.json::<Value>().unwrap_err();
        assert_eq!(e.message, "request body must be a JSON object");
        r.body = br#" {"a": 1}"#.to_vec();
        assert_eq!(r.json::<Value>().unwrap()["a"], 1);
        r.body = b"{".to_vec();
        assert!(
            r.json::<Value>()
                .unwrap_err()
                .message
                .starts_with("invalid JSON body")
        );
    }

    #[test]
    fn params_decode_or_name_themselves() {
        let mut r = Request::new(Method::GET, "/api/agents/x/health");
        r.params = vec!["dev%20ops".into(), "%FF".into()];
        assert_eq!(r.param(0, "agent id").unwrap(), "dev ops");
        assert_eq!(
            r.param(1, "agent id").unwrap_err().message,
            "agent id is not valid UTF-8"
        );
    }

    #[test]
    fn queries_refuse_unknown_fields() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Q {
            limit: Option<String>,
        }
        assert!(Request::new(Method::GET, "/a?limit=3").query::<Q>().is_ok());
        let e = Request::new(Method::GET, "/a?lmit=3")
            .query::<Q>()
            .unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn errors_have_one_body_shape() {
        let r = ApiError::payload_too_large(10).into_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        let v: Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["error"]["code"], "payload_too_large");
        let e: ApiError = PortError::Storage("disk full".into()).into();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::SERVICE_UNAVAILABLE, "storage_error")
        );
        assert!(!e.message.contains("disk"));
        assert_eq!(e.log.as_deref(), Some("storage: disk full"));
        let e: ApiError = PortError::Upstream("skill-graph 500".into()).into();
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
    }
}
