//! Requests a service makes to the outside (the gateway, a chat platform's API, a chat
//! model, a probe), as data: the service builds an [`OutRequest`], the runtime's
//! [`Outbound`] port sends it (one implementation per runtime) and hands back an
//! [`OutResponse`] or why no answer came ([`Unanswered`]). What the answer means is the
//! service's to read. Calls between Agency's own parts go through [`Peers`].
#![allow(async_fn_in_trait)]

/// An HTTP request to the outside.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRequest {
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u64,
}

impl OutRequest {
    /// A `GET` of `url` with no headers.
    pub fn get(url: &str, timeout_ms: u64) -> OutRequest {
        OutRequest {
            method: http::Method::GET,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms,
        }
    }

    /// A `method` request with a JSON body and, when given, an `Authorization` header.
    pub fn json(
        method: http::Method,
        url: String,
        authorization: Option<String>,
        body: &serde_json::Value,
        timeout_ms: u64,
    ) -> OutRequest {
        let mut headers = vec![(
            "content-type".to_owned(),
            "application/json; charset=utf-8".to_owned(),
        )];
        if let Some(a) = authorization {
            headers.push(("authorization".to_owned(), a));
        }
        OutRequest {
            method,
            url,
            headers,
            body: body.to_string().into_bytes(),
            timeout_ms,
        }
    }

    /// Scheme and host of its URL, for errors (a path may hold a capability or a bot
    /// token: never in an error).
    pub fn host(&self) -> String {
        host_of(&self.url)
    }
}

/// Scheme and host of `url`.
pub fn host_of(url: &str) -> String {
    url.split('/').take(3).collect::<Vec<_>>().join("/")
}

/// The answer to an [`OutRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct OutResponse {
    pub status: u16,
    /// `Retry-After` in seconds, when the answer had one.
    pub retry_after_secs: Option<u64>,
    pub body: Vec<u8>,
}

/// The most of an answer's body kept: what a platform, a model or the gateway says past
/// it is of no use here. A runtime reads at most this much.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

impl OutResponse {
    /// An answer as a runtime received it: its status, its `Retry-After` header
    /// (seconds; an HTTP date is not honoured, the caller's schedule applies), and its
    /// body, cut at [`MAX_ANSWER_BYTES`].
    pub fn new(status: u16, retry_after: Option<&str>, mut body: Vec<u8>) -> OutResponse {
        body.truncate(MAX_ANSWER_BYTES);
        OutResponse {
            status,
            retry_after_secs: retry_after
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite())
                .map(|s| s.max(0.0).ceil() as u64),
            body,
        }
    }
}

/// Why an [`OutRequest`] got no answer. Each names the host only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unanswered {
    #[error("{host}: no answer within {ms} ms")]
    Timeout { host: String, ms: u64 },
    /// Refused, unresolvable, reset: the runtime's words.
    #[error("{host}: {why}")]
    Unreached { host: String, why: String },
    #[error("{host}: the answer could not be read: {why}")]
    Unreadable { host: String, why: String },
    /// The runtime would not make it (a header or URL it does not accept).
    #[error("{host}: the request could not be made: {why}")]
    Unsendable { host: String, why: String },
}

/// A runtime's way out: sends a request and reads at most [`MAX_ANSWER_BYTES`] of the
/// answer, within the request's timeout.
pub trait Outbound {
    async fn send(&self, request: OutRequest) -> Result<OutResponse, Unanswered>;
}

/// A runtime's way to the other Agency parts: calls `part` as an operator (in-process
/// locally, over its service binding at the edge) and hands back its status and JSON
/// body (null when the body is not JSON), errors included. The caller reads the body as
/// the answer type the called service owns.
pub trait Peers {
    async fn peer(
        &self,
        part: crate::Part,
        method: http::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), crate::ApiError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_keeps_its_retry_after_in_whole_seconds_and_at_most_a_mebibyte() {
        let r = OutResponse::new(429, Some(" 1.2 "), vec![b'x'; MAX_ANSWER_BYTES + 9]);
        assert_eq!(r.retry_after_secs, Some(2));
        assert_eq!(r.body.len(), MAX_ANSWER_BYTES);
        assert_eq!(
            OutResponse::new(200, Some("-3"), vec![]).retry_after_secs,
            Some(0)
        );
        assert_eq!(
            OutResponse::new(503, Some("Wed, 21 Oct 2015 07:28:00 GMT"), vec![]).retry_after_secs,
            None
        );
        assert_eq!(
            OutRequest::get("https://h.example/bot123/x", 5).host(),
            "https://h.example"
        );
    }
}
