//! In-toto statements (v0.1 and v1), judged the same way whichever signature carried them — a
//! DSSE envelope (cosign's `.att` layers, Sigstore bundles) or a notation signature over an
//! attestation manifest — and handed on to the policy.
//!
//! A statement is accepted when, in this order:
//! 1. it is at most `max_bytes` long: the verified statement becomes the report's `statement`
//!    extension, which the policy (Rego) reads, so its size is capped and an oversized one fails
//!    closed with [`STATEMENT_TOO_LARGE`] rather than reaching the policy cut or not at all;
//! 2. it is a JSON object with `_type` `https://in-toto.io/Statement/…` (in-toto's v0.1 and v1);
//! 3. one of its `subject[].digest.sha256` is the image's digest ([`SUBJECT_MISMATCH`]) —
//!    in-toto: "the subject … the set of software artifacts that the attestation applies to",
//!    matched by digest; other subjects may be listed (a provenance of several artifacts);
//! 4. after its signature verified (the caller's job): its `predicateType` is one of the accepted
//!    types when configured ([`PREDICATE_TYPE_NOT_ACCEPTED`]).
//!
//! What is handed on ([`Statement::handed_on`]) is what was parsed and checked here — `_type`,
//! `subject`, `predicateType`, `predicate` — re-serialized, so the policy reads exactly the
//! values the verifier judged (no second parser sees the raw bytes).

use serde_json::Value;

/// Reason when the statement's predicate type is not one of the accepted types.
pub const PREDICATE_TYPE_NOT_ACCEPTED: &str = "PREDICATE_TYPE_NOT_ACCEPTED";
/// Reason when the statement is over the cap.
pub const STATEMENT_TOO_LARGE: &str = "STATEMENT_TOO_LARGE";
/// Reason when none of the statement's subjects is the image.
pub const SUBJECT_MISMATCH: &str = "SUBJECT_MISMATCH";
/// The report extension holding the verified statement (JSON).
pub const EXTENSION: &str = "statement";
/// Default of `maxStatementBytes`.
pub const DEFAULT_MAX_STATEMENT: usize = 256 << 10;
/// The largest `maxStatementBytes` accepted: the host refuses reports over 1 MiB
/// (`limits.reportBytes`), and the rest of the report needs room.
pub const MAX_STATEMENT_LIMIT: usize = 768 << 10;

/// Why a statement was not accepted: a reason and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// SCREAMING_SNAKE_CASE reason.
    pub reason: &'static str,
    /// What was wrong.
    pub message: String,
}

fn rejected<T>(reason: &'static str, message: String) -> Result<T, Rejected> {
    Err(Rejected { reason, message })
}

/// A parsed in-toto statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    kind: String,
    subject: Vec<Value>,
    predicate_type: String,
    predicate: Value,
}

/// What carried a statement, for messages and the reason of a malformed one.
#[derive(Debug, Clone, Copy)]
pub struct Carrier {
    /// How messages name the bytes, e.g. `the DSSE payload`.
    pub what: &'static str,
    /// The reason when the bytes are not an in-toto statement.
    pub malformed: &'static str,
}

