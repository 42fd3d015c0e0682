//! From a configuration to what verifies: the runtime's size, an [`Executor`] (verifiers loaded
//! and config-checked, policy, result cache with its Redis tier) and the [`Sources`] its subjects
//! are read from. `vouch verify` builds one; `vouch serve` builds one per tenant.

use std::sync::Arc;

use super::policy;
use super::verifiers::{ExecutorError, load_verifiers_with};
use crate::config::Config;
use crate::executor::{Executor, ResultCache, Settings};
use crate::oci::registry::RegistryError;
use crate::plugin::PluginClient;
use crate::policy::PolicyError;
use crate::runtime::{CpuQuota, Runtime, RuntimeConfig};
use crate::store::disk::DiskCache;
use crate::store::revocation::{RevocationError, RevocationFetcher, SharedSource};
use crate::store::sources::{SourceError, Sources};

/// Wasm instance slots at most, whatever the tenants' call quotas add up to.
const MAX_SLOTS: u32 = 1000;

/// Why an executor or its sources could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A verifier could not be loaded or rejected its configuration.
    #[error(transparent)]
    Verifier(Box<ExecutorError>),
    /// The policy could not be built.
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
    /// The result cache's Redis tier could not be set up.
    #[error("executor.redis: {0}")]
    ResultCache(#[from] crate::executor::redis_cache::RedisCacheError),
    /// The registry client could not be set up.
    #[error("registries: {0}")]
    Registry(#[from] RegistryError),
    /// The caches could not be set up.
    #[error(transparent)]
    Sources(#[from] SourceError),
    /// The revocation fetcher could not be set up (a CRL file, the HTTP client).
    #[error(transparent)]
    Revocation(#[from] RevocationError),
}

/// The runtime every tenant of `config` shares: instance slots for the sum of their call quotas
/// (so no tenant waits on another's instances), pool slots as large as the largest verifier
/// memory limit, the guest pool and compile cache the file asks for.
pub fn runtime_config(config: &Config) -> RuntimeConfig {
    let tenants = config.tenant_configs();
    let serving = || {
        tenants
            .iter()
            .map(|(_, c)| c)
            .filter(|c| !c.verifiers.is_empty())
    };
    let max_memory = serving()
        .flat_map(|c| c.verifiers.iter().map(|v| v.limits.memory_bytes))
        .chain([RuntimeConfig::default().max_memory_bytes])
        .max()
        .unwrap_or_default();
    let slots: usize = serving().map(|c| c.executor.concurrency).sum();
    let slots = u32::try_from(slots)
        .unwrap_or(MAX_SLOTS)
        .clamp(4, MAX_SLOTS);
    let d = RuntimeConfig::default();
    RuntimeConfig {
        max_instances: slots,
        max_concurrency: slots as usize,
        max_memory_bytes: max_memory,
        max_nesting_depth: serving().map(|c| c.executor.max_depth).max().unwrap_or(0),
        compile_cache_dir: config.compile_cache_dir(),
        guest_threads: config.runtime.guest_threads(!config.tenants.is_empty()),
        guest_scheduling: config.runtime.guest_scheduling(),
        max_core_instances_per_component: config
            .runtime
            .max_core_instances_per_component
            .unwrap_or(d.max_core_instances_per_component),
        max_memories_per_component: config
            .runtime
            .max_memories_per_component
            .unwrap_or(d.max_memories_per_component),
        max_tables_per_component: config
            .runtime
            .max_tables_per_component
            .unwrap_or(d.max_tables_per_component),
        ..d
    }
}

/// The source of the guests' `revocation` imports `config` describes: its CRL files read, CRLs
/// also stored in `disk` when there is one.
pub fn revocation(
    config: &Config,
    disk: Option<&DiskCache>,
) -> Result<SharedSource, RevocationError> {
    let settings = config.revocation.settings(&config.base_dir);
    Ok(Arc::new(RevocationFetcher::new(settings, disk.cloned())?))
}

/// The executor `config` describes, on `runtime`; `tenant` (empty for none) enters its verdicts'
/// fingerprint.
pub async fn executor(
    runtime: &Runtime,
    config: &Config,
    tenant: &str,
) -> Result<Executor, BuildError> {
    executor_with(runtime, config, tenant, None).await
}

/// [`executor`] whose `oci://` verifiers are pulled through `plugins` when given (see
/// [`plugin_client`]).
pub async fn executor_with(
    runtime: &Runtime,
    config: &Config,
    tenant: &str,
    plugins: Option<PluginClient>,
) -> Result<Executor, BuildError> {
    let verifiers = load_verifiers_with(runtime, config, plugins)
        .await
        .map_err(|e| BuildError::Verifier(Box::new(e)))?;
    let policy = policy::from_config(config)?;
    let cache = ResultCache::from_config(&config.executor, &config.base_dir)?;
    let mut executor = Executor::new(runtime.clone(), verifiers, Settings::from(&config.executor))
        .with_policy(policy)
        .with_result_cache(cache);
    if !tenant.is_empty() {
        executor = executor.with_tenant(tenant);
    }
    if let Some(millicores) = config.quota.guest_cpu_millicores {
        let tick = runtime.config().epoch_tick;
        executor = executor.with_cpu_quota(Arc::new(CpuQuota::new(millicores, tick)));
    }
    Ok(executor)
}

/// The plugin client over the registry client and disk cache `sources` already hold: pulling
/// `oci://` verifiers opens no second client or cache.
pub fn plugin_client(sources: &Sources) -> PluginClient {
    PluginClient::new(sources.client().clone(), sources.disk().cloned())
}

/// Where `config`'s subjects are read from: its registry client and TTL caches, and `disk`.
pub fn sources(config: &Config, disk: Option<&DiskCache>) -> Result<Sources, BuildError> {
    let client = config.stores.registries.client()?;
    Ok(Sources::new(
        client,
        config.stores.cache.clone(),
        disk.cloned(),
        config.stores.layouts.limits(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(text, false, std::path::Path::new("t.yaml")).unwrap()
    }

    #[test]
    fn runtime_slots_add_up_the_tenants_quotas() {
        let c = parse(
            "verifiers: [{name: v, path: v.wasm}]\nexecutor: {concurrency: 10}\n\
             tenants:\n  - name: b\n    namespaces: [b]\n    verifiers: [{name: v, path: v.wasm}]\n\
             \x20   executor: {concurrency: 6, maxDepth: 5}\n",
        );
        let r = runtime_config(&c);
        assert_eq!((r.max_instances, r.max_concurrency), (16, 16));
        assert_eq!(r.max_nesting_depth, 5);
        assert!(r.guest_threads >= 1, "tenants declared: a guest pool");
        // No default tenant: its settings do not count.
        let c = parse(
            "executor: {concurrency: 500}\ntenants:\n  - name: b\n    namespaces: [b]\n    \
             verifiers: [{name: v, path: v.wasm}]\n    executor: {concurrency: 6}\n",
        );
        assert_eq!(runtime_config(&c).max_instances, 6);
        let single = parse("verifiers: [{name: v, path: v.wasm}]\nexecutor: {concurrency: 2}\n");
        let r = runtime_config(&single);
        assert_eq!((r.max_instances, r.guest_threads), (4, 0));
    }

    #[test]
    fn pool_limits_per_component_come_from_the_runtime_section() {
        let d = RuntimeConfig::default();
        let r = runtime_config(&parse("verifiers: [{name: v, path: v.wasm}]\n"));
        assert_eq!(
            (
                r.max_core_instances_per_component,
                r.max_memories_per_component,
                r.max_tables_per_component
            ),
            (
                d.max_core_instances_per_component,
                d.max_memories_per_component,
                d.max_tables_per_component
            )
        );
        assert!(
            d.max_core_instances_per_component >= 14,
            "a componentize-py verifier loads by default"
        );
        let r = runtime_config(&parse(
            "runtime: {maxCoreInstancesPerComponent: 64, maxMemoriesPerComponent: 3, \
             maxTablesPerComponent: 5}\n",
        ));
        assert_eq!(
            (
                r.max_core_instances_per_component,
                r.max_memories_per_component,
                r.max_tables_per_component
            ),
            (64, 3, 5)
        );
    }
}
