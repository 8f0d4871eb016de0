//! The webhook service's configuration as both runtimes read it (the local server's
//! config file; the Worker's `AGENCY_WEBHOOKS` variable, the same sections as TOML),
//! and how it becomes the service's [`Settings`]: secrets are read from the environment
//! variables (Worker secrets) the sections name, never from the text, and every
//! source's secret is checked at start-up.
//!
//! ```toml
//! [webhooks]
//! rate_per_second = 50        # each source's token bucket
//! burst = 200
//! dedup_ttl_hours = 24
//! retry_schedule_secs = [5, 300, 1800, 7200, 18000, 36000]
//! prefix = "!agency"          # messages starting with it go to the assistant
//! card_grants = ["1h", "1d"]  # approval cards' "approve for ..." buttons ([] for none)
//! card_extend = "30m"         # approval cards' "extend" button ("" for none)
//!
//! [webhooks.operators]        # where budget alerts are posted (as the source's bot)
//! platform = "slack"
//! source = "T0123"            # a configured source of that platform
//! chat = "C0OPS"              # Slack channel id, Telegram chat id, Discord channel id
//!
//! [webhooks.groups.leads]     # an approver group a policy rule escalates to:
//! platform = "slack"          # its escalated asks' cards are posted here
//! source = "T0123"
//! chat = "C0LEADS"
//!
//! [[webhooks.slack]]
//! id = "T0123"                # POST /slack/T0123
//! signing_secret_env = "SLACK_SIGNING_SECRET"
//! bot_token_env = "SLACK_BOT_TOKEN"
//!
//! [[webhooks.telegram]]
//! id = "mybot"                # POST /telegram/mybot
//! secret_token_env = "TELEGRAM_SECRET_TOKEN"
//! bot_token_env = "TELEGRAM_BOT_TOKEN"
//! bot_username = "my_agency_bot"
//!
//! [[webhooks.discord]]
//! id = "123456789"            # POST /discord/123456789
//! application_id = "987654321"
//! public_key = "<64 hex digits>"
//! bot_token_env = "DISCORD_BOT_TOKEN"
//!
//! [gateway]
//! url = "http://127.0.0.1:9000"   # tasks go to {url}/tasks
//! secret_env = "AGENCY_GATEWAY_SECRET"  # whsec_...
//! timeout_ms = 10000
//!
//! [[approvers]]
//! name = "alice"
//! slack = "U0123"
//! telegram = 123456
//! discord = "80351110224678912"
//! ```

use agency_webhook::limits::Rate;
use agency_webhook::standard::Secret;
use agency_webhook::verify::BadSecret;
use serde::Deserialize;

use crate::Settings;
use crate::settings::{ApiBases, Approver, Gateway, Source};

/// The three sections, as a Worker's `AGENCY_WEBHOOKS` variable holds them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sections {
    pub webhooks: WebhooksConfig,
    pub gateway: Option<GatewayConfig>,
    pub approvers: Vec<ApproverConfig>,
    /// Monitoring's section, when the same text configures it (read by monitoring).
    pub monitoring: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    pub rate_per_second: Option<f64>,
    pub burst: Option<f64>,
    pub dedup_ttl_hours: Option<u64>,
    pub retry_schedule_secs: Option<Vec<u64>>,
    pub prefix: Option<String>,
    /// Approval cards' "approve for ..." buttons: durations such as "1h" (at most 3).
    pub card_grants: Option<Vec<String>>,
    /// Approval cards' "extend" button: a duration such as "30m" ("" for none).
    pub card_extend: Option<String>,
    /// The operators' channel: budget alerts are posted there.
    pub operators: Option<ChatConfig>,
    /// Approver groups' channels, by group name: an escalated ask's card is posted to
    /// its group's.
    pub groups: std::collections::BTreeMap<String, ChatConfig>,
    /// The platforms' API base URLs (tests point them at fakes).
    pub slack_api: Option<String>,
    pub telegram_api: Option<String>,
    pub discord_api: Option<String>,
    pub slack: Vec<SourceConfig>,
    pub telegram: Vec<SourceConfig>,
    pub discord: Vec<SourceConfig>,
}

