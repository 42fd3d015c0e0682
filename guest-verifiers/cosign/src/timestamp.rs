//! RFC 3161 signed timestamps of Sigstore bundles
//! (`verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp`),
//! verified with the shared [`verifier_common::tsp`] against the trusted root's
//! `timestampAuthorities`.
//!
//! sigstore-go's `TimestampAuthorityVerifier` is the reference: duplicate timestamps are refused
//! ("a malicious actor could use duplicates to bypass the threshold"), at most 32 are read, and
//! every timestamp must verify with one of the trusted timestamp authorities — its CMS signature
//! by the authority's signing certificate (the first of its `certChain`), that certificate
//! chaining to the authority's root with the `timeStamping` EKU at `genTime`, the message imprint
//! being the digest of the bundle's signature bytes, and `genTime` inside the authority's
//! `validFor` — or the bundle fails.

use verifier_common::crypto::{CertInfo as PathCert, Crypto, HashAlg, SigAlg, SigEncoding};
use verifier_common::tsp;

use crate::pem;
use crate::trusted_root::TrustedRoot;
use crate::verify::{Failure, Host, fail};

/// The most signed timestamps a bundle may carry (sigstore-go's `maxAllowedTimestamps`).
pub const MAX_TIMESTAMPS: usize = 32;

/// A signed timestamp that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `genTime`, Unix seconds.
    pub time: i64,
    /// The authority that signed it: its URI, or its position in the trusted root.
    pub authority: String,
}

/// A [`Host`]'s cryptography as the shared [`Crypto`] the RFC 3161 verifier takes.
struct HostCrypto<'a>(&'a dyn Host);

impl Crypto for HostCrypto<'_> {
    fn verify_signature(
        &self,
        alg: SigAlg,
        encoding: SigEncoding,
        cert: &[u8],
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        if encoding != SigEncoding::Der {
            return Err("only DER-encoded ECDSA signatures occur in timestamp tokens".into());
        }
        let pem = pem::encode("CERTIFICATE", cert);
        self.0.verify_signature(alg, pem.as_bytes(), msg, sig)
    }

    fn digest(&self, alg: HashAlg, data: &[u8]) -> Vec<u8> {
        self.0.digest(alg, data)
    }

    fn verify_chain(
        &self,
        chain: &[Vec<u8>],
        roots: &[Vec<u8>],
        at: i64,
        eku: Option<&str>,
    ) -> Result<Vec<PathCert>, String> {
        let eku = eku.ok_or("a timestamp authority's chain is validated with an EKU")?;
        let path = self
            .0
            .verify_chain(chain.to_vec(), roots.to_vec(), at, eku)?;
        Ok(path
            .into_iter()
            .map(|c| PathCert {
                subject: c.subject,
                issuer: c.issuer,
                serial: String::new(),
                not_before: c.not_before,
                not_after: c.not_after,
            })
            .collect())
    }
}

/// Verifies every token in `tokens` (DER `TimeStampToken`s, or `TimeStampResp`s wrapping one)
/// as a timestamp over `signature`; returns them in order, or the first failure.
pub fn verify_all(
    host: &dyn Host,
    root: &TrustedRoot,
    tokens: &[Vec<u8>],
    signature: &[u8],
) -> Result<Vec<Verified>, Failure> {
    if tokens.len() > MAX_TIMESTAMPS {
        return fail(
            "TIMESTAMP_INVALID",
            format!(
                "the bundle has {} signed timestamps; at most {MAX_TIMESTAMPS} are read",
                tokens.len()
            ),
        );
    }
    for (i, t) in tokens.iter().enumerate() {
        if tokens[..i].contains(t) {
            return fail(
                "TIMESTAMP_INVALID",
                format!("signed timestamp {i} is a duplicate of an earlier one"),
            );
        }
    }
    if !tokens.is_empty() && root.timestamp_authorities.is_empty() {
        return fail(
            "UNTRUSTED",
            "the bundle has signed timestamps, and the trusted root has no timestampAuthorities",
        );
    }
    let crypto = HostCrypto(host);
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let token = time_stamp_token(token);
        let mut why = Vec::new();
        let mut verified = None;
        for (j, tsa) in root.timestamp_authorities.iter().enumerate() {
            let name = if tsa.uri.is_empty() {
                format!("timestampAuthorities[{j}]")
            } else {
                tsa.uri.clone()
            };
            let known: Vec<Vec<u8>> = tsa.intermediates.clone();
            match tsp::verify_token_with_certs(
                &crypto,
                token,
                signature,
                std::slice::from_ref(&tsa.root),
                &known,
            ) {
                Ok(ts) if tsa.valid_for.contains(ts.gen_time) => {
                    verified = Some(Verified {
                        time: ts.gen_time,
                        authority: name,
                    });
                    break;
                }
                Ok(ts) => why.push(format!(
                    "{name}: genTime {} is outside the authority's validity {}",
                    ts.gen_time,
                    tsa.valid_for.describe()
                )),
                Err(e) => why.push(format!("{name}: {e}")),
            }
        }
        match verified {
            Some(v) => out.push(v),
            None => {
                return fail(
                    "TIMESTAMP_INVALID",
                    format!(
                        "signed timestamp {i} does not verify with a timestamp authority of the \
                         trusted root: {}",
                        why.join("; ")
                    ),
                );
            }
        }
    }
    Ok(out)
}

/// The `TimeStampToken` of `data`: `data` itself, or the `timeStampToken` of a `TimeStampResp`
/// (`SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }`), which is what
/// Sigstore clients store in `signedTimestamp`.
fn time_stamp_token(data: &[u8]) -> &[u8] {
    use verifier_common::der::{self, Reader};
    let response = (|| {
        let outer = der::single(data, der::SEQUENCE, "TimeStampResp").ok()?;
        let mut r = Reader::new(outer.value);
        let status = r.expect(der::SEQUENCE, "status").ok()?;
        // A ContentInfo starts with an OID; a PKIStatusInfo with an INTEGER.
        Reader::new(status.value)
            .expect(der::INTEGER, "status")
            .ok()?;
        let token = r.expect(der::SEQUENCE, "timeStampToken").ok()?;
        r.is_empty().then_some(token.raw)
    })();
    response.unwrap_or(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3161 §2.4.2: `TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken
    /// TimeStampToken OPTIONAL }` — a response is unwrapped to its token; a bare token (a
    /// `ContentInfo`, whose first element is an OID) is taken as is.
    #[test]
    fn responses_are_unwrapped_and_tokens_kept() {
        let token = [0x30, 0x05, 0x06, 0x03, 0x2a, 0x86, 0x48];
        let mut response = vec![0x30, 0x05 + 7, 0x30, 0x03, 0x02, 0x01, 0x00];
        response.extend_from_slice(&token);
        assert_eq!(time_stamp_token(&response), &token);
        assert_eq!(time_stamp_token(&token), &token);
        assert_eq!(time_stamp_token(b"junk"), b"junk");
    }
}
