//! Signed certificate timestamps (RFC 6962) embedded in a Fulcio certificate, verified against
//! the trusted root's `ctlogs`.
//!
//! RFC 6962 §3.3: the SCTs of a precertificate are embedded in the issued certificate as "an
//! X.509v3 certificate extension with OID 1.3.6.1.4.1.11129.2.4.2 whose extnValue is an OCTET
//! STRING holding a SignedCertificateTimestampList". §3.2: the log signs, for a precertificate
//! entry, `issuer_key_hash` ("the SHA-256 hash of the certificate issuer's public key") and
//! `tbs_certificate` ("the DER-encoded TBSCertificate component of the Precertificate — that is,
//! without the signature and the poison extension"); a verifier recovers it from the final
//! certificate by removing the SCT list extension. §3.2 `LogID`: "the SHA-256 hash of the log's
//! public key, calculated over the DER encoding of the key represented as SubjectPublicKeyInfo".

use crate::der::{self, DerError, OCTET_STRING, OID, Reader, SEQUENCE};
use crate::pem::Alg;
use crate::trusted_root::TrustedRoot;
use crate::verify::{Failure, Host, fail, hex};

/// OID of the embedded SCT list extension (RFC 6962 §3.3).
pub const SCT_LIST_OID: &str = "1.3.6.1.4.1.11129.2.4.2";

/// One `SignedCertificateTimestamp` (v1) of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sct {
    /// `LogID`: SHA-256 of the log's SubjectPublicKeyInfo.
    pub log_id: Vec<u8>,
    /// Milliseconds since the epoch at which the log issued the SCT.
    pub timestamp_ms: u64,
    /// `CtExtensions` (opaque; signed as they are).
    pub extensions: Vec<u8>,
    /// `HashAlgorithm` of the digitally-signed struct (4 = sha256).
    pub hash_alg: u8,
    /// `SignatureAlgorithm` (1 = rsa, 3 = ecdsa).
    pub sig_alg: u8,
    /// The signature (DER for ECDSA).
    pub signature: Vec<u8>,
}

/// A certificate taken apart for SCT verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precert {
    /// The TBSCertificate with the SCT list extension removed (RFC 6962 §3.2 `PreCert`).
    pub tbs: Vec<u8>,
    /// The SCTs of the embedded list.
    pub scts: Vec<Sct>,
}

fn err<T>(m: impl Into<String>) -> Result<T, DerError> {
    Err(DerError(m.into()))
}

/// DER tag-length-value with a definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut out = vec![tag];
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Splits `cert` (DER) into its precertificate TBS and its embedded SCTs; `None` when the
/// certificate has no SCT list extension. A second SCT list extension is an error.
pub fn precert(cert: &[u8]) -> Result<Option<Precert>, DerError> {
    let c = Reader::new(cert).expect(SEQUENCE, "Certificate")?;
    let tbs = Reader::new(c.value).expect(SEQUENCE, "TBSCertificate")?;
    let mut fields = Reader::new(tbs.value);
    let mut rebuilt = Vec::with_capacity(tbs.value.len());
    let mut list = None;
    while !fields.is_empty() {
        let f = fields.any()?;
        if f.tag != 0xa3 {
            rebuilt.extend_from_slice(f.raw);
            continue;
        }
        let exts = Reader::new(f.value).expect(SEQUENCE, "Extensions")?;
        let mut exts = Reader::new(exts.value);
        let mut kept = Vec::new();
        while !exts.is_empty() {
            let ext = exts.expect(SEQUENCE, "Extension")?;
            let mut r = Reader::new(ext.value);
            let oid = der::oid_string(r.expect(OID, "extnID")?.value);
            if oid != SCT_LIST_OID {
                kept.extend_from_slice(ext.raw);
                continue;
            }
            if list.is_some() {
                return err("the certificate has two SCT list extensions");
            }
            r.optional(der::BOOLEAN)?;
            let value = r.expect(OCTET_STRING, "extnValue")?.value;
            let inner =
                Reader::new(value).expect(OCTET_STRING, "SignedCertificateTimestampList")?;
            list = Some(inner.value);
        }
        rebuilt.extend(tlv(0xa3, &tlv(SEQUENCE, &kept)));
    }
    let Some(list) = list else {
        return Ok(None);
    };
    Ok(Some(Precert {
        tbs: tlv(SEQUENCE, &rebuilt),
        scts: parse_list(list)?,
    }))
}

