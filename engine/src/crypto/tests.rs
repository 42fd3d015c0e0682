//! Tests of the crypto module: keys, signatures, certificates, names, chains.

use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SerialNumber, date_time_ymd,
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
    let err =
        verify_signature(alg, SignatureEncoding::Fixed, &spki, b"other", &fixed_sig).unwrap_err();
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
    let err =
        verify_signature(alg, SignatureEncoding::Fixed, &spki, MSG, &flip_last(&sig)).unwrap_err();
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
    let err = verify_signature(alg, SignatureEncoding::Fixed, &spki, MSG, &der_sig).unwrap_err();
    assert!(
        matches!(err, CryptoError::BadSignatureEncoding { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("use the der encoding"), "{err}");
    let err = verify_signature(alg, SignatureEncoding::Der, &spki, MSG, &fixed_sig).unwrap_err();
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
    let err = verify_signature(alg, SignatureEncoding::Der, cert.der(), MSG, &other).unwrap_err();
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
            let err = verify_signature(alg, SignatureEncoding::Der, key, b"x", &sig).unwrap_err();
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
    let err = verify_chain(&[pki.leaf.der().to_vec()], &pki.roots(), JUNE_2024, None).unwrap_err();
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

// ---------------------------------------------------------------------------------------------
// CryptoCache
// ---------------------------------------------------------------------------------------------

/// A cached chain verdict is the uncached one, and is reused at another time only when every
/// certificate's validity window gives the same answer there ("a cached valid at T is not valid
/// at T'"): inside the windows it hits; past the leaf's notAfter (by one second) it misses and
/// fails exactly as `verify_chain` does, naming that time; back inside, it hits again.
#[test]
fn cached_chain_validation_is_exact_across_times() {
    let pki = pki(vec![ExtendedKeyUsagePurpose::CodeSigning], vec![]);
    let cache = CryptoCache::new();
    let (chain, roots) = (pki.chain(), pki.roots());
    let uncached = verify_chain(&chain, &roots, JUNE_2024, Some(CODE_SIGNING)).unwrap();
    let first = cache
        .verify_chain(&chain, &roots, JUNE_2024, Some(CODE_SIGNING))
        .unwrap();
    assert_eq!(*first, uncached);
    assert_eq!(cache.stats().chain_misses, 1);
    // Another time inside every window, the last second of the leaf's included: a hit.
    for at in [JUNE_2024 + 86_400, 1_704_067_200, 1_735_689_600] {
        let again = cache
            .verify_chain(&chain, &roots, at, Some(CODE_SIGNING))
            .unwrap();
        assert_eq!(*again, uncached);
    }
    assert_eq!(cache.stats().chain_hits, 3);
    // One second past the leaf's notAfter, and one before its notBefore: computed, and the
    // same error as uncached.
    for at in [1_735_689_600 + 1, 1_704_067_200 - 1] {
        let cached = cache
            .verify_chain(&chain, &roots, at, Some(CODE_SIGNING))
            .unwrap_err();
        assert_eq!(
            cached,
            verify_chain(&chain, &roots, at, Some(CODE_SIGNING)).unwrap_err()
        );
    }
    assert_eq!(cache.stats().chain_misses, 3);
    assert!(matches!(
        cache.verify_chain(&chain, &roots, 1_735_689_600 + 1, Some(CODE_SIGNING)),
        Err(CryptoError::CertExpired {
            at_unix: 1_735_689_601,
            ..
        })
    ));
    cache
        .verify_chain(&chain, &roots, JUNE_2024, Some(CODE_SIGNING))
        .unwrap();
    assert_eq!(cache.stats().chain_hits, 4);
    // A negative time is an error, never a lookup.
    assert_eq!(
        cache.verify_chain(&chain, &roots, -1, None).unwrap_err(),
        CryptoError::InvalidTime(-1)
    );
}

/// Everything but the time is the key: another root, another required EKU, another chain
/// (a tampered certificate) or the same certificates as PEM miss, and get their own answers.
#[test]
fn cached_chain_validation_misses_on_any_other_input() {
    let pki = pki(vec![], vec![]);
    let cache = CryptoCache::new();
    let (chain, roots) = (pki.chain(), pki.roots());
    cache.verify_chain(&chain, &roots, JUNE_2024, None).unwrap();
    // Another root: untrusted, whatever was validated before.
    let err = cache
        .verify_chain(&chain, &pki_roots_other(), JUNE_2024, None)
        .unwrap_err();
    assert!(matches!(err, CryptoError::UntrustedChain(_)), "{err}");
    // A required EKU the leaf lacks.
    let err = cache
        .verify_chain(&chain, &roots, JUNE_2024, Some(CODE_SIGNING))
        .unwrap_err();
    assert!(matches!(err, CryptoError::EkuMissing { .. }), "{err}");
    // A tampered intermediate signature.
    let tampered = vec![chain[0].clone(), flip_last(&chain[1])];
    assert!(
        cache
            .verify_chain(&tampered, &roots, JUNE_2024, None)
            .is_err()
    );
    // The root moved from the roots into the chain: no roots at all.
    assert_eq!(
        cache
            .verify_chain(
                &[chain.clone(), roots.clone()].concat(),
                &[],
                JUNE_2024,
                None
            )
            .unwrap_err(),
        CryptoError::NoRoots
    );
    // The same certificates as PEM: a key of their own, the same path.
    let pem = vec![
        pki.leaf.pem().into_bytes(),
        pki.intermediate.pem().into_bytes(),
    ];
    let infos = cache
        .verify_chain(&pem, &[pki.root.pem().into_bytes()], JUNE_2024, None)
        .unwrap();
    assert_eq!(infos.len(), 3);
    let s = cache.stats();
    assert_eq!((s.chain_hits, s.chain_misses), (0, 6));
}

/// An intermediate expiring changes the profile too (every certificate's window is in it, not
/// only the leaf's): a time after the intermediate's notAfter but inside a second leaf's window
/// misses and fails on the intermediate.
#[test]
fn cached_chain_validation_follows_every_window() {
    let root_key = p256();
    let root_params = ca_params("Window Root", vec![]);
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::from_params(&root_params, &root_key);
    let int_key = p256();
    let mut int_params = ca_params("Short Intermediate", vec![]);
    int_params.not_before = date_time_ymd(2024, 1, 1);
    int_params.not_after = date_time_ymd(2024, 7, 1);
    let intermediate = int_params.signed_by(&int_key, &root_issuer).unwrap();
    let int_issuer = Issuer::from_params(&int_params, &int_key);
    let leaf = leaf_params(vec![]).signed_by(&p256(), &int_issuer).unwrap();
    let chain = vec![leaf.der().to_vec(), intermediate.der().to_vec()];
    let roots = vec![root.der().to_vec()];
    let cache = CryptoCache::new();
    cache.verify_chain(&chain, &roots, JUNE_2024, None).unwrap();
    // 2024-08-01: the leaf is still valid, the intermediate is not.
    let august = 1_722_470_400;
    let err = cache
        .verify_chain(&chain, &roots, august, None)
        .unwrap_err();
    assert!(
        matches!(&err, CryptoError::CertExpired { subject, at_unix, .. }
            if subject == "CN=Short Intermediate" && *at_unix == august),
        "{err}"
    );
    assert_eq!(cache.stats().chain_hits, 0);
}

/// A parsed certificate is kept by its bytes: the same bytes hit with the same answer, other
/// bytes (the same certificate as PEM, another certificate) miss, and errors stay errors.
#[test]
fn cached_certificates_are_keyed_by_their_bytes() {
    let pki = pki(vec![], vec![]);
    let cache = CryptoCache::new();
    let leaf = cache.parse_certificate(pki.leaf.der()).unwrap();
    assert_eq!(leaf, parse_certificate(pki.leaf.der()).unwrap());
    assert_eq!(cache.parse_certificate(pki.leaf.der()).unwrap(), leaf);
    assert_eq!(
        cache.parse_certificate(pki.leaf.pem().as_bytes()).unwrap(),
        leaf
    );
    let root = cache.parse_certificate(pki.root.der()).unwrap();
    assert_eq!(root.subject, "CN=Test Root");
    // A flipped signature bit still parses, as another certificate (no stale answer).
    let tampered = cache.parse_certificate(&flip_last(pki.leaf.der())).unwrap();
    assert_ne!(tampered.sha256_fingerprint, leaf.sha256_fingerprint);
    for _ in 0..2 {
        assert!(cache.parse_certificate(b"junk").is_err());
    }
    let s = cache.stats();
    assert_eq!((s.cert_hits, s.cert_misses), (1, 6));
}
