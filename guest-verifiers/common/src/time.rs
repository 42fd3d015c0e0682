//! RFC 3339 timestamps (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.5+02:00`) to and from Unix
//! seconds, without a date library, and the wall clock.
//!
//! [`parse_rfc3339`] returns a structured [`Rfc3339Error`] so that each verifier words its
//! messages as it always has; its [`Display`](fmt::Display) is a short reason such as
//! `bad month` or `no such date`.

use std::fmt;

/// A numeric field of an RFC 3339 date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `YYYY`.
    Year,
    /// `MM` of the date.
    Month,
    /// `DD`.
    Day,
    /// `HH` of the time.
    Hour,
    /// `MM` of the time.
    Minute,
    /// `SS`.
    Second,
    /// `HH` of a `±HH:MM` offset.
    OffsetHours,
    /// `MM` of a `±HH:MM` offset.
    OffsetMinutes,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Year => "year",
            Field::Month => "month",
            Field::Day => "day",
            Field::Hour => "hour",
            Field::Minute => "minute",
            Field::Second => "second",
            Field::OffsetHours => "offset hours",
            Field::OffsetMinutes => "offset minutes",
        })
    }
}

/// Why a text is not an RFC 3339 date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rfc3339Error {
    /// Shorter than `YYYY-MM-DDTHH:MM:SSZ`.
    TooShort,
    /// The `YYYY-MM-DDTHH:MM:SS` part is malformed: `not_digits` is the first of its fields that
    /// is not all digits (if any), `separators_ok` whether the `-`, `T` and `:` are in place. At
    /// least one of the two is wrong.
    Layout {
        /// The first date or time field that is not all digits.
        not_digits: Option<Field>,
        /// Whether every separator is in place.
        separators_ok: bool,
    },
    /// A month outside 1–12 or a day the month does not have.
    NoSuchDate,
    /// An hour over 23, a minute over 59 or a second over 60 (a leap second).
    NoSuchTime,
    /// A `.` with no digits after it.
    EmptyFraction,
    /// The text does not end with `Z` or a `±HH:MM` offset.
    BadEnd,
    /// A field of the `±HH:MM` offset is not two digits.
    OffsetDigits(Field),
    /// Offset hours over 23 or minutes over 59.
    OffsetRange,
}

impl fmt::Display for Rfc3339Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rfc3339Error::TooShort => f.write_str("too short"),
            Rfc3339Error::Layout {
                not_digits: Some(field),
                ..
            }
            | Rfc3339Error::OffsetDigits(field) => write!(f, "bad {field}"),
            Rfc3339Error::Layout {
                not_digits: None, ..
            } => f.write_str("expected YYYY-MM-DDTHH:MM:SS"),
            Rfc3339Error::NoSuchDate => f.write_str("no such date"),
            Rfc3339Error::NoSuchTime => f.write_str("no such time of day"),
            Rfc3339Error::EmptyFraction => f.write_str("empty fraction of a second"),
            Rfc3339Error::BadEnd => f.write_str("expected `Z` or a `±HH:MM` offset at the end"),
            Rfc3339Error::OffsetRange => f.write_str("offset out of range"),
        }
    }
}

