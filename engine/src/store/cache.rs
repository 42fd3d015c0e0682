//! [`CachedStore`]: a [`StoreAccess`] that puts TTL caches, single-flight and a content cache in
//! front of another store (a registry repository or an OCI layout).
//!
//! Levels, per kind of read:
//! - `resolve(tag)`: a tag → descriptor map with a short TTL (tags move); `resolve(digest)` is
//!   immutable and kept for longer.
//! - `list_referrers(digest, artifact_type)`: a TTL cache keyed by both (a signature can be
//!   attached at any moment, so lists expire).
//! - `get_manifest` / `get_blob`: content is addressed by digest and never changes, so it never
//!   expires; it is only evicted. First level: an in-memory LRU bounded by bytes. Second level,
//!   when configured: the on-disk [`DiskCache`] (survives restarts, shared between processes).
//!
//! Every level is get / insert / invalidate only; nothing is updated in place. Errors, including
//! `NotFound`, are never cached: caching a negative answer would hide a signature pushed a
//! moment later for as long as the entry lived, and single-flight already collapses a burst of
//! identical misses into one upstream request. (An *empty* referrer list is a successful answer
//! and is cached for the referrers TTL: that TTL is the bound on how late a new artifact is seen.)
//!
//! Concurrent misses for the same key make one upstream request (moka's entry API coalesces
//! them); the other callers wait for it and share its answer, success or error.
//!
//! Trust: the inner store digest-checks and size-caps everything it returns. Content read back
//! from disk is digest-checked by [`DiskCache::get`] on every hit (a damaged file is a miss) and
//! must have the size its descriptor declares. Content is written to disk through
//! [`DiskCache::put`] (which checks it again) in the background: a failed or skipped disk write
//! only costs a future miss, it never fails the read. Each background write is registered with
//! [`DiskCache::pending_write`], so that [`DiskCache::flush`] at exit waits for it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use moka::future::Cache;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::disk::{DiskCache, DiskCacheError};
use super::{StoreAccess, StoreError};
use crate::oci::{Descriptor, Digest};

/// Longest TTL accepted (moka refuses TTLs beyond 1000 years; a year is already "forever").
const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// Bytes charged per memory entry on top of its content (key, descriptor size, moka's node).
const ENTRY_OVERHEAD: u64 = 128;
/// Disk hits up to this size are read inline; bigger ones on the blocking pool.
const INLINE_DISK_READ_BYTES: u64 = 64 << 10;

/// Settings of a [`CachedStore`]; every field has a default, so a config file may set any subset
/// (globally or per registry).
///
/// Durations are written as a number of milliseconds or as a string with a unit: `"250ms"`,
/// `"5s"`, `"10m"`, `"1h"`. A zero TTL keeps nothing beyond coalescing concurrent misses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CacheConfig {
    /// How long a tag → descriptor answer is reused. Default 5 s: tags are mutable (a push moves
    /// them), so this is kept short; it still absorbs the burst of identical resolves a rollout
    /// (many pods, one image) makes.
    #[serde(with = "duration_serde")]
    pub resolve_ttl: Duration,
    /// How long a digest → descriptor answer is reused. Default 1 h: a digest names immutable
    /// content, so the answer cannot change (only disappear, which a re-resolve would reveal).
    #[serde(with = "duration_serde")]
    pub digest_resolve_ttl: Duration,
    /// How long a referrer list is reused. Default 10 s (Ratify's default): referrer lists
    /// change whenever someone attaches a signature or an SBOM, so they expire; this is the
    /// longest a newly attached artifact can go unseen.
    #[serde(with = "duration_serde")]
    pub referrers_ttl: Duration,
    /// Memory budget of the content (manifest and blob) cache, in bytes. Default 64 MiB. Content
    /// never expires (it is immutable); the least valuable entries are evicted to stay under the
    /// budget. 0 disables the memory level (and with it the coalescing of content misses).
    pub memory_bytes: u64,
    /// Most entries the resolve cache holds, and most descriptors the referrers cache holds over
    /// all its lists (a list weighs its length, an empty one 1, so a registry listing thousands
    /// of referrers evicts other lists instead of growing the cache). Default 10 000.
    pub max_entries: u64,
    /// Largest manifest served from or put in the caches. Default 4 MiB. Larger manifests go
    /// straight to the inner store, which applies its own cap; keep this ≤ that cap, since a
    /// cached copy is returned without asking the inner store again.
    pub max_manifest_bytes: u64,
    /// Largest blob served from or put in the caches. Default 32 MiB; same rule as
    /// `max_manifest_bytes`.
    pub max_blob_bytes: u64,
    /// Most background disk writes in flight; further content is not written to disk (it will
    /// simply miss there later). Default 256.
    pub max_pending_disk_writes: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            resolve_ttl: Duration::from_secs(5),
            digest_resolve_ttl: Duration::from_secs(3600),
            referrers_ttl: Duration::from_secs(10),
            memory_bytes: 64 << 20,
            max_entries: 10_000,
            max_manifest_bytes: 4 << 20,
            max_blob_bytes: 32 << 20,
            max_pending_disk_writes: 256,
        }
    }
}

/// Why a [`CacheConfig`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheConfigError {
    /// A TTL is longer than the supported maximum.
    #[error("cache config: {field} is {value:?}, longer than the {max:?} maximum")]
    TtlTooLong {
        /// The field's name.
        field: &'static str,
        /// The value given.
        value: Duration,
        /// The maximum.
        max: Duration,
    },
    /// More pending disk writes than a semaphore can count.
    #[error("cache config: maxPendingDiskWrites is {0}, over the {max} maximum", max = u32::MAX)]
    TooManyPendingWrites(usize),
}

