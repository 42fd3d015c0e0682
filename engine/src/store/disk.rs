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

/// One index entry: the descriptor as stored (with its stored-at annotation) and its time.
#[derive(Clone, Debug)]
struct Entry {
    desc: Descriptor,
    stored_at_ms: u64,
}

impl Entry {
    fn from_stored(mut desc: Descriptor) -> Self {
        let stored_at_ms = desc
            .annotations
            .get(STORED_AT_ANNOTATION)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        desc.annotations
            .insert(STORED_AT_ANNOTATION.to_owned(), stored_at_ms.to_string());
        Entry { desc, stored_at_ms }
    }

    fn new(mut desc: Descriptor, stored_at_ms: u64) -> Self {
        desc.annotations
            .insert(STORED_AT_ANNOTATION.to_owned(), stored_at_ms.to_string());
        Entry { desc, stored_at_ms }
    }
}

/// The key an entry is merged by: its reference name when it has one, else its digest.
fn entry_key(desc: &Descriptor) -> String {
    match desc.annotations.get(REF_NAME_ANNOTATION) {
        Some(name) => format!("ref:{name}"),
        None => desc.digest.to_string(),
    }
}

/// Index entries by key; `Arc`s so that merging a batch into a large index copies pointers.
type Entries = BTreeMap<Arc<str>, Arc<Entry>>;

/// An immutable view of the index; readers hold an `Arc` of it.
#[derive(Debug, Default)]
struct Snapshot {
    entries: Entries,
    /// Every digest the entries name, with its size.
    blobs: HashMap<Digest, u64>,
    total_bytes: u64,
}

impl Snapshot {
    fn from_entries(entries: Entries) -> Self {
        let mut blobs = HashMap::with_capacity(entries.len());
        let mut total_bytes = 0u64;
        for e in entries.values() {
            if blobs.insert(e.desc.digest.clone(), e.desc.size).is_none() {
                total_bytes = total_bytes.saturating_add(e.desc.size);
            }
        }
        Snapshot {
            entries,
            blobs,
            total_bytes,
        }
    }

    /// Parse `index.json` bytes; entries with the same key collapse to the newest.
    fn parse(bytes: &[u8]) -> Result<Self, String> {
        let index = Manifest::parse(bytes).map_err(|e| e.to_string())?;
        let mut entries = Entries::new();
        for desc in index.manifests {
            let entry = Entry::from_stored(desc);
            let key: Arc<str> = entry_key(&entry.desc).into();
            match entries.get(&key) {
                Some(old) if old.stored_at_ms > entry.stored_at_ms => {}
                _ => {
                    entries.insert(key, Arc::new(entry));
                }
            }
        }
        Ok(Snapshot::from_entries(entries))
    }

    /// The OCI image index naming every entry (serialised without copying the descriptors).
    fn to_index_bytes(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct IndexOut<'a> {
            schema_version: u32,
            media_type: &'a str,
            manifests: Vec<&'a Descriptor>,
        }
        let index = IndexOut {
            schema_version: 2,
            media_type: OCI_INDEX,
            manifests: self.entries.values().map(|e| &e.desc).collect(),
        };
        let mut out = Vec::with_capacity(64 + self.entries.len() * 200);
        serde_json::to_writer(&mut out, &index).expect("an OCI index always serialises");
        out
    }

    fn stats(&self) -> DiskCacheStats {
        DiskCacheStats {
            entries: self.entries.len(),
            blobs: self.blobs.len(),
            bytes: self.total_bytes,
        }
    }
}

