//! The host-owned content cache on disk: one OCI image layout directory, one writer per process,
//! an OS file lock between processes.
//!
//! Layout of the directory:
//! ```text
//! oci-layout                 {"imageLayoutVersion":"1.0.0"}
//! index.json                 OCI image index; one descriptor per cache entry
//! blobs/<alg>/<hex>          immutable blob files, named by their digest
//! .lock                      flock taken by the process that publishes index.json
//! tmp/<pid>-<n>.lock         held (flock) by a live cache instance for its whole life
//! tmp/<pid>-<n>/<counter>    that instance's temp files (blobs and index before rename)
//! ```
//!
//! Protocol (invariant 3 of the design):
//! - Callers' bytes are checked against their [`Descriptor`] with [`check_content`] before they
//!   are queued; nothing unchecked touches the disk.
//! - One writer task per [`DiskCache`] receives requests over a bounded channel and takes
//!   everything available (up to `max_batch_items` / `max_batch_bytes`) as one batch.
//! - Blobs are written to temp files, made durable (one `syncfs` for large batches on Linux,
//!   otherwise `fdatasync` of each file in parallel), then renamed to `blobs/<alg>/<hex>`. A blob
//!   file that already exists with the right size is never rewritten.
//! - Under the exclusive lock on `.lock` the writer re-reads `index.json`, merges its batch
//!   (union by key: the `org.opencontainers.image.ref.name` annotation when present, else the
//!   digest), writes the new index to a temp file, fsyncs it, renames it over `index.json` and
//!   fsyncs the directory. Only then is the batch acknowledged and the in-memory snapshot
//!   replaced by the merged index (which includes other processes' entries).
//! - Readers only consult the snapshot and immutable blob files, so they never see a partial
//!   index. A blob named by the snapshot but missing on disk (collected) is a miss.
//! - Garbage collection (by age and total size) runs in the writer under the lock: entries are
//!   dropped and the index published first, blob files are unlinked afterwards.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::{StoreError, check_content};
use crate::localfile::OpenInDirError;
use crate::oci::digest::Algorithm;
use crate::oci::manifest::OCI_INDEX;
use crate::oci::{Descriptor, Digest, Manifest};

/// Annotation holding the time (Unix milliseconds) an entry was last written.
pub const STORED_AT_ANNOTATION: &str = "dev.vouch.cache.stored-at";
/// The OCI annotation that keys an entry by reference name instead of by digest.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

const INDEX_FILE: &str = "index.json";
const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
const LOCK_FILE: &str = ".lock";
const TMP_DIR: &str = "tmp";
/// Cap on `index.json` (256 MiB, about a million entries; the default `max_bytes` of 1 GiB keeps
/// it far smaller). A larger index is treated like an unparsable one: moved aside.
const MAX_INDEX_BYTES: u64 = 256 << 20;
/// From this many new blobs in a batch, one `syncfs` is cheaper than a `fdatasync` per file.
const SYNCFS_MIN_BLOBS: usize = 16;
/// Threads used to `fdatasync` a small batch's files concurrently (the journal groups them).
const MAX_SYNC_THREADS: usize = 8;