impl Statement {
    /// Parse `payload` (as `carrier` holds it) as an in-toto statement one of whose subjects is
    /// `subject_digest`, refusing payloads over `max_bytes` (`None`: no statement is handed on,
    /// so no cap beyond the carrier's).
    pub fn about(
        payload: &[u8],
        subject_digest: &str,
        max_bytes: Option<usize>,
        carrier: Carrier,
    ) -> Result<Statement, Rejected> {
        if let Some(max) = max_bytes
            && payload.len() > max
        {
            return rejected(
                STATEMENT_TOO_LARGE,
                format!(
                    "the in-toto statement is {} bytes; statements handed to the policy are \
                     capped at {max} bytes (`maxStatementBytes`; 0 hands none on)",
                    payload.len()
                ),
            );
        }
        let not_one = |detail: String| {
            rejected(
                carrier.malformed,
                format!("{} is not an in-toto statement: {detail}", carrier.what),
            )
        };
        let value: Value = match serde_json::from_slice(payload) {
            Ok(v) => v,
            Err(e) => return not_one(e.to_string()),
        };
        let Value::Object(mut map) = value else {
            return not_one("not a JSON object".into());
        };
        let kind = match map.remove("_type") {
            Some(Value::String(s)) => s,
            Some(other) => return not_one(format!("_type is {other}, not a string")),
            None => return not_one("missing field `_type`".into()),
        };
        let subject = match map.remove("subject") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a,
            Some(other) => return not_one(format!("subject is {other}, not a list")),
        };
        let predicate_type = match map.remove("predicateType") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s,
            Some(other) => return not_one(format!("predicateType is {other}, not a string")),
        };
        let predicate = map.remove("predicate").unwrap_or(Value::Null);
        if !kind.starts_with("https://in-toto.io/Statement/") {
            return rejected(
                carrier.malformed,
                format!(
                    "{}'s _type is {kind:?}, not an in-toto statement",
                    carrier.what
                ),
            );
        }
        let statement = Statement {
            kind,
            subject,
            predicate_type,
            predicate,
        };
        let want = subject_digest.strip_prefix("sha256:").unwrap_or_default();
        fn sha256_of(s: &Value) -> Option<&str> {
            s.pointer("/digest/sha256").and_then(Value::as_str)
        }
        if want.is_empty()
            || !statement
                .subject
                .iter()
                .any(|s| sha256_of(s).is_some_and(|d| d.eq_ignore_ascii_case(want)))
        {
            let named: Vec<String> = statement
                .subject
                .iter()
                .map(|s| {
                    format!(
                        "{}@sha256:{}",
                        s.get("name").and_then(Value::as_str).unwrap_or(""),
                        sha256_of(s).unwrap_or("?")
                    )
                })
                .collect();
            return rejected(
                SUBJECT_MISMATCH,
                format!(
                    "the in-toto statement's subjects ({}) do not include the subject {subject_digest}",
                    named.join(", ")
                ),
            );
        }
        Ok(statement)
    }

    /// The statement's `predicateType`.
    pub fn predicate_type(&self) -> &str {
        &self.predicate_type
    }

    /// The statement's `predicate`.
    pub fn predicate(&self) -> &Value {
        &self.predicate
    }

    /// `Ok` when `accepted` (the configured `attestationTypes`) is absent or names the
    /// statement's predicate type.
    pub fn check_type(&self, accepted: Option<&[String]>) -> Result<(), Rejected> {
        match accepted {
            Some(types) if !types.contains(&self.predicate_type) => rejected(
                PREDICATE_TYPE_NOT_ACCEPTED,
                format!(
                    "the attestation's predicateType {:?} is not one of the accepted \
                     attestationTypes ({})",
                    self.predicate_type,
                    types.join(", ")
                ),
            ),
            _ => Ok(()),
        }
    }

    /// The statement as handed to the policy: `{"_type", "subject", "predicateType",
    /// "predicate"}`, JSON text.
    pub fn handed_on(&self) -> String {
        serde_json::json!({
            "_type": self.kind,
            "subject": self.subject,
            "predicateType": self.predicate_type,
            "predicate": self.predicate,
        })
        .to_string()
    }
}

/// `maxStatementBytes` of a verifier's config: `None` (absent) is the default; `0` hands no
/// statement on (`Ok(None)`); more than [`MAX_STATEMENT_LIMIT`] is an error.
pub fn max_statement(configured: Option<usize>) -> Result<Option<usize>, String> {
    match configured.unwrap_or(DEFAULT_MAX_STATEMENT) {
        0 => Ok(None),
        n if n > MAX_STATEMENT_LIMIT => Err(format!(
            "maxStatementBytes is {n}; at most {MAX_STATEMENT_LIMIT} (reports are capped at 1 MiB \
             by the host), or 0 to hand no statement on"
        )),
        n => Ok(Some(n)),
    }
}

