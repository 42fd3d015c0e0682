//! The engine's configuration file (YAML, or JSON for a `.json` file): the verifiers to load,
//! the executor's settings and the stores' caps.
//!
//! ```yaml
//! verifiers:
//!   - name: notation                # unique
//!     path: verifiers/notation.wasm # relative to this file
//!     artifactTypes: [application/vnd.cncf.notary.signature]  # optional override
//!     limits: { memoryBytes: 67108864, cpuTime: 1000 }        # optional, runtime Limits
//!     config: { trustStore: ... }   # optional, any JSON, handed to the verifier
//! executor: { maxDepth: 3, concurrency: 64, deadlineMs: 2900, resultCacheTtlMs: 10000,
//!             maxReferrersPerNode: 256, maxNodesPerSubject: 1024,
//!             maxVerifierCallsPerSubject: 2048, maxBytesPerSubject: 268435456 }
//! stores:
//!   layouts: { maxManifestBytes: 4194304, maxBlobBytes: 33554432 }
//!   registries:                     # see `config::stores`
//!     hosts: { "localhost:5000": { insecure: true } }
//!   cache: { resolveTtl: 5s, referrersTtl: 10s, memoryBytes: 67108864 }
//!   diskCache: /var/cache/vouch     # optional single-writer content cache
//! policy:                           # optional; see `crate::policy` for the types
//!   type: config
//!   artifactVerificationPolicies: { application/vnd.cncf.notary.signature: any }
//! quota: { maxKeysInFlight: 1024 }  # the default tenant's admission limit (`vouch serve`) and
//!                                   # optional guestCpuMillicores (see `config::tenants`)
//! tenants: []                       # see `config::tenants`
//! revocation: { offline: false }    # CRL/OCSP fetching for the guests; see `config::revocation`
//! ```
//!
//! Unknown fields are rejected; every error names the file and the field.

#[cfg(test)]
mod docs_examples;
pub(crate) mod filerefs;
pub(crate) mod revocation;
pub(crate) mod stores;
pub mod tenants;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scope::{self, modes};

pub use crate::executor::settings::ExecutorConfig;
use crate::runtime::Limits;

/// Largest accepted `executor.maxDepth`.
pub const MAX_DEPTH_LIMIT: u32 = 16;

/// Why a configuration file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, not a regular file, over
    /// [`crate::localfile::MAX_CONFIG_FILE_BYTES`], not UTF-8, I/O error).
    #[error("{source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (names the file).
        source: crate::localfile::LocalFileError,
    },
    /// The file is not valid YAML/JSON or does not match the schema.
    #[error("config file {path}: at `{field}`: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Path of the offending field (`verifiers[0].limits`), `.` for the document.
        field: String,
        /// What was wrong.
        message: String,
    },
    /// The file parsed but a value is not acceptable.
    #[error("config file {path}: `{field}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The offending field.
        field: String,
        /// What was wrong.
        message: String,
    },
}

/// The whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Verifiers to load, in report order.
    pub verifiers: Vec<VerifierConfig>,
    /// Executor settings.
    pub executor: ExecutorConfig,
    /// Store settings.
    pub stores: StoresConfig,
    /// The subject-level policy (absent: every report must pass, see [`crate::policy`]).
    pub policy: Option<crate::policy::PolicyConfig>,
    /// Admission limits of the default tenant (the top level of the file).
    pub quota: tenants::QuotaConfig,
    /// Tenants besides the default one, matched by namespace (see [`tenants`]).
    pub tenants: Vec<tenants::TenantConfig>,
    /// Process-wide settings of the wasm runtime.
    pub runtime: RuntimeSection,
    /// How the host fetches CRLs and OCSP responses for the guests (process-wide).
    pub revocation: revocation::RevocationConfig,
    /// Directory of the config file (paths are relative to it); set by [`Config::load`].
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// One verifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifierConfig {
    /// Unique name; the report's `verifierName`.
    pub name: String,
    /// The `.wasm` component, relative to the config file, or an OCI artifact
    /// `oci://registry/repo@sha256:…` (a tag is allowed and pinned at load; see `docs/plugins.md`).
    pub path: PathBuf,
    /// For an `oci://` verifier: a PEM file of public keys (relative to the config file); the
    /// artifact must carry a valid cosign signature by one of them or the verifier is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_key: Option<PathBuf>,
    /// Artifact types to run on, overriding what the verifier's metadata declares.
    #[serde(default)]
    pub artifact_types: Option<Vec<String>>,
    /// Per-call limits (defaults for the missing ones).
    #[serde(default)]
    pub limits: Limits,
    /// The verifier's own configuration, handed to it as JSON text.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    /// Image reference patterns this verifier applies to (absent: every image; see
    /// [`crate::scope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_references: Option<Vec<String>>,
    /// Image reference patterns this verifier does not apply to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_image_references: Vec<String>,
}

