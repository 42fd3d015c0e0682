//! A minimal DER reader (structure sniffing and key extraction on the hot path) and the OID codec.

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

// OID content bytes.
pub(super) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub(super) const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
pub(super) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(super) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub(super) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
pub(super) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
pub(super) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
pub(super) const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];
pub(super) const OID_DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
pub(super) const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
pub(super) const OID_ANY_EKU: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
