//! The referrer graph is a bounded DAG (design invariant 7), whatever a hostile registry answers:
//! a registry on 127.0.0.1 (the test double of `support/fake.rs`) that lists the same referrers
//! under every node, lists 10 000 of them, lists manifests of other subjects or the subject
//! itself. Every case ends within the deadline with a failed verdict naming the rule or cap —
//! through the library and through the `vouch` binary (`verify` and `discover`).

#[path = "support/cli.rs"]
mod cli;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use std::time::{Duration, Instant};

use support::fake::TestRegistry;
use vouch::config::Config;
use vouch::executor::{Executor, Settings};
use vouch::oci::Descriptor;
use vouch::oci::manifest::OCI_MANIFEST;
use vouch::report::{
    REFERRER_CYCLE, REFERRER_SUBJECT_MISMATCH, SubjectReport, VerifierReport, WALK_LIMIT_EXCEEDED,
};
use vouch::runtime::{Runtime, RuntimeConfig};

const REPO: &str = "hostile";
const SIG: &str = "application/vnd.test.signature";

/// A config verifying every referrer with the no-op guest, against `reg` over plain HTTP, with
/// `executor` appended to the `executor` section.
fn config_yaml(reg: &TestRegistry, executor: &str) -> String {
    format!(
        "verifiers:\n  - name: noop\n    path: {}\n    artifactTypes: ['*']\n\
         executor: {{ resultCacheTtlMs: 0, deadlineMs: 2900{executor} }}\n\
         stores:\n  registries:\n    hosts: {{ '{}': {{ insecure: true }} }}\n",
        guests::guest("noop").display(),
        reg.host()
    )
}

fn config(reg: &TestRegistry, executor: &str) -> Config {
    Config::parse(
        &config_yaml(reg, executor),
        false,
        std::path::Path::new("test.yaml"),
    )
    .unwrap()
}

async fn executor(config: &Config) -> Executor {
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 16,
        max_concurrency: 16,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let verifiers = vouch::app::load_verifiers(&runtime, config).await.unwrap();
    Executor::new(runtime, verifiers, Settings::from(&config.executor))
}

/// An image tagged `v1` in the test registry.
fn image(reg: &TestRegistry) -> Descriptor {
    let layer = reg.put_blob(REPO, "application/octet-stream", b"layer");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": reg.put_blob(REPO, "application/vnd.oci.image.config.v1+json", b"{}"),
        "layers": [layer],
    });
    reg.put_manifest(
        REPO,
        Some("v1"),
        manifest.to_string().as_bytes(),
        OCI_MANIFEST,
    )
}

/// An artifact manifest (number `n`) whose `subject` is `subject`.
fn referrer(reg: &TestRegistry, subject: &Descriptor, n: usize) -> Descriptor {
    let blob = reg.put_blob(
        REPO,
        "application/octet-stream",
        format!("sig {n}").as_bytes(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIG,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": [blob],
        "subject": subject,
    });
    reg.put_blob(REPO, "application/vnd.oci.empty.v1+json", b"{}");
    reg.put_manifest(REPO, None, manifest.to_string().as_bytes(), OCI_MANIFEST)
}

/// Every report of the tree, nested ones included.
fn all_reports(reports: &[VerifierReport]) -> Vec<&VerifierReport> {
    let mut out = Vec::new();
    for r in reports {
        out.push(r);
        out.extend(all_reports(&r.nested_results));
    }
    out
}

fn reasons(report: &SubjectReport) -> Vec<String> {
    all_reports(&report.verifier_reports)
        .into_iter()
        .filter_map(|r| r.error_reason.clone())
        .collect()
}

async fn verify(reg: &TestRegistry, executor_fields: &str) -> (SubjectReport, Duration) {
    let config = config(reg, executor_fields);
    let exec = executor(&config).await;
    let sources = vouch::app::build::sources(&config, None).unwrap();
    let started = Instant::now();
    let report = exec
        .verify(
            sources
                .registry(&format!("{}/{REPO}:v1", reg.host()))
                .unwrap(),
        )
        .await;
    (report, started.elapsed())
}

