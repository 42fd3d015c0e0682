//! Chaos test of the on-disk cache: several processes, each with several writer tasks, hammer
//! one cache directory with overlapping content while a killer SIGKILLs random processes.
//!
//! After every round: `index.json` parses, every blob it names exists with the right size and
//! digest, and every put a child acknowledged (before being killed or not) is in the index.
//!
//! The child processes are this test binary re-run on the ignored test `chaos_child` with
//! `VOUCH_CHAOS_*` variables. A child appends each acknowledged digest to its own file with a
//! single `write` per line: a SIGKILL cannot tear such a line, and the page cache survives the
//! kill of a process, so no fsync is needed for the parent to read every acknowledgement.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use vouch::oci::{Descriptor, Digest, Manifest};
use vouch::store::disk::{DiskCache, DiskCacheConfig};

const PROCESSES: usize = 4;
const TASKS: usize = 8;
const PUTS_PER_TASK: usize = 3;
const ROUNDS: usize = 200;
/// Keys shared by every process and round: most puts overlap.
const POOL: u64 = 64;

const ENV_DIR: &str = "VOUCH_CHAOS_DIR";
const ENV_ACKS: &str = "VOUCH_CHAOS_ACKS";
const ENV_ROUND: &str = "VOUCH_CHAOS_ROUND";
const ENV_PROC: &str = "VOUCH_CHAOS_PROC";

/// The content for a key: deterministic, 64 B to ~1 KiB.
fn content(key: &str) -> Bytes {
    let d = Digest::sha256_of(key.as_bytes());
    let len = 64 + (u64::from_str_radix(&d.hex()[..4], 16).unwrap() % 960) as usize;
    let mut data = format!("chaos:{key}:").into_bytes();
    let fill = d.hex().as_bytes().to_vec();
    while data.len() < len {
        data.extend_from_slice(&fill);
    }
    data.truncate(len);
    Bytes::from(data)
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// The child: `TASKS` tasks each put `PUTS_PER_TASK` blobs and record each acknowledgement.
#[test]
#[ignore = "run by disk_chaos_many_processes as a child process"]
fn chaos_child() {
    let dir = PathBuf::from(env(ENV_DIR));
    let acks = PathBuf::from(env(ENV_ACKS));
    let round: u64 = env(ENV_ROUND).parse().unwrap();
    let proc: u64 = env(ENV_PROC).parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let cache = DiskCache::open(&dir, DiskCacheConfig::default())
            .await
            .expect("open cache");
        let log = std::sync::Arc::new(std::sync::Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&acks)
                .expect("open ack file"),
        ));
        let mut tasks = Vec::new();
        for t in 0..TASKS as u64 {
            let cache = cache.clone();
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(round << 32 | proc << 16 | t);
                for i in 0..PUTS_PER_TASK {
                    let key = if rng.random_bool(0.99) {
                        format!("pool-{}", rng.random_range(0..POOL))
                    } else {
                        format!("unique-{round}-{proc}-{t}-{i}")
                    };
                    let data = content(&key);
                    let desc = Descriptor::for_content("application/octet-stream", &data);
                    cache.put(desc.clone(), data).await.expect("put");
                    let line = format!("{}\n", desc.digest);
                    log.lock()
                        .unwrap()
                        .write_all(line.as_bytes())
                        .expect("record ack");
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer task");
        }
        cache.shutdown().await.expect("shutdown");
    });
}

fn spawn_child(dir: &Path, acks: &Path, round: usize, proc: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "chaos_child", "--test-threads=1"])
        .env(ENV_DIR, dir)
        .env(ENV_ACKS, acks)
        .env(ENV_ROUND, round.to_string())
        .env(ENV_PROC, proc.to_string())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child")
}

#[derive(Default, Debug)]
struct Totals {
    rounds: usize,
    spawned: usize,
    killed: usize,
    acked: usize,
    verified_entries: usize,
    blobs_hashed: usize,
    lost: usize,
    corrupt: usize,
}

/// Check the directory; returns the digests the index names. Blobs already hashed in an
/// earlier round are only checked for presence and size (blob files are immutable).
fn verify(dir: &Path, hashed: &mut HashSet<Digest>, totals: &mut Totals) -> HashSet<Digest> {
    let bytes = match std::fs::read(dir.join("index.json")) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HashSet::new(),
        Err(e) => panic!("cannot read index.json: {e}"),
    };
    let index = match Manifest::parse(&bytes) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("CORRUPT: index.json does not parse: {e}");
            totals.corrupt += 1;
            return HashSet::new();
        }
    };
    let mut named = HashSet::new();
    for desc in &index.manifests {
        let path = dir
            .join("blobs")
            .join(desc.digest.algorithm().name())
            .join(desc.digest.hex());
        match std::fs::metadata(&path) {
            Ok(m) if m.len() == desc.size => {}
            Ok(m) => {
                eprintln!(
                    "CORRUPT: {} has {} bytes, index says {}",
                    desc.digest,
                    m.len(),
                    desc.size
                );
                totals.corrupt += 1;
                continue;
            }
            Err(e) => {
                eprintln!(
                    "CORRUPT: index names {} but its blob is missing: {e}",
                    desc.digest
                );
                totals.corrupt += 1;
                continue;
            }
        }
        if !hashed.contains(&desc.digest) {
            let data = std::fs::read(&path).unwrap();
            if !desc.digest.matches(&data) {
                eprintln!("CORRUPT: blob {} does not match its digest", desc.digest);
                totals.corrupt += 1;
                continue;
            }
            hashed.insert(desc.digest.clone());
            totals.blobs_hashed += 1;
        }
        named.insert(desc.digest.clone());
    }
    totals.verified_entries += index.manifests.len();
    named
}

