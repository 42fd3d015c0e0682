//! The cosign verifier (`guest-verifiers/cosign`, the real wasm component) run through the
//! runtime against OCI layouts holding signatures made by `xtask::fixtures::cosign`: key-based
//! and keyless (test Fulcio CA, test Rekor log), valid and tampered in every way that matters.

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
use serde_json::json;
use vouch::oci::Descriptor;
use vouch::oci::manifest::OCI_MANIFEST;
use vouch::runtime::{
    GuestReport, Limits, Runtime, RuntimeConfig, RuntimeError, Verifier, VerifyInput,
};
use vouch::store::layout::LayoutStore;
use xtask::fixtures::cosign::{
    ARTIFACT_TYPE, BUNDLE_ANNOTATION, Fulcio, IssuerExtension, Key, Layer, PAYLOAD_TYPE, Rekor,
    SIGNATURE_ANNOTATION, San, SignatureManifest, SubjectRef, generate_ed25519_key, generate_key,
    signature_manifest, simple_signing_payload, simple_signing_payload_with,
};

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

#[tokio::test]
async fn sigstore_bundle_artifacts_are_reported_unsupported() {
    let key = generate_key().unwrap();
    let c = case_raw(|s| {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                       "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                       "size": 2},
            "layers": [],
            "subject": {"mediaType": s.media_type, "digest": s.digest, "size": s.size},
        });
        (
            serde_json::to_vec(&m).unwrap(),
            vec![("application/vnd.oci.empty.v1+json".into(), b"{}".to_vec())],
        )
    });
    failed(
        &run(&c, &key_config(&[("k", &key)])).await,
        "UNSUPPORTED_FORMAT",
        "bundle",
    );
}

// ---------------------------------------------------------------------------------------------
// Keyless

fn keyless_config(fulcio: &Fulcio, identities: serde_json::Value) -> String {
    json!({"fulcioRoots": [fulcio.root_pem()], "identities": identities}).to_string()
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
