//! Calls out of a Worker: to another part's Worker over its service binding ([`peer`]),
//! and to the outside world ([`send`], the kit's `Outbound` at the edge).

use agency_kit::{ApiError, OutRequest, OutResponse, Part, Unanswered};
use http::Method;
use serde_json::Value;
use worker::{Env, Headers, Request};

use crate::{own_token, upstream};

/// Calls another part's Worker over its service binding ([`Part::binding`]) as an
/// operator: its status and JSON body (null when the body is not JSON), errors
/// included.
pub async fn peer(
    env: &Env,
    part: Part,
    method: Method,
    path: &str,
    body: &Value,
) -> Result<(u16, Value), ApiError> {
    let binding = part.binding();
    let service = env.service(binding).map_err(upstream)?;
    let headers = Headers::new();
    let token = own_token(env, "AGENCY_OPERATOR_TOKEN");
    headers
        .set("authorization", &format!("Bearer {token}"))
        .map_err(upstream)?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::from(method.as_str().to_owned()));
    if !body.is_null() {
        headers
            .set("content-type", "application/json")
            .map_err(upstream)?;
        init.with_body(Some(body.to_string().into()));
    }
    init.with_headers(headers);
    let request =
        Request::new_with_init(&format!("https://{binding}{path}"), &init).map_err(upstream)?;
    let mut resp = service.fetch_request(request).await.map_err(upstream)?;
    let status = resp.status_code();
    let text = resp.text().await.map_err(upstream)?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Sends `request` to the outside world ([`agency_kit::Outbound`] at the edge), giving
/// up (and aborting it) after its timeout; the body of the answer is cut at
/// [`agency_kit::outbound::MAX_ANSWER_BYTES`].
pub async fn send(r: OutRequest) -> Result<OutResponse, Unanswered> {
    use futures_util::future::{Either, select};
    let host = r.host();
    let unsendable = |e: worker::Error| Unanswered::Unsendable {
        host: host.clone(),
        why: e.to_string(),
    };
    let headers = Headers::new();
    for (k, v) in &r.headers {
        headers.set(k, v).map_err(unsendable)?;
    }
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::from(r.method.as_str().to_owned()))
        .with_headers(headers);
    if !r.body.is_empty() {
        init.with_body(Some(
            worker::js_sys::Uint8Array::from(r.body.as_slice()).into(),
        ));
    }
    let request = Request::new_with_init(&r.url, &init).map_err(unsendable)?;
    let controller = worker::AbortController::default();
    let signal = controller.signal();
    let fetch = worker::Fetch::Request(request);
    let sent = Box::pin(fetch.send_with_signal(&signal));
    let timeout = Box::pin(worker::Delay::from(std::time::Duration::from_millis(
        r.timeout_ms,
    )));
    let mut resp = match select(sent, timeout).await {
        Either::Left((Ok(resp), _)) => resp,
        Either::Left((Err(e), _)) => {
            return Err(Unanswered::Unreached {
                host,
                why: e.to_string(),
            });
        }
        Either::Right(_) => {
            controller.abort();
            return Err(Unanswered::Timeout {
                host,
                ms: r.timeout_ms,
            });
        }
    };
    let retry_after = resp.headers().get("retry-after").ok().flatten();
    let body = resp.bytes().await.map_err(|e| Unanswered::Unreadable {
        host: host.clone(),
        why: e.to_string(),
    })?;
    Ok(OutResponse::new(
        resp.status_code(),
        retry_after.as_deref(),
        body,
    ))
}
