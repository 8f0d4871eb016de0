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

/// Unix milliseconds of a day (`2026-11-25`, its start in UTC) or an RFC 3339
/// timestamp (`2026-11-25T10:00:00Z`, `2026-11-25T10:00:00.250+01:00`); `None` for
/// anything else, an impossible date included. The inverse of [`rfc3339`].
pub fn parse_instant(text: &str) -> Option<i64> {
    let t = text.trim();
    let num = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, rest) = match t.find(['T', 't', ' ']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mut parts = date.split('-');
    let (y, m, d) = (
        parts.next().filter(|p| p.len() == 4).and_then(num)?,
        parts.next().filter(|p| p.len() == 2).and_then(num)?,
        parts.next().filter(|p| p.len() == 2).and_then(num)?,
    );
    if parts.next().is_some() || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let day_ms = days_from_civil(y, m, d) * 86_400_000;
    let Some(rest) = rest else {
        return Some(day_ms);
    };
    // hh:mm:ss, an optional fraction, then Z or an offset.
    let zone_at = rest.find(['Z', 'z', '+', '-'])?;
    let (clock, zone) = rest.split_at(zone_at);
    let (hms, frac) = match clock.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (clock, None),
    };
    let mut hms = hms.split(':');
    let (h, mi, s) = (
        hms.next().filter(|p| p.len() == 2).and_then(num)?,
        hms.next().filter(|p| p.len() == 2).and_then(num)?,
        hms.next().filter(|p| p.len() == 2).and_then(num)?,
    );
    if hms.next().is_some() || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let millis = match frac {
        None => 0,
        Some(f) => {
            num(f)?;
            let three: String = f.chars().chain("000".chars()).take(3).collect();
            three.parse::<i64>().ok()?
        }
    };
    let offset_min = match zone {
        "Z" | "z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let (oh, om) = z[1..].split_once(':')?;
            let (oh, om) = (
                Some(oh).filter(|p| p.len() == 2).and_then(num)?,
                Some(om).filter(|p| p.len() == 2).and_then(num)?,
            );
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 60 + om)
        }
    };
    Some(day_ms + ((h * 60 + mi - offset_min) * 60 + s) * 1000 + millis)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    fn instants_read_back_what_rfc3339_writes() {
        for ms in [
            0,
            1_796_000_000_123,
            951_782_400_000,
            -1,
            253_402_300_799_000,
        ] {
            assert_eq!(parse_instant(&rfc3339(ms)), Some(ms), "{}", rfc3339(ms));
        }
        assert_eq!(
            parse_instant("2026-11-30"),
            Some(1_796_000_000_000 - 1_796_000_000_000 % 86_400_000)
        );
        assert_eq!(parse_instant("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_instant("1970-01-01T00:00:00.5Z"), Some(500));
        assert_eq!(parse_instant("1969-12-31T19:00:00-05:00"), Some(0));
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2026-02-29",
            "2026-1-01",
            "2026-01-01T25:00:00Z",
            "2026-01-01T10:00:00",
            "2026-01-01T10:00Z",
            "yesterday",
            "2026-01-01T10:00:00+1",
            "2026-01-01T10:00:00.x1Z",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad:?}");
        }
        assert_eq!(parse_instant("2024-02-29"), Some(1_709_164_800_000));
    }

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
