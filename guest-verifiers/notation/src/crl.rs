//! Certificate revocation lists (RFC 5280 §5): parsing, validation against the issuer, and the
//! status of one certificate, following notation-core-go's CRL check:
//!
//! * the CRL must be signed by the certificate's issuer (and name it as its issuer);
//! * `nextUpdate` must be present and not passed ("expired CRL");
//! * an unsupported critical CRL extension (a delta CRL indicator, for one) makes it unusable;
//!   the issuing distribution point is ignored (every distribution point is checked);
//! * an entry for the serial number revokes the certificate, unless an `invalidityDate` entry
//!   extension is after the authentic signing time (known only for `notary.x509.signingAuthority`),
//!   or its reason is `certificateHold`/`removeFromCRL` and the latest such entry is a removal;
//!   an unsupported critical entry extension makes the status undeterminable.

use crate::der::{self, Reader};
use crate::pkix::{self, ENUMERATED, Extension};

/// CRL entry extension: reason code.
const REASON_CODE: &str = "2.5.29.21";
/// CRL entry extension: invalidity date.
pub const INVALIDITY_DATE: &str = "2.5.29.24";
/// CRL extension: issuing distribution point.
const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
/// `CRLReason` `certificateHold`.
const CERTIFICATE_HOLD: u8 = 6;
/// `CRLReason` `removeFromCRL`.
const REMOVE_FROM_CRL: u8 = 8;

/// One revoked certificate entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Serial number, minimal unsigned.
    pub serial: &'a [u8],
    /// `revocationDate`, Unix seconds.
    pub revocation_date: i64,
    /// The content of `crlEntryExtensions` (empty when absent).
    pub extensions: &'a [u8],
}

/// A parsed CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl<'a> {
    /// `tbsCertList`, whole DER (what the signature covers).
    pub tbs: &'a [u8],
    /// `signatureAlgorithm`, dotted.
    pub signature_algorithm: String,
    /// The signature bits.
    pub signature: &'a [u8],
    /// The issuer `Name`, whole DER.
    pub issuer: &'a [u8],
    /// `thisUpdate`, Unix seconds.
    pub this_update: i64,
    /// `nextUpdate`, Unix seconds.
    pub next_update: Option<i64>,
    /// Revoked certificates.
    pub entries: Vec<Entry<'a>>,
    /// CRL extensions.
    pub extensions: Vec<Extension<'a>>,
}

/// Parses a DER `CertificateList`.
pub fn parse(data: &[u8]) -> Result<Crl<'_>, String> {
    let list = der::single(data, der::SEQUENCE, "CertificateList")?;
    let mut outer = Reader::new(list.value);
    let tbs_tlv = outer.expect(der::SEQUENCE, "tbsCertList")?;
    let signature_algorithm = pkix::algorithm_oid(&mut outer, "signatureAlgorithm")?;
    let signature = pkix::bits(outer.expect(pkix::BIT_STRING, "signatureValue")?.value)?;
    let mut tbs = Reader::new(tbs_tlv.value);
    tbs.optional(der::INTEGER)?;
    tbs.expect(der::SEQUENCE, "signature")?;
    let issuer = tbs.expect(der::SEQUENCE, "issuer")?.raw;
    let this_update = pkix::time(tbs.any()?).map_err(|e| format!("thisUpdate: {e}"))?;
    let next_update = if pkix::is_time(tbs.peek_tag()) {
        Some(pkix::time(tbs.any()?).map_err(|e| format!("nextUpdate: {e}"))?)
    } else {
        None
    };
    let mut entries = Vec::new();
    if let Some(revoked) = tbs.optional(der::SEQUENCE)? {
        let mut r = Reader::new(revoked.value);
        while !r.is_empty() {
            let mut e = r.nested(der::SEQUENCE, "revoked certificate")?;
            let serial = der::unsigned(e.expect(der::INTEGER, "userCertificate")?.value);
            let revocation_date =
                pkix::time(e.any()?).map_err(|e| format!("revocationDate: {e}"))?;
            let extensions = match e.optional(der::SEQUENCE)? {
                Some(x) => x.value,
                None => &[],
            };
            entries.push(Entry {
                serial,
                revocation_date,
                extensions,
            });
        }
    }
    let extensions = match tbs.optional(der::context(0))? {
        Some(x) => pkix::extensions(der::single(x.value, der::SEQUENCE, "crlExtensions")?.value)?,
        None => Vec::new(),
    };
    if !tbs.is_empty() {
        return Err("tbsCertList: unexpected trailing fields".into());
    }
    Ok(Crl {
        tbs: tbs_tlv.raw,
        signature_algorithm,
        signature,
        issuer,
        this_update,
        next_update,
        entries,
        extensions,
    })
}

