//! Sigstore bundles v0.3 (`application/vnd.dev.sigstore.bundle.v0.3+json`), the form current
//! cosign attaches as an OCI 1.1 referrer: one layer holding the bundle JSON, verified offline
//! against the configured `trustedRoot`. For a file subject (the host's blob source, media type
//! `application/octet-stream`: `vouch verify --file/--digest`) bundles v0.1 and v0.2 are read
//! too, by sigstore-go's version rules, and a message signature is checked over the file's
//! digest ([`crate::prehash`]).
//!
//! A bundle layer passes when, in this order:
//!
//! 1. its `mediaType` is the v0.3 bundle type and it holds exactly one of `messageSignature` /
//!    `dsseEnvelope`, and one of `verificationMaterial.certificate` / `.publicKey`;
//! 2. the content is about the subject: a message signature's `messageDigest` (SHA2_256) is the
//!    subject's digest; a DSSE envelope's payload is an in-toto statement (`payloadType`
//!    `application/vnd.in-toto+json`) one of whose `subject[].digest.sha256` is the subject's;
//! 3. the signature verifies with the signer: a message signature over the subject manifest's
//!    bytes (re-read from the store, so what is verified is what the digest names), a DSSE
//!    signature over `PAE("DSSEv1", payloadType, payload)`; the signer is the certificate's key,
//!    or a configured key (the one named by `publicKey.hint` when it names one, else any);
//! 4. every RFC 3161 signed timestamp (`timestampVerificationData.rfc3161Timestamps`) verifies
//!    with a timestamp authority of the trusted root over the signature bytes (see
//!    [`crate::timestamp`]);
//! 5. every transparency-log entry verifies (and there are `thresholds.transparencyLog` of
//!    them, default 1): its `logId` names a log of the trusted root (whose key
//!    hashes to that ID); a Rekor v1 entry (`integratedTime`, not in the future, inside the log
//!    key's validity) needs its signed entry timestamp (`inclusionPromise`), which verifies with
//!    that key over the canonical JSON `{"body","integratedTime","logID","logIndex"}`; a Rekor v2
//!    entry (`hashedrekord`/`dsse` 0.0.2: no integrated time, no promise) needs a signed timestamp
//!    (at each of which the log key was valid) and an inclusion proof; its `canonicalizedBody`
//!    (v1: `spec.data`/`spec.signature`; v2: `spec.hashedRekordV002`/`spec.dsseV002`) names this
//!    digest or payload, this signature and this signer; and an `inclusionProof` is a valid
//!    RFC 6962 Merkle path to a root hash that a checkpoint signed by the same log key commits to
//!    (an Ed25519 log's ID must be the signed-note key hash of the checkpoint origin and key);
//! 6. the verified signing times — timestamps' `genTime`s and v1 entries' integrated times —
//!    meet `thresholds` (default: one of either), and for certificates the certificate chains,
//!    with the code-signing EKU, to a certificate authority of the trusted root valid at each of
//!    them, and names an accepted identity (SAN) and OIDC issuer;
//! 7. for certificates: an embedded SCT (RFC 6962 §3.3, extension `1.3.6.1.4.1.11129.2.4.2`)
//!    verifies with a CT log of the trusted root's `ctlogs` (log ID = SHA-256 of its key, SCT
//!    issued inside the key's `validFor`), over the precertificate entry rebuilt from the
//!    certificate (TBS without the SCT extension, SHA-256 of the issuer's key); the report's `sct`
//!    extension names that log. There is no opt-out: a certificate without one fails.
//! 8. for DSSE envelopes: the statement's `predicateType` is one of `attestationTypes`, when
//!    configured; the verified statement becomes the `statement` extension (see
//!    [`crate::statement`], which also checks the statement's type, subject and size in step 2).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use verifier_common::time::now_unix;

use crate::config::{Config, Key};
use crate::der;
use crate::pem::{self, Alg};
use crate::prehash;
use crate::sct;
use crate::statement::Statement;
use crate::timestamp;
use crate::trusted_root::{TransparencyLog, TrustedRoot, decode_bytes};
use crate::verify::{
    BundlePayload, CODE_SIGNING, CertInfo, FILE_MEDIA_TYPE, Failure, Host, Outcome, all_failed,
    canonical_payload, fail, hex, match_identity, signer,
};

/// The `mediaType` of a v0.3 bundle, in its two spellings.
pub const MEDIA_TYPES: [&str; 2] = [
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
];
/// The `mediaType` of a v0.1 bundle (read for file subjects only).
pub const MEDIA_TYPE_V01: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";
/// The `mediaType` of a v0.2 bundle (read for file subjects only).
pub const MEDIA_TYPE_V02: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";

/// The minor version (1, 2 or 3) of a bundle `mediaType` this verifier reads.
pub fn bundle_version(media_type: &str) -> Option<u8> {
    match media_type {
        MEDIA_TYPE_V01 => Some(1),
        MEDIA_TYPE_V02 => Some(2),
        m if MEDIA_TYPES.contains(&m) => Some(3),
        _ => None,
    }
}
pub use crate::statement::IN_TOTO;
/// Bundles above this size are rejected before parsing.
const MAX_BUNDLE: usize = 1 << 20;

