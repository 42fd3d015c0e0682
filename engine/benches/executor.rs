//! The workload from Ratify's concurrency design note: 4 images × 5 notation signatures = 20
//! signature verifications, against Debian's `docker-registry` on 127.0.0.1 (referrers through the
//! tag fallback). Run with `cargo bench -p vouch --bench executor` after `cargo xtask guests`.
//!
//! Prints, from one run:
//! - Vouch cold (fresh caches; verifiers loaded once, as a server does), 4 subjects concurrently,
//!   and cold sequential (concurrency 1, one subject after the other): the ratio shows the
//!   concurrency at work;
//! - Vouch warm (result cache), per 4-subject batch, in process;
//! - the plugin model Ratify v1 uses, side by side: one OS process per verification that reads
//!   its input as JSON on stdin and rebuilds its own registry client (no shared cache), running
//!   the same notation verifier logic compiled natively (this binary re-executed in plugin mode);
//! - the registry I/O floor (the same requests, no verifying), measured in the same rounds, and
//!   the upstream requests per cold signed subject (issue 16: cold ≤ 1.15× the floor);
//! - the notation verifier as a wasm guest vs the same checks run natively in process (issue 16:
//!   "guest ≤ 1.3× native", "≤ 2.5× the raw signature verify"), natively also with the runtime's
//!   crypto memo, and the raw signature verify itself.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "../../tests/support/guests.rs"]
mod guests;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::json;
use support::registry::Registry;
use verifier_notation::verify::{
    self as nv, CertInfo, Desc, HashAlg, Host, LogLevel, SigAlg, SigEncoding,
};
use vouch::config::{Config, VerifierConfig};
use vouch::crypto::{self, DigestAlgorithm, SignatureAlgorithm, SignatureEncoding};
use vouch::executor::{ExecVerifier, Executor, Settings};
use vouch::oci::registry::RegistryClient;
use vouch::oci::{Descriptor, Digest, Manifest, Reference};
use vouch::runtime::{Runtime, RuntimeConfig, VerifyInput};
use vouch::store::{StoreAccess, StoreError};
use xtask::fixtures::notation as fx;

const IMAGES: usize = 4;
const SIGNATURES: usize = 5;
const REPO: &str = "bench";
const PLUGIN_ENV: &str = "VOUCH_BENCH_PLUGIN";

