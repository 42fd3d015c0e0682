//! Image-scoped trust on Debian's `docker-registry`: "images from A need key K, images from B
//! need key L, images from C are exempt" as one configuration (`imageReferences`,
//! `skipImageReferences`, `executor.exemptImageReferences`), with cosign `.sig` signatures made
//! here. An image no verifier applies to fails closed (`NO_VERIFIER_APPLIES`); the result cache
//! never serves a verdict reached with other verifiers than the reference calls for.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::cosign::signed_image;
use support::registry::Registry;
use support::verify::verify_subject;
use vouch::config::Config;
use vouch::executor::{Executor, NO_VERIFIER_APPLIES, Settings};
use vouch::oci::manifest::COSIGN_SIGNATURE_ARTIFACT_TYPE;
use vouch::report::SubjectReport;
use vouch::runtime::{Runtime, RuntimeConfig};
use vouch::store::sources::Sources;
use xtask::fixtures::cosign::{Key, generate_key};

/// A cosign verifier entry named `name` trusting `key`, scoped by `scope` (merged in).
fn verifier(name: &str, key: &Key, scope: Value) -> Value {
    let mut v = json!({
        "name": name,
        "path": guests::verifier("cosign"),
        "artifactTypes": [COSIGN_SIGNATURE_ARTIFACT_TYPE],
        "config": {"keys": [{"name": name, "pem": key.public_key_pem()}]},
    });
    for (k, val) in scope.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

fn config(reg: &Registry, verifiers: Vec<Value>, exempt: &[String], ttl_ms: u64) -> Config {
    let text = json!({
        "verifiers": verifiers,
        "executor": {"resultCacheTtlMs": ttl_ms, "exemptImageReferences": exempt},
        "stores": {"registries": {"hosts": {reg.host(): {"insecure": true}}}},
    })
    .to_string();
    Config::parse(&text, true, Path::new("test.json")).unwrap()
}

fn names(r: &SubjectReport) -> Vec<&str> {
    r.verifier_reports
        .iter()
        .map(|v| v.verifier_name.as_str())
        .collect()
}

/// Registry A's images need key K (verifier `a`), B's key L (verifier `b`), C's are exempt;
/// `a/sandbox` is skipped by `a`. Each image is judged by exactly the verifiers its reference
/// calls for; an image no verifier applies to, and not exempt, fails closed naming the scopes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_config_scopes_trust_per_image_and_fails_closed_outside_every_scope() {
    let reg = Registry::start();
    let host = reg.host();
    let (k, l) = (generate_key().unwrap(), generate_key().unwrap());
    signed_image(&reg, "a/app", "v1", b"a app", &[&k]).await;
    signed_image(&reg, "a/other", "v1", b"a other", &[&l]).await;
    signed_image(&reg, "a/sandbox/app", "v1", b"a sandbox", &[&k]).await;
    signed_image(&reg, "b/app", "v1", b"b app", &[&l]).await;
    signed_image(&reg, "c/app", "v1", b"c app", &[]).await;
    signed_image(&reg, "d/app", "v1", b"d app", &[&k, &l]).await;
    let c = config(
        &reg,
        vec![
            verifier(
                "a",
                &k,
                json!({"imageReferences": [format!("{host}/a/**")],
                       "skipImageReferences": [format!("{host}/a/sandbox/**")]}),
            ),
            verifier("b", &l, json!({"imageReferences": [format!("{host}/b/*")]})),
        ],
        &[format!("{host}/c/**")],
        0,
    );
    let verify = |repo: &str| {
        let reference = reg.reference(repo, "v1");
        let c = &c;
        async move { verify_subject(c, &reference, false).await }
    };

    let r = verify("a/app").await;
    assert!(r.is_success, "{r:#?}");
    assert_eq!(names(&r), ["a"]);
    // Signed with B's key, in A: only `a` applies, and it refuses the signature.
    let r = verify("a/other").await;
    assert!(!r.is_success, "{r:#?}");
    assert_eq!(names(&r), ["a"]);
    let r = verify("b/app").await;
    assert!(r.is_success, "{r:#?}");
    assert_eq!(names(&r), ["b"]);

    // Exempt: passes with no verification (and says why).
    let r = verify("c/app").await;
    assert!(r.is_success, "{r:#?}");
    assert!(r.verifier_reports.is_empty());
    assert!(
        r.message.contains("exempt") && r.message.contains(&format!("{host}/c/**")),
        "{}",
        r.message
    );

    // Outside every scope (d), or skipped (a/sandbox): fails closed, though validly signed.
    for repo in ["d/app", "a/sandbox/app"] {
        let r = verify(repo).await;
        assert!(!r.is_success, "{repo}: {r:#?}");
        assert!(r.digest.is_some(), "the image was resolved: {r:#?}");
        assert!(r.verifier_reports.is_empty());
        assert!(
            r.message.contains(NO_VERIFIER_APPLIES)
                && r.message.contains(&format!("{host}/{repo}"))
                && r.message
                    .contains(&format!("a: imageReferences [{host}/a/**]")),
            "{}",
            r.message
        );
    }
}