/// Distinguishes the cache instances (and so the temp directories) of one process.
static INSTANCE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Settings of a [`DiskCache`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskCacheConfig {
    /// Total size of the blobs the index may name; over it, the oldest entries are collected
    /// down to 90 % of it. `None`: no size limit.
    pub max_bytes: Option<u64>,
    /// Entries not written for this long are collected by [`DiskCache::gc`]. `None`: no limit.
    pub max_age: Option<Duration>,
    /// Largest blob accepted by [`DiskCache::put`].
    pub max_blob_bytes: u64,
    /// Capacity of the writer's request channel (callers wait when it is full).
    pub channel_capacity: usize,
    /// Most requests the writer takes into one batch.
    pub max_batch_items: usize,
    /// Most blob bytes the writer takes into one batch (the first request is always taken).
    pub max_batch_bytes: usize,
}

impl Default for DiskCacheConfig {
    fn default() -> Self {
        DiskCacheConfig {
            max_bytes: Some(1 << 30),
            max_age: Some(Duration::from_secs(7 * 24 * 3600)),
            max_blob_bytes: 64 << 20,
            channel_capacity: 4096,
            max_batch_items: 2048,
            max_batch_bytes: 16 << 20,
        }
    }
}

/// Why a disk cache operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiskCacheError {
    /// The bytes given to [`DiskCache::put`] do not match their descriptor or are too large.
    #[error("rejected blob {digest}: {source}")]
    Rejected {
        /// The digest the descriptor named.
        digest: Digest,
        /// What was wrong with the content.
        #[source]
        source: StoreError,
    },
    /// A file system operation failed.
    #[error("disk cache: cannot {op} `{path}`: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path, relative to the cache directory.
        path: String,
        /// The underlying error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The configuration cannot work.
    #[error("invalid disk cache configuration: {0}")]
    Config(String),
    /// The cache was shut down (or its writer stopped) before the request was handled.
    #[error("disk cache is shut down")]
    Closed,
    /// The writer task failed unexpectedly (panicked).
    #[error("disk cache writer failed: {0}")]
    Writer(String),
    /// [`DiskCache::flush`] gave up with background writes still in flight.
    #[error("disk cache: {pending} background write(s) still in flight after {timeout:?}")]
    FlushTimeout {
        /// Writes not finished.
        pending: usize,
        /// How long it waited.
        timeout: Duration,
    },
}

fn io_err(op: &'static str, path: impl Into<String>) -> impl FnOnce(io::Error) -> DiskCacheError {
    let path = path.into();
    move |source| DiskCacheError::Io {
        op,
        path,
        source: Arc::new(source),
    }
}

/// What a garbage collection removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Index entries dropped.
    pub entries_removed: usize,
    /// Blob files unlinked.
    pub blobs_removed: usize,
    /// Total size of the blobs the index names afterwards.
    pub bytes_after: u64,
}

/// Counts describing the current snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskCacheStats {
    /// Index entries.
    pub entries: usize,
    /// Distinct blobs the entries name.
    pub blobs: usize,
    /// Total size of those blobs.
    pub bytes: u64,
}

mod gc;
mod index;
#[cfg(test)]
mod tests;
mod writer;

use gc::*;
use index::*;
use writer::*;

/// What readers and the writer share.
struct Shared {
    root: Dir,
    path: PathBuf,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl Shared {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn publish(&self, snap: Arc<Snapshot>) {
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = snap;
    }
}

struct Inner {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Request>,
    /// Background writes registered with [`DiskCache::pending_write`] and not finished.
    pending: Arc<watch::Sender<usize>>,
    writer: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    max_blob_bytes: u64,
}

/// A content cache in an OCI layout directory, shared safely by tasks and processes.
///
/// Cheap to clone; all clones use the same writer task.
#[derive(Clone)]
pub struct DiskCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("path", &self.inner.shared.path)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A write to the cache that its caller makes in the background (the read it serves has already
/// been answered). [`DiskCache::flush`] waits until every one is dropped, so a process that exits
/// normally does not lose content it already handed out.
#[must_use = "the write counts as pending until this is dropped"]
pub struct PendingWrite(Arc<watch::Sender<usize>>);

impl Drop for PendingWrite {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl std::fmt::Debug for PendingWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingWrite").finish_non_exhaustive()
    }
}

/// An exclusive flock, released on drop.
struct LockGuard<'a>(&'a std::fs::File);

impl<'a> LockGuard<'a> {
    fn acquire(file: &'a std::fs::File) -> Result<Self, DiskCacheError> {
        file.lock().map_err(io_err("lock", LOCK_FILE))?;
        Ok(LockGuard(file))
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.unlock() {
            tracing::error!(error = %e, "disk cache: cannot unlock {LOCK_FILE}");
        }
    }
}

impl DiskCache {
    /// Open (creating if needed) the cache directory `path` and start its writer task on the
    /// current tokio runtime. Cleans temp files left by killed processes.
    pub async fn open(
        path: impl AsRef<Path>,
        config: DiskCacheConfig,
    ) -> Result<DiskCache, DiskCacheError> {
        validate(&config)?;
        let path = path.as_ref().to_path_buf();
        let cfg = config.clone();
        let (shared, state) = tokio::task::spawn_blocking(move || open_blocking(path, cfg))
            .await
            .map_err(|e| DiskCacheError::Writer(format!("open task failed: {e}")))??;
        let (tx, rx) = mpsc::channel(config.channel_capacity);
        let handle = tokio::spawn(run_writer(rx, state, config.clone()));
        Ok(DiskCache {
            inner: Arc::new(Inner {
                shared,
                tx,
                pending: Arc::new(watch::Sender::new(0)),
                writer: tokio::sync::Mutex::new(Some(handle)),
                max_blob_bytes: config.max_blob_bytes,
            }),
        })
    }