impl VerifierConfig {
    /// Its image scope (`imageReferences`, `skipImageReferences`).
    pub fn image_scope(&self) -> scope::ImageScope {
        scope::ImageScope {
            include: self.image_references.clone(),
            skip: self.skip_image_references.clone(),
        }
    }

    /// Check its scope patterns; the error names the field (relative to the entry).
    pub fn validate_scope(&self) -> Result<(), (String, String)> {
        if let Some(p) = &self.image_references {
            scope::validate(p, false).map_err(|e| ("imageReferences".into(), e.to_string()))?;
        }
        scope::validate(&self.skip_image_references, true)
            .map_err(|e| ("skipImageReferences".into(), e.to_string()))
    }

    /// The verifier config as the JSON text the guest receives (`{}` when absent).
    pub fn config_json(&self) -> String {
        match &self.config {
            Some(v) => v.to_string(),
            None => "{}".to_owned(),
        }
    }
}

/// Process-wide settings of the wasm runtime shared by every tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimeSection {
    /// Threads of the guest pool (0: guests run on the request threads). Absent: one per CPU
    /// when `tenants` are declared (so one tenant's CPU-bound guests cannot slow down another
    /// tenant's requests), else 0.
    pub guest_threads: Option<usize>,
    /// Niceness of the guest threads, 0-19 (default 10).
    pub guest_nice: Option<i32>,
    /// Scheduler slice of the guest threads in microseconds (Linux 6.12+; default 100).
    pub guest_slice_us: Option<u64>,
    /// Run guests under `SCHED_IDLE` (default false): see [`crate::runtime::GuestScheduling`].
    pub guest_idle: bool,
    /// Core module instances a verifier component may create (default 32; a componentize-py
    /// verifier creates 14). See [`crate::runtime::RuntimeConfig::max_core_instances_per_component`].
    pub max_core_instances_per_component: Option<u32>,
    /// Linear memories a verifier component may define (default 8).
    pub max_memories_per_component: Option<u32>,
    /// Tables a verifier component may define (default 32).
    pub max_tables_per_component: Option<u32>,
}

impl RuntimeSection {
    /// How guest threads are scheduled: the defaults with this section's overrides.
    pub fn guest_scheduling(&self) -> crate::runtime::GuestScheduling {
        let d = crate::runtime::GuestScheduling::default();
        crate::runtime::GuestScheduling {
            nice: self.guest_nice.unwrap_or(d.nice),
            slice: self.guest_slice_us.map_or(d.slice, Duration::from_micros),
            idle: self.guest_idle,
        }
    }

    /// The guest pool's thread count for a file with `tenants` declared or not.
    pub fn guest_threads(&self, has_tenants: bool) -> usize {
        match self.guest_threads {
            Some(n) => n,
            None if has_tenants => std::thread::available_parallelism().map_or(2, |n| n.get()),
            None => 0,
        }
    }
}

