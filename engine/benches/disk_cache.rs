//! Benchmarks of the on-disk cache (`vouch::store::disk`).
//!
//! Printed figures, measured in one run on the same file system (a temp dir):
//! 1. batched writes: many concurrent `put`s of small blobs (256 B – 4 KiB), one index publish
//!    per batch — writes/s (goal ≥ 20 000/s);
//! 2. the baseline: one file lock per write (write the blob durably, lock, read `index.json`,
//!    merge one entry, write it durably, unlock) — writes/s, and the ratio;
//! 3. the latency of a disk hit, `get` of a 4 KiB blob (goal ≤ 50 µs);
//! 4. what the digest check of every hit costs: `get` of 4 KiB and 1 MiB blobs next to a bare
//!    read of the same file and a bare sha256 of the same bytes, with the check's share.
//!
//! Then criterion measures the hit latency again with statistics. `cargo bench --bench
//! disk_cache` runs everything at full size; without `--bench` (e.g. `cargo test --benches`)
//! a small smoke run checks the code paths only.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use vouch::oci::manifest::OCI_INDEX;
use vouch::oci::{Descriptor, Manifest};
use vouch::store::disk::{DiskCache, DiskCacheConfig};

fn blobs(n: usize, seed: &str) -> Vec<(Descriptor, Bytes)> {
    (0..n)
        .map(|i| {
            let len = 256 + (i * 977) % (4096 - 256 + 1);
            let mut data = format!("{seed}-{i}-").into_bytes();
            data.resize(len, (i % 251) as u8);
            let data = Bytes::from(data);
            (
                Descriptor::for_content("application/octet-stream", &data),
                data,
            )
        })
        .collect()
}

fn config() -> DiskCacheConfig {
    DiskCacheConfig {
        max_bytes: None,
        max_age: None,
        ..DiskCacheConfig::default()
    }
}

