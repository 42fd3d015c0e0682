//! A minimal DER reader: just enough X.509 to find a key's algorithm, a certificate's public key,
//! its subject alternative names and the Fulcio OIDC-issuer extensions.
//!
//! Only definite lengths and single-byte tags are accepted (all X.509 needs); anything else is a
//! [`DerError`], never a panic.

use std::fmt;

/// Why DER input could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError(pub String);

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed DER: {}", self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, DerError> {
    Err(DerError(msg.into()))
}

/// Tag of a SEQUENCE.
pub const SEQUENCE: u8 = 0x30;
/// Tag of an OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// Tag of a BOOLEAN.
pub const BOOLEAN: u8 = 0x01;
/// Tag of an OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// Tag of a UTF8String.
pub const UTF8_STRING: u8 = 0x0c;

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The (single-byte) tag.
    pub tag: u8,
    /// The content octets.
    pub value: &'a [u8],
    /// The whole element, header included.
    pub raw: &'a [u8],
}

/// A cursor over a run of DER elements.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    /// Whether every element has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Read the next element.
    pub fn read(&mut self) -> Result<Tlv<'a>, DerError> {
        let input = self.rest;
        let (&tag, after_tag) = input.split_first().ok_or(DerError("truncated".into()))?;
        if tag & 0x1f == 0x1f {
            return err("multi-byte tags are not supported");
        }
        let (&first, mut after_len) = after_tag
            .split_first()
            .ok_or(DerError("truncated length".into()))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return err("indefinite length");
            }
            if n > 4 || after_len.len() < n {
                return err("bad length");
            }
            let mut len = 0usize;
            for &b in &after_len[..n] {
                len = (len << 8) | usize::from(b);
            }
            after_len = &after_len[n..];
            len
        };
        if after_len.len() < len {
            return err(format!("element of {len} bytes is truncated"));
        }
        let header = input.len() - after_len.len();
        let value = &after_len[..len];
        let raw = &input[..header + len];
        self.rest = &after_len[len..];
        Ok(Tlv { tag, value, raw })
    }

    /// Read the next element, requiring `tag`.
    pub fn expect(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, DerError> {
        let tlv = self.read()?;
        if tlv.tag != tag {
            return err(format!(
                "{what}: expected tag {tag:#04x}, got {:#04x}",
                tlv.tag
            ));
        }
        Ok(tlv)
    }

    /// Read the next element if its tag is `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.read().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Dotted form of OID content octets, e.g. `1.2.840.10045.2.1`.
pub fn oid_string(value: &[u8]) -> Result<String, DerError> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    let mut in_arc = false;
    for &b in value {
        if acc > (u64::MAX >> 7) {
            return err("OID arc too large");
        }
        acc = (acc << 7) | u64::from(b & 0x7f);
        in_arc = true;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let (first, second) = match acc {
                    0..40 => (0, acc),
                    40..80 => (1, acc - 40),
                    _ => (2, acc - 80),
                };
                arcs.push(first);
                arcs.push(second);
            } else {
                arcs.push(acc);
            }
            acc = 0;
            in_arc = false;
        }
    }
    if in_arc || arcs.is_empty() {
        return err("truncated OID");
    }
    Ok(arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

/// The algorithm of a `SubjectPublicKeyInfo`: the algorithm OID and, for EC keys, the curve OID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpkiAlgorithm {
    /// Algorithm OID, dotted.
    pub algorithm: String,
    /// Named-curve OID (dotted) when the parameters are one.
    pub curve: Option<String>,
}

/// Reads the algorithm of the DER `SubjectPublicKeyInfo` `spki`.
pub fn spki_algorithm(spki: &[u8]) -> Result<SpkiAlgorithm, DerError> {
    let mut outer = Reader::new(spki);
    let seq = outer.expect(SEQUENCE, "SubjectPublicKeyInfo")?;
    if !outer.is_empty() {
        return err("trailing data after SubjectPublicKeyInfo");
    }
    let mut inner = Reader::new(seq.value);
    let alg = inner.expect(SEQUENCE, "AlgorithmIdentifier")?;
    inner.expect(0x03, "subjectPublicKey")?;
    let mut alg = Reader::new(alg.value);
    let algorithm = oid_string(alg.expect(OID, "algorithm")?.value)?;
    let curve = match alg.optional(OID)? {
        Some(c) => Some(oid_string(c.value)?),
        None => None,
    };
    Ok(SpkiAlgorithm { algorithm, curve })
}

/// What the verifier needs from a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertFields {
    /// The DER `SubjectPublicKeyInfo`.
    pub spki: Vec<u8>,
    /// Subject alternative names: e-mail addresses, URIs and DNS names, in order.
    pub sans: Vec<String>,
    /// Fulcio OIDC issuer, extension `1.3.6.1.4.1.57264.1.8` (DER UTF8String), when present.
    pub issuer_v2: Option<String>,
    /// Fulcio OIDC issuer, deprecated extension `1.3.6.1.4.1.57264.1.1` (raw string), when present.
    pub issuer_v1: Option<String>,
}

