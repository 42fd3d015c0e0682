//! Judging one VSA: a DSSE envelope around an in-toto Statement v1 whose predicate is a SLSA
//! Verification Summary v1 (<https://slsa.dev/spec/v1.0/verification_summary>).
//!
//! The checks, in order, each failing closed with its own reason:
//! 1. the envelope parses, its `payloadType` is `application/vnd.in-toto+json` and its payload
//!    is base64 (`VSA_MALFORMED`);
//! 2. one of its signatures verifies over `PAE(payloadType, payload)` with a configured key
//!    (`VSA_SIGNATURE_INVALID`); nothing of the statement is believed before that;
//! 3. the statement is an in-toto Statement v1 with predicate type
//!    `https://slsa.dev/verification_summary/v1` and the required predicate fields
//!    (`verifier.id`, `timeVerified`, `resourceUri`, `policy`, `verificationResult`;
//!    `VSA_MALFORMED`);
//! 4. one `subject[].digest.sha256` is the image's (`VSA_SUBJECT_MISMATCH`);
//! 5. the signing key may sign for `verifier.id` (`VSA_VERIFIER_NOT_TRUSTED`);
//! 6. `verificationResult` is `PASSED` (`VSA_NOT_PASSED`);
//! 7. `timeVerified` is at most `maxAgeSeconds` old and at most `maxSkewSeconds` in the future
//!    (`VSA_STALE`);
//! 8. `policy.digest.sha256` is one of `policyDigests` (`VSA_POLICY_MISMATCH`).
//!
//! Unrecognized fields are ignored, as the in-toto parsing rules require of consumers.

use base64::Engine as _;
use serde_json::Value;
use verifier_common::dsse::pae;

use verifier_common::crypto::SigAlg;

use crate::config::{Config, TrustedKey};

/// `payloadType` of an in-toto statement in a DSSE envelope.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of a SLSA Verification Summary v1.
pub const VSA_PREDICATE_TYPE: &str = "https://slsa.dev/verification_summary/v1";

/// Error reason: the signature does not verify with any configured key.
pub const VSA_SIGNATURE_INVALID: &str = "VSA_SIGNATURE_INVALID";
/// Error reason: the statement is about another artifact.
pub const VSA_SUBJECT_MISMATCH: &str = "VSA_SUBJECT_MISMATCH";
/// Error reason: `verificationResult` is not `PASSED`.
pub const VSA_NOT_PASSED: &str = "VSA_NOT_PASSED";
/// Error reason: `timeVerified` is too old, or too far in the future.
pub const VSA_STALE: &str = "VSA_STALE";
/// Error reason: `policy.digest` is not an accepted policy.
pub const VSA_POLICY_MISMATCH: &str = "VSA_POLICY_MISMATCH";
/// Error reason: the signer may not sign for that `verifier.id`.
pub const VSA_VERIFIER_NOT_TRUSTED: &str = "VSA_VERIFIER_NOT_TRUSTED";
/// Error reason: not a DSSE envelope of an in-toto VSA v1 with the required fields.
pub const VSA_MALFORMED: &str = "VSA_MALFORMED";

/// Signature verification, done by the host in the component (and natively in tests).
pub trait SignatureCheck {
    /// Verify `sig` over `msg` with the SPKI DER `spki` of algorithm `alg`.
    fn verify(&self, alg: SigAlg, spki: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), String>;
}

/// A rejected VSA: the error reason and a message naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// One of the `VSA_*` reasons.
    pub reason: &'static str,
    /// What was wrong.
    pub message: String,
}

/// What an accepted VSA says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The configured key that signed it.
    pub signer: String,
    /// `verifier.id`.
    pub verifier_id: String,
    /// `timeVerified` as written.
    pub time_verified: String,
    /// Seconds between `timeVerified` and now (0 when slightly in the future).
    pub age: i64,
    /// `policy.digest.sha256`.
    pub policy_digest: String,
    /// `resourceUri`.
    pub resource_uri: String,
    /// Number of `inputAttestations`.
    pub input_attestations: usize,
}

fn reject<T>(reason: &'static str, message: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection {
        reason,
        message: message.into(),
    })
}

