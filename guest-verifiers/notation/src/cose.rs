//! The notation COSE envelope (`application/cose`): a tagged `COSE_Sign1` (RFC 9052, tag 18) as
//! the Notary Project's signature-envelope-cose specification defines it.
//!
//! Protected header: `alg` (1), `crit` (2), content type (3) =
//! `application/vnd.cncf.notary.payload.v1+json`, `io.cncf.notary.signingScheme`, and
//! `io.cncf.notary.signingTime` / `io.cncf.notary.authenticSigningTime` / `io.cncf.notary.expiry`
//! as tag-1 epoch date-times. Unprotected header: `x5chain` (33), `io.cncf.notary.signingAgent`,
//! `io.cncf.notary.timestampSignature` (an RFC 3161 token). The signature covers the
//! `Sig_structure` `["Signature1", protected, h'', payload]`. ECDSA signatures are fixed-width
//! `r || s`. Parsing yields the same [`Envelope`] as the JWS parser.

use crate::cbor::{self, Value};
use crate::envelope::{
    self, AUTHENTIC_SIGNING_TIME, Alg, EXPIRY, Envelope, EnvelopeError, MAX_CHAIN,
    PAYLOAD_CONTENT_TYPE, SIGNING_SCHEME, SIGNING_TIME,
};
use crate::time::format_rfc3339;

/// CBOR tag of `COSE_Sign1`.
const COSE_SIGN1_TAG: u64 = 18;
/// Header label `alg`.
const ALG: i64 = 1;
/// Header label `crit`.
const CRIT: i64 = 2;
/// Header label `content type`.
const CONTENT_TYPE: i64 = 3;
/// Header label `x5chain`.
const X5CHAIN: i64 = 33;
/// Signing agent (unprotected).
const SIGNING_AGENT: &str = "io.cncf.notary.signingAgent";
/// The RFC 3161 timestamp countersignature (unprotected).
const TIMESTAMP_SIGNATURE: &str = "io.cncf.notary.timestampSignature";

fn invalid<T>(msg: impl Into<String>) -> Result<T, EnvelopeError> {
    Err(EnvelopeError::Invalid(msg.into()))
}

/// A header map: labels are integers or text.
#[derive(Debug)]
struct Headers {
    entries: Vec<(Label, Value)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Label {
    Int(i64),
    Text(String),
}

impl Headers {
    fn parse(v: Value, what: &str) -> Result<Headers, EnvelopeError> {
        let Value::Map(pairs) = v else {
            return invalid(format!("the {what} header is {}, not a map", v.kind()));
        };
        let mut entries: Vec<(Label, Value)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let label = match k {
                Value::Text(t) => Label::Text(t),
                other => match other.as_i64() {
                    Some(n) => Label::Int(n),
                    None => {
                        return invalid(format!(
                            "the {what} header has a label that is {}",
                            other.kind()
                        ));
                    }
                },
            };
            if entries.iter().any(|(l, _)| *l == label) {
                return invalid(format!("the {what} header has label {label:?} twice"));
            }
            entries.push((label, v));
        }
        Ok(Headers { entries })
    }

    fn get(&self, label: &Label) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v)
    }

    fn int(&self, n: i64) -> Option<&Value> {
        self.get(&Label::Int(n))
    }

    fn text(&self, name: &str) -> Option<&Value> {
        self.get(&Label::Text(name.to_owned()))
    }

    fn text_value(&self, name: &str, what: &str) -> Result<Option<&str>, EnvelopeError> {
        match self.text(name) {
            None => Ok(None),
            Some(Value::Text(t)) => Ok(Some(t)),
            Some(v) => invalid(format!("{what} header {name} is {}, not text", v.kind())),
        }
    }

    /// A tag-1 epoch date-time, Unix seconds (fractions truncated toward the past).
    fn time(&self, name: &str) -> Result<Option<(i64, String)>, EnvelopeError> {
        let Some(v) = self.text(name) else {
            return Ok(None);
        };
        let secs = match v {
            Value::Tag(1, inner) => match **inner {
                Value::Float(f) if f.is_finite() && f.abs() < 1e15 => Some(f.floor() as i64),
                ref n => n.as_i64(),
            },
            _ => None,
        };
        let t = secs.ok_or_else(|| {
            EnvelopeError::Invalid(format!(
                "protected header {name} is not a CBOR tag-1 epoch date-time"
            ))
        })?;
        Ok(Some((t, format_rfc3339(t))))
    }
}

