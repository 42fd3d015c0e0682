//! Just enough X.509 to find a key's algorithm, a certificate's public key, its subject
//! alternative names and the Fulcio OIDC-issuer extensions, on the shared DER reader
//! ([`verifier_common::der`], re-exported here). Malformed input is a [`DerError`], never a panic.

use std::fmt;

/// Why DER input could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError(pub String);

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed DER: {}", self.0)
    }
}

impl From<String> for DerError {
    fn from(message: String) -> Self {
        DerError(message)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, DerError> {
    Err(DerError(msg.into()))
}

pub use verifier_common::der::{
    BOOLEAN, OCTET_STRING, OID, Reader, SEQUENCE, Tlv, UTF8_STRING, oid_string,
};

/// The algorithm of a `SubjectPublicKeyInfo`: the algorithm OID and, for EC keys, the curve OID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpkiAlgorithm {
    /// Algorithm OID, dotted.
    pub algorithm: String,
    /// Named-curve OID (dotted) when the parameters are one.
    pub curve: Option<String>,
}

/// Reads the algorithm of the DER `SubjectPublicKeyInfo` `spki`.
pub fn spki_algorithm(spki: &[u8]) -> Result<SpkiAlgorithm, DerError> {
    let mut outer = Reader::new(spki);
    let seq = outer.expect(SEQUENCE, "SubjectPublicKeyInfo")?;
    if !outer.is_empty() {
        return err("trailing data after SubjectPublicKeyInfo");
    }
    let mut inner = Reader::new(seq.value);
    let alg = inner.expect(SEQUENCE, "AlgorithmIdentifier")?;
    inner.expect(0x03, "subjectPublicKey")?;
    let mut alg = Reader::new(alg.value);
    let algorithm = oid_string(alg.expect(OID, "algorithm")?.value);
    let curve = alg.optional(OID)?.map(|c| oid_string(c.value));
    Ok(SpkiAlgorithm { algorithm, curve })
}

/// What the verifier needs from a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertFields {
    /// The DER `SubjectPublicKeyInfo`.
    pub spki: Vec<u8>,
    /// Subject alternative names: e-mail addresses, URIs and DNS names, in order.
    pub sans: Vec<String>,
    /// Fulcio OIDC issuer, extension `1.3.6.1.4.1.57264.1.8` (DER UTF8String), when present.
    pub issuer_v2: Option<String>,
    /// Fulcio OIDC issuer, deprecated extension `1.3.6.1.4.1.57264.1.1` (raw string), when present.
    pub issuer_v1: Option<String>,
    /// Fulcio's GitHub Actions workflow extensions present in the certificate, by config name
    /// (see [`GITHUB_WORKFLOW`]), as UTF-8 text of their raw bytes (a value that is not UTF-8 is
    /// left out: it can equal no configured value).
    pub github: std::collections::BTreeMap<&'static str, String>,
}

impl CertFields {
    /// The OIDC issuer: the newer extension when present, else the deprecated one.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer_v2.as_deref().or(self.issuer_v1.as_deref())
    }
}

/// OID of the subject alternative name extension.
const SAN_OID: &str = "2.5.29.17";
/// Fulcio's deprecated OIDC issuer extension (raw bytes of the issuer URL).
pub const FULCIO_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// Fulcio's OIDC issuer extension (a DER UTF8String).
pub const FULCIO_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";

/// Fulcio's GitHub Actions workflow extensions, by OID and the name cosign's flags and Vouch's
/// config give them (`--certificate-github-workflow-trigger` → `githubWorkflowTrigger`, …).
/// cosign (`pkg/cosign/certextensions.go`) and sigstore-go (`certificate.ParseExtensions`) read
/// these deprecated `1.3.6.1.4.1.57264.1.2`–`.6` extensions, not their v2 successors, as the raw
/// extension bytes (no DER string wrapper): `string(ext.Value)`.
pub const GITHUB_WORKFLOW: [(&str, &str); 5] = [
    ("1.3.6.1.4.1.57264.1.2", "githubWorkflowTrigger"),
    ("1.3.6.1.4.1.57264.1.3", "githubWorkflowSha"),
    ("1.3.6.1.4.1.57264.1.4", "githubWorkflowName"),
    ("1.3.6.1.4.1.57264.1.5", "githubWorkflowRepository"),
    ("1.3.6.1.4.1.57264.1.6", "githubWorkflowRef"),
];

