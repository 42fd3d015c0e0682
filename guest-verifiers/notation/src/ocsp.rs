//! OCSP (RFC 6960): the request for one certificate and the judgement of the responder's
//! answer, following notation-core-go's OCSP check:
//!
//! * the request identifies the certificate by a SHA-1 `CertID` (what notation-core-go sends:
//!   the hash every public responder supports); no nonce is sent or required;
//! * the response must be `successful`, of type `id-pkix-ocsp-basic`, signed by the issuer or
//!   by a responder certificate the issuer signed for `id-kp-OCSPSigning` (included in the
//!   response), and carry a `SingleResponse` for this `CertID`;
//! * its `nextUpdate` must be present and not passed ("expired OCSP response");
//! * `good` is good; `revoked` is revoked unless an `invalidityDate` single extension is after
//!   the authentic signing time; `unknown` is an undetermined status (the caller then falls
//!   back to the CRL, as notation-core-go does).

use verifier_common::crypto::sha1_digest;

use crate::crl::INVALIDITY_DATE;
use crate::der::{self, Reader};
use crate::pkix::{self, ENUMERATED, NULL};
use crate::verify::Host;

/// `id-sha1`, DER content.
const SHA1_OID: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
/// `id-pkix-ocsp-basic`.
const OCSP_BASIC: &str = "1.3.6.1.5.5.7.48.1.1";
/// `id-kp-OCSPSigning`.
pub const OCSP_SIGNING_EKU: &str = "1.3.6.1.5.5.7.3.9";

/// Encodes one TLV (definite length).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// The SHA-1 `CertID` fields: (issuer name hash, issuer key hash, serial).
type CertIdHashes = (Vec<u8>, Vec<u8>, Vec<u8>);

/// The SHA-1 `CertID` fields of `cert` issued by `issuer`.
fn cert_id_hashes(cert: &[u8], issuer: &[u8]) -> Result<CertIdHashes, String> {
    let c = pkix::cert_id(cert)?;
    let i = pkix::cert_id(issuer).map_err(|e| format!("issuer certificate: {e}"))?;
    if c.issuer != i.subject {
        return Err("the next certificate of the chain is not the certificate's issuer".into());
    }
    Ok((
        sha1_digest(i.subject),
        sha1_digest(i.public_key),
        c.serial.to_vec(),
    ))
}

/// The DER `OCSPRequest` for `cert` (issued by `issuer`).
pub fn request(cert: &[u8], issuer: &[u8]) -> Result<Vec<u8>, String> {
    let (name_hash, key_hash, serial) = cert_id_hashes(cert, issuer)?;
    let mut serial_int = serial;
    if serial_int.first().is_none_or(|b| b & 0x80 != 0) {
        serial_int.insert(0, 0);
    }
    let cert_id = tlv(
        der::SEQUENCE,
        &[
            tlv(
                der::SEQUENCE,
                &[tlv(der::OID, SHA1_OID), tlv(NULL, &[])].concat(),
            ),
            tlv(der::OCTET_STRING, &name_hash),
            tlv(der::OCTET_STRING, &key_hash),
            tlv(der::INTEGER, &serial_int),
        ]
        .concat(),
    );
    let request = tlv(der::SEQUENCE, &cert_id);
    let tbs = tlv(der::SEQUENCE, &tlv(der::SEQUENCE, &request));
    Ok(tlv(der::SEQUENCE, &tbs))
}

/// What an OCSP responder said about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspStatus {
    /// `good` (or revoked only after the authentic signing time's invalidity date).
    Good,
    /// `revoked` at this time (Unix seconds).
    Revoked(i64),
    /// `unknown`: the responder does not know the certificate.
    Unknown,
}

