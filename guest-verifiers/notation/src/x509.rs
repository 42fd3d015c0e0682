//! The X.509 certificate extensions the verifier reads itself, from the DER: the extended key
//! usage of the signing certificate (the host's chain validation only knows "require this EKU"
//! or "require none"), the key usage and basic constraints of the Notary Project's certificate
//! requirements ([`check_code_signing_chain`]) and, for [`crate::revocation`], the revocation
//! endpoints.

use crate::der::{self, Reader};

/// Extended key usage extension.
const EXTENDED_KEY_USAGE: &str = "2.5.29.37";
/// Key usage extension.
const KEY_USAGE: &str = "2.5.29.15";
/// Basic constraints extension.
const BASIC_CONSTRAINTS: &str = "2.5.29.19";

/// `KeyUsage` bits (RFC 5280 §4.2.1.3) by position, with their names.
const KEY_USAGE_BITS: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];
const DIGITAL_SIGNATURE: usize = 0;
const KEY_CERT_SIGN: usize = 5;
/// Bits a signing certificate must not have (notation-core-go `validateLeafKeyUsage`): all but
/// digitalSignature and nonRepudiation (contentCommitment).
const FORBIDDEN_LEAF_BITS: [usize; 7] = [2, 3, 4, 5, 6, 7, 8];

/// One extension: its OID (dotted), criticality and the content of its `extnValue` OCTET STRING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension<'a> {
    /// `extnID`.
    pub id: String,
    /// `critical`.
    pub critical: bool,
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
            let critical = ext.optional(der::BOOLEAN)?.is_some_and(|b| b.value != [0]);
            let value = ext.expect(der::OCTET_STRING, "extnValue")?.value;
            out.push(Extension {
                id,
                critical,
                value,
            });
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

