//! Timestamps and days in the admin API: RFC 3339 in, unix seconds stored, UTC days for
//! spend reports. Hand-written on the civil-date functions of `sluice_governance::period`
//! rather than pulling in a date crate for three functions.

use serde::Deserialize;
use sluice_governance::period::{civil_from_days, days_from_civil, days_in_month};

const DAY: i64 = 86_400;

/// A timestamp as clients may send it: unix seconds or an RFC 3339 string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Timestamp {
    Unix(i64),
    Text(String),
}

impl Timestamp {
    /// Unix seconds, or a message saying what is wrong.
    pub(crate) fn unix(&self) -> Result<i64, String> {
        match self {
            Timestamp::Unix(s) => Ok(*s),
            Timestamp::Text(t) => parse_rfc3339(t),
        }
    }
}

/// `2026-01-31T12:00:00Z`, `2026-01-31T12:00:00.5+02:00`, `2026-01-31 12:00:00z`:
/// RFC 3339's date-time, fractions dropped.
pub(crate) fn parse_rfc3339(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not an RFC 3339 timestamp such as 2026-01-31T12:00:00Z");
    let b = text.as_bytes();
    if b.len() < 20 || !text.is_ascii() {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let s = &text[range];
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return Err(bad());
            }
            let oh: i64 = rest[1..3].parse().map_err(|_| bad())?;
            let om: i64 = rest[4..6].parse().map_err(|_| bad())?;
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let sign = if rb[0] == b'-' { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
    };
    // A leap second reads as the next second.
    Ok(days_from_civil(y, mo, d) * DAY + h * 3600 + mi * 60 + s - offset)
}

/// `YYYY-MM-DD` of a UTC day number.
pub(crate) fn day_string(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of `YYYY-MM-DD`, checked.
pub(crate) fn parse_day(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let part = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (part(0..4)?, part(5..7)?, part(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Today's UTC day number.
pub(crate) fn today() -> i64 {
    sluice_store::sql::now_unix().div_euclid(DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2026-01-31T12:00:00Z"), Ok(1_769_860_800));
        assert_eq!(
            parse_rfc3339("2026-01-31T14:00:00.250+02:00"),
            Ok(1_769_860_800)
        );
        assert_eq!(
            parse_rfc3339("2026-01-31t11:30:00-00:30"),
            Ok(1_769_860_800)
        );
        for bad in [
            "2026-01-31",
            "2026-02-30T00:00:00Z",
            "2026-01-31T24:00:00Z",
            "2026-01-31T12:00:00",
            "2026-01-31T12:00:00+0200",
            "2026-01-31T12:00:00.Z",
            "２０２６-01-31T12:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn days() {
        assert_eq!(parse_day("1970-01-02"), Some(1));
        assert_eq!(day_string(1), "1970-01-02");
        assert_eq!(
            parse_day("2024-02-29").map(day_string).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(parse_day("2023-02-29"), None);
        assert_eq!(parse_day("2023-2-28"), None);
        assert_eq!(parse_day("+023-02-28"), None);
    }
}