/// Validates the DER `OCSPResponse` `data` for `cert` (issued by `issuer`) at `now`.
pub fn check<H: Host>(
    host: &H,
    data: &[u8],
    cert: &[u8],
    issuer: &[u8],
    now: i64,
    signing_time: Option<i64>,
) -> Result<OcspStatus, String> {
    let (name_hash, key_hash, serial) = cert_id_hashes(cert, issuer)?;
    let resp = der::single(data, der::SEQUENCE, "OCSPResponse")?;
    let mut r = Reader::new(resp.value);
    let status = r.expect(ENUMERATED, "responseStatus")?.value;
    if status != [0] {
        let name = match status {
            [1] => "malformedRequest",
            [2] => "internalError",
            [3] => "tryLater",
            [5] => "sigRequired",
            [6] => "unauthorized",
            _ => "an unknown status",
        };
        return Err(format!("the OCSP responder answered {name}"));
    }
    let bytes = r
        .optional(der::context(0))?
        .ok_or("a successful OCSP response without responseBytes")?;
    let mut rb = Reader::new(der::single(bytes.value, der::SEQUENCE, "responseBytes")?.value);
    let kind = der::oid_string(rb.expect(der::OID, "responseType")?.value);
    if kind != OCSP_BASIC {
        return Err(format!(
            "OCSP response type {kind} is not id-pkix-ocsp-basic"
        ));
    }
    let basic = rb.expect(der::OCTET_STRING, "response")?.value;
    let mut b = Reader::new(der::single(basic, der::SEQUENCE, "BasicOCSPResponse")?.value);
    let tbs = b.expect(der::SEQUENCE, "tbsResponseData")?;
    let (alg, encoding) =
        pkix::signature_algorithm(&pkix::algorithm_oid(&mut b, "signatureAlgorithm")?)?;
    let signature = pkix::bits(b.expect(pkix::BIT_STRING, "signature")?.value)?;
    let responder = match b.optional(der::context(0))? {
        Some(certs) => {
            let mut list = Reader::new(der::single(certs.value, der::SEQUENCE, "certs")?.value);
            list.optional(der::SEQUENCE)?.map(|c| c.raw)
        }
        None => None,
    };
    // The signer: the issuer itself, or a delegated responder the issuer certified.
    let signer = match responder {
        Some(rc) if rc != issuer => {
            host.verify_chain(&[rc.to_vec()], &[issuer.to_vec()], now, Some(OCSP_SIGNING_EKU))
                .map_err(|e| {
                    format!("the OCSP responder certificate is not authorized by the certificate's issuer: {e}")
                })?;
            rc
        }
        _ => issuer,
    };
    host.verify_signature(alg, encoding, signer, tbs.raw, signature)
        .map_err(|e| format!("the OCSP response signature does not verify: {e}"))?;

    let mut data = Reader::new(tbs.value);
    data.optional(der::context(0))?;
    let id = data.any()?;
    if id.tag != der::context(1) && id.tag != der::context(2) {
        return Err("responderID is neither byName nor byKey".into());
    }
    data.expect(der::GENERALIZED_TIME, "producedAt")?;
    let mut responses = data.nested(der::SEQUENCE, "responses")?;
    while !responses.is_empty() {
        let mut single = responses.nested(der::SEQUENCE, "SingleResponse")?;
        let mut cid = single.nested(der::SEQUENCE, "certID")?;
        let hash_alg = pkix::algorithm_oid(&mut cid, "hashAlgorithm")?;
        let n = cid.expect(der::OCTET_STRING, "issuerNameHash")?.value;
        let k = cid.expect(der::OCTET_STRING, "issuerKeyHash")?.value;
        let s = der::unsigned(cid.expect(der::INTEGER, "serialNumber")?.value);
        if hash_alg != "1.3.14.3.2.26" || n != name_hash || k != key_hash || s != serial {
            continue;
        }
        let status = single.any()?;
        let this_update = single.expect(der::GENERALIZED_TIME, "thisUpdate")?;
        der::generalized_time(this_update.value)?;
        let next_update = match single.optional(der::context(0))? {
            Some(t) => der::generalized_time(
                der::single(t.value, der::GENERALIZED_TIME, "nextUpdate")?.value,
            )?,
            None => return Err("the OCSP response has no nextUpdate".into()),
        };
        if now > next_update {
            return Err(format!(
                "expired OCSP response: nextUpdate {} has passed",
                crate::time::format_rfc3339(next_update)
            ));
        }
        let mut invalidity = None;
        if let Some(exts) = single.optional(der::context(1))? {
            let exts = der::single(exts.value, der::SEQUENCE, "singleExtensions")?;
            for e in pkix::extensions(exts.value)? {
                if e.id == INVALIDITY_DATE {
                    let t = der::single(e.value, der::GENERALIZED_TIME, "invalidityDate")?;
                    invalidity = Some(der::generalized_time(t.value)?);
                }
            }
        }
        return match status.tag {
            0x80 => Ok(OcspStatus::Good),
            0xa1 => {
                let mut info = Reader::new(status.value);
                let at = der::generalized_time(
                    info.expect(der::GENERALIZED_TIME, "revocationTime")?.value,
                )?;
                match (signing_time, invalidity) {
                    (Some(signed), Some(invalid)) if signed < invalid => Ok(OcspStatus::Good),
                    _ => Ok(OcspStatus::Revoked(at)),
                }
            }
            0x82 => Ok(OcspStatus::Unknown),
            other => Err(format!("certStatus has an unknown tag 0x{other:02x}")),
        };
    }
    Err("the OCSP response has no status for this certificate".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocation::tests::FetchlessHost;

    #[test]
    fn tlv_lengths() {
        assert_eq!(tlv(4, &[1]), [4, 1, 1]);
        let long = tlv(4, &[0; 200]);
        assert_eq!(&long[..3], [4, 0x81, 200]);
        let longer = tlv(4, &[0; 300]);
        assert_eq!(&longer[..4], [4, 0x82, 1, 44]);
        // What this encoder writes, the reader reads back.
        assert_eq!(der::single(&longer, 4, "x").unwrap().value.len(), 300);
    }

    #[test]
    fn non_successful_and_garbage_responses_are_errors() {
        // Certificates that parse: issuer and leaf naming it.
        let name = tlv(der::SEQUENCE, &tlv(der::SET, b"n"));
        let mk = |issuer: &[u8], subject: &[u8]| {
            let tbs = tlv(
                der::SEQUENCE,
                &[
                    tlv(der::INTEGER, &[5]),
                    tlv(der::SEQUENCE, &[]),
                    issuer.to_vec(),
                    tlv(der::SEQUENCE, &[]),
                    subject.to_vec(),
                    tlv(
                        der::SEQUENCE,
                        &[tlv(der::SEQUENCE, &[]), tlv(pkix::BIT_STRING, &[0, 1])].concat(),
                    ),
                ]
                .concat(),
            );
            tlv(
                der::SEQUENCE,
                &[tbs, tlv(der::SEQUENCE, &[]), tlv(pkix::BIT_STRING, &[0])].concat(),
            )
        };
        let issuer = mk(&name, &name);
        let leaf = mk(&name, &tlv(der::SEQUENCE, &[]));
        let req = request(&leaf, &issuer).unwrap();
        assert_eq!(req[0], der::SEQUENCE);
        let try_later = tlv(der::SEQUENCE, &tlv(ENUMERATED, &[3]));
        let e = check(&FetchlessHost, &try_later, &leaf, &issuer, 0, None).unwrap_err();
        assert!(e.contains("tryLater"), "{e}");
        assert!(check(&FetchlessHost, b"junk", &leaf, &issuer, 0, None).is_err());
        // The issuer must be the leaf's issuer.
        assert!(request(&leaf, &leaf).is_err());
    }
}
