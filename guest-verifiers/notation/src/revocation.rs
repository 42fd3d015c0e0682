//! Revocation information of a certificate: the OCSP responders named by its authority
//! information access extension and the CRL distribution points, read from the DER.
//!
//! The Notary Project's certificate revocation evaluation (trust-store-trust-policy.md) says: "If
//! the certificate being validated doesn't include information OCSP or CRLs then no revocation
//! check is performed and the certificate is considered valid (not revoked)", and "If the
//! revocation status of any of the certificates is revoked or cannot be determined (revocation
//! unavailable), fail this step". This verifier cannot fetch OCSP responses or CRLs (a guest has
//! no network), so a certificate that names either has an undeterminable status; [`Status`]
//! says which case a set of chains is in.

use crate::der::{self, Reader};
use crate::x509;

/// CRL distribution points extension.
const CRL_DISTRIBUTION_POINTS: &str = "2.5.29.31";
/// Authority information access extension.
const AUTHORITY_INFO_ACCESS: &str = "1.3.6.1.5.5.7.1.1";
/// `id-ad-ocsp` access method.
const AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";
/// `GeneralName.uniformResourceIdentifier` `[6] IMPLICIT IA5String`.
const URI_NAME: u8 = der::context_primitive(6);

/// Where a certificate says its revocation status can be found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// The certificate has a CRL distribution points extension.
    pub has_crl: bool,
    /// URIs of its distribution points (a point may name none, e.g. only a directory name).
    pub crl_uris: Vec<String>,
    /// OCSP responder URIs of its authority information access extension.
    pub ocsp_uris: Vec<String>,
}

impl Endpoints {
    /// Whether the certificate carries revocation information of either kind.
    pub fn any(&self) -> bool {
        self.has_crl || !self.ocsp_uris.is_empty()
    }

    /// A human-readable list: `OCSP <uri>, CRL <uri>`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.ocsp_uris.iter().map(|u| format!("OCSP {u}")).collect();
        parts.extend(self.crl_uris.iter().map(|u| format!("CRL {u}")));
        if self.has_crl && self.crl_uris.is_empty() {
            parts.push("a CRL distribution point without a URI".into());
        }
        parts.join(", ")
    }
}

/// Reads the revocation endpoints of a DER certificate.
pub fn endpoints(cert: &[u8]) -> Result<Endpoints, String> {
    let mut out = Endpoints::default();
    for ext in x509::extensions(cert)? {
        match ext.id.as_str() {
            CRL_DISTRIBUTION_POINTS => {
                out.has_crl = true;
                out.crl_uris.extend(
                    crl_uris(ext.value).map_err(|e| format!("cRLDistributionPoints: {e}"))?,
                );
            }
            AUTHORITY_INFO_ACCESS => out
                .ocsp_uris
                .extend(ocsp_uris(ext.value).map_err(|e| format!("authorityInfoAccess: {e}"))?),
            _ => {}
        }
    }
    Ok(out)
}

/// URIs of `CRLDistributionPoints ::= SEQUENCE OF DistributionPoint` (the `fullName` ones).
fn crl_uris(value: &[u8]) -> Result<Vec<String>, String> {
    let mut points = Reader::new(der::single(value, der::SEQUENCE, "distribution points")?.value);
    let mut uris = Vec::new();
    while !points.is_empty() {
        let mut point = points.nested(der::SEQUENCE, "DistributionPoint")?;
        // distributionPoint [0] EXPLICIT DistributionPointName { fullName [0] IMPLICIT GeneralNames }
        if let Some(name) = point.optional(der::context(0))? {
            let mut name = Reader::new(name.value);
            if let Some(full) = name.optional(der::context(0))? {
                uris.extend(general_name_uris(full.value)?);
            }
        }
    }
    Ok(uris)
}

