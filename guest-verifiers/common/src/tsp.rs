//! RFC 3161 timestamp countersignatures: a CMS `ContentInfo` / `SignedData` (RFC 5652) whose
//! encapsulated content is a `TSTInfo`, over the bytes of the envelope's signature.
//!
//! [`verify_token`] checks, in order: the structure; the message imprint is the digest of the
//! envelope's signature; the signed attributes' `contentType` is `id-ct-TSTInfo` and their
//! `messageDigest` is the digest of the `TSTInfo` DER; the certificate `sid` names is the one the
//! signed ESS `signingCertificateV2` (RFC 5816) or `signingCertificate` (RFC 2634, SHA-1)
//! attribute hashes, so the signer certificate cannot be swapped for another with the same key
//! or name (RFC 3161 §2.4.1 requires the attribute); the signer's signature over the DER of the
//! signed attributes (re-tagged as a SET) verifies with that certificate (on the host); and the
//! TSA's certificates chain to the `tsa` trust store at the timestamp's time with the
//! `timeStamping` extended key usage (on the host). All parsing is here; all cryptography is the
//! host's, except the SHA-1 of a v1 ESS certificate hash.

use crate::crypto::{Crypto, HashAlg, SigAlg, SigEncoding};
use crate::der::{self, Reader, Tlv};

/// `id-signedData`.
const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
/// `id-ct-TSTInfo`.
const TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
/// `id-contentType` attribute.
const ATTR_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
/// `id-messageDigest` attribute.
const ATTR_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
/// `id-aa-signingCertificateV2` attribute (RFC 5816).
const ATTR_SIGNING_CERT_V2: &str = "1.2.840.113549.1.9.16.2.47";
/// `id-aa-signingCertificate` attribute (RFC 2634; its hash is SHA-1).
const ATTR_SIGNING_CERT: &str = "1.2.840.113549.1.9.16.2.12";
/// Extended key usage a TSA certificate must have.
pub const TIME_STAMPING_EKU: &str = "1.3.6.1.5.5.7.3.8";
/// Subject key identifier extension.
const SUBJECT_KEY_ID: &str = "2.5.29.14";

/// The hash of a certificate as an ESS `ESSCertID` / `ESSCertIDv2` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EssCertId<'a> {
    /// The hash algorithm OID (`ESSCertIDv2.hashAlgorithm`, SHA-256 by default; SHA-1 for v1).
    pub hash_alg: String,
    /// `certHash`.
    pub hash: &'a [u8],
}

/// SHA-1 OID.
const SHA1: &str = "1.3.14.3.2.26";
/// SHA-256 OID.
const SHA256_OID: &str = "2.16.840.1.101.3.4.2.1";

/// A timestamp that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// `genTime`, Unix seconds.
    pub gen_time: i64,
    /// The accuracy, whole seconds rounded up (0 when absent).
    pub accuracy: i64,
    /// Subject DN of the TSA's signing certificate.
    pub tsa_subject: String,
    /// The certificates the token carries, DER, the TSA's signing certificate first (the chain
    /// that was validated to the `tsa` trust store).
    pub chain: Vec<Vec<u8>>,
}

impl Timestamp {
    /// The earliest time the timestamp allows (`genTime - accuracy`).
    pub fn earliest(&self) -> i64 {
        self.gen_time.saturating_sub(self.accuracy)
    }

    /// The latest time the timestamp allows (`genTime + accuracy`).
    pub fn latest(&self) -> i64 {
        self.gen_time.saturating_add(self.accuracy)
    }
}

/// The parts of a token the verification uses.
#[derive(Debug, Clone)]
pub struct Token<'a> {
    /// DER of the `TSTInfo` (the encapsulated content).
    pub tst_info: &'a [u8],
    /// Certificates of `SignedData.certificates`, DER.
    pub certs: Vec<&'a [u8]>,
    /// How the signer is identified.
    pub sid: Sid<'a>,
    /// `SignerInfo.digestAlgorithm`.
    pub digest_alg: String,
    /// The full `[0] IMPLICIT` encoding of the signed attributes.
    pub signed_attrs: &'a [u8],
    /// The `messageDigest` signed attribute.
    pub message_digest: &'a [u8],
    /// The first certificate of the ESS signing-certificate attribute: the signer's, by hash.
    pub signing_cert: Option<EssCertId<'a>>,
    /// `SignerInfo.signatureAlgorithm` OID.
    pub sig_alg: String,
    /// `SignerInfo.signatureAlgorithm` parameters (raw), if any.
    pub sig_alg_params: Option<&'a [u8]>,
    /// `SignerInfo.signature`.
    pub signature: &'a [u8],
}

/// A `SignerIdentifier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sid<'a> {
    /// `issuerAndSerialNumber`: the issuer Name's DER and the serial's minimal bytes.
    IssuerSerial(&'a [u8], &'a [u8]),
    /// `subjectKeyIdentifier`.
    KeyId(&'a [u8]),
}

/// The parts of a `TSTInfo` the verification uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TstInfo {
    /// Hash algorithm of the message imprint.
    pub imprint_alg: String,
    /// The hashed message.
    pub imprint: Vec<u8>,
    /// `genTime`, Unix seconds.
    pub gen_time: i64,
    /// Accuracy, seconds rounded up.
    pub accuracy: i64,
}

fn oid<'a>(r: &mut Reader<'a>, what: &str) -> Result<String, String> {
    r.expect(der::OID, what).map(|t| der::oid_string(t.value))
}

/// Parses an `AlgorithmIdentifier`: the OID and the raw parameters.
fn algorithm<'a>(r: &mut Reader<'a>, what: &str) -> Result<(String, Option<&'a [u8]>), String> {
    let mut a = r.nested(der::SEQUENCE, what)?;
    let id = oid(&mut a, what)?;
    let params = if a.is_empty() {
        None
    } else {
        Some(a.any()?.raw)
    };
    Ok((id, params))
}