/// A CRL as the host's `revocation` import hands it over: the DER, and the outcome of checking
/// its signature with the key of the issuer the guest named (the host's cryptography, as
/// `verify-signature` would answer it, remembered per CRL and issuer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCrl {
    /// The DER `CertificateList`.
    pub der: Vec<u8>,
    /// Whether its signature verifies with the issuer's key (the error says why not).
    pub signature: Result<(), String>,
}

/// What a CRL says about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlStatus {
    /// Not on the list (or its entry does not apply at the signing time, or was removed).
    Good,
    /// Revoked at this time (Unix seconds).
    Revoked(i64),
}

/// Validates the CRL `signed` as issued by `cert`'s issuer (the issuer whose key the host
/// checked the signature with) and fresh at `now`, then looks up `cert`. `signing_time` is the
/// authentic signing time, when there is one.
pub fn check(
    signed: &SignedCrl,
    cert: &[u8],
    now: i64,
    signing_time: Option<i64>,
) -> Result<CrlStatus, String> {
    let crl = parse(&signed.der).map_err(|e| format!("the CRL cannot be parsed: {e}"))?;
    let id = pkix::cert_id(cert)?;
    if crl.issuer != id.issuer {
        return Err("the CRL's issuer is not the certificate's issuer".into());
    }
    pkix::signature_algorithm(&crl.signature_algorithm)?;
    signed
        .signature
        .clone()
        .map_err(|e| format!("the CRL is not signed by the certificate's issuer: {e}"))?;
    let Some(next_update) = crl.next_update else {
        return Err("the CRL has no nextUpdate".into());
    };
    if now > next_update {
        return Err(format!(
            "expired CRL: nextUpdate {} has passed (now {})",
            crate::time::format_rfc3339(next_update),
            crate::time::format_rfc3339(now)
        ));
    }
    if let Some(ext) = crl
        .extensions
        .iter()
        .find(|e| e.critical && e.id != ISSUING_DISTRIBUTION_POINT)
    {
        return Err(format!(
            "the CRL has an unsupported critical extension {} (a delta CRL is not supported)",
            ext.id
        ));
    }
    lookup(&crl, id.serial, signing_time)
}