/// Writes/s of `n` concurrent puts through one `DiskCache`.
fn batched(rt: &tokio::runtime::Runtime, dir: &Path, n: usize) -> f64 {
    let data = blobs(n, "batched");
    rt.block_on(async {
        let cache = DiskCache::open(dir, config()).await.unwrap();
        let start = Instant::now();
        let tasks: Vec<_> = data
            .into_iter()
            .map(|(desc, bytes)| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.put(desc, bytes).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(cache.stats().entries, n);
        cache.shutdown().await.unwrap();
        n as f64 / elapsed.as_secs_f64()
    })
}

fn sync_dir(path: &Path) {
    fs::File::open(path).unwrap().sync_all().unwrap();
}

/// The baseline: every write takes the file lock and rewrites the index on its own.
fn baseline(dir: &Path, n: usize) -> f64 {
    let blob_dir = dir.join("blobs/sha256");
    fs::create_dir_all(&blob_dir).unwrap();
    let lock = fs::File::create(dir.join(".lock")).unwrap();
    let data = blobs(n, "baseline");
    let start = Instant::now();
    for (i, (desc, bytes)) in data.into_iter().enumerate() {
        let tmp = dir.join(format!("blob.{i}.tmp"));
        let mut f = fs::File::create(&tmp).unwrap();
        f.write_all(&bytes).unwrap();
        f.sync_data().unwrap();
        fs::rename(&tmp, blob_dir.join(desc.digest.hex())).unwrap();
        sync_dir(&blob_dir);

        lock.lock().unwrap();
        let mut index = match fs::read(dir.join("index.json")) {
            Ok(b) => Manifest::parse(&b).unwrap(),
            Err(_) => Manifest {
                schema_version: 2,
                media_type: Some(OCI_INDEX.into()),
                artifact_type: None,
                config: None,
                layers: vec![],
                manifests: vec![],
                subject: None,
                annotations: BTreeMap::new(),
            },
        };
        if !index.manifests.iter().any(|d| d.digest == desc.digest) {
            index.manifests.push(desc);
        }
        let tmp = dir.join("index.json.tmp");
        let mut f = fs::File::create(&tmp).unwrap();
        f.write_all(&serde_json::to_vec(&index).unwrap()).unwrap();
        f.sync_all().unwrap();
        fs::rename(&tmp, dir.join("index.json")).unwrap();
        sync_dir(dir);
        lock.unlock().unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Mean time of `f` over `n` calls.
fn mean_of(n: usize, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n as u32
}

/// For a blob of `len` bytes on disk: mean `get` (digest-checked), mean bare read of its file,
/// mean sha256 of its bytes.
fn digest_check_cost(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    len: usize,
    n: usize,
) -> (Duration, Duration, Duration) {
    let data = Bytes::from((0..len).map(|i| (i % 253) as u8).collect::<Vec<u8>>());
    let desc = Descriptor::for_content("application/octet-stream", &data);
    rt.block_on(async {
        let cache = DiskCache::open(dir, config()).await.unwrap();
        cache.put(desc.clone(), data.clone()).await.unwrap();
        let file = dir.join("blobs/sha256").join(desc.digest.hex());
        let get = mean_of(n, || {
            assert_eq!(cache.get(&desc.digest).unwrap().map(|b| b.len()), Some(len));
        });
        let read = mean_of(n, || {
            assert_eq!(fs::read(&file).unwrap().len(), len);
        });
        let hash = mean_of(n, || {
            assert!(desc.digest.matches(&data));
        });
        cache.shutdown().await.unwrap();
        (get, read, hash)
    })
}

/// Per-call latencies of `get` for a 4 KiB blob that is on disk: (mean, p50, p99).
fn read_latency(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    n: usize,
) -> (Duration, Duration, Duration) {
    let data = Bytes::from(vec![7u8; 4096]);
    let desc = Descriptor::for_content("application/octet-stream", &data);
    rt.block_on(async {
        let cache = DiskCache::open(dir, config()).await.unwrap();
        cache.put(desc.clone(), data.clone()).await.unwrap();
        let mut times = Vec::with_capacity(n);
        let total = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            let got = cache.get(&desc.digest).unwrap();
            times.push(t.elapsed());
            assert_eq!(got.map(|b| b.len()), Some(4096));
        }
        let mean = total.elapsed() / n as u32;
        times.sort();
        cache.shutdown().await.unwrap();
        (mean, times[n / 2], times[n * 99 / 100])
    })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n_batched, n_baseline, n_reads) = if full {
        (20_000, 300, 100_000)
    } else {
        (300, 10, 1_000)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = std::env::var_os("VOUCH_BENCH_DIR").unwrap_or_else(|| std::env::temp_dir().into());

    let d1 = tempfile::tempdir_in(&base).unwrap();
    let batched_rate = batched(&rt, d1.path(), n_batched);
    let d2 = tempfile::tempdir_in(&base).unwrap();
    let baseline_rate = baseline(d2.path(), n_baseline);
    let d3 = tempfile::tempdir_in(&base).unwrap();
    let (mean, p50, p99) = read_latency(&rt, d3.path(), n_reads);

    println!("disk_cache figures ({})", Path::new(&base).display());
    println!(
        "  batched puts      : {n_batched} blobs of 256 B-4 KiB, {batched_rate:>10.0} writes/s (goal >= 20000)"
    );
    println!(
        "  lock-per-write    : {n_baseline} blobs of 256 B-4 KiB, {baseline_rate:>10.0} writes/s"
    );
    println!("  ratio             : {:.1}x", batched_rate / baseline_rate);
    println!(
        "  get 4 KiB disk hit: mean {mean:?}, p50 {p50:?}, p99 {p99:?} (goal <= 50 us), {n_reads} reads"
    );
    for (len, n) in [
        (4096, n_reads / 10),
        (1 << 20, if full { 2_000 } else { 20 }),
    ] {
        let d = tempfile::tempdir_in(&base).unwrap();
        let (get, read, hash) = digest_check_cost(&rt, d.path(), len, n);
        println!(
            "  digest check, {:>4} KiB: get {get:?} (checked), bare file read {read:?}, sha256 {hash:?}: the check is {:.0}% of a hit",
            len / 1024,
            100.0 * hash.as_secs_f64() / get.as_secs_f64()
        );
    }

    if full {
        let d4 = tempfile::tempdir_in(&base).unwrap();
        let data = Bytes::from(vec![9u8; 4096]);
        let desc = Descriptor::for_content("application/octet-stream", &data);
        let cache = rt.block_on(async {
            let cache = DiskCache::open(d4.path(), config()).await.unwrap();
            cache.put(desc.clone(), data).await.unwrap();
            cache
        });
        let mut c = Criterion::default().configure_from_args();
        c.bench_function("disk_cache/get_hit_4k", |b| {
            b.iter(|| cache.get(&desc.digest).unwrap())
        });
        c.bench_function("disk_cache/contains", |b| {
            b.iter(|| cache.contains(&desc.digest))
        });
        c.final_summary();
        rt.block_on(cache.shutdown()).unwrap();
    }
}
