//! The `vsa` verifier: trusts a signed SLSA Verification Summary Attestation (VSA) instead of
//! re-verifying an image, when the summary comes from a trusted signer, is about this image,
//! says `PASSED`, is fresh, and was made under an accepted policy.
//!
//! It judges referrers of artifact type [`ARTIFACT_TYPE`] (`application/vnd.dsse.envelope.v1+json`,
//! what `vouch verify --attest-verdict KEY --push` attaches): their manifest must hold exactly
//! one layer of that media type, a DSSE envelope around an in-toto Statement v1 with predicate
//! type `https://slsa.dev/verification_summary/v1`. The checks and their error reasons are listed
//! in [`check`]; configuration in [`config`]. The signature is verified by the host (`crypto`
//! import), the clock is WASI's wall clock.
//!
//! Report extensions on success: `signer` (the configured key's name), `verifierId`,
//! `timeVerified`, `ageSeconds`, `policyDigest`, `resourceUri`, `inputAttestations` (a count).
//! Other error reasons: `CONFIG_INVALID`, `INVALID_MANIFEST`, `TOO_LARGE`, `STORE_ERROR`.

pub mod check;
pub mod config;

use verifier_common::media_type::essence;
use verifier_common::time::now_unix;
use vouch_verifier_sdk::crypto::{SignatureEncoding, verify_signature};
use vouch_verifier_sdk::report::{failed, json, passed, text};
use vouch_verifier_sdk::{Ctx, Metadata, Report, Verifier, export_verifier};

use crate::check::{SignatureCheck, VSA_MALFORMED};
use verifier_common::crypto::SigAlg;

use crate::config::Config;

/// Artifact type (and layer media type) of a VSA referrer: a DSSE envelope.
pub const ARTIFACT_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// JSON Schema of the configuration, published in the metadata (`pemFile` is read by the host).
const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["keys", "policyDigests"],
  "properties": {
    "keys": {"type": "array", "minItems": 1, "items": {
      "type": "object", "additionalProperties": false, "required": ["name"],
      "properties": {
        "name": {"type": "string", "minLength": 1},
        "pem": {"type": "string"},
        "pemFile": {"type": "string", "x-vouch-file": "pem", "x-vouch-inline": "pem"},
        "verifierIds": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
      }}},
    "policyDigests": {"type": "array", "minItems": 1,
      "items": {"type": "string", "pattern": "^sha256:[0-9a-fA-F]{64}$"}},
    "maxAgeSeconds": {"type": "integer", "minimum": 1},
    "maxSkewSeconds": {"type": "integer", "minimum": 0},
    "maxBlobBytes": {"type": "integer", "minimum": 1}
  }
}"#;

struct Vsa;

/// Signatures checked by the host's `crypto.verify-signature`.
struct HostCrypto;

impl SignatureCheck for HostCrypto {
    fn verify(&self, alg: SigAlg, spki: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), String> {
        // Keys are ECDSA P-256/P-384 or Ed25519 (`config::key_alg`); DER-encoded ECDSA
        // signatures, as `vouch verify --attest-verdict` (ring) writes them.
        if !matches!(
            alg,
            SigAlg::EcdsaP256Sha256 | SigAlg::EcdsaP384Sha384 | SigAlg::Ed25519
        ) {
            return Err(format!("{} is not a VSA key algorithm", alg.name()));
        }
        verify_signature(alg.into(), SignatureEncoding::Der, spki, msg, sig)
    }
}

/// Judges one VSA referrer under `config`.
fn run(ctx: &Ctx<'_>, config: Config) -> Report {
    let manifest = match ctx.manifest() {
        Ok(m) => m,
        Err(e) => return e.into(),
    };
    let layers: Vec<_> = manifest
        .layers
        .iter()
        .filter(|l| essence(&l.media_type) == ARTIFACT_TYPE)
        .collect();
    let [layer] = layers.as_slice() else {
        return failed(
            VSA_MALFORMED,
            format!(
                "artifact {} has {} `{ARTIFACT_TYPE}` layers, expected exactly one (layers: [{}])",
                ctx.artifact.digest,
                layers.len(),
                manifest.media_types().join(", ")
            ),
        );
    };
    let what = format!("VSA envelope {}", layer.digest);
    let envelope = match ctx.layer(&what, layer, config.max_blob_bytes) {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    let image = &ctx.subject.descriptor.digest;
    match check::judge(&HostCrypto, &config, image, &envelope, now_unix()) {
        Ok(a) => passed(
            format!(
                "VSA of {image} by `{}` ({}) PASSED at {} ({} s ago) under policy {}",
                a.signer, a.verifier_id, a.time_verified, a.age, a.policy_digest
            ),
            vec![
                ("signer".into(), text(a.signer)),
                ("verifierId".into(), text(a.verifier_id)),
                ("timeVerified".into(), text(a.time_verified)),
                ("ageSeconds".into(), json(a.age)),
                ("policyDigest".into(), text(a.policy_digest)),
                ("resourceUri".into(), text(a.resource_uri)),
                ("inputAttestations".into(), json(a.input_attestations)),
            ],
        ),
        Err(r) => failed(r.reason, r.message),
    }
}

impl Verifier for Vsa {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            name: "vsa".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            artifact_types: vec![ARTIFACT_TYPE.into()],
            config_schema: Some(CONFIG_SCHEMA.into()),
        }
    }

    fn parse_config(config: &str) -> Result<Config, String> {
        Config::parse(config)
    }

    fn verify(ctx: &Ctx<'_>, config: Config) -> Report {
        run(ctx, config)
    }
}

export_verifier!(Vsa);
