//! cosign's attestations as cosign stores them by default: `cosign attest` pushes an image
//! manifest tagged `sha256-<subject hex>.att` in the subject's repository (or in
//! `COSIGN_REPOSITORY`), one `application/vnd.dsse.envelope.v1+json` layer per attestation whose
//! blob is a DSSE envelope of an in-toto statement, and no `subject` field: the tag is the
//! binding, as for `.sig`. The store lists it as a referrer of artifact type
//! `application/vnd.dev.cosign.artifact.att.v1+json` (the type cosign computes for its `att`
//! attachment), bound to the digest its tag names; the cosign verifier checks the DSSE signature
//! over the PAE, the statement's subject and the accepted predicate types.
//!
//! The image is an OCI layout written here and copied to Debian's `docker-registry` on 127.0.0.1
//! with Debian's `skopeo` (a real OCI tool, not our pusher); the `.sig` / `.att` manifests are our
//! own fixtures (`xtask::fixtures::cosign`), pushed under cosign's tags, in the image's repository
//! or in a second one named by the registry's `signatureRepository`. The same artifacts in an OCI
//! layout are found by tag too; the guest's checks are exercised on the layout.

#[path = "support/cli.rs"]
mod cli;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::registry::Registry;
use support::verify::verify_subject;
use vouch::config::Config;
use vouch::oci::manifest::{
    COSIGN_ATTESTATION_ARTIFACT_TYPE, COSIGN_SIGNATURE_ARTIFACT_TYPE, OCI_INDEX, OCI_MANIFEST,
};
use vouch::oci::registry::{RegistryClient, RegistryConfig};
use vouch::oci::{Descriptor, Digest};
use vouch::report::{SubjectReport, VerifierReport};
use vouch::runtime::{Runtime, RuntimeConfig};
use xtask::fixtures::cosign::{
    Attestation, BUNDLE_ANNOTATION, Fulcio, IN_TOTO, IssuerExtension, Key, Layer, Rekor,
    SIMPLE_SIGNING, San, SignatureManifest, attestation_tag_manifest, dsse_envelope, generate_key,
    in_toto_statement, simple_signing_payload, tag_manifest, trusted_root,
};

const REPO: &str = "team/app";
const SIG_REPO: &str = "team/signatures";
const SLSA: &str = "https://slsa.dev/provenance/v1";
const SPDX: &str = "https://spdx.dev/Document";
const ISSUER: &str = "https://accounts.example.test";
const EMAIL: &str = "dev@example.test";
const SKOPEO: &str = "/usr/bin/skopeo";

// ---------------------------------------------------------------------------------------------
// Fixtures

/// Write an OCI layout holding one real image (a tar layer of one file, an image config whose
/// `rootfs.diff_ids` names it) tagged `tag`; returns the image manifest's descriptor.
fn image_layout(dir: &Path, tag: &str, content: &[u8]) -> Descriptor {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put = |media_type: &str, data: &[u8]| {
        let d = Descriptor::for_content(media_type, data);
        std::fs::write(blobs.join(d.digest.hex()), data).unwrap();
        d
    };
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("hello.txt"), content).unwrap();
    let tar = Command::new("tar")
        .args(["--mtime=@0", "--owner=0", "--group=0", "-cf", "-", "-C"])
        .arg(src.path())
        .arg("hello.txt")
        .output()
        .unwrap();
    assert!(tar.status.success(), "tar failed");
    let layer = put("application/vnd.oci.image.layer.v1.tar", &tar.stdout);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [layer.digest.to_string()]},
    }))
    .unwrap();
    let config = put("application/vnd.oci.image.config.v1+json", &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": [layer],
    }))
    .unwrap();
    let image = put(OCI_MANIFEST, &manifest);
    write_index(dir, &[(image.clone(), tag.to_owned())]);
    image
}

