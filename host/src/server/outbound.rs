//! The local server's way out ([`agency_kit::Outbound`]): every request a service makes
//! to the outside (the gateway, a chat platform's API, a chat model, a probe) goes
//! through one ureq agent, off the async workers, reading at most
//! [`agency_kit::outbound::MAX_ANSWER_BYTES`] of the answer. The other parts are in
//! this process: a peer call is [`super::site::internal`].

use std::time::Duration;

use agency_kit::outbound::MAX_ANSWER_BYTES;
use agency_kit::{ApiError, OutRequest, OutResponse, Outbound, Part, Peers, Unanswered};
use serde_json::Value;

use super::ports::Local;

impl Outbound for Local {
    async fn send(&self, request: OutRequest) -> Result<OutResponse, Unanswered> {
        let host = request.host();
        tokio::task::spawn_blocking(move || send_blocking(request))
            .await
            .map_err(|e| Unanswered::Unreached {
                host,
                why: e.to_string(),
            })?
    }
}

impl Peers for Local {
    async fn peer(
        &self,
        _part: Part,
        method: http::Method,
        path: &str,
        body: &Value,
    ) -> Result<(u16, Value), ApiError> {
        // Boxed: a part called in-process may call another (chat asks the router).
        let call = Box::pin(super::site::internal(self.0.clone(), method, path, body));
        Ok(call.await)
    }
}

fn agent() -> &'static ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("Agency/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    })
}

fn send_blocking(r: OutRequest) -> Result<OutResponse, Unanswered> {
    let host = r.host();
    let unsendable = |why: String| Unanswered::Unsendable {
        host: host.clone(),
        why,
    };
    let mut req = ureq::http::Request::builder()
        .method(r.method.as_str())
        .uri(&r.url);
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    let req = req.body(r.body).map_err(|e| unsendable(e.to_string()))?;
    let req = agent()
        .configure_request(req)
        .timeout_global(Some(Duration::from_millis(r.timeout_ms)))
        .build();
    let mut resp = agent().run(req).map_err(|e| match e {
        ureq::Error::Timeout(_) => Unanswered::Timeout {
            host: host.clone(),
            ms: r.timeout_ms,
        },
        e => Unanswered::Unreached {
            host: host.clone(),
            why: e.to_string(),
        },
    })?;
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(resp.body_mut().as_reader(), MAX_ANSWER_BYTES as u64),
        &mut body,
    )
    .map_err(|e| Unanswered::Unreadable {
        host: host.clone(),
        why: e.to_string(),
    })?;
    Ok(OutResponse::new(
        resp.status().as_u16(),
        retry_after.as_deref(),
        body,
    ))
}
