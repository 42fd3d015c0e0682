//! Host-side cryptography behind the `crypto` WIT interface: signature verification, digests,
//! X.509 chain validation and certificate parsing.
//!
//! Everything here is plain Rust; the wasmtime bindings map the WIT types onto these ones.
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

// ---------------------------------------------------------------------------------------------
// Minimal DER reading (structure sniffing and key extraction on the hot path)
// ---------------------------------------------------------------------------------------------

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_CONTEXT_0: u8 = 0xa0;

/// One DER TLV: its tag, its value, and the length of the whole TLV.
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
    len: usize,
}

/// Reads the TLV at the start of `input` (low tag numbers, definite lengths up to 4 bytes).
fn read_tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = rest.get(..n)?;
        if bytes[0] == 0 {
            return None; // non-minimal length
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len < 0x80 {
            return None; // non-minimal length
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let value = input.get(header..end)?;
    Some(Tlv {
        tag,
        value,
        len: end,
    })
}

/// Iterates over the TLVs in a constructed value; yields `None` once on malformed input.
struct TlvIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> TlvIter<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self {
            rest: input,
            failed: false,
        }
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Option<Tlv<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match read_tlv(self.rest) {
            Some(tlv) => {
                self.rest = &self.rest[tlv.len..];
                Some(Some(tlv))
            }
            None => {
                self.failed = true;
                Some(None)
            }
        }
    }
}

/// Reads exactly one TLV with `tag` spanning all of `input`.
fn read_whole(input: &[u8], tag: u8) -> Option<&[u8]> {
    let tlv = read_tlv(input)?;
    (tlv.tag == tag && tlv.len == input.len()).then_some(tlv.value)
}

/// Encodes a dotted OID (`1.3.6.1.5.5.7.3.3`) as DER content bytes.
fn encode_oid(dotted: &str) -> Result<Vec<u8>, CryptoError> {
    let invalid = |reason| CryptoError::InvalidEkuOid {
        oid: dotted.to_owned(),
        reason,
    };
    let arcs = dotted
        .split('.')
        .map(|arc| {
            if arc.is_empty() || !arc.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("every arc must be a decimal number"));
            }
            arc.parse::<u64>()
                .map_err(|_| invalid("an arc is too large"))
        })
        .collect::<Result<Vec<u64>, _>>()?;
    if arcs.len() < 2 {
        return Err(invalid("an OID has at least two arcs"));
    }
    if arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) {
        return Err(invalid(
            "the first arc must be 0, 1 or 2 (and the second below 40 unless the first is 2)",
        ));
    }
    let first = arcs[0]
        .checked_mul(40)
        .and_then(|v| v.checked_add(arcs[1]))
        .ok_or_else(|| invalid("an arc is too large"))?;
    let mut out = Vec::with_capacity(arcs.len() + 4);
    for arc in std::iter::once(first).chain(arcs[2..].iter().copied()) {
        let mut groups = [0u8; 10];
        let mut n = 0;
        let mut v = arc;
        loop {
            groups[n] = (v & 0x7f) as u8;
            n += 1;
            v >>= 7;
            if v == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
        }
    }
    Ok(out)
}

/// Decodes DER OID content bytes to dotted form (for messages); falls back to hex when malformed.
fn decode_oid(bytes: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if acc > (u64::MAX >> 7) {
            return format!("#{}", hex::encode(bytes));
        }
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let (a, b) = match acc {
                    0..=39 => (0, acc),
                    40..=79 => (1, acc - 40),
                    _ => (2, acc - 80),
                };
                arcs.push(a);
                arcs.push(b);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        } else if i + 1 == bytes.len() {
            return format!("#{}", hex::encode(bytes));
        }
    }
    if arcs.is_empty() {
        return "#".to_owned();
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

// OID content bytes.
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];
const OID_DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const OID_ANY_EKU: &[u8] = &[0x55, 0x1d, 0x25, 0x00];

// ---------------------------------------------------------------------------------------------
// Public keys
// ---------------------------------------------------------------------------------------------

/// What DER structure a key input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyForm {
    Spki,
    Pkcs1,
    Certificate,
}