/// `attestationTypes` of a verifier's config: absent accepts any; an empty list or an empty
/// entry is an error (it would accept nothing, or nothing meaningful).
pub fn check_attestation_types(types: Option<&[String]>) -> Result<(), String> {
    if let Some(types) = types {
        if types.is_empty() {
            return Err(
                "attestationTypes is empty, which accepts no attestation; omit it to accept \
                 any predicate type"
                    .into(),
            );
        }
        if let Some(i) = types.iter().position(String::is_empty) {
            return Err(format!("attestationTypes[{i}] is empty"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IMAGE: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const DSSE: Carrier = Carrier {
        what: "the DSSE payload",
        malformed: "INVALID_ENVELOPE",
    };

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

    /// in-toto: "subject: set of software artifacts that the attestation applies to"; one
    /// matching digest among many is enough, and none is a `SUBJECT_MISMATCH` naming them.
    #[test]
    fn one_of_many_subjects_must_be_the_image() {
        let mut many: Vec<Value> = (0..50)
            .map(|i| json!({"name": format!("bin-{i}"), "digest": {"sha256": format!("{i:064x}")}}))
            .collect();
        let p = payload(&slsa(Value::Array(many.clone())));
        let e = Statement::about(&p, IMAGE, Some(DEFAULT_MAX_STATEMENT), DSSE).unwrap_err();
        assert_eq!(e.reason, SUBJECT_MISMATCH);
        assert!(
            e.message.contains("bin-49@sha256:") && e.message.contains(IMAGE),
            "{e:?}"
        );
        many.insert(
            17,
            json!({"name": "img", "digest": {"sha256": &IMAGE[7..].to_uppercase()}}),
        );
        let s = Statement::about(&payload(&slsa(Value::Array(many))), IMAGE, None, DSSE).unwrap();
        let handed: Value = serde_json::from_str(&s.handed_on()).unwrap();
        assert_eq!(handed["subject"].as_array().unwrap().len(), 51);
        assert_eq!(handed["predicateType"], "https://slsa.dev/provenance/v1");
        assert_eq!(
            handed["predicate"]["runDetails"]["builder"]["id"],
            "https://ci.example.test"
        );
        assert_eq!(handed["_type"], "https://in-toto.io/Statement/v1");
    }

    /// The cap is on the statement's bytes, checked before parsing; `None` (handing nothing on)
    /// applies none.
    #[test]
    fn oversized_statements_fail_closed_naming_the_cap() {
        let mut v = slsa(one(&IMAGE[7..]));
        v["predicate"]["padding"] = json!("x".repeat(2000));
        let p = payload(&v);
        let e = Statement::about(&p, IMAGE, Some(1024), DSSE).unwrap_err();
        assert_eq!(e.reason, STATEMENT_TOO_LARGE);
        assert!(
            e.message.contains(&format!("{} bytes", p.len()))
                && e.message.contains("1024")
                && e.message.contains("maxStatementBytes"),
            "{e:?}"
        );
        assert!(Statement::about(&p, IMAGE, Some(p.len()), DSSE).is_ok());
        assert!(Statement::about(&p, IMAGE, None, DSSE).is_ok());
    }

    #[test]
    fn predicate_types_are_checked_against_the_allow_list() {
        let s = Statement::about(&payload(&slsa(one(&IMAGE[7..]))), IMAGE, None, DSSE).unwrap();
        assert_eq!(s.predicate_type(), "https://slsa.dev/provenance/v1");
        assert_eq!(
            s.predicate()["runDetails"]["builder"]["id"],
            "https://ci.example.test"
        );
        assert!(s.check_type(None).is_ok());
        assert!(
            s.check_type(Some(&["https://slsa.dev/provenance/v1".to_owned()]))
                .is_ok()
        );
        let e = s
            .check_type(Some(&["https://spdx.dev/Document".to_owned()]))
            .unwrap_err();
        assert_eq!(e.reason, PREDICATE_TYPE_NOT_ACCEPTED);
        assert!(
            e.message.contains("spdx") && e.message.contains("slsa"),
            "{e:?}"
        );
    }

    /// in-toto Statement: `_type` is a string URI, `subject` a list, `predicateType` a string;
    /// anything else is not a statement, named by the carrier and its reason. v0.1 and v1 are
    /// both in-toto statements; another `_type` is not.
    #[test]
    fn malformed_fields_are_not_a_statement() {
        let carrier = Carrier {
            what: "the layer",
            malformed: "INVALID_STATEMENT",
        };
        for (v, needle) in [
            (
                json!({"_type": 1, "subject": one(&IMAGE[7..])}),
                "_type is 1",
            ),
            (
                json!({"subject": one(&IMAGE[7..])}),
                "missing field `_type`",
            ),
            (
                json!({"_type": "https://in-toto.io/Statement/v1", "subject": {"a": 1}}),
                "subject is",
            ),
            (
                json!({"_type": "https://in-toto.io/Statement/v1", "subject": one(&IMAGE[7..]),
                       "predicateType": ["x"]}),
                "predicateType is",
            ),
            (json!("text"), "not a JSON object"),
            (
                json!({"_type": "https://example.test/Statement/v1"}),
                "not an in-toto statement",
            ),
        ] {
            let e = Statement::about(&payload(&v), IMAGE, None, carrier).unwrap_err();
            assert_eq!(e.reason, "INVALID_STATEMENT", "{v}");
            assert!(e.message.starts_with("the layer"), "{e:?}");
            assert!(e.message.contains(needle), "{v}: {e:?}");
        }
        for t in [
            "https://in-toto.io/Statement/v0.1",
            "https://in-toto.io/Statement/v1",
        ] {
            let mut v = slsa(one(&IMAGE[7..]));
            v["_type"] = json!(t);
            assert!(
                Statement::about(&payload(&v), IMAGE, None, carrier).is_ok(),
                "{t}"
            );
        }
        // A subject digest must be the image's, and an image without a sha256 digest matches none.
        let v = slsa(one(&IMAGE[7..]));
        assert!(Statement::about(&payload(&v), "sha512:aa", None, carrier).is_err());
        let v = slsa(json!([{"name": "x", "digest": {"sha512": &IMAGE[7..]}}]));
        assert!(Statement::about(&payload(&v), IMAGE, None, carrier).is_err());
    }

    #[test]
    fn configured_caps_and_types_are_checked() {
        assert_eq!(max_statement(None), Ok(Some(DEFAULT_MAX_STATEMENT)));
        assert_eq!(max_statement(Some(0)), Ok(None));
        assert_eq!(
            max_statement(Some(MAX_STATEMENT_LIMIT)),
            Ok(Some(MAX_STATEMENT_LIMIT))
        );
        assert!(max_statement(Some(MAX_STATEMENT_LIMIT + 1)).is_err());
        assert!(check_attestation_types(None).is_ok());
        assert!(check_attestation_types(Some(&["t".to_owned()])).is_ok());
        assert!(
            check_attestation_types(Some(&[]))
                .unwrap_err()
                .contains("empty")
        );
        let e = check_attestation_types(Some(&["t".to_owned(), String::new()])).unwrap_err();
        assert!(e.contains("attestationTypes[1]"), "{e}");
    }
}
