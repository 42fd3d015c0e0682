//! The `crypto` import: a thin mapping of the WIT types onto [`crate::crypto`], with chain
//! validations and parsed certificates answered through the runtime's [`crypto::CryptoCache`]
//! (exact: its module docs argue why).

use super::*;
use crate::crypto;

impl wit_crypto::Host for HostState {
    fn verify_signature(
        &mut self,
        alg: wit_crypto::SignatureAlgorithm,
        encoding: wit_crypto::SignatureEncoding,
        key_or_cert: Vec<u8>,
        message: Vec<u8>,
        signature: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        self.count_call()?;
        use crypto::{SignatureAlgorithm as A, SignatureEncoding as E};
        use wit_crypto::{SignatureAlgorithm as W, SignatureEncoding as WE};
        let alg = match alg {
            W::EcdsaP256Sha256 => A::EcdsaP256Sha256,
            W::EcdsaP384Sha384 => A::EcdsaP384Sha384,
            W::RsaPkcs1Sha256 => A::RsaPkcs1Sha256,
            W::RsaPkcs1Sha384 => A::RsaPkcs1Sha384,
            W::RsaPkcs1Sha512 => A::RsaPkcs1Sha512,
            W::RsaPssSha256 => A::RsaPssSha256,
            W::RsaPssSha384 => A::RsaPssSha384,
            W::RsaPssSha512 => A::RsaPssSha512,
            W::Ed25519 => A::Ed25519,
        };
        let encoding = match encoding {
            WE::Der => E::Der,
            WE::Fixed => E::Fixed,
        };
        let started = Instant::now();
        let res = crypto::verify_signature(alg, encoding, &key_or_cert, &message, &signature);
        self.stats.crypto_time += started.elapsed();
        Ok(res.map_err(|e| e.to_string()))
    }

    fn digest(
        &mut self,
        alg: wit_crypto::DigestAlgorithm,
        data: Vec<u8>,
    ) -> wasmtime::Result<Vec<u8>> {
        self.count_call()?;
        let alg = match alg {
            wit_crypto::DigestAlgorithm::Sha256 => crypto::DigestAlgorithm::Sha256,
            wit_crypto::DigestAlgorithm::Sha384 => crypto::DigestAlgorithm::Sha384,
            wit_crypto::DigestAlgorithm::Sha512 => crypto::DigestAlgorithm::Sha512,
        };
        let started = Instant::now();
        let out = crypto::digest(alg, &data);
        self.stats.crypto_time += started.elapsed();
        Ok(out)
    }

    fn verify_chain(
        &mut self,
        chain_der: Vec<Vec<u8>>,
        roots_der: Vec<Vec<u8>>,
        at_unix: i64,
        eku: Option<String>,
    ) -> wasmtime::Result<Result<Vec<wit_crypto::CertInfo>, String>> {
        self.count_call()?;
        let started = Instant::now();
        let res = self
            .crypto_cache
            .verify_chain(&chain_der, &roots_der, at_unix, eku.as_deref());
        let out = res
            .map(|infos| infos.iter().cloned().map(cert_info).collect())
            .map_err(|e| e.to_string());
        self.stats.crypto_time += started.elapsed();
        Ok(out)
    }

    fn parse_certificate(
        &mut self,
        cert: Vec<u8>,
    ) -> wasmtime::Result<Result<wit_crypto::CertInfo, String>> {
        self.count_call()?;
        let started = Instant::now();
        let res = self.crypto_cache.parse_certificate(&cert);
        self.stats.crypto_time += started.elapsed();
        Ok(res.map(cert_info).map_err(|e| e.to_string()))
    }
}

fn cert_info(c: crypto::CertInfo) -> wit_crypto::CertInfo {
    wit_crypto::CertInfo {
        subject: c.subject,
        issuer: c.issuer,
        serial: c.serial,
        not_before: c.not_before,
        not_after: c.not_after,
        sha256_fingerprint: c.sha256_fingerprint,
    }
}