/// Write `index.json` listing `entries` under their `org.opencontainers.image.ref.name` tags.
fn write_index(dir: &Path, entries: &[(Descriptor, String)]) {
    let manifests: Vec<Value> = entries
        .iter()
        .map(|(d, tag)| {
            json!({"mediaType": d.media_type, "digest": d.digest, "size": d.size,
                   "annotations": {"org.opencontainers.image.ref.name": tag}})
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Copy the layout's `tag` to `reg`'s `repo:tag` with Debian's `skopeo` (plain HTTP, no signature
/// policy), installing it when missing; returns the descriptor the registry now serves for the
/// tag. skopeo compresses the tar layer on the way to a registry, so the manifest (and the digest
/// cosign signs) is the registry's, not the layout's.
async fn skopeo_copy(layout: &Path, tag: &str, reg: &Registry, repo: &str) -> Descriptor {
    support::process::apt_install("skopeo", SKOPEO, "the cosign attestation tests");
    let out = Command::new(SKOPEO)
        .args([
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--quiet",
        ])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{}/{repo}:{tag}", reg.host()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client = RegistryClient::new(RegistryConfig::default()).unwrap();
    let reference = reg.reference(repo, tag).parse().unwrap();
    let fetched = client.fetch_manifest_ref(&reference, tag).await.unwrap();
    let layers: Vec<&str> = fetched
        .manifest
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect();
    assert_eq!(layers, ["application/vnd.oci.image.layer.v1.tar+gzip"]);
    fetched.descriptor
}

/// A key-signed attestation of `digest` with `predicate_type`.
fn attestation(key: &Key, digest: &Digest, predicate_type: &str) -> Attestation {
    let statement = in_toto_statement("example.test/app", digest.hex(), predicate_type);
    Attestation::key_signed(statement, predicate_type, key).unwrap()
}

/// cosign's `.sig` manifest of one key-based signature of `digest`.
fn signature(key: &Key, digest: &Digest) -> SignatureManifest {
    let payload = simple_signing_payload("example.test/app", &digest.to_string());
    let layer = Layer::key_signed(payload, key).unwrap();
    tag_manifest(SIMPLE_SIGNING, &[(layer.payload, layer.annotations)])
}

/// Push `m` to `repo` of `reg` under cosign's tag `sha256-<subject hex><suffix>`.
async fn push_tagged(
    reg: &Registry,
    repo: &str,
    subject: &Digest,
    suffix: &str,
    m: &SignatureManifest,
) -> Descriptor {
    for b in &m.blobs {
        reg.push_blob(repo, &b.media_type, &b.data).await;
    }
    let tag = format!("{}{suffix}", subject.fallback_tag());
    reg.push_manifest(repo, &tag, &m.manifest, OCI_MANIFEST)
        .await
}

/// An image copied by skopeo to `REPO:tag`, with cosign's `.sig` (a key-based signature by
/// `key`) and `.att` (a SLSA attestation by `key`) tags pushed to `tags_repo`; returns the image,
/// the signature and the attestation manifests' descriptors.
async fn signed_and_attested(
    reg: &Registry,
    tag: &str,
    tags_repo: &str,
    key: &Key,
) -> (Descriptor, Descriptor, Descriptor) {
    let layout = tempfile::tempdir().unwrap();
    image_layout(layout.path(), tag, format!("image {tag}\n").as_bytes());
    let image = skopeo_copy(layout.path(), tag, reg, REPO).await;
    let sig_manifest = signature(key, &image.digest);
    let sig = push_tagged(reg, tags_repo, &image.digest, ".sig", &sig_manifest).await;
    let att_manifest = attestation_tag_manifest(&[attestation(key, &image.digest, SLSA)]);
    let att = push_tagged(reg, tags_repo, &image.digest, ".att", &att_manifest).await;
    (image, sig, att)
}

/// The cosign verifier with `cosign_config`, a policy requiring every listed artifact type, and
/// `registries` as the `stores.registries` section.
fn config_json(cosign_config: Value, required: &[&str], registries: Value) -> String {
    let policies: serde_json::Map<String, Value> = required
        .iter()
        .map(|t| ((*t).to_owned(), json!("all")))
        .collect();
    json!({
        "verifiers": [{
            "name": "cosign",
            "path": guests::verifier("cosign"),
            "artifactTypes": [COSIGN_SIGNATURE_ARTIFACT_TYPE, COSIGN_ATTESTATION_ARTIFACT_TYPE],
            "config": cosign_config,
        }],
        "policy": {"type": "config", "artifactVerificationPolicies": policies},
        "executor": {"resultCacheTtlMs": 0},
        "stores": {"registries": registries},
    })
    .to_string()
}

fn key_config(key: &Key) -> Value {
    json!({"keys": [{"name": "team", "pem": key.public_key_pem()}]})
}

fn insecure(reg: &Registry) -> Value {
    json!({"hosts": {reg.host(): {"insecure": true}}})
}

fn parse(text: &str) -> Config {
    Config::parse(text, true, Path::new("test.json")).unwrap()
}

fn report_for<'a>(report: &'a SubjectReport, artifact_type: &str) -> &'a VerifierReport {
    report
        .verifier_reports
        .iter()
        .find(|r| r.artifact_type == artifact_type)
        .unwrap_or_else(|| panic!("no report for {artifact_type}: {report:#?}"))
}

fn ext<'a>(r: &'a VerifierReport, key: &str) -> &'a str {
    r.extensions
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no extension {key}: {r:#?}"))
}

