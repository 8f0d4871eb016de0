//! Capabilities: what in a platform's payload lets its holder act as the bot without
//! any secret of ours (a Slack `response_url`, a Discord interaction token). They are
//! sealed at intake: the address keeps a reference (`cap_...`) in the field's place,
//! and the webhook service keeps the value where only it reads it. Nothing downstream
//! (the gateway, approvals, the audit, the events API, the dashboard, logs) ever holds
//! the real one; the service unseals it for the one call that needs it.

use crate::ReplyTo;

/// The prefix of a sealed reference.
pub const PREFIX: &str = "cap_";

/// How long a sealed capability is kept: longer than the platforms honour them (Slack's
/// `response_url` 30 minutes, Discord's interaction token 15).
pub const KEEP_MS: i64 = 2 * 3_600_000;

/// Whether `value` is a sealed reference rather than a capability.
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
        && value.len() <= 64
        && value[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl ReplyTo {
    /// The capability this address carries, if any (sealed or not).
    pub fn capability(&self) -> Option<&str> {
        match self {
            ReplyTo::Slack { response_url, .. } => response_url.as_deref(),
            ReplyTo::Discord { token, .. } => {
                Some(token).filter(|t| !t.is_empty()).map(String::as_str)
            }
            ReplyTo::Telegram { .. } => None,
        }
    }

    fn capability_mut(&mut self) -> Option<&mut String> {
        match self {
            ReplyTo::Slack { response_url, .. } => response_url.as_mut(),
            ReplyTo::Discord { token, .. } => Some(token).filter(|t| !t.is_empty()),
            ReplyTo::Telegram { .. } => None,
        }
    }

    /// Puts `reference` in place of the capability; the capability, when there was an
    /// unsealed one to take.
    pub fn seal(&mut self, reference: &str) -> Option<String> {
        let c = self.capability_mut().filter(|c| !is_sealed(c))?;
        Some(std::mem::replace(c, reference.to_owned()))
    }

    /// The sealed reference this address carries, if any.
    pub fn sealed(&self) -> Option<&str> {
        self.capability().filter(|c| is_sealed(c))
    }

    /// Puts the capability back in place of its reference (`None`: it expired or was
    /// never ours). A Slack address then answers through the bot's own API instead; a
    /// Discord one keeps no token, so a follow-up cannot be sent ([`Self::capability`]
    /// is `None`).
    pub fn unseal(&mut self, capability: Option<String>) {
        match (self, capability) {
            (ReplyTo::Slack { response_url, .. }, c) => *response_url = c,
            (ReplyTo::Discord { token, .. }, c) => *token = c.unwrap_or_default(),
            (ReplyTo::Telegram { .. }, _) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack(url: Option<&str>) -> ReplyTo {
        ReplyTo::Slack {
            channel: "C1".into(),
            thread_ts: None,
            response_url: url.map(str::to_owned),
            message_ts: None,
        }
    }

    fn discord(token: &str) -> ReplyTo {
        ReplyTo::Discord {
            channel_id: "1".into(),
            application_id: "2".into(),
            token: token.into(),
            message_id: None,
        }
    }

    #[test]
    fn a_capability_is_sealed_once_and_unsealed_back() {
        let mut to = slack(Some("https://hooks.slack.com/commands/T1/2/abc"));
        assert_eq!(
            to.seal("cap_1").as_deref(),
            Some("https://hooks.slack.com/commands/T1/2/abc")
        );
        assert_eq!(to.sealed(), Some("cap_1"));
        assert_eq!(
            to.seal("cap_2"),
            None,
            "a sealed address is not sealed again"
        );
        to.unseal(Some("https://hooks.slack.com/commands/T1/2/abc".into()));
        assert_eq!(to, slack(Some("https://hooks.slack.com/commands/T1/2/abc")));

        let mut d = discord("aW50ZXJhY3Rpb246MTIz");
        assert_eq!(d.seal("cap_9").as_deref(), Some("aW50ZXJhY3Rpb246MTIz"));
        assert_eq!(d.sealed(), Some("cap_9"));
        d.unseal(None);
        assert_eq!(
            d.capability(),
            None,
            "an expired token is gone, not the reference"
        );
    }

    #[test]
    fn addresses_without_a_capability_are_left_alone() {
        let mut to = slack(None);
        assert_eq!(to.seal("cap_1"), None);
        assert_eq!(to, slack(None));
        let mut t = ReplyTo::Telegram {
            chat_id: 1,
            thread_id: None,
            message_id: None,
            callback_query_id: Some("q".into()),
        };
        assert_eq!(t.seal("cap_1"), None);
        assert!(!is_sealed("https://cap_x"));
        assert!(!is_sealed("cap_a/b"));
        assert!(is_sealed("cap_AbC12-_"));
    }
}
