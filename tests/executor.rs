//! The executor end to end: real guests (built by `cargo xtask guests`) over OCI layouts on disk,
//! verdicts, nested results, limit hits and deadlines as failed reports, the result cache, and the
//! `vouch` binary's exit codes and JSON output.

#[path = "support/cli.rs"]
mod cli;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/graph.rs"]
mod graph;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/layout.rs"]
mod layout;
#[path = "support/report_schema.rs"]
mod report_schema;

use std::path::Path;
use std::time::{Duration, Instant};

use vouch::executor::{ExecVerifier, Executor, ResultCache, Settings};
use vouch::oci::Descriptor;
use vouch::report::{SubjectReport, VerifierReport};
use vouch::runtime::{Limits, Runtime, RuntimeConfig};

use cli::{vouch, vouch_env};
use graph::{Graph, SBOM_TYPE, SIG_TYPE};
use guests::guest;

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_instances: 32,
        max_concurrency: 32,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

async fn load(rt: &Runtime, name: &str, limits: Limits, config: &str) -> ExecVerifier {
    let v = rt.load_file(name, &guest(name), limits).await.unwrap();
    ExecVerifier::new(v, config)
}

/// An executor of guest `name` alone (default limits, `config`) with the test settings.
async fn single(rt: &Runtime, name: &str, config: &str) -> Executor {
    let verifier = load(rt, name, Limits::default(), config).await;
    Executor::new(rt.clone(), vec![verifier], settings())
}

/// An executor of `verifiers` with the test settings, not descending into nested referrers.
fn flat(rt: &Runtime, verifiers: Vec<ExecVerifier>) -> Executor {
    let settings = Settings {
        max_depth: 0,
        ..settings()
    };
    Executor::new(rt.clone(), verifiers, settings)
}

fn settings() -> Settings {
    Settings {
        max_depth: 3,
        concurrency: 16,
        deadline: Duration::from_millis(2900),
        result_cache_ttl: Duration::from_secs(10),
        limits: Default::default(),
        scope: Default::default(),
    }
}

fn by<'a>(
    reports: &'a [VerifierReport],
    verifier: &str,
    referrer: &Descriptor,
) -> &'a VerifierReport {
    reports
        .iter()
        .find(|r| r.verifier_name == verifier && r.reference_digest == referrer.digest.to_string())
        .unwrap_or_else(|| {
            panic!(
                "no report of {verifier} on {}: {reports:#?}",
                referrer.digest
            )
        })
}

fn dump(r: &SubjectReport) -> String {
    serde_json::to_string_pretty(r).unwrap()
}

#[tokio::test]
async fn passes_with_nested_results_for_the_signed_sbom() {
    let rt = runtime();
    let f = Graph::new();
    let ex = single(&rt, "exerciser", "{}").await;
    let r = ex.verify(f.source("v1")).await;
    assert!(r.is_success, "{}", dump(&r));
    assert!(!r.cached);
    assert_eq!(
        r.digest.as_deref(),
        Some(f.subject.digest.to_string().as_str())
    );
    assert_eq!(r.verifier_reports.len(), 2, "{}", dump(&r));

    let sig = by(&r.verifier_reports, "exerciser", &f.signature);
    assert!(sig.nested_results.is_empty());
    assert_eq!(sig.artifact_type, SIG_TYPE);
    assert_eq!(sig.extensions["subject"], f.subject.digest.to_string());
    assert_eq!(sig.extensions["referrers"], "2");

    let sbom = by(&r.verifier_reports, "exerciser", &f.sbom);
    assert_eq!(sbom.nested_results.len(), 1);
    let nested = &sbom.nested_results[0];
    assert!(nested.is_success, "{nested:#?}");
    assert_eq!(nested.reference_digest, f.sbom_signature.digest.to_string());
    // In the nested pass the SBOM is the subject.
    assert_eq!(nested.extensions["subject"], f.sbom.digest.to_string());
    assert_eq!(
        nested.subject,
        format!("{}@{}", f.dir.path().display(), f.sbom.digest)
    );

    assert!(
        r.timings.total_ms > 0.0 && r.timings.guest_ms > 0.0 && r.timings.store_ms > 0.0,
        "{:?}",
        r.timings
    );
    assert!(sig.timings.total_ms >= sig.timings.guest_ms);
    assert_eq!(r.message, "all 3 verifier reports passed");

    // Ratify-compatible JSON.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["isSuccess"], true);
    assert_eq!(json["verifierReports"][0]["verifierName"], "exerciser");
    assert!(json["verifierReports"][0]["nestedResults"].is_array());
}

