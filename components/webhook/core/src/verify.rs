//! Is this request really from the platform? One function per platform, each in
//! constant time over the secret material (RustCrypto's `hmac` with `subtle`,
//! `ed25519-dalek`), each naming what failed without echoing a secret.

use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far a signed timestamp may be from now (Slack's and Standard Webhooks' rule).
pub const TOLERANCE_SECS: i64 = 300;

/// Why a request was refused (every one is a 401, and nothing is stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("missing header {0}")]
    Missing(&'static str),
    #[error("malformed header {0}")]
    Malformed(&'static str),
    #[error("the signed timestamp is more than {TOLERANCE_SECS} s from now")]
    Stale,
    #[error("the signature does not match")]
    BadSignature,
}

/// A configured secret or key that cannot be used (a configuration error, found at
/// start-up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadSecret {
    #[error("a Telegram secret token is 1 to 256 characters of A-Z, a-z, 0-9, _ and -")]
    Telegram,
    #[error("a Discord public key is 64 hex digits (32 bytes) of a valid Ed25519 key")]
    DiscordKey,
    #[error("a signing secret must not be empty")]
    Empty,
    #[error("a Standard Webhooks secret is whsec_ and the base64 of 24 to 64 bytes")]
    Whsec,
}

fn timestamp(raw: Option<&str>, header: &'static str) -> Result<i64, Rejection> {
    raw.ok_or(Rejection::Missing(header))?
        .trim()
        .parse::<i64>()
        .map_err(|_| Rejection::Malformed(header))
}

fn fresh(ts: i64, now_s: i64) -> Result<(), Rejection> {
    match now_s.checked_sub(ts) {
        Some(d) if d.abs() <= TOLERANCE_SECS => Ok(()),
        _ => Err(Rejection::Stale),
    }
}

/// Slack: `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256 of
/// `v0:{X-Slack-Request-Timestamp}:{body}` under the app's signing secret; the
/// timestamp within [`TOLERANCE_SECS`] of `now_s`.
pub fn slack(
    signing_secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), Rejection> {
    const TS: &str = "X-Slack-Request-Timestamp";
    const SIG: &str = "X-Slack-Signature";
    let raw_ts = timestamp_header.ok_or(Rejection::Missing(TS))?;
    let ts = timestamp(Some(raw_ts), TS)?;
    let sig = signature_header.ok_or(Rejection::Missing(SIG))?;
    let given = sig
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(Rejection::Malformed(SIG))?;
    fresh(ts, now_s)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(signing_secret).map_err(|_| Rejection::BadSignature)?;
    mac.update(b"v0:");
    mac.update(raw_ts.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| Rejection::BadSignature)
}

/// What Slack would send for `body` at `timestamp` (for tests and the example).
pub fn slack_signature(signing_secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_secret).expect("HMAC takes any key");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `secret` is one Telegram's `setWebhook` accepts: 1 to 256 characters of
/// `A-Z a-z 0-9 _ -`.
pub fn telegram_secret(secret: &str) -> Result<(), BadSecret> {
    let ok = (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(BadSecret::Telegram) }
}

/// Telegram: `X-Telegram-Bot-Api-Secret-Token` is the secret given to `setWebhook`.
pub fn telegram(secret: &str, header: Option<&str>) -> Result<(), Rejection> {
    const H: &str = "X-Telegram-Bot-Api-Secret-Token";
    let given = header.ok_or(Rejection::Missing(H))?;
    // Equal lengths are compared in constant time; a length mismatch says only that.
    if given.len() == secret.len() && bool::from(given.as_bytes().ct_eq(secret.as_bytes())) {
        Ok(())
    } else {
        Err(Rejection::BadSignature)
    }
}

/// A Discord application's public key (hex, as the developer portal shows it).
#[derive(Debug, Clone)]
pub struct DiscordKey(VerifyingKey);

