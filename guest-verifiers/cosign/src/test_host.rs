//! The one [`Host`] of the guest's unit tests: real SHA-2 digests, a stand-in "signature" (by
//! key K over M: SHA-256(K ‖ M); the host's real cryptography is tested with the host), a chain
//! check that accepts and returns the chain as its path; every call is recorded.

use std::cell::RefCell;

use sha2::Digest as _;
use verifier_common::crypto::HashAlg;

use crate::pem::Alg;
use crate::verify::{CertInfo, Host};

/// A `verify_signature` call: (algorithm, key, message, signature).
pub type SignatureCall = (Alg, Vec<u8>, Vec<u8>, Vec<u8>);

/// See the module documentation.
#[derive(Default)]
pub struct TestHost {
    /// The `verify_signature` calls, in order.
    pub signatures: RefCell<Vec<SignatureCall>>,
    /// The EKU of each `verify_chain` call, in order.
    pub ekus: RefCell<Vec<String>>,
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(data).to_vec()
}

/// The stand-in signature [`TestHost`] accepts for `message` by `key`.
pub fn fake_sign(key: &[u8], message: &[u8]) -> Vec<u8> {
    sha256(&[key, message].concat())
}

impl Host for TestHost {
    fn manifest(&self) -> Result<Vec<u8>, String> {
        Err("none".into())
    }
    fn subject_manifest(&self) -> Result<Vec<u8>, String> {
        Err("none".into())
    }
    fn subject_media_type(&self) -> &str {
        "application/vnd.oci.image.manifest.v1+json"
    }
    fn blob(&self, _: &str) -> Result<Vec<u8>, String> {
        Err("none".into())
    }
    fn verify_signature(
        &self,
        alg: Alg,
        key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        self.signatures.borrow_mut().push((
            alg,
            key.to_vec(),
            message.to_vec(),
            signature.to_vec(),
        ));
        if signature == fake_sign(key, message) {
            Ok(())
        } else {
            Err("wrong signature".into())
        }
    }
    fn verify_chain(
        &self,
        chain: Vec<Vec<u8>>,
        _: Vec<Vec<u8>>,
        at: i64,
        eku: &str,
    ) -> Result<Vec<CertInfo>, String> {
        self.ekus.borrow_mut().push(eku.to_owned());
        Ok(chain
            .iter()
            .map(|c| CertInfo {
                subject: format!("CN={}", c.len()),
                issuer: "CN=root".into(),
                not_before: at - 1,
                not_after: at + 1,
                fingerprint: "ff".into(),
            })
            .collect())
    }
    fn parse_certificate(&self, _: &[u8]) -> Result<CertInfo, String> {
        Err("no certificate parser in this test host".into())
    }
    fn sha256(&self, data: &[u8]) -> Vec<u8> {
        sha256(data)
    }
    fn digest(&self, alg: HashAlg, data: &[u8]) -> Vec<u8> {
        match alg {
            HashAlg::Sha256 => sha256(data),
            HashAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
    fn debug(&self, _: &str) {}
}
