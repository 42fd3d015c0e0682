//! The WebAssembly verifier runtime: one wasmtime engine, verifiers loaded as components, and
//! sandboxed, limited calls into them.
//!
//! - [`Runtime`] owns the process's `wasmtime::Engine` (pooling allocator when the address space
//!   can be reserved, on-demand otherwise), the linker with WASI p2 and Vouch's host imports, the
//!   epoch ticker that enforces CPU deadlines, and a semaphore that bounds live instances.
//! - [`Verifier`] is a loaded component: compiled once (and cached on disk), pre-instantiated,
//!   with its metadata read at load time.
//! - [`Runtime::verify`] runs one verification in a fresh `Store`: nothing survives between calls.
//!   Every limit hit comes back as [`CallError::Limit`], never as a panic or a hung task.

pub(crate) mod bindings;
mod compile_cache;
pub(crate) mod cpu_quota;
mod host;
pub(crate) mod limits;
pub(crate) mod pool;
mod scope;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tracing::Instrument;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use self::bindings::{ExtensionValue, VerifierPre};
use self::compile_cache::CompileCache;
pub use self::cpu_quota::CpuQuota;
pub use self::host::CallStats;
use self::host::{CallScope, HostState};
pub use self::limits::{LimitExceeded, LimitKind, Limits};
pub use self::pool::GuestScheduling;
use crate::oci::{Descriptor, Digest};
use crate::store::access::StoreAccess;

/// Linear memories of the pool per instance slot: a component with more memories takes several
/// slots' worth of the pool (see [`Verifier::slots`]).
pub const MEMORIES_PER_SLOT: u32 = 2;
/// Tables of the pool per instance slot (as [`MEMORIES_PER_SLOT`]).
pub const TABLES_PER_SLOT: u32 = 4;

/// Instantiations retried after a transient pool-exhaustion failure (see
/// [`Runtime::call_with_stats`]), 1 ms apart.
const POOL_RETRIES: u32 = 50;

/// Process-wide runtime settings.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Use the pooling allocator (falls back to on-demand if its address space cannot be reserved).
    pub pooling: bool,
    /// Instance slots in the pool; also the default bound on concurrent instances.
    pub max_instances: u32,
    /// Largest memory any verifier may be configured to use (the pool's slot size).
    pub max_memory_bytes: u64,
    /// Concurrent live instances; callers wait for a slot beyond this (back-pressure).
    pub max_concurrency: usize,
    /// Epoch tick: the granularity of CPU deadlines and of cooperative yields.
    pub epoch_tick: Duration,
    /// Directory for compiled components; `None` disables the on-disk compile cache.
    pub compile_cache_dir: Option<PathBuf>,
    /// How deep a guest may walk referrers of referrers from the subject.
    pub max_nesting_depth: u32,
    /// Threads of a pool of their own for guest calls (0: guests run on the caller's tokio
    /// runtime). See [`GuestScheduling`] for why a server shared by tenants wants one.
    pub guest_threads: usize,
    /// How the guest pool's threads are scheduled.
    pub guest_scheduling: GuestScheduling,
    /// Core module instances one verifier component may create (a Rust guest creates 3-4, a
    /// componentize-js one 4, a componentize-py one 14). Core instances cost the pool no
    /// memory, so the pool allows this many for every instance slot: no mix of verifiers can
    /// run out of them. A component needing more is refused at load time.
    pub max_core_instances_per_component: u32,
    /// Linear memories one verifier component may define. The pool holds
    /// [`MEMORIES_PER_SLOT`] per instance slot; a component with more takes several slots'
    /// worth of the concurrency budget per call. A component needing more is refused at load.
    pub max_memories_per_component: u32,
    /// Tables one verifier component may define ([`TABLES_PER_SLOT`] per slot, as memories).
    pub max_tables_per_component: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            pooling: true,
            max_instances: 1000,
            max_memory_bytes: 256 << 20,
            max_concurrency: 1000,
            epoch_tick: Duration::from_millis(5),
            compile_cache_dir: None,
            max_nesting_depth: 3,
            guest_threads: 0,
            guest_scheduling: GuestScheduling::default(),
            max_core_instances_per_component: 32,
            max_memories_per_component: 8,
            max_tables_per_component: 32,
        }
    }
}

