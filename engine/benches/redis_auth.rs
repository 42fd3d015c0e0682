//! What authenticating the Redis tier costs per hit (issue 21: "authentication must add
//! ≤ 10 µs per hit").
//!
//! Run: `cargo bench -p vouch --bench redis_auth`. Starts Debian's `redis-server` on 127.0.0.1
//! (installed with apt-get when missing), writes one realistic verdict (the demo's four verifier
//! reports, one nested) through two tiers on it — one with `authKeyFiles`, one
//! `insecureUnauthenticated` — and reads it back through each, in alternating rounds, so both
//! see the same machine and the same Redis. Every read must be a hit (a fast miss cannot pass for
//! a cheap hit). Also prints the CPU cost of opening the value alone (envelope, MAC, JSON) and of
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
use vouch::executor::redis_cache::auth::ValueAuth;
use vouch::executor::redis_cache::{RedisCacheConfig, RedisTier};
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
    ];
    let keys: Vec<String> = tiers
        .iter()
        .map(|(_, t)| t.key("oci-layout:/bench", &digest, "sha256:fingerprint"))
        .collect();

    rt.block_on(async {
        for ((_, tier), key) in tiers.iter().zip(&keys) {
            tier.put(key.clone(), &report, Duration::from_secs(3600));
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

    let mut per_hit: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    rt.block_on(async {
        for round in 0..rounds {
            // Alternate which tier goes first, so drift does not favour one.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
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
    for (name, tier) in &tiers {
        let auth: &ValueAuth = tier.auth();
        let value = auth.seal(&keys[0], u64::MAX, &json);
        let t = Instant::now();
        for _ in 0..iterations {
            let opened = auth.open(&keys[0], &value, now).expect("authentic");
            let r: SubjectReport = serde_json::from_slice(opened.verdict).unwrap();
            std::hint::black_box(r);
        }
        let open_us = t.elapsed().as_secs_f64() * 1e6 / iterations as f64;
        let t = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(auth.seal(&keys[0], u64::MAX, &json));
        }
        let seal_us = t.elapsed().as_secs_f64() * 1e6 / iterations as f64;
        cpu.push((name, open_us, seal_us));
    }

    let plain_us = median(per_hit[0].clone());
    let auth_us = median(per_hit[1].clone());
    println!(
        "redis hit (GET over loopback + open + parse), verdict {} bytes of JSON, median of {rounds} rounds x {gets} reads:",
        json.len()
    );
    println!("  {:<16} {plain_us:>8.2} µs/hit", tiers[0].0);
    println!("  {:<16} {auth_us:>8.2} µs/hit", tiers[1].0);
    let added = auth_us - plain_us;
    println!(
        "  authentication adds {added:+.2} µs per hit (goal ≤ 10 µs): {}",
        if added <= 10.0 { "met" } else { "NOT met" }
    );
    println!("CPU alone ({iterations} iterations, no round trip):");
    for (name, open_us, seal_us) in &cpu {
        println!("  {name:<16} open+parse {open_us:>7.2} µs   seal {seal_us:>7.2} µs");
    }
    println!(
        "  authentication adds {:+.2} µs to open+parse, {:+.2} µs to seal",
        cpu[1].1 - cpu[0].1,
        cpu[1].2 - cpu[0].2
    );
}
