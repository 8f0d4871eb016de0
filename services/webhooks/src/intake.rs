//! `POST /slack/{workspaceId}`, `/telegram/{botId}`, `/discord/{guildId}`: the
//! platform's signature checked, the payload parsed, the gate asked, the event durably
//! queued and the platform answered.

use agency_kit::http::with_type;
use agency_kit::{ApiError, ApiResult, Request};
use agency_webhook::{Inbound, InboundEvent, Origin, Platform, verify};
use http::{HeaderValue, StatusCode, header};

use crate::settings::{Source, Verifier};
use crate::store::NewEvent;
use crate::{Admission, Count, Entry, WebhookPorts};

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Is this request from the platform? Nothing of the secret is in the answer or log.
fn verified(source: &Source, req: &Request, now_ms: i64) -> Result<(), verify::Rejection> {
    let h = |name: &'static str| req.headers.get(name).and_then(|v| v.to_str().ok());
    match &source.verifier {
        Verifier::Slack(secret) => verify::slack(
            secret,
            h("x-slack-request-timestamp"),
            h("x-slack-signature"),
            &req.body,
            now_ms.div_euclid(1000),
        ),
        Verifier::Telegram(secret) => {
            verify::telegram(secret, h("x-telegram-bot-api-secret-token"))
        }
        Verifier::Discord(key) => verify::discord(
            key,
            h("x-signature-ed25519"),
            h("x-signature-timestamp"),
            &req.body,
        ),
    }
}

pub(crate) async fn inbound<P: WebhookPorts>(
    p: &P,
    platform: Platform,
    req: &Request,
) -> ApiResult {
    let id = req.param(0, "source id")?;
    let now = p.now_ms();
    let Some(source) = p.settings().source(platform, &id) else {
        p.count(Count::Rejected, platform);
        return Err(unauthorized(format!(
            "no {} source {id:?} is configured",
            platform.as_str()
        )));
    };
    if let Err(why) = verified(source, req, now) {
        p.count(Count::Rejected, platform);
        return Err(unauthorized(format!("request verification failed: {why}")));
    }
    let origin = Origin {
        source: &source.id,
        received_at_ms: now,
    };
    let parsed = match platform {
        Platform::Slack => {
            agency_webhook::slack::parse(origin, req.header(header::CONTENT_TYPE), &req.body)
        }
        Platform::Telegram => {
            agency_webhook::telegram::parse(origin, source.bot_username.as_deref(), &req.body)
        }
        Platform::Discord => agency_webhook::discord::parse(origin, &req.body),
    }
    .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_payload", e.to_string()))?;
    match parsed {
        Inbound::Handshake(reply) => Ok(reply_of(reply)),
        Inbound::Ignored { ack, .. } => {
            p.count(Count::Ignored, platform);
            Ok(reply_of(ack))
        }
        Inbound::Event { mut event, ack } => {
            let event_id = p.id::<10>("evt_")?;
            // The capability stays here; the event (and whoever reads it) gets a
            // reference.
            let sealed = match event.reply_to.capability() {
                Some(_) => {
                    let reference = p.id::<16>(agency_webhook::capability::PREFIX)?;
                    event
                        .reply_to
                        .seal(&reference)
                        .map(|secret| (reference, secret))
                }
                None => None,
            };
            let entry = Entry {
                source: source.key(),
                keys: event.dedup_keys.clone(),
                event_id: event_id.clone(),
                rate: p.settings().rate_of(source),
                ttl_ms: p.settings().dedup_ttl_ms,
                now_ms: now,
            };
            let new = NewEvent {
                id: event_id,
                platform: platform.as_str().to_owned(),
                source: source.id.clone(),
                platform_event_id: event.event_id.clone(),
                kind: kind_name(&event).to_owned(),
                event_json: serde_json::to_string(&*event)
                    .map_err(|e| ApiError::internal("internal", &e))?,
                received_ms: now,
                sealed,
            };
            match p.enqueue(&entry, &new).await? {
                Admission::Accepted => {
                    p.count(Count::Accepted, platform);
                    Ok(reply_of(ack))
                }
                Admission::Duplicate { .. } => {
                    p.count(Count::Duplicate, platform);
                    Ok(reply_of(ack))
                }
                Admission::Limited { retry_after_secs } => {
                    p.count(Count::RateLimited, platform);
                    let mut r = ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        format!(
                            "source {} is over its rate; retry in {retry_after_secs} s",
                            source.key()
                        ),
                    )
                    .into_response();
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                    Ok(r)
                }
            }
        }
    }
}

/// The stored name of an event's kind.
pub fn kind_name(e: &InboundEvent) -> &'static str {
    match e.kind {
        agency_webhook::EventKind::Message => "message",
        agency_webhook::EventKind::Mention => "mention",
        agency_webhook::EventKind::Command => "command",
        agency_webhook::EventKind::Click { .. } => "click",
        agency_webhook::EventKind::ReasonPrompt { .. } => "reasonPrompt",
        agency_webhook::EventKind::BatchClick { .. } => "batchClick",
    }
}

fn reply_of(r: agency_webhook::Reply) -> agency_kit::Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    with_type(status, r.body, r.content_type)
}
