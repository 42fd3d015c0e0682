//! Cosign signature verification, independent of the wasm bindings: everything the host provides
//! comes through the [`Host`] trait, so this logic also runs natively in unit tests.
//!
//! A cosign signature manifest (OCI 1.1 referrer with artifact type
//! [`ARTIFACT_TYPE`], or the legacy `sha256-<hex>.sig` tag) has one layer per signature, of media
//! type [`SIMPLE_SIGNING`]: the layer blob is the simple-signing payload and the layer's
//! annotations carry the signature and, for keyless signatures, the certificate, its chain and
//! the Rekor bundle. The artifact passes when at least one layer verifies:
//!
//! 1. the signature (base64 annotation [`SIGNATURE_ANN`]) verifies over the payload bytes with a
//!    configured key, or with the layer's certificate when that certificate chains to a
//!    configured Fulcio root at the signing time, carries the code-signing EKU, has an embedded
//!    SCT that verifies with a CT log of the configured `trustedRoot` (as cosign requires unless
//!    `--insecure-ignore-sct`) and names an accepted identity (SAN) and OIDC issuer;
//! 2. the payload's `critical.type` is `cosign container image signature` and its
//!    `critical.image.docker-manifest-digest` is the subject's digest;
//! 3. the configured `annotations` appear in the payload's `optional` section;
//! 4. a Rekor bundle, when a Rekor key is configured, verifies (required for keyless).
//!
//! Manifests of artifact type [`BUNDLE_V03`] (or with a layer of that media type) are Sigstore
//! bundles instead, verified by [`crate::bundle`] against the configured trusted root.
//!
//! Signing time for keyless certificates: the Rekor bundle's `integratedTime` when the bundle's
//! signed entry timestamp was verified with the configured Rekor key; otherwise the certificate's
//! `notBefore` (an unverified bundle time is never trusted).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::config::{Config, Key, Keyless};
use crate::der;
use crate::pem::{self, Alg};

/// Artifact type of cosign signature manifests in the OCI 1.1 referrers form.
pub const ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// Artifact / media type of Sigstore bundles v0.3 (verified by [`crate::bundle`]).
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANN: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation holding the PEM signing certificate (keyless).
pub const CERTIFICATE_ANN: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation holding the PEM chain (intermediates, root) of the certificate.
pub const CHAIN_ANN: &str = "dev.sigstore.cosign/chain";
/// Layer annotation holding the Rekor bundle JSON.
pub const BUNDLE_ANN: &str = "dev.sigstore.cosign/bundle";
/// The `critical.type` of a cosign signature payload.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";
/// The media type of a subject that is a local file, not a manifest (the host's blob source).
pub const FILE_MEDIA_TYPE: &str = "application/octet-stream";
/// Extended key usage required of Fulcio certificates: code signing.
pub const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";

/// A validated certificate path element, as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// SHA-256 fingerprint, hex.
    pub fingerprint: String,
}

/// What the verifier needs from its host.
pub trait Host {
    /// The bytes of the artifact's manifest.
    fn manifest(&self) -> Result<Vec<u8>, String>;
    /// The bytes of the subject's manifest (what a bundle's message signature signs).
    fn subject_manifest(&self) -> Result<Vec<u8>, String>;
    /// The subject's media type: a manifest's, or [`FILE_MEDIA_TYPE`] for a local file whose
    /// bytes the host does not serve (`vouch verify --file/--digest`).
    fn subject_media_type(&self) -> &str;
    /// The bytes of a blob the manifest names.
    fn blob(&self, digest: &str) -> Result<Vec<u8>, String>;
    /// Verify `signature` over `message` with a PEM key or certificate.
    fn verify_signature(
        &self,
        alg: Alg,
        key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), String>;
    /// Validate a chain (leaf first, DER) to one of `roots` at `at` with the EKU `eku`.
    fn verify_chain(
        &self,
        chain: Vec<Vec<u8>>,
        roots: Vec<Vec<u8>>,
        at: i64,
        eku: &str,
    ) -> Result<Vec<CertInfo>, String>;
    /// Parse a certificate without validating it.
    fn parse_certificate(&self, cert: &[u8]) -> Result<CertInfo, String>;
    /// SHA-256 of `data`.
    fn sha256(&self, data: &[u8]) -> Vec<u8>;
    /// Digest of `data` with `alg` (RFC 3161 message imprints may use SHA-384 or SHA-512).
    fn digest(&self, alg: verifier_common::crypto::HashAlg, data: &[u8]) -> Vec<u8>;
    /// Emit a debug log line.
    fn debug(&self, message: &str);
}