fn blob_dir_path(alg: Algorithm) -> String {
    format!("blobs/{}", alg.name())
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A request to the writer task.
enum Request {
    Put {
        desc: Descriptor,
        data: Bytes,
        ack: oneshot::Sender<Result<(), DiskCacheError>>,
    },
    Gc {
        ack: oneshot::Sender<Result<GcReport, DiskCacheError>>,
    },
    Reload {
        ack: oneshot::Sender<Result<(), DiskCacheError>>,
    },
    Shutdown,
}

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

/// The writer's state: handles and what it last published.
struct WriterState {
    shared: Arc<Shared>,
    /// The root directory opened for reading, so it can be fsynced and syncfs'd (a `Dir` is
    /// an `O_PATH` descriptor on Linux, which both reject).
    root_sync: cap_std::fs::File,
    lock: std::fs::File,
    /// This instance's temp directory and its name under `tmp/`.
    tmp: Dir,
    tmp_name: String,
    /// Held locked for the life of this instance, so `open` elsewhere knows `tmp` is in use.
    owner_lock: Option<std::fs::File>,
    blob_dirs: HashMap<Algorithm, (Dir, cap_std::fs::File)>,
    counter: u64,
    last_stamp_ms: u64,
    /// The bytes of the index this writer last read or wrote, to skip re-parsing it.
    last_index: Option<(Vec<u8>, Arc<Snapshot>)>,
    config: DiskCacheConfig,
}

fn open_dir_for_sync(dir: &Dir, path: &str) -> Result<cap_std::fs::File, DiskCacheError> {
    dir.open_with(path, OpenOptions::new().read(true))
        .map_err(io_err("open for sync", path))
}

fn open_blocking(
    path: PathBuf,
    config: DiskCacheConfig,
) -> Result<(Arc<Shared>, WriterState), DiskCacheError> {
    let display = path.display().to_string();
    Dir::create_ambient_dir_all(&path, ambient_authority())
        .map_err(io_err("create", display.as_str()))?;
    let root =
        Dir::open_ambient_dir(&path, ambient_authority()).map_err(io_err("open", display))?;
    root.create_dir_all(TMP_DIR)
        .map_err(io_err("create", TMP_DIR))?;
    let blob_dir = blob_dir_path(Algorithm::Sha256);
    root.create_dir_all(&blob_dir)
        .map_err(io_err("create", blob_dir))?;
    let lock = root
        .open_with(
            LOCK_FILE,
            OpenOptions::new().read(true).write(true).create(true),
        )
        .map_err(io_err("open", LOCK_FILE))?
        .into_std();
    let root_sync = open_dir_for_sync(&root, ".")?;
    let tmp_root = root.open_dir(TMP_DIR).map_err(io_err("open", TMP_DIR))?;

    let instance = INSTANCE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp_name = format!("{}-{instance}", std::process::id());

    let guard = LockGuard::acquire(&lock)?;
    clean_stale_tmp(&tmp_root)?;
    let owner_lock_name = format!("{tmp_name}.lock");
    let owner_lock = tmp_root
        .open_with(
            &owner_lock_name,
            OpenOptions::new().read(true).write(true).create(true),
        )
        .map_err(io_err("create", format!("{TMP_DIR}/{owner_lock_name}")))?
        .into_std();
    owner_lock
        .lock()
        .map_err(io_err("lock", format!("{TMP_DIR}/{owner_lock_name}")))?;
    tmp_root
        .create_dir(&tmp_name)
        .map_err(io_err("create", format!("{TMP_DIR}/{tmp_name}")))?;
    let tmp = tmp_root
        .open_dir(&tmp_name)
        .map_err(io_err("open", format!("{TMP_DIR}/{tmp_name}")))?;

    let shared = Arc::new(Shared {
        root,
        path,
        snapshot: RwLock::new(Arc::new(Snapshot::default())),
    });
    let mut state = WriterState {
        shared: shared.clone(),
        root_sync,
        lock: lock.try_clone().map_err(io_err("dup", LOCK_FILE))?,
        tmp,
        tmp_name,
        owner_lock: Some(owner_lock),
        blob_dirs: HashMap::new(),
        counter: 0,
        last_stamp_ms: 0,
        last_index: None,
        config,
    };
    if !state.exists(LAYOUT_FILE)? {
        state.write_root_file(LAYOUT_FILE, LAYOUT_CONTENT)?;
    }
    let snap = state.read_index()?;
    drop(guard);
    shared.publish(snap);
    Ok((shared, state))
}

/// Remove the temp directories of instances that no longer hold their lock (killed processes).
/// Runs under the cache lock, so no instance is between creating and locking its lock file.
fn clean_stale_tmp(tmp_root: &Dir) -> Result<(), DiskCacheError> {
    let mut live = HashSet::new();
    let mut names = Vec::new();
    for entry in tmp_root.entries().map_err(io_err("list", TMP_DIR))? {
        let entry = entry.map_err(io_err("list", TMP_DIR))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    for name in &names {
        let Some(stem) = name.strip_suffix(".lock") else {
            continue;
        };
        let file = match tmp_root.open_with(name, OpenOptions::new().read(true).write(true)) {
            Ok(f) => f.into_std(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("open", format!("{TMP_DIR}/{name}"))(e)),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                live.insert(stem.to_owned());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_err("lock", format!("{TMP_DIR}/{name}"))(e));
            }
        }
    }
    for name in &names {
        let stem = name.strip_suffix(".lock").unwrap_or(name);
        if live.contains(stem) {
            continue;
        }
        let path = format!("{TMP_DIR}/{name}");
        let removed = match tmp_root.symlink_metadata(name) {
            Ok(m) if m.is_dir() => tmp_root.remove_dir_all(name),
            Ok(_) => tmp_root.remove_file(name),
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) => tracing::debug!(path, "disk cache: removed stale temp entry"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", path)(e)),
        }
    }
    Ok(())
}

/// A blob of the batch whose file is being created.
struct NewBlob {
    tmp_name: String,
    digest: Digest,
    file: Option<cap_std::fs::File>,
}