#[tokio::test]
async fn fails_when_a_verifier_fails_and_says_which() {
    let rt = runtime();
    let f = Graph::new();
    let verifiers = vec![
        load(&rt, "noop", Limits::default(), "{}").await,
        load(
            &rt,
            "exerciser",
            Limits::default(),
            r#"{"publicKeyPem":"incomplete"}"#,
        )
        .await,
    ];
    let r = flat(&rt, verifiers).verify(f.source("v1")).await;
    assert!(!r.is_success);
    assert_eq!(r.verifier_reports.len(), 4, "{}", dump(&r));
    let noop = by(&r.verifier_reports, "noop", &f.signature);
    assert!(noop.is_success);
    let ex = by(&r.verifier_reports, "exerciser", &f.signature);
    assert!(!ex.is_success);
    assert_eq!(ex.error_reason.as_deref(), Some("CHECK_FAILED"));
    assert!(ex.message.contains("publicKeyPem"), "{}", ex.message);
    assert!(
        r.message.contains("2 of 4") && r.message.contains("exerciser"),
        "{}",
        r.message
    );
    // maxDepth 0: no nested pass.
    assert!(
        r.verifier_reports
            .iter()
            .all(|v| v.nested_results.is_empty())
    );
}

#[tokio::test]
async fn a_limit_hit_is_a_failed_report_while_the_others_pass() {
    let rt = runtime();
    let f = Graph::new();
    let small = Limits {
        memory_bytes: 8 << 20,
        ..Limits::default()
    };
    let verifiers = vec![
        load(&rt, "membomb", small, "{}").await,
        load(&rt, "noop", Limits::default(), "{}").await,
        load(&rt, "panic", Limits::default(), "{}").await,
    ];
    let r = flat(&rt, verifiers).verify(f.source("v1")).await;
    assert!(!r.is_success);
    let bomb = by(&r.verifier_reports, "membomb", &f.sbom);
    assert_eq!(
        bomb.error_reason.as_deref(),
        Some("memory_limit_exceeded"),
        "{bomb:#?}"
    );
    assert!(bomb.message.contains("8 MiB"), "{}", bomb.message);
    let panic = by(&r.verifier_reports, "panic", &f.sbom);
    assert_eq!(panic.error_reason.as_deref(), Some("verifier_trapped"));
    assert!(by(&r.verifier_reports, "noop", &f.sbom).is_success);
    assert!(by(&r.verifier_reports, "noop", &f.signature).is_success);
}

#[tokio::test]
async fn the_deadline_cancels_unfinished_calls_and_names_them() {
    let rt = runtime();
    let f = Graph::new();
    let long = Limits {
        cpu_time: Duration::from_secs(60),
        wall_time: Duration::from_secs(60),
        ..Limits::default()
    };
    let verifiers = vec![
        load(&rt, "loop", long, "{}").await,
        load(&rt, "noop", Limits::default(), "{}").await,
    ];
    let ex = Executor::new(
        rt.clone(),
        verifiers,
        Settings {
            max_depth: 0,
            deadline: Duration::from_millis(300),
            ..settings()
        },
    );
    let started = Instant::now();
    let r = ex.verify(f.source("v1")).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert!(!r.is_success);
    for referrer in [&f.signature, &f.sbom] {
        let lp = by(&r.verifier_reports, "loop", referrer);
        assert_eq!(lp.error_reason.as_deref(), Some("deadline_exceeded"));
        assert!(
            lp.message.contains("`loop`") && lp.message.contains("300 ms"),
            "{}",
            lp.message
        );
        assert!(by(&r.verifier_reports, "noop", referrer).is_success);
    }
    // A deadline verdict is transient: not cached.
    let again = ex.verify(f.source("v1")).await;
    assert!(!again.cached);
}