/// A public key ready for ring.
#[derive(Debug)]
enum HostKey<'a> {
    /// Uncompressed P-256 point.
    P256(&'a [u8]),
    /// Uncompressed P-384 point.
    P384(&'a [u8]),
    /// PKCS#1 `RSAPublicKey` DER.
    Rsa {
        pkcs1: &'a [u8],
        bits: usize,
        /// The SPKI was `id-RSASSA-PSS`: only PSS signatures may be verified with it.
        pss_only: bool,
    },
    /// Raw 32-byte Ed25519 key.
    Ed25519(&'a [u8]),
}

impl HostKey<'_> {
    fn describe(&self) -> String {
        match self {
            Self::P256(_) => "an ECDSA P-256 key".to_owned(),
            Self::P384(_) => "an ECDSA P-384 key".to_owned(),
            Self::Rsa {
                bits,
                pss_only: false,
                ..
            } => format!("a {bits}-bit RSA key"),
            Self::Rsa {
                bits,
                pss_only: true,
                ..
            } => format!("a {bits}-bit RSASSA-PSS-only key (id-RSASSA-PSS)"),
            Self::Ed25519(_) => "an Ed25519 key".to_owned(),
        }
    }
}

/// Tells a SubjectPublicKeyInfo, a PKCS#1 RSAPublicKey and a certificate apart by structure.
fn sniff_der(der: &[u8]) -> Option<KeyForm> {
    let outer = read_whole(der, TAG_SEQUENCE)?;
    let first = read_tlv(outer)?;
    match first.tag {
        TAG_INTEGER => Some(KeyForm::Pkcs1),
        TAG_SEQUENCE => match read_tlv(first.value)?.tag {
            TAG_OID => Some(KeyForm::Spki),
            TAG_CONTEXT_0 | TAG_INTEGER => Some(KeyForm::Certificate),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `input` starts like DER (a SEQUENCE) rather than PEM text.
fn looks_like_der(input: &[u8]) -> bool {
    input.first() == Some(&TAG_SEQUENCE)
}

/// Reads the first PEM block of `input`.
fn first_pem(input: &[u8]) -> Result<Pem, String> {
    match Pem::read(Cursor::new(input)) {
        Ok((pem, _)) => Ok(pem),
        Err(x509_parser::error::PEMError::MissingHeader) => Err(
            "the input is neither DER (it does not start with an ASN.1 SEQUENCE) nor PEM (no -----BEGIN line)"
                .to_owned(),
        ),
        Err(e) => Err(format!("malformed PEM: {e}")),
    }
}

/// Decodes `key_or_cert` (PEM or DER) into its DER bytes and form.
fn decode_key_input(input: &[u8]) -> Result<(KeyForm, Cow<'_, [u8]>), CryptoError> {
    if looks_like_der(input) {
        let form = sniff_der(input).ok_or_else(|| {
            CryptoError::UnparsableKey(
                "the DER is not a SubjectPublicKeyInfo, a PKCS#1 RSAPublicKey or an X.509 certificate"
                    .to_owned(),
            )
        })?;
        return Ok((form, Cow::Borrowed(input)));
    }
    let pem = first_pem(input).map_err(CryptoError::UnparsableKey)?;
    let form = match pem.label.as_str() {
        "PUBLIC KEY" => KeyForm::Spki,
        "RSA PUBLIC KEY" => KeyForm::Pkcs1,
        "CERTIFICATE" | "X509 CERTIFICATE" => KeyForm::Certificate,
        label if label.contains("PRIVATE KEY") => {
            return Err(CryptoError::UnparsableKey(format!(
                "got a PEM {label}; a public key or certificate is required"
            )));
        }
        label => {
            return Err(CryptoError::UnparsableKey(format!(
                "unexpected PEM label {label:?}; expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE"
            )));
        }
    };
    Ok((form, Cow::Owned(pem.contents)))
}

/// Returns the SubjectPublicKeyInfo TLV of a DER certificate without parsing the rest.
fn certificate_spki(cert: &[u8]) -> Option<&[u8]> {
    let outer = read_whole(cert, TAG_SEQUENCE)?;
    let tbs = read_tlv(outer)?;
    if tbs.tag != TAG_SEQUENCE {
        return None;
    }
    let mut rest = tbs.value;
    // [0] version (optional), serial, signature, issuer, validity, subject, then the SPKI.
    let mut to_skip = 5;
    if read_tlv(rest)?.tag == TAG_CONTEXT_0 {
        to_skip += 1;
    }
    for _ in 0..to_skip {
        rest = &rest[read_tlv(rest)?.len..];
    }
    let spki = read_tlv(rest)?;
    (spki.tag == TAG_SEQUENCE).then(|| &rest[..spki.len])
}

/// Bit length of a DER INTEGER's magnitude.
fn integer_bits(value: &[u8]) -> usize {
    let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    match value.get(start..) {
        Some([first, rest @ ..]) => rest.len() * 8 + (8 - first.leading_zeros() as usize),
        _ => 0,
    }
}

/// Parses a PKCS#1 RSAPublicKey and returns its modulus size in bits.
fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    let seq = read_whole(pkcs1, TAG_SEQUENCE)?;
    let modulus = read_tlv(seq)?;
    let exponent = read_tlv(&seq[modulus.len..])?;
    (modulus.tag == TAG_INTEGER
        && exponent.tag == TAG_INTEGER
        && modulus.len + exponent.len == seq.len())
    .then(|| integer_bits(modulus.value))
}

/// Parses a SubjectPublicKeyInfo into a [`HostKey`].
fn parse_spki(spki: &[u8]) -> Result<HostKey<'_>, CryptoError> {
    let bad =
        |why: &str| CryptoError::UnparsableKey(format!("malformed SubjectPublicKeyInfo: {why}"));
    let seq = read_whole(spki, TAG_SEQUENCE).ok_or_else(|| bad("not a DER SEQUENCE"))?;
    let alg = read_tlv(seq).ok_or_else(|| bad("truncated algorithm identifier"))?;
    let bits = read_tlv(&seq[alg.len..]).ok_or_else(|| bad("truncated key bit string"))?;
    if alg.tag != TAG_SEQUENCE || bits.tag != TAG_BIT_STRING || alg.len + bits.len != seq.len() {
        return Err(bad("expected SEQUENCE { AlgorithmIdentifier, BIT STRING }"));
    }
    let oid = read_tlv(alg.value).ok_or_else(|| bad("truncated algorithm OID"))?;
    if oid.tag != TAG_OID {
        return Err(bad("the algorithm identifier does not start with an OID"));
    }
    let params = &alg.value[oid.len..];
    let key = match bits.value.split_first() {
        Some((0, key)) => key,
        _ => return Err(bad("the key BIT STRING has unused bits or is empty")),
    };
    match oid.value {
        OID_EC_PUBLIC_KEY => {
            let curve = read_whole(params, TAG_OID)
                .ok_or_else(|| bad("ECDSA key without a named curve parameter"))?;
            let point_ok = |len: usize| key.len() == len && key[0] == 0x04;
            match curve {
                OID_P256 if point_ok(65) => Ok(HostKey::P256(key)),
                OID_P384 if point_ok(97) => Ok(HostKey::P384(key)),
                OID_P256 | OID_P384 if matches!(key.first(), Some(2 | 3)) => {
                    Err(CryptoError::UnsupportedKey(
                        "compressed EC points are not supported".to_owned(),
                    ))
                }
                OID_P256 | OID_P384 => Err(bad("the EC point has the wrong length for its curve")),
                OID_P521 => Err(CryptoError::UnsupportedKey(
                    "ECDSA P-521 keys are not supported".to_owned(),
                )),
                other => Err(CryptoError::UnsupportedKey(format!(
                    "ECDSA key on unsupported curve {}",
                    decode_oid(other)
                ))),
            }
        }
        OID_RSA_ENCRYPTION | OID_RSASSA_PSS => {
            let bits = rsa_modulus_bits(key)
                .ok_or_else(|| bad("the RSA key is not a PKCS#1 RSAPublicKey"))?;
            Ok(HostKey::Rsa {
                pkcs1: key,
                bits,
                pss_only: oid.value == OID_RSASSA_PSS,
            })
        }
        OID_ED25519 if key.len() == 32 => Ok(HostKey::Ed25519(key)),
        OID_ED25519 => Err(bad("an Ed25519 key must be 32 bytes")),
        OID_ED448 => Err(CryptoError::UnsupportedKey(
            "Ed448 keys are not supported".to_owned(),
        )),
        OID_DSA => Err(CryptoError::UnsupportedKey(
            "DSA keys are not supported".to_owned(),
        )),
        other => Err(CryptoError::UnsupportedKey(format!(
            "unknown public key algorithm {}",
            decode_oid(other)
        ))),
    }
}

/// Parses key input of a known form into a [`HostKey`].
fn parse_host_key(form: KeyForm, der: &[u8]) -> Result<HostKey<'_>, CryptoError> {
    match form {
        KeyForm::Spki => parse_spki(der),
        KeyForm::Pkcs1 => {
            let bits = rsa_modulus_bits(der).ok_or_else(|| {
                CryptoError::UnparsableKey("malformed PKCS#1 RSAPublicKey".to_owned())
            })?;
            Ok(HostKey::Rsa {
                pkcs1: der,
                bits,
                pss_only: false,
            })
        }
        KeyForm::Certificate => {
            let spki = certificate_spki(der).ok_or_else(|| {
                CryptoError::UnparsableKey(
                    "malformed X.509 certificate: cannot locate its SubjectPublicKeyInfo"
                        .to_owned(),
                )
            })?;
            parse_spki(spki)
        }
    }
}

/// Picks ring's algorithm for `alg` and `encoding`, checking the key fits it.
fn ring_algorithm<'k>(
    alg: SignatureAlgorithm,
    encoding: SignatureEncoding,
    key: &HostKey<'k>,
) -> Result<(&'static dyn VerificationAlgorithm, &'k [u8]), CryptoError> {
    use SignatureAlgorithm as A;
    let mismatch = || CryptoError::KeyAlgorithmMismatch {
        key: key.describe(),
        alg,
        expected: alg.expected_key(),
    };
    let der = encoding == SignatureEncoding::Der;
    match (alg, key) {
        (A::EcdsaP256Sha256, HostKey::P256(k)) => Ok((
            if der {
                &ring_sig::ECDSA_P256_SHA256_ASN1
            } else {
                &ring_sig::ECDSA_P256_SHA256_FIXED
            },
            k,
        )),
        (A::EcdsaP384Sha384, HostKey::P384(k)) => Ok((
            if der {
                &ring_sig::ECDSA_P384_SHA384_ASN1
            } else {
                &ring_sig::ECDSA_P384_SHA384_FIXED
            },
            k,
        )),
        (A::Ed25519, HostKey::Ed25519(k)) => Ok((&ring_sig::ED25519, k)),
        (
            A::RsaPkcs1Sha256
            | A::RsaPkcs1Sha384
            | A::RsaPkcs1Sha512
            | A::RsaPssSha256
            | A::RsaPssSha384
            | A::RsaPssSha512,
            HostKey::Rsa {
                pkcs1,
                bits,
                pss_only,
            },
        ) => {
            let ring_alg: &'static dyn VerificationAlgorithm = match alg {
                A::RsaPkcs1Sha256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
                A::RsaPkcs1Sha384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
                A::RsaPkcs1Sha512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
                A::RsaPssSha256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
                A::RsaPssSha384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
                _ => &ring_sig::RSA_PSS_2048_8192_SHA512,
            };
            let is_pss = matches!(alg, A::RsaPssSha256 | A::RsaPssSha384 | A::RsaPssSha512);
            if *pss_only && !is_pss {
                return Err(mismatch());
            }
            if !(2048..=8192).contains(bits) {
                return Err(CryptoError::RsaKeySize { bits: *bits, alg });
            }
            Ok((ring_alg, pkcs1))
        }
        _ => Err(mismatch()),
    }
}

/// Checks the signature's shape so malformed input gets a precise error instead of "invalid".
fn check_signature_shape(
    alg: SignatureAlgorithm,
    encoding: SignatureEncoding,
    key: &HostKey<'_>,
    signature: &[u8],
) -> Result<(), CryptoError> {
    let bad = |reason: String| CryptoError::BadSignatureEncoding { alg, reason };
    match key {
        HostKey::P256(_) | HostKey::P384(_) => {
            let width = if matches!(key, HostKey::P256(_)) {
                64
            } else {
                96
            };
            match encoding {
                SignatureEncoding::Fixed if signature.len() != width => Err(bad(format!(
                    "a fixed-width (r || s) signature must be {width} bytes, got {}{}",
                    signature.len(),
                    if looks_like_der(signature) {
                        "; it looks DER-encoded, use the der encoding"
                    } else {
                        ""
                    }
                ))),
                SignatureEncoding::Fixed => Ok(()),
                SignatureEncoding::Der => {
                    let ok = read_whole(signature, TAG_SEQUENCE).is_some_and(|seq| {
                        let mut items = TlvIter::new(seq);
                        matches!(
                            (items.next(), items.next(), items.next()),
                            (Some(Some(r)), Some(Some(s)), None)
                                if r.tag == TAG_INTEGER && s.tag == TAG_INTEGER
                        )
                    });
                    if ok {
                        Ok(())
                    } else if signature.len() == width {
                        Err(bad(format!(
                            "not an ASN.1 DER SEQUENCE {{ r, s }}; at {width} bytes it looks like a fixed-width r || s signature, use the fixed encoding"
                        )))
                    } else {
                        Err(bad(
                            "not an ASN.1 DER SEQUENCE { r INTEGER, s INTEGER }".to_owned()
                        ))
                    }
                }
            }
        }
        HostKey::Ed25519(_) if signature.len() != 64 => Err(bad(format!(
            "an Ed25519 signature must be 64 bytes, got {}",
            signature.len()
        ))),
        HostKey::Rsa { bits, .. } if signature.len() != bits.div_ceil(8) => Err(bad(format!(
            "an RSA signature for a {bits}-bit key must be {} bytes, got {}",
            bits.div_ceil(8),
            signature.len()
        ))),
        _ => Ok(()),
    }
}

