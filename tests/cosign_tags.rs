//! Cosign's default signature storage: `cosign sign` (without `--registry-referrers-mode=oci-1-1`)
//! pushes the signature as an image manifest tagged `sha256-<subject hex>.sig` in the subject's
//! repository, one `application/vnd.dev.cosign.simplesigning.v1+json` layer per signature with the
//! signature in the layer annotation `dev.cosignproject.cosign/signature`, and **no `subject`
//! field**: the tag name is the binding. The store finds it by that tag (one extra HEAD per listed
//! node) and the executor accepts it without a subject; the cosign verifier compares the payload's
//! `critical.image.docker-manifest-digest` with the subject.
//!
//! Signatures are made with `xtask::fixtures::cosign` (cosign's simple-signing payload) and laid
//! out the way cosign's documented tag format has them; pushed to Debian's `docker-registry` on
//! 127.0.0.1, and to the test registry of `support/fake.rs` for a hostile referrers API.

#[path = "support/cli.rs"]
mod cli;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use serde_json::json;
use support::fake::TestRegistry;
use support::registry::Registry;
use support::verify::verify_subject;
use vouch::config::Config;
use vouch::oci::Descriptor;
use vouch::oci::manifest::{
    BINDING_ANNOTATION, BOUND_SUBJECT_ANNOTATION, COSIGN_ATTESTATION_ARTIFACT_TYPE,
    COSIGN_SIGNATURE_ARTIFACT_TYPE, COSIGN_TAG_BINDING, OCI_MANIFEST,
};
use vouch::report::{REFERRER_SUBJECT_MISMATCH, SubjectReport};
use xtask::fixtures::cosign::{
    IMAGE_CONFIG, Key, Layer, SIMPLE_SIGNING, generate_key, simple_signing_payload,
    tag_manifest as cosign_tag_manifest,
};

const REPO: &str = "team/signed";

/// A config with only the cosign verifier, trusting `key`, requiring a cosign signature, against
/// `host` over plain HTTP.
fn config_yaml(host: &str, key: &Key) -> String {
    let doc = json!({
        "verifiers": [{
            "name": "cosign",
            "path": guests::verifier("cosign"),
            "config": {"keys": [{"name": "team", "pem": key.public_key_pem()}]},
        }],
        "policy": {
            "type": "config",
            "artifactVerificationPolicies": {COSIGN_SIGNATURE_ARTIFACT_TYPE: "all"},
        },
        "executor": {"resultCacheTtlMs": 0},
        "stores": {"registries": {"hosts": {host: {"insecure": true}}}},
    });
    doc.to_string()
}

fn config(host: &str, key: &Key) -> Config {
    Config::parse(
        &config_yaml(host, key),
        true,
        std::path::Path::new("test.json"),
    )
    .unwrap()
}

async fn verify(config: &Config, reference: &str) -> SubjectReport {
    verify_subject(config, reference, false).await
}

/// A cosign `.sig` manifest as cosign lays it out (`xtask::fixtures::cosign::tag_manifest`): an
/// OCI image manifest whose config is an image config listing the layers' diff IDs, one
/// simple-signing layer per signature carrying its annotations, no `artifactType` and no
/// `subject`. Returns the manifest and its blobs.
fn tag_manifest(layers: &[Layer]) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let layers: Vec<_> = layers
        .iter()
        .map(|l| (l.payload.clone(), l.annotations.clone()))
        .collect();
    let m = cosign_tag_manifest(SIMPLE_SIGNING, &layers);
    let blobs = m
        .blobs
        .into_iter()
        .map(|b| (b.media_type, b.data))
        .collect();
    (m.manifest, blobs)
}

/// Push `layers` as cosign's signature of `subject`: blobs, then the manifest tagged
/// `sha256-<hex>.sig`.
async fn push_tag_signature(reg: &Registry, subject: &Descriptor, layers: &[Layer]) -> Descriptor {
    let (manifest, blobs) = tag_manifest(layers);
    for (media_type, data) in &blobs {
        reg.push_blob(REPO, media_type, data).await;
    }
    let tag = format!("sha256-{}.sig", subject.digest.hex());
    reg.push_manifest(REPO, &tag, &manifest, OCI_MANIFEST).await
}

fn cosign_report(report: &SubjectReport) -> &vouch::report::VerifierReport {
    report
        .verifier_reports
        .iter()
        .find(|r| r.verifier_name == "cosign")
        .unwrap_or_else(|| panic!("no cosign report: {report:#?}"))
}

