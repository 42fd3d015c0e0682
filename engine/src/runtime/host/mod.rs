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
    crypto as wit_crypto, log as wit_log, revocation as wit_revocation, store as wit_store, types,
};
use super::bindings::{StoreError as WitStoreError, Subject, WitDescriptor};
use super::limits::{LimitExceeded, LimitKind, Limiter, Limits};
use super::scope::Scope;
use crate::oci::{Descriptor, Manifest};
use crate::store::access::{FetchError, FetchedCrl, SharedSource, StoreAccess, StoreError, sha256};

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
    /// The runtime's memo of pure crypto answers, shared by every call.
    crypto_cache: crate::crypto::CryptoCache,
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
    /// Linear memory the instance held at the end of the call, all its memories together
    /// (memories never shrink: the call's peak), in bytes.
    pub memory_bytes: u64,
}

impl HostState {
    /// The subject side it was made with, to make another store for the same call.
    pub(crate) fn take_scope(&mut self) -> Option<CallScope> {
        self.call.take()
    }

    /// State for one call of `verifier`; `call` is `None` outside `verify`.
    pub(crate) fn new(
        verifier: Arc<str>,
        call: Option<CallScope>,
        limits: &Limits,
        crypto_cache: crate::crypto::CryptoCache,
    ) -> Self {
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
            crypto_cache,
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

impl types::Host for HostState {}

mod crypto;
mod log;
mod revocation;
mod store;
