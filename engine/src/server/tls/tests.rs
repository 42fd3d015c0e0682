//! Tests of TLS serving: certificates, mTLS, reload, handshakes.

use super::*;

/// A self-signed pair for `name`, as (certificate PEM, key PEM).
fn self_signed(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A self-signed pair for `localhost` written to `cert.pem` and `key.pem` in `dir`: the
/// certificate's PEM and both paths.
fn pair_files(dir: &Path) -> (String, PathBuf, PathBuf) {
    let (cert, key) = self_signed("localhost");
    let c = write(dir, "cert.pem", &cert);
    let k = write(dir, "key.pem", &key);
    (cert, c, k)
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn served_der(resolver: &ReloadingCertResolver) -> Vec<u8> {
    resolver.current().cert[0].to_vec()
}

fn pem_to_der(pem_text: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem_text.as_bytes())
        .unwrap()
        .to_vec()
}

#[test]
fn loads_a_matching_pair() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, c, k) = pair_files(dir.path());
    let resolver = ReloadingCertResolver::load(&c, &k).unwrap();
    assert_eq!(served_der(&resolver), pem_to_der(&cert));
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = self_signed("localhost");
    let k = write(dir.path(), "key.pem", &key);
    let missing = dir.path().join("nope.pem");
    let err = ReloadingCertResolver::load(&missing, &k).unwrap_err();
    assert!(matches!(err, TlsError::Read { ref path, .. } if *path == missing));
    assert!(err.to_string().contains("nope.pem"), "{err}");
}

#[test]
fn garbage_key_has_no_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed("localhost");
    let c = write(dir.path(), "cert.pem", &cert);
    let k = write(dir.path(), "key.pem", "not a key at all\n");
    let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("no private key found in "), "{text}");
    assert!(text.contains("key.pem"), "{text}");
}

#[test]
fn certificate_given_as_key_has_no_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed("localhost");
    let c = write(dir.path(), "cert.pem", &cert);
    let k = write(dir.path(), "key.pem", &cert);
    let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
}

#[test]
fn key_given_as_certificate_has_no_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = self_signed("localhost");
    let c = write(dir.path(), "cert.pem", &key);
    let k = write(dir.path(), "key.pem", &key);
    let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("no certificate found in {}", c.display())
    );
}

#[test]
fn broken_base64_is_invalid_pem() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = self_signed("localhost");
    let c = write(
        dir.path(),
        "cert.pem",
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    );
    let k = write(dir.path(), "key.pem", &key);
    let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
    assert!(matches!(err, TlsError::Pem { .. }), "{err:?}");
    assert!(
        err.to_string().contains("cert.pem is not valid PEM"),
        "{err}"
    );
}

#[test]
fn unparsable_certificate_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = self_signed("localhost");
    // Valid PEM, but the DER inside is not a certificate.
    let c = write(
        dir.path(),
        "cert.pem",
        "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
    );
    let k = write(dir.path(), "key.pem", &key);
    let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
    assert!(matches!(err, TlsError::BadCertificate { .. }), "{err:?}");
}

#[test]
fn key_of_another_certificate_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed("localhost");
    let (_, other_key) = self_signed("localhost");
    let c = write(dir.path(), "cert.pem", &cert);
    let k = write(dir.path(), "key.pem", &other_key);
    let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "certificate {} and key {} do not match",
            c.display(),
            k.display()
        )
    );
}

#[test]
fn oversized_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed("localhost");
    let c = write(dir.path(), "cert.pem", &cert);
    let k = write(
        dir.path(),
        "key.pem",
        vec![b'a'; MAX_PEM_BYTES as usize + 1],
    );
    let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
    assert!(matches!(err, TlsError::TooLarge { .. }), "{err:?}");
}

/// The SEC1 `ECPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (the `privateKey` OCTET STRING).
fn pkcs8_to_sec1(pkcs8: &[u8]) -> Vec<u8> {
    /// (tag, content, rest) of the DER element at the start of `der`.
    fn tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
        let (tag, first) = (der[0], der[1]);
        let (len, start) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7f) as usize;
            let len = der[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (len, 2 + n)
        };
        (tag, &der[start..start + len], &der[start + len..])
    }
    let (tag, info, _) = tlv(pkcs8);
    assert_eq!(tag, 0x30);
    let (_, _, rest) = tlv(info); // version
    let (_, _, rest) = tlv(rest); // algorithm
    let (tag, private_key, _) = tlv(rest);
    assert_eq!(tag, 0x04);
    private_key.to_vec()
}

