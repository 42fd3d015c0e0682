//! Media type comparison.

/// The essence of a media type: before any `;` parameter, trimmed, lower case
/// (`Application/JSON; charset=utf-8` → `application/json`).
pub fn essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_parameters_and_case() {
        assert_eq!(
            essence("Application/JSON; charset=utf-8"),
            "application/json"
        );
        assert_eq!(
            essence(" application/vnd.cyclonedx+json;version=1.5"),
            "application/vnd.cyclonedx+json"
        );
        assert_eq!(essence("a/b"), "a/b");
        assert_eq!(essence(""), "");
    }
}
