//! Discord's interactions: PING (answered `{"type":1}`), the `/agency` application
//! command (deferred at once, type 5: the answer follows through the interaction's
//! webhook), button clicks (deferred update, type 6), and the reason modal: "Deny with
//! reason" is answered with the modal itself (type 9), whose submission (a
//! `MODAL_SUBMIT` interaction) is a denial with its reason.

pub mod api;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::card::{REASON_CHARS, REASON_INPUT, Verdict, button_data, parse_button};
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
const MODAL: u8 = 9;
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
    /// A modal submission's action rows of inputs.
    #[serde(default)]
    components: Vec<Value>,
}

/// The answer that opens the reason modal for `approval_id`.
fn reason_modal(approval_id: &str) -> Reply {
    Reply::json(&json!({
        "type": MODAL,
        "data": {
            "custom_id": button_data(Verdict::Reason, approval_id),
            "title": "Deny with a reason",
            "components": [{ "type": 1, "components": [{
                "type": 4, "custom_id": REASON_INPUT, "style": 2,
                "label": "Why deny it? The agent is told.",
                "min_length": 1, "max_length": REASON_CHARS, "required": true
            }]}]
        }
    }))
}

/// The value of the reason input in a modal submission's rows.
fn submitted_reason(rows: &[Value]) -> Option<String> {
    rows.iter()
        .filter_map(|r| r.get("components")?.as_array())
        .flatten()
        .find(|c| c.get("custom_id").and_then(Value::as_str) == Some(REASON_INPUT))
        .and_then(|c| c.get("value")?.as_str())
        .map(|r| {
            r.trim()
                .chars()
                .take(REASON_CHARS as usize)
                .collect::<String>()
        })
        .filter(|r| !r.is_empty())
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
                Some((Verdict::Reason, approval_id)) => {
                    // Anyone may open it; only an approver's submission decides.
                    return Ok(Inbound::Ignored {
                        why: "discord reason modal opened",
                        ack: reason_modal(&approval_id),
                    });
                }
                Some((verdict, batch_id)) if verdict.is_batch() => (
                    EventKind::BatchClick {
                        approve: verdict.approves(),
                        batch_id,
                    },
                    answer(DEFERRED_UPDATE_MESSAGE),
                ),
                Some((verdict, approval_id)) => (
                    EventKind::Click {
                        approve: verdict.approves(),
                        approval_id,
                        grant_secs: verdict.grant_secs(),
                        extend_secs: verdict.extend_secs(),
                        reason: None,
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
        5 => {
            let data = i.data.as_ref();
            match data
                .and_then(|d| d.custom_id.as_deref())
                .and_then(parse_button)
            {
                Some((Verdict::Reason, approval_id)) => (
                    EventKind::Click {
                        approve: false,
                        approval_id,
                        grant_secs: None,
                        extend_secs: None,
                        reason: data.and_then(|d| submitted_reason(&d.components)),
                    },
                    // The modal came from the card's button: update that message.
                    answer(DEFERRED_UPDATE_MESSAGE),
                ),
                _ => {
                    return Ok(Inbound::Ignored {
                        why: "discord modal",
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
                reason: None,
            }
        );

        // "Deny with reason": the modal at once, nothing queued; its submission denies
        // with the reason and updates the card.
        let reason = String::from_utf8_lossy(click).replace("agency:d:", "agency:r:");
        let Inbound::Ignored { ack, .. } = parse(ORIGIN, reason.as_bytes()).unwrap() else {
            panic!()
        };
        let modal: Value = serde_json::from_slice(&ack.body).unwrap();
        assert_eq!(modal["type"], 9);
        assert_eq!(modal["data"]["custom_id"], "agency:r:apr_7");
        assert_eq!(modal["data"]["components"][0]["components"][0]["type"], 4);
        let submit = br#"{"id":"10","application_id":"A9","type":5,"token":"tok2","channel_id":"C5","member":{"user":{"id":"U1"}},"message":{"id":"M1"},"data":{"custom_id":"agency:r:apr_7","components":[{"type":1,"components":[{"type":4,"custom_id":"reason","value":" not today "}]}]},"version":1}"#;
        let Inbound::Event { event, ack } = parse(ORIGIN, submit).unwrap() else {
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
                reason: Some("not today".into()),
            }
        );
        assert!(
            matches!(event.reply_to, ReplyTo::Discord { ref message_id, .. } if message_id.as_deref() == Some("M1"))
        );
        let foreign = String::from_utf8_lossy(submit).replace("agency:r:apr_7", "other_modal");
        assert!(matches!(
            parse(ORIGIN, foreign.as_bytes()).unwrap(),
            Inbound::Ignored { .. }
        ));

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
