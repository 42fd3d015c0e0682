//! Issue 16, the cold path: the upstream requests a cold signed subject costs against Debian's
//! `docker-registry` on 127.0.0.1 (no referrers API: the `sha256-<hex>` tag fallback), and the
//! runtime's crypto memo answering repeated chain validations without changing a verdict.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use serde_json::json;
use support::registry::Registry;
use vouch::config::{Config, VerifierConfig};
use vouch::executor::{Executor, Settings};
use vouch::report::SubjectReport;
use vouch::runtime::{Runtime, RuntimeConfig};
use vouch::store::sources::Sources;
use xtask::fixtures::notation as fx;

const REPO: &str = "cold";

/// Images `v0`, `v1`, … of `REPO`, each with `signatures` notation signatures by `chain`,
/// listed through the tag fallback; returns their references.
async fn signed_images(
    registry: &Registry,
    images: usize,
    signatures: usize,
    chain: &fx::TestChain,
) -> Vec<String> {
    let mut subjects = Vec::new();
    for i in 0..images {
        let layer = format!("layer {i}");
        subjects.push(
            registry
                .push_notation_signed(REPO, &format!("v{i}"), layer.as_bytes(), signatures, chain)
                .await,
        );
    }
    subjects
}

fn notation_config(chain: &fx::TestChain) -> serde_json::Value {
    json!({
        "trustPolicy": {"version": "1.0", "trustPolicies": [{
            "name": "cold", "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:cold"],
            "trustedIdentities": [fx::ChainOptions::valid_now().leaf_subject.identity()],
        }]},
        "trustStores": {"ca": {"cold": [chain.root_pem]}},
    })
}

fn verifier(name: &str, config: serde_json::Value) -> VerifierConfig {
    VerifierConfig {
        name: name.into(),
        path: guests::verifier(name),
        signature_key: None,
        artifact_types: None,
        limits: Default::default(),
        config: Some(config),
        image_references: None,
        skip_image_references: Vec::new(),
    }
}

async fn executor(runtime: &Runtime, verifiers: Vec<VerifierConfig>) -> Executor {
    let config = Config {
        verifiers,
        ..Config::default()
    };
    let loaded = vouch::app::load_verifiers(runtime, &config).await.unwrap();
    let settings = Settings {
        max_depth: 0,
        ..Settings::from(&config.executor)
    };
    Executor::new(runtime.clone(), loaded, settings)
}

/// Two signed images, the runtime and a notation-only executor trusting their chain.
struct Setup {
    _registry: Registry,
    chain: fx::TestChain,
    subjects: Vec<String>,
    runtime: Runtime,
    notation: Executor,
}

async fn setup(signatures: usize) -> Setup {
    let registry = Registry::start();
    let chain = fx::test_chain(&fx::ChainOptions::valid_now()).unwrap();
    let subjects = signed_images(&registry, 2, signatures, &chain).await;
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let notation = executor(
        &runtime,
        vec![verifier("notation", notation_config(&chain))],
    )
    .await;
    Setup {
        _registry: registry,
        chain,
        subjects,
        runtime,
        notation,
    }
}

/// `e`'s report on `subject`, read through `s`, which must pass.
async fn verify_ok(e: &Executor, s: &Sources, subject: &str) -> SubjectReport {
    let report = e.verify(s.registry(subject).unwrap()).await;
    assert!(report.is_success, "{subject}: {}", report.message);
    report
}

/// Requests a client sent, whatever their status.
fn requests(s: &Sources) -> u64 {
    s.registry_requests().iter().map(|(_, _, n)| n).sum()
}

/// Issue 16: "remove any request that is not needed". With only the notation verifier
/// configured, a subject's referrers are listed for notation signatures alone: no lookup of
/// cosign's `sha256-<hex>.sig` / `.att` tags, which only a cosign artifact type wants. A cold
/// subject with 2 signatures costs resolve + referrers probe (404) + fallback index + 2
/// signature manifests + 2 envelopes = 7 requests, the next subject 6 (the registry is known to
/// lack the API) — each manifest and blob once, the guest's reads served by the store caches.
/// With a verifier of another artifact type beside it, the cosign tags are looked up again
/// (2 requests more), and the verdicts are the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notation_only_subject_costs_only_the_requests_it_needs() {
    let t = setup(2).await;

    let s = support::registry_sources();
    let first = verify_ok(&t.notation, &s, &t.subjects[0]).await;
    assert_eq!(first.verifier_reports.len(), 2);
    assert_eq!(requests(&s), 7, "{:?}", s.registry_requests());
    verify_ok(&t.notation, &s, &t.subjects[1]).await;
    assert_eq!(requests(&s), 7 + 6, "{:?}", s.registry_requests());

    // notation and sbom: two artifact types, so the listing is not narrowed.
    let both = executor(
        &t.runtime,
        vec![
            verifier("notation", notation_config(&t.chain)),
            verifier("sbom", json!({"allowedLicenses": ["MIT"]})),
        ],
    )
    .await;
    let s = support::registry_sources();
    let report = verify_ok(&both, &s, &t.subjects[0]).await;
    assert_eq!(report.verifier_reports.len(), 2);
    assert_eq!(requests(&s), 7 + 2, "{:?}", s.registry_requests());
}

/// The runtime's crypto memo across subjects: the second subject's chain validations (same
/// chain, same roots, a time inside every certificate's window) are answered from it, the
/// verdicts stay passes, and a config trusting another root still fails authenticity — the
/// roots are part of the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_validations_are_reused_across_subjects_and_keyed_by_the_roots() {
    let t = setup(1).await;
    let s = support::registry_sources();
    for subject in &t.subjects {
        verify_ok(&t.notation, &s, subject).await;
    }
    let stats = t.runtime.crypto_cache().stats();
    assert_eq!((stats.chain_misses, stats.chain_hits), (1, 1), "{stats:?}");

    let other = fx::test_chain(&fx::ChainOptions::valid_now()).unwrap();
    let distrusting = executor(
        &t.runtime,
        vec![verifier("notation", notation_config(&other))],
    )
    .await;
    let r = distrusting
        .verify(s.registry(&t.subjects[0]).unwrap())
        .await;
    assert!(!r.is_success, "{}", r.message);
    assert_eq!(
        r.verifier_reports[0].error_reason.as_deref(),
        Some("UNTRUSTED"),
        "{}",
        r.verifier_reports[0].message
    );
}
