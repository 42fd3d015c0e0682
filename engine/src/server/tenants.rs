//! The tenants a server verifies for: each one an [`Executor`] (its verifiers, trust material,
//! policy, call quota and result cache) and [`Sources`] (its registry credentials and TTL
//! caches), plus an admission quota of keys in flight.
//!
//! Isolation is structural: a tenant's guests only ever receive that tenant's [`Sources`] (so
//! never another tenant's credentials), its verdicts live in its own result cache under a
//! fingerprint that includes its name and credentials digest, and its verifier calls take permits
//! from its own semaphore. The shared [`Runtime`](crate::runtime::Runtime) is sized to the sum of the tenants' call
//! quotas, so one tenant holding all of its permits never leaves another waiting for a wasm
//! instance slot. What is shared is what cannot leak: the compiled code of identical modules and
//! the content-addressed disk cache (a blob's digest proves what it is).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::executor::Executor;
use crate::store::sources::Sources;

/// Name of the tenant made of the file's top level.
pub const DEFAULT_TENANT: &str = "default";

/// Why a key was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// The key's namespace belongs to no tenant and there is no default tenant.
    #[error(
        "no tenant serves namespace `{0}` and the configuration has no default tenant (top-level `verifiers`)"
    )]
    NoTenant(String),
    /// The tenant had its quota of keys in flight for as long as a key may wait.
    #[error(
        "tenant `{tenant}` is over its quota of {limit} keys in flight (quota.maxKeysInFlight; \
         waited {waited_ms} ms for a slot); retry later"
    )]
    OverQuota {
        /// The tenant.
        tenant: String,
        /// Its quota.
        limit: usize,
        /// How long the key waited for a slot.
        waited_ms: u64,
    },
}

/// One tenant, ready to verify.
pub struct Tenant {
    name: String,
    namespaces: Vec<String>,
    executor: Arc<Executor>,
    sources: Arc<Sources>,
    admission: Arc<Semaphore>,
    max_keys_in_flight: usize,
    admission_wait: std::time::Duration,
}

impl Tenant {
    /// A tenant owning `namespaces` (exact or `prefix*`), admitting `max_keys_in_flight` keys.
    pub fn new(
        name: impl Into<String>,
        namespaces: Vec<String>,
        executor: Arc<Executor>,
        sources: Arc<Sources>,
        max_keys_in_flight: usize,
    ) -> Tenant {
        let max_keys_in_flight = max_keys_in_flight.max(1);
        Tenant {
            name: name.into(),
            namespaces,
            executor,
            sources,
            admission: Arc::new(Semaphore::new(max_keys_in_flight)),
            max_keys_in_flight,
            admission_wait: std::time::Duration::ZERO,
        }
    }

    /// Let a key over the quota wait up to `wait` for a slot before it is refused.
    pub fn with_admission_wait(mut self, wait: std::time::Duration) -> Tenant {
        self.admission_wait = wait;
        self
    }

    /// Its name (`default` for the top level of the configuration).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its executor.
    pub fn executor(&self) -> &Arc<Executor> {
        &self.executor
    }

    /// Where its subjects are read from, with its credentials.
    pub fn sources(&self) -> &Arc<Sources> {
        &self.sources
    }

    /// Admit one key: at once when the tenant is within its quota, else after a slot frees up
    /// within its admission wait, else refused. The wait is what keeps a flood cheap: its
    /// requests sit idle (a timer each) instead of being answered as fast as they arrive and
    /// competing with the other tenants for CPU. The permit is held while the key is verified.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, AdmissionError> {
        if let Ok(permit) = self.admission.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let wait = self.admission_wait;
        if !wait.is_zero()
            && let Ok(Ok(permit)) =
                tokio::time::timeout(wait, self.admission.clone().acquire_owned()).await
        {
            return Ok(permit);
        }
        Err(AdmissionError::OverQuota {
            tenant: self.name.clone(),
            limit: self.max_keys_in_flight,
            waited_ms: wait.as_millis() as u64,
        })
    }

    /// Keys of this tenant being verified now.
    pub fn keys_in_flight(&self) -> usize {
        self.max_keys_in_flight - self.admission.available_permits()
    }

    fn owns(&self, namespace: &str) -> bool {
        self.namespaces
            .iter()
            .any(|p| namespace_matches(p, namespace))
    }
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("name", &self.name)
            .field("namespaces", &self.namespaces)
            .field("verifiers", &self.executor.verifiers().len())
            .field("max_keys_in_flight", &self.max_keys_in_flight)
            .finish_non_exhaustive()
    }
}

/// Every tenant of one configuration. Swapped whole on reload: a request uses one set from
/// start to end.
#[derive(Debug)]
pub struct TenantSet {
    default: Option<Arc<Tenant>>,
    others: Vec<Arc<Tenant>>,
}

impl TenantSet {
    /// One default tenant verifying with `executor` over `sources`, with no admission quota to
    /// speak of.
    pub fn single(executor: Arc<Executor>, sources: Arc<Sources>) -> TenantSet {
        TenantSet {
            default: Some(Arc::new(Tenant::new(
                DEFAULT_TENANT,
                Vec::new(),
                executor,
                sources,
                Semaphore::MAX_PERMITS,
            ))),
            others: Vec::new(),
        }
    }

    /// A set of tenants; keys without a namespace, or whose namespace no tenant of `others`
    /// owns, go to `default` (refused when it is `None`).
    pub fn new(default: Option<Arc<Tenant>>, others: Vec<Arc<Tenant>>) -> TenantSet {
        TenantSet { default, others }
    }

    /// The tenant of `key` and the image without its `[namespace]` prefix.
    pub fn route<'k>(&self, key: &'k str) -> Result<(&Arc<Tenant>, &'k str), AdmissionError> {
        let (namespace, image) = split_namespace(key);
        if let Some(ns) = namespace
            && let Some(t) = self.others.iter().find(|t| t.owns(ns))
        {
            return Ok((t, image));
        }
        match &self.default {
            Some(t) => Ok((t, image)),
            None => Err(AdmissionError::NoTenant(namespace.unwrap_or("").to_owned())),
        }
    }

    /// Every tenant, the default one first.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        self.default.iter().chain(self.others.iter())
    }

    /// Verifiers loaded across all tenants.
    pub fn verifier_count(&self) -> usize {
        self.iter().map(|t| t.executor.verifiers().len()).sum()
    }
}

/// Whether `pattern` (an exact namespace or a prefix ending in `*`) matches `namespace`.
pub fn namespace_matches(pattern: &str, namespace: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => namespace.starts_with(prefix),
        None => pattern == namespace,
    }
}

/// `[namespace]image` → (`Some(namespace)`, `image`); anything else → (`None`, key).
pub fn split_namespace(key: &str) -> (Option<&str>, &str) {
    if let Some(rest) = key.strip_prefix('[')
        && let Some((namespace, image)) = rest.split_once(']')
    {
        return (Some(namespace), image);
    }
    (None, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_split_off_keys() {
        assert_eq!(
            split_namespace("[ns]reg/app:v1"),
            (Some("ns"), "reg/app:v1")
        );
        assert_eq!(split_namespace("reg/app:v1"), (None, "reg/app:v1"));
        assert_eq!(split_namespace("[open"), (None, "[open"));
        assert_eq!(split_namespace("[]img"), (Some(""), "img"));
    }
}
