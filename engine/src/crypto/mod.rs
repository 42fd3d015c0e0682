//! Cryptography the host offers guests (behind the `crypto` WIT interface) and uses itself:
//! signature verification, digests, X.509 chain validation and certificate parsing.
//!
//! Everything here is plain Rust with no wasmtime in it; `runtime::host` maps the WIT types onto
//! these ones.
//!
//! # Formats
//!
//! * **Keys** (`verify_signature`): PEM or DER; a `SubjectPublicKeyInfo` (PEM `PUBLIC KEY`), a
//!   PKCS#1 `RSAPublicKey` (PEM `RSA PUBLIC KEY`) or an X.509 certificate (PEM `CERTIFICATE`),
//!   whose key is used as is (its validity is *not* checked; use [`verify_chain`] for that). DER
//!   input is told apart by its structure. Only the first PEM block is read.
//! * **Certificates** (`verify_chain`, `parse_certificate`): DER, or PEM. In `verify_chain` a PEM
//!   entry may hold several `CERTIFICATE` blocks (a bundle); they are taken in order.
//! * **Distinguished names** ([`CertInfo::subject`], [`CertInfo::issuer`]): RFC 4514 order (the
//!   last RDN of the DER encoding first, as Go's `pkix.Name.String()` prints it), RDNs separated
//!   by `", "`, multi-valued RDNs joined with `+`. Attribute names: `CN`, `SERIALNUMBER`, `C`,
//!   `L`, `ST`, `STREET`, `O`, `OU`, `POSTALCODE`, `DC`, `UID`; any other attribute is its dotted
//!   OID with the value as `#` + hex of its DER encoding (so `emailAddress` is
//!   `1.2.840.113549.1.9.1=#16…`, as in Go). Values are escaped as RFC 4514 says (`\,` `\+` `\"`
//!   `\\` `\<` `\>` `\;`, a leading `#` or space, a trailing space). Example:
//!   `CN=wabbit-networks.io, O=Notary, L=Seattle, ST=WA, C=US`.
//! * **Serial numbers**: lower-case hex of the magnitude, two digits per byte, leading zero bytes
//!   removed (`0x00 0x8f 0x01` → `8f01`; a zero serial is `00`).
//!
//! # Chain validation
//!
//! Paths are built and checked by rustls-webpki (signatures, validity at the given time for every
//! certificate below the anchor, basicConstraints cA / pathLen, name constraints, critical
//! extensions). Trust anchors are taken from the root certificates' subject and key: webpki does not
//! check a root's own validity period or signature, as RFC 5280 §6 allows. Extended key usage:
//!
//! * `eku = None`: no EKU is required anywhere (webpki insists on an EKU policy, so a permissive
//!   validator is passed; an *empty* EKU extension is still rejected as malformed).
//! * `eku = Some(oid)`: the leaf must list `oid` explicitly in its EKU extension (an absent
//!   extension or `anyExtendedKeyUsage` does not satisfy it), and every intermediate that has an
//!   EKU extension must list `oid` or `anyExtendedKeyUsage` (EKU nesting, as Go's x509 does).
//!
//! A leaf that is byte-for-byte one of the roots is trusted directly (a pinned, typically
//! self-signed certificate, as notation's trust stores allow): only its validity period and the
//! EKU are checked, and the path is that one certificate.
//!
//! Signature algorithms are ring's: RSA keys must be 2048 to 8192 bits; ECDSA keys must be P-256
//! or P-384 with uncompressed points; RSASSA-PSS keys (`id-RSASSA-PSS` SPKI) are accepted for the
//! PSS algorithms and their parameters are not checked against the chosen hash.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::io::Cursor;
use std::time::Duration;

use ring::signature::{self as ring_sig, UnparsedPublicKey, VerificationAlgorithm};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeId, KeyPurposeIdIter};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;

/// Signature algorithms the host verifies (mirrors WIT `signature-algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256 (MGF1 SHA-256, salt length 32).
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384 (MGF1 SHA-384, salt length 48).
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512 (MGF1 SHA-512, salt length 64).
    RsaPssSha512,
    /// Ed25519 (pure EdDSA).
    Ed25519,
}