/// Parses a token's CMS structure.
pub fn parse(token: &[u8]) -> Result<Token<'_>, String> {
    let ci = der::single(token, der::SEQUENCE, "ContentInfo")?;
    let mut ci = Reader::new(ci.value);
    let ct = oid(&mut ci, "ContentInfo.contentType")?;
    if ct != SIGNED_DATA {
        return Err(format!(
            "ContentInfo.contentType is {ct}, not signedData ({SIGNED_DATA})"
        ));
    }
    let mut explicit = ci.nested(der::context(0), "ContentInfo.content")?;
    let mut sd = explicit.nested(der::SEQUENCE, "SignedData")?;
    sd.expect(der::INTEGER, "SignedData.version")?;
    sd.expect(der::SET, "SignedData.digestAlgorithms")?;
    let mut encap = sd.nested(der::SEQUENCE, "SignedData.encapContentInfo")?;
    let ect = oid(&mut encap, "encapContentInfo.eContentType")?;
    if ect != TST_INFO {
        return Err(format!(
            "eContentType is {ect}, not id-ct-TSTInfo ({TST_INFO})"
        ));
    }
    let mut econtent = encap.nested(der::context(0), "encapContentInfo.eContent")?;
    let tst_info = econtent.expect(der::OCTET_STRING, "eContent")?.value;

    let mut certs = Vec::new();
    if let Some(set) = sd.optional(der::context(0))? {
        let mut r = Reader::new(set.value);
        while !r.is_empty() {
            let c = r
                .any()
                .map_err(|e| format!("SignedData.certificates: {e}"))?;
            // Other certificate formats (attribute certificates, ...) are tagged and skipped.
            if c.tag == der::SEQUENCE {
                certs.push(c.raw);
            }
        }
    }
    sd.optional(der::context(1))?; // crls
    let mut infos = sd.nested(der::SET, "SignedData.signerInfos")?;
    let info = infos.expect(der::SEQUENCE, "SignerInfo")?;
    if !infos.is_empty() {
        return Err("the timestamp token has more than one SignerInfo".into());
    }
    let mut si = Reader::new(info.value);
    si.expect(der::INTEGER, "SignerInfo.version")?;
    let sid = match si.any().map_err(|e| format!("SignerInfo.sid: {e}"))? {
        Tlv {
            tag: der::SEQUENCE,
            value,
            ..
        } => {
            let mut r = Reader::new(value);
            let issuer = r.expect(der::SEQUENCE, "sid.issuer")?.raw;
            let serial = r.expect(der::INTEGER, "sid.serialNumber")?.value;
            Sid::IssuerSerial(issuer, der::unsigned(serial))
        }
        Tlv {
            tag: 0x80, value, ..
        } => Sid::KeyId(value),
        t => return Err(format!("SignerInfo.sid has unexpected tag 0x{:02x}", t.tag)),
    };
    let (digest_alg, _) = algorithm(&mut si, "SignerInfo.digestAlgorithm")?;
    let attrs = si
        .optional(der::context(0))?
        .ok_or("the timestamp's SignerInfo has no signed attributes (RFC 3161 requires them)")?;
    let (content_type, message_digest, signing_cert) = signed_attributes(attrs.value)?;
    if content_type != TST_INFO {
        return Err(format!(
            "the signed contentType attribute is {content_type}, not id-ct-TSTInfo"
        ));
    }
    let (sig_alg, sig_alg_params) = algorithm(&mut si, "SignerInfo.signatureAlgorithm")?;
    let signature = si.expect(der::OCTET_STRING, "SignerInfo.signature")?.value;
    Ok(Token {
        tst_info,
        certs,
        sid,
        digest_alg,
        signed_attrs: attrs.raw,
        message_digest,
        signing_cert,
        sig_alg,
        sig_alg_params,
        signature,
    })
}

/// The `contentType` and `messageDigest` of a signed attribute set (each exactly once), and the
/// ESS signing certificate (v2 preferred over v1 when both are present).
fn signed_attributes(value: &[u8]) -> Result<(String, &[u8], Option<EssCertId<'_>>), String> {
    let (mut content_type, mut digest) = (None, None);
    let (mut ess_v2, mut ess_v1) = (None, None);
    let mut r = Reader::new(value);
    while !r.is_empty() {
        let mut attr = r.nested(der::SEQUENCE, "signed attribute")?;
        let id = oid(&mut attr, "signed attribute type")?;
        let mut values = attr.nested(der::SET, "signed attribute values")?;
        let v = values.any()?;
        let single = values.is_empty();
        let slot = match id.as_str() {
            ATTR_CONTENT_TYPE if v.tag == der::OID => {
                content_type.replace(der::oid_string(v.value)).is_some()
            }
            ATTR_MESSAGE_DIGEST if v.tag == der::OCTET_STRING => digest.replace(v.value).is_some(),
            ATTR_SIGNING_CERT_V2 if v.tag == der::SEQUENCE => ess_v2
                .replace(
                    ess_cert_id(v.value, true).map_err(|e| format!("signingCertificateV2: {e}"))?,
                )
                .is_some(),
            ATTR_SIGNING_CERT if v.tag == der::SEQUENCE => ess_v1
                .replace(
                    ess_cert_id(v.value, false).map_err(|e| format!("signingCertificate: {e}"))?,
                )
                .is_some(),
            ATTR_CONTENT_TYPE | ATTR_MESSAGE_DIGEST | ATTR_SIGNING_CERT_V2 | ATTR_SIGNING_CERT => {
                return Err(format!(
                    "signed attribute {id} has a value of the wrong type"
                ));
            }
            _ => false,
        };
        let unique = matches!(
            id.as_str(),
            ATTR_CONTENT_TYPE | ATTR_MESSAGE_DIGEST | ATTR_SIGNING_CERT_V2 | ATTR_SIGNING_CERT
        );
        if slot || !single && unique {
            return Err(format!(
                "signed attribute {id} appears or has values more than once"
            ));
        }
    }
    Ok((
        content_type.ok_or("the signed attributes have no contentType")?,
        digest.ok_or("the signed attributes have no messageDigest")?,
        ess_v2.or(ess_v1),
    ))
}

