//! SLSA Verification Summary Attestations (VSA v1, <https://slsa.dev/spec/v1.0/verification_summary>)
//! of Vouch's verdicts: an in-toto Statement v1 about the subject digest, signed as a DSSE
//! envelope, so that another cluster can trust the verdict (the `vsa` verifier) instead of
//! verifying again.
//!
//! The statement Vouch writes:
//! - `subject`: the image's name and `{"sha256": <hex>}`;
//! - `predicate.verifier`: `id` (the `--verifier-id` URI) and `version`, a map of component to
//!   version: `vouch` and each configured verifier (`<name>` → its module's version);
//! - `timeVerified`: when the verdict was reached (RFC 3339, UTC);
//! - `resourceUri`: `oci://<name>@<digest>`;
//! - `policy`: `uri` (the spec requires one) and `digest.sha256`, the executor's fingerprint of
//!   its effective configuration (verifiers' modules and configs with their trust material,
//!   nesting depth, walk caps, exemptions, policy);
//! - `inputAttestations`: every referrer a verifier judged (nested ones included), once, as
//!   `{uri: oci://<name>@<digest>, digest: {sha256}}`;
//! - `verificationResult`: `PASSED` or `FAILED`; `verifiedLevels`: `[]` when passed (Vouch
//!   judges its configured policy, not a SLSA track level), `["FAILED"]` when failed, as the spec
//!   asks; `slsaVersion` `1.0`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use base64::Engine as _;
use serde_json::{Value, json};

use super::ratify::rfc3339_nano;
use super::{SubjectReport, VerifierReport};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of a SLSA Verification Summary v1.
pub const VSA_PREDICATE_TYPE: &str = "https://slsa.dev/verification_summary/v1";
/// DSSE `payloadType` of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Artifact type (and layer media type) of a VSA referrer: a DSSE envelope.
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Manifest annotation naming the predicate type of the attestation a referrer holds.
pub const PREDICATE_TYPE_ANNOTATION: &str = "in-toto.io/predicate-type";

/// Why a summary could not be made.
#[derive(Debug, thiserror::Error)]
pub enum VsaError {
    /// The subject was never resolved to a digest: there is nothing to attest about.
    #[error("subject `{0}` was not resolved to a digest: no verdict to attest")]
    Unresolved(String),
    /// A digest is not `sha256:<hex>`.
    #[error("`{0}` is not a sha256 digest")]
    Digest(String),
    /// The signer failed.
    #[error("signing the verification summary: {0}")]
    Sign(String),
}

/// What a summary says besides the report: who verified, when, under which policy.
#[derive(Clone, Debug)]
pub struct Summary {
    /// `verifier.id`: a URI naming the verifier (the trust base consumers care about).
    pub verifier_id: String,
    /// `verifier.version`: component → version.
    pub versions: BTreeMap<String, String>,
    /// `timeVerified`.
    pub time_verified: SystemTime,
    /// `policy.uri`.
    pub policy_uri: String,
    /// The effective configuration's fingerprint, `sha256:<hex>` (`policy.digest`).
    pub policy_digest: String,
}

/// The hex of a `sha256:<hex>` digest.
fn sha256_hex(digest: &str) -> Result<&str, VsaError> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| VsaError::Digest(digest.to_owned()))
}

