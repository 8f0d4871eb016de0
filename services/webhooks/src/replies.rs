//! `POST /api/replies`: an agent's answer queued for the chat or thread its task came
//! from, once per `Idempotency-Key`.

use agency_kit::http::json;
use agency_kit::{ApiError, ApiResult, Request};
use http::StatusCode;
use serde::Deserialize;

use crate::outbound::{self, Call};
use crate::store;
use crate::{Wake, WebhookPorts, consume, views};

/// `{replyTo, text}` for `POST /api/replies`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ReplyBody {
    /// As dispatch gave it to the gateway (the task's `replyTo`).
    pub reply_to: outbound::Address,
    /// The answer, 1 to 4,000 characters, not blank.
    #[cfg_attr(feature = "openapi", schemars(with = "crate::doc::ReplyText"))]
    pub text: String,
}

/// The request's `Idempotency-Key`, if it has one: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(key) = req.header(http::header::HeaderName::from_static("idempotency-key")) else {
        return Ok(None);
    };
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// Longest reply delivered, in characters (Telegram's message limit is 4,096).
pub const MAX_REPLY_CHARS: usize = 4000;

pub(crate) async fn replies<P: WebhookPorts>(p: &P, req: &Request) -> ApiResult {
    let body: ReplyBody = req.json()?;
    let chars = body.text.chars().count();
    if body.text.trim().is_empty() || chars > MAX_REPLY_CHARS {
        // (The API document states the same bound: `doc::ReplyText`.)
        return Err(ApiError::bad_request(format!(
            "text must be 1 to {MAX_REPLY_CHARS} characters, not blank"
        )));
    }
    let platform = body.reply_to.platform();
    let Some(source) = p.settings().source(platform, &body.reply_to.source) else {
        return Err(ApiError::unprocessable(
            "unknown_source",
            format!(
                "no {} source {:?} is configured",
                platform.as_str(),
                body.reply_to.source
            ),
        ));
    };
    let call = Call::Reply {
        to: body.reply_to.to,
        text: body.text,
    };
    // A call that could never be made is refused now, not dead-lettered later.
    outbound::request(&p.settings().api, source, &call)
        .map_err(|e| ApiError::unprocessable("unsendable", e.to_string()))?;
    if let Some(key) = idempotency_key(req)? {
        // The same key within 24 hours answers the first reply and posts nothing again.
        let call_json =
            serde_json::to_string(&call).map_err(|e| ApiError::internal("internal", &e))?;
        let ours = p.id::<10>("out_")?;
        let (reply_id, first) = store::queue_reply_once(
            p.db(),
            &key,
            (source.platform.as_str(), &source.id),
            &ours,
            &call_json,
            p.now_ms(),
        )
        .await?;
        if first != call_json {
            return Err(ApiError::conflict(format!(
                "Idempotency-Key {key:?} was used within 24 hours for another reply ({reply_id})"
            )));
        }
        if reply_id == ours {
            p.wake(Wake::Calls(std::slice::from_ref(&ours))).await?;
        }
        return Ok(json(
            StatusCode::ACCEPTED,
            &views::ReplyQueued {
                reply_id,
                status: "queued",
            },
        ));
    }
    let reply_id = consume::queue_calls(p, None, source, vec![call])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("internal", &"the reply was not queued"))?;
    Ok(json(
        StatusCode::ACCEPTED,
        &views::ReplyQueued {
            reply_id,
            status: "queued",
        },
    ))
}
