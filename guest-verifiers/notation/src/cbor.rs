//! A small CBOR (RFC 8949) decoder for COSE envelopes: definite-length items only (COSE
//! messages are deterministically encoded), bounded nesting, no trailing bytes.

/// A decoded CBOR data item.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Major type 0: an unsigned integer.
    Uint(u64),
    /// Major type 1: the negative integer `-1 - n`, holding `n`.
    Nint(u64),
    /// Major type 2: a byte string.
    Bytes(Vec<u8>),
    /// Major type 3: a text string.
    Text(String),
    /// Major type 4: an array.
    Array(Vec<Value>),
    /// Major type 5: a map, in encoded order.
    Map(Vec<(Value, Value)>),
    /// Major type 6: a tagged item.
    Tag(u64, Box<Value>),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `undefined`.
    Undefined,
    /// A half, single or double precision float.
    Float(f64),
}

impl Value {
    /// The value as an `i64` when it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Uint(n) => i64::try_from(n).ok(),
            Value::Nint(n) => i64::try_from(n).ok().map(|n| -1 - n),
            _ => None,
        }
    }

    /// A short description of the item's type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Uint(_) | Value::Nint(_) => "an integer",
            Value::Bytes(_) => "a byte string",
            Value::Text(_) => "a text string",
            Value::Array(_) => "an array",
            Value::Map(_) => "a map",
            Value::Tag(..) => "a tagged item",
            Value::Bool(_) => "a boolean",
            Value::Null => "null",
            Value::Undefined => "undefined",
            Value::Float(_) => "a float",
        }
    }
}

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 16;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                format!(
                    "CBOR is truncated: {n} bytes needed at offset {}, {} left",
                    self.pos,
                    self.data.len() - self.pos
                )
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Reads an item head: (major type, additional info, argument).
    fn head(&mut self) -> Result<(u8, u8, u64), String> {
        let at = self.pos;
        let b = self.take(1)?[0];
        let (major, info) = (b >> 5, b & 0x1f);
        let arg = match info {
            0..=23 => u64::from(info),
            24 => self.uint(1)?,
            25 => self.uint(2)?,
            26 => self.uint(4)?,
            27 => self.uint(8)?,
            31 => {
                return Err(format!(
                    "indefinite-length CBOR item at offset {at} (COSE envelopes use definite lengths)"
                ));
            }
            _ => {
                return Err(format!(
                    "reserved CBOR additional info {info} at offset {at}"
                ));
            }
        };
        Ok((major, info, arg))
    }

    fn len(&self, arg: u64) -> Result<usize, String> {
        usize::try_from(arg)
            .ok()
            .filter(|&n| n <= self.data.len() - self.pos)
            .ok_or_else(|| {
                format!(
                    "CBOR is truncated: a length of {arg} at offset {} exceeds the {} bytes left",
                    self.pos,
                    self.data.len() - self.pos
                )
            })
    }

    fn item(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("CBOR nests deeper than {MAX_DEPTH} levels"));
        }
        let (major, info, arg) = self.head()?;
        Ok(match major {
            0 => Value::Uint(arg),
            1 => Value::Nint(arg),
            2 => {
                let n = self.len(arg)?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            3 => {
                let n = self.len(arg)?;
                let at = self.pos;
                let s = std::str::from_utf8(self.take(n)?)
                    .map_err(|_| format!("CBOR text string at offset {at} is not UTF-8"))?;
                Value::Text(s.to_owned())
            }
            4 => {
                // Each element takes at least one byte: the length bound also bounds memory.
                let n = self.len(arg)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.item(depth + 1)?);
                }
                Value::Array(items)
            }
            5 => {
                let n = self.len(arg.saturating_mul(2))? / 2;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.item(depth + 1)?;
                    let v = self.item(depth + 1)?;
                    entries.push((k, v));
                }
                Value::Map(entries)
            }
            6 => Value::Tag(arg, Box::new(self.item(depth + 1)?)),
            _ => match (info, arg) {
                (20, _) => Value::Bool(false),
                (21, _) => Value::Bool(true),
                (22, _) => Value::Null,
                (23, _) => Value::Undefined,
                (25, h) => Value::Float(f16_to_f64(h as u16)),
                (26, s) => Value::Float(f64::from(f32::from_bits(s as u32))),
                (27, d) => Value::Float(f64::from_bits(d)),
                _ => return Err(format!("unsupported CBOR simple value {arg}")),
            },
        })
    }
}