/// Errors creating the runtime or loading a verifier.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine could not be configured.
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
    /// The `.wasm` file could not be read (missing, not a regular file, over
    /// [`crate::localfile::MAX_WASM_BYTES`], I/O error).
    #[error("cannot load verifier `{name}`: {source}")]
    Read {
        /// Verifier name.
        name: String,
        /// The file.
        path: PathBuf,
        /// Why (names the file).
        source: Box<crate::localfile::LocalFileError>,
    },
    /// The bytes are not a valid component, or it does not implement the `verifier` world.
    #[error("verifier `{name}` is not a valid vouch:verifier component: {reason}")]
    Invalid {
        /// Verifier name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A verifier's configuration was rejected by its `check-config`, or the call failed.
    #[error("verifier `{name}` rejected its configuration: {reason}")]
    Config {
        /// Verifier name.
        name: String,
        /// What the verifier said.
        reason: String,
    },
    /// Calling `metadata` or `check-config` failed.
    #[error("verifier `{name}` failed during load: {source}")]
    Call {
        /// Verifier name.
        name: String,
        /// The call error.
        source: CallError,
    },
    /// The component needs more of the instance pool than the runtime is configured for (core
    /// instances, memories or tables per component, or more concurrency slots than there are).
    #[error("verifier `{name}` does not fit the runtime's instance pool: {reason}")]
    PoolLimit {
        /// Verifier name.
        name: String,
        /// What it needs, the limit, and the setting that raises it.
        reason: String,
    },
    /// The verifier cannot even start within its memory limit.
    #[error(
        "verifier `{name}`: its memory limit {limit} bytes is too small for the component to \
         start ({needs}); raise `limits.memoryBytes` for it"
    )]
    MemoryLimitTooSmall {
        /// Verifier name.
        name: String,
        /// Configured limit.
        limit: u64,
        /// What it was found to need.
        needs: String,
    },
    /// The configured memory limit is larger than the engine allows.
    #[error("verifier `{name}`: memory limit {limit} bytes exceeds the runtime maximum {max}")]
    MemoryLimitTooLarge {
        /// Verifier name.
        name: String,
        /// Configured limit.
        limit: u64,
        /// Runtime maximum.
        max: u64,
    },
}

/// Why a single call into a verifier did not produce a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// A limit was hit.
    #[error("verifier `{verifier}` exceeded {limit}")]
    Limit {
        /// Verifier name.
        verifier: String,
        /// Which limit and its value.
        limit: LimitExceeded,
    },
    /// The guest trapped (panic, unreachable, out-of-bounds, ...).
    #[error("verifier `{verifier}` trapped: {message}")]
    Trap {
        /// Verifier name.
        verifier: String,
        /// The trap and whatever the guest printed to stderr before it.
        message: String,
    },
    /// Instantiation failed (e.g. the pool is exhausted or an import is missing).
    #[error("verifier `{verifier}` could not be instantiated: {message}")]
    Instantiate {
        /// Verifier name.
        verifier: String,
        /// Why.
        message: String,
    },
}

impl CallError {
    /// Stable identifier for the report's `errorReason` and for metrics.
    pub fn error_type(&self) -> &'static str {
        match self {
            CallError::Limit { limit, .. } => limit.kind.error_type(),
            CallError::Trap { .. } => "verifier_trapped",
            CallError::Instantiate { .. } => "verifier_instantiation_failed",
        }
    }
}

/// What a verifier says about itself (the `metadata` export).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifierMetadata {
    /// Name the verifier gives itself.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Artifact types it judges (`*` for any).
    pub artifact_types: Vec<String>,
    /// JSON Schema of its config, if published.
    pub config_schema: Option<String>,
}

impl VerifierMetadata {
    /// Whether this verifier judges artifacts of `artifact_type`.
    pub fn handles(&self, artifact_type: &str) -> bool {
        self.artifact_types
            .iter()
            .any(|t| t == "*" || t == artifact_type)
    }
}

/// A loaded verifier: compiled, linked, ready to instantiate.
#[derive(Clone)]
pub struct Verifier {
    name: Arc<str>,
    module_digest: Digest,
    wasm_size: u64,
    metadata: VerifierMetadata,
    limits: Limits,
    pre: VerifierPre<HostState>,
    compiled_from_cache: bool,
    slots: u32,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("name", &self.name)
            .field("module_digest", &self.module_digest)
            .field("metadata", &self.metadata)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// The name the engine's config gives this verifier.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// sha256 of the `.wasm` module.
    pub fn module_digest(&self) -> &Digest {
        &self.module_digest
    }

    /// Size of the `.wasm` module in bytes.
    pub fn wasm_size(&self) -> u64 {
        self.wasm_size
    }

    /// What the verifier says about itself.
    pub fn metadata(&self) -> &VerifierMetadata {
        &self.metadata
    }

    /// Limits applied to each call.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the compiled code came from the on-disk compile cache.
    pub fn compiled_from_cache(&self) -> bool {
        self.compiled_from_cache
    }

    /// Concurrency permits one call takes: the instance slots' worth of pooled memories and
    /// tables its component uses (1 for a component within one slot's share).
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// The component's imports and exports, `name: kind`, for `vouch inspect`.
    pub fn component_interface(&self, runtime: &Runtime) -> (Vec<String>, Vec<String>) {
        let ty = self.pre.instance_pre().component().component_type();
        let engine = &runtime.engine;
        let imports = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
        let exports = ty.exports(engine).map(|(n, _)| n.to_owned()).collect();
        (imports, exports)
    }
}