fn main() {
    if std::env::var_os(PLUGIN_ENV).is_some() {
        plugin_main();
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// One verification handed to a plugin process.
#[derive(serde::Serialize, serde::Deserialize)]
struct PluginInput {
    reference: String,
    subject: Descriptor,
    artifact: Descriptor,
    config: String,
}

/// Native implementation of the notation verifier's imports: registry reads and host crypto
/// (through `cache` when given: the same memo the runtime answers guests with).
struct NativeHost {
    manifest: Vec<u8>,
    blobs: Vec<(String, Vec<u8>)>,
    cache: Option<crypto::CryptoCache>,
}

impl verifier_notation::verify::Crypto for NativeHost {
    fn verify_signature(
        &self,
        alg: SigAlg,
        encoding: SigEncoding,
        cert: &[u8],
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        let alg = match alg {
            SigAlg::EcdsaP256Sha256 => SignatureAlgorithm::EcdsaP256Sha256,
            SigAlg::EcdsaP384Sha384 => SignatureAlgorithm::EcdsaP384Sha384,
            SigAlg::RsaPkcs1Sha256 => SignatureAlgorithm::RsaPkcs1Sha256,
            SigAlg::RsaPkcs1Sha384 => SignatureAlgorithm::RsaPkcs1Sha384,
            SigAlg::RsaPkcs1Sha512 => SignatureAlgorithm::RsaPkcs1Sha512,
            SigAlg::RsaPssSha256 => SignatureAlgorithm::RsaPssSha256,
            SigAlg::RsaPssSha384 => SignatureAlgorithm::RsaPssSha384,
            SigAlg::RsaPssSha512 => SignatureAlgorithm::RsaPssSha512,
            SigAlg::Ed25519 => SignatureAlgorithm::Ed25519,
        };
        let enc = match encoding {
            SigEncoding::Der => SignatureEncoding::Der,
            SigEncoding::Fixed => SignatureEncoding::Fixed,
        };
        crypto::verify_signature(alg, enc, cert, msg, sig).map_err(|e| e.to_string())
    }
    fn digest(&self, alg: HashAlg, data: &[u8]) -> Vec<u8> {
        let alg = match alg {
            HashAlg::Sha256 => DigestAlgorithm::Sha256,
            HashAlg::Sha384 => DigestAlgorithm::Sha384,
            HashAlg::Sha512 => DigestAlgorithm::Sha512,
        };
        crypto::digest(alg, data)
    }
    fn verify_chain(
        &self,
        chain: &[Vec<u8>],
        roots: &[Vec<u8>],
        at: i64,
        eku: Option<&str>,
    ) -> Result<Vec<CertInfo>, String> {
        match &self.cache {
            Some(cache) => cache
                .verify_chain(chain, roots, at, eku)
                .map(|v| v.iter().cloned().map(cert_info).collect()),
            None => crypto::verify_chain(chain, roots, at, eku)
                .map(|v| v.into_iter().map(cert_info).collect()),
        }
        .map_err(|e| e.to_string())
    }
}

impl Host for NativeHost {
    fn manifest(&self) -> Result<Vec<u8>, String> {
        Ok(self.manifest.clone())
    }
    fn blob(&self, digest: &str) -> Result<Vec<u8>, String> {
        self.blobs
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| format!("not found: {digest}"))
    }
    fn parse_certificate(&self, der: &[u8]) -> Result<CertInfo, String> {
        match &self.cache {
            Some(cache) => cache.parse_certificate(der),
            None => crypto::parse_certificate(der),
        }
        .map(cert_info)
        .map_err(|e| e.to_string())
    }
    fn log(&self, _level: LogLevel, _msg: &str) {}
}

fn cert_info(c: crypto::CertInfo) -> CertInfo {
    CertInfo {
        subject: c.subject,
        issuer: c.issuer,
        serial: c.serial,
        not_before: c.not_before,
        not_after: c.not_after,
    }
}

fn now() -> i64 {
    fx::unix_now()
}

fn native_verify(host: &NativeHost, config: &str, reference: &str, subject: &Descriptor) -> bool {
    let config = verifier_notation::policy::parse(config, &|der| {
        nv::Host::parse_certificate(host, der).map(|_| ())
    })
    .expect("valid notation config");
    let subject = Desc {
        media_type: subject.media_type.clone(),
        digest: subject.digest.to_string(),
        size: subject.size,
    };
    nv::verify(host, &config, reference, &subject, now()).ok
}

/// Plugin mode: one verification, input on stdin, verdict on stdout, a fresh client each time.
fn plugin_main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).unwrap();
    let input: PluginInput = serde_json::from_str(&input).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reference: Reference = input.reference.parse().unwrap();
    let client = RegistryClient::new(Default::default()).unwrap();
    let host = rt.block_on(async {
        let manifest = client
            .get_manifest(&reference, &input.artifact)
            .await
            .unwrap();
        let parsed = Manifest::parse(&manifest).unwrap();
        let mut blobs = Vec::new();
        for layer in &parsed.layers {
            let b = client.get_blob(&reference, layer).await.unwrap();
            blobs.push((layer.digest.to_string(), b.to_vec()));
        }
        NativeHost {
            manifest: manifest.to_vec(),
            blobs,
            cache: None,
        }
    });
    let ok = native_verify(&host, &input.config, &input.reference, &input.subject);
    println!("{}", json!({"isSuccess": ok}));
}

struct Fixture {
    _registry: Registry,
    subjects: Vec<String>,
    notation_config: String,
}

async fn setup() -> Fixture {
    let registry = Registry::start();
    let chain = fx::test_chain(&fx::ChainOptions::valid_now()).unwrap();
    let mut subjects = Vec::new();
    for i in 0..IMAGES {
        let layer = format!("layer of image {i}");
        subjects.push(
            registry
                .push_notation_signed(REPO, &format!("v{i}"), layer.as_bytes(), SIGNATURES, &chain)
                .await,
        );
    }
    let notation_config = json!({
        "trustPolicy": {"version": "1.0", "trustPolicies": [{
            "name": "bench", "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:bench"],
            "trustedIdentities": [chain_identity()],
        }]},
        "trustStores": {"ca": {"bench": [chain.root_pem]}},
    })
    .to_string();
    Fixture {
        _registry: registry,
        subjects,
        notation_config,
    }
}