fn alg(v: Option<&Value>) -> Result<Alg, EnvelopeError> {
    match v.and_then(Value::as_i64) {
        Some(-37) => Ok(Alg::Ps256),
        Some(-38) => Ok(Alg::Ps384),
        Some(-39) => Ok(Alg::Ps512),
        Some(-7) => Ok(Alg::Es256),
        Some(-35) => Ok(Alg::Es384),
        Some(-36) => Err(EnvelopeError::Unsupported(
            "alg -36 (ES512, ECDSA P-521) is not supported by the host's crypto".into(),
        )),
        Some(n) => invalid(format!(
            "protected header: alg {n} is not a notation algorithm (PS256 -37, PS384 -38, PS512 -39, ES256 -7, ES384 -35, ES512 -36)"
        )),
        None => invalid("protected header has no integer alg (label 1)"),
    }
}

/// Parses a notation COSE envelope.
pub fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let value = cbor::decode(bytes)
        .map_err(|e| EnvelopeError::Invalid(format!("envelope is not valid CBOR: {e}")))?;
    let items = match value {
        Value::Tag(COSE_SIGN1_TAG, inner) => match *inner {
            Value::Array(items) => items,
            other => return invalid(format!("COSE_Sign1 is {}, not an array", other.kind())),
        },
        Value::Tag(t, _) => {
            return invalid(format!(
                "envelope has CBOR tag {t}, not COSE_Sign1 ({COSE_SIGN1_TAG})"
            ));
        }
        other => {
            return invalid(format!(
                "envelope is {}, not a tagged COSE_Sign1 (tag {COSE_SIGN1_TAG})",
                other.kind()
            ));
        }
    };
    let [protected_raw, unprotected, payload, signature]: [Value; 4] =
        items.try_into().map_err(|items: Vec<Value>| {
            EnvelopeError::Invalid(format!(
                "COSE_Sign1 has {} elements, not 4 (protected, unprotected, payload, signature)",
                items.len()
            ))
        })?;
    let Value::Bytes(protected_raw) = protected_raw else {
        return invalid("COSE_Sign1 protected header is not a byte string");
    };
    let Value::Bytes(payload) = payload else {
        return invalid(
            "COSE_Sign1 payload is not a byte string (detached payloads are not used by notation)",
        );
    };
    let Value::Bytes(signature) = signature else {
        return invalid("COSE_Sign1 signature is not a byte string");
    };
    let protected = Headers::parse(
        cbor::decode(&protected_raw).map_err(|e| {
            EnvelopeError::Invalid(format!("protected header is not valid CBOR: {e}"))
        })?,
        "protected",
    )?;
    let unprotected = Headers::parse(unprotected, "unprotected")?;
    if let Some((l, _)) = unprotected
        .entries
        .iter()
        .find(|(l, _)| protected.get(l).is_some())
    {
        return invalid(format!(
            "header label {l:?} is in both the protected and the unprotected header"
        ));
    }

    let alg = alg(protected.int(ALG))?;
    match protected.int(CONTENT_TYPE) {
        Some(Value::Text(t)) if t == PAYLOAD_CONTENT_TYPE => {}
        Some(other) => {
            return invalid(format!(
                "protected header: content type {other:?} is not {PAYLOAD_CONTENT_TYPE:?}"
            ));
        }
        None => return invalid("protected header has no content type (label 3)"),
    }
    let scheme = envelope::parse_scheme(protected.text_value(SIGNING_SCHEME, "protected")?)?;
    // Integer labels listed as critical are not understood (notation defines text labels only).
    let mut unknown_labels = Vec::new();
    let crit: Vec<&str> = match protected.int(CRIT) {
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut names = Vec::new();
            for v in items {
                match v {
                    Value::Text(t) => names.push(t.as_str()),
                    other => match other.as_i64() {
                        Some(n) => unknown_labels.push(format!("label {n}")),
                        None => {
                            return invalid(format!(
                                "protected header: crit entry is {}",
                                other.kind()
                            ));
                        }
                    },
                }
            }
            names
        }
        Some(_) => return invalid("protected header: crit must be a non-empty array of labels"),
        None => return invalid("protected header has no crit (label 2)"),
    };
    let mut unknown_critical =
        envelope::check_crit(&crit, &|name| protected.text(name).is_some(), scheme)?;
    unknown_critical.extend(unknown_labels);
    let requires = envelope::Requirements::new(
        protected.text_value(envelope::VERIFICATION_PLUGIN, "protected")?,
        protected.text_value(envelope::VERIFICATION_PLUGIN_MIN_VERSION, "protected")?,
        unknown_critical,
    );
    let expiry = protected.time(EXPIRY)?.map(|(t, _)| t);
    let (signing_time, signing_time_text) = envelope::resolve_times(
        scheme,
        protected.time(SIGNING_TIME)?,
        protected.time(AUTHENTIC_SIGNING_TIME)?,
        expiry,
    )?;

    let chain = match unprotected.int(X5CHAIN).or_else(|| protected.int(X5CHAIN)) {
        Some(Value::Bytes(cert)) => vec![cert.clone()],
        Some(Value::Array(items)) if !items.is_empty() => {
            if items.len() > MAX_CHAIN {
                return invalid(format!(
                    "x5chain has {} certificates, more than {MAX_CHAIN}",
                    items.len()
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Bytes(b) => Ok(b.clone()),
                    other => invalid(format!(
                        "x5chain[{i}] is {}, not a byte string",
                        other.kind()
                    )),
                })
                .collect::<Result<_, _>>()?
        }
        Some(_) => return invalid("x5chain must be a certificate or a non-empty array of them"),
        None => return invalid("unprotected header has no x5chain (label 33) certificate chain"),
    };
    let signing_agent = unprotected
        .text_value(SIGNING_AGENT, "unprotected")?
        .map(str::to_owned);
    let timestamp = match unprotected.text(TIMESTAMP_SIGNATURE) {
        None => None,
        Some(Value::Bytes(b)) => Some(b.clone()),
        Some(v) => {
            return invalid(format!(
                "unprotected header {TIMESTAMP_SIGNATURE} is {}, not a byte string",
                v.kind()
            ));
        }
    };

    Ok(Envelope {
        signing_input: sig_structure(&protected_raw, &payload),
        signature,
        payload,
        alg,
        scheme,
        signing_time,
        signing_time_text,
        expiry,
        chain,
        signing_agent,
        timestamp,
        requires,
    })
}

