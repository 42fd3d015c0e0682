//! OCSP (RFC 6960): the request for one certificate and the judgement of the responder's
//! answer, following notation-core-go's OCSP check:
//!
//! * the request identifies the certificate by a SHA-1 `CertID` (what notation-core-go sends:
//!   the hash every public responder supports); no nonce is sent or required;
//! * the response must be `successful`, of type `id-pkix-ocsp-basic`, signed by the issuer or
//!   by a responder certificate the issuer signed for `id-kp-OCSPSigning` (included in the
//!   response), and carry a `SingleResponse` for this `CertID`;
//! * its `nextUpdate` must be present and not passed ("expired OCSP response"), and its
//!   `thisUpdate` not in the future (RFC 6960 §4.2.2.1; notation-core-go does not check it);
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
        let this_update =
            der::generalized_time(single.expect(der::GENERALIZED_TIME, "thisUpdate")?.value)?;
        // RFC 6960 §4.2.2.1: "Responses whose thisUpdate time is later than the local system
        // time SHOULD be considered unreliable."
        if this_update > now {
            return Err(format!(
                "unreliable OCSP response: thisUpdate {} is in the future",
                crate::time::format_rfc3339(this_update)
            ));
        }
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
pub(crate) mod tests {
    use super::*;

    #[test]
    fn tlv_lengths() {
        assert_eq!(tlv(4, &[1]), [4, 1, 1]);
        // X.690 §8.1.3.4: the short form is for lengths up to 127; 128 needs the long form
        // (a short-form 0x80 would be the indefinite length).
        assert_eq!(tlv(4, &[0; 127])[..2], [4, 127]);
        assert_eq!(tlv(4, &[0; 128])[..3], [4, 0x81, 0x80]);
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
        let e = check(&trusting(), &try_later, &leaf, &issuer, 0, None).unwrap_err();
        assert!(e.contains("tryLater"), "{e}");
        assert!(check(&trusting(), b"junk", &leaf, &issuer, 0, None).is_err());
        // The issuer must be the leaf's issuer.
        assert!(request(&leaf, &leaf).is_err());
    }

    use std::cell::RefCell;

    use crate::crl::tests::{ext, gen_time, invalidity, seq};
    use crate::verify::{CertInfo, SigAlg, SigEncoding};

