//! Cosign attestations in cosign's OCI layout: the manifest `cosign attest` pushes under the tag
//! `sha256-<hex>.att` (the engine lists it with artifact type [`ARTIFACT_TYPE`]), one layer per
//! attestation of media type [`DSSE_ENVELOPE`], whose blob is a DSSE envelope
//! (`{"payloadType", "payload", "signatures": [{"keyid", "sig"}]}`) around an in-toto statement.
//! cosign puts the signature inside the envelope (the layer's `dev.cosignproject.cosign/signature`
//! annotation is empty) and the keyless certificate, chain and Rekor bundle in the same layer
//! annotations as for signatures.
//!
//! The artifact passes when at least one layer verifies, each check failing closed:
//! 1. the envelope's `payloadType` is `application/vnd.in-toto+json` and its payload an in-toto
//!    statement (`_type` `https://in-toto.io/Statement/…`) one of whose `subject[].digest.sha256`
//!    is the image's digest (`SUBJECT_MISMATCH` otherwise);
//! 2. one of the envelope's signatures verifies over `PAE("DSSEv1", payloadType, payload)` — DSSE's
//!    pre-authentication encoding, what cosign's `dsse.WrapVerifier` checks — with a configured
//!    key, or with the layer's Fulcio certificate, trusted as for `.sig` signatures (chain to a
//!    configured root at the signing time, code-signing EKU, accepted identity);
//! 3. when a Rekor key is configured, the layer's Rekor bundle (required for keyless, checked
//!    when present for keys): its signed entry timestamp and log ID, an `intoto` entry whose
//!    `spec.content.hash` is the SHA-256 of the envelope bytes (cosign's `bundleHash` rule) and
//!    whose public key is the signer's;
//! 4. the statement's `predicateType` is in the configured `attestationTypes`, when given
//!    (`PREDICATE_TYPE_NOT_ACCEPTED` otherwise); without it any predicate type passes and the
//!    report names it (`predicateType` extension).
//!
//! The verified statement is handed to the policy as the report's `statement` extension (see
//! [`crate::statement`]: capped by `maxStatementBytes`, `STATEMENT_TOO_LARGE` over it).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{Config, Keyless};
use crate::statement::Statement;
use crate::verify::{
    self, BUNDLE_ANN, CERTIFICATE_ANN, CHAIN_ANN, Failure, Host, Layer, Manifest, Outcome, b64,
    fail,
};

/// Artifact type the engine gives cosign's tag-stored attestations (`sha256-<hex>.att`), the one
/// cosign computes for its `att` attachment in OCI 1.1 mode.
pub const ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.att.v1+json";
/// Media type of an attestation layer: a DSSE envelope.
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
pub use crate::statement::{IN_TOTO, PREDICATE_TYPE_NOT_ACCEPTED};
/// Envelopes above this size are rejected before parsing.
const MAX_ENVELOPE: usize = 4 << 20;