/// Store settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct StoresConfig {
    /// Caps for OCI layout stores.
    pub layouts: LayoutStoreConfig,
    /// How to reach registries.
    pub registries: stores::RegistriesConfig,
    /// TTL caches in front of every registry repository.
    pub cache: crate::store::cache::CacheConfig,
    /// Directory of the single-writer content cache shared by every registry (off when absent;
    /// relative to the config file).
    pub disk_cache: Option<PathBuf>,
    /// How long `vouch verify`/`discover` (at exit) and `vouch serve` (after SIGTERM) wait for
    /// the disk cache's background writes, in milliseconds. Absent: 2000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_cache_flush_timeout_ms: Option<u64>,
}

/// Default of `stores.diskCacheFlushTimeoutMs`.
pub const DEFAULT_DISK_CACHE_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl StoresConfig {
    /// How long to wait for the disk cache's background writes at exit.
    pub fn disk_cache_flush_timeout(&self) -> std::time::Duration {
        self.disk_cache_flush_timeout_ms.map_or(
            DEFAULT_DISK_CACHE_FLUSH_TIMEOUT,
            std::time::Duration::from_millis,
        )
    }
}

/// Caps for OCI layout stores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LayoutStoreConfig {
    /// Largest manifest read, in bytes.
    pub max_manifest_bytes: u64,
    /// Largest blob read, in bytes.
    pub max_blob_bytes: u64,
}

impl Default for LayoutStoreConfig {
    fn default() -> Self {
        let d = crate::store::LayoutLimits::default();
        LayoutStoreConfig {
            max_manifest_bytes: d.max_manifest_bytes,
            max_blob_bytes: d.max_blob_bytes,
        }
    }
}

impl LayoutStoreConfig {
    /// The caps as the layout store's limits.
    pub fn limits(&self) -> crate::store::LayoutLimits {
        crate::store::LayoutLimits {
            max_manifest_bytes: self.max_manifest_bytes,
            max_blob_bytes: self.max_blob_bytes,
        }
    }
}

impl Config {
    /// The disk cache directory, resolved against the config file's directory.
    pub fn disk_cache_dir(&self) -> Option<PathBuf> {
        self.stores
            .disk_cache
            .as_ref()
            .map(|p| self.base_dir.join(p))
    }

    /// Where compiled verifiers are kept across restarts: `compiled/` inside the disk cache
    /// directory (the content cache only ever touches its `blobs/` and temporary files), or
    /// nowhere without a disk cache.
    pub fn compile_cache_dir(&self) -> Option<PathBuf> {
        self.disk_cache_dir().map(|d| d.join("compiled"))
    }