/// OCSP URIs of `AuthorityInfoAccessSyntax ::= SEQUENCE OF AccessDescription`.
fn ocsp_uris(value: &[u8]) -> Result<Vec<String>, String> {
    let mut descs = Reader::new(der::single(value, der::SEQUENCE, "access descriptions")?.value);
    let mut uris = Vec::new();
    while !descs.is_empty() {
        let mut desc = descs.nested(der::SEQUENCE, "AccessDescription")?;
        let method = der::oid_string(desc.expect(der::OID, "accessMethod")?.value);
        let location = desc.any()?;
        if method == AD_OCSP {
            // A responder named other than by URI is still an OCSP responder.
            uris.push(uri(location.tag, location.value)?.unwrap_or_else(|| "(not a URI)".into()));
        }
    }
    Ok(uris)
}

/// The URIs among consecutive `GeneralName`s.
fn general_name_uris(names: &[u8]) -> Result<Vec<String>, String> {
    let mut r = Reader::new(names);
    let mut uris = Vec::new();
    while !r.is_empty() {
        let n = r.any()?;
        if let Some(u) = uri(n.tag, n.value)? {
            uris.push(u);
        }
    }
    Ok(uris)
}

fn uri(tag: u8, value: &[u8]) -> Result<Option<String>, String> {
    if tag != URI_NAME {
        return Ok(None);
    }
    std::str::from_utf8(value)
        .map(|s| Some(s.to_owned()))
        .map_err(|_| "a uniformResourceIdentifier is not ASCII".to_owned())
}

/// The outcome of the revocation validation, reported as the `revocationStatus` extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The policy's `revocation` action is `skip`: nothing was checked.
    Skipped,
    /// No certificate names an OCSP responder or a CRL distribution point: the specification
    /// considers every one of them not revoked.
    NonRevokable,
    /// Some certificate names revocation endpoints this verifier cannot query: the status is
    /// undeterminable ("revocation unavailable"). The text names the certificates.
    Unknown(String),
}

impl Status {
    /// The extension (and metric label) value.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Skipped => "skipped",
            Status::NonRevokable => "nonRevokable",
            Status::Unknown(_) => "unknown",
        }
    }
}

/// One certificate to evaluate: what it is (for messages) and its DER.
pub struct Subject<'a> {
    /// E.g. `signing certificate chain #1`.
    pub role: String,
    /// The certificate.
    pub der: &'a [u8],
}

