//! Tenants: groups of Kubernetes namespaces with their own verifiers, trust material, registry
//! credentials, policy and quotas.
//!
//! ```yaml
//! tenants:
//!   - name: team-a
//!     namespaces: [team-a, "team-a-*"]   # exact names, or a prefix ending in `*`
//!     verifiers: [ { name: notation, path: verifiers/notation.wasm, config: {...} } ]
//!     registries: { auths: { ... } }     # this tenant's credentials only
//!     policy: { type: config, ... }
//!     executor: { concurrency: 8 }       # verifier calls of this tenant at once
//!     quota:
//!       maxKeysInFlight: 256             # keys admitted at once; more are refused at once
//!       admissionWaitMs: 100             # how long a key over it waits for a slot first
//!       guestCpuMillicores: 500          # its verifiers together use at most half a core
//! ```
//!
//! A key's namespace (Ratify's `[namespace]image` prefix) picks the tenant; a key without one,
//! or whose namespace no tenant claims, goes to the *default* tenant, which is the top level of
//! the file (`verifiers`, `stores`, `policy`, `executor`, `quota`). A tenant inherits nothing
//! that carries trust or credentials from the top level: what it does not declare it does not
//! have (registries default to anonymous access). Only limits on content (`stores.layouts`), the
//! TTL cache settings (unless it declares its own) and the shared content-addressed disk cache
//! come from the top level.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{Config, ExecutorConfig, StoresConfig, VerifierConfig, stores::RegistriesConfig};
use crate::policy::PolicyConfig;
pub use crate::server::tenants::{DEFAULT_TENANT, namespace_matches};

/// Admission and CPU limits of one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct QuotaConfig {
    /// Keys of this tenant being verified at once, across requests; a key beyond it gets an
    /// immediate "over quota" error instead of queueing behind the others.
    pub max_keys_in_flight: usize,
    /// Guest CPU its verifiers may use together, in millicores (1000 = one core), averaged
    /// over ~100 ms bursts; a guest over it is parked until its tenant is back within it
    /// (see [`crate::runtime::CpuQuota`]). Unlimited when absent.
    pub guest_cpu_millicores: Option<u32>,
    /// How long a key over `maxKeysInFlight` waits for a slot before it is refused. A short
    /// wait absorbs bursts and throttles a flood to the rate its slots free up, instead of
    /// answering it as fast as it arrives (0: refuse at once).
    pub admission_wait_ms: u64,
}

/// Longest `quota.admissionWaitMs`: well inside any webhook deadline.
pub const MAX_ADMISSION_WAIT_MS: u64 = 2000;

/// Largest `quota.guestCpuMillicores`: a thousand cores.
pub const MAX_GUEST_CPU_MILLICORES: u32 = 1_000_000;

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            max_keys_in_flight: 1024,
            guest_cpu_millicores: None,
            admission_wait_ms: 100,
        }
    }
}

impl QuotaConfig {
    /// Check the values; errors are `(field under quota, message)`.
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_keys_in_flight == 0 {
            return Err(("maxKeysInFlight", "must be at least 1".into()));
        }
        if self.admission_wait_ms > MAX_ADMISSION_WAIT_MS {
            return Err((
                "admissionWaitMs",
                format!("at most {MAX_ADMISSION_WAIT_MS} ms"),
            ));
        }
        if let Some(m) = self.guest_cpu_millicores
            && !(1..=MAX_GUEST_CPU_MILLICORES).contains(&m)
        {
            return Err((
                "guestCpuMillicores",
                format!(
                    "must be between 1 and {MAX_GUEST_CPU_MILLICORES} (1000 = one core); \
                     leave it out for no limit"
                ),
            ));
        }
        Ok(())
    }
}

/// One tenant besides the default one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantConfig {
    /// Unique name (in logs, metrics and the fingerprint of its verdicts).
    pub name: String,
    /// Namespaces it owns: exact names, or prefixes ending in `*`.
    pub namespaces: Vec<String>,
    /// Its verifiers.
    pub verifiers: Vec<VerifierConfig>,
    /// Its registry settings and credentials (anonymous when absent).
    #[serde(default)]
    pub registries: RegistriesConfig,
    /// Its TTL cache settings (the top level's when absent).
    #[serde(default)]
    pub cache: Option<crate::store::cache::CacheConfig>,
    /// Its policy (every report must pass when absent).
    #[serde(default)]
    pub policy: Option<PolicyConfig>,
    /// Its executor settings; `concurrency` is its quota of verifier calls at once.
    #[serde(default = "tenant_executor")]
    pub executor: ExecutorConfig,
    /// Its admission limits.
    #[serde(default)]
    pub quota: QuotaConfig,
}