/// The algorithm cosign signs with for a public key of this kind (PEM or DER SPKI, PKCS#1 RSA, or
/// a certificate): ECDSA P-256 with SHA-256, ECDSA P-384 with SHA-384, Ed25519, RSA PKCS#1 v1.5
/// with SHA-256 (RSA-PSS with SHA-256 for a PSS-only key). For signatures whose algorithm the
/// signed data does not name, such as simple-signing payloads verified with a configured key.
pub fn cosign_algorithm(key: &[u8]) -> Result<SignatureAlgorithm, CryptoError> {
    let (form, der) = decode_key_input(key)?;
    Ok(match parse_host_key(form, &der)? {
        HostKey::P256(_) => SignatureAlgorithm::EcdsaP256Sha256,
        HostKey::P384(_) => SignatureAlgorithm::EcdsaP384Sha384,
        HostKey::Rsa { pss_only: true, .. } => SignatureAlgorithm::RsaPssSha256,
        HostKey::Rsa { .. } => SignatureAlgorithm::RsaPkcs1Sha256,
        HostKey::Ed25519(_) => SignatureAlgorithm::Ed25519,
    })
}

/// Verify `signature` over `message` with a public key or certificate (PEM or DER; SPKI, PKCS#1
/// RSA or X.509). `encoding` only matters for ECDSA.
pub fn verify_signature(
    alg: SignatureAlgorithm,
    encoding: SignatureEncoding,
    key_or_cert: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let (form, der) = decode_key_input(key_or_cert)?;
    let key = parse_host_key(form, &der)?;
    let (ring_alg, key_bytes) = ring_algorithm(alg, encoding, &key)?;
    check_signature_shape(alg, encoding, &key, signature)?;
    UnparsedPublicKey::new(ring_alg, key_bytes)
        .verify(message, signature)
        .map_err(|_| CryptoError::SignatureInvalid { alg })
}

/// Verify a DER CRL's signature (its `signatureValue` over its `tbsCertList`, under its
/// `signatureAlgorithm`) with the key of the DER certificate `issuer`, as [`verify_signature`]
/// does. The algorithms are those a notation CRL check accepts: ECDSA P-256/SHA-256,
/// P-384/SHA-384 and RSA PKCS#1 v1.5 SHA-256/384/512; any other is an error naming its OID.
pub fn verify_crl_signature(crl: &[u8], issuer: &[u8]) -> Result<(), String> {
    use x509_parser::revocation_list::CertificateRevocationList;
    let (rest, list) = CertificateRevocationList::from_der(crl)
        .map_err(|e| format!("the CRL cannot be parsed: {e}"))?;
    if !rest.is_empty() {
        return Err("the CRL has trailing bytes".into());
    }
    let oid = list.signature_algorithm.algorithm.to_id_string();
    let alg = match oid.as_str() {
        "1.2.840.10045.4.3.2" => SignatureAlgorithm::EcdsaP256Sha256,
        "1.2.840.10045.4.3.3" => SignatureAlgorithm::EcdsaP384Sha384,
        "1.2.840.113549.1.1.11" => SignatureAlgorithm::RsaPkcs1Sha256,
        "1.2.840.113549.1.1.12" => SignatureAlgorithm::RsaPkcs1Sha384,
        "1.2.840.113549.1.1.13" => SignatureAlgorithm::RsaPkcs1Sha512,
        other => return Err(format!("signature algorithm {other} is not supported")),
    };
    verify_signature(
        alg,
        SignatureEncoding::Der,
        issuer,
        list.tbs_cert_list.as_ref(),
        &list.signature_value.data,
    )
    .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

/// Decodes one input entry into DER certificates: DER as is, or every CERTIFICATE block of PEM.
fn decode_cert_entry<'a>(
    input: &'a [u8],
    what: &str,
    out: &mut Vec<(String, Cow<'a, [u8]>)>,
) -> Result<(), CryptoError> {
    let fail = |reason: String| CryptoError::UnparsableCertificate {
        what: what.to_owned(),
        reason,
    };
    if looks_like_der(input) {
        out.push((what.to_owned(), Cow::Borrowed(input)));
        return Ok(());
    }
    let start = out.len();
    for (i, block) in Pem::iter_from_buffer(input).enumerate() {
        let pem = block.map_err(|e| fail(format!("malformed PEM block {}: {e}", i + 1)))?;
        if pem.label != "CERTIFICATE" && pem.label != "X509 CERTIFICATE" {
            return Err(fail(format!(
                "PEM block {} is labelled {:?}, expected CERTIFICATE",
                i + 1,
                pem.label
            )));
        }
        let name = if i == 0 {
            what.to_owned()
        } else {
            format!("{what} (PEM block {})", i + 1)
        };
        out.push((name, Cow::Owned(pem.contents)));
    }
    if out.len() == start {
        return Err(fail(
            "neither DER (it does not start with an ASN.1 SEQUENCE) nor PEM with a CERTIFICATE block"
                .to_owned(),
        ));
    }
    Ok(())
}

/// Parses a DER certificate with x509-parser, rejecting trailing bytes.
fn parse_x509<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, CryptoError> {
    let fail = |reason: String| CryptoError::UnparsableCertificate {
        what: what.to_owned(),
        reason,
    };
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok((rest, _)) => Err(fail(format!(
            "{} trailing bytes after the certificate",
            rest.len()
        ))),
        Err(e) => Err(fail(format!("not a valid X.509 certificate: {e}"))),
    }
}

/// Builds the [`CertInfo`] of a parsed certificate.
fn cert_info(der: &[u8], cert: &X509Certificate<'_>) -> CertInfo {
    CertInfo {
        subject: format_name(cert.subject()),
        issuer: format_name(cert.issuer()),
        serial: serial_hex(cert.raw_serial()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        sha256_fingerprint: hex::encode(digest(DigestAlgorithm::Sha256, der)),
    }
}

/// Lower-case hex of a serial number's magnitude, leading zero bytes removed.
fn serial_hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    if start == raw.len() {
        "00".to_owned()
    } else {
        hex::encode(&raw[start..])
    }
}

/// Formats a distinguished name (module docs give the form); x509-parser's form if malformed.
fn format_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    format_name_der(name.as_raw()).unwrap_or_else(|| name.to_string())
}

/// Formats DER `Name` bytes in RFC 4514 order.
fn format_name_der(der: &[u8]) -> Option<String> {
    let rdns = read_whole(der, TAG_SEQUENCE)?;
    let mut parts = Vec::new();
    for rdn in TlvIter::new(rdns) {
        let rdn = rdn?;
        if rdn.tag != TAG_SET {
            return None;
        }
        let mut attrs = Vec::new();
        for atv in TlvIter::new(rdn.value) {
            let atv = atv?;
            if atv.tag != TAG_SEQUENCE {
                return None;
            }
            let oid = read_tlv(atv.value)?;
            if oid.tag != TAG_OID {
                return None;
            }
            let value_der = &atv.value[oid.len..];
            let value = read_tlv(value_der)?;
            if value.len != value_der.len() {
                return None;
            }
            attrs.push(format_attribute(
                oid.value,
                value.tag,
                value.value,
                value_der,
            ));
        }
        parts.push(attrs.join("+"));
    }
    parts.reverse();
    Some(parts.join(", "))
}