/// `[webhooks.operators]` or `[webhooks.groups.NAME]`: a chat of a configured source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    pub platform: String,
    pub source: String,
    pub chat: String,
}

/// A chat section (`what` names it in errors) as an address of a configured source.
fn bot_chat(
    o: &ChatConfig,
    sources: &[Source],
    what: &str,
) -> Result<crate::settings::BotChat, String> {
    use agency_webhook::{Platform, ReplyTo};
    let platform = Platform::from_name(&o.platform)
        .ok_or_else(|| format!("{what}: platform must be slack, telegram or discord"))?;
    let source = sources
        .iter()
        .find(|s| s.platform == platform && s.id == o.source)
        .ok_or_else(|| {
            format!(
                "{what}: {} source {:?} is not configured",
                o.platform, o.source
            )
        })?;
    if source.bot_token.is_none() {
        return Err(format!(
            "{what}: source {} has no bot token to post with",
            source.key()
        ));
    }
    let chat = o.chat.trim();
    if chat.is_empty() {
        return Err(format!("{what}: chat must not be empty"));
    }
    let to = match platform {
        Platform::Slack => ReplyTo::Slack {
            channel: chat.to_owned(),
            thread_ts: None,
            response_url: None,
            message_ts: None,
        },
        Platform::Telegram => ReplyTo::Telegram {
            chat_id: chat
                .parse()
                .map_err(|_| format!("{what}: a Telegram chat is a number, got {chat:?}"))?,
            thread_id: None,
            message_id: None,
            callback_query_id: None,
        },
        Platform::Discord => ReplyTo::Discord {
            channel_id: chat.to_owned(),
            application_id: source.application_id.clone().unwrap_or_default(),
            token: String::new(),
            message_id: None,
        },
    };
    Ok(crate::settings::BotChat {
        source: o.source.clone(),
        to,
    })
}

/// One `[[webhooks.slack]]`, `[[webhooks.telegram]]` or `[[webhooks.discord]]` entry.
/// Each platform takes its own keys (see the module's example); a key of another
/// platform is refused at start, like an unknown one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The workspace, bot or guild id in the webhook's path.
    pub id: String,
    /// Slack: the variable holding the app's signing secret.
    pub signing_secret_env: Option<String>,
    /// Telegram: the variable holding the secret token given to `setWebhook`.
    pub secret_token_env: Option<String>,
    /// Telegram: the bot's username, to tell mentions of it from others.
    pub bot_username: Option<String>,
    /// Discord: the application's id and public key (hex).
    pub application_id: Option<String>,
    pub public_key: Option<String>,
    /// The graph channel its messages are routed under (default: the platform's name).
    pub channel: Option<String>,
    /// The variable holding the bot's API token (answers in chat).
    pub bot_token_env: Option<String>,
    /// Its own token bucket, when not the service's.
    pub rate_per_second: Option<f64>,
    pub burst: Option<f64>,
}

impl SourceConfig {
    /// The keys set that belong to another platform than `platform`.
    fn foreign(&self, platform: &str) -> Option<&'static str> {
        let set = [
            (
                "signing_secret_env",
                self.signing_secret_env.is_some(),
                "slack",
            ),
            (
                "secret_token_env",
                self.secret_token_env.is_some(),
                "telegram",
            ),
            ("bot_username", self.bot_username.is_some(), "telegram"),
            ("application_id", self.application_id.is_some(), "discord"),
            ("public_key", self.public_key.is_some(), "discord"),
        ];
        set.into_iter()
            .find(|(_, present, owner)| *present && *owner != platform)
            .map(|(key, _, _)| key)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub url: String,
    /// Probed by monitoring (its status on the dashboard).
    #[serde(default)]
    pub health_url: Option<String>,
    /// Each agent's health at the gateway, `{agent}` standing for its id: an agent
    /// whose URL fails in a row is marked down and routing falls back.
    #[serde(default)]
    pub agent_health_url: Option<String>,
    /// Each instance's health at the gateway (agents that list instances), `{agent}`
    /// and `{instance}` standing for their ids; a JSON answer's `load` (0..1) is
    /// reported with it, every probe round.
    #[serde(default)]
    pub instance_health_url: Option<String>,
    #[serde(default = "default_gateway_secret_env")]
    pub secret_env: String,
    #[serde(default = "default_gateway_timeout")]
    pub timeout_ms: u64,
}

