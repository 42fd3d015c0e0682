//! What the store caches save: upstream requests for concurrent verifications of one subject,
//! and the latency of memory and disk hits.
//!
//! Run: `cargo bench -p vouch --bench store_cache`. Prints one line per figure.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use vouch::oci::manifest::{OCI_INDEX, OCI_MANIFEST};
use vouch::oci::{Descriptor, Digest, Manifest};
use vouch::store::cache::{CacheConfig, CachedStore};
use vouch::store::disk::{DiskCache, DiskCacheConfig};
use vouch::store::{LayoutLimits, LayoutStore, StoreAccess, StoreError};

/// Concurrent verifications of the same subject.
const N: usize = 64;
/// Simulated upstream latency, so that concurrent verifications overlap as they would against
/// a registry.
const UPSTREAM_DELAY: Duration = Duration::from_millis(2);

/// Counts the requests that reach the wrapped store, after a delay.
struct Counting {
    inner: LayoutStore,
    delay: Duration,
    calls: AtomicUsize,
}

impl Counting {
    async fn enter(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

#[async_trait]
impl StoreAccess for Counting {
    async fn resolve(&self, tag_or_digest: &str) -> Result<Descriptor, StoreError> {
        self.enter().await;
        self.inner.resolve(tag_or_digest).await
    }
    async fn list_referrers(
        &self,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        self.enter().await;
        self.inner.list_referrers(digest, artifact_type).await
    }
    async fn get_manifest(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.enter().await;
        self.inner.get_manifest(desc).await
    }
    async fn get_blob(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.enter().await;
        self.inner.get_blob(desc).await
    }
}

fn write_blob(root: &Path, media_type: &str, data: &[u8]) -> Descriptor {
    let desc = Descriptor::for_content(media_type, data);
    std::fs::write(root.join("blobs/sha256").join(desc.digest.hex()), data).unwrap();
    desc
}

fn manifest(
    artifact_type: Option<&str>,
    config: Descriptor,
    layers: Vec<Descriptor>,
    subject: Option<Descriptor>,
) -> Manifest {
    Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        artifact_type: artifact_type.map(str::to_owned),
        config: Some(config),
        layers,
        manifests: vec![],
        subject,
        annotations: BTreeMap::new(),
    }
}

fn write_manifest(root: &Path, m: &Manifest) -> Descriptor {
    write_blob(root, OCI_MANIFEST, &serde_json::to_vec(m).unwrap())
}

/// An OCI layout with a subject image (config + one 4 KiB layer) and two referrers (a
/// signature and an SBOM, sharing the empty config). Returns the subject and the 4 KiB layer.
fn build_layout(root: &Path) -> (Descriptor, Descriptor) {
    std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    std::fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let config = write_blob(
        root,
        "application/vnd.oci.image.config.v1+json",
        br#"{"os":"linux"}"#,
    );
    let layer_bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    let layer = write_blob(root, "application/vnd.oci.image.layer.v1.tar", &layer_bytes);
    let subject = write_manifest(root, &manifest(None, config, vec![layer.clone()], None));
    let empty = write_blob(root, "application/vnd.oci.empty.v1+json", b"{}");
    let mut entries = vec![{
        let mut d = subject.clone();
        d.annotations
            .insert("org.opencontainers.image.ref.name".into(), "v1".into());
        d
    }];
    for (artifact_type, payload) in [
        (
            "application/vnd.cncf.notary.signature",
            &b"signature envelope"[..],
        ),
        (
            "application/spdx+json",
            &b"{\"spdxVersion\":\"SPDX-2.3\"}"[..],
        ),
    ] {
        let payload = write_blob(root, "application/octet-stream", payload);
        let m = manifest(
            Some(artifact_type),
            empty.clone(),
            vec![payload],
            Some(subject.clone()),
        );
        entries.push(write_manifest(root, &m));
    }
    let index = Manifest {
        schema_version: 2,
        media_type: Some(OCI_INDEX.into()),
        artifact_type: None,
        config: None,
        layers: vec![],
        manifests: entries,
        subject: None,
        annotations: BTreeMap::new(),
    };
    std::fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    (subject, layer)
}

/// What one verification reads: the referrer list, each referrer's manifest and blobs, the
/// subject's manifest and blobs. Returns the (kind, digest) keys it read.
async fn verification(store: &dyn StoreAccess, subject: &Descriptor) -> Vec<String> {
    let mut read = vec![format!("referrers {}", subject.digest)];
    let referrers = store.list_referrers(&subject.digest, None).await.unwrap();
    for desc in referrers.iter().chain(std::iter::once(subject)) {
        let bytes = store.get_manifest(desc).await.unwrap();
        read.push(format!("manifest {}", desc.digest));
        for blob in Manifest::parse(&bytes).unwrap().blobs() {
            assert_eq!(store.get_blob(blob).await.unwrap().len() as u64, blob.size);
            read.push(format!("blob {}", blob.digest));
        }
    }
    read
}

/// Run `N` concurrent verifications; returns upstream requests, distinct objects, reads, time.
async fn concurrent_run(
    store: Arc<dyn StoreAccess>,
    counting: &Counting,
    subject: &Descriptor,
) -> (usize, usize, usize, Duration) {
    let before = counting.calls.load(Ordering::Relaxed);
    let started = Instant::now();
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let store = Arc::clone(&store);
            let subject = subject.clone();
            tokio::spawn(async move { verification(store.as_ref(), &subject).await })
        })
        .collect();
    let mut distinct = std::collections::BTreeSet::new();
    let mut reads = 0;
    for t in tasks {
        let keys = t.await.unwrap();
        reads += keys.len();
        distinct.extend(keys);
    }
    let elapsed = started.elapsed();
    let upstream = counting.calls.load(Ordering::Relaxed) - before;
    (upstream, distinct.len(), reads, elapsed)
}

