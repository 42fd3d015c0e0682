//! A minimal DER reader (structure sniffing and key extraction on the hot path) and the OID codec.
//!
//! Hand-written on purpose: the DER header parser of asn1-rs 0.7 (x509-parser's ASN.1 crate, via
//! der-parser) accepts non-minimal long-form lengths and high tag numbers, which this reader
//! refuses (see the tests); its OID encoder refuses `2.<arc ≥ 40>` and its decoder reads the first
//! sub-identifier as one byte, where this codec follows X.690 §8.19. The OID constants are
//! encoded by asn1-rs at compile time.

use x509_parser::asn1_rs::oid;

use super::*;

pub(super) const TAG_INTEGER: u8 = 0x02;
pub(super) const TAG_BIT_STRING: u8 = 0x03;
pub(super) const TAG_OID: u8 = 0x06;
pub(super) const TAG_SEQUENCE: u8 = 0x30;
pub(super) const TAG_SET: u8 = 0x31;
pub(super) const TAG_CONTEXT_0: u8 = 0xa0;

/// One DER TLV: its tag, its value, and the length of the whole TLV.
pub(super) struct Tlv<'a> {
    pub(super) tag: u8,
    pub(super) value: &'a [u8],
    pub(super) len: usize,
}

/// Reads the TLV at the start of `input` (low tag numbers, definite lengths up to 4 bytes).
pub(super) fn read_tlv(input: &[u8]) -> Option<Tlv<'_>> {
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
pub(super) struct TlvIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> TlvIter<'a> {
    pub(super) fn new(input: &'a [u8]) -> Self {
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
pub(super) fn read_whole(input: &[u8], tag: u8) -> Option<&[u8]> {
    let tlv = read_tlv(input)?;
    (tlv.tag == tag && tlv.len == input.len()).then_some(tlv.value)
}

/// Encodes a dotted OID (`1.3.6.1.5.5.7.3.3`) as DER content bytes.
pub(super) fn encode_oid(dotted: &str) -> Result<Vec<u8>, CryptoError> {
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
pub(super) fn decode_oid(bytes: &[u8]) -> String {
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

// OID content bytes, encoded at compile time by asn1-rs (x509-parser's ASN.1 crate). Byte-slice
// constants, so that key decoding can match on them.
pub(super) const OID_RSA_ENCRYPTION: &[u8] = &oid!(raw 1.2.840.113549.1.1.1);
pub(super) const OID_RSASSA_PSS: &[u8] = &oid!(raw 1.2.840.113549.1.1.10);
pub(super) const OID_EC_PUBLIC_KEY: &[u8] = &oid!(raw 1.2.840.10045.2.1);
pub(super) const OID_P256: &[u8] = &oid!(raw 1.2.840.10045.3.1.7);
pub(super) const OID_P384: &[u8] = &oid!(raw 1.3.132.0.34);
pub(super) const OID_P521: &[u8] = &oid!(raw 1.3.132.0.35);
pub(super) const OID_ED25519: &[u8] = &oid!(raw 1.3.101.112);
pub(super) const OID_ED448: &[u8] = &oid!(raw 1.3.101.113);
pub(super) const OID_DSA: &[u8] = &oid!(raw 1.2.840.10040.4.1);
pub(super) const OID_EXT_KEY_USAGE: &[u8] = &oid!(raw 2.5.29.37);
pub(super) const OID_ANY_EKU: &[u8] = &oid!(raw 2.5.29.37.0);

#[cfg(test)]
mod tests {
    use x509_parser::asn1_rs::{FromDer, Header};

    use super::*;

    /// The compile-time constants are what the runtime encoder (which encodes the EKU a caller
    /// asks for, compared byte for byte against certificates) gives for their dotted names.
    #[test]
    fn oid_constants_match_the_runtime_encoder() {
        for (constant, dotted) in [
            (OID_RSA_ENCRYPTION, "1.2.840.113549.1.1.1"),
            (OID_RSASSA_PSS, "1.2.840.113549.1.1.10"),
            (OID_EC_PUBLIC_KEY, "1.2.840.10045.2.1"),
            (OID_P256, "1.2.840.10045.3.1.7"),
            (OID_P384, "1.3.132.0.34"),
            (OID_P521, "1.3.132.0.35"),
            (OID_ED25519, "1.3.101.112"),
            (OID_ED448, "1.3.101.113"),
            (OID_DSA, "1.2.840.10040.4.1"),
            (OID_EXT_KEY_USAGE, "2.5.29.37"),
            (OID_ANY_EKU, "2.5.29.37.0"),
        ] {
            assert_eq!(encode_oid(dotted).unwrap(), constant, "{dotted}");
        }
    }

    /// X.690 §10.1: "The definite form of length encoding shall be used, encoded in the minimum
    /// number of octets." This reader refuses what asn1-rs 0.7's DER header parser accepts (a
    /// long-form length below 128, a leading zero length octet) and high tag numbers, which is
    /// why it is not replaced by that crate. (Should the crate's assertions below start failing,
    /// the crate has become strict and the replacement can be reconsidered.)
    #[test]
    fn tlvs_are_read_as_strict_der() {
        assert_eq!(
            read_tlv(&[0x30, 0x01, 0x05]).map(|t| t.value),
            Some(&[0x05][..])
        );
        for non_minimal in [
            &[0x30, 0x81, 0x01, 0x05][..],
            &[0x30, 0x82, 0x00, 0x01, 0x05],
        ] {
            assert!(read_tlv(non_minimal).is_none(), "{non_minimal:02x?}");
            assert!(Header::from_der(non_minimal).is_ok(), "{non_minimal:02x?}");
        }
        let high_tag = [0x1f, 0x81, 0x00, 0x01, 0x05];
        assert!(read_tlv(&high_tag).is_none());
        assert!(Header::from_der(&high_tag).is_ok());
        // Indefinite lengths and lengths past the input are refused by both.
        assert!(read_tlv(&[0x30, 0x80, 0x00, 0x00]).is_none());
        assert!(read_tlv(&[0x30, 0x02, 0x05]).is_none());
    }
}