#[test]
fn sec1_key_loads() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let sec1 = pkcs8_to_sec1(&key.serialize_der());
    let text = format!(
        "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n",
        base64_lines(&sec1)
    );
    let c = write(dir.path(), "cert.pem", cert.pem());
    let k = write(dir.path(), "key.pem", &text);
    assert!(matches!(
        PrivateKeyDer::from_pem_slice(text.as_bytes()).unwrap(),
        PrivateKeyDer::Sec1(_)
    ));
    let resolver = ReloadingCertResolver::load(&c, &k).unwrap();
    assert_eq!(served_der(&resolver), cert.der().to_vec());
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    b64.as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn reload_swaps_good_pairs_and_keeps_the_old_one_on_bad() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = self_signed("a.localhost");
    let c = write(dir.path(), "cert.pem", &cert_a);
    let k = write(dir.path(), "key.pem", &key_a);
    let resolver = ReloadingCertResolver::load(&c, &k).unwrap();
    assert!(matches!(resolver.reload(), ReloadOutcome::Unchanged));

    let (cert_b, key_b) = self_signed("b.localhost");
    write(dir.path(), "cert.pem", &cert_b);
    write(dir.path(), "key.pem", &key_b);
    assert!(matches!(resolver.reload(), ReloadOutcome::Reloaded));
    assert_eq!(served_der(&resolver), pem_to_der(&cert_b));

    // A garbage key: rejected once, then unchanged; B is still served.
    write(dir.path(), "key.pem", "garbage");
    assert!(matches!(
        resolver.reload(),
        ReloadOutcome::Rejected(TlsError::NoPrivateKey { .. })
    ));
    assert!(matches!(resolver.reload(), ReloadOutcome::Unchanged));
    assert_eq!(served_der(&resolver), pem_to_der(&cert_b));

    // Half-rotated (new certificate, old key): rejected; then the key arrives too.
    let (cert_c, key_c) = self_signed("c.localhost");
    write(dir.path(), "cert.pem", &cert_c);
    write(dir.path(), "key.pem", &key_b);
    assert!(matches!(
        resolver.reload(),
        ReloadOutcome::Rejected(TlsError::KeyMismatch { .. })
    ));
    assert_eq!(served_der(&resolver), pem_to_der(&cert_b));
    write(dir.path(), "key.pem", &key_c);
    assert!(matches!(resolver.reload(), ReloadOutcome::Reloaded));
    assert_eq!(served_der(&resolver), pem_to_der(&cert_c));

    // A deleted file: rejected, old pair kept; restoring it reloads.
    std::fs::remove_file(&k).unwrap();
    assert!(matches!(
        resolver.reload(),
        ReloadOutcome::Rejected(TlsError::Read { .. })
    ));
    assert!(matches!(resolver.reload(), ReloadOutcome::Unchanged));
    assert_eq!(served_der(&resolver), pem_to_der(&cert_c));
    write(dir.path(), "key.pem", &key_c);
    assert!(matches!(resolver.reload(), ReloadOutcome::Reloaded));
    assert_eq!(served_der(&resolver), pem_to_der(&cert_c));
}

#[test]
fn client_ca_bundle_errors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c, k) = pair_files(dir.path());
    let empty = write(dir.path(), "ca.pem", "");
    let err = TlsConfig::load(&TlsSettings::new(&c, &k).with_client_ca(&empty)).unwrap_err();
    assert!(
        matches!(err, TlsError::NoCertificate { ref path } if *path == empty),
        "{err:?}"
    );

    let bad = write(
        dir.path(),
        "bad-ca.pem",
        "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
    );
    let err = TlsConfig::load(&TlsSettings::new(&c, &k).with_client_ca(&bad)).unwrap_err();
    assert!(
        matches!(err, TlsError::ClientCaCertificate { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("bad-ca.pem"), "{err}");

    let tls = TlsConfig::load(&TlsSettings::new(&c, &k).with_client_ca(&c)).unwrap();
    assert_eq!(
        tls.current().alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn a_changed_client_ca_bundle_is_applied_and_a_broken_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c, k) = pair_files(dir.path());
    let (ca_a, _) = self_signed("ca-a");
    let ca = write(dir.path(), "ca.pem", &ca_a);
    let tls = TlsConfig::load(&TlsSettings::new(&c, &k).with_client_ca(&ca)).unwrap();
    let first = tls.current();
    assert!(matches!(tls.reload(), ReloadOutcome::Unchanged));
    assert!(
        Arc::ptr_eq(&first, &tls.current()),
        "nothing changed: same configuration"
    );

    let (ca_b, _) = self_signed("ca-b");
    write(dir.path(), "ca.pem", format!("{ca_a}{ca_b}"));
    assert!(matches!(tls.reload(), ReloadOutcome::Reloaded));
    let second = tls.current();
    assert!(
        !Arc::ptr_eq(&first, &second),
        "a new bundle: a new configuration"
    );

    write(dir.path(), "ca.pem", "not a bundle");
    let outcome = tls.reload();
    assert!(
        matches!(&outcome, ReloadOutcome::Rejected(TlsError::NoCertificate { path }) if *path == ca),
        "{outcome:?}"
    );
    assert!(
        Arc::ptr_eq(&second, &tls.current()),
        "the broken bundle is not applied"
    );
    assert!(
        matches!(tls.reload(), ReloadOutcome::Unchanged),
        "logged once"
    );

    // Without mTLS there is no bundle to reload.
    let plain = TlsConfig::load(&TlsSettings::new(&c, &k)).unwrap();
    assert!(matches!(plain.reload(), ReloadOutcome::Unchanged));
}

#[test]
fn settings_defaults() {
    let s = TlsSettings::new("c.pem", "k.pem");
    assert_eq!(s.client_ca_path, None);
    assert_eq!(s.reload_interval, DEFAULT_RELOAD_INTERVAL);
    assert_eq!(s.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
    assert_eq!(s.drain_timeout, DEFAULT_DRAIN_TIMEOUT);
    assert_eq!(
        s.with_client_ca("ca.pem").client_ca_path,
        Some(PathBuf::from("ca.pem"))
    );
}