/// Mean latency of `iterations` sequential `get_blob` calls.
async fn blob_latency(store: &CachedStore, desc: &Descriptor, iterations: u32) -> Duration {
    for _ in 0..iterations / 10 {
        std::hint::black_box(store.get_blob(desc).await.unwrap());
    }
    let started = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(store.get_blob(desc).await.unwrap());
    }
    started.elapsed() / iterations
}

fn main() {
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    let dir = tempfile::tempdir().unwrap();
    let (subject, layer) = build_layout(dir.path());
    let open = |delay| {
        Arc::new(Counting {
            inner: LayoutStore::open(dir.path(), LayoutLimits::default()).unwrap(),
            delay,
            calls: AtomicUsize::new(0),
        })
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    runtime.block_on(async {
        // Caches off: every verification goes upstream for everything.
        let off = open(UPSTREAM_DELAY);
        let (upstream, distinct, reads, elapsed) =
            concurrent_run(Arc::clone(&off) as Arc<dyn StoreAccess>, &off, &subject).await;
        println!(
            "caches off: {N} verifications, {reads} reads of {distinct} distinct objects -> {upstream} upstream requests in {elapsed:?}"
        );
        assert_eq!(upstream, reads);

        // Caches on: one upstream request per distinct object.
        let on = open(UPSTREAM_DELAY);
        let cached =
            CachedStore::new(Arc::clone(&on) as Arc<dyn StoreAccess>, CacheConfig::default())
                .unwrap();
        let (upstream, distinct, reads, elapsed) =
            concurrent_run(Arc::new(cached.clone()), &on, &subject).await;
        println!(
            "caches on:  {N} verifications, {reads} reads of {distinct} distinct objects -> {upstream} upstream requests in {elapsed:?}"
        );
        println!("caches on:  stats {:?}", cached.stats());
        assert_eq!(upstream, distinct);

        // Warm memory hit, 4 KiB blob.
        let latency = blob_latency(&cached, &layer, 200_000).await;
        println!(
            "memory hit, 4 KiB blob: {} ns/op (goal <= 2000)",
            latency.as_nanos()
        );

        // Disk hit, 4 KiB blob, no memory level.
        let cache_dir = tempfile::tempdir().unwrap();
        let disk = DiskCache::open(cache_dir.path(), DiskCacheConfig::default())
            .await
            .unwrap();
        let inner = open(Duration::ZERO);
        let disk_only = CachedStore::new(
            Arc::clone(&inner) as Arc<dyn StoreAccess>,
            CacheConfig {
                memory_bytes: 0,
                ..CacheConfig::default()
            },
        )
        .unwrap()
        .with_disk(disk.clone());
        disk_only.get_blob(&layer).await.unwrap();
        disk_only.flush_disk_writes().await;
        let primed = inner.calls.load(Ordering::Relaxed);
        let latency = blob_latency(&disk_only, &layer, 20_000).await;
        assert_eq!(inner.calls.load(Ordering::Relaxed), primed, "disk level missed");
        println!(
            "disk hit, 4 KiB blob (memory level off): {} ns/op (goal <= 50000)",
            latency.as_nanos()
        );
        println!("disk only:  stats {:?}", disk_only.stats());
        drop(disk_only);
        disk.shutdown().await.unwrap();
    });
}