/// One verification: judge `artifact`, a referrer of `subject`.
#[derive(Clone)]
pub struct VerifyInput {
    /// Where the guest's store reads go (scoped to the subject's repository).
    pub store: Arc<dyn StoreAccess>,
    /// The subject reference as the user gave it.
    pub subject_reference: String,
    /// The resolved subject descriptor.
    pub subject: Descriptor,
    /// The referrer to judge.
    pub artifact: Descriptor,
    /// The verifier's JSON config.
    pub config: Arc<str>,
    /// The tenant's share of guest CPU the call draws from (unlimited when `None`).
    pub cpu_quota: Option<Arc<CpuQuota>>,
}

/// The report a guest returned, in host types.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestReport {
    /// Whether the artifact passed.
    pub is_success: bool,
    /// Summary.
    pub message: String,
    /// Machine-readable failure reason.
    pub error_reason: Option<String>,
    /// Details; JSON extension values are embedded as JSON.
    pub extensions: BTreeMap<String, serde_json::Value>,
}

/// A finished call.
#[derive(Clone, Debug)]
pub struct VerifyOutcome {
    /// What the guest said.
    pub report: GuestReport,
    /// What the call consumed.
    pub stats: CallStats,
    /// Wall-clock time of the call, instantiation included.
    pub duration: Duration,
}

/// The process's wasm runtime. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    permits: Arc<Semaphore>,
    config: Arc<RuntimeConfig>,
    compile_cache: Option<CompileCache>,
    pooling: bool,
    guest_pool: Option<Arc<pool::GuestPool>>,
    revocation: Option<crate::store::access::SharedSource>,
    crypto_cache: crate::crypto::CryptoCache,
}

