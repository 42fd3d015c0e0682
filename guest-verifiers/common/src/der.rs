//! A small DER reader for X.509 certificates, CMS `SignedData` (RFC 3161 timestamp tokens) and
//! the like. It reads definite-length TLVs with single-byte tags (all CMS and X.509 use) and hands
//! out borrowed slices; interpretation is left to the caller. Malformed input is an error, never
//! a panic.

/// Universal tag: BOOLEAN.
pub const BOOLEAN: u8 = 0x01;
/// Universal tag: INTEGER.
pub const INTEGER: u8 = 0x02;
/// Universal tag: OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// Universal tag: OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// Universal tag: BIT STRING.
pub const BIT_STRING: u8 = 0x03;
/// Universal tag: UTF8String.
pub const UTF8_STRING: u8 = 0x0c;
/// Universal tag: GeneralizedTime.
pub const GENERALIZED_TIME: u8 = 0x18;
/// Universal constructed tag: SEQUENCE.
pub const SEQUENCE: u8 = 0x30;
/// Universal constructed tag: SET.
pub const SET: u8 = 0x31;

/// Context-specific tag `[n]`, constructed.
pub const fn context(n: u8) -> u8 {
    0xa0 | n
}

/// Context-specific tag `[n]`, primitive.
pub const fn context_primitive(n: u8) -> u8 {
    0x80 | n
}

/// One TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag byte.
    pub tag: u8,
    /// The value bytes.
    pub value: &'a [u8],
    /// The whole encoding (tag, length and value).
    pub raw: &'a [u8],
}

/// A cursor over consecutive TLVs.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The tag of the next TLV, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Reads the next TLV, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, String> {
        let start = self.pos;
        let rest = &self.data[start..];
        let (&tag, after) = rest
            .split_first()
            .ok_or_else(|| "DER is truncated: expected another element".to_owned())?;
        if tag & 0x1f == 0x1f {
            return Err(format!(
                "DER multi-byte tag at offset {start} is not supported"
            ));
        }
        let (&first, after) = after
            .split_first()
            .ok_or_else(|| format!("DER is truncated: no length at offset {}", start + 1))?;
        let (len, after) = if first < 0x80 {
            (usize::from(first), after)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return Err(format!(
                    "indefinite DER length at offset {} (BER is not accepted)",
                    start + 1
                ));
            }
            if n > 4 || after.len() < n {
                return Err(format!(
                    "DER length at offset {} is truncated or too large",
                    start + 1
                ));
            }
            let len = after[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 || after[0] == 0 {
                return Err(format!("DER length at offset {} is not minimal", start + 1));
            }
            (len, &after[n..])
        };
        if after.len() < len {
            return Err(format!(
                "DER is truncated: element at offset {start} declares {len} bytes, {} remain",
                after.len()
            ));
        }
        let header = rest.len() - after.len();
        self.pos = start + header + len;
        Ok(Tlv {
            tag,
            value: &after[..len],
            raw: &rest[..header + len],
        })
    }

    /// Reads the next TLV, which must have `tag`; `what` names it in the error.
    pub fn expect(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, String> {
        let t = self.any().map_err(|e| format!("{what}: {e}"))?;
        if t.tag != tag {
            return Err(format!(
                "{what}: expected tag 0x{tag:02x}, found 0x{:02x}",
                t.tag
            ));
        }
        Ok(t)
    }

    /// Reads the next TLV if it has `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, String> {
        if self.peek_tag() == Some(tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads a constructed element with `tag` and returns a reader over its contents.
    pub fn nested(&mut self, tag: u8, what: &str) -> Result<Reader<'a>, String> {
        self.expect(tag, what).map(|t| Reader::new(t.value))
    }
}

/// Parses a whole buffer as one TLV with `tag`.
pub fn single<'a>(data: &'a [u8], tag: u8, what: &str) -> Result<Tlv<'a>, String> {
    let mut r = Reader::new(data);
    let t = r.expect(tag, what)?;
    if !r.is_empty() {
        return Err(format!("{what}: trailing bytes after the element"));
    }
    Ok(t)
}

/// Formats the content of an OBJECT IDENTIFIER in dotted form.
///
/// On every certificate extension of every verification: the digits are written straight into
/// the one output buffer (a `format!` per arc was ~3% of a notation verification's guest time).
pub fn oid_string(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len() * 3 + 2);
    let mut acc: u64 = 0;
    for &b in value {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if out.is_empty() {
                let first = (acc / 40).min(2);
                push_decimal(&mut out, first);
                out.push('.');
                push_decimal(&mut out, acc - first * 40);
            } else {
                out.push('.');
                push_decimal(&mut out, acc);
            }
            acc = 0;
        }
    }
    out
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

