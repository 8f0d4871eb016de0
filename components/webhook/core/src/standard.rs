//! Standard Webhooks (the spec svix and its libraries implement): how dispatch signs
//! what it sends to the agency gateway, and how a receiver checks it. Headers
//! `webhook-id`, `webhook-timestamp`, `webhook-signature`; the signed content is
//! `{id}.{timestamp}.{body}`; the signature `v1,` and the base64 HMAC-SHA256 under the
//! secret's bytes (the secret is written `whsec_` and their base64).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::verify::{BadSecret, Rejection, TOLERANCE_SECS};

/// A Standard Webhooks signing secret.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// `whsec_` and the base64 of 24 to 64 bytes.
    pub fn parse(text: &str) -> Result<Secret, BadSecret> {
        let b64 = text.trim().strip_prefix("whsec_").ok_or(BadSecret::Whsec)?;
        let bytes = STANDARD.decode(b64).map_err(|_| BadSecret::Whsec)?;
        if (24..=64).contains(&bytes.len()) {
            Ok(Secret(bytes))
        } else {
            Err(BadSecret::Whsec)
        }
    }

    /// The secret's text form.
    pub fn to_text(&self) -> String {
        format!("whsec_{}", STANDARD.encode(&self.0))
    }

    /// A secret from random bytes (24 to 64 of them).
    pub fn from_bytes(bytes: &[u8]) -> Result<Secret, BadSecret> {
        if (24..=64).contains(&bytes.len()) {
            Ok(Secret(bytes.to_vec()))
        } else {
            Err(BadSecret::Whsec)
        }
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header for `body` sent as message `id` at `timestamp`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Checks a delivery as a receiver does: the timestamp within [`TOLERANCE_SECS`]
    /// of `now_s`, and one of the (space-separated) `v1` signatures matching.
    pub fn verify(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signatures: Option<&str>,
        body: &[u8],
        now_s: i64,
    ) -> Result<(), Rejection> {
        let id = id.ok_or(Rejection::Missing("webhook-id"))?;
        let ts: i64 = timestamp
            .ok_or(Rejection::Missing("webhook-timestamp"))?
            .trim()
            .parse()
            .map_err(|_| Rejection::Malformed("webhook-timestamp"))?;
        let signatures = signatures.ok_or(Rejection::Missing("webhook-signature"))?;
        match now_s.checked_sub(ts) {
            Some(d) if d.abs() <= TOLERANCE_SECS => {}
            _ => return Err(Rejection::Stale),
        }
        let mac = self.mac(id, ts, body);
        let matched = signatures
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|b64| STANDARD.decode(b64).ok())
            .any(|tag| mac.clone().verify_slice(&tag).is_ok());
        if matched {
            Ok(())
        } else {
            Err(Rejection::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's example (standard-webhooks, "Verifying webhooks": the svix test
    /// vector).
    #[test]
    fn the_specs_example_signs_and_verifies() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let ts = 1614265330;
        let body = br#"{"test": 2432232314}"#;
        let sig = secret.sign(id, ts, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let ok = |sigs: &str, now: i64| {
            secret.verify(Some(id), Some(&ts.to_string()), Some(sigs), body, now)
        };
        assert_eq!(ok(&sig, ts), Ok(()));
        assert_eq!(
            ok(&format!("v1,bm9wZQ== {sig}"), ts),
            Ok(()),
            "key rotation"
        );
        assert_eq!(ok(&sig, ts + 301), Err(Rejection::Stale));
        assert_eq!(ok("v1,bm9wZQ==", ts), Err(Rejection::BadSignature));
        assert_eq!(secret.to_text(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_!!",
            "whsec_c2hvcnQ=",
        ] {
            assert!(Secret::parse(bad).is_err(), "{bad}");
        }
    }
}
