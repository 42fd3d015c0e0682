//! Revocation of a certificate chain: the OCSP responders and CRL distribution points a
//! certificate names (read from the DER), and the chain's status from them ([`evaluate`]).
//!
//! The Notary Project's certificate revocation evaluation (trust-store-trust-policy.md) says: "If
//! the certificate being validated doesn't include information OCSP or CRLs then no revocation
//! check is performed and the certificate is considered valid (not revoked)", and "If the
//! revocation status of any of the certificates is revoked or cannot be determined (revocation
//! unavailable), fail this step". The guest has no network: the host's `revocation` import
//! fetches the CRLs and OCSP responses (only from URLs the certificate names, cached), and the
//! guest judges them ([`crate::crl`], [`crate::ocsp`]).

use crate::der::{self, Reader};
use crate::time::format_rfc3339;
use crate::verify::Host;
use crate::{crl, ocsp, x509};

/// CRL distribution points extension.
const CRL_DISTRIBUTION_POINTS: &str = "2.5.29.31";
/// Freshest CRL (delta CRL distribution points) extension.
const FRESHEST_CRL: &str = "2.5.29.46";
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
    /// The certificate names delta CRLs (freshest CRL extension).
    pub has_freshest_crl: bool,
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
            FRESHEST_CRL => out.has_freshest_crl = true,
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
    /// Every certificate that names revocation information was checked and is not revoked.
    Good,
    /// A certificate is revoked (the text names it and the source).
    Revoked(String),
    /// Some certificate's status could not be determined ("revocation unavailable"); the text
    /// names the certificates and why.
    Unknown(String),
}

impl Status {
    /// The extension (and metric label) value.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Skipped => "skipped",
            Status::NonRevokable => "nonRevokable",
            Status::Good => "good",
            Status::Revoked(_) => "revoked",
            Status::Unknown(_) => "unknown",
        }
    }
}

/// The status of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CertStatus {
    NonRevokable,
    Good,
    Revoked(String),
    Unknown(String),
}

/// Evaluates the revocation status of `chain` (leaf first, ending in its root), as
/// notation-core-go does: every certificate but the root is checked against its issuer (the next
/// certificate), by OCSP when it names a responder, falling back to its CRLs when OCSP does not
/// give a good or revoked answer, else by its CRLs; the root is not revokable. A revoked
/// certificate makes the chain revoked, else an undeterminable one makes it unknown. `role`
/// names the chain's certificates in messages (`signing certificate`); `signing_time` is the
/// authentic signing time, compared with an `invalidityDate`.
pub fn evaluate<H: Host>(
    host: &H,
    chain: &[Vec<u8>],
    role: &str,
    now: i64,
    signing_time: Option<i64>,
) -> Status {
    let mut revoked = Vec::new();
    let mut unknown = Vec::new();
    let mut good = false;
    for (i, pair) in chain.windows(2).enumerate() {
        let name = || {
            host.parse_certificate(&pair[0])
                .map_or_else(|e| format!("(unparsable: {e})"), |c| c.subject)
        };
        match cert_status(host, &pair[0], &pair[1], now, signing_time) {
            CertStatus::NonRevokable => {}
            CertStatus::Good => good = true,
            CertStatus::Revoked(why) => {
                revoked.push(format!("{role} #{} {:?} is revoked ({why})", i + 1, name()))
            }
            CertStatus::Unknown(why) => unknown.push(format!(
                "{role} #{} {:?}: revocation status is unknown ({why})",
                i + 1,
                name()
            )),
        }
    }
    if !revoked.is_empty() {
        Status::Revoked(revoked.join("; "))
    } else if !unknown.is_empty() {
        Status::Unknown(format!(
            "{}; the Notary Project specification treats an undeterminable status as a revocation failure",
            unknown.join("; ")
        ))
    } else if good {
        Status::Good
    } else {
        Status::NonRevokable
    }
}