impl CacheConfig {
    /// Check the values can be used (TTLs up to a year, pending writes up to `u32::MAX`).
    pub fn validate(&self) -> Result<(), CacheConfigError> {
        for (field, value) in [
            ("resolveTtl", self.resolve_ttl),
            ("digestResolveTtl", self.digest_resolve_ttl),
            ("referrersTtl", self.referrers_ttl),
        ] {
            if value > MAX_TTL {
                return Err(CacheConfigError::TtlTooLong {
                    field,
                    value,
                    max: MAX_TTL,
                });
            }
        }
        if u32::try_from(self.max_pending_disk_writes).is_err() {
            return Err(CacheConfigError::TooManyPendingWrites(
                self.max_pending_disk_writes,
            ));
        }
        Ok(())
    }
}

/// Hits and misses of one cache level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HitMiss {
    /// Answers served without an upstream request (including answers shared from another
    /// caller's in-flight request).
    pub hits: u64,
    /// Answers that needed the next level (or that failed).
    pub misses: u64,
}

/// Counters of a [`CachedStore`], for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Tag and digest resolves.
    pub resolve: HitMiss,
    /// Referrer lists.
    pub referrers: HitMiss,
    /// Manifests and blobs in memory.
    pub memory: HitMiss,
    /// Manifests and blobs on disk (counted only when a disk cache is configured).
    pub disk: HitMiss,
    /// Content reads that skipped the caches (over the size caps, or with a descriptor whose
    /// size disagrees with the cached content).
    pub bypassed: u64,
    /// Background disk writes that failed (logged as warnings).
    pub disk_write_errors: u64,
    /// Disk writes not attempted because `max_pending_disk_writes` were in flight.
    pub disk_writes_skipped: u64,
    /// Bytes the memory content cache is charged for (content plus per-entry overhead).
    pub memory_weighted_bytes: u64,
    /// Entries in the memory content cache.
    pub memory_entries: u64,
}

/// Hit and miss counters that several [`CachedStore`]s add to (see
/// [`CachedStore::with_counters`]): their sum outlives any one store, as a server's metrics need
/// while its per-repository caches come and go.
#[derive(Clone, Debug, Default)]
pub struct SharedCounters(Arc<Counters>);

impl SharedCounters {
    /// A snapshot (the memory cache's size figures are per store, so zero here).
    pub fn stats(&self) -> CacheStats {
        self.0.snapshot()
    }
}

#[derive(Debug, Default)]
struct Counters {
    resolve_hits: AtomicU64,
    resolve_misses: AtomicU64,
    referrers_hits: AtomicU64,
    referrers_misses: AtomicU64,
    memory_hits: AtomicU64,
    memory_misses: AtomicU64,
    disk_hits: AtomicU64,
    disk_misses: AtomicU64,
    bypassed: AtomicU64,
    disk_write_errors: AtomicU64,
    disk_writes_skipped: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> CacheStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let pair = |hits: &AtomicU64, misses: &AtomicU64| HitMiss {
            hits: load(hits),
            misses: load(misses),
        };
        CacheStats {
            resolve: pair(&self.resolve_hits, &self.resolve_misses),
            referrers: pair(&self.referrers_hits, &self.referrers_misses),
            memory: pair(&self.memory_hits, &self.memory_misses),
            disk: pair(&self.disk_hits, &self.disk_misses),
            bypassed: load(&self.bypassed),
            disk_write_errors: load(&self.disk_write_errors),
            disk_writes_skipped: load(&self.disk_writes_skipped),
            memory_weighted_bytes: 0,
            memory_entries: 0,
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The value of a single-flight lookup, counted: an entry this caller loaded is a miss, one it
/// found (loaded by a concurrent caller) a hit, a failed load a miss.
fn settle<K, V>(
    entry: Result<moka::Entry<K, V>, Arc<StoreError>>,
    hits: &AtomicU64,
    misses: &AtomicU64,
) -> Result<V, StoreError> {
    match entry {
        Ok(entry) => {
            bump(if entry.is_fresh() { misses } else { hits });
            Ok(entry.into_value())
        }
        Err(e) => {
            bump(misses);
            Err(Arc::unwrap_or_clone(e))
        }
    }
}

/// Which [`StoreAccess`] method reads the content (they may reach different endpoints and apply
/// different caps, so their answers, errors included, are not shared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Manifest,
    Blob,
}

/// Key of the memory content cache. The size is part of it so that callers sharing a load
/// also share the descriptor that load checks against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ContentKey {
    kind: Kind,
    digest: Digest,
    size: u64,
}

type ReferrersKey = (Digest, Option<String>);

/// A content (manifest and blob) memory cache with one byte budget, shareable by the
/// [`CachedStore`]s of many repositories ([`CachedStore::with_shared_content`]), so the memory a
/// process spends on content does not grow with the number of repositories it reads.
#[derive(Clone)]
pub struct SharedContent(Option<Cache<ContentKey, Bytes>>);

impl SharedContent {
    /// A cache holding at most `memory_bytes` of content (none when 0).
    pub fn new(memory_bytes: u64) -> SharedContent {
        SharedContent((memory_bytes > 0).then(|| {
            Cache::builder()
                .name("vouch-content")
                .max_capacity(memory_bytes)
                .weigher(|_key: &ContentKey, value: &Bytes| {
                    u32::try_from(value.len() as u64 + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
                })
                .build()
        }))
    }
}

impl fmt::Debug for SharedContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedContent")
            .field("bytes", &self.0.as_ref().map(Cache::weighted_size))
            .finish()
    }
}

