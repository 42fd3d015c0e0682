//! Signed verification summaries (SLSA VSA) across two clusters, on Debian's `docker-registry`
//! (no referrers API: the `sha256-<hex>` fallback index) with the real `vouch` binary and the
//! built `vsa` verifier.
//!
//! Cluster A verifies an image with a cosign key and `--attest-verdict A.key --push`; cluster B
//! trusts only A's summaries (the `vsa` verifier with A's public key and A's policy digest) and
//! admits the image without the cosign key. Summaries that are stale, about another digest,
//! FAILED, signed by another key or made under another policy are each rejected with their own
//! reason. The crafted ones start from a summary A wrote (`--attest-out`) and are re-signed
//! with the library's DSSE envelope.

#[path = "support/cli.rs"]
mod cli;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};
use support::registry::Registry;
use vouch::oci::Descriptor;
use vouch::plugin::SigningKey;
use vouch::report::vsa::{DSSE_ENVELOPE, envelope};

const REPO: &str = "team/app";

/// `vouch plugin keygen DIR`: (private key, public key).
fn keygen(dir: &Path) -> (PathBuf, PathBuf) {
    let (code, out, err) = cli::vouch(&["plugin", "keygen", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    (dir.join("vouch-plugin.key"), dir.join("vouch-plugin.pub"))
}

/// The statement inside a DSSE envelope line.
fn statement_of(envelope_line: &[u8]) -> Value {
    let env: Value = serde_json::from_slice(envelope_line).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// `statement` changed by `change`, about `subject`, signed with `key` as Vouch signs.
fn resigned(
    statement: &Value,
    subject: &Descriptor,
    key: &Path,
    change: impl FnOnce(&mut Value),
) -> Vec<u8> {
    let mut s = statement.clone();
    s["subject"][0]["digest"]["sha256"] = json!(subject.digest.hex());
    change(&mut s);
    let key = SigningKey::load(key).unwrap();
    envelope(&s, "", |m| key.sign(m)).unwrap()
}

/// Cluster B's configuration: the `vsa` verifier trusting only cluster A's key (`a_pub`) under
/// A's policy digest, for an hour; registry `host` over plain HTTP.
fn cluster_b_config(host: &str, a_pub: &Path, policy: &str) -> Value {
    json!({
        "verifiers": [{
            "name": "vsa",
            "path": guests::verifier("vsa"),
            "config": {
                "keys": [{"name": "cluster-a", "pemFile": a_pub,
                          "verifierIds": ["https://vouch.example/cluster-a"]}],
                "policyDigests": [policy],
                "maxAgeSeconds": 3600,
            },
        }],
        "policy": {"type": "config", "artifactVerificationPolicies": {DSSE_ENVELOPE: "any"}},
        "executor": {"resultCacheTtlMs": 0},
        "stores": {"registries": {"hosts": {host: {"insecure": true}}}},
    })
}

/// Cluster B's verdict on `reference`: exit code, the `vsa` reports' `errorReason`s, the report.
fn cluster_b(config: &Path, reference: &str) -> (i32, Vec<Option<String>>, Value) {
    let (code, out, err) = cli::vouch(&[
        "verify",
        reference,
        "-c",
        config.to_str().unwrap(),
        "-o",
        "json",
    ]);
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let reasons = report["verifierReports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verifierName"] == "vsa")
        .map(|r| r["errorReason"].as_str().map(str::to_owned))
        .collect();
    (code, reasons, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_b_admits_on_cluster_as_summary_and_rejects_bad_ones() {
    let reg = Registry::start();
    let host = reg.host();
    let tmp = tempfile::tempdir().unwrap();
    let (sign_key, sign_pub) = keygen(&tmp.path().join("release"));
    let (a_key, a_pub) = keygen(&tmp.path().join("cluster-a"));
    let (stranger_key, _) = keygen(&tmp.path().join("stranger"));
    let absent = tmp.path().join("absent.yaml");
    let image = |n: usize| format!("{host}/{REPO}:v{n}");

    // Images 1..=6; all but 4 signed with the release key.
    let mut desc = vec![Descriptor::for_content("x", b"")];
    for n in 1..=6 {
        desc.push(
            reg.push_image(REPO, &format!("v{n}"), format!("layer {n}").as_bytes())
                .await,
        );
        if n != 4 {
            let (code, out, err) =
                cli::vouch(&["sign", &image(n), "--key", sign_key.to_str().unwrap()]);
            assert_eq!(code, 0, "{out}\n{err}");
        }
    }

    // Cluster A: the full verification, summarized, signed, pushed and written.
    let a_out = tmp.path().join("a.intoto.jsonl");
    let cluster_a = |n: usize, out: &Path| {
        cli::vouch(&[
            "verify",
            &image(n),
            "-c",
            absent.to_str().unwrap(),
            "--key",
            sign_pub.to_str().unwrap(),
            "--attest-verdict",
            a_key.to_str().unwrap(),
            "--push",
            "--attest-out",
            out.to_str().unwrap(),
            "--verifier-id",
            "https://vouch.example/cluster-a",
        ])
    };
    let (code, out, err) = cluster_a(1, &a_out);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("PASSED, pushed"), "{err}");
    let policy = err
        .split_whitespace()
        .skip_while(|w| *w != "policy")
        .nth(1)
        .expect("the policy digest is printed")
        .to_owned();
    assert!(
        policy.starts_with("sha256:") && policy.len() == 71,
        "{policy}"
    );
    let passed = std::fs::read(&a_out).unwrap();
    let a_statement = statement_of(passed.split(|b| *b == b'\n').next().unwrap());
    assert_eq!(a_statement["predicate"]["verificationResult"], "PASSED");
    assert_eq!(
        a_statement["predicate"]["policy"]["digest"]["sha256"],
        policy[7..]
    );
    assert_eq!(
        a_statement["predicate"]["inputAttestations"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the cosign signature: {a_statement:#}"
    );

    // Cluster A on the unsigned image 4: FAILED, written but not pushed.
    let failed_out = tmp.path().join("failed.intoto.jsonl");
    let (code, _, err) = cluster_a(4, &failed_out);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("FAILED, not pushed"), "{err}");
    let failed = std::fs::read(&failed_out).unwrap();
    assert_eq!(
        statement_of(failed.trim_ascii_end())["predicate"]["verificationResult"],
        "FAILED"
    );

    // Cluster B: trusts A's key only, under A's policy digest, for an hour.
    let b_config = tmp.path().join("b.json");
    let b = cluster_b_config(&host, &a_pub, &policy);
    std::fs::write(&b_config, b.to_string()).unwrap();
    let (code, reasons, report) = cluster_b(&b_config, &image(1));
    assert_eq!((code, reasons), (0, vec![None]), "{report:#}");
    let vsa = &report["verifierReports"][0];
    assert_eq!(vsa["extensions"]["signer"], "cluster-a", "{vsa:#}");

    // The FAILED summary of image 4, attached by hand: not PASSED.
    reg.push_referrer(
        REPO,
        &desc[4],
        DSSE_ENVELOPE,
        DSSE_ENVELOPE,
        failed.trim_ascii_end(),
    )
    .await;
    // A's summary of image 1 attached to image 3: about another digest.
    reg.push_referrer(
        REPO,
        &desc[3],
        DSSE_ENVELOPE,
        DSSE_ENVELOPE,
        passed.trim_ascii_end(),
    )
    .await;
    // Stale: verified two hours ago.
    let stale = resigned(&a_statement, &desc[2], &a_key, |s| {
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        s["predicate"]["timeVerified"] = json!(vouch::report::ratify::rfc3339_nano(two_hours_ago));
    });
    reg.push_referrer(REPO, &desc[2], DSSE_ENVELOPE, DSSE_ENVELOPE, &stale)
        .await;
    // Signed by a key B does not trust.
    let stranger = resigned(&a_statement, &desc[5], &stranger_key, |_| {});
    reg.push_referrer(REPO, &desc[5], DSSE_ENVELOPE, DSSE_ENVELOPE, &stranger)
        .await;
    // Made under another policy.
    let other_policy = resigned(&a_statement, &desc[6], &a_key, |s| {
        s["predicate"]["policy"]["digest"]["sha256"] = json!("0".repeat(64));
    });
    reg.push_referrer(REPO, &desc[6], DSSE_ENVELOPE, DSSE_ENVELOPE, &other_policy)
        .await;

    for (n, expected) in [
        (2, "VSA_STALE"),
        (3, "VSA_SUBJECT_MISMATCH"),
        (4, "VSA_NOT_PASSED"),
        (5, "VSA_SIGNATURE_INVALID"),
        (6, "VSA_POLICY_MISMATCH"),
    ] {
        let (code, reasons, report) = cluster_b(&b_config, &image(n));
        assert_eq!(
            (code, reasons),
            (1, vec![Some(expected.to_owned())]),
            "image {n}: {report:#}"
        );
    }
    // "A fresh VSA from the platform key, or else the full verification" (the Rego example of
    // docs/verdicts.md): image 2's summary is stale but its cosign signature verifies; image 4
    // has neither.
    let either = tmp.path().join("either.json");
    let mut with_cosign = b.clone();
    with_cosign["verifiers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "cosign", "path": guests::verifier("cosign"),
                     "config": {"keys": [{"name": "release", "pemFile": sign_pub}]}}));
    with_cosign["policy"] = json!({"type": "rego", "policyPath":
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies/vsa-or-full-verification.rego")});
    std::fs::write(&either, with_cosign.to_string()).unwrap();
    for (n, code_expected, message) in [
        (1, 0, "admitted on a verification summary"),
        (2, 0, "admitted on the full verification"),
        (4, 1, "neither a trusted, fresh verification summary"),
    ] {
        let (code, _, report) = cluster_b(&either, &image(n));
        assert_eq!(code, code_expected, "image {n}: {report:#}");
        assert!(
            report["message"].as_str().unwrap().contains(message),
            "image {n}: {report:#}"
        );
    }

    // The stranger's summary re-signed by A passes beside it (policy `any`: summaries pile up
    // beside an image, one good one suffices): the rejection was for the signature alone.
    let fresh = resigned(&a_statement, &desc[5], &a_key, |_| {});
    reg.push_referrer(REPO, &desc[5], DSSE_ENVELOPE, DSSE_ENVELOPE, &fresh)
        .await;
    let (code, mut reasons, report) = cluster_b(&b_config, &image(5));
    reasons.sort();
    assert_eq!(
        (code, reasons),
        (0, vec![None, Some("VSA_SIGNATURE_INVALID".to_owned())]),
        "{report:#}"
    );
}

/// The statements of the verification summaries attached to `subject` in `repo`, read from the
/// registry's `sha256-<hex>` fallback index (docker-registry has no referrers API).
async fn summaries_of(reg: &Registry, repo: &str, subject: &Descriptor) -> Vec<Value> {
    let http = reqwest::Client::new();
    let get = |path: String, accept: &'static str| {
        let req = http
            .get(format!("{}/v2/{repo}/{path}", reg.url()))
            .header("accept", accept);
        async move { req.send().await.unwrap() }
    };
    let index = get(
        format!("manifests/sha256-{}", subject.digest.hex()),
        "application/vnd.oci.image.index.v1+json",
    )
    .await;
    if index.status() == 404 {
        return Vec::new();
    }
    let index: Value = index.json().await.unwrap();
    let mut out = Vec::new();
    for m in index["manifests"].as_array().unwrap() {
        if m["artifactType"] != DSSE_ENVELOPE {
            continue;
        }
        let manifest: Value = get(
            format!("manifests/{}", m["digest"].as_str().unwrap()),
            "application/vnd.oci.image.manifest.v1+json",
        )
        .await
        .json()
        .await
        .unwrap();
        let layer = manifest["layers"][0]["digest"].as_str().unwrap();
        let blob = get(format!("blobs/{layer}"), "*/*")
            .await
            .bytes()
            .await
            .unwrap();
        out.push(statement_of(&blob));
    }
    out
}

/// Issue 21: "`vouch verify … --attest-verdict KEY` (and a `serve` option)". `vouch serve
/// --attest-verdict` pushes a signed summary of each fresh PASSED verdict beside the image, in
/// the background and once per interval (a cached answer or a second replica's request inside
/// it pushes nothing more); a FAILED verdict is not pushed; and the summary is one cluster B
/// admits the image on, with A's key and A's policy digest only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_publishes_summaries_of_fresh_passing_verdicts_for_other_clusters() {
    use support::vouch_serve::{Server, VERIFY_PATH, provider_request};
    let reg = Registry::start();
    let host = reg.host();
    let tmp = tempfile::tempdir().unwrap();
    let (sign_key, sign_pub) = keygen(&tmp.path().join("release"));
    let (a_key, a_pub) = keygen(&tmp.path().join("cluster-a"));
    let image = |n: usize| format!("{host}/{REPO}:v{n}");
    let mut desc = vec![Descriptor::for_content("x", b"")];
    for n in 1..=2 {
        desc.push(
            reg.push_image(REPO, &format!("v{n}"), format!("layer {n}").as_bytes())
                .await,
        );
    }
    // Image 1 signed, image 2 not.
    let (code, out, err) = cli::vouch(&["sign", &image(1), "--key", sign_key.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");

    let cosign = "application/vnd.dev.cosign.artifact.sig.v1+json";
    let a = json!({
        "verifiers": [{"name": "cosign", "path": guests::verifier("cosign"),
                       "config": {"keys": [{"name": "release", "pemFile": sign_pub}]}}],
        "policy": {"type": "config", "artifactVerificationPolicies": {cosign: "all"}},
        "stores": {"registries": {"hosts": {host.clone(): {"insecure": true}}}},
    });
    let served = Server::start_with(
        &a,
        &[
            "--attest-verdict",
            a_key.to_str().unwrap(),
            "--verifier-id",
            "https://vouch.example/cluster-a",
        ],
        "info",
    )
    .await;
    let (status, answer) = served
        .post(VERIFY_PATH, provider_request(&[&image(1), &image(2)]))
        .await;
    assert_eq!(status, 200, "{answer:#}");
    let items = answer["response"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{answer:#}");

    // Published in the background: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let summaries = loop {
        let s = summaries_of(&reg, REPO, &desc[1]).await;
        if !s.is_empty() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no summary pushed: {}",
            served.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(summaries.len(), 1);
    let p = &summaries[0]["predicate"];
    assert_eq!(p["verificationResult"], "PASSED");
    assert_eq!(p["verifier"]["id"], "https://vouch.example/cluster-a");
    assert_eq!(
        summaries[0]["subject"][0]["digest"]["sha256"],
        desc[1].digest.hex()
    );
    assert!(
        summaries_of(&reg, REPO, &desc[2]).await.is_empty(),
        "a FAILED verdict is not pushed"
    );

    // Asked again (a cached answer): nothing more is pushed.
    let (status, _) = served
        .post(VERIFY_PATH, provider_request(&[&image(1)]))
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(summaries_of(&reg, REPO, &desc[1]).await.len(), 1);
    let metrics = served
        .http
        .get(served.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("vouch_verification_summaries_total{tenant=\"default\",result=\"pushed\"} 1"),
        "{metrics}"
    );

    // Cluster B admits image 1 on A's summary alone.
    let policy = format!(
        "sha256:{}",
        p["policy"]["digest"]["sha256"].as_str().unwrap()
    );
    let b_config = tmp.path().join("b.json");
    let b = cluster_b_config(&host, &a_pub, &policy);
    std::fs::write(&b_config, b.to_string()).unwrap();
    let (code, reasons, report) = cluster_b(&b_config, &image(1));
    assert_eq!((code, reasons), (0, vec![None]), "{report:#}");
    let (code, _, report) = cluster_b(&b_config, &image(2));
    assert_eq!(code, 1, "{report:#}");
}
