//! Tests of the disk cache: durability, concurrency between processes, corruption, GC.

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