/// The first `ESSCertID` (v1: SHA-1 `certHash` first) or `ESSCertIDv2` (optional
/// `hashAlgorithm`, SHA-256 by default, then `certHash`) of a `SigningCertificate(V2)` value
/// (`SEQUENCE { certs SEQUENCE OF …, policies … OPTIONAL }`).
fn ess_cert_id(value: &[u8], v2: bool) -> Result<EssCertId<'_>, String> {
    let mut sc = Reader::new(value);
    let mut certs = sc.nested(der::SEQUENCE, "certs")?;
    let mut id = certs.nested(der::SEQUENCE, "the first ESSCertID")?;
    let hash_alg = if v2 && id.peek_tag() == Some(der::SEQUENCE) {
        algorithm(&mut id, "ESSCertIDv2.hashAlgorithm")?.0
    } else if v2 {
        SHA256_OID.to_owned()
    } else {
        SHA1.to_owned()
    };
    let hash = id.expect(der::OCTET_STRING, "certHash")?.value;
    Ok(EssCertId { hash_alg, hash })
}

/// Whether `cert` is the certificate `ess` hashes.
fn ess_names<H: Crypto + ?Sized>(
    host: &H,
    ess: &EssCertId<'_>,
    cert: &[u8],
) -> Result<bool, String> {
    let digest = if ess.hash_alg == SHA1 {
        crate::crypto::sha1_digest(cert)
    } else {
        host.digest(
            hash_alg(&ess.hash_alg, "the ESS certificate hash algorithm")?,
            cert,
        )
    };
    Ok(digest == ess.hash)
}

fn hash_alg(oid: &str, what: &str) -> Result<HashAlg, String> {
    match oid {
        "2.16.840.1.101.3.4.2.1" => Ok(HashAlg::Sha256),
        "2.16.840.1.101.3.4.2.2" => Ok(HashAlg::Sha384),
        "2.16.840.1.101.3.4.2.3" => Ok(HashAlg::Sha512),
        "1.3.14.3.2.26" => Err(format!("{what} is SHA-1, which is not accepted")),
        other => Err(format!("{what} {other} is not SHA-256, SHA-384 or SHA-512")),
    }
}

/// Parses a `TSTInfo`.
pub fn parse_tst_info(der_bytes: &[u8]) -> Result<TstInfo, String> {
    let t = der::single(der_bytes, der::SEQUENCE, "TSTInfo")?;
    let mut r = Reader::new(t.value);
    let version = r.expect(der::INTEGER, "TSTInfo.version")?;
    if version.value != [1] {
        return Err(format!("TSTInfo.version is {:02x?}, not 1", version.value));
    }
    oid(&mut r, "TSTInfo.policy")?;
    let mut mi = r.nested(der::SEQUENCE, "TSTInfo.messageImprint")?;
    let (imprint_alg, _) = algorithm(&mut mi, "messageImprint.hashAlgorithm")?;
    let imprint = mi
        .expect(der::OCTET_STRING, "messageImprint.hashedMessage")?
        .value
        .to_vec();
    r.expect(der::INTEGER, "TSTInfo.serialNumber")?;
    let gen_time = der::generalized_time(r.expect(der::GENERALIZED_TIME, "TSTInfo.genTime")?.value)
        .map_err(|e| format!("TSTInfo.genTime: {e}"))?;
    let mut accuracy = 0;
    if let Some(acc) = r.optional(der::SEQUENCE)? {
        let mut a = Reader::new(acc.value);
        let small = |t: Option<Tlv<'_>>| -> Result<i64, String> {
            t.map_or(Ok(0), |t| {
                if t.value.len() > 4 {
                    return Err("TSTInfo.accuracy is out of range".to_owned());
                }
                Ok(t.value
                    .iter()
                    .fold(0i64, |acc, &b| (acc << 8) | i64::from(b)))
            })
        };
        let seconds = small(a.optional(der::INTEGER)?)?;
        let millis = small(a.optional(der::context_primitive(0))?)?;
        let micros = small(a.optional(der::context_primitive(1))?)?;
        let sub = millis * 1000 + micros;
        accuracy = seconds + (sub + 999_999) / 1_000_000;
    }
    Ok(TstInfo {
        imprint_alg,
        imprint,
        gen_time,
        accuracy,
    })
}

/// What identifies a certificate to a `SignerIdentifier`: the serial (minimal bytes), the issuer
/// Name DER and the subject key identifier.
type CertIds<'a> = (&'a [u8], &'a [u8], Option<&'a [u8]>);

/// The [`CertIds`] of a DER certificate.
fn cert_ids(cert: &[u8]) -> Result<CertIds<'_>, String> {
    let c = der::single(cert, der::SEQUENCE, "certificate")?;
    let mut tbs = Reader::new(c.value).nested(der::SEQUENCE, "tbsCertificate")?;
    tbs.optional(der::context(0))?;
    let serial = der::unsigned(tbs.expect(der::INTEGER, "serialNumber")?.value);
    tbs.expect(der::SEQUENCE, "signature")?;
    let issuer = tbs.expect(der::SEQUENCE, "issuer")?.raw;
    let mut ski = None;
    while !tbs.is_empty() {
        let t = tbs.any()?;
        if t.tag == der::context(3) {
            let mut exts = Reader::new(t.value).nested(der::SEQUENCE, "extensions")?;
            while !exts.is_empty() {
                let mut ext = exts.nested(der::SEQUENCE, "extension")?;
                if oid(&mut ext, "extnID")? == SUBJECT_KEY_ID {
                    ext.optional(der::BOOLEAN)?;
                    let v = ext.expect(der::OCTET_STRING, "extnValue")?.value;
                    ski = Some(der::single(v, der::OCTET_STRING, "subjectKeyIdentifier")?.value);
                }
            }
        }
    }
    Ok((serial, issuer, ski))
}

