use super::*;

fn parse(text: &str, env: &[(&str, &str)]) -> Result<Settings, String> {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        webhooks: WebhooksConfig,
        gateway: Option<GatewayConfig>,
        #[serde(default)]
        approvers: Vec<ApproverConfig>,
    }
    let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let env = |k: &str| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    };
    settings(&f.webhooks, f.gateway.as_ref(), &f.approvers, &env)
}

const SLACK: &str = "[[webhooks.slack]]\nid = \"T1\"\nsigning_secret_env = \"S\"\n";

#[test]
fn secrets_come_from_the_environment_and_errors_name_the_entry() {
    let err = parse(SLACK, &[]).unwrap_err();
    assert!(
        err.contains("webhooks.slack[0] (T1)") && err.contains("S is not set"),
        "{err}"
    );
    let s = parse(SLACK, &[("S", "shh")]).unwrap();
    assert_eq!(s.sources[0].key(), "slack:T1");
    assert_eq!(s.sources[0].channel, "slack");
    assert!(
        !format!("{s:?}").contains("shh"),
        "secrets stay out of Debug"
    );
}

#[test]
fn unusable_secrets_and_settings_are_refused_at_start() {
    let tg = "[[webhooks.telegram]]\nid = \"b\"\nsecret_token_env = \"T\"\n";
    assert!(
        parse(tg, &[("T", "has space")])
            .unwrap_err()
            .contains("Telegram secret")
    );
    let dc = "[[webhooks.discord]]\nid = \"g\"\napplication_id = \"a\"\npublic_key = \"00\"\n";
    assert!(parse(dc, &[]).unwrap_err().contains("Discord public key"));
    let mixed =
        "[[webhooks.slack]]\nid = \"T1\"\nsigning_secret_env = \"S\"\npublic_key = \"00\"\n";
    let err = parse(mixed, &[("S", "x")]).unwrap_err();
    assert!(err.contains("public_key is not a slack setting"), "{err}");
    let missing = "[[webhooks.discord]]\nid = \"g\"\napplication_id = \"a\"\n";
    assert!(
        parse(missing, &[])
            .unwrap_err()
            .contains("public_key is required")
    );
    let gw = "[gateway]\nurl = \"http://127.0.0.1:9\"\nsecret_env = \"G\"\n";
    assert!(
        parse(gw, &[("G", "not-whsec")])
            .unwrap_err()
            .contains("whsec_")
    );
    let bad_url = "[gateway]\nurl = \"ftp://x\"\nsecret_env = \"G\"\n";
    assert!(parse(bad_url, &[]).unwrap_err().contains("gateway.url"));
    let ttl = "[webhooks]\ndedup_ttl_hours = 1\n";
    assert!(parse(ttl, &[]).unwrap_err().contains("at least 24"));
    let twice = format!("{SLACK}{SLACK}");
    assert!(parse(&twice, &[("S", "x")]).unwrap_err().contains("twice"));
    let rate = "[webhooks]\nrate_per_second = 0\n";
    assert!(parse(rate, &[]).unwrap_err().contains("rate_per_second"));
}

#[test]
fn cards_offer_the_configured_grants() {
    assert_eq!(parse("", &[]).unwrap().card_grants, [3600]);
    let s = parse("[webhooks]\ncard_grants = [\"30m\", \"1d\"]\n", &[]).unwrap();
    assert_eq!(s.card_grants, [1800, 86_400]);
    assert!(
        parse("[webhooks]\ncard_grants = []\n", &[])
            .unwrap()
            .card_grants
            .is_empty()
    );
    for bad in [
        r#"["forever"]"#,
        r#"["30s"]"#,
        r#"["1h", "2h", "3h", "4h"]"#,
    ] {
        let err = parse(&format!("[webhooks]\ncard_grants = {bad}\n"), &[]).unwrap_err();
        assert!(err.contains("card_grants"), "{bad}: {err}");
    }
}

#[test]
fn the_operators_channel_is_a_configured_source() {
    let tg = "[[webhooks.telegram]]\nid = \"b\"\nsecret_token_env = \"T\"\nbot_token_env = \"B\"\n";
    let env = [("T", "secret-token_1"), ("B", "123:abc")];
    let with = |ops: &str| parse(&format!("{tg}[webhooks.operators]\n{ops}"), &env);
    let s = with("platform = \"telegram\"\nsource = \"b\"\nchat = \"-100\"\n").unwrap();
    let o = s.operators.unwrap();
    assert_eq!(
        (o.source.as_str(), o.to.platform()),
        ("b", agency_webhook::Platform::Telegram)
    );
    for bad in [
        "platform = \"telegram\"\nsource = \"other\"\nchat = \"-100\"\n",
        "platform = \"telegram\"\nsource = \"b\"\nchat = \"ops\"\n",
        "platform = \"irc\"\nsource = \"b\"\nchat = \"-100\"\n",
    ] {
        let err = with(bad).unwrap_err();
        assert!(err.contains("webhooks.operators"), "{bad}: {err}");
    }
}

#[test]
fn approver_groups_are_chats_of_configured_sources() {
    let tg = "[[webhooks.telegram]]\nid = \"b\"\nsecret_token_env = \"T\"\nbot_token_env = \"B\"\n";
    let env = [("T", "secret-token_1"), ("B", "123:abc")];
    let chat = "platform = \"telegram\"\nsource = \"b\"\nchat = \"-100\"\n";
    let s = parse(&format!("{tg}[webhooks.groups.Leads]\n{chat}"), &env).unwrap();
    assert_eq!(s.group("leads").map(|g| g.source.as_str()), Some("b"));
    assert!(s.group("ops").is_none());
    for (bad, wanted) in [
        (
            format!("[webhooks.groups.\"team leads\"]\n{chat}"),
            "webhooks.groups.team leads: a group's name",
        ),
        (
            format!("[webhooks.groups.leads]\n{chat}[webhooks.groups.LEADS]\n{chat}"),
            "configured twice",
        ),
        (
            "[webhooks.groups.leads]\nplatform = \"slack\"\nsource = \"b\"\nchat = \"C1\"\n"
                .to_owned(),
            "webhooks.groups.leads: slack source \"b\" is not configured",
        ),
    ] {
        let err = parse(&format!("{tg}{bad}"), &env).unwrap_err();
        assert!(err.contains(wanted), "{bad}: {err}");
    }
}

#[test]
fn approvers_are_found_by_their_platform_ids() {
    let text = "[[approvers]]\nname = \"alice\"\nslack = \"U1\"\ntelegram = 42\n";
    let s = parse(text, &[]).unwrap();
    use agency_webhook::Platform;
    assert_eq!(s.approver(Platform::Slack, "U1"), Some("alice"));
    assert_eq!(s.approver(Platform::Telegram, "42"), Some("alice"));
    assert_eq!(s.approver(Platform::Discord, "U1"), None);
    assert_eq!(s.approver(Platform::Slack, "U2"), None);
}
