//! The in-toto statement inside a DSSE envelope (cosign's `.att` layers and Sigstore bundles'
//! `dsseEnvelope`), judged the same way wherever it came from, and handed on to the policy.
//!
//! The statement itself is judged by `verifier_common::statement` (cap, in-toto `_type`, subject
//! digest, accepted predicate types), the same code the notation verifier uses for statements it
//! verifies; here are cosign's carrier (a DSSE payload: malformed statements are
//! `INVALID_ENVELOPE`) and, with the `sbom` rules configured, the judgement of an SPDX or
//! CycloneDX predicate ([`check_sbom`]), as the sbom verifier judges an SBOM referrer.

use sbom_rules::document::Format;
use serde_json::Value;
use verifier_common::statement::{Carrier, Rejected};
pub use verifier_common::statement::{
    DEFAULT_MAX_STATEMENT, EXTENSION, MAX_STATEMENT_LIMIT, PREDICATE_TYPE_NOT_ACCEPTED,
    STATEMENT_TOO_LARGE, Statement,
};

use crate::verify::{Failure, fail};

/// The DSSE payload type of in-toto statements.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The report extension holding the SBOM rules' verdict on an SBOM predicate (JSON).
pub const SBOM_EXTENSION: &str = "sbom";
/// Reason when an SPDX or CycloneDX predicate is not a document of its format.
pub const INVALID_SBOM: &str = "INVALID_SBOM";
/// The in-toto predicate type of SPDX documents (`…/v2.3` and other versions too).
pub const SPDX_PREDICATE: &str = "https://spdx.dev/Document";
/// The in-toto predicate type of CycloneDX BOMs (`…/v1.5` and other versions too).
pub const CYCLONEDX_PREDICATE: &str = "https://cyclonedx.org/bom";

/// The SBOM format of an in-toto predicate type: SPDX's `https://spdx.dev/Document` and
/// CycloneDX's `https://cyclonedx.org/bom`, bare or with a version segment (`/v2.3`).
pub fn sbom_format(predicate_type: &str) -> Option<Format> {
    let versioned = |base: &str| {
        predicate_type == base
            || predicate_type
                .strip_prefix(base)
                .and_then(|rest| rest.strip_prefix("/v"))
                .is_some_and(|v| {
                    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                })
    };
    if versioned(SPDX_PREDICATE) {
        Some(Format::Spdx)
    } else if versioned(CYCLONEDX_PREDICATE) {
        Some(Format::CycloneDx)
    } else {
        None
    }
}
/// The carrier of cosign's statements: a DSSE payload.
const DSSE_PAYLOAD: Carrier = Carrier {
    what: "the DSSE payload",
    malformed: "INVALID_ENVELOPE",
};

impl From<Rejected> for Failure {
    fn from(r: Rejected) -> Failure {
        Failure {
            reason: r.reason,
            message: r.message,
        }
    }
}

/// Parse `payload` (the decoded DSSE payload) as an in-toto statement one of whose subjects is
/// `subject_digest`, refusing payloads over `max_bytes` (see `verifier_common::statement`).
pub fn about(
    payload: &[u8],
    subject_digest: &str,
    max_bytes: Option<usize>,
) -> Result<Statement, Failure> {
    Ok(Statement::about(
        payload,
        subject_digest,
        max_bytes,
        DSSE_PAYLOAD,
    )?)
}

