//! Turning a configuration into the tenants a server verifies for: one shared runtime sized for
//! all of them, then each tenant's executor and sources.

use std::sync::Arc;

use sha2::Digest as _;

use super::build;
use crate::config::Config;
use crate::runtime::{CpuQuota, Runtime, RuntimeError};
use crate::server::tenants::{DEFAULT_TENANT, Tenant, TenantSet};
use crate::store::disk::DiskCache;

/// Why a configuration could not be turned into tenants.
#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    /// The configuration declares no verifier anywhere.
    #[error("no tenant has a verifier: nothing could verify a subject")]
    NoVerifiers,
    /// The shared wasm runtime could not be created.
    #[error("cannot create the verifier runtime: {0}")]
    Runtime(#[source] RuntimeError),
    /// A tenant's verifiers, policy, caches or registry client could not be set up.
    #[error("tenant `{tenant}`: {source}")]
    Tenant {
        /// The tenant.
        tenant: String,
        /// Why.
        source: build::BuildError,
    },
}

impl TenantSet {
    /// Build every tenant of `config`: one shared runtime sized for all of them, then each
    /// tenant's verifiers (compiled and config-checked), policy, registry client and caches.
    /// Nothing is returned unless everything loaded, so a bad configuration never replaces a
    /// good one half-way.
    pub async fn build(
        config: &Config,
        disk: Option<&DiskCache>,
    ) -> Result<TenantSet, TenantsError> {
        Self::build_after(config, disk, None).await
    }

    /// [`TenantSet::build`] to replace `previous` (a reload): a tenant that keeps its name and
    /// its guest CPU quota keeps its quota's bucket too, so a reload neither forgives a tenant's
    /// CPU debt nor resets its quota counters.
    pub async fn build_after(
        config: &Config,
        disk: Option<&DiskCache>,
        previous: Option<&TenantSet>,
    ) -> Result<TenantSet, TenantsError> {
        let (_, top) = config.for_namespace("");
        if top.verifiers.is_empty() && config.tenants.is_empty() {
            return Err(TenantsError::NoVerifiers);
        }
        let revocation = build::revocation(config, disk).map_err(|e| TenantsError::Tenant {
            tenant: DEFAULT_TENANT.to_owned(),
            source: e.into(),
        })?;
        let runtime = Runtime::new(build::runtime_config(config))
            .map_err(TenantsError::Runtime)?
            .with_revocation(revocation);
        let quota_of = |name: &str| {
            let tenant = previous?.iter().find(|t| t.name() == name)?;
            tenant.executor().cpu_quota().cloned()
        };
        // No top-level verifiers: there is no default tenant.
        let default = match top.verifiers.is_empty() {
            true => None,
            false => Some(
                build_tenant(&runtime, DEFAULT_TENANT, Vec::new(), &top, disk, quota_of).await?,
            ),
        };
        let mut others = Vec::with_capacity(config.tenants.len());
        for t in &config.tenants {
            let effective = t.effective(config);
            let namespaces = t.namespaces.clone();
            others.push(
                build_tenant(&runtime, &t.name, namespaces, &effective, disk, quota_of).await?,
            );
        }
        Ok(TenantSet::new(default, others))
    }
}

/// One tenant: its executor (fingerprinted with its identity) and sources, on `runtime`; its
/// guest CPU quota is `previous_quota(name)` when that has the configured rate.
async fn build_tenant(
    runtime: &Runtime,
    name: &str,
    namespaces: Vec<String>,
    config: &Config,
    disk: Option<&DiskCache>,
    previous_quota: impl Fn(&str) -> Option<Arc<CpuQuota>>,
) -> Result<Arc<Tenant>, TenantsError> {
    let err = |source| TenantsError::Tenant {
        tenant: name.to_owned(),
        source,
    };
    let sources = build::sources(config, disk).map_err(err)?;
    let plugins = Some(build::plugin_client(&sources));
    let mut executor =
        build::executor_with(runtime, config, &tenant_identity(name, config), plugins)
            .await
            .map_err(err)?;
    if let Some(quota) = previous_quota(name)
        && config.quota.guest_cpu_millicores == Some(quota.millicores())
    {
        executor = executor.with_cpu_quota(quota);
    }
    Ok(Arc::new(
        Tenant::new(
            name,
            namespaces,
            Arc::new(executor),
            Arc::new(sources),
            config.quota.max_keys_in_flight,
        )
        .with_admission_wait(std::time::Duration::from_millis(
            config.quota.admission_wait_ms,
        )),
    ))
}

/// A tenant's identity for verdict fingerprints: its name and a digest of its registry
/// settings (credentials included, never in clear).
fn tenant_identity(name: &str, config: &Config) -> String {
    let registries = serde_json::to_vec(&config.stores.registries).unwrap_or_default();
    format!(
        "{name}/sha256:{}",
        hex::encode(sha2::Sha256::digest(&registries))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_differ_by_credentials_without_revealing_them() {
        let a = Config::default();
        let mut b = Config::default();
        b.stores.registries.default.username = Some("ci".into());
        b.stores.registries.default.password = Some("hunter2secret".into());
        assert_ne!(tenant_identity("t", &a), tenant_identity("t", &b));
        assert_ne!(tenant_identity("t", &a), tenant_identity("u", &a));
        assert!(!tenant_identity("t", &b).contains("hunter2secret"));
    }
}