#[tokio::test]
async fn second_run_hits_the_result_cache_by_digest() {
    let rt = runtime();
    let f = Graph::new();
    let ex = single(&rt, "noop", "{}").await;
    let first = ex.verify(f.source("v1")).await;
    assert!(first.is_success && !first.cached);
    let second = ex.verify(f.source("v1")).await;
    assert!(second.cached, "{}", dump(&second));
    assert_eq!(second.verifier_reports, first.verifier_reports);
    // The key is the digest, not the tag: the digest form hits too, with its own subject string.
    let by_digest = ex.verify(f.source(&f.subject.digest.to_string())).await;
    assert!(by_digest.cached && by_digest.is_success);
    assert!(by_digest.subject.ends_with(&f.subject.digest.to_string()));
    assert!(
        by_digest
            .verifier_reports
            .iter()
            .all(|v| v.subject == by_digest.subject)
    );
}

#[tokio::test]
async fn identical_requests_in_flight_run_once() {
    let rt = runtime();
    let f = Graph::new();
    let ex = single(&rt, "exerciser", "{}").await;
    let (a, b) = tokio::join!(ex.verify(f.source("v1")), ex.verify(f.source("v1")));
    assert!(a.is_success && b.is_success);
    assert_eq!(
        [a.cached, b.cached].iter().filter(|c| **c).count(),
        1,
        "{a:?} {b:?}"
    );
}

#[tokio::test]
async fn a_config_change_misses_the_shared_cache() {
    let rt = runtime();
    let f = Graph::new();
    let cache = ResultCache::new(Duration::from_secs(10));
    let exec = |config: &'static str| {
        let rt = rt.clone();
        let cache = cache.clone();
        async move {
            let v = load(&rt, "exerciser", Limits::default(), config).await;
            Executor::new(rt, vec![v], settings()).with_result_cache(cache)
        }
    };
    let a = exec("{}").await;
    let b = exec(r#"{"artifactType":"application/spdx+json"}"#).await;
    assert_ne!(a.fingerprint(), b.fingerprint());
    assert!(!a.verify(f.source("v1")).await.cached);
    let rb = b.verify(f.source("v1")).await;
    assert!(
        !rb.cached,
        "a different verifier config must not reuse the verdict"
    );
    assert_eq!(rb.verifier_reports[0].extensions["filteredReferrers"], "1");
    // Same configuration in a new executor (a reload): same fingerprint, cache hit.
    let a2 = exec("{}").await;
    assert_eq!(a.fingerprint(), a2.fingerprint());
    assert!(a2.verify(f.source("v1")).await.cached);
    assert_eq!(cache.entry_count().await, 2);
}

#[tokio::test]
async fn no_referrers_fails_with_a_message_and_unknown_tags_fail_to_resolve() {
    let rt = runtime();
    let f = Graph::new();
    let ex = single(&rt, "noop", "{}").await;
    let r = ex.verify(f.source("bare")).await;
    assert!(!r.is_success);
    assert!(r.verifier_reports.is_empty());
    assert!(r.message.contains("no referrers"), "{}", r.message);
    let r = ex.verify(f.source("nope")).await;
    assert!(!r.is_success && r.digest.is_none());
    assert!(r.message.contains("cannot resolve `nope`"), "{}", r.message);
}

#[tokio::test]
async fn load_verifiers_runs_check_config_and_applies_overrides() {
    let rt = runtime();
    let f = Graph::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vouch.yaml");
    let write = |body: &str| std::fs::write(&file, body).unwrap();

    write(&format!(
        "verifiers:\n  - name: p\n    path: {}\n    config: {{ mode: bad }}\n",
        guest("panic").display()
    ));
    let config = vouch::config::Config::load(&file).unwrap();
    let e = vouch::app::load_verifiers(&rt, &config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("verifiers[0]") && e.contains("bad config"),
        "{e}"
    );

    write(&format!(
        "verifiers:\n  - name: sbom-only\n    path: {}\n    artifactTypes: [{SBOM_TYPE}]\n",
        guest("noop").display()
    ));
    let config = vouch::config::Config::load(&file).unwrap();
    let verifiers = vouch::app::load_verifiers(&rt, &config).await.unwrap();
    let r = Executor::new(rt.clone(), verifiers, Settings::from(&config.executor))
        .verify(f.source("v1"))
        .await;
    assert!(r.is_success, "{}", dump(&r));
    assert_eq!(r.verifier_reports.len(), 1, "{}", dump(&r));
    assert_eq!(r.verifier_reports[0].artifact_type, SBOM_TYPE);
}

