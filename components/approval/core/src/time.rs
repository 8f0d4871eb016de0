//! Budget periods from Unix milliseconds (UTC): "2026-11-25" and "2026-11".

/// (year, month, day) in UTC of Unix milliseconds (Howard Hinnant's civil-from-days).
pub fn civil(ms: i64) -> (i64, u32, u32) {
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The daily budget period containing `ms`.
pub fn day_key(ms: i64) -> String {
    let (y, m, d) = civil(ms);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The monthly budget period containing `ms`.
pub fn month_key(ms: i64) -> String {
    let (y, m, _) = civil(ms);
    format!("{y:04}-{m:02}")
}

/// RFC 3339 UTC timestamp with milliseconds of Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(ms);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds in a duration as people write it: `90` (seconds), `30m`, `2h`, `1d`, `1w`,
/// or in words: `30 minutes`, `1 hour`, `an hour`, `2 days`, `a week`. Zero and
/// anything else: `None`.
pub fn duration_secs(text: &str) -> Option<u64> {
    let s = text.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = match num {
        "" => match unit.split_once(' ') {
            Some(("a" | "an" | "one", _)) => 1,
            _ => return None,
        },
        n => n.parse().ok().filter(|n| *n > 0)?,
    };
    let unit = match unit.trim() {
        u if num.is_empty() => u.split_once(' ').map_or("", |(_, u)| u.trim()),
        u => u,
    };
    let mult = match unit {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => return None,
    };
    if num.is_empty() && mult == 1 && unit.is_empty() {
        return None;
    }
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, want) in [
            ("90", Some(90)),
            ("30m", Some(1800)),
            ("2h", Some(7200)),
            (" 1d ", Some(86_400)),
            ("1w", Some(604_800)),
            ("1 hour", Some(3600)),
            ("an hour", Some(3600)),
            ("2 Hours", Some(7200)),
            ("30 minutes", Some(1800)),
            ("a day", Some(86_400)),
            ("0", None),
            ("0h", None),
            ("h", None),
            ("an", None),
            ("2 fortnights", None),
            ("", None),
            ("99999999999999999999d", None),
        ] {
            assert_eq!(duration_secs(text), want, "{text:?}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
    }

    #[test]
    fn periods() {
        assert_eq!(day_key(0), "1970-01-01");
        assert_eq!(month_key(0), "1970-01");
        assert_eq!(day_key(1_795_000_000_123), "2026-11-18");
        assert_eq!(day_key(951_782_400_000), "2000-02-29");
    }
}