impl WriterState {
    fn exists(&self, path: &str) -> Result<bool, DiskCacheError> {
        match self.shared.root.metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("stat", path)(e)),
        }
    }

    fn next_tmp_name(&mut self) -> String {
        self.counter += 1;
        format!("{}", self.counter)
    }

    fn tmp_path(&self, name: &str) -> String {
        format!("{TMP_DIR}/{}/{name}", self.tmp_name)
    }

    fn blob_dir(&mut self, alg: Algorithm) -> Result<&(Dir, cap_std::fs::File), DiskCacheError> {
        if !self.blob_dirs.contains_key(&alg) {
            let path = blob_dir_path(alg);
            self.shared
                .root
                .create_dir_all(&path)
                .map_err(io_err("create", path.as_str()))?;
            let dir = self
                .shared
                .root
                .open_dir(&path)
                .map_err(io_err("open", path.as_str()))?;
            let sync = open_dir_for_sync(&self.shared.root, &path)?;
            self.blob_dirs.insert(alg, (dir, sync));
        }
        Ok(&self.blob_dirs[&alg])
    }

    /// Whether the blob file exists with the expected size.
    fn blob_present(&mut self, digest: &Digest, size: u64) -> Result<bool, DiskCacheError> {
        let (dir, _) = self.blob_dir(digest.algorithm())?;
        match dir.metadata(digest.hex()) {
            Ok(m) if m.is_file() && m.len() == size => Ok(true),
            Ok(m) => {
                tracing::warn!(%digest, expected = size, found = m.len(), "disk cache: replacing a blob file of the wrong size");
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("stat", blob_path(digest))(e)),
        }
    }

    /// Write a temp file; it is closed unless `keep_open` (so the caller can sync it).
    fn write_tmp(
        &mut self,
        data: &[u8],
        keep_open: bool,
    ) -> Result<(String, Option<cap_std::fs::File>), DiskCacheError> {
        let name = self.next_tmp_name();
        let path = self.tmp_path(&name);
        let mut file = self
            .tmp
            .open_with(&name, OpenOptions::new().write(true).create_new(true))
            .map_err(io_err("create", path.as_str()))?;
        file.write_all(data).map_err(io_err("write", path))?;
        Ok((name, keep_open.then_some(file)))
    }

    /// Write the blobs of a batch that are not on disk yet and make them durable.
    fn write_blobs(&mut self, puts: &[(Descriptor, Bytes)]) -> Result<usize, DiskCacheError> {
        let mut seen = HashSet::new();
        let mut todo = Vec::new();
        for (desc, data) in puts {
            if seen.insert(desc.digest.clone()) && !self.blob_present(&desc.digest, desc.size)? {
                todo.push((desc.digest.clone(), data.clone()));
            }
        }
        if todo.is_empty() {
            return Ok(0);
        }
        let use_syncfs = cfg!(target_os = "linux") && todo.len() >= SYNCFS_MIN_BLOBS;
        let mut written = Vec::with_capacity(todo.len());
        for (digest, data) in &todo {
            let (tmp_name, file) = self.write_tmp(data, !use_syncfs)?;
            written.push(NewBlob {
                tmp_name,
                digest: digest.clone(),
                file,
            });
        }
        if use_syncfs {
            syncfs(&self.root_sync).map_err(io_err("syncfs", "."))?;
        } else {
            self.sync_files(&written)?;
        }
        let mut algs = HashSet::new();
        for blob in &written {
            let alg = blob.digest.algorithm();
            if algs.insert(alg) {
                self.blob_dir(alg)?;
            }
            let (dir, _) = &self.blob_dirs[&alg];
            self.tmp
                .rename(&blob.tmp_name, dir, blob.digest.hex())
                .map_err(io_err("rename", blob_path(&blob.digest)))?;
        }
        for alg in algs {
            let (_, sync) = self.blob_dir(alg)?;
            sync.sync_all()
                .map_err(io_err("fsync", blob_dir_path(alg)))?;
        }
        Ok(written.len())
    }

    /// `fdatasync` the files concurrently: the file system groups concurrent syncs into few
    /// journal commits.
    fn sync_files(&self, files: &[NewBlob]) -> Result<(), DiskCacheError> {
        let sync_one = |b: &NewBlob| -> Result<(), DiskCacheError> {
            match &b.file {
                Some(f) => f
                    .sync_data()
                    .map_err(io_err("fsync", self.tmp_path(&b.tmp_name))),
                None => Ok(()),
            }
        };
        if files.len() == 1 {
            return sync_one(&files[0]);
        }
        let per_thread = files.len().div_ceil(MAX_SYNC_THREADS);
        std::thread::scope(|s| {
            let handles: Vec<_> = files
                .chunks(per_thread)
                .map(|chunk| s.spawn(move || chunk.iter().try_for_each(sync_one)))
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| DiskCacheError::Writer("fsync thread panicked".into()))??;
            }
            Ok(())
        })
    }

    /// Write `name` in the root directory atomically and durably.
    fn write_root_file(&mut self, name: &str, data: &[u8]) -> Result<(), DiskCacheError> {
        let (tmp_name, file) = self.write_tmp(data, true)?;
        let file = file.expect("kept open");
        file.sync_all()
            .map_err(io_err("fsync", self.tmp_path(&tmp_name)))?;
        drop(file);
        self.tmp
            .rename(&tmp_name, &self.shared.root, name)
            .map_err(io_err("rename", name))?;
        self.root_sync.sync_all().map_err(io_err("fsync", "."))
    }

    /// Read `index.json` (missing: empty). An unparsable index (never written by this code) is
    /// moved aside and replaced by an empty one rather than blocking the cache forever.
    fn read_index(&mut self) -> Result<Arc<Snapshot>, DiskCacheError> {
        let bytes = match crate::localfile::open_regular_in(&self.shared.root, INDEX_FILE) {
            Ok((file, meta)) => {
                crate::localfile::read_to_end_capped(file, MAX_INDEX_BYTES, meta.len())
                    .map_err(io_err("read", INDEX_FILE))?
            }
            Err(OpenInDirError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(OpenInDirError::Io(e)) => return Err(io_err("read", INDEX_FILE)(e)),
            Err(OpenInDirError::NotRegular(kind)) => {
                return Err(io_err("read", INDEX_FILE)(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("it is {kind}, not a regular file"),
                )));
            }
        };
        if let Some((last, snap)) = &self.last_index
            && *last == bytes
        {
            return Ok(snap.clone());
        }
        let parsed = if bytes.len() as u64 > MAX_INDEX_BYTES {
            Err(format!(
                "the file is over the {MAX_INDEX_BYTES}-byte limit on the cache index"
            ))
        } else {
            Snapshot::parse(&bytes)
        };
        let snap = if bytes.is_empty() {
            Arc::new(Snapshot::default())
        } else {
            match parsed {
                Ok(s) => Arc::new(s),
                Err(reason) => {
                    let aside = format!("{INDEX_FILE}.corrupt-{}", now_ms());
                    tracing::error!(
                        reason,
                        aside,
                        "disk cache: index.json is invalid; moved aside, starting empty"
                    );
                    self.shared
                        .root
                        .rename(INDEX_FILE, &self.shared.root, &aside)
                        .map_err(io_err("rename", aside.as_str()))?;
                    Arc::new(Snapshot::default())
                }
            }
        };
        self.last_index = Some((bytes, snap.clone()));
        Ok(snap)
    }

    /// A stamp for this batch: now, but strictly after the previous batch's.
    fn stamp(&mut self) -> u64 {
        self.last_stamp_ms = now_ms().max(self.last_stamp_ms + 1);
        self.last_stamp_ms
    }

    /// Handle one batch: write blobs, then under the lock merge, collect and publish.
    fn process(
        &mut self,
        puts: &[(Descriptor, Bytes)],
        gc: bool,
        reload: bool,
    ) -> Result<Option<GcReport>, DiskCacheError> {
        if puts.is_empty() && !gc {
            if reload {
                let snap = self.read_index()?;
                self.shared.publish(snap);
            }
            return Ok(None);
        }
        let written = self.write_blobs(puts)?;

        let lock = self.lock.try_clone().map_err(io_err("dup", LOCK_FILE))?;
        let _guard = LockGuard::acquire(&lock)?;
        let base = self.read_index()?;

        // A process collecting garbage may have unlinked a blob between our write and the
        // lock; nothing can unlink it while we hold the lock, so check and restore it now.
        let mut restored = 0;
        let mut checked = HashSet::new();
        for (desc, data) in puts {
            if checked.insert(desc.digest.clone()) && !self.blob_present(&desc.digest, desc.size)? {
                self.write_blobs(std::slice::from_ref(&(desc.clone(), data.clone())))?;
                restored += 1;
            }
        }

        let stamp = self.stamp();
        let mut entries = base.entries.clone();
        let mut protected = HashSet::new();
        for (desc, _) in puts {
            let key: Arc<str> = entry_key(desc).into();
            let stored_at = entries
                .get(&key)
                .map_or(stamp, |old| old.stored_at_ms.max(stamp));
            entries.insert(key.clone(), Arc::new(Entry::new(desc.clone(), stored_at)));
            protected.insert(key);
        }

        let mut merged = Snapshot::from_entries(entries);
        let over_size = self
            .config
            .max_bytes
            .is_some_and(|max| merged.total_bytes > max);
        let mut dropped = Vec::new();
        if gc || over_size {
            let mut entries = merged.entries;
            dropped = collect(&mut entries, &protected, &self.config, now_ms(), gc);
            merged = Snapshot::from_entries(entries);
        }
        let merged = Arc::new(merged);
        let bytes = merged.to_index_bytes();
        let unchanged = self
            .last_index
            .as_ref()
            .is_some_and(|(last, _)| *last == bytes);
        if !unchanged {
            self.write_root_file(INDEX_FILE, &bytes)?;
            self.last_index = Some((bytes, merged.clone()));
        }

        let mut report = None;
        if gc || !dropped.is_empty() {
            let blobs_removed = if gc {
                self.sweep_blobs(&merged)?
            } else {
                self.unlink_dropped(&dropped, &merged)?
            };
            report = Some(GcReport {
                entries_removed: dropped.len(),
                blobs_removed,
                bytes_after: merged.total_bytes,
            });
        }
        drop(_guard);
        tracing::debug!(
            puts = puts.len(),
            written,
            restored,
            entries = merged.entries.len(),
            dropped = dropped.len(),
            "disk cache: published index"
        );
        self.shared.publish(merged);
        Ok(report)
    }

    /// Unlink the blobs of `dropped` entries that the new index no longer names.
    fn unlink_dropped(
        &mut self,
        dropped: &[Arc<Entry>],
        merged: &Snapshot,
    ) -> Result<usize, DiskCacheError> {
        let mut removed = 0;
        let mut done = HashSet::new();
        for e in dropped {
            let d = &e.desc.digest;
            if merged.blobs.contains_key(d) || !done.insert(d.clone()) {
                continue;
            }
            let (dir, _) = self.blob_dir(d.algorithm())?;
            match dir.remove_file(d.hex()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", blob_path(d))(e)),
            }
        }
        Ok(removed)
    }

    /// Unlink every blob file the index does not name (also orphans of killed writers).
    /// Safe under the lock: a writer re-checks its blobs under the lock before indexing them.
    fn sweep_blobs(&mut self, merged: &Snapshot) -> Result<usize, DiskCacheError> {
        let mut removed = 0;
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let path = blob_dir_path(alg);
            if !self.exists(&path)? {
                continue;
            }
            let (dir, _) = self.blob_dir(alg)?;
            let mut doomed = Vec::new();
            for entry in dir.entries().map_err(io_err("list", path.as_str()))? {
                let entry = entry.map_err(io_err("list", path.as_str()))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let keep = format!("{}:{name}", alg.name())
                    .parse::<Digest>()
                    .is_ok_and(|d| merged.blobs.contains_key(&d));
                if !keep {
                    doomed.push(name);
                }
            }
            for name in doomed {
                match dir.remove_file(&name) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("remove", format!("{path}/{name}"))(e)),
                }
            }
        }
        Ok(removed)
    }

    /// Remove this instance's temp directory and release its lock.
    fn close(&mut self) {
        let Ok(tmp_root) = self.shared.root.open_dir(TMP_DIR) else {
            return;
        };
        if let Err(e) = tmp_root.remove_dir_all(&self.tmp_name)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "disk cache: cannot remove temp directory");
        }
        let _ = tmp_root.remove_file(format!("{}.lock", self.tmp_name));
        self.owner_lock = None;
    }
}

