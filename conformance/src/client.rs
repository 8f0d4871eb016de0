//! A small HTTP client for the checks: any status comes back as a value (never as an
//! error), with the body parsed as JSON.

use serde_json::Value;
use ureq::Agent;

pub(crate) struct Client {
    pub(crate) agent: Agent,
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) etag: Option<String>,
    pub(crate) allow: Option<String>,
}

impl Client {
    pub(crate) fn new() -> Client {
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build();
        Client {
            agent: config.into(),
        }
    }

    pub(crate) fn call(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body.unwrap_or("").to_owned())
            .map_err(|e| e.to_string())?;
        let mut resp = self
            .agent
            .run(req)
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let allow = resp
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| {
                format!(
                    "{method} {url}: non-JSON body ({status}): {}",
                    truncate(&text)
                )
            })?
        };
        Ok(Reply {
            status,
            body,
            etag,
            allow,
        })
    }
}

/// An answer whose body may be anything (the platforms' acknowledgements).
pub(crate) struct Raw {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) retry_after: Option<String>,
    pub(crate) content_type: Option<String>,
}

impl Client {
    /// A request with exactly these headers and body.
    pub(crate) fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Raw, String> {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(body.to_vec()).map_err(|e| e.to_string())?;
        let mut resp = self
            .agent
            .run(req)
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // A body cut off midway (a streamed export that broke) is an error, not text.
        let body = resp
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(|e| format!("{method} {url}: the body broke off: {e}"))?;
        Ok(Raw {
            status: resp.status().as_u16(),
            body,
            retry_after,
            content_type,
        })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

pub(crate) fn expect_status(r: &Reply, want: u16, what: &str) -> Result<(), String> {
    if r.status != want {
        return Err(format!(
            "{what}: expected {want}, got {} with {}",
            r.status,
            truncate(&r.body.to_string())
        ));
    }
    Ok(())
}

pub(crate) fn expect_error(r: &Reply, want: u16, what: &str) -> Result<(), String> {
    expect_status(r, want, what)?;
    let e = &r.body["error"];
    if !e["code"].is_string() || !e["message"].is_string() {
        return Err(format!(
            "{what}: error body must be {{\"error\": {{\"code\", \"message\"}}}}, got {}",
            r.body
        ));
    }
    Ok(())
}