/// Invariant 7: "Each node (by digest) is visited once per subject, cycles are refused, and
/// referrers per node, nodes, verifier calls and bytes per subject are capped". Issue 11 saw
/// n + n² + n³ + n⁴ nodes for a registry listing the same N referrers under every node (N=30
/// ran 7+ minutes). Here the first node that lists itself or a node already reached ends the walk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_of_the_same_30_referrers_everywhere_is_refused_quickly() {
    let reg = TestRegistry::start().await;
    let subject = image(&reg);
    let sigs: Vec<Descriptor> = (0..30).map(|n| referrer(&reg, &subject, n)).collect();
    reg.behave(|b| b.hostile_referrers = Some(sigs.clone()));
    let (report, took) = verify(&reg, "").await;
    assert!(!report.is_success, "{report:#?}");
    assert!(
        report.message.contains(REFERRER_CYCLE)
            || report.message.contains(REFERRER_SUBJECT_MISMATCH),
        "{}",
        report.message
    );
    // The 30 first-level referrers verified (or cancelled) and the first refusal(s) under them;
    // nothing from the levels below. Before the rule, ~28 k reports.
    let reports = all_reports(&report.verifier_reports).len();
    assert!(reports < 100, "{reports} reports");
    assert!(took < Duration::from_millis(2900), "took {took:?}");
    // Bounded upstream work: the list of each node and each referrer's manifest, not n^4.
    assert!(reg.requests() < 200, "{} upstream requests", reg.requests());
}

/// Issue 11: "A list of 10 000 referrers gives ~19 k reports and ~1.9 k upstream requests";
/// `executor.maxReferrersPerNode` (default 256) fails the subject before any of them is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_referrers_hit_the_per_node_cap() {
    let reg = TestRegistry::start().await;
    image(&reg);
    let listed = support::fake::phantom_referrers(10_000, SIG);
    reg.behave(|b| {
        b.hostile_referrers = Some(listed);
        b.page_size = 500;
    });
    let (report, took) = verify(&reg, "").await;
    assert!(!report.is_success);
    assert!(
        report.message.contains(WALK_LIMIT_EXCEEDED)
            && report.message.contains("maxReferrersPerNode = 256")
            && report.message.contains("10000 referrers"),
        "{}",
        report.message
    );
    assert_eq!(reasons(&report), vec![WALK_LIMIT_EXCEEDED.to_owned()]);
    assert!(took < Duration::from_millis(2900), "took {took:?}");
    // The pages of the list and nothing else (no manifest of a listed referrer was read).
    assert!(reg.requests() <= 25, "{} upstream requests", reg.requests());
}

/// Invariant 6: "a referrer whose `subject` is not the node it is listed under" is a failed
/// verdict with a reason — here a genuine artifact of another image, listed under ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referrer_of_another_subject_is_a_mismatch() {
    let reg = TestRegistry::start().await;
    let subject = image(&reg);
    let own = referrer(&reg, &subject, 1);
    let other_image = Descriptor::for_content(OCI_MANIFEST, b"another image");
    let foreign = referrer(&reg, &other_image, 2);
    reg.behave(|b| b.hostile_referrers = Some(vec![own.clone(), foreign.clone()]));
    let (report, _) = verify(&reg, ", maxDepth: 0").await;
    assert!(!report.is_success);
    assert!(
        report.message.contains(REFERRER_SUBJECT_MISMATCH)
            && report.message.contains(&foreign.digest.to_string())
            && report.message.contains(&other_image.digest.to_string()),
        "{}",
        report.message
    );
    let refused = all_reports(&report.verifier_reports)
        .into_iter()
        .find(|r| r.reference_digest == foreign.digest.to_string())
        .expect("a report for the foreign referrer");
    assert_eq!(
        refused.error_reason.as_deref(),
        Some(REFERRER_SUBJECT_MISMATCH)
    );
    assert!(!refused.is_success);

    // The same graph without the foreign referrer passes: the check is not a blanket refusal.
    reg.behave(|b| b.hostile_referrers = Some(vec![own.clone()]));
    let (report, _) = verify(&reg, ", maxDepth: 0").await;
    assert!(report.is_success, "{}", report.message);
}

