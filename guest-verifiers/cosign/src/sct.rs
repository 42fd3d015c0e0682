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
}