/// Run `vouch discover` on `subject` with the config `text`; returns stdout.
async fn discover(text: String, subject: String) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vouch.json");
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        cli::vouch(&["discover", &subject, "-c", path.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    out
}

// ---------------------------------------------------------------------------------------------
// A real registry

/// An image copied by skopeo, signed (`.sig`) and attested (`.att`) under cosign's tags: both are
/// listed, both verify, the attestation's report names its predicate type, and `vouch discover`
/// shows each with the tag it was found under.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skopeo_copied_image_with_sig_and_att_tags_verifies_and_discover_shows_both() {
    let reg = Registry::start();
    let key = generate_key().unwrap();
    let (image, sig, att) = signed_and_attested(&reg, "v1", REPO, &key).await;

    let text = config_json(
        key_config(&key),
        &[
            COSIGN_SIGNATURE_ARTIFACT_TYPE,
            COSIGN_ATTESTATION_ARTIFACT_TYPE,
        ],
        insecure(&reg),
    );
    let reference = reg.reference(REPO, "v1");
    let report = verify_subject(&parse(&text), &reference, false).await;
    assert!(report.is_success, "{report:#?}");
    let a = report_for(&report, COSIGN_ATTESTATION_ARTIFACT_TYPE);
    assert!(a.is_success, "{a:#?}");
    assert_eq!(a.reference_digest, att.digest.to_string());
    assert_eq!(ext(a, "predicateType"), SLSA);
    assert_eq!(ext(a, "key"), "team");
    assert!(a.message.contains(SLSA), "{}", a.message);
    let s = report_for(&report, COSIGN_SIGNATURE_ARTIFACT_TYPE);
    assert!(s.is_success, "{s:#?}");
    assert_eq!(s.reference_digest, sig.digest.to_string());

    let out = discover(text, reference).await;
    let hex = image.digest.hex();
    for (at, d, tag) in [
        (
            COSIGN_SIGNATURE_ARTIFACT_TYPE,
            &sig.digest,
            format!("sha256-{hex}.sig"),
        ),
        (
            COSIGN_ATTESTATION_ARTIFACT_TYPE,
            &att.digest,
            format!("sha256-{hex}.att"),
        ),
    ] {
        let line = format!("{at} {d} (tag {tag})");
        assert!(out.contains(&line), "{line} missing from:\n{out}");
    }
}

