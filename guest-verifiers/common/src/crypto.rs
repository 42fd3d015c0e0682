//! The host cryptography a guest's pure code asks for, in guest terms: algorithms, what the host
//! says about a certificate, and the [`Crypto`] trait a guest implements over its WIT imports
//! (and tests implement with fakes).

/// Signature algorithms a guest asks the host to verify, named as the WIT
/// `signature-algorithm` enum names them (the guests' one copy of that enum; each guest maps it
/// onto its generated bindings in one place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// ECDSA P-256 with SHA-256 (cosign's default keys).
    EcdsaP256Sha256,
    /// ECDSA P-384 with SHA-384.
    EcdsaP384Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (cosign's RSA keys).
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256.
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512.
    RsaPssSha512,
    /// Ed25519.
    Ed25519,
}

/// Every algorithm with its WIT name.
const ALGS: [(SigAlg, &str); 9] = [
    (SigAlg::EcdsaP256Sha256, "ecdsa-p256-sha256"),
    (SigAlg::EcdsaP384Sha384, "ecdsa-p384-sha384"),
    (SigAlg::RsaPkcs1Sha256, "rsa-pkcs1-sha256"),
    (SigAlg::RsaPkcs1Sha384, "rsa-pkcs1-sha384"),
    (SigAlg::RsaPkcs1Sha512, "rsa-pkcs1-sha512"),
    (SigAlg::RsaPssSha256, "rsa-pss-sha256"),
    (SigAlg::RsaPssSha384, "rsa-pss-sha384"),
    (SigAlg::RsaPssSha512, "rsa-pss-sha512"),
    (SigAlg::Ed25519, "ed25519"),
];

impl SigAlg {
    /// The WIT name, e.g. `ecdsa-p256-sha256`.
    pub fn name(self) -> &'static str {
        ALGS.iter()
            .find(|(a, _)| *a == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknown")
    }

    /// Parses a WIT name.
    pub fn parse(name: &str) -> Option<SigAlg> {
        ALGS.iter().find(|(_, n)| *n == name).map(|(a, _)| *a)
    }

    /// Every accepted name, comma-separated, for error messages.
    pub fn all_names() -> String {
        ALGS.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
    }
}

/// How an ECDSA signature is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigEncoding {
    /// ASN.1 DER `SEQUENCE { r, s }` (CMS, X.509).
    Der,
    /// Fixed-width `r || s` (JWS, COSE).
    Fixed,
}

/// Digest algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// What the host says about a certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial, lower-case hex.
    pub serial: String,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
}

/// The host cryptography shared code needs (all of it runs natively on the host).
pub trait Crypto {
    /// Verify `sig` over `msg` with the key of the DER certificate (or SPKI) `cert`.
    fn verify_signature(
        &self,
        alg: SigAlg,
        encoding: SigEncoding,
        cert: &[u8],
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), String>;
    /// Digest `data`.
    fn digest(&self, alg: HashAlg, data: &[u8]) -> Vec<u8>;
    /// Validate `chain` (leaf first, DER) to one of `roots` at `at`, requiring `eku` when given
    /// (the leaf must list it, intermediates with an EKU extension must allow it); returns the
    /// path, leaf first.
    fn verify_chain(
        &self,
        chain: &[Vec<u8>],
        roots: &[Vec<u8>],
        at: i64,
        eku: Option<&str>,
    ) -> Result<Vec<CertInfo>, String>;
}

/// SHA-1 of `data`, computed in the guest: only for identifiers the protocols define over SHA-1
/// (the ESS `signingCertificate` v1 hash, the OCSP `CertID` name and key hashes), never for a
/// signature, which the host verifies with the algorithms above.
pub fn sha1_digest(data: &[u8]) -> Vec<u8> {
    use sha1::Digest as _;
    sha1::Sha1::digest(data).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every algorithm has its WIT name (`signature-algorithm` in `wit/verifier.wit`) and parses
    /// back from it; anything else is no algorithm.
    #[test]
    fn algorithm_names_round_trip() {
        for (alg, name) in ALGS {
            assert_eq!(SigAlg::parse(name), Some(alg));
            assert_eq!(alg.name(), name);
        }
        assert_eq!(SigAlg::parse("md5"), None);
        assert_eq!(ALGS.len(), 9);
    }
}
