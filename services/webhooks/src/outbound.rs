//! Requests to the outside and their answers, as both runtimes send them: a platform
//! call (built by the webhook core, [`agency_webhook::api`]) becomes an [`OutRequest`]
//! with the source's bot token; the gateway's requests are built by dispatch. The
//! address an answer goes to travels as an [`Address`].

pub use agency_kit::outbound::{MAX_ANSWER_BYTES, OutRequest, OutResponse};
use agency_webhook::api::{self as api, Bot, Verb};
pub use agency_webhook::api::{Answered, Call, Unsendable, posted_message};
use agency_webhook::{Platform, ReplyTo};
use serde::{Deserialize, Serialize};

use crate::settings::{ApiBases, Source};

/// Where an answer goes: the conversation in the platform's terms, and the workspace,
/// bot or guild to answer as. Dispatch gives it to the gateway as `replyTo`; the
/// gateway hands it back unchanged (`POST /api/replies`, an approval's `replyTo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Address {
    #[serde(flatten)]
    pub to: ReplyTo,
    /// The workspace, bot or guild to answer as.
    pub source: String,
}

impl Address {
    pub fn platform(&self) -> Platform {
        self.to.platform()
    }

    /// The answer address of `e`.
    pub fn of(e: &agency_webhook::InboundEvent) -> Address {
        Address {
            to: e.reply_to.clone(),
            source: e.source.clone(),
        }
    }
}

/// How long a platform call may take.
pub const PLATFORM_TIMEOUT_MS: u64 = 10_000;

/// The HTTP request for `call` from `source`, against `api` (the platform's shapes are
/// the webhook core's: [`agency_webhook::api`]).
pub fn request(api: &ApiBases, source: &Source, call: &Call) -> Result<OutRequest, Unsendable> {
    let name = source.key();
    let bot = Bot {
        platform: source.platform,
        name: &name,
        token: source.bot_token.as_deref(),
    };
    let r = api::request(api, &bot, call)?;
    let method = match r.verb {
        Verb::Post => http::Method::POST,
        Verb::Patch => http::Method::PATCH,
    };
    Ok(OutRequest::json(
        method,
        r.url,
        r.authorization,
        &r.body,
        PLATFORM_TIMEOUT_MS,
    ))
}

/// What a platform's answer means for the call.
pub fn answered(platform: Platform, r: &OutResponse) -> Answered {
    api::answered(platform, r.status, r.retry_after_secs, &r.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platform_call_becomes_a_json_request_with_its_credentials() {
        let mut s = Source::discord(
            "G1",
            "A1",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        )
        .unwrap();
        s.bot_token = Some("TOKEN".into());
        let to = ReplyTo::Discord {
            channel_id: "9".into(),
            application_id: "A1".into(),
            token: "itok".into(),
            message_id: None,
        };
        let edit = Call::Edit {
            to,
            message: "77".into(),
            text: "done".into(),
        };
        let r = request(&ApiBases::default(), &s, &edit).unwrap();
        assert_eq!(r.method, http::Method::PATCH);
        assert_eq!(r.timeout_ms, PLATFORM_TIMEOUT_MS);
        assert!(
            r.headers
                .contains(&("authorization".into(), "Bot TOKEN".into()))
        );
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "content-type" && v.starts_with("application/json"))
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["content"], "done");
        s.bot_token = None;
        assert_eq!(
            request(&ApiBases::default(), &s, &edit),
            Err(Unsendable::NoToken(s.key()))
        );
    }
}