/// Whether a manifest of `artifact_type` with layers of the given media types is a cosign
/// attestation: the attestation artifact type, or (the tag form has no artifact type) DSSE
/// envelope layers.
pub fn is_attestation<'a, I: Iterator<Item = &'a str>>(
    artifact_type: Option<&str>,
    layer_media_types: impl FnOnce() -> I,
) -> bool {
    artifact_type == Some(ARTIFACT_TYPE) || layer_media_types().any(|m| m == DSSE_ENVELOPE)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// Verifies the attestation manifest (already read from the store) against the subject.
pub(crate) fn verify_manifest(
    host: &dyn Host,
    config: &Config,
    subject_digest: &str,
    manifest: &Manifest,
) -> Result<Outcome, Failure> {
    let (mut ext, count) =
        verify::first_verified(host, manifest, DSSE_ENVELOPE, "attestation", |l| {
            verify_layer(host, config, subject_digest, l)
        })?;
    ext.insert("attestations".into(), count.to_string());
    let who = verify::signer(&ext);
    let predicate = ext.get("predicateType").cloned().unwrap_or_default();
    Ok(Outcome {
        ok: true,
        message: format!(
            "cosign attestation ({predicate}) of {subject_digest} verified with {who}"
        ),
        reason: None,
        extensions: ext,
    })
}

/// Verifies one DSSE layer; returns the extensions on success.
fn verify_layer(
    host: &dyn Host,
    config: &Config,
    subject_digest: &str,
    layer: &Layer,
) -> Result<BTreeMap<String, String>, Failure> {
    let envelope_bytes =
        verify::capped_blob(host, &layer.digest, "the DSSE envelope", MAX_ENVELOPE)?;
    let envelope: Envelope = serde_json::from_slice(&envelope_bytes).or_else(|e| {
        fail(
            "INVALID_ENVELOPE",
            format!("the layer is not a DSSE envelope: {e}"),
        )
    })?;
    let (payload, statement) = statement_about(&envelope, subject_digest, config.max_statement)?;
    let message = crate::bundle::pae(&envelope.payload_type, &payload);
    let signatures = envelope
        .signatures
        .iter()
        .enumerate()
        .map(|(i, s)| {
            b64(&s.sig).or_else(|e| {
                fail(
                    "INVALID_ENVELOPE",
                    format!("the DSSE signatures[{i}].sig is not base64: {e}"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if signatures.is_empty() {
        return fail("INVALID_ENVELOPE", "the DSSE envelope has no signatures");
    }

    let mut ext = trust(host, config, layer, &envelope_bytes, &message, &signatures)?;
    if let Some(keyid) = envelope.signatures.iter().find(|s| !s.keyid.is_empty()) {
        ext.insert("keyid".into(), keyid.keyid.clone());
    }
    statement.check_type(config.attestation_types.as_deref())?;
    ext.insert(
        "predicateType".into(),
        statement.predicate_type().to_owned(),
    );
    if let Some(sbom) = crate::statement::check_sbom(&statement, config.sbom.as_ref())? {
        ext.insert(crate::statement::SBOM_EXTENSION.into(), sbom);
    }
    if config.max_statement.is_some() {
        ext.insert(crate::statement::EXTENSION.into(), statement.handed_on());
    }
    ext.insert("signedDigest".into(), subject_digest.to_owned());
    Ok(ext)
}

/// The envelope's payload, decoded, and its in-toto statement, which must be about the subject.
fn statement_about(
    envelope: &Envelope,
    subject_digest: &str,
    max_statement: Option<usize>,
) -> Result<(Vec<u8>, Statement), Failure> {
    if envelope.payload_type != IN_TOTO {
        return fail(
            "INVALID_ENVELOPE",
            format!(
                "the DSSE payloadType is {:?}; a cosign attestation carries {IN_TOTO}",
                envelope.payload_type
            ),
        );
    }
    let payload = b64(&envelope.payload).or_else(|e| {
        fail(
            "INVALID_ENVELOPE",
            format!("the DSSE payload is not base64: {e}"),
        )
    })?;
    let statement = crate::statement::about(&payload, subject_digest, max_statement)?;
    Ok((payload, statement))
}

/// Who signed `message` with one of `signatures`: a configured key, else the layer's keyless
/// certificate; then the Rekor bundle when a Rekor key is configured (required for keyless).
fn trust(
    host: &dyn Host,
    config: &Config,
    layer: &Layer,
    envelope: &[u8],
    message: &[u8],
    signatures: &[Vec<u8>],
) -> Result<BTreeMap<String, String>, Failure> {
    let bundle = layer.annotations.get(BUNDLE_ANN);
    let mut errors = Vec::new();
    if !config.keys.is_empty() {
        let by_key = signatures
            .iter()
            .find_map(|sig| verify::verify_with_keys(host, &config.keys, message, sig).ok());
        match by_key {
            Some(key) => {
                let mut ext = BTreeMap::from([
                    ("verificationMode".to_owned(), "key".to_owned()),
                    ("key".to_owned(), key.name.clone()),
                ]);
                if let (Some(bundle), Some(_)) = (bundle, &config.rekor) {
                    let (index, _) = verify_intoto_entry(host, config, bundle, envelope, &key.key.der)?;
                    ext.insert("rekorLogIndex".into(), index.to_string());
                }
                return Ok(ext);
            }
            None => errors.push(Failure {
                reason: "SIGNATURE_INVALID",
                message: format!(
                    "no configured key verifies any of the {} DSSE signature(s) over the envelope's PAE",
                    signatures.len()
                ),
            }),
        }
    }
    let Some(keyless) = &config.keyless else {
        return Err(errors.pop().unwrap_or(Failure {
            reason: "SIGNATURE_INVALID",
            message: "no configured trust applies to this attestation".into(),
        }));
    };
    match layer.annotations.get(CERTIFICATE_ANN) {
        Some(cert_pem) => keyless_trust(
            host, config, keyless, layer, envelope, message, signatures, cert_pem,
        ),
        None if config.keys.is_empty() => fail(
            "UNTRUSTED",
            format!(
                "keyless verification needs the `{CERTIFICATE_ANN}` annotation, which is missing"
            ),
        ),
        None => Err(errors.pop().expect("the key failure was recorded")),
    }
}

#[allow(clippy::too_many_arguments)]
fn keyless_trust(
    host: &dyn Host,
    config: &Config,
    keyless: &Keyless,
    layer: &Layer,
    envelope: &[u8],
    message: &[u8],
    signatures: &[Vec<u8>],
    cert_pem: &str,
) -> Result<BTreeMap<String, String>, Failure> {
    let cert = verify::signing_certificate(cert_pem)?;
    let verified = signatures.iter().any(|sig| {
        host.verify_signature(cert.alg, cert.pem.as_bytes(), message, sig)
            .is_ok()
    });
    if !verified {
        return fail(
            "SIGNATURE_INVALID",
            "no DSSE signature verifies over the envelope's PAE with the signing certificate's key",
        );
    }
    let mut ext = BTreeMap::new();
    let (at, source) = verify::signing_time(
        host,
        config,
        layer,
        &cert.der,
        "attestation",
        &mut ext,
        |b| verify_intoto_entry(host, config, b, envelope, &cert.der),
    )?;
    ext.extend(verify::trust_certificate(
        host,
        config,
        keyless,
        cert.der,
        &cert.fields,
        layer.annotations.get(CHAIN_ANN).map(String::as_str),
        (at, source),
    )?);
    Ok(ext)
}

/// Verifies the layer's Rekor bundle for an attestation: signed entry timestamp and log ID
/// (shared with signatures), an `intoto` entry (0.0.1 or 0.0.2) whose `spec.content.hash` is the
/// SHA-256 of the envelope bytes and whose public key (0.0.1 `spec.publicKey`, 0.0.2 the
/// envelope signatures' `publicKey`) is `signer_der`. Returns the log index and integrated time.
fn verify_intoto_entry(
    host: &dyn Host,
    config: &Config,
    bundle: &str,
    envelope: &[u8],
    signer_der: &[u8],
) -> Result<(i64, i64), Failure> {
    let (payload, body) = verify::verified_entry(host, config, bundle, &["intoto"])?;
    let text = |ptr: &str| {
        body.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let want = verify::hex(&host.sha256(envelope));
    if text("/spec/content/hash/algorithm") != "sha256"
        || !text("/spec/content/hash/value").eq_ignore_ascii_case(&want)
    {
        return fail(
            "TLOG_INVALID",
            "the Rekor entry's content hash is not the SHA-256 of this DSSE envelope",
        );
    }
    let mut keys: Vec<&str> = vec![text("/spec/publicKey")];
    if let Some(sigs) = body
        .pointer("/spec/content/envelope/signatures")
        .and_then(Value::as_array)
    {
        keys.extend(
            sigs.iter()
                .filter_map(|s| s.get("publicKey").and_then(Value::as_str)),
        );
    }
    let is_signer = |key_b64: &str| {
        b64(key_b64)
            .ok()
            .and_then(|pem_bytes| String::from_utf8(pem_bytes).ok())
            .and_then(|pem_text| crate::pem::decode_all(&pem_text).ok())
            .and_then(|blocks| blocks.into_iter().next())
            .is_some_and(|b| b.der == signer_der)
    };
    if !keys.into_iter().any(is_signer) {
        return fail(
            "TLOG_INVALID",
            "the Rekor entry's public key or certificate is not this attestation's signer",
        );
    }
    Ok((payload.log_index, payload.integrated_time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn envelope(payload_type: &str, statement: &Value) -> Envelope {
        let payload = serde_json::to_vec(statement).unwrap();
        Envelope {
            payload_type: payload_type.into(),
            payload: base64::engine::general_purpose::STANDARD.encode(payload),
            signatures: Vec::new(),
        }
    }

    fn statement(kind: &str, sha256: &str) -> Value {
        serde_json::json!({
            "_type": kind,
            "subject": [{"name": "app", "digest": {"sha256": sha256}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {},
        })
    }

    /// The tag form has no artifact type: DSSE layers make an attestation; the OCI 1.1 form is
    /// recognised by its artifact type alone.
    #[test]
    fn recognises_attestation_manifests() {
        assert!(is_attestation(None, || [DSSE_ENVELOPE].into_iter()));
        assert!(is_attestation(Some(ARTIFACT_TYPE), || [].into_iter()));
        assert!(!is_attestation(None, || [
            "application/vnd.dev.cosign.simplesigning.v1+json"
        ]
        .into_iter()));
    }

    /// in-toto: "subject … the set of software artifacts that the attestation applies to"; a
    /// cosign attestation applies to the image only when one subject's sha256 is its digest.
    #[test]
    fn the_statement_must_be_in_toto_and_about_the_subject() {
        let hex = "ab".repeat(32);
        let digest = format!("sha256:{hex}");
        let v1 = "https://in-toto.io/Statement/v1";
        let (_, s) =
            statement_about(&envelope(IN_TOTO, &statement(v1, &hex)), &digest, None).unwrap();
        assert_eq!(s.predicate_type(), "https://slsa.dev/provenance/v1");
        // Upper-case hex names the same digest.
        let upper = statement(v1, &hex.to_uppercase());
        assert!(statement_about(&envelope(IN_TOTO, &upper), &digest, None).is_ok());

        let other = statement(v1, &"cd".repeat(32));
        let f = statement_about(&envelope(IN_TOTO, &other), &digest, None).unwrap_err();
        assert_eq!(f.reason, "SUBJECT_MISMATCH");
        assert!(f.message.contains(&"cd".repeat(32)), "{}", f.message);

        let f = statement_about(
            &envelope("application/json", &statement(v1, &hex)),
            &digest,
            None,
        )
        .unwrap_err();
        assert_eq!(f.reason, "INVALID_ENVELOPE");
        let not_in_toto = statement("https://example.test/Statement", &hex);
        let f = statement_about(&envelope(IN_TOTO, &not_in_toto), &digest, None).unwrap_err();
        assert!(
            f.message.contains("not an in-toto statement"),
            "{}",
            f.message
        );
        let mut bad = envelope(IN_TOTO, &statement(v1, &hex));
        bad.payload = "%%%".into();
        assert_eq!(
            statement_about(&bad, &digest, None).unwrap_err().reason,
            "INVALID_ENVELOPE"
        );
        // A subject digest that is not sha256 matches nothing.
        let f = statement_about(&envelope(IN_TOTO, &statement(v1, &hex)), "sha512:00", None)
            .unwrap_err();
        assert_eq!(f.reason, "SUBJECT_MISMATCH");
    }
}
