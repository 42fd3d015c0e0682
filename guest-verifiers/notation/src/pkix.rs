//! The PKIX pieces CRL and OCSP checking share, read with [`crate::der`]: the certificate fields
//! that identify it to a CRL or an OCSP responder, X.509 times, extension lists and the
//! signature algorithms the host verifies.

use crate::der::{self, Reader, Tlv};
use crate::verify::{SigAlg, SigEncoding};

/// Universal tag: UTCTime.
pub const UTC_TIME: u8 = 0x17;
/// Universal tag: BIT STRING.
pub const BIT_STRING: u8 = 0x03;
/// Universal tag: ENUMERATED.
pub const ENUMERATED: u8 = 0x0a;
/// Universal tag: NULL.
pub const NULL: u8 = 0x05;

/// What a CRL or an OCSP responder knows a certificate by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertId<'a> {
    /// Serial number, minimal unsigned big-endian.
    pub serial: &'a [u8],
    /// The issuer `Name`, whole DER.
    pub issuer: &'a [u8],
    /// The subject `Name`, whole DER.
    pub subject: &'a [u8],
    /// The `subjectPublicKey` BIT STRING's bits (without the unused-bits octet).
    pub public_key: &'a [u8],
}

/// Reads the identifying fields of a DER certificate.
pub fn cert_id(cert: &[u8]) -> Result<CertId<'_>, String> {
    let c = der::single(cert, der::SEQUENCE, "certificate")?;
    let mut tbs = Reader::new(c.value).nested(der::SEQUENCE, "tbsCertificate")?;
    tbs.optional(der::context(0))?;
    let serial = der::unsigned(tbs.expect(der::INTEGER, "serialNumber")?.value);
    tbs.expect(der::SEQUENCE, "signature")?;
    let issuer = tbs.expect(der::SEQUENCE, "issuer")?.raw;
    tbs.expect(der::SEQUENCE, "validity")?;
    let subject = tbs.expect(der::SEQUENCE, "subject")?.raw;
    let mut spki = tbs.nested(der::SEQUENCE, "subjectPublicKeyInfo")?;
    spki.expect(der::SEQUENCE, "algorithm")?;
    let public_key = bits(spki.expect(BIT_STRING, "subjectPublicKey")?.value)?;
    Ok(CertId {
        serial,
        issuer,
        subject,
        public_key,
    })
}

/// The bits of a BIT STRING whose length is a whole number of octets.
pub fn bits(value: &[u8]) -> Result<&[u8], String> {
    match value.split_first() {
        Some((0, rest)) => Ok(rest),
        _ => Err("a BIT STRING with unused bits".into()),
    }
}

/// Reads an X.509 `Time` (UTCTime or GeneralizedTime) as Unix seconds.
pub fn time(t: Tlv<'_>) -> Result<i64, String> {
    match t.tag {
        der::GENERALIZED_TIME => der::generalized_time(t.value),
        UTC_TIME => utc_time(t.value),
        other => Err(format!("expected a time, found tag 0x{other:02x}")),
    }
}

/// Parses a DER UTCTime (`YYMMDDHHMMSSZ`; RFC 5280: years 50–99 are 19xx, 00–49 20xx).
fn utc_time(value: &[u8]) -> Result<i64, String> {
    let s = std::str::from_utf8(value).map_err(|_| "UTCTime is not ASCII".to_owned())?;
    if s.len() != 13 || !s.ends_with('Z') || !s.as_bytes()[..12].iter().all(u8::is_ascii_digit) {
        return Err(format!("UTCTime {s:?} is not YYMMDDHHMMSSZ"));
    }
    let century = if &s[0..2] >= "50" { "19" } else { "20" };
    der::generalized_time(format!("{century}{s}").as_bytes())
}

/// Whether the next element is an X.509 `Time`.
pub fn is_time(tag: Option<u8>) -> bool {
    matches!(tag, Some(UTC_TIME | der::GENERALIZED_TIME))
}

/// One extension: OID, criticality and the DER inside `extnValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension<'a> {
    /// `extnID`, dotted.
    pub id: String,
    /// `critical`.
    pub critical: bool,
    /// The content of `extnValue`.
    pub value: &'a [u8],
}