/// The `Sig_structure` of a `COSE_Sign1`: `["Signature1", protected, h'', payload]`.
pub fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 24);
    cbor::write_head(&mut out, 4, 4);
    cbor::write_head(&mut out, 3, 10);
    out.extend_from_slice(b"Signature1");
    cbor::write_bytes(&mut out, protected);
    cbor::write_bytes(&mut out, &[]);
    cbor::write_bytes(&mut out, payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Scheme;

    /// A tiny CBOR writer for test envelopes.
    #[derive(Clone)]
    enum C {
        I(i64),
        T(&'static str),
        B(Vec<u8>),
        A(Vec<C>),
        M(Vec<(C, C)>),
        Tag(u64, Box<C>),
    }

    fn enc(c: &C, out: &mut Vec<u8>) {
        match c {
            C::I(n) if *n >= 0 => cbor::write_head(out, 0, *n as u64),
            C::I(n) => cbor::write_head(out, 1, (-1 - *n) as u64),
            C::T(t) => {
                cbor::write_head(out, 3, t.len() as u64);
                out.extend_from_slice(t.as_bytes());
            }
            C::B(b) => cbor::write_bytes(out, b),
            C::A(items) => {
                cbor::write_head(out, 4, items.len() as u64);
                items.iter().for_each(|i| enc(i, out));
            }
            C::M(pairs) => {
                cbor::write_head(out, 5, pairs.len() as u64);
                for (k, v) in pairs {
                    enc(k, out);
                    enc(v, out);
                }
            }
            C::Tag(t, inner) => {
                cbor::write_head(out, 6, *t);
                enc(inner, out);
            }
        }
    }

    fn bytes(c: &C) -> Vec<u8> {
        let mut out = Vec::new();
        enc(c, &mut out);
        out
    }

    fn protected(extra: Vec<(C, C)>, crit: Vec<C>) -> Vec<(C, C)> {
        let mut p = vec![
            (C::I(1), C::I(-7)),
            (C::I(2), C::A(crit)),
            (C::I(3), C::T(PAYLOAD_CONTENT_TYPE)),
            (C::T(SIGNING_SCHEME), C::T("notary.x509")),
            (C::T(SIGNING_TIME), C::Tag(1, Box::new(C::I(1_704_067_200)))),
        ];
        p.extend(extra);
        p
    }

    fn sign1(p: Vec<(C, C)>, unprotected: Vec<(C, C)>) -> Vec<u8> {
        bytes(&C::Tag(
            18,
            Box::new(C::A(vec![
                C::B(bytes(&C::M(p))),
                C::M(unprotected),
                C::B(b"{}".to_vec()),
                C::B(vec![9; 64]),
            ])),
        ))
    }

    fn chain() -> Vec<(C, C)> {
        vec![(C::I(33), C::A(vec![C::B(vec![1, 2]), C::B(vec![3])]))]
    }

    fn crit() -> Vec<C> {
        vec![C::T(SIGNING_SCHEME)]
    }

    fn invalid_msg(b: &[u8]) -> String {
        match parse(b) {
            Err(EnvelopeError::Invalid(m)) => m,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_valid_sign1() {
        let mut u = chain();
        u.push((C::T(SIGNING_AGENT), C::T("agent/1")));
        u.push((C::T(TIMESTAMP_SIGNATURE), C::B(vec![0x30, 0])));
        let p = protected(
            vec![(C::T(EXPIRY), C::Tag(1, Box::new(C::I(1_735_689_600))))],
            vec![C::T(SIGNING_SCHEME), C::T(EXPIRY)],
        );
        let protected_bytes = bytes(&C::M(protected(
            vec![(C::T(EXPIRY), C::Tag(1, Box::new(C::I(1_735_689_600))))],
            vec![C::T(SIGNING_SCHEME), C::T(EXPIRY)],
        )));
        let e = parse(&sign1(p, u)).unwrap();
        assert_eq!(e.alg, Alg::Es256);
        assert_eq!(e.scheme, Scheme::X509);
        assert_eq!(e.signing_time, 1_704_067_200);
        assert_eq!(e.signing_time_text, "2024-01-01T00:00:00Z");
        assert_eq!(e.expiry, Some(1_735_689_600));
        assert_eq!(e.chain, vec![vec![1, 2], vec![3]]);
        assert_eq!(e.signing_agent.as_deref(), Some("agent/1"));
        assert_eq!(e.timestamp, Some(vec![0x30, 0]));
        assert_eq!(e.payload, b"{}");
        assert_eq!(e.signing_input, sig_structure(&protected_bytes, b"{}"));
        // 0x84 array(4), 0x6a text(10) "Signature1", then the protected bstr.
        assert_eq!(&e.signing_input[..12], b"\x84\x6aSignature1");
    }

    /// signature-specification.md: "if the verifier encounters a critical attribute it does not
    /// understand, it MUST fail"; notation-go refuses it (and a required verification plugin)
    /// after the integrity validation, so the parser records them and the chain is still
    /// required first.
    #[test]
    fn critical_requirements_are_recorded_not_refused_by_the_parser() {
        let p = protected(
            vec![
                (C::T("com.example.x"), C::I(1)),
                (
                    C::T(envelope::VERIFICATION_PLUGIN),
                    C::T("com.example.plugin"),
                ),
            ],
            vec![
                C::T(SIGNING_SCHEME),
                C::T("com.example.x"),
                C::I(7),
                C::T(envelope::VERIFICATION_PLUGIN),
            ],
        );
        let e = parse(&sign1(p.clone(), chain())).unwrap();
        assert_eq!(e.requires.unknown_critical, ["com.example.x", "label 7"]);
        assert_eq!(
            e.requires.plugin,
            Some(("com.example.plugin".to_owned(), None))
        );
        assert!(invalid_msg(&sign1(p, vec![])).contains("no x5chain"));
    }

    #[test]
    fn rejects_non_conforming_envelopes() {
        let ok = || protected(vec![], crit());
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (sign1(ok(), chain())[..20].to_vec(), "truncated"),
            (bytes(&C::A(vec![])), "not a tagged COSE_Sign1"),
            (bytes(&C::Tag(98, Box::new(C::A(vec![])))), "tag 98"),
            (
                bytes(&C::Tag(18, Box::new(C::A(vec![C::I(1)])))),
                "1 elements",
            ),
            (sign1(ok(), vec![]), "no x5chain"),
            (
                sign1(protected(vec![], vec![]), chain()),
                "crit must be a non-empty array",
            ),
            (
                sign1(
                    protected(vec![(C::T(EXPIRY), C::Tag(1, Box::new(C::I(1))))], crit()),
                    chain(),
                ),
                "not listed in crit",
            ),
            (
                sign1(
                    protected(
                        vec![(C::T(EXPIRY), C::T("2025-01-01T00:00:00Z"))],
                        vec![C::T(SIGNING_SCHEME), C::T(EXPIRY)],
                    ),
                    chain(),
                ),
                "tag-1 epoch date-time",
            ),
            (
                sign1(ok(), vec![(C::I(33), C::A(vec![C::T("x")]))]),
                "x5chain[0] is a text string",
            ),
            (
                sign1(ok(), {
                    let mut u = chain();
                    u.push((C::I(3), C::T("x")));
                    u
                }),
                "in both the protected and the unprotected",
            ),
            (
                sign1(ok(), {
                    let mut u = chain();
                    u.push((C::T(TIMESTAMP_SIGNATURE), C::T("x")));
                    u
                }),
                "not a byte string",
            ),
        ];
        for (b, text) in cases {
            let m = invalid_msg(&b);
            assert!(m.contains(text), "{m:?} lacks {text:?}");
        }
        let mut p = ok();
        p[0].1 = C::I(-36);
        assert!(matches!(
            parse(&sign1(p, chain())),
            Err(EnvelopeError::Unsupported(_))
        ));
        let mut p = ok();
        p[0].1 = C::I(-8);
        assert!(invalid_msg(&sign1(p, chain())).contains("alg -8"));
        let mut p = ok();
        p[2].1 = C::T("application/json");
        assert!(invalid_msg(&sign1(p, chain())).contains("content type"));
    }
}