impl SignatureAlgorithm {
    /// The WIT name of the algorithm, e.g. `ecdsa-p256-sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Self::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            Self::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
            Self::RsaPkcs1Sha384 => "rsa-pkcs1-sha384",
            Self::RsaPkcs1Sha512 => "rsa-pkcs1-sha512",
            Self::RsaPssSha256 => "rsa-pss-sha256",
            Self::RsaPssSha384 => "rsa-pss-sha384",
            Self::RsaPssSha512 => "rsa-pss-sha512",
            Self::Ed25519 => "ed25519",
        }
    }

    /// The kind of key this algorithm needs, for error messages.
    fn expected_key(self) -> &'static str {
        match self {
            Self::EcdsaP256Sha256 => "an ECDSA P-256 key",
            Self::EcdsaP384Sha384 => "an ECDSA P-384 key",
            Self::RsaPkcs1Sha256 | Self::RsaPkcs1Sha384 | Self::RsaPkcs1Sha512 => {
                "an RSA key (rsaEncryption)"
            }
            Self::RsaPssSha256 | Self::RsaPssSha384 | Self::RsaPssSha512 => "an RSA key",
            Self::Ed25519 => "an Ed25519 key",
        }
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an ECDSA signature is encoded (mirrors WIT `signature-encoding`; ignored for RSA and Ed25519).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureEncoding {
    /// ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }` (X.509, cosign).
    Der,
    /// Fixed-width big-endian `r || s` (JWS, COSE).
    Fixed,
}

/// Digest algorithms (mirrors WIT `digest-algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// What a certificate says about itself (mirrors WIT `cert-info`; formats in the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name, RFC 4514 order, `", "`-separated (`CN=…, O=…, C=…`).
    pub subject: String,
    /// Issuer distinguished name, same form as `subject`.
    pub issuer: String,
    /// Serial number, lower-case hex, leading zero bytes removed.
    pub serial: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256_fingerprint: String,
}

