//! Vouch's notation verifier: verifies Notary Project signatures (`application/vnd.cncf.notary.signature`
//! referrers with a JWS or COSE envelope, optionally countersigned by an RFC 3161 timestamp)
//! under a notation trust policy, as a wasm component.
//!
//! This file is only the wit-bindgen glue; the logic lives in [`policy`] (trust policy and trust
//! stores), [`envelope`] (JWS parsing and the shared header rules), [`cose`] (COSE_Sign1, on
//! [`cbor`]), [`tsp`] (RFC 3161 timestamp tokens, on [`der`]; both shared from `verifier_common`),
//! [`revocation`] (chain revocation status, from [`crl`] and [`ocsp`] on [`pkix`]), [`verify`]
//! (the verification flow), [`attestation`] (in-toto statements signed with notation: an
//! attestation artifact routed to this verifier is judged with its signatures)
//! and [`time`] (RFC 3339), which hold no imports and are unit-tested natively.
//!
//! Report extensions: `trustPolicy`, `verificationLevel`, `Issuer` (leaf issuer DN), `SN` (leaf
//! subject DN, as Ratify's notation verifier reports it), `serialNumber` (leaf serial, hex),
//! `signingTime`, `signingScheme`, `expiry`, `signingAgent`, `timestamp` (the verified RFC 3161
//! `genTime`) and `timestampAuthority` (the TSA's subject DN) when a timestamp was verified,
//! `revocationStatus` (`skipped`, `nonRevokable`, `good`, `revoked` or `unknown`, see [`revocation::Status`]) once
//! the revocation validation ran, and `checks` (JSON: the result of each validation, e.g.
//! `{"integrity":"passed","revocation":"skipped"}`).

pub mod attestation;
pub mod cbor;
pub mod cose;
pub mod crl;
pub use verifier_common::der;
pub mod envelope;
pub mod ocsp;
pub mod pkix;
pub mod policy;
pub mod revocation;
pub mod time;
pub use verifier_common::tsp;
pub mod verify;
pub mod x509;

use verifier_common::time::now_unix;
use vouch_verifier_sdk::crypto::{HostCrypto, parse_certificate};
use vouch_verifier_sdk::report::failed;
use vouch_verifier_sdk::wit::vouch::verifier::revocation::{
    FetchError, fetch_crl_signed, fetch_ocsp,
};
use vouch_verifier_sdk::{
    CONFIG_INVALID, Ctx, Descriptor, Level, Metadata, Report, Store, Verifier, export_verifier,
    log, store::describe,
};

use verifier_common::crypto::Crypto;

use crate::verify::{CertInfo, Desc, HashAlg, Host, LogLevel, SigAlg, SigEncoding};

/// JSON Schema of the config (the top level; the trust policy is validated by `check-config`).
/// `notationHome` is a file reference the host resolves (`x-vouch-file`, see `docs/configuration.md`).
const CONFIG_SCHEMA: &str = r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","oneOf":[{"required":["trustPolicy"]},{"required":["notationHome"]}],"additionalProperties":false,"properties":{"notationHome":{"type":"string","description":"a notation configuration directory (trustpolicy.oci.json or trustpolicy.json, truststore/x509/), relative to the config file; read by the host","x-vouch-file":"notation-home","x-vouch-inline":"trustPolicy"},"userMetadata":{"type":"object","additionalProperties":{"type":"string"}},"attestationTypes":{"type":"array","minItems":1,"items":{"type":"string","minLength":1}},"maxStatementBytes":{"type":"integer","minimum":0,"maximum":786432},"trustPolicy":{"type":"object","required":["version","trustPolicies"]},"trustStores":{"type":"object","properties":{"ca":{"type":"object","additionalProperties":{"type":"array","items":{"type":"string"}}},"signingAuthority":{"type":"object","additionalProperties":{"type":"array","items":{"type":"string"}}},"tsa":{"type":"object","additionalProperties":{"type":"array","items":{"type":"string"}}}}}}}"#;

struct Notation;

/// The host imports behind [`Host`], for one request.
struct Imports<'a> {
    artifact: &'a Descriptor,
    store: &'a dyn Store,
}