/// A tenant's executor defaults: like the top level's, with a smaller share of calls.
fn tenant_executor() -> ExecutorConfig {
    ExecutorConfig {
        concurrency: 16,
        ..ExecutorConfig::default()
    }
}

impl TenantConfig {
    /// Whether this tenant owns `namespace`.
    pub fn owns(&self, namespace: &str) -> bool {
        self.namespaces
            .iter()
            .any(|p| namespace_matches(p, namespace))
    }

    /// The tenant as a whole configuration (what the engine builds an executor from), with the
    /// process-wide settings of `top`.
    pub fn effective(&self, top: &Config) -> Config {
        Config {
            verifiers: self.verifiers.clone(),
            executor: ExecutorConfig {
                // The shared verdict cache is a deployment setting: a tenant without its own
                // uses the top level's (its keys carry the tenant's fingerprint).
                redis: self
                    .executor
                    .redis
                    .clone()
                    .or_else(|| top.executor.redis.clone()),
                ..self.executor.clone()
            },
            stores: StoresConfig {
                layouts: top.stores.layouts.clone(),
                registries: self.registries.clone(),
                cache: self
                    .cache
                    .clone()
                    .unwrap_or_else(|| top.stores.cache.clone()),
                disk_cache: top.stores.disk_cache.clone(),
                disk_cache_flush_timeout_ms: top.stores.disk_cache_flush_timeout_ms,
            },
            policy: self.policy.clone(),
            quota: self.quota.clone(),
            tenants: Vec::new(),
            runtime: top.runtime.clone(),
            revocation: top.revocation.clone(),
            base_dir: top.base_dir.clone(),
        }
    }
}

/// Check the tenants of a file: names unique and not `default`, namespaces valid and claimed by
/// one tenant only, each tenant valid as a configuration of its own. Errors are
/// `(field, message)`.
pub(super) fn validate(tenants: &[TenantConfig]) -> Result<(), (String, String)> {
    let mut names = HashSet::new();
    let mut claimed: Vec<(&str, &str)> = Vec::new();
    for (i, t) in tenants.iter().enumerate() {
        let at = |f: &str| format!("tenants[{i}].{f}");
        if t.name.trim().is_empty() {
            return Err((at("name"), "must not be empty".into()));
        }
        if t.name == DEFAULT_TENANT {
            return Err((
                at("name"),
                format!("`{DEFAULT_TENANT}` is the top level of the file; pick another name"),
            ));
        }
        if !names.insert(t.name.as_str()) {
            return Err((at("name"), format!("duplicate tenant name `{}`", t.name)));
        }
        if t.namespaces.is_empty() {
            return Err((at("namespaces"), "must list at least one namespace".into()));
        }
        for (j, ns) in t.namespaces.iter().enumerate() {
            let body = ns.strip_suffix('*').unwrap_or(ns);
            // A bare `*` (every namespace) is allowed; an empty exact name is not.
            let valid = body
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && (!body.is_empty() || ns.ends_with('*'));
            if !valid {
                return Err((
                    format!("tenants[{i}].namespaces[{j}]"),
                    format!(
                        "`{ns}` is not a namespace name (lowercase letters, digits, `-`) or a prefix ending in `*`"
                    ),
                ));
            }
            for (other, pattern) in &claimed {
                if overlaps(pattern, ns) {
                    return Err((
                        format!("tenants[{i}].namespaces[{j}]"),
                        format!(
                            "`{ns}` overlaps `{pattern}` of tenant `{other}`: a namespace must belong to one tenant"
                        ),
                    ));
                }
            }
        }
        for ns in &t.namespaces {
            claimed.push((t.name.as_str(), ns.as_str()));
        }
        if t.verifiers.is_empty() {
            return Err((
                at("verifiers"),
                "is empty: nothing could verify this tenant's subjects".into(),
            ));
        }
        for (j, v) in t.verifiers.iter().enumerate() {
            v.validate_scope()
                .map_err(|(field, message)| (at(&format!("verifiers[{j}].{field}")), message))?;
        }
        crate::scope::validate(&t.executor.exempt_image_references, true)
            .map_err(|e| (at("executor.exemptImageReferences"), e.to_string()))?;
        crate::scope::modes::validate(&t.executor.mode_scopes)
            .map_err(|(field, message)| (at(&format!("executor.{field}")), message))?;
        t.quota
            .validate()
            .map_err(|(field, message)| (at(&format!("quota.{field}")), message))?;
    }
    Ok(())
}