/// Which host algorithm verifies the signer's signature.
fn signature_alg(token: &Token<'_>) -> Result<SigAlg, String> {
    let digest = hash_alg(&token.digest_alg, "SignerInfo.digestAlgorithm")?;
    Ok(match (token.sig_alg.as_str(), digest) {
        ("1.2.840.10045.4.3.2", _) | ("1.2.840.10045.2.1", HashAlg::Sha256) => {
            SigAlg::EcdsaP256Sha256
        }
        ("1.2.840.10045.4.3.3", _) | ("1.2.840.10045.2.1", HashAlg::Sha384) => {
            SigAlg::EcdsaP384Sha384
        }
        ("1.2.840.113549.1.1.11", _) | ("1.2.840.113549.1.1.1", HashAlg::Sha256) => {
            SigAlg::RsaPkcs1Sha256
        }
        ("1.2.840.113549.1.1.12", _) | ("1.2.840.113549.1.1.1", HashAlg::Sha384) => {
            SigAlg::RsaPkcs1Sha384
        }
        ("1.2.840.113549.1.1.13", _) | ("1.2.840.113549.1.1.1", HashAlg::Sha512) => {
            SigAlg::RsaPkcs1Sha512
        }
        ("1.2.840.113549.1.1.10", _) => {
            // RSASSA-PSS-params: [0] hashAlgorithm (default SHA-1, not accepted).
            let params = token
                .sig_alg_params
                .ok_or("RSASSA-PSS without parameters")?;
            let mut p = Reader::new(der::single(params, der::SEQUENCE, "RSASSA-PSS-params")?.value);
            let mut h = p.nested(der::context(0), "RSASSA-PSS hashAlgorithm")?;
            let (id, _) = algorithm(&mut h, "RSASSA-PSS hashAlgorithm")?;
            match hash_alg(&id, "the RSASSA-PSS hash")? {
                HashAlg::Sha256 => SigAlg::RsaPssSha256,
                HashAlg::Sha384 => SigAlg::RsaPssSha384,
                HashAlg::Sha512 => SigAlg::RsaPssSha512,
            }
        }
        (other, _) => {
            return Err(format!(
                "the timestamp's signature algorithm {other} (digest {}) is not supported",
                token.digest_alg
            ));
        }
    })
}

/// Verifies `token` as a timestamp over `signature` (the envelope's signature bytes), its TSA
/// chaining to `tsa_roots`.
pub fn verify_token<H: Crypto + ?Sized>(
    host: &H,
    token: &[u8],
    signature: &[u8],
    tsa_roots: &[Vec<u8>],
) -> Result<Timestamp, String> {
    verify_token_with_certs(host, token, signature, tsa_roots, &[])
}

/// [`verify_token`] for tokens that may omit their certificates (RFC 3161 §2.4.1: they are
/// included only when the request's `certReq` asked for them): the signer is looked up in the
/// token's `certificates` and then in `known` (DER; e.g. a Sigstore trusted root's TSA leaf and
/// intermediates), and `known` joins the chain handed to the host.
pub fn verify_token_with_certs<H: Crypto + ?Sized>(
    host: &H,
    token: &[u8],
    signature: &[u8],
    tsa_roots: &[Vec<u8>],
    known: &[Vec<u8>],
) -> Result<Timestamp, String> {
    let t = parse(token).map_err(|e| format!("malformed timestamp token: {e}"))?;
    let info = parse_tst_info(t.tst_info).map_err(|e| format!("malformed timestamp token: {e}"))?;
    let imprint_alg = hash_alg(&info.imprint_alg, "the message imprint's hash algorithm")?;
    if host.digest(imprint_alg, signature) != info.imprint {
        return Err("the timestamp's message imprint is not the digest of the envelope's signature (it timestamps something else)".into());
    }
    let digest_alg = hash_alg(&t.digest_alg, "SignerInfo.digestAlgorithm")?;
    if host.digest(digest_alg, t.tst_info) != t.message_digest {
        return Err("the timestamp's signed messageDigest does not match its TSTInfo (the token was altered)".into());
    }
    let certs: Vec<&[u8]> = t
        .certs
        .iter()
        .copied()
        .chain(known.iter().map(Vec::as_slice))
        .collect();
    let mut signer = None;
    for (i, c) in certs.iter().enumerate() {
        let (serial, issuer, ski) =
            cert_ids(c).map_err(|e| format!("timestamp certificate {i}: {e}"))?;
        let matches = match t.sid {
            Sid::IssuerSerial(i, s) => i == issuer && s == serial,
            Sid::KeyId(k) => ski == Some(k),
        };
        if matches {
            signer = Some(i);
            break;
        }
    }
    let signer = signer.ok_or(
        "the timestamp token does not carry its signer's certificate (SignedData.certificates)",
    )?;
    let ess = t.signing_cert.as_ref().ok_or(
        "the timestamp's signed attributes have no signingCertificateV2 or signingCertificate \
         (RFC 3161 §2.4.1): nothing binds the TSA certificate to the signature",
    )?;
    if !ess_names(host, ess, certs[signer])? {
        return Err("the timestamp's signed signingCertificate attribute names another certificate than its signer's (the certificate was substituted)".into());
    }
    let mut set = t.signed_attrs.to_vec();
    set[0] = der::SET; // the signature covers the attributes as an explicit SET OF
    host.verify_signature(
        signature_alg(&t)?,
        SigEncoding::Der,
        certs[signer],
        &set,
        t.signature,
    )
    .map_err(|e| {
        format!("the timestamp's signature does not verify with the TSA certificate: {e}")
    })?;
    if tsa_roots.is_empty() {
        return Err(
            "the trust policy has no \"tsa\" trust store to verify the timestamp with".into(),
        );
    }
    let mut chain = vec![certs[signer].to_vec()];
    for (i, c) in certs.iter().enumerate() {
        if i != signer && !chain.iter().any(|have| have.as_slice() == *c) {
            chain.push(c.to_vec());
        }
    }
    let path = host
        .verify_chain(&chain, tsa_roots, info.gen_time, Some(TIME_STAMPING_EKU))
        .map_err(|e| {
            format!("the timestamp authority is not trusted by the \"tsa\" trust store: {e}")
        })?;
    let tsa_subject = path.first().map(|c| c.subject.clone()).unwrap_or_default();
    Ok(Timestamp {
        gen_time: info.gen_time,
        accuracy: info.accuracy,
        tsa_subject,
        chain,
    })
}