impl DiscordKey {
    pub fn parse(hex_key: &str) -> Result<DiscordKey, BadSecret> {
        let bytes: [u8; 32] = hex::decode(hex_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(BadSecret::DiscordKey)?;
        VerifyingKey::from_bytes(&bytes)
            .map(DiscordKey)
            .map_err(|_| BadSecret::DiscordKey)
    }
}

/// Discord: `X-Signature-Ed25519` (hex) is the application's Ed25519 signature of
/// `X-Signature-Timestamp` followed by the body. Discord sends bad ones on purpose.
pub fn discord(
    key: &DiscordKey,
    signature_header: Option<&str>,
    timestamp_header: Option<&str>,
    body: &[u8],
) -> Result<(), Rejection> {
    const SIG: &str = "X-Signature-Ed25519";
    const TS: &str = "X-Signature-Timestamp";
    let sig = signature_header.ok_or(Rejection::Missing(SIG))?;
    let ts = timestamp_header.ok_or(Rejection::Missing(TS))?;
    let bytes: [u8; 64] = hex::decode(sig.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(Rejection::Malformed(SIG))?;
    let signature = Signature::from_bytes(&bytes);
    let mut message = Vec::with_capacity(ts.len() + body.len());
    message.extend_from_slice(ts.as_bytes());
    message.extend_from_slice(body);
    key.0
        .verify_strict(&message, &signature)
        .map_err(|_| Rejection::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    /// Slack's own example (api.slack.com, "Verifying requests from Slack").
    #[test]
    fn slacks_documented_example_verifies() {
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let ts = "1531420618";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(
            slack(secret, Some(ts), Some(sig), body, 1531420618 + 10),
            Ok(())
        );
        assert_eq!(slack_signature(secret, 1531420618, body), sig);
        assert_eq!(
            slack(secret, Some(ts), Some(sig), body, 1531420618 + 301),
            Err(Rejection::Stale)
        );
        let mut tampered = body.to_vec();
        tampered[0] ^= 1;
        assert_eq!(
            slack(secret, Some(ts), Some(sig), &tampered, 1531420618),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            slack(b"other", Some(ts), Some(sig), body, 1531420618),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            slack(secret, None, Some(sig), body, 0),
            Err(Rejection::Missing("X-Slack-Request-Timestamp"))
        );
        assert_eq!(
            slack(secret, Some(ts), Some("v1=00"), body, 1531420618),
            Err(Rejection::Malformed("X-Slack-Signature"))
        );
        assert_eq!(
            slack(secret, Some("soon"), Some(sig), body, 1531420618),
            Err(Rejection::Malformed("X-Slack-Request-Timestamp"))
        );
        // A timestamp far out of range is stale, not an overflow.
        assert_eq!(
            slack(
                secret,
                Some(&i64::MIN.to_string()),
                Some(sig),
                body,
                i64::MAX
            ),
            Err(Rejection::Stale)
        );
    }

    #[test]
    fn telegram_compares_the_secret_token() {
        assert_eq!(telegram("s3cret_-X", Some("s3cret_-X")), Ok(()));
        assert_eq!(
            telegram("s3cret", Some("s3creT")),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            telegram("s3cret", Some("s3cret ")),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            telegram("s3cret", None),
            Err(Rejection::Missing("X-Telegram-Bot-Api-Secret-Token"))
        );
        assert!(telegram_secret("abc_DEF-123").is_ok());
        for bad in ["", "with space", "ünï", &"a".repeat(257), "semi;colon"] {
            assert_eq!(telegram_secret(bad), Err(BadSecret::Telegram), "{bad:?}");
        }
        assert!(telegram_secret(&"a".repeat(256)).is_ok());
    }

    #[test]
    fn discord_checks_the_ed25519_signature() {
        let signing = SigningKey::from_bytes(&[7u8; 32]);
        let key = DiscordKey::parse(&hex::encode(signing.verifying_key().to_bytes())).unwrap();
        let body = br#"{"type":1}"#;
        let ts = "1700000000";
        let mut msg = ts.as_bytes().to_vec();
        msg.extend_from_slice(body);
        let sig = hex::encode(signing.sign(&msg).to_bytes());
        assert_eq!(discord(&key, Some(&sig), Some(ts), body), Ok(()));
        assert_eq!(
            discord(&key, Some(&sig), Some("1700000001"), body),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            discord(&key, Some(&sig), Some(ts), br#"{"type":2}"#),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            discord(&key, Some("abcd"), Some(ts), body),
            Err(Rejection::Malformed("X-Signature-Ed25519"))
        );
        assert_eq!(
            discord(&key, None, Some(ts), body),
            Err(Rejection::Missing("X-Signature-Ed25519"))
        );
        // Discord's probe: a well-formed signature by another key.
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let forged = hex::encode(other.sign(&msg).to_bytes());
        assert_eq!(
            discord(&key, Some(&forged), Some(ts), body),
            Err(Rejection::BadSignature)
        );
        assert_eq!(DiscordKey::parse("zz").unwrap_err(), BadSecret::DiscordKey);
    }
}
