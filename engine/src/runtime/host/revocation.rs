//! The `revocation` import: CRLs and OCSP responses from the call's [`RevocationSource`],
//! counted against the call's byte budget and timed as store calls.
//!
//! [`RevocationSource`]: crate::store::access::RevocationSource

use super::*;

const NO_REVOCATION: &str = "this engine has no revocation source configured";

fn to_wit_fetch_error(e: FetchError) -> wit_revocation::FetchError {
    match e {
        FetchError::Denied(s) => wit_revocation::FetchError::Denied(s),
        FetchError::TooLarge(n) => wit_revocation::FetchError::TooLarge(n),
        FetchError::Unavailable(s) => wit_revocation::FetchError::Unavailable(s),
    }
}

impl HostState {
    /// The revocation source of a `verify` call, or the error a guest gets without one.
    fn revocation_source(&self) -> Result<SharedSource, wit_revocation::FetchError> {
        match &self.call {
            None => Err(wit_revocation::FetchError::Denied(NO_SUBJECT.into())),
            Some(CallScope {
                revocation: None, ..
            }) => Err(wit_revocation::FetchError::Unavailable(
                NO_REVOCATION.into(),
            )),
            Some(CallScope {
                revocation: Some(r),
                ..
            }) => Ok(r.clone()),
        }
    }

    /// Counts a fetch's answer against the byte budget (refusing one that cannot fit).
    fn fetched(
        &mut self,
        res: Result<bytes::Bytes, FetchError>,
    ) -> wasmtime::Result<Result<Vec<u8>, wit_revocation::FetchError>> {
        match res {
            Ok(b) => {
                self.count_bytes(b.len() as u64)?;
                Ok(Ok(b.to_vec()))
            }
            Err(e) => Ok(Err(to_wit_fetch_error(e))),
        }
    }

    /// The CRL at `url` for `cert` (see `fetch-crl`), logged and timed as a store call.
    async fn crl(
        &mut self,
        source: &SharedSource,
        cert: &[u8],
        url: &str,
    ) -> Result<FetchedCrl, FetchError> {
        let started = Instant::now();
        let res = source.fetch_crl(cert, url).await;
        tracing::debug!(
            verifier = &*self.verifier,
            url,
            ok = res.is_ok(),
            "revocation: CRL"
        );
        self.stats.store_time += started.elapsed();
        res
    }
}

impl wit_revocation::Host for HostState {
    async fn fetch_crl(
        &mut self,
        cert: Vec<u8>,
        url: String,
    ) -> wasmtime::Result<Result<Vec<u8>, wit_revocation::FetchError>> {
        self.count_call()?;
        let source = match self.revocation_source() {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let res = self.crl(&source, &cert, &url).await.map(|c| c.der);
        self.fetched(res)
    }

    async fn fetch_crl_signed(
        &mut self,
        cert: Vec<u8>,
        issuer: Vec<u8>,
        url: String,
    ) -> wasmtime::Result<Result<wit_revocation::SignedCrl, wit_revocation::FetchError>> {
        self.count_call()?;
        let source = match self.revocation_source() {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let crl = match self.crl(&source, &cert, &url).await {
            Ok(c) => c,
            Err(e) => return Ok(Err(to_wit_fetch_error(e))),
        };
        self.count_bytes(crl.der.len() as u64)?;
        let started = Instant::now();
        let signature = source.crl_signature(&crl.sha256, &sha256(&issuer), &mut || {
            crate::crypto::verify_crl_signature(&crl.der, &issuer)
        });
        self.stats.crypto_time += started.elapsed();
        Ok(Ok(wit_revocation::SignedCrl {
            der: crl.der.to_vec(),
            signature,
        }))
    }

    async fn fetch_ocsp(
        &mut self,
        cert: Vec<u8>,
        url: String,
        request: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, wit_revocation::FetchError>> {
        self.count_call()?;
        let source = match self.revocation_source() {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        let started = Instant::now();
        let res = source.fetch_ocsp(&cert, &url, &request).await;
        tracing::debug!(
            verifier = &*self.verifier,
            url,
            ok = res.is_ok(),
            "revocation: OCSP"
        );
        self.stats.store_time += started.elapsed();
        self.fetched(res)
    }
}
