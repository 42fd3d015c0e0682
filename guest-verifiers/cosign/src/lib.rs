//! Vouch's cosign verifier: judges cosign signature manifests (OCI 1.1 referrers of artifact type
//! `application/vnd.dev.cosign.artifact.sig.v1+json`, and the legacy `sha256-<hex>.sig` form,
//! which has the same layers), key-based or keyless (Fulcio certificate + Rekor bundle), and
//! Sigstore bundles v0.3 (`application/vnd.dev.sigstore.bundle.v0.3+json` referrers) against a
//! configured `trusted_root.json`; and cosign attestations (`sha256-<hex>.att`, DSSE envelopes of
//! in-toto statements, artifact type `application/vnd.dev.cosign.artifact.att.v1+json`).
//!
//! The wasm glue lives here; the logic is in [`verify`] (see its docs for the checks) and
//! [`bundle`] and [`attestation`], the configuration in [`config`] and [`trusted_root`], and the small DER/PEM
//! readers in [`der`] and [`pem`].

pub mod attestation;
pub mod bundle;
pub mod config;
pub mod der;
pub mod pem;
pub mod prehash;
pub mod sct;
pub mod statement;
#[cfg(test)]
mod test_host;
pub mod timestamp;
pub mod trusted_root;
pub mod verify;

wit_bindgen::generate!({ path: "../../wit", world: "verifier" });

use vouch::verifier::crypto::{self, DigestAlgorithm, SignatureAlgorithm, SignatureEncoding};
use vouch::verifier::log::{Level, log};
use vouch::verifier::store::{get_blob, get_manifest};
use vouch::verifier::types::{Descriptor, ExtensionValue, StoreError};

use crate::config::Config;
use crate::pem::Alg;

/// The exported component.
struct Cosign;

/// The host, reached through the WIT imports, for one request.
struct WitHost {
    artifact: Descriptor,
    subject: Descriptor,
}

verifier_common::store_error_helper!();

fn wit_alg(alg: Alg) -> SignatureAlgorithm {
    match alg {
        Alg::EcdsaP256Sha256 => SignatureAlgorithm::EcdsaP256Sha256,
        Alg::EcdsaP384Sha384 => SignatureAlgorithm::EcdsaP384Sha384,
        Alg::RsaPkcs1Sha256 => SignatureAlgorithm::RsaPkcs1Sha256,
        Alg::RsaPkcs1Sha384 => SignatureAlgorithm::RsaPkcs1Sha384,
        Alg::RsaPkcs1Sha512 => SignatureAlgorithm::RsaPkcs1Sha512,
        Alg::RsaPssSha256 => SignatureAlgorithm::RsaPssSha256,
        Alg::RsaPssSha384 => SignatureAlgorithm::RsaPssSha384,
        Alg::RsaPssSha512 => SignatureAlgorithm::RsaPssSha512,
        Alg::Ed25519 => SignatureAlgorithm::Ed25519,
    }
}

fn cert_info(c: crypto::CertInfo) -> verify::CertInfo {
    verify::CertInfo {
        subject: c.subject,
        issuer: c.issuer,
        not_before: c.not_before,
        not_after: c.not_after,
        fingerprint: c.sha256_fingerprint,
    }
}

impl verify::Host for WitHost {
    fn manifest(&self) -> Result<Vec<u8>, String> {
        get_manifest(&self.artifact).map_err(store_error)
    }

    fn subject_manifest(&self) -> Result<Vec<u8>, String> {
        get_manifest(&self.subject).map_err(store_error)
    }

    fn subject_media_type(&self) -> &str {
        &self.subject.media_type
    }

    fn blob(&self, digest: &str) -> Result<Vec<u8>, String> {
        get_blob(digest).map_err(store_error)
    }

    fn verify_signature(
        &self,
        alg: Alg,
        key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        crypto::verify_signature(
            wit_alg(alg),
            SignatureEncoding::Der,
            key,
            message,
            signature,
        )
    }

    fn verify_chain(
        &self,
        chain: Vec<Vec<u8>>,
        roots: Vec<Vec<u8>>,
        at: i64,
        eku: &str,
    ) -> Result<Vec<verify::CertInfo>, String> {
        crypto::verify_chain(&chain, &roots, at, Some(eku))
            .map(|path| path.into_iter().map(cert_info).collect())
    }

    fn parse_certificate(&self, cert: &[u8]) -> Result<verify::CertInfo, String> {
        crypto::parse_certificate(cert).map(cert_info)
    }

    fn sha256(&self, data: &[u8]) -> Vec<u8> {
        crypto::digest(DigestAlgorithm::Sha256, data)
    }

    fn digest(&self, alg: verifier_common::crypto::HashAlg, data: &[u8]) -> Vec<u8> {
        use verifier_common::crypto::HashAlg;
        let alg = match alg {
            HashAlg::Sha256 => DigestAlgorithm::Sha256,
            HashAlg::Sha384 => DigestAlgorithm::Sha384,
            HashAlg::Sha512 => DigestAlgorithm::Sha512,
        };
        crypto::digest(alg, data)
    }

    fn debug(&self, message: &str) {
        log(Level::Debug, message);
    }
}

impl Guest for Cosign {
    fn metadata() -> Metadata {
        Metadata {
            name: "cosign".into(),
            version: "0.1.0".into(),
            artifact_types: vec![
                verify::ARTIFACT_TYPE.into(),
                verify::BUNDLE_V03.into(),
                attestation::ARTIFACT_TYPE.into(),
            ],
            config_schema: Some(config::SCHEMA.into()),
        }
    }

    fn check_config(config: String) -> Result<(), String> {
        Config::parse(&config).map(|_| ())
    }

    fn verify(req: Request) -> Report {
        let config = match Config::parse(&req.config) {
            Ok(c) => c,
            Err(e) => {
                return Report {
                    is_success: false,
                    message: format!("invalid cosign verifier config: {e}"),
                    error_reason: Some("CONFIG_INVALID".into()),
                    extensions: Vec::new(),
                };
            }
        };
        let subject_digest = req.subject.descriptor.digest.clone();
        let host = WitHost {
            artifact: req.artifact,
            subject: req.subject.descriptor,
        };
        let out = verify::verify(&host, &config, &subject_digest);
        Report {
            is_success: out.ok,
            message: out.message,
            error_reason: out.reason.map(str::to_owned),
            extensions: out
                .extensions
                .into_iter()
                .map(|(k, v)| {
                    // The verified in-toto statement is JSON the policy reads as a document.
                    if k == statement::EXTENSION {
                        (k, ExtensionValue::Json(v))
                    } else {
                        (k, ExtensionValue::Text(v))
                    }
                })
                .collect(),
        }
    }
}

export!(Cosign);
