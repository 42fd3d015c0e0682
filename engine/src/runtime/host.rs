//! Host functions: the guest's only way out of its sandbox.
//!
//! [`HostState`] is the data of one wasmtime `Store`, created fresh for every call. It implements
//! the traits `bindgen!` generated for the `store`, `crypto`, `log` and `revocation` imports, counts every call
//! against the call's [`Limits`], and checks every store read against the subject's [`Scope`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::vouch::verifier::{
    crypto as wit_crypto, log as wit_log, revocation as wit_revocation, store, types,
};
use super::bindings::{StoreError as WitStoreError, Subject, WitDescriptor};
use super::limits::{LimitExceeded, LimitKind, Limiter, Limits};
use super::scope::Scope;
use crate::crypto;
use crate::oci::{Descriptor, Manifest};
use crate::store::revocation::{FetchError, FetchedCrl, SharedSource, sha256};
use crate::store::{StoreAccess, StoreError};

/// Everything one call's `Store` holds.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    call: Option<CallScope>,
    limits: Limits,
    verifier: Arc<str>,
    pub(crate) stats: CallStats,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

/// The subject side of a `verify` call; absent for `metadata` and `check-config`.
pub(crate) struct CallScope {
    /// Where reads go.
    pub(crate) store: Arc<dyn StoreAccess>,
    /// What reads are allowed.
    pub(crate) scope: Scope,
    /// What `get-subject` answers.
    pub(crate) subject: Subject,
    /// Where the `revocation` import fetches CRLs and OCSP responses (none: every fetch is
    /// `unavailable`).
    pub(crate) revocation: Option<SharedSource>,
}

impl CallScope {
    /// The scope for judging `artifact`, a referrer of `subject`.
    pub(crate) fn new(
        store: Arc<dyn StoreAccess>,
        reference: String,
        subject: &Descriptor,
        artifact: &Descriptor,
        max_depth: u32,
    ) -> Self {
        CallScope {
            store,
            scope: Scope::new(subject, artifact, max_depth),
            subject: Subject {
                reference,
                descriptor: to_wit(subject),
            },
            revocation: None,
        }
    }
}

const NO_SUBJECT: &str = "store imports are only available inside verify()";

/// What one call consumed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Host-function calls made.
    pub host_calls: u64,
    /// Bytes handed to the guest by store calls.
    pub bytes_returned: u64,
    /// Bytes logged through the `log` import.
    pub log_bytes: u64,
    /// Time spent in store calls (registry, layout, caches).
    pub store_time: Duration,
    /// Time spent in crypto calls.
    pub crypto_time: Duration,
}

impl HostState {
    /// State for one call of `verifier`; `call` is `None` outside `verify`.
    /// The subject side it was made with, to make another store for the same call.
    pub(crate) fn take_scope(&mut self) -> Option<CallScope> {
        self.call.take()
    }

    pub(crate) fn new(verifier: Arc<str>, call: Option<CallScope>, limits: &Limits) -> Self {
        let stdout = MemoryOutputPipe::new(limits.log_bytes as usize);
        let stderr = MemoryOutputPipe::new(limits.log_bytes as usize);
        // No preopened directories, no environment, no arguments, stdin closed (empty), no
        // sockets and no name lookups: the store imports are the only way out.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(limits),
            call,
            limits: limits.clone(),
            verifier,
            stats: CallStats::default(),
            stdout,
            stderr,
        }
    }

    /// Count one host call; trap when the budget is spent.
    fn count_call(&mut self) -> wasmtime::Result<()> {
        self.stats.host_calls += 1;
        if self.stats.host_calls > self.limits.host_calls {
            return Err(limit(LimitKind::HostCalls, self.limits.host_calls));
        }
        Ok(())
    }

    /// Count bytes handed to the guest; trap when the budget is spent.
    fn count_bytes(&mut self, n: u64) -> wasmtime::Result<()> {
        self.stats.bytes_returned += n;
        if self.stats.bytes_returned > self.limits.bytes_returned {
            return Err(limit(LimitKind::BytesReturned, self.limits.bytes_returned));
        }
        Ok(())
    }
}

