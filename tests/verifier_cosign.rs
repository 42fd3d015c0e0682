//! The cosign verifier (`guest-verifiers/cosign`, the real wasm component) run through the
//! runtime against OCI layouts holding signatures made by `xtask::fixtures::cosign`: key-based
//! and keyless (test Fulcio CA, test Rekor log), and Sigstore bundles v0.3 verified against a
//! test `trusted_root.json`; valid and tampered in every way that matters.

#[allow(dead_code)] // `guest()` is for the test guests
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared with other test binaries that use all of it
#[path = "support/layout.rs"]
mod layout;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use vouch::oci::Descriptor;
use vouch::oci::manifest::OCI_MANIFEST;
use vouch::runtime::{
    GuestReport, Limits, Runtime, RuntimeConfig, RuntimeError, Verifier, VerifyInput,
};
use vouch::store::layout::LayoutStore;
use xtask::fixtures::cosign::{
    ARTIFACT_TYPE, BUNDLE_ANNOTATION, BUNDLE_V03, BundleSigner, Fulcio, IN_TOTO, IssuerExtension,
    Key, Layer, Leaf, LogEntry, PAYLOAD_TYPE, Rekor, RekorV2, SIGNATURE_ANNOTATION, San, SctMode,
    SignatureManifest, SubjectRef, add_timestamps, bundle_manifest, bundle_signature, ctlog_entry,
    dsse_bundle, dsse_bundle_v2, generate_ed25519_key, generate_key, in_toto_statement,
    message_signature_bundle, message_signature_bundle_v2, signature_manifest,
    simple_signing_payload, simple_signing_payload_with, timestamp_authority_entry, trusted_root,
};
use xtask::fixtures::notation::{TestTsa, test_tsa, timestamp_token};

use layout::LayoutBuilder;

const DOCKER_REF: &str = "example.test/app";
const ISSUER: &str = "https://accounts.example.test";
const EMAIL: &str = "dev@example.test";

/// One runtime and one loaded verifier for the whole test binary (compiling once).
fn verifier() -> &'static (Runtime, Verifier) {
    static V: OnceLock<(Runtime, Verifier)> = OnceLock::new();
    V.get_or_init(|| {
        // Loaded on a runtime of its own: the tests' runtimes come and go.
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let runtime = Runtime::new(RuntimeConfig {
                    max_instances: 64,
                    max_concurrency: 64,
                    ..RuntimeConfig::default()
                })
                .unwrap();
                let v = runtime
                    .load_file("cosign", &guests::verifier("cosign"), Limits::default())
                    .await
                    .unwrap();
                (runtime, v)
            })
        })
        .join()
        .unwrap()
    })
}

/// A layout with an image and one signature manifest built for it.
struct Case {
    _dir: tempfile::TempDir,
    input: VerifyInput,
}

/// The subject image's descriptor and the signature manifest `make` builds for it, written out.
fn case(make: impl FnOnce(&SubjectRef) -> SignatureManifest) -> Case {
    case_raw(|subject| {
        let m = make(subject);
        let blobs = m
            .blobs
            .into_iter()
            .map(|b| (b.media_type, b.data))
            .collect();
        (m.manifest, blobs)
    })
}

/// Like [`case`], with the manifest bytes and blobs given raw.
fn case_raw(make: impl FnOnce(&SubjectRef) -> (Vec<u8>, Vec<(String, Vec<u8>)>)) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path());
    let subject = b.image("v1", &[b"layer one"]);
    let sref = subject_ref(&subject);
    let (manifest, blobs) = make(&sref);
    for (mt, data) in &blobs {
        b.blob(mt, data);
    }
    let mut artifact = b.blob(OCI_MANIFEST, &manifest);
    artifact.artifact_type = Some(ARTIFACT_TYPE.into());
    b.finish();
    let store = LayoutStore::open(dir.path(), Default::default()).unwrap();
    Case {
        _dir: dir,
        input: VerifyInput {
            store: Arc::new(store),
            subject_reference: format!("{DOCKER_REF}:v1"),
            subject,
            artifact,
            config: "{}".into(),
            cpu_quota: None,
        },
    }
}

fn subject_ref(d: &Descriptor) -> SubjectRef {
    SubjectRef {
        media_type: d.media_type.clone(),
        digest: d.digest.to_string(),
        size: d.size,
    }
}

async fn run(c: &Case, config: &str) -> GuestReport {
    let (rt, v) = verifier();
    rt.check_config(v, config)
        .await
        .unwrap_or_else(|e| panic!("config rejected: {e}"));
    let mut input = c.input.clone();
    input.config = config.into();
    rt.verify(v, input).await.unwrap().report
}

fn key_config(keys: &[(&str, &Key)]) -> String {
    let keys: Vec<_> = keys
        .iter()
        .map(|(n, k)| json!({"name": n, "pem": k.public_key_pem()}))
        .collect();
    json!({ "keys": keys }).to_string()
}

fn ok(r: &GuestReport) {
    assert!(r.is_success, "expected success, got {r:?}");
    assert_eq!(r.error_reason, None);
}

fn failed(r: &GuestReport, reason: &str, needle: &str) {
    assert!(!r.is_success, "expected failure, got {r:?}");
    assert_eq!(r.error_reason.as_deref(), Some(reason), "{r:?}");
    assert!(
        r.message.contains(needle),
        "message {:?} lacks {needle:?}",
        r.message
    );
}

fn ext<'a>(r: &'a GuestReport, k: &str) -> &'a str {
    r.extensions
        .get(k)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no extension {k} in {r:?}"))
}