fn chain_identity() -> String {
    fx::ChainOptions::valid_now().leaf_subject.identity()
}

/// Requests counted by a client, whatever their status.
fn request_total(counts: &[(String, String, u64)]) -> u64 {
    counts.iter().map(|(_, _, n)| n).sum()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn run() {
    let f = setup().await;
    let config = Config {
        verifiers: vec![VerifierConfig {
            name: "notation".into(),
            path: guests::verifier("notation"),
            signature_key: None,
            artifact_types: None,
            limits: Default::default(),
            config: Some(serde_json::from_str(&f.notation_config).unwrap()),
            image_references: None,
            skip_image_references: Vec::new(),
        }],
        ..Config::default()
    };
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 64,
        max_concurrency: 64,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let verifiers: Vec<ExecVerifier> = vouch::app::load_verifiers(&runtime, &config).await.unwrap();
    let sources = support::registry_sources;
    let settings = |concurrency: usize, max_depth: u32| Settings {
        concurrency,
        max_depth,
        ..Settings::from(&config.executor)
    };
    let check = |r: &vouch::report::SubjectReport| {
        assert!(r.is_success, "{}", r.message);
        assert_eq!(r.verifier_reports.len(), SIGNATURES);
    };
    let rounds = 15;

    // Cold: fresh caches (a new client, sources and executor per round). Depth 0 does the same
    // work as the plugin model below; the default depth also looks for referrers of every
    // signature (nested verification), one more registry round trip each.
    let mut cold = Vec::new();
    let mut cold_nested = Vec::new();
    let mut cold_seq = Vec::new();
    let mut floor = Vec::new();
    let mut floor_requests = 0;
    // Upstream requests of one cold round (every round makes the same), at depth 0 and 3.
    let mut requests = [0, 0];
    for _ in 0..rounds {
        for (i, (depth, out)) in [(0, &mut cold), (3, &mut cold_nested)]
            .into_iter()
            .enumerate()
        {
            let (s, e) = (
                sources(),
                Executor::new(runtime.clone(), verifiers.clone(), settings(64, depth)),
            );
            let t = Instant::now();
            let reports = futures::future::join_all(
                f.subjects
                    .iter()
                    .map(|sub| e.verify(s.registry(sub).unwrap())),
            )
            .await;
            out.push(t.elapsed());
            reports.iter().for_each(check);
            requests[i] = request_total(&s.registry_requests());
        }

        let (s, e) = (
            sources(),
            Executor::new(runtime.clone(), verifiers.clone(), settings(1, 0)),
        );
        let t = Instant::now();
        for sub in &f.subjects {
            check(&e.verify(s.registry(sub).unwrap()).await);
        }
        cold_seq.push(t.elapsed());

        // The floor, in the same round (so a shared machine's load weighs on both alike): the
        // same registry requests with the same dependencies (resolve → referrers → manifest →
        // blob), fresh client, no verification at all. Referrers are asked for notation
        // signatures, as the executor does for a notation-only configuration.
        let client = RegistryClient::new(Default::default()).unwrap();
        let t = Instant::now();
        futures::future::join_all(f.subjects.iter().map(|sub| {
            let client = &client;
            async move {
                let r: Reference = sub.parse().unwrap();
                let subject = client.resolve(&r, &r.tag_or_digest()).await.unwrap();
                let refs = client
                    .referrers(&r, &subject.digest, Some(fx::SIGNATURE_ARTIFACT_TYPE))
                    .await
                    .unwrap();
                futures::future::join_all(refs.iter().map(|a| {
                    let r = &r;
                    async move {
                        let m = client.get_manifest(r, a).await.unwrap();
                        let m = Manifest::parse(&m).unwrap();
                        client.get_blob(r, &m.layers[0]).await.unwrap();
                    }
                }))
                .await;
            }
        }))
        .await;
        floor.push(t.elapsed());
        floor_requests = request_total(&client.request_counts());
    }
    let (cold, cold_nested, cold_seq) = (median(cold), median(cold_nested), median(cold_seq));
    let floor = median(floor);

    // Warm: the same executor again (result cache).
    let (s, e) = (
        sources(),
        Executor::new(runtime.clone(), verifiers.clone(), settings(64, 3)),
    );
    for sub in &f.subjects {
        check(&e.verify(s.registry(sub).unwrap()).await);
    }
    let n = 2_000;
    let t = Instant::now();
    for _ in 0..n {
        for sub in &f.subjects {
            let r = e.verify(s.registry(sub).unwrap()).await;
            assert!(r.cached);
        }
    }
    let warm = t.elapsed() / n;

    // The plugin model: a process per verification, its own client, no shared cache.
    let exe = std::env::current_exe().unwrap();
    let mut plugin = Vec::new();
    for _ in 0..5 {
        let client = RegistryClient::new(Default::default()).unwrap();
        let t = Instant::now();
        let mut children = Vec::new();
        for sub in &f.subjects {
            let reference: Reference = sub.parse().unwrap();
            let subject = client
                .resolve(&reference, &reference.tag_or_digest())
                .await
                .unwrap();
            let refs = client
                .referrers(&reference, &subject.digest, None)
                .await
                .unwrap();
            for artifact in refs {
                let input = PluginInput {
                    reference: sub.clone(),
                    subject: subject.clone(),
                    artifact,
                    config: f.notation_config.clone(),
                };
                let mut child = Command::new(&exe)
                    .env(PLUGIN_ENV, "1")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(&serde_json::to_vec(&input).unwrap())
                    .unwrap();
                children.push(child);
            }
        }
        assert_eq!(children.len(), IMAGES * SIGNATURES);
        let outputs: Vec<_> = tokio::task::spawn_blocking(move || {
            children
                .into_iter()
                .map(|c| c.wait_with_output().unwrap())
                .collect()
        })
        .await
        .unwrap();
        plugin.push(t.elapsed());
        for o in outputs {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(
                v["isSuccess"],
                true,
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    let plugin = median(plugin);

    println!(
        "workload: {IMAGES} images × {SIGNATURES} notation signatures = {} verifications, registry on loopback",
        IMAGES * SIGNATURES
    );
    println!(
        "vouch cold, concurrent:   {:8.2} ms (Ratify's note: 2700–3300 ms)",
        ms(cold)
    );
    println!(
        "vouch cold, sequential:   {:8.2} ms (concurrent is {:.2}× faster)",
        ms(cold_seq),
        ms(cold_seq) / ms(cold)
    );
    println!(
        "vouch cold, nested check: {:8.2} ms (also lists each signature's referrers)",
        ms(cold_nested)
    );
    println!(
        "registry I/O floor:       {:8.2} ms (the same requests, no verification: vouch cold is {:.2}× the floor; goal ≤ 1.15×)",
        ms(floor),
        ms(cold) / ms(floor)
    );
    let per_subject = |n: u64| n as f64 / IMAGES as f64;
    println!(
        "upstream requests per cold signed subject ({SIGNATURES} signatures): vouch {:.2}, nested check {:.2}, floor {:.2}",
        per_subject(requests[0]),
        per_subject(requests[1]),
        per_subject(floor_requests)
    );
    println!(
        "vouch warm (result cache): {:7.1} µs per 4-subject batch (goal ≤ 100 µs)",
        warm.as_secs_f64() * 1e6
    );
    println!(
        "process-per-verification:  {:7.2} ms (vouch is {:.1}× faster cold, {:.0}× faster warm)",
        ms(plugin),
        ms(plugin) / ms(cold),
        plugin.as_secs_f64() / warm.as_secs_f64()
    );

    // The notation checks: wasm guest vs native, same signature, content already in memory.
    native_vs_guest(&f, &runtime, &verifiers[0]).await;
}

/// A store over bytes already fetched, so only the verifier's own work is compared.
struct MemStore {
    manifest: Bytes,
    blobs: Vec<(Digest, Bytes)>,
}

#[async_trait]
impl StoreAccess for MemStore {
    async fn resolve(&self, r: &str) -> Result<Descriptor, StoreError> {
        Err(StoreError::NotFound(r.into()))
    }
    async fn list_referrers(
        &self,
        _: &Digest,
        _: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        Ok(Vec::new())
    }
    async fn get_manifest(&self, _: &Descriptor) -> Result<Bytes, StoreError> {
        Ok(self.manifest.clone())
    }
    async fn get_blob(&self, d: &Descriptor) -> Result<Bytes, StoreError> {
        self.blobs
            .iter()
            .find(|(digest, _)| *digest == d.digest)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| StoreError::NotFound(d.digest.to_string()))
    }
}

async fn native_vs_guest(f: &Fixture, runtime: &Runtime, notation: &ExecVerifier) {
    let client = RegistryClient::new(Default::default()).unwrap();
    let reference: Reference = f.subjects[0].parse().unwrap();
    let subject = client
        .resolve(&reference, &reference.tag_or_digest())
        .await
        .unwrap();
    let artifact = client
        .referrers(&reference, &subject.digest, None)
        .await
        .unwrap()
        .remove(0);
    let manifest = client.get_manifest(&reference, &artifact).await.unwrap();
    let parsed = Manifest::parse(&manifest).unwrap();
    let mut blobs = Vec::new();
    for l in &parsed.layers {
        blobs.push((
            l.digest.clone(),
            client.get_blob(&reference, l).await.unwrap(),
        ));
    }
    let host = NativeHost {
        manifest: manifest.to_vec(),
        blobs: blobs
            .iter()
            .map(|(d, b)| (d.to_string(), b.to_vec()))
            .collect(),
        cache: None,
    };
    // The same checks natively with the memo the runtime answers guests with (a fresh one,
    // warmed by the first call as the guest's is).
    let cached_host = NativeHost {
        cache: Some(crypto::CryptoCache::new()),
        manifest: host.manifest.clone(),
        blobs: host.blobs.clone(),
    };
    // The raw signature check: the envelope's one signature verified with the leaf's key.
    let envelope = verifier_notation::envelope::parse(&host.blobs[0].1).expect("a JWS envelope");
    let (alg, encoding) = envelope.alg.host_alg();
    let store: Arc<dyn StoreAccess> = Arc::new(MemStore { manifest, blobs });
    let input = VerifyInput {
        store,
        subject_reference: f.subjects[0].clone(),
        subject: subject.clone(),
        artifact,
        config: notation.config.clone(),
        cpu_quota: None,
    };
    let n = 300;
    let (mut native, mut native_cached, mut guest, mut raw) =
        (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
    let mut crypto_share = 0.0;
    let per_call = |t: Instant| t.elapsed().as_secs_f64() * 1e6 / n as f64;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            nv::Crypto::verify_signature(
                &host,
                alg,
                encoding,
                &envelope.chain[0],
                &envelope.signing_input,
                &envelope.signature,
            )
            .expect("the signature verifies");
        }
        raw = raw.min(per_call(t));
        for (h, out) in [(&host, &mut native), (&cached_host, &mut native_cached)] {
            let t = Instant::now();
            for _ in 0..n {
                assert!(native_verify(
                    h,
                    &f.notation_config,
                    &f.subjects[0],
                    &subject
                ));
            }
            *out = out.min(per_call(t));
        }
        let t = Instant::now();
        let mut crypto_time = Duration::ZERO;
        for _ in 0..n {
            let out = runtime
                .verify(&notation.verifier, input.clone())
                .await
                .unwrap();
            assert!(out.report.is_success, "{}", out.report.message);
            crypto_time += out.stats.crypto_time;
        }
        let g = per_call(t);
        if g < guest {
            guest = g;
            crypto_share = crypto_time.as_secs_f64() * 1e6 / n as f64;
        }
    }
    println!(
        "notation verify, one signature: native {native:.1} µs, wasm guest {guest:.1} µs ({crypto_share:.1} µs of it host crypto): {:.2}× (goal ≤ 1.3×)",
        guest / native
    );
    println!(
        "  native with the runtime's crypto memo: {native_cached:.1} µs (the guest is {:.2}× that)",
        guest / native_cached
    );
    println!(
        "  raw signature verify ({:?}, leaf certificate as key): {raw:.1} µs; the guest's whole verification is {:.2}× it (goal ≤ 2.5×)",
        envelope.alg,
        guest / raw
    );
    let c = runtime.crypto_cache().stats();
    println!(
        "  runtime crypto memo: chains {} hits / {} misses, certificates {} hits / {} misses",
        c.chain_hits, c.chain_misses, c.cert_hits, c.cert_misses
    );
}