fn limit(kind: LimitKind, limit: u64) -> wasmtime::Error {
    wasmtime::Error::new(LimitExceeded { kind, limit })
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// OCI descriptor → WIT descriptor.
pub(crate) fn to_wit(d: &Descriptor) -> WitDescriptor {
    WitDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.to_string(),
        size: d.size,
        artifact_type: d.artifact_type.clone(),
        annotations: d
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn to_wit_error(e: StoreError) -> WitStoreError {
    match e {
        StoreError::NotFound(s) => WitStoreError::NotFound(s),
        StoreError::TooLarge { limit, .. } => WitStoreError::TooLarge(limit),
        e @ (StoreError::DigestMismatch { .. } | StoreError::Invalid(_)) => {
            WitStoreError::Invalid(e.to_string())
        }
        StoreError::Unavailable(s) => WitStoreError::Unavailable(s),
    }
}

impl types::Host for HostState {}

impl store::Host for HostState {
    async fn get_subject(&mut self) -> wasmtime::Result<Subject> {
        self.count_call()?;
        match &self.call {
            Some(c) => Ok(c.subject.clone()),
            None => Err(wasmtime::format_err!("{NO_SUBJECT}")),
        }
    }

    async fn list_referrers(
        &mut self,
        digest: String,
        artifact_type: Option<String>,
    ) -> wasmtime::Result<Result<Vec<WitDescriptor>, WitStoreError>> {
        self.count_call()?;
        let Some(call) = self.call.as_mut() else {
            return Ok(Err(WitStoreError::Denied(NO_SUBJECT.into())));
        };
        let (digest, depth) = match call.scope.check_referrers(&digest) {
            Ok(v) => v,
            Err(e) => return Ok(Err(WitStoreError::Denied(e.to_string()))),
        };
        let started = Instant::now();
        let res = call
            .store
            .list_referrers(&digest, artifact_type.as_deref())
            .await;
        self.stats.store_time += started.elapsed();
        match res {
            Ok(found) => {
                call.scope.add_referrers(depth, &found);
                let out: Vec<WitDescriptor> = found.iter().map(to_wit).collect();
                let bytes = out.iter().map(wit_descriptor_size).sum();
                self.count_bytes(bytes)?;
                Ok(Ok(out))
            }
            Err(e) => Ok(Err(to_wit_error(e))),
        }
    }

    async fn get_manifest(
        &mut self,
        desc: WitDescriptor,
    ) -> wasmtime::Result<Result<Vec<u8>, WitStoreError>> {
        self.count_call()?;
        let Some(call) = self.call.as_mut() else {
            return Ok(Err(WitStoreError::Denied(NO_SUBJECT.into())));
        };
        // The host's own descriptor, never the guest's claim about size or media type.
        let known = match call.scope.manifest(&desc.digest) {
            Ok(d) => d,
            Err(e) => return Ok(Err(WitStoreError::Denied(e.to_string()))),
        };
        let started = Instant::now();
        let res = call.store.get_manifest(&known).await;
        self.stats.store_time += started.elapsed();
        let bytes = match res {
            Ok(b) => b,
            Err(e) => return Ok(Err(to_wit_error(e))),
        };
        match Manifest::parse(&bytes) {
            Ok(m) => call.scope.add_manifest_content(&known.digest, &m),
            Err(e) => {
                return Ok(Err(WitStoreError::Invalid(format!(
                    "{}: {e}",
                    known.digest
                ))));
            }
        }
        self.count_bytes(bytes.len() as u64)?;
        Ok(Ok(bytes.to_vec()))
    }

    async fn get_blob(
        &mut self,
        digest: String,
    ) -> wasmtime::Result<Result<Vec<u8>, WitStoreError>> {
        self.count_call()?;
        let Some(call) = self.call.as_mut() else {
            return Ok(Err(WitStoreError::Denied(NO_SUBJECT.into())));
        };
        let known = match call.scope.blob(&digest) {
            Ok(d) => d,
            Err(e) => return Ok(Err(WitStoreError::Denied(e.to_string()))),
        };
        // Refuse before fetching when the blob could not fit in what is left of the budget.
        let left = self
            .limits
            .bytes_returned
            .saturating_sub(self.stats.bytes_returned);
        if known.size > left {
            return Ok(Err(WitStoreError::TooLarge(left)));
        }
        let started = Instant::now();
        let res = call.store.get_blob(&known).await;
        self.stats.store_time += started.elapsed();
        match res {
            Ok(b) => {
                self.count_bytes(b.len() as u64)?;
                Ok(Ok(b.to_vec()))
            }
            Err(e) => Ok(Err(to_wit_error(e))),
        }
    }
}

fn wit_descriptor_size(d: &WitDescriptor) -> u64 {
    let ann: usize = d.annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    (d.media_type.len()
        + d.digest.len()
        + d.artifact_type.as_ref().map_or(0, |a| a.len())
        + ann
        + 8) as u64
}

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
        let res = crypto::verify_chain(&chain_der, &roots_der, at_unix, eku.as_deref());
        self.stats.crypto_time += started.elapsed();
        Ok(res
            .map(|infos| infos.into_iter().map(cert_info).collect())
            .map_err(|e| e.to_string()))
    }

    fn parse_certificate(
        &mut self,
        cert: Vec<u8>,
    ) -> wasmtime::Result<Result<wit_crypto::CertInfo, String>> {
        self.count_call()?;
        let started = Instant::now();
        let res = crypto::parse_certificate(&cert);
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

impl wit_log::Host for HostState {
    fn log(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        self.count_call()?;
        self.stats.log_bytes += message.len() as u64;
        if self.stats.log_bytes > self.limits.log_bytes {
            return Err(limit(LimitKind::LogBytes, self.limits.log_bytes));
        }
        let v = &*self.verifier;
        match level {
            wit_log::Level::Trace => {
                tracing::trace!(target: "vouch::guest", verifier = v, "{message}")
            }
            wit_log::Level::Debug => {
                tracing::debug!(target: "vouch::guest", verifier = v, "{message}")
            }
            wit_log::Level::Info => {
                tracing::info!(target: "vouch::guest", verifier = v, "{message}")
            }
            wit_log::Level::Warn => {
                tracing::warn!(target: "vouch::guest", verifier = v, "{message}")
            }
            wit_log::Level::Error => {
                tracing::error!(target: "vouch::guest", verifier = v, "{message}")
            }
        }
        Ok(())
    }
}

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
            crypto::verify_crl_signature(&crl.der, &issuer)
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