/// With `rules` (the `sbom` configuration), an SPDX or CycloneDX predicate judged by them:
/// the verdict as JSON for the [`SBOM_EXTENSION`] when it passes, a failure with the sbom
/// verifier's reasons (`LICENSE_DISALLOWED`, `PACKAGE_DISALLOWED`,
/// `SBOM_POLICY_VIOLATION`, [`INVALID_SBOM`]) when not. `None` without rules or for another
/// predicate type.
pub fn check_sbom(
    statement: &Statement,
    rules: Option<&sbom_rules::config::Config>,
) -> Result<Option<String>, Failure> {
    let (Some(rules), Some(format)) = (rules, sbom_format(statement.predicate_type())) else {
        return Ok(None);
    };
    let sbom = sbom_rules::document::parse_value(format, statement.predicate()).or_else(|e| {
        fail(
            INVALID_SBOM,
            format!(
                "the {} attestation's predicate is not an SBOM: malformed at {e}",
                statement.predicate_type()
            ),
        )
    })?;
    let mut eval = sbom_rules::policy::Evaluation::default();
    sbom_rules::policy::evaluate(rules, &sbom.packages, &mut eval);
    let v = sbom_rules::verdict(rules, &eval, std::slice::from_ref(&sbom.format));
    match v.reason {
        Some(reason) => fail(
            reason,
            format!("the SBOM attestation ({}): {}", sbom.format, v.message),
        ),
        None => {
            let ext: serde_json::Map<String, Value> = v.extensions.into_iter().collect();
            Ok(Some(Value::Object(ext).to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IMAGE: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn payload(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    fn slsa(subjects: Value) -> Value {
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": subjects,
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"runDetails": {"builder": {"id": "https://ci.example.test"}}},
        })
    }

    fn one(hex: &str) -> Value {
        json!([{"name": "app", "digest": {"sha256": hex}}])
    }

    #[test]
    fn not_a_statement_is_an_invalid_envelope() {
        for (p, needle) in [
            (b"[1,2]".to_vec(), "not an in-toto statement"),
            (
                payload(&json!({"_type": "https://example.test/Other", "subject": []})),
                "_type",
            ),
        ] {
            let e = about(&p, IMAGE, None).unwrap_err();
            assert_eq!(e.reason, "INVALID_ENVELOPE");
            assert!(e.message.contains(needle), "{e:?}");
        }
    }

    fn rules(json: &str) -> sbom_rules::config::Config {
        sbom_rules::config::Config::parse(json).unwrap()
    }

    fn spdx(predicate_type: &str, license: &str) -> Statement {
        let stmt = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": one(&IMAGE[7..]),
            "predicateType": predicate_type,
            "predicate": {
                "spdxVersion": "SPDX-2.3",
                "SPDXID": "SPDXRef-DOCUMENT",
                "name": "app",
                "packages": [{"SPDXID": "SPDXRef-a", "name": "a", "versionInfo": "1.0",
                              "licenseConcluded": license}],
            },
        });
        about(&payload(&stmt), IMAGE, None).unwrap()
    }

    /// in-toto's SPDX predicate: "Type URI: https://spdx.dev/Document", its example
    /// `https://spdx.dev/Document/v2.3`; CycloneDX: "Type URI: https://cyclonedx.org/bom". Both
    /// forms are SBOMs; look-alikes are not.
    #[test]
    fn sbom_predicate_types_bare_and_versioned() {
        for t in [
            "https://spdx.dev/Document",
            "https://spdx.dev/Document/v2.3",
        ] {
            assert_eq!(sbom_format(t), Some(Format::Spdx), "{t}");
        }
        for t in [
            "https://cyclonedx.org/bom",
            "https://cyclonedx.org/bom/v1.5",
        ] {
            assert_eq!(sbom_format(t), Some(Format::CycloneDx), "{t}");
        }
        for t in [
            "https://spdx.dev/Documentation",
            "https://spdx.dev/Document/",
            "https://spdx.dev/Document/vX",
            "https://cyclonedx.org/bom/v",
            "https://slsa.dev/provenance/v1",
            "http://spdx.dev/Document",
        ] {
            assert_eq!(sbom_format(t), None, "{t}");
        }
    }

    /// in-toto's SPDX predicate: "The `predicate` contains a JSON-encoded SPDX document" — judged
    /// by the sbom verifier's rules, with its reasons; without rules nothing is judged.
    #[test]
    fn sbom_predicates_are_judged_by_the_sbom_rules() {
        let deny_gpl = rules(r#"{"disallowedLicenses": ["GPL-3.0-only"]}"#);
        let ok = check_sbom(&spdx("https://spdx.dev/Document", "MIT"), Some(&deny_gpl))
            .unwrap()
            .expect("an SBOM verdict");
        let v: Value = serde_json::from_str(&ok).unwrap();
        assert_eq!(
            (v["packages"].clone(), v["violations"].clone()),
            (json!(1), json!(0))
        );
        assert_eq!(v["format"], "SPDX-2.3");

        let e = check_sbom(
            &spdx("https://spdx.dev/Document/v2.3", "GPL-3.0-only"),
            Some(&deny_gpl),
        )
        .unwrap_err();
        assert_eq!(e.reason, "LICENSE_DISALLOWED");
        assert!(
            e.message.contains("SPDX-2.3") && e.message.contains("GPL-3.0-only"),
            "{}",
            e.message
        );
        let e = check_sbom(
            &spdx("https://spdx.dev/Document", "MIT"),
            Some(&rules(r#"{"disallowedPackages": [{"name": "a"}]}"#)),
        )
        .unwrap_err();
        assert_eq!(e.reason, "PACKAGE_DISALLOWED");

        // No rules, or not an SBOM predicate: not judged.
        assert_eq!(
            check_sbom(&spdx("https://spdx.dev/Document", "GPL-3.0-only"), None).unwrap(),
            None
        );
        let provenance = about(&payload(&slsa(one(&IMAGE[7..]))), IMAGE, None).unwrap();
        assert_eq!(check_sbom(&provenance, Some(&deny_gpl)).unwrap(), None);
    }

    /// An SPDX predicate type whose predicate is not an SPDX document fails closed.
    #[test]
    fn a_malformed_sbom_predicate_fails_closed() {
        let stmt = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": one(&IMAGE[7..]),
            "predicateType": "https://cyclonedx.org/bom",
            "predicate": {"Data": "SPDXVersion: SPDX-2.3\n"},
        });
        let s = about(&payload(&stmt), IMAGE, None).unwrap();
        let e = check_sbom(&s, Some(&rules("{}"))).unwrap_err();
        assert_eq!(e.reason, INVALID_SBOM);
        assert!(e.message.contains("malformed at"), "{}", e.message);
    }
}
