//! Building verdicts: passed and failed reports, and extension values.

use crate::{ExtensionValue, Report};

/// A passed report with `message` and `extensions`.
pub fn passed(message: String, extensions: Vec<(String, ExtensionValue)>) -> Report {
    Report {
        is_success: true,
        message,
        error_reason: None,
        extensions,
    }
}

/// A failed report with `reason` as its `errorReason` and no extensions.
pub fn failed(reason: &str, message: String) -> Report {
    failed_with(reason, message, Vec::new())
}

/// A failed report with `reason` as its `errorReason` and `extensions`.
pub fn failed_with(
    reason: &str,
    message: String,
    extensions: Vec<(String, ExtensionValue)>,
) -> Report {
    Report {
        is_success: false,
        message,
        error_reason: Some(reason.to_owned()),
        extensions,
    }
}

/// A report that passed when `reason` is `None`, else failed with it.
pub fn verdict(
    reason: Option<&str>,
    message: String,
    extensions: Vec<(String, ExtensionValue)>,
) -> Report {
    match reason {
        None => passed(message, extensions),
        Some(reason) => failed_with(reason, message, extensions),
    }
}

/// A JSON extension value (embedded as a document in the JSON report).
pub fn json(v: impl Into<serde_json::Value>) -> ExtensionValue {
    ExtensionValue::Json(v.into().to_string())
}

/// A text extension value.
pub fn text(s: impl Into<String>) -> ExtensionValue {
    ExtensionValue::Text(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_carry_reason_message_and_extensions() {
        let ext = || vec![("k".to_owned(), text("v"))];
        let r = passed("ok".into(), ext());
        assert!(r.is_success && r.error_reason.is_none() && r.message == "ok");
        assert_eq!(r.extensions, ext());
        let r = failed("X_Y", "m".into());
        assert!(!r.is_success && r.extensions.is_empty());
        assert_eq!(
            (r.error_reason.as_deref(), r.message.as_str()),
            (Some("X_Y"), "m")
        );
        let r = failed_with("X_Y", "m".into(), ext());
        assert!(!r.is_success && r.extensions == ext());
        assert!(verdict(None, "m".into(), ext()).is_success);
        let r = verdict(Some("Z"), "m".into(), ext());
        assert!(!r.is_success && r.error_reason.as_deref() == Some("Z") && r.extensions == ext());
    }

    #[test]
    fn json_values_are_serialised() {
        assert_eq!(json(3usize), ExtensionValue::Json("3".into()));
        assert_eq!(json(false), ExtensionValue::Json("false".into()));
        assert_eq!(
            json(vec![serde_json::json!({"a": "b"})]),
            ExtensionValue::Json(r#"[{"a":"b"}]"#.into())
        );
        assert_eq!(text("t"), ExtensionValue::Text("t".into()));
    }
}