/// A referrer without any `subject` (a plain image listed as a referrer) is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_manifest_without_subject_is_a_mismatch() {
    let reg = TestRegistry::start().await;
    image(&reg);
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SIG, "layers": [],
    });
    let plain = reg.put_manifest(REPO, None, manifest.to_string().as_bytes(), OCI_MANIFEST);
    reg.behave(|b| b.hostile_referrers = Some(vec![plain.clone()]));
    let (report, _) = verify(&reg, "").await;
    assert!(!report.is_success);
    assert!(report.message.contains("absent"), "{}", report.message);
}

/// "cycles are refused": the subject listed as its own referrer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subject_listed_under_itself_is_a_cycle() {
    let reg = TestRegistry::start().await;
    let mut subject = image(&reg);
    subject.artifact_type = Some(SIG.into());
    reg.behave(|b| b.hostile_referrers = Some(vec![subject.clone()]));
    let (report, _) = verify(&reg, "").await;
    assert!(!report.is_success);
    assert_eq!(reasons(&report), vec![REFERRER_CYCLE.to_owned()]);
}

/// A correct graph wider or bigger than a cap fails naming that cap: nodes, calls, bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_call_and_byte_caps_fail_the_subject_naming_the_cap() {
    let reg = TestRegistry::start().await;
    let subject = image(&reg);
    // A correct tree: 4 signatures on the image, each with 2 signatures of its own (12 nodes).
    let top: Vec<Descriptor> = (0..4).map(|n| referrer(&reg, &subject, n)).collect();
    for (i, t) in top.iter().enumerate() {
        for j in 0..2 {
            referrer(&reg, t, 100 + i * 10 + j);
        }
    }
    let (report, _) = verify(&reg, "").await;
    assert!(
        report.is_success,
        "the uncapped tree passes: {}",
        report.message
    );
    assert_eq!(all_reports(&report.verifier_reports).len(), 12);

    for (fields, cap) in [
        (", maxNodesPerSubject: 6", "maxNodesPerSubject = 6"),
        (
            ", maxVerifierCallsPerSubject: 5",
            "maxVerifierCallsPerSubject = 5",
        ),
        (", maxBytesPerSubject: 1000", "maxBytesPerSubject = 1000"),
        (", maxReferrersPerNode: 3", "maxReferrersPerNode = 3"),
    ] {
        let (report, _) = verify(&reg, fields).await;
        assert!(!report.is_success, "{fields}");
        assert!(
            report.message.contains(WALK_LIMIT_EXCEEDED) && report.message.contains(cap),
            "{fields}: {}",
            report.message
        );
    }
}

/// Invariant 7: "the per-subject deadline holds in every front end" — and the caps: the `vouch`
/// binary's `verify` and `discover` end with a failed verdict on the fan-out registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_verify_and_discover_are_bounded_too() {
    let reg = TestRegistry::start().await;
    let subject = image(&reg);
    let sigs: Vec<Descriptor> = (0..30).map(|n| referrer(&reg, &subject, n)).collect();
    reg.behave(|b| b.hostile_referrers = Some(sigs.clone()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vouch.yaml");
    std::fs::write(&path, config_yaml(&reg, "")).unwrap();
    let reference = format!("{}/{REPO}:v1", reg.host());
    let reference2 = reference.clone();
    let path2 = path.clone();

    let started = Instant::now();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        cli::vouch(&[
            "verify",
            &reference,
            "-c",
            path.to_str().unwrap(),
            "-o",
            "json",
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        out.contains(REFERRER_CYCLE) || out.contains(REFERRER_SUBJECT_MISMATCH),
        "{out}"
    );

    let started = Instant::now();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        cli::vouch(&["discover", &reference2, "-c", path2.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.contains("referrer graph refused"), "{err}");
}