/// The status of serial `serial` on a validated `crl`.
fn lookup(crl: &Crl<'_>, serial: &[u8], signing_time: Option<i64>) -> Result<CrlStatus, String> {
    // The latest certificateHold / removeFromCRL entry: (time, reason).
    let mut temporary: Option<(i64, u8)> = None;
    for entry in crl.entries.iter().filter(|e| e.serial == serial) {
        let mut reason = None;
        let mut invalidity = None;
        for ext in pkix::extensions(entry.extensions)? {
            match ext.id.as_str() {
                REASON_CODE => {
                    let v = der::single(ext.value, ENUMERATED, "reasonCode")?.value;
                    reason = v.last().copied().filter(|_| v.len() == 1);
                }
                INVALIDITY_DATE => {
                    let t = der::single(ext.value, der::GENERALIZED_TIME, "invalidityDate")?;
                    invalidity = Some(der::generalized_time(t.value)?);
                }
                other if ext.critical => {
                    return Err(format!(
                        "the CRL entry has an unsupported critical extension {other}"
                    ));
                }
                _ => {}
            }
        }
        if let (Some(signed), Some(invalid)) = (signing_time, invalidity)
            && signed < invalid
        {
            // Signed before the certificate became invalid: not revoked at signing time.
            continue;
        }
        match reason {
            Some(r @ (CERTIFICATE_HOLD | REMOVE_FROM_CRL)) => {
                if temporary.is_none_or(|(t, _)| t < entry.revocation_date) {
                    temporary = Some((entry.revocation_date, r));
                }
            }
            _ => return Ok(CrlStatus::Revoked(entry.revocation_date)),
        }
    }
    Ok(match temporary {
        Some((t, CERTIFICATE_HOLD)) => CrlStatus::Revoked(t),
        _ => CrlStatus::Good,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pkix::BIT_STRING;

    /// A TLV with any length.
    pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = value.len();
        if n < 0x80 {
            out.push(n as u8);
        } else if n < 0x100 {
            out.extend([0x81, n as u8]);
        } else {
            out.extend([0x82, (n >> 8) as u8, n as u8]);
        }
        out.extend_from_slice(value);
        out
    }

    pub(crate) fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(der::SEQUENCE, &parts.concat())
    }

    pub(crate) fn gen_time(s: &str) -> Vec<u8> {
        tlv(der::GENERALIZED_TIME, s.as_bytes())
    }

    pub(crate) fn ext(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
        let mut parts = vec![tlv(der::OID, oid)];
        if critical {
            parts.push(tlv(der::BOOLEAN, &[0xff]));
        }
        parts.push(tlv(der::OCTET_STRING, value));
        seq(&parts)
    }

    pub(crate) fn entry(serial: u8, date: &str, exts: &[Vec<u8>]) -> Vec<u8> {
        let mut parts = vec![tlv(der::INTEGER, &[serial]), gen_time(date)];
        if !exts.is_empty() {
            parts.push(seq(exts));
        }
        seq(&parts)
    }

    pub(crate) fn reason(code: u8) -> Vec<u8> {
        ext(&[0x55, 0x1d, 0x15], false, &tlv(ENUMERATED, &[code]))
    }

    pub(crate) fn invalidity(date: &str) -> Vec<u8> {
        ext(&[0x55, 0x1d, 0x18], false, &gen_time(date))
    }

    /// A CRL by `issuer` with `entries`, `next` as nextUpdate (empty: none), CRL extensions.
    pub(crate) fn crl(issuer: &[u8], next: &str, entries: &[Vec<u8>], exts: &[Vec<u8>]) -> Vec<u8> {
        let mut tbs = vec![
            tlv(der::INTEGER, &[1]),
            seq(&[tlv(der::OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2])]),
            issuer.to_vec(),
            gen_time("20200101000000Z"),
        ];
        if !next.is_empty() {
            tbs.push(gen_time(next));
        }
        if !entries.is_empty() {
            tbs.push(seq(entries));
        }
        if !exts.is_empty() {
            tbs.push(tlv(der::context(0), &seq(exts)));
        }
        seq(&[
            seq(&tbs),
            seq(&[tlv(der::OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2])]),
            tlv(BIT_STRING, &[0, 1, 2, 3]),
        ])
    }

    const ISSUER: &[u8] = &[0x30, 0x03, 0x31, 0x01, 0x41];

    fn status(entries: &[Vec<u8>], signing_time: Option<i64>) -> Result<CrlStatus, String> {
        let data = crl(ISSUER, "20300101000000Z", entries, &[]);
        let parsed = parse(&data).unwrap();
        lookup(&parsed, &[7], signing_time)
    }

    #[test]
    fn parses_fields() {
        let data = crl(
            ISSUER,
            "20300101000000Z",
            &[entry(7, "20250101000000Z", &[])],
            &[],
        );
        let c = parse(&data).unwrap();
        assert_eq!(c.issuer, ISSUER);
        assert_eq!(c.signature_algorithm, "1.2.840.10045.4.3.2");
        assert_eq!(c.signature, [1, 2, 3]);
        assert_eq!(c.next_update, Some(1_893_456_000));
        assert_eq!(c.entries.len(), 1);
        assert_eq!(parse(&crl(ISSUER, "", &[], &[])).unwrap().next_update, None);
        assert!(parse(b"\x30\x00").is_err());
    }

    /// RFC 5280 §5.3.1 / notation-core-go: any reason other than certificateHold and
    /// removeFromCRL revokes permanently; only a matching serial counts.
    #[test]
    fn a_listed_serial_is_revoked() {
        assert_eq!(status(&[], None), Ok(CrlStatus::Good));
        assert_eq!(
            status(&[entry(8, "20250101000000Z", &[])], None),
            Ok(CrlStatus::Good)
        );
        let t = 1_735_689_600; // 2025-01-01
        assert_eq!(
            status(&[entry(7, "20250101000000Z", &[reason(1)])], None),
            Ok(CrlStatus::Revoked(t))
        );
    }

    /// notation-core-go: "If the invalidity date extension is present in the CRL entry and
    /// SigningTime is not zero, the certificate is considered revoked if the SigningTime is
    /// after the invalidity date."
    #[test]
    fn invalidity_date_against_the_signing_time() {
        let e = [entry(
            7,
            "20250601000000Z",
            &[invalidity("20250101000000Z")],
        )];
        let before = 1_700_000_000; // 2023
        let after = 1_740_000_000; // 2025-02
        assert_eq!(status(&e, Some(before)), Ok(CrlStatus::Good));
        assert!(matches!(status(&e, Some(after)), Ok(CrlStatus::Revoked(_))));
        // Without an authentic signing time the entry revokes.
        assert!(matches!(status(&e, None), Ok(CrlStatus::Revoked(_))));
    }

    /// certificateHold revokes; a later removeFromCRL lifts it.
    #[test]
    fn hold_and_removal() {
        let hold = entry(7, "20250101000000Z", &[reason(CERTIFICATE_HOLD)]);
        let removed = entry(7, "20250201000000Z", &[reason(REMOVE_FROM_CRL)]);
        assert!(matches!(
            status(std::slice::from_ref(&hold), None),
            Ok(CrlStatus::Revoked(_))
        ));
        assert_eq!(status(&[hold, removed], None), Ok(CrlStatus::Good));
    }

    /// A certificate of serial 7 issued by `ISSUER` (only what `pkix::cert_id` reads).
    fn serial_7_cert() -> Vec<u8> {
        let alg = seq(&[tlv(der::OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2])]);
        let tbs = seq(&[
            tlv(der::context(0), &tlv(der::INTEGER, &[2])),
            tlv(der::INTEGER, &[7]),
            alg.clone(),
            ISSUER.to_vec(),
            seq(&[]),
            seq(&[]),
            seq(&[alg.clone(), tlv(BIT_STRING, &[0, 4])]),
        ]);
        seq(&[tbs, alg, tlv(BIT_STRING, &[0, 1])])
    }

    fn signed(der: Vec<u8>, signature: Result<(), String>) -> SignedCrl {
        SignedCrl { der, signature }
    }

    /// notation-core-go (`crl.validate`): the CRL must be signed by the certificate's issuer,
    /// name it as its issuer, use a supported algorithm and have a `nextUpdate` not yet passed;
    /// the host's signature outcome is the only thing taken from the host, and a failed one is
    /// never overridden.
    #[test]
    fn check_validates_before_looking_up() {
        let cert = serial_7_cert();
        let now = 1_800_000_000; // 2027
        let listed = crl(
            ISSUER,
            "20300101000000Z",
            &[entry(7, "20250101000000Z", &[])],
            &[],
        );
        assert!(matches!(
            check(&signed(listed.clone(), Ok(())), &cert, now, None),
            Ok(CrlStatus::Revoked(_))
        ));
        let e = check(&signed(listed.clone(), Err("bad".into())), &cert, now, None).unwrap_err();
        assert!(
            e.contains("not signed by the certificate's issuer: bad"),
            "{e}"
        );
        let other_issuer = crl(&[0x30, 0x03, 0x31, 0x01, 0x42], "20300101000000Z", &[], &[]);
        let e = check(&signed(other_issuer, Ok(())), &cert, now, None).unwrap_err();
        assert!(e.contains("not the certificate's issuer"), "{e}");
        let stale = crl(ISSUER, "20250101000000Z", &[], &[]);
        let e = check(&signed(stale, Ok(())), &cert, now, None).unwrap_err();
        assert!(e.contains("expired CRL"), "{e}");
        let no_next = crl(ISSUER, "", &[], &[]);
        let e = check(&signed(no_next, Ok(())), &cert, now, None).unwrap_err();
        assert!(e.contains("no nextUpdate"), "{e}");
        // A signature algorithm outside the supported set (here DSA with SHA-256).
        let mut dsa = listed.clone();
        let ecdsa_oid = [0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2];
        let at = dsa.windows(8).rposition(|w| w == ecdsa_oid).unwrap();
        dsa[at..at + 8].copy_from_slice(&[0x60, 0x86, 0x48, 0x01, 0x65, 3, 4, 3]);
        let e = check(&signed(dsa, Ok(())), &cert, now, None).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        let delta = crl(
            ISSUER,
            "20300101000000Z",
            &[],
            &[ext(&[0x55, 0x1d, 0x1b], true, &tlv(der::INTEGER, &[1]))],
        );
        let e = check(&signed(delta, Ok(())), &cert, now, None).unwrap_err();
        assert!(
            e.contains("unsupported critical extension 2.5.29.27"),
            "{e}"
        );
    }

    /// RFC 5280 §5.3: an unrecognized critical entry extension means the entry cannot be
    /// processed: fail closed.
    #[test]
    fn unknown_critical_entry_extension_is_an_error() {
        let e = [entry(
            7,
            "20250101000000Z",
            &[ext(&[0x55, 0x1d, 0x1d], true, &[5, 0])],
        )];
        assert!(status(&e, None).unwrap_err().contains("2.5.29.29"));
    }

    /// RFC 5280 §5.1.2.5: "nextUpdate ... indicates the date by which the next CRL will be
    /// issued": a CRL is current up to and including that instant. §5.2/§5.3: only a *critical*
    /// extension that is not understood makes a CRL or an entry unusable; non-critical ones are
    /// ignored, and a critical issuingDistributionPoint is understood.
    #[test]
    fn current_until_next_update_and_non_critical_extensions_are_ignored() {
        let cert = serial_7_cert();
        let next = 1_893_456_000; // 2030-01-01, the CRL's nextUpdate
        let plain = crl(ISSUER, "20300101000000Z", &[], &[]);
        assert_eq!(
            check(&signed(plain.clone(), Ok(())), &cert, next, None),
            Ok(CrlStatus::Good)
        );
        assert!(
            check(&signed(plain, Ok(())), &cert, next + 1, None)
                .unwrap_err()
                .contains("expired CRL")
        );
        let crl_number = ext(&[0x55, 0x1d, 0x14], false, &tlv(der::INTEGER, &[9]));
        let idp = ext(&[0x55, 0x1d, 0x1c], true, &seq(&[]));
        let with_exts = crl(ISSUER, "20300101000000Z", &[], &[crl_number, idp]);
        assert_eq!(
            check(&signed(with_exts, Ok(())), &cert, next, None),
            Ok(CrlStatus::Good)
        );
        // A non-critical unknown entry extension (here certificateIssuer) is ignored.
        let e = [entry(
            7,
            "20250101000000Z",
            &[ext(&[0x55, 0x1d, 0x1d], false, &[5, 0])],
        )];
        assert!(matches!(status(&e, None), Ok(CrlStatus::Revoked(_))));
    }

    /// notation-core-go: revoked "if the SigningTime is after the invalidity date" — a
    /// signature made at the very instant of invalidity is not before it, so it is revoked.
    #[test]
    fn a_signature_at_the_invalidity_instant_is_revoked() {
        let e = [entry(
            7,
            "20250601000000Z",
            &[invalidity("20250101000000Z")],
        )];
        let invalid_at = 1_735_689_600; // 2025-01-01
        assert!(matches!(
            status(&e, Some(invalid_at)),
            Ok(CrlStatus::Revoked(_))
        ));
        assert_eq!(status(&e, Some(invalid_at - 1)), Ok(CrlStatus::Good));
    }
}