/// Formats one `type=value` pair.
fn format_attribute(oid: &[u8], tag: u8, value: &[u8], value_der: &[u8]) -> String {
    const DC: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19];
    const UID: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01];
    let name = match oid {
        [0x55, 0x04, 3] => Some("CN"),
        [0x55, 0x04, 5] => Some("SERIALNUMBER"),
        [0x55, 0x04, 6] => Some("C"),
        [0x55, 0x04, 7] => Some("L"),
        [0x55, 0x04, 8] => Some("ST"),
        [0x55, 0x04, 9] => Some("STREET"),
        [0x55, 0x04, 10] => Some("O"),
        [0x55, 0x04, 11] => Some("OU"),
        [0x55, 0x04, 17] => Some("POSTALCODE"),
        DC => Some("DC"),
        UID => Some("UID"),
        _ => None,
    };
    let text = match tag {
        // UTF8String, NumericString, PrintableString, IA5String, VisibleString
        12 | 18 | 19 | 22 | 26 => std::str::from_utf8(value).ok().map(str::to_owned),
        // TeletexString: treated as Latin-1, as most producers mean it.
        20 => Some(value.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE.
        30 if value.len().is_multiple_of(2) => char::decode_utf16(
            value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
        .collect::<Result<String, _>>()
        .ok(),
        // UniversalString: UTF-32BE.
        28 if value.len().is_multiple_of(4) => value
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect::<Option<String>>(),
        _ => None,
    };
    match (name, text) {
        (Some(name), Some(text)) => format!("{name}={}", escape_dn_value(&text)),
        (name, _) => format!(
            "{}=#{}",
            name.map_or_else(|| decode_oid(oid), str::to_owned),
            hex::encode(value_der)
        ),
    }
}

/// Escapes an attribute value as RFC 4514 §2.4 says.
fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// Parse a certificate (PEM or DER; the first PEM block) without validating it.
pub fn parse_certificate(cert: &[u8]) -> Result<CertInfo, CryptoError> {
    let der: Cow<'_, [u8]> = if looks_like_der(cert) {
        Cow::Borrowed(cert)
    } else {
        let fail = |reason| CryptoError::UnparsableCertificate {
            what: "the certificate".to_owned(),
            reason,
        };
        let pem = first_pem(cert).map_err(fail)?;
        if pem.label != "CERTIFICATE" && pem.label != "X509 CERTIFICATE" {
            return Err(fail(format!(
                "the PEM block is labelled {:?}, expected CERTIFICATE",
                pem.label
            )));
        }
        Cow::Owned(pem.contents)
    };
    let parsed = parse_x509(&der, "the certificate")?;
    Ok(cert_info(&der, &parsed))
}

/// The EKU OIDs a certificate lists (`None` without an EKU extension; malformed lists are empty).
fn certificate_ekus<'a>(cert: &X509Certificate<'a>) -> Option<Vec<&'a [u8]>> {
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.as_bytes() == OID_EXT_KEY_USAGE)?;
    let list = read_whole(ext.value, TAG_SEQUENCE)?;
    Some(
        TlvIter::new(list)
            .map_while(|tlv| tlv.filter(|t| t.tag == TAG_OID).map(|t| t.value))
            .collect(),
    )
}

/// webpki EKU policy: nothing required, or "if present, must allow `required` (or any EKU)".
///
/// webpki applies it to every certificate in the path; the leaf's explicit requirement is checked
/// separately in [`verify_chain`].
struct EkuPolicy<'a> {
    required: Option<&'a [u8]>,
    /// The EKUs of the last certificate that failed the policy, dotted.
    violation: RefCell<Option<Vec<String>>>,
}

impl ExtendedKeyUsageValidator for EkuPolicy<'_> {
    // `RequiredEkuNotFoundContext` needs a `'static` OID; ours is per call, so the plain variant
    // is returned and the details are kept in `violation`.
    #[allow(deprecated)]
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let Some(required) = self.required else {
            for id in iter {
                id?;
            }
            return Ok(());
        };
        let wanted = KeyPurposeId::new(required);
        let any = KeyPurposeId::new(OID_ANY_EKU);
        let mut present = Vec::new();
        for id in iter {
            let id = id?;
            if id == wanted || id == any {
                return Ok(());
            }
            present.push(
                id.to_decoded_oid()
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join("."),
            );
        }
        if present.is_empty() {
            return Ok(());
        }
        *self.violation.borrow_mut() = Some(present);
        Err(webpki::Error::RequiredEkuNotFound)
    }
}

/// Checks a parsed certificate's validity period at `at_unix`.
fn check_validity_at(cert: &X509Certificate<'_>, at_unix: i64) -> Result<(), CryptoError> {
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if at_unix < not_before {
        return Err(CryptoError::CertNotYetValid {
            subject: format_name(cert.subject()),
            not_before,
            at_unix,
        });
    }
    if at_unix > not_after {
        return Err(CryptoError::CertExpired {
            subject: format_name(cert.subject()),
            not_after,
            at_unix,
        });
    }
    Ok(())
}

/// Validate `chain_der` (leaf first; PEM or DER entries) to one of `roots_der` at `at_unix`,
/// requiring the extended key usage `eku` (dotted OID) when given. Returns leaf → anchor infos.
pub fn verify_chain(
    chain_der: &[Vec<u8>],
    roots_der: &[Vec<u8>],
    at_unix: i64,
    eku: Option<&str>,
) -> Result<Vec<CertInfo>, CryptoError> {
    let seconds = u64::try_from(at_unix).map_err(|_| CryptoError::InvalidTime(at_unix))?;
    let required_eku = eku.map(encode_oid).transpose()?;

    let mut chain = Vec::with_capacity(chain_der.len());
    for (i, entry) in chain_der.iter().enumerate() {
        let what = if i == 0 {
            "chain[0] (the leaf)".to_owned()
        } else {
            format!("chain[{i}]")
        };
        decode_cert_entry(entry, &what, &mut chain)?;
    }
    if chain.is_empty() {
        return Err(CryptoError::EmptyChain);
    }
    let mut roots = Vec::with_capacity(roots_der.len());
    for (i, entry) in roots_der.iter().enumerate() {
        decode_cert_entry(entry, &format!("roots[{i}]"), &mut roots)?;
    }
    if roots.is_empty() {
        return Err(CryptoError::NoRoots);
    }

    let parsed = chain
        .iter()
        .map(|(what, der)| parse_x509(der, what))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = &parsed[0];
    let leaf_der: &[u8] = &chain[0].1;

    if let (Some(required), Some(dotted)) = (required_eku.as_deref(), eku) {
        let present = certificate_ekus(leaf).unwrap_or_default();
        if !present.contains(&required) {
            return Err(CryptoError::EkuMissing {
                subject: format_name(leaf.subject()),
                required: dotted.to_owned(),
                present: present.iter().map(|oid| decode_oid(oid)).collect(),
            });
        }
    }

    // A leaf that is itself one of the roots is trusted directly.
    if roots.iter().any(|(_, root)| root.as_ref() == leaf_der) {
        check_validity_at(leaf, at_unix)?;
        tracing::debug!(subject = %format_name(leaf.subject()), "leaf certificate is a trusted root");
        return Ok(vec![cert_info(leaf_der, leaf)]);
    }

    let root_ders: Vec<CertificateDer<'_>> = roots
        .iter()
        .map(|(_, der)| CertificateDer::from(der.as_ref()))
        .collect();
    let anchors = root_ders
        .iter()
        .zip(&roots)
        .map(|(der, (what, _))| {
            webpki::anchor_from_trusted_cert(der).map_err(|e| CryptoError::UnparsableCertificate {
                what: what.clone(),
                reason: format!("not usable as a trust anchor: {e:?}"),
            })
        })
        .collect::<Result<Vec<TrustAnchor<'_>>, _>>()?;
    let leaf_cert_der = CertificateDer::from(leaf_der);
    let end_entity = EndEntityCert::try_from(&leaf_cert_der).map_err(|e| {
        CryptoError::UnparsableCertificate {
            what: chain[0].0.clone(),
            reason: format!("rejected by the path validator: {e:?}"),
        }
    })?;
    let intermediates: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|(_, der)| CertificateDer::from(der.as_ref()))
        .collect();
    let policy = EkuPolicy {
        required: required_eku.as_deref(),
        violation: RefCell::new(None),
    };

    let path = end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(Duration::from_secs(seconds)),
            &policy,
            None,
            None,
        )
        .map_err(|e| chain_error(e, at_unix, &parsed, &roots, eku, &policy))?;

    let mut infos = Vec::with_capacity(2 + intermediates.len());
    infos.push(cert_info(leaf_der, leaf));
    for cert in path.intermediate_certificates() {
        let der = cert.der();
        infos.push(cert_info(
            &der,
            &parse_x509(&der, "an intermediate certificate")?,
        ));
    }
    let anchor_index = anchors
        .iter()
        .position(|a| std::ptr::eq(a, path.anchor()))
        .ok_or_else(|| {
            CryptoError::InvalidChain("the trust anchor of the path is unknown".to_owned())
        })?;
    let (what, root_der) = &roots[anchor_index];
    infos.push(cert_info(root_der, &parse_x509(root_der, what)?));
    tracing::debug!(
        leaf = %infos[0].subject,
        anchor = %infos[infos.len() - 1].subject,
        length = infos.len(),
        "certificate chain verified"
    );
    Ok(infos)
}

