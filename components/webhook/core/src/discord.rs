//! Discord's interactions: PING (answered `{"type":1}`), the `/agency` application
//! command (deferred at once, type 5: the answer follows through the interaction's
//! webhook) and button clicks (deferred update, type 6).

pub mod api;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::card::parse_button;
use crate::{EventKind, Inbound, InboundEvent, Origin, ParseError, Platform, Reply, ReplyTo};

fn err(message: impl Into<String>) -> ParseError {
    ParseError::new(Platform::Discord, message)
}

/// The command's name.
pub const COMMAND: &str = "agency";

const PONG: u8 = 1;
const CHANNEL_MESSAGE: u8 = 4;
const DEFERRED_CHANNEL_MESSAGE: u8 = 5;
const DEFERRED_UPDATE_MESSAGE: u8 = 6;
const AUTOCOMPLETE_RESULT: u8 = 8;
/// Message flag: only the user who acted sees it.
pub const EPHEMERAL: u32 = 64;

fn answer(kind: u8) -> Reply {
    Reply::json(&json!({ "type": kind }))
}

#[derive(Deserialize)]
struct Interaction {
    id: String,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    application_id: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    member: Option<Member>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Member {
    user: User,
}

#[derive(Deserialize)]
struct User {
    id: String,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    options: Vec<CommandOption>,
    #[serde(default)]
    custom_id: Option<String>,
}

#[derive(Deserialize)]
struct CommandOption {
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    options: Vec<CommandOption>,
}

#[derive(Deserialize)]
struct Message {
    id: String,
}

/// The options' values in order (sub-commands' too), as one text.
fn option_text(options: &[CommandOption], out: &mut Vec<String>) {
    for o in options {
        match &o.value {
            Some(Value::String(s)) => out.push(s.clone()),
            Some(v) => out.push(v.to_string()),
            None => {}
        }
        option_text(&o.options, out);
    }
}

/// Parses an interaction for guild (or application) `origin.source`.
pub fn parse(origin: Origin<'_>, body: &[u8]) -> Result<Inbound, ParseError> {
    let i: Interaction =
        serde_json::from_slice(body).map_err(|e| err(format!("interaction: {e}")))?;
    let (kind, ack) = match i.kind {
        1 => return Ok(Inbound::Handshake(answer(PONG))),
        2 => {
            let data = i
                .data
                .as_ref()
                .ok_or_else(|| err("a command without data"))?;
            if data.name.as_deref() != Some(COMMAND) {
                return Ok(Inbound::Ignored {
                    why: "discord command",
                    ack: Reply::json(&json!({
                        "type": CHANNEL_MESSAGE,
                        "data": { "content": "Agency answers /agency only.", "flags": EPHEMERAL }
                    })),
                });
            }
            (EventKind::Command, answer(DEFERRED_CHANNEL_MESSAGE))
        }
        3 => {
            let custom = i.data.as_ref().and_then(|d| d.custom_id.as_deref());
            match custom.and_then(parse_button) {
                Some((verdict, approval_id)) => (
                    EventKind::Click {
                        approve: verdict.approves(),
                        approval_id,
                        grant_secs: verdict.grant_secs(),
                        extend_secs: verdict.extend_secs(),
                    },
                    answer(DEFERRED_UPDATE_MESSAGE),
                ),
                None => {
                    return Ok(Inbound::Ignored {
                        why: "discord component",
                        ack: answer(DEFERRED_UPDATE_MESSAGE),
                    });
                }
            }
        }
        4 => {
            return Ok(Inbound::Ignored {
                why: "discord autocomplete",
                ack: Reply::json(
                    &json!({ "type": AUTOCOMPLETE_RESULT, "data": { "choices": [] } }),
                ),
            });
        }
        _ => {
            return Ok(Inbound::Ignored {
                why: "discord interaction type",
                ack: answer(DEFERRED_UPDATE_MESSAGE),
            });
        }
    };
    let need = |v: Option<String>, what: &str| {
        v.ok_or_else(|| err(format!("an interaction without {what}")))
    };
    let channel = need(i.channel_id, "channel_id")?;
    let mut words = Vec::new();
    if let (EventKind::Command, Some(d)) = (&kind, &i.data) {
        option_text(&d.options, &mut words);
    }
    let source = origin.source;
    Ok(Inbound::accept_with(
        InboundEvent {
            chat: channel.clone(),
            thread: None,
            user: i.member.map(|m| m.user.id).or(i.user.map(|u| u.id)),
            text: words.join(" ").trim().to_owned(),
            kind,
            dedup_keys: vec![format!("discord:{source}:{}", i.id)],
            reply_to: ReplyTo::Discord {
                channel_id: channel,
                application_id: need(i.application_id, "application_id")?,
                token: need(i.token, "token")?,
                message_id: i.message.map(|m| m.id),
            },
            ..origin.event(Platform::Discord, i.id.clone())
        },
        ack,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: Origin<'static> = Origin {
        source: "G1",
        received_at_ms: 5,
    };

    fn reply_type(r: &Reply) -> u64 {
        serde_json::from_slice::<Value>(&r.body).unwrap()["type"]
            .as_u64()
            .unwrap()
    }

    #[test]
    fn ping_commands_and_clicks() {
        let Inbound::Handshake(pong) = parse(
            ORIGIN,
            br#"{"id":"1","application_id":"A","type":1,"token":"t","version":1}"#,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(reply_type(&pong), 1);

        let cmd = br#"{"id":"786008729715212338","application_id":"A9","type":2,"token":"tok","channel_id":"C5","guild_id":"G1","member":{"user":{"id":"53908232506183680","username":"Mason"}},"data":{"id":"771825006014889984","name":"agency","type":1,"options":[{"name":"text","type":3,"value":"what's pending?"}]},"version":1}"#;
        let Inbound::Event { event, ack } = parse(ORIGIN, cmd).unwrap() else {
            panic!()
        };
        assert_eq!(reply_type(&ack), 5);
        assert_eq!(
            (event.kind.clone(), event.text.as_str()),
            (EventKind::Command, "what's pending?")
        );
        assert_eq!(event.user.as_deref(), Some("53908232506183680"));
        assert_eq!(event.dedup_keys, vec!["discord:G1:786008729715212338"]);
        assert_eq!(
            event.reply_to,
            ReplyTo::Discord {
                channel_id: "C5".into(),
                application_id: "A9".into(),
                token: "tok".into(),
                message_id: None
            }
        );

        let click = br#"{"id":"9","application_id":"A9","type":3,"token":"tok","channel_id":"C5","user":{"id":"U1"},"message":{"id":"M1"},"data":{"custom_id":"agency:d:apr_7","component_type":2},"version":1}"#;
        let Inbound::Event { event, ack } = parse(ORIGIN, click).unwrap() else {
            panic!()
        };
        assert_eq!(reply_type(&ack), 6);
        assert_eq!(
            event.kind,
            EventKind::Click {
                approve: false,
                approval_id: "apr_7".into(),
                grant_secs: None,
                extend_secs: None,
            }
        );

        let other = String::from_utf8_lossy(cmd).replace("\"agency\"", "\"weather\"");
        let Inbound::Ignored { ack, .. } = parse(ORIGIN, other.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(reply_type(&ack), 4);
        for bad in [
            "",
            "{}",
            r#"{"id":"1","type":2}"#,
            r#"{"id":"1","type":2,"data":{"name":"agency"}}"#,
        ] {
            assert!(parse(ORIGIN, bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
