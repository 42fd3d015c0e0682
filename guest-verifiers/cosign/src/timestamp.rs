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

    use crate::test_host::{TestHost, fake_sign};
    use crate::trusted_root::{CertificateAuthority, Window};

    /// The adapter hands the RFC 3161 verifier the host's cryptography unchanged: the
    /// signer's certificate (as PEM, what the host's `verify-signature` takes), the digest
    /// the token names, and the chain validated with the EKU the verifier asks for (RFC 3161
    /// §2.3: the TSA's certificate "MUST contain only one instance of the extended key usage
    /// field extension ... with KeyPurposeID having value: id-kp-timeStamping"). A CMS
    /// signature is DER (RFC 5753 §7.2); any other encoding, or a chain without an EKU, is
    /// refused.
    #[test]
    fn the_host_crypto_is_handed_on_as_the_timestamp_verifier_asks() {
        let host = TestHost::default();
        let c = HostCrypto(&host);
        let cert = vec![0x30, 0x00];
        let pem = pem::encode("CERTIFICATE", &cert).into_bytes();
        let signature = fake_sign(&pem, b"m");
        let der = SigEncoding::Der;
        assert!(
            c.verify_signature(SigAlg::EcdsaP256Sha256, der, &cert, b"m", &signature)
                .is_ok()
        );
        let calls = host.signatures.borrow();
        assert_eq!(
            calls[0],
            (
                SigAlg::EcdsaP256Sha256,
                pem,
                b"m".to_vec(),
                signature.clone()
            )
        );
        drop(calls);
        let e = c
            .verify_signature(
                SigAlg::EcdsaP256Sha256,
                SigEncoding::Fixed,
                &cert,
                b"m",
                &signature,
            )
            .unwrap_err();
        assert!(e.contains("DER"), "{e}");
        assert_eq!(host.signatures.borrow().len(), 1);

        assert_eq!(
            c.digest(HashAlg::Sha384, b"x"),
            host.digest(HashAlg::Sha384, b"x")
        );
        assert_ne!(
            c.digest(HashAlg::Sha384, b"x"),
            host.digest(HashAlg::Sha512, b"x")
        );

        let path = c
            .verify_chain(&[vec![1, 2, 3]], &[vec![4]], 100, Some("1.3.6.1.5.5.7.3.8"))
            .unwrap();
        assert_eq!(path.len(), 1);
        let p = &path[0];
        assert_eq!(
            (p.subject.as_str(), p.issuer.as_str(), p.serial.as_str()),
            ("CN=3", "CN=root", "")
        );
        assert_eq!((p.not_before, p.not_after), (99, 101));
        assert_eq!(*host.ekus.borrow(), ["1.3.6.1.5.5.7.3.8"]);
        assert!(c.verify_chain(&[vec![1]], &[vec![4]], 100, None).is_err());
        assert_eq!(host.ekus.borrow().len(), 1);
    }

    fn authorities(uris: &[&str]) -> TrustedRoot {
        TrustedRoot {
            certificate_authorities: Vec::new(),
            timestamp_authorities: uris
                .iter()
                .map(|u| CertificateAuthority {
                    uri: (*u).to_owned(),
                    intermediates: Vec::new(),
                    root: vec![0x30, 0x00],
                    valid_for: Window {
                        start: None,
                        end: None,
                    },
                })
                .collect(),
            tlogs: Vec::new(),
            ctlogs: Vec::new(),
        }
    }

    /// sigstore-go (`TimestampAuthorityVerifier`): at most `maxAllowedTimestamps` (32) are
    /// read, duplicates are refused ("a malicious actor could use duplicates to bypass the
    /// threshold"), timestamps without a timestamp authority to check them are untrusted, and
    /// a timestamp that verifies with no authority fails the bundle, naming each authority's
    /// reason.
    #[test]
    fn timestamps_are_bounded_distinct_and_each_must_verify() {
        let host = TestHost::default();
        let tsas = authorities(&["https://tsa.test", ""]);
        let tokens: Vec<Vec<u8>> = (0..=MAX_TIMESTAMPS as u8).map(|i| vec![i]).collect();
        let e = verify_all(&host, &tsas, &tokens, b"sig").unwrap_err();
        assert_eq!(e.reason, "TIMESTAMP_INVALID");
        assert!(e.message.contains("33 signed timestamps"), "{e:?}");
        // 32 are read (and fail as the junk they are).
        let e = verify_all(&host, &tsas, &tokens[..MAX_TIMESTAMPS], b"sig").unwrap_err();
        assert!(
            e.message.starts_with("signed timestamp 0 does not verify"),
            "{e:?}"
        );
        assert!(
            e.message.contains("https://tsa.test: ")
                && e.message.contains("; timestampAuthorities[1]: "),
            "{e:?}"
        );

        let dup = [vec![1], vec![2], vec![1]];
        let e = verify_all(&host, &tsas, &dup, b"sig").unwrap_err();
        assert_eq!(
            (e.reason, e.message.as_str()),
            (
                "TIMESTAMP_INVALID",
                "signed timestamp 2 is a duplicate of an earlier one"
            )
        );

        let none = authorities(&[]);
        let e = verify_all(&host, &none, &[vec![1]], b"sig").unwrap_err();
        assert_eq!(e.reason, "UNTRUSTED");
        assert_eq!(verify_all(&host, &none, &[], b"sig"), Ok(Vec::new()));
        assert_eq!(verify_all(&host, &tsas, &[], b"sig"), Ok(Vec::new()));
    }
}