impl Runtime {
    /// Create the engine, the linker and the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let (engine, pooling) = if config.pooling {
            match Engine::new(&engine_config(&config, true)) {
                Ok(e) => (e, true),
                Err(e) => {
                    tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation");
                    (new_engine(&config, false)?, false)
                }
            }
        } else {
            (new_engine(&config, false)?, false)
        };

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        bindings::Verifier::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;

        let compile_cache = match &config.compile_cache_dir {
            Some(dir) => Some(CompileCache::new(dir, &engine).map_err(|e| {
                RuntimeError::Engine(format!("compile cache {}: {e}", dir.display()))
            })?),
            None => None,
        };
        spawn_epoch_ticker(&engine, config.epoch_tick);
        let guest_pool = match config.guest_threads {
            0 => None,
            n => Some(Arc::new(
                pool::GuestPool::new(n, config.guest_scheduling).map_err(|e| {
                    RuntimeError::Engine(format!("cannot start the guest thread pool: {e}"))
                })?,
            )),
        };
        Ok(Runtime {
            guest_pool,
            permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            engine,
            linker: Arc::new(linker),
            config: Arc::new(config),
            compile_cache,
            pooling,
            revocation: None,
            crypto_cache: crate::crypto::CryptoCache::new(),
        })
    }

    /// This runtime, answering the guests' `revocation` imports from `source` (without one every
    /// fetch is `unavailable`).
    pub fn with_revocation(mut self, source: crate::store::access::SharedSource) -> Self {
        self.revocation = Some(source);
        self
    }

    /// The memo of chain validations and parsed certificates the guests' `crypto` imports are
    /// answered through (bounded, exact; see [`crate::crypto::CryptoCache`]).
    pub fn crypto_cache(&self) -> &crate::crypto::CryptoCache {
        &self.crypto_cache
    }

    /// Whether the pooling allocator is in use.
    pub fn is_pooling(&self) -> bool {
        self.pooling
    }

    /// The runtime's settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Load a verifier from a `.wasm` file: a regular file of at most
    /// [`crate::localfile::MAX_WASM_BYTES`].
    pub async fn load_file(
        &self,
        name: &str,
        path: &Path,
        limits: Limits,
    ) -> Result<Verifier, RuntimeError> {
        let wasm = crate::localfile::read_regular_file_capped_async(
            path,
            crate::localfile::MAX_WASM_BYTES,
            "verifier component",
        )
        .await
        .map_err(|source| RuntimeError::Read {
            name: name.to_owned(),
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        self.load_bytes(name, wasm, limits).await
    }

    /// Load a verifier from component bytes: compile (or fetch from the compile cache), link,
    /// pre-instantiate, and read its metadata.
    pub async fn load_bytes(
        &self,
        name: &str,
        wasm: Vec<u8>,
        limits: Limits,
    ) -> Result<Verifier, RuntimeError> {
        if limits.memory_bytes > self.config.max_memory_bytes {
            return Err(RuntimeError::MemoryLimitTooLarge {
                name: name.to_owned(),
                limit: limits.memory_bytes,
                max: self.config.max_memory_bytes,
            });
        }
        let invalid = |reason: String| RuntimeError::Invalid {
            name: name.to_owned(),
            reason,
        };
        check_wasm_header(&wasm).map_err(invalid)?;
        let module_digest = Digest::sha256_of(&wasm);
        let wasm_size = wasm.len() as u64;
        let engine = self.engine.clone();
        let cache = self.compile_cache.clone();
        let digest = module_digest.clone();
        // Compilation is CPU-heavy: keep it off the async workers.
        let (component, compiled_from_cache) = tokio::task::spawn_blocking(move || {
            if let Some(cache) = &cache {
                if let Some(c) = cache.get(&engine, &digest) {
                    return Ok((c, true));
                }
                return cache.compile(&engine, &digest, &wasm).map(|c| (c, false));
            }
            Component::new(&engine, &wasm).map(|c| (c, false))
        })
        .await
        .map_err(|e| invalid(format!("compilation task failed: {e}")))?
        .map_err(|e| self.compile_error(name, e))?;
        let slots = self.slots_for(name, &component)?;

        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| invalid(format!("{e:#}")))?;
        let pre = VerifierPre::new(instance_pre).map_err(|e| invalid(format!("{e:#}")))?;
        let mut verifier = Verifier {
            name: name.into(),
            module_digest,
            wasm_size,
            metadata: VerifierMetadata {
                name: String::new(),
                version: String::new(),
                artifact_types: Vec::new(),
                config_schema: None,
            },
            limits,
            pre,
            compiled_from_cache,
            slots,
        };
        let md = self
            .call(&verifier, None, async |v, store| {
                v.call_metadata(store).await
            })
            .await
            .map_err(|source| match source {
                // The first call is the component's start: a memory limit hit there is a
                // limit too small for this component, not a verdict.
                CallError::Limit { limit, .. } if limit.kind == LimitKind::Memory => {
                    RuntimeError::MemoryLimitTooSmall {
                        name: name.to_owned(),
                        limit: verifier.limits.memory_bytes,
                        needs: "it ran out while instantiating or answering `metadata`".into(),
                    }
                }
                source => RuntimeError::Call {
                    name: name.to_owned(),
                    source,
                },
            })?;
        verifier.metadata = VerifierMetadata {
            name: md.name,
            version: md.version,
            artifact_types: md.artifact_types,
            config_schema: md.config_schema,
        };
        tracing::debug!(
            verifier = name,
            module = %verifier.module_digest,
            from_cache = compiled_from_cache,
            slots,
            "verifier loaded"
        );
        Ok(verifier)
    }

    /// A compilation failure as a load error: the pooling allocator's refusal of a component
    /// with more core instances, memories or tables than configured (it names the count and the
    /// maximum) is a [`RuntimeError::PoolLimit`] naming the setting to raise.
    fn compile_error(&self, name: &str, e: wasmtime::Error) -> RuntimeError {
        let message = format!("{e:#}");
        let setting = [
            ("core module instances", "maxCoreInstancesPerComponent"),
            ("linear memories", "maxMemoriesPerComponent"),
            ("tables, which", "maxTablesPerComponent"),
        ]
        .into_iter()
        .find(|(what, _)| message.contains("pooling allocator") && message.contains(what));
        match setting {
            Some((_, setting)) => RuntimeError::PoolLimit {
                name: name.to_owned(),
                reason: format!("{message}; raise `runtime.{setting}`"),
            },
            None => RuntimeError::Invalid {
                name: name.to_owned(),
                reason: message,
            },
        }
    }

    /// Concurrency permits a call of `component` takes (see [`Verifier::slots`]), refusing a
    /// component whose memories cannot fit `limits`-sized slots or that needs more permits than
    /// the runtime has.
    fn slots_for(&self, name: &str, component: &Component) -> Result<u32, RuntimeError> {
        let config = &self.config;
        // Without static knowledge (a component importing core modules), assume the most a
        // component may have.
        let (memories, tables) = match component.resources_required() {
            Some(r) => (r.num_memories, r.num_tables),
            None => (
                config.max_memories_per_component,
                config.max_tables_per_component,
            ),
        };
        for (what, n, max, setting) in [
            (
                "linear memories",
                memories,
                config.max_memories_per_component,
                "maxMemoriesPerComponent",
            ),
            (
                "tables",
                tables,
                config.max_tables_per_component,
                "maxTablesPerComponent",
            ),
        ] {
            if n > max {
                return Err(RuntimeError::PoolLimit {
                    name: name.to_owned(),
                    reason: format!(
                        "the component has {n} {what}, the maximum is {max}; raise `runtime.{setting}`"
                    ),
                });
            }
        }
        let slots = memories
            .div_ceil(MEMORIES_PER_SLOT)
            .max(tables.div_ceil(TABLES_PER_SLOT))
            .max(1);
        let capacity = self.permit_capacity();
        if slots as usize > capacity {
            return Err(RuntimeError::PoolLimit {
                name: name.to_owned(),
                reason: format!(
                    "one call takes {slots} instance slots ({memories} memories, {tables} tables), \
                     the runtime has {capacity}; raise the executor's concurrency"
                ),
            });
        }
        Ok(slots)
    }

    /// Permits of the concurrency semaphore: the bound on the instance slots live at once.
    fn permit_capacity(&self) -> usize {
        self.config.max_concurrency.max(1)
    }

    /// Ask the verifier whether `config` is acceptable (done at load time, not per request).
    pub async fn check_config(
        &self,
        verifier: &Verifier,
        config: &str,
    ) -> Result<(), RuntimeError> {
        let config = config.to_owned();
        let res = self
            .call(verifier, None, async move |v, store| {
                v.call_check_config(store, &config).await
            })
            .await
            .map_err(|source| RuntimeError::Call {
                name: verifier.name.to_string(),
                source,
            })?;
        res.map_err(|reason| RuntimeError::Config {
            name: verifier.name.to_string(),
            reason,
        })
    }

    /// Run one verification in a fresh, limited store (on the guest pool when there is one;
    /// dropping the future cancels the call either way).
    pub async fn verify(
        &self,
        verifier: &Verifier,
        input: VerifyInput,
    ) -> Result<VerifyOutcome, CallError> {
        let Some(pool) = &self.guest_pool else {
            return self.verify_here(verifier, input).await;
        };
        let runtime = self.clone();
        let v = verifier.clone();
        pool.spawn(async move { runtime.verify_here(&v, input).await })
            .await
            .unwrap_or_else(|e| {
                Err(CallError::Instantiate {
                    verifier: verifier.name.to_string(),
                    message: format!("the guest task failed: {e}"),
                })
            })
    }

    /// [`Runtime::verify`] on the current task.
    async fn verify_here(
        &self,
        verifier: &Verifier,
        input: VerifyInput,
    ) -> Result<VerifyOutcome, CallError> {
        let started = Instant::now();
        let mut scope = CallScope::new(
            input.store,
            input.subject_reference,
            &input.subject,
            &input.artifact,
            self.config.max_nesting_depth,
        );
        scope.revocation = self.revocation.clone();
        let request = bindings::Request {
            subject: bindings::Subject {
                reference: scope.subject.reference.clone(),
                descriptor: scope.subject.descriptor.clone(),
            },
            artifact: host::to_wit(&input.artifact),
            config: input.config.to_string(),
        };
        let mut stats = CallStats::default();
        let span = tracing::info_span!(
            "verifier",
            verifier = &*verifier.name,
            subject = %input.subject.digest,
            artifact = %input.artifact.digest,
        );
        let quota = input.cpu_quota;
        let report = self
            .call_with_stats(
                verifier,
                Some(scope),
                quota,
                &mut stats,
                async move |v, store| v.call_verify(store, &request).await,
            )
            .instrument(span)
            .await?;
        let report = convert_report(verifier, report)?;
        Ok(VerifyOutcome {
            report,
            stats,
            duration: started.elapsed(),
        })
    }

    async fn call<R: Send>(
        &self,
        verifier: &Verifier,
        scope: Option<CallScope>,
        f: impl AsyncFnOnce(&bindings::Verifier, &mut Store<HostState>) -> wasmtime::Result<R> + Send,
    ) -> Result<R, CallError> {
        let mut stats = CallStats::default();
        self.call_with_stats(verifier, scope, None, &mut stats, f)
            .await
    }

    /// Instantiate `verifier` in a fresh store and run `f`, under every limit (and `quota`).
    async fn call_with_stats<R: Send>(
        &self,
        verifier: &Verifier,
        scope: Option<CallScope>,
        quota: Option<Arc<CpuQuota>>,
        stats: &mut CallStats,
        f: impl AsyncFnOnce(&bindings::Verifier, &mut Store<HostState>) -> wasmtime::Result<R> + Send,
    ) -> Result<R, CallError> {
        let name = verifier.name.to_string();
        let limits = &verifier.limits;
        // Back-pressure: wait for a slot instead of failing on pool exhaustion.
        let _permit = self
            .permits
            .acquire_many(verifier.slots)
            .await
            .map_err(|e| CallError::Instantiate {
                verifier: name.clone(),
                message: e.to_string(),
            })?;

        // The pool has a slot for every permit, but wasmtime returns freed slots to it in
        // batches, and an allocation racing another thread's flush can find none: such a
        // failure is retried in a fresh store (a failed instantiation may hold part of the slots
        // it took until its store is dropped).
        let run = async {
            let mut scope = scope;
            let mut attempt = 0;
            loop {
                let mut store = self.new_store(verifier, scope.take(), quota.clone());
                match verifier.pre.instantiate_async(&mut store).await {
                    Ok(instance) => {
                        let out = f(&instance, &mut store).await;
                        return Ok::<_, CallError>((store, out));
                    }
                    Err(e)
                        if attempt < POOL_RETRIES
                            && e.is::<wasmtime::PoolConcurrencyLimitError>() =>
                    {
                        attempt += 1;
                        scope = store.into_data().take_scope();
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    // A limit hit while instantiating (the initial memories over the memory
                    // limit) is that limit, named as such.
                    Err(e) => {
                        return Err(match e.downcast::<LimitExceeded>() {
                            Ok(limit) => CallError::Limit {
                                verifier: name.clone(),
                                limit,
                            },
                            Err(e) => CallError::Instantiate {
                                verifier: name.clone(),
                                message: format!("{e:#}"),
                            },
                        });
                    }
                }
            }
        };
        let (store, out) = match tokio::time::timeout(limits.wall_time, run).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(CallError::Limit {
                    verifier: name,
                    limit: LimitExceeded {
                        kind: LimitKind::WallTime,
                        limit: limits.wall_time.as_millis() as u64,
                    },
                });
            }
        };
        let state = store.into_data();
        *stats = CallStats {
            memory_bytes: state.limiter.memory_used(),
            ..state.stats.clone()
        };
        emit_output(&name, "stdout", &state.stdout.contents());
        let stderr = state.stderr.contents();
        emit_output(&name, "stderr", &stderr);
        out.map_err(|e| classify(&name, limits, e, &state, &stderr))
    }

    /// A fresh store for one call of `verifier`: its limits, and an epoch callback that enforces
    /// its CPU deadline and `quota`.
    fn new_store(
        &self,
        verifier: &Verifier,
        scope: Option<CallScope>,
        quota: Option<Arc<CpuQuota>>,
    ) -> Store<HostState> {
        let limits = &verifier.limits;
        let mut store = Store::new(
            &self.engine,
            HostState::new(
                verifier.name.clone(),
                scope,
                limits,
                self.crypto_cache.clone(),
            ),
        );
        store.limiter(|s| &mut s.limiter);
        // CPU deadline: at every epoch callback the meter says how long the guest ran since
        // the previous one, and that comes off its CPU time. The callback also yields so
        // long-running guests share the executor fairly, and parks the guest (sleeps, holding
        // no thread) when its tenant is over its CPU quota.
        let mut meter = cpu_quota::Meter::new(self.config.epoch_tick);
        let mut cpu_left = limits.cpu_time;
        let cpu_limit_ms = limits.cpu_time.as_millis() as u64;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            let ran = meter.lap();
            cpu_left = cpu_left.saturating_sub(ran);
            if cpu_left.is_zero() {
                return Err(wasmtime::Error::new(LimitExceeded {
                    kind: LimitKind::CpuTime,
                    limit: cpu_limit_ms,
                }));
            }
            if let Some(quota) = &quota {
                let pause = quota.charge(ran);
                if !pause.is_zero() {
                    meter.park(pause);
                    return Ok(wasmtime::UpdateDeadline::YieldCustom(
                        1,
                        Box::pin(tokio::time::sleep(pause)),
                    ));
                }
            }
            Ok(wasmtime::UpdateDeadline::Yield(1))
        });
        store
    }
}

