//! End to end against a real registry: the committed demo (`examples/`, made by
//! `cargo xtask example`) is pushed to Debian's `docker-registry` on 127.0.0.1 (which has no
//! referrers API, so referrers are found through the `sha256-<hex>` tag fallback), then verified
//! with the shipped `.wasm` verifiers through the library and through the `vouch` binary.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use std::process::Command;

use support::demo::{REPO, push_demo};
use support::registry::Registry;
use vouch::config::Config;
use vouch::executor::{Executor, Settings};
use vouch::runtime::{Runtime, RuntimeConfig};
use vouch::store::sources::Sources;

fn demo_config() -> Config {
    support::demo::demo_config(guests::verifier)
}

async fn executor(config: &Config) -> Executor {
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 32,
        max_concurrency: 32,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let verifiers = vouch::app::load_verifiers(&runtime, config).await.unwrap();
    let policy = vouch::app::policy::from_config(config).unwrap();
    Executor::new(runtime, verifiers, Settings::from(&config.executor)).with_policy(policy)
}

fn sources(config: &Config) -> Sources {
    Sources::new(
        config.stores.registries.client().unwrap(),
        config.stores.cache.clone(),
        None,
        config.stores.layouts.limits(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_pushed_to_a_real_registry_verifies_through_the_tag_fallback() {
    let registry = Registry::start();
    push_demo(&registry).await;
    let config = demo_config();
    let exec = executor(&config).await;
    let sources = sources(&config);

    let v1 = registry.reference(REPO, "v1");
    let report = exec.verify(sources.registry(&v1).unwrap()).await;
    assert!(
        report.is_success,
        "{}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    let names: Vec<&str> = report
        .verifier_reports
        .iter()
        .map(|r| r.verifier_name.as_str())
        .collect();
    for v in ["notation", "cosign", "sbom", "vuln"] {
        assert!(names.contains(&v), "{v} missing from {names:?}");
    }
    // The SBOM's own signature is verified as a nested result.
    let sbom = report
        .verifier_reports
        .iter()
        .find(|r| r.verifier_name == "sbom")
        .unwrap();
    assert!(
        sbom.nested_results
            .iter()
            .any(|n| n.verifier_name == "notation" && n.is_success)
    );
    assert!(!report.cached);

    // Second run: a result-cache hit, keyed by digest (the tag was resolved first).
    let again = exec.verify(sources.registry(&v1).unwrap()).await;
    assert!(again.is_success && again.cached);

    let v2 = registry.reference(REPO, "v2");
    let report = exec.verify(sources.registry(&v2).unwrap()).await;
    assert!(!report.is_success);
    let notation = report
        .verifier_reports
        .iter()
        .find(|r| r.verifier_name == "notation")
        .unwrap();
    assert_eq!(notation.error_reason.as_deref(), Some("SIGNATURE_INVALID"));

    // An unknown tag is a failed subject naming the problem, not a crash.
    let missing = registry.reference(REPO, "nope");
    let report = exec.verify(sources.registry(&missing).unwrap()).await;
    assert!(!report.is_success);
    assert!(
        report.message.contains("nope") || report.message.contains("not found"),
        "{}",
        report.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vouch_binary_verifies_registry_subjects() {
    let registry = Registry::start();
    push_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("vouch.json");
    std::fs::write(&config_path, serde_json::to_vec(&demo_config()).unwrap()).unwrap();

    let run = |subject: &str| {
        Command::new(env!("CARGO_BIN_EXE_vouch"))
            .args(["verify", subject, "--config"])
            .arg(&config_path)
            .args(["--output", "json"])
            .output()
            .unwrap()
    };
    let out = run(&registry.reference(REPO, "v1"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["isSuccess"], true);
    assert!(json["verifierReports"].as_array().unwrap().len() >= 4);

    let out = run(&registry.reference(REPO, "v2"));
    assert_eq!(out.status.code(), Some(1));

    let out = run("Not A Reference");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid reference"));

    // discover shows the graph without verifying.
    let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args([
            "discover",
            &registry.reference(REPO, "v1"),
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["referrers"].as_array().unwrap().len(), 4);
}

/// Issue 11 item 6: content a short `vouch verify` run read from the registry is in the disk
/// cache's index when the process has exited — every time, not only when the background writes
/// happened to win the race with the exit. Each run starts from an empty cache.
#[test]
fn short_cli_runs_leave_what_they_read_in_the_disk_cache() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = Registry::start();
    rt.block_on(push_demo(&registry));
    // Every referrer manifest of the demo is read by a verifier (the subject's own manifest is
    // only resolved), so each must be in the index after a run.
    let layout =
        vouch::oci::OciLayout::open(support::demo::examples().join("demo-layout")).unwrap();
    let v1 = layout.resolve("v1").unwrap().digest;
    let mut referrers = Vec::new();
    for r in layout.referrers(&v1, None).unwrap() {
        for nested in layout.referrers(&r.digest, None).unwrap() {
            referrers.push(nested.digest.to_string());
        }
        referrers.push(r.digest.to_string());
    }
    assert_eq!(referrers.len(), 5, "{referrers:?}");
    let dir = tempfile::tempdir().unwrap();
    for run in 0..4 {
        let cache = dir.path().join(format!("cache-{run}"));
        let mut config = demo_config();
        config.stores.disk_cache = Some(cache.clone());
        let config_path = dir.path().join(format!("vouch-{run}.json"));
        std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
            .args(["verify", &registry.reference(REPO, "v1"), "--config"])
            .arg(&config_path)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(cache.join("index.json")).unwrap()).unwrap();
        let indexed: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["digest"].as_str().unwrap())
            .collect();
        for digest in &referrers {
            assert!(
                indexed.contains(&digest.as_str()),
                "run {run}: {digest} missing from the disk cache index {indexed:?}"
            );
        }
        for digest in &indexed {
            let hex = digest.strip_prefix("sha256:").unwrap();
            assert!(cache.join("blobs/sha256").join(hex).is_file(), "{digest}");
        }
    }
}

/// Issue 11 item 6, `vouch serve`: after SIGTERM (once in-flight requests are answered) the
/// disk cache's background writes are waited for, so what the server read is in the index when
/// the process has exited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_flushes_the_disk_cache_on_sigterm() {
    let registry = Registry::start();
    push_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut config = demo_config();
    config.stores.disk_cache = Some(cache.clone());
    let config_path = dir.path().join("vouch.json");
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let port = support::process::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--reload-interval-ms", "0"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    /// Kills the server if the test fails before it exits (so no process outlives the test).
    struct KillOnDrop(Option<u32>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Some(pid) = self.0 {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
    let mut guard = KillOnDrop(Some(child.id()));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "vouch serve did not come up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let key = registry.reference(REPO, "v1");
    let body = serde_json::json!({
        "apiVersion": vouch::server::API_VERSION,
        "kind": "ProviderRequest",
        "request": { "keys": [key] },
    });
    let resp = http
        .post(format!("{base}/ratify/gatekeeper/v1/verify"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let answer: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    let item = &answer["response"]["items"][0];
    assert!(
        item["error"].as_str().unwrap_or_default().is_empty() && item["value"]["isSuccess"] == true,
        "{answer}"
    );
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    guard.0 = None; // reaped: its pid may be reused
    assert!(status.success(), "{status}");

    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache.join("index.json")).unwrap()).unwrap();
    let indexed: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap())
        .collect();
    let layout =
        vouch::oci::OciLayout::open(support::demo::examples().join("demo-layout")).unwrap();
    let v1 = layout.resolve("v1").unwrap().digest;
    for r in layout.referrers(&v1, None).unwrap() {
        assert!(
            indexed.contains(&r.digest.to_string().as_str()),
            "{} missing from {indexed:?}",
            r.digest
        );
    }
    // The writer stopped cleanly: no temporary directory is left behind.
    assert_eq!(std::fs::read_dir(cache.join("tmp")).unwrap().count(), 0);
}
