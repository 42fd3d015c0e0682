//! The optional shared tier of the result cache: verdicts in Redis, so that several replicas
//! behind one Service compute each verdict once.
//!
//! - Keys are `<keyPrefix>:v1:<hex sha256 of (scope, subject digest, config fingerprint)>`: the
//!   same identity as the local cache's key, so replicas with different configurations (or
//!   tenants) never share a verdict. Values are the [`SubjectReport`] as JSON, written with
//!   `SET … PX <ttl>` (the local cache's TTL); a value that does not parse is a miss.
//! - Redis is never on the critical path for long: every operation (connect included) is bounded
//!   by `timeoutMs`; a failed or timed-out operation logs one warning
//!   (`error.type = "redis_unavailable"`) for the outage and skips Redis for `retryAfterMs`,
//!   after which one request probes it again. Meanwhile verdicts are cached locally only.
//!   Writes are fire-and-forget tasks, at most [`MAX_WRITES_IN_FLIGHT`] at once (the excess is
//!   dropped and counted).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::sync::Semaphore;

use super::report::SubjectReport;
use crate::oci::Digest;

/// Writes to Redis in flight at once; writes past it are dropped (the verdict stays local).
pub const MAX_WRITES_IN_FLIGHT: usize = 64;

/// The `executor.redis` section of the configuration file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedisCacheConfig {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: String,
    /// Prefix of every key, so several deployments can share one Redis.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Bound on each Redis operation (connect, read, write), in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How long Redis is skipped after a failure before it is tried again, in milliseconds.
    #[serde(default = "default_retry_after_ms")]
    pub retry_after_ms: u64,
}

fn default_prefix() -> String {
    "vouch".to_owned()
}

fn default_timeout_ms() -> u64 {
    50
}

fn default_retry_after_ms() -> u64 {
    5000
}

impl std::fmt::Debug for RedisCacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCacheConfig")
            .field("url", &redact(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("timeout_ms", &self.timeout_ms)
            .field("retry_after_ms", &self.retry_after_ms)
            .finish()
    }
}

impl RedisCacheConfig {
    /// A configuration for `url` with the default prefix, timeout and retry delay.
    pub fn new(url: impl Into<String>) -> RedisCacheConfig {
        RedisCacheConfig {
            url: url.into(),
            key_prefix: default_prefix(),
            timeout_ms: default_timeout_ms(),
            retry_after_ms: default_retry_after_ms(),
        }
    }

    /// The per-operation bound as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The back-off after a failure as a duration.
    pub fn retry_after(&self) -> Duration {
        Duration::from_millis(self.retry_after_ms)
    }

    /// Check the values; the error is (field below `executor.redis`, what is wrong).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Err(e) = redis::Client::open(self.url.as_str()) {
            return Err((
                "url",
                format!("`{}` is not a usable Redis URL: {e}", redact(&self.url)),
            ));
        }
        if self.key_prefix.is_empty() || self.key_prefix.chars().any(char::is_whitespace) {
            return Err((
                "keyPrefix",
                "must be non-empty and contain no whitespace".to_owned(),
            ));
        }
        if self.timeout_ms == 0 {
            return Err(("timeoutMs", "must be at least 1".to_owned()));
        }
        if self.retry_after_ms == 0 {
            return Err(("retryAfterMs", "must be at least 1".to_owned()));
        }
        Ok(())
    }
}

/// `url` with its password (if any) replaced by `***`, for logs and errors.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Why the Redis tier could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RedisCacheError {
    /// The URL was rejected by the client.
    #[error("redis result cache: `{url}` is not a usable Redis URL: {source}")]
    Url {
        /// The URL, password redacted.
        url: String,
        /// Why.
        source: redis::RedisError,
    },
}

/// Counters of the Redis tier (for metrics and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Verdicts found in Redis.
    pub hits: u64,
    /// Lookups that found nothing usable (absent, expired or unparsable).
    pub misses: u64,
    /// Operations that failed or timed out.
    pub errors: u64,
    /// Operations skipped because Redis is backed off after a failure.
    pub skipped: u64,
    /// Verdicts written.
    pub writes: u64,
    /// Writes dropped because [`MAX_WRITES_IN_FLIGHT`] were already running.
    pub dropped_writes: u64,
}