/// Evaluates the revocation status of `certs` offline. `name` gives a certificate's subject DN
/// for the message (a host call, made only for the certificates that have endpoints).
pub fn evaluate(certs: &[Subject<'_>], name: &dyn Fn(&[u8]) -> String) -> Status {
    let mut problems = Vec::new();
    for c in certs {
        match endpoints(c.der) {
            Ok(e) if !e.any() => {}
            Ok(e) => problems.push(format!(
                "{} {:?} names {}",
                c.role,
                name(c.der),
                e.describe()
            )),
            Err(e) => problems.push(format!(
                "{} {:?} has revocation extensions that cannot be read ({e})",
                c.role,
                name(c.der)
            )),
        }
    }
    if problems.is_empty() {
        Status::NonRevokable
    } else {
        Status::Unknown(format!(
            "the revocation status cannot be determined: {}; this verifier cannot fetch OCSP responses or CRLs (offline), and the Notary Project specification treats an undeterminable status as a revocation failure",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x509::tests::{cert, ext, seq, tlv};

    /// DER of an OID from its first byte and its later arcs (each below 128).
    fn oid(first: u8, rest: &[u8]) -> Vec<u8> {
        let mut body = vec![first];
        body.extend_from_slice(rest);
        tlv(der::OID, &body)
    }

    fn crl_dp_oid() -> Vec<u8> {
        tlv(der::OID, &[0x55, 0x1d, 0x1f])
    }

    fn aia_oid() -> Vec<u8> {
        // 1.3.6.1.5.5.7.1.1
        oid(0x2b, &[6, 1, 5, 5, 7, 1, 1])
    }

    fn uri(s: &str) -> Vec<u8> {
        tlv(URI_NAME, s.as_bytes())
    }

    fn crl_dp(uris: &[&str]) -> Vec<u8> {
        let names: Vec<Vec<u8>> = uris.iter().map(|u| uri(u)).collect();
        let full = tlv(der::context(0), &names.concat());
        ext(
            crl_dp_oid(),
            seq(&[seq(&[tlv(der::context(0), &full)])]),
            false,
        )
    }

    fn aia(ocsp: &[&str], ca_issuers: &[&str]) -> Vec<u8> {
        let mut descs = Vec::new();
        for u in ocsp {
            descs.push(seq(&[oid(0x2b, &[6, 1, 5, 5, 7, 48, 1]), uri(u)]));
        }
        for u in ca_issuers {
            descs.push(seq(&[oid(0x2b, &[6, 1, 5, 5, 7, 48, 2]), uri(u)]));
        }
        ext(aia_oid(), seq(&descs), false)
    }

    /// Spec: "If the certificate being validated doesn't include information OCSP or CRLs then
    /// no revocation check is performed and the certificate is considered valid(not revoked)."
    #[test]
    fn certificates_without_ocsp_or_crl_information_are_non_revokable() {
        let bare = cert(&[]);
        assert_eq!(endpoints(&bare).unwrap(), Endpoints::default());
        // A caIssuers access description is not revocation information.
        let ca_issuers = cert(&[aia(&[], &["http://ca.test/root.crt"])]);
        assert!(!endpoints(&ca_issuers).unwrap().any());
        let certs = [
            Subject {
                role: "a".into(),
                der: &bare,
            },
            Subject {
                role: "b".into(),
                der: &ca_issuers,
            },
        ];
        assert_eq!(evaluate(&certs, &|_| "x".into()), Status::NonRevokable);
    }

    /// Spec: "If the certificate being validated includes either OCSP or CRL information, then
    /// the one which is present is used for revocation check" — here it cannot be, so the status
    /// "cannot be determined (revocation unavailable)".
    #[test]
    fn ocsp_or_crl_information_makes_the_status_unknown() {
        let crl = cert(&[crl_dp(&["http://crl.test/a.crl", "ldap://x"])]);
        let e = endpoints(&crl).unwrap();
        assert!(e.has_crl && e.ocsp_uris.is_empty());
        assert_eq!(e.crl_uris, ["http://crl.test/a.crl", "ldap://x"]);
        let ocsp = cert(&[aia(&["http://ocsp.test"], &["http://ca.test/c"])]);
        let e = endpoints(&ocsp).unwrap();
        assert_eq!(e.ocsp_uris, ["http://ocsp.test"]);
        assert!(!e.has_crl);
        // A critical flag and a distribution point without a URI still count.
        let bare_point = cert(&[ext(crl_dp_oid(), seq(&[seq(&[])]), true)]);
        let e = endpoints(&bare_point).unwrap();
        assert!(e.any());
        assert_eq!(e.describe(), "a CRL distribution point without a URI");

        let plain = cert(&[]);
        let certs = [
            Subject {
                role: "signing certificate #1".into(),
                der: &plain,
            },
            Subject {
                role: "TSA certificate #1".into(),
                der: &ocsp,
            },
            Subject {
                role: "signing certificate #2".into(),
                der: &crl,
            },
        ];
        let status = evaluate(&certs, &|d| format!("CN={}", d.len()));
        assert_eq!(status.name(), "unknown");
        let Status::Unknown(text) = status else {
            unreachable!()
        };
        assert!(text.contains("TSA certificate #1"), "{text}");
        assert!(text.contains("OCSP http://ocsp.test"), "{text}");
        assert!(text.contains("signing certificate #2"), "{text}");
        assert!(text.contains("CRL http://crl.test/a.crl"), "{text}");
        assert!(!text.contains("signing certificate #1"), "{text}");
    }

    /// Fail closed: revocation extensions that cannot be read leave the status undeterminable.
    #[test]
    fn unreadable_revocation_extensions_make_the_status_unknown() {
        let broken = cert(&[ext(crl_dp_oid(), vec![0x30, 0x05, 0x01], false)]);
        assert!(endpoints(&broken).is_err());
        let certs = [Subject {
            role: "signing certificate #1".into(),
            der: &broken,
        }];
        let Status::Unknown(text) = evaluate(&certs, &|_| "CN=x".into()) else {
            panic!("an unreadable extension passed")
        };
        assert!(text.contains("cannot be read"), "{text}");
        assert!(endpoints(b"\x04\x00").is_err());
    }
}