fn f16_to_f64(h: u16) -> f64 {
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f64::from(h & 0x3ff);
    let v = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
    };
    if h & 0x8000 != 0 { -v } else { v }
}

/// Decodes exactly one CBOR item from `data`.
pub fn decode(data: &[u8]) -> Result<Value, String> {
    let mut r = Reader { data, pos: 0 };
    let v = r.item(0)?;
    if r.pos != data.len() {
        return Err(format!(
            "{} trailing bytes after the CBOR item",
            data.len() - r.pos
        ));
    }
    Ok(v)
}

/// Appends the head of an item of `major` type with argument `n` (shortest form).
pub fn write_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends a byte string.
pub fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_rfc_8949_examples() {
        let cases: Vec<(&[u8], Value)> = vec![
            (&[0x00], Value::Uint(0)),
            (&[0x18, 0x64], Value::Uint(100)),
            (
                &[0x1b, 0, 0, 0, 0xe8, 0xd4, 0xa5, 0x10, 0],
                Value::Uint(1_000_000_000_000),
            ),
            (&[0x38, 0x63], Value::Nint(99)),
            (&[0x44, 1, 2, 3, 4], Value::Bytes(vec![1, 2, 3, 4])),
            (&[0x62, 0xc3, 0xbc], Value::Text("\u{fc}".into())),
            (&[0xf9, 0x3c, 0x00], Value::Float(1.0)),
            (&[0xf9, 0xc4, 0x00], Value::Float(-4.0)),
            (&[0xfa, 0x47, 0xc3, 0x50, 0x00], Value::Float(100000.0)),
            (
                &[0xfb, 0x3f, 0xf1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a],
                Value::Float(1.1),
            ),
            (&[0xf5], Value::Bool(true)),
            (&[0xf6], Value::Null),
            (
                &[0xc1, 0x1a, 0x51, 0x4b, 0x67, 0xb0],
                Value::Tag(1, Box::new(Value::Uint(1_363_896_240))),
            ),
            (
                &[0x82, 0x01, 0x82, 0x02, 0x03],
                Value::Array(vec![
                    Value::Uint(1),
                    Value::Array(vec![Value::Uint(2), Value::Uint(3)]),
                ]),
            ),
            (
                &[0xa2, 0x61, 0x61, 0x01, 0x20, 0x02],
                Value::Map(vec![
                    (Value::Text("a".into()), Value::Uint(1)),
                    (Value::Nint(0), Value::Uint(2)),
                ]),
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(decode(bytes), Ok(expected), "{bytes:02x?}");
        }
        assert_eq!(Value::Nint(99).as_i64(), Some(-100));
        assert_eq!(Value::Uint(u64::MAX).as_i64(), None);
    }

    #[test]
    fn rejects_malformed_input_with_a_reason() {
        let cases: Vec<(&[u8], &str)> = vec![
            (&[], "truncated"),
            (&[0x44, 1, 2], "truncated"),
            (&[0x19, 0x01], "truncated"),
            (
                &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                "truncated",
            ),
            (
                &[0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                "truncated",
            ),
            (&[0x82, 0x01], "truncated"),
            (&[0x5f, 0x41, 0x00, 0xff], "indefinite-length"),
            (&[0x1c], "reserved"),
            (&[0x62, 0xff, 0xfe], "not UTF-8"),
            (&[0x01, 0x02], "1 trailing bytes"),
            (&[0xf8, 0x20], "simple value"),
        ];
        for (bytes, text) in cases {
            let e = decode(bytes).unwrap_err();
            assert!(e.contains(text), "{bytes:02x?}: {e:?} lacks {text:?}");
        }
        let deep = [0x81u8; 40];
        assert!(decode(&deep).unwrap_err().contains("deeper"));
    }

    #[test]
    fn writes_shortest_heads() {
        for (n, expected) in [
            (0u64, vec![0x40]),
            (23, vec![0x57]),
            (24, vec![0x58, 24]),
            (256, vec![0x59, 1, 0]),
            (70_000, vec![0x5a, 0, 1, 0x11, 0x70]),
            (1 << 32, vec![0x5b, 0, 0, 0, 1, 0, 0, 0, 0]),
        ] {
            let mut out = Vec::new();
            write_head(&mut out, 2, n);
            assert_eq!(out, expected, "{n}");
        }
        let mut out = Vec::new();
        write_bytes(&mut out, b"ab");
        assert_eq!(decode(&out), Ok(Value::Bytes(b"ab".to_vec())));
    }
}