fn cert_status<H: Host>(
    host: &H,
    cert: &[u8],
    issuer: &[u8],
    now: i64,
    signing_time: Option<i64>,
) -> CertStatus {
    let e = match endpoints(cert) {
        Ok(e) => e,
        Err(e) => {
            return CertStatus::Unknown(format!("its revocation extensions cannot be read: {e}"));
        }
    };
    if !e.any() {
        return CertStatus::NonRevokable;
    }
    let mut why = Vec::new();
    if !e.ocsp_uris.is_empty() {
        match ocsp_status(host, cert, issuer, &e.ocsp_uris, now, signing_time) {
            Ok(ocsp::OcspStatus::Good) => return CertStatus::Good,
            Ok(ocsp::OcspStatus::Revoked(at)) => {
                return CertStatus::Revoked(format!("OCSP: revoked at {}", format_rfc3339(at)));
            }
            Ok(ocsp::OcspStatus::Unknown) => {
                why.push("OCSP: the responder's status is unknown".to_owned())
            }
            Err(e) => why.push(format!("OCSP: {e}")),
        }
        if !e.has_crl {
            return CertStatus::Unknown(why.join("; "));
        }
    }
    if e.has_freshest_crl {
        why.push(
            "CRL: the certificate names a delta CRL (freshest CRL), which is not supported".into(),
        );
        return CertStatus::Unknown(why.join("; "));
    }
    if e.crl_uris.is_empty() {
        why.push("CRL: its distribution point names no URI".into());
        return CertStatus::Unknown(why.join("; "));
    }
    // Every distribution point is checked: they may be partitioned CRLs.
    for url in &e.crl_uris {
        let status = host
            .fetch_crl(cert, issuer, url)
            .and_then(|signed| crl::check(&signed, cert, now, signing_time));
        match status {
            Ok(crl::CrlStatus::Good) => {}
            Ok(crl::CrlStatus::Revoked(at)) => {
                return CertStatus::Revoked(format!(
                    "CRL {url}: revoked at {}",
                    format_rfc3339(at)
                ));
            }
            Err(e) => {
                why.push(format!("CRL {url}: {e}"));
                return CertStatus::Unknown(why.join("; "));
            }
        }
    }
    CertStatus::Good
}