fn engine_config(config: &RuntimeConfig, pooling: bool) -> Config {
    let mut c = Config::new();
    c.epoch_interruption(true);
    c.wasm_component_model(true);
    c.max_wasm_stack(512 << 10);
    if pooling {
        let n = config.max_instances;
        let mut p = PoolingAllocationConfig::default();
        // Core instances are a counter, not reserved memory: every slot may hold the largest
        // component allowed. Memories and tables reserve address space per entry: a slot holds
        // a share of them, and a call of a component with more takes more slots' permits
        // (`Verifier::slots`), so the permits bound what is live below what the pool holds.
        p.total_component_instances(n)
            .total_core_instances(n.saturating_mul(config.max_core_instances_per_component))
            .max_core_instances_per_component(config.max_core_instances_per_component)
            .total_memories(n.saturating_mul(MEMORIES_PER_SLOT))
            .max_memories_per_component(config.max_memories_per_component)
            .total_tables(n.saturating_mul(TABLES_PER_SLOT))
            .max_tables_per_component(config.max_tables_per_component)
            .total_stacks(n)
            .max_memory_size(config.max_memory_bytes as usize)
            // Reset only the pages a call dirtied (Linux ≥ 6.7), keeping them resident, instead
            // of an madvise + fresh page faults on every reuse of a slot.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10)
            // Decommit what a call dirtied beyond the resident part as soon as its slot is
            // freed. A batch (of 16) left up to 15 slots' worth of a memory-hungry guest's pages
            // resident after a burst: `vouch serve` sat at 7.5× its baseline RSS after a storm
            // of guests filling 64 MiB, 3.2× with this (benches/hostile_memory.rs). Guests that
            // stay within the resident part cost no syscall either way.
            .decommit_batch_size(1);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    c
}

fn new_engine(config: &RuntimeConfig, pooling: bool) -> Result<Engine, RuntimeError> {
    Engine::new(&engine_config(config, pooling)).map_err(|e| RuntimeError::Engine(e.to_string()))
}

/// Advance the engine's epoch every `tick` until the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("vouch-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .expect("spawning the epoch ticker thread");
}