impl CertFields {
    /// The OIDC issuer: the newer extension when present, else the deprecated one.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer_v2.as_deref().or(self.issuer_v1.as_deref())
    }
}

/// OID of the subject alternative name extension.
const SAN_OID: &str = "2.5.29.17";
/// Fulcio's deprecated OIDC issuer extension (raw bytes of the issuer URL).
pub const FULCIO_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// Fulcio's OIDC issuer extension (a DER UTF8String).
pub const FULCIO_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";

/// Reads the fields the verifier needs from the DER certificate `der`.
pub fn cert_fields(der: &[u8]) -> Result<CertFields, DerError> {
    let mut outer = Reader::new(der);
    let cert = outer.expect(SEQUENCE, "Certificate")?;
    let tbs = Reader::new(cert.value).expect(SEQUENCE, "TBSCertificate")?;
    let mut tbs = Reader::new(tbs.value);
    tbs.optional(0xa0)?; // version
    tbs.expect(0x02, "serialNumber")?;
    tbs.expect(SEQUENCE, "signature")?;
    tbs.expect(SEQUENCE, "issuer")?;
    tbs.expect(SEQUENCE, "validity")?;
    tbs.expect(SEQUENCE, "subject")?;
    let spki = tbs.expect(SEQUENCE, "subjectPublicKeyInfo")?;
    let mut fields = CertFields {
        spki: spki.raw.to_vec(),
        ..CertFields::default()
    };
    tbs.optional(0x81)?; // issuerUniqueID
    tbs.optional(0x82)?; // subjectUniqueID
    let Some(exts) = tbs.optional(0xa3)? else {
        return Ok(fields);
    };
    let exts = Reader::new(exts.value).expect(SEQUENCE, "Extensions")?;
    let mut exts = Reader::new(exts.value);
    while !exts.is_empty() {
        let ext = exts.expect(SEQUENCE, "Extension")?;
        let mut ext = Reader::new(ext.value);
        let oid = oid_string(ext.expect(OID, "extnID")?.value)?;
        ext.optional(BOOLEAN)?;
        let value = ext.expect(OCTET_STRING, "extnValue")?.value;
        match oid.as_str() {
            SAN_OID => fields.sans = general_names(value)?,
            FULCIO_ISSUER_V1 => {
                fields.issuer_v1 = Some(
                    String::from_utf8(value.to_vec())
                        .map_err(|_| DerError("issuer extension is not UTF-8".into()))?,
                );
            }
            FULCIO_ISSUER_V2 => {
                let s = Reader::new(value).expect(UTF8_STRING, "issuer extension")?;
                fields.issuer_v2 = Some(
                    String::from_utf8(s.value.to_vec())
                        .map_err(|_| DerError("issuer extension is not UTF-8".into()))?,
                );
            }
            _ => {}
        }
    }
    Ok(fields)
}

/// The e-mail (`[1]`), DNS (`[2]`) and URI (`[6]`) names of a `GeneralNames` sequence.
fn general_names(value: &[u8]) -> Result<Vec<String>, DerError> {
    let seq = Reader::new(value).expect(SEQUENCE, "GeneralNames")?;
    let mut names = Reader::new(seq.value);
    let mut out = Vec::new();
    while !names.is_empty() {
        let name = names.read()?;
        if matches!(name.tag, 0x81 | 0x82 | 0x86) {
            out.push(
                String::from_utf8(name.value.to_vec())
                    .map_err(|_| DerError("subject alternative name is not UTF-8".into()))?,
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_strings() {
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]).unwrap(),
            "1.2.840.10045.2.1"
        );
        assert_eq!(
            oid_string(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x08]).unwrap(),
            FULCIO_ISSUER_V2
        );
        assert_eq!(oid_string(&[0x2b, 0x65, 0x70]).unwrap(), "1.3.101.112");
        assert!(oid_string(&[0x2a, 0x86]).is_err());
        assert!(oid_string(&[]).is_err());
    }

    #[test]
    fn p256_spki_algorithm() {
        let mut spki = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        spki.extend_from_slice(&[4u8; 65]);
        let alg = spki_algorithm(&spki).unwrap();
        assert_eq!(alg.algorithm, "1.2.840.10045.2.1");
        assert_eq!(alg.curve.as_deref(), Some("1.2.840.10045.3.1.7"));
        // Truncated input is an error, not a panic.
        for n in 0..spki.len() {
            assert!(spki_algorithm(&spki[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn long_lengths_and_bad_lengths() {
        let mut data = vec![0x04, 0x81, 0x80];
        data.extend_from_slice(&[7u8; 128]);
        let tlv = Reader::new(&data).read().unwrap();
        assert_eq!(tlv.value.len(), 128);
        assert_eq!(tlv.raw.len(), 131);
        assert!(Reader::new(&[0x04, 0x80]).read().is_err());
        assert!(Reader::new(&[0x04, 0x85, 1, 1, 1, 1, 1]).read().is_err());
        assert!(Reader::new(&[0x1f, 0x01, 0x00]).read().is_err());
    }

    #[test]
    fn garbage_certificate_is_an_error() {
        assert!(cert_fields(b"not a certificate").is_err());
        assert!(cert_fields(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_err());
    }
}