/// Availability of Redis as seen by this process: the back-off state machine.
///
/// `Up` → (failure) → `Down{until}`; while `now < until` operations are skipped; the first
/// operation after `until` is a probe and pushes `until` one back-off further (so one probe per
/// window, even if the probing request is cancelled); a success returns to `Up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Health {
    Up,
    Down { until: Instant },
}

impl Health {
    /// Whether an operation may go to Redis now.
    fn allow(&mut self, now: Instant, retry_after: Duration) -> bool {
        match *self {
            Health::Up => true,
            Health::Down { until } if now < until => false,
            Health::Down { .. } => {
                *self = Health::Down {
                    until: now + retry_after,
                };
                true
            }
        }
    }

    /// Record a failure; true when it starts an outage (the one to warn about).
    fn failure(&mut self, now: Instant, retry_after: Duration) -> bool {
        let was_up = *self == Health::Up;
        *self = Health::Down {
            until: now + retry_after,
        };
        was_up
    }

    /// Record a success; true when it ends an outage.
    fn success(&mut self) -> bool {
        let was_down = *self != Health::Up;
        *self = Health::Up;
        was_down
    }
}

/// The Redis key of a verdict: `<prefix>:v1:<hex sha256 of the length-prefixed scope, digest
/// and fingerprint>`.
pub fn verdict_key(prefix: &str, scope: &str, digest: &Digest, fingerprint: &str) -> String {
    let mut h = sha2::Sha256::new();
    for field in [
        "vouch-verdict-key-v1",
        scope,
        &digest.to_string(),
        fingerprint,
    ] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    format!("{prefix}:v1:{}", hex::encode(h.finalize()))
}

