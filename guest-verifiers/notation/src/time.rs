//! RFC 3339 timestamps (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.5+02:00`) to and from Unix
//! seconds, on [`verifier_common::time`]. Fractional seconds are accepted and truncated.

pub use verifier_common::time::format_rfc3339;

/// Parses an RFC 3339 date-time into Unix seconds; the error reads
/// `` `<text>` is not an RFC 3339 date-time: <why> ``.
pub fn parse_rfc3339(text: &str) -> Result<i64, String> {
    verifier_common::time::parse_rfc3339(text)
        .map_err(|why| format!("`{text}` is not an RFC 3339 date-time: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_words_errors() {
        assert_eq!(
            parse_rfc3339("2024-02-29T11:34:56-01:00"),
            Ok(1_709_210_096)
        );
        for (text, why) in [
            ("", "too short"),
            ("2024-0a-01T00:00:00Z", "bad month"),
            ("abcd/01-01T00:00:00Z", "bad year"),
            ("2024-01-01 00:00:00Z", "expected YYYY-MM-DDTHH:MM:SS"),
            ("2023-02-29T00:00:00Z", "no such date"),
            ("2024-01-01T24:00:00Z", "no such time of day"),
            ("2024-01-01T00:00:00.Z", "empty fraction of a second"),
            ("2024-01-01T00:00:00+0a:00", "bad offset hours"),
            ("2024-01-01T00:00:00+01:0b", "bad offset minutes"),
            ("2024-01-01T00:00:00+24:00", "offset out of range"),
            (
                "2024-01-01T00:00:00Zjunk",
                "expected `Z` or a `±HH:MM` offset at the end",
            ),
        ] {
            assert_eq!(
                parse_rfc3339(text),
                Err(format!("`{text}` is not an RFC 3339 date-time: {why}"))
            );
        }
        assert_eq!(format_rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    }
}