/// Per-entry expiry of the resolve cache: short for tags, long for digests.
struct ResolveExpiry {
    tag_ttl: Duration,
    digest_ttl: Duration,
}

impl moka::Expiry<String, Descriptor> for ResolveExpiry {
    fn expire_after_create(
        &self,
        key: &String,
        _value: &Descriptor,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(if is_digest(key) {
            self.digest_ttl
        } else {
            self.tag_ttl
        })
    }
}

fn is_digest(tag_or_digest: &str) -> bool {
    tag_or_digest.parse::<Digest>().is_ok()
}

/// A [`StoreAccess`] that caches another one. Cheap to clone; clones share the caches.
#[derive(Clone)]
pub struct CachedStore {
    inner: Arc<dyn StoreAccess>,
    config: CacheConfig,
    resolved: Cache<String, Descriptor>,
    referrers: Cache<ReferrersKey, Arc<Vec<Descriptor>>>,
    memory: Option<Cache<ContentKey, Bytes>>,
    disk: Option<DiskCache>,
    disk_permits: Arc<Semaphore>,
    counters: Arc<Counters>,
}

impl fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedStore")
            .field("config", &self.config)
            .field("disk", &self.disk.as_ref().map(|d| d.path().to_path_buf()))
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl CachedStore {
    /// Caches in front of `inner`, with no disk level.
    pub fn new(
        inner: Arc<dyn StoreAccess>,
        config: CacheConfig,
    ) -> Result<CachedStore, CacheConfigError> {
        config.validate()?;
        let resolved = Cache::builder()
            .name("vouch-resolve")
            .max_capacity(config.max_entries)
            .expire_after(ResolveExpiry {
                tag_ttl: config.resolve_ttl,
                digest_ttl: config.digest_resolve_ttl,
            })
            .build();
        let referrers = Cache::builder()
            .name("vouch-referrers")
            .max_capacity(config.max_entries)
            .weigher(|_key: &ReferrersKey, list: &Arc<Vec<Descriptor>>| {
                u32::try_from(list.len().max(1)).unwrap_or(u32::MAX)
            })
            .time_to_live(config.referrers_ttl)
            .build();
        let memory = SharedContent::new(config.memory_bytes).0;
        let disk_permits = Arc::new(Semaphore::new(config.max_pending_disk_writes));
        Ok(CachedStore {
            inner,
            config,
            resolved,
            referrers,
            memory,
            disk: None,
            disk_permits,
            counters: Arc::new(Counters::default()),
        })
    }

    /// Use `disk` as the second level for manifests and blobs.
    pub fn with_disk(mut self, disk: DiskCache) -> CachedStore {
        self.disk = Some(disk);
        self
    }

    /// The store being cached.
    pub fn inner(&self) -> &Arc<dyn StoreAccess> {
        &self.inner
    }

    /// The settings in use.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The disk level, if one is configured.
    pub fn disk(&self) -> Option<&DiskCache> {
        self.disk.as_ref()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            memory_weighted_bytes: self.memory.as_ref().map_or(0, Cache::weighted_size),
            memory_entries: self.memory.as_ref().map_or(0, Cache::entry_count),
            ..self.counters.snapshot()
        }
    }

    /// Count into `counters` (shared with other stores) instead of counters of its own.
    pub fn with_counters(mut self, counters: &SharedCounters) -> CachedStore {
        self.counters = counters.0.clone();
        self
    }

    /// Keep content in `shared` (one byte budget for every store using it) instead of a memory
    /// level of its own. Content is addressed by digest and checked before it is cached, so a
    /// copy read through one repository is what any other would read.
    pub fn with_shared_content(mut self, shared: &SharedContent) -> CachedStore {
        self.memory = shared.0.clone();
        self
    }

    /// Forget everything the memory caches hold about `digest`: its content, its referrer lists,
    /// and the resolves that named it. The disk level is left alone (its content is immutable
    /// and checked; its own GC bounds it). A load already in flight may still insert afterwards.
    pub async fn invalidate(&self, digest: &Digest) {
        if let Some(memory) = &self.memory {
            let keys: Vec<ContentKey> = memory
                .iter()
                .filter(|(k, _)| k.digest == *digest)
                .map(|(k, _)| ContentKey::clone(&k))
                .collect();
            for key in keys {
                memory.invalidate(&key).await;
            }
        }
        let keys: Vec<ReferrersKey> = self
            .referrers
            .iter()
            .filter(|(k, _)| k.0 == *digest)
            .map(|(k, _)| ReferrersKey::clone(&k))
            .collect();
        for key in keys {
            self.referrers.invalidate(&key).await;
        }
        let as_text = digest.to_string();
        let keys: Vec<String> = self
            .resolved
            .iter()
            .filter(|(k, v)| v.digest == *digest || k.as_str() == as_text)
            .map(|(k, _)| String::clone(&k))
            .collect();
        for key in keys {
            self.resolved.invalidate(&key).await;
        }
    }

    /// Forget everything the memory caches hold (the disk level is left alone).
    pub fn invalidate_all(&self) {
        self.resolved.invalidate_all();
        self.referrers.invalidate_all();
        if let Some(memory) = &self.memory {
            memory.invalidate_all();
        }
    }

    /// Wait until every background disk write started so far has finished.
    pub async fn flush_disk_writes(&self) {
        let all = u32::try_from(self.config.max_pending_disk_writes).unwrap_or(u32::MAX);
        // The semaphore is never closed, so acquiring only fails if it were: nothing pending.
        if let Ok(permits) = self.disk_permits.acquire_many(all).await {
            drop(permits);
        }
    }

    /// Run moka's pending maintenance (evictions, expirations) now; useful before reading
    /// [`CachedStore::stats`]' memory figures.
    pub async fn run_pending_tasks(&self) {
        self.resolved.run_pending_tasks().await;
        self.referrers.run_pending_tasks().await;
        if let Some(memory) = &self.memory {
            memory.run_pending_tasks().await;
        }
    }

    fn cap(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Manifest => self.config.max_manifest_bytes,
            Kind::Blob => self.config.max_blob_bytes,
        }
    }

    async fn read_inner(&self, kind: Kind, desc: &Descriptor) -> Result<Bytes, StoreError> {
        match kind {
            Kind::Manifest => self.inner.get_manifest(desc).await,
            Kind::Blob => self.inner.get_blob(desc).await,
        }
    }

    /// A manifest or blob: memory, then disk, then the inner store.
    async fn get_content(&self, kind: Kind, desc: &Descriptor) -> Result<Bytes, StoreError> {
        if desc.size > self.cap(kind) {
            bump(&self.counters.bypassed);
            return self.read_inner(kind, desc).await;
        }
        let Some(memory) = &self.memory else {
            bump(&self.counters.memory_misses);
            return self.load_content(kind, desc).await;
        };
        let key = ContentKey {
            kind,
            digest: desc.digest.clone(),
            size: desc.size,
        };
        if let Some(bytes) = memory.get(&key).await {
            bump(&self.counters.memory_hits);
            return Ok(bytes);
        }
        let entry = memory
            .entry(key)
            .or_try_insert_with(self.load_content(kind, desc))
            .await;
        let c = &self.counters;
        settle(entry, &c.memory_hits, &c.memory_misses)
    }

    /// Below the memory level: the disk, then the inner store (and a background disk write).
    async fn load_content(&self, kind: Kind, desc: &Descriptor) -> Result<Bytes, StoreError> {
        if let Some(disk) = &self.disk {
            match disk_read(disk, desc).await {
                Some(bytes) => {
                    bump(&self.counters.disk_hits);
                    return Ok(bytes);
                }
                None => bump(&self.counters.disk_misses),
            }
        }
        let bytes = self.read_inner(kind, desc).await?;
        if bytes.len() as u64 != desc.size {
            // The inner store checks sizes; never cache an answer that contradicts it anyway.
            return Err(StoreError::Invalid(format!(
                "{} is {} bytes, its descriptor says {}",
                desc.digest,
                bytes.len(),
                desc.size
            )));
        }
        self.spawn_disk_write(desc, bytes.clone());
        Ok(bytes)
    }

    /// Write content to the disk level in the background, if there is one and room.
    fn spawn_disk_write(&self, desc: &Descriptor, bytes: Bytes) {
        let Some(disk) = &self.disk else { return };
        let Ok(permit) = Arc::clone(&self.disk_permits).try_acquire_owned() else {
            bump(&self.counters.disk_writes_skipped);
            tracing::debug!(digest = %desc.digest, "content cache: disk write skipped, too many in flight");
            return;
        };
        // Registered before the task starts, so a flush right after this read waits for it.
        let pending = disk.pending_write();
        let disk = disk.clone();
        let desc = disk_descriptor(desc);
        let counters = Arc::clone(&self.counters);
        tokio::spawn(async move {
            let _permit = permit;
            let _pending = pending;
            if let Err(e) = disk_write(&disk, desc.clone(), bytes).await {
                bump(&counters.disk_write_errors);
                tracing::warn!(digest = %desc.digest, error = %e, "content cache: disk write failed; the read is unaffected");
            }
        });
    }
}