/// The Redis tier: a lazily (re)connected multiplexed connection with bounded operations and
/// back-off. Cheap to clone (shared state).
#[derive(Clone)]
pub struct RedisTier {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// The URL with its password redacted, for logs.
    url: String,
    prefix: String,
    timeout: Duration,
    retry_after: Duration,
    /// The current connection, if one is established.
    conn: std::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// Serialises connection attempts.
    connecting: tokio::sync::Mutex<()>,
    health: std::sync::Mutex<Health>,
    writes: Arc<Semaphore>,
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
    written: AtomicU64,
    dropped_writes: AtomicU64,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier")
            .field("url", &self.inner.url)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisTier {
    /// A tier for `config` (no connection is made until the first lookup).
    pub fn new(config: &RedisCacheConfig) -> Result<RedisTier, RedisCacheError> {
        let url = redact(&config.url);
        let client =
            redis::Client::open(config.url.as_str()).map_err(|source| RedisCacheError::Url {
                url: url.clone(),
                source,
            })?;
        Ok(RedisTier {
            inner: Arc::new(Inner {
                client,
                url,
                prefix: config.key_prefix.clone(),
                timeout: config.timeout().max(Duration::from_millis(1)),
                retry_after: config.retry_after(),
                conn: std::sync::Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                health: std::sync::Mutex::new(Health::Up),
                writes: Arc::new(Semaphore::new(MAX_WRITES_IN_FLIGHT)),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                skipped: AtomicU64::new(0),
                written: AtomicU64::new(0),
                dropped_writes: AtomicU64::new(0),
            }),
        })
    }

    /// The key of the verdict for (`scope`, `digest`, `fingerprint`) under this tier's prefix.
    pub fn key(&self, scope: &str, digest: &Digest, fingerprint: &str) -> String {
        verdict_key(&self.inner.prefix, scope, digest, fingerprint)
    }

    /// The counters so far.
    pub fn stats(&self) -> RedisStats {
        let i = &self.inner;
        RedisStats {
            hits: i.hits.load(Ordering::Relaxed),
            misses: i.misses.load(Ordering::Relaxed),
            errors: i.errors.load(Ordering::Relaxed),
            skipped: i.skipped.load(Ordering::Relaxed),
            writes: i.written.load(Ordering::Relaxed),
            dropped_writes: i.dropped_writes.load(Ordering::Relaxed),
        }
    }

    /// The verdict stored under `key` and how long it has left to live; `None` on a miss, an
    /// unparsable value, or when Redis is unavailable (never waits longer than the timeout).
    pub async fn get(&self, key: &str) -> Option<(SubjectReport, Duration)> {
        if !self.inner.allow() {
            self.inner.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let inner = &self.inner;
        let op = async {
            let mut conn = inner.connection().await?;
            redis::pipe()
                .get(key)
                .pttl(key)
                .query_async::<(Option<Vec<u8>>, i64)>(&mut conn)
                .await
        };
        let (value, pttl) = match tokio::time::timeout(inner.timeout, op).await {
            Ok(Ok(found)) => {
                inner.succeeded();
                found
            }
            Ok(Err(e)) => {
                inner.failed(&format!("GET failed: {e}"));
                return None;
            }
            Err(_) => {
                inner.failed(&format!(
                    "GET timed out after {} ms",
                    inner.timeout.as_millis()
                ));
                return None;
            }
        };
        // PTTL: -2 the key is gone (expired in between), -1 no expiry (not written by us).
        let (Some(bytes), Ok(ms @ 1..)) = (value, u64::try_from(pttl)) else {
            inner.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        match serde_json::from_slice::<SubjectReport>(&bytes) {
            Ok(report) => {
                inner.hits.fetch_add(1, Ordering::Relaxed);
                Some((report, Duration::from_millis(ms)))
            }
            Err(e) => {
                inner.misses.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    key,
                    "error.type" = "redis_bad_value",
                    error = %e,
                    "a verdict in the Redis result cache does not parse; treated as a miss"
                );
                None
            }
        }
    }

    /// Store `report` under `key` for `ttl`, in a background task (fire and forget; skipped while
    /// Redis is backed off or when too many writes are in flight).
    pub fn put(&self, key: String, report: &SubjectReport, ttl: Duration) {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if ttl_ms == 0 {
            return;
        }
        let Ok(permit) = self.inner.writes.clone().try_acquire_owned() else {
            self.inner.dropped_writes.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if !self.inner.allow() {
            self.inner.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let value = match serde_json::to_vec(report) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(key, error = %e, "cannot serialise a verdict for the Redis result cache");
                return;
            }
        };
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let op = async {
                let mut conn = inner.connection().await?;
                redis::cmd("SET")
                    .arg(&key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<()>(&mut conn)
                    .await
            };
            match tokio::time::timeout(inner.timeout, op).await {
                Ok(Ok(())) => {
                    inner.succeeded();
                    inner.written.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(e)) => inner.failed(&format!("SET failed: {e}")),
                Err(_) => inner.failed(&format!(
                    "SET timed out after {} ms",
                    inner.timeout.as_millis()
                )),
            }
        });
    }
}

impl Inner {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn allow(&self) -> bool {
        self.health().allow(Instant::now(), self.retry_after)
    }

    fn succeeded(&self) {
        if self.health().success() {
            tracing::info!(url = %self.url, "redis result cache available again");
        }
    }

    /// Drop the connection, back off, and warn once per outage.
    fn failed(&self, error: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).take();
        let starts_outage = self.health().failure(Instant::now(), self.retry_after);
        if starts_outage {
            tracing::warn!(
                "error.type" = "redis_unavailable",
                url = %self.url,
                error,
                retry_after_ms = u64::try_from(self.retry_after.as_millis()).unwrap_or(u64::MAX),
                "redis result cache unavailable; caching verdicts locally only until it is back"
            );
        } else {
            tracing::debug!(url = %self.url, error, "redis result cache still unavailable");
        }
    }