/// cosign's `COSIGN_REPOSITORY`: signatures and attestations pushed to another repository are
/// found there when the registry's `signatureRepository` names it (credentials and transport of
/// the same registry entry), and not otherwise; the image's own repository holds none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_in_a_signature_repository_are_read_from_there() {
    let reg = Registry::start();
    let key = generate_key().unwrap();
    let (image, sig, att) = signed_and_attested(&reg, "v2", SIG_REPO, &key).await;
    let required = [
        COSIGN_SIGNATURE_ARTIFACT_TYPE,
        COSIGN_ATTESTATION_ARTIFACT_TYPE,
    ];
    let reference = reg.reference(REPO, "v2");

    // Without the setting: the image's repository has no signature, so it is unsigned.
    let plain = verify_subject(
        &parse(&config_json(key_config(&key), &required, insecure(&reg))),
        &reference,
        false,
    )
    .await;
    assert!(!plain.is_success, "{plain:#?}");
    assert!(plain.verifier_reports.is_empty(), "{plain:#?}");

    let registries = json!({"hosts": {reg.host(): {
        "insecure": true,
        "signatureRepository": format!("{}/{SIG_REPO}", reg.host()),
    }}});
    let text = config_json(key_config(&key), &required, registries);
    let report = verify_subject(&parse(&text), &reference, false).await;
    assert!(report.is_success, "{report:#?}");
    assert_eq!(
        report_for(&report, COSIGN_SIGNATURE_ARTIFACT_TYPE).reference_digest,
        sig.digest.to_string()
    );
    let a = report_for(&report, COSIGN_ATTESTATION_ARTIFACT_TYPE);
    assert_eq!(a.reference_digest, att.digest.to_string());
    assert_eq!(ext(a, "predicateType"), SLSA);

    let out = discover(text, reference).await;
    let line = format!(
        "{COSIGN_ATTESTATION_ARTIFACT_TYPE} {} (tag sha256-{}.att in {}/{SIG_REPO})",
        att.digest,
        image.digest.hex(),
        reg.host()
    );
    assert!(out.contains(&line), "{line} missing from:\n{out}");
}

/// An attestation whose predicate type the verifier's `attestationTypes` does not accept fails
/// closed with `PREDICATE_TYPE_NOT_ACCEPTED` naming the type, even though its signature verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_predicate_type_outside_attestation_types_fails_closed() {
    let reg = Registry::start();
    let key = generate_key().unwrap();
    let image = reg.push_image(REPO, "v1", b"sbom-attested layer").await;
    let m = attestation_tag_manifest(&[attestation(&key, &image.digest, SPDX)]);
    push_tagged(&reg, REPO, &image.digest, ".att", &m).await;
    let mut cosign = key_config(&key);
    cosign["attestationTypes"] = json!([SLSA]);
    let text = config_json(cosign, &[COSIGN_ATTESTATION_ARTIFACT_TYPE], insecure(&reg));
    let report = verify_subject(&parse(&text), &reg.reference(REPO, "v1"), false).await;
    assert!(!report.is_success, "{report:#?}");
    let a = report_for(&report, COSIGN_ATTESTATION_ARTIFACT_TYPE);
    assert!(!a.is_success);
    assert_eq!(
        a.error_reason.as_deref(),
        Some("PREDICATE_TYPE_NOT_ACCEPTED")
    );
    assert!(
        a.message.contains(SPDX) && a.message.contains(SLSA),
        "{}",
        a.message
    );
}

