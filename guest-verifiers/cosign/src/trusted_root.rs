//! Sigstore's `trusted_root.json` (protobuf-specs `TrustedRoot`, JSON form): the Fulcio
//! certificate authorities and the Rekor transparency logs a Sigstore bundle is verified against,
//! each with its validity window.
//!
//! Only the parts bundle verification uses are read: `certificateAuthorities[].certChain` and
//! `validFor`, and of `tlogs[]` and `ctlogs[]` the `publicKey` (`rawBytes`, `validFor`) and
//! `logId.keyId`, and of `timestampAuthorities[]` the `certChain` and `validFor`; other members
//! are accepted and ignored.
//!
//! Validity windows (protobuf-specs `TimeRange`: "The time range is closed and includes both the
//! start and end times, (i.e., [start, end]). End is optional to be able to capture a period that
//! has started but has no known end.") must have a start: a root where one is missing is refused
//! at load, never read as "valid since forever".

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::der;
use crate::pem::{self, Alg};

/// Media types of trusted roots this verifier reads.
pub const MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.trustedroot";

/// A half-open validity window in Unix seconds; `None` ends are unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// First valid second.
    pub start: Option<i64>,
    /// Last valid second (inclusive), when bounded.
    pub end: Option<i64>,
}

impl Window {
    /// Whether `t` is inside the window.
    pub fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t <= e)
    }

    /// The window for messages, e.g. `[1600000000, open)`.
    pub fn describe(&self) -> String {
        let f = |v: Option<i64>| v.map_or_else(|| "open".to_owned(), |v| v.to_string());
        format!("[{}, {}]", f(self.start), f(self.end))
    }
}

/// A certificate authority: Fulcio (`certificateAuthorities`) or a timestamp authority
/// (`timestampAuthorities`, whose first certificate is the TSA's signing certificate).
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    /// The CA's URI, for messages (may be empty).
    pub uri: String,
    /// Intermediates, leaf-most first (DER); may be empty.
    pub intermediates: Vec<Vec<u8>>,
    /// The root (last certificate of the chain), DER.
    pub root: Vec<u8>,
    /// When the CA issued certificates.
    pub valid_for: Window,
}

/// A transparency log: a Rekor log (`tlogs`) or a Certificate Transparency log (`ctlogs`).
#[derive(Debug, Clone)]
pub struct TransparencyLog {
    /// The log's base URL, for messages (may be empty).
    pub base_url: String,
    /// The log's key ID (`logId.keyId`): SHA-256 of the key's DER SubjectPublicKeyInfo, or for an
    /// Ed25519 Rekor v2 log the signed-note key hash `SHA-256(origin || "\n" || 0x01 || key)`.
    pub key_id: Vec<u8>,
    /// The DER SubjectPublicKeyInfo of the log's key.
    pub key_der: Vec<u8>,
    /// The algorithm the key calls for.
    pub alg: Alg,
    /// When the key signed entries.
    pub valid_for: Window,
}

/// A parsed trusted root.
#[derive(Debug, Clone, Default)]
pub struct TrustedRoot {
    /// Fulcio CAs.
    pub certificate_authorities: Vec<CertificateAuthority>,
    /// RFC 3161 timestamp authorities.
    pub timestamp_authorities: Vec<CertificateAuthority>,
    /// Rekor logs.
    pub tlogs: Vec<TransparencyLog>,
    /// Certificate Transparency logs: the keys embedded SCTs verify with.
    pub ctlogs: Vec<TransparencyLog>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: Option<String>,
    #[serde(default)]
    tlogs: Vec<RawTlog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
    #[serde(default)]
    ctlogs: Vec<RawTlog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTlog {
    #[serde(default)]
    base_url: String,
    public_key: RawPublicKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: String,
    valid_for: Option<RawWindow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: Option<RawWindow>,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawWindow {
    start: Option<String>,
    end: Option<String>,
}

/// Decodes protobuf-JSON `bytes`: standard base64, padded or not (URL-safe accepted too).
pub fn decode_bytes(text: &str) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let t = text.trim();
    STANDARD
        .decode(t)
        .or_else(|_| STANDARD_NO_PAD.decode(t))
        .or_else(|_| URL_SAFE.decode(t))
        .or_else(|_| URL_SAFE_NO_PAD.decode(t))
        .map_err(|e| format!("not valid base64: {e}"))
}

/// Reads the `validFor` of the trusted-root entry at `at` (e.g. `tlogs[0].publicKey`).
///
/// sigstore-go's root parsing refuses a log key without `validFor` ("tlog missing public key
/// validity period") or without `validFor.start` ("tlog missing public key validity period start
/// time"); `TimeRange.start` is not optional in protobuf-specs (only `end` is). Vouch applies the
/// same rule to every entry — tlogs, ctlogs, certificate authorities and timestamp authorities —
/// so no key or CA is ever trusted from the beginning of time by omission.
fn window(raw: Option<RawWindow>, at: &str) -> Result<Window, String> {
    let Some(raw) = raw else {
        return Err(format!(
            "{at}.validFor is missing: every trusted key and CA needs a validity window with a start"
        ));
    };
    let parse = |v: Option<String>, which: &str| {
        v.map(|s| rfc3339(&s).map_err(|e| format!("{at}.validFor.{which} {s:?}: {e}")))
            .transpose()
    };
    let start = parse(raw.start, "start")?;
    if start.is_none() {
        return Err(format!(
            "{at}.validFor.start is missing: a validity window must have a start"
        ));
    }
    let end = parse(raw.end, "end")?;
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        return Err(format!("{at}.validFor ends before it starts"));
    }
    Ok(Window { start, end })
}