fn emit_output(verifier: &str, stream: &'static str, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    for line in String::from_utf8_lossy(bytes).lines() {
        tracing::info!(target: "vouch::guest", verifier, stream, "{line}");
    }
}

/// Turn a failed call into a [`CallError`] naming the limit when one was hit.
fn classify(
    verifier: &str,
    limits: &Limits,
    err: wasmtime::Error,
    state: &HostState,
    stderr: &[u8],
) -> CallError {
    let limit = |kind, limit| CallError::Limit {
        verifier: verifier.to_owned(),
        limit: LimitExceeded { kind, limit },
    };
    if let Some(l) = err.downcast_ref::<LimitExceeded>() {
        return CallError::Limit {
            verifier: verifier.to_owned(),
            limit: l.clone(),
        };
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        match trap {
            Trap::StackOverflow => return limit(LimitKind::Stack, 512 << 10),
            Trap::Interrupt => {
                return limit(LimitKind::CpuTime, limits.cpu_time.as_millis() as u64);
            }
            _ => {}
        }
    }
    // A full stdout/stderr pipe refuses writes; a Rust guest then panics on `println!`.
    let cap = limits.log_bytes as usize;
    if state.stdout.contents().len() >= cap || stderr.len() >= cap {
        return limit(LimitKind::LogBytes, limits.log_bytes);
    }
    let tail = String::from_utf8_lossy(&stderr[stderr.len().saturating_sub(4096)..]);
    let message = trap_message(&err.root_cause().to_string(), &tail);
    // The wasm backtrace (function names and offsets) helps whoever debugs the guest, not
    // whoever reads the verdict.
    tracing::debug!(verifier, backtrace = ?err, "verifier trap backtrace");
    tracing::warn!(verifier, "error.type" = "verifier_trapped", error = %message, "verifier trapped");
    CallError::Trap {
        verifier: verifier.to_owned(),
        message,
    }
}

