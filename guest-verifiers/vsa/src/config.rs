//! The `vsa` verifier's configuration: whose summaries to trust, under which policies, and how
//! old they may be.
//!
//! ```json
//! {
//!   "keys": [{"name": "platform", "pem": "-----BEGIN PUBLIC KEY-----…",
//!             "verifierIds": ["https://vouch.example/cluster-a"]}],
//!   "policyDigests": ["sha256:<hex>"],
//!   "maxAgeSeconds": 86400,
//!   "maxSkewSeconds": 60
//! }
//! ```
//!
//! A key is PEM `PUBLIC KEY` (SPKI) text in `pem`, or a file in `pemFile` (read by the host:
//! the guest receives `{"file", "content"}`); ECDSA P-256, ECDSA P-384 or Ed25519, the keys
//! `vouch verify --attest-verdict` signs with. `verifierIds`, when given, is the list of
//! `verifier.id`s that key may sign for (the spec's "specific (signer, verifier) pairs").

use base64::Engine as _;
use serde_json::{Map, Value};
use verifier_common::config::{parse_object, positive_u64};
use verifier_common::crypto::SigAlg;

/// Default `maxAgeSeconds`: a day.
pub const DEFAULT_MAX_AGE: u64 = 86_400;
/// Default `maxSkewSeconds`: how far in the future a `timeVerified` may be (clock skew).
pub const DEFAULT_MAX_SKEW: u64 = 60;
/// Default `maxBlobBytes` of the envelope layer.
pub const DEFAULT_MAX_BLOB: u64 = 1 << 20;

/// Top-level keys of the configuration.
const KEYS: [&str; 5] = [
    "keys",
    "policyDigests",
    "maxAgeSeconds",
    "maxSkewSeconds",
    "maxBlobBytes",
];

/// One trusted signer.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    /// Its name (in reports).
    pub name: String,
    /// The SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
    /// Its algorithm (ECDSA P-256, P-384 or Ed25519), from the SPKI's OIDs.
    pub alg: SigAlg,
    /// The `verifier.id`s it may sign for; `None`: any.
    pub verifier_ids: Option<Vec<String>>,
}

/// The parsed configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Trusted signers (at least one).
    pub keys: Vec<TrustedKey>,
    /// Accepted `policy.digest.sha256` values, lower-case hex (at least one).
    pub policy_digests: Vec<String>,
    /// Oldest accepted `timeVerified`, in seconds before now.
    pub max_age: u64,
    /// Latest accepted `timeVerified`, in seconds after now.
    pub max_skew: u64,
    /// Cap on the envelope layer.
    pub max_blob_bytes: u64,
}

impl Config {
    /// Parses and checks the JSON configuration; errors name the field.
    pub fn parse(text: &str) -> Result<Config, String> {
        let map = parse_object(text, &KEYS)?;
        let keys = match map.get("keys") {
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .enumerate()
                .map(|(i, k)| trusted_key(i, k))
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err("`keys` must be a non-empty array of {name, pem|pemFile}".into()),
        };
        let policy_digests = match map.get("policyDigests") {
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .enumerate()
                .map(|(i, d)| policy_digest(i, d))
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(
                    "`policyDigests` must be a non-empty array of `sha256:<hex>` (the policy \
                     digests `vouch verify --attest-verdict` prints)"
                        .into(),
                );
            }
        };
        let max_skew = match map.get("maxSkewSeconds") {
            None => DEFAULT_MAX_SKEW,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| format!("`maxSkewSeconds` must be an integer ≥ 0, got {v}"))?,
        };
        Ok(Config {
            keys,
            policy_digests,
            max_age: positive_u64(&map, "maxAgeSeconds")?.unwrap_or(DEFAULT_MAX_AGE),
            max_skew,
            max_blob_bytes: positive_u64(&map, "maxBlobBytes")?.unwrap_or(DEFAULT_MAX_BLOB),
        })
    }
}