/// The `.att` tag of image A pointing at an attestation about image B: bound to A by the tag,
/// but its statement names B, so cosign's subject check fails it (`SUBJECT_MISMATCH`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attestation_about_another_image_fails() {
    let reg = Registry::start();
    let key = generate_key().unwrap();
    let image = reg.push_image(REPO, "v1", b"image a").await;
    let other = reg.push_image(REPO, "v2", b"image b").await;
    let m = attestation_tag_manifest(&[attestation(&key, &other.digest, SLSA)]);
    push_tagged(&reg, REPO, &image.digest, ".att", &m).await;
    let text = config_json(
        key_config(&key),
        &[COSIGN_ATTESTATION_ARTIFACT_TYPE],
        insecure(&reg),
    );
    let report = verify_subject(&parse(&text), &reg.reference(REPO, "v1"), false).await;
    let a = report_for(&report, COSIGN_ATTESTATION_ARTIFACT_TYPE);
    assert!(!report.is_success && !a.is_success, "{report:#?}");
    assert_eq!(a.error_reason.as_deref(), Some("SUBJECT_MISMATCH"));
    assert!(a.message.contains(other.digest.hex()), "{}", a.message);
}

// ---------------------------------------------------------------------------------------------
// An OCI layout: the tag lookup and the guest's checks

/// An OCI layout with an image and cosign's `.att` manifest (written as `attestation_tag_manifest`
/// makes it) tagged `sha256-<hex>.att` in `index.json`.
struct AttLayout {
    dir: tempfile::TempDir,
    image: Descriptor,
}

impl AttLayout {
    fn new(make: impl FnOnce(&Digest) -> SignatureManifest) -> AttLayout {
        let dir = tempfile::tempdir().unwrap();
        let image = image_layout(dir.path(), "v1", b"layout image\n");
        let m = make(&image.digest);
        for b in &m.blobs {
            std::fs::write(
                dir.path()
                    .join("blobs/sha256")
                    .join(&b.digest["sha256:".len()..]),
                &b.data,
            )
            .unwrap();
        }
        let att = Descriptor::for_content(OCI_MANIFEST, &m.manifest);
        std::fs::write(
            dir.path().join("blobs/sha256").join(att.digest.hex()),
            &m.manifest,
        )
        .unwrap();
        write_index(
            dir.path(),
            &[
                (image.clone(), "v1".into()),
                (att, format!("{}.att", image.digest.fallback_tag())),
            ],
        );
        AttLayout { dir, image }
    }

    fn subject(&self) -> String {
        format!("{}:v1", self.dir.path().display())
    }

    async fn verify(&self, cosign: Value) -> SubjectReport {
        let text = config_json(cosign, &[COSIGN_ATTESTATION_ARTIFACT_TYPE], json!({}));
        verify_subject(&parse(&text), &self.subject(), true).await
    }
}

fn attestation_report(report: &SubjectReport) -> &VerifierReport {
    report_for(report, COSIGN_ATTESTATION_ARTIFACT_TYPE)
}

fn fails_with(report: &SubjectReport, reason: &str, needle: &str) {
    let a = attestation_report(report);
    assert!(!report.is_success && !a.is_success, "{report:#?}");
    assert_eq!(a.error_reason.as_deref(), Some(reason), "{a:#?}");
    assert!(a.message.contains(needle), "{} lacks {needle}", a.message);
}

/// The layout's `.att` tag is found (a tag-bound referrer of the image it names) and a key-signed
/// attestation verifies; without `attestationTypes` any predicate type passes and is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_att_tag_verifies_with_a_key() {
    let key = generate_key().unwrap();
    let l = AttLayout::new(|d| attestation_tag_manifest(&[attestation(&key, d, SPDX)]));
    let report = l.verify(key_config(&key)).await;
    assert!(report.is_success, "{report:#?}");
    let a = attestation_report(&report);
    assert_eq!(ext(a, "predicateType"), SPDX);
    assert_eq!(ext(a, "signedDigest"), l.image.digest.to_string());
    assert_eq!(ext(a, "verificationMode"), "key");
}

