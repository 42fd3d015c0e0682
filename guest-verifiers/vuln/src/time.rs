//! RFC 3339 timestamps and `maxAge` durations, without a date library.

use verifier_common::time::Rfc3339Error;

/// Parses a duration such as `30m`, `24h`, `7d`, `2w` or `1d12h` into seconds (units `s`, `m`,
/// `h`, `d`, `w`; at least one; the total must be positive).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            other => {
                return Err(format!(
                    "duration {text:?}: unknown unit {other:?} (use s, m, h, d or w)"
                ));
            }
        };
        if digits.is_empty() {
            return Err(format!(
                "duration {text:?}: unit {c:?} has no number before it"
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("duration {text:?}: number too large"))?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("duration {text:?} is too large"))?;
    }
    if !digits.is_empty() {
        return Err(format!(
            "duration {text:?}: number without a unit (use e.g. 24h or 7d)"
        ));
    }
    if total == 0 {
        return Err(format!("duration {text:?} must be positive"));
    }
    Ok(total)
}

/// Parses an RFC 3339 date-time (`2024-05-01T12:00:00Z`, `...T12:00:00.123+02:00`) into Unix
/// seconds (fractions dropped), with [`verifier_common::time::parse_rfc3339`]; the error reads
/// `"<text>" is not an RFC 3339 date-time: <why>`.
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    verifier_common::time::parse_rfc3339(text).map_err(|e| {
        let why = match e {
            Rfc3339Error::TooShort => "too short",
            Rfc3339Error::Layout {
                separators_ok: false,
                ..
            } => "expected YYYY-MM-DDTHH:MM:SS",
            Rfc3339Error::Layout { .. } | Rfc3339Error::OffsetDigits(_) => "expected digits",
            Rfc3339Error::NoSuchDate => "no such date",
            Rfc3339Error::NoSuchTime => "no such time",
            Rfc3339Error::EmptyFraction => "empty fraction",
            Rfc3339Error::BadEnd => "expected `Z` or an offset like +02:00",
            Rfc3339Error::OffsetRange => "bad offset",
        };
        format!("{text:?} is not an RFC 3339 date-time: {why}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert_eq!(parse_duration("7d").unwrap(), 604_800);
        assert_eq!(parse_duration("1d12h").unwrap(), 129_600);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("2w").unwrap(), 1_209_600);
        for bad in [
            "",
            "h",
            "24",
            "0h",
            "3y",
            "-1h",
            "99999999999999999999h",
            "1.5h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_and_their_error_messages() {
        assert_eq!(
            parse_rfc3339("2024-02-29T14:34:56.789+02:00"),
            Ok(1_709_210_096)
        );
        for (text, why) in [
            ("yesterday", "too short"),
            ("2024-01-01 00:00:00Z", "expected YYYY-MM-DDTHH:MM:SS"),
            ("abcd/01-01T00:00:00Z", "expected YYYY-MM-DDTHH:MM:SS"),
            ("2024-0a-01T00:00:00Z", "expected digits"),
            ("2024-01-01T00:00:00+0a:00", "expected digits"),
            ("2024-02-30T00:00:00Z", "no such date"),
            ("2024-01-01T24:00:00Z", "no such time"),
            ("2024-01-01T00:00:00.Z", "empty fraction"),
            (
                "2024-01-01T00:00:00+0200",
                "expected `Z` or an offset like +02:00",
            ),
            ("2024-01-01T00:00:00+24:00", "bad offset"),
        ] {
            assert_eq!(
                parse_rfc3339(text),
                Err(format!("{text:?} is not an RFC 3339 date-time: {why}"))
            );
        }
    }
}