#[cfg(target_os = "linux")]
fn syncfs(dir: &cap_std::fs::File) -> io::Result<()> {
    rustix::fs::syncfs(dir).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn syncfs(_dir: &cap_std::fs::File) -> io::Result<()> {
    unreachable!("syncfs is only used on Linux")
}

/// Drop entries by age (only when `by_age`) and, when over `max_bytes`, the oldest entries
/// until the total is at most 90 % of it. `protected` entries (this batch) are always kept.
fn collect(
    entries: &mut Entries,
    protected: &HashSet<Arc<str>>,
    config: &DiskCacheConfig,
    now: u64,
    by_age: bool,
) -> Vec<Arc<Entry>> {
    let mut dropped = Vec::new();
    if by_age && let Some(max_age) = config.max_age {
        let cutoff = now.saturating_sub(max_age.as_millis() as u64);
        let old: Vec<Arc<str>> = entries
            .iter()
            .filter(|(k, e)| e.stored_at_ms < cutoff && !protected.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            dropped.extend(entries.remove(&k));
        }
    }
    let Some(max) = config.max_bytes else {
        return dropped;
    };
    let mut seen = HashSet::with_capacity(entries.len());
    let total: u64 = entries
        .values()
        .filter(|e| seen.insert(&e.desc.digest))
        .map(|e| e.desc.size)
        .sum();
    if total <= max {
        return dropped;
    }
    let target = max - max / 10;
    let mut order: Vec<(bool, u64, Arc<str>)> = entries
        .iter()
        .map(|(k, e)| (protected.contains(k), e.stored_at_ms, k.clone()))
        .collect();
    // Protected first, then newest first.
    order.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut kept_digests: HashSet<Digest> = HashSet::new();
    let mut total = 0u64;
    let mut full = false;
    for (is_protected, _, key) in order {
        let e = &entries[&key];
        let digest = e.desc.digest.clone();
        let size = e.desc.size;
        let keep = if kept_digests.contains(&digest) || is_protected {
            true
        } else {
            full = full || total.saturating_add(size) > target;
            !full
        };
        if keep {
            if kept_digests.insert(digest) {
                total = total.saturating_add(size);
            }
        } else {
            dropped.extend(entries.remove(&key));
        }
    }
    dropped
}

/// The writer task: batches requests and runs each batch on the blocking pool.
async fn run_writer(mut rx: mpsc::Receiver<Request>, state: WriterState, config: DiskCacheConfig) {
    let mut state = Some(state);
    let mut carry: Option<Request> = None;
    loop {
        let first = match carry.take() {
            Some(r) => r,
            None => match rx.recv().await {
                Some(r) => r,
                None => break,
            },
        };
        let mut puts = Vec::new();
        let mut put_acks = Vec::new();
        let mut gc_acks = Vec::new();
        let mut reload_acks = Vec::new();
        let mut bytes = 0usize;
        let mut next = Some(first);
        while let Some(req) = next.take() {
            match req {
                Request::Put { desc, data, ack } => {
                    if !puts.is_empty()
                        && (puts.len() >= config.max_batch_items
                            || bytes + data.len() > config.max_batch_bytes)
                    {
                        carry = Some(Request::Put { desc, data, ack });
                        break;
                    }
                    bytes += data.len();
                    puts.push((desc, data));
                    put_acks.push(ack);
                }
                Request::Gc { ack } => gc_acks.push(ack),
                Request::Reload { ack } => reload_acks.push(ack),
                Request::Shutdown => rx.close(),
            }
            next = rx.try_recv().ok();
        }
        if puts.is_empty() && gc_acks.is_empty() && reload_acks.is_empty() {
            continue;
        }

        let Some(mut st) = state.take() else { break };
        let gc = !gc_acks.is_empty();
        let reload = !reload_acks.is_empty();
        let joined = tokio::task::spawn_blocking(move || {
            let result = st.process(&puts, gc, reload);
            (st, result)
        })
        .await;
        let result = match joined {
            Ok((st, result)) => {
                state = Some(st);
                result
            }
            Err(e) => Err(DiskCacheError::Writer(format!("batch task failed: {e}"))),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "disk cache: batch failed");
        }
        for ack in put_acks {
            let _ = ack.send(result.clone().map(|_| ()));
        }
        for ack in reload_acks {
            let _ = ack.send(result.clone().map(|_| ()));
        }
        for ack in gc_acks {
            let _ = ack.send(
                result
                    .clone()
                    .map(|r| r.expect("a gc batch always reports")),
            );
        }
        if state.is_none() {
            // The state was lost with a panicked batch: stop; later requests see `Closed`.
            break;
        }
    }
    if let Some(mut st) = state {
        tokio::task::spawn_blocking(move || st.close()).await.ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(i: usize, len: usize) -> (Descriptor, Bytes) {
        let mut data = format!("blob-{i}-").into_bytes();
        data.resize(len.max(data.len()), b'a' + (i % 26) as u8);
        let data = Bytes::from(data);
        (
            Descriptor::for_content("application/octet-stream", &data),
            data,
        )
    }

    fn config() -> DiskCacheConfig {
        DiskCacheConfig {
            max_bytes: None,
            max_age: None,
            ..DiskCacheConfig::default()
        }
    }

    fn on_disk_index(dir: &Path) -> Snapshot {
        Snapshot::parse(&std::fs::read(dir.join(INDEX_FILE)).unwrap()).unwrap()
    }

    /// Issue 11 item 7: a blob file damaged in place (same size, other bytes) is a miss, never
    /// the bad bytes; nothing else stored is lost, and the next put of the content repairs it.
    #[tokio::test]
    async fn a_corrupt_blob_of_the_right_size_is_a_miss_and_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), DiskCacheConfig::default())
            .await
            .unwrap();
        let good = Bytes::from_static(b"the content as it was checked and written");
        let other = Bytes::from_static(b"another entry, left alone");
        let desc = Descriptor::for_content("application/octet-stream", &good);
        let other_desc = Descriptor::for_content("application/octet-stream", &other);
        cache.put(desc.clone(), good.clone()).await.unwrap();
        cache.put(other_desc.clone(), other.clone()).await.unwrap();
        let file = dir.path().join(blob_path(&desc.digest));
        let mut damaged = good.to_vec();
        damaged[3] ^= 0x01;
        std::fs::write(&file, &damaged).unwrap();

        assert_eq!(cache.get(&desc.digest).unwrap(), None);
        assert!(!file.exists(), "the damaged file is removed");
        assert!(cache.contains(&desc.digest), "the index entry stays");
        assert_eq!(cache.get(&other_desc.digest).unwrap(), Some(other));
        assert_eq!(cache.stats().entries, 2);

        cache.put(desc.clone(), good.clone()).await.unwrap();
        assert_eq!(cache.get(&desc.digest).unwrap(), Some(good));
        cache.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn flush_waits_for_pending_writes_and_gives_up_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), DiskCacheConfig::default())
            .await
            .unwrap();
        cache.flush(Duration::from_millis(10)).await.unwrap();
        let pending = cache.pending_write();
        assert_eq!(cache.pending_writes(), 1);
        let t = std::time::Instant::now();
        match cache.flush(Duration::from_millis(100)).await {
            Err(DiskCacheError::FlushTimeout { pending: 1, .. }) => {}
            other => panic!("expected a flush timeout, got {other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(1));
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.flush(Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(pending);
        waiter.await.unwrap().unwrap();
        assert_eq!(cache.pending_writes(), 0);
        cache.close(Duration::from_secs(2)).await.unwrap();
        // The writer is stopped: its temp directory is gone.
        assert_eq!(
            std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(),
            0
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn round_trip_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), config()).await.unwrap();
        let (desc, data) = blob(1, 300);
        assert_eq!(cache.get(&desc.digest).unwrap(), None);
        cache.put(desc.clone(), data.clone()).await.unwrap();
        assert!(cache.contains(&desc.digest));
        assert_eq!(cache.get(&desc.digest).unwrap(), Some(data.clone()));
        assert_eq!(cache.get_async(&desc.digest).await.unwrap(), Some(data));
        let layout = std::fs::read(dir.path().join(LAYOUT_FILE)).unwrap();
        assert_eq!(layout, LAYOUT_CONTENT);
        let index = on_disk_index(dir.path());
        let entry = &index.entries[desc.digest.to_string().as_str()];
        assert_eq!(entry.desc.digest, desc.digest);
        assert!(entry.stored_at_ms > 0);
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(INDEX_FILE)).unwrap()).unwrap();
        assert_eq!(raw["mediaType"], OCI_INDEX);
        cache.shutdown().await.unwrap();
        // The instance's temp directory is gone after shutdown.
        assert_eq!(
            std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(),
            0
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn put_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), config()).await.unwrap();
        let (desc, data) = blob(2, 100);
        cache.put(desc.clone(), data.clone()).await.unwrap();
        let path = dir.path().join(blob_path(&desc.digest));
        let before = std::fs::metadata(&path).unwrap();
        cache.put(desc.clone(), data.clone()).await.unwrap();
        let after = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(before.ino(), after.ino(), "the blob file was rewritten");
        assert_eq!(cache.stats().entries, 1);
        assert_eq!(on_disk_index(dir.path()).entries.len(), 1);
        cache.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn digest_mismatch_is_rejected_and_nothing_written() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), config()).await.unwrap();
        let (desc, _) = blob(3, 64);
        let wrong = Bytes::from(vec![b'x'; 64]);
        let err = cache.put(desc.clone(), wrong).await.unwrap_err();
        assert!(
            matches!(
                &err,
                DiskCacheError::Rejected {
                    source: StoreError::DigestMismatch { .. },
                    ..
                }
            ),
            "{err}"
        );
        let short = Bytes::from_static(b"short");
        let err = cache.put(desc.clone(), short).await.unwrap_err();
        assert!(matches!(err, DiskCacheError::Rejected { .. }), "{err}");
        assert!(!cache.contains(&desc.digest));
        let blobs = std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap();
        assert_eq!(blobs.count(), 0);
        assert!(!dir.path().join(INDEX_FILE).exists());
        cache.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_never_see_errors_during_writes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), config()).await.unwrap();
        let blobs: Vec<_> = (0..300).map(|i| blob(i, 64 + i)).collect();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut readers = Vec::new();
        for r in 0..3 {
            let cache = cache.clone();
            let blobs = blobs.clone();
            let stop = stop.clone();
            readers.push(std::thread::spawn(move || {
                let mut hits = 0usize;
                let mut reads = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    for (desc, data) in blobs.iter().skip(r) {
                        reads += 1;
                        if let Some(got) = cache.get(&desc.digest).expect("read error") {
                            assert_eq!(&got, data);
                            hits += 1;
                        }
                        // Raw index file: always complete JSON.
                        if reads.is_multiple_of(97)
                            && let Ok(bytes) = std::fs::read(cache.path().join(INDEX_FILE))
                        {
                            Snapshot::parse(&bytes).expect("partial index.json");
                        }
                    }
                }
                (reads, hits)
            }));
        }
        let mut tasks = Vec::new();
        for (desc, data) in blobs.clone() {
            let cache = cache.clone();
            tasks.push(tokio::spawn(async move { cache.put(desc, data).await }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            let (reads, _hits) = r.join().unwrap();
            assert!(reads > 0);
        }
        for (desc, data) in &blobs {
            assert_eq!(cache.get(&desc.digest).unwrap().as_ref(), Some(data));
        }
        cache.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reopen_keeps_entries_and_cleans_stale_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let blobs: Vec<_> = (0..20).map(|i| blob(i, 128)).collect();
        let cache = DiskCache::open(dir.path(), config()).await.unwrap();
        for (desc, data) in &blobs {
            cache.put(desc.clone(), data.clone()).await.unwrap();
        }
        cache.shutdown().await.unwrap();

        // Leftovers of a killed process: an unlocked owner lock, its directory, a loose file.
        let tmp = dir.path().join(TMP_DIR);
        std::fs::create_dir(tmp.join("999999-0")).unwrap();
        std::fs::write(tmp.join("999999-0/7"), b"partial").unwrap();
        std::fs::write(tmp.join("999999-0.lock"), b"").unwrap();
        std::fs::write(tmp.join("stray"), b"x").unwrap();

        let cache = DiskCache::open(dir.path(), config()).await.unwrap();
        assert_eq!(cache.stats().entries, 20);
        for (desc, data) in &blobs {
            assert_eq!(cache.get(&desc.digest).unwrap().as_ref(), Some(data));
        }
        let left: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !left.iter().any(|n| n.starts_with("999999") || n == "stray"),
            "{left:?}"
        );
        // The live instance's own temp dir and lock survive a second open.
        let other = DiskCache::open(dir.path(), config()).await.unwrap();
        let (d, b) = blob(100, 50);
        cache.put(d.clone(), b).await.unwrap();
        other.shutdown().await.unwrap();
        cache.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gc_by_size_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DiskCacheConfig {
            max_bytes: Some(5_000),
            ..config()
        };
        let cache = DiskCache::open(dir.path(), cfg).await.unwrap();
        let blobs: Vec<_> = (0..12).map(|i| blob(i, 1_000)).collect();
        for (desc, data) in &blobs {
            cache.put(desc.clone(), data.clone()).await.unwrap();
            // Every acknowledged put is readable right after, even when it triggered a GC.
            assert_eq!(cache.get(&desc.digest).unwrap().as_ref(), Some(data));
        }
        let report = cache.gc().await.unwrap();
        assert!(report.bytes_after <= 5_000, "{report:?}");
        let present: Vec<bool> = blobs
            .iter()
            .map(|(d, _)| cache.contains(&d.digest))
            .collect();
        let kept = present.iter().filter(|p| **p).count();
        assert!((1..=5).contains(&kept), "{present:?}");
        // The kept ones are exactly the newest.
        assert!(
            present[blobs.len() - kept..].iter().all(|p| *p),
            "{present:?}"
        );
        for (desc, _) in &blobs[..blobs.len() - kept] {
            assert_eq!(cache.get(&desc.digest).unwrap(), None);
            assert!(!dir.path().join(blob_path(&desc.digest)).exists());
        }
        assert_eq!(on_disk_index(dir.path()).entries.len(), kept);
        cache.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gc_by_age_and_orphan_sweep() {
        let dir = tempfile::tempdir().unwrap();
        // Wide margins: on a loaded machine the steps between the second put and the collection
        // must not age the new entry past `max_age`.
        let cfg = DiskCacheConfig {
            max_age: Some(Duration::from_millis(1500)),
            ..config()
        };
        let cache = DiskCache::open(dir.path(), cfg).await.unwrap();
        let (old, old_data) = blob(1, 10);
        cache.put(old.clone(), old_data).await.unwrap();
        // A reader holding the old snapshot while the blob is collected gets a miss.
        tokio::time::sleep(Duration::from_millis(1600)).await;
        let (new, new_data) = blob(2, 10);
        cache.put(new.clone(), new_data.clone()).await.unwrap();
        let orphan = dir.path().join("blobs/sha256").join("ab".repeat(32));
        std::fs::write(&orphan, b"orphan").unwrap();
        let report = cache.gc().await.unwrap();
        assert_eq!(report.entries_removed, 1, "{report:?}");
        assert_eq!(report.blobs_removed, 2, "{report:?}");
        assert!(!cache.contains(&old.digest));
        assert_eq!(cache.get(&old.digest).unwrap(), None);
        assert_eq!(cache.get(&new.digest).unwrap(), Some(new_data));
        assert!(!orphan.exists());
        cache.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missing_or_wrong_size_blob_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), config()).await.unwrap();
        let (a, a_data) = blob(1, 100);
        let (b, b_data) = blob(2, 100);
        cache.put(a.clone(), a_data).await.unwrap();
        cache.put(b.clone(), b_data).await.unwrap();
        std::fs::remove_file(dir.path().join(blob_path(&a.digest))).unwrap();
        std::fs::write(dir.path().join(blob_path(&b.digest)), b"truncated").unwrap();
        assert_eq!(cache.get(&a.digest).unwrap(), None);
        assert_eq!(cache.get(&b.digest).unwrap(), None);
        cache.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_same_dir_union() {
        let dir = tempfile::tempdir().unwrap();
        let one = DiskCache::open(dir.path(), config()).await.unwrap();
        let two = DiskCache::open(dir.path(), config()).await.unwrap();
        let blobs: Vec<_> = (0..100).map(|i| blob(i, 200)).collect();
        let mut tasks = Vec::new();
        for (i, (desc, data)) in blobs.iter().cloned().enumerate() {
            // Overlap: the first 20 are written by both.
            let targets: Vec<DiskCache> = match i {
                0..20 => vec![one.clone(), two.clone()],
                _ if i % 2 == 0 => vec![one.clone()],
                _ => vec![two.clone()],
            };
            for cache in targets {
                let (desc, data) = (desc.clone(), data.clone());
                tasks.push(tokio::spawn(async move { cache.put(desc, data).await }));
            }
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let index = on_disk_index(dir.path());
        assert_eq!(index.entries.len(), 100);
        for (desc, _) in &blobs {
            assert!(index.blobs.contains_key(&desc.digest));
        }
        // Each instance's snapshot is the merged index once it has written or reloaded.
        one.reload().await.unwrap();
        two.reload().await.unwrap();
        assert_eq!(one.stats().entries, 100);
        assert_eq!(two.stats().entries, 100);
        for (desc, data) in &blobs {
            assert_eq!(one.get(&desc.digest).unwrap().as_ref(), Some(data));
        }
        one.shutdown().await.unwrap();
        two.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ref_names_key_entries_and_shutdown_drains() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), config()).await.unwrap();
        let (mut v1, d1) = blob(1, 50);
        let (mut v2, d2) = blob(2, 50);
        v1.annotations
            .insert(REF_NAME_ANNOTATION.into(), "policy".into());
        v2.annotations
            .insert(REF_NAME_ANNOTATION.into(), "policy".into());
        cache.put(v1.clone(), d1).await.unwrap();
        assert_eq!(cache.resolve("policy").unwrap().digest, v1.digest);
        cache.put(v2.clone(), d2).await.unwrap();
        assert_eq!(cache.resolve("policy").unwrap().digest, v2.digest);
        assert_eq!(cache.stats().entries, 1);

        // Requests queued before shutdown are all handled.
        let pending: Vec<_> = (10..60)
            .map(|i| {
                let cache = cache.clone();
                let (d, b) = blob(i, 80);
                tokio::spawn(async move { cache.put(d, b).await })
            })
            .collect();
        tokio::task::yield_now().await;
        let keep = cache.clone();
        cache.shutdown().await.unwrap();
        let mut ok = 0;
        for p in pending {
            match p.await.unwrap() {
                Ok(()) => ok += 1,
                Err(DiskCacheError::Closed) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(on_disk_index(dir.path()).entries.len(), 1 + ok);
        let (d, b) = blob(99, 10);
        assert!(matches!(keep.put(d, b).await, Err(DiskCacheError::Closed)));
    }

    #[test]
    fn invalid_config_is_rejected() {
        let cfg = DiskCacheConfig {
            max_batch_items: 0,
            ..DiskCacheConfig::default()
        };
        assert!(matches!(validate(&cfg), Err(DiskCacheError::Config(_))));
    }
}