/// A protobuf-JSON `int64`: a string of digits, or (leniently) a JSON number.
#[derive(Debug, Clone, Copy)]
struct Int64(i64);

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => s.parse().map(Int64).map_err(serde::de::Error::custom),
            Value::Number(n) => n
                .as_i64()
                .map(Int64)
                .ok_or_else(|| serde::de::Error::custom("not a 64-bit integer")),
            other => Err(serde::de::Error::custom(format!(
                "expected an int64 (string or number), found {other}"
            ))),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    verification_material: Material,
    message_signature: Option<MessageSignature>,
    dsse_envelope: Option<Envelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    certificate: Option<RawBytes>,
    x509_certificate_chain: Option<CertificateChain>,
    public_key: Option<PublicKeyId>,
    #[serde(default)]
    tlog_entries: Vec<TlogEntry>,
    timestamp_verification_data: Option<TimestampData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimestampData {
    #[serde(default)]
    rfc3161_timestamps: Vec<SignedTimestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignedTimestamp {
    signed_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

/// `X509CertificateChain` (bundles v0.1 and v0.2): the signing certificate first.
#[derive(Deserialize)]
struct CertificateChain {
    #[serde(default)]
    certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
struct PublicKeyId {
    #[serde(default)]
    hint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogEntry {
    log_index: Int64,
    log_id: LogId,
    kind_version: KindVersion,
    /// Absent in Rekor v2 entries (`kindVersion.version` 0.0.2).
    #[serde(default)]
    integrated_time: Option<Int64>,
    inclusion_promise: Option<InclusionPromise>,
    inclusion_proof: Option<InclusionProof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(Deserialize)]
struct KindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionProof {
    log_index: Int64,
    root_hash: String,
    tree_size: Int64,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<Checkpoint>,
}

#[derive(Deserialize)]
struct Checkpoint {
    envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSignature {
    message_digest: MessageDigest,
    signature: String,
}

#[derive(Deserialize)]
struct MessageDigest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

/// DSSE's pre-authentication encoding: what a DSSE signature signs (shared with the `vsa`
/// verifier).
pub use verifier_common::dsse::pae;

/// Who signed: a certificate (leaf DER and its parsed fields) or a configured key.
enum Signer<'a> {
    Certificate {
        der: Vec<u8>,
        fields: der::CertFields,
    },
    Key(&'a Key),
}

impl Signer<'_> {
    /// The DER a log entry's verifier must decode to.
    fn der(&self) -> &[u8] {
        match self {
            Signer::Certificate { der, .. } => der,
            Signer::Key(k) => &k.key.der,
        }
    }
}

/// What a signature is checked over: the signed bytes (a subject manifest, a DSSE PAE), or,
/// for a file subject whose bytes stay on the host, the digest the host computed.
enum Message {
    Bytes(Vec<u8>),
    Prehashed(Vec<u8>),
}

/// What was signed, as the log entry must describe it.
enum Signed {
    /// A message signature over the subject manifest: its SHA-256 and the signature.
    Message { digest: Vec<u8>, signature: Vec<u8> },
    /// A DSSE envelope: its payload and the one signature.
    Dsse {
        payload: Vec<u8>,
        signature: Vec<u8>,
    },
}

fn invalid<T>(message: impl Into<String>) -> Result<T, Failure> {
    fail("INVALID_ENVELOPE", message)
}

fn tlog_invalid<T>(message: impl Into<String>) -> Result<T, Failure> {
    fail("TLOG_INVALID", message)
}

fn bytes(field: &str, text: &str) -> Result<Vec<u8>, Failure> {
    decode_bytes(text).or_else(|e| invalid(format!("the bundle's {field} is {e}")))
}

/// Verifies the bundle layers `digests` (at least one must pass) against `subject_digest`.
pub fn verify_layers(
    host: &dyn Host,
    config: &Config,
    subject_digest: &str,
    digests: &[&str],
) -> Result<Outcome, Failure> {
    if digests.is_empty() {
        return invalid(format!(
            "the Sigstore bundle manifest has no layer of media type {}",
            MEDIA_TYPES[0]
        ));
    }
    let Some(root) = &config.trusted_root else {
        return fail(
            "UNTRUSTED",
            "Sigstore bundles are verified against a trusted root, and no `trustedRoot` is configured",
        );
    };
    let mut failures: Vec<(&str, Failure)> = Vec::new();
    for digest in digests {
        match verify_layer(host, config, root, subject_digest, digest) {
            Ok(mut ext) => {
                ext.insert("layer".into(), (*digest).to_owned());
                ext.insert("signedDigest".into(), subject_digest.to_owned());
                let who = signer(&ext);
                return Ok(Outcome {
                    ok: true,
                    message: format!(
                        "Sigstore bundle ({}) for {subject_digest} verified with {who}",
                        ext.get("content").cloned().unwrap_or_default()
                    ),
                    reason: None,
                    extensions: ext,
                });
            }
            Err(f) => {
                host.debug(&format!("bundle layer {digest}: {}", f.message));
                failures.push((digest, f));
            }
        }
    }
    all_failed(failures, "Sigstore bundle")
}

fn verify_layer(
    host: &dyn Host,
    config: &Config,
    root: &TrustedRoot,
    subject_digest: &str,
    digest: &str,
) -> Result<BTreeMap<String, String>, Failure> {
    let data = host
        .blob(digest)
        .or_else(|e| fail("STORE_ERROR", format!("cannot read the bundle: {e}")))?;
    if data.len() > MAX_BUNDLE {
        return invalid(format!(
            "the bundle is {} bytes; the limit is {MAX_BUNDLE}",
            data.len()
        ));
    }
    let bundle: Bundle = serde_json::from_slice(&data)
        .or_else(|e| invalid(format!("the bundle is not a valid Sigstore bundle: {e}")))?;
    let file_subject = host.subject_media_type() == FILE_MEDIA_TYPE;
    let version = match bundle_version(&bundle.media_type) {
        Some(3) => 3,
        Some(v) if file_subject => v,
        Some(_) => {
            return fail(
                "UNSUPPORTED_FORMAT",
                format!(
                    "the bundle's mediaType is {:?}: bundles attached to images are read in \
                     v0.3 ({}), as cosign attaches them; v0.1 and v0.2 are read for files",
                    bundle.media_type, MEDIA_TYPES[0]
                ),
            );
        }
        None => {
            return fail(
                "UNSUPPORTED_FORMAT",
                format!(
                    "the bundle's mediaType is {:?}; this verifier reads {} (and, for files, \
                     {MEDIA_TYPE_V01} and {MEDIA_TYPE_V02})",
                    bundle.media_type, MEDIA_TYPES[0]
                ),
            );
        }
    };
    let mut ext = BTreeMap::from([("format".to_owned(), format!("sigstore-bundle-v0.{version}"))]);
    let material = &bundle.verification_material;
    check_version_rules(version, material)?;
    let certificate = match (&material.certificate, &material.x509_certificate_chain) {
        (Some(c), None) => Some(("certificate.rawBytes", c)),
        (None, Some(chain)) => match chain.certificates.first() {
            Some(c) => Some(("x509CertificateChain.certificates[0].rawBytes", c)),
            None => return invalid("the bundle's x509CertificateChain has no certificate"),
        },
        (Some(_), Some(_)) => {
            return invalid("the bundle has both a certificate and an x509CertificateChain");
        }
        (None, None) => None,
    };
    let signers: Vec<Signer> = match (certificate, &material.public_key) {
        (Some((field, c)), None) => {
            let der = bytes(field, &c.raw_bytes)?;
            let fields = der::cert_fields(&der)
                .or_else(|e| invalid(format!("the bundle's certificate: {e}")))?;
            vec![Signer::Certificate { der, fields }]
        }
        (None, Some(k)) => {
            if config.keys.is_empty() {
                return fail(
                    "UNTRUSTED",
                    "the bundle is signed with a public key, and no `keys` are configured",
                );
            }
            let named: Vec<&Key> = config.keys.iter().filter(|c| c.name == k.hint).collect();
            let keys = if named.is_empty() {
                config.keys.iter().collect()
            } else {
                named
            };
            keys.into_iter().map(Signer::Key).collect()
        }
        (Some(_), Some(_)) => {
            return invalid("the bundle has both a certificate and a public key");
        }
        (None, None) => {
            return invalid("the bundle's verificationMaterial has no certificate or public key");
        }
    };

    // 1–3: content, subject, signature.
    let mut statement = None;
    let (signed, message): (Signed, Message) =
        match (&bundle.message_signature, &bundle.dsse_envelope) {
            (Some(m), None) => {
                let (signed, message) = message_content(host, subject_digest, file_subject, m)?;
                ext.insert("content".into(), "messageSignature".into());
                (signed, message)
            }
            (None, Some(e)) => {
                let (signed, message, s) = dsse_content(subject_digest, e, config.max_statement)?;
                ext.insert("content".into(), "dsseEnvelope".into());
                ext.insert("predicateType".into(), s.predicate_type().to_owned());
                statement = Some(s);
                (signed, Message::Bytes(message))
            }
            (Some(_), Some(_)) => {
                return invalid("the bundle has both a messageSignature and a dsseEnvelope");
            }
            (None, None) => return invalid("the bundle has no messageSignature or dsseEnvelope"),
        };
    let signature = match &signed {
        Signed::Message { signature, .. } | Signed::Dsse { signature, .. } => signature,
    };
    let signer = verify_signature(host, signers, &message, signature)?;

    // 4: signed timestamps (RFC 3161) over the signature.
    let tokens = material
        .timestamp_verification_data
        .iter()
        .flat_map(|d| &d.rfc3161_timestamps)
        .enumerate()
        .map(|(i, t)| {
            bytes(
                &format!("rfc3161Timestamps[{i}].signedTimestamp"),
                &t.signed_timestamp,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let stamps = timestamp::verify_all(host, root, &tokens, signature)?;

    // 5: the transparency log.
    let stamp_times: Vec<i64> = stamps.iter().map(|s| s.time).collect();
    let thresholds = &config.thresholds;
    let (integrated_times, log) = verify_tlog(
        host,
        root,
        &material.tlog_entries,
        &signed,
        &signer,
        &stamp_times,
        now_unix(),
        thresholds.transparency_log,
    )?;
    ext.extend(log);
    // The verified signing times: the timestamps', and v1 entries' integrated times (vouched for
    // by their signed entry timestamps), counted against the thresholds as sigstore-go's
    // `VerifyObserverTimestamps` does: signed timestamps, integrated timestamps, and either.
    if stamps.len() < thresholds.signed_timestamps {
        return fail(
            "TIMESTAMP_MISSING",
            format!(
                "the bundle has {} verified RFC 3161 signed timestamps; thresholds.signedTimestamps \
                 asks for {}",
                stamps.len(),
                thresholds.signed_timestamps
            ),
        );
    }
    if integrated_times.len() < thresholds.integrated_timestamps {
        return fail(
            "TIMESTAMP_MISSING",
            format!(
                "the bundle has {} log entries with a verified integrated time; \
                 thresholds.integratedTimestamps asks for {}",
                integrated_times.len(),
                thresholds.integrated_timestamps
            ),
        );
    }
    let mut times: Vec<(i64, &str)> = stamps
        .iter()
        .map(|s| (s.time, "timestamp-authority"))
        .collect();
    times.extend(integrated_times.iter().map(|&t| (t, "rekor")));
    let Some(&(first, source)) = times.iter().min() else {
        return fail(
            "TIMESTAMP_MISSING",
            "the bundle proves no signing time: its log entry carries no integrated time (Rekor \
             v2) and it has no RFC 3161 signed timestamp",
        );
    };
    if times.len() < thresholds.observer_timestamps {
        return fail(
            "TIMESTAMP_MISSING",
            format!(
                "the bundle proves {} signing times (signed timestamps and integrated times); \
                 thresholds.observerTimestamps asks for {}",
                times.len(),
                thresholds.observer_timestamps
            ),
        );
    }
    ext.insert("signingTime".into(), first.to_string());
    ext.insert("signingTimeSource".into(), source.into());
    if let Some(s) = stamps.first() {
        ext.insert("timestamp".into(), s.time.to_string());
        ext.insert("timestampAuthority".into(), s.authority.clone());
    }

    // 6: the certificate's chain (at every verified time) and identity.
    match &signer {
        Signer::Key(key) => {
            ext.insert("verificationMode".into(), "key".into());
            ext.insert("key".into(), key.name.clone());
        }
        Signer::Certificate { der, fields } => {
            let Some(keyless) = &config.keyless else {
                return fail(
                    "UNTRUSTED",
                    "the bundle is signed with a certificate, and no `identities` are configured",
                );
            };
            // sigstore-go checks the leaf against the trusted root at each verified timestamp.
            let (ca, path, issuer) = verify_certificate(host, root, der, first)?;
            for &(at, _) in times.iter().filter(|(at, _)| *at != first) {
                verify_certificate(host, root, der, at)?;
            }
            let ct_log = sct::verify_embedded(host, root, der, &issuer)?;
            ext.insert("sct".into(), ct_log);
            let (subject, issuer) = match_identity(keyless, fields)?;
            ext.insert("verificationMode".into(), "keyless".into());
            ext.insert("subject".into(), subject);
            ext.insert("issuer".into(), issuer);
            crate::verify::workflow_extensions(&mut ext, fields);
            if !ca.is_empty() {
                ext.insert("certificateAuthority".into(), ca);
            }
            if let Some(leaf) = path.first() {
                ext.insert("certificateFingerprint".into(), leaf.fingerprint.clone());
            }
            if let Some(r) = path.last() {
                ext.insert("root".into(), r.subject.clone());
            }
        }
    }

    // 8: an attestation's predicate type, and the verified statement handed on.
    if let Some(s) = statement {
        s.check_type(config.attestation_types.as_deref())?;
        if let Some(sbom) = crate::statement::check_sbom(&s, config.sbom.as_ref())? {
            ext.insert(crate::statement::SBOM_EXTENSION.into(), sbom);
        }
        if config.max_statement.is_some() {
            ext.insert(crate::statement::EXTENSION.into(), s.handed_on());
        }
    }
    Ok(ext)
}

/// A message signature: the digest must be the subject's; the message is the subject manifest,
/// or, for a file subject, that digest (the file's bytes stay on the host, which computed it).
fn message_content(
    host: &dyn Host,
    subject_digest: &str,
    file_subject: bool,
    m: &MessageSignature,
) -> Result<(Signed, Message), Failure> {
    if m.message_digest.algorithm != "SHA2_256" {
        return invalid(format!(
            "the message digest algorithm is {:?}; OCI subjects are named by SHA2_256",
            m.message_digest.algorithm
        ));
    }
    let digest = bytes(
        "messageSignature.messageDigest.digest",
        &m.message_digest.digest,
    )?;
    let signature = bytes("messageSignature.signature", &m.signature)?;
    let named = format!("sha256:{}", hex(&digest));
    if named != subject_digest {
        return fail(
            "SUBJECT_MISMATCH",
            format!("the bundle signs {named}, not the subject {subject_digest}"),
        );
    }
    if file_subject {
        return Ok((
            Signed::Message {
                digest: digest.clone(),
                signature,
            },
            Message::Prehashed(digest),
        ));
    }
    let manifest = host.subject_manifest().or_else(|e| {
        fail(
            "STORE_ERROR",
            format!("cannot read the subject manifest: {e}"),
        )
    })?;
    if host.sha256(&manifest) != digest {
        return fail(
            "STORE_ERROR",
            "the subject manifest read from the store does not hash to the subject digest",
        );
    }
    Ok((
        Signed::Message { digest, signature },
        Message::Bytes(manifest),
    ))
}

/// A DSSE envelope: an in-toto statement about the subject; the message is its PAE.
fn dsse_content(
    subject_digest: &str,
    e: &Envelope,
    max_statement: Option<usize>,
) -> Result<(Signed, Vec<u8>, Statement), Failure> {
    if e.payload_type != IN_TOTO {
        return invalid(format!(
            "the DSSE payloadType is {:?}; expected {IN_TOTO}",
            e.payload_type
        ));
    }
    let [sig] = e.signatures.as_slice() else {
        return invalid(format!(
            "the DSSE envelope has {} signatures; a Sigstore bundle has exactly one",
            e.signatures.len()
        ));
    };
    let payload = bytes("dsseEnvelope.payload", &e.payload)?;
    let signature = bytes("dsseEnvelope.signatures[0].sig", &sig.sig)?;
    let statement = crate::statement::about(&payload, subject_digest, max_statement)?;
    let message = pae(&e.payload_type, &payload);
    Ok((Signed::Dsse { payload, signature }, message, statement))
}

/// The first signer whose key verifies `signature` over `message`.
fn verify_signature<'a>(
    host: &dyn Host,
    signers: Vec<Signer<'a>>,
    message: &Message,
    signature: &[u8],
) -> Result<Signer<'a>, Failure> {
    let message = match message {
        Message::Bytes(m) => m,
        Message::Prehashed(digest) => return verify_prehashed(signers, digest, signature),
    };
    let mut why = Vec::new();
    for signer in signers {
        let res = match &signer {
            Signer::Certificate { der, fields } => {
                let alg = pem::spki_alg(&fields.spki)
                    .or_else(|e| invalid(format!("the bundle certificate's key: {e}")))?;
                let cert = pem::encode("CERTIFICATE", der);
                host.verify_signature(alg, cert.as_bytes(), message, signature)
                    .map_err(|e| format!("the certificate's key: {e}"))
            }
            Signer::Key(k) => host
                .verify_signature(k.key.alg, k.pem.as_bytes(), message, signature)
                .map_err(|e| format!("key `{}` ({}): {e}", k.name, k.key.alg.name())),
        };
        match res {
            Ok(()) => return Ok(signer),
            Err(e) => why.push(e),
        }
    }
    fail(
        "SIGNATURE_INVALID",
        format!("the bundle's signature does not verify: {}", why.join("; ")),
    )
}

/// [`verify_signature`] over a file's digest: the first signer whose ECDSA key verifies
/// `signature` over `digest` (see [`crate::prehash`]).
fn verify_prehashed<'a>(
    signers: Vec<Signer<'a>>,
    digest: &[u8],
    signature: &[u8],
) -> Result<Signer<'a>, Failure> {
    let mut why = Vec::new();
    for signer in signers {
        let res = match &signer {
            Signer::Certificate { fields, .. } => prehash::verify(&fields.spki, digest, signature)
                .map_err(|e| format!("the certificate's key: {e}")),
            Signer::Key(k) => prehash::verify(&k.key.der, digest, signature)
                .map_err(|e| format!("key `{}`: {e}", k.name)),
        };
        match res {
            Ok(()) => return Ok(signer),
            Err(e) => why.push(e),
        }
    }
    fail(
        "SIGNATURE_INVALID",
        format!(
            "the bundle's signature over the file's digest does not verify: {}",
            why.join("; ")
        ),
    )
}

/// sigstore-go's per-version bundle rules (`pkg/bundle` `validate`): "if bundle version ==
/// v0.1, require inclusion promise" — some log entry carries a signed entry timestamp; "if
/// bundle version >= v0.2, require inclusion proof" — some entry carries one (v0.2 and v0.3);
/// "if bundle version >= v0.3, require verification material to not be X.509 certificate
/// chain".
fn check_version_rules(version: u8, material: &Material) -> Result<(), Failure> {
    let entries = &material.tlog_entries;
    if version == 1 && !entries.is_empty() && !entries.iter().any(|e| e.inclusion_promise.is_some())
    {
        return tlog_invalid(
            "a v0.1 bundle's log entries must carry an inclusionPromise (signed entry timestamp)",
        );
    }
    if version >= 2 && !entries.is_empty() && !entries.iter().any(|e| e.inclusion_proof.is_some()) {
        return tlog_invalid(format!(
            "a v0.{version} bundle's log entries must carry an inclusionProof (a signed entry \
             timestamp alone is accepted in v0.1 bundles only)"
        ));
    }
    if version >= 3 && material.x509_certificate_chain.is_some() {
        return invalid(
            "a v0.3 bundle carries a single `certificate`, not an `x509CertificateChain`",
        );
    }
    Ok(())
}

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The most transparency-log entries a bundle may carry (sigstore-go's `maxAllowedTlogEntries`).
const MAX_TLOG_ENTRIES: usize = 32;

/// Verifies every tlog entry, as sigstore-go's `VerifyTlogEntry` does (one entry that fails
/// fails the bundle), and that there are at least `threshold` of them; returns the entries'
/// integrated times (Rekor v2 entries have none) and the first entry's extensions.
/// `stamp_times` are the verified RFC 3161 times; `now` bounds integrated times.
#[allow(clippy::too_many_arguments)]
fn verify_tlog(
    host: &dyn Host,
    root: &TrustedRoot,
    entries: &[TlogEntry],
    signed: &Signed,
    signer: &Signer,
    stamp_times: &[i64],
    now: i64,
    threshold: usize,
) -> Result<(Vec<i64>, BTreeMap<String, String>), Failure> {
    if entries.is_empty() {
        return tlog_invalid("the bundle has no transparency-log entry");
    }
    if entries.len() < threshold {
        return tlog_invalid(format!(
            "the bundle has {} transparency-log entries; thresholds.transparencyLog asks for \
             {threshold}",
            entries.len()
        ));
    }
    if entries.len() > MAX_TLOG_ENTRIES {
        return tlog_invalid(format!(
            "the bundle has {} transparency-log entries; at most {MAX_TLOG_ENTRIES} are read",
            entries.len()
        ));
    }
    for (i, e) in entries.iter().enumerate() {
        if entries[..i]
            .iter()
            .any(|o| o.log_id.key_id == e.log_id.key_id && o.log_index.0 == e.log_index.0)
        {
            return tlog_invalid(format!(
                "tlogEntries[{i}] duplicates an earlier entry (same log and index)"
            ));
        }
    }
    let mut times = Vec::new();
    let mut first = None;
    for (i, entry) in entries.iter().enumerate() {
        let (time, ext) = verify_entry(host, root, entry, signed, signer, stamp_times, now)
            .or_else(|f| tlog_invalid(format!("tlogEntries[{i}]: {}", f.message)))?;
        times.extend(time);
        first.get_or_insert(ext);
    }
    let mut ext = first.unwrap_or_default();
    ext.insert("rekorEntries".into(), entries.len().to_string());
    Ok((times, ext))
}

/// Whether `kind_version` is a Rekor v2 entry type (`hashedrekord` or `dsse` 0.0.2).
fn is_rekor_v2(kind_version: &KindVersion) -> bool {
    matches!(kind_version.kind.as_str(), "hashedrekord" | "dsse") && kind_version.version == "0.0.2"
}

fn verify_entry(
    host: &dyn Host,
    root: &TrustedRoot,
    entry: &TlogEntry,
    signed: &Signed,
    signer: &Signer,
    stamp_times: &[i64],
    now: i64,
) -> Result<(Option<i64>, BTreeMap<String, String>), Failure> {
    let key_id = decode_bytes(&entry.log_id.key_id)
        .or_else(|e| tlog_invalid(format!("logId.keyId is {e}")))?;
    let Some(log) = root.tlogs.iter().find(|t| t.key_id == key_id) else {
        return tlog_invalid(format!(
            "the entry is from an unknown Rekor log {} (not in the trusted root's tlogs)",
            hex(&key_id)
        ));
    };
    // An Ed25519 log's ID is bound to its checkpoint origin, checked with the checkpoint.
    if log.alg != Alg::Ed25519 && host.sha256(&log.key_der) != log.key_id {
        return tlog_invalid(format!(
            "the trusted root's log {} has a key whose SHA-256 is not its logId",
            hex(&key_id)
        ));
    }
    let body = decode_bytes(&entry.canonicalized_body)
        .or_else(|e| tlog_invalid(format!("canonicalizedBody is {e}")))?;
    let mut ext = BTreeMap::from([
        ("rekorLogIndex".to_owned(), entry.log_index.0.to_string()),
        ("rekorLogId".to_owned(), hex(&key_id)),
        ("rekorKind".to_owned(), entry.kind_version.kind.clone()),
        (
            "rekorKindVersion".to_owned(),
            entry.kind_version.version.clone(),
        ),
    ]);
    if !log.base_url.is_empty() {
        ext.insert("rekorLog".into(), log.base_url.clone());
    }
    let Some(Int64(t)) = entry.integrated_time else {
        if !is_rekor_v2(&entry.kind_version) {
            return tlog_invalid(format!(
                "the {} {} entry has no integratedTime",
                entry.kind_version.kind, entry.kind_version.version
            ));
        }
        // Rekor v2: no integrated time and no signed entry timestamp; the entry is proven by
        // its inclusion proof and checkpoint, and the signing time comes from RFC 3161
        // timestamps, at each of which the log key must have been valid.
        if stamp_times.is_empty() {
            return tlog_invalid(format!(
                "the entry is a Rekor v2 entry ({} 0.0.2), which carries no integrated time, and \
                 the bundle has no RFC 3161 signed timestamp to prove when it was signed",
                entry.kind_version.kind
            ));
        }
        if let Some(at) = stamp_times.iter().find(|&&at| !log.valid_for.contains(at)) {
            return tlog_invalid(format!(
                "the signature was timestamped at {at}, outside the validity {} of the log key",
                log.valid_for.describe()
            ));
        }
        let Some(proof) = &entry.inclusion_proof else {
            return tlog_invalid(
                "the Rekor v2 entry has no inclusionProof: without an integrated time or a signed \
                 entry timestamp only an inclusion proof and checkpoint show it was logged",
            );
        };
        check_body(host, &body, &entry.kind_version, signed, signer)?;
        verify_inclusion(host, log, proof, &body)?;
        ext.insert("rekorVerified".into(), "inclusionProof+checkpoint".into());
        return Ok((None, ext));
    };
    if log.alg == Alg::Ed25519 {
        return tlog_invalid(format!(
            "the entry has an integrated time but log {} has an Ed25519 key, which only Rekor v2 \
             logs use",
            hex(&key_id)
        ));
    }
    if t > now {
        return tlog_invalid(format!(
            "the entry's integratedTime {t} is in the future (now is {now})"
        ));
    }
    if !log.valid_for.contains(t) {
        return tlog_invalid(format!(
            "the entry was integrated at {t}, outside the validity {} of the log key",
            log.valid_for.describe()
        ));
    }
    let Some(promise) = &entry.inclusion_promise else {
        return tlog_invalid(
            "the entry has no inclusionPromise (signed entry timestamp); offline verification needs it",
        );
    };
    let set = decode_bytes(&promise.signed_entry_timestamp)
        .or_else(|e| tlog_invalid(format!("the signed entry timestamp is {e}")))?;
    let payload = BundlePayload {
        body: base64::engine::general_purpose::STANDARD.encode(&body),
        integrated_time: t,
        log_index: entry.log_index.0,
        log_id: hex(&key_id),
    };
    let key_pem = pem::encode("PUBLIC KEY", &log.key_der);
    host.verify_signature(
        log.alg,
        key_pem.as_bytes(),
        canonical_payload(&payload).as_bytes(),
        &set,
    )
    .or_else(|e| {
        tlog_invalid(format!(
            "the signed entry timestamp does not verify with the key of log {}: {e}",
            hex(&key_id)
        ))
    })?;
    check_body(host, &body, &entry.kind_version, signed, signer)?;
    let proof = match &entry.inclusion_proof {
        Some(p) => {
            verify_inclusion(host, log, p, &body)?;
            "inclusionProof+checkpoint"
        }
        None => "signedEntryTimestamp",
    };
    ext.insert("rekorVerified".into(), proof.into());
    Ok((Some(t), ext))
}

/// Whether a log entry's `verifier`/`publicKey` content (base64 of PEM) decodes to `der`.
fn same_signer(content_b64: Option<&str>, der: &[u8]) -> bool {
    content_b64
        .and_then(|c| decode_bytes(c).ok())
        .and_then(|pem_bytes| String::from_utf8(pem_bytes).ok())
        .and_then(|text| pem::decode_all(&text).ok())
        .and_then(|blocks| blocks.into_iter().next())
        .is_some_and(|b| b.der == der)
}

/// Checks that the entry body describes this content, signature and signer.
fn check_body(
    host: &dyn Host,
    body: &[u8],
    kind_version: &KindVersion,
    signed: &Signed,
    signer: &Signer,
) -> Result<(), Failure> {
    let body: Value = serde_json::from_slice(body)
        .or_else(|e| tlog_invalid(format!("canonicalizedBody is not JSON: {e}")))?;
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    let version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != kind_version.kind || version != kind_version.version {
        return tlog_invalid(format!(
            "the entry body is {kind} {version}, but kindVersion says {} {}",
            kind_version.kind, kind_version.version
        ));
    }
    let text = |ptr: &str| body.pointer(ptr).and_then(Value::as_str);
    let sig_eq = |b64: Option<&str>, sig: &[u8]| {
        b64.and_then(|s| decode_bytes(s).ok()).as_deref() == Some(sig)
    };
    if version == "0.0.2" {
        return check_body_v2(host, &body, kind, signed, signer);
    }
    match (kind, signed) {
        ("hashedrekord", Signed::Message { digest, signature }) => {
            if text("/spec/data/hash/algorithm") != Some("sha256")
                || !text("/spec/data/hash/value")
                    .is_some_and(|v| v.eq_ignore_ascii_case(&hex(digest)))
            {
                return tlog_invalid("the hashedrekord entry's hash is not the signed digest");
            }
            if !sig_eq(text("/spec/signature/content"), signature) {
                return tlog_invalid("the hashedrekord entry's signature is not this signature");
            }
            if !same_signer(text("/spec/signature/publicKey/content"), signer.der()) {
                return tlog_invalid(
                    "the hashedrekord entry's public key or certificate is not this signature's signer",
                );
            }
        }
        ("dsse", Signed::Dsse { payload, signature }) => {
            let payload_hash = hex(&host.sha256(payload));
            if text("/spec/payloadHash/algorithm") != Some("sha256")
                || !text("/spec/payloadHash/value")
                    .is_some_and(|v| v.eq_ignore_ascii_case(&payload_hash))
            {
                return tlog_invalid(
                    "the dsse entry's payloadHash is not the SHA-256 of this payload",
                );
            }
            let sigs = body
                .pointer("/spec/signatures")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let found = sigs.iter().any(|s| {
                sig_eq(s.get("signature").and_then(Value::as_str), signature)
                    && same_signer(s.get("verifier").and_then(Value::as_str), signer.der())
            });
            if !found {
                return tlog_invalid(
                    "the dsse entry does not record this signature by this signature's signer",
                );
            }
        }
        (kind, Signed::Message { .. }) => {
            return tlog_invalid(format!(
                "the entry is of kind {kind:?}; a message signature is logged as hashedrekord"
            ));
        }
        (kind, Signed::Dsse { .. }) => {
            return tlog_invalid(format!(
                "the entry is of kind {kind:?}; a DSSE envelope is logged as dsse"
            ));
        }
    }
    Ok(())
}

/// Whether a Rekor v2 `Verifier` (`{"publicKey": {"rawBytes"}}` or
/// `{"x509Certificate": {"rawBytes"}}`, base64 DER) is `der`.
fn same_verifier_v2(verifier: Option<&Value>, der: &[u8]) -> bool {
    let raw = |field: &str| {
        verifier
            .and_then(|v| v.pointer(field))
            .and_then(Value::as_str)
            .and_then(|b| decode_bytes(b).ok())
    };
    match (raw("/publicKey/rawBytes"), raw("/x509Certificate/rawBytes")) {
        (Some(key), None) => key == der,
        (None, Some(cert)) => cert == der,
        _ => false,
    }
}

/// Checks a Rekor v2 entry body (protobuf-specs `rekor/v2` `Entry`: `kind`, `apiVersion`,
/// `spec.hashedRekordV002` / `spec.dsseV002`) against this content, signature and signer.
///
/// `HashedRekordLogEntryV002 { data: HashOutput { algorithm, digest }, signature: Signature {
/// content, verifier: Verifier { public_key | x509_certificate, key_details } } }` and
/// `DSSELogEntryV002 { payloadHash: HashOutput, signatures: [Signature] }`; bytes are base64 in
/// protobuf JSON, and the digest algorithm is the `HashAlgorithm` name `SHA2_256`.
fn check_body_v2(
    host: &dyn Host,
    body: &Value,
    kind: &str,
    signed: &Signed,
    signer: &Signer,
) -> Result<(), Failure> {
    let bytes_at = |ptr: &str| {
        body.pointer(ptr)
            .and_then(Value::as_str)
            .and_then(|b| decode_bytes(b).ok())
    };
    let text = |ptr: &str| body.pointer(ptr).and_then(Value::as_str);
    match (kind, signed) {
        ("hashedrekord", Signed::Message { digest, signature }) => {
            let spec = "/spec/hashedRekordV002";
            if text(&format!("{spec}/data/algorithm")) != Some("SHA2_256")
                || bytes_at(&format!("{spec}/data/digest")).as_deref() != Some(digest.as_slice())
            {
                return tlog_invalid(
                    "the hashedrekord 0.0.2 entry's digest is not the signed digest",
                );
            }
            if bytes_at(&format!("{spec}/signature/content")).as_deref()
                != Some(signature.as_slice())
            {
                return tlog_invalid(
                    "the hashedrekord 0.0.2 entry's signature is not this signature",
                );
            }
            if !same_verifier_v2(
                body.pointer(&format!("{spec}/signature/verifier")),
                signer.der(),
            ) {
                return tlog_invalid(
                    "the hashedrekord 0.0.2 entry's verifier is not this signature's signer",
                );
            }
        }
        ("dsse", Signed::Dsse { payload, signature }) => {
            let spec = "/spec/dsseV002";
            if text(&format!("{spec}/payloadHash/algorithm")) != Some("SHA2_256")
                || bytes_at(&format!("{spec}/payloadHash/digest")) != Some(host.sha256(payload))
            {
                return tlog_invalid(
                    "the dsse 0.0.2 entry's payloadHash is not the SHA-256 of this payload",
                );
            }
            let sigs = body
                .pointer(&format!("{spec}/signatures"))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let found = sigs.iter().any(|s| {
                s.get("content")
                    .and_then(Value::as_str)
                    .and_then(|b| decode_bytes(b).ok())
                    .as_deref()
                    == Some(signature.as_slice())
                    && same_verifier_v2(s.get("verifier"), signer.der())
            });
            if !found {
                return tlog_invalid(
                    "the dsse 0.0.2 entry does not record this signature by this signature's signer",
                );
            }
        }
        (kind, _) => {
            return tlog_invalid(format!(
                "the 0.0.2 entry is of kind {kind:?}; a message signature is logged as \
                 hashedrekord and a DSSE envelope as dsse"
            ));
        }
    }
    Ok(())
}

/// RFC 6962 leaf hash: SHA-256(0x00 || leaf).
fn leaf_hash(host: &dyn Host, leaf: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(leaf.len() + 1);
    data.push(0);
    data.extend_from_slice(leaf);
    host.sha256(&data)
}

/// RFC 6962 interior node hash: SHA-256(0x01 || left || right).
fn node_hash(host: &dyn Host, left: &[u8], right: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(left.len() + right.len() + 1);
    data.push(1);
    data.extend_from_slice(left);
    data.extend_from_slice(right);
    host.sha256(&data)
}

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or why the proof is malformed.
pub fn proof_root(
    host: &dyn Host,
    index: u64,
    size: u64,
    leaf: Vec<u8>,
    path: &[Vec<u8>],
) -> Result<Vec<u8>, String> {
    if index >= size {
        return Err(format!("log index {index} is not below tree size {size}"));
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = leaf;
    for p in path {
        if snode == 0 {
            return Err("the proof has more hashes than the tree has levels".into());
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(host, p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(host, &r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err("the proof has fewer hashes than the tree has levels".into());
    }
    Ok(r)
}

/// Verifies an inclusion proof and its checkpoint (a signed note by the log's key).
fn verify_inclusion(
    host: &dyn Host,
    log: &TransparencyLog,
    proof: &InclusionProof,
    body: &[u8],
) -> Result<(), Failure> {
    let root_hash = decode_bytes(&proof.root_hash)
        .or_else(|e| tlog_invalid(format!("inclusionProof.rootHash is {e}")))?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| decode_bytes(h))
        .collect::<Result<Vec<_>, _>>()
        .or_else(|e| tlog_invalid(format!("an inclusionProof hash is {e}")))?;
    let (Ok(index), Ok(size)) = (
        u64::try_from(proof.log_index.0),
        u64::try_from(proof.tree_size.0),
    ) else {
        return tlog_invalid("inclusionProof has a negative index or size");
    };
    let computed = proof_root(host, index, size, leaf_hash(host, body), &hashes)
        .or_else(|e| tlog_invalid(format!("the inclusion proof is malformed: {e}")))?;
    if computed != root_hash {
        return tlog_invalid(
            "the inclusion proof does not lead to its root hash: the entry is not in the tree",
        );
    }
    let Some(checkpoint) = &proof.checkpoint else {
        return tlog_invalid(
            "the inclusion proof has no checkpoint, so its root hash is not signed by the log",
        );
    };
    let (note_size, note_root) = verify_checkpoint(host, log, &checkpoint.envelope)
        .or_else(|e| tlog_invalid(format!("the inclusion proof's checkpoint: {e}")))?;
    if note_size != size || note_root != root_hash {
        return tlog_invalid(
            "the checkpoint commits to another tree (size or root hash) than the inclusion proof",
        );
    }
    Ok(())
}

/// Verifies a checkpoint (signed note: origin, tree size, base64 root hash, optional lines,
/// blank line, `— name base64(keyhint4 || signature)` lines) with the log's key; returns the
/// size and root hash it commits to.
fn verify_checkpoint(
    host: &dyn Host,
    log: &TransparencyLog,
    envelope: &str,
) -> Result<(u64, Vec<u8>), String> {
    let split = envelope
        .find("\n\n")
        .ok_or("no blank line between the note and its signatures")?;
    let text = &envelope[..=split];
    let mut lines = text.lines();
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or("the note has no origin line")?;
    let size: u64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or("the second line is not a tree size")?;
    let root = lines
        .next()
        .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
        .ok_or("the third line is not a base64 root hash")?;
    if log.alg == Alg::Ed25519 {
        // C2SP signed-note: an Ed25519 key's ID is SHA-256(name || "\n" || 0x01 || 32-byte
        // key); Rekor v2 names its key by the checkpoint origin and uses the whole hash as its
        // log ID, so the origin, the key and the trusted root's log ID must agree.
        let raw = log
            .key_der
            .strip_prefix(ED25519_SPKI_PREFIX.as_slice())
            .filter(|k| k.len() == 32)
            .ok_or("the log's Ed25519 key is not a 32-byte SubjectPublicKeyInfo")?;
        let mut named = format!("{origin}\n").into_bytes();
        named.push(0x01);
        named.extend_from_slice(raw);
        if host.sha256(&named) != log.key_id {
            return Err(format!(
                "the checkpoint origin {origin:?} with the log's Ed25519 key does not hash to the \
                 log's ID (signed-note key ID): the checkpoint is for another log"
            ));
        }
    }
    // The key hint is the first four bytes of the key ID: SHA-256 of the SPKI for ECDSA logs
    // (Rekor v1 and rekor-tiles' ECDSA keys), the signed-note hash for Ed25519.
    let hint = &log.key_id[..4];
    let key_pem = pem::encode("PUBLIC KEY", &log.key_der);
    let mut tried = 0;
    for line in envelope[split + 2..].lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            continue;
        };
        let Some((name, sig)) = rest.rsplit_once(' ') else {
            continue;
        };
        if log.alg == Alg::Ed25519 && name != origin {
            continue;
        }
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(sig) else {
            continue;
        };
        if sig.len() <= 4 || &sig[..4] != hint {
            continue;
        }
        tried += 1;
        if host
            .verify_signature(log.alg, key_pem.as_bytes(), text.as_bytes(), &sig[4..])
            .is_ok()
        {
            return Ok((size, root));
        }
    }
    Err(if tried == 0 {
        "no signature by the log's key".into()
    } else {
        "the log's signature does not verify".into()
    })
}

/// Validates the leaf against each certificate authority of `root` valid at `at`; returns the
/// first one's URI, the validated path and the DER of the leaf's issuer.
fn verify_certificate(
    host: &dyn Host,
    root: &TrustedRoot,
    leaf: &[u8],
    at: i64,
) -> Result<(String, Vec<CertInfo>, Vec<u8>), Failure> {
    if root.certificate_authorities.is_empty() {
        return fail(
            "UNTRUSTED",
            "the bundle is signed with a certificate, and the trusted root has no certificateAuthorities",
        );
    }
    let mut why = Vec::new();
    for (i, ca) in root.certificate_authorities.iter().enumerate() {
        let name = if ca.uri.is_empty() {
            format!("certificateAuthorities[{i}]")
        } else {
            ca.uri.clone()
        };
        if !ca.valid_for.contains(at) {
            why.push(format!("{name} is valid {}", ca.valid_for.describe()));
            continue;
        }
        let mut chain = vec![leaf.to_vec()];
        chain.extend(ca.intermediates.iter().cloned());
        match host.verify_chain(chain, vec![ca.root.clone()], at, CODE_SIGNING) {
            Ok(path) => {
                // The issuer is the path's second certificate: one of this CA's, by fingerprint.
                let issuer = path.get(1).and_then(|p| {
                    ca.intermediates
                        .iter()
                        .chain(std::iter::once(&ca.root))
                        .find(|c| hex(&host.sha256(c)).eq_ignore_ascii_case(&p.fingerprint))
                });
                match issuer {
                    Some(issuer) => return Ok((ca.uri.clone(), path, issuer.clone())),
                    None => why.push(format!("{name}: the leaf's issuer is not in the chain")),
                }
            }
            Err(e) => why.push(format!("{name}: {e}")),
        }
    }
    fail(
        "UNTRUSTED",
        format!(
            "the bundle's certificate does not chain to a certificate authority of the trusted \
             root at the log's integrated time {at}: {}",
            why.join("; ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_host::TestHost;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    /// RFC 6962 root of `leaves` and the audit path of leaf `m`, computed the recursive way.
    fn mth(h: &TestHost, leaves: &[Vec<u8>]) -> Vec<u8> {
        if leaves.len() == 1 {
            return leaf_hash(h, &leaves[0]);
        }
        let k = leaves.len().next_power_of_two() / 2;
        node_hash(h, &mth(h, &leaves[..k]), &mth(h, &leaves[k..]))
    }

    fn path(h: &TestHost, m: usize, leaves: &[Vec<u8>]) -> Vec<Vec<u8>> {
        if leaves.len() == 1 {
            return Vec::new();
        }
        let k = leaves.len().next_power_of_two() / 2;
        if m < k {
            let mut p = path(h, m, &leaves[..k]);
            p.push(mth(h, &leaves[k..]));
            p
        } else {
            let mut p = path(h, m - k, &leaves[k..]);
            p.push(mth(h, &leaves[..k]));
            p
        }
    }

    #[test]
    fn inclusion_proofs_of_every_leaf_of_odd_trees_verify() {
        let h = TestHost::default();
        for size in [1usize, 2, 3, 5, 7, 8, 13] {
            let leaves: Vec<Vec<u8>> = (0..size).map(|i| vec![i as u8; 3]).collect();
            let root = mth(&h, &leaves);
            for m in 0..size {
                let p = path(&h, m, &leaves);
                let got = proof_root(&h, m as u64, size as u64, leaf_hash(&h, &leaves[m]), &p);
                assert_eq!(got.unwrap(), root, "size {size} leaf {m}");
                // Another leaf's hash does not lead to the root.
                let other = leaf_hash(&h, b"other");
                assert_ne!(
                    proof_root(&h, m as u64, size as u64, other, &p).ok(),
                    Some(root.clone())
                );
                // A truncated or extended path is malformed (when the tree has levels).
                if !p.is_empty() {
                    let short = &p[..p.len() - 1];
                    assert!(
                        proof_root(&h, m as u64, size as u64, leaf_hash(&h, &leaves[m]), short)
                            .map_or(true, |r| r != root)
                    );
                }
                let mut long = p.clone();
                long.push(vec![0; 32]);
                assert!(
                    proof_root(&h, m as u64, size as u64, leaf_hash(&h, &leaves[m]), &long)
                        .is_err()
                );
            }
        }
        assert!(proof_root(&h, 3, 3, vec![0; 32], &[]).is_err());
    }

    #[test]
    fn int64_reads_strings_and_numbers() {
        let v: Vec<Int64> = serde_json::from_str(r#"["42", 7, "-3"]"#).unwrap();
        assert_eq!(v.iter().map(|i| i.0).collect::<Vec<_>>(), [42, 7, -3]);
        assert!(serde_json::from_str::<Int64>(r#""x""#).is_err());
        assert!(serde_json::from_str::<Int64>("1.5").is_err());
        assert!(serde_json::from_str::<Int64>("null").is_err());
    }
}
