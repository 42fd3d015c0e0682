//! Runtime overhead benchmark (`cargo bench -p vouch --bench runtime`; build the guests first with
//! `cargo xtask guests`). Prints:
//! 1. one verification of a no-op guest (fresh store + instantiate + call + drop), sequential;
//! 2. the same with 64 in flight on tokio (throughput);
//! 3. host `crypto` P-256 verify called from a guest vs the same verify in-process, native;
//! 4. resident memory of 1 000 live instances (all parked inside a store call at once).
//!
//! Figures are from one run on a shared machine: compare the ratios, not the absolute numbers.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "../../tests/support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared with the test binaries
#[path = "../../tests/support/layout.rs"]
mod layout;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use tokio::sync::Semaphore;
use vouch::crypto::{self, SignatureAlgorithm, SignatureEncoding};
use vouch::oci::{Descriptor, Digest};
use vouch::runtime::{Limits, Runtime, RuntimeConfig, VerifyInput};
use vouch::store::{LayoutStore, StoreAccess, StoreError};

/// A store whose `list_referrers` parks until the gate opens: keeps instances alive on purpose.
struct Gate {
    inner: LayoutStore,
    parked: AtomicUsize,
    open: Semaphore,
}

#[async_trait]
impl StoreAccess for Gate {
    async fn resolve(&self, r: &str) -> Result<Descriptor, StoreError> {
        self.inner.resolve(r).await
    }
    async fn list_referrers(
        &self,
        d: &Digest,
        t: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        self.parked.fetch_add(1, Ordering::SeqCst);
        let _p = self.open.acquire().await.expect("gate closed");
        self.inner.list_referrers(d, t).await
    }
    async fn get_manifest(&self, d: &Descriptor) -> Result<Bytes, StoreError> {
        self.inner.get_manifest(d).await
    }
    async fn get_blob(&self, d: &Descriptor) -> Result<Bytes, StoreError> {
        self.inner.get_blob(d).await
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = layout::LayoutBuilder::new(dir.path());
    let subject = b.image("v1", &[b"layer"]);
    let sig = b.referrer(
        &subject,
        "application/vnd.example.sig",
        &[("application/octet-stream", b"sig")],
        &[],
    );
    b.finish();
    let store = Arc::new(LayoutStore::open(dir.path(), Default::default()).unwrap());

    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 1100,
        max_concurrency: 1100,
        ..RuntimeConfig::default()
    })
    .unwrap();
    println!("pooling allocator: {}", runtime.is_pooling());
    let noop = runtime
        .load_file("noop", &guests::guest("noop"), Limits::default())
        .await
        .unwrap();
    let input = |store: Arc<dyn StoreAccess>, config: &str| VerifyInput {
        store,
        subject_reference: "bench.test/demo:v1".into(),
        subject: subject.clone(),
        artifact: sig.clone(),
        config: config.into(),
        cpu_quota: None,
    };
    let noop_input = input(store.clone(), "{}");

    // 1. Sequential.
    for _ in 0..2_000 {
        runtime.verify(&noop, noop_input.clone()).await.unwrap();
    }
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        let out = runtime.verify(&noop, noop_input.clone()).await.unwrap();
        assert!(out.report.is_success);
    }
    let seq = t.elapsed();
    let seq_us = seq.as_secs_f64() * 1e6 / n as f64;
    println!("noop verification, sequential: {seq_us:.1} µs/verification ({n} runs; goal ≤ 15 µs)");

    // 2. 64 in flight.
    let in_flight = 64;
    let per_task = 1_000;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (runtime, noop, inp) = (runtime.clone(), noop.clone(), noop_input.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_task {
                runtime.verify(&noop, inp.clone()).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total = (in_flight * per_task) as f64;
    let rate = total / t.elapsed().as_secs_f64();
    println!(
        "noop verification, {in_flight} in flight: {rate:.0} verifications/s (goal ≥ 25 000/s; {:.2}× the sequential rate)",
        rate / (1e6 / seq_us)
    );

    // 3. Host crypto from a guest vs native.
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let msg = b"a signed payload of modest size, like a notation JWS signing input";
    let signature = key.sign(&rng, msg).unwrap();
    let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    spki.extend_from_slice(key.public_key().as_ref());
    let k = 1_000u32;
    let native_round = || {
        let t = Instant::now();
        for _ in 0..k {
            crypto::verify_signature(
                SignatureAlgorithm::EcdsaP256Sha256,
                SignatureEncoding::Der,
                &spki,
                msg,
                signature.as_ref(),
            )
            .unwrap();
        }
        t.elapsed().as_secs_f64() * 1e6 / k as f64
    };
    let bench = runtime
        .load_file(
            "cryptobench",
            &guests::guest("cryptobench"),
            Limits {
                cpu_time: Duration::from_secs(30),
                wall_time: Duration::from_secs(30),
                host_calls: u64::MAX,
                ..Limits::default()
            },
        )
        .await
        .unwrap();
    let config = format!(
        "{k} {} {} {}",
        hex::encode(&spki),
        hex::encode(msg),
        hex::encode(signature.as_ref())
    );
    let crypto_input = input(store.clone(), &config);
    runtime.verify(&bench, crypto_input.clone()).await.unwrap();
    // Interleaved rounds, best of each: the machine is shared, and a burst of load during one
    // side's measurement would otherwise decide the ratio.
    let (mut native, mut guest) = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        native = native.min(native_round());
        let t = Instant::now();
        let out = runtime.verify(&bench, crypto_input.clone()).await.unwrap();
        assert!(out.report.is_success, "{}", out.report.message);
        guest = guest.min(t.elapsed().as_secs_f64() * 1e6 / k as f64);
    }
    println!(
        "P-256 verify: native {native:.1} µs, from a guest via host crypto {guest:.1} µs: {:.2}× (goal ≤ 1.2×; best of 5 interleaved rounds of {k})",
        guest / native
    );

    // 4. RSS of 1 000 live instances.
    let exerciser = runtime
        .load_file("exerciser", &guests::guest("exerciser"), Limits::default())
        .await
        .unwrap();
    let gate = Arc::new(Gate {
        inner: LayoutStore::open(dir.path(), Default::default()).unwrap(),
        parked: AtomicUsize::new(0),
        open: Semaphore::new(0),
    });
    let live = 1_000;
    let before = rss_bytes();
    let mut tasks = Vec::new();
    for _ in 0..live {
        let (runtime, v, inp) = (
            runtime.clone(),
            exerciser.clone(),
            input(gate.clone(), "{}"),
        );
        tasks.push(tokio::spawn(async move { runtime.verify(&v, inp).await }));
    }
    while gate.parked.load(Ordering::SeqCst) < live {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let during = rss_bytes();
    gate.open.add_permits(live);
    for task in tasks {
        assert!(task.await.unwrap().unwrap().report.is_success);
    }
    let delta = during.saturating_sub(before);
    println!(
        "RSS of {live} live instances (exerciser guest, parked in a store call): +{:.1} MiB total, {:.1} KiB per instance",
        delta as f64 / (1 << 20) as f64,
        delta as f64 / 1024.0 / live as f64
    );
}