/// A tag-signed image passes, and `vouch discover` lists the `.sig` manifest as a cosign
/// signature of the image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_signed_image_passes_and_discover_shows_it() {
    let reg = Registry::start();
    let key = generate_key().unwrap();
    let image = reg.push_image(REPO, "v1", b"signed layer").await;
    let payload =
        simple_signing_payload(&format!("{}/{REPO}", reg.host()), &image.digest.to_string());
    let sig = push_tag_signature(&reg, &image, &[Layer::key_signed(payload, &key).unwrap()]).await;
    let config = config(&reg.host(), &key);
    let reference = reg.reference(REPO, "v1");

    let report = verify(&config, &reference).await;
    assert!(report.is_success, "{report:#?}");
    let cosign = cosign_report(&report);
    assert!(cosign.is_success, "{cosign:#?}");
    assert_eq!(cosign.reference_digest, sig.digest.to_string());
    assert_eq!(cosign.artifact_type, COSIGN_SIGNATURE_ARTIFACT_TYPE);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vouch.json");
    std::fs::write(&path, config_yaml(&reg.host(), &key)).unwrap();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        cli::vouch(&["discover", &reference, "-c", path.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&sig.digest.to_string()), "{out}");
    assert!(out.contains(COSIGN_SIGNATURE_ARTIFACT_TYPE), "{out}");
}

/// cosign's verification compares the payload's `critical.image.docker-manifest-digest` with the
/// image: a `.sig` manifest under the right tag whose payload names another digest fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_naming_another_digest_fails() {
    let reg = Registry::start();
    let key = generate_key().unwrap();
    let image = reg.push_image(REPO, "v1", b"signed layer").await;
    let other = reg.push_image(REPO, "v2", b"another layer").await;
    let payload =
        simple_signing_payload(&format!("{}/{REPO}", reg.host()), &other.digest.to_string());
    push_tag_signature(&reg, &image, &[Layer::key_signed(payload, &key).unwrap()]).await;
    let report = verify(&config(&reg.host(), &key), &reg.reference(REPO, "v1")).await;
    assert!(!report.is_success, "{report:#?}");
    let cosign = cosign_report(&report);
    assert!(!cosign.is_success);
    assert!(
        cosign.message.contains(&other.digest.to_string()),
        "{cosign:#?}"
    );
}

/// A signature that does not verify over the payload fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_tag_signature_fails() {
    let reg = Registry::start();
    let key = generate_key().unwrap();
    let image = reg.push_image(REPO, "v1", b"signed layer").await;
    let payload =
        simple_signing_payload(&format!("{}/{REPO}", reg.host()), &image.digest.to_string());
    let signed = Layer::key_signed(payload.clone(), &key).unwrap();
    // The signature of another payload: valid base64 and a real signature, over other bytes.
    let forged = Layer::key_signed(b"{\"other\":true}".to_vec(), &key).unwrap();
    let tampered = Layer {
        payload,
        annotations: forged.annotations.clone(),
    };
    assert_ne!(signed.signature(), tampered.signature());
    push_tag_signature(&reg, &image, &[tampered]).await;
    let report = verify(&config(&reg.host(), &key), &reg.reference(REPO, "v1")).await;
    assert!(!report.is_success, "{report:#?}");
    assert!(!cosign_report(&report).is_success);
}

/// No `.sig` tag and no referrers: unsigned, a failed verdict (the missing tag is no error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_without_sig_tag_or_referrers_is_unsigned() {
    let reg = Registry::start();
    let key = generate_key().unwrap();
    reg.push_image(REPO, "v1", b"unsigned layer").await;
    let report = verify(&config(&reg.host(), &key), &reg.reference(REPO, "v1")).await;
    assert!(!report.is_success, "{report:#?}");
    assert!(report.verifier_reports.is_empty(), "{report:#?}");
    assert!(
        report.message.contains("no referrers"),
        "{}",
        report.message
    );
}