/// Whether two namespace patterns can match a common namespace.
fn overlaps(a: &str, b: &str) -> bool {
    match (a.strip_suffix('*'), b.strip_suffix('*')) {
        (Some(pa), Some(pb)) => pa.starts_with(pb) || pb.starts_with(pa),
        (Some(pa), None) => b.starts_with(pa),
        (None, Some(pb)) => a.starts_with(pb),
        (None, None) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, false, Path::new("t.yaml")).map_err(|e| e.to_string())
    }

    const TWO: &str = "verifiers: [ { name: d, path: d.wasm } ]\n\
        stores: { registries: { hosts: { \"localhost:5000\": { insecure: true } } } }\n\
        tenants:\n\
        \x20 - name: a\n\
        \x20   namespaces: [team-a, \"team-a-*\"]\n\
        \x20   verifiers: [ { name: x, path: x.wasm } ]\n\
        \x20   executor: { concurrency: 2 }\n\
        \x20   quota: { maxKeysInFlight: 3 }\n\
        \x20 - name: b\n\
        \x20   namespaces: [team-b]\n\
        \x20   verifiers: [ { name: y, path: y.wasm } ]\n";

    #[test]
    fn tenants_parse_with_their_defaults() {
        let c = parse(TWO).unwrap();
        assert_eq!(c.tenants.len(), 2);
        let a = &c.tenants[0];
        assert!(a.owns("team-a") && a.owns("team-a-dev") && !a.owns("team-b"));
        assert_eq!(a.executor.concurrency, 2);
        assert_eq!(a.quota.max_keys_in_flight, 3);
        assert_eq!(
            a.quota.guest_cpu_millicores, None,
            "no CPU limit unless asked"
        );
        let limited = parse(&TWO.replace("maxKeysInFlight: 3", "guestCpuMillicores: 250")).unwrap();
        assert_eq!(limited.tenants[0].quota.guest_cpu_millicores, Some(250));
        let b = &c.tenants[1];
        assert_eq!(b.executor.concurrency, 16);
        assert_eq!(b.quota, QuotaConfig::default());
        // Credentials and trust are not inherited; process-wide limits are.
        let e = b.effective(&c);
        assert!(e.stores.registries.hosts.is_empty());
        assert_eq!(e.stores.layouts, c.stores.layouts);
        assert_eq!(e.verifiers[0].name, "y");
        assert!(e.tenants.is_empty());
    }

    #[test]
    fn namespaces_pick_the_tenant_configuration() {
        let c = parse(TWO).unwrap();
        let (name, a) = c.for_namespace("team-a-dev");
        assert_eq!((name.as_str(), a.verifiers[0].name.as_str()), ("a", "x"));
        let (name, d) = c.for_namespace("elsewhere");
        assert_eq!(
            (name.as_str(), d.verifiers[0].name.as_str()),
            (DEFAULT_TENANT, "d")
        );
        assert!(d.tenants.is_empty());
    }

    #[test]
    fn bad_tenants_name_the_field() {
        let cases = [
            (
                TWO.replace("name: b", "name: a"),
                "tenants[1].name",
                "duplicate",
            ),
            (
                TWO.replace("name: b", "name: default"),
                "tenants[1].name",
                "top level",
            ),
            (
                TWO.replace("[team-b]", "[team-a-x]"),
                "tenants[1].namespaces[0]",
                "overlaps",
            ),
            (
                TWO.replace("[team-b]", "[\"team-*\"]"),
                "tenants[1].namespaces[0]",
                "overlaps",
            ),
            (
                TWO.replace("[team-b]", "[Team_B]"),
                "tenants[1].namespaces[0]",
                "not a namespace",
            ),
            (
                TWO.replace("[team-b]", "[]"),
                "tenants[1].namespaces",
                "at least one",
            ),
            (
                TWO.replace("[ { name: y, path: y.wasm } ]", "[]"),
                "tenants[1].verifiers",
                "empty",
            ),
            (
                TWO.replace("maxKeysInFlight: 3", "maxKeysInFlight: 0"),
                "quota",
                "at least 1",
            ),
            (
                TWO.replace(
                    "maxKeysInFlight: 3",
                    "maxKeysInFlight: 3, guestCpuMillicores: 0",
                ),
                "tenants[0].quota.guestCpuMillicores",
                "between 1 and",
            ),
            (
                TWO.replace("name: x, path: x.wasm", "name: x, path: ''"),
                "tenants[0].verifiers[0].path",
                "empty",
            ),
            (
                TWO.replace("team-b]", "team-b]\n    trust: 1"),
                "tenants[1]",
                "trust",
            ),
        ];
        for (text, field, what) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(field) && e.contains(what), "{field}/{what}: {e}");
        }
    }

    #[test]
    fn patterns_overlap_as_expected() {
        assert!(overlaps("a-*", "a-b"));
        assert!(overlaps("a-b", "a-*"));
        assert!(overlaps("a-*", "a-b-*"));
        assert!(!overlaps("a-*", "b"));
        assert!(!overlaps("a", "ab"));
        assert!(namespace_matches("*", "anything"));
    }
}