fn write_config(dir: &Path, name: &str, verifier: &str, extra: &str) -> String {
    let file = dir.join(name);
    std::fs::write(
        &file,
        format!(
            "verifiers:\n  - name: {verifier}\n    path: {}\n{extra}",
            guest(verifier).display()
        ),
    )
    .unwrap();
    file.display().to_string()
}

/// `vouch verify` keeps compiled verifiers in the user's cache directory (here
/// `$XDG_CACHE_HOME/vouch/compiled`), so the next process does not compile them; `--no-cache`
/// writes nothing there.
#[test]
fn cli_verify_caches_compiled_verifiers_for_the_user() {
    let f = Graph::new();
    let cfg = tempfile::tempdir().unwrap();
    let pass = write_config(cfg.path(), "pass.yaml", "noop", "");
    let subject = format!("{}:v1", f.dir.path().display());
    let cache = tempfile::tempdir().unwrap();
    let compiled = cache.path().join("vouch/compiled");
    let xdg: &[(&str, &Path)] = &[("XDG_CACHE_HOME", cache.path())];
    let args = ["verify", "--oci-layout", &subject, "-c", &pass];
    // VOUCH_CACHE_DIR wins over XDG_CACHE_HOME: empty it so that the XDG default applies.
    let no_override: &[(&str, &Path)] = &[xdg[0], ("VOUCH_CACHE_DIR", Path::new(""))];

    let (code, out, err) = vouch_env(&[&args[..], &["--no-cache"]].concat(), no_override);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        !compiled.exists(),
        "--no-cache wrote {}",
        compiled.display()
    );
    let (code, out, err) = vouch_env(&args, no_override);
    assert_eq!(code, 0, "{out}\n{err}");
    let files = std::fs::read_dir(&compiled).unwrap().count();
    assert_eq!(files, 1, "one compiled verifier in {}", compiled.display());
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&compiled).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "private to the user: {mode:o}");
    let (code, out, err) = vouch_env(&args, no_override);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(std::fs::read_dir(&compiled).unwrap().count(), files);
}

/// A verifier file that is not a component is named as what it is, once.
#[test]
fn cli_names_a_file_that_is_not_a_component() {
    let f = Graph::new();
    let cfg = tempfile::tempdir().unwrap();
    let script = cfg.path().join("verifier.wasm");
    std::fs::write(&script, "#!/bin/sh\necho ok\n").unwrap();
    let subject = format!("{}:v1", f.dir.path().display());
    // `vouch verify` with a config whose one verifier is at `path`: exit code and stderr.
    let verify_with_verifier_at = |path: &Path| {
        let config = cfg.path().join("vouch.yaml");
        let yaml = format!("verifiers:\n  - name: v\n    path: {}\n", path.display());
        std::fs::write(&config, yaml).unwrap();
        let (code, _, err) = vouch(&[
            "verify",
            "--oci-layout",
            &subject,
            "-c",
            config.to_str().unwrap(),
        ]);
        (code, err)
    };
    let (code, err) = verify_with_verifier_at(&script);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("not a WebAssembly binary: it looks like a text file"),
        "{err}"
    );
    let (code, err) = verify_with_verifier_at(&cfg.path().join("missing.yaml"));
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.matches("does not exist").count(),
        1,
        "the cause once: {err}"
    );
    assert_eq!(
        err.matches("missing.yaml").count(),
        2,
        "the file and the verifier: {err}"
    );
}

