//! The `executor` section of the configuration file: walk caps, concurrency, deadline, result
//! cache and its Redis tier.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::redis_cache::RedisCacheConfig;
use crate::scope::modes::{Mode, ModeScope};

/// The `executor` section of the configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ExecutorConfig {
    /// How many levels of referrers-of-referrers to verify below the subject's referrers.
    pub max_depth: u32,
    /// Verifier calls running at once across all requests.
    pub concurrency: usize,
    /// Deadline for one subject's verification, in milliseconds.
    pub deadline_ms: u64,
    /// How long a verdict stays in the result cache, in milliseconds (0 disables the cache).
    pub result_cache_ttl_ms: u64,
    /// Referrers one node of the graph may list; a longer list fails the subject.
    pub max_referrers_per_node: u32,
    /// Distinct referrers (nodes) one subject's walk may visit; more fails the subject.
    pub max_nodes_per_subject: u32,
    /// Verifier calls one subject may need; more fails the subject.
    pub max_verifier_calls_per_subject: u32,
    /// Manifest and blob bytes one subject's walk and its verifiers may read, summed over every
    /// read; more fails the subject.
    pub max_bytes_per_subject: u64,
    /// Share verdicts between replicas through Redis (off when absent; see
    /// [`crate::executor::redis_cache`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisCacheConfig>,
    /// Image reference patterns that pass without verification when no (scoped) verifier
    /// applies to them (see [`crate::scope`]); they never override a verifier that applies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exempt_image_references: Vec<String>,
    /// What a failed verdict does at admission by default (see [`crate::scope::modes`]).
    pub mode: Mode,
    /// Modes per image scope, first match wins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mode_scopes: Vec<ModeScope>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            max_depth: 3,
            concurrency: 64,
            deadline_ms: 2900,
            result_cache_ttl_ms: 10_000,
            max_referrers_per_node: 256,
            max_nodes_per_subject: 1024,
            max_verifier_calls_per_subject: 2048,
            max_bytes_per_subject: 256 << 20,
            redis: None,
            exempt_image_references: Vec::new(),
            mode: Mode::Enforce,
            mode_scopes: Vec::new(),
        }
    }
}

impl ExecutorConfig {
    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// The result cache TTL as a duration.
    pub fn result_cache_ttl(&self) -> Duration {
        Duration::from_millis(self.result_cache_ttl_ms)
    }
}
