//! What authenticating the Redis tier costs per hit (issue 21: "authentication must add
//! ≤ 10 µs per hit").
//!
//! Run: `cargo bench -p vouch --bench redis_auth`. Starts Debian's `redis-server` on 127.0.0.1
//! (installed with apt-get when missing), writes one realistic verdict (the demo's four verifier
//! reports, one nested) through four tiers on it — `insecureUnauthenticated`, `authKeyFiles`
//! (HMAC), and `signedSummaries` with an ECDSA P-256 and an Ed25519 key — and reads it back
//! through each, in rotating rounds, so all see the same machine and the same Redis. Every read must be a hit (a fast miss cannot pass for
//! a cheap hit). Also prints the CPU cost of opening the value alone (envelope, MAC or signature, JSON) and of
//! sealing it, without the round trip.
//!
//! Environment: `VOUCH_BENCH_ROUNDS` (default 20) rounds of `VOUCH_BENCH_GETS` (default 2000)
//! reads per tier.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use support::redis::Redis;
use vouch::executor::redis_cache::auth::TierAuth;
use vouch::executor::redis_cache::{RedisCacheConfig, RedisTier, SignedSummariesConfig};
use vouch::oci::Digest;
use vouch::report::SubjectReport;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A verdict shaped like the demo's `demo:v1`: notation, cosign, an SBOM with its own notation
/// signature, and a vulnerability report.
fn verdict() -> SubjectReport {
    let report = |name: &str, artifact: &str, message: &str, nested: serde_json::Value| {
        json!({
            "subject": "registry.example/team/app@sha256:aef346cfd87b4ad2a3b1d5e0c5c4fd1b0a5e2c8b1c7d9e0f1a2b3c4d5e6f7a8b",
            "isSuccess": true,
            "name": name,
            "verifierName": name,
            "verifierType": name,
            "artifactType": artifact,
            "referenceDigest": Digest::sha256_of(name.as_bytes()).to_string(),
            "message": message,
            "extensions": {
                "signer": "CN=Vouch Test Signer, O=Vouch, C=US",
                "signingTime": "2026-01-01T00:00:00Z",
                "certificateChainSha256": ["4f1c1d7c1b0c2e5c9d3a8b7e6f5a4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3"],
            },
            "nestedResults": nested,
            "timings": { "totalMs": 8.4, "storeMs": 0.3, "guestMs": 7.9 },
        })
    };
    let sbom_sig = report(
        "notation",
        "application/vnd.cncf.notary.signature",
        "notation signature verified: signed by \"CN=Vouch Test Signer, O=Vouch, C=US\"",
        json!([]),
    );
    let value = json!({
        "subject": "registry.example/team/app:v1",
        "digest": "sha256:aef346cfd87b4ad2a3b1d5e0c5c4fd1b0a5e2c8b1c7d9e0f1a2b3c4d5e6f7a8b",
        "isSuccess": true,
        "message": "every artifact type required by the policy was verified",
        "verifierReports": [
            report("notation", "application/vnd.cncf.notary.signature", "notation signature verified: signed by \"CN=Vouch Test Signer, O=Vouch, C=US\"", json!([])),
            report("cosign", "application/vnd.dev.cosign.artifact.sig.v1+json", "cosign signature of sha256:aef3... verified with key `demo`", json!([])),
            report("sbom", "application/spdx+json", "SBOM passed: 2 packages, 2 distinct licenses", json!([sbom_sig])),
            report("vuln", "application/sarif+json", "1 findings, none denied", json!([])),
        ],
        "timings": { "totalMs": 15.6, "storeMs": 1.2, "guestMs": 14.1 },
        "cached": false,
    });
    serde_json::from_value(value).expect("a SubjectReport")
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let rounds = env("VOUCH_BENCH_ROUNDS", 20).max(1);
    let gets = env("VOUCH_BENCH_GETS", 2000).max(1);
    let redis = Redis::start();
    let key_file = redis.dir().join("bench-key");
    std::fs::write(
        &key_file,
        base64::engine::general_purpose::STANDARD.encode([0x5au8; 32]),
    )
    .unwrap();
    let base = |prefix: &str| RedisCacheConfig {
        key_prefix: prefix.into(),
        timeout_ms: 1000,
        ..RedisCacheConfig::new(redis.url())
    };
    let authenticated = RedisTier::new(
        &RedisCacheConfig {
            auth_key_files: vec![key_file],
            ..base("auth")
        },
        Path::new("/"),
    )
    .unwrap();
    let plain = RedisTier::new(
        &RedisCacheConfig {
            insecure_unauthenticated: true,
            ..base("plain")
        },
        Path::new("/"),
    )
    .unwrap();
    let signed = |prefix: &str, pkcs8: &[u8]| {
        let path = redis.dir().join(format!("{prefix}.key"));
        std::fs::write(&path, vouch::crypto::pem("PRIVATE KEY", pkcs8)).unwrap();
        RedisTier::new(
            &RedisCacheConfig {
                signed_summaries: Some(SignedSummariesConfig {
                    signing_key_file: Some(path),
                    trusted_key_files: Vec::new(),
                    verifier_id: None,
                }),
                ..base(prefix)
            },
            Path::new("/"),
        )
        .unwrap()
    };
    let rng = ring::rand::SystemRandom::new();
    let p256 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap();
    let ed25519 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let summary_p256 = signed("vsa-p256", p256.as_ref());
    let summary_ed25519 = signed("vsa-ed25519", ed25519.as_ref());
    let report = verdict();
    let json = serde_json::to_vec(&report).unwrap();
    let digest = Digest::sha256_of(b"bench subject");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tiers = [
        ("unauthenticated", &plain),
        ("HMAC-SHA-256", &authenticated),
        ("VSA ECDSA P-256", &summary_p256),
        ("VSA Ed25519", &summary_ed25519),
    ];
    let keys: Vec<String> = tiers
        .iter()
        .map(|(_, t)| t.key("oci-layout:/bench", &digest, FINGERPRINT))
        .collect();

    rt.block_on(async {
        for ((_, tier), key) in tiers.iter().zip(&keys) {
            tier.put(key.clone(), &report, Duration::from_secs(3600), FINGERPRINT);
            let deadline = Instant::now() + Duration::from_secs(10);
            while tier.stats().writes < 1 {
                assert!(Instant::now() < deadline, "the verdict was never written");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        // Warm up both connections and code paths.
        for ((_, tier), key) in tiers.iter().zip(&keys) {
            for _ in 0..gets {
                assert!(tier.get(key).await.is_some());
            }
        }
    });

    let mut per_hit: Vec<Vec<f64>> = vec![Vec::new(); tiers.len()];
    rt.block_on(async {
        for round in 0..rounds {
            // Rotate which tier goes first, so drift does not favour one.
            for j in 0..tiers.len() {
                let i = (round + j) % tiers.len();
                let (_, tier) = tiers[i];
                let t = Instant::now();
                for _ in 0..gets {
                    let (got, _) = tier.get(&keys[i]).await.expect("a hit");
                    std::hint::black_box(got);
                }
                per_hit[i].push(t.elapsed().as_secs_f64() * 1e6 / gets as f64);
            }
        }
    });
    for (name, tier) in &tiers {
        let s = tier.stats();
        assert_eq!(s.hits as usize, gets * (rounds + 1), "{name}: {s:?}");
        assert_eq!((s.misses, s.errors), (0, 0), "{name}: {s:?}");
    }

    // The CPU part alone: open (envelope + MAC + expiry) and parse, and seal.
    let now = 1_000;
    let iterations = 100_000;
    let mut cpu = Vec::new();
    for ((name, tier), key) in tiers.iter().zip(&keys) {
        let seal = || match tier.auth() {
            TierAuth::Mac(auth) => auth.seal(key, u64::MAX, &json),
            TierAuth::Signed(k) => k
                .seal(key, u64::MAX, &report, FINGERPRINT)
                .unwrap()
                .unwrap(),
        };
        let value = seal();
        // Signatures cost ~100x a MAC: fewer iterations give the same precision.
        let n = match tier.auth() {
            TierAuth::Mac(_) => iterations,
            TierAuth::Signed(_) => iterations / 50,
        };
        let t = Instant::now();
        for _ in 0..n {
            let r: SubjectReport = match tier.auth() {
                TierAuth::Mac(auth) => {
                    let opened = auth.open(key, &value, now).expect("authentic");
                    serde_json::from_slice(opened.verdict).unwrap()
                }
                TierAuth::Signed(k) => k.open(key, &value, now).expect("authentic").0,
            };
            std::hint::black_box(r);
        }
        let open_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(seal());
        }
        let seal_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        cpu.push((name, open_us, seal_us, value.len()));
    }

    let hit: Vec<f64> = per_hit.iter().map(|x| median(x.clone())).collect();
    println!(
        "redis hit (GET over loopback + open + parse), verdict {} bytes of JSON, median of {rounds} rounds x {gets} reads:",
        json.len()
    );
    for ((name, _), us) in tiers.iter().zip(&hit) {
        println!(
            "  {name:<16} {us:>8.2} µs/hit  ({:.2}x unauthenticated)",
            us / hit[0]
        );
    }
    let added = hit[1] - hit[0];
    println!(
        "  HMAC authentication adds {added:+.2} µs per hit (goal ≤ 10 µs): {}",
        if added <= 10.0 { "met" } else { "NOT met" }
    );
    println!(
        "  signed summaries add {:+.2} µs (P-256) and {:+.2} µs (Ed25519) per hit; a hit is cached \
         locally afterwards, so this is paid once per replica and verdict",
        hit[2] - hit[0],
        hit[3] - hit[0]
    );
    println!(
        "CPU alone ({iterations} iterations, {} for signatures; no round trip):",
        iterations / 50
    );
    for (name, open_us, seal_us, len) in &cpu {
        println!(
            "  {name:<16} open+parse {open_us:>7.2} µs   seal {seal_us:>7.2} µs   value {len} bytes"
        );
    }
    println!(
        "  HMAC adds {:+.2} µs to open+parse, {:+.2} µs to seal",
        cpu[1].1 - cpu[0].1,
        cpu[1].2 - cpu[0].2
    );
}

/// The executor fingerprint the bench's verdicts are stored under.
const FINGERPRINT: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