/// Reads `Extensions ::= SEQUENCE OF Extension` from the content of its SEQUENCE.
pub fn extensions(seq_content: &[u8]) -> Result<Vec<Extension<'_>>, String> {
    let mut r = Reader::new(seq_content);
    let mut out = Vec::new();
    while !r.is_empty() {
        let mut ext = r.nested(der::SEQUENCE, "Extension")?;
        let id = der::oid_string(ext.expect(der::OID, "extnID")?.value);
        let critical = match ext.optional(der::BOOLEAN)? {
            Some(b) => b.value != [0],
            None => false,
        };
        let value = ext.expect(der::OCTET_STRING, "extnValue")?.value;
        out.push(Extension {
            id,
            critical,
            value,
        });
    }
    Ok(out)
}

/// The host algorithm of an X.509 `signatureAlgorithm` OID (ECDSA signatures are DER-encoded).
pub fn signature_algorithm(oid: &str) -> Result<(SigAlg, SigEncoding), String> {
    let alg = match oid {
        "1.2.840.10045.4.3.2" => SigAlg::EcdsaP256Sha256,
        "1.2.840.10045.4.3.3" => SigAlg::EcdsaP384Sha384,
        "1.2.840.113549.1.1.11" => SigAlg::RsaPkcs1Sha256,
        "1.2.840.113549.1.1.12" => SigAlg::RsaPkcs1Sha384,
        "1.2.840.113549.1.1.13" => SigAlg::RsaPkcs1Sha512,
        other => return Err(format!("signature algorithm {other} is not supported")),
    };
    Ok((alg, SigEncoding::Der))
}

/// Reads an `AlgorithmIdentifier` and returns its OID, dotted.
pub fn algorithm_oid(r: &mut Reader<'_>, what: &str) -> Result<String, String> {
    let mut alg = r.nested(der::SEQUENCE, what)?;
    Ok(der::oid_string(alg.expect(der::OID, what)?.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x509::tests::{seq, tlv};

    #[test]
    fn reads_both_time_forms() {
        let utc = tlv(UTC_TIME, b"300101000000Z");
        let gen_ = tlv(der::GENERALIZED_TIME, b"20300101000000Z");
        let a = time(Reader::new(&utc).any().unwrap()).unwrap();
        let b = time(Reader::new(&gen_).any().unwrap()).unwrap();
        assert_eq!(a, 1_893_456_000);
        assert_eq!(a, b);
        let old = tlv(UTC_TIME, b"700101000000Z");
        assert_eq!(time(Reader::new(&old).any().unwrap()).unwrap(), 0);
        let bad = tlv(UTC_TIME, b"7001010000Z");
        assert!(time(Reader::new(&bad).any().unwrap()).is_err());
        assert!(time(Reader::new(&tlv(der::INTEGER, b"\x01")).any().unwrap()).is_err());
    }

    #[test]
    fn reads_the_certificate_identity() {
        let issuer = seq(&[tlv(der::SET, b"i")]);
        let subject = seq(&[tlv(der::SET, b"s")]);
        let spki = seq(&[seq(&[]), tlv(BIT_STRING, &[0, 9, 9])]);
        let tbs = seq(&[
            tlv(der::context(0), &tlv(der::INTEGER, &[2])),
            tlv(der::INTEGER, &[0, 0x87]),
            seq(&[]),
            issuer.clone(),
            seq(&[]),
            subject.clone(),
            spki,
        ]);
        let c = seq(&[tbs, seq(&[]), tlv(BIT_STRING, &[0])]);
        let id = cert_id(&c).unwrap();
        assert_eq!(id.serial, [0x87]);
        assert_eq!(id.issuer, issuer);
        assert_eq!(id.subject, subject);
        assert_eq!(id.public_key, [9, 9]);
        assert!(cert_id(b"\x30\x00").is_err());
    }

    #[test]
    fn known_signature_algorithms_only() {
        assert_eq!(
            signature_algorithm("1.2.840.10045.4.3.2").unwrap().0,
            SigAlg::EcdsaP256Sha256
        );
        assert!(signature_algorithm("1.2.840.113549.1.1.10").is_err());
        assert_eq!(bits(&[0, 1, 2]).unwrap(), [1, 2]);
        assert!(bits(&[3, 1]).is_err());
    }
}
