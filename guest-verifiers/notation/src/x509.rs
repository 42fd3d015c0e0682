//! The X.509 certificate extensions the verifier reads itself, from the DER: the extended key
//! usage of the signing certificate (the host's chain validation only knows "require this EKU"
//! or "require none") and, for [`crate::revocation`], the revocation endpoints.

use crate::der::{self, Reader};

/// Extended key usage extension.
const EXTENDED_KEY_USAGE: &str = "2.5.29.37";

/// One extension: its OID (dotted) and the content of its `extnValue` OCTET STRING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension<'a> {
    /// `extnID`.
    pub id: String,
    /// The DER inside `extnValue`.
    pub value: &'a [u8],
}

/// The extensions of a DER certificate (none when it has no `[3]` field).
pub fn extensions(cert: &[u8]) -> Result<Vec<Extension<'_>>, String> {
    let c = der::single(cert, der::SEQUENCE, "certificate")?;
    let mut tbs = Reader::new(c.value).nested(der::SEQUENCE, "tbsCertificate")?;
    let mut out = Vec::new();
    while !tbs.is_empty() {
        let t = tbs.any()?;
        if t.tag != der::context(3) {
            continue;
        }
        let mut exts = Reader::new(t.value).nested(der::SEQUENCE, "extensions")?;
        while !exts.is_empty() {
            let mut ext = exts.nested(der::SEQUENCE, "extension")?;
            let id = der::oid_string(ext.expect(der::OID, "extnID")?.value);
            ext.optional(der::BOOLEAN)?;
            let value = ext.expect(der::OCTET_STRING, "extnValue")?.value;
            out.push(Extension { id, value });
        }
    }
    Ok(out)
}

/// The key purposes of the certificate's extended key usage extension (dotted OIDs), or `None`
/// when it has no such extension.
pub fn extended_key_usages(cert: &[u8]) -> Result<Option<Vec<String>>, String> {
    let Some(ext) = extensions(cert)?
        .into_iter()
        .find(|e| e.id == EXTENDED_KEY_USAGE)
    else {
        return Ok(None);
    };
    let mut r = Reader::new(der::single(ext.value, der::SEQUENCE, "extKeyUsage")?.value);
    let mut usages = Vec::new();
    while !r.is_empty() {
        usages.push(der::oid_string(r.expect(der::OID, "KeyPurposeId")?.value));
    }
    Ok(Some(usages))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        assert!(value.len() < 0x80);
        let mut out = vec![tag, value.len() as u8];
        out.extend_from_slice(value);
        out
    }

    pub(crate) fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(der::SEQUENCE, &parts.concat())
    }

    /// An extension `{id, critical?, OCTET STRING value}`.
    pub(crate) fn ext(id: Vec<u8>, value: Vec<u8>, critical: bool) -> Vec<u8> {
        let mut parts = vec![id];
        if critical {
            parts.push(tlv(der::BOOLEAN, &[0xff]));
        }
        parts.push(tlv(der::OCTET_STRING, &value));
        seq(&parts)
    }

    /// A certificate skeleton: version, serial, algorithm, issuer, validity, subject, SPKI and
    /// the given extensions (empty: no `[3]` at all).
    pub(crate) fn cert(exts: &[Vec<u8>]) -> Vec<u8> {
        let mut tbs = vec![
            tlv(der::context(0), &tlv(der::INTEGER, &[2])),
            tlv(der::INTEGER, &[7]),
            seq(&[]),
            seq(&[]),
            seq(&[]),
            seq(&[]),
            seq(&[]),
        ];
        if !exts.is_empty() {
            tbs.push(tlv(der::context(3), &seq(exts)));
        }
        seq(&[seq(&tbs), seq(&[]), tlv(0x03, &[0])])
    }

    /// `extKeyUsage` with the `id-kp-*` purposes numbered `kps` (1.3.6.1.5.5.7.3.n).
    pub(crate) fn eku(kps: &[u8]) -> Vec<u8> {
        let oids: Vec<Vec<u8>> = kps
            .iter()
            .map(|&n| tlv(der::OID, &[0x2b, 6, 1, 5, 5, 7, 3, n]))
            .collect();
        ext(tlv(der::OID, &[0x55, 0x1d, 0x25]), seq(&oids), false)
    }

    #[test]
    fn reads_extensions_and_key_purposes() {
        assert_eq!(extensions(&cert(&[])).unwrap(), Vec::new());
        assert_eq!(extended_key_usages(&cert(&[])).unwrap(), None);
        let c = cert(&[eku(&[3, 8])]);
        assert_eq!(
            extended_key_usages(&c).unwrap(),
            Some(vec![
                "1.3.6.1.5.5.7.3.3".to_owned(),
                "1.3.6.1.5.5.7.3.8".to_owned()
            ])
        );
        assert_eq!(extensions(&c).unwrap()[0].id, EXTENDED_KEY_USAGE);
        let broken = cert(&[ext(tlv(der::OID, &[0x55, 0x1d, 0x25]), vec![0x04], false)]);
        assert!(extended_key_usages(&broken).is_err());
        assert!(extensions(b"\x30\x00").is_err());
    }
}