#[test]
fn disk_chaos_many_processes() {
    let started = Instant::now();
    let dir = match std::env::var_os("VOUCH_CHAOS_TMPDIR") {
        Some(base) => tempfile::tempdir_in(base).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let cache_dir = dir.path().join("cache");
    let acks_dir = dir.path().join("acks");
    std::fs::create_dir_all(&acks_dir).unwrap();
    let seed: u64 = std::env::var("VOUCH_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("disk chaos seed {seed} (set VOUCH_CHAOS_SEED to replay the kill schedule)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut totals = Totals::default();
    let mut hashed = HashSet::new();
    let mut all_acked: HashSet<Digest> = HashSet::new();

    for round in 0..ROUNDS {
        let mut children = Vec::new();
        let t0 = Instant::now();
        for proc in 0..PROCESSES {
            let acks = acks_dir.join(format!("{round}-{proc}"));
            // Kill 0–2 processes per round, at a random moment of their life.
            children.push((
                spawn_child(&cache_dir, &acks, round, proc),
                acks,
                None::<Duration>,
            ));
        }
        totals.spawned += PROCESSES;
        let victims = rng.random_range(0..=2usize);
        for _ in 0..victims {
            let i = rng.random_range(0..PROCESSES);
            children[i].2 = Some(Duration::from_millis(rng.random_range(5..60)));
        }
        let mut schedule: Vec<(Duration, usize)> = children
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.2.map(|d| (d, i)))
            .collect();
        schedule.sort();
        let mut killed = HashSet::new();
        for (at, i) in schedule {
            if let Some(wait) = at.checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
            let child = &mut children[i].0;
            if child.try_wait().unwrap().is_none() {
                child.kill().expect("SIGKILL child");
                killed.insert(i);
            }
        }
        totals.killed += killed.len();

        let mut round_acked = HashSet::new();
        for (i, (child, acks, _)) in children.into_iter().enumerate() {
            let out = child.wait_with_output().unwrap();
            if !killed.contains(&i) {
                assert!(
                    out.status.success(),
                    "round {round}: child {i} failed ({}):\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let text = std::fs::read_to_string(&acks).unwrap_or_default();
            for line in text.lines() {
                let d: Digest = line.parse().unwrap_or_else(|e| {
                    panic!("round {round}: child {i} wrote a torn ack line `{line}`: {e}")
                });
                round_acked.insert(d);
                totals.acked += 1;
            }
        }
        all_acked.extend(round_acked);

        let named = verify(&cache_dir, &mut hashed, &mut totals);
        let lost: Vec<_> = all_acked.difference(&named).collect();
        if !lost.is_empty() {
            eprintln!(
                "round {round}: LOST {} acknowledged writes: {lost:?}",
                lost.len()
            );
        }
        totals.lost += lost.len();
        totals.rounds += 1;
    }

    // The last open cleans every temp directory left by killed processes.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp_left = rt.block_on(async {
        let cache = DiskCache::open(&cache_dir, DiskCacheConfig::default())
            .await
            .unwrap();
        for d in all_acked.iter().take(50) {
            assert!(cache.get(d).unwrap().is_some(), "acked {d} unreadable");
        }
        let left = std::fs::read_dir(cache_dir.join("tmp")).unwrap().count();
        cache.shutdown().await.unwrap();
        left
    });

    println!(
        "disk chaos: rounds={} processes={} tasks/process={} killed={} acked={} distinct_acked={} \
         verified_entries={} blobs_hashed={} lost={} corrupt={} tmp_entries_after_reopen={} in {:.1?}",
        totals.rounds,
        totals.spawned,
        TASKS,
        totals.killed,
        totals.acked,
        all_acked.len(),
        totals.verified_entries,
        totals.blobs_hashed,
        totals.lost,
        totals.corrupt,
        tmp_left,
        started.elapsed()
    );
    assert!(totals.rounds >= 200);
    assert!(totals.killed > 0, "the killer never killed a writer");
    assert!(totals.acked > 0);
    assert_eq!(totals.lost, 0, "acknowledged writes were lost");
    assert_eq!(totals.corrupt, 0, "the cache directory was corrupt");
    // Only the reopening instance's own lock file and directory are left.
    assert_eq!(
        tmp_left, 2,
        "temp entries of dead processes survived the cleanup at open"
    );
}