    /// The cache directory.
    pub fn path(&self) -> &Path {
        &self.inner.shared.path
    }

    /// Store `data` as the blob `desc` names; returns once the index naming it is durable.
    ///
    /// The bytes are checked against `desc` first; a mismatch is rejected before anything is
    /// written. A `desc` carrying `org.opencontainers.image.ref.name` is keyed by that name (a
    /// later put under the same name replaces it), otherwise by its digest.
    pub async fn put(&self, desc: Descriptor, data: Bytes) -> Result<(), DiskCacheError> {
        check_content(&desc, &data, self.inner.max_blob_bytes).map_err(|source| {
            DiskCacheError::Rejected {
                digest: desc.digest.clone(),
                source,
            }
        })?;
        let (ack, done) = oneshot::channel();
        self.inner
            .tx
            .send(Request::Put { desc, data, ack })
            .await
            .map_err(|_| DiskCacheError::Closed)?;
        done.await.map_err(|_| DiskCacheError::Closed)?
    }

    /// The blob `digest` names, if the snapshot names it and its file is intact.
    ///
    /// A blob that was collected, whose file has the wrong size, or whose content does not hash
    /// to `digest` is a miss (`Ok(None)`); a corrupt file is removed so the next put rewrites it.
    /// Every hit is digest-checked (see `benches/disk_cache.rs` for what it costs).
    pub fn get(&self, digest: &Digest) -> Result<Option<Bytes>, DiskCacheError> {
        let Some(size) = self.inner.shared.snapshot().blobs.get(digest).copied() else {
            return Ok(None);
        };
        let path = blob_path(digest);
        let (file, meta) = match crate::localfile::open_regular_in(&self.inner.shared.root, &path) {
            Ok(opened) => opened,
            Err(OpenInDirError::Io(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(OpenInDirError::Io(e)) => return Err(io_err("open", path)(e)),
            Err(OpenInDirError::NotRegular(kind)) => {
                tracing::warn!(%digest, kind, "disk cache: blob is not a regular file, treated as a miss");
                return Ok(None);
            }
        };
        let len = meta.len();
        if len != size {
            tracing::warn!(%digest, expected = size, found = len, "disk cache: blob has the wrong size, treated as a miss");
            return Ok(None);
        }
        let buf = crate::localfile::read_to_end_capped(file, size, size)
            .map_err(io_err("read", path.as_str()))?;
        if buf.len() as u64 != size {
            tracing::warn!(%digest, expected = size, found = buf.len(), "disk cache: blob has the wrong size, treated as a miss");
            return Ok(None);
        }
        let actual = digest.recompute(&buf);
        if actual != *digest {
            // Blob files are immutable once renamed into place, so this is damage (disk, or
            // someone writing into the cache): never hand the bytes out. The file is unlinked
            // so the next put of this content writes it again; the index entry stays.
            tracing::warn!(%digest, %actual, "disk cache: blob content does not match its digest; treated as a miss and removed");
            match self.inner.shared.root.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(%digest, error = %e, "disk cache: cannot remove a corrupt blob")
                }
            }
            return Ok(None);
        }
        Ok(Some(Bytes::from(buf)))
    }

    /// [`DiskCache::get`] on the blocking thread pool.
    pub async fn get_async(&self, digest: &Digest) -> Result<Option<Bytes>, DiskCacheError> {
        let this = self.clone();
        let digest = digest.clone();
        tokio::task::spawn_blocking(move || this.get(&digest))
            .await
            .map_err(|e| DiskCacheError::Writer(format!("read task failed: {e}")))?
    }