/// A verification failure: a machine-readable reason and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// SCREAMING_SNAKE_CASE reason.
    pub reason: &'static str,
    /// What went wrong.
    pub message: String,
}

pub(crate) fn fail<T>(reason: &'static str, message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        reason,
        message: message.into(),
    })
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the artifact passed.
    pub ok: bool,
    /// Summary.
    pub message: String,
    /// Reason when failed.
    pub reason: Option<&'static str>,
    /// Extension values (all text).
    pub extensions: BTreeMap<String, String>,
}

impl Outcome {
    pub(crate) fn failed(f: Failure) -> Outcome {
        Outcome {
            ok: false,
            message: f.message,
            reason: Some(f.reason),
            extensions: BTreeMap::new(),
        }
    }
}

/// The fields of a cosign signature or attestation manifest the verifier reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    artifact_type: Option<String>,
    #[serde(default)]
    pub(crate) layers: Vec<Layer>,
    subject: Option<Subject>,
}

/// One layer of a cosign manifest: a payload or envelope blob and its annotations.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Layer {
    pub(crate) media_type: String,
    pub(crate) digest: String,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Subject {
    digest: String,
}

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
    #[serde(default)]
    optional: Option<serde_json::Map<String, Value>>,
}

#[derive(Deserialize)]
struct Critical {
    #[serde(default)]
    identity: Option<PayloadIdentity>,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct PayloadIdentity {
    #[serde(rename = "docker-reference", default)]
    docker_reference: Option<String>,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Payloads above this size are rejected before parsing.
const MAX_PAYLOAD: usize = 1 << 20;

/// Verifies the artifact whose manifest the host returns against `subject_digest`.
pub fn verify(host: &dyn Host, config: &Config, subject_digest: &str) -> Outcome {
    match verify_inner(host, config, subject_digest) {
        Ok(o) => o,
        Err(f) => Outcome::failed(f),
    }
}

fn verify_inner(
    host: &dyn Host,
    config: &Config,
    subject_digest: &str,
) -> Result<Outcome, Failure> {
    let bytes = host.manifest().or_else(|e| {
        fail(
            "STORE_ERROR",
            format!("cannot read the signature manifest: {e}"),
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&bytes).or_else(|e| {
        fail(
            "INVALID_ENVELOPE",
            format!("the signature manifest is not a valid OCI manifest: {e}"),
        )
    })?;
    let is_bundle = manifest.artifact_type.as_deref() == Some(BUNDLE_V03)
        || manifest.layers.iter().any(|l| l.media_type == BUNDLE_V03);
    if let Some(s) = &manifest.subject
        && s.digest != subject_digest
    {
        return fail(
            "SUBJECT_MISMATCH",
            format!(
                "the signature manifest's subject is {}, not the subject under verification {subject_digest}",
                s.digest
            ),
        );
    }
    if crate::attestation::is_attestation(manifest.artifact_type.as_deref(), || {
        manifest.layers.iter().map(|l| l.media_type.as_str())
    }) {
        return crate::attestation::verify_manifest(host, config, subject_digest, &manifest);
    }
    if is_bundle {
        let layers: Vec<&str> = manifest
            .layers
            .iter()
            .filter(|l| l.media_type == BUNDLE_V03)
            .map(|l| l.digest.as_str())
            .collect();
        return crate::bundle::verify_layers(host, config, subject_digest, &layers);
    }
    let (mut ext, count) = first_verified(host, &manifest, SIMPLE_SIGNING, "signature", |layer| {
        verify_layer(host, config, subject_digest, layer)
    })?;
    ext.insert("signedDigest".into(), subject_digest.to_owned());
    ext.insert("signatures".into(), count.to_string());
    let who = signer(&ext);
    Ok(Outcome {
        ok: true,
        message: format!("cosign signature of {subject_digest} verified with {who}"),
        reason: None,
        extensions: ext,
    })
}

/// Verify the `media_type` layers of a cosign `what` manifest (`signature`, `attestation`) one
/// by one: the first that verifies wins (its extensions, with `layer` naming it, and how many such
/// layers there are); none is every layer's failure ([`all_failed`]); no such layer is an
/// `INVALID_ENVELOPE`.
pub(crate) fn first_verified(
    host: &dyn Host,
    manifest: &Manifest,
    media_type: &str,
    what: &str,
    verify_layer: impl Fn(&Layer) -> Result<BTreeMap<String, String>, Failure>,
) -> Result<(BTreeMap<String, String>, usize), Failure> {
    let layers: Vec<&Layer> = manifest
        .layers
        .iter()
        .filter(|l| l.media_type == media_type)
        .collect();
    if layers.is_empty() {
        return fail(
            "INVALID_ENVELOPE",
            format!(
                "the {what} manifest has no {media_type} layer ({} layers in all)",
                manifest.layers.len()
            ),
        );
    }
    let mut failures: Vec<(String, Failure)> = Vec::new();
    for layer in &layers {
        match verify_layer(layer) {
            Ok(mut ext) => {
                ext.insert("layer".into(), layer.digest.clone());
                return Ok((ext, layers.len()));
            }
            Err(f) => {
                host.debug(&format!("layer {}: {}", layer.digest, f.message));
                failures.push((layer.digest.clone(), f));
            }
        }
    }
    all_failed(failures, &format!("cosign {what}"))
}

/// The blob `digest` (`what`, for messages), refused when over `limit` bytes.
pub(crate) fn capped_blob(
    host: &dyn Host,
    digest: &str,
    what: &str,
    limit: usize,
) -> Result<Vec<u8>, Failure> {
    let data = host
        .blob(digest)
        .or_else(|e| fail("STORE_ERROR", format!("cannot read {what}: {e}")))?;
    if data.len() > limit {
        return fail(
            "INVALID_ENVELOPE",
            format!("{what} is {} bytes; the limit is {limit}", data.len()),
        );
    }
    Ok(data)
}

/// Who signed, from a verified layer's extensions: `key `name`` or `keyless identity … (issuer
/// …)`.
pub(crate) fn signer(ext: &BTreeMap<String, String>) -> String {
    let get = |k: &str| ext.get(k).map_or("", String::as_str);
    match get("verificationMode") {
        "key" => format!("key `{}`", get("key")),
        _ => format!(
            "keyless identity {} (issuer {})",
            get("subject"),
            get("issuer")
        ),
    }
}

/// The failure when every layer failed (`failures` non-empty, in layer order): the first
/// layer's reason, with its message alone, or every layer's message prefixed by its digest.
pub(crate) fn all_failed<D: std::fmt::Display, T>(
    mut failures: Vec<(D, Failure)>,
    what: &str,
) -> Result<T, Failure> {
    let reason = failures[0].1.reason;
    let message = if failures.len() == 1 {
        failures.remove(0).1.message
    } else {
        let parts: Vec<String> = failures
            .iter()
            .map(|(d, f)| format!("layer {d}: {}", f.message))
            .collect();
        format!("no {what} verifies: {}", parts.join("; "))
    };
    fail(reason, message)
}

pub(crate) fn b64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD.decode(text.trim())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The accepted identity (SAN) and OIDC issuer of a certificate, or an `IDENTITY_MISMATCH`.
pub(crate) fn match_identity(
    keyless: &Keyless,
    fields: &der::CertFields,
) -> Result<(String, String), Failure> {
    let Some(issuer) = fields.issuer() else {
        return fail(
            "IDENTITY_MISMATCH",
            "the signing certificate has no Fulcio OIDC issuer extension (1.3.6.1.4.1.57264.1.8 or .1.1)",
        );
    };
    let matched = keyless
        .identities
        .iter()
        .find_map(|id| id.accepts(issuer, &fields.sans, &fields.github));
    let Some(subject) = matched else {
        let wanted: Vec<String> = keyless.identities.iter().map(|i| i.describe()).collect();
        let workflow = if keyless.identities.iter().any(|i| !i.github.is_empty()) {
            let have: Vec<String> = fields
                .github
                .iter()
                .map(|(k, v)| format!("{k} {v:?}"))
                .collect();
            format!(
                " and GitHub workflow extensions [{}]",
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            )
        } else {
            String::new()
        };
        return fail(
            "IDENTITY_MISMATCH",
            format!(
                "the certificate's identity {:?} from issuer {issuer:?}{workflow} is not accepted (accepted: {})",
                fields.sans,
                wanted.join(", ")
            ),
        );
    };
    Ok((subject.clone(), issuer.to_owned()))
}

/// The certificate's GitHub workflow extensions as report extensions (`githubWorkflowRepository`,
/// …), for policies to read.
pub(crate) fn workflow_extensions(ext: &mut BTreeMap<String, String>, fields: &der::CertFields) {
    for (name, value) in &fields.github {
        ext.insert((*name).to_owned(), value.clone());
    }
}

/// Verifies one simple-signing layer; returns the extensions on success.
fn verify_layer(
    host: &dyn Host,
    config: &Config,
    subject_digest: &str,
    layer: &Layer,
) -> Result<BTreeMap<String, String>, Failure> {
    let sig_text = layer.annotations.get(SIGNATURE_ANN).map_or_else(
        || {
            fail(
                "INVALID_ENVELOPE",
                format!("no `{SIGNATURE_ANN}` annotation"),
            )
        },
        Ok,
    )?;
    let signature = b64(sig_text).or_else(|e| {
        fail(
            "INVALID_ENVELOPE",
            format!("the `{SIGNATURE_ANN}` annotation is not valid base64: {e}"),
        )
    })?;
    let payload = capped_blob(host, &layer.digest, "the payload", MAX_PAYLOAD)?;

    let mut ext = BTreeMap::new();
    let mut errors: Vec<Failure> = Vec::new();
    let mut signer: Option<Signer> = None;
    if !config.keys.is_empty() {
        match verify_with_keys(host, &config.keys, &payload, &signature) {
            Ok(key) => signer = Some(Signer::Key(key)),
            Err(f) => errors.push(f),
        }
    }
    let cert_pem = layer.annotations.get(CERTIFICATE_ANN);
    if signer.is_none()
        && let Some(keyless) = &config.keyless
    {
        match cert_pem {
            Some(cert_pem) => {
                match verify_keyless(host, config, keyless, layer, cert_pem, &payload, &signature) {
                    Ok(e) => {
                        ext.extend(e);
                        signer = Some(Signer::Keyless);
                    }
                    Err(f) => errors.push(f),
                }
            }
            None if config.keys.is_empty() => {
                errors.push(Failure {
                    reason: "UNTRUSTED",
                    message: format!(
                        "keyless verification needs the `{CERTIFICATE_ANN}` annotation, which is missing"
                    ),
                });
            }
            None => {}
        }
    }
    let Some(signer) = signer else {
        // Prefer the keyless failure when a certificate was there to judge: it is the more precise.
        return Err(errors.pop().unwrap_or(Failure {
            reason: "SIGNATURE_INVALID",
            message: "no configured trust applies to this signature".into(),
        }));
    };
    if let Signer::Key(key) = &signer {
        ext.insert("verificationMode".into(), "key".into());
        ext.insert("key".into(), key.name.clone());
        // A bundle on a key-based signature is checked when a Rekor key is configured.
        if let (Some(bundle), Some(_)) = (layer.annotations.get(BUNDLE_ANN), &config.rekor) {
            let spki = key_spki_pem(key);
            let b = verify_bundle(host, config, bundle, &payload, &signature, &spki)?;
            ext.insert("rekorLogIndex".into(), b.log_index.to_string());
            ext.insert("rekorIntegratedTime".into(), b.integrated_time.to_string());
        }
    }

    let p: Payload = serde_json::from_slice(&payload).or_else(|e| {
        fail(
            "INVALID_ENVELOPE",
            format!("the signed payload is not a simple-signing document: {e}"),
        )
    })?;
    if p.critical.kind != PAYLOAD_TYPE {
        return fail(
            "INVALID_ENVELOPE",
            format!(
                "the payload's critical.type is {:?}, expected {PAYLOAD_TYPE:?}",
                p.critical.kind
            ),
        );
    }
    if p.critical.image.docker_manifest_digest != subject_digest {
        return fail(
            "SUBJECT_MISMATCH",
            format!(
                "the signature is for {}, not for the subject {subject_digest}",
                p.critical.image.docker_manifest_digest
            ),
        );
    }
    if let Some(r) = p.critical.identity.and_then(|i| i.docker_reference) {
        ext.insert("dockerReference".into(), r);
    }
    for (k, v) in &config.annotations {
        let found = p.optional.as_ref().and_then(|o| o.get(k));
        match found {
            Some(Value::String(s)) if s == v => {}
            other => {
                return fail(
                    "ANNOTATION_MISMATCH",
                    format!(
                        "the payload's optional.{k} is {}, expected {v:?}",
                        other.map_or_else(|| "absent".to_owned(), Value::to_string)
                    ),
                );
            }
        }
    }
    Ok(ext)
}

enum Signer<'a> {
    Key(&'a Key),
    Keyless,
}

/// The SPKI DER of a configured key, for comparison with a Rekor entry (PKCS#1 keys as given).
fn key_spki_pem(key: &Key) -> Vec<u8> {
    key.key.der.clone()
}

pub(crate) fn verify_with_keys<'a>(
    host: &dyn Host,
    keys: &'a [Key],
    payload: &[u8],
    signature: &[u8],
) -> Result<&'a Key, Failure> {
    let mut why = Vec::new();
    for key in keys {
        match host.verify_signature(key.key.alg, key.pem.as_bytes(), payload, signature) {
            Ok(()) => return Ok(key),
            Err(e) => why.push(format!("key `{}` ({}): {e}", key.name, key.key.alg.name())),
        }
    }
    fail(
        "SIGNATURE_INVALID",
        format!(
            "no configured key verifies the signature: {}",
            why.join("; ")
        ),
    )
}

#[allow(clippy::too_many_arguments)]
fn verify_keyless(
    host: &dyn Host,
    config: &Config,
    keyless: &Keyless,
    layer: &Layer,
    cert_pem: &str,
    payload: &[u8],
    signature: &[u8],
) -> Result<BTreeMap<String, String>, Failure> {
    let SigningCertificate {
        der: leaf,
        fields,
        alg,
        pem: leaf_pem,
    } = signing_certificate(cert_pem)?;
    host.verify_signature(alg, leaf_pem.as_bytes(), payload, signature)
        .or_else(|e| {
            fail(
                "SIGNATURE_INVALID",
                format!("the signature does not verify with the signing certificate's key: {e}"),
            )
        })?;

    let mut ext = BTreeMap::new();
    let (at, source) = signing_time(
        host,
        config,
        layer,
        &leaf,
        "signature",
        &mut ext,
        |bundle| {
            verify_bundle(host, config, bundle, payload, signature, &leaf)
                .map(|b| (b.log_index, b.integrated_time))
        },
    )?;
    ext.extend(trust_certificate(
        host,
        config,
        keyless,
        leaf,
        &fields,
        layer.annotations.get(CHAIN_ANN).map(String::as_str),
        (at, source),
    )?);
    Ok(ext)
}

/// The signing time of a keyless `what` (`signature`, `attestation`) by the certificate
/// `leaf_der`: with a Rekor key configured, the layer's bundle is required and `verify_bundle`
/// (returning its log index and integrated time) must accept it — the index goes into `ext`;
/// without one, the certificate's `notBefore` (an unverified bundle time is never trusted).
pub(crate) fn signing_time(
    host: &dyn Host,
    config: &Config,
    layer: &Layer,
    leaf_der: &[u8],
    what: &str,
    ext: &mut BTreeMap<String, String>,
    verify_bundle: impl FnOnce(&str) -> Result<(i64, i64), Failure>,
) -> Result<(i64, &'static str), Failure> {
    match (&config.rekor, layer.annotations.get(BUNDLE_ANN)) {
        (Some(_), Some(bundle)) => {
            let (index, time) = verify_bundle(bundle)?;
            ext.insert("rekorLogIndex".into(), index.to_string());
            Ok((time, "rekor"))
        }
        (Some(_), None) => fail(
            "TLOG_INVALID",
            format!(
                "a Rekor public key is configured but the {what} has no `{BUNDLE_ANN}` annotation"
            ),
        ),
        (None, _) => {
            let info = host
                .parse_certificate(leaf_der)
                .or_else(|e| fail("INVALID_ENVELOPE", format!("the signing certificate: {e}")))?;
            Ok((info.not_before, "certificate"))
        }
    }
}

/// A keyless signing certificate read from the `dev.sigstore.cosign/certificate` annotation.
pub(crate) struct SigningCertificate {
    /// The leaf, DER.
    pub(crate) der: Vec<u8>,
    /// Its parsed fields.
    pub(crate) fields: der::CertFields,
    /// The algorithm its key signs with.
    pub(crate) alg: Alg,
    /// The leaf, PEM (what the host's `verify-signature` takes).
    pub(crate) pem: String,
}

/// Parse the first certificate of `cert_pem` (the certificate annotation) and its key's algorithm.
pub(crate) fn signing_certificate(cert_pem: &str) -> Result<SigningCertificate, Failure> {
    let leaf = pem::certificates(cert_pem)
        .or_else(|e| {
            fail(
                "INVALID_ENVELOPE",
                format!("the `{CERTIFICATE_ANN}` annotation: {e}"),
            )
        })?
        .remove(0);
    let fields = der::cert_fields(&leaf)
        .or_else(|e| fail("INVALID_ENVELOPE", format!("the signing certificate: {e}")))?;
    let alg = pem::spki_alg(&fields.spki).or_else(|e| {
        fail(
            "INVALID_ENVELOPE",
            format!("the signing certificate's key: {e}"),
        )
    })?;
    let pem = pem::encode("CERTIFICATE", &leaf);
    Ok(SigningCertificate {
        der: leaf,
        fields,
        alg,
        pem,
    })
}

/// Trust a keyless signing certificate (`leaf`, DER): it chains through `chain_pem` to a
/// configured Fulcio root at the signing time `at` (from `source`) with the code-signing EKU,
/// carries an embedded SCT of a CT log of `config`'s trusted root, and names an accepted
/// identity. Returns the report's extensions.
pub(crate) fn trust_certificate(
    host: &dyn Host,
    config: &Config,
    keyless: &Keyless,
    leaf: Vec<u8>,
    fields: &der::CertFields,
    chain_pem: Option<&str>,
    (at, source): (i64, &str),
) -> Result<BTreeMap<String, String>, Failure> {
    if keyless.roots.is_empty() {
        return fail(
            "UNTRUSTED",
            "no fulcioRoots are configured (trustedRoot applies to Sigstore bundles only)",
        );
    }
    let mut chain = vec![leaf];
    if let Some(chain_pem) = chain_pem {
        let certs = pem::certificates(chain_pem).or_else(|e| {
            fail(
                "INVALID_ENVELOPE",
                format!("the `{CHAIN_ANN}` annotation: {e}"),
            )
        })?;
        chain.extend(certs);
    }
    let path = host
        .verify_chain(chain.clone(), keyless.roots.clone(), at, CODE_SIGNING)
        .or_else(|e| {
            fail(
                "UNTRUSTED",
                format!("the signing certificate does not chain to a configured Fulcio root at {at}: {e}"),
            )
        })?;
    let ct_log = verify_legacy_sct(host, config, &chain, &keyless.roots, &path)?;

    let (subject, issuer) = match_identity(keyless, fields)?;
    let mut ext = BTreeMap::new();
    ext.insert("sct".into(), ct_log);
    ext.insert("verificationMode".into(), "keyless".into());
    ext.insert("subject".into(), subject);
    ext.insert("issuer".into(), issuer);
    workflow_extensions(&mut ext, fields);
    ext.insert("signingTime".into(), at.to_string());
    ext.insert("signingTimeSource".into(), source.into());
    if let Some(leaf) = path.first() {
        ext.insert("certificateFingerprint".into(), leaf.fingerprint.clone());
    }
    if let Some(root) = path.last() {
        ext.insert("root".into(), root.subject.clone());
    }
    Ok(ext)
}

/// The embedded SCT of a keyless simple-signing certificate, as cosign checks it on this path
/// too (`pkg/cosign/verify.go`: unless `--insecure-ignore-sct`, a certificate without an
/// embedded SCT is refused, and the SCT must verify with a CT log key): verified against the
/// `ctlogs` of the configured `trustedRoot` (see [`crate::sct::verify_embedded`]). Without a
/// trusted root there are no CT log keys, and the signature fails (`UNTRUSTED`). `chain` is the
/// leaf and the chain annotation's certificates, `path` the validated path (leaf first); the
/// leaf's issuer is the path's second certificate, found among `chain` and `roots`.
fn verify_legacy_sct(
    host: &dyn Host,
    config: &Config,
    chain: &[Vec<u8>],
    roots: &[Vec<u8>],
    path: &[CertInfo],
) -> Result<String, Failure> {
    let Some(root) = &config.trusted_root else {
        return fail(
            "UNTRUSTED",
            "the signing certificate's embedded SCT (Certificate Transparency) is verified with \
             the CT log keys of a trusted root, and none is configured: add `trustedRoot` (or \
             `trustedRootFile`, a Sigstore trusted_root.json) whose `ctlogs` hold them",
        );
    };
    let issuer = path.get(1).and_then(|p| {
        chain[1..]
            .iter()
            .chain(roots)
            .find(|c| hex(&host.sha256(c)).eq_ignore_ascii_case(&p.fingerprint))
    });
    let Some(issuer) = issuer else {
        return fail(
            "UNTRUSTED",
            "the signing certificate's issuer is not among the chain and the Fulcio roots, so its \
             SCT cannot be checked",
        );
    };
    crate::sct::verify_embedded(host, root, &chain[0], issuer)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Bundle {
    signed_entry_timestamp: String,
    payload: BundlePayload,
}

/// The part of a Rekor entry its signed entry timestamp signs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BundlePayload {
    /// Base64 of the canonicalized entry body.
    pub(crate) body: String,
    /// When the log integrated the entry, Unix seconds.
    pub(crate) integrated_time: i64,
    /// The entry's index in the log.
    pub(crate) log_index: i64,
    /// Hex SHA-256 of the log's DER public key.
    #[serde(rename = "logID")]
    pub(crate) log_id: String,
}

/// What a verified bundle says.
struct VerifiedBundle {
    integrated_time: i64,
    log_index: i64,
}

/// The RFC 8785 canonical JSON of a bundle payload (keys sorted, no spaces), which the SET signs.
pub(crate) fn canonical_payload(p: &BundlePayload) -> String {
    let s = |v: &str| Value::String(v.to_owned()).to_string();
    format!(
        "{{\"body\":{},\"integratedTime\":{},\"logID\":{},\"logIndex\":{}}}",
        s(&p.body),
        p.integrated_time,
        s(&p.log_id),
        p.log_index
    )
}

/// Verifies a Rekor bundle: its signed entry timestamp with the configured Rekor key, its log ID,
/// and that its entry (`hashedrekord` or `rekord`) is about this payload, signature and signer
/// (`signer_der`: the certificate DER, or the key DER for key-based signatures).
fn verify_bundle(
    host: &dyn Host,
    config: &Config,
    bundle: &str,
    payload: &[u8],
    signature: &[u8],
    signer_der: &[u8],
) -> Result<VerifiedBundle, Failure> {
    let (b, body) = verified_entry(host, config, bundle, &["hashedrekord", "rekord"])?;
    let text = |ptr: &str| {
        body.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let want_hash = hex(&host.sha256(payload));
    if !text("/spec/data/hash/value").eq_ignore_ascii_case(&want_hash) {
        return fail(
            "TLOG_INVALID",
            "the Rekor entry's payload hash is not the SHA-256 of this payload",
        );
    }
    if b64(text("/spec/signature/content")).ok().as_deref() != Some(signature) {
        return fail(
            "TLOG_INVALID",
            "the Rekor entry's signature is not this signature",
        );
    }
    let entry_key = b64(text("/spec/signature/publicKey/content"))
        .ok()
        .and_then(|pem_bytes| String::from_utf8(pem_bytes).ok())
        .and_then(|pem_text| pem::decode_all(&pem_text).ok())
        .and_then(|blocks| blocks.into_iter().next());
    if entry_key.map(|b| b.der).as_deref() != Some(signer_der) {
        return fail(
            "TLOG_INVALID",
            "the Rekor entry's public key or certificate is not this signature's signer",
        );
    }
    Ok(VerifiedBundle {
        integrated_time: b.integrated_time,
        log_index: b.log_index,
    })
}

/// A Rekor bundle whose signed entry timestamp verifies with the configured Rekor key, whose
/// log ID is that key's and whose entry is of one of `kinds`: its payload and its decoded entry
/// body (what the caller still has to match against the signature it is about).
pub(crate) fn verified_entry(
    host: &dyn Host,
    config: &Config,
    bundle: &str,
    kinds: &[&str],
) -> Result<(BundlePayload, Value), Failure> {
    let Some(rekor) = &config.rekor else {
        return fail("TLOG_INVALID", "no Rekor public key is configured");
    };
    let b: Bundle = serde_json::from_str(bundle).or_else(|e| {
        fail(
            "TLOG_INVALID",
            format!("the Rekor bundle is not valid: {e}"),
        )
    })?;
    let set = b64(&b.signed_entry_timestamp).or_else(|e| {
        fail(
            "TLOG_INVALID",
            format!("the bundle's SignedEntryTimestamp is not base64: {e}"),
        )
    })?;
    let canonical = canonical_payload(&b.payload);
    host.verify_signature(
        rekor.key.alg,
        rekor.pem.as_bytes(),
        canonical.as_bytes(),
        &set,
    )
    .or_else(|e| {
        fail(
            "TLOG_INVALID",
            format!("the bundle's signed entry timestamp does not verify with the Rekor key: {e}"),
        )
    })?;
    let log_id = hex(&host.sha256(&rekor.key.der));
    if !b.payload.log_id.eq_ignore_ascii_case(&log_id) {
        return fail(
            "TLOG_INVALID",
            format!(
                "the bundle's logID {} is not the configured Rekor key's ID {log_id}",
                b.payload.log_id
            ),
        );
    }
    let body = b64(&b.payload.body).or_else(|e| {
        fail(
            "TLOG_INVALID",
            format!("the bundle body is not base64: {e}"),
        )
    })?;
    let body: Value = serde_json::from_slice(&body)
        .or_else(|e| fail("TLOG_INVALID", format!("the bundle body is not JSON: {e}")))?;
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    if !kinds.contains(&kind) {
        return fail(
            "TLOG_INVALID",
            format!(
                "the Rekor entry is of kind {kind:?}; expected {}",
                kinds.join(" or ")
            ),
        );
    }
    Ok((b.payload, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bundle_payload_sorts_keys() {
        let p = BundlePayload {
            body: "YWJj+/==".into(),
            integrated_time: 1_700_000_000,
            log_index: 42,
            log_id: "c0d2".into(),
        };
        assert_eq!(
            canonical_payload(&p),
            r#"{"body":"YWJj+/==","integratedTime":1700000000,"logID":"c0d2","logIndex":42}"#
        );
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