/// Parses a DER GeneralizedTime (`YYYYMMDDHHMMSS[.f*]Z`) into Unix seconds (fraction dropped).
pub fn generalized_time(value: &[u8]) -> Result<i64, String> {
    let s = std::str::from_utf8(value).map_err(|_| "GeneralizedTime is not ASCII".to_owned())?;
    let bad = || format!("GeneralizedTime {s:?} is not YYYYMMDDHHMMSS[.fff]Z");
    if s.len() < 15 || !s.ends_with('Z') || !s.as_bytes()[..14].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let frac = &s[14..s.len() - 1];
    let frac_ok = match frac.strip_prefix('.') {
        None => frac.is_empty(),
        Some(digits) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
    };
    if !frac_ok {
        return Err(bad());
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14]
    );
    crate::time::parse_rfc3339(&rfc).map_err(|_| bad())
}

/// The minimal unsigned big-endian value of an INTEGER's content (leading zero octets removed).
pub fn unsigned(value: &[u8]) -> &[u8] {
    let first = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    &value[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_tlvs_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend_from_slice(&[7; 128]);
        let mut data = vec![0x30, 0x81, 0x86, 0x02, 0x01, 0x05];
        data.extend_from_slice(&long);
        let outer = single(&data, SEQUENCE, "outer").unwrap();
        assert_eq!(outer.raw, &data[..]);
        let mut r = Reader::new(outer.value);
        assert_eq!(r.expect(INTEGER, "int").unwrap().value, &[5]);
        assert_eq!(r.optional(BOOLEAN).unwrap(), None);
        let os = r.expect(OCTET_STRING, "os").unwrap();
        assert_eq!(os.value.len(), 128);
        assert_eq!(os.raw, &long[..]);
        assert!(r.is_empty());
    }

    #[test]
    fn rejects_non_der() {
        for (bytes, text) in [
            (&[0x30, 0x80, 0x00, 0x00][..], "indefinite"),
            (&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5], "not minimal"),
            (&[0x04, 0x05, 1, 2], "truncated"),
            (&[0x1f, 0x01, 0x00], "multi-byte tag"),
            (&[0x04], "no length"),
            (&[0x04, 0x85, 1, 1, 1, 1, 1], "too large"),
            (&[0x04, 0x82, 0x01], "truncated or too large"),
            (&[0x04, 0x81, 0x80], "declares 128 bytes, 0 remain"),
        ] {
            let e = Reader::new(bytes).any().unwrap_err();
            assert!(e.contains(text), "{bytes:02x?}: {e}");
        }
        assert!(
            single(&[0x02, 0x01, 0x00, 0x00], INTEGER, "x")
                .unwrap_err()
                .contains("trailing")
        );
        assert!(
            single(&[0x02, 0x01, 0x00], SEQUENCE, "x")
                .unwrap_err()
                .contains("expected tag 0x30")
        );
    }

    #[test]
    fn decodes_oids_times_and_integers() {
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]),
            "1.2.840.113549.1.7.2"
        );
        assert_eq!(
            oid_string(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]),
            "2.16.840.1.101.3.4.2.1"
        );
        // Arcs of every width: 0, one digit, the two-digit first-byte split, a 64-bit arc.
        assert_eq!(oid_string(&[0x00]), "0.0");
        assert_eq!(oid_string(&[0x28, 0x00, 0x09]), "1.0.0.9");
        assert_eq!(oid_string(&[0x88, 0x37, 0x0a]), "2.999.10");
        assert_eq!(
            oid_string(&[
                0x2b, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f
            ]),
            "1.3.18446744073709551615"
        );
        assert_eq!(oid_string(&[]), "");
        assert_eq!(generalized_time(b"20240229123456Z"), Ok(1_709_210_096));
        assert_eq!(generalized_time(b"20240229123456.789Z"), Ok(1_709_210_096));
        for bad in [
            &b"20240229123456"[..],
            b"2024022912345Z",
            b"20240229123456.Z",
            b"20241329123456Z",
            b"20240229123456X",
            b"2024022912345aZ",
            b"2024Z",
        ] {
            assert!(generalized_time(bad).is_err(), "{bad:?}");
        }
        assert_eq!(unsigned(&[0, 0, 0x80, 1]), &[0x80, 1]);
    }

    /// X.690 §8.1.2: a context-specific tag has class bits `10`, bit 6 set when constructed.
    #[test]
    fn context_tags() {
        assert_eq!((context(0), context(3)), (0xa0, 0xa3));
        assert_eq!((context_primitive(0), context_primitive(1)), (0x80, 0x81));
    }

    /// X.690 §8.1.3.5: the long form takes up to 4 length octets here (16 MiB and more).
    #[test]
    fn four_length_octets_are_read() {
        let len = 1usize << 24;
        let mut data = vec![0x04, 0x84, 0x01, 0x00, 0x00, 0x00];
        data.resize(data.len() + len, 0);
        let t = Reader::new(&data).any().unwrap();
        assert_eq!(t.value.len(), len);
    }
}
