//! Memory of `vouch serve` under hostile input (issue 11): RSS before and after bursts of
//! requests whose registry lists a fan-out graph (the same 30 referrers under every node) or
//! 10 000 referrers, and after a storm of guests that allocate until their memory cap. The
//! registries are the test registry of `tests/support/fake.rs` on 127.0.0.1 (in this process);
//! the server is the release `vouch` binary.
//!
//! Prints, from one run: each burst's time per request and the server's RSS after it (with a
//! second's rest) as a ratio to its baseline (after start-up and warm-up requests on a benign
//! image). Goal: ≤ 1.5× after 100 hostile requests. Run with
//! `cargo bench -p vouch --bench hostile_memory` after `cargo xtask guests`.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "../../tests/support/guests.rs"]
mod guests;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::{Value, json};
use support::fake::TestRegistry;
use support::vouch_serve::{Server, VERIFY_PATH, provider_request};
use vouch::oci::Descriptor;
use vouch::oci::manifest::OCI_MANIFEST;

const REPO: &str = "app";
const SIG: &str = "application/vnd.test.signature";
/// Requests per burst.
const REQUESTS: usize = 100;
/// Requests in flight at once.
const CONCURRENCY: usize = 8;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// An image tagged `v1` in `reg`, with `signatures` referrers whose subject is it.
fn image(reg: &TestRegistry, signatures: usize) -> (Descriptor, Vec<Descriptor>) {
    let empty = reg.put_blob(REPO, "application/vnd.oci.empty.v1+json", b"{}");
    let layer = reg.put_blob(REPO, "application/octet-stream", b"layer");
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": empty.digest, "size": 2},
        "layers": [layer],
    });
    let subject = reg.put_manifest(
        REPO,
        Some("v1"),
        manifest.to_string().as_bytes(),
        OCI_MANIFEST,
    );
    let sigs = (0..signatures)
        .map(|n| {
            let blob = reg.put_blob(
                REPO,
                "application/octet-stream",
                format!("sig {n}").as_bytes(),
            );
            let m = json!({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SIG,
                "config": empty, "layers": [blob], "subject": subject,
            });
            reg.put_manifest(REPO, None, m.to_string().as_bytes(), OCI_MANIFEST)
        })
        .collect();
    (subject, sigs)
}

fn config(verifier: &str, limits: Value, hosts: &[&TestRegistry]) -> Value {
    let hosts: serde_json::Map<String, Value> = hosts
        .iter()
        .map(|r| (r.host(), json!({"insecure": true})))
        .collect();
    json!({
        "verifiers": [{
            "name": verifier,
            "path": guests::guest(verifier),
            "artifactTypes": ["*"],
            "limits": limits,
        }],
        "executor": {"resultCacheTtlMs": 0},
        "stores": {"registries": {"hosts": hosts}},
    })
}

/// Send `REQUESTS` requests for `keys` (round robin), `CONCURRENCY` at a time; the mean time per
/// request and how many items passed.
async fn burst(server: &Server, keys: &[String]) -> (Duration, usize) {
    let started = Instant::now();
    let passed: usize = futures::stream::iter(0..REQUESTS)
        .map(|i| {
            let key = keys[i % keys.len()].clone();
            async move {
                let (status, answer) = server
                    .post(VERIFY_PATH, provider_request(&[key.as_str()]))
                    .await;
                assert_eq!(status, 200, "{answer}");
                usize::from(answer["response"]["items"][0]["value"]["isSuccess"] == true)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    (started.elapsed() / REQUESTS as u32, passed)
}

/// RSS after a second's rest (time for deferred frees and decommits).
async fn settled_rss(server: &Server) -> u64 {
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.rss()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn run() {
    let benign = TestRegistry::start().await;
    image(&benign, 2);
    let fan_out = TestRegistry::start().await;
    let (_, sigs) = image(&fan_out, 30);
    fan_out.behave(|b| b.hostile_referrers = Some(sigs));
    let wide = TestRegistry::start().await;
    image(&wide, 0);
    let listed = support::fake::phantom_referrers(10_000, SIG);
    wide.behave(|b| {
        b.hostile_referrers = Some(listed);
        b.page_size = 500;
    });
    let key = |r: &TestRegistry| format!("{}/{REPO}:v1", r.host());
    let benign_keys = vec![key(&benign)];

    println!(
        "vouch serve RSS under hostile input ({REQUESTS} requests per burst, {CONCURRENCY} at once)"
    );
    // 1. Hostile graphs through the no-op verifier.
    let server = Server::start(&config("noop", json!({}), &[&benign, &fan_out, &wide])).await;
    let (_, ok) = burst(&server, &benign_keys).await;
    assert_eq!(ok, REQUESTS, "the benign image must pass");
    let baseline = settled_rss(&server).await;
    println!(
        "  baseline after {REQUESTS} benign requests: {:.1} MiB",
        mib(baseline)
    );
    for (name, keys) in [
        (
            "fan-out: the same 30 referrers under every node",
            vec![key(&fan_out)],
        ),
        ("10 000 referrers listed", vec![key(&wide)]),
        ("both, alternating", vec![key(&fan_out), key(&wide)]),
    ] {
        let (per_request, passed) = burst(&server, &keys).await;
        assert_eq!(passed, 0, "{name}: a hostile graph must fail");
        let rss = settled_rss(&server).await;
        println!(
            "  {name}: {:.2} ms/request, RSS {:.1} MiB = {:.2}× baseline",
            per_request.as_secs_f64() * 1e3,
            mib(rss),
            rss as f64 / baseline as f64
        );
    }
    drop(server);

    // 2. A storm of guests that allocate until their 64 MiB cap.
    let limits = json!({"memoryBytes": 64 << 20});
    let server = Server::start(&config("membomb", limits, &[&benign])).await;
    let noop = Server::start(&config("noop", json!({}), &[&benign])).await;
    burst(&noop, &benign_keys).await;
    let noop_rss = settled_rss(&noop).await;
    drop(noop);
    let (per_request, passed) = burst(&server, &benign_keys).await;
    assert_eq!(passed, 0, "membomb must hit its cap");
    let first = settled_rss(&server).await;
    let (_, _) = burst(&server, &benign_keys).await;
    let second = settled_rss(&server).await;
    println!(
        "  guest storm (membomb to its 64 MiB cap, 2 referrers per request): {:.2} ms/request; \
         RSS after one burst {:.1} MiB, after two {:.1} MiB = {:.2}× the no-op server's {:.1} MiB",
        per_request.as_secs_f64() * 1e3,
        mib(first),
        mib(second),
        second as f64 / noop_rss as f64,
        mib(noop_rss)
    );
}