    /// The current connection, connecting first if there is none.
    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _gate = self.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
        tracing::debug!(url = %self.url, "connected to the redis result cache");
        Ok(conn)
    }

    fn current(&self) -> Option<redis::aio::MultiplexedConnection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_scope_digest_and_fingerprint() {
        let d = Digest::sha256_of(b"subject");
        let k = verdict_key("vouch", "reg.io/repo", &d, "sha256:f1");
        assert!(k.starts_with("vouch:v1:"), "{k}");
        assert_eq!(k.len(), "vouch:v1:".len() + 64);
        assert_eq!(k, verdict_key("vouch", "reg.io/repo", &d, "sha256:f1"));
        let others = [
            verdict_key("other", "reg.io/repo", &d, "sha256:f1"),
            verdict_key("vouch", "reg.io/repo2", &d, "sha256:f1"),
            verdict_key(
                "vouch",
                "reg.io/repo",
                &Digest::sha256_of(b"x"),
                "sha256:f1",
            ),
            verdict_key("vouch", "reg.io/repo", &d, "sha256:f2"),
            // Length prefixes: moving bytes between fields changes the key.
            verdict_key("vouch", "reg.io/repos", &d, "ha256:f1"),
        ];
        for o in &others {
            assert_ne!(&k, o);
        }
    }

    #[test]
    fn back_off_skips_then_probes_once_per_window() {
        let retry = Duration::from_secs(5);
        let t0 = Instant::now();
        let mut h = Health::Up;
        assert!(h.allow(t0, retry));
        assert!(h.failure(t0, retry), "the first failure starts an outage");
        assert!(!h.allow(t0 + Duration::from_secs(1), retry));
        assert!(!h.allow(t0 + Duration::from_millis(4999), retry));
        // The window is over: one probe, the others still skip.
        let t1 = t0 + Duration::from_secs(5);
        assert!(h.allow(t1, retry));
        assert!(!h.allow(t1, retry));
        assert!(!h.failure(t1, retry), "a failed probe does not warn again");
        assert!(!h.allow(t1 + Duration::from_secs(4), retry));
        // A probe whose request was cancelled: the next window probes again.
        let t2 = t1 + Duration::from_secs(5);
        assert!(h.allow(t2, retry));
        let t3 = t2 + Duration::from_secs(5);
        assert!(h.allow(t3, retry));
        assert!(h.success(), "a successful probe ends the outage");
        assert!(h.allow(t3, retry));
        assert!(!h.success());
        assert_eq!(h, Health::Up);
    }

    #[test]
    fn config_validation_names_the_field() {
        let ok = RedisCacheConfig::new("redis://127.0.0.1:6379/0");
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.timeout(), Duration::from_millis(50));
        assert_eq!(ok.retry_after(), Duration::from_secs(5));
        let bad_url = RedisCacheConfig::new("http://127.0.0.1:6379");
        assert_eq!(bad_url.validate().unwrap_err().0, "url");
        let bad_prefix = RedisCacheConfig {
            key_prefix: "a b".into(),
            ..ok.clone()
        };
        assert_eq!(bad_prefix.validate().unwrap_err().0, "keyPrefix");
        let zero = RedisCacheConfig {
            timeout_ms: 0,
            ..ok.clone()
        };
        assert_eq!(zero.validate().unwrap_err().0, "timeoutMs");
        let zero = RedisCacheConfig {
            retry_after_ms: 0,
            ..ok
        };
        assert_eq!(zero.validate().unwrap_err().0, "retryAfterMs");
        assert!(RedisTier::new(&RedisCacheConfig::new("nope://x")).is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("redis://user:s3cret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(redact("redis://:s3cret@host"), "redis://:***@host");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        let c = RedisCacheConfig::new("redis://:s3cret@host");
        assert!(!format!("{c:?}").contains("s3cret"));
        let e = RedisCacheConfig::new("redis://:s3cret@host:notaport")
            .validate()
            .unwrap_err();
        assert!(!e.1.contains("s3cret"), "{}", e.1);
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_a_fast_miss_then_skipped() {
        // A port nothing listens on (bound then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tier =
            RedisTier::new(&RedisCacheConfig::new(format!("redis://127.0.0.1:{port}"))).unwrap();
        let t = Instant::now();
        assert!(tier.get("k").await.is_none());
        assert!(tier.get("k").await.is_none());
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        let s = tier.stats();
        assert_eq!((s.errors, s.skipped, s.hits), (1, 1, 0), "{s:?}");
    }
}
