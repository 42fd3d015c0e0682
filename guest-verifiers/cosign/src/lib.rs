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

use vouch_verifier_sdk::crypto::{
    DigestAlgorithm, SignatureEncoding, WitCertInfo, digest, parse_certificate, verify_chain,
    verify_signature,
};
use vouch_verifier_sdk::report::failed;
use vouch_verifier_sdk::store::describe;
use vouch_verifier_sdk::{
    CONFIG_INVALID, Ctx, Descriptor, ExtensionValue, Level, Metadata, Report, Store, Verifier,
    export_verifier, log,
};

use crate::config::Config;
use crate::pem::Alg;

/// The exported component.
struct Cosign;

/// The host, reached through the WIT imports, for one request.
struct WitHost<'a> {
    artifact: &'a Descriptor,
    subject: &'a Descriptor,
    store: &'a dyn Store,
}

fn cert_info(c: WitCertInfo) -> verify::CertInfo {
    verify::CertInfo {
        subject: c.subject,
        issuer: c.issuer,
        not_before: c.not_before,
        not_after: c.not_after,
        fingerprint: c.sha256_fingerprint,
    }
}

impl verify::Host for WitHost<'_> {
    fn manifest(&self) -> Result<Vec<u8>, String> {
        self.store
            .get_manifest(self.artifact)
            .map_err(|e| describe(&e))
    }

    fn subject_manifest(&self) -> Result<Vec<u8>, String> {
        self.store
            .get_manifest(self.subject)
            .map_err(|e| describe(&e))
    }

    fn subject_media_type(&self) -> &str {
        &self.subject.media_type
    }

    fn blob(&self, digest: &str) -> Result<Vec<u8>, String> {
        self.store.get_blob(digest).map_err(|e| describe(&e))
    }

    fn verify_signature(
        &self,
        alg: Alg,
        key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        verify_signature(alg.into(), SignatureEncoding::Der, key, message, signature)
    }

    fn verify_chain(
        &self,
        chain: Vec<Vec<u8>>,
        roots: Vec<Vec<u8>>,
        at: i64,
        eku: &str,
    ) -> Result<Vec<verify::CertInfo>, String> {
        verify_chain(&chain, &roots, at, Some(eku))
            .map(|path| path.into_iter().map(cert_info).collect())
    }

    fn parse_certificate(&self, cert: &[u8]) -> Result<verify::CertInfo, String> {
        parse_certificate(cert).map(cert_info)
    }

    fn sha256(&self, data: &[u8]) -> Vec<u8> {
        digest(DigestAlgorithm::Sha256, data)
    }

    fn digest(&self, alg: verifier_common::crypto::HashAlg, data: &[u8]) -> Vec<u8> {
        digest(alg.into(), data)
    }

    fn debug(&self, message: &str) {
        log(Level::Debug, message);
    }
}

impl Verifier for Cosign {
    type Config = Config;

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

    fn parse_config(config: &str) -> Result<Config, String> {
        Config::parse(config)
    }

    fn config_invalid(error: String) -> Report {
        failed(
            CONFIG_INVALID,
            format!("invalid cosign verifier config: {error}"),
        )
    }

    fn verify(ctx: &Ctx<'_>, config: Config) -> Report {
        let host = WitHost {
            artifact: &ctx.artifact,
            subject: &ctx.subject.descriptor,
            store: ctx.store(),
        };
        let out = verify::verify(&host, &config, &ctx.subject.descriptor.digest);
        Report {
            is_success: out.ok,
            message: out.message,
            error_reason: out.reason.map(str::to_owned),
            extensions: out
                .extensions
                .into_iter()
                .map(|(k, v)| {
                    // The verified in-toto statement and the SBOM rules' verdict are JSON the
                    // policy reads as documents.
                    if k == statement::EXTENSION || k == statement::SBOM_EXTENSION {
                        (k, ExtensionValue::Json(v))
                    } else {
                        (k, ExtensionValue::Text(v))
                    }
                })
                .collect(),
        }
    }
}

export_verifier!(Cosign);