/// A key-signed signature manifest over `payload`.
fn key_signed(key: &Key, payload: impl FnOnce(&str) -> Vec<u8>) -> Case {
    case(|s| signature_manifest(s, &[Layer::key_signed(payload(&s.digest), key).unwrap()]))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn metadata_names_cosign_and_its_artifact_type() {
    let (_, v) = verifier();
    assert_eq!(v.metadata().name, "cosign");
    assert_eq!(v.metadata().version, "0.1.0");
    assert!(v.metadata().handles(ARTIFACT_TYPE));
}

#[tokio::test]
async fn valid_key_based_signature_passes() {
    let key = generate_key().unwrap();
    let c = key_signed(&key, |d| simple_signing_payload(DOCKER_REF, d));
    let r = run(&c, &key_config(&[("release", &key)])).await;
    ok(&r);
    assert_eq!(ext(&r, "verificationMode"), "key");
    assert_eq!(ext(&r, "key"), "release");
    assert_eq!(ext(&r, "dockerReference"), DOCKER_REF);
    assert_eq!(ext(&r, "signedDigest"), c.input.subject.digest.to_string());
}

#[tokio::test]
async fn ed25519_key_is_detected_and_verifies() {
    let key = generate_ed25519_key().unwrap();
    let c = key_signed(&key, |d| simple_signing_payload(DOCKER_REF, d));
    ok(&run(&c, &key_config(&[("ed", &key)])).await);
}

#[tokio::test]
async fn tampered_payload_fails() {
    let key = generate_key().unwrap();
    let c = case(|s| {
        let mut layer =
            Layer::key_signed(simple_signing_payload(DOCKER_REF, &s.digest), &key).unwrap();
        // Same digest, different reference: the bytes differ from what was signed.
        layer.payload = simple_signing_payload("evil.test/app", &s.digest);
        signature_manifest(s, &[layer])
    });
    let r = run(&c, &key_config(&[("release", &key)])).await;
    failed(&r, "SIGNATURE_INVALID", "no configured key verifies");
}

#[tokio::test]
async fn tampered_signature_fails() {
    let key = generate_key().unwrap();
    let c = case(|s| {
        let layer = Layer::key_signed(simple_signing_payload(DOCKER_REF, &s.digest), &key).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut sig = b64.decode(layer.signature()).unwrap();
        let last = sig.len() - 1;
        sig[last] ^= 1;
        let layer = layer.with_annotation(SIGNATURE_ANNOTATION, &b64.encode(sig));
        signature_manifest(s, &[layer])
    });
    let r = run(&c, &key_config(&[("release", &key)])).await;
    failed(&r, "SIGNATURE_INVALID", "release");
}

#[tokio::test]
async fn signature_for_another_digest_fails() {
    let key = generate_key().unwrap();
    let other = format!("sha256:{}", "ab".repeat(32));
    let c = key_signed(&key, |_| simple_signing_payload(DOCKER_REF, &other));
    let r = run(&c, &key_config(&[("release", &key)])).await;
    failed(&r, "SUBJECT_MISMATCH", &other);
}

#[tokio::test]
async fn manifest_subject_other_than_the_subject_fails() {
    let key = generate_key().unwrap();
    let c = case(|s| {
        let other = SubjectRef {
            digest: format!("sha256:{}", "cd".repeat(32)),
            ..s.clone()
        };
        let layer = Layer::key_signed(simple_signing_payload(DOCKER_REF, &s.digest), &key).unwrap();
        signature_manifest(&other, &[layer])
    });
    let r = run(&c, &key_config(&[("release", &key)])).await;
    failed(&r, "SUBJECT_MISMATCH", "manifest's subject");
}

#[tokio::test]
async fn wrong_payload_type_fails() {
    let key = generate_key().unwrap();
    let c = key_signed(&key, |d| {
        simple_signing_payload_with(DOCKER_REF, d, "atomic container signature", None)
    });
    let r = run(&c, &key_config(&[("release", &key)])).await;
    failed(&r, "INVALID_ENVELOPE", "critical.type");
}

#[tokio::test]
async fn key_mismatch_fails_and_multiple_keys_pass_with_the_matching_one() {
    let signer = generate_key().unwrap();
    let stranger = generate_key().unwrap();
    let c = key_signed(&signer, |d| simple_signing_payload(DOCKER_REF, d));
    let r = run(&c, &key_config(&[("stranger", &stranger)])).await;
    failed(&r, "SIGNATURE_INVALID", "stranger");

    let ed = generate_ed25519_key().unwrap();
    let r = run(
        &c,
        &key_config(&[("stranger", &stranger), ("ed", &ed), ("signer", &signer)]),
    )
    .await;
    ok(&r);
    assert_eq!(ext(&r, "key"), "signer");
}

#[tokio::test]
async fn one_good_layer_among_bad_ones_passes() {
    let key = generate_key().unwrap();
    let stranger = generate_key().unwrap();
    let c = case(|s| {
        let bad =
            Layer::key_signed(simple_signing_payload(DOCKER_REF, &s.digest), &stranger).unwrap();
        let good =
            Layer::key_signed(simple_signing_payload("other.test/app", &s.digest), &key).unwrap();
        signature_manifest(s, &[bad, good])
    });
    let r = run(&c, &key_config(&[("release", &key)])).await;
    ok(&r);
    assert_eq!(ext(&r, "signatures"), "2");
    assert_eq!(ext(&r, "dockerReference"), "other.test/app");
}

#[tokio::test]
async fn required_annotations_are_checked() {
    let key = generate_key().unwrap();
    let c = key_signed(&key, |d| {
        let opt = BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
        simple_signing_payload_with(DOCKER_REF, d, PAYLOAD_TYPE, Some(opt))
    });
    let pem = key.public_key_pem();
    let cfg = |v: &str| {
        json!({"keys": [{"name": "k", "pem": pem}], "annotations": {"env": v}}).to_string()
    };
    ok(&run(&c, &cfg("prod")).await);
    failed(
        &run(&c, &cfg("dev")).await,
        "ANNOTATION_MISMATCH",
        "optional.env",
    );
}

#[tokio::test]
async fn malformed_inputs_fail_without_trapping() {
    let key = generate_key().unwrap();
    let cfg = key_config(&[("release", &key)]);

    // Signature annotation that is not base64.
    let c = case(|s| {
        let layer = Layer::key_signed(simple_signing_payload(DOCKER_REF, &s.digest), &key)
            .unwrap()
            .with_annotation(SIGNATURE_ANNOTATION, "!!not base64!!");
        signature_manifest(s, &[layer])
    });
    failed(&run(&c, &cfg).await, "INVALID_ENVELOPE", "base64");

    // No signature annotation at all.
    let c = case(|s| {
        let mut layer =
            Layer::key_signed(simple_signing_payload(DOCKER_REF, &s.digest), &key).unwrap();
        layer.annotations.clear();
        signature_manifest(s, &[layer])
    });
    failed(
        &run(&c, &cfg).await,
        "INVALID_ENVELOPE",
        SIGNATURE_ANNOTATION,
    );

    // A correctly signed payload that is not JSON.
    let c = key_signed(&key, |_| b"{not json".to_vec());
    failed(&run(&c, &cfg).await, "INVALID_ENVELOPE", "simple-signing");

    // A payload without critical.image.
    let c = key_signed(&key, |_| {
        br#"{"critical":{"type":"cosign container image signature"}}"#.to_vec()
    });
    failed(&run(&c, &cfg).await, "INVALID_ENVELOPE", "image");

    // No layers.
    let c = case(|s| signature_manifest(s, &[]));
    failed(
        &run(&c, &cfg).await,
        "INVALID_ENVELOPE",
        "no application/vnd.dev.cosign",
    );

    // A manifest that is JSON but not a manifest.
    let c = case_raw(|_| (br#"{"layers": 7}"#.to_vec(), vec![]));
    let r = run(&c, &cfg).await;
    assert!(!r.is_success, "{r:?}");
    assert!(r.error_reason.is_some(), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Keyless

/// Keyless trust in `fulcio`: its root, `identities`, and a trusted root whose `ctlogs` hold
/// its CT log (the SCTs of its leaves are verified on the simple-signing path too; a trusted
/// root always names a transparency log, unused here).
fn keyless_config(fulcio: &Fulcio, identities: serde_json::Value) -> String {
    json!({"fulcioRoots": [fulcio.root_pem()], "identities": identities,
           "trustedRoot": ct_root(fulcio)})
    .to_string()
}

/// A trusted root with `fulcio`'s CT log (and a Rekor log the simple-signing path does not use).
fn ct_root(fulcio: &Fulcio) -> Value {
    trusted_root(&[fulcio], &[&Rekor::new().unwrap()])
}

fn keyless_case(fulcio: &Fulcio, san: San, ext: IssuerExtension, not_before: i64) -> Case {
    let leaf = fulcio.issue(&san, ISSUER, ext, not_before).unwrap();
    case(|s| {
        let layer =
            Layer::keyless(simple_signing_payload(DOCKER_REF, &s.digest), &leaf, fulcio).unwrap();
        signature_manifest(s, &[layer])
    })
}

#[tokio::test]
async fn keyless_email_identity_passes() {
    let fulcio = Fulcio::new("fulcio").unwrap();
    let c = keyless_case(
        &fulcio,
        San::Email(EMAIL.into()),
        IssuerExtension::Both,
        now() - 60,
    );
    let r = run(
        &c,
        &keyless_config(&fulcio, json!([{"issuer": ISSUER, "subject": EMAIL}])),
    )
    .await;
    ok(&r);
    assert_eq!(ext(&r, "verificationMode"), "keyless");
    assert_eq!(ext(&r, "subject"), EMAIL);
    assert_eq!(ext(&r, "issuer"), ISSUER);
    assert_eq!(ext(&r, "signingTimeSource"), "certificate");
    assert!(ext(&r, "root").contains("CN=fulcio root"), "{r:?}");
}

#[tokio::test]
async fn keyless_uri_identity_with_old_issuer_extension_and_regexes_passes() {
    let fulcio = Fulcio::new("fulcio").unwrap();
    let uri = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";
    // An expired certificate is fine without Rekor: it is checked at its own notBefore.
    let c = keyless_case(
        &fulcio,
        San::Uri(uri.into()),
        IssuerExtension::V1,
        1_600_000_000,
    );
    let r = run(
        &c,
        &keyless_config(
            &fulcio,
            json!([{"issuerRegExp": "^https://accounts\\.example\\.test$",
                    "subjectRegExp": "^https://github\\.com/example/"}]),
        ),
    )
    .await;
    ok(&r);
    assert_eq!(ext(&r, "subject"), uri);
    assert_eq!(ext(&r, "signingTime"), "1600000000");
}

#[tokio::test]
async fn keyless_untrusted_root_fails() {
    let fulcio = Fulcio::new("fulcio").unwrap();
    let impostor = Fulcio::new("impostor").unwrap();
    let c = keyless_case(
        &impostor,
        San::Email(EMAIL.into()),
        IssuerExtension::Both,
        now(),
    );
    let r = run(
        &c,
        &keyless_config(&fulcio, json!([{"issuer": ISSUER, "subject": EMAIL}])),
    )
    .await;
    failed(&r, "UNTRUSTED", "Fulcio root");
}

#[tokio::test]
async fn keyless_identity_and_issuer_mismatches_fail() {
    let fulcio = Fulcio::new("fulcio").unwrap();
    let c = keyless_case(
        &fulcio,
        San::Email(EMAIL.into()),
        IssuerExtension::V2,
        now(),
    );
    let cases = [
        json!([{"issuer": ISSUER, "subject": "other@example.test"}]),
        json!([{"issuer": ISSUER, "subjectRegExp": "^admin@"}]),
        json!([{"issuer": "https://token.actions.githubusercontent.com", "subject": EMAIL}]),
        json!([{"issuerRegExp": "github", "subject": EMAIL}]),
        // Exact matching is exact: a prefix is not enough.
        json!([{"issuer": ISSUER, "subject": "dev@example.tes"}]),
    ];
    for ids in cases {
        let r = run(&c, &keyless_config(&fulcio, ids.clone())).await;
        failed(&r, "IDENTITY_MISMATCH", EMAIL);
    }
    // One identity of several matching is enough.
    let r = run(
        &c,
        &keyless_config(
            &fulcio,
            json!([{"issuer": ISSUER, "subject": "x@y"}, {"issuer": ISSUER, "subject": EMAIL}]),
        ),
    )
    .await;
    ok(&r);
}

#[tokio::test]
async fn keyless_tampered_signature_fails() {
    let fulcio = Fulcio::new("fulcio").unwrap();
    let leaf = fulcio
        .issue(
            &San::Email(EMAIL.into()),
            ISSUER,
            IssuerExtension::Both,
            now(),
        )
        .unwrap();
    let c = case(|s| {
        let mut layer = Layer::keyless(
            simple_signing_payload(DOCKER_REF, &s.digest),
            &leaf,
            &fulcio,
        )
        .unwrap();
        layer.payload = simple_signing_payload("evil.test/x", &s.digest);
        signature_manifest(s, &[layer])
    });
    let r = run(
        &c,
        &keyless_config(&fulcio, json!([{"issuer": ISSUER, "subject": EMAIL}])),
    )
    .await;
    failed(&r, "SIGNATURE_INVALID", "signing certificate");
}

/// A keyless signature with a Rekor bundle integrated at `integrated`; `tamper` edits the bundle.
fn rekor_case(
    fulcio: &Fulcio,
    rekor: &Rekor,
    not_before: i64,
    integrated: i64,
    tamper: impl FnOnce(String) -> String,
) -> Case {
    let leaf = fulcio
        .issue(
            &San::Email(EMAIL.into()),
            ISSUER,
            IssuerExtension::Both,
            not_before,
        )
        .unwrap();
    case(|s| {
        let payload = simple_signing_payload(DOCKER_REF, &s.digest);
        let layer = Layer::keyless(payload.clone(), &leaf, fulcio).unwrap();
        let bundle = rekor
            .bundle(&payload, layer.signature(), &leaf.cert_pem, integrated, 7)
            .unwrap();
        let layer = layer.with_annotation(BUNDLE_ANNOTATION, &tamper(bundle));
        signature_manifest(s, &[layer])
    })
}

#[tokio::test]
async fn keyless_with_rekor_bundle() {
    let fulcio = Fulcio::new("fulcio").unwrap();
    let rekor = Rekor::new().unwrap();
    let nb = now() - 300;
    let cfg = json!({
        "fulcioRoots": [fulcio.root_pem()],
        "identities": [{"issuer": ISSUER, "subject": EMAIL}],
        "rekorPublicKey": rekor.public_key_pem(),
        "trustedRoot": trusted_root(&[&fulcio], &[&rekor]),
    })
    .to_string();

    let c = rekor_case(&fulcio, &rekor, nb, nb + 30, |b| b);
    let r = run(&c, &cfg).await;
    ok(&r);
    assert_eq!(ext(&r, "signingTimeSource"), "rekor");
    assert_eq!(ext(&r, "signingTime"), (nb + 30).to_string());
    assert_eq!(ext(&r, "rekorLogIndex"), "7");

    // The log says the entry was integrated after the certificate expired.
    let c = rekor_case(&fulcio, &rekor, nb, nb + 3600, |b| b);
    failed(&run(&c, &cfg).await, "UNTRUSTED", "Fulcio root");

    // A SET made by another log.
    let other = Rekor::new().unwrap();
    let c = rekor_case(&fulcio, &other, nb, nb + 30, |b| b);
    failed(
        &run(&c, &cfg).await,
        "TLOG_INVALID",
        "signed entry timestamp",
    );

    // The integrated time moved after signing: the SET no longer verifies.
    let c = rekor_case(&fulcio, &rekor, nb, nb + 30, |b| {
        b.replace(&format!("{}", nb + 30), &format!("{}", nb + 31))
    });
    failed(
        &run(&c, &cfg).await,
        "TLOG_INVALID",
        "signed entry timestamp",
    );

    // No bundle while a Rekor key is configured.
    let c = keyless_case(&fulcio, San::Email(EMAIL.into()), IssuerExtension::Both, nb);
    failed(&run(&c, &cfg).await, "TLOG_INVALID", BUNDLE_ANNOTATION);

    // Garbage bundle.
    let c = rekor_case(&fulcio, &rekor, nb, nb + 30, |_| "{".into());
    failed(&run(&c, &cfg).await, "TLOG_INVALID", "bundle");
}

#[tokio::test]
async fn key_based_signature_with_rekor_bundle_is_checked() {
    let key = generate_key().unwrap();
    let rekor = Rekor::new().unwrap();
    let make = |signer_pem: String| {
        case(|s| {
            let payload = simple_signing_payload(DOCKER_REF, &s.digest);
            let layer = Layer::key_signed(payload.clone(), &key).unwrap();
            let bundle = rekor
                .bundle(&payload, layer.signature(), &signer_pem, now(), 3)
                .unwrap();
            signature_manifest(s, &[layer.with_annotation(BUNDLE_ANNOTATION, &bundle)])
        })
    };
    let cfg = json!({"keys": [{"name": "k", "pem": key.public_key_pem()}],
                     "rekorPublicKey": rekor.public_key_pem()})
    .to_string();
    let r = run(&make(key.public_key_pem()), &cfg).await;
    ok(&r);
    assert_eq!(ext(&r, "rekorLogIndex"), "3");
    // The log entry names another signer.
    let other = generate_key().unwrap();
    failed(
        &run(&make(other.public_key_pem()), &cfg).await,
        "TLOG_INVALID",
        "signer",
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[tokio::test]
async fn bad_configs_are_rejected_by_check_config() {
    let (rt, v) = verifier();
    let key = generate_key().unwrap();
    let fulcio = Fulcio::new("fulcio").unwrap();
    let bad = [
        ("{}".to_owned(), "no trust configured"),
        (r#"{"keys": []}"#.to_owned(), "no trust configured"),
        ("not json".to_owned(), "not valid"),
        (
            r#"{"keys": [{"name": "k", "pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}]}"#
                .to_owned(),
            "keys[0]",
        ),
        (
            json!({"keys": [{"name": "k", "pem": key.public_key_pem(), "algorithm": "sha1"}]})
                .to_string(),
            "unknown algorithm",
        ),
        (
            json!({"fulcioRoots": [fulcio.root_pem()],
                   "identities": [{"issuer": ISSUER, "subjectRegExp": "(unclosed"}]})
            .to_string(),
            "not a valid regex",
        ),
        (
            json!({"fulcioRoots": [fulcio.root_pem()], "identities": [{"subject": EMAIL}]})
                .to_string(),
            "issuer",
        ),
        (
            json!({"fulcioRoots": [fulcio.root_pem()]}).to_string(),
            "identities is empty",
        ),
        (
            json!({"fulcioRoots": ["not a pem"], "identities": [{"issuer": ISSUER, "subject": EMAIL}]})
                .to_string(),
            "fulcioRoots[0]",
        ),
        (
            json!({"keys": [{"name": "k", "pem": key.public_key_pem()}], "rekorPublicKey": "x"})
                .to_string(),
            "rekorPublicKey",
        ),
    ];
    for (config, needle) in bad {
        match rt.check_config(v, &config).await {
            Err(RuntimeError::Config { reason, .. }) => {
                assert!(
                    reason.contains(needle),
                    "{config}: {reason:?} lacks {needle:?}"
                )
            }
            other => panic!("{config}: expected a config error, got {other:?}"),
        }
    }

    // A bad config reaching verify anyway is a failed report, not a trap.
    let c = key_signed(&key, |d| simple_signing_payload(DOCKER_REF, d));
    let mut input = c.input.clone();
    input.config = "{}".into();
    let r = rt.verify(v, input).await.unwrap().report;
    failed(&r, "CONFIG_INVALID", "no trust configured");
}

// ---------------------------------------------------------------------------------------------
// Sigstore bundles v0.3

const SLSA: &str = "https://slsa.dev/provenance/v1";

/// A layout with an image and one bundle referrer; `make` gets the subject and the subject
/// manifest's bytes and returns the bundle bytes and the layer media type.
fn bundle_case(make: impl FnOnce(&SubjectRef, &[u8]) -> (Vec<u8>, String)) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path());
    let subject = b.image("v1", &[b"layer one"]);
    let sref = subject_ref(&subject);
    let subject_bytes =
        std::fs::read(dir.path().join("blobs/sha256").join(subject.digest.hex())).unwrap();
    let (bundle, layer_type) = make(&sref, &subject_bytes);
    let m = bundle_manifest(&sref, &bundle, &layer_type);
    for blob in &m.blobs {
        b.blob(&blob.media_type, &blob.data);
    }
    let mut artifact = b.blob(OCI_MANIFEST, &m.manifest);
    artifact.artifact_type = Some(BUNDLE_V03.into());
    b.finish();
    let store = LayoutStore::open(dir.path(), Default::default()).unwrap();
    Case {
        _dir: dir,
        input: VerifyInput {
            store: Arc::new(store),
            subject_reference: format!("{DOCKER_REF}:v1"),
            subject,
            artifact,
            config: "{}".into(),
            cpu_quota: None,
        },
    }
}

/// Test Sigstore infrastructure: a Fulcio CA, a Rekor log, a leaf and a key.
struct Sigstore {
    fulcio: Fulcio,
    rekor: Rekor,
    leaf: Leaf,
    key: Key,
    /// Integrated time of the log entries (inside the leaf's validity).
    at: i64,
}

impl Sigstore {
    fn new() -> Sigstore {
        let fulcio = Fulcio::new("fulcio").unwrap();
        let nb = now() - 300;
        let leaf = fulcio
            .issue(&San::Email(EMAIL.into()), ISSUER, IssuerExtension::Both, nb)
            .unwrap();
        Sigstore {
            fulcio,
            rekor: Rekor::new().unwrap(),
            leaf,
            key: generate_key().unwrap(),
            at: nb + 30,
        }
    }

    fn root(&self) -> Value {
        trusted_root(&[&self.fulcio], &[&self.rekor])
    }

    /// Config trusting the test root, the e-mail identity and the key `release`.
    fn config(&self) -> String {
        self.config_with(self.root())
    }

    fn config_with(&self, root: Value) -> String {
        json!({
            "trustedRoot": root,
            "identities": [{"issuer": ISSUER, "subject": EMAIL}],
            "keys": [{"name": "release", "pem": self.key.public_key_pem()}],
        })
        .to_string()
    }

    fn log(&self, tree_size: Option<u64>) -> LogEntry<'_> {
        LogEntry {
            rekor: &self.rekor,
            integrated_time: self.at,
            log_index: 3,
            tree_size,
        }
    }

    fn cert(&self) -> BundleSigner<'_> {
        BundleSigner::Certificate(&self.leaf)
    }

    fn key_signer(&self) -> BundleSigner<'_> {
        BundleSigner::Key {
            key: &self.key,
            hint: "release",
        }
    }

    /// A message-signature bundle over the subject, edited by `edit`.
    fn message(
        &self,
        signer: &BundleSigner,
        log: &LogEntry,
        edit: impl FnOnce(&mut Value),
    ) -> Case {
        bundle_case(|_, subject| {
            let mut b = message_signature_bundle(subject, signer, log).unwrap();
            edit(&mut b);
            (serde_json::to_vec(&b).unwrap(), BUNDLE_V03.into())
        })
    }

    /// A DSSE bundle of a statement about the subject, edited by `edit`.
    fn dsse(&self, signer: &BundleSigner, log: &LogEntry, edit: impl FnOnce(&mut Value)) -> Case {
        bundle_case(|s, _| {
            let hex = s.digest.strip_prefix("sha256:").unwrap();
            let stmt = in_toto_statement(DOCKER_REF, hex, SLSA);
            let mut b = dsse_bundle(&stmt, signer, log).unwrap();
            edit(&mut b);
            (serde_json::to_vec(&b).unwrap(), BUNDLE_V03.into())
        })
    }
}

fn b64e(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn b64d(text: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text.as_str().unwrap())
        .unwrap()
}

/// Unix seconds as an RFC 3339 UTC timestamp (`2026-12-06T05:59:12Z`), for trusted-root windows.
fn rfc3339_utc(unix: i64) -> String {
    // Howard Hinnant's civil-from-days.
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[test]
fn rfc3339_utc_formats_known_instants() {
    assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339_utc(951_868_800), "2000-03-01T00:00:00Z");
    assert_eq!(rfc3339_utc(1_610_452_407), "2021-01-12T11:53:27Z");
}

/// Flips the last bit of the base64 bytes at `v`.
fn flip(v: &mut Value) {
    let mut bytes = b64d(v);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    *v = Value::String(b64e(&bytes));
}

#[tokio::test]
async fn metadata_names_the_bundle_artifact_type() {
    let (_, v) = verifier();
    assert!(v.metadata().handles(BUNDLE_V03));
}

#[tokio::test]
async fn valid_message_signature_bundles_pass() {
    let s = Sigstore::new();
    // Certificate, SET only: sigstore-go `pkg/bundle`, "if bundle version >= v0.2, require
    // inclusion proof".
    let c = s.message(&s.cert(), &s.log(None), |_| {});
    failed(
        &run(&c, &s.config()).await,
        "TLOG_INVALID",
        "must carry an inclusionProof",
    );

    // Certificate, with an inclusion proof and checkpoint.
    let c = s.message(&s.cert(), &s.log(Some(11)), |_| {});
    let r = run(&c, &s.config()).await;
    ok(&r);
    assert_eq!(ext(&r, "verificationMode"), "keyless");
    assert_eq!(ext(&r, "content"), "messageSignature");
    assert_eq!(ext(&r, "subject"), EMAIL);
    assert_eq!(ext(&r, "issuer"), ISSUER);
    assert_eq!(ext(&r, "signingTime"), s.at.to_string());
    assert_eq!(ext(&r, "rekorLogIndex"), "3");
    assert_eq!(ext(&r, "rekorKind"), "hashedrekord");
    assert_eq!(ext(&r, "rekorVerified"), "inclusionProof+checkpoint");
    assert_eq!(ext(&r, "certificateAuthority"), "https://fulcio0.test");
    assert!(ext(&r, "root").contains("CN=fulcio root"), "{r:?}");
    assert_eq!(ext(&r, "signedDigest"), c.input.subject.digest.to_string());

    // Public key named by the hint.
    let c = s.message(&s.key_signer(), &s.log(Some(4)), |_| {});
    let r = run(&c, &s.config()).await;
    ok(&r);
    assert_eq!(ext(&r, "verificationMode"), "key");
    assert_eq!(ext(&r, "key"), "release");

    // The trusted root given as a string (the file's text) works the same.
    let cfg = s.config_with(Value::String(s.root().to_string()));
    ok(&run(&c, &cfg).await);
}

#[tokio::test]
async fn valid_dsse_bundles_pass() {
    let s = Sigstore::new();
    for tree in [Some(5), Some(4), Some(6)] {
        let c = s.dsse(&s.cert(), &s.log(tree), |_| {});
        let r = run(&c, &s.config()).await;
        ok(&r);
        assert_eq!(ext(&r, "content"), "dsseEnvelope");
        assert_eq!(ext(&r, "predicateType"), SLSA);
        assert_eq!(ext(&r, "rekorKind"), "dsse");
        assert_eq!(ext(&r, "subject"), EMAIL);
    }
    let c = s.dsse(&s.key_signer(), &s.log(Some(7)), |_| {});
    let r = run(&c, &s.config()).await;
    ok(&r);
    assert_eq!(ext(&r, "key"), "release");
}

#[tokio::test]
async fn tampered_payload_and_signature_fail() {
    let s = Sigstore::new();
    // A DSSE payload about the same subject, but not the one signed.
    let c = s.dsse(&s.cert(), &s.log(Some(7)), |b| {
        let mut stmt: Value = serde_json::from_slice(&b64d(&b["dsseEnvelope"]["payload"])).unwrap();
        stmt["predicateType"] = json!("https://evil.test/predicate");
        b["dsseEnvelope"]["payload"] = json!(b64e(&serde_json::to_vec(&stmt).unwrap()));
    });
    failed(
        &run(&c, &s.config()).await,
        "SIGNATURE_INVALID",
        "does not verify",
    );

    let c = s.message(&s.cert(), &s.log(Some(7)), |b| {
        flip(&mut b["messageSignature"]["signature"])
    });
    failed(
        &run(&c, &s.config()).await,
        "SIGNATURE_INVALID",
        "certificate's key",
    );

    let c = s.dsse(&s.key_signer(), &s.log(Some(7)), |b| {
        flip(&mut b["dsseEnvelope"]["signatures"][0]["sig"])
    });
    failed(&run(&c, &s.config()).await, "SIGNATURE_INVALID", "release");
}

#[tokio::test]
async fn bundles_for_another_subject_fail() {
    let s = Sigstore::new();
    // A message signature over another manifest.
    let c = bundle_case(|_, _| {
        let b = message_signature_bundle(b"{\"another\":\"manifest\"}", &s.cert(), &s.log(Some(7)))
            .unwrap();
        (serde_json::to_vec(&b).unwrap(), BUNDLE_V03.into())
    });
    failed(
        &run(&c, &s.config()).await,
        "SUBJECT_MISMATCH",
        "not the subject",
    );

    // An in-toto statement about another digest.
    let other = "ef".repeat(32);
    let c = bundle_case(|_, _| {
        let stmt = in_toto_statement("other", &other, SLSA);
        let b = dsse_bundle(&stmt, &s.cert(), &s.log(Some(7))).unwrap();
        (serde_json::to_vec(&b).unwrap(), BUNDLE_V03.into())
    });
    failed(&run(&c, &s.config()).await, "SUBJECT_MISMATCH", &other);
}

#[tokio::test]
async fn certificate_trust_and_identity_are_enforced() {
    let s = Sigstore::new();
    // Issued by a CA the trusted root does not list.
    let impostor = Fulcio::new("impostor").unwrap();
    let leaf = impostor
        .issue(
            &San::Email(EMAIL.into()),
            ISSUER,
            IssuerExtension::Both,
            s.at - 30,
        )
        .unwrap();
    let c = s.message(&BundleSigner::Certificate(&leaf), &s.log(Some(7)), |_| {});
    failed(
        &run(&c, &s.config()).await,
        "UNTRUSTED",
        "certificate authority of the trusted root",
    );

    // Another identity.
    let c = s.dsse(&s.cert(), &s.log(Some(7)), |_| {});
    let cfg = json!({"trustedRoot": s.root(),
                     "identities": [{"issuer": ISSUER, "subject": "ops@example.test"}]})
    .to_string();
    failed(&run(&c, &cfg).await, "IDENTITY_MISMATCH", EMAIL);

    // Integrated after the certificate expired (leaves live ten minutes): a leaf issued an hour
    // ago, logged half an hour ago (an integrated time in the future is refused by itself).
    let old = s
        .fulcio
        .issue(
            &San::Email(EMAIL.into()),
            ISSUER,
            IssuerExtension::Both,
            now() - 3600,
        )
        .unwrap();
    let late = LogEntry {
        integrated_time: now() - 1800,
        ..s.log(Some(7))
    };
    let c = s.message(&BundleSigner::Certificate(&old), &late, |_| {});
    failed(&run(&c, &s.config()).await, "UNTRUSTED", "integrated time");

    // Rekor v1: an integrated time in the future is refused.
    let future = LogEntry {
        integrated_time: now() + 3600,
        ..s.log(Some(7))
    };
    let c = s.message(&s.cert(), &future, |_| {});
    failed(&run(&c, &s.config()).await, "TLOG_INVALID", "in the future");

    // The CA's validity in the trusted root ended before the entry was integrated.
    let c = s.message(&s.cert(), &s.log(Some(7)), |_| {});
    let mut root = s.root();
    root["certificateAuthorities"][0]["validFor"]["end"] = json!("2021-01-01T00:00:00Z");
    failed(
        &run(&c, &s.config_with(root)).await,
        "UNTRUSTED",
        "is valid",
    );

    // A certificate bundle without identities configured; a key bundle without keys.
    let cfg = json!({"trustedRoot": s.root(),
                     "keys": [{"name": "release", "pem": s.key.public_key_pem()}]})
    .to_string();
    failed(&run(&c, &cfg).await, "UNTRUSTED", "identities");
    let c = s.message(&s.key_signer(), &s.log(Some(7)), |_| {});
    let cfg = json!({"trustedRoot": s.root(),
                     "identities": [{"issuer": ISSUER, "subject": EMAIL}]})
    .to_string();
    failed(&run(&c, &cfg).await, "UNTRUSTED", "keys");

    // No trusted root configured at all.
    let cfg = key_config(&[("release", &s.key)]);
    failed(&run(&c, &cfg).await, "UNTRUSTED", "trustedRoot");
}

#[tokio::test]
async fn transparency_log_entries_are_enforced() {
    let s = Sigstore::new();
    let entry = "/verificationMaterial/tlogEntries/0";

    // A tampered signed entry timestamp.
    let c = s.message(&s.cert(), &s.log(Some(7)), |b| {
        flip(
            b.pointer_mut(&format!("{entry}/inclusionPromise/signedEntryTimestamp"))
                .unwrap(),
        )
    });
    failed(
        &run(&c, &s.config()).await,
        "TLOG_INVALID",
        "signed entry timestamp does not verify",
    );

    // The integrated time moved: the SET no longer covers it.
    let c = s.message(&s.cert(), &s.log(Some(7)), |b| {
        *b.pointer_mut(&format!("{entry}/integratedTime")).unwrap() = json!((s.at + 1).to_string());
    });
    failed(
        &run(&c, &s.config()).await,
        "TLOG_INVALID",
        "signed entry timestamp does not verify",
    );

    // Logged by a log the trusted root does not list.
    let other = Rekor::new().unwrap();
    let log = LogEntry {
        rekor: &other,
        ..s.log(Some(7))
    };
    let c = s.message(&s.cert(), &log, |_| {});
    failed(
        &run(&c, &s.config()).await,
        "TLOG_INVALID",
        "unknown Rekor log",
    );

    // The log key's validity in the trusted root starts after the entry.
    let c = s.message(&s.cert(), &s.log(Some(7)), |_| {});
    let mut root = s.root();
    root["tlogs"][0]["publicKey"]["validFor"]["start"] = json!("2999-01-01T00:00:00Z");
    failed(
        &run(&c, &s.config_with(root)).await,
        "TLOG_INVALID",
        "outside the validity",
    );

    // protobuf-specs `TimeRange`: "The time range is closed and includes both the start and end
    // times, (i.e., [start, end])". A log key whose window ended before the entry's integrated
    // time is not trusted for it; one ending exactly at that second still is.
    let c = s.message(&s.cert(), &s.log(Some(7)), |_| {});
    let mut root = s.root();
    root["tlogs"][0]["publicKey"]["validFor"]["end"] = json!(rfc3339_utc(s.at - 1));
    failed(
        &run(&c, &s.config_with(root)).await,
        "TLOG_INVALID",
        "outside the validity",
    );
    let mut root = s.root();
    root["tlogs"][0]["publicKey"]["validFor"]["end"] = json!(rfc3339_utc(s.at));
    ok(&run(&c, &s.config_with(root)).await);

    // Rekor v2 entries (kindVersion 0.0.2) carry no integratedTime and no signed entry timestamp;
    // their signing time must come from an RFC 3161 timestamp: without one they fail closed
    // with a reason naming that, not as a malformed envelope.
    let c = s.message(&s.cert(), &s.log(Some(5)), |b| {
        let e = b.pointer_mut(entry).unwrap().as_object_mut().unwrap();
        e.remove("integratedTime");
        e.remove("inclusionPromise");
        e.insert(
            "kindVersion".into(),
            json!({"kind": "hashedrekord", "version": "0.0.2"}),
        );
    });
    failed(
        &run(&c, &s.config()).await,
        "TLOG_INVALID",
        "Rekor v2 entry",
    );
    // A v1 entry without integratedTime.
    let c = s.message(&s.cert(), &s.log(Some(7)), |b| {
        b.pointer_mut(entry)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("integratedTime");
    });
    failed(
        &run(&c, &s.config()).await,
        "TLOG_INVALID",
        "no integratedTime",
    );

    // A genuine log entry, but for another signature (the SET verifies, the body does not bind).
    let other_entry = {
        let b = message_signature_bundle(b"other", &s.cert(), &s.log(Some(7))).unwrap();
        b.pointer(entry).unwrap().clone()
    };
    let c = s.message(&s.cert(), &s.log(Some(7)), |b| {
        *b.pointer_mut(entry).unwrap() = other_entry;
    });
    failed(&run(&c, &s.config()).await, "TLOG_INVALID", "hashedrekord");

    // A dsse entry naming another signer.
    let stranger = generate_key().unwrap();
    let c = bundle_case(|sref, _| {
        let hex = sref.digest.strip_prefix("sha256:").unwrap();
        let stmt = in_toto_statement(DOCKER_REF, hex, SLSA);
        let mut b = dsse_bundle(&stmt, &s.key_signer(), &s.log(Some(7))).unwrap();
        let forged = dsse_bundle(
            &stmt,
            &BundleSigner::Key {
                key: &stranger,
                hint: "release",
            },
            &s.log(Some(7)),
        )
        .unwrap();
        *b.pointer_mut(entry).unwrap() = forged.pointer(entry).unwrap().clone();
        (serde_json::to_vec(&b).unwrap(), BUNDLE_V03.into())
    });
    failed(&run(&c, &s.config()).await, "TLOG_INVALID", "dsse entry");

    // An inclusion proof with a wrong hash, and a checkpoint signed by another log.
    let c = s.message(&s.cert(), &s.log(Some(9)), |b| {
        flip(
            b.pointer_mut(&format!("{entry}/inclusionProof/hashes/0"))
                .unwrap(),
        )
    });
    failed(
        &run(&c, &s.config()).await,
        "TLOG_INVALID",
        "inclusion proof does not lead",
    );
    let c = s.message(&s.cert(), &s.log(Some(9)), |b| {
        let proof = b.pointer_mut(&format!("{entry}/inclusionProof")).unwrap();
        let root = b64d(&proof["rootHash"]);
        proof["checkpoint"]["envelope"] = json!(other.checkpoint(9, &root).unwrap());
    });
    failed(&run(&c, &s.config()).await, "TLOG_INVALID", "checkpoint");

    // No log entry at all.
    let c = s.message(&s.cert(), &s.log(Some(7)), |b| {
        b["verificationMaterial"]["tlogEntries"] = json!([]);
    });
    failed(
        &run(&c, &s.config()).await,
        "TLOG_INVALID",
        "no transparency-log entry",
    );
}

/// RFC 6962 §3.3: a certificate's SCTs are embedded as "an X.509v3 certificate extension with
/// OID 1.3.6.1.4.1.11129.2.4.2"; §3.2: the log signs the precertificate entry (the TBSCertificate
/// without that extension, and "the SHA-256 hash of the certificate issuer's public key"), and its
/// `LogID` is "the SHA-256 hash of the log's public key". sigstore-go verifies certificates with
/// `WithSignedCertificateTimestamps(1)` and cosign refuses a certificate without a valid SCT: an
/// SCT that is missing, tampered, from a log the trusted root does not list, or issued outside the
/// log key's `validFor` fails the bundle.
#[tokio::test]
async fn embedded_scts_are_verified_against_the_trusted_ct_logs() {
    let s = Sigstore::new();
    let log_id: String = b64d(&s.root()["ctlogs"][0]["logId"]["keyId"])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let c = s.message(&s.cert(), &s.log(Some(7)), |_| {});
    let r = run(&c, &s.config()).await;
    ok(&r);
    assert_eq!(ext(&r, "sct"), log_id);

    let issued = s.at - 30;
    let leaf = |mode: SctMode| {
        s.fulcio
            .issue_with_sct(
                &San::Email(EMAIL.into()),
                ISSUER,
                IssuerExtension::Both,
                issued,
                mode,
            )
            .unwrap()
    };
    let signed_by = |l: &Leaf| s.message(&BundleSigner::Certificate(l), &s.log(Some(7)), |_| {});

    // No SCT list extension.
    let c = signed_by(&leaf(SctMode::Missing));
    failed(&run(&c, &s.config()).await, "UNTRUSTED", "no embedded SCT");

    // The SCT's signature changed.
    let c = signed_by(&leaf(SctMode::Tampered));
    failed(&run(&c, &s.config()).await, "UNTRUSTED", "does not verify");

    // A correctly signed SCT from a CT log the trusted root does not list.
    let other = generate_key().unwrap();
    let c = signed_by(&leaf(SctMode::SignedBy(&other)));
    failed(
        &run(&c, &s.config()).await,
        "UNTRUSTED",
        "not in the trusted root's ctlogs",
    );
    // ... and accepted once the root lists that log.
    let mut root = s.root();
    root["ctlogs"] = json!([ctlog_entry(&other, 1)]);
    ok(&run(&c, &s.config_with(root)).await);

    // A trusted root without ctlogs trusts no SCT.
    let c = s.message(&s.cert(), &s.log(Some(7)), |_| {});
    let mut root = s.root();
    root["ctlogs"] = json!([]);
    failed(
        &run(&c, &s.config_with(root)).await,
        "UNTRUSTED",
        "not in the trusted root's ctlogs",
    );

    // The root's entry for the log ID holds another key (the log ID is not its key's SHA-256).
    let mut root = s.root();
    root["ctlogs"][0]["publicKey"]["rawBytes"] = json!(b64e(&other.public_key_der()));
    failed(
        &run(&c, &s.config_with(root)).await,
        "UNTRUSTED",
        "is not its logId",
    );

    // The CT log key's window ([start, end], both inclusive) must cover the SCT's timestamp.
    let mut root = s.root();
    root["ctlogs"][0]["publicKey"]["validFor"]["start"] = json!(rfc3339_utc(issued + 1));
    failed(
        &run(&c, &s.config_with(root)).await,
        "UNTRUSTED",
        "outside the validity",
    );
    let mut root = s.root();
    root["ctlogs"][0]["publicKey"]["validFor"]["end"] = json!(rfc3339_utc(issued - 1));
    failed(
        &run(&c, &s.config_with(root)).await,
        "UNTRUSTED",
        "outside the validity",
    );
    let mut root = s.root();
    root["ctlogs"][0]["publicKey"]["validFor"]["start"] = json!(rfc3339_utc(issued));
    root["ctlogs"][0]["publicKey"]["validFor"]["end"] = json!(rfc3339_utc(issued));
    ok(&run(&c, &s.config_with(root)).await);

    // DSSE bundles are held to the same rule.
    let l = leaf(SctMode::Missing);
    let c = s.dsse(&BundleSigner::Certificate(&l), &s.log(Some(7)), |_| {});
    failed(&run(&c, &s.config()).await, "UNTRUSTED", "no embedded SCT");
}

/// cosign `pkg/cosign/verify.go` on the simple-signing keyless path: unless
/// `--insecure-ignore-sct`, "certificate does not include required embedded SCT" is an error,
/// and an embedded SCT must verify with a CT log public key (RFC 6962 §3.2: over the
/// precertificate entry; `LogID` "the SHA-256 hash of the log's public key"). Vouch takes the
/// CT log keys from the `trustedRoot`'s `ctlogs`, and without a trusted root fails closed.
#[tokio::test]
async fn legacy_keyless_signatures_need_a_valid_sct() {
    let fulcio = Fulcio::new("fulcio").unwrap();
    let ids = json!([{"issuer": ISSUER, "subject": EMAIL}]);
    let issued = now() - 60;
    let signed = |mode: SctMode| {
        let leaf = fulcio
            .issue_with_sct(
                &San::Email(EMAIL.into()),
                ISSUER,
                IssuerExtension::Both,
                issued,
                mode,
            )
            .unwrap();
        case(|s| {
            let payload = simple_signing_payload(DOCKER_REF, &s.digest);
            signature_manifest(s, &[Layer::keyless(payload, &leaf, &fulcio).unwrap()])
        })
    };
    let c = signed(SctMode::Valid);
    let r = run(&c, &keyless_config(&fulcio, ids.clone())).await;
    ok(&r);
    let log_id: String = Sha256::digest(fulcio.ct_key().public_key_der())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(ext(&r, "sct"), log_id);

    // No trusted root: no CT log keys, so no SCT can be trusted.
    let no_root = json!({"fulcioRoots": [fulcio.root_pem()], "identities": ids}).to_string();
    failed(&run(&c, &no_root).await, "UNTRUSTED", "add `trustedRoot`");

    let cfg = keyless_config(&fulcio, ids.clone());
    let c = signed(SctMode::Missing);
    failed(&run(&c, &cfg).await, "UNTRUSTED", "no embedded SCT");
    let c = signed(SctMode::Tampered);
    failed(&run(&c, &cfg).await, "UNTRUSTED", "does not verify");
    let other = generate_key().unwrap();
    let c = signed(SctMode::SignedBy(&other));
    failed(
        &run(&c, &cfg).await,
        "UNTRUSTED",
        "not in the trusted root's ctlogs",
    );
    // A CT log key whose window does not cover the SCT's time.
    let mut root = ct_root(&fulcio);
    root["ctlogs"][0]["publicKey"]["validFor"]["start"] = json!(rfc3339_utc(issued + 1));
    let cfg = json!({"fulcioRoots": [fulcio.root_pem()], "identities": ids,
                     "trustedRoot": root})
    .to_string();
    let c = signed(SctMode::Valid);
    failed(&run(&c, &cfg).await, "UNTRUSTED", "outside the validity");
}

#[tokio::test]
async fn legacy_keyless_signatures_take_their_cas_from_fulcio_roots() {
    let s = Sigstore::new();
    let c = keyless_case(
        &s.fulcio,
        San::Email(EMAIL.into()),
        IssuerExtension::Both,
        now() - 60,
    );
    let cfg = json!({"trustedRoot": s.root(),
                     "identities": [{"issuer": ISSUER, "subject": EMAIL}]})
    .to_string();
    failed(&run(&c, &cfg).await, "UNTRUSTED", "no fulcioRoots");
}

/// An edit of a bundle's JSON.
type Edit = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn malformed_bundles_fail_without_trapping() {
    let s = Sigstore::new();
    let cfg = s.config();
    let raw = |bytes: &[u8], layer: &str| {
        let (bytes, layer) = (bytes.to_vec(), layer.to_owned());
        bundle_case(move |_, _| (bytes, layer))
    };
    // Not JSON, JSON of the wrong shape, the wrong bundle media type.
    failed(
        &run(&raw(b"{not json", BUNDLE_V03), &cfg).await,
        "INVALID_ENVELOPE",
        "not a valid Sigstore bundle",
    );
    failed(
        &run(&raw(br#"{"mediaType": 3}"#, BUNDLE_V03), &cfg).await,
        "INVALID_ENVELOPE",
        "not a valid Sigstore bundle",
    );
    let c = s.message(&s.cert(), &s.log(Some(7)), |b| {
        b["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.1");
    });
    failed(&run(&c, &cfg).await, "UNSUPPORTED_FORMAT", "mediaType");
    // A bundle in a layer of another media type: the manifest holds no bundle layer.
    let good = message_signature_bundle(b"x", &s.cert(), &s.log(Some(7))).unwrap();
    let c = raw(&serde_json::to_vec(&good).unwrap(), "application/json");
    failed(
        &run(&c, &cfg).await,
        "INVALID_ENVELOPE",
        "no layer of media type",
    );
    // Bad base64, both contents, no signer, a certificate chain (not v0.3).
    let edits: Vec<(Edit, &str)> = vec![
        (
            Box::new(|b| b["messageSignature"]["signature"] = json!("!!!")),
            "base64",
        ),
        (
            Box::new(|b| {
                b["dsseEnvelope"] = json!({"payload": "", "payloadType": IN_TOTO, "signatures": []})
            }),
            "both",
        ),
        (
            Box::new(|b| {
                b["verificationMaterial"]
                    .as_object_mut()
                    .unwrap()
                    .remove("certificate");
            }),
            "no certificate or public key",
        ),
        (
            Box::new(|b| {
                b["verificationMaterial"]["x509CertificateChain"] = json!({"certificates": []})
            }),
            "x509CertificateChain",
        ),
        (
            Box::new(|b| b["verificationMaterial"]["certificate"]["rawBytes"] = json!("AAAA")),
            "certificate",
        ),
        (
            Box::new(|b| b["messageSignature"]["messageDigest"]["algorithm"] = json!("SHA2_384")),
            "SHA2_256",
        ),
    ];
    for (edit, needle) in edits {
        let c = s.message(&s.cert(), &s.log(Some(7)), |b| edit(b));
        failed(&run(&c, &cfg).await, "INVALID_ENVELOPE", needle);
    }
    // DSSE envelopes: not in-toto, two signatures, a payload that is not a statement.
    let dsse_edits: Vec<(Edit, &str)> = vec![
        (
            Box::new(|b| b["dsseEnvelope"]["payloadType"] = json!("text/plain")),
            "payloadType",
        ),
        (
            Box::new(|b| {
                let sig = b["dsseEnvelope"]["signatures"][0].clone();
                b["dsseEnvelope"]["signatures"] = json!([sig.clone(), sig]);
            }),
            "exactly one",
        ),
        (
            Box::new(|b| b["dsseEnvelope"]["payload"] = json!(b64e(b"[1,2]"))),
            "in-toto statement",
        ),
    ];
    for (edit, needle) in dsse_edits {
        let c = s.dsse(&s.cert(), &s.log(Some(7)), |b| edit(b));
        failed(&run(&c, &cfg).await, "INVALID_ENVELOPE", needle);
    }
}

#[tokio::test]
async fn bad_trusted_roots_are_rejected_by_check_config() {
    let (rt, v) = verifier();
    let s = Sigstore::new();
    let ids = json!([{"issuer": ISSUER, "subject": EMAIL}]);
    let mut no_logs = s.root();
    no_logs["tlogs"] = json!([]);
    let mut bad_key = s.root();
    bad_key["tlogs"][0]["publicKey"]["rawBytes"] = json!("AAAA");
    let mut bad_time = s.root();
    bad_time["certificateAuthorities"][0]["validFor"]["start"] = json!("last tuesday");
    // sigstore-go refuses a log key without `validFor.start` ("tlog missing public key validity
    // period start time"); protobuf-specs' `TimeRange` makes only `end` optional. Vouch refuses a
    // missing start for every kind of entry.
    let mut tlog_no_start = s.root();
    tlog_no_start["tlogs"][0]["publicKey"]["validFor"] = json!({"end": "2999-01-01T00:00:00Z"});
    let mut tlog_no_window = s.root();
    tlog_no_window["tlogs"][0]["publicKey"]
        .as_object_mut()
        .unwrap()
        .remove("validFor");
    let mut ca_no_start = s.root();
    ca_no_start["certificateAuthorities"][0]["validFor"] = json!({});
    let mut ctlog_no_start = s.root();
    ctlog_no_start["ctlogs"] = json!([{
        "baseUrl": "https://ctfe.test", "hashAlgorithm": "SHA2_256",
        "publicKey": s.root()["tlogs"][0]["publicKey"].clone(),
        "logId": s.root()["tlogs"][0]["logId"].clone(),
    }]);
    ctlog_no_start["ctlogs"][0]["publicKey"]["validFor"] = json!({"end": "2999-01-01T00:00:00Z"});
    let mut tsa_no_start = s.root();
    tsa_no_start["timestampAuthorities"] = json!([{
        "certChain": s.root()["certificateAuthorities"][0]["certChain"].clone(),
        "validFor": {"end": "2999-01-01T00:00:00Z"},
    }]);
    let bad = [
        (json!({"trustedRoot": s.root()}), "trustedRoot alone"),
        (
            json!({"trustedRoot": "{", "identities": ids}),
            "trustedRoot",
        ),
        (
            json!({"trustedRoot": no_logs, "identities": ids}),
            "no tlogs",
        ),
        (
            json!({"trustedRoot": bad_key, "identities": ids}),
            "tlogs[0].publicKey",
        ),
        (
            json!({"trustedRoot": bad_time, "identities": ids}),
            "certificateAuthorities[0].validFor.start",
        ),
        (
            json!({"trustedRoot": tlog_no_start, "identities": ids}),
            "tlogs[0].publicKey.validFor.start is missing",
        ),
        (
            json!({"trustedRoot": tlog_no_window, "identities": ids}),
            "tlogs[0].publicKey.validFor is missing",
        ),
        (
            json!({"trustedRoot": ca_no_start, "identities": ids}),
            "certificateAuthorities[0].validFor.start is missing",
        ),
        (
            json!({"trustedRoot": ctlog_no_start, "identities": ids}),
            "ctlogs[0].publicKey.validFor.start is missing",
        ),
        (
            json!({"trustedRoot": tsa_no_start, "identities": ids}),
            "timestampAuthorities[0].validFor.start is missing",
        ),
        (json!({"trustedRoot": 7, "identities": ids}), "trustedRoot"),
    ];
    for (config, needle) in bad {
        let config = config.to_string();
        match rt.check_config(v, &config).await {
            Err(RuntimeError::Config { reason, .. }) => {
                assert!(
                    reason.contains(needle),
                    "{config}: {reason:?} lacks {needle:?}"
                )
            }
            other => panic!("{config}: expected a config error, got {other:?}"),
        }
    }
    // identities with a trusted root need no fulcioRoots.
    rt.check_config(
        v,
        &json!({"trustedRoot": s.root(), "identities": ids}).to_string(),
    )
    .await
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Rekor v2 entries and RFC 3161 signed timestamps

/// A [`Sigstore`] with Rekor v2 logs (Ed25519 and ECDSA) and a timestamp authority.
struct SigstoreV2 {
    s: Sigstore,
    ed: RekorV2,
    ec: RekorV2,
    tsa: TestTsa,
}

impl SigstoreV2 {
    fn new() -> SigstoreV2 {
        SigstoreV2 {
            s: Sigstore::new(),
            ed: RekorV2::ed25519("log2025-1.rekor.test").unwrap(),
            ec: RekorV2::ecdsa("rekor-ecdsa.test").unwrap(),
            tsa: test_tsa("sigstore tsa").unwrap(),
        }
    }

    /// The test root plus both v2 logs and the TSA (valid from 2020).
    fn root(&self) -> Value {
        let mut root = self.s.root();
        let tlogs = root["tlogs"].as_array_mut().unwrap();
        tlogs.push(self.ed.trusted_root_entry("2020-01-01T00:00:00Z"));
        tlogs.push(self.ec.trusted_root_entry("2020-01-01T00:00:00Z"));
        root["timestampAuthorities"] = json!([timestamp_authority_entry(
            &self.tsa.cert_der,
            &self.tsa.root_der,
            "2020-01-01T00:00:00Z",
            None
        )]);
        root
    }

    fn config(&self) -> String {
        self.s.config_with(self.root())
    }

    /// A timestamp by `tsa` at `at` over the bundle's signature.
    fn stamp(tsa: &TestTsa, bundle: &Value, at: i64) -> Vec<u8> {
        timestamp_token(tsa, &bundle_signature(bundle), at, None).unwrap()
    }

    /// A message-signature bundle logged to `log` (v2), timestamped by the TSA at the
    /// Sigstore's signing time, then edited.
    fn message(&self, signer: &BundleSigner, log: &RekorV2, edit: impl FnOnce(&mut Value)) -> Case {
        bundle_case(|_, subject| {
            let mut b = message_signature_bundle_v2(subject, signer, log, 2, 7).unwrap();
            let t = Self::stamp(&self.tsa, &b, self.s.at);
            add_timestamps(&mut b, &[t]);
            edit(&mut b);
            (serde_json::to_vec(&b).unwrap(), BUNDLE_V03.into())
        })
    }

    /// A DSSE bundle logged to `log` (v2), timestamped, then edited.
    fn dsse(&self, signer: &BundleSigner, log: &RekorV2, edit: impl FnOnce(&mut Value)) -> Case {
        bundle_case(|s, _| {
            let hex = s.digest.strip_prefix("sha256:").unwrap();
            let stmt = in_toto_statement(DOCKER_REF, hex, SLSA);
            let mut b = dsse_bundle_v2(&stmt, signer, log, 0, 1).unwrap();
            let t = Self::stamp(&self.tsa, &b, self.s.at);
            add_timestamps(&mut b, &[t]);
            edit(&mut b);
            (serde_json::to_vec(&b).unwrap(), BUNDLE_V03.into())
        })
    }
}

/// protobuf-specs `TransparencyLogEntry`: "integrated_time … MUST be populated for Rekor v1
/// entries" only, and `inclusion_promise` is v1's; a Rekor v2 entry is proven by its
/// `inclusion_proof` ("the inclusion proof … with a checkpoint") and its body is the JSON of
/// `rekor.v2.Entry` (`spec.hashedRekordV002` / `spec.dsseV002`). sigstore-go takes its signing
/// time from RFC 3161 timestamps (`WithSignedTimestamps`/`WithObserverTimestamps(1)`), checks the
/// leaf certificate at each verified time, and verifies the checkpoint with rekor-tiles' note
/// verifier: Ed25519 key ID = `SHA-256(origin || "\n" || 0x01 || key)`, ECDSA key ID = the
/// SHA-256 of the SPKI.
#[tokio::test]
async fn rekor_v2_bundles_with_signed_timestamps_pass() {
    let v = SigstoreV2::new();
    for log in [&v.ed, &v.ec] {
        let r = run(&v.message(&v.s.cert(), log, |_| {}), &v.config()).await;
        ok(&r);
        assert_eq!(ext(&r, "rekorKindVersion"), "0.0.2");
        assert_eq!(ext(&r, "rekorVerified"), "inclusionProof+checkpoint");
        assert_eq!(ext(&r, "signingTimeSource"), "timestamp-authority");
        assert_eq!(ext(&r, "signingTime"), v.s.at.to_string());
        assert_eq!(ext(&r, "timestampAuthority"), "https://tsa.test");
        assert_eq!(ext(&r, "verificationMode"), "keyless");
        let r = run(&v.dsse(&v.s.cert(), log, |_| {}), &v.config()).await;
        ok(&r);
        assert_eq!(ext(&r, "rekorKind"), "dsse");
    }
    let r = run(&v.message(&v.s.key_signer(), &v.ed, |_| {}), &v.config()).await;
    ok(&r);
    assert_eq!(ext(&r, "verificationMode"), "key");
    // A v1 bundle with a timestamp too: both times are verified; the earliest is reported.
    let c = bundle_case(|_, subject| {
        let mut b = message_signature_bundle(subject, &v.s.cert(), &v.s.log(Some(7))).unwrap();
        let t = SigstoreV2::stamp(&v.tsa, &b, v.s.at + 60);
        add_timestamps(&mut b, &[t]);
        (serde_json::to_vec(&b).unwrap(), BUNDLE_V03.into())
    });
    let r = run(&c, &v.config()).await;
    ok(&r);
    assert_eq!(ext(&r, "signingTimeSource"), "rekor");
    assert_eq!(ext(&r, "timestamp"), (v.s.at + 60).to_string());
}

/// C2SP signed-note / tlog-checkpoint: the note is "origin\nsize\nbase64(root)\n", a signature
/// line is "— <name> base64(key hint || signature)" and only a signature by a trusted key counts;
/// RFC 9162 §2.1.3.2: the inclusion proof must lead to the checkpoint's root hash; sigstore-go
/// `VerifyArtifactTransparencyLog`: "entry must contain an inclusion proof and/or promise", and
/// the entry's signature and key must be the bundle's ("transparency log signature does not
/// match", "transparency log certificate does not match").
#[tokio::test]
async fn rekor_v2_entries_are_enforced() {
    let v = SigstoreV2::new();
    let entry = "/verificationMaterial/tlogEntries/0";
    let cfg = v.config();

    // The checkpoint is signed by another key under the same origin.
    let impostor = RekorV2::ed25519(&v.ed.origin).unwrap();
    let c = v.message(&v.s.cert(), &v.ed, |b| {
        let root = b64d(
            b.pointer(&format!("{entry}/inclusionProof/rootHash"))
                .unwrap(),
        );
        *b.pointer_mut(&format!("{entry}/inclusionProof/checkpoint/envelope"))
            .unwrap() = json!(impostor.checkpoint(7, &root).unwrap());
    });
    failed(
        &run(&c, &cfg).await,
        "TLOG_INVALID",
        "no signature by the log's key",
    );

    // An ECDSA log's checkpoint signed by another ECDSA key.
    let impostor = RekorV2::ecdsa(&v.ec.origin).unwrap();
    let c = v.message(&v.s.cert(), &v.ec, |b| {
        let root = b64d(
            b.pointer(&format!("{entry}/inclusionProof/rootHash"))
                .unwrap(),
        );
        *b.pointer_mut(&format!("{entry}/inclusionProof/checkpoint/envelope"))
            .unwrap() = json!(impostor.checkpoint(7, &root).unwrap());
    });
    failed(&run(&c, &cfg).await, "TLOG_INVALID", "checkpoint");

    // The right key, but the checkpoint names another origin than the one the log ID binds.
    let c = v.message(&v.s.cert(), &v.ed, |b| {
        let root = b64d(
            b.pointer(&format!("{entry}/inclusionProof/rootHash"))
                .unwrap(),
        );
        *b.pointer_mut(&format!("{entry}/inclusionProof/checkpoint/envelope"))
            .unwrap() = json!(v.ed.checkpoint_as("other.rekor.test", 7, &root).unwrap());
    });
    failed(
        &run(&c, &cfg).await,
        "TLOG_INVALID",
        "does not hash to the log's ID",
    );

    // A root hash that the proof does not lead to; a wrong sibling hash.
    for field in ["rootHash", "hashes/0"] {
        let c = v.message(&v.s.cert(), &v.ed, |b| {
            flip(
                b.pointer_mut(&format!("{entry}/inclusionProof/{field}"))
                    .unwrap(),
            )
        });
        failed(
            &run(&c, &cfg).await,
            "TLOG_INVALID",
            "does not lead to its root hash",
        );
    }

    // No inclusion proof.
    let c = v.message(&v.s.cert(), &v.ed, |b| {
        b.pointer_mut(entry)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("inclusionProof");
    });
    failed(
        &run(&c, &cfg).await,
        "TLOG_INVALID",
        "must carry an inclusionProof",
    );

    // A genuine v2 entry, but of another signature.
    let foreign = message_signature_bundle_v2(b"other", &v.s.cert(), &v.ed, 2, 7).unwrap();
    let foreign_entry = foreign.pointer(entry).unwrap().clone();
    let c = v.message(&v.s.cert(), &v.ed, |b| {
        *b.pointer_mut(entry).unwrap() = foreign_entry;
    });
    failed(
        &run(&c, &cfg).await,
        "TLOG_INVALID",
        "digest is not the signed digest",
    );

    // The entry names another signer (the key instead of the certificate).
    let c = v.message(&v.s.cert(), &v.ed, |b| {
        let body: Value = serde_json::from_slice(&b64d(
            b.pointer(&format!("{entry}/canonicalizedBody")).unwrap(),
        ))
        .unwrap();
        let mut body = body;
        body["spec"]["hashedRekordV002"]["signature"]["verifier"] =
            json!({"publicKey": {"rawBytes": b64e(&v.s.key.public_key_der())}});
        *b.pointer_mut(&format!("{entry}/canonicalizedBody"))
            .unwrap() = json!(b64e(&serde_json::to_vec(&body).unwrap()));
    });
    failed(
        &run(&c, &cfg).await,
        "TLOG_INVALID",
        "verifier is not this signature's signer",
    );

    // No timestamp: a v2 entry proves no signing time.
    let c = v.message(&v.s.cert(), &v.ed, |b| {
        b["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("timestampVerificationData");
    });
    failed(
        &run(&c, &cfg).await,
        "TLOG_INVALID",
        "no RFC 3161 signed timestamp",
    );

    // A v2 log the trusted root does not list.
    let unknown = RekorV2::ed25519("unknown.rekor.test").unwrap();
    let c = v.message(&v.s.cert(), &unknown, |_| {});
    failed(&run(&c, &cfg).await, "TLOG_INVALID", "unknown Rekor log");
}

/// sigstore-go `verifySignedTimestamp`: a timestamp must verify with a timestamp authority of the
/// trusted root (`VerifyTimestampResponse` with its root, intermediates and leaf), its time must
/// lie inside the authority's `validFor`, and the leaf certificate must be valid at it
/// ("Check tlog entry time against bundle certificates"); "disallow duplicate timestamps, as a
/// malicious actor could use duplicates to bypass the threshold"; RFC 3161 §2.4.2: the
/// `messageImprint` is the hash of the timestamped data (here the bundle's signature bytes).
#[tokio::test]
async fn signed_timestamps_are_verified() {
    let v = SigstoreV2::new();
    let stamps = "/verificationMaterial/timestampVerificationData/rfc3161Timestamps";

    // The trusted root lists no timestamp authority.
    let c = v.message(&v.s.cert(), &v.ed, |_| {});
    let mut root = v.root();
    root["timestampAuthorities"] = json!([]);
    failed(
        &run(&c, &v.s.config_with(root)).await,
        "UNTRUSTED",
        "no timestampAuthorities",
    );

    // Signed by a TSA the trusted root does not list.
    let rogue = test_tsa("rogue tsa").unwrap();
    let c = v.message(&v.s.cert(), &v.ed, |b| {
        let t = SigstoreV2::stamp(&rogue, b, v.s.at);
        add_timestamps(b, &[t]);
    });
    failed(
        &run(&c, &v.config()).await,
        "TIMESTAMP_INVALID",
        "does not verify with a timestamp authority",
    );

    // genTime outside the authority's validFor.
    let c = v.message(&v.s.cert(), &v.ed, |_| {});
    let mut root = v.root();
    root["timestampAuthorities"][0]["validFor"]["end"] = json!(rfc3339_utc(v.s.at - 1));
    failed(
        &run(&c, &v.s.config_with(root)).await,
        "TIMESTAMP_INVALID",
        "outside the authority's validity",
    );

    // genTime outside the leaf certificate's validity (it is valid for 600 s from not-before).
    let c = v.message(&v.s.cert(), &v.ed, |b| {
        let t = SigstoreV2::stamp(&v.tsa, b, v.s.at + 3600);
        add_timestamps(b, &[t]);
    });
    failed(&run(&c, &v.config()).await, "UNTRUSTED", "does not chain");

    // A timestamp over other bytes.
    let c = v.message(&v.s.cert(), &v.ed, |b| {
        let t = timestamp_token(&v.tsa, b"another signature", v.s.at, None).unwrap();
        add_timestamps(b, &[t]);
    });
    failed(
        &run(&c, &v.config()).await,
        "TIMESTAMP_INVALID",
        "message imprint",
    );

    // The same timestamp twice.
    let c = v.message(&v.s.cert(), &v.ed, |b| {
        let first = b.pointer(&format!("{stamps}/0")).unwrap().clone();
        b.pointer_mut(stamps)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(first);
    });
    failed(
        &run(&c, &v.config()).await,
        "TIMESTAMP_INVALID",
        "duplicate",
    );

    // A second timestamp that does not verify fails the bundle, even beside a good one.
    let c = v.message(&v.s.cert(), &v.ed, |b| {
        let mut bad = b.pointer(&format!("{stamps}/0")).unwrap().clone();
        flip(&mut bad["signedTimestamp"]);
        b.pointer_mut(stamps)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(bad);
    });
    failed(
        &run(&c, &v.config()).await,
        "TIMESTAMP_INVALID",
        "signed timestamp 1",
    );
}

/// The resolved config the engine hands the cosign verifier for a `vouch.yaml` in `dir` whose
/// verifier config is `config_yaml` (file references read by the host at load).
async fn load_resolved(dir: &std::path::Path, config_yaml: &str) -> Result<String, String> {
    let path = dir.join("vouch.yaml");
    let yaml = format!(
        "verifiers:\n  - name: cosign\n    path: {}\n    config: {config_yaml}\n",
        guests::verifier("cosign").display()
    );
    std::fs::write(&path, yaml).unwrap();
    let config = vouch::config::Config::load(&path).map_err(|e| e.to_string())?;
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let loaded = vouch::app::load_verifiers(&rt, &config)
        .await
        .map_err(|e| e.to_string())?;
    Ok(loaded[0].config.to_string())
}

/// Trust material by reference, as cosign users keep it: `keys[].pemFile: cosign.pub` and a
/// `keysDir` of `*.pub` files (relative to the config file), read by the host at load; a
/// verification with them is the same as with the PEM inline; a missing file is refused at
/// load naming it; a path in `pem` says to use `pemFile`.
#[tokio::test]
async fn keys_by_reference_verify_like_inline_keys() {
    let key = generate_key().unwrap();
    let other = generate_key().unwrap();
    let c = key_signed(&key, |d| simple_signing_payload(DOCKER_REF, d));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cosign.pub"), key.public_key_pem()).unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/other.pub"), other.public_key_pem()).unwrap();
    std::fs::write(dir.path().join("keys/release.pub"), key.public_key_pem()).unwrap();
    std::fs::write(dir.path().join("keys/notes.txt"), "not a key").unwrap();

    let resolved = load_resolved(
        dir.path(),
        "{ keys: [ { name: release, pemFile: cosign.pub } ] }",
    )
    .await
    .unwrap();
    let r = run(&c, &resolved).await;
    ok(&r);
    assert_eq!(ext(&r, "key"), "release");

    let resolved = load_resolved(dir.path(), "{ keysDir: keys }")
        .await
        .unwrap();
    let r = run(&c, &resolved).await;
    ok(&r);
    assert_eq!(ext(&r, "key"), "release.pub");

    let e = load_resolved(
        dir.path(),
        "{ keys: [ { name: a, pemFile: missing.pub } ] }",
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("verifiers[0].config.keys[0].pemFile") && e.contains("missing.pub"),
        "{e}"
    );
    let e = load_resolved(dir.path(), "{ keys: [ { name: a, pem: cosign.pub } ] }")
        .await
        .unwrap_err();
    assert!(
        e.contains("keys[0].pem looks like a file path") && e.contains("use `pemFile`"),
        "{e}"
    );
}

/// sigstore-go `pkg/verify`: `WithTransparencyLog(n)` — "not enough verified log entries from
/// transparency log" below n, and every entry must verify (`VerifyTlogEntry` returns the first
/// entry's error); `WithIntegratedTimestamps(n)` — "threshold not met for verified log entry
/// integrated timestamps"; `WithSignedTimestamps(n)`; `WithObserverTimestamps(n)` — "threshold
/// not met for verified signed & log entry integrated timestamps". Vouch's `thresholds`.
#[tokio::test]
async fn timestamp_and_log_thresholds_are_applied() {
    let s = Sigstore::new();
    let with = |thresholds: Value| {
        let mut cfg: Value = serde_json::from_str(&s.config()).unwrap();
        cfg["thresholds"] = thresholds;
        cfg.to_string()
    };
    // A second entry for the same body in the same log (another index and tree).
    let second = |b: &mut Value| {
        let body = b64d(&b["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]);
        let e = s.rekor.tlog_entry(&body, s.at + 1, 9, Some(12)).unwrap();
        b["verificationMaterial"]["tlogEntries"]
            .as_array_mut()
            .unwrap()
            .push(e);
    };
    let one = s.message(&s.cert(), &s.log(Some(4)), |_| {});
    let two = s.message(&s.cert(), &s.log(Some(4)), second);

    // Defaults: one entry, one observer time.
    let r = run(&one, &s.config()).await;
    ok(&r);
    assert_eq!(ext(&r, "rekorEntries"), "1");
    let r = run(&two, &s.config()).await;
    ok(&r);
    assert_eq!(ext(&r, "rekorEntries"), "2");

    // Each threshold at 2: one entry (one integrated time) is short, two meet it.
    for (threshold, reason, needle) in [
        (
            "transparencyLog",
            "TLOG_INVALID",
            "transparencyLog asks for 2",
        ),
        (
            "integratedTimestamps",
            "TIMESTAMP_MISSING",
            "integratedTimestamps asks for 2",
        ),
        (
            "observerTimestamps",
            "TIMESTAMP_MISSING",
            "observerTimestamps asks for 2",
        ),
    ] {
        let cfg = with(json!({ threshold: 2 }));
        failed(&run(&one, &cfg).await, reason, needle);
        ok(&run(&two, &cfg).await);
    }

    let cfg = with(json!({"signedTimestamps": 1}));
    failed(
        &run(&one, &cfg).await,
        "TIMESTAMP_MISSING",
        "signedTimestamps asks for 1",
    );

    // One entry that does not verify fails the bundle, whatever the others.
    let bad_second = s.message(&s.cert(), &s.log(Some(4)), |b| {
        second(b);
        flip(&mut b["verificationMaterial"]["tlogEntries"][1]["inclusionPromise"]
            ["signedEntryTimestamp"]);
    });
    failed(
        &run(&bad_second, &s.config()).await,
        "TLOG_INVALID",
        "tlogEntries[1]",
    );
}