/// Refuses what is not a WebAssembly component before the compiler sees it, naming what it is
/// instead (the compiler's own message dumps magic bytes).
fn check_wasm_header(bytes: &[u8]) -> Result<(), String> {
    const MAGIC: &[u8] = b"\0asm";
    const COMPONENT: &[u8] = &[0x0d, 0x00, 0x01, 0x00];
    const CORE_MODULE: &[u8] = &[0x01, 0x00, 0x00, 0x00];
    if bytes.len() < 8 || !bytes.starts_with(MAGIC) {
        let head = &bytes[..bytes.len().min(64)];
        let kind = if head.is_empty() {
            "the file is empty"
        } else if head.starts_with(b"(component") || head.starts_with(b"(module") {
            "it looks like WebAssembly text (.wat); compile it to binary first"
        } else if std::str::from_utf8(head).is_ok() {
            "it looks like a text file"
        } else {
            "it does not start with the WebAssembly magic number"
        };
        return Err(format!("not a WebAssembly binary: {kind}"));
    }
    match &bytes[4..8] {
        v if v == COMPONENT => Ok(()),
        v if v == CORE_MODULE => Err(
            "a core WebAssembly module, not a component: build the verifier for wasm32-wasip2 \
             (or wrap the module with `wasm-tools component new`)"
                .to_owned(),
        ),
        v => Err(format!(
            "a WebAssembly binary of an unsupported version/layer {v:02x?} (expected a component, \
             version 0x0d layer 1)"
        )),
    }
}

/// What a trapped guest's verdict says: the Rust panic it printed to stderr (`panicked at LOC:
/// MESSAGE`) when there is one, else the trap's cause followed by the end of its stderr. Guest
/// output is untrusted: control characters are escaped and the text is bounded.
fn trap_message(cause: &str, stderr: &str) -> String {
    let message = match panic_message(stderr) {
        Some(panic) => panic,
        None => match stderr.trim() {
            "" => cause.to_owned(),
            tail => {
                let cut = tail.char_indices().rev().nth(1023).map_or(0, |(i, _)| i);
                format!("{cause}; guest stderr: {}", &tail[cut..])
            }
        },
    };
    escape_controls(&message)
}

