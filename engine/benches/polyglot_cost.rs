//! What a verifier written in Python or JavaScript costs next to a Rust one
//! (`cargo bench -p vouch --bench polyglot_cost`; build the guests first with `cargo xtask guests`
//! and `cargo xtask polyglot`).
//!
//! Three verifiers, each on a passing fixture of its own: the shipped Rust `sbom` verifier and
//! the Python `python-sbom` example on the same SPDX document, and the JavaScript
//! `js-annotations` example on an image with two annotations. For each: the `.wasm` size, the
//! time to compile it (and read its metadata) with no compile cache, the instance slots a call
//! takes, then `VOUCH_BENCH_ITERS` calls (default 200) made in rotation, one of each in turn, so
//! that the load of a shared machine weighs on all alike: mean wall time of a call (fresh store +
//! instantiate + call + drop) and the linear memory the instance held. The ratios to the Rust
//! row are the figures to compare.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "../../tests/support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared with the test binaries
#[path = "../../tests/support/layout.rs"]
mod layout;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vouch::oci::manifest::OCI_MANIFEST;
use vouch::oci::{Descriptor, Manifest};
use vouch::runtime::{Limits, Runtime, RuntimeConfig, Verifier, VerifyInput};
use vouch::store::layout::LayoutStore;

use layout::LayoutBuilder;

const SPDX: &str = "application/spdx+json";

/// One verifier on one fixture.
struct Subject {
    label: &'static str,
    wasm: PathBuf,
    _dir: tempfile::TempDir,
    input: VerifyInput,
}

/// A layout with an image (its manifest annotated with `annotations`) and one referrer.
fn subject(
    label: &'static str,
    wasm: PathBuf,
    annotations: &[(&str, &str)],
    artifact_type: &str,
    layer: (&str, &[u8]),
    config: Value,
) -> Subject {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut b = LayoutBuilder::new(dir.path());
    let image = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        artifact_type: None,
        config: Some(b.blob("application/vnd.oci.image.config.v1+json", b"{}")),
        layers: vec![b.blob("application/vnd.oci.image.layer.v1.tar", b"layer")],
        manifests: vec![],
        subject: None,
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    };
    let subject: Descriptor = b.blob(OCI_MANIFEST, &serde_json::to_vec(&image).unwrap());
    let artifact = b.referrer(&subject, artifact_type, &[layer], &[]);
    b.finish();
    let store = LayoutStore::open(dir.path(), Default::default()).expect("the layout");
    Subject {
        label,
        wasm,
        _dir: dir,
        input: VerifyInput {
            store: Arc::new(store),
            subject_reference: "example.test/app:v1".into(),
            subject,
            artifact,
            config: config.to_string().into(),
            cpu_quota: None,
        },
    }
}

fn built(file: &str) -> PathBuf {
    xtask::polyglot::built_example(file)
        .unwrap_or_else(|| panic!("{file} is missing: build it with `cargo xtask polyglot`"))
}

/// Per-verifier figures.
struct Row {
    label: &'static str,
    wasm_bytes: u64,
    compile: Duration,
    slots: u32,
    calls: Duration,
    memory: u64,
}

async fn load(rt: &Runtime, s: &Subject) -> (Verifier, Duration) {
    let started = Instant::now();
    let v = rt
        .load_file(s.label, &s.wasm, Limits::default())
        .await
        .unwrap_or_else(|e| panic!("loading {}: {e}", s.label));
    let took = started.elapsed();
    rt.check_config(&v, &s.input.config)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", s.label));
    for _ in 0..5 {
        let out = rt.verify(&v, s.input.clone()).await.expect("a call");
        assert!(out.report.is_success, "{}: {:?}", s.label, out.report);
    }
    (v, took)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(n: u64) -> f64 {
    n as f64 / (1 << 20) as f64
}

fn main() {
    let iters: u32 = std::env::var("VOUCH_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(200);
    let spdx = json!({
        "spdxVersion": "SPDX-2.3",
        "SPDXID": "SPDXRef-DOCUMENT",
        "packages": [
            {"name": "openssl", "versionInfo": "3.0.11", "licenseConcluded": "Apache-2.0"},
            {"name": "libfoo", "versionInfo": "1.2", "licenseDeclared": "GPL-3.0-or-later OR MIT"},
            {"name": "libbar", "versionInfo": "0.9", "licenseConcluded": "(MIT AND BSD-3-Clause)"},
        ]
    })
    .to_string();
    let subjects = [
        subject(
            "rust sbom",
            guests::verifier("sbom"),
            &[],
            SPDX,
            (SPDX, spdx.as_bytes()),
            json!({"disallowedLicenses": ["AGPL-3.0-only"]}),
        ),
        subject(
            "python-sbom",
            built("python_sbom.wasm"),
            &[],
            SPDX,
            (SPDX, spdx.as_bytes()),
            json!({"deniedLicenses": ["AGPL-3.0-only"]}),
        ),
        subject(
            "js-annotations",
            built("js_annotations.wasm"),
            &[
                ("org.opencontainers.image.vendor", "ACME Corp"),
                (
                    "org.opencontainers.image.source",
                    "https://git.acme.example/app",
                ),
            ],
            "application/vnd.example.review",
            ("application/json", b"{}"),
            json!({"subject": {"org.opencontainers.image.vendor": ["ACME Corp"],
                               "org.opencontainers.image.source": ["https://git.acme.example/*"]}}),
        ),
    ];
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    tokio.block_on(async {
        // No compile cache: the compile column is a cold start.
        let rt = Runtime::new(RuntimeConfig {
            max_instances: 16,
            max_concurrency: 16,
            ..RuntimeConfig::default()
        })
        .expect("a runtime");
        let mut loaded = Vec::new();
        for s in &subjects {
            loaded.push(load(&rt, s).await);
        }
        let mut rows: Vec<Row> = subjects
            .iter()
            .zip(&loaded)
            .map(|(s, (v, compile))| Row {
                label: s.label,
                wasm_bytes: file_size(&s.wasm),
                compile: *compile,
                slots: v.slots(),
                calls: Duration::ZERO,
                memory: 0,
            })
            .collect();
        for _ in 0..iters {
            for ((s, (v, _)), row) in subjects.iter().zip(&loaded).zip(&mut rows) {
                let out = rt.verify(v, s.input.clone()).await.expect("a call");
                row.calls += out.duration;
                row.memory = row.memory.max(out.stats.memory_bytes);
            }
        }
        println!(
            "{:<16} {:>9} {:>11} {:>6} {:>10} {:>10}   ratios to Rust: size, compile, call, memory",
            "verifier", "wasm MiB", "compile ms", "slots", "call ms", "mem MiB"
        );
        let base = (
            rows[0].wasm_bytes as f64,
            rows[0].compile.as_secs_f64(),
            rows[0].calls.as_secs_f64(),
            rows[0].memory as f64,
        );
        for r in &rows {
            println!(
                "{:<16} {:>9.1} {:>11.0} {:>6} {:>10.3} {:>10.1}   {:.0}x, {:.0}x, {:.1}x, {:.1}x",
                r.label,
                mib(r.wasm_bytes),
                ms(r.compile),
                r.slots,
                ms(r.calls) / f64::from(iters),
                mib(r.memory),
                r.wasm_bytes as f64 / base.0,
                r.compile.as_secs_f64() / base.1,
                r.calls.as_secs_f64() / base.2,
                r.memory as f64 / base.3,
            );
        }
        println!("({iters} calls each, in rotation; call = fresh store + instantiate + call)");
    });
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
