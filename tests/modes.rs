//! Rollout modes through `vouch serve` (a child process) and Debian's `docker-registry`:
//! `enforce` denies a failed verdict, `warn` answers Gatekeeper with the failure as a warning and
//! admission allowed, `audit` allows and only records it; per tenant (`executor.mode`) and per
//! image scope (`executor.modeScopes`), counted in `vouch_verdicts_total{tenant,scope,outcome}`.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use serde_json::{Value, json};
use support::cosign::signed_image;
use support::registry::Registry;
use support::vouch_serve::{Server, VERIFY_PATH, provider_request};
use vouch::oci::manifest::COSIGN_SIGNATURE_ARTIFACT_TYPE;
use xtask::fixtures::cosign::{Key, generate_key};

fn cosign(key: &Key) -> Value {
    json!([{
        "name": "cosign",
        "path": guests::verifier("cosign"),
        "artifactTypes": [COSIGN_SIGNATURE_ARTIFACT_TYPE],
        "config": {"keys": [{"name": "k", "pem": key.public_key_pem()}]},
    }])
}

/// The item of `key` in a provider response.
fn item<'a>(answer: &'a Value, key: &str) -> &'a Value {
    answer["response"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .unwrap_or_else(|| panic!("no item {key}: {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_per_tenant_and_scope_shape_the_gatekeeper_answer_and_the_metrics() {
    let reg = Registry::start();
    let host = reg.host();
    let key = generate_key().unwrap();
    signed_image(&reg, "a/app", "v1", b"a/app", &[&key]).await;
    for repo in ["b/app", "c/app", "d/app"] {
        signed_image(&reg, repo, "v1", repo.as_bytes(), &[]).await;
    }
    let registries = json!({"hosts": {host.clone(): {"insecure": true}}});
    let config = json!({
        "verifiers": cosign(&key),
        "stores": {"registries": registries},
        "executor": {
            "resultCacheTtlMs": 0,
            "modeScopes": [
                {"name": "b-rollout", "imageReferences": [format!("{host}/b/**")], "mode": "warn"},
                {"name": "c-audit", "imageReferences": [format!("{host}/c/**")], "mode": "audit"},
            ],
        },
        "tenants": [{
            "name": "shop",
            "namespaces": ["shop"],
            "verifiers": cosign(&key),
            "registries": registries,
            "executor": {"resultCacheTtlMs": 0, "mode": "warn"},
        }],
    });
    let server = Server::start(&config).await;
    let r = |repo: &str| reg.reference(repo, "v1");
    let keys = [
        r("a/app"),
        r("b/app"),
        r("c/app"),
        r("d/app"),
        format!("[shop]{}", r("d/app")),
    ];
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let (status, answer) = server.post(VERIFY_PATH, provider_request(&key_refs)).await;
    assert_eq!(status, 200, "{answer}");

    // Verified: passes whatever the mode.
    let a = &item(&answer, &keys[0])["value"];
    assert_eq!(a["isSuccess"], true, "{a}");
    assert!(
        a.get("enforcement").is_none() && a.get("warning").is_none(),
        "{a}"
    );

    // warn (scope b-rollout): allowed, the failure carried as a warning.
    let b = item(&answer, &keys[1]);
    assert_eq!(b["error"], "", "{b}");
    assert_eq!(b["value"]["isSuccess"], true, "{b}");
    assert_eq!(b["value"]["enforcement"], "warn");
    let warning = b["value"]["warning"].as_str().unwrap();
    assert!(warning.contains("no referrers"), "{warning}");
    assert!(
        b["value"]["message"]
            .as_str()
            .unwrap()
            .starts_with("warn mode (scope `b-rollout`): admission allowed"),
        "{b}"
    );

    // audit (scope c-audit): allowed silently (no warning), recorded.
    let c = &item(&answer, &keys[2])["value"];
    assert_eq!(c["isSuccess"], true, "{c}");
    assert_eq!(c["enforcement"], "audit");
    assert!(c.get("warning").is_none(), "{c}");

    // enforce (no scope matches, the default): denied as before.
    let d = item(&answer, &keys[3]);
    assert!(
        d["value"]["isSuccess"] == false || d["error"] != "",
        "enforced failure must deny: {d}"
    );
    assert!(d["value"].get("enforcement").is_none(), "{d}");

    // The same image for tenant `shop`, whose mode is warn.
    let shop = &item(&answer, &keys[4])["value"];
    assert_eq!(shop["isSuccess"], true, "{shop}");
    assert_eq!(shop["enforcement"], "warn");

    // Ratify v2's shape carries the mode too (`succeeded`).
    let (_, v2) = server
        .post(
            "/ratify/gatekeeper/v2/verify",
            provider_request(&[&keys[1]]),
        )
        .await;
    let v = &item(&v2, &keys[1])["value"];
    assert_eq!(v["succeeded"], true, "{v}");
    assert_eq!(v["enforcement"], "warn");

    let m = |tenant: &str, scope: &str, outcome: &str| {
        format!(
            "vouch_verdicts_total{{tenant=\"{tenant}\",scope=\"{scope}\",outcome=\"{outcome}\"}}"
        )
    };
    assert_eq!(server.counter(&m("default", "default", "pass")).await, 1);
    assert_eq!(server.counter(&m("default", "default", "fail")).await, 1);
    assert_eq!(server.counter(&m("default", "b-rollout", "warn")).await, 2);
    assert_eq!(server.counter(&m("default", "c-audit", "audit")).await, 1);
    assert_eq!(server.counter(&m("shop", "default", "warn")).await, 1);
}