/// The last Rust panic in `stderr`, as std prints it (`thread '…' (ID) panicked at LOC:` then the
/// message lines, then an optional `note: …`), rendered `panicked at LOC: MESSAGE`.
fn panic_message(stderr: &str) -> Option<String> {
    // `thread 'NAME' panicked at` (rustc < 1.89) or `thread 'NAME' (ID) panicked at`.
    const MARK: &str = " panicked at ";
    let start = stderr.rfind(MARK)? + MARK.len();
    let (location, rest) = stderr[start..].split_once(":\n")?;
    let lines: Vec<&str> = rest
        .lines()
        .take_while(|l| !l.starts_with("note: "))
        .map(str::trim_end)
        .collect();
    let text = lines.join("\n");
    let text = text.trim();
    let text = match text.char_indices().nth(1024) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    };
    Some(format!("panicked at {location}: {text}"))
}

/// `s` with control characters (but for a plain space) escaped as Rust escapes them, so that
/// untrusted text cannot forge log lines or terminal output.
fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn convert_report(verifier: &Verifier, r: bindings::Report) -> Result<GuestReport, CallError> {
    let size = r.message.len()
        + r.error_reason.as_ref().map_or(0, |s| s.len())
        + r.extensions
            .iter()
            .map(|(k, v)| {
                k.len()
                    + match v {
                        ExtensionValue::Text(s) | ExtensionValue::Json(s) => s.len(),
                    }
            })
            .sum::<usize>();
    if size as u64 > verifier.limits.report_bytes {
        return Err(CallError::Limit {
            verifier: verifier.name.to_string(),
            limit: LimitExceeded {
                kind: LimitKind::ReportBytes,
                limit: verifier.limits.report_bytes,
            },
        });
    }
    let mut extensions = BTreeMap::new();
    for (k, v) in r.extensions {
        let value = match v {
            ExtensionValue::Text(s) => serde_json::Value::String(s),
            ExtensionValue::Json(s) => match serde_json::from_str(&s) {
                Ok(v) => v,
                Err(e) => {
                    return Err(CallError::Trap {
                        verifier: verifier.name.to_string(),
                        message: format!("report extension `{k}` is not valid JSON: {e}"),
                    });
                }
            },
        };
        extensions.insert(k, value);
    }
    Ok(GuestReport {
        is_success: r.is_success,
        message: r.message,
        error_reason: r.error_reason,
        extensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rust's std prints a panic as `thread '…' panicked at LOC:`, the message, then a note.
    #[test]
    fn a_guest_panic_is_its_message_and_location() {
        let stderr = "starting\nthread '<unnamed>' (1) panicked at src/lib.rs:12:9:\nboom: bad input\n\
                      note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            trap_message("wasm `unreachable` instruction executed", stderr),
            "panicked at src/lib.rs:12:9: boom: bad input"
        );
        // The last panic wins (a panic while panicking prints two).
        let twice = format!("{stderr}thread '<unnamed>' panicked at src/x.rs:1:1:\nagain\n");
        assert_eq!(trap_message("c", &twice), "panicked at src/x.rs:1:1: again");
    }

    #[test]
    fn other_traps_name_the_cause_and_the_end_of_stderr() {
        assert_eq!(trap_message("out of bounds", "  "), "out of bounds");
        assert_eq!(
            trap_message("out of bounds", "last words\n"),
            "out of bounds; guest stderr: last words"
        );
        let long = "é".repeat(3000);
        let m = trap_message("oob", &long);
        assert_eq!(
            m.chars().filter(|c| *c == 'é').count(),
            1024,
            "bounded on a char boundary"
        );
    }

    #[test]
    fn what_is_not_a_component_is_named() {
        let component = [b"\0asm".as_slice(), &[0x0d, 0, 1, 0]].concat();
        check_wasm_header(&component).unwrap();
        let cases: [(&[u8], &str); 6] = [
            (b"", "the file is empty"),
            (b"#!/bin/sh\necho hi\n", "a text file"),
            (b"(component (core module))", "WebAssembly text"),
            (&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0xff], "magic number"),
            (
                &[0, b'a', b's', b'm', 1, 0, 0, 0],
                "a core WebAssembly module, not a component",
            ),
            (
                &[0, b'a', b's', b'm', 2, 0, 1, 0],
                "unsupported version/layer [02, 00, 01, 00]",
            ),
        ];
        for (bytes, want) in cases {
            let e = check_wasm_header(bytes).unwrap_err();
            assert!(e.contains(want), "{bytes:?}: {e}");
        }
    }

    /// Guest output is untrusted: it cannot forge a log line or drive a terminal.
    #[test]
    fn control_characters_are_escaped() {
        let stderr = "thread 'main' panicked at a.rs:1:1:\nline\u{1b}[2J\rforged\n";
        assert_eq!(
            trap_message("c", stderr),
            "panicked at a.rs:1:1: line\\u{1b}[2J\\rforged"
        );
        assert_eq!(
            trap_message("c", "a\tb\u{7}"),
            "c; guest stderr: a\\tb\\u{7}"
        );
    }
}