/// DSSE signs `PAE(payloadType, payload)`, not the payload: an envelope whose payload was
/// swapped for another statement about the same image no longer verifies; nor does one signed by
/// a key that is not configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_or_foreign_envelope_fails() {
    let key = generate_key().unwrap();
    let stranger = generate_key().unwrap();
    let tampered = AttLayout::new(|d| {
        let mut a = attestation(&key, d, SLSA);
        let mut env: Value = serde_json::from_slice(&a.envelope).unwrap();
        let other = in_toto_statement("evil.test/app", d.hex(), SLSA);
        env["payload"] = json!(base64_std(&other));
        a.envelope = serde_json::to_vec(&env).unwrap();
        attestation_tag_manifest(&[a])
    });
    fails_with(
        &tampered.verify(key_config(&key)).await,
        "SIGNATURE_INVALID",
        "PAE",
    );
    let foreign = AttLayout::new(|d| attestation_tag_manifest(&[attestation(&stranger, d, SLSA)]));
    fails_with(
        &foreign.verify(key_config(&key)).await,
        "SIGNATURE_INVALID",
        "no configured key",
    );
}

/// An envelope that is not an in-toto statement (another `payloadType`) fails as malformed,
/// whatever its signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_in_toto_envelope_fails() {
    let key = generate_key().unwrap();
    let l = AttLayout::new(|d| {
        let statement = in_toto_statement("example.test/app", d.hex(), SLSA);
        let envelope = dsse_envelope("application/json", &statement, &[&key]).unwrap();
        let a = Attestation {
            envelope,
            statement,
            annotations: BTreeMap::new(),
        };
        attestation_tag_manifest(&[a])
    });
    fails_with(
        &l.verify(key_config(&key)).await,
        "INVALID_ENVELOPE",
        IN_TOTO,
    );
}

/// Keyless attestations are trusted as keyless signatures are: a Fulcio certificate chaining to
/// a configured root with an accepted identity; with a Rekor key configured, the layer's bundle
/// must be an `intoto` entry of this very envelope (a bundle of another envelope fails).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_attestations_with_and_without_rekor() {
    let fulcio = Fulcio::new("fulcio").unwrap();
    let rekor = Rekor::new().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let leaf = fulcio
        .issue(
            &San::Email(EMAIL.into()),
            ISSUER,
            IssuerExtension::Both,
            now - 120,
        )
        .unwrap();
    let keyless = |d: &Digest| {
        let statement = in_toto_statement("example.test/app", d.hex(), SLSA);
        Attestation::keyless(statement, SLSA, &leaf, &fulcio).unwrap()
    };
    let identities = json!([{"issuer": ISSUER, "subject": EMAIL}]);
    // The trusted root holds the CT log key that signed the certificate's embedded SCT.
    let root = trusted_root(&[&fulcio], &[&rekor]);
    let no_rekor = json!({"fulcioRoots": [fulcio.root_pem()], "identities": identities,
                          "trustedRoot": root});
    let with_rekor = json!({"fulcioRoots": [fulcio.root_pem()], "identities": identities,
                            "trustedRoot": root, "rekorPublicKey": rekor.public_key_pem()});
    // Without one, no SCT can be trusted: fails closed, as keyless signatures do.
    let no_root = json!({"fulcioRoots": [fulcio.root_pem()], "identities": identities});

    let plain = AttLayout::new(|d| attestation_tag_manifest(&[keyless(d)]));
    let report = plain.verify(no_rekor.clone()).await;
    assert!(report.is_success, "{report:#?}");
    let a = attestation_report(&report);
    assert_eq!(ext(a, "verificationMode"), "keyless");
    assert_eq!(ext(a, "subject"), EMAIL);
    // The verified statement is handed on to the policy.
    assert_eq!(a.extensions["statement"]["predicateType"], SLSA, "{a:#?}");
    assert_eq!(ext(a, "signingTimeSource"), "certificate");
    // A Rekor key configured and no bundle: fails closed.
    fails_with(
        &plain.verify(with_rekor.clone()).await,
        "TLOG_INVALID",
        BUNDLE_ANNOTATION,
    );
    // Another identity: refused.
    fails_with(
        &plain.verify(no_root).await,
        "UNTRUSTED",
        "add `trustedRoot`",
    );
    let other_identity = json!({"fulcioRoots": [fulcio.root_pem()], "trustedRoot": root,
                                "identities": [{"issuer": ISSUER, "subject": "x@example.test"}]});
    fails_with(
        &plain.verify(other_identity).await,
        "IDENTITY_MISMATCH",
        EMAIL,
    );

    let logged = AttLayout::new(|d| {
        let a = keyless(d);
        let bundle = rekor
            .intoto_bundle(&a.envelope, &a.statement, &leaf.cert_pem, now - 60, 11)
            .unwrap();
        attestation_tag_manifest(&[a.with_annotation(BUNDLE_ANNOTATION, &bundle)])
    });
    let report = logged.verify(with_rekor.clone()).await;
    assert!(report.is_success, "{report:#?}");
    let a = attestation_report(&report);
    assert_eq!(ext(a, "signingTimeSource"), "rekor");
    assert_eq!(ext(a, "signingTime"), (now - 60).to_string());
    assert_eq!(ext(a, "rekorLogIndex"), "11");

    let mislogged = AttLayout::new(|d| {
        let a = keyless(d);
        let bundle = rekor
            .intoto_bundle(
                b"{\"another\":\"envelope\"}",
                &a.statement,
                &leaf.cert_pem,
                now - 60,
                12,
            )
            .unwrap();
        attestation_tag_manifest(&[a.with_annotation(BUNDLE_ANNOTATION, &bundle)])
    });
    fails_with(
        &mislogged.verify(with_rekor.clone()).await,
        "TLOG_INVALID",
        "content hash",
    );

    // A bundle of this envelope recorded under another signer's certificate is not this
    // attestation's entry.
    let stranger = fulcio
        .issue(
            &San::Email(EMAIL.into()),
            ISSUER,
            IssuerExtension::Both,
            now - 120,
        )
        .unwrap();
    let other_signer = AttLayout::new(|d| {
        let a = keyless(d);
        let bundle = rekor
            .intoto_bundle(&a.envelope, &a.statement, &stranger.cert_pem, now - 60, 13)
            .unwrap();
        attestation_tag_manifest(&[a.with_annotation(BUNDLE_ANNOTATION, &bundle)])
    });
    fails_with(
        &other_signer.verify(with_rekor).await,
        "TLOG_INVALID",
        "signer",
    );
}