/// The descriptor stored on disk: only what names the content. (A resolved descriptor may carry
/// a `ref.name` annotation, which would make the disk cache key the entry by tag.)
fn disk_descriptor(desc: &Descriptor) -> Descriptor {
    Descriptor {
        media_type: desc.media_type.clone(),
        digest: desc.digest.clone(),
        size: desc.size,
        artifact_type: None,
        annotations: Default::default(),
    }
}

/// Read `desc` from the disk level: `Some` only for a file of the declared size. Errors are
/// logged and count as a miss. (All coupling to [`DiskCache`]'s read API is here.)
async fn disk_read(disk: &DiskCache, desc: &Descriptor) -> Option<Bytes> {
    let result = if desc.size <= INLINE_DISK_READ_BYTES {
        // A small read from the page cache is cheaper than a trip to the blocking pool.
        disk.get(&desc.digest)
    } else {
        disk.get_async(&desc.digest).await
    };
    match result {
        Ok(Some(bytes)) if bytes.len() as u64 == desc.size => Some(bytes),
        Ok(Some(bytes)) => {
            tracing::warn!(digest = %desc.digest, expected = desc.size, found = bytes.len(), "content cache: disk copy has the wrong size, treated as a miss");
            None
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(digest = %desc.digest, error = %e, "content cache: disk read failed, treated as a miss");
            None
        }
    }
}

/// Write checked content to the disk level. (All coupling to [`DiskCache`]'s write API is here.)
async fn disk_write(
    disk: &DiskCache,
    desc: Descriptor,
    bytes: Bytes,
) -> Result<(), DiskCacheError> {
    disk.put(desc, bytes).await
}

