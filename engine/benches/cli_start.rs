//! A fresh `vouch verify` process on the demo layout (issue 20, "a CLI that answers in a
//! blink"): wall time of the first run, which compiles every verifier into the user's compile
//! cache, and of the next runs, which read the compiled verifiers back, beside `--no-cache`
//! (every run compiles). Goal: ≤ 150 ms wall after the first run.
//!
//! The `vouch` binary is the one cargo built with this bench (release under `cargo bench`, debug
//! under `cargo test --bench cli_start`); the cache lives in a temporary `$XDG_CACHE_HOME`. Run
//! with `cargo bench -p vouch --bench cli_start` after `cargo xtask guests`. Figures are from one
//! run on a shared machine: compare the ratios.

#[allow(dead_code)] // shared test support; this binary uses part of it
#[path = "../../tests/support/guests.rs"]
mod guests;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs after the first, of which the median is printed.
const WARM_RUNS: usize = 7;
/// The goal for a run after the first.
const GOAL: Duration = Duration::from_millis(150);

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let (config, verifiers) = demo_config(&root, tmp.path());
    let cache = tmp.path().join("cache");
    let subject = format!("{}:v1", root.join("examples/demo-layout").display());
    let run = |extra: &[&str]| {
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
            .args(["verify", "--oci-layout", &subject, "-o", "json", "-c"])
            .arg(&config)
            .args(extra)
            .env("XDG_CACHE_HOME", &cache)
            .env_remove("VOUCH_CACHE_DIR")
            .output()
            .expect("vouch runs");
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "vouch verify failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        took
    };
    let first = run(&[]);
    assert!(
        cache
            .join("vouch/compiled")
            .read_dir()
            .unwrap()
            .next()
            .is_some(),
        "the first run left no compiled verifier in the cache"
    );
    let warm = median((0..WARM_RUNS).map(|_| run(&[])).collect());
    let uncached = median((0..3).map(|_| run(&["--no-cache"])).collect());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "vouch verify --oci-layout examples/demo-layout:v1 ({verifiers} verifiers), a fresh process each:"
    );
    println!(
        "  first run (compiles, fills the cache): {:8.1} ms",
        ms(first)
    );
    println!(
        "  next runs (median of {WARM_RUNS}):              {:8.1} ms  goal <= {} ms: {}",
        ms(warm),
        GOAL.as_millis(),
        if warm <= GOAL { "met" } else { "missed" }
    );
    println!(
        "  --no-cache (median of 3):              {:8.1} ms",
        ms(uncached)
    );
    println!(
        "  cached / uncached: {:.3}x; first / cached: {:.1}x",
        ms(warm) / ms(uncached),
        ms(first) / ms(warm)
    );
}

/// The demo's `examples/vouch.yaml` with its verifiers' paths pointing at the built guests,
/// written into `dir`; and how many verifiers it has.
fn demo_config(root: &Path, dir: &Path) -> (PathBuf, usize) {
    let text = std::fs::read_to_string(root.join("examples/vouch.yaml"))
        .expect("examples/vouch.yaml (made by `cargo xtask example`)");
    let mut config: serde_json::Value = serde_yaml_ng::from_str(&text).expect("the demo config");
    let verifiers = config["verifiers"].as_array_mut().expect("verifiers");
    let count = verifiers.len();
    for v in verifiers {
        let path = v["path"].as_str().expect("a verifier path");
        let name = Path::new(path)
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a verifier file name");
        v["path"] = guests::verifier(name).display().to_string().into();
    }
    let path = dir.join("vouch.yaml");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    (path, count)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
