//! The notation JWS envelope (`application/jose+json`): JWS JSON Serialization, flattened, as the
//! Notary Project's signature-envelope-jws specification defines it. Parsing validates the
//! structure and the protected header; the signature itself is checked by the caller on the host.
//!
//! The [`Envelope`] it produces, the algorithms, the signing schemes and the `crit` and signing
//! time rules are shared with the COSE envelope ([`crate::cose`]).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use crate::time::parse_rfc3339;
use crate::verify::{SigAlg, SigEncoding};

/// Media type of the signed payload.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// The signing scheme header.
pub const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
/// Signing time claimed by the signer (`notary.x509`).
pub const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
/// Signing time asserted by a signing authority (`notary.x509.signingAuthority`).
pub const AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
/// Expiry of the signature.
pub const EXPIRY: &str = "io.cncf.notary.expiry";
/// The RFC 3161 timestamp countersignature in the unprotected header (signature-envelope-jws.md:
/// "`io.cncf.notary.timestampSignature` (*string*): This OPTIONAL header is used to store
/// countersignature that provides authentic signing time", base64 of the `TimeStampToken`).
pub const TIMESTAMP_SIGNATURE: &str = "io.cncf.notary.timestampSignature";
/// The verification plugin a signature requires (signature-specification.md).
pub const VERIFICATION_PLUGIN: &str = "io.cncf.notary.verificationPlugin";
/// The minimum version of that plugin.
pub const VERIFICATION_PLUGIN_MIN_VERSION: &str = "io.cncf.notary.verificationPluginMinVersion";
/// Verification plugin headers (understood; this verifier runs no plugins).
pub(crate) const PLUGIN_HEADERS: [&str; 2] = [VERIFICATION_PLUGIN, VERIFICATION_PLUGIN_MIN_VERSION];
/// Largest certificate chain accepted in `x5c` / `x5chain`.
pub(crate) const MAX_CHAIN: usize = 10;

/// Signature algorithms of notation JWS envelopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PSS SHA-256.
    Ps256,
    /// RSASSA-PSS SHA-384.
    Ps384,
    /// RSASSA-PSS SHA-512.
    Ps512,
    /// ECDSA P-256 SHA-256 (fixed `r || s`).
    Es256,
    /// ECDSA P-384 SHA-384 (fixed `r || s`).
    Es384,
}

impl Alg {
    /// The host algorithm and signature encoding that verify this envelope algorithm.
    pub fn host_alg(self) -> (SigAlg, SigEncoding) {
        match self {
            Alg::Ps256 => (SigAlg::RsaPssSha256, SigEncoding::Der),
            Alg::Ps384 => (SigAlg::RsaPssSha384, SigEncoding::Der),
            Alg::Ps512 => (SigAlg::RsaPssSha512, SigEncoding::Der),
            Alg::Es256 => (SigAlg::EcdsaP256Sha256, SigEncoding::Fixed),
            Alg::Es384 => (SigAlg::EcdsaP384Sha384, SigEncoding::Fixed),
        }
    }

    fn parse(s: &str) -> Result<Alg, EnvelopeError> {
        match s {
            "PS256" => Ok(Alg::Ps256),
            "PS384" => Ok(Alg::Ps384),
            "PS512" => Ok(Alg::Ps512),
            "ES256" => Ok(Alg::Es256),
            "ES384" => Ok(Alg::Es384),
            "ES512" => Err(EnvelopeError::Unsupported(
                "alg \"ES512\" (ECDSA P-521) is not supported by the host's crypto".into(),
            )),
            other => Err(EnvelopeError::Invalid(format!(
                "protected header: alg {other:?} is not a notation algorithm (PS256, PS384, PS512, ES256, ES384, ES512)"
            ))),
        }
    }
}

/// The signing scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `notary.x509`: the signing time is the signer's claim.
    X509,
    /// `notary.x509.signingAuthority`: the signing time is asserted by the signing authority.
    SigningAuthority,
}

impl Scheme {
    /// The header value.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::X509 => "notary.x509",
            Scheme::SigningAuthority => "notary.x509.signingAuthority",
        }
    }

    /// The trust store type that establishes authenticity for this scheme.
    pub fn store_kind(self) -> &'static str {
        match self {
            Scheme::X509 => "ca",
            Scheme::SigningAuthority => "signingAuthority",
        }
    }
}

