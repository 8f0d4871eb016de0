//! What the webhook service is configured with, as both runtimes hand it over: the
//! sources (one per Slack workspace, Telegram bot, Discord guild) with their secrets,
//! the approvers, the gateway, and the limits. The runtime reads its config file or
//! Worker variables and builds these; checking them is written once, here.

use agency_webhook::Platform;
use agency_webhook::limits::{DEFAULT_SCHEDULE_SECS, Rate};
use agency_webhook::standard::Secret;
use agency_webhook::verify::{BadSecret, DiscordKey};

/// How a source's requests are verified (the secret material never leaves here).
#[derive(Clone)]
pub enum Verifier {
    /// Slack's signing secret.
    Slack(Vec<u8>),
    /// The secret token given to Telegram's `setWebhook`.
    Telegram(String),
    /// The Discord application's public key.
    Discord(DiscordKey),
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verifier::Slack(_) => "Slack(<secret>)",
            Verifier::Telegram(_) => "Telegram(<secret>)",
            Verifier::Discord(_) => "Discord(<public key>)",
        })
    }
}

/// One workspace, bot or guild whose webhooks Agency accepts.
#[derive(Clone)]
pub struct Source {
    pub platform: Platform,
    /// The id in the webhook's path.
    pub id: String,
    /// The graph channel its messages are routed under.
    pub channel: String,
    pub verifier: Verifier,
    /// The bot's API token, for answers in chat (none: nothing is posted back).
    pub bot_token: Option<String>,
    /// Telegram: the bot's username, to tell mentions of it from others.
    pub bot_username: Option<String>,
    /// Discord: the application id (follow-ups go to its webhook).
    pub application_id: Option<String>,
    /// Its own rate, when not the service's.
    pub rate: Option<Rate>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("platform", &self.platform)
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("verifier", &self.verifier)
            .field("bot_token", &self.bot_token.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl Source {
    /// A Slack workspace's app: `signing_secret` from its Basic Information page.
    pub fn slack(id: &str, signing_secret: &str) -> Result<Source, BadSecret> {
        if signing_secret.trim().is_empty() {
            return Err(BadSecret::Empty);
        }
        Ok(Source::new(
            Platform::Slack,
            id,
            Verifier::Slack(signing_secret.trim().as_bytes().to_vec()),
        ))
    }

    /// A Telegram bot: `secret_token` as given to `setWebhook`.
    pub fn telegram(id: &str, secret_token: &str) -> Result<Source, BadSecret> {
        agency_webhook::verify::telegram_secret(secret_token)?;
        Ok(Source::new(
            Platform::Telegram,
            id,
            Verifier::Telegram(secret_token.to_owned()),
        ))
    }

    /// A Discord guild's application: its public key (hex).
    pub fn discord(id: &str, application_id: &str, public_key: &str) -> Result<Source, BadSecret> {
        let mut s = Source::new(
            Platform::Discord,
            id,
            Verifier::Discord(DiscordKey::parse(public_key)?),
        );
        s.application_id = Some(application_id.to_owned());
        Ok(s)
    }

    fn new(platform: Platform, id: &str, verifier: Verifier) -> Source {
        Source {
            platform,
            id: id.to_owned(),
            channel: platform.as_str().to_owned(),
            verifier,
            bot_token: None,
            bot_username: None,
            application_id: None,
            rate: None,
        }
    }

    /// The key of its gate (rate limit and dedup), e.g. `slack:T123`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.platform.as_str(), self.id)
    }
}

/// A person who may decide approvals from chat, by their id on each platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approver {
    /// Recorded as the decision's `by`.
    pub name: String,
    pub slack: Option<String>,
    pub telegram: Option<i64>,
    pub discord: Option<String>,
}

/// Where routed tasks go.
#[derive(Clone)]
pub struct Gateway {
    /// `POST {url}/tasks`.
    pub url: String,
    pub secret: Secret,
    pub timeout_ms: u64,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("url", &self.url)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

pub use agency_webhook::api::ApiBases;

/// The whole service's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sources: Vec<Source>,
    pub approvers: Vec<Approver>,
    pub gateway: Option<Gateway>,
    pub api: ApiBases,
    /// Each source's token bucket, unless it has its own.
    pub rate: Rate,
    /// How long a dedup key is kept (at least 24 h: Telegram keeps updates that long).
    pub dedup_ttl_ms: i64,
    /// Delays between dispatch attempts, in seconds; after the last, a dead letter.
    pub schedule_secs: Vec<u64>,
    /// A message starting with this goes to the assistant (as `/agency` does).
    pub prefix: Option<String>,
    /// The "approve for ..." buttons approval cards offer, in seconds.
    pub card_grants: Vec<u64>,
    /// The "extend" button approval cards offer, in seconds (`None`: none).
    pub card_extend: Option<u64>,
    /// Where budget alerts are posted, if anywhere.
    pub operators: Option<BotChat>,
    /// Approver groups' channels (name, lower case): where escalated asks' cards go.
    pub groups: Vec<(String, BotChat)>,
}

/// A chat of a configured source, posted to as its bot: the operators' channel, an
/// approver group's.
#[derive(Debug, Clone, PartialEq)]
pub struct BotChat {
    /// The source's id (its platform is the address's).
    pub source: String,
    pub to: agency_webhook::ReplyTo,
}

/// A day: how long dedup keys are kept unless configured longer.
pub const DEFAULT_DEDUP_TTL_MS: i64 = 24 * 3600 * 1000;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sources: Vec::new(),
            approvers: Vec::new(),
            gateway: None,
            api: ApiBases::default(),
            rate: Rate::default(),
            dedup_ttl_ms: DEFAULT_DEDUP_TTL_MS,
            schedule_secs: DEFAULT_SCHEDULE_SECS.to_vec(),
            prefix: None,
            card_grants: vec![agency_approval::contract::DEFAULT_GRANT_SECS],
            card_extend: Some(agency_approval::contract::DEFAULT_EXTEND_SECS),
            operators: None,
            groups: Vec::new(),
        }
    }
}

impl Settings {
    pub fn source(&self, platform: Platform, id: &str) -> Option<&Source> {
        self.sources
            .iter()
            .find(|s| s.platform == platform && s.id == id)
    }

    /// The approver's name for platform user `user`, if they are one.
    pub fn approver(&self, platform: Platform, user: &str) -> Option<&str> {
        self.approvers
            .iter()
            .find(|a| match platform {
                Platform::Slack => a.slack.as_deref() == Some(user),
                Platform::Telegram => a.telegram.map(|t| t.to_string()).as_deref() == Some(user),
                Platform::Discord => a.discord.as_deref() == Some(user),
            })
            .map(|a| a.name.as_str())
    }

    /// The channel of approver group `name`, if one is configured.
    pub fn group(&self, name: &str) -> Option<&BotChat> {
        self.groups.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    pub fn rate_of(&self, source: &Source) -> Rate {
        source.rate.unwrap_or(self.rate)
    }
}