/// A certificate's key usage: whether the extension is critical, and the positions of the
/// bits set; `None` without the extension.
fn key_usage(exts: &[Extension<'_>]) -> Result<Option<(bool, Vec<usize>)>, String> {
    let Some(ext) = exts.iter().find(|e| e.id == KEY_USAGE) else {
        return Ok(None);
    };
    let bits = der::single(ext.value, crate::pkix::BIT_STRING, "keyUsage")?.value;
    let (&unused, bytes) = bits.split_first().ok_or("keyUsage: an empty BIT STRING")?;
    if unused > 7 {
        return Err("keyUsage: a malformed BIT STRING".into());
    }
    let set = (0..bytes.len() * 8)
        .filter(|&n| bytes[n / 8] & (0x80 >> (n % 8)) != 0)
        .collect();
    Ok(Some((ext.critical, set)))
}

/// A certificate's basic constraints: (`cA`, `pathLenConstraint`); `None` without the
/// extension.
fn basic_constraints(exts: &[Extension<'_>]) -> Result<Option<(bool, Option<u64>)>, String> {
    let Some(ext) = exts.iter().find(|e| e.id == BASIC_CONSTRAINTS) else {
        return Ok(None);
    };
    let mut r = Reader::new(der::single(ext.value, der::SEQUENCE, "basicConstraints")?.value);
    let ca = r.optional(der::BOOLEAN)?.is_some_and(|b| b.value != [0]);
    let path_len = match r.optional(der::INTEGER)? {
        Some(n) if n.value.len() <= 8 && n.value.first().is_none_or(|b| b & 0x80 == 0) => Some(
            n.value
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        ),
        Some(_) => return Err("basicConstraints: a malformed pathLenConstraint".into()),
        None => None,
    };
    Ok(Some((ca, path_len)))
}

fn names(bits: &[usize]) -> String {
    bits.iter()
        .map(|&b| KEY_USAGE_BITS.get(b).copied().unwrap_or("an unknown bit"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Notary Project's certificate requirements (signature-specification.md, "Certificate
/// Requirements") of a code signing chain, leaf first, as notation-core-go's
/// `ValidateCodeSigningCertChain` checks them:
///
/// * leaf: "The `keyUsage` extension MUST be present and MUST be marked critical. Bit positions
///   for `digitalSignature` MUST be set. Bit positions for `keyCertSign` and `cRLSign` MUST NOT
///   be set" (notation-core-go refuses every bit but digitalSignature and nonRepudiation);
///   "If the `basicConstraints` extension is present, the `cA` field MUST be set false";
/// * every other certificate (a CA): "The `basicConstraints` extension MUST be present ... The
///   `cA` field MUST be set `true`" (notation-core-go does not require it to be critical), a
///   `pathLenConstraint` at least the number of CAs below it; "The `keyUsage` extension MUST be
///   present and MUST be marked critical. Bit positions for `keyCertSign` MUST be set".
///
/// The error is the position of the failing certificate (0: the leaf) and what is wrong, naming
/// it `certificate #1` for the leaf.
pub fn check_code_signing_chain(chain: &[Vec<u8>]) -> Result<(), (usize, String)> {
    for (i, cert) in chain.iter().enumerate() {
        check_certificate(i, cert).map_err(|e| (i, e))?;
    }
    Ok(())
}

/// The requirements of certificate `i` of a code signing chain (0: the leaf).
fn check_certificate(i: usize, cert: &[u8]) -> Result<(), String> {
    let which = format!("certificate #{}", i + 1);
    let exts = extensions(cert).map_err(|e| format!("{which}: {e}"))?;
    let usage = key_usage(&exts).map_err(|e| format!("{which}: {e}"))?;
    let constraints = basic_constraints(&exts).map_err(|e| format!("{which}: {e}"))?;
    let Some((critical, bits)) = usage else {
        return Err(format!("{which}: the keyUsage extension MUST be present"));
    };
    if !critical {
        return Err(format!(
            "{which}: the keyUsage extension MUST be marked critical"
        ));
    }
    if i == 0 {
        if !bits.contains(&DIGITAL_SIGNATURE) {
            return Err(format!(
                "{which} (the signing certificate): keyUsage MUST have digitalSignature set (it has {})",
                names(&bits)
            ));
        }
        let forbidden: Vec<usize> = bits
            .iter()
            .copied()
            .filter(|b| FORBIDDEN_LEAF_BITS.contains(b) || *b >= KEY_USAGE_BITS.len())
            .collect();
        if !forbidden.is_empty() {
            return Err(format!(
                "{which} (the signing certificate): keyUsage must be digitalSignature only, but has {}",
                names(&forbidden)
            ));
        }
        if let Some((true, _)) = constraints {
            return Err(format!(
                "{which} (the signing certificate): basicConstraints cA MUST be false"
            ));
        }
    } else {
        let below = (i - 1) as u64;
        match constraints {
            Some((true, Some(len))) if len < below => {
                return Err(format!(
                    "{which}: basicConstraints pathLenConstraint {len} is below the {below} CA certificate(s) it issued in this chain"
                ));
            }
            Some((true, _)) => {}
            _ => {
                return Err(format!(
                    "{which} (a CA certificate): basicConstraints MUST be present with cA set true"
                ));
            }
        }
        if !bits.contains(&KEY_CERT_SIGN) {
            return Err(format!(
                "{which} (a CA certificate): keyUsage MUST have keyCertSign set (it has {})",
                names(&bits)
            ));
        }
    }
    Ok(())
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

    /// `keyUsage` with the bits `bits` set, critical or not.
    fn ku(bits: &[usize], critical: bool) -> Vec<u8> {
        let mut bytes = vec![0u8; 2];
        for &b in bits {
            bytes[b / 8] |= 0x80 >> (b % 8);
        }
        let mut content = vec![0];
        content.extend_from_slice(&bytes);
        ext(
            tlv(der::OID, &[0x55, 0x1d, 0x0f]),
            tlv(crate::pkix::BIT_STRING, &content),
            critical,
        )
    }

    /// `basicConstraints` with `cA` and an optional `pathLenConstraint`.
    fn bc(ca: bool, path_len: Option<u8>) -> Vec<u8> {
        let mut parts = Vec::new();
        if ca {
            parts.push(tlv(der::BOOLEAN, &[0xff]));
        }
        if let Some(n) = path_len {
            parts.push(tlv(der::INTEGER, &[n]));
        }
        ext(tlv(der::OID, &[0x55, 0x1d, 0x13]), seq(&parts), true)
    }

    fn leaf() -> Vec<u8> {
        cert(&[ku(&[DIGITAL_SIGNATURE], true)])
    }

    fn ca(path_len: Option<u8>) -> Vec<u8> {
        cert(&[bc(true, path_len), ku(&[KEY_CERT_SIGN, 6], true)])
    }

    fn fails(chain: &[Vec<u8>], index: usize, text: &str) {
        let (i, e) = check_code_signing_chain(chain).unwrap_err();
        assert_eq!(i, index, "{e}");
        assert!(e.contains(text), "{e:?} lacks {text:?}");
    }

    /// Signature specification, Certificate Requirements, leaf: "The `keyUsage` extension MUST
    /// be present and MUST be marked critical. Bit positions for `digitalSignature` MUST be
    /// set. Bit positions for `keyCertSign` and `cRLSign` MUST NOT be set"; "If the
    /// `basicConstraints` extension is present, the `cA` field MUST be set false"
    /// (notation-core-go `validateLeafKeyUsage` also refuses the encipherment and agreement bits,
    /// and allows nonRepudiation).
    #[test]
    fn leaf_key_usage_and_basic_constraints() {
        check_code_signing_chain(&[leaf(), ca(None)]).unwrap();
        let with_nr = cert(&[ku(&[DIGITAL_SIGNATURE, 1], true), bc(false, None)]);
        check_code_signing_chain(&[with_nr]).unwrap();
        fails(
            &[cert(&[]), ca(None)],
            0,
            "keyUsage extension MUST be present",
        );
        let not_critical = cert(&[ku(&[DIGITAL_SIGNATURE], false)]);
        fails(&[not_critical], 0, "MUST be marked critical");
        fails(
            &[cert(&[ku(&[1], true)])],
            0,
            "MUST have digitalSignature set",
        );
        for (bit, name) in [
            (5, "keyCertSign"),
            (6, "cRLSign"),
            (2, "keyEncipherment"),
            (4, "keyAgreement"),
        ] {
            let c = cert(&[ku(&[DIGITAL_SIGNATURE, bit], true)]);
            fails(&[c], 0, name);
        }
        let ca_leaf = cert(&[ku(&[DIGITAL_SIGNATURE], true), bc(true, None)]);
        fails(&[ca_leaf, ca(None)], 0, "cA MUST be false");
    }

    /// Certificate Requirements, CA certificates: "The `basicConstraints` extension MUST be
    /// present ... The `cA` field MUST be set `true`. The `pathLenConstraint` field is OPTIONAL";
    /// "The `keyUsage` extension MUST be present and MUST be marked critical. Bit positions for
    /// `keyCertSign` MUST be set". notation-core-go checks a present `pathLenConstraint`
    /// against the CAs below.
    #[test]
    fn ca_basic_constraints_and_key_usage() {
        check_code_signing_chain(&[leaf(), ca(Some(0)), ca(Some(1))]).unwrap();
        let no_bc = cert(&[ku(&[KEY_CERT_SIGN], true)]);
        fails(
            &[leaf(), no_bc],
            1,
            "basicConstraints MUST be present with cA set true",
        );
        let not_ca = cert(&[bc(false, None), ku(&[KEY_CERT_SIGN], true)]);
        fails(&[leaf(), not_ca], 1, "cA set true");
        let no_cert_sign = cert(&[bc(true, None), ku(&[DIGITAL_SIGNATURE], true)]);
        fails(&[leaf(), no_cert_sign], 1, "keyCertSign");
        let no_ku = cert(&[bc(true, None)]);
        fails(&[leaf(), no_ku], 1, "keyUsage extension MUST be present");
        let not_critical = cert(&[bc(true, None), ku(&[KEY_CERT_SIGN], false)]);
        fails(&[leaf(), not_critical], 1, "MUST be marked critical");
        // The root issued one CA below it: pathLen 0 is too short.
        fails(&[leaf(), ca(None), ca(Some(0))], 2, "pathLenConstraint 0");
    }

    /// X.690 §8.6.2.2: the initial octet of a BIT STRING gives the unused bits of the last
    /// octet, "in the range zero to seven"; a one-octet keyUsage is as good as two.
    #[test]
    fn key_usage_bit_strings() {
        let one_octet = |unused: u8, bits: u8| {
            let value = tlv(crate::pkix::BIT_STRING, &[unused, bits]);
            cert(&[ext(tlv(der::OID, &[0x55, 0x1d, 0x0f]), value, true)])
        };
        let good = one_octet(7, 0x80);
        let exts = extensions(&good).unwrap();
        assert_eq!(key_usage(&exts), Ok(Some((true, vec![DIGITAL_SIGNATURE]))));
        check_code_signing_chain(&[one_octet(7, 0x80)]).unwrap();
        let bad = one_octet(8, 0x80);
        let exts = extensions(&bad).unwrap();
        assert!(
            key_usage(&exts)
                .unwrap_err()
                .contains("malformed BIT STRING")
        );
    }

    /// RFC 5280 §4.2.1.9: `pathLenConstraint INTEGER (0..MAX)`: a non-negative INTEGER of any
    /// size; a negative or oversized one is malformed.
    #[test]
    fn path_length_constraints_are_read_whole() {
        let with_path_len = |content: &[u8]| {
            let value = seq(&[tlv(der::BOOLEAN, &[0xff]), tlv(der::INTEGER, content)]);
            let c = cert(&[ext(tlv(der::OID, &[0x55, 0x1d, 0x13]), value, true)]);
            basic_constraints(&extensions(&c).unwrap())
        };
        assert_eq!(with_path_len(&[0x01, 0x00]), Ok(Some((true, Some(256)))));
        assert_eq!(with_path_len(&[0x00, 0x80]), Ok(Some((true, Some(128)))));
        for bad in [&[0x80][..], &[0xff, 0xff], &[1, 0, 0, 0, 0, 0, 0, 0, 0]] {
            let e = with_path_len(bad).unwrap_err();
            assert!(e.contains("malformed pathLenConstraint"), "{bad:?}: {e}");
        }
    }
}