impl std::error::Error for Rfc3339Error {}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Parses `n` ASCII digits at `pos` of `s`.
fn digits(s: &[u8], pos: usize, n: usize) -> Option<i64> {
    let part = s.get(pos..pos + n)?;
    part.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// Parses an RFC 3339 date-time into Unix seconds. `T`/`Z` may be lower case, a leap second
/// (`:60`) folds into the next minute and fractions of a second are dropped.
pub fn parse_rfc3339(text: &str) -> Result<i64, Rfc3339Error> {
    let s = text.as_bytes();
    if s.len() < 20 {
        return Err(Rfc3339Error::TooShort);
    }
    let fields = [
        (0, Field::Year, 4),
        (5, Field::Month, 2),
        (8, Field::Day, 2),
        (11, Field::Hour, 2),
        (14, Field::Minute, 2),
        (17, Field::Second, 2),
    ];
    let mut values = [0i64; 6];
    let mut not_digits = None;
    for (value, &(pos, field, n)) in values.iter_mut().zip(&fields) {
        match digits(s, pos, n) {
            Some(v) => *value = v,
            None => {
                not_digits = Some(field);
                break;
            }
        }
    }
    let separators_ok = s[4] == b'-'
        && s[7] == b'-'
        && matches!(s[10], b'T' | b't')
        && s[13] == b':'
        && s[16] == b':';
    if not_digits.is_some() || !separators_ok {
        return Err(Rfc3339Error::Layout {
            not_digits,
            separators_ok,
        });
    }
    let [year, month, day, hour, minute, second] = values;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(Rfc3339Error::NoSuchDate);
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(Rfc3339Error::NoSuchTime);
    }
    let mut pos = 19;
    if s[pos] == b'.' {
        let fraction = s[pos + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if fraction == 0 {
            return Err(Rfc3339Error::EmptyFraction);
        }
        pos += 1 + fraction;
    }
    let offset = match s.get(pos) {
        Some(b'Z' | b'z') if pos + 1 == s.len() => 0,
        Some(&sign @ (b'+' | b'-')) if pos + 6 == s.len() && s[pos + 3] == b':' => {
            let h = digits(s, pos + 1, 2).ok_or(Rfc3339Error::OffsetDigits(Field::OffsetHours))?;
            let m =
                digits(s, pos + 4, 2).ok_or(Rfc3339Error::OffsetDigits(Field::OffsetMinutes))?;
            if h > 23 || m > 59 {
                return Err(Rfc3339Error::OffsetRange);
            }
            let off = h * 3600 + m * 60;
            if sign == b'+' { off } else { -off }
        }
        _ => return Err(Rfc3339Error::BadEnd),
    };
    let days = days_from_civil(year, month, day);
    Ok(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Formats Unix seconds as an RFC 3339 UTC date-time (`2024-05-01T12:00:00Z`).
pub fn format_rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The current time in Unix seconds from the wall clock (WASI's in a guest); 0 if the clock is
/// before 1970.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_offsets_and_fractions() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2024-02-29T12:34:56Z"), Ok(1_709_210_096));
        assert_eq!(
            parse_rfc3339("2024-02-29T14:34:56.789+02:00"),
            Ok(1_709_210_096)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T10:04:56-02:30"),
            Ok(1_709_210_096)
        );
        assert_eq!(parse_rfc3339("2024-02-29t12:34:56z"), Ok(1_709_210_096));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Ok(-1));
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2017-01-01T00:00:00Z"),
            "a leap second folds into the next minute"
        );
    }

    #[test]
    fn rejects_malformed_times_with_the_reason() {
        use Rfc3339Error::*;
        for (text, want) in [
            ("", TooShort),
            ("yesterday", TooShort),
            ("2024-02-30T00:00:00Z", NoSuchDate),
            ("2023-02-29T00:00:00Z", NoSuchDate),
            ("2024-13-01T00:00:00Z", NoSuchDate),
            ("2024-01-01T24:00:00Z", NoSuchTime),
            ("2024-01-01T00:00:00", TooShort),
            ("2024-01-01T00:00:00.Z", EmptyFraction),
            ("2024-01-01T00:00:00+0100", BadEnd),
            ("2024-01-01T00:00:00Zjunk", BadEnd),
            (
                "2024-01-01T00:00:00+1a:00",
                OffsetDigits(Field::OffsetHours),
            ),
            (
                "2024-01-01T00:00:00+01:0b",
                OffsetDigits(Field::OffsetMinutes),
            ),
            ("2024-01-01T00:00:00+24:00", OffsetRange),
            (
                "2024-01-01 00:00:00Z",
                Layout {
                    not_digits: None,
                    separators_ok: false,
                },
            ),
            (
                "2024-0a-01T00:00:00Z",
                Layout {
                    not_digits: Some(Field::Month),
                    separators_ok: true,
                },
            ),
            (
                "2024-01-01T00:5x:00Z",
                Layout {
                    not_digits: Some(Field::Minute),
                    separators_ok: true,
                },
            ),
            (
                "abcd/01-01T00:00:00Z",
                Layout {
                    not_digits: Some(Field::Year),
                    separators_ok: false,
                },
            ),
        ] {
            assert_eq!(parse_rfc3339(text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn errors_read_as_short_reasons() {
        let e = parse_rfc3339("2024-0a-01T00:00:00Z").unwrap_err();
        assert_eq!(e.to_string(), "bad month");
        let e = parse_rfc3339("2024-01-01T00:00:00+01:0b").unwrap_err();
        assert_eq!(e.to_string(), "bad offset minutes");
        let e = parse_rfc3339("2024-01-01 00:00:00Z").unwrap_err();
        assert_eq!(e.to_string(), "expected YYYY-MM-DDTHH:MM:SS");
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        for t in [-86_401, -1, 0, 951_782_400, 1_709_210_096, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Ok(t));
        }
    }

    #[test]
    fn the_clock_is_after_2020() {
        assert!(now_unix() > parse_rfc3339("2020-01-01T00:00:00Z").unwrap());
    }
}