/// A key-signed attestation carrying a Rekor bundle has it checked when a Rekor key is
/// configured: the entry's key must be the configured key that verified the envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_signed_attestation_bundle_is_checked_with_a_rekor_key() {
    let key = generate_key().unwrap();
    let other = generate_key().unwrap();
    let rekor = Rekor::new().unwrap();
    let logged_by = |signer: &Key| {
        let signer_pem = signer.public_key_pem();
        let (key, rekor) = (&key, &rekor);
        move |d: &Digest| {
            let a = attestation(key, d, SLSA);
            let bundle = rekor
                .intoto_bundle(&a.envelope, &a.statement, &signer_pem, 1_700_000_000, 5)
                .unwrap();
            attestation_tag_manifest(&[a.with_annotation(BUNDLE_ANNOTATION, &bundle)])
        }
    };
    let mut config = key_config(&key);
    config["rekorPublicKey"] = json!(rekor.public_key_pem());
    let good = AttLayout::new(logged_by(&key));
    let report = good.verify(config.clone()).await;
    assert!(report.is_success, "{report:#?}");
    assert_eq!(ext(attestation_report(&report), "rekorLogIndex"), "5");
    let wrong = AttLayout::new(logged_by(&other));
    fails_with(
        &wrong.verify(config.clone()).await,
        "TLOG_INVALID",
        "signer",
    );
    // An attestation is logged as `intoto`: a `hashedrekord` entry of the same bytes is not it.
    let hashedrekord = AttLayout::new(|d| {
        let a = attestation(&key, d, SLSA);
        let sig = base64_std(&key.sign_raw(&a.envelope).unwrap());
        let bundle = rekor
            .bundle(&a.envelope, &sig, &key.public_key_pem(), 1_700_000_000, 6)
            .unwrap();
        attestation_tag_manifest(&[a.with_annotation(BUNDLE_ANNOTATION, &bundle)])
    });
    fails_with(&hashedrekord.verify(config).await, "TLOG_INVALID", "intoto");
}