/// The result cache is keyed by which verifiers applied: the same digest under a tag that brings
/// in a second verifier is verified again (and fails here), not served the first tag's pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_verdicts_never_cross_image_scopes() {
    let reg = Registry::start();
    let host = reg.host();
    let (k, l) = (generate_key().unwrap(), generate_key().unwrap());
    let digest = signed_image(&reg, "a/app", "v1", b"one image", &[&k]).await;
    let again = reg.push_image("a/app", "strict", b"one image").await;
    assert_eq!(again.digest, digest);
    let c = config(
        &reg,
        vec![
            verifier(
                "a",
                &k,
                json!({"imageReferences": [format!("{host}/a/**")]}),
            ),
            verifier(
                "strict",
                &l,
                json!({"imageReferences": [format!("{host}/a/app:strict")]}),
            ),
        ],
        &[],
        60_000,
    );
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let verifiers = vouch::app::load_verifiers(&runtime, &c).await.unwrap();
    let exec = Executor::new(runtime, verifiers, Settings::from(&c.executor));
    let sources = Sources::new(
        c.stores.registries.client().unwrap(),
        c.stores.cache.clone(),
        None,
        c.stores.layouts.limits(),
    )
    .unwrap();
    let run = |tag: &str| exec.verify(sources.registry(&reg.reference("a/app", tag)).unwrap());
    let first = run("v1").await;
    assert!(first.is_success && !first.cached, "{first:#?}");
    let strict = run("strict").await;
    assert!(!strict.is_success && !strict.cached, "{strict:#?}");
    assert_eq!(names(&strict), ["a", "strict"]);
    // The same scope again is a cache hit.
    let hit = run("v1").await;
    assert!(hit.is_success && hit.cached, "{hit:#?}");
}

/// Scope patterns are checked at load, naming the field.
#[test]
fn bad_scope_patterns_are_refused_at_load() {
    for (patch, field) in [
        (
            json!({"imageReferences": []}),
            "verifiers[0].imageReferences",
        ),
        (
            json!({"imageReferences": ["reg/a b"]}),
            "verifiers[0].imageReferences",
        ),
        (
            json!({"skipImageReferences": [""]}),
            "verifiers[0].skipImageReferences",
        ),
    ] {
        let mut v = json!({"name": "a", "path": "a.wasm"});
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        let text = json!({"verifiers": [v]}).to_string();
        let e = Config::parse(&text, true, Path::new("t.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{e}");
    }
    let text = json!({"verifiers": [{"name": "a", "path": "a.wasm"}],
                      "executor": {"exemptImageReferences": [" "]}})
    .to_string();
    let e = Config::parse(&text, true, Path::new("t.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("executor.exemptImageReferences"), "{e}");
    let text = json!({"verifiers": [{"name": "a", "path": "a.wasm"}],
                      "policy": {"type": "rego", "policy": "package vouch\nallow := true",
                                 "imageReferences": []}})
    .to_string();
    let e = Config::parse(&text, true, Path::new("t.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("policy.imageReferences"), "{e}");
}
