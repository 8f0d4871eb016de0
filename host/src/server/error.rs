//! The one error shape of the HTTP API: `{"error": {"code", "message"}}` with a status.
//! Details are logged; bodies never carry internal error text.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// Logs `detail` and answers with a generic message.
    pub fn internal(code: &'static str, detail: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(code, error = %detail, "request failed");
        let message = match code {
            "component_trap" => "the router component failed on this request; it has been replaced",
            "storage_error" => "storage is unavailable",
            _ => "internal error",
        };
        let status = if code == "storage_error" {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self::new(status, code, message)
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(d) = self.details {
            error["details"] = d;
        }
        let mut r = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if matches!(
            self.status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
        ) {
            // The rest of the body is left unread, so this connection cannot carry another
            // request: say so, or a client reusing it would find it closed mid-request.
            r.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        r
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal("storage_error", &e)
    }
}

/// The query string as `T`, or the 400 it earns. Extracting never fails by itself, so
/// a handler checks the caller's token first and only then looks at the query
/// (`into_inner`): a request without a token gets 401 whatever its query says.
pub struct ApiQuery<T>(Result<T, ApiError>);

impl<T> ApiQuery<T> {
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(ApiQuery(
            Query::<T>::from_request_parts(parts, state)
                .await
                .map(|Query(q)| q)
                .map_err(|e| ApiError::bad_request(e.body_text())),
        ))
    }
}

/// The one path parameter (an id), or the 400 it earns when its `%XX` escapes are not
/// UTF-8: axum's own rejection is plain text. Like [`ApiQuery`], extracting never fails
/// by itself, so the caller's token is checked first.
pub struct PathId(Option<String>);

impl PathId {
    /// The id; `what` names it in the error ("agent id").
    pub fn into_inner(self, what: &str) -> Result<String, ApiError> {
        self.0
            .ok_or_else(|| ApiError::bad_request(format!("{what} is not valid UTF-8")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(PathId(
            Path::<String>::from_request_parts(parts, state)
                .await
                .ok()
                .map(|Path(p)| p),
        ))
    }
}