/// `attestationTypes: []` would accept nothing: refused when the configuration is loaded.
#[tokio::test]
async fn an_empty_attestation_types_list_is_refused_at_load() {
    let key = generate_key().unwrap();
    let mut cosign = key_config(&key);
    cosign["attestationTypes"] = json!([]);
    let text = config_json(cosign, &[COSIGN_ATTESTATION_ARTIFACT_TYPE], json!({}));
    let config = parse(&text);
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let Err(err) = vouch::app::load_verifiers(&runtime, &config).await else {
        panic!("an empty attestationTypes is accepted");
    };
    assert!(err.to_string().contains("attestationTypes"), "{err}");
}

fn base64_std(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A key-signed SPDX attestation of `digest` whose one package `pkg` has `license`.
fn spdx_attestation(key: &Key, digest: &Digest, pkg: &str, license: &str) -> Attestation {
    let statement = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "example.test/app", "digest": {"sha256": digest.hex()}}],
        "predicateType": SPDX,
        "predicate": {
            "spdxVersion": "SPDX-2.3",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "app",
            "packages": [
                {"SPDXID": "SPDXRef-libc", "name": "libc", "versionInfo": "2.36",
                 "licenseConcluded": "MIT"},
                {"SPDXID": "SPDXRef-pkg", "name": pkg, "versionInfo": "1.0",
                 "licenseConcluded": license},
            ],
        },
    }))
    .unwrap();
    Attestation::key_signed(statement, SPDX, key).unwrap()
}

/// Issue 13: "SPDX/CycloneDX attestations reusing the sbom verifier's license rules". The
/// cosign verifier's `sbom` section holds the sbom verifier's rules; the verified SPDX predicate
/// (in-toto: "The `predicate` contains a JSON-encoded SPDX document") is judged by them with the
/// sbom verifier's reasons, and a passing one reports the counts as the `sbom` extension.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spdx_attestations_are_judged_by_the_sbom_rules() {
    let key = generate_key().unwrap();
    let mut config = key_config(&key);
    config["sbom"] = json!({"disallowedLicenses": ["GPL-3.0-only"],
                            "disallowedPackages": [{"name": "log4j-core"}]});

    let clean =
        AttLayout::new(|d| attestation_tag_manifest(&[spdx_attestation(&key, d, "zlib", "Zlib")]));
    let report = clean.verify(config.clone()).await;
    assert!(report.is_success, "{report:#?}");
    let a = attestation_report(&report);
    let sbom: Value = match &a.extensions["sbom"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        v => v.clone(),
    };
    assert_eq!(sbom["packages"], 2, "{sbom:#}");
    assert_eq!(sbom["violations"], 0, "{sbom:#}");

    let gpl = AttLayout::new(|d| {
        attestation_tag_manifest(&[spdx_attestation(&key, d, "readline", "GPL-3.0-only")])
    });
    fails_with(
        &gpl.verify(config.clone()).await,
        "LICENSE_DISALLOWED",
        "readline",
    );
    let log4j = AttLayout::new(|d| {
        attestation_tag_manifest(&[spdx_attestation(&key, d, "log4j-core", "Apache-2.0")])
    });
    fails_with(
        &log4j.verify(config.clone()).await,
        "PACKAGE_DISALLOWED",
        "log4j-core",
    );

    // Without the `sbom` section the same attestation passes: the rules are what refused it.
    let report = gpl.verify(key_config(&key)).await;
    assert!(report.is_success, "{report:#?}");
}