    /// Read, parse and validate the file at `path` (JSON if it ends in `.json`, else YAML).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::localfile::read_regular_file_capped_to_string(
            path,
            crate::localfile::MAX_CONFIG_FILE_BYTES,
            "config file",
        )
        .map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let mut config = Config::parse(&text, json, path)?;
        config.base_dir = path
            .parent()
            .map(Path::to_owned)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(config)
    }

    /// Parse and validate config text; `path` is only used in error messages.
    pub fn parse(text: &str, json: bool, path: &Path) -> Result<Config, ConfigError> {
        let parse_err = |field: String, message: String| ConfigError::Parse {
            path: path.to_owned(),
            field: if field.is_empty() { ".".into() } else { field },
            message,
        };
        let config: Config = if json {
            let de = &mut serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de)
                .map_err(|e| parse_err(e.path().to_string(), e.into_inner().to_string()))?
        } else {
            if text.trim().is_empty() {
                return Err(parse_err(String::new(), "the file is empty".into()));
            }
            let de = serde_yaml_ng::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de)
                .map_err(|e| parse_err(e.path().to_string(), e.into_inner().to_string()))?
        };
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: String, message: &str| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message: message.to_owned(),
        };
        if let Err((field, message)) = self.stores.registries.validate() {
            return Err(invalid(field, &message));
        }
        if let Err(e) = self.stores.cache.validate() {
            return Err(invalid("stores.cache".into(), &e.to_string()));
        }
        if let Err((field, message)) = self.revocation.validate() {
            return Err(invalid(field, &message));
        }
        let mut names = HashSet::new();
        for (i, v) in self.verifiers.iter().enumerate() {
            if v.name.trim().is_empty() {
                return Err(invalid(format!("verifiers[{i}].name"), "must not be empty"));
            }
            if !names.insert(v.name.as_str()) {
                return Err(invalid(
                    format!("verifiers[{i}].name"),
                    &format!("duplicate verifier name `{}`", v.name),
                ));
            }
            if v.path.as_os_str().is_empty() {
                return Err(invalid(format!("verifiers[{i}].path"), "must not be empty"));
            }
            match crate::plugin::oci_path(&v.path) {
                Some(r) => {
                    if let Err(e) = crate::plugin::parse_reference(r) {
                        return Err(invalid(format!("verifiers[{i}].path"), &e.to_string()));
                    }
                }
                None if v.signature_key.is_some() => {
                    return Err(invalid(
                        format!("verifiers[{i}].signatureKey"),
                        "only an `oci://` verifier can carry a signature",
                    ));
                }
                None => {}
            }
            if let Err((field, message)) = v.validate_scope() {
                return Err(invalid(format!("verifiers[{i}].{field}"), &message));
            }
            if let Some(types) = &v.artifact_types
                && (types.is_empty() || types.iter().any(|t| t.trim().is_empty()))
            {
                return Err(invalid(
                    format!("verifiers[{i}].artifactTypes"),
                    "must be a non-empty list of non-empty artifact types",
                ));
            }
        }
        let e = &self.executor;
        if e.max_depth > MAX_DEPTH_LIMIT {
            return Err(invalid(
                "executor.maxDepth".into(),
                &format!("{} is over the maximum {MAX_DEPTH_LIMIT}", e.max_depth),
            ));
        }
        if e.concurrency == 0 {
            return Err(invalid("executor.concurrency".into(), "must be at least 1"));
        }
        if e.deadline_ms == 0 {
            return Err(invalid("executor.deadlineMs".into(), "must be at least 1"));
        }
        for (field, value) in [
            ("maxReferrersPerNode", u64::from(e.max_referrers_per_node)),
            ("maxNodesPerSubject", u64::from(e.max_nodes_per_subject)),
            (
                "maxVerifierCallsPerSubject",
                u64::from(e.max_verifier_calls_per_subject),
            ),
            ("maxBytesPerSubject", e.max_bytes_per_subject),
        ] {
            if value == 0 {
                return Err(invalid(format!("executor.{field}"), "must be at least 1"));
            }
        }
        if let Err(err) = scope::validate(&e.exempt_image_references, true) {
            return Err(invalid(
                "executor.exemptImageReferences".into(),
                &err.to_string(),
            ));
        }
        if let Err((field, message)) = modes::validate(&e.mode_scopes) {
            return Err(invalid(format!("executor.{field}"), &message));
        }
        if let Some(redis) = &e.redis {
            if e.result_cache_ttl_ms == 0 {
                return Err(invalid(
                    "executor.redis".into(),
                    "needs a result cache: set executor.resultCacheTtlMs above 0 (Redis entries use the same TTL)",
                ));
            }
            redis
                .validate()
                .map_err(|(field, message)| invalid(format!("executor.redis.{field}"), &message))?;
        }
        let l = &self.stores.layouts;
        if l.max_manifest_bytes == 0 || l.max_blob_bytes == 0 {
            return Err(invalid(
                "stores.layouts".into(),
                "caps must be at least 1 byte",
            ));
        }
        if let Some(policy) = &self.policy {
            policy.validate().map_err(|e| match e {
                crate::policy::PolicyError::Invalid { field, message } => invalid(field, &message),
                other => invalid("policy".into(), &other.to_string()),
            })?;
        }
        if let Some(nice) = self.runtime.guest_nice
            && !(0..=19).contains(&nice)
        {
            return Err(invalid(
                "runtime.guestNice".into(),
                &format!("{nice} is not a niceness between 0 and 19"),
            ));
        }
        if self
            .runtime
            .guest_slice_us
            .is_some_and(|us| !(100..=100_000).contains(&us))
        {
            return Err(invalid(
                "runtime.guestSliceUs".into(),
                "must be between 100 and 100000 microseconds",
            ));
        }
        for (field, value, max) in [
            (
                "maxCoreInstancesPerComponent",
                self.runtime.max_core_instances_per_component,
                1000,
            ),
            (
                "maxMemoriesPerComponent",
                self.runtime.max_memories_per_component,
                100,
            ),
            (
                "maxTablesPerComponent",
                self.runtime.max_tables_per_component,
                1000,
            ),
        ] {
            if value.is_some_and(|n| n == 0 || n > max) {
                return Err(invalid(
                    format!("runtime.{field}"),
                    &format!("must be between 1 and {max}"),
                ));
            }
        }
        if self.runtime.guest_threads.is_some_and(|n| n > 256) {
            return Err(invalid("runtime.guestThreads".into(), "at most 256"));
        }
        if let Err((field, message)) = self.quota.validate() {
            return Err(invalid(format!("quota.{field}"), &message));
        }
        tenants::validate(&self.tenants).map_err(|(field, message)| invalid(field, &message))?;
        for (i, tenant) in self.tenants.iter().enumerate() {
            // Each tenant must be a valid configuration of its own; its errors name its fields.
            tenant.effective(self).validate(path).map_err(|e| match e {
                ConfigError::Invalid { field, message, .. } => {
                    let field = match field.strip_prefix("stores.registries") {
                        Some(rest) => format!("registries{rest}"),
                        None => field,
                    };
                    invalid(format!("tenants[{i}].{field}"), &message)
                }
                other => other,
            })?;
        }
        Ok(())
    }

    /// The configuration a key of `namespace` is verified with, as `vouch serve` routes it: the
    /// tenant owning the namespace, else the default tenant (the top level).
    pub fn for_namespace(&self, namespace: &str) -> (String, Config) {
        match self.tenants.iter().find(|t| t.owns(namespace)) {
            Some(t) => (t.name.clone(), t.effective(self)),
            None => self
                .tenant_configs()
                .into_iter()
                .next()
                .expect("the default tenant is always listed"),
        }
    }

    /// The configuration of every tenant: the default one (the top level, without `tenants`)
    /// first, then each declared tenant's [`tenants::TenantConfig::effective`] configuration.
    pub fn tenant_configs(&self) -> Vec<(String, Config)> {
        let mut top = self.clone();
        top.tenants.clear();
        let mut out = vec![(tenants::DEFAULT_TENANT.to_owned(), top)];
        out.extend(
            self.tenants
                .iter()
                .map(|t| (t.name.clone(), t.effective(self))),
        );
        out
    }

    /// Where the `.wasm` of `verifier` is: its path joined to the config file's directory.
    pub fn verifier_path(&self, verifier: &VerifierConfig) -> PathBuf {
        self.base_dir.join(&verifier.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, false, Path::new("vouch.yaml"))
    }

    #[test]
    fn parses_a_full_yaml_config() {
        let c = parse(
            "verifiers:\n  - name: sig\n    path: v/sig.wasm\n    artifactTypes: [a/b]\n    \
             limits: { memoryBytes: 1048576, cpuTime: 50 }\n    config: { key: [1, 2] }\n\
             executor: { maxDepth: 2, concurrency: 4, deadlineMs: 100, resultCacheTtlMs: 0 }\n\
             stores: { layouts: { maxBlobBytes: 10 } }\n",
        )
        .unwrap();
        let v = &c.verifiers[0];
        assert_eq!(v.limits.memory_bytes, 1 << 20);
        assert_eq!(v.limits.cpu_time, Duration::from_millis(50));
        assert_eq!(v.limits.wall_time, Limits::default().wall_time);
        assert_eq!(v.config_json(), r#"{"key":[1,2]}"#);
        assert_eq!(v.artifact_types.as_deref(), Some(&["a/b".to_owned()][..]));
        assert_eq!(c.executor.max_depth, 2);
        assert_eq!(c.stores.layouts.max_blob_bytes, 10);
        assert_eq!(c.stores.layouts.max_manifest_bytes, 4 << 20);
    }

    #[test]
    fn json_and_defaults() {
        let c = Config::parse(
            r#"{"verifiers":[{"name":"a","path":"a.wasm"}]}"#,
            true,
            Path::new("c.json"),
        )
        .unwrap();
        assert_eq!(c.executor, ExecutorConfig::default());
        assert_eq!(c.verifiers[0].config_json(), "{}");
        assert_eq!(c.verifiers[0].limits, Limits::default());
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_path() {
        let e = parse("verifiers:\n  - name: a\n    path: a.wasm\n    limits: { memry: 1 }\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("vouch.yaml") && e.contains("verifiers[0].limits") && e.contains("memry"),
            "{e}"
        );
        let e = parse("executor: { deadline: 5 }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("executor") && e.contains("deadline"), "{e}");
        let e = Config::parse(r#"{"verifiers":[{"name":"a"}]}"#, true, Path::new("c.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("verifiers[0]") && e.contains("path"), "{e}");
    }

    #[test]
    fn invalid_values_name_the_field() {
        let dup = "verifiers:\n  - { name: a, path: a.wasm }\n  - { name: a, path: b.wasm }\n";
        let e = parse(dup).unwrap_err().to_string();
        assert!(
            e.contains("verifiers[1].name") && e.contains("duplicate"),
            "{e}"
        );
        let e = parse("executor: { concurrency: 0 }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("executor.concurrency"), "{e}");
        for bad in [
            "runtime: { maxCoreInstancesPerComponent: 0 }\n",
            "runtime: { maxMemoriesPerComponent: 101 }\n",
            "runtime: { maxTablesPerComponent: 0 }\n",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            let field = bad.split(['{', ':']).nth(2).unwrap().trim();
            assert!(e.contains(&format!("runtime.{field}")), "{bad}: {e}");
        }
        let e = parse("executor: { maxDepth: 99 }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("executor.maxDepth"), "{e}");
        let e = parse("verifiers:\n  - { name: a, path: a.wasm, artifactTypes: [] }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("verifiers[0].artifactTypes"), "{e}");
        assert!(parse("").unwrap_err().to_string().contains("empty"));
        let e = parse("runtime: { guestNice: 30 }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("runtime.guestNice"), "{e}");
        let c = parse("runtime: { guestThreads: 3 }\n").unwrap();
        assert_eq!(c.runtime.guest_threads(false), 3);
        assert_eq!(RuntimeSection::default().guest_threads(false), 0);
        assert!(RuntimeSection::default().guest_threads(true) >= 1);
    }

    #[test]
    fn paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vouch.yaml");
        std::fs::write(&file, "verifiers:\n  - { name: a, path: sub/a.wasm }\n").unwrap();
        let c = Config::load(&file).unwrap();
        assert_eq!(
            c.verifier_path(&c.verifiers[0]),
            dir.path().join("sub/a.wasm")
        );
        let e = Config::load(&dir.path().join("missing.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.yaml"), "{e}");
    }

    /// A config file that is a device or a directory is refused by type, never read.
    #[test]
    fn special_files_are_refused_as_config() {
        let e = Config::load(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config file `/dev/zero` is a character device, not a regular file"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = Config::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
    }

    #[test]
    fn redis_cache_section_parses_and_validates() {
        let c = parse(
            "executor: { redis: { url: \"redis://127.0.0.1:6379/0\", authKeyFiles: [k1, k0] } }\n",
        )
        .unwrap();
        let r = c.executor.redis.as_ref().unwrap();
        assert_eq!(
            (r.key_prefix.as_str(), r.timeout_ms, r.retry_after_ms),
            ("vouch", 50, 5000)
        );
        assert_eq!(r.auth_key_files, [PathBuf::from("k1"), PathBuf::from("k0")]);
        assert!(!r.insecure_unauthenticated);
        let c = parse(
            "executor:\n  redis: { url: \"rediss://r:6379\", keyPrefix: prod, timeoutMs: 20, retryAfterMs: 100,\n    \
             authKeyFiles: [k], caFile: ca.pem, clientCertFile: c.pem, clientKeyFile: c.key,\n    \
             username: vouch, passwordFile: pw }\n",
        )
        .unwrap();
        let r = c.executor.redis.unwrap();
        assert_eq!(r.key_prefix, "prod");
        assert_eq!(r.username.as_deref(), Some("vouch"));
        assert_eq!(r.password_file, Some(PathBuf::from("pw")));
        let c =
            parse("executor: { redis: { url: \"redis://r\", insecureUnauthenticated: true } }\n")
                .unwrap();
        assert!(c.executor.redis.unwrap().insecure_unauthenticated);
        let c = parse(
            "executor: { redis: { url: \"redis://r\", signedSummaries: { signingKeyFile: w.key, \
             trustedKeyFiles: [a.pub, b.pub], verifierId: \"urn:c:central\" } } }\n",
        )
        .unwrap();
        let s = c.executor.redis.unwrap().signed_summaries.unwrap();
        assert_eq!(s.signing_key_file, Some(PathBuf::from("w.key")));
        assert_eq!(s.trusted_key_files.len(), 2);
        for (text, field) in [
            // One way of protecting values, named; a signed-summary tier needs a key.
            (
                "executor: { redis: { url: \"redis://r\", authKeyFiles: [k], signedSummaries: { trustedKeyFiles: [p] } } }\n",
                "`executor.redis.signedSummaries`: contradicts authKeyFiles",
            ),
            (
                "executor: { redis: { url: \"redis://r\", insecureUnauthenticated: true, signedSummaries: { trustedKeyFiles: [p] } } }\n",
                "`executor.redis.insecureUnauthenticated`: contradicts signedSummaries",
            ),
            (
                "executor: { redis: { url: \"redis://r\", signedSummaries: {} } }\n",
                "`executor.redis.signedSummaries`: needs signingKeyFile",
            ),
            (
                "executor: { redis: { url: \"redis://r\", signedSummaries: { trustedKeyFiles: [p], verifierId: central } } }\n",
                "verifierId must be a URI",
            ),
            (
                "executor: { redis: { url: \"http://r\", authKeyFiles: [k] } }\n",
                "executor.redis.url",
            ),
            (
                "executor: { redis: { url: \"redis://r\", authKeyFiles: [k], timeoutMs: 0 } }\n",
                "executor.redis.timeoutMs",
            ),
            (
                "executor: { resultCacheTtlMs: 0, redis: { url: \"redis://r\", authKeyFiles: [k] } }\n",
                "executor.redis",
            ),
            // Unauthenticated values are refused unless asked for by name.
            (
                "executor: { redis: { url: \"redis://r\" } }\n",
                "executor.redis.authKeyFiles",
            ),
            (
                "executor: { redis: { url: \"redis://:pw@r\", authKeyFiles: [k] } }\n",
                "executor.redis.url",
            ),
            (
                "executor: { redis: { url: \"redis://r\", authKeyFiles: [k], caFile: ca.pem } }\n",
                "executor.redis.caFile",
            ),
            // A tenant's own Redis section is checked as well.
            (
                "tenants:\n  - name: t\n    namespaces: [t]\n    verifiers: [{name: v, path: v.wasm}]\n    \
                 executor: { redis: { url: \"redis://r\" } }\n",
                "tenants[0].executor.redis.authKeyFiles",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(field), "{text}: {e}");
        }
        let e = parse("executor: { redis: { url: \"redis://r\", prefix: x } }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("executor.redis") && e.contains("prefix"), "{e}");
        let e =
            parse("executor: { redis: { url: \"redis://r\", authKeyFiles: [k], password: x } }\n")
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("executor.redis") && e.contains("password"),
            "{e}"
        );
    }
}