impl Crypto for Imports<'_> {
    fn verify_signature(
        &self,
        alg: SigAlg,
        encoding: SigEncoding,
        cert: &[u8],
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        HostCrypto.verify_signature(alg, encoding, cert, msg, sig)
    }

    fn digest(&self, alg: HashAlg, data: &[u8]) -> Vec<u8> {
        HostCrypto.digest(alg, data)
    }

    fn verify_chain(
        &self,
        chain: &[Vec<u8>],
        roots: &[Vec<u8>],
        at: i64,
        eku: Option<&str>,
    ) -> Result<Vec<CertInfo>, String> {
        HostCrypto.verify_chain(chain, roots, at, eku)
    }
}

impl Host for Imports<'_> {
    fn manifest(&self) -> Result<Vec<u8>, String> {
        self.store
            .get_manifest(self.artifact)
            .map_err(|e| describe(&e))
    }

    fn blob(&self, digest: &str) -> Result<Vec<u8>, String> {
        self.store.get_blob(digest).map_err(|e| describe(&e))
    }

    fn parse_certificate(&self, der: &[u8]) -> Result<CertInfo, String> {
        parse_certificate(der).map(CertInfo::from)
    }

    fn fetch_crl(&self, cert: &[u8], issuer: &[u8], url: &str) -> Result<crl::SignedCrl, String> {
        fetch_crl_signed(cert, issuer, url)
            .map(|c| crl::SignedCrl {
                der: c.der,
                signature: c.signature,
            })
            .map_err(fetch_error)
    }

    fn fetch_ocsp(&self, cert: &[u8], url: &str, request: &[u8]) -> Result<Vec<u8>, String> {
        fetch_ocsp(cert, url, request).map_err(fetch_error)
    }

    fn log(&self, level: LogLevel, msg: &str) {
        let level = match level {
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
        };
        log(level, msg);
    }
}

/// A fetch error as text.
fn fetch_error(e: FetchError) -> String {
    match e {
        FetchError::Denied(m) => format!("the host refused: {m}"),
        FetchError::TooLarge(cap) => format!("the response is over the host's {cap}-byte cap"),
        FetchError::Unavailable(m) => format!("unavailable: {m}"),
    }
}

/// Parses the config, checking every trust store certificate on the host.
fn parse_config(text: &str) -> Result<policy::Config, String> {
    policy::parse(text, &|der| parse_certificate(der).map(|_| ()))
}

impl Verifier for Notation {
    type Config = policy::Config;

    fn metadata() -> Metadata {
        Metadata {
            name: "notation".into(),
            version: "0.1.0".into(),
            artifact_types: vec![verify::SIGNATURE_ARTIFACT_TYPE.into()],
            config_schema: Some(CONFIG_SCHEMA.into()),
        }
    }

    fn parse_config(config: &str) -> Result<policy::Config, String> {
        parse_config(config)
    }

    fn config_invalid(error: String) -> Report {
        failed(
            CONFIG_INVALID,
            format!("invalid notation verifier config: {error}"),
        )
    }

    fn verify(ctx: &Ctx<'_>, config: policy::Config) -> Report {
        let now = now_unix();
        if ctx.artifact.artifact_type.as_deref() == Some(attestation::INTOTO_ARTIFACT_TYPE) {
            let verify_signature = |sig: &Descriptor, attestation: &Desc| {
                let host = Imports {
                    artifact: sig,
                    store: ctx.store(),
                };
                verify::verify(&host, &config, &ctx.subject.reference, attestation, now)
            };
            return attestation::verify(ctx, &config, &verify_signature);
        }
        let subject = Desc {
            media_type: ctx.subject.descriptor.media_type.clone(),
            digest: ctx.subject.descriptor.digest.clone(),
            size: ctx.subject.descriptor.size,
        };
        let host = Imports {
            artifact: &ctx.artifact,
            store: ctx.store(),
        };
        let out = verify::verify(&host, &config, &ctx.subject.reference, &subject, now);
        Report {
            is_success: out.ok,
            message: out.message.clone(),
            error_reason: out.reason.map(str::to_owned),
            extensions: attestation::extensions(out),
        }
    }
}

export_verifier!(Notation);