impl TrustedRoot {
    /// Parses a trusted root given as a JSON value: the object itself, or a string holding it.
    pub fn from_value(value: &Value) -> Result<TrustedRoot, String> {
        let raw: RawRoot = match value {
            Value::String(s) => serde_json::from_str(s),
            v => serde_json::from_value(v.clone()),
        }
        .map_err(|e| format!("not a valid trusted_root.json: {e}"))?;
        if let Some(mt) = &raw.media_type
            && !mt.starts_with(MEDIA_TYPE_PREFIX)
        {
            return Err(format!(
                "mediaType {mt:?} is not a Sigstore trusted root ({MEDIA_TYPE_PREFIX}+json;version=…)"
            ));
        }
        let cas = raw
            .certificate_authorities
            .into_iter()
            .enumerate()
            .map(|(i, ca)| authority(ca, &format!("certificateAuthorities[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let tsas = raw
            .timestamp_authorities
            .into_iter()
            .enumerate()
            .map(|(i, ca)| authority(ca, &format!("timestampAuthorities[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let ctlogs = raw
            .ctlogs
            .into_iter()
            .enumerate()
            .map(|(i, t)| log(t, &format!("ctlogs[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let tlogs = raw
            .tlogs
            .into_iter()
            .enumerate()
            .map(|(i, t)| log(t, &format!("tlogs[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        if tlogs.is_empty() {
            return Err(
                "the trusted root has no tlogs: Sigstore bundles are verified against a \
                 transparency log's signed entry timestamp"
                    .into(),
            );
        }
        Ok(TrustedRoot {
            certificate_authorities: cas,
            timestamp_authorities: tsas,
            tlogs,
            ctlogs,
        })
    }
}

/// Reads one certificate authority (Fulcio or a timestamp authority) found at `at`: its
/// `certChain` (leaf or intermediates first, the root last) and `validFor`.
fn authority(ca: RawCa, at: &str) -> Result<CertificateAuthority, String> {
    let valid_for = window(ca.valid_for, at)?;
    let mut chain = Vec::new();
    for (j, c) in ca.cert_chain.certificates.iter().enumerate() {
        let d = decode_bytes(&c.raw_bytes)
            .map_err(|e| format!("{at}.certChain.certificates[{j}].rawBytes: {e}"))?;
        der::cert_fields(&d)
            .map_err(|e| format!("{at}.certChain.certificates[{j}] is not a certificate: {e}"))?;
        chain.push(d);
    }
    let Some(root) = chain.pop() else {
        return Err(format!("{at}.certChain has no certificates"));
    };
    Ok(CertificateAuthority {
        uri: ca.uri,
        intermediates: chain,
        root,
        valid_for,
    })
}

/// Reads one transparency-log instance (a Rekor log or a CT log) found at `at`.
fn log(t: RawTlog, at: &str) -> Result<TransparencyLog, String> {
    let key_der = decode_bytes(&t.public_key.raw_bytes)
        .map_err(|e| format!("{at}.publicKey.rawBytes: {e}"))?;
    let alg = pem::spki_alg(&key_der).map_err(|e| format!("{at}.publicKey: {e}"))?;
    let key_id = decode_bytes(&t.log_id.key_id).map_err(|e| format!("{at}.logId.keyId: {e}"))?;
    if key_id.len() != 32 {
        return Err(format!(
            "{at}.logId.keyId is {} bytes; a log ID is a 32-byte SHA-256",
            key_id.len()
        ));
    }
    Ok(TransparencyLog {
        base_url: t.base_url,
        key_id,
        key_der,
        alg,
        valid_for: window(t.public_key.valid_for, &format!("{at}.publicKey"))?,
    })
}

/// Parses an RFC 3339 timestamp (`2021-01-12T11:53:27.000Z`, `…+02:00`) to Unix seconds;
/// fractions of a second are dropped.
pub fn rfc3339(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let part = s.get(r).ok_or("truncated")?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("expected digits, found {part:?}"));
        }
        part.parse::<i64>().map_err(|e| e.to_string())
    };
    let sep = |i: usize, c: &[u8]| -> Result<(), String> {
        match b.get(i) {
            Some(x) if c.contains(x) => Ok(()),
            _ => Err(format!(
                "expected one of {:?} at offset {i}",
                String::from_utf8_lossy(c)
            )),
        }
    };
    let year = num(0..4)?;
    sep(4, b"-")?;
    let month = num(5..7)?;
    sep(7, b"-")?;
    let day = num(8..10)?;
    sep(10, b"Tt ")?;
    let hour = num(11..13)?;
    sep(13, b":")?;
    let min = num(14..16)?;
    sep(16, b":")?;
    let sec = num(17..19)?;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err("empty fraction of a second".into());
        }
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&c @ (b'+' | b'-')) if i + 6 == b.len() => {
            sep(i + 3, b":")?;
            let o = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if c == b'+' { o } else { -o }
        }
        _ => return Err("expected `Z` or a `±hh:mm` offset at the end".into()),
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return Err("a date or time field is out of range".into());
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc3339_parses_forms_and_rejects_junk() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(rfc3339("2021-01-12T11:53:27.000Z").unwrap(), 1_610_452_407);
        assert_eq!(rfc3339("2021-01-12T13:53:27+02:00").unwrap(), 1_610_452_407);
        assert_eq!(rfc3339("2000-03-01T00:00:00Z").unwrap(), 951_868_800);
        for bad in [
            "",
            "2021-01-12",
            "2021-01-12T11:53:27",
            "2021-13-12T11:53:27Z",
            "2021-01-12T11:53:27.Z",
            "2021-01-12T11:53:27+0200",
            "2021-01-12T11:5a:27Z",
        ] {
            assert!(rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows() {
        let w = Window {
            start: Some(10),
            end: Some(20),
        };
        assert!(w.contains(10) && w.contains(20) && !w.contains(9) && !w.contains(21));
        assert!(Window::default().contains(i64::MIN));
    }

    // A P-256 SPKI (from pem.rs's test key).
    const SPKI: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G5kfIAFEhWcljeuqgQ0K8cV2Ba8bBDz6Tt5HnXYfGkvoBeXI8EKjBAyz4U3Sc1eBRUf9n4L9wwsRC3bHHJZbA==";

    fn tlog(key_id: &str) -> Value {
        json!({"baseUrl": "https://rekor.test", "hashAlgorithm": "SHA2_256",
               "publicKey": {"rawBytes": SPKI, "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                             "validFor": {"start": "2021-01-12T11:53:27.000Z"}},
               "logId": {"keyId": key_id}})
    }

    #[test]
    fn parses_tlogs_object_or_string() {
        let id = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let root = json!({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                          "tlogs": [tlog(&id)], "ctlogs": [], "certificateAuthorities": []});
        for v in [root.clone(), Value::String(root.to_string())] {
            let t = TrustedRoot::from_value(&v).unwrap();
            assert_eq!(t.tlogs.len(), 1);
            assert_eq!(t.tlogs[0].key_id, vec![7u8; 32]);
            assert_eq!(t.tlogs[0].alg, Alg::EcdsaP256Sha256);
            assert_eq!(t.tlogs[0].valid_for.start, Some(1_610_452_407));
            assert_eq!(t.tlogs[0].valid_for.end, None);
        }
    }

    /// sigstore-go `ParseTransparencyLogs`: a log key without `validFor` or without
    /// `validFor.start` is refused ("tlog missing public key validity period [start time]");
    /// protobuf-specs `TimeRange`: "End is optional", the start is not. Vouch refuses a missing
    /// start for tlogs, ctlogs, certificate authorities and timestamp authorities alike, naming the
    /// field.
    #[test]
    fn missing_validity_starts_are_refused_naming_the_field() {
        let id = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let ca = json!({"certChain": {"certificates": [{"rawBytes": "AAAA"}]}});
        let err = |v: Value| TrustedRoot::from_value(&v).unwrap_err();

        let mut t = tlog(&id);
        t["publicKey"]["validFor"] = json!({"end": "2030-01-01T00:00:00Z"});
        let e = err(json!({"tlogs": [t]}));
        assert!(
            e.contains("tlogs[0].publicKey.validFor.start is missing"),
            "{e}"
        );

        let mut t = tlog(&id);
        t["publicKey"].as_object_mut().unwrap().remove("validFor");
        let e = err(json!({"tlogs": [tlog(&id), t]}));
        assert!(e.contains("tlogs[1].publicKey.validFor is missing"), "{e}");

        let mut ct = tlog(&id);
        ct["publicKey"]["validFor"] = json!({});
        let e = err(json!({"tlogs": [tlog(&id)], "ctlogs": [ct]}));
        assert!(
            e.contains("ctlogs[0].publicKey.validFor.start is missing"),
            "{e}"
        );

        // Windows are checked before certificates are parsed, so the bogus chain is not reached.
        let mut c = ca.clone();
        c["validFor"] = json!({"end": "2030-01-01T00:00:00Z"});
        let e = err(json!({"tlogs": [tlog(&id)], "timestampAuthorities": [c]}));
        assert!(
            e.contains("timestampAuthorities[0].validFor.start is missing"),
            "{e}"
        );

        let mut t = tlog(&id);
        t["publicKey"]["validFor"] =
            json!({"start": "2030-01-01T00:00:00Z", "end": "2029-01-01T00:00:00Z"});
        let e = err(json!({"tlogs": [t]}));
        assert!(
            e.contains("tlogs[0].publicKey.validFor ends before it starts"),
            "{e}"
        );

        // A root whose every entry has a start loads; an open end is allowed.
        let mut ct = tlog(&id);
        ct["publicKey"]["validFor"] = json!({"start": "2021-01-01T00:00:00Z"});
        let tsa = json!({"certChain": {"certificates": []},
                         "validFor": {"start": "2021-01-01T00:00:00Z"}});
        TrustedRoot::from_value(&json!({"tlogs": [tlog(&id)], "ctlogs": [ct.clone()]})).unwrap();
        // A timestamp authority is used now, so one without certificates is refused.
        let e = err(json!({"tlogs": [tlog(&id)], "ctlogs": [ct], "timestampAuthorities": [tsa]}));
        assert!(
            e.contains("timestampAuthorities[0].certChain has no certificates"),
            "{e}"
        );
    }

    #[test]
    fn rejects_bad_roots_with_reasons() {
        let id = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let err = |v: Value| TrustedRoot::from_value(&v).unwrap_err();
        assert!(err(json!({"tlogs": []})).contains("no tlogs"));
        assert!(err(json!("{")).contains("not a valid trusted_root.json"));
        assert!(err(json!({"mediaType": "x", "tlogs": [tlog(&id)]})).contains("mediaType"));
        assert!(err(json!({"tlogs": [tlog("AAAA")]})).contains("32-byte"));
        let mut t = tlog(&id);
        t["publicKey"]["rawBytes"] = json!("!!");
        assert!(err(json!({"tlogs": [t]})).contains("tlogs[0].publicKey.rawBytes"));
        let mut t = tlog(&id);
        t["publicKey"]["validFor"]["start"] = json!("yesterday");
        assert!(err(json!({"tlogs": [t]})).contains("validFor.start"));
        let ca = json!({"certChain": {"certificates": [{"rawBytes": "AAAA"}]},
                        "validFor": {"start": "2021-01-01T00:00:00Z"}});
        assert!(
            err(json!({"tlogs": [tlog(&id)], "certificateAuthorities": [ca]}))
                .contains("certificateAuthorities[0].certChain.certificates[0]")
        );
        let ca = json!({"certChain": {"certificates": []},
                        "validFor": {"start": "2021-01-01T00:00:00Z"}});
        assert!(
            err(json!({"tlogs": [tlog(&id)], "certificateAuthorities": [ca]}))
                .contains("no certificates")
        );
    }
}
