//! The verdict cache: a local in-memory tier with single-flight, and optionally the shared
//! Redis tier ([`super::redis_cache`]), keyed by scope, subject digest and configuration
//! fingerprint.

use std::sync::Arc;
use std::time::Duration;

use super::redis_cache;
use super::settings::ExecutorConfig;
use crate::oci::Digest;
use crate::report::SubjectReport;

/// Bytes of verdicts (their JSON size plus [`RESULT_ENTRY_OVERHEAD`] each) the local result
/// cache holds at most: a verdict of a big graph weighs what it holds, so a burst of large reports
/// evicts older entries instead of growing the process.
const RESULT_CACHE_BYTES: u64 = 64 << 20;
/// Bytes charged per cached verdict on top of its JSON (key, `Arc`, moka's node).
const RESULT_ENTRY_OVERHEAD: u64 = 256;

/// Result cache key: never a tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct CacheKey {
    pub(super) scope: String,
    pub(super) digest: Digest,
    pub(super) fingerprint: Arc<str>,
}

/// A verdict cache with single-flight, shareable between executors (keys carry the config
/// fingerprint, so executors with different configurations never see each other's verdicts).
///
/// Two tiers: a local in-memory cache, and optionally Redis ([`redis_cache`]) shared by every
/// replica. On a local miss Redis is read before computing; a computed cacheable verdict is
/// written to both with the same TTL. A verdict read from Redis lives locally only as long as it
/// had left in Redis.
#[derive(Clone)]
pub struct ResultCache {
    pub(super) inner: Option<moka::future::Cache<CacheKey, CachedVerdict>>,
    pub(super) ttl: Duration,
    pub(super) redis: Option<redis_cache::RedisTier>,
}

/// A cached verdict and how long it lives in the local tier.
#[derive(Clone)]
pub(super) struct CachedVerdict {
    /// The verdict; `cached` is set when it came from Redis.
    pub(super) report: Arc<SubjectReport>,
    pub(super) ttl: Duration,
}

/// Per-entry expiry of the local tier: each verdict's own TTL.
struct VerdictExpiry;

impl moka::Expiry<CacheKey, CachedVerdict> for VerdictExpiry {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &CachedVerdict,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

impl ResultCache {
    /// A cache whose entries live `ttl`; a zero `ttl` disables caching (and single-flight).
    pub fn new(ttl: Duration) -> ResultCache {
        if ttl.is_zero() {
            return ResultCache {
                inner: None,
                ttl,
                redis: None,
            };
        }
        ResultCache {
            inner: Some(
                moka::future::Cache::builder()
                    .max_capacity(RESULT_CACHE_BYTES)
                    .weigher(|key: &CacheKey, value: &CachedVerdict| {
                        let bytes = value.report.json_size()
                            + key.scope.len() as u64
                            + key.fingerprint.len() as u64
                            + RESULT_ENTRY_OVERHEAD;
                        u32::try_from(bytes).unwrap_or(u32::MAX)
                    })
                    .expire_after(VerdictExpiry)
                    .build(),
            ),
            ttl,
            redis: None,
        }
    }

    /// The cache `config` describes: `resultCacheTtlMs`, plus the Redis tier when `redis` is set
    /// (its files resolved against `base_dir`, the config file's directory).
    pub fn from_config(
        config: &ExecutorConfig,
        base_dir: &std::path::Path,
    ) -> Result<ResultCache, redis_cache::RedisCacheError> {
        let cache = ResultCache::new(config.result_cache_ttl());
        Ok(match &config.redis {
            Some(r) => cache.with_redis(redis_cache::RedisTier::new(r, base_dir)?),
            None => cache,
        })
    }

    /// Share verdicts through `tier` as well (unused when the TTL is zero: nothing is cached).
    pub fn with_redis(mut self, tier: redis_cache::RedisTier) -> ResultCache {
        if self.inner.is_some() {
            self.redis = Some(tier);
        }
        self
    }

    /// The Redis tier's counters, when there is one.
    pub fn redis_stats(&self) -> Option<redis_cache::RedisStats> {
        self.redis.as_ref().map(redis_cache::RedisTier::stats)
    }

    /// Number of cached verdicts (approximate, for metrics and tests).
    pub async fn entry_count(&self) -> u64 {
        match &self.inner {
            Some(c) => {
                c.run_pending_tasks().await;
                c.entry_count()
            }
            None => 0,
        }
    }
}