/// Judges `envelope` (the bytes of a DSSE envelope) for the image `image_digest`
/// (`sha256:<hex>`) at Unix time `now`.
pub fn judge(
    crypto: &dyn SignatureCheck,
    config: &Config,
    image_digest: &str,
    envelope: &[u8],
    now: i64,
) -> Result<Accepted, Rejection> {
    let env: Value = serde_json::from_slice(envelope)
        .or_else(|e| reject(VSA_MALFORMED, format!("not a DSSE envelope: {e}")))?;
    let payload_type = env["payloadType"].as_str().unwrap_or_default();
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return reject(
            VSA_MALFORMED,
            format!("DSSE payloadType is {payload_type:?}, expected `{IN_TOTO_PAYLOAD_TYPE}`"),
        );
    }
    let payload = decode_b64(env["payload"].as_str().unwrap_or_default())
        .or_else(|e| reject(VSA_MALFORMED, format!("DSSE payload: {e}")))?;
    let key = signer(crypto, config, &env, &pae(payload_type, &payload))?;

    let statement: Value = serde_json::from_slice(&payload)
        .or_else(|e| reject(VSA_MALFORMED, format!("the payload is not JSON: {e}")))?;
    let ty = statement["_type"].as_str().unwrap_or_default();
    if ty != STATEMENT_V1 {
        return reject(
            VSA_MALFORMED,
            format!("statement _type is {ty:?}, expected `{STATEMENT_V1}`"),
        );
    }
    let predicate_type = statement["predicateType"].as_str().unwrap_or_default();
    if predicate_type != VSA_PREDICATE_TYPE {
        return reject(
            VSA_MALFORMED,
            format!("predicateType is {predicate_type:?}, expected `{VSA_PREDICATE_TYPE}`"),
        );
    }
    let p = &statement["predicate"];
    let field = |path: &str| -> Result<String, Rejection> {
        match p.pointer(path) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => reject(
                VSA_MALFORMED,
                format!(
                    "predicate field `{}` is missing or not a string",
                    &path[1..]
                ),
            ),
        }
    };
    let verifier_id = field("/verifier/id")?;
    let time_verified = field("/timeVerified")?;
    let resource_uri = field("/resourceUri")?;
    let result = field("/verificationResult")?;
    if !p["policy"].is_object() {
        return reject(VSA_MALFORMED, "predicate field `policy` is missing");
    }

    let image_hex = image_digest.strip_prefix("sha256:").unwrap_or(image_digest);
    let subjects = statement["subject"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let about_image = subjects.iter().any(|s| {
        s.pointer("/digest/sha256")
            .and_then(Value::as_str)
            .is_some_and(|d| d.eq_ignore_ascii_case(image_hex))
    });
    if !about_image {
        let named: Vec<&str> = subjects
            .iter()
            .filter_map(|s| s.pointer("/digest/sha256").and_then(Value::as_str))
            .collect();
        return reject(
            VSA_SUBJECT_MISMATCH,
            format!(
                "the VSA is about sha256:[{}], not the image {image_digest}",
                named.join(", ")
            ),
        );
    }

    if let Some(ids) = &key.verifier_ids
        && !ids.contains(&verifier_id)
    {
        return reject(
            VSA_VERIFIER_NOT_TRUSTED,
            format!(
                "key `{}` may sign for verifier.id {:?}, not {verifier_id:?}",
                key.name, ids
            ),
        );
    }

    if result != "PASSED" {
        return reject(
            VSA_NOT_PASSED,
            format!("verificationResult is {result:?} (verifier {verifier_id}, {time_verified})"),
        );
    }

    let at = verifier_common::time::parse_rfc3339(&time_verified).or_else(|e| {
        reject(
            VSA_MALFORMED,
            format!("timeVerified {time_verified:?} is not an RFC 3339 timestamp: {e}"),
        )
    })?;
    let age = now.saturating_sub(at);
    if age > i64::try_from(config.max_age).unwrap_or(i64::MAX) {
        return reject(
            VSA_STALE,
            format!(
                "timeVerified {time_verified} is {age} s old, over maxAgeSeconds {}",
                config.max_age
            ),
        );
    }
    if -age > i64::try_from(config.max_skew).unwrap_or(i64::MAX) {
        return reject(
            VSA_STALE,
            format!(
                "timeVerified {time_verified} is {} s in the future, over maxSkewSeconds {}",
                -age, config.max_skew
            ),
        );
    }

    let policy_digest = p
        .pointer("/policy/digest/sha256")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !config.policy_digests.contains(&policy_digest) {
        return reject(
            VSA_POLICY_MISMATCH,
            format!(
                "policy.digest.sha256 {policy_digest:?} (policy {}) is not one of policyDigests",
                p.pointer("/policy/uri")
                    .and_then(Value::as_str)
                    .unwrap_or("without uri")
            ),
        );
    }

    Ok(Accepted {
        signer: key.name.clone(),
        verifier_id,
        time_verified,
        age: age.max(0),
        policy_digest: format!("sha256:{policy_digest}"),
        resource_uri,
        input_attestations: p["inputAttestations"].as_array().map_or(0, Vec::len),
    })
}

/// DSSE payloads and signatures are base64; standard or URL-safe alphabet, padded or not.
fn decode_b64(text: &str) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(text).ok())
        .ok_or_else(|| "not base64".to_owned())
}

/// The configured key one of the envelope's signatures verifies with.
fn signer<'c>(
    crypto: &dyn SignatureCheck,
    config: &'c Config,
    env: &Value,
    message: &[u8],
) -> Result<&'c TrustedKey, Rejection> {
    let signatures = env["signatures"].as_array().map_or(&[][..], Vec::as_slice);
    if signatures.is_empty() {
        return reject(VSA_SIGNATURE_INVALID, "the DSSE envelope has no signatures");
    }
    let mut why = Vec::new();
    for (i, s) in signatures.iter().enumerate() {
        let Ok(sig) = decode_b64(s["sig"].as_str().unwrap_or_default()) else {
            why.push(format!("signature {i} is not base64"));
            continue;
        };
        for key in &config.keys {
            match crypto.verify(key.alg, &key.spki, message, &sig) {
                Ok(()) => return Ok(key),
                Err(e) => why.push(format!("signature {i} with key `{}`: {e}", key.name)),
            }
        }
    }
    reject(
        VSA_SIGNATURE_INVALID,
        format!(
            "no signature verifies with a configured key: {}",
            why.join("; ")
        ),
    )
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