#[test]
fn cli_exit_codes_and_json_output() {
    let f = Graph::new();
    let cfg = tempfile::tempdir().unwrap();
    let pass = write_config(cfg.path(), "pass.yaml", "noop", "");
    let fail = write_config(cfg.path(), "fail.yaml", "panic", "");
    let bad = write_config(
        cfg.path(),
        "bad.yaml",
        "noop",
        "executor: { deadline: 1 }\n",
    );
    let subject = format!("{}:v1", f.dir.path().display());

    let (code, out, err) = vouch(&[
        "verify",
        "--oci-layout",
        &subject,
        "--config",
        &pass,
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["isSuccess"], true);
    assert_eq!(json["subject"], subject.as_str());
    assert_eq!(json["verifierReports"].as_array().unwrap().len(), 2);

    let (code, out, err) = vouch(&[
        "verify",
        "--oci-layout",
        &subject,
        "-c",
        &fail,
        "-o",
        "json",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["isSuccess"], false);
    assert_eq!(
        json["verifierReports"][0]["errorReason"],
        "verifier_trapped"
    );

    // Tree output for two subjects, one without referrers.
    let bare = format!("{}:bare", f.dir.path().display());
    let (code, out, _) = vouch(&["verify", "--oci-layout", &subject, &bare, "-c", &pass]);
    assert_eq!(code, 1);
    assert!(
        out.contains("✓ noop: ok") && out.contains("✗ ") && out.contains("no referrers"),
        "{out}"
    );

    let (code, _, err) = vouch(&["verify", "--oci-layout", &subject, "-c", &bad]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.yaml") && err.contains("deadline"),
        "{err}"
    );

    // Registry subjects are verified too (see e2e_registry.rs); a malformed one is a usage error.
    let (code, _, err) = vouch(&["verify", "Registry.Example/App:v1", "-c", &pass]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid reference"), "{err}");

    let (code, _, _) = vouch(&["verify", "--oci-layout", "no-tag-here", "-c", &pass]);
    assert_eq!(code, 2);
    let (code, _, _) = vouch(&["verify"]);
    assert_eq!(code, 2);

    // 3: a subject that cannot be resolved (nothing listens on port 1), unless another failed.
    let unreachable = "127.0.0.1:1/app:v1";
    let (code, out, err) = vouch(&["verify", unreachable, "-c", &pass]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("127.0.0.1:1"), "{out}");
    let (code, out, err) = vouch(&["verify", unreachable, "--oci-layout", "-c", &fail]);
    assert_eq!(
        code, 2,
        "a registry reference is not a layout: {out}\n{err}"
    );
    let (code, out, err) = vouch(&["verify", "--oci-layout", &subject, &bare, "-c", &fail]);
    assert_eq!(code, 1, "{out}\n{err}");
    let help = vouch(&["verify", "--help"]).1;
    assert!(help.contains("3 a subject could not be resolved"), "{help}");

    let (code, out, err) = vouch(&["discover", "--oci-layout", &subject, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let refs = json["referrers"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    let sbom = refs
        .iter()
        .find(|r| r["digest"] == f.sbom.digest.to_string())
        .unwrap();
    assert_eq!(
        sbom["referrers"][0]["digest"],
        f.sbom_signature.digest.to_string()
    );

    let (code, out, err) = vouch(&["inspect", guest("noop").to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["metadata"]["name"], "noop");
    assert!(
        json["moduleDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        json["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("verify")),
        "{json}"
    );
    assert!(json["defaultLimits"]["memoryBytes"].as_u64().unwrap() > 0);
}

/// The workspace root, and the demo layout's `v1` and `v2` as `vouch verify --oci-layout` names
/// them.
fn demo_layout_subjects() -> (std::path::PathBuf, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let layout = root.join("examples/demo-layout");
    let v1 = format!("{}:v1", layout.display());
    let v2 = format!("{}:v2", layout.display());
    (root, v1, v2)
}

/// Trust named on the command line, as cosign and notation users keep it: `--key cosign.pub`
/// (cosign verify --key) or `--notation-home DIR` (a notation configuration directory), with
/// the verifier's `.wasm` and no config file; the demo layout's v1 is signed both ways, v2's
/// notation signature is tampered.
#[test]
fn cli_verifies_images_with_a_key_or_a_notation_home() {
    let (root, v1, v2) = demo_layout_subjects();
    let tmp = tempfile::tempdir().unwrap();
    let absent = tmp.path().join("absent.yaml");
    let absent = absent.to_str().unwrap();
    let cosign = guests::verifier("cosign");
    let notation = guests::verifier("notation");
    let run = |subject: &str, trust: &[&str], wasm: &Path| {
        let wasm = wasm.to_str().unwrap();
        let args = [
            &[
                "verify",
                "--oci-layout",
                subject,
                "-c",
                absent,
                "-o",
                "json",
                "--verifier",
                wasm,
            ][..],
            trust,
        ]
        .concat();
        vouch(&args)
    };

    let key = root.join("examples/trust/cosign.pub");
    let (code, out, err) = run(&v1, &["--key", key.to_str().unwrap()], &cosign);
    assert_eq!(code, 0, "{out}\n{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reports = json["verifierReports"].as_array().unwrap();
    assert!(
        reports.iter().all(|r| r["verifierName"] == "cosign"),
        "{json}"
    );
    assert!(!reports.is_empty());
    let other = tmp.path().join("other.pub");
    let stranger = xtask::fixtures::cosign::generate_key().unwrap();
    std::fs::write(&other, stranger.public_key_pem()).unwrap();
    let (code, out, err) = run(&v1, &["--key", other.to_str().unwrap()], &cosign);
    assert_eq!(code, 1, "another key: {out}\n{err}");

    let home = tmp.path().join("notation");
    let store = home.join("truststore/x509/ca/demo");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::copy(
        root.join("examples/trust/notation-ca.pem"),
        store.join("ca.pem"),
    )
    .unwrap();
    let demo: serde_json::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root.join("examples/vouch.yaml")).unwrap(),
    )
    .unwrap();
    let policy = &demo["verifiers"][0]["config"]["trustPolicy"];
    std::fs::write(home.join("trustpolicy.json"), policy.to_string()).unwrap();
    let home = home.to_str().unwrap();
    let (code, out, err) = run(&v1, &["--notation-home", home], &notation);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("\"verifierName\": \"notation\""), "{out}");
    let (code, out, err) = run(&v2, &["--notation-home", home], &notation);
    assert_eq!(code, 1, "tampered: {out}\n{err}");
    assert!(out.contains("SIGNATURE_INVALID"), "{out}");
    let (code, _, err) = run(
        &v1,
        &["--notation-home", home, "--key", key.to_str().unwrap()],
        &notation,
    );
    assert_eq!(code, 2, "{err}");
}

/// `vouch verify <flags> --oci-layout <subjects> -o json --key examples/trust/cosign.pub` with no
/// config file and these environment variables.
fn verify_with_the_demo_key(
    flags: &[&str],
    subjects: &[&str],
    env: &[(&str, &Path)],
) -> (i32, String, String) {
    let (root, _, _) = demo_layout_subjects();
    let key = root.join("examples/trust/cosign.pub");
    let tmp = tempfile::tempdir().unwrap();
    let absent = tmp.path().join("absent.yaml");
    let mut args = vec!["verify"];
    args.extend(flags);
    args.push("--oci-layout");
    args.extend(subjects);
    args.extend(["-c", absent.to_str().unwrap(), "-o", "json", "--key"]);
    args.push(key.to_str().unwrap());
    vouch_env(&args, env)
}

/// The shipped verifiers need no `--verifier`: a `vouch` built by cargo finds them where
/// `cargo xtask guests` put them (`target/wasm32-wasip2/guest/`), an installed one in
/// `../verifiers/` beside itself, and `$VOUCH_VERIFIER_DIR` overrides both; when none holds
/// the verifier, a usage error names the paths tried.
#[test]
fn cli_finds_the_shipped_verifiers_without_verifier_flags() {
    let (_, v1, _) = demo_layout_subjects();
    let tmp = tempfile::tempdir().unwrap();
    guests::verifier("cosign"); // built (panics with the command to run otherwise)
    let (code, out, err) = verify_with_the_demo_key(&[], &[&v1], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("\"verifierName\": \"cosign\""), "{out}");

    // An installed tree: the verifiers under a directory of their own, named by the variable.
    let installed = tmp.path().join("verifiers");
    std::fs::create_dir(&installed).unwrap();
    std::fs::copy(guests::verifier("cosign"), installed.join("cosign.wasm")).unwrap();
    let (code, out, err) =
        verify_with_the_demo_key(&[], &[&v1], &[("VOUCH_VERIFIER_DIR", &installed)]);
    assert_eq!(code, 0, "{out}\n{err}");

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, out, err) = verify_with_the_demo_key(&[], &[&v1], &[("VOUCH_VERIFIER_DIR", &empty)]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains(&empty.join("cosign.wasm").display().to_string())
            && err.contains("--verifier FILE"),
        "{err}"
    );
}

/// `vouch verify --log-format json`: stderr is JSON lines, and those logged while verifying
/// carry the `trace_id` the JSON report carries as `traceID` (one per command).
#[test]
fn cli_json_logs_carry_the_reports_trace_id() {
    let (_, v1, v2) = demo_layout_subjects();
    let (code, out, err) = verify_with_the_demo_key(
        &["--log-format", "json"],
        &[&v1, &v2],
        &[("RUST_LOG", Path::new("vouch=info"))],
    );
    assert_eq!(code, 1, "v2 has no cosign signature: {out}\n{err}");
    let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = reports[0]["traceID"].as_str().unwrap();
    assert_eq!(reports[1]["traceID"], id, "one trace id per command");
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for subject in [&v1, &v2] {
        assert!(
            lines
                .iter()
                .any(|l| l["fields"]["message"] == "subject verified"
                    && l["fields"]["subject"] == subject.as_str()
                    && l["spans"][0]["trace_id"] == id),
            "no `subject verified` line for {subject} under {id}:\n{err}"
        );
    }
}

/// `docs/schemas/verify-report.schema.json` documents `vouch verify --output json`: the demo's
/// passing v1 (nested results, every verifier), failing v2, both at once (an array), and a tag
/// that does not resolve (no `digest`) are valid under it; the schema is strict enough that a
/// report missing `traceID` or carrying an undocumented field is not.
#[test]
fn cli_json_output_matches_the_checked_in_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let layout = root.join("examples/demo-layout");
    let tmp = tempfile::tempdir().unwrap();
    // The demo config beside the verifiers it names (`verifiers/<name>.wasm`).
    std::fs::create_dir(tmp.path().join("verifiers")).unwrap();
    for name in ["notation", "cosign", "sbom", "vuln"] {
        let to = tmp.path().join(format!("verifiers/{name}.wasm"));
        std::fs::copy(guests::verifier(name), to).unwrap();
    }
    let config = tmp.path().join("vouch.yaml");
    std::fs::copy(root.join("examples/vouch.yaml"), &config).unwrap();
    let run = |subjects: &[&str]| {
        let subjects: Vec<String> = subjects
            .iter()
            .map(|s| format!("{}:{s}", layout.display()))
            .collect();
        let mut args = vec!["verify", "--oci-layout", "-o", "json", "-c"];
        args.push(config.to_str().unwrap());
        args.extend(subjects.iter().map(String::as_str));
        let (code, out, err) = vouch(&args);
        let json: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{subjects:?}: not JSON ({e}): {out}\n{err}"));
        (code, json)
    };

    let (code, both) = run(&["v1", "v2"]);
    assert_eq!(code, 1, "{both:#}");
    report_schema::assert_valid(&both);
    let v1 = &both[0];
    assert!(
        v1["verifierReports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| !r["nestedResults"].as_array().unwrap().is_empty()),
        "the demo's SBOM carries a signature: {v1:#}"
    );
    for one in ["v1", "v2"] {
        let (_, report) = run(&[one]);
        report_schema::assert_valid(&report);
    }
    let (code, unresolved) = run(&["no-such-tag"]);
    assert_eq!(code, 3, "{unresolved:#}");
    assert!(unresolved.get("digest").is_none(), "{unresolved:#}");
    report_schema::assert_valid(&unresolved);

    let validator = report_schema::validator();
    let mut untraced = v1.clone();
    untraced.as_object_mut().unwrap().remove("traceID");
    assert!(!validator.is_valid(&untraced));
    let mut extra = v1.clone();
    extra["verifierReports"][0]["undocumented"] = serde_json::json!(1);
    assert!(!validator.is_valid(&extra));
}