/// Turns a webpki path-building error into a [`CryptoError`] naming the certificate when known.
#[allow(deprecated)] // matches webpki's deprecated variants too
fn chain_error(
    error: webpki::Error,
    at_unix: i64,
    chain: &[X509Certificate<'_>],
    roots: &[(String, Cow<'_, [u8]>)],
    eku: Option<&str>,
    policy: &EkuPolicy<'_>,
) -> CryptoError {
    use webpki::Error as E;
    let subject_where = |pred: &dyn Fn(&X509Certificate<'_>) -> bool| {
        chain.iter().find(|c| pred(c)).map_or_else(
            || "a certificate in the chain".to_owned(),
            |c| format_name(c.subject()),
        )
    };
    let leaf = &chain[0];
    match error {
        E::CertExpired { not_after, .. } => {
            let not_after = i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX);
            CryptoError::CertExpired {
                subject: subject_where(&|c| c.validity().not_after.timestamp() == not_after),
                not_after,
                at_unix,
            }
        }
        E::CertNotValidYet { not_before, .. } => {
            let not_before = i64::try_from(not_before.as_secs()).unwrap_or(i64::MAX);
            CryptoError::CertNotYetValid {
                subject: subject_where(&|c| c.validity().not_before.timestamp() == not_before),
                not_before,
                at_unix,
            }
        }
        E::UnknownIssuer => {
            let root_names: Vec<String> = roots
                .iter()
                .take(5)
                .map(|(what, der)| match X509Certificate::from_der(der) {
                    Ok((_, c)) => format_name(c.subject()),
                    Err(_) => what.clone(),
                })
                .collect();
            let more = if roots.len() > 5 {
                format!(" and {} more", roots.len() - 5)
            } else {
                String::new()
            };
            let top = chain.last().unwrap_or(leaf);
            CryptoError::UntrustedChain(format!(
                "no path from the leaf {} to a trusted root: the chain ends at {} issued by {}, which is not among the trusted roots [{}{more}]",
                format_name(leaf.subject()),
                format_name(top.subject()),
                format_name(top.issuer()),
                root_names.join("; ")
            ))
        }
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => {
            CryptoError::EkuNotPermittedByIssuer {
                required: eku.unwrap_or_default().to_owned(),
                present: policy.violation.borrow().clone().unwrap_or_default(),
            }
        }
        E::InvalidSignatureForPublicKey => CryptoError::InvalidChain(
            "a certificate's signature does not verify with its issuer's public key".to_owned(),
        ),
        E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKey
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | E::SignatureAlgorithmMismatch => CryptoError::InvalidChain(format!(
            "a certificate is signed with an unsupported or mismatched algorithm ({error:?})"
        )),
        E::CaUsedAsEndEntity => CryptoError::InvalidChain(format!(
            "the leaf {} is a CA certificate (basicConstraints cA=true) and cannot be the end-entity certificate",
            format_name(leaf.subject())
        )),
        E::EndEntityUsedAsCa => CryptoError::InvalidChain(
            "a certificate that issues another one in the chain is not a CA (basicConstraints cA is absent or false)"
                .to_owned(),
        ),
        E::PathLenConstraintViolated => CryptoError::InvalidChain(
            "a CA's basicConstraints pathLenConstraint is exceeded".to_owned(),
        ),
        E::EmptyEkuExtension => CryptoError::InvalidChain(
            "a certificate has an empty extended key usage extension".to_owned(),
        ),
        E::UnsupportedCriticalExtension => CryptoError::InvalidChain(
            "a certificate has a critical extension the validator does not support".to_owned(),
        ),
        E::NameConstraintViolation => CryptoError::InvalidChain(
            "a certificate violates its issuer's name constraints".to_owned(),
        ),
        E::InvalidCertValidity => CryptoError::InvalidChain(
            "a certificate's notBefore is after its notAfter".to_owned(),
        ),
        E::CertDistrusted => CryptoError::InvalidChain(
            "a certificate in the chain uses a distrusted public key".to_owned(),
        ),
        E::MaximumPathDepthExceeded
        | E::MaximumPathBuildCallsExceeded
        | E::MaximumSignatureChecksExceeded => CryptoError::InvalidChain(format!(
            "the chain is too long or too ambiguous to build a path ({error:?})"
        )),
        other => CryptoError::InvalidChain(format!("{other:?}")),
    }
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp (`2024-01-31T12:00:00Z`).
fn fmt_unix(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber, date_time_ymd,
    };
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _};

    const MSG: &[u8] = b"the manifest digest this signature is about";
    const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
    const TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";

    /// 2024-06-01T00:00:00Z, inside every test certificate's validity.
    const JUNE_2024: i64 = 1_717_200_000;

    fn ecdsa_sign(key: &KeyPair, alg: &'static EcdsaSigningAlgorithm, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(alg, key.serialized_der(), &rng).unwrap();
        pair.sign(&rng, msg).unwrap().as_ref().to_vec()
    }

    fn p256() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
    }

    fn p384() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap()
    }

    fn ed25519() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap()
    }

    fn ed25519_sign(key: &KeyPair, msg: &[u8]) -> Vec<u8> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.serialized_der())
            .unwrap()
            .sign(msg)
            .as_ref()
            .to_vec()
    }

    fn flip_last(bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        *out.last_mut().unwrap() ^= 0x01;
        out
    }

    /// A CRL is checked with its issuer's key under its own signature algorithm: the issuer's
    /// CRL verifies, another key's does not, and what is not a CRL says so.
    #[test]
    fn crl_signatures_verify_with_the_issuer_key_only() {
        use xtask::fixtures::notation as nx;
        let chain = nx::test_chain(&nx::ChainOptions::valid_now()).unwrap();
        let now = nx::unix_now();
        let good = chain.crl(&[], now - 60, now + 3600, false).unwrap();
        verify_crl_signature(&good, &chain.root_der).unwrap();
        let forged = chain.crl(&[], now - 60, now + 3600, true).unwrap();
        let e = verify_crl_signature(&forged, &chain.root_der).unwrap_err();
        assert!(e.contains("signature"), "{e}");
        // The leaf is not the issuer: its key does not verify the root's CRL.
        assert!(verify_crl_signature(&good, &chain.leaf_der).is_err());
        let e = verify_crl_signature(b"junk", &chain.root_der).unwrap_err();
        assert!(e.contains("cannot be parsed"), "{e}");
        let mut trailing = good.clone();
        trailing.push(0);
        let e = verify_crl_signature(&trailing, &chain.root_der).unwrap_err();
        assert!(e.contains("trailing"), "{e}");
    }

    #[test]
    fn ecdsa_p256_der_and_fixed_verify_with_der_and_pem_keys() {
        let key = p256();
        let spki_der = key.subject_public_key_info();
        let spki_pem = key.public_key_pem();
        let der_sig = ecdsa_sign(&key, &ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING, MSG);
        let fixed_sig = ecdsa_sign(&key, &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING, MSG);
        for k in [spki_der.as_slice(), spki_pem.as_bytes()] {
            let alg = SignatureAlgorithm::EcdsaP256Sha256;
            verify_signature(alg, SignatureEncoding::Der, k, MSG, &der_sig).unwrap();
            verify_signature(alg, SignatureEncoding::Fixed, k, MSG, &fixed_sig).unwrap();
        }
    }

    #[test]
    fn ecdsa_p384_der_and_fixed_verify() {
        let key = p384();
        let spki = key.subject_public_key_info();
        let alg = SignatureAlgorithm::EcdsaP384Sha384;
        let der_sig = ecdsa_sign(&key, &ring_sig::ECDSA_P384_SHA384_ASN1_SIGNING, MSG);
        let fixed_sig = ecdsa_sign(&key, &ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING, MSG);
        verify_signature(alg, SignatureEncoding::Der, &spki, MSG, &der_sig).unwrap();
        verify_signature(alg, SignatureEncoding::Fixed, &spki, MSG, &fixed_sig).unwrap();
        let err = verify_signature(alg, SignatureEncoding::Fixed, &spki, b"other", &fixed_sig)
            .unwrap_err();
        assert_eq!(err, CryptoError::SignatureInvalid { alg });
    }

    #[test]
    fn ed25519_verifies_and_ignores_encoding() {
        let key = ed25519();
        let sig = ed25519_sign(&key, MSG);
        let pem = key.public_key_pem();
        for enc in [SignatureEncoding::Der, SignatureEncoding::Fixed] {
            verify_signature(SignatureAlgorithm::Ed25519, enc, pem.as_bytes(), MSG, &sig).unwrap();
        }
        let err = verify_signature(
            SignatureAlgorithm::Ed25519,
            SignatureEncoding::Der,
            pem.as_bytes(),
            MSG,
            &flip_last(&sig),
        )
        .unwrap_err();
        assert!(matches!(err, CryptoError::SignatureInvalid { .. }), "{err}");
    }

    #[test]
    fn tampered_message_or_signature_is_invalid() {
        let key = p256();
        let spki = key.subject_public_key_info();
        let alg = SignatureAlgorithm::EcdsaP256Sha256;
        let sig = ecdsa_sign(&key, &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING, MSG);
        let mut msg = MSG.to_vec();
        msg[0] ^= 0x20;
        let err = verify_signature(alg, SignatureEncoding::Fixed, &spki, &msg, &sig).unwrap_err();
        assert_eq!(err, CryptoError::SignatureInvalid { alg });
        assert!(err.to_string().contains("ecdsa-p256-sha256"), "{err}");
        let err = verify_signature(alg, SignatureEncoding::Fixed, &spki, MSG, &flip_last(&sig))
            .unwrap_err();
        assert_eq!(err, CryptoError::SignatureInvalid { alg });
        // A signature by another key of the same type.
        let other = ecdsa_sign(&p256(), &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING, MSG);
        let err = verify_signature(alg, SignatureEncoding::Fixed, &spki, MSG, &other).unwrap_err();
        assert_eq!(err, CryptoError::SignatureInvalid { alg });
    }

    #[test]
    fn wrong_key_type_is_a_mismatch_naming_both() {
        let sig = ecdsa_sign(&p384(), &ring_sig::ECDSA_P384_SHA384_ASN1_SIGNING, MSG);
        let p384_spki = p384().subject_public_key_info();
        let err = verify_signature(
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureEncoding::Der,
            &p384_spki,
            MSG,
            &sig,
        )
        .unwrap_err();
        assert!(
            matches!(err, CryptoError::KeyAlgorithmMismatch { .. }),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("P-384") && text.contains("P-256"), "{text}");

        let ed = ed25519().subject_public_key_info();
        let err = verify_signature(
            SignatureAlgorithm::RsaPkcs1Sha256,
            SignatureEncoding::Der,
            &ed,
            MSG,
            &[0u8; 256],
        )
        .unwrap_err();
        assert!(err.to_string().contains("Ed25519"), "{err}");
    }

    #[test]
    fn encoding_mixups_are_reported_as_bad_encoding() {
        let key = p256();
        let spki = key.subject_public_key_info();
        let alg = SignatureAlgorithm::EcdsaP256Sha256;
        let der_sig = ecdsa_sign(&key, &ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING, MSG);
        let fixed_sig = ecdsa_sign(&key, &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING, MSG);
        let err =
            verify_signature(alg, SignatureEncoding::Fixed, &spki, MSG, &der_sig).unwrap_err();
        assert!(
            matches!(err, CryptoError::BadSignatureEncoding { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("use the der encoding"), "{err}");
        let err =
            verify_signature(alg, SignatureEncoding::Der, &spki, MSG, &fixed_sig).unwrap_err();
        assert!(
            matches!(err, CryptoError::BadSignatureEncoding { .. }),
            "{err}"
        );
        let err = verify_signature(
            SignatureAlgorithm::Ed25519,
            SignatureEncoding::Der,
            &ed25519().subject_public_key_info(),
            MSG,
            &[0; 10],
        )
        .unwrap_err();
        assert!(err.to_string().contains("64 bytes"), "{err}");
    }

    #[test]
    fn certificate_works_as_key_in_der_and_pem() {
        let key = p256();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "signer");
        let cert = params.self_signed(&key).unwrap();
        let sig = ecdsa_sign(&key, &ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING, MSG);
        let alg = SignatureAlgorithm::EcdsaP256Sha256;
        verify_signature(alg, SignatureEncoding::Der, cert.der(), MSG, &sig).unwrap();
        verify_signature(
            alg,
            SignatureEncoding::Der,
            cert.pem().as_bytes(),
            MSG,
            &sig,
        )
        .unwrap();
        let other = ecdsa_sign(&p256(), &ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING, MSG);
        let err =
            verify_signature(alg, SignatureEncoding::Der, cert.der(), MSG, &other).unwrap_err();
        assert_eq!(err, CryptoError::SignatureInvalid { alg });
    }

    #[test]
    fn unusable_key_inputs_say_why() {
        let alg = SignatureAlgorithm::EcdsaP256Sha256;
        let key = p256();
        let err = verify_signature(
            alg,
            SignatureEncoding::Der,
            key.serialize_pem().as_bytes(),
            MSG,
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("PRIVATE KEY"), "{err}");
        let err = verify_signature(alg, SignatureEncoding::Der, b"hello", MSG, &[]).unwrap_err();
        assert!(matches!(err, CryptoError::UnparsableKey(_)), "{err}");
        let err = verify_signature(
            alg,
            SignatureEncoding::Der,
            &[0x30, 0x03, 0x05, 0x01],
            MSG,
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, CryptoError::UnparsableKey(_)), "{err}");
        let spki = key.subject_public_key_info();
        let err = verify_signature(
            alg,
            SignatureEncoding::Der,
            &spki[..spki.len() - 1],
            MSG,
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, CryptoError::UnparsableKey(_)), "{err}");
    }

    /// Runs `openssl` with `stdin`, or returns `None` (with a note) when it is unavailable.
    fn openssl(args: &[&str], stdin: &[u8]) -> Option<Vec<u8>> {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let child = Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                println!("skipping RSA case: openssl is not available ({e})");
                return None;
            }
        };
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(out.stdout)
    }

    /// A fresh RSA key from `openssl genpkey`: (PKCS#8 DER private key, SPKI DER public key).
    fn openssl_rsa(bits: u32) -> Option<(Vec<u8>, Vec<u8>)> {
        let keygen_bits = format!("rsa_keygen_bits:{bits}");
        let pem = openssl(
            &["genpkey", "-algorithm", "RSA", "-pkeyopt", &keygen_bits],
            &[],
        )?;
        let spki = openssl(&["pkey", "-pubout", "-outform", "DER"], &pem)?;
        let (pkcs8, _) = Pem::read(Cursor::new(pem.as_slice())).unwrap();
        assert_eq!(pkcs8.label, "PRIVATE KEY");
        Some((pkcs8.contents, spki))
    }

    #[test]
    fn cosign_algorithms_follow_the_key() {
        use SignatureAlgorithm as A;
        for (key, alg) in [(p256(), A::EcdsaP256Sha256), (p384(), A::EcdsaP384Sha384)] {
            assert_eq!(
                cosign_algorithm(&key.subject_public_key_info()).unwrap(),
                alg
            );
        }
        let ed = ed25519().subject_public_key_info();
        assert_eq!(cosign_algorithm(&ed).unwrap(), A::Ed25519);
        if let Some((_, spki)) = openssl_rsa(2048) {
            assert_eq!(cosign_algorithm(&spki).unwrap(), A::RsaPkcs1Sha256);
        }
        assert!(cosign_algorithm(b"not a key").is_err());
    }

    #[test]
    fn rsa_pkcs1_and_pss_verify_with_spki_and_pkcs1_keys() {
        let Some((pkcs8, spki)) = openssl_rsa(2048) else {
            return;
        };
        let pair = ring_sig::RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
        let pkcs1 = pair.public_key().as_ref().to_vec();
        let pkcs1_pem = format!(
            "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
            base64_encode(&pkcs1)
        );
        let rng = SystemRandom::new();
        let cases: [(SignatureAlgorithm, &'static dyn ring_sig::RsaEncoding); 6] = [
            (
                SignatureAlgorithm::RsaPkcs1Sha256,
                &ring_sig::RSA_PKCS1_SHA256,
            ),
            (
                SignatureAlgorithm::RsaPkcs1Sha384,
                &ring_sig::RSA_PKCS1_SHA384,
            ),
            (
                SignatureAlgorithm::RsaPkcs1Sha512,
                &ring_sig::RSA_PKCS1_SHA512,
            ),
            (SignatureAlgorithm::RsaPssSha256, &ring_sig::RSA_PSS_SHA256),
            (SignatureAlgorithm::RsaPssSha384, &ring_sig::RSA_PSS_SHA384),
            (SignatureAlgorithm::RsaPssSha512, &ring_sig::RSA_PSS_SHA512),
        ];
        for (alg, padding) in cases {
            let mut sig = vec![0u8; pair.public().modulus_len()];
            pair.sign(padding, &rng, MSG, &mut sig).unwrap();
            for key in [spki.as_slice(), pkcs1.as_slice(), pkcs1_pem.as_bytes()] {
                verify_signature(alg, SignatureEncoding::Der, key, MSG, &sig)
                    .unwrap_or_else(|e| panic!("{alg}: {e}"));
                let err =
                    verify_signature(alg, SignatureEncoding::Der, key, b"x", &sig).unwrap_err();
                assert_eq!(err, CryptoError::SignatureInvalid { alg });
            }
        }
        // PKCS#1 v1.5 signatures do not pass as PSS.
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(&ring_sig::RSA_PKCS1_SHA256, &rng, MSG, &mut sig)
            .unwrap();
        let err = verify_signature(
            SignatureAlgorithm::RsaPssSha256,
            SignatureEncoding::Der,
            &spki,
            MSG,
            &sig,
        )
        .unwrap_err();
        assert!(matches!(err, CryptoError::SignatureInvalid { .. }), "{err}");
        // A truncated signature is an encoding problem, not an invalid signature.
        let err = verify_signature(
            SignatureAlgorithm::RsaPkcs1Sha256,
            SignatureEncoding::Der,
            &spki,
            MSG,
            &sig[1..],
        )
        .unwrap_err();
        assert!(
            matches!(err, CryptoError::BadSignatureEncoding { .. }),
            "{err}"
        );
        // An RSA key is not an ECDSA key.
        let err = verify_signature(
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureEncoding::Der,
            &spki,
            MSG,
            &sig,
        )
        .unwrap_err();
        assert!(err.to_string().contains("2048-bit RSA key"), "{err}");
    }

    #[test]
    fn small_rsa_keys_are_rejected_with_their_size() {
        let Some((_, spki)) = openssl_rsa(1024) else {
            return;
        };
        let alg = SignatureAlgorithm::RsaPkcs1Sha256;
        let err = verify_signature(alg, SignatureEncoding::Der, &spki, MSG, &[0; 128]).unwrap_err();
        assert_eq!(err, CryptoError::RsaKeySize { bits: 1024, alg });
    }

    fn base64_encode(data: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn digests_match_known_vectors() {
        assert_eq!(
            hex::encode(digest(DigestAlgorithm::Sha256, b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(digest(DigestAlgorithm::Sha384, b"abc").len(), 48);
        assert_eq!(
            hex::encode(&digest(DigestAlgorithm::Sha512, b"abc")[..8]),
            "ddaf35a193617aba"
        );
    }

    /// A generated PKI: root → intermediate → leaf, valid 2024-01-01 .. 2025-01-01 (leaf).
    struct Pki {
        root: rcgen::Certificate,
        intermediate: rcgen::Certificate,
        leaf: rcgen::Certificate,
        leaf_key: KeyPair,
    }

    fn ca_params(cn: &str, eku: Vec<ExtendedKeyUsagePurpose>) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.extended_key_usages = eku;
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2040, 1, 1);
        params
    }

    fn leaf_params(eku: Vec<ExtendedKeyUsagePurpose>) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CountryName, "US");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Notary");
        params
            .distinguished_name
            .push(DnType::CommonName, "wabbit-networks.io");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = eku;
        params.not_before = date_time_ymd(2024, 1, 1);
        params.not_after = date_time_ymd(2025, 1, 1);
        params
    }

    fn pki(
        leaf_eku: Vec<ExtendedKeyUsagePurpose>,
        intermediate_eku: Vec<ExtendedKeyUsagePurpose>,
    ) -> Pki {
        let root_key = p384();
        let root_params = ca_params("Test Root", vec![]);
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = Issuer::from_params(&root_params, &root_key);
        let int_key = p256();
        let int_params = ca_params("Test Intermediate", intermediate_eku);
        let intermediate = int_params.signed_by(&int_key, &root_issuer).unwrap();
        let int_issuer = Issuer::from_params(&int_params, &int_key);
        let leaf_key = p256();
        let leaf = leaf_params(leaf_eku)
            .signed_by(&leaf_key, &int_issuer)
            .unwrap();
        Pki {
            root,
            intermediate,
            leaf,
            leaf_key,
        }
    }

    impl Pki {
        fn chain(&self) -> Vec<Vec<u8>> {
            vec![self.leaf.der().to_vec(), self.intermediate.der().to_vec()]
        }

        fn roots(&self) -> Vec<Vec<u8>> {
            vec![self.root.der().to_vec()]
        }
    }

    /// A root and a leaf (RSA 2048) made by the openssl CLI, the leaf's signature by the root
    /// with `digest` (`sha1` or `sha256`): (leaf DER, root DER); `None` without openssl.
    fn openssl_chain(digest: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        let (root_key, root, leaf_key, csr, leaf, ext) = (
            p("root.key"),
            p("root.pem"),
            p("leaf.key"),
            p("leaf.csr"),
            p("leaf.pem"),
            p("ext"),
        );
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &root_key,
                "-out",
                &root,
                "-days",
                "30",
                "-subj",
                "/CN=Openssl Root",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
                &format!("-{digest}"),
            ],
            b"",
        )?;
        openssl(
            &[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &leaf_key,
                "-out",
                &csr,
                "-subj",
                "/CN=Openssl Leaf",
            ],
            b"",
        )?;
        std::fs::write(&ext, "keyUsage=critical,digitalSignature\n").unwrap();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &root,
                "-CAkey",
                &root_key,
                "-set_serial",
                "7",
                "-days",
                "30",
                "-extfile",
                &ext,
                "-out",
                &leaf,
                &format!("-{digest}"),
            ],
            b"",
        )?;
        let der = |path: &str| {
            let pem = std::fs::read(path).unwrap();
            x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents
        };
        Some((der(&leaf), der(&root)))
    }

    /// Notary Project signature specification, Certificate Requirements: "Any certificate in
    /// the certificate chain MUST NOT use SHA1WithRSA and ECDSAWithSHA1 signatures". The same
    /// chain signed with SHA-256 verifies, with SHA-1 it does not.
    #[test]
    fn sha1_signed_chains_are_refused() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 60; // after the certificates' notBefore (now, at openssl's clock)
        // No silent skip: without openssl this test would check nothing.
        let chain = |digest| openssl_chain(digest).expect("the openssl CLI (Debian's openssl)");
        let (leaf, root) = chain("sha256");
        verify_chain(&[leaf], &[root], now, None).unwrap();
        let (leaf, root) = chain("sha1");
        let e = verify_chain(&[leaf], &[root], now, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("unsupported or mismatched algorithm"),
            "{e}"
        );
    }

    #[test]
    fn valid_chain_returns_leaf_to_anchor() {
        let pki = pki(vec![ExtendedKeyUsagePurpose::CodeSigning], vec![]);
        let infos = verify_chain(&pki.chain(), &pki.roots(), JUNE_2024, None).unwrap();
        let subjects: Vec<&str> = infos.iter().map(|i| i.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "CN=wabbit-networks.io, O=Notary, C=US",
                "CN=Test Intermediate",
                "CN=Test Root"
            ]
        );
        assert_eq!(infos[0].issuer, "CN=Test Intermediate");
        assert_eq!(infos[1].issuer, "CN=Test Root");
        assert_eq!(infos[0].not_before, 1_704_067_200);
        assert_eq!(infos[0].not_after, 1_735_689_600);
        assert_eq!(
            infos[2].sha256_fingerprint,
            hex::encode(digest(DigestAlgorithm::Sha256, pki.root.der()))
        );
        // With the code-signing EKU required, and with PEM inputs.
        let chain_pem = vec![
            pki.leaf.pem().into_bytes(),
            pki.intermediate.pem().into_bytes(),
        ];
        let roots_pem = vec![format!("{}{}", p256_root_pem(), pki.root.pem()).into_bytes()];
        let infos = verify_chain(&chain_pem, &roots_pem, JUNE_2024, Some(CODE_SIGNING)).unwrap();
        assert_eq!(infos.len(), 3);
        assert_eq!(infos[2].subject, "CN=Test Root");
        // The leaf key still verifies signatures through its certificate.
        let sig = ecdsa_sign(
            &pki.leaf_key,
            &ring_sig::ECDSA_P256_SHA256_ASN1_SIGNING,
            MSG,
        );
        verify_signature(
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureEncoding::Der,
            pki.leaf.der(),
            MSG,
            &sig,
        )
        .unwrap();
    }

    /// An unrelated self-signed CA, to put in a root bundle.
    fn p256_root_pem() -> String {
        ca_params("Unrelated Root", vec![])
            .self_signed(&p256())
            .unwrap()
            .pem()
    }

    #[test]
    fn expired_and_not_yet_valid_leaf_are_rejected_with_times() {
        let pki = pki(vec![], vec![]);
        let after = 1_735_689_600 + 1;
        let err = verify_chain(&pki.chain(), &pki.roots(), after, None).unwrap_err();
        assert_eq!(
            err,
            CryptoError::CertExpired {
                subject: "CN=wabbit-networks.io, O=Notary, C=US".to_owned(),
                not_after: 1_735_689_600,
                at_unix: after,
            }
        );
        assert!(err.to_string().contains("2025-01-01T00:00:00Z"), "{err}");
        let before = 1_704_067_200 - 1;
        let err = verify_chain(&pki.chain(), &pki.roots(), before, None).unwrap_err();
        assert!(
            matches!(&err, CryptoError::CertNotYetValid { subject, not_before: 1_704_067_200, .. } if subject.starts_with("CN=wabbit")),
            "{err}"
        );
        // The last second of validity is still valid.
        verify_chain(&pki.chain(), &pki.roots(), 1_735_689_600, None).unwrap();
        assert_eq!(
            verify_chain(&pki.chain(), &pki.roots(), -1, None).unwrap_err(),
            CryptoError::InvalidTime(-1)
        );
    }

    #[test]
    fn untrusted_root_and_missing_intermediate_are_rejected() {
        let pki = pki(vec![], vec![]);
        let other = pki_roots_other();
        let err = verify_chain(&pki.chain(), &other, JUNE_2024, None).unwrap_err();
        assert!(matches!(&err, CryptoError::UntrustedChain(_)), "{err}");
        assert!(err.to_string().contains("Unrelated Root"), "{err}");
        assert!(err.to_string().contains("issued by CN=Test Root"), "{err}");
        // Without the intermediate there is no path either.
        let err =
            verify_chain(&[pki.leaf.der().to_vec()], &pki.roots(), JUNE_2024, None).unwrap_err();
        assert!(matches!(err, CryptoError::UntrustedChain(_)), "{err}");
        // A chain that includes its own (untrusted) root does not become trusted.
        let mut chain = pki.chain();
        chain.push(pki.root.der().to_vec());
        let err = verify_chain(&chain, &other, JUNE_2024, None).unwrap_err();
        assert!(matches!(err, CryptoError::UntrustedChain(_)), "{err}");
        assert_eq!(
            verify_chain(&pki.chain(), &[], JUNE_2024, None).unwrap_err(),
            CryptoError::NoRoots
        );
        assert_eq!(
            verify_chain(&[], &pki.roots(), JUNE_2024, None).unwrap_err(),
            CryptoError::EmptyChain
        );
    }

    fn pki_roots_other() -> Vec<Vec<u8>> {
        vec![p256_root_pem().into_bytes()]
    }

    #[test]
    fn eku_requirements() {
        let signing = pki(vec![ExtendedKeyUsagePurpose::CodeSigning], vec![]);
        verify_chain(
            &signing.chain(),
            &signing.roots(),
            JUNE_2024,
            Some(CODE_SIGNING),
        )
        .unwrap();
        let err = verify_chain(
            &signing.chain(),
            &signing.roots(),
            JUNE_2024,
            Some(TIME_STAMPING),
        )
        .unwrap_err();
        assert_eq!(
            err,
            CryptoError::EkuMissing {
                subject: "CN=wabbit-networks.io, O=Notary, C=US".to_owned(),
                required: TIME_STAMPING.to_owned(),
                present: vec![CODE_SIGNING.to_owned()],
            }
        );

        // No EKU at all: fine when none is required, missing when one is.
        let bare = pki(vec![], vec![]);
        verify_chain(&bare.chain(), &bare.roots(), JUNE_2024, None).unwrap();
        let err =
            verify_chain(&bare.chain(), &bare.roots(), JUNE_2024, Some(CODE_SIGNING)).unwrap_err();
        assert!(
            err.to_string()
                .contains("has no extended key usage extension"),
            "{err}"
        );

        // An intermediate restricted to server auth cannot issue code-signing leaves.
        let restricted = pki(
            vec![ExtendedKeyUsagePurpose::CodeSigning],
            vec![ExtendedKeyUsagePurpose::ServerAuth],
        );
        let err = verify_chain(
            &restricted.chain(),
            &restricted.roots(),
            JUNE_2024,
            Some(CODE_SIGNING),
        )
        .unwrap_err();
        assert_eq!(
            err,
            CryptoError::EkuNotPermittedByIssuer {
                required: CODE_SIGNING.to_owned(),
                present: vec!["1.3.6.1.5.5.7.3.1".to_owned()],
            }
        );
        // ... but passes when no EKU is required.
        verify_chain(&restricted.chain(), &restricted.roots(), JUNE_2024, None).unwrap();

        let err = verify_chain(&bare.chain(), &bare.roots(), JUNE_2024, Some("1.3.x")).unwrap_err();
        assert!(matches!(err, CryptoError::InvalidEkuOid { .. }), "{err}");
    }

    #[test]
    fn pinned_self_signed_leaf_is_trusted_directly() {
        let key = p256();
        let mut params = leaf_params(vec![ExtendedKeyUsagePurpose::CodeSigning]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let der = vec![cert.der().to_vec()];
        let infos = verify_chain(&der, &der, JUNE_2024, Some(CODE_SIGNING)).unwrap();
        assert_eq!(infos.len(), 1);
        assert_eq!(infos[0].subject, infos[0].issuer);
        let err = verify_chain(&der, &der, 1_735_689_601, None).unwrap_err();
        assert!(matches!(err, CryptoError::CertExpired { .. }), "{err}");
        let err = verify_chain(&der, &der, JUNE_2024, Some(TIME_STAMPING)).unwrap_err();
        assert!(matches!(err, CryptoError::EkuMissing { .. }), "{err}");
        // Not pinned: a CA cannot be the end entity of a path.
        let err = verify_chain(&der, &pki_roots_other(), JUNE_2024, None).unwrap_err();
        assert!(
            matches!(
                err,
                CryptoError::InvalidChain(_) | CryptoError::UntrustedChain(_)
            ),
            "{err}"
        );
    }

    #[test]
    fn tampered_certificate_signature_breaks_the_chain() {
        let pki = pki(vec![], vec![]);
        let mut leaf = pki.leaf.der().to_vec();
        // The last byte is inside the signature's s INTEGER.
        *leaf.last_mut().unwrap() ^= 0x01;
        let err = verify_chain(
            &[leaf, pki.intermediate.der().to_vec()],
            &pki.roots(),
            JUNE_2024,
            None,
        )
        .unwrap_err();
        assert!(matches!(err, CryptoError::InvalidChain(_)), "{err}");
        assert!(err.to_string().contains("signature"), "{err}");
    }

    #[test]
    fn unparsable_certificates_are_named() {
        let pki = pki(vec![], vec![]);
        let err = verify_chain(&[vec![0x30, 0x00]], &pki.roots(), JUNE_2024, None).unwrap_err();
        assert!(err.to_string().contains("chain[0] (the leaf)"), "{err}");
        let err = verify_chain(&pki.chain(), &[b"garbage".to_vec()], JUNE_2024, None).unwrap_err();
        assert!(err.to_string().contains("roots[0]"), "{err}");
    }

    #[test]
    fn parse_certificate_formats_names_serial_and_times() {
        let key = p256();
        let mut params = leaf_params(vec![]);
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CountryName, "US");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Acme, Inc. <dev>");
        params
            .distinguished_name
            .push(DnType::CommonName, " padded ");
        params.serial_number = Some(SerialNumber::from_slice(&[0x00, 0x8f, 0x01]));
        let cert = params.self_signed(&key).unwrap();
        for input in [cert.der().to_vec(), cert.pem().into_bytes()] {
            let info = parse_certificate(&input).unwrap();
            assert_eq!(info.subject, r"CN=\ padded\ , O=Acme\, Inc. \<dev\>, C=US");
            assert_eq!(info.issuer, info.subject);
            assert_eq!(info.serial, "8f01");
            assert_eq!(info.not_before, 1_704_067_200);
            assert_eq!(info.not_after, 1_735_689_600);
            assert_eq!(
                info.sha256_fingerprint,
                hex::encode(digest(DigestAlgorithm::Sha256, cert.der()))
            );
        }
        let err = parse_certificate(key.public_key_pem().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("PUBLIC KEY"), "{err}");
        let mut trailing = cert.der().to_vec();
        trailing.push(0);
        assert!(parse_certificate(&trailing).is_err());
    }

    #[test]
    fn oid_encoding_round_trips() {
        assert_eq!(encode_oid("2.5.29.37.0").unwrap(), OID_ANY_EKU);
        assert_eq!(
            encode_oid("1.2.840.113549.1.1.1").unwrap(),
            OID_RSA_ENCRYPTION
        );
        for dotted in [
            CODE_SIGNING,
            "1.3.132.0.34",
            "2.999.3",
            "0.9.2342.19200300.100.1.25",
        ] {
            assert_eq!(decode_oid(&encode_oid(dotted).unwrap()), dotted);
        }
        for bad in [
            "",
            "1",
            "1..2",
            "3.1",
            "1.40",
            "1.2.a",
            "1.2.99999999999999999999999",
        ] {
            assert!(encode_oid(bad).is_err(), "{bad}");
        }
        assert_eq!(decode_oid(&[0x2b, 0x86]), "#2b86");
    }

    #[test]
    fn unix_times_format_as_rfc3339() {
        assert_eq!(fmt_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(fmt_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(fmt_unix(1_735_689_599), "2024-12-31T23:59:59Z");
        assert_eq!(fmt_unix(-1), "1969-12-31T23:59:59Z");
    }
}