/// Why an envelope was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Malformed or non-conforming (`INVALID_ENVELOPE`).
    Invalid(String),
    /// Conforming but uses something this verifier cannot check (`UNSUPPORTED_ENVELOPE`).
    Unsupported(String),
}

/// A parsed, structurally valid envelope.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The bytes the signature covers: `ASCII(protected || "." || payload)` for JWS, the
    /// `Sig_structure` for COSE.
    pub signing_input: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The algorithm.
    pub alg: Alg,
    /// The signing scheme.
    pub scheme: Scheme,
    /// The signing time (claimed or authentic per the scheme), Unix seconds.
    pub signing_time: i64,
    /// The signing time as written in the header.
    pub signing_time_text: String,
    /// Expiry, Unix seconds.
    pub expiry: Option<i64>,
    /// DER certificates, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// `io.cncf.notary.signingAgent`.
    pub signing_agent: Option<String>,
    /// The RFC 3161 timestamp token over [`Envelope::signature`] (the unprotected header
    /// `io.cncf.notary.timestampSignature`, in JWS and COSE alike), verified by the caller.
    pub timestamp: Option<Vec<u8>>,
    /// What the signature requires beyond this verifier; refused after integrity.
    pub requires: Requirements,
}

/// What a signature requires that this verifier cannot provide. notation-go parses such
/// envelopes and refuses them only after the integrity validation (the plugin lookup comes
/// right after it), so they are recorded here and reported by the caller in that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// `io.cncf.notary.verificationPlugin` and `io.cncf.notary.verificationPluginMinVersion`.
    pub plugin: Option<(String, Option<String>)>,
    /// Critical attributes that are neither notation's own nor plugin headers (COSE integer
    /// labels as `label N`).
    pub unknown_critical: Vec<String>,
}

impl Requirements {
    /// From the two plugin headers and the unknown critical names; a minimum version without a
    /// plugin name requires no plugin (notation-go reads the name first).
    pub(crate) fn new(
        plugin: Option<&str>,
        min_version: Option<&str>,
        unknown_critical: Vec<String>,
    ) -> Requirements {
        Requirements {
            plugin: plugin.map(|name| (name.to_owned(), min_version.map(str::to_owned))),
            unknown_critical,
        }
    }
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, EnvelopeError> {
    Err(EnvelopeError::Invalid(msg.into()))
}

fn b64url(field: &str, s: &str) -> Result<Vec<u8>, EnvelopeError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| EnvelopeError::Invalid(format!("{field} is not unpadded base64url: {e}")))
}

fn string_field<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'a str>, EnvelopeError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => invalid(format!("{what} {key} must be a string, got {other}")),
    }
}