/// The binding annotation is Vouch's own: a registry that puts it on a descriptor its referrers
/// API lists gets it stripped, so a manifest without `subject` listed there is still refused
/// (invariant 6: "a referrer whose `subject` is not the node it is listed under").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_cannot_forge_the_tag_binding() {
    let reg = TestRegistry::start().await;
    let key = generate_key().unwrap();
    let layer = reg.put_blob(REPO, "application/octet-stream", b"image layer");
    let image_manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": reg.put_blob(REPO, IMAGE_CONFIG, b"{}"),
        "layers": [layer],
    });
    let image = reg.put_manifest(
        REPO,
        Some("v1"),
        image_manifest.to_string().as_bytes(),
        OCI_MANIFEST,
    );
    let payload = simple_signing_payload("example.test/app", &image.digest.to_string());
    let (manifest, blobs) = tag_manifest(&[Layer::key_signed(payload, &key).unwrap()]);
    for (media_type, data) in &blobs {
        reg.put_blob(REPO, media_type, data);
    }
    // Stored by digest only: no `.sig` tag, so only the referrers API lists it.
    let mut listed = reg.put_manifest(REPO, None, &manifest, OCI_MANIFEST);
    listed.artifact_type = Some(COSIGN_SIGNATURE_ARTIFACT_TYPE.into());
    listed
        .annotations
        .insert(BINDING_ANNOTATION.into(), COSIGN_TAG_BINDING.into());
    listed
        .annotations
        .insert(BOUND_SUBJECT_ANNOTATION.into(), image.digest.to_string());
    reg.behave(|b| b.hostile_referrers = Some(vec![listed.clone()]));

    let report = verify(
        &config(&reg.host(), &key),
        &format!("{}/{REPO}:v1", reg.host()),
    )
    .await;
    assert!(!report.is_success, "{report:#?}");
    assert!(
        report.message.contains(REFERRER_SUBJECT_MISMATCH) && report.message.contains("absent"),
        "{}",
        report.message
    );

    // The same manifest under the `.sig` tag is bound by the store and passes.
    reg.put_manifest(
        REPO,
        Some(&format!("sha256-{}.sig", image.digest.hex())),
        &manifest,
        OCI_MANIFEST,
    );
    reg.behave(|b| b.hostile_referrers = Some(Vec::new()));
    let report = verify(
        &config(&reg.host(), &key),
        &format!("{}/{REPO}:v1", reg.host()),
    )
    .await;
    assert!(report.is_success, "{report:#?}");
}

/// The tag lookup costs one request per listed node, a missing tag (404) is no signature, and any
/// other failure of the lookup is an error, never "unsigned": a `.sig` tag the registry cannot
/// describe (no digest on HEAD) and whose manifest is not JSON fails the listing.
#[tokio::test]
async fn the_tag_lookup_is_one_request_and_its_failures_are_errors() {
    use std::sync::Arc;
    use vouch::oci::registry::{RegistryClient, RegistryConfig};
    use vouch::store::StoreAccess;
    use vouch::store::registry::RegistryStore;

    let reg = TestRegistry::start().await;
    let layer = reg.put_blob(REPO, "application/octet-stream", b"image layer");
    let image_manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": reg.put_blob(REPO, IMAGE_CONFIG, b"{}"),
        "layers": [layer],
    });
    let image = reg.put_manifest(
        REPO,
        Some("v1"),
        image_manifest.to_string().as_bytes(),
        OCI_MANIFEST,
    );
    let client = Arc::new(RegistryClient::new(RegistryConfig::default()).unwrap());
    let store = RegistryStore::new(client, format!("{}/{REPO}:v1", reg.host()).parse().unwrap());

    let before = reg.requests();
    let listed = store.list_referrers(&image.digest, None).await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    assert_eq!(
        reg.requests() - before,
        3,
        "the referrers API and one request for each of the `.sig` and `.att` tags"
    );
    // Asking for another artifact type skips the lookups; asking for one kind makes one.
    let before = reg.requests();
    store
        .list_referrers(&image.digest, Some("application/spdx+json"))
        .await
        .unwrap();
    assert_eq!(reg.requests() - before, 1);
    let before = reg.requests();
    store
        .list_referrers(&image.digest, Some(COSIGN_ATTESTATION_ARTIFACT_TYPE))
        .await
        .unwrap();
    assert_eq!(reg.requests() - before, 2);

    // Cached like referrers: behind the TTL caches, a found `.att` tag is listed again without
    // a request until the referrers TTL passes.
    let att = reg.put_manifest(
        REPO,
        Some(&format!("sha256-{}.att", image.digest.hex())),
        image_manifest.to_string().as_bytes(),
        OCI_MANIFEST,
    );
    let cached = vouch::store::cache::CachedStore::new(
        Arc::new(store.clone()),
        vouch::store::cache::CacheConfig::default(),
    )
    .unwrap();
    let first = cached.list_referrers(&image.digest, None).await.unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].digest, att.digest);
    assert_eq!(
        first[0].artifact_type.as_deref(),
        Some(COSIGN_ATTESTATION_ARTIFACT_TYPE)
    );
    let before = reg.requests();
    assert_eq!(
        cached.list_referrers(&image.digest, None).await.unwrap(),
        first
    );
    assert_eq!(reg.requests(), before, "served from the referrers cache");

    reg.put_manifest(
        REPO,
        Some(&format!("sha256-{}.sig", image.digest.hex())),
        b"not json",
        OCI_MANIFEST,
    );
    reg.behave(|b| b.omit_head_digest = true);
    let err = store.list_referrers(&image.digest, None).await.unwrap_err();
    assert!(err.to_string().contains(".sig"), "{err}");
}
