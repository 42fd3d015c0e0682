//! Pieces of the JSON configurations the verifiers share: the top-level object with its known
//! keys, and positive integer settings such as `maxBlobBytes`.
//!
//! Every error is a message naming the offending key, ready for `check-config`.

use serde_json::{Map, Value};

/// Parses `text` as a JSON object whose keys are all among `keys`.
///
/// Errors: `config is not JSON: …`, `config must be a JSON object`, and
/// ``unknown config key `k` (expected one of a, b, …)``.
pub fn parse_object(text: &str, keys: &[&str]) -> Result<Map<String, Value>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("config is not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("config must be a JSON object".into());
    };
    if let Some(k) = map.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(format!(
            "unknown config key `{k}` (expected one of {})",
            keys.join(", ")
        ));
    }
    Ok(map)
}

/// Like [`parse_object`], but an empty (or blank) text is the empty object `{}`.
pub fn parse_object_or_empty(text: &str, keys: &[&str]) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        Ok(Map::new())
    } else {
        parse_object(text, keys)
    }
}

/// The positive integer at `key`, if present; anything else there (0, negative, fraction, not a
/// number) is an error ``…`key` must be a positive integer, got …``.
pub fn positive_u64(map: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!("`{key}` must be a positive integer, got {v}")),
        },
    }
}

/// [`positive_u64`] as a `usize` (a count), saturating where `usize` is narrower than `u64`.
pub fn positive_usize(map: &Map<String, Value>, key: &str) -> Result<Option<usize>, String> {
    Ok(positive_u64(map, key)?.map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
}

/// Whether `s`, found where PEM text (or other inline material) is expected, looks like a file
/// path instead: one line, no PEM armour, and a `/` or a file extension usual for keys and
/// certificates, or a rooted or relative path. Used to answer "looks like a file path; use …File" rather than "no PEM block".
pub fn looks_like_path(s: &str) -> bool {
    let s = s.trim();
    if s.is_empty() || s.len() > 4096 || s.contains('\n') || s.contains("-----") {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let ext = [".pub", ".pem", ".crt", ".cer", ".der", ".key", ".json"]
        .iter()
        .any(|e| lower.ends_with(e));
    // Base64 (a key without its armour) has `/` but never `.`: a bare `/` is not enough.
    let rooted = ["/", "./", "../", "~/"].iter().any(|p| s.starts_with(p));
    let dotted_file = s.rsplit('/').next().is_some_and(|last| last.contains('.'));
    !s.contains(' ') && (ext || rooted || (s.contains('/') && dotted_file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_told_from_inline_material() {
        for p in [
            "cosign.pub",
            "keys/release.pem",
            "/etc/notation",
            "./root.crt",
            "trusted_root.json",
        ] {
            assert!(looks_like_path(p), "{p}");
        }
        for t in [
            "",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/x+Yz",
            "not a key at all",
        ] {
            assert!(!looks_like_path(t), "{t}");
        }
    }

    const KEYS: [&str; 2] = ["maxBlobBytes", "mode"];

    #[test]
    fn objects_with_known_keys_parse() {
        let m = parse_object(r#"{"maxBlobBytes": 3, "mode": "x"}"#, &KEYS).unwrap();
        assert_eq!(m.len(), 2);
        assert!(parse_object("{}", &KEYS).unwrap().is_empty());
        assert!(parse_object_or_empty(" \n", &KEYS).unwrap().is_empty());
        assert_eq!(
            parse_object_or_empty(r#"{"mode": 1}"#, &KEYS)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn bad_objects_name_the_problem() {
        for (text, want) in [
            ("", "config is not JSON: "),
            ("{", "config is not JSON: "),
            ("[]", "config must be a JSON object"),
            (
                r#"{"mode": 1, "modes": 2}"#,
                "unknown config key `modes` (expected one of maxBlobBytes, mode)",
            ),
        ] {
            let e = parse_object(text, &KEYS).unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
        assert!(
            parse_object_or_empty("[1]", &KEYS)
                .unwrap_err()
                .contains("JSON object")
        );
    }

    #[test]
    fn positive_integers() {
        let m = parse_object(
            r#"{"a": 8, "b": 0, "c": -1, "d": 1.5, "e": "9"}"#,
            &["a", "b", "c", "d", "e"],
        )
        .unwrap();
        assert_eq!(positive_u64(&m, "a"), Ok(Some(8)));
        assert_eq!(positive_usize(&m, "a"), Ok(Some(8)));
        assert_eq!(positive_u64(&m, "absent"), Ok(None));
        assert_eq!(positive_usize(&m, "absent"), Ok(None));
        assert_eq!(
            positive_u64(&m, "b"),
            Err("`b` must be a positive integer, got 0".into())
        );
        for key in ["c", "d", "e"] {
            assert!(
                positive_usize(&m, key)
                    .unwrap_err()
                    .contains("positive integer"),
                "{key}"
            );
        }
    }
}