#[async_trait]
impl StoreAccess for CachedStore {
    async fn resolve(&self, tag_or_digest: &str) -> Result<Descriptor, StoreError> {
        if let Some(desc) = self.resolved.get(tag_or_digest).await {
            bump(&self.counters.resolve_hits);
            return Ok(desc);
        }
        let entry = self
            .resolved
            .entry(tag_or_digest.to_owned())
            .or_try_insert_with(self.inner.resolve(tag_or_digest))
            .await;
        let c = &self.counters;
        settle(entry, &c.resolve_hits, &c.resolve_misses)
    }

    async fn list_referrers(
        &self,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        let key = (digest.clone(), artifact_type.map(str::to_owned));
        if let Some(list) = self.referrers.get(&key).await {
            bump(&self.counters.referrers_hits);
            return Ok(list.as_ref().clone());
        }
        let entry = self
            .referrers
            .entry(key)
            .or_try_insert_with(async {
                self.inner
                    .list_referrers(digest, artifact_type)
                    .await
                    .map(Arc::new)
            })
            .await;
        let c = &self.counters;
        settle(entry, &c.referrers_hits, &c.referrers_misses).map(Arc::unwrap_or_clone)
    }

    async fn get_manifest(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.get_content(Kind::Manifest, desc).await
    }

    async fn get_blob(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.get_content(Kind::Blob, desc).await
    }
}