fn default_gateway_secret_env() -> String {
    "AGENCY_GATEWAY_SECRET".into()
}

fn default_gateway_timeout() -> u64 {
    10_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverConfig {
    pub name: String,
    pub slack: Option<String>,
    pub telegram: Option<i64>,
    pub discord: Option<String>,
}

/// The service's settings from the config's sections, secrets from `env`.
pub fn settings(
    w: &WebhooksConfig,
    gateway: Option<&GatewayConfig>,
    approvers: &[ApproverConfig],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, String> {
    let secret = |what: &str, var: &str| {
        env(var)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{what}: environment variable {var} is not set"))
    };
    let mut out = service_wide(w)?;
    let platforms = [
        ("slack", &w.slack),
        ("telegram", &w.telegram),
        ("discord", &w.discord),
    ];
    for (platform, entries) in platforms {
        for (i, c) in entries.iter().enumerate() {
            let s = source(platform, i, c, out.rate, &secret)?;
            out.sources.push(s);
        }
    }
    for (i, a) in out.sources.iter().enumerate() {
        if out.sources[..i]
            .iter()
            .any(|b| b.platform == a.platform && b.id == a.id)
        {
            return Err(format!("webhooks: source {} is configured twice", a.key()));
        }
    }
    if let Some(o) = &w.operators {
        out.operators = Some(bot_chat(o, &out.sources, "webhooks.operators")?);
    }
    for (name, g) in &w.groups {
        let key = name.trim().to_lowercase();
        let what = format!("webhooks.groups.{name}");
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "{what}: a group's name is letters, digits, - and _ (as policy rules' escalate.to names it)"
            ));
        }
        if out.groups.iter().any(|(k, _)| *k == key) {
            return Err(format!("{what}: group {key:?} is configured twice"));
        }
        out.groups.push((key, bot_chat(g, &out.sources, &what)?));
    }
    if let Some(g) = gateway {
        out.gateway = Some(gateway_of(g, &secret)?);
    }
    for (i, a) in approvers.iter().enumerate() {
        if a.name.trim().is_empty() {
            return Err(format!("approvers[{i}]: name must not be empty"));
        }
        out.approvers.push(Approver {
            name: a.name.clone(),
            slack: a.slack.clone(),
            telegram: a.telegram,
            discord: a.discord.clone(),
        });
    }
    Ok(out)
}

/// A token bucket from a section's `rate_per_second` and `burst`, `base`'s where unset.
fn rate(per: Option<f64>, burst: Option<f64>, base: Rate, what: &str) -> Result<Rate, String> {
    let r = Rate {
        per_second: per.unwrap_or(base.per_second),
        burst: burst.unwrap_or(base.burst),
    };
    if !(r.per_second > 0.0 && r.burst >= 1.0 && r.per_second.is_finite() && r.burst.is_finite()) {
        return Err(format!(
            "{what}: rate_per_second must be above 0 and burst at least 1"
        ));
    }
    Ok(r)
}

