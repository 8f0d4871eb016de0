use super::*;

const ORIGIN: Origin<'static> = Origin {
    source: "T1",
    received_at_ms: 5,
};

fn event(inbound: Inbound) -> InboundEvent {
    inbound.event().expect("an event")
}

#[test]
fn the_url_verification_handshake_echoes_the_challenge() {
    let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let Inbound::Handshake(r) = parse(ORIGIN, Some("application/json"), body).unwrap() else {
        panic!()
    };
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
}

/// The Events API's documented `app_mention` example.
#[test]
fn a_mention_is_normalised_with_both_dedup_keys() {
    let body = br#"{"token":"ZZZZZZWSxiZZZ2yIvs3peJ","team_id":"T061EG9R6","api_app_id":"A0MDYCDME","event":{"type":"app_mention","user":"U061F7AUR","text":"<@U0LAN0Z89> is it everything a river should be?","ts":"1515449522.000016","channel":"C0LAN2Q65","event_ts":"1515449522000016"},"type":"event_callback","event_id":"Ev0LAN670R","event_time":1515449522000016,"authorizations":[{"enterprise_id":null,"team_id":"T061EG9R6","user_id":"U0LAN0Z89","is_bot":true}]}"#;
    let e = event(parse(ORIGIN, Some("application/json"), body).unwrap());
    assert_eq!(e.kind, EventKind::Mention);
    assert_eq!(e.text, "is it everything a river should be?");
    assert_eq!(e.chat, "C0LAN2Q65");
    assert_eq!(e.user.as_deref(), Some("U061F7AUR"));
    assert_eq!(e.event_id, "Ev0LAN670R");
    assert_eq!(
        e.dedup_keys,
        vec![
            "slack:T1:ev:Ev0LAN670R",
            "slack:T1:msg:C0LAN2Q65:1515449522.000016"
        ]
    );
    // The same message as a `message` event, under another event id, is the same
    // message: its channel and ts key repeats.
    let again = String::from_utf8_lossy(body)
        .replace("app_mention", "message")
        .replace("Ev0LAN670R", "Ev0OTHER");
    let m = event(parse(ORIGIN, None, again.as_bytes()).unwrap());
    assert_eq!(
        m.kind,
        EventKind::Mention,
        "the bot's own mention, seen in text"
    );
    assert_eq!(m.dedup_keys[1], e.dedup_keys[1]);
}