/// Durations in config files: milliseconds as a number, or a string `<n>ms|s|m|h`.
mod duration_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Millis(u64),
        Text(String),
    }

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Millis(ms) => Ok(Duration::from_millis(ms)),
            Raw::Text(s) => parse(&s).map_err(serde::de::Error::custom),
        }
    }

    /// The shortest exact form among `h`, `m`, `s`, `ms` (sub-millisecond parts are dropped).
    pub(super) fn format(d: Duration) -> String {
        let ms = d.as_millis();
        if ms == 0 {
            "0s".to_owned()
        } else if ms.is_multiple_of(3_600_000) {
            format!("{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) {
            format!("{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            format!("{}s", ms / 1000)
        } else {
            format!("{ms}ms")
        }
    }

    pub(super) fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let bad = || format!("invalid duration `{s}`: expected <integer><ms|s|m|h>, e.g. `5s`");
        let n: u64 = number.parse().map_err(|_| bad())?;
        let unit_ms: u64 = match unit.trim() {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        let ms = n
            .checked_mul(unit_ms)
            .ok_or_else(|| format!("invalid duration `{s}`: too long"))?;
        Ok(Duration::from_millis(ms))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::oci::layout::testing::LayoutBuilder;
    use crate::store::disk::DiskCacheConfig;
    use crate::store::{LayoutLimits, LayoutStore};

    const SIG: &str = "application/vnd.cncf.notary.signature";

    /// Counts the calls that reach the wrapped store, after an optional delay.
    struct Counting {
        inner: Arc<dyn StoreAccess>,
        delay: Duration,
        resolves: AtomicUsize,
        referrers: AtomicUsize,
        manifests: AtomicUsize,
        blobs: AtomicUsize,
    }

    impl Counting {
        fn new(inner: Arc<dyn StoreAccess>, delay: Duration) -> Arc<Counting> {
            Arc::new(Counting {
                inner,
                delay,
                resolves: AtomicUsize::new(0),
                referrers: AtomicUsize::new(0),
                manifests: AtomicUsize::new(0),
                blobs: AtomicUsize::new(0),
            })
        }

        async fn enter(&self, counter: &AtomicUsize) {
            counter.fetch_add(1, Ordering::SeqCst);
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
        }

        fn total(&self) -> usize {
            [
                &self.resolves,
                &self.referrers,
                &self.manifests,
                &self.blobs,
            ]
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .sum()
        }
    }

    #[async_trait]
    impl StoreAccess for Counting {
        async fn resolve(&self, tag_or_digest: &str) -> Result<Descriptor, StoreError> {
            self.enter(&self.resolves).await;
            self.inner.resolve(tag_or_digest).await
        }
        async fn list_referrers(
            &self,
            digest: &Digest,
            artifact_type: Option<&str>,
        ) -> Result<Vec<Descriptor>, StoreError> {
            self.enter(&self.referrers).await;
            self.inner.list_referrers(digest, artifact_type).await
        }
        async fn get_manifest(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
            self.enter(&self.manifests).await;
            self.inner.get_manifest(desc).await
        }
        async fn get_blob(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
            self.enter(&self.blobs).await;
            self.inner.get_blob(desc).await
        }
    }

    /// A layout with an image tagged `v1` and one signature on it.
    struct Fixture {
        builder: LayoutBuilder,
        image: Descriptor,
        sig: Descriptor,
    }

    fn fixture() -> Fixture {
        let mut builder = LayoutBuilder::new();
        let image = builder.image(b"layer bytes");
        let sig = builder.artifact(SIG, &image, b"signature");
        builder.add(&image, Some("v1"));
        builder.add(&sig, None);
        builder.write_index();
        Fixture {
            builder,
            image,
            sig,
        }
    }

    fn counting(f: &Fixture, delay: Duration) -> Arc<Counting> {
        let layout = LayoutStore::open(f.builder.path(), LayoutLimits::default()).unwrap();
        Counting::new(Arc::new(layout), delay)
    }

    fn cached(inner: &Arc<Counting>, config: CacheConfig) -> CachedStore {
        CachedStore::new(Arc::clone(inner) as Arc<dyn StoreAccess>, config).unwrap()
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = CacheConfig::default();
        assert_eq!(c.resolve_ttl, Duration::from_secs(5));
        assert_eq!(c.referrers_ttl, Duration::from_secs(10));
        assert_eq!(c.memory_bytes, 64 * 1024 * 1024);
        c.validate().unwrap();
    }

    #[test]
    fn config_serde_accepts_units_and_millis() {
        let c: CacheConfig = serde_json::from_str(
            r#"{"resolveTtl":"250ms","referrersTtl":30000,"memoryBytes":1024}"#,
        )
        .unwrap();
        assert_eq!(c.resolve_ttl, Duration::from_millis(250));
        assert_eq!(c.referrers_ttl, Duration::from_secs(30));
        assert_eq!(c.memory_bytes, 1024);
        assert_eq!(
            c.digest_resolve_ttl,
            CacheConfig::default().digest_resolve_ttl
        );
        let json = serde_json::to_string(&CacheConfig::default()).unwrap();
        assert!(json.contains(r#""resolveTtl":"5s""#), "{json}");
        assert!(json.contains(r#""digestResolveTtl":"1h""#), "{json}");
        let back: CacheConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, CacheConfig::default());
        for bad in [
            r#"{"resolveTtl":"5 parsecs"}"#,
            r#"{"resolveTtl":"s"}"#,
            r#"{"nope":1}"#,
        ] {
            assert!(serde_json::from_str::<CacheConfig>(bad).is_err(), "{bad}");
        }
        assert_eq!(duration_serde::format(Duration::from_secs(90)), "90s");
        assert_eq!(duration_serde::format(Duration::from_secs(120)), "2m");
    }

    #[test]
    fn rejects_unusable_config() {
        let c = CacheConfig {
            referrers_ttl: Duration::from_secs(400 * 24 * 3600),
            ..CacheConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(CacheConfigError::TtlTooLong {
                field: "referrersTtl",
                ..
            })
        ));
        let inner: Arc<dyn StoreAccess> =
            Arc::new(LayoutStore::open(fixture().builder.path(), LayoutLimits::default()).unwrap());
        assert!(CachedStore::new(inner, c).is_err());
    }

    #[tokio::test]
    async fn hit_after_miss_for_every_kind_of_read() {
        let f = fixture();
        let inner = counting(&f, Duration::ZERO);
        let store = cached(&inner, CacheConfig::default());

        for _ in 0..3 {
            assert_eq!(store.resolve("v1").await.unwrap().digest, f.image.digest);
            let refs = store
                .list_referrers(&f.image.digest, Some(SIG))
                .await
                .unwrap();
            assert_eq!(refs.len(), 1);
            assert_eq!(refs[0].digest, f.sig.digest);
            let manifest = store.get_manifest(&f.sig).await.unwrap();
            let parsed = crate::oci::Manifest::parse(&manifest).unwrap();
            assert_eq!(
                &store.get_blob(&parsed.layers[0]).await.unwrap()[..],
                b"signature"
            );
        }
        assert_eq!(inner.resolves.load(Ordering::SeqCst), 1);
        assert_eq!(inner.referrers.load(Ordering::SeqCst), 1);
        assert_eq!(inner.manifests.load(Ordering::SeqCst), 1);
        assert_eq!(inner.blobs.load(Ordering::SeqCst), 1);
        let s = store.stats();
        assert_eq!(s.resolve, HitMiss { hits: 2, misses: 1 });
        assert_eq!(s.referrers, HitMiss { hits: 2, misses: 1 });
        assert_eq!(s.memory, HitMiss { hits: 4, misses: 2 });
        assert_eq!(s.disk, HitMiss::default());

        // A different artifact-type filter is a different key.
        assert_eq!(
            store
                .list_referrers(&f.image.digest, None)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(inner.referrers.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn referrers_and_tags_expire_after_their_ttl() {
        let mut f = fixture();
        let inner = counting(&f, Duration::ZERO);
        let store = cached(
            &inner,
            CacheConfig {
                resolve_ttl: Duration::from_millis(200),
                referrers_ttl: Duration::from_millis(200),
                ..CacheConfig::default()
            },
        );
        assert_eq!(
            store
                .list_referrers(&f.image.digest, None)
                .await
                .unwrap()
                .len(),
            1
        );
        let digest_key = f.image.digest.to_string();
        store.resolve(&digest_key).await.unwrap();
        assert_eq!(store.resolve("v1").await.unwrap().digest, f.image.digest);

        // Attach a second signature and move the tag.
        let sig2 = f.builder.artifact(SIG, &f.image, b"second signature");
        let image2 = f.builder.image(b"other layer");
        f.builder.entries.retain(|d| d.digest != f.image.digest);
        f.builder.add(&f.image, None);
        f.builder.add(&image2, Some("v1"));
        f.builder.add(&sig2, None);
        f.builder.write_index();

        // Within the TTL: the cached answers.
        assert_eq!(
            store
                .list_referrers(&f.image.digest, None)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(store.resolve("v1").await.unwrap().digest, f.image.digest);
        tokio::time::sleep(Duration::from_millis(300)).await;
        // After it: fresh answers.
        assert_eq!(
            store
                .list_referrers(&f.image.digest, None)
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(store.resolve("v1").await.unwrap().digest, image2.digest);
        assert_eq!(inner.referrers.load(Ordering::SeqCst), 2);
        // The digest resolve is immutable and still cached.
        store.resolve(&digest_key).await.unwrap();
        assert_eq!(inner.resolves.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_misses_make_one_upstream_request() {
        let f = fixture();
        let inner = counting(&f, Duration::from_millis(50));
        let store = cached(&inner, CacheConfig::default());
        let layer = {
            let m = f.builder.path().join(LayoutBuilder::rel(&f.sig));
            let parsed = crate::oci::Manifest::parse(&std::fs::read(m).unwrap()).unwrap();
            parsed.layers[0].clone()
        };
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let store = store.clone();
            let (image, sig, layer) = (f.image.clone(), f.sig.clone(), layer.clone());
            tasks.push(tokio::spawn(async move {
                let (r, l, m, b) = tokio::join!(
                    store.resolve("v1"),
                    store.list_referrers(&image.digest, Some(SIG)),
                    store.get_manifest(&sig),
                    store.get_blob(&layer),
                );
                assert_eq!(r.unwrap().digest, image.digest);
                assert_eq!(l.unwrap().len(), 1);
                assert_eq!(m.unwrap().len() as u64, sig.size);
                assert_eq!(&b.unwrap()[..], b"signature");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(inner.resolves.load(Ordering::SeqCst), 1);
        assert_eq!(inner.referrers.load(Ordering::SeqCst), 1);
        assert_eq!(inner.manifests.load(Ordering::SeqCst), 1);
        assert_eq!(inner.blobs.load(Ordering::SeqCst), 1);
        let s = store.stats();
        assert_eq!(s.memory.misses, 2);
        assert_eq!(s.memory.hits, 198);
        assert_eq!(s.resolve.misses + s.resolve.hits, 100);
    }

    #[tokio::test]
    async fn memory_is_bounded_by_weight() {
        let b = LayoutBuilder::new();
        let blobs: Vec<Descriptor> = (0..8u8)
            .map(|i| b.blob("application/octet-stream", &[i; 4096]))
            .collect();
        b.write_index();
        let layout = LayoutStore::open(b.path(), LayoutLimits::default()).unwrap();
        let inner = Counting::new(Arc::new(layout), Duration::ZERO);
        let budget = 3 * (4096 + ENTRY_OVERHEAD);
        let store = cached(
            &inner,
            CacheConfig {
                memory_bytes: budget,
                ..CacheConfig::default()
            },
        );
        for d in &blobs {
            assert_eq!(store.get_blob(d).await.unwrap().len(), 4096);
        }
        store.run_pending_tasks().await;
        let s = store.stats();
        assert!(s.memory_weighted_bytes <= budget, "{s:?}");
        assert!(s.memory_entries <= 3, "{s:?}");
        // Reading them all again must go upstream for the evicted ones.
        for d in &blobs {
            assert_eq!(store.get_blob(d).await.unwrap().len(), 4096);
        }
        let upstream = inner.blobs.load(Ordering::SeqCst);
        assert!(upstream >= 8 + 5, "only {upstream} upstream reads");
    }

    #[tokio::test]
    async fn oversized_content_bypasses_the_caches() {
        let f = fixture();
        let inner = counting(&f, Duration::ZERO);
        let store = cached(
            &inner,
            CacheConfig {
                max_manifest_bytes: 16,
                ..CacheConfig::default()
            },
        );
        for _ in 0..2 {
            store.get_manifest(&f.sig).await.unwrap();
        }
        assert_eq!(inner.manifests.load(Ordering::SeqCst), 2);
        assert_eq!(store.stats().bypassed, 2);
        // As a blob (bigger cap) the same content is cached.
        for _ in 0..2 {
            store.get_blob(&f.sig).await.unwrap();
        }
        assert_eq!(inner.blobs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let mut f = fixture();
        let inner = counting(&f, Duration::ZERO);
        let store = cached(&inner, CacheConfig::default());

        // A corrupted blob: the inner store rejects it, and the rejection is not remembered.
        let good = b"payload".to_vec();
        let desc = f.builder.blob("application/octet-stream", &good);
        let path = f.builder.path().join(LayoutBuilder::rel(&desc));
        std::fs::write(&path, b"PAYLOAD").unwrap();
        assert!(matches!(
            store.get_blob(&desc).await,
            Err(StoreError::DigestMismatch { .. })
        ));
        std::fs::write(&path, &good).unwrap();
        assert_eq!(&store.get_blob(&desc).await.unwrap()[..], &good[..]);
        assert_eq!(inner.blobs.load(Ordering::SeqCst), 2);
        assert_eq!(store.stats().memory.misses, 2);

        // NotFound is not cached either: a tag pushed afterwards is seen at once.
        assert!(matches!(
            store.resolve("v2").await,
            Err(StoreError::NotFound(_))
        ));
        f.builder.add(&f.image, Some("v2"));
        f.builder.write_index();
        assert_eq!(store.resolve("v2").await.unwrap().digest, f.image.digest);

        // A descriptor with the wrong size fails without poisoning the right one.
        let short = Descriptor {
            size: 3,
            ..f.sig.clone()
        };
        assert!(matches!(
            store.get_manifest(&short).await,
            Err(StoreError::Invalid(_))
        ));
        store.get_manifest(&f.sig).await.unwrap();
    }

    #[tokio::test]
    async fn invalidate_forgets_one_digest_or_everything() {
        let f = fixture();
        let inner = counting(&f, Duration::ZERO);
        let store = cached(&inner, CacheConfig::default());
        let read_all = || async {
            store.resolve("v1").await.unwrap();
            store.list_referrers(&f.image.digest, None).await.unwrap();
            store.get_manifest(&f.image).await.unwrap();
            store.get_manifest(&f.sig).await.unwrap();
        };
        read_all().await;
        assert_eq!(inner.total(), 4);
        read_all().await;
        assert_eq!(inner.total(), 4);

        store.invalidate(&f.image.digest).await;
        read_all().await;
        // The resolve, the referrer list and the image manifest were dropped; the signature was not.
        assert_eq!(inner.resolves.load(Ordering::SeqCst), 2);
        assert_eq!(inner.referrers.load(Ordering::SeqCst), 2);
        assert_eq!(inner.manifests.load(Ordering::SeqCst), 3);

        store.invalidate_all();
        read_all().await;
        assert_eq!(inner.total(), 4 + 3 + 4);
    }

    /// Issue 11 item 6: a read answered by the inner store returns before its background disk
    /// write is done; [`DiskCache::close`] at exit waits for that write, so the content is in the
    /// cache index afterwards. (A current-thread runtime: the write task has not even started
    /// when the read returns.)
    #[tokio::test]
    async fn close_waits_for_background_disk_writes() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        let inner = counting(&f, Duration::ZERO);
        let disk = DiskCache::open(dir.path(), DiskCacheConfig::default())
            .await
            .unwrap();
        let store = cached(&inner, CacheConfig::default()).with_disk(disk.clone());
        store.get_manifest(&f.sig).await.unwrap();
        store.get_manifest(&f.image).await.unwrap();
        assert_eq!(disk.pending_writes(), 2);
        disk.close(Duration::from_secs(2)).await.unwrap();
        drop(store);

        let reopened = DiskCache::open(dir.path(), DiskCacheConfig::default())
            .await
            .unwrap();
        for d in [&f.sig, &f.image] {
            assert!(reopened.contains(&d.digest), "{} is not indexed", d.digest);
            assert!(reopened.get(&d.digest).unwrap().is_some());
        }
        reopened.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn disk_level_survives_a_restart() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        let first = counting(&f, Duration::ZERO);
        let disk = DiskCache::open(dir.path(), DiskCacheConfig::default())
            .await
            .unwrap();
        let store = cached(&first, CacheConfig::default()).with_disk(disk.clone());
        let manifest = store.get_manifest(&f.sig).await.unwrap();
        store.flush_disk_writes().await;
        assert_eq!(store.stats().disk, HitMiss { hits: 0, misses: 1 });
        assert_eq!(store.stats().disk_write_errors, 0);
        drop(store);
        disk.shutdown().await.unwrap();

        // A new process: new memory caches, the same directory.
        let second = counting(&f, Duration::ZERO);
        let disk = DiskCache::open(dir.path(), DiskCacheConfig::default())
            .await
            .unwrap();
        let store = cached(&second, CacheConfig::default()).with_disk(disk.clone());
        assert_eq!(store.get_manifest(&f.sig).await.unwrap(), manifest);
        assert_eq!(store.get_manifest(&f.sig).await.unwrap(), manifest);
        assert_eq!(second.total(), 0);
        let s = store.stats();
        assert_eq!(s.disk, HitMiss { hits: 1, misses: 0 });
        assert_eq!(s.memory, HitMiss { hits: 1, misses: 1 });

        // A descriptor that disagrees with the disk copy's size is not served from disk.
        let wrong = Descriptor {
            size: f.sig.size + 1,
            ..f.sig.clone()
        };
        assert!(store.get_manifest(&wrong).await.is_err());
        assert_eq!(second.manifests.load(Ordering::SeqCst), 1);
        drop(store);
        disk.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_disk_write_does_not_fail_the_read() {
        let f = fixture();
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskCache::open(
            dir.path(),
            DiskCacheConfig {
                max_blob_bytes: 4,
                ..DiskCacheConfig::default()
            },
        )
        .await
        .unwrap();
        let inner = counting(&f, Duration::ZERO);
        let store = cached(&inner, CacheConfig::default()).with_disk(disk.clone());
        assert_eq!(
            store.get_manifest(&f.sig).await.unwrap().len() as u64,
            f.sig.size
        );
        store.flush_disk_writes().await;
        assert_eq!(store.stats().disk_write_errors, 1);
        assert!(!disk.contains(&f.sig.digest));
        drop(store);
        disk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn zero_ttls_keep_nothing() {
        let f = fixture();
        let inner = counting(&f, Duration::ZERO);
        let store = cached(
            &inner,
            CacheConfig {
                resolve_ttl: Duration::ZERO,
                digest_resolve_ttl: Duration::ZERO,
                referrers_ttl: Duration::ZERO,
                ..CacheConfig::default()
            },
        );
        for _ in 0..2 {
            store.resolve("v1").await.unwrap();
            store.resolve(&f.image.digest.to_string()).await.unwrap();
            store.list_referrers(&f.image.digest, None).await.unwrap();
        }
        assert_eq!(inner.resolves.load(Ordering::SeqCst), 4);
        assert_eq!(inner.referrers.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn zero_memory_budget_disables_the_memory_level() {
        let f = fixture();
        let inner = counting(&f, Duration::ZERO);
        let store = cached(
            &inner,
            CacheConfig {
                memory_bytes: 0,
                ..CacheConfig::default()
            },
        );
        store.get_manifest(&f.sig).await.unwrap();
        store.get_manifest(&f.sig).await.unwrap();
        assert_eq!(inner.manifests.load(Ordering::SeqCst), 2);
        assert_eq!(store.stats().memory, HitMiss { hits: 0, misses: 2 });
    }
}
