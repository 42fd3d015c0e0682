//! In-toto statements signed with notation (issue 13: "in-toto statements signed with
//! notation"), through the whole engine on an OCI layout: an attestation artifact (artifact type
//! and layer `application/vnd.in-toto+json`, `subject` the image) with a notation signature over
//! it made as `notation sign` makes one (`xtask::fixtures::notation`). The notation verifier,
//! routed the attestation type with `artifactTypes`, hands the statement on only once a
//! signature over the attestation verified.

#[allow(dead_code)]
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)]
#[path = "support/layout.rs"]
mod layout;
mod support;

use serde_json::{Value, json};
use vouch::config::Config;
use vouch::oci::Descriptor;
use vouch::report::{SubjectReport, VerifierReport};
use xtask::fixtures::notation::{self as fx, ChainOptions, JwsOptions, Target, TestChain};

use layout::LayoutBuilder;

const INTOTO: &str = "application/vnd.in-toto+json";
const SLSA: &str = "https://slsa.dev/provenance/v1";

fn target(d: &Descriptor) -> Target {
    Target {
        media_type: d.media_type.clone(),
        digest: d.digest.to_string(),
        size: d.size,
    }
}

fn statement(subject: &Descriptor) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.test/team/app", "digest": {"sha256": subject.digest.hex()}}],
        "predicateType": SLSA,
        "predicate": {"buildDefinition": {"buildType": "https://example.test/build/v1"},
                      "runDetails": {"builder": {"id": "https://ci.example.test/builder"}}},
    }))
    .unwrap()
}

/// Attach a notation signature of `attested` (signed by `chain`) as its referrer.
fn sign(b: &mut LayoutBuilder, chain: &TestChain, attested: &Descriptor) {
    let envelope = fx::sign_jws(
        &target(attested),
        &chain.leaf_key_pkcs8,
        &chain.x5c(),
        &JwsOptions::now(),
    )
    .unwrap();
    b.referrer(
        attested,
        fx::SIGNATURE_ARTIFACT_TYPE,
        &[(fx::JWS_MEDIA_TYPE, &envelope)],
        &[],
    );
}

/// The engine configuration: the notation verifier routed signatures and attestations, the
/// attestation type required.
fn config(dir: &std::path::Path, chain: &TestChain, identity: &str) -> Config {
    let text = json!({
        "verifiers": [{
            "name": "notation",
            "path": guests::verifier("notation"),
            "artifactTypes": [fx::SIGNATURE_ARTIFACT_TYPE, INTOTO],
            "config": {
                "trustPolicy": {"version": "1.0", "trustPolicies": [{
                    "name": "default", "registryScopes": ["*"],
                    "signatureVerification": {"level": "strict"},
                    "trustStores": ["ca:test"], "trustedIdentities": [identity]}]},
                "trustStores": {"ca": {"test": [chain.root_pem]}},
                "attestationTypes": [SLSA],
            },
        }],
        "policy": {"type": "config", "artifactVerificationPolicies": {INTOTO: "all"}},
    });
    let path = dir.join("vouch.json");
    std::fs::write(&path, text.to_string()).unwrap();
    Config::load(&path).unwrap()
}

fn attestation_report(r: &SubjectReport) -> &VerifierReport {
    r.verifier_reports
        .iter()
        .find(|v| v.artifact_type == INTOTO)
        .unwrap_or_else(|| panic!("no attestation report: {r:#?}"))
}

/// Signed: passes, with the signer and the statement; unsigned, about another image, or changed
/// after signing (its digest changes, so the signature no longer hangs under it): each fails
/// with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notation_signed_statements_are_verified_and_handed_on() {
    let opts = ChainOptions::valid_now();
    let chain = fx::test_chain(&opts).unwrap();
    let identity = opts.leaf_subject.identity();
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path());
    let signed = b.image("signed", &[b"one"]);
    let unsigned = b.image("unsigned", &[b"two"]);
    let other = b.image("other", &[b"three"]);
    let tampered = b.image("tampered", &[b"four"]);

    let att = b.referrer(&signed, INTOTO, &[(INTOTO, &statement(&signed))], &[]);
    sign(&mut b, &chain, &att);
    b.referrer(&unsigned, INTOTO, &[(INTOTO, &statement(&unsigned))], &[]);
    // Attached to `other` but about `signed`.
    let about_signed = b.referrer(&other, INTOTO, &[(INTOTO, &statement(&signed))], &[]);
    sign(&mut b, &chain, &about_signed);
    // The attestation that was signed is not the one attached: a statement edited after
    // signing is a new manifest, and the signature names the old one.
    let original = b.referrer(&tampered, INTOTO, &[(INTOTO, &statement(&tampered))], &[]);
    let mut edited: Value = serde_json::from_slice(&statement(&tampered)).unwrap();
    edited["predicate"]["runDetails"]["builder"]["id"] = json!("https://evil.test/builder");
    let edited = serde_json::to_vec(&edited).unwrap();
    b.referrer(&tampered, INTOTO, &[(INTOTO, &edited)], &[]);
    sign(&mut b, &chain, &original);
    b.finish();
    let config = config(dir.path(), &chain, &identity);
    let subject = |tag: &str| format!("{}:{tag}", dir.path().display());

    let r = support::verify::verify_subject(&config, &subject("signed"), true).await;
    assert!(r.is_success, "{r:#?}");
    let a = attestation_report(&r);
    assert_eq!(a.extensions["predicateType"], SLSA);
    assert!(
        a.extensions["SN"].as_str().unwrap().contains("CN="),
        "{a:#?}"
    );
    let stmt = &a.extensions["statement"];
    assert_eq!(
        stmt["predicate"]["runDetails"]["builder"]["id"], "https://ci.example.test/builder",
        "{a:#?}"
    );

    for (tag, reason) in [
        ("unsigned", "ATTESTATION_UNSIGNED"),
        ("other", "SUBJECT_MISMATCH"),
    ] {
        let r = support::verify::verify_subject(&config, &subject(tag), true).await;
        assert!(!r.is_success, "{tag}: {r:#?}");
        let a = attestation_report(&r);
        assert_eq!(a.error_reason.as_deref(), Some(reason), "{tag}: {a:#?}");
    }
    // The edited statement is unsigned; the signed original still passes beside it, but under
    // `all` the edited one fails the image.
    let r = support::verify::verify_subject(&config, &subject("tampered"), true).await;
    assert!(!r.is_success, "{r:#?}");
    let reasons: Vec<Option<&str>> = r
        .verifier_reports
        .iter()
        .filter(|v| v.artifact_type == INTOTO)
        .map(|v| v.error_reason.as_deref())
        .collect();
    assert_eq!(reasons.len(), 2, "{r:#?}");
    assert!(
        reasons.contains(&Some("ATTESTATION_UNSIGNED")),
        "{reasons:?}"
    );
    assert!(reasons.contains(&None), "{reasons:?}");
}