/// A TLS-encoding cursor (RFC 5246 §4: big-endian integers, length-prefixed vectors).
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DerError> {
        if self.0.len() < n {
            return err(format!("the SCT list is truncated in {what}"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn uint(&mut self, n: usize, what: &str) -> Result<u64, DerError> {
        Ok(self
            .take(n, what)?
            .iter()
            .fold(0u64, |a, b| (a << 8) | u64::from(*b)))
    }
    fn vec16(&mut self, what: &str) -> Result<&'a [u8], DerError> {
        let n = self.uint(2, what)? as usize;
        self.take(n, what)
    }
}

/// Parses a `SignedCertificateTimestampList` (RFC 6962 §3.3): `opaque
/// SerializedSCT<1..2^16-1>; struct { SerializedSCT sct_list <1..2^16-1>; }`.
pub fn parse_list(data: &[u8]) -> Result<Vec<Sct>, DerError> {
    let mut outer = Tls(data);
    let list = outer.vec16("sct_list")?;
    if !outer.0.is_empty() {
        return err("trailing bytes after the SCT list");
    }
    let mut list = Tls(list);
    let mut out = Vec::new();
    while !list.0.is_empty() {
        let mut s = Tls(list.vec16("SerializedSCT")?);
        let version = s.uint(1, "sct_version")?;
        if version != 0 {
            return err(format!("SCT version {version} is not v1"));
        }
        let sct = Sct {
            log_id: s.take(32, "id")?.to_vec(),
            timestamp_ms: s.uint(8, "timestamp")?,
            extensions: s.vec16("extensions")?.to_vec(),
            hash_alg: s.uint(1, "hash algorithm")? as u8,
            sig_alg: s.uint(1, "signature algorithm")? as u8,
            signature: s.vec16("signature")?.to_vec(),
        };
        if !s.0.is_empty() {
            return err("trailing bytes in an SCT");
        }
        out.push(sct);
    }
    if out.is_empty() {
        return err("the SCT list is empty");
    }
    Ok(out)
}

/// The data an SCT's signature covers for a precertificate entry (RFC 6962 §3.2):
/// `sct_version`, `signature_type` = certificate_timestamp, `timestamp`, `entry_type` =
/// precert_entry, `PreCert { issuer_key_hash, tbs_certificate<1..2^24-1> }`, `extensions`.
pub fn signed_data(sct: &Sct, issuer_key_hash: &[u8], tbs: &[u8]) -> Result<Vec<u8>, DerError> {
    if tbs.len() >= 1 << 24 || sct.extensions.len() >= 1 << 16 {
        return err("the precertificate is too large for an SCT");
    }
    let mut out = Vec::with_capacity(tbs.len() + 64);
    out.push(0); // v1
    out.push(0); // certificate_timestamp
    out.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&[0, 1]); // precert_entry
    out.extend_from_slice(issuer_key_hash);
    out.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(tbs);
    out.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
    out.extend_from_slice(&sct.extensions);
    Ok(out)
}

/// Verifies the certificate's embedded SCTs against the trusted root's `ctlogs`; returns the
/// hex log ID of the first SCT that verifies.
///
/// sigstore-go verifies certificate bundles with `WithSignedCertificateTimestamps(1)` by default
/// and cosign refuses a Fulcio certificate without a valid SCT unless `--insecure-ignore-sct`:
/// at least one embedded SCT must come from a CT log of the trusted root (RFC 6962 §3.2: its
/// `LogID` is "the SHA-256 hash of the log's public key, calculated over the DER encoding of the
/// key represented as SubjectPublicKeyInfo"), be issued inside that log key's `validFor`, and
/// carry a signature of the log over the precertificate entry rebuilt from the certificate.
pub fn verify_embedded(
    host: &dyn Host,
    root: &TrustedRoot,
    leaf: &[u8],
    issuer: &[u8],
) -> Result<String, Failure> {
    let untrusted = |m: String| fail("UNTRUSTED", m);
    let pre = match precert(leaf) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return untrusted(
                "the certificate has no embedded SCT (extension 1.3.6.1.4.1.11129.2.4.2): \
                 it was not logged to a Certificate Transparency log"
                    .into(),
            );
        }
        Err(e) => return untrusted(format!("the certificate's SCT list is malformed: {e}")),
    };
    let issuer_spki = der::cert_fields(issuer)
        .or_else(|e| fail("UNTRUSTED", format!("the certificate's issuer: {e}")))?
        .spki;
    let issuer_key_hash = host.sha256(&issuer_spki);
    let mut why = Vec::new();
    for (i, s) in pre.scts.iter().enumerate() {
        let id = hex(&s.log_id);
        let Some(log) = root.ctlogs.iter().find(|l| l.key_id == s.log_id) else {
            why.push(format!(
                "SCT {i} is from CT log {id}, which is not in the trusted root's ctlogs"
            ));
            continue;
        };
        if host.sha256(&log.key_der) != log.key_id {
            why.push(format!(
                "SCT {i}: the trusted root's CT log {id} has a key whose SHA-256 is not its logId"
            ));
            continue;
        }
        let t = i64::try_from(s.timestamp_ms / 1000).unwrap_or(i64::MAX);
        if !log.valid_for.contains(t) {
            why.push(format!(
                "SCT {i} was issued at {t}, outside the validity {} of CT log {id}",
                log.valid_for.describe()
            ));
            continue;
        }
        let alg_ok = matches!(
            (s.hash_alg, s.sig_alg, log.alg),
            (4, 3, Alg::EcdsaP256Sha256) | (4, 1, Alg::RsaPkcs1Sha256)
        );
        if !alg_ok {
            why.push(format!(
                "SCT {i} is signed with hash {} / signature {} which CT log {id}'s {} key does not make",
                s.hash_alg,
                s.sig_alg,
                log.alg.name()
            ));
            continue;
        }
        let data = match signed_data(s, &issuer_key_hash, &pre.tbs) {
            Ok(d) => d,
            Err(e) => {
                why.push(format!("SCT {i}: {e}"));
                continue;
            }
        };
        match host.verify_signature(log.alg, &log.key_der, &data, &s.signature) {
            Ok(()) => return Ok(id),
            Err(e) => why.push(format!("SCT {i} from CT log {id} does not verify: {e}")),
        }
    }
    untrusted(format!(
        "the certificate has no valid SCT from a trusted CT log: {}",
        why.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sct_bytes(version: u8, sig: &[u8]) -> Vec<u8> {
        let mut s = vec![version];
        s.extend([9u8; 32]);
        s.extend(1_700_000_000_000u64.to_be_bytes());
        s.extend([0, 2, 0xaa, 0xbb]);
        s.extend([4, 3]);
        s.extend((sig.len() as u16).to_be_bytes());
        s.extend(sig);
        s
    }

    fn list(scts: &[Vec<u8>]) -> Vec<u8> {
        let mut inner = Vec::new();
        for s in scts {
            inner.extend((s.len() as u16).to_be_bytes());
            inner.extend(s);
        }
        let mut out = (inner.len() as u16).to_be_bytes().to_vec();
        out.extend(inner);
        out
    }

    #[test]
    fn parses_a_list_and_rejects_malformed_ones() {
        let l = list(&[sct_bytes(0, b"sig"), sct_bytes(0, b"sig2")]);
        let scts = parse_list(&l).unwrap();
        assert_eq!(scts.len(), 2);
        assert_eq!(scts[0].log_id, vec![9u8; 32]);
        assert_eq!(scts[0].timestamp_ms, 1_700_000_000_000);
        assert_eq!(scts[0].extensions, vec![0xaa, 0xbb]);
        assert_eq!((scts[0].hash_alg, scts[0].sig_alg), (4, 3));
        assert_eq!(scts[1].signature, b"sig2");
        // Every truncation is an error, never a panic.
        for n in 0..l.len() {
            assert!(parse_list(&l[..n]).is_err(), "prefix {n}");
        }
        assert!(
            parse_list(&list(&[sct_bytes(1, b"s")]))
                .unwrap_err()
                .0
                .contains("v1")
        );
        assert!(parse_list(&list(&[])).unwrap_err().0.contains("empty"));
        let mut trailing = l.clone();
        trailing.push(0);
        assert!(parse_list(&trailing).is_err());
    }

    #[test]
    fn signed_data_follows_rfc6962_layout() {
        let sct = &parse_list(&list(&[sct_bytes(0, b"s")])).unwrap()[0];
        let d = signed_data(sct, &[7u8; 32], b"TBS").unwrap();
        let mut want = vec![0, 0];
        want.extend(1_700_000_000_000u64.to_be_bytes());
        want.extend([0, 1]);
        want.extend([7u8; 32]);
        want.extend([0, 0, 3]);
        want.extend(b"TBS");
        want.extend([0, 2, 0xaa, 0xbb]);
        assert_eq!(d, want);
    }

    #[test]
    fn long_form_lengths_are_encoded_minimally() {
        assert_eq!(tlv(0x30, &[1; 3])[..2], [0x30, 3]);
        // X.690 §8.1.3: the short form up to 127, the long form from 128 (0x80 alone would be
        // the indefinite length).
        assert_eq!(tlv(0x30, &[1; 127])[..2], [0x30, 127]);
        assert_eq!(tlv(0x30, &[1; 128])[..3], [0x30, 0x81, 0x80]);
        assert_eq!(tlv(0x30, &[1; 200])[..3], [0x30, 0x81, 200]);
        assert_eq!(tlv(0x30, &[1; 300])[..4], [0x30, 0x82, 1, 44]);
        let t = tlv(0x04, &[5; 300]);
        let r = Reader::new(&t).any().unwrap();
        assert_eq!(r.value.len(), 300);
    }

    #[test]
    fn garbage_certificates_are_an_error() {
        assert!(precert(b"junk").is_err());
    }

    use crate::test_host::{TestHost, fake_sign, sha256};
    use crate::trusted_root::{TransparencyLog, Window};

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(SEQUENCE, &parts.concat())
    }

    /// An extension `oid` (DER content) holding `value`.
    fn ext(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
        let mut parts = vec![tlv(OID, oid)];
        if critical {
            parts.push(tlv(der::BOOLEAN, &[0xff]));
        }
        parts.push(tlv(OCTET_STRING, value));
        seq(&parts)
    }

    /// The embedded SCT list extension holding `list` (TLS-encoded).
    fn sct_ext(list: &[u8]) -> Vec<u8> {
        // 1.3.6.1.4.1.11129.2.4.2
        let oid = [0x2b, 6, 1, 4, 1, 0xd6, 0x79, 2, 4, 2];
        ext(&oid, false, &tlv(OCTET_STRING, list))
    }

    /// A basicConstraints extension (any extension the SCT list is not).
    fn other_ext(n: u8) -> Vec<u8> {
        ext(&[0x55, 0x1d, 0x13], true, &seq(&[tlv(0x02, &[n])]))
    }

    /// The TBSCertificate fields before the extensions; the subject key is `key`.
    fn head(key: &[u8]) -> Vec<Vec<u8>> {
        let alg = seq(&[tlv(OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2])]);
        vec![
            tlv(0xa0, &tlv(0x02, &[2])),
            tlv(0x02, &[7]),
            alg.clone(),
            seq(&[tlv(0x31, b"issuer")]),
            seq(&[]),
            seq(&[tlv(0x31, b"subject")]),
            seq(&[alg, tlv(0x03, &[[0].as_slice(), key].concat())]),
        ]
    }

    /// A certificate of `head(key)` and extensions `exts` (none: no `[3]`).
    fn certificate(key: &[u8], exts: &[Vec<u8>]) -> Vec<u8> {
        let mut tbs = head(key);
        if !exts.is_empty() {
            tbs.push(tlv(0xa3, &seq(exts)));
        }
        seq(&[seq(&tbs), seq(&[]), tlv(0x03, &[0, 1])])
    }

    /// RFC 6962 §3.2: the precertificate TBS is recovered from the final certificate "by
    /// removing the SCT list extension" — only it, the other extensions staying in order; the
    /// extension may be marked critical or not. A certificate without one has no SCTs, and two
    /// lists are ambiguous.
    #[test]
    fn the_precertificate_is_the_certificate_without_its_sct_list() {
        let l = list(&[sct_bytes(0, b"s")]);
        let cert = certificate(b"k", &[other_ext(1), sct_ext(&l), other_ext(2)]);
        let pre = precert(&cert).unwrap().unwrap();
        let mut want = head(b"k");
        want.push(tlv(0xa3, &seq(&[other_ext(1), other_ext(2)])));
        assert_eq!(pre.tbs, seq(&want));
        assert_eq!(pre.scts, parse_list(&l).unwrap());

        assert_eq!(precert(&certificate(b"k", &[other_ext(1)])).unwrap(), None);
        assert_eq!(precert(&certificate(b"k", &[])).unwrap(), None);
        let two = certificate(b"k", &[sct_ext(&l), sct_ext(&l)]);
        assert!(precert(&two).unwrap_err().0.contains("two SCT list"));
        // The list must be an OCTET STRING inside extnValue.
        let bare = ext(&[0x2b, 6, 1, 4, 1, 0xd6, 0x79, 2, 4, 2], true, &l);
        assert!(precert(&certificate(b"k", &[bare])).is_err());
        let critical = ext(
            &[0x2b, 6, 1, 4, 1, 0xd6, 0x79, 2, 4, 2],
            true,
            &tlv(OCTET_STRING, &l),
        );
        let pre = precert(&certificate(b"k", &[critical])).unwrap().unwrap();
        assert_eq!(pre.scts.len(), 1);
    }

    /// RFC 6962 §3.2: `tbs_certificate` is `opaque <1..2^24-1>` and `extensions`
    /// `opaque CtExtensions<0..2^16-1>`: longer ones cannot be signed.
    #[test]
    fn signed_data_lengths_are_bounded() {
        let sct = parse_list(&list(&[sct_bytes(0, b"s")])).unwrap().remove(0);
        let big = Sct {
            extensions: vec![0; (1 << 16) - 1],
            ..sct.clone()
        };
        assert!(signed_data(&big, &[0; 32], b"t").is_ok());
        let too_big = Sct {
            extensions: vec![0; 1 << 16],
            ..sct.clone()
        };
        assert!(signed_data(&too_big, &[0; 32], b"t").is_err());
        let tbs = vec![0; (1 << 24) - 1];
        let d = signed_data(&sct, &[0; 32], &tbs).unwrap();
        assert_eq!(d[44..47], [0xff, 0xff, 0xff]);
        assert!(signed_data(&sct, &[0; 32], &vec![0; 1 << 24]).is_err());
    }

    /// A host whose "signature" by key K over M is SHA-256(K || M) (its real cryptography is
    /// tested with the host); calls are recorded.
    /// 2023-11-14T22:13:20Z, when the test SCTs are issued.
    const ISSUED: i64 = 1_700_000_000;

    fn log(key: &[u8], alg: Alg, valid_for: Window) -> TransparencyLog {
        TransparencyLog {
            base_url: String::new(),
            key_id: sha256(key),
            key_der: key.to_vec(),
            alg,
            valid_for,
        }
    }

    fn root(ctlogs: Vec<TransparencyLog>) -> TrustedRoot {
        TrustedRoot {
            certificate_authorities: Vec::new(),
            timestamp_authorities: Vec::new(),
            tlogs: Vec::new(),
            ctlogs,
        }
    }

    /// One SCT of `log_key`'s log with algorithms (`hash`, `sig`), at `ISSUED` (ms), signed by
    /// `signer` over the precertificate of `head(b"leaf key")` with extension `other_ext(1)`
    /// issued by `issuer`.
    fn sct(log_key: &[u8], hash: u8, sig: u8, signer: &[u8], issuer: &[u8]) -> Vec<u8> {
        let pre_tbs = {
            let mut t = head(b"leaf key");
            t.push(tlv(0xa3, &seq(&[other_ext(1)])));
            seq(&t)
        };
        let unsigned = Sct {
            log_id: sha256(log_key),
            timestamp_ms: ISSUED as u64 * 1000 + 999,
            extensions: vec![0xe0],
            hash_alg: hash,
            sig_alg: sig,
            signature: Vec::new(),
        };
        let issuer_spki = der::cert_fields(issuer).unwrap().spki;
        let data = signed_data(&unsigned, &sha256(&issuer_spki), &pre_tbs).unwrap();
        let signature = fake_sign(signer, &data);
        let mut out = vec![0];
        out.extend(&unsigned.log_id);
        out.extend(unsigned.timestamp_ms.to_be_bytes());
        out.extend([0, 1, 0xe0, hash, sig]);
        out.extend((signature.len() as u16).to_be_bytes());
        out.extend(signature);
        out
    }

    fn leaf(scts: &[Vec<u8>]) -> Vec<u8> {
        certificate(b"leaf key", &[other_ext(1), sct_ext(&list(scts))])
    }

    const ANY_TIME: Window = Window {
        start: None,
        end: None,
    };

    /// RFC 6962 §3.2 / sigstore-go `WithSignedCertificateTimestamps(1)`: an embedded SCT
    /// verifies when its `LogID` is a trusted CT log's key hash, and the log's signature covers
    /// the precertificate entry — the issuer's key hash and the TBS without the SCT list. The
    /// result names the log.
    #[test]
    fn an_sct_of_a_trusted_log_over_the_precertificate_verifies() {
        let issuer = certificate(b"issuer key", &[]);
        let logs = root(vec![log(b"ct key", Alg::EcdsaP256Sha256, ANY_TIME)]);
        let cert = leaf(&[sct(b"ct key", 4, 3, b"ct key", &issuer)]);
        let host = TestHost::default();
        assert_eq!(
            verify_embedded(&host, &logs, &cert, &issuer),
            Ok(hex(&sha256(b"ct key")))
        );
        let asked = host.signatures.borrow();
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].0, Alg::EcdsaP256Sha256);
        assert_eq!(asked[0].1, b"ct key");
        // Another issuer's key hash is other signed data.
        let other_issuer = certificate(b"other issuer key", &[]);
        let e = verify_embedded(&TestHost::default(), &logs, &cert, &other_issuer).unwrap_err();
        assert_eq!(e.reason, "UNTRUSTED");
        assert!(
            e.message.contains("does not verify: wrong signature"),
            "{e:?}"
        );
        // An RSA log signs with hash 4 / signature 1.
        let rsa = root(vec![log(b"ct key", Alg::RsaPkcs1Sha256, ANY_TIME)]);
        let rsa_cert = leaf(&[sct(b"ct key", 4, 1, b"ct key", &issuer)]);
        assert!(verify_embedded(&TestHost::default(), &rsa, &rsa_cert, &issuer).is_ok());
    }

    /// cosign: a Fulcio certificate without a valid SCT is refused — none embedded, a
    /// malformed list, an unparsable issuer, or SCTs none of which verifies all fail closed
    /// (`UNTRUSTED`), naming why each SCT failed; one good SCT among bad ones is enough.
    #[test]
    fn without_one_valid_sct_the_certificate_is_untrusted() {
        let issuer = certificate(b"issuer key", &[]);
        let logs = root(vec![log(b"ct key", Alg::EcdsaP256Sha256, ANY_TIME)]);
        let host = TestHost::default();
        let check = |cert: &[u8], root: &TrustedRoot| {
            let e = verify_embedded(&host, root, cert, &issuer).unwrap_err();
            assert_eq!(e.reason, "UNTRUSTED");
            e.message
        };
        let m = check(&certificate(b"leaf key", &[other_ext(1)]), &logs);
        assert!(m.contains("no embedded SCT"), "{m}");
        let malformed = certificate(b"leaf key", &[sct_ext(&[0, 0])]);
        assert!(check(&malformed, &logs).contains("malformed"));
        let good = sct(b"ct key", 4, 3, b"ct key", &issuer);
        let e =
            verify_embedded(&host, &logs, &leaf(std::slice::from_ref(&good)), b"junk").unwrap_err();
        assert!(e.message.contains("issuer"), "{e:?}");

        let unknown_log = sct(b"other log", 4, 3, b"other log", &issuer);
        let forged = sct(b"ct key", 4, 3, b"not the log", &issuer);
        let wrong_alg = sct(b"ct key", 4, 1, b"ct key", &issuer);
        let wrong_hash = sct(b"ct key", 5, 3, b"ct key", &issuer);
        let m = check(
            &leaf(&[unknown_log.clone(), forged.clone(), wrong_alg, wrong_hash]),
            &logs,
        );
        assert!(
            m.starts_with("the certificate has no valid SCT from a trusted CT log: "),
            "{m}"
        );
        assert!(
            m.contains("SCT 0 is from CT log") && m.contains("not in the trusted root"),
            "{m}"
        );
        assert!(
            m.contains("SCT 1 from CT log") && m.contains("does not verify"),
            "{m}"
        );
        assert!(
            m.contains("SCT 2 is signed with hash 4 / signature 1"),
            "{m}"
        );
        assert!(
            m.contains("SCT 3 is signed with hash 5 / signature 3"),
            "{m}"
        );
        // The good one after bad ones verifies.
        assert!(
            verify_embedded(&host, &logs, &leaf(&[unknown_log, forged, good]), &issuer).is_ok()
        );
    }

    /// The trusted root's CT log must be the key its `logId` names (RFC 6962 §3.2: "the
    /// SHA-256 hash of the log's public key") and the SCT must be issued inside the key's
    /// `validFor` (both ends inclusive; the timestamp's milliseconds are truncated).
    #[test]
    fn the_log_key_and_its_validity_are_checked() {
        let issuer = certificate(b"issuer key", &[]);
        let cert = leaf(&[sct(b"ct key", 4, 3, b"ct key", &issuer)]);
        let host = TestHost::default();
        let run = |l: TransparencyLog| verify_embedded(&host, &root(vec![l]), &cert, &issuer);
        let mut mislabelled = log(b"another key", Alg::EcdsaP256Sha256, ANY_TIME);
        mislabelled.key_id = sha256(b"ct key");
        let e = run(mislabelled).unwrap_err();
        assert!(
            e.message.contains("whose SHA-256 is not its logId"),
            "{e:?}"
        );
        let window = |start, end| log(b"ct key", Alg::EcdsaP256Sha256, Window { start, end });
        assert!(run(window(Some(ISSUED), Some(ISSUED))).is_ok());
        let e = run(window(Some(ISSUED + 1), None)).unwrap_err();
        assert!(
            e.message.contains(&format!("issued at {ISSUED}, outside")),
            "{e:?}"
        );
        assert!(run(window(None, Some(ISSUED - 1))).is_err());
    }
}