/// Parses a notation JWS envelope.
pub fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| EnvelopeError::Invalid(format!("envelope is not JSON: {e}")))?;
    let Value::Object(jws) = value else {
        return invalid("envelope is not a JSON object");
    };
    if jws.contains_key("signatures") {
        return invalid(
            "envelope uses the general JWS JSON serialization (`signatures`); notation uses the flattened one",
        );
    }
    let required = |key: &str| -> Result<&str, EnvelopeError> {
        string_field(&jws, key, "envelope field")?
            .ok_or_else(|| EnvelopeError::Invalid(format!("envelope has no `{key}`")))
    };
    let protected_b64 = required("protected")?;
    let payload_b64 = required("payload")?;
    let signature = b64url("signature", required("signature")?)?;
    let payload = b64url("payload", payload_b64)?;
    let protected_json = b64url("protected", protected_b64)?;
    let protected: Map<String, Value> = match serde_json::from_slice(&protected_json) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return invalid("protected header is not a JSON object"),
        Err(e) => return invalid(format!("protected header is not JSON: {e}")),
    };
    let header = match jws.get("header") {
        Some(Value::Object(m)) => m,
        Some(_) => return invalid("unprotected `header` is not a JSON object"),
        None => return invalid("envelope has no unprotected `header` (it carries x5c)"),
    };
    if let Some(k) = header.keys().find(|k| protected.contains_key(*k)) {
        return invalid(format!(
            "header parameter {k:?} is in both the protected and the unprotected header"
        ));
    }

    let (alg, scheme, signing_time, signing_time_text, expiry, unknown_critical) =
        check_protected(&protected)?;
    let (chain, signing_agent, timestamp) = check_unprotected(header)?;
    let plugin = string_field(&protected, VERIFICATION_PLUGIN, "protected header")?;
    let min_version = string_field(
        &protected,
        VERIFICATION_PLUGIN_MIN_VERSION,
        "protected header",
    )?;
    let requires = Requirements::new(plugin, min_version, unknown_critical);

    let mut signing_input = Vec::with_capacity(protected_b64.len() + 1 + payload_b64.len());
    signing_input.extend_from_slice(protected_b64.as_bytes());
    signing_input.push(b'.');
    signing_input.extend_from_slice(payload_b64.as_bytes());
    Ok(Envelope {
        signing_input,
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

type Protected = (Alg, Scheme, i64, String, Option<i64>, Vec<String>);

fn check_protected(h: &Map<String, Value>) -> Result<Protected, EnvelopeError> {
    let what = "protected header";
    let alg = Alg::parse(
        string_field(h, "alg", what)?
            .ok_or(EnvelopeError::Invalid("protected header has no alg".into()))?,
    )?;
    match string_field(h, "cty", what)? {
        Some(PAYLOAD_CONTENT_TYPE) => {}
        Some(other) => {
            return invalid(format!(
                "protected header: cty {other:?} is not {PAYLOAD_CONTENT_TYPE:?}"
            ));
        }
        None => return invalid("protected header has no cty"),
    }
    let scheme = parse_scheme(string_field(h, SIGNING_SCHEME, what)?)?;

    let crit: Vec<&str> = match h.get("crit") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    EnvelopeError::Invalid(format!(
                        "protected header: crit entry {v} is not a string"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return invalid("protected header: crit must be a non-empty array of header names");
        }
        None => return invalid("protected header has no crit"),
    };
    if let Some(name) = crit
        .iter()
        .find(|n| matches!(**n, "alg" | "cty" | "crit" | "typ" | "kid" | "x5c"))
    {
        return invalid(format!(
            "protected header: crit lists {name:?}, a standard JWS header that must not be marked critical"
        ));
    }
    let unknown_critical = check_crit(&crit, &|name| h.contains_key(name), scheme)?;

    let time = |name: &str| -> Result<Option<(i64, String)>, EnvelopeError> {
        match string_field(h, name, what)? {
            None => Ok(None),
            Some(s) => parse_rfc3339(s)
                .map(|t| Some((t, s.to_owned())))
                .map_err(|e| EnvelopeError::Invalid(format!("protected header {name}: {e}"))),
        }
    };
    let signing = time(SIGNING_TIME)?;
    let authentic = time(AUTHENTIC_SIGNING_TIME)?;
    let expiry = time(EXPIRY)?.map(|(t, _)| t);
    let (signing_time, text) = resolve_times(scheme, signing, authentic, expiry)?;
    Ok((alg, scheme, signing_time, text, expiry, unknown_critical))
}

/// Checks notation's `crit` rules: every listed header is present and listed once; the signing
/// scheme is listed, and the expiry, authentic signing time and plugin headers are listed when
/// present. Returns the listed headers this verifier does not understand (anything but the
/// signing scheme, the expiry, the plugin headers and, under `notary.x509.signingAuthority`,
/// the authentic signing time), which fail the verification after integrity.
pub(crate) fn check_crit(
    crit: &[&str],
    present: &dyn Fn(&str) -> bool,
    scheme: Scheme,
) -> Result<Vec<String>, EnvelopeError> {
    let mut unknown = Vec::new();
    let mut seen = Vec::new();
    for &name in crit {
        if seen.contains(&name) {
            return invalid(format!("protected header: crit lists {name:?} twice"));
        }
        seen.push(name);
        if !present(name) {
            return invalid(format!(
                "protected header: {name:?} is marked critical but is not present"
            ));
        }
        let known = name == SIGNING_SCHEME
            || name == EXPIRY
            || PLUGIN_HEADERS.contains(&name)
            || (name == AUTHENTIC_SIGNING_TIME && scheme == Scheme::SigningAuthority);
        if !known {
            unknown.push(name.to_owned());
        }
    }
    if !crit.contains(&SIGNING_SCHEME) {
        return invalid(format!(
            "protected header: crit does not list {SIGNING_SCHEME:?}"
        ));
    }
    for name in [EXPIRY, AUTHENTIC_SIGNING_TIME]
        .into_iter()
        .chain(PLUGIN_HEADERS)
    {
        if present(name) && !crit.contains(&name) {
            return invalid(format!(
                "protected header: {name:?} is present but not listed in crit"
            ));
        }
    }
    Ok(unknown)
}

/// Picks the signing time the scheme requires (`io.cncf.notary.signingTime` for `notary.x509`,
/// `io.cncf.notary.authenticSigningTime` for `notary.x509.signingAuthority`, the other one
/// absent) and checks the expiry is after it.
pub(crate) fn resolve_times(
    scheme: Scheme,
    signing: Option<(i64, String)>,
    authentic: Option<(i64, String)>,
    expiry: Option<i64>,
) -> Result<(i64, String), EnvelopeError> {
    let (signing_time, text) = match scheme {
        Scheme::X509 => {
            if authentic.is_some() {
                return invalid(format!(
                    "protected header: {AUTHENTIC_SIGNING_TIME} must not be present with signing scheme notary.x509"
                ));
            }
            signing.ok_or_else(|| {
                EnvelopeError::Invalid(format!(
                    "protected header has no {SIGNING_TIME} (required by notary.x509)"
                ))
            })?
        }
        Scheme::SigningAuthority => {
            if signing.is_some() {
                return invalid(format!(
                    "protected header: {SIGNING_TIME} must not be present with signing scheme notary.x509.signingAuthority"
                ));
            }
            authentic.ok_or_else(|| EnvelopeError::Invalid(format!("protected header has no {AUTHENTIC_SIGNING_TIME} (required by notary.x509.signingAuthority)")))?
        }
    };
    if let Some(e) = expiry
        && e <= signing_time
    {
        return invalid(format!(
            "protected header: {EXPIRY} is not after the signing time"
        ));
    }
    Ok((signing_time, text))
}

/// Parses a signing scheme header value.
pub(crate) fn parse_scheme(value: Option<&str>) -> Result<Scheme, EnvelopeError> {
    match value {
        Some("notary.x509") => Ok(Scheme::X509),
        Some("notary.x509.signingAuthority") => Ok(Scheme::SigningAuthority),
        Some(other) => invalid(format!(
            "protected header: {SIGNING_SCHEME} {other:?} is not \"notary.x509\" or \"notary.x509.signingAuthority\""
        )),
        None => invalid(format!("protected header has no {SIGNING_SCHEME}")),
    }
}

type Unprotected = (Vec<Vec<u8>>, Option<String>, Option<Vec<u8>>);

fn check_unprotected(h: &Map<String, Value>) -> Result<Unprotected, EnvelopeError> {
    let chain = match h.get("x5c") {
        Some(Value::Array(items)) if !items.is_empty() => {
            if items.len() > MAX_CHAIN {
                return invalid(format!(
                    "x5c has {} certificates, more than {MAX_CHAIN}",
                    items.len()
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let s = v.as_str().ok_or_else(|| {
                        EnvelopeError::Invalid(format!("x5c[{i}] is not a string"))
                    })?;
                    STANDARD
                        .decode(s)
                        .map_err(|e| EnvelopeError::Invalid(format!("x5c[{i}] is not base64: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => {
            return invalid(
                "unprotected header: x5c must be a non-empty array of base64 certificates",
            );
        }
        None => return invalid("unprotected header has no x5c certificate chain"),
    };
    let agent =
        string_field(h, "io.cncf.notary.signingAgent", "unprotected header")?.map(str::to_owned);
    let timestamp = string_field(h, TIMESTAMP_SIGNATURE, "unprotected header")?
        .map(|s| {
            STANDARD.decode(s).map_err(|e| {
                EnvelopeError::Invalid(format!("{TIMESTAMP_SIGNATURE} is not base64: {e}"))
            })
        })
        .transpose()?;
    Ok((chain, agent, timestamp))
}

/// The `targetArtifact` of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Media type.
    pub media_type: String,
    /// Digest.
    pub digest: String,
    /// Size.
    pub size: u64,
    /// The signed annotations (`notation sign --user-metadata`), empty when absent.
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Parses the payload `{"targetArtifact": {mediaType, digest, size, annotations?}}`.
pub fn parse_payload(bytes: &[u8]) -> Result<Target, EnvelopeError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| EnvelopeError::Invalid(format!("payload is not JSON: {e}")))?;
    let Some(Value::Object(t)) = value.get("targetArtifact") else {
        return invalid("payload has no targetArtifact object");
    };
    let text = |k: &str| -> Result<String, EnvelopeError> {
        string_field(t, k, "targetArtifact")?
            .map(str::to_owned)
            .ok_or_else(|| EnvelopeError::Invalid(format!("payload targetArtifact has no {k}")))
    };
    let size = t.get("size").and_then(Value::as_u64).ok_or_else(|| {
        EnvelopeError::Invalid("payload targetArtifact has no non-negative integer size".into())
    })?;
    let mut annotations = std::collections::BTreeMap::new();
    if let Some(a) = t.get("annotations") {
        let Some(map) = a.as_object() else {
            return invalid("payload targetArtifact annotations must be an object of strings");
        };
        for (k, v) in map {
            let Some(v) = v.as_str() else {
                return invalid("payload targetArtifact annotations must be an object of strings");
            };
            annotations.insert(k.clone(), v.to_owned());
        }
    }
    Ok(Target {
        media_type: text("mediaType")?,
        digest: text("digest")?,
        size,
        annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn protected() -> Value {
        json!({
            "alg": "ES256",
            "cty": PAYLOAD_CONTENT_TYPE,
            "crit": [SIGNING_SCHEME, EXPIRY],
            SIGNING_SCHEME: "notary.x509",
            SIGNING_TIME: "2024-01-01T00:00:00Z",
            EXPIRY: "2025-01-01T00:00:00Z",
        })
    }

    fn envelope(p: &Value) -> Vec<u8> {
        json!({
            "payload": enc(&json!({"targetArtifact": {"mediaType": "m", "digest": "sha256:ab", "size": 3}})),
            "protected": enc(p),
            "header": {"x5c": [STANDARD.encode([1u8, 2])], "io.cncf.notary.signingAgent": "test"},
            "signature": URL_SAFE_NO_PAD.encode([9u8; 64]),
        })
        .to_string()
        .into_bytes()
    }

    fn invalid_msg(p: Value) -> String {
        match parse(&envelope(&p)) {
            Err(EnvelopeError::Invalid(m)) => m,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    /// RFC 7515 §7.2.1 (the JWS JSON serialization notation uses): "The Header Parameter
    /// values used when creating or validating individual signature or MAC values MUST be the
    /// union of the two sets of Header Parameter values … [which] MUST be disjoint".
    #[test]
    fn a_header_in_both_the_protected_and_the_unprotected_header_is_refused() {
        let p = protected();
        let mut v: Value = serde_json::from_slice(&envelope(&p)).unwrap();
        v["header"][SIGNING_TIME] = json!("2024-01-01T00:00:00Z");
        match parse(&serde_json::to_vec(&v).unwrap()) {
            Err(EnvelopeError::Invalid(m)) => assert!(
                m.contains("\"io.cncf.notary.signingTime\" is in both the protected and the unprotected header"),
                "{m}"
            ),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_valid_envelope() {
        let p = protected();
        let e = parse(&envelope(&p)).unwrap();
        assert_eq!(e.alg, Alg::Es256);
        assert_eq!(e.scheme, Scheme::X509);
        assert_eq!(e.signing_time, 1_704_067_200);
        assert_eq!(e.expiry, Some(1_735_689_600));
        assert_eq!(e.chain, vec![vec![1, 2]]);
        assert_eq!(e.signature, vec![9; 64]);
        assert!(e.signing_input.starts_with(enc(&p).as_bytes()));
        assert_eq!(parse_payload(&e.payload).unwrap().size, 3);
    }

    #[test]
    fn rejects_bad_protected_headers() {
        let with = |k: &str, v: Value| {
            let mut p = protected();
            p[k] = v;
            p
        };
        let without = |k: &str| {
            let mut p = protected();
            p.as_object_mut().unwrap().remove(k);
            p
        };
        assert!(
            invalid_msg(with("crit", json!([SIGNING_SCHEME, EXPIRY, "x.y"])))
                .contains("\"x.y\" is marked critical but is not present")
        );
        let mut p = with("x.y", json!(1));
        p["crit"] = json!([SIGNING_SCHEME, EXPIRY, "x.y"]);
        let env = parse(&envelope(&p)).expect("an unknown critical header is refused later");
        assert_eq!(env.requires.unknown_critical, ["x.y"]);
        assert_eq!(env.requires.plugin, None);
        assert!(invalid_msg(with("crit", json!([SIGNING_SCHEME]))).contains("not listed in crit"));
        assert!(invalid_msg(with("crit", json!([EXPIRY]))).contains("crit does not list"));
        assert!(invalid_msg(without("crit")).contains("no crit"));
        assert!(invalid_msg(with("cty", json!("application/json"))).contains("cty"));
        assert!(invalid_msg(with("alg", json!("HS256"))).contains("alg \"HS256\""));
        assert!(invalid_msg(with(SIGNING_SCHEME, json!("x"))).contains("notary.x509"));
        assert!(invalid_msg(without(SIGNING_TIME)).contains("required by notary.x509"));
        assert!(invalid_msg(with(SIGNING_TIME, json!("yesterday"))).contains("RFC 3339"));
        assert!(
            invalid_msg(with(EXPIRY, json!("2023-01-01T00:00:00Z")))
                .contains("not after the signing time")
        );
        let mut plugin = with(VERIFICATION_PLUGIN, json!("com.example.v"));
        plugin[VERIFICATION_PLUGIN_MIN_VERSION] = json!("1.2.0");
        plugin["crit"] = json!([
            SIGNING_SCHEME,
            EXPIRY,
            VERIFICATION_PLUGIN,
            VERIFICATION_PLUGIN_MIN_VERSION
        ]);
        let env = parse(&envelope(&plugin)).expect("a plugin requirement is refused later");
        assert_eq!(
            env.requires.plugin,
            Some(("com.example.v".to_owned(), Some("1.2.0".to_owned())))
        );
        plugin[VERIFICATION_PLUGIN] = json!(7);
        assert!(invalid_msg(plugin).contains("must be a string"));
        let mut uncritical = with(VERIFICATION_PLUGIN, json!("p"));
        uncritical["crit"] = json!([SIGNING_SCHEME, EXPIRY]);
        assert!(invalid_msg(uncritical).contains("not listed in crit"));
        assert!(matches!(
            parse(&envelope(&with("alg", json!("ES512")))),
            Err(EnvelopeError::Unsupported(_))
        ));
    }

    #[test]
    fn signing_authority_needs_an_authentic_time() {
        let mut p = with_scheme("notary.x509.signingAuthority");
        assert!(invalid_msg(p.clone()).contains("must not be present"));
        p.as_object_mut().unwrap().remove(SIGNING_TIME);
        assert!(invalid_msg(p.clone()).contains("required by notary.x509.signingAuthority"));
        p[AUTHENTIC_SIGNING_TIME] = json!("2024-01-01T00:00:00Z");
        assert!(invalid_msg(p.clone()).contains("not listed in crit"));
        p["crit"] = json!([SIGNING_SCHEME, EXPIRY, AUTHENTIC_SIGNING_TIME]);
        assert_eq!(
            parse(&envelope(&p)).unwrap().scheme,
            Scheme::SigningAuthority
        );
    }

    /// RFC 7515 §4.1.11: "Producers MUST NOT use the empty list "[]" as the "crit" value".
    /// signature-envelope-jws.md: `io.cncf.notary.authenticSigningTime` belongs to the
    /// `notary.x509.signingAuthority` scheme; under it, any other critical header this verifier
    /// does not know stays unknown, and the verification fails on it ("if the verifier encounters
    /// a critical attribute it does not understand, it MUST fail").
    #[test]
    fn crit_is_non_empty_and_the_authentic_time_is_the_only_extra_name_signing_authority_knows() {
        let mut p = protected();
        p["crit"] = json!([]);
        assert!(invalid_msg(p).contains("crit must be a non-empty array"));

        let mut p = with_scheme("notary.x509.signingAuthority");
        p.as_object_mut().unwrap().remove(SIGNING_TIME);
        p[AUTHENTIC_SIGNING_TIME] = json!("2024-01-01T00:00:00Z");
        p["x.y"] = json!(1);
        p["crit"] = json!([SIGNING_SCHEME, EXPIRY, AUTHENTIC_SIGNING_TIME, "x.y"]);
        let env = parse(&envelope(&p)).expect("an unknown critical header is refused later");
        assert_eq!(env.requires.unknown_critical, ["x.y"]);
    }

    /// signature-envelope-jws.md, Unprotected Headers: `x5c` is "an ordered list of X.509
    /// certificates" from the signing certificate to the root; Vouch caps it at `MAX_CHAIN`
    /// certificates (a hostile envelope costs at most that many parses).
    #[test]
    fn x5c_holds_one_to_max_chain_certificates() {
        let with_chain = |n: usize| {
            let mut v: Value = serde_json::from_slice(&envelope(&protected())).unwrap();
            v["header"]["x5c"] = json!(vec![STANDARD.encode([1u8, 2]); n]);
            parse(&serde_json::to_vec(&v).unwrap())
        };
        match with_chain(0) {
            Err(EnvelopeError::Invalid(m)) => assert!(m.contains("x5c must be a non-empty"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(with_chain(1).unwrap().chain.len(), 1);
        assert_eq!(with_chain(MAX_CHAIN).unwrap().chain.len(), MAX_CHAIN);
        match with_chain(MAX_CHAIN + 1) {
            Err(EnvelopeError::Invalid(m)) => {
                assert!(m.contains(&format!("more than {MAX_CHAIN}")), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    fn with_scheme(s: &str) -> Value {
        let mut p = protected();
        p[SIGNING_SCHEME] = json!(s);
        p
    }

    /// signature-envelope-jws.md, Unprotected Headers: "`io.cncf.notary.timestampSignature`
    /// (*string*): This OPTIONAL header is used to store countersignature that provides authentic
    /// signing time" (base64 of the RFC 3161 `TimeStampToken`). Any other name (such as the
    /// `io.cncf.notary.timestamp` of the spec's example envelope, which notation ignores too) is
    /// not a timestamp.
    #[test]
    fn the_timestamp_is_read_from_io_cncf_notary_timestamp_signature() {
        let with_header = |name: &str, value: Value| {
            let mut v: Value = serde_json::from_slice(&envelope(&protected())).unwrap();
            v["header"][name] = value;
            serde_json::to_vec(&v).unwrap()
        };
        let token = STANDARD.encode(b"token bytes");
        let e = parse(&with_header(TIMESTAMP_SIGNATURE, json!(token))).unwrap();
        assert_eq!(e.timestamp.as_deref(), Some(&b"token bytes"[..]));
        let e = parse(&with_header("io.cncf.notary.timestamp", json!(token))).unwrap();
        assert_eq!(e.timestamp, None);
        assert_eq!(parse(&envelope(&protected())).unwrap().timestamp, None);
        match parse(&with_header(TIMESTAMP_SIGNATURE, json!("!!not base64"))) {
            Err(EnvelopeError::Invalid(m)) => {
                assert!(
                    m.contains("io.cncf.notary.timestampSignature is not base64"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        match parse(&with_header(TIMESTAMP_SIGNATURE, json!(7))) {
            Err(EnvelopeError::Invalid(m)) => assert!(m.contains("must be a string"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_malformed_envelopes() {
        for (bytes, expected) in [
            (&b"not json"[..], "not JSON"),
            (b"[]", "not a JSON object"),
            (
                b"{\"protected\":\"e30\",\"payload\":\"e30\",\"signature\":\"!!\",\"header\":{}}",
                "signature is not unpadded base64url",
            ),
            (
                b"{\"protected\":\"e30\",\"payload\":\"e30\",\"signature\":\"AA\"}",
                "no unprotected `header`",
            ),
            (
                b"{\"protected\":\"e30=\",\"payload\":\"e30\",\"signature\":\"AA\",\"header\":{}}",
                "protected is not unpadded base64url",
            ),
            (
                b"{\"payload\":\"e30\",\"signature\":\"AA\",\"header\":{}}",
                "no `protected`",
            ),
        ] {
            match parse(bytes) {
                Err(EnvelopeError::Invalid(m)) => {
                    assert!(m.contains(expected), "{m:?} vs {expected:?}")
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn payload_validation() {
        assert!(parse_payload(b"{}").is_err());
        assert!(
            parse_payload(br#"{"targetArtifact":{"mediaType":"m","digest":"d","size":-1}}"#)
                .is_err()
        );
        assert!(parse_payload(br#"{"targetArtifact":{"mediaType":"m","digest":"d","size":1,"annotations":{"a":1}}}"#).is_err());
        let t = parse_payload(br#"{"targetArtifact":{"mediaType":"m","digest":"d","size":1,"annotations":{"a":"b"}}}"#).unwrap();
        assert_eq!(
            t,
            Target {
                media_type: "m".into(),
                digest: "d".into(),
                size: 1,
                annotations: [("a".to_owned(), "b".to_owned())].into(),
            }
        );
    }
}