    /// Whether the snapshot names the blob `digest` (its file may still have been collected).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.inner.shared.snapshot().blobs.contains_key(digest)
    }

    /// The descriptor stored under the reference name `name`, if any.
    pub fn resolve(&self, name: &str) -> Option<Descriptor> {
        self.inner
            .shared
            .snapshot()
            .entries
            .get(format!("ref:{name}").as_str())
            .map(|e| e.desc.clone())
    }

    /// Counts for the current snapshot.
    pub fn stats(&self) -> DiskCacheStats {
        self.inner.shared.snapshot().stats()
    }

    /// Re-read `index.json` so the snapshot includes what other processes wrote.
    pub async fn reload(&self) -> Result<(), DiskCacheError> {
        let (ack, done) = oneshot::channel();
        self.inner
            .tx
            .send(Request::Reload { ack })
            .await
            .map_err(|_| DiskCacheError::Closed)?;
        done.await.map_err(|_| DiskCacheError::Closed)?
    }

    /// Collect entries older than `max_age` and, over `max_bytes`, the oldest entries; then
    /// unlink every blob file the index no longer names.
    pub async fn gc(&self) -> Result<GcReport, DiskCacheError> {
        let (ack, done) = oneshot::channel();
        self.inner
            .tx
            .send(Request::Gc { ack })
            .await
            .map_err(|_| DiskCacheError::Closed)?;
        done.await.map_err(|_| DiskCacheError::Closed)?
    }

    /// Register a write the caller is about to make in the background; hold the returned guard
    /// until [`DiskCache::put`] has answered (or the write was given up).
    pub fn pending_write(&self) -> PendingWrite {
        self.inner.pending.send_modify(|n| *n += 1);
        PendingWrite(Arc::clone(&self.inner.pending))
    }

    /// Background writes registered with [`DiskCache::pending_write`] and not finished yet.
    pub fn pending_writes(&self) -> usize {
        *self.inner.pending.borrow()
    }

    /// Wait until every background write registered so far has finished (durably indexed, or
    /// failed and logged by its caller), for at most `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), DiskCacheError> {
        let mut rx = self.inner.pending.subscribe();
        match tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await {
            // The sender lives in `self`, so `wait_for` cannot see it closed.
            Ok(_) => Ok(()),
            Err(_) => Err(DiskCacheError::FlushTimeout {
                pending: self.pending_writes(),
                timeout,
            }),
        }
    }

    /// At the end of a process: [`DiskCache::flush`], then [`DiskCache::shutdown`], together
    /// within `timeout`. A timeout or a failure is logged (nothing is corrupted by it: an
    /// unfinished write is simply missing from the index) and returned.
    pub async fn close(self, timeout: Duration) -> Result<(), DiskCacheError> {
        let started = std::time::Instant::now();
        let path = self.path().to_path_buf();
        if let Err(e) = self.flush(timeout).await {
            tracing::warn!(path = %path.display(), error = %e, "disk cache: exiting with writes still pending; their content will be fetched again next time");
            return Err(e);
        }
        let left = timeout.saturating_sub(started.elapsed());
        let result = match tokio::time::timeout(left, self.shutdown()).await {
            Ok(result) => result,
            Err(_) => Err(DiskCacheError::FlushTimeout {
                pending: 0,
                timeout,
            }),
        };
        match &result {
            Ok(()) => tracing::debug!(
                path = %path.display(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "disk cache: flushed and closed"
            ),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "disk cache: the writer did not stop cleanly")
            }
        }
        result
    }

    /// Stop accepting requests, finish every request already queued, and wait for the writer.
    pub async fn shutdown(self) -> Result<(), DiskCacheError> {
        // A full channel only delays this; a closed one means the writer is already gone.
        let _ = self.inner.tx.send(Request::Shutdown).await;
        let handle = self.inner.writer.lock().await.take();
        match handle {
            Some(h) => h
                .await
                .map_err(|e| DiskCacheError::Writer(format!("writer task failed: {e}"))),
            None => Ok(()),
        }
    }
}

fn validate(config: &DiskCacheConfig) -> Result<(), DiskCacheError> {
    if config.channel_capacity == 0 {
        return Err(DiskCacheError::Config(
            "channel_capacity must be > 0".into(),
        ));
    }
    if config.max_batch_items == 0 {
        return Err(DiskCacheError::Config("max_batch_items must be > 0".into()));
    }
    if config.max_batch_bytes == 0 {
        return Err(DiskCacheError::Config("max_batch_bytes must be > 0".into()));
    }
    Ok(())
}