#[test]
fn bots_edits_and_other_events_are_ignored() {
    for body in [
        r#"{"type":"event_callback","event_id":"E1","event":{"type":"message","subtype":"message_changed","channel":"C","ts":"1"}}"#,
        r#"{"type":"event_callback","event_id":"E1","event":{"type":"message","bot_id":"B1","channel":"C","ts":"1","text":"hi"}}"#,
        r#"{"type":"event_callback","event_id":"E1","event":{"type":"reaction_added"}}"#,
        r#"{"type":"app_rate_limited"}"#,
    ] {
        assert!(
            matches!(
                parse(ORIGIN, None, body.as_bytes()).unwrap(),
                Inbound::Ignored { .. }
            ),
            "{body}"
        );
    }
    for bad in [
        "",
        "{",
        "[]",
        r#"{"type":"event_callback"}"#,
        r#"{"type":"event_callback","event_id":"E","event":{"type":"message","ts":"1"}}"#,
    ] {
        assert!(parse(ORIGIN, None, bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn the_agency_command_and_others() {
    let body = "token=x&team_id=T1&channel_id=C9&user_id=U7&command=%2Fagency&text=what%27s+pending%3F&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1&trigger_id=13345224609.738474920.8088930838d88f008e0";
    let e = event(
        parse(
            ORIGIN,
            Some("application/x-www-form-urlencoded"),
            body.as_bytes(),
        )
        .unwrap(),
    );
    assert_eq!(e.kind, EventKind::Command);
    assert_eq!(e.text, "what's pending?");
    assert_eq!(
        e.dedup_keys,
        vec!["slack:T1:cmd:13345224609.738474920.8088930838d88f008e0"]
    );
    assert!(matches!(
        e.reply_to,
        ReplyTo::Slack { response_url: Some(ref u), .. } if u == "https://hooks.slack.com/commands/1"
    ));
    let other = body.replace("%2Fagency", "%2Fweather");
    assert!(matches!(
        parse(
            ORIGIN,
            Some("application/x-www-form-urlencoded"),
            other.as_bytes()
        )
        .unwrap(),
        Inbound::Ignored { .. }
    ));
}

#[test]
fn an_approval_click_names_the_approval() {
    let payload = json!({
        "type": "block_actions",
        "user": { "id": "U7", "username": "alice" },
        "team": { "id": "T1" },
        "channel": { "id": "C9" },
        "container": { "type": "message", "message_ts": "1700.01", "channel_id": "C9" },
        "trigger_id": "111.222.abc",
        "response_url": "https://hooks.slack.com/actions/1",
        "actions": [{ "action_id": "agency_deny", "block_id": "b", "value": "apr_1", "type": "button", "action_ts": "1700.5" }]
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let e = event(
        parse(
            ORIGIN,
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            body.as_bytes(),
        )
        .unwrap(),
    );
    assert_eq!(
        e.kind,
        EventKind::Click {
            approve: false,
            approval_id: "apr_1".into(),
            grant_secs: None,
            extend_secs: None,
            reason: None,
        }
    );
    assert_eq!(e.user.as_deref(), Some("U7"));
    assert!(matches!(e.reply_to, ReplyTo::Slack { message_ts: Some(ref t), .. } if t == "1700.01"));
    // "Deny with reason" asks for a modal, with the click's trigger_id.
    let reason = body.replace("agency_deny", "agency_reason");
    let e = event(
        parse(
            ORIGIN,
            Some("application/x-www-form-urlencoded"),
            reason.as_bytes(),
        )
        .unwrap(),
    );
    assert_eq!(
        e.kind,
        EventKind::ReasonPrompt {
            approval_id: "apr_1".into(),
            trigger_id: "111.222.abc".into()
        }
    );
}

/// A `view_submission` shaped as Slack's documentation shows it.
#[test]
fn the_reason_modal_submitted_is_a_denial_with_its_reason() {
    let meta = ReasonMetadata {
        approval_id: "apr_1".into(),
        channel: "C9".into(),
        message_ts: Some("1700.01".into()),
    };
    let payload = |callback: &str, meta: &str, reason: Value| {
        json!({
            "type": "view_submission",
            "team": { "id": "T1", "domain": "x" },
            "user": { "id": "U7", "username": "alice", "team_id": "T1" },
            "api_app_id": "A1",
            "trigger_id": "12466734323.1395872398",
            "view": {
                "id": "VNHU13V36", "type": "modal", "callback_id": callback,
                "private_metadata": meta, "hash": "156663117.cd33ad1f",
                "state": { "values": { "reason": { "reason": { "type": "plain_text_input", "value": reason } } } }
            }
        })
    };
    let form = |p: Value| serde_urlencoded::to_string([("payload", p.to_string())]).unwrap();
    let meta_json = serde_json::to_string(&meta).unwrap();
    let body = form(payload(
        "agency_reason",
        &meta_json,
        json!("  not on a Friday "),
    ));
    let got = parse(
        ORIGIN,
        Some("application/x-www-form-urlencoded"),
        body.as_bytes(),
    )
    .unwrap();
    let Inbound::Event { event: e, ack } = got else {
        panic!()
    };
    assert!(ack.body.is_empty(), "an empty 200 closes the modal");
    assert_eq!(
        e.kind,
        EventKind::Click {
            approve: false,
            approval_id: "apr_1".into(),
            grant_secs: None,
            extend_secs: None,
            reason: Some("not on a Friday".into()),
        }
    );
    assert_eq!(e.dedup_keys, vec!["slack:T1:view:VNHU13V36"]);
    assert!(
        matches!(e.reply_to, ReplyTo::Slack { ref channel, message_ts: Some(ref t), .. }
            if channel == "C9" && t == "1700.01")
    );
    // An empty reason is none; another app's modal is ignored; no metadata is an error.
    let empty = form(payload("agency_reason", &meta_json, Value::Null));
    let e = event(
        parse(
            ORIGIN,
            Some("application/x-www-form-urlencoded"),
            empty.as_bytes(),
        )
        .unwrap(),
    );
    assert!(matches!(e.kind, EventKind::Click { reason: None, .. }));
    let other = form(payload("someone_else", &meta_json, json!("x")));
    assert!(matches!(
        parse(
            ORIGIN,
            Some("application/x-www-form-urlencoded"),
            other.as_bytes()
        )
        .unwrap(),
        Inbound::Ignored { .. }
    ));
    let bare = form(payload("agency_reason", "", json!("x")));
    assert!(
        parse(
            ORIGIN,
            Some("application/x-www-form-urlencoded"),
            bare.as_bytes()
        )
        .is_err()
    );
}