/// Why a crypto call failed; the `Display` text is what the guest receives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The public key (or the certificate given as a key) could not be decoded.
    #[error("cannot parse the public key: {0}")]
    UnparsableKey(String),
    /// A certificate could not be decoded; `what` names which one (`chain[1]`, `roots[0]`, ...).
    #[error("cannot parse {what}: {reason}")]
    UnparsableCertificate {
        /// Which certificate.
        what: String,
        /// Why it could not be parsed.
        reason: String,
    },
    /// The key is of a type the host does not verify with (DSA, P-521, Ed448, compressed points).
    #[error("unsupported public key: {0}")]
    UnsupportedKey(String),
    /// The key's type does not fit the requested algorithm.
    #[error("key/algorithm mismatch: the key is {key}, but {alg} needs {expected}")]
    KeyAlgorithmMismatch {
        /// What the key is, e.g. `an ECDSA P-384 key`.
        key: String,
        /// The requested algorithm.
        alg: SignatureAlgorithm,
        /// What the algorithm needs.
        expected: &'static str,
    },
    /// The RSA key's modulus is outside the accepted 2048..=8192 bits.
    #[error("the RSA key has a {bits}-bit modulus; {alg} accepts 2048 to 8192 bits")]
    RsaKeySize {
        /// Modulus size in bits.
        bits: usize,
        /// The requested algorithm.
        alg: SignatureAlgorithm,
    },
    /// The signature bytes are not in the expected shape for the algorithm and encoding.
    #[error("bad {alg} signature encoding: {reason}")]
    BadSignatureEncoding {
        /// The requested algorithm.
        alg: SignatureAlgorithm,
        /// What is wrong with it.
        reason: String,
    },
    /// The signature is well-formed but does not verify.
    #[error(
        "signature invalid: the {alg} signature does not verify for this message and public key"
    )]
    SignatureInvalid {
        /// The requested algorithm.
        alg: SignatureAlgorithm,
    },
    /// `at_unix` is negative.
    #[error("invalid verification time {0}: must be a Unix timestamp at or after 1970-01-01")]
    InvalidTime(i64),
    /// The requested EKU is not a dotted OID.
    #[error("invalid extended key usage OID {oid:?}: {reason}")]
    InvalidEkuOid {
        /// The OID as given.
        oid: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `verify_chain` got no certificates in the chain.
    #[error("the certificate chain is empty: at least the leaf certificate is required")]
    EmptyChain,
    /// `verify_chain` got no trusted roots.
    #[error("no trusted root certificates were given")]
    NoRoots,
    /// A certificate in the path has expired at the verification time.
    #[error(
        "certificate expired: {subject} was valid until {} (not_after {not_after}), the verification time is {} ({at_unix})",
        fmt_unix(*.not_after),
        fmt_unix(*.at_unix)
    )]
    CertExpired {
        /// Subject of the expired certificate.
        subject: String,
        /// Its notAfter, Unix seconds.
        not_after: i64,
        /// The verification time, Unix seconds.
        at_unix: i64,
    },
    /// A certificate in the path is not valid yet at the verification time.
    #[error(
        "certificate not yet valid: {subject} is valid from {} (not_before {not_before}), the verification time is {} ({at_unix})",
        fmt_unix(*.not_before),
        fmt_unix(*.at_unix)
    )]
    CertNotYetValid {
        /// Subject of the certificate.
        subject: String,
        /// Its notBefore, Unix seconds.
        not_before: i64,
        /// The verification time, Unix seconds.
        at_unix: i64,
    },
    /// No path leads from the leaf to any trusted root.
    #[error("untrusted certificate chain: {0}")]
    UntrustedChain(String),
    /// The leaf lacks the required extended key usage.
    #[error(
        "extended key usage missing: the leaf certificate {subject} does not allow {required} ({})",
        describe_ekus(.present)
    )]
    EkuMissing {
        /// Subject of the leaf.
        subject: String,
        /// The required EKU, dotted.
        required: String,
        /// The EKUs the leaf lists, dotted (empty when it has no EKU extension).
        present: Vec<String>,
    },
    /// An issuing certificate restricts EKUs to a set that excludes the required one.
    #[error(
        "extended key usage not permitted: an issuing certificate in the chain restricts extended key usage to [{}], which does not include {required}",
        .present.join(", ")
    )]
    EkuNotPermittedByIssuer {
        /// The required EKU, dotted.
        required: String,
        /// The EKUs the issuing certificate lists, dotted.
        present: Vec<String>,
    },
    /// Any other reason the chain is not valid (bad certificate signature, CA flags, ...).
    #[error("invalid certificate chain: {0}")]
    InvalidChain(String),
}

/// Describes an EKU list for [`CryptoError::EkuMissing`].
fn describe_ekus(present: &[String]) -> String {
    if present.is_empty() {
        "it has no extended key usage extension".to_owned()
    } else {
        format!("it lists only [{}]", present.join(", "))
    }
}

// ---------------------------------------------------------------------------------------------
// Digest
// ---------------------------------------------------------------------------------------------

/// Digest `data` with `alg`.
pub fn digest(alg: DigestAlgorithm, data: &[u8]) -> Vec<u8> {
    let algorithm = match alg {
        DigestAlgorithm::Sha256 => &ring::digest::SHA256,
        DigestAlgorithm::Sha384 => &ring::digest::SHA384,
        DigestAlgorithm::Sha512 => &ring::digest::SHA512,
    };
    ring::digest::digest(algorithm, data).as_ref().to_vec()
}

mod chain;
mod der;
mod keys;
mod signing;
#[cfg(test)]
mod tests;
mod x509;

use chain::*;
use der::*;
use keys::*;
use x509::*;

pub use chain::verify_chain;
pub use keys::{cosign_algorithm, verify_crl_signature, verify_signature};
pub use signing::{KeyError, SigningKey, VerifyingKeys, pem};
pub use x509::parse_certificate;
