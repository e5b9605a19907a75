//! Times of `masq lookup --at` and of syslog lines: RFC 3339 (the
//! timestamp masq's syslog lines carry, any offset) and seconds since the
//! epoch, as milliseconds since the epoch.

/// Milliseconds since the Unix epoch.
pub type Ms = u64;

/// Days from 1970-01-01 to the civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)` as milliseconds since
/// the epoch; None when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<Ms> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let sep = |i: usize, c: &[u8]| c.contains(&b[i]);
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0u64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() {
            return None;
        }
        let mut digits = frac.bytes().map(|c| u64::from(c - b'0')).chain([0, 0, 0]);
        for _ in 0..3 {
            ms = ms * 10 + digits.next().unwrap_or(0);
        }
    }
    let offset_s: i64 = match &s[i..] {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            let v = i64::from(oh * 3600 + om * 60);
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86400 + i64::from(h * 3600 + mi * 60 + sec.min(59)) - offset_s;
    u64::try_from(secs).ok().map(|s| s * 1000 + ms)
}

/// `--at`: RFC 3339, or seconds since the epoch.
pub fn parse_at(s: &str) -> Result<Ms, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return secs
            .checked_mul(1000)
            .ok_or_else(|| format!("--at {s}: too far in the future"));
    }
    parse_rfc3339(s).ok_or_else(|| {
        format!("--at {s}: give RFC 3339 (2026-12-03T10:00:05Z) or seconds since the epoch")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::rfc3339;

    const T0: &str = "2026-12-03T10:00:05.000Z";

    fn at(s: &str) -> Ms {
        parse_at(s).unwrap()
    }

    #[test]
    fn times_parse_both_ways() {
        assert_eq!(at("1796292005"), at(T0));
        assert_eq!(rfc3339(at(T0)), T0);
        assert_eq!(at("2026-12-03T11:00:05.250+01:00"), at(T0) + 250);
        assert_eq!(at("2026-12-03T10:00:05.123456Z"), at(T0) + 123);
        assert_eq!(at("2000-02-29T00:00:00Z"), 951_782_400_000);
        for bad in [
            "",
            "yesterday",
            "2026-13-03T10:00:05Z",
            "2026-12-03T10:00:05",
            "2026-12-03T10:00:05.Z",
        ] {
            assert!(parse_at(bad).is_err(), "{bad}");
        }
    }

    /// The parser here and the syslog formatter agree on the calendar:
    /// every day from 1970 to 2100 (leap days, month and year ends).
    #[test]
    fn the_parser_reads_what_syslog_writes() {
        let day = 86_400_000;
        for d in 0..47_847u64 {
            let ms = d * day + (d * 7_919_123) % day;
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms), "{}", rfc3339(ms));
        }
    }
}