/// Checks that `token` parses as a timestamp token (CMS structure and `TSTInfo`), without
/// verifying anything.
pub fn check_structure(token: &[u8]) -> Result<(), String> {
    let t = parse(token).map_err(|e| format!("malformed timestamp token: {e}"))?;
    parse_tst_info(t.tst_info).map_err(|e| format!("malformed timestamp token: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::CertInfo;

    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if value.len() < 0x80 {
            out.push(value.len() as u8);
        } else if value.len() < 0x100 {
            out.extend([0x81, value.len() as u8]);
        } else {
            out.extend([0x82, (value.len() >> 8) as u8, value.len() as u8]);
        }
        out.extend_from_slice(value);
        out
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(der::SEQUENCE, &parts.concat())
    }

    fn oid(dotted: &str) -> Vec<u8> {
        let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
        let mut body = Vec::new();
        for mut v in std::iter::once(arcs[0] * 40 + arcs[1]).chain(arcs[2..].iter().copied()) {
            let mut tmp = vec![(v & 0x7f) as u8];
            v >>= 7;
            while v > 0 {
                tmp.push(0x80 | (v & 0x7f) as u8);
                v >>= 7;
            }
            body.extend(tmp.into_iter().rev());
        }
        tlv(der::OID, &body)
    }

    /// A checksum standing in for a digest: FNV-1a, prefixed by the algorithm.
    fn fake_digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
        let h = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let mut out = vec![alg as u8];
        out.extend(h.to_be_bytes());
        out
    }

    /// Signatures are valid when they are `fake_digest` of the message with the cert's last byte.
    struct FakeHost;

    impl Crypto for FakeHost {
        fn verify_signature(
            &self,
            alg: SigAlg,
            encoding: SigEncoding,
            cert: &[u8],
            msg: &[u8],
            sig: &[u8],
        ) -> Result<(), String> {
            assert_eq!((alg, encoding), (SigAlg::EcdsaP256Sha256, SigEncoding::Der));
            assert_eq!(msg[0], der::SET, "signed attributes are verified as a SET");
            let mut expected = fake_digest(HashAlg::Sha256, msg);
            expected.push(*cert.last().unwrap());
            (sig == expected)
                .then_some(())
                .ok_or("bad signature".into())
        }
        fn digest(&self, alg: HashAlg, data: &[u8]) -> Vec<u8> {
            fake_digest(alg, data)
        }
        fn verify_chain(
            &self,
            chain: &[Vec<u8>],
            roots: &[Vec<u8>],
            at: i64,
            eku: Option<&str>,
        ) -> Result<Vec<CertInfo>, String> {
            assert_eq!(eku, Some(TIME_STAMPING_EKU));
            if roots != [b"tsa root".to_vec()] {
                return Err("unknown root".into());
            }
            Ok(vec![CertInfo {
                subject: format!("CN=TSA {}", chain.len()),
                issuer: String::new(),
                serial: String::new(),
                not_before: at,
                not_after: at,
            }])
        }
    }

    const SHA256: &str = "2.16.840.1.101.3.4.2.1";

    fn cert(serial: u8) -> Vec<u8> {
        seq(&[
            seq(&[
                tlv(der::context(0), &tlv(der::INTEGER, &[2])),
                tlv(der::INTEGER, &[0, serial]),
                seq(&[oid("1.2.840.10045.4.3.2")]),
                seq(&[tlv(der::SET, &seq(&[oid("2.5.4.3"), tlv(0x0c, b"Root")]))]),
            ]),
            seq(&[oid("1.2.840.10045.4.3.2")]),
            tlv(0x03, &[0, serial]),
        ])
    }

    struct Spec {
        imprint_over: Vec<u8>,
        imprint_alg: &'static str,
        accuracy: Vec<u8>,
        tamper_tst: bool,
        sid_serial: u8,
        good_signature: bool,
        ess: Ess,
        embed_certs: bool,
        /// Identify the signer by this subjectKeyIdentifier (its certificate carrying it)
        /// instead of issuer and serial.
        sid_key_id: Option<Vec<u8>>,
    }

    /// Which ESS signing-certificate attribute the token signs.
    #[derive(Clone, Copy)]
    enum Ess {
        /// `signingCertificateV2`, hash algorithm left to its SHA-256 default.
        V2,
        /// `signingCertificateV2` naming SHA-256 explicitly.
        V2Explicit,
        /// `signingCertificate` (SHA-1).
        V1,
        /// `signingCertificateV2` hashing another certificate than the signer's.
        OtherCert,
        /// None.
        Absent,
    }

    fn spec() -> Spec {
        Spec {
            imprint_over: b"envelope signature".to_vec(),
            imprint_alg: SHA256,
            accuracy: seq(&[tlv(der::INTEGER, &[1]), tlv(0x80, &[0x01, 0xf4])]),
            tamper_tst: false,
            sid_serial: 7,
            good_signature: true,
            ess: Ess::V2,
            embed_certs: true,
            sid_key_id: None,
        }
    }

    /// A certificate like [`cert`] with a validity, subject, key and extensions: a basic
    /// constraints one, then a subjectKeyIdentifier of `ski`.
    fn cert_with_ski(serial: u8, ski: &[u8]) -> Vec<u8> {
        let name = seq(&[tlv(der::SET, &seq(&[oid("2.5.4.3"), tlv(0x0c, b"Root")]))]);
        let ext = |id: &str, value: Vec<u8>| seq(&[oid(id), tlv(der::OCTET_STRING, &value)]);
        seq(&[
            seq(&[
                tlv(der::context(0), &tlv(der::INTEGER, &[2])),
                tlv(der::INTEGER, &[0, serial]),
                seq(&[oid("1.2.840.10045.4.3.2")]),
                name.clone(),
                seq(&[tlv(0x17, b"240101000000Z"), tlv(0x17, b"340101000000Z")]),
                name,
                seq(&[seq(&[oid("1.2.840.10045.2.1")]), tlv(0x03, &[0, 4, 1])]),
                tlv(
                    der::context(3),
                    &seq(&[
                        ext("2.5.29.19", seq(&[])),
                        ext(SUBJECT_KEY_ID, tlv(der::OCTET_STRING, ski)),
                    ]),
                ),
            ]),
            seq(&[oid("1.2.840.10045.4.3.2")]),
            tlv(0x03, &[0, serial]),
        ])
    }

    /// A TSTInfo (policy, imprint, serial 9, genTime 2024-02-29T12:34:56Z) with `accuracy` (an
    /// encoded Accuracy SEQUENCE, or nothing).
    fn tst_info(imprint_alg: &str, imprint: &[u8], accuracy: &[u8]) -> Vec<u8> {
        seq(&[
            tlv(der::INTEGER, &[1]),
            oid("2.5.29.32.0"),
            seq(&[seq(&[oid(imprint_alg)]), tlv(der::OCTET_STRING, imprint)]),
            tlv(der::INTEGER, &[9]),
            tlv(der::GENERALIZED_TIME, b"20240229123456Z"),
            accuracy.to_vec(),
        ])
    }

    fn token(s: &Spec) -> Vec<u8> {
        let alg = seq(&[oid(SHA256)]);
        let imprint_alg = match s.imprint_alg {
            SHA256 => HashAlg::Sha256,
            _ => HashAlg::Sha512,
        };
        let tst = tst_info(
            s.imprint_alg,
            &fake_digest(imprint_alg, &s.imprint_over),
            &s.accuracy,
        );
        let digest_of = if s.tamper_tst {
            b"other".as_slice()
        } else {
            &tst
        };
        let signer = match &s.sid_key_id {
            Some(ski) => cert_with_ski(7, ski),
            None => cert(7),
        };
        let ess = |attr: &str, alg: Option<Vec<u8>>, hash: Vec<u8>| {
            let id = seq(&[alg.unwrap_or_default(), tlv(der::OCTET_STRING, &hash)]);
            seq(&[oid(attr), tlv(der::SET, &seq(&[seq(&[id])]))])
        };
        let v2 = |c: &[u8]| fake_digest(HashAlg::Sha256, c);
        let ess = match s.ess {
            Ess::V2 => ess(ATTR_SIGNING_CERT_V2, None, v2(&signer)),
            Ess::V2Explicit => ess(ATTR_SIGNING_CERT_V2, Some(seq(&[oid(SHA256)])), v2(&signer)),
            Ess::V1 => ess(ATTR_SIGNING_CERT, None, crate::crypto::sha1_digest(&signer)),
            Ess::OtherCert => ess(ATTR_SIGNING_CERT_V2, None, v2(&cert(3))),
            Ess::Absent => Vec::new(),
        };
        let attrs = [
            seq(&[oid(ATTR_CONTENT_TYPE), tlv(der::SET, &oid(TST_INFO))]),
            seq(&[
                oid(ATTR_MESSAGE_DIGEST),
                tlv(
                    der::SET,
                    &tlv(der::OCTET_STRING, &fake_digest(HashAlg::Sha256, digest_of)),
                ),
            ]),
            ess,
        ]
        .concat();
        let mut sig = fake_digest(HashAlg::Sha256, &tlv(der::SET, &attrs));
        sig.push(*signer.last().unwrap() ^ u8::from(!s.good_signature));
        let issuer = seq(&[tlv(der::SET, &seq(&[oid("2.5.4.3"), tlv(0x0c, b"Root")]))]);
        let signer_info = seq(&[
            tlv(der::INTEGER, &[1]),
            match &s.sid_key_id {
                Some(ski) => tlv(der::context_primitive(0), ski),
                None => seq(&[issuer, tlv(der::INTEGER, &[s.sid_serial])]),
            },
            alg.clone(),
            tlv(der::context(0), &attrs),
            seq(&[oid("1.2.840.10045.4.3.2")]),
            tlv(der::OCTET_STRING, &sig),
        ]);
        let signed_data = seq(&[
            tlv(der::INTEGER, &[3]),
            tlv(der::SET, &alg),
            seq(&[
                oid(TST_INFO),
                tlv(der::context(0), &tlv(der::OCTET_STRING, &tst)),
            ]),
            if s.embed_certs {
                tlv(der::context(0), &[cert(3), signer].concat())
            } else {
                Vec::new()
            },
            tlv(der::SET, &signer_info),
        ]);
        seq(&[oid(SIGNED_DATA), tlv(der::context(0), &signed_data)])
    }

    fn verify(s: &Spec) -> Result<Timestamp, String> {
        verify_token(
            &FakeHost,
            &token(s),
            b"envelope signature",
            &[b"tsa root".to_vec()],
        )
    }

    /// RFC 3161 §2.4.1: "If the certReq field is present and set to true, the TSA's public key
    /// certificate that is referenced by the ESSCertID identifier inside a SigningCertificate
    /// attribute in the response MUST be provided by the TSA in the certificates field" — and
    /// otherwise it may be left out, so the verifier must find it in the certificates it trusts.
    #[test]
    fn a_token_without_certificates_verifies_with_known_ones() {
        let s = Spec {
            embed_certs: false,
            ..spec()
        };
        let roots = [b"tsa root".to_vec()];
        let e = verify_token(&FakeHost, &token(&s), b"envelope signature", &roots).unwrap_err();
        assert!(e.contains("does not carry its signer's certificate"), "{e}");
        let known = [cert(3), cert(7)];
        let t =
            verify_token_with_certs(&FakeHost, &token(&s), b"envelope signature", &roots, &known)
                .unwrap();
        assert_eq!(t.chain, vec![cert(7), cert(3)]);
        // A known certificate that is not the signer's does not stand in for it.
        let e = verify_token_with_certs(
            &FakeHost,
            &token(&s),
            b"envelope signature",
            &roots,
            &known[..1],
        )
        .unwrap_err();
        assert!(e.contains("does not carry its signer's certificate"), "{e}");
    }

    #[test]
    fn a_well_formed_token_verifies() {
        let t = verify(&spec()).unwrap();
        let bytes = token(&spec());
        let parsed = parse(&bytes).unwrap();
        // 1 s + 500 ms of accuracy rounds up to 2 s; both certificates go to the chain, the
        // signer's first.
        assert_eq!(
            t,
            Timestamp {
                gen_time: 1_709_210_096,
                accuracy: 2,
                tsa_subject: "CN=TSA 2".into(),
                chain: vec![parsed.certs[1].to_vec(), parsed.certs[0].to_vec()],
            }
        );
        assert_eq!((t.earliest(), t.latest()), (1_709_210_094, 1_709_210_098));
        assert_eq!(check_structure(&bytes), Ok(()));
        assert!(
            check_structure(b"\x30\x03\x02\x01\x01")
                .unwrap_err()
                .contains("malformed timestamp token")
        );
        assert_eq!(parsed.certs.len(), 2);
        let (serial, issuer, ski) = cert_ids(parsed.certs[1]).unwrap();
        assert_eq!((serial, ski), (&[7u8][..], None));
        assert_eq!(parsed.sid, Sid::IssuerSerial(issuer, serial));
    }

    #[test]
    fn the_signer_is_bound_by_either_ess_attribute() {
        for ess in [Ess::V2, Ess::V2Explicit, Ess::V1] {
            let t = verify(&Spec { ess, ..spec() }).unwrap();
            assert_eq!(t.tsa_subject, "CN=TSA 2");
        }
    }

    #[test]
    fn every_broken_link_is_named() {
        let cases: Vec<(Spec, &str)> = vec![
            (
                Spec {
                    imprint_over: b"another signature".to_vec(),
                    ..spec()
                },
                "message imprint is not the digest",
            ),
            (
                Spec {
                    imprint_alg: "1.3.14.3.2.26",
                    ..spec()
                },
                "SHA-1",
            ),
            (
                Spec {
                    tamper_tst: true,
                    ..spec()
                },
                "messageDigest does not match",
            ),
            (
                Spec {
                    sid_serial: 8,
                    ..spec()
                },
                "does not carry its signer's certificate",
            ),
            (
                Spec {
                    good_signature: false,
                    ..spec()
                },
                "signature does not verify",
            ),
            (
                Spec {
                    ess: Ess::OtherCert,
                    ..spec()
                },
                "names another certificate than its signer's",
            ),
            (
                Spec {
                    ess: Ess::Absent,
                    ..spec()
                },
                "no signingCertificateV2 or signingCertificate",
            ),
            (
                Spec {
                    accuracy: seq(&[tlv(der::INTEGER, &[1, 2, 3, 4, 5])]),
                    ..spec()
                },
                "accuracy is out of range",
            ),
        ];
        for (s, text) in cases {
            let e = verify(&s).unwrap_err();
            assert!(e.contains(text), "{e:?} lacks {text:?}");
        }
        let e = verify_token(&FakeHost, &token(&spec()), b"envelope signature", &[]).unwrap_err();
        assert!(e.contains("no \"tsa\" trust store"), "{e}");
        let e = verify_token(
            &FakeHost,
            &token(&spec()),
            b"envelope signature",
            &[b"other".to_vec()],
        )
        .unwrap_err();
        assert!(e.contains("not trusted"), "{e}");
        let e = verify_token(&FakeHost, b"\x30\x00", b"x", &[]).unwrap_err();
        assert!(e.contains("malformed timestamp token"), "{e}");
        let mut truncated = token(&spec());
        truncated.truncate(truncated.len() - 3);
        assert!(
            verify_token(&FakeHost, &truncated, b"x", &[])
                .unwrap_err()
                .contains("malformed")
        );
    }

    /// RFC 5652 §5.3: `SignerIdentifier ::= CHOICE { issuerAndSerialNumber, subjectKeyIdentifier
    /// [0] SubjectKeyIdentifier }` — a signer named by its key identifier is the certificate
    /// whose subjectKeyIdentifier extension has that value, and no other.
    #[test]
    fn a_signer_named_by_its_key_identifier_is_found_by_it() {
        let ski = b"tsa key id".to_vec();
        let s = Spec {
            sid_key_id: Some(ski.clone()),
            ..spec()
        };
        let t = verify(&s).unwrap();
        assert_eq!(t.chain[0], cert_with_ski(7, &ski), "the signer first");
        let c = cert_with_ski(7, &ski);
        assert_eq!(cert_ids(&c).unwrap().2, Some(ski.as_slice()));
        // A token naming another key identifier has no signer among the certificates.
        let bytes = token(&s);
        let other = bytes
            .windows(ski.len())
            .rposition(|w| w == ski.as_slice())
            .unwrap();
        let mut renamed = bytes.clone();
        renamed[other] ^= 1;
        let e = verify_token(
            &FakeHost,
            &renamed,
            b"envelope signature",
            &[b"tsa root".to_vec()],
        )
        .unwrap_err();
        assert!(e.contains("does not carry its signer's certificate"), "{e}");
    }

    /// Certificates the token carries and certificates known beforehand are one chain: each
    /// once, the signer's first.
    #[test]
    fn the_chain_holds_each_certificate_once() {
        let roots = [b"tsa root".to_vec()];
        let known = [cert(3), cert(7)];
        let t = verify_token_with_certs(
            &FakeHost,
            &token(&spec()),
            b"envelope signature",
            &roots,
            &known,
        )
        .unwrap();
        assert_eq!(t.chain, vec![cert(7), cert(3)]);
        assert_eq!(t.tsa_subject, "CN=TSA 2");
    }

    /// RFC 5652 §5.3: "signedAttrs ... MUST contain, at a minimum ... content-type ... and
    /// message-digest"; §11.1/§11.2: each "MUST have a single attribute value" and the
    /// SignedAttributes "MUST NOT include multiple instances of the content-type [and]
    /// message-digest attribute"; the values are an OBJECT IDENTIFIER and an OCTET STRING (RFC 5035
    /// ESS signing certificates: a SEQUENCE).
    #[test]
    fn signed_attributes_are_single_and_typed() {
        let attr = |id: &str, values: &[Vec<u8>]| seq(&[oid(id), tlv(der::SET, &values.concat())]);
        let content_type = attr(ATTR_CONTENT_TYPE, &[oid(TST_INFO)]);
        let digest = attr(ATTR_MESSAGE_DIGEST, &[tlv(der::OCTET_STRING, b"d")]);
        let good = [content_type.clone(), digest.clone()].concat();
        let (ct, d, ess) = signed_attributes(&good).unwrap();
        assert_eq!((ct.as_str(), d, ess.is_none()), (TST_INFO, &b"d"[..], true));
        let other = attr(
            "1.2.3.4",
            &[tlv(der::INTEGER, &[1]), tlv(der::INTEGER, &[2])],
        );
        signed_attributes(&[content_type.clone(), other, digest.clone()].concat()).unwrap();

        let ess_id = seq(&[seq(&[seq(&[tlv(der::OCTET_STRING, b"h")])])]);
        let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
            (
                vec![
                    attr(ATTR_CONTENT_TYPE, &[tlv(der::OCTET_STRING, b"x")]),
                    digest.clone(),
                ],
                "1.2.840.113549.1.9.3 has a value of the wrong type",
            ),
            (
                vec![
                    content_type.clone(),
                    attr(ATTR_MESSAGE_DIGEST, &[oid(TST_INFO)]),
                ],
                "1.2.840.113549.1.9.4 has a value of the wrong type",
            ),
            (
                vec![
                    content_type.clone(),
                    digest.clone(),
                    attr(ATTR_SIGNING_CERT_V2, &[tlv(der::OCTET_STRING, b"h")]),
                ],
                "1.2.840.113549.1.9.16.2.47 has a value of the wrong type",
            ),
            (
                vec![
                    content_type.clone(),
                    digest.clone(),
                    attr(ATTR_SIGNING_CERT, &[tlv(der::OCTET_STRING, b"h")]),
                ],
                "1.2.840.113549.1.9.16.2.12 has a value of the wrong type",
            ),
            (
                vec![content_type.clone(), digest.clone(), digest.clone()],
                "1.2.840.113549.1.9.4 appears or has values more than once",
            ),
            (
                vec![
                    content_type.clone(),
                    attr(
                        ATTR_MESSAGE_DIGEST,
                        &[tlv(der::OCTET_STRING, b"d"), tlv(der::OCTET_STRING, b"e")],
                    ),
                ],
                "1.2.840.113549.1.9.4 appears or has values more than once",
            ),
            (
                vec![
                    content_type.clone(),
                    digest.clone(),
                    attr(ATTR_SIGNING_CERT_V2, &[ess_id.clone(), ess_id]),
                ],
                "1.2.840.113549.1.9.16.2.47 appears or has values more than once",
            ),
            (vec![digest.clone()], "no contentType"),
        ];
        for (attrs, want) in cases {
            let e = signed_attributes(&attrs.concat()).map(|_| ()).unwrap_err();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
        }
    }

    /// RFC 3161 §2.4.2: `Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER
    /// (1..999) OPTIONAL, micros [1] INTEGER (1..999) OPTIONAL }`; "If either seconds, millis or
    /// micros is missing, then a value of zero MUST be taken for the missing field." Vouch
    /// widens the interval to whole seconds, rounding up.
    #[test]
    fn the_accuracy_is_read_field_by_field_and_rounded_up() {
        let accuracy = |parts: &[Vec<u8>]| {
            let info = tst_info(SHA256, b"imprint", &seq(parts));
            parse_tst_info(&info).map(|t| t.accuracy)
        };
        let secs = |v: &[u8]| tlv(der::INTEGER, v);
        let millis = |v: &[u8]| tlv(der::context_primitive(0), v);
        let micros = |v: &[u8]| tlv(der::context_primitive(1), v);
        assert_eq!(accuracy(&[]), Ok(0));
        assert_eq!(accuracy(&[secs(&[2])]), Ok(2));
        assert_eq!(accuracy(&[secs(&[1, 2])]), Ok(258));
        assert_eq!(accuracy(&[secs(&[1, 0, 0, 0])]), Ok(1 << 24));
        assert_eq!(accuracy(&[millis(&[1])]), Ok(1));
        assert_eq!(accuracy(&[micros(&[5])]), Ok(1));
        assert_eq!(
            accuracy(&[secs(&[3]), millis(&[0x03, 0xe7]), micros(&[0x03, 0xe7])]),
            Ok(4)
        );
        assert!(
            accuracy(&[secs(&[1, 0, 0, 0, 0])])
                .unwrap_err()
                .contains("out of range")
        );
        let none = parse_tst_info(&tst_info(SHA256, b"imprint", &[])).unwrap();
        assert_eq!(none.accuracy, 0);
    }
}