    /// 2026-01-01T00:00:00Z, the verification time of these tests.
    pub(crate) const NOW: i64 = 1_767_225_600;
    /// `ecdsa-with-SHA256`, DER content.
    const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2];
    /// `id-pkix-ocsp-basic`, DER content.
    const BASIC: &[u8] = &[0x2b, 6, 1, 5, 5, 7, 48, 1, 1];

    pub(crate) fn name(cn: &[u8]) -> Vec<u8> {
        seq(&[tlv(der::SET, cn)])
    }

    /// A certificate with only what `pkix::cert_id` reads.
    fn cert(serial: &[u8], issuer: &[u8], subject: &[u8], key: &[u8]) -> Vec<u8> {
        cert_with(serial, issuer, subject, key, &[])
    }

    /// A certificate with only what `pkix::cert_id` reads, and extensions `exts`.
    pub(crate) fn cert_with(
        serial: &[u8],
        issuer: &[u8],
        subject: &[u8],
        key: &[u8],
        exts: &[Vec<u8>],
    ) -> Vec<u8> {
        let alg = seq(&[tlv(der::OID, ECDSA_SHA256)]);
        let mut tbs = vec![
            tlv(der::context(0), &tlv(der::INTEGER, &[2])),
            tlv(der::INTEGER, serial),
            alg.clone(),
            issuer.to_vec(),
            seq(&[]),
            subject.to_vec(),
            seq(&[
                alg.clone(),
                tlv(pkix::BIT_STRING, &[[0].as_slice(), key].concat()),
            ]),
        ];
        if !exts.is_empty() {
            tbs.push(tlv(der::context(3), &seq(exts)));
        }
        seq(&[seq(&tbs), alg, tlv(pkix::BIT_STRING, &[0, 1])])
    }

    /// The CA, its leaf (serial 5) and a responder certificate it issued.
    struct Pki {
        ca: Vec<u8>,
        leaf: Vec<u8>,
        responder: Vec<u8>,
    }

    fn pki() -> Pki {
        let ca = name(b"ca");
        Pki {
            ca: cert(&[1], &ca, &ca, b"ca key"),
            leaf: cert(&[5], &ca, &name(b"leaf"), b"leaf key"),
            responder: cert(&[9], &ca, &name(b"responder"), b"responder key"),
        }
    }

    /// One `OCSPResponse`, field by field; `good` is a valid answer for the leaf of [`pki`].
    #[derive(Clone)]
    pub(crate) struct Response {
        response_status: u8,
        response_type: Vec<u8>,
        with_bytes: bool,
        version: bool,
        responder_id: u8,
        /// SingleResponses for other certificates, before the leaf's.
        others: Vec<Vec<u8>>,
        hash_alg: Vec<u8>,
        name_hash: Vec<u8>,
        key_hash: Vec<u8>,
        serial: Vec<u8>,
        cert_status: Vec<u8>,
        this_update: &'static str,
        next_update: Option<&'static str>,
        single_extensions: Vec<Vec<u8>>,
        signature_algorithm: Vec<u8>,
        certs: Option<Vec<Vec<u8>>>,
    }

    impl Response {
        /// A `good` answer for serial 5 of the issuer named `ca` with key `ca key`.
        pub(crate) fn good() -> Self {
            Response {
                response_status: 0,
                response_type: BASIC.to_vec(),
                with_bytes: true,
                version: false,
                responder_id: der::context(1),
                others: Vec::new(),
                hash_alg: SHA1_OID.to_vec(),
                name_hash: sha1_digest(&name(b"ca")),
                key_hash: sha1_digest(b"ca key"),
                serial: vec![5],
                cert_status: tlv(0x80, &[]),
                this_update: "20251231000000Z",
                next_update: Some("20260108000000Z"),
                single_extensions: Vec::new(),
                signature_algorithm: ECDSA_SHA256.to_vec(),
                certs: None,
            }
        }

        fn with_certs(mut self, certs: Option<Vec<Vec<u8>>>) -> Self {
            self.certs = certs;
            self
        }

        /// The same answering `unknown`.
        pub(crate) fn unknown(mut self) -> Self {
            self.cert_status = tlv(0x82, &[]);
            self
        }

        pub(crate) fn revoked(mut self, at: &'static str) -> Self {
            self.cert_status = tlv(der::context(1), &gen_time(at));
            self
        }

        fn single(&self) -> Vec<u8> {
            let cert_id = seq(&[
                seq(&[tlv(der::OID, &self.hash_alg), tlv(NULL, &[])]),
                tlv(der::OCTET_STRING, &self.name_hash),
                tlv(der::OCTET_STRING, &self.key_hash),
                tlv(der::INTEGER, &self.serial),
            ]);
            let mut parts = vec![
                cert_id,
                self.cert_status.clone(),
                gen_time(self.this_update),
            ];
            if let Some(next) = self.next_update {
                parts.push(tlv(der::context(0), &gen_time(next)));
            }
            if !self.single_extensions.is_empty() {
                parts.push(tlv(der::context(1), &seq(&self.single_extensions)));
            }
            seq(&parts)
        }

        /// `tbsResponseData`, what the signature covers.
        fn tbs(&self) -> Vec<u8> {
            let mut parts = Vec::new();
            if self.version {
                parts.push(tlv(der::context(0), &tlv(der::INTEGER, &[0])));
            }
            parts.push(tlv(self.responder_id, &name(b"responder")));
            parts.push(gen_time("20251231000000Z"));
            let mut responses = self.others.clone();
            responses.push(self.single());
            parts.push(seq(&responses));
            seq(&parts)
        }

        pub(crate) fn der(&self) -> Vec<u8> {
            let mut basic = vec![
                self.tbs(),
                seq(&[tlv(der::OID, &self.signature_algorithm)]),
                tlv(pkix::BIT_STRING, &[0, 0x5a, 0x5a]),
            ];
            if let Some(certs) = &self.certs {
                basic.push(tlv(der::context(0), &seq(certs)));
            }
            let mut outer = vec![tlv(ENUMERATED, &[self.response_status])];
            if self.with_bytes {
                outer.push(tlv(
                    der::context(0),
                    &seq(&[
                        tlv(der::OID, &self.response_type),
                        tlv(der::OCTET_STRING, &seq(&basic)),
                    ]),
                ));
            }
            seq(&outer)
        }
    }

    /// A `verify_signature` call: (algorithm, encoding, signer, message, signature).
    type SignatureCall = (SigAlg, SigEncoding, Vec<u8>, Vec<u8>, Vec<u8>);
    /// A `verify_chain` call: (chain, roots, time, EKU).
    type ChainCall = (Vec<Vec<u8>>, Vec<Vec<u8>>, i64, Option<String>);

    /// An OCSP (or CRL) answer a [`TestHost`] gives for a URL.
    type Script<T> = (&'static str, Result<T, String>);

    /// The notation guest's test host: its cryptography answers as set, OCSP and CRL fetches
    /// are answered from scripts by URL (unscripted URLs are unreachable), `parse_certificate`
    /// names a certificate `CN=<length>`, and every call is recorded.
    pub(crate) struct TestHost {
        signature: Result<(), String>,
        chain: Result<(), String>,
        /// The `verify_signature` calls.
        signatures: RefCell<Vec<SignatureCall>>,
        /// The `verify_chain` calls.
        chains: RefCell<Vec<ChainCall>>,
        ocsp: Vec<Script<Vec<u8>>>,
        crls: Vec<Script<crate::crl::SignedCrl>>,
        /// `OCSP <url>` / `CRL <url>`, in order.
        pub(crate) asked: RefCell<Vec<String>>,
        /// The OCSP requests sent.
        pub(crate) requests: RefCell<Vec<Vec<u8>>>,
    }

    impl TestHost {
        fn answering(signature: Result<(), String>, chain: Result<(), String>) -> Self {
            TestHost {
                signature,
                chain,
                signatures: RefCell::default(),
                chains: RefCell::default(),
                ocsp: Vec::new(),
                crls: Vec::new(),
                asked: RefCell::default(),
                requests: RefCell::default(),
            }
        }

        /// Signatures verify, chains do not; fetches answer from `ocsp` and `crls`.
        pub(crate) fn scripted(
            ocsp: Vec<Script<Vec<u8>>>,
            crls: Vec<Script<crate::crl::SignedCrl>>,
        ) -> Self {
            TestHost {
                ocsp,
                crls,
                ..TestHost::answering(Ok(()), Err("no chain in this test".into()))
            }
        }
    }

    impl verifier_common::crypto::Crypto for TestHost {
        fn verify_signature(
            &self,
            alg: SigAlg,
            encoding: SigEncoding,
            cert: &[u8],
            msg: &[u8],
            sig: &[u8],
        ) -> Result<(), String> {
            self.signatures.borrow_mut().push((
                alg,
                encoding,
                cert.to_vec(),
                msg.to_vec(),
                sig.to_vec(),
            ));
            self.signature.clone()
        }
        fn digest(&self, _: crate::verify::HashAlg, _: &[u8]) -> Vec<u8> {
            Vec::new()
        }
        fn verify_chain(
            &self,
            chain: &[Vec<u8>],
            roots: &[Vec<u8>],
            at: i64,
            eku: Option<&str>,
        ) -> Result<Vec<CertInfo>, String> {
            self.chains.borrow_mut().push((
                chain.to_vec(),
                roots.to_vec(),
                at,
                eku.map(str::to_owned),
            ));
            self.chain.clone().map(|()| Vec::new())
        }
    }

    impl Host for TestHost {
        fn manifest(&self) -> Result<Vec<u8>, String> {
            Err("unused".into())
        }
        fn blob(&self, _: &str) -> Result<Vec<u8>, String> {
            Err("unused".into())
        }
        fn parse_certificate(&self, der: &[u8]) -> Result<CertInfo, String> {
            Ok(CertInfo {
                subject: format!("CN={}", der.len()),
                issuer: String::new(),
                serial: String::new(),
                not_before: 0,
                not_after: 0,
            })
        }
        fn log(&self, _: crate::verify::LogLevel, _: &str) {}
        fn fetch_crl(
            &self,
            _: &[u8],
            _: &[u8],
            url: &str,
        ) -> Result<crate::crl::SignedCrl, String> {
            self.asked.borrow_mut().push(format!("CRL {url}"));
            answer(&self.crls, url)
        }
        fn fetch_ocsp(&self, _: &[u8], url: &str, request: &[u8]) -> Result<Vec<u8>, String> {
            self.asked.borrow_mut().push(format!("OCSP {url}"));
            self.requests.borrow_mut().push(request.to_vec());
            answer(&self.ocsp, url)
        }
    }

    /// The scripted answer for `url`.
    fn answer<T: Clone>(scripts: &[Script<T>], url: &str) -> Result<T, String> {
        let script = scripts.iter().find(|(u, _)| *u == url);
        script.map_or_else(|| Err(format!("{url} is unreachable")), |(_, r)| r.clone())
    }

    fn trusting() -> TestHost {
        TestHost::answering(Ok(()), Ok(()))
    }

    /// `check` of `r` for the leaf of `p` at `now`, with a host whose cryptography verifies.
    fn judge(
        p: &Pki,
        r: &Response,
        now: i64,
        signing_time: Option<i64>,
    ) -> Result<OcspStatus, String> {
        check(&trusting(), &r.der(), &p.leaf, &p.ca, now, signing_time)
    }

    /// RFC 6960 §4.1.1: `CertID` is `hashAlgorithm`, `issuerNameHash` ("the hash of the
    /// issuer's distinguished name (DN)"), `issuerKeyHash` ("the hash of the issuer's public
    /// key ... (excluding the tag and length fields)") and `serialNumber`; notation-core-go
    /// asks with SHA-1. A serial whose top bit is set gets a leading zero octet (X.690 §8.3:
    /// an INTEGER is two's complement).
    #[test]
    fn the_request_names_the_certificate_by_its_sha1_cert_id() {
        let p = pki();
        let req = request(&p.leaf, &p.ca).unwrap();
        let mut tbs = Reader::new(
            der::single(&req, der::SEQUENCE, "OCSPRequest")
                .unwrap()
                .value,
        )
        .nested(der::SEQUENCE, "tbsRequest")
        .unwrap();
        let mut list = tbs.nested(der::SEQUENCE, "requestList").unwrap();
        let mut one = list.nested(der::SEQUENCE, "Request").unwrap();
        let mut cid = one.nested(der::SEQUENCE, "reqCert").unwrap();
        assert_eq!(
            pkix::algorithm_oid(&mut cid, "alg").unwrap(),
            "1.3.14.3.2.26"
        );
        let n = cid.expect(der::OCTET_STRING, "n").unwrap().value;
        let k = cid.expect(der::OCTET_STRING, "k").unwrap().value;
        let s = cid.expect(der::INTEGER, "s").unwrap().value;
        assert_eq!(n, sha1_digest(&name(b"ca")));
        assert_eq!(k, sha1_digest(b"ca key"));
        assert_eq!(s, [5]);
        assert!(cid.is_empty() && one.is_empty() && list.is_empty() && tbs.is_empty());

        let high = cert(&[0x80], &name(b"ca"), &name(b"leaf"), b"k");
        let req = request(&high, &p.ca).unwrap();
        assert!(req.ends_with(&[der::INTEGER, 2, 0, 0x80]), "{req:02x?}");
        let low = cert(&[0x7f], &name(b"ca"), &name(b"leaf"), b"k");
        let req = request(&low, &p.ca).unwrap();
        assert!(req.ends_with(&[der::INTEGER, 1, 0x7f]), "{req:02x?}");
    }

    /// RFC 6960 §4.2.1: "good" — "a positive response to the status inquiry"; §4.2.2.2: the
    /// key that signs "MUST belong to ... the CA who issued the certificate in question" (or a
    /// delegate). The signature covers `tbsResponseData` ("computed across the hash of the DER
    /// encoding of ResponseData", §4.2.1) and is checked with the issuer's key.
    #[test]
    fn a_good_status_signed_by_the_issuer_is_good() {
        let p = pki();
        let r = Response::good();
        let host = trusting();
        assert_eq!(
            check(&host, &r.der(), &p.leaf, &p.ca, NOW, None),
            Ok(OcspStatus::Good)
        );
        let calls = host.signatures.borrow();
        assert_eq!(calls.len(), 1);
        let (alg, encoding, signer, msg, sig) = &calls[0];
        assert_eq!(*alg, SigAlg::EcdsaP256Sha256);
        assert_eq!(*encoding, SigEncoding::Der);
        assert_eq!(signer, &p.ca);
        assert_eq!(msg, &r.tbs());
        assert_eq!(sig, &[0x5a, 0x5a]);
        assert!(host.chains.borrow().is_empty());
        // The optional version and a byKey responderID are read past.
        let keyed = Response {
            version: true,
            responder_id: der::context(2),
            ..r.clone()
        };
        assert_eq!(judge(&p, &keyed, NOW, None), Ok(OcspStatus::Good));
        // The issuer itself listed in `certs` is still the issuer, not a delegate.
        let listed = r.clone().with_certs(Some(vec![p.ca.clone()]));
        let host = trusting();
        assert_eq!(
            check(&host, &listed.der(), &p.leaf, &p.ca, NOW, None),
            Ok(OcspStatus::Good)
        );
        assert!(host.chains.borrow().is_empty());
        assert_eq!(host.signatures.borrow()[0].2, p.ca);
        // An empty `certs` list names no responder: the issuer signs.
        let empty = r.with_certs(Some(Vec::new()));
        assert_eq!(judge(&p, &empty, NOW, None), Ok(OcspStatus::Good));
    }

    /// RFC 6960 §4.2.1: "revoked" — "the certificate has been revoked", with its
    /// `revocationTime`; "unknown" — "the responder doesn't know about the certificate being
    /// requested" (notation-core-go: `UnknownStatusError`, never OK). Any other `CertStatus`
    /// choice is not understood, so no status.
    #[test]
    fn revoked_and_unknown_are_not_good() {
        let p = pki();
        let revoked = Response::good().revoked("20250601000000Z");
        assert_eq!(
            judge(&p, &revoked, NOW, None),
            Ok(OcspStatus::Revoked(1_748_736_000))
        );
        let unknown = Response::good().unknown();
        assert_eq!(judge(&p, &unknown, NOW, None), Ok(OcspStatus::Unknown));
        let other = Response {
            cert_status: tlv(0x83, &[]),
            ..Response::good()
        };
        let e = judge(&p, &other, NOW, None).unwrap_err();
        assert!(e.contains("0x83"), "{e}");
        // A RevokedInfo without a revocationTime is malformed, not good.
        let empty = Response {
            cert_status: tlv(der::context(1), &[]),
            ..Response::good()
        };
        assert!(judge(&p, &empty, NOW, None).is_err());
    }

    /// notation-core-go: an `invalidityDate` extension makes a revoked certificate good only
    /// when the authentic signing time is known and `SigningTime.Before(invalidityDate)`;
    /// other single extensions do not matter.
    #[test]
    fn an_invalidity_date_after_the_signing_time_keeps_the_signature_good() {
        let p = pki();
        let unrelated = ext(&[0x2b, 6, 1, 5, 5, 7, 48, 1, 5], false, &[1, 2, 3]);
        let r = Response {
            single_extensions: vec![unrelated.clone(), invalidity("20250101000000Z")],
            ..Response::good().revoked("20250601000000Z")
        };
        let invalid = 1_735_689_600; // 2025-01-01
        let revoked = Ok(OcspStatus::Revoked(1_748_736_000));
        assert_eq!(judge(&p, &r, NOW, Some(invalid - 1)), Ok(OcspStatus::Good));
        assert_eq!(judge(&p, &r, NOW, Some(invalid)), revoked);
        assert_eq!(judge(&p, &r, NOW, Some(invalid + 1)), revoked);
        assert_eq!(judge(&p, &r, NOW, None), revoked);
        // Without an invalidity date the signing time changes nothing.
        let plain = Response {
            single_extensions: vec![unrelated],
            ..r.clone()
        };
        assert_eq!(judge(&p, &plain, NOW, Some(invalid - 1)), revoked);
        // A good answer stays good whatever the invalidity date.
        let good = Response {
            cert_status: tlv(0x80, &[]),
            ..r.clone()
        };
        assert_eq!(
            judge(&p, &good, NOW, Some(invalid + 1)),
            Ok(OcspStatus::Good)
        );
        // An invalidity date that is not a GeneralizedTime is malformed.
        let bad = Response {
            single_extensions: vec![ext(&[0x55, 0x1d, 0x18], false, &tlv(der::INTEGER, &[1]))],
            ..r
        };
        assert!(judge(&p, &bad, NOW, Some(invalid - 1)).is_err());
    }

    /// RFC 6960 §4.2.2.2: a delegated responder "MUST ... [be] issued directly by the CA that
    /// is identified in the request" and its certificate "MUST include ... id-kp-OCSPSigning";
    /// the response is then verified with the responder's key. Neither an unauthorized
    /// responder nor a signature that does not verify gives a status (§3.2: "Prior to
    /// accepting a signed response ... the client MUST confirm that" the signature is valid
    /// and the signer authorized).
    #[test]
    fn a_delegated_responder_must_be_certified_by_the_issuer_for_ocsp_signing() {
        let p = pki();
        let r = Response::good().with_certs(Some(vec![p.responder.clone(), p.ca.clone()]));
        let host = trusting();
        assert_eq!(
            check(&host, &r.der(), &p.leaf, &p.ca, NOW, None),
            Ok(OcspStatus::Good)
        );
        let chains = host.chains.borrow();
        assert_eq!(chains.len(), 1);
        let (chain, roots, at, eku) = &chains[0];
        assert_eq!(chain, std::slice::from_ref(&p.responder));
        assert_eq!(roots, std::slice::from_ref(&p.ca));
        assert_eq!(*at, NOW);
        assert_eq!(eku.as_deref(), Some(OCSP_SIGNING_EKU));
        assert_eq!(host.signatures.borrow()[0].2, p.responder);

        let unauthorized = TestHost::answering(Ok(()), Err("no OCSPSigning".into()));
        let e = check(&unauthorized, &r.der(), &p.leaf, &p.ca, NOW, None).unwrap_err();
        assert!(
            e.contains("not authorized") && e.contains("no OCSPSigning"),
            "{e}"
        );
        assert!(unauthorized.signatures.borrow().is_empty());

        let forged = TestHost::answering(Err("bad signature".into()), Ok(()));
        let e = check(&forged, &r.der(), &p.leaf, &p.ca, NOW, None).unwrap_err();
        assert!(e.contains("signature does not verify"), "{e}");
        let forged = TestHost::answering(Err("bad signature".into()), Ok(()));
        let direct = Response::good();
        let e = check(&forged, &direct.der(), &p.leaf, &p.ca, NOW, None).unwrap_err();
        assert!(e.contains("signature does not verify"), "{e}");
        // An algorithm the host does not verify is no signature.
        let dsa = Response {
            signature_algorithm: vec![0x2a, 0x86, 0x48, 0xce, 0x38, 4, 3],
            ..direct
        };
        assert!(judge(&p, &dsa, NOW, None).is_err());
    }

    /// RFC 6960 §3.2: the client MUST confirm that "the certificate identified in a received
    /// response corresponds to the certificate that was identified in the corresponding
    /// request" — each `CertID` field (hash algorithm, issuer name hash, issuer key hash,
    /// serial) must match; answers for other certificates are skipped, and none for this one
    /// is no status.
    #[test]
    fn only_a_single_response_for_this_cert_id_counts() {
        let p = pki();
        let good = Response::good();
        let wrong = [
            Response {
                serial: vec![6],
                ..good.clone()
            },
            Response {
                name_hash: sha1_digest(&name(b"other")),
                ..good.clone()
            },
            Response {
                key_hash: sha1_digest(b"other key"),
                ..good.clone()
            },
            // id-sha256: the same hashes under another algorithm's name.
            Response {
                hash_alg: vec![0x60, 0x86, 0x48, 1, 101, 3, 4, 2, 1],
                ..good.clone()
            },
        ];
        for r in &wrong {
            let e = judge(&p, r, NOW, None).unwrap_err();
            assert!(e.contains("no status for this certificate"), "{e}");
        }
        // A revoked answer for another certificate first, then this one's.
        let first = Response {
            serial: vec![6],
            ..good.clone().revoked("20250601000000Z")
        };
        let both = Response {
            others: vec![first.single()],
            ..good.clone()
        };
        assert_eq!(judge(&p, &both, NOW, None), Ok(OcspStatus::Good));
        // A leading zero octet of the serial is no different serial.
        let padded = Response {
            serial: vec![0, 5],
            ..good
        };
        assert_eq!(judge(&p, &padded, NOW, None), Ok(OcspStatus::Good));
    }

    /// RFC 6960 §4.2.2.1: "Responses whose nextUpdate value is earlier than the local system
    /// time value SHOULD be considered unreliable. Responses whose thisUpdate time is later
    /// than the local system time SHOULD be considered unreliable." notation-core-go:
    /// `time.Now().After(resp.NextUpdate)` is an "expired OCSP response" — a missing
    /// nextUpdate (the zero time) included; the instant itself is not after.
    #[test]
    fn the_validity_window_must_hold_now() {
        let p = pki();
        let good = Response::good();
        let next = 1_767_830_400; // 2026-01-08
        assert_eq!(judge(&p, &good, next, None), Ok(OcspStatus::Good));
        let e = judge(&p, &good, next + 1, None).unwrap_err();
        assert!(e.contains("expired OCSP response"), "{e}");
        let open = Response {
            next_update: None,
            ..good.clone()
        };
        let e = judge(&p, &open, NOW, None).unwrap_err();
        assert!(e.contains("no nextUpdate"), "{e}");
        let this = 1_767_139_200; // 2025-12-31
        assert_eq!(judge(&p, &good, this, None), Ok(OcspStatus::Good));
        let e = judge(&p, &good, this - 1, None).unwrap_err();
        assert!(e.contains("thisUpdate") && e.contains("future"), "{e}");
        // A revoked answer from the future is no revocation either: unreliable.
        let revoked = good.clone().revoked("20250601000000Z");
        assert!(judge(&p, &revoked, this - 1, None).is_err());
        // Times that are not GeneralizedTime are malformed.
        let bad_next = Response {
            next_update: Some("2026"),
            ..good.clone()
        };
        assert!(judge(&p, &bad_next, NOW, None).is_err());
        let bad_this = Response {
            this_update: "yesterday",
            ..good
        };
        assert!(judge(&p, &bad_this, NOW, None).is_err());
    }

    /// RFC 6960 §4.2.1: `OCSPResponseStatus` other than `successful` carries no status
    /// ("the response ... consist[s] of ... responseStatus" only); a successful one must carry
    /// `responseBytes` of type `id-pkix-ocsp-basic` ("Responders MUST be capable of
    /// producing responses of the id-pkix-ocsp-basic response type"), and the `ResponderID`
    /// is `byName [1]` or `byKey [2]`.
    #[test]
    fn unsuccessful_or_foreign_responses_have_no_status() {
        let p = pki();
        let good = Response::good();
        for (code, expected) in [
            (1, "malformedRequest"),
            (2, "internalError"),
            (3, "tryLater"),
            (4, "an unknown status"),
            (5, "sigRequired"),
            (6, "unauthorized"),
            (7, "an unknown status"),
        ] {
            let r = Response {
                response_status: code,
                ..good.clone()
            };
            let e = judge(&p, &r, NOW, None).unwrap_err();
            assert_eq!(e, format!("the OCSP responder answered {expected}"));
        }
        let bare = Response {
            with_bytes: false,
            ..good.clone()
        };
        let e = judge(&p, &bare, NOW, None).unwrap_err();
        assert!(e.contains("without responseBytes"), "{e}");
        let foreign = Response {
            response_type: vec![0x2b, 6, 1, 5, 5, 7, 48, 1, 2],
            ..good.clone()
        };
        let e = judge(&p, &foreign, NOW, None).unwrap_err();
        assert!(e.contains("is not id-pkix-ocsp-basic"), "{e}");
        let nameless = Response {
            responder_id: der::context(3),
            ..good.clone()
        };
        let e = judge(&p, &nameless, NOW, None).unwrap_err();
        assert!(e.contains("responderID"), "{e}");
        // Truncated and trailing bytes are not DER.
        let der = good.der();
        assert!(judge_raw(&p, &der[..der.len() - 1]).is_err());
        assert!(judge_raw(&p, &[der.as_slice(), &[0]].concat()).is_err());
        assert_eq!(judge_raw(&p, &der), Ok(OcspStatus::Good));
    }

    fn judge_raw(p: &Pki, data: &[u8]) -> Result<OcspStatus, String> {
        check(&trusting(), data, &p.leaf, &p.ca, NOW, None)
    }
}