/// Asks the responders in turn; the first definite answer (good, revoked or unknown) counts.
fn ocsp_status<H: Host>(
    host: &H,
    cert: &[u8],
    issuer: &[u8],
    urls: &[String],
    now: i64,
    signing_time: Option<i64>,
) -> Result<ocsp::OcspStatus, String> {
    let request = ocsp::request(cert, issuer)?;
    let mut errors = Vec::new();
    for url in urls {
        match host
            .fetch_ocsp(cert, url, &request)
            .and_then(|data| ocsp::check(host, &data, cert, issuer, now, signing_time))
        {
            Ok(status) => return Ok(status),
            Err(e) => errors.push(format!("{url}: {e}")),
        }
    }
    Err(errors.join("; "))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ocsp::tests::TestHost;
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

    fn status(chain: &[Vec<u8>]) -> Status {
        evaluate(
            &TestHost::scripted(Vec::new(), Vec::new()),
            chain,
            "signing certificate",
            0,
            None,
        )
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
        assert_eq!(status(&[bare, ca_issuers]), Status::NonRevokable);
    }

    /// notation-core-go checks every certificate but the last: "Last is root cert, which will
    /// never be revoked by OCSP or CRL".
    #[test]
    fn the_root_is_not_checked() {
        let crl = cert(&[crl_dp(&["http://crl.test/a.crl"])]);
        assert_eq!(status(std::slice::from_ref(&crl)), Status::NonRevokable);
        assert_eq!(status(&[]), Status::NonRevokable);
    }

    /// Spec: "If the certificate being validated includes either OCSP or CRL information, then
    /// the one which is present is used for revocation check"; one that cannot be checked has a
    /// status that "cannot be determined (revocation unavailable)".
    #[test]
    fn ocsp_or_crl_information_that_cannot_be_fetched_is_unknown() {
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

        let root = cert(&[]);
        let Status::Unknown(text) = status(&[crl.clone(), root.clone()]) else {
            panic!("not unknown")
        };
        assert!(text.contains("signing certificate #1"), "{text}");
        assert!(
            text.contains("http://crl.test/a.crl is unreachable"),
            "{text}"
        );
        let Status::Unknown(text) = status(&[ocsp, root.clone()]) else {
            panic!("not unknown")
        };
        assert!(text.contains("OCSP"), "{text}");
        let Status::Unknown(text) = status(&[bare_point, root.clone()]) else {
            panic!("not unknown")
        };
        assert!(text.contains("names no URI"), "{text}");
        // Delta CRLs are not supported: fail closed.
        let delta = cert(&[
            crl_dp(&["http://crl.test/a.crl"]),
            ext(tlv(der::OID, &[0x55, 0x1d, 0x2e]), seq(&[]), false),
        ]);
        let Status::Unknown(text) = status(&[delta, root]) else {
            panic!("not unknown")
        };
        assert!(text.contains("delta CRL"), "{text}");
    }

    /// Fail closed: revocation extensions that cannot be read leave the status undeterminable.
    #[test]
    fn unreadable_revocation_extensions_make_the_status_unknown() {
        let broken = cert(&[ext(crl_dp_oid(), vec![0x30, 0x05, 0x01], false)]);
        assert!(endpoints(&broken).is_err());
        let Status::Unknown(text) = status(&[broken, cert(&[])]) else {
            panic!("an unreadable extension passed")
        };
        assert!(text.contains("cannot be read"), "{text}");
        assert!(endpoints(b"\x04\x00").is_err());
    }

    const CA_CRL: &str = "http://crl.test/ca.crl";
    const INT_CRL: &str = "http://crl.test/int.crl";
    const OCSP_A: &str = "http://ocsp.test/a";
    const OCSP_B: &str = "http://ocsp.test/b";

    /// The root `ca` (key `ca key`, what [`ocsp::tests::Response::good`] answers for).
    fn root() -> Vec<u8> {
        let ca = ocsp::tests::name(b"ca");
        ocsp::tests::cert_with(&[1], &ca, &ca, b"ca key", &[])
    }

    /// Serial 5 issued by the root, with revocation extensions `exts`.
    fn leaf(exts: &[Vec<u8>]) -> Vec<u8> {
        let ca = ocsp::tests::name(b"ca");
        let subject = ocsp::tests::name(b"leaf");
        ocsp::tests::cert_with(&[5], &ca, &subject, b"leaf key", exts)
    }

    /// A CRL of `issuer` (a `Name`) listing `serials`, its signature verified.
    fn listing(issuer: &[u8], serials: &[u8]) -> Result<crl::SignedCrl, String> {
        let entries: Vec<Vec<u8>> = serials
            .iter()
            .map(|&s| crl::tests::entry(s, "20250601000000Z", &[]))
            .collect();
        Ok(crl::SignedCrl {
            der: crl::tests::crl(issuer, "20300101000000Z", &entries, &[]),
            signature: Ok(()),
        })
    }

    fn ocsp_answer(r: &ocsp::tests::Response) -> Result<Vec<u8>, String> {
        Ok(r.der())
    }

    fn unknown_answer() -> ocsp::tests::Response {
        ocsp::tests::Response::good().unknown()
    }

    fn judge(host: &TestHost, chain: &[Vec<u8>]) -> Status {
        evaluate(host, chain, "signing certificate", ocsp::tests::NOW, None)
    }

    /// notation-core-go (`CertCheckStatus`): a certificate naming OCSP responders is checked
    /// by OCSP — the request for its `CertID` is sent to the responder — and a good or revoked
    /// answer decides; its CRLs are then not fetched.
    #[test]
    fn a_definite_ocsp_answer_decides() {
        let good = ocsp::tests::Response::good();
        let host = TestHost::scripted(vec![(OCSP_A, ocsp_answer(&good))], Vec::new());
        let chain = [leaf(&[aia(&[OCSP_A], &[]), crl_dp(&[CA_CRL])]), root()];
        assert_eq!(judge(&host, &chain), Status::Good);
        assert_eq!(*host.asked.borrow(), [format!("OCSP {OCSP_A}")]);
        assert_eq!(
            *host.requests.borrow(),
            [ocsp::request(&chain[0], &chain[1]).unwrap()]
        );

        let revoked = good.revoked("20250601000000Z");
        let host = TestHost::scripted(vec![(OCSP_A, ocsp_answer(&revoked))], Vec::new());
        let Status::Revoked(text) = judge(&host, &chain) else {
            panic!("not revoked")
        };
        let name = format!("{:?}", format!("CN={}", chain[0].len()));
        assert_eq!(
            text,
            format!(
                "signing certificate #1 {name} is revoked (OCSP: revoked at 2025-06-01T00:00:00Z)"
            )
        );
        assert_eq!(host.asked.borrow().len(), 1);
    }

    /// notation-core-go: the responders are asked in turn and "a valid response has been
    /// received from an OCSP server" (good, revoked or unknown) ends the search; without one,
    /// every responder's error is reported.
    #[test]
    fn responders_are_asked_in_turn_until_one_answers() {
        let chain = [leaf(&[aia(&[OCSP_A, OCSP_B], &[])]), root()];
        let good = ocsp::tests::Response::good();
        let host = TestHost::scripted(vec![(OCSP_B, ocsp_answer(&good))], Vec::new());
        assert_eq!(judge(&host, &chain), Status::Good);
        assert_eq!(
            *host.asked.borrow(),
            [format!("OCSP {OCSP_A}"), format!("OCSP {OCSP_B}")]
        );

        let host = TestHost::scripted(
            vec![
                (OCSP_A, ocsp_answer(&unknown_answer())),
                (OCSP_B, ocsp_answer(&good)),
            ],
            Vec::new(),
        );
        let Status::Unknown(text) = judge(&host, &chain) else {
            panic!("an unknown OCSP answer did not make the status unknown")
        };
        assert!(
            text.contains("OCSP: the responder's status is unknown"),
            "{text}"
        );
        assert_eq!(host.asked.borrow().len(), 1);

        let host = TestHost::scripted(Vec::new(), Vec::new());
        let Status::Unknown(text) = judge(&host, &chain) else {
            panic!("unreachable responders did not make the status unknown")
        };
        assert!(
            text.contains(&format!(
                "OCSP: {OCSP_A}: {OCSP_A} is unreachable; {OCSP_B}: {OCSP_B} is unreachable"
            )),
            "{text}"
        );
    }

    /// notation-core-go (`revocation.go`): "Fallback to CRL" when OCSP does not give a good or
    /// revoked answer and the certificate has CRL distribution points; the CRL then decides,
    /// and the OCSP reason is kept when it cannot either.
    #[test]
    fn an_undetermined_ocsp_answer_falls_back_to_the_crls() {
        let ca = ocsp::tests::name(b"ca");
        let chain = [leaf(&[aia(&[OCSP_A], &[]), crl_dp(&[CA_CRL])]), root()];
        let host = TestHost::scripted(
            vec![(OCSP_A, ocsp_answer(&unknown_answer()))],
            vec![(CA_CRL, listing(&ca, &[4]))],
        );
        assert_eq!(judge(&host, &chain), Status::Good);
        assert_eq!(
            *host.asked.borrow(),
            [format!("OCSP {OCSP_A}"), format!("CRL {CA_CRL}")]
        );

        let host = TestHost::scripted(Vec::new(), vec![(CA_CRL, listing(&ca, &[5]))]);
        let Status::Revoked(text) = judge(&host, &chain) else {
            panic!("not revoked")
        };
        assert!(
            text.ends_with(&format!("(CRL {CA_CRL}: revoked at 2025-06-01T00:00:00Z)")),
            "{text}"
        );

        let host = TestHost::scripted(vec![(OCSP_A, ocsp_answer(&unknown_answer()))], Vec::new());
        let Status::Unknown(text) = judge(&host, &chain) else {
            panic!("not unknown")
        };
        assert!(
            text.contains(&format!(
                "OCSP: the responder's status is unknown; CRL {CA_CRL}: {CA_CRL} is unreachable"
            )),
            "{text}"
        );
    }

    /// notation-core-go checks every CRL distribution point ("partitioned CRLs"): one that
    /// lists the serial revokes, one that cannot be checked leaves the status undeterminable,
    /// and only all good is good.
    #[test]
    fn every_distribution_point_is_checked() {
        let ca = ocsp::tests::name(b"ca");
        let chain = [leaf(&[crl_dp(&[CA_CRL, INT_CRL])]), root()];
        let both_good = TestHost::scripted(
            Vec::new(),
            vec![(CA_CRL, listing(&ca, &[4])), (INT_CRL, listing(&ca, &[6]))],
        );
        assert_eq!(judge(&both_good, &chain), Status::Good);
        assert_eq!(both_good.asked.borrow().len(), 2);

        let second_revokes = TestHost::scripted(
            Vec::new(),
            vec![(CA_CRL, listing(&ca, &[4])), (INT_CRL, listing(&ca, &[5]))],
        );
        let Status::Revoked(text) = judge(&second_revokes, &chain) else {
            panic!("not revoked")
        };
        assert!(text.contains(INT_CRL), "{text}");

        let second_unreachable = TestHost::scripted(Vec::new(), vec![(CA_CRL, listing(&ca, &[4]))]);
        let Status::Unknown(text) = judge(&second_unreachable, &chain) else {
            panic!("not unknown")
        };
        assert!(text.contains(&format!("CRL {INT_CRL}")), "{text}");
    }

    /// Spec: "If the revocation status of any of the certificates is revoked or cannot be
    /// determined (revocation unavailable), fail this step" — a revoked certificate anywhere
    /// makes the chain revoked, before any unknown one; the chain is good only when a
    /// certificate was checked and none failed.
    #[test]
    fn a_chain_is_as_bad_as_its_worst_certificate() {
        let ca = ocsp::tests::name(b"ca");
        let int = ocsp::tests::name(b"int");
        let intermediate =
            |exts: &[Vec<u8>]| ocsp::tests::cert_with(&[5], &ca, &int, b"int key", exts);
        let below = |exts: &[Vec<u8>]| {
            ocsp::tests::cert_with(&[6], &int, &ocsp::tests::name(b"leaf"), b"k", exts)
        };
        let host = TestHost::scripted(
            Vec::new(),
            vec![(CA_CRL, listing(&ca, &[4])), (INT_CRL, listing(&int, &[6]))],
        );
        // Leaf revoked, intermediate undeterminable: revoked.
        let chain = [
            below(&[crl_dp(&[INT_CRL])]),
            intermediate(&[crl_dp(&["http://crl.test/none"])]),
            root(),
        ];
        let Status::Revoked(text) = judge(&host, &chain) else {
            panic!("not revoked")
        };
        assert!(text.starts_with("signing certificate #1 "), "{text}");
        assert!(!text.contains("none"), "{text}");
        // Leaf undeterminable, intermediate good: unknown, naming the leaf.
        let chain = [
            below(&[crl_dp(&["http://crl.test/none"])]),
            intermediate(&[crl_dp(&[CA_CRL])]),
            root(),
        ];
        let Status::Unknown(text) = judge(&host, &chain) else {
            panic!("not unknown")
        };
        assert!(text.starts_with("signing certificate #1 "), "{text}");
        assert!(
            text.ends_with(
                "; the Notary Project specification treats an undeterminable status as a revocation failure"
            ),
            "{text}"
        );
        // The intermediate's position is named.
        let chain = [
            below(&[]),
            intermediate(&[crl_dp(&["http://crl.test/none"])]),
            root(),
        ];
        let Status::Unknown(text) = judge(&host, &chain) else {
            panic!("not unknown")
        };
        assert!(text.starts_with("signing certificate #2 "), "{text}");
        // A non-revokable leaf under a good intermediate: good.
        let chain = [below(&[]), intermediate(&[crl_dp(&[CA_CRL])]), root()];
        assert_eq!(judge(&host, &chain), Status::Good);
    }

    /// The `revocationStatus` extension values, and the human-readable endpoint list.
    #[test]
    fn status_names_and_endpoint_descriptions() {
        assert_eq!(Status::Skipped.name(), "skipped");
        assert_eq!(Status::NonRevokable.name(), "nonRevokable");
        assert_eq!(Status::Good.name(), "good");
        assert_eq!(Status::Revoked(String::new()).name(), "revoked");
        assert_eq!(Status::Unknown(String::new()).name(), "unknown");
        let e = endpoints(&cert(&[aia(&[OCSP_A], &[]), crl_dp(&[CA_CRL])])).unwrap();
        assert!(e.any());
        assert_eq!(e.describe(), format!("OCSP {OCSP_A}, CRL {CA_CRL}"));
        let only_ocsp = endpoints(&cert(&[aia(&[OCSP_A], &[])])).unwrap();
        assert!(only_ocsp.any() && !only_ocsp.has_crl);
        assert_eq!(only_ocsp.describe(), format!("OCSP {OCSP_A}"));
    }
}
