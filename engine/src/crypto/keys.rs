//! Public keys (SPKI, PKCS#1, certificates; PEM or DER) and signature verification with ring.

use super::*;

/// What DER structure a key input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyForm {
    Spki,
    Pkcs1,
    Certificate,
}

/// A public key ready for ring.
#[derive(Debug)]
pub(super) enum HostKey<'a> {
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
pub(super) fn sniff_der(der: &[u8]) -> Option<KeyForm> {
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
pub(super) fn looks_like_der(input: &[u8]) -> bool {
    input.first() == Some(&TAG_SEQUENCE)
}

/// Reads the first PEM block of `input`.
pub(super) fn first_pem(input: &[u8]) -> Result<Pem, String> {
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
pub(super) fn decode_key_input(input: &[u8]) -> Result<(KeyForm, Cow<'_, [u8]>), CryptoError> {
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
pub(super) fn certificate_spki(cert: &[u8]) -> Option<&[u8]> {
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
pub(super) fn integer_bits(value: &[u8]) -> usize {
    let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    match value.get(start..) {
        Some([first, rest @ ..]) => rest.len() * 8 + (8 - first.leading_zeros() as usize),
        _ => 0,
    }
}

/// Parses a PKCS#1 RSAPublicKey and returns its modulus size in bits.
pub(super) fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    let seq = read_whole(pkcs1, TAG_SEQUENCE)?;
    let modulus = read_tlv(seq)?;
    let exponent = read_tlv(&seq[modulus.len..])?;
    (modulus.tag == TAG_INTEGER
        && exponent.tag == TAG_INTEGER
        && modulus.len + exponent.len == seq.len())
    .then(|| integer_bits(modulus.value))
}

/// Parses a SubjectPublicKeyInfo into a [`HostKey`].
pub(super) fn parse_spki(spki: &[u8]) -> Result<HostKey<'_>, CryptoError> {
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
pub(super) fn parse_host_key(form: KeyForm, der: &[u8]) -> Result<HostKey<'_>, CryptoError> {
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
pub(super) fn ring_algorithm<'k>(
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
pub(super) fn check_signature_shape(
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