/// `[webhooks]`'s own keys: the rate, dedup, retries, prefix and API bases.
fn service_wide(w: &WebhooksConfig) -> Result<Settings, String> {
    let mut out = Settings::default();
    out.rate = rate(w.rate_per_second, w.burst, out.rate, "webhooks")?;
    if let Some(h) = w.dedup_ttl_hours {
        if h < 24 {
            return Err(
                "webhooks.dedup_ttl_hours must be at least 24 (Telegram redelivers for a day)"
                    .into(),
            );
        }
        out.dedup_ttl_ms = i64::try_from(h.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    }
    if let Some(s) = &w.retry_schedule_secs {
        if s.is_empty() || s.contains(&0) {
            return Err(
                "webhooks.retry_schedule_secs must be a non-empty list of delays above 0".into(),
            );
        }
        out.schedule_secs = s.clone();
    }
    out.prefix = w.prefix.clone().filter(|p| !p.trim().is_empty());
    if let Some(grants) = &w.card_grants {
        if grants.len() > 3 {
            return Err("webhooks.card_grants offers at most 3 durations".into());
        }
        let range = agency_approval::contract::GRANT_SECS;
        out.card_grants = grants
            .iter()
            .map(|g| {
                agency_approval::duration_secs(g)
                    .filter(|s| range.contains(s))
                    .ok_or_else(|| {
                        format!(
                            "webhooks.card_grants: {g:?} is not a duration from a minute to a year (\"30m\", \"1h\", \"1d\")"
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(e) = w.card_extend.as_deref().map(str::trim) {
        out.card_extend = match e {
            "" => None,
            e => Some(
                agency_approval::duration_secs(e)
                    .filter(|s| agency_approval::contract::EXTEND_SECS.contains(s))
                    .ok_or_else(|| {
                        format!("webhooks.card_extend: {e:?} is not a duration from a minute to a day (\"30m\", \"2h\")")
                    })?,
            ),
        };
    }
    let defaults = ApiBases::default();
    out.api = ApiBases {
        slack: w.slack_api.clone().unwrap_or(defaults.slack),
        telegram: w.telegram_api.clone().unwrap_or(defaults.telegram),
        discord: w.discord_api.clone().unwrap_or(defaults.discord),
    };
    Ok(out)
}

/// Entry `i` of `[[webhooks.<platform>]]`, its secrets read through `secret`.
fn source(
    platform: &str,
    i: usize,
    c: &SourceConfig,
    base: Rate,
    secret: &dyn Fn(&str, &str) -> Result<String, String>,
) -> Result<Source, String> {
    let what = format!("webhooks.{platform}[{i}] ({})", c.id);
    if let Some(key) = c.foreign(platform) {
        return Err(format!("{what}: {key} is not a {platform} setting"));
    }
    let required = |key: &str, v: &Option<String>| {
        v.clone()
            .ok_or_else(|| format!("{what}: {key} is required"))
    };
    let bad = |e: BadSecret| format!("{what}: {e}");
    let mut s = match platform {
        "slack" => Source::slack(
            &c.id,
            &secret(
                &what,
                &required("signing_secret_env", &c.signing_secret_env)?,
            )?,
        )
        .map_err(bad)?,
        "telegram" => {
            let mut s = Source::telegram(
                &c.id,
                &secret(&what, &required("secret_token_env", &c.secret_token_env)?)?,
            )
            .map_err(bad)?;
            s.bot_username = c
                .bot_username
                .as_ref()
                .map(|u| u.trim_start_matches('@').to_owned());
            s
        }
        _ => Source::discord(
            &c.id,
            &required("application_id", &c.application_id)?,
            &required("public_key", &c.public_key)?,
        )
        .map_err(bad)?,
    };
    if s.id.is_empty() || s.id.contains('/') {
        return Err(format!("{what}: id must be non-empty and have no '/'"));
    }
    if let Some(ch) = &c.channel {
        s.channel = ch.clone();
    }
    if let Some(var) = &c.bot_token_env {
        s.bot_token = Some(secret(&what, var)?);
    }
    if c.rate_per_second.is_some() || c.burst.is_some() {
        s.rate = Some(rate(c.rate_per_second, c.burst, base, &what)?);
    }
    Ok(s)
}

/// `[gateway]`: an http(s) URL and its Standard Webhooks secret.
fn gateway_of(
    g: &GatewayConfig,
    secret: &dyn Fn(&str, &str) -> Result<String, String>,
) -> Result<Gateway, String> {
    let parsed = http::Uri::try_from(g.url.as_str()).ok();
    if !parsed
        .is_some_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some())
    {
        return Err(format!("gateway.url: {:?} is not an http(s) URL", g.url));
    }
    let text = secret("gateway", &g.secret_env)?;
    let secret = Secret::parse(&text).map_err(|e| format!("gateway: {}: {e}", g.secret_env))?;
    Ok(Gateway {
        url: g.url.trim_end_matches('/').to_owned(),
        secret,
        timeout_ms: g.timeout_ms.clamp(100, 120_000),
    })
}

#[cfg(test)]
mod tests;
