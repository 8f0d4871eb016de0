//! The arithmetic of the webhook service's two clocks, without a clock: the token
//! bucket each source's deliveries draw from (over it: 429 with `Retry-After`), and the
//! retry schedule of a dispatch to the gateway (exponential steps with full jitter, then
//! a dead letter).

use serde::{Deserialize, Serialize};

/// A token bucket's settings: `burst` tokens at most, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for Rate {
    /// Slack's own limit for events is 30,000 per workspace per hour; a source that
    /// sends more than 50 a second for long is misbehaving.
    fn default() -> Self {
        Rate {
            per_second: 50.0,
            burst: 200.0,
        }
    }
}

/// One source's bucket: tokens left at `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub tokens: f64,
    pub at_ms: i64,
}

impl Bucket {
    /// A full bucket.
    pub fn full(rate: Rate, now_ms: i64) -> Bucket {
        Bucket {
            tokens: rate.burst,
            at_ms: now_ms,
        }
    }

    /// Takes a token at `now_ms`: the bucket after, or how many whole seconds until a
    /// token is there (at least 1: `Retry-After` counts seconds).
    pub fn take(self, rate: Rate, now_ms: i64) -> Result<Bucket, u64> {
        let elapsed = (now_ms.saturating_sub(self.at_ms)).max(0) as f64 / 1000.0;
        let tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        if tokens >= 1.0 {
            return Ok(Bucket {
                tokens: tokens - 1.0,
                at_ms: now_ms.max(self.at_ms),
            });
        }
        if rate.per_second <= 0.0 {
            return Err(u64::MAX);
        }
        let wait = ((1.0 - tokens) / rate.per_second).ceil();
        Err((wait as u64).max(1))
    }
}

/// Delays between dispatch attempts: svix's schedule (5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h), after the first attempt.
pub const DEFAULT_SCHEDULE_SECS: &[u64] = &[5, 300, 1_800, 7_200, 18_000, 36_000];

/// When to try again after failed attempt number `attempt` (1 for the first): a delay
/// drawn uniformly from 0 to the schedule's step (full jitter, from `unit` in [0, 1)),
/// never shorter than the receiver's `Retry-After`; `None` when the schedule is spent
/// (a dead letter).
pub fn retry_after(
    schedule_secs: &[u64],
    attempt: u32,
    unit: f64,
    retry_after_secs: Option<u64>,
) -> Option<u64> {
    let step = *schedule_secs.get(usize::try_from(attempt).ok()?.checked_sub(1)?)?;
    let jittered = (step as f64 * unit.clamp(0.0, 1.0)).floor() as u64;
    Some(jittered.max(retry_after_secs.unwrap_or(0)).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_and_caps_at_its_burst() {
        let rate = Rate {
            per_second: 2.0,
            burst: 3.0,
        };
        let mut b = Bucket::full(rate, 0);
        for _ in 0..3 {
            b = b.take(rate, 0).unwrap();
        }
        // Empty: the next token is half a second away, which Retry-After says as 1 s.
        assert_eq!(b.take(rate, 0), Err(1));
        let b = b.take(rate, 500).unwrap();
        assert!(b.tokens.abs() < 1e-9);
        // An hour idle refills to the burst, not beyond.
        let b = b.take(rate, 3_600_000).unwrap();
        assert_eq!(b.tokens, 2.0);
        // A clock that steps back takes nothing for free.
        let b = Bucket {
            tokens: 0.0,
            at_ms: 10_000,
        };
        assert_eq!(b.take(rate, 0), Err(1));
        let slow = Rate {
            per_second: 0.1,
            burst: 1.0,
        };
        assert_eq!(
            Bucket {
                tokens: 0.0,
                at_ms: 0
            }
            .take(slow, 0),
            Err(10)
        );
        let closed = Rate {
            per_second: 0.0,
            burst: 0.0,
        };
        assert!(Bucket::full(closed, 0).take(closed, 0).is_err());
    }

    #[test]
    fn retries_follow_the_schedule_with_full_jitter() {
        let s = DEFAULT_SCHEDULE_SECS;
        assert_eq!(retry_after(s, 1, 0.999_999, None), Some(4));
        assert_eq!(retry_after(s, 2, 0.5, None), Some(150));
        assert_eq!(retry_after(s, 6, 0.0, None), Some(1), "never zero");
        assert_eq!(
            retry_after(s, 3, 0.1, Some(600)),
            Some(600),
            "Retry-After wins"
        );
        assert_eq!(retry_after(s, 7, 0.5, None), None, "then a dead letter");
        assert_eq!(retry_after(s, 0, 0.5, None), None);
        assert_eq!(retry_after(&[], 1, 0.5, None), None);
    }
}