/// Every referrer digest a verifier judged in `reports` (nested included), once, sorted.
pub fn input_attestations(reports: &[VerifierReport]) -> BTreeSet<&str> {
    fn walk<'a>(reports: &'a [VerifierReport], out: &mut BTreeSet<&'a str>) {
        for r in reports {
            if r.reference_digest.starts_with("sha256:") {
                out.insert(&r.reference_digest);
            }
            walk(&r.nested_results, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(reports, &mut out);
    out
}

/// The in-toto statement summarizing `report` of the image named `name` (a repository, or a
/// layout directory).
pub fn statement(report: &SubjectReport, name: &str, summary: &Summary) -> Result<Value, VsaError> {
    let digest = report
        .digest
        .as_deref()
        .ok_or_else(|| VsaError::Unresolved(report.subject.clone()))?;
    let hex = sha256_hex(digest)?;
    let policy_hex = sha256_hex(&summary.policy_digest)?;
    let inputs: Vec<Value> = input_attestations(&report.verifier_reports)
        .into_iter()
        .map(|d| {
            Ok(json!({
                "uri": format!("oci://{name}@{d}"),
                "digest": {"sha256": sha256_hex(d)?},
            }))
        })
        .collect::<Result<_, VsaError>>()?;
    let (result, levels) = if report.is_success {
        ("PASSED", json!([]))
    } else {
        ("FAILED", json!(["FAILED"]))
    };
    Ok(json!({
        "_type": STATEMENT_V1,
        "subject": [{"name": name, "digest": {"sha256": hex}}],
        "predicateType": VSA_PREDICATE_TYPE,
        "predicate": {
            "verifier": {"id": summary.verifier_id, "version": summary.versions},
            "timeVerified": rfc3339_nano(summary.time_verified),
            "resourceUri": format!("oci://{name}@{digest}"),
            "policy": {"uri": summary.policy_uri, "digest": {"sha256": policy_hex}},
            "inputAttestations": inputs,
            "verificationResult": result,
            "verifiedLevels": levels,
            "slsaVersion": "1.0",
        },
    }))
}

/// DSSE's pre-authentication encoding, what the envelope's signature signs:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// `statement` as a DSSE envelope (JSON bytes) with one signature by `sign` over its PAE;
/// `keyid` names the key (may be empty).
pub fn envelope<E: std::fmt::Display>(
    statement: &Value,
    keyid: &str,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, VsaError> {
    let payload = serde_json::to_vec(statement).map_err(|e| VsaError::Sign(e.to_string()))?;
    let sig =
        sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload)).map_err(|e| VsaError::Sign(e.to_string()))?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    serde_json::to_vec(&json!({
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "payload": b64(&payload),
        "signatures": [{"keyid": keyid, "sig": b64(&sig)}],
    }))
    .map_err(|e| VsaError::Sign(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Timings;

    const IMG: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const FP: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn vr(digest: &str, nested: Vec<VerifierReport>) -> VerifierReport {
        VerifierReport {
            subject: "r/app".into(),
            is_success: true,
            name: "cosign".into(),
            verifier_name: "cosign".into(),
            verifier_type: "cosign".into(),
            artifact_type: "t".into(),
            reference_digest: digest.into(),
            message: String::new(),
            error_reason: None,
            extensions: Default::default(),
            nested_results: nested,
            timings: Timings::default(),
        }
    }

    fn summary() -> Summary {
        Summary {
            verifier_id: "https://vouch.example/a".into(),
            versions: BTreeMap::from([("vouch".into(), "0.1.0".into())]),
            time_verified: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
            policy_uri: "file:///etc/vouch.yaml".into(),
            policy_digest: FP.into(),
        }
    }

    fn report(ok: bool) -> SubjectReport {
        let sig = format!("sha256:{}", "a".repeat(64));
        let sbom = format!("sha256:{}", "b".repeat(64));
        SubjectReport {
            subject: "r/app:v1".into(),
            digest: Some(IMG.into()),
            is_success: ok,
            message: String::new(),
            // The SBOM's signature is nested; the executor's own reports have no digest.
            verifier_reports: vec![
                vr(&sbom, vec![vr(&sig, vec![])]),
                vr(&sig, vec![]),
                vr("", vec![]),
            ],
            timings: Timings::default(),
            cached: false,
        }
    }

    /// VSA v1: `verifier`, `timeVerified`, `resourceUri`, `policy` (which "MUST contain a
    /// `uri`"), `verificationResult` and `verifiedLevels` are required; `inputAttestations`,
    /// "If non-empty, ... MUST contain information on _all_ the attestations used", each with
    /// "a `digest` of the attestation" and "SHOULD" a `uri`.
    #[test]
    fn a_passed_verdict_carries_every_required_field_and_all_inputs() {
        let s = statement(&report(true), "r/app", &summary()).unwrap();
        assert_eq!(s["_type"], STATEMENT_V1);
        assert_eq!(s["predicateType"], VSA_PREDICATE_TYPE);
        assert_eq!(s["subject"][0]["digest"]["sha256"], &IMG[7..]);
        let p = &s["predicate"];
        assert_eq!(p["verifier"]["id"], "https://vouch.example/a");
        assert_eq!(p["verifier"]["version"]["vouch"], "0.1.0");
        assert_eq!(p["timeVerified"], "2027-01-15T08:00:00Z");
        assert_eq!(p["resourceUri"], format!("oci://r/app@{IMG}"));
        assert_eq!(p["policy"]["uri"], "file:///etc/vouch.yaml");
        assert_eq!(p["policy"]["digest"]["sha256"], &FP[7..]);
        assert_eq!(p["verificationResult"], "PASSED");
        assert_eq!(p["verifiedLevels"], json!([]));
        let inputs = p["inputAttestations"].as_array().unwrap();
        assert_eq!(
            inputs.len(),
            2,
            "each referrer once, nested included: {inputs:?}"
        );
        assert_eq!(inputs[0]["digest"]["sha256"], "a".repeat(64));
        assert_eq!(
            inputs[0]["uri"],
            format!("oci://r/app@sha256:{}", "a".repeat(64))
        );
    }

    /// VSA v1, `verifiedLevels`: "... or \"FAILED\" if policy verification failed."
    #[test]
    fn a_failed_verdict_says_failed_twice() {
        let s = statement(&report(false), "r/app", &summary()).unwrap();
        assert_eq!(s["predicate"]["verificationResult"], "FAILED");
        assert_eq!(s["predicate"]["verifiedLevels"], json!(["FAILED"]));
    }

    #[test]
    fn an_unresolved_subject_has_no_summary() {
        let mut r = report(true);
        r.digest = None;
        assert!(matches!(
            statement(&r, "r/app", &summary()),
            Err(VsaError::Unresolved(_))
        ));
    }

    /// DSSE: the signature is over `PAE(payloadType, payload)`; the protocol's example.
    #[test]
    fn the_envelope_signs_the_pae_of_the_statement() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        let s = statement(&report(true), "r/app", &summary()).unwrap();
        let mut signed = Vec::new();
        let env = envelope(&s, "k", |m: &[u8]| {
            signed = m.to_vec();
            Ok::<_, String>(b"sig".to_vec())
        })
        .unwrap();
        let env: Value = serde_json::from_slice(&env).unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(env["payload"].as_str().unwrap())
            .unwrap();
        assert_eq!(signed, pae(IN_TOTO_PAYLOAD_TYPE, &payload));
        assert_eq!(serde_json::from_slice::<Value>(&payload).unwrap(), s);
        assert_eq!(env["signatures"][0]["sig"], "c2ln");
        assert_eq!(env["payloadType"], IN_TOTO_PAYLOAD_TYPE);
    }
}