fn policy_digest(i: usize, v: &Value) -> Result<String, String> {
    let text = v.as_str().unwrap_or_default();
    match text.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(hex.to_ascii_lowercase())
        }
        _ => Err(format!(
            "`policyDigests[{i}]` must be `sha256:` and 64 hex digits, got {v}"
        )),
    }
}

fn trusted_key(i: usize, v: &Value) -> Result<TrustedKey, String> {
    let Value::Object(k) = v else {
        return Err(format!(
            "`keys[{i}]` must be an object {{name, pem|pemFile}}"
        ));
    };
    if let Some(extra) = k
        .keys()
        .find(|f| !["name", "pem", "pemFile", "verifierIds"].contains(&f.as_str()))
    {
        return Err(format!(
            "`keys[{i}]`: unknown field `{extra}` (expected name, pem, pemFile, verifierIds)"
        ));
    }
    let name = match k.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(format!("`keys[{i}].name` must be a non-empty string")),
    };
    let pem = pem_text(i, k)?;
    let spki = pem_public_key(&pem).map_err(|e| format!("`keys[{i}]` (`{name}`): {e}"))?;
    let alg = key_alg(&spki).ok_or_else(|| {
        format!("`keys[{i}]` (`{name}`): not an ECDSA P-256, ECDSA P-384 or Ed25519 public key")
    })?;
    let verifier_ids = match k.get("verifierIds") {
        None => None,
        Some(Value::Array(a)) if !a.is_empty() => Some(
            a.iter()
                .map(|s| match s {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    other => Err(format!(
                        "`keys[{i}].verifierIds` must hold non-empty strings, got {other}"
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(other) => {
            return Err(format!(
                "`keys[{i}].verifierIds` must be a non-empty array of URIs, got {other}"
            ));
        }
    };
    Ok(TrustedKey {
        name,
        spki,
        alg,
        verifier_ids,
    })
}

/// The PEM text of key `i`: `pem` inline, or `pemFile` as the host resolved it.
fn pem_text(i: usize, k: &Map<String, Value>) -> Result<String, String> {
    match (k.get("pem"), k.get("pemFile")) {
        (Some(Value::String(p)), None) => Ok(p.clone()),
        (None, Some(Value::Object(f))) => match f.get("content") {
            Some(Value::String(c)) => Ok(c.clone()),
            _ => Err(format!("`keys[{i}].pemFile` was not read by the host")),
        },
        (None, Some(Value::String(p))) => Err(format!(
            "`keys[{i}].pemFile` `{p}` was not read by the host (is this verifier's schema \
             published?)"
        )),
        _ => Err(format!(
            "`keys[{i}]` needs exactly one of `pem` (PEM text) and `pemFile` (a path)"
        )),
    }
}

/// The DER of the first `PUBLIC KEY` block of `pem`.
pub fn pem_public_key(pem: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let start = pem
        .find(BEGIN)
        .ok_or("no `PUBLIC KEY` PEM block (a PEM SubjectPublicKeyInfo is required)")?
        + BEGIN.len();
    let end = pem[start..]
        .find(END)
        .ok_or("the `PUBLIC KEY` PEM block is not terminated")?
        + start;
    let body: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("the `PUBLIC KEY` PEM block is not base64: {e}"))
}

/// The algorithm of a SubjectPublicKeyInfo, from its algorithm (and curve) OID.
pub fn key_alg(spki: &[u8]) -> Option<SigAlg> {
    // DER of the OIDs: id-Ed25519 1.3.101.112; id-ecPublicKey 1.2.840.10045.2.1 with
    // prime256v1 1.2.840.10045.3.1.7 or secp384r1 1.3.132.0.34.
    const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    const EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    // The AlgorithmIdentifier comes first, within the first 32 bytes of the SPKI.
    let head = &spki[..spki.len().min(32)];
    let has = |oid: &[u8]| head.windows(oid.len()).any(|w| w == oid);
    if has(ED25519) {
        Some(SigAlg::Ed25519)
    } else if has(EC) && has(P256) {
        Some(SigAlg::EcdsaP256Sha256)
    } else if has(EC) && has(P384) {
        Some(SigAlg::EcdsaP384Sha384)
    } else {
        None
    }
}