/// Reads the fields the verifier needs from the DER certificate `der`.
pub fn cert_fields(der: &[u8]) -> Result<CertFields, DerError> {
    let mut outer = Reader::new(der);
    let cert = outer.expect(SEQUENCE, "Certificate")?;
    let tbs = Reader::new(cert.value).expect(SEQUENCE, "TBSCertificate")?;
    let mut tbs = Reader::new(tbs.value);
    tbs.optional(0xa0)?; // version
    tbs.expect(0x02, "serialNumber")?;
    tbs.expect(SEQUENCE, "signature")?;
    tbs.expect(SEQUENCE, "issuer")?;
    tbs.expect(SEQUENCE, "validity")?;
    tbs.expect(SEQUENCE, "subject")?;
    let spki = tbs.expect(SEQUENCE, "subjectPublicKeyInfo")?;
    let mut fields = CertFields {
        spki: spki.raw.to_vec(),
        ..CertFields::default()
    };
    tbs.optional(0x81)?; // issuerUniqueID
    tbs.optional(0x82)?; // subjectUniqueID
    let Some(exts) = tbs.optional(0xa3)? else {
        return Ok(fields);
    };
    let exts = Reader::new(exts.value).expect(SEQUENCE, "Extensions")?;
    let mut exts = Reader::new(exts.value);
    while !exts.is_empty() {
        let ext = exts.expect(SEQUENCE, "Extension")?;
        let mut ext = Reader::new(ext.value);
        let oid = oid_string(ext.expect(OID, "extnID")?.value);
        ext.optional(BOOLEAN)?;
        let value = ext.expect(OCTET_STRING, "extnValue")?.value;
        match oid.as_str() {
            SAN_OID => fields.sans = general_names(value)?,
            FULCIO_ISSUER_V1 => {
                fields.issuer_v1 = Some(
                    String::from_utf8(value.to_vec())
                        .map_err(|_| DerError("issuer extension is not UTF-8".into()))?,
                );
            }
            FULCIO_ISSUER_V2 => {
                let s = Reader::new(value).expect(UTF8_STRING, "issuer extension")?;
                fields.issuer_v2 = Some(
                    String::from_utf8(s.value.to_vec())
                        .map_err(|_| DerError("issuer extension is not UTF-8".into()))?,
                );
            }
            other => {
                if let Some((_, name)) = GITHUB_WORKFLOW.iter().find(|(o, _)| *o == other)
                    && let Ok(text) = std::str::from_utf8(value)
                {
                    fields.github.insert(name, text.to_owned());
                }
            }
        }
    }
    Ok(fields)
}

/// The e-mail (`[1]`), DNS (`[2]`) and URI (`[6]`) names of a `GeneralNames` sequence.
fn general_names(value: &[u8]) -> Result<Vec<String>, DerError> {
    let seq = Reader::new(value).expect(SEQUENCE, "GeneralNames")?;
    let mut names = Reader::new(seq.value);
    let mut out = Vec::new();
    while !names.is_empty() {
        let name = names.any()?;
        if matches!(name.tag, 0x81 | 0x82 | 0x86) {
            out.push(
                String::from_utf8(name.value.to_vec())
                    .map_err(|_| DerError("subject alternative name is not UTF-8".into()))?,
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p256_spki_algorithm() {
        let mut spki = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        spki.extend_from_slice(&[4u8; 65]);
        let alg = spki_algorithm(&spki).unwrap();
        assert_eq!(alg.algorithm, "1.2.840.10045.2.1");
        assert_eq!(alg.curve.as_deref(), Some("1.2.840.10045.3.1.7"));
        // Truncated input is an error, not a panic.
        for n in 0..spki.len() {
            assert!(spki_algorithm(&spki[..n]).is_err(), "prefix {n}");
        }
    }

    /// cosign `CertExtensions.GetIssuer` / sigstore-go `certificate.ParseExtensions`: the OIDC
    /// issuer is read from `1.3.6.1.4.1.57264.1.8` (a DER UTF8String) when the certificate has
    /// it, and from the deprecated `1.3.6.1.4.1.57264.1.1` (raw bytes) otherwise — certificates
    /// from before Fulcio added the v2 extension carry only the latter.
    #[test]
    fn the_v2_issuer_extension_wins_over_the_deprecated_one() {
        let both = CertFields {
            issuer_v1: Some("https://v1.example".into()),
            issuer_v2: Some("https://v2.example".into()),
            ..CertFields::default()
        };
        assert_eq!(both.issuer(), Some("https://v2.example"));
        let old = CertFields {
            issuer_v1: Some("https://v1.example".into()),
            ..CertFields::default()
        };
        assert_eq!(old.issuer(), Some("https://v1.example"));
        assert_eq!(CertFields::default().issuer(), None);
    }

    #[test]
    fn garbage_certificate_is_an_error() {
        assert!(cert_fields(b"not a certificate").is_err());
        assert!(cert_fields(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_err());
    }
}
