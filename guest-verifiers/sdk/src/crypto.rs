//! The host's `crypto` import in the guests' pure terms ([`verifier_common::crypto`]): the
//! algorithm mappings, written once, and [`HostCrypto`], the [`Crypto`] the import implements.

use verifier_common::crypto::{CertInfo, Crypto, HashAlg, SigAlg, SigEncoding};

pub use crate::wit::vouch::verifier::crypto::{
    CertInfo as WitCertInfo, DigestAlgorithm, SignatureAlgorithm, SignatureEncoding, digest,
    parse_certificate, verify_chain, verify_signature,
};

impl From<SigAlg> for SignatureAlgorithm {
    fn from(alg: SigAlg) -> SignatureAlgorithm {
        match alg {
            SigAlg::EcdsaP256Sha256 => SignatureAlgorithm::EcdsaP256Sha256,
            SigAlg::EcdsaP384Sha384 => SignatureAlgorithm::EcdsaP384Sha384,
            SigAlg::RsaPkcs1Sha256 => SignatureAlgorithm::RsaPkcs1Sha256,
            SigAlg::RsaPkcs1Sha384 => SignatureAlgorithm::RsaPkcs1Sha384,
            SigAlg::RsaPkcs1Sha512 => SignatureAlgorithm::RsaPkcs1Sha512,
            SigAlg::RsaPssSha256 => SignatureAlgorithm::RsaPssSha256,
            SigAlg::RsaPssSha384 => SignatureAlgorithm::RsaPssSha384,
            SigAlg::RsaPssSha512 => SignatureAlgorithm::RsaPssSha512,
            SigAlg::Ed25519 => SignatureAlgorithm::Ed25519,
        }
    }
}

impl From<SigEncoding> for SignatureEncoding {
    fn from(encoding: SigEncoding) -> SignatureEncoding {
        match encoding {
            SigEncoding::Der => SignatureEncoding::Der,
            SigEncoding::Fixed => SignatureEncoding::Fixed,
        }
    }
}

impl From<HashAlg> for DigestAlgorithm {
    fn from(alg: HashAlg) -> DigestAlgorithm {
        match alg {
            HashAlg::Sha256 => DigestAlgorithm::Sha256,
            HashAlg::Sha384 => DigestAlgorithm::Sha384,
            HashAlg::Sha512 => DigestAlgorithm::Sha512,
        }
    }
}

impl From<WitCertInfo> for CertInfo {
    fn from(c: WitCertInfo) -> CertInfo {
        CertInfo {
            subject: c.subject,
            issuer: c.issuer,
            serial: c.serial,
            not_before: c.not_before,
            not_after: c.not_after,
        }
    }
}

/// The host's `crypto` import as a [`Crypto`].
pub struct HostCrypto;

impl Crypto for HostCrypto {
    fn verify_signature(
        &self,
        alg: SigAlg,
        encoding: SigEncoding,
        cert: &[u8],
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        verify_signature(alg.into(), encoding.into(), cert, msg, sig)
    }

    fn digest(&self, alg: HashAlg, data: &[u8]) -> Vec<u8> {
        digest(alg.into(), data)
    }

    fn verify_chain(
        &self,
        chain: &[Vec<u8>],
        roots: &[Vec<u8>],
        at: i64,
        eku: Option<&str>,
    ) -> Result<Vec<CertInfo>, String> {
        verify_chain(chain, roots, at, eku).map(|p| p.into_iter().map(CertInfo::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rust name of the WIT case `name` (`ecdsa-p256-sha256` → `EcdsaP256Sha256`).
    fn camel(name: &str) -> String {
        name.split('-')
            .map(|w| w[..1].to_uppercase() + &w[1..])
            .collect()
    }

    /// Every algorithm maps onto the WIT case of the same name.
    #[test]
    fn algorithms_map_onto_the_wit_cases_of_their_names() {
        let names = SigAlg::all_names();
        assert_eq!(names.split(", ").count(), 9);
        for name in names.split(", ") {
            let alg = SignatureAlgorithm::from(SigAlg::parse(name).unwrap());
            assert!(
                format!("{alg:?}").ends_with(&camel(name)),
                "{name}: {alg:?}"
            );
        }
        for (enc, name) in [(SigEncoding::Der, "der"), (SigEncoding::Fixed, "fixed")] {
            let enc = SignatureEncoding::from(enc);
            assert!(
                format!("{enc:?}").ends_with(&camel(name)),
                "{name}: {enc:?}"
            );
        }
        for (alg, name) in [
            (HashAlg::Sha256, "sha256"),
            (HashAlg::Sha384, "sha384"),
            (HashAlg::Sha512, "sha512"),
        ] {
            let alg = DigestAlgorithm::from(alg);
            assert!(
                format!("{alg:?}").ends_with(&camel(name)),
                "{name}: {alg:?}"
            );
        }
    }
}
