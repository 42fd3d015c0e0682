//! Per-verification cost of each shipped verifier on its fixture
//! (`cargo bench -p vouch --bench verifier_cost`; build the guests first with `cargo xtask guests`).
//!
//! A key-signed cosign signature (`.sig`) and a key-signed attestation (`.att`, a SLSA v1
//! statement verified and handed on to the policy) are measured in alternation too, and their
//! ratio printed: what an attestation costs per artifact next to a plain signature.
//!
//! For every verifier (notation, cosign — legacy simple-signing, Sigstore bundle with a Rekor v1
//! entry, and with a Rekor v2 entry + RFC 3161 timestamp —, sbom,
//! schema, vuln) one passing fixture is built the way the `tests/verifier_*.rs` tests build
//! theirs, the verifier is loaded once, warmed up, then called `VOUCH_BENCH_ITERS` times (default
//! 200) in sequence. Each call's wall time (fresh store + instantiate + call + drop, what
//! `VerifyOutcome::duration` measures) is split with the runtime's per-call counters into time
//! inside host `crypto` imports (`CallStats::crypto_time`: signature, chain, digest and
//! certificate parsing), time inside host `store` imports (`CallStats::store_time`, an OCI layout
//! on a local disk here) and the rest: guest code, instantiation and the component-model glue.
//!
//! Plain notation and notation with a warm CRL (a CRL file of an offline fetcher: no request;
//! the host remembers the CRL's signature outcome after the first call) are measured in
//! alternation, call for call, so that the load of a shared machine weighs on both alike; their
//! ratio is printed last (the issue's target: at most 1.10).
//!
//! Last, at the subject level (the executor, result cache off): cluster B's admission of the demo
//! image `demo:v1` on a signed verification summary (the `vsa` verifier alone, one DSSE
//! signature) next to cluster A's full verification of it (notation, cosign, SBOM with its own
//! notation signature, SARIF report), measured in alternation, and their ratio.
//!
//! Figures are from one run on a shared machine: compare the ratios, not the absolute numbers.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "../../tests/support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared with the test binaries
#[path = "../../tests/support/layout.rs"]
mod layout;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "../../tests/support/verifier_case.rs"]
mod verifier_case;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use vouch::oci::Descriptor;
use vouch::oci::manifest::OCI_MANIFEST;
use vouch::runtime::{Limits, Runtime, RuntimeConfig, VerifyInput};
use vouch::store::StoreAccess;
use vouch::store::layout::LayoutStore;
use vouch::store::revocation::{RevocationFetcher, Settings};
use xtask::fixtures::cosign as cx;
use xtask::fixtures::notation as nx;

use layout::{EMPTY_CONFIG, LayoutBuilder};

/// One verifier's fixture: where it lives, what to verify, with which config.
struct Fixture {
    /// Row label.
    label: &'static str,
    /// Verifier (guest) name.
    verifier: &'static str,
    /// Keeps the layout on disk.
    _dir: Option<tempfile::TempDir>,
    /// Keeps a `verifier_case` layout alive.
    _case: Option<verifier_case::Case>,
    store: Arc<dyn StoreAccess>,
    subject: Descriptor,
    artifact: Descriptor,
    config: Value,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
}

fn from_case(
    label: &'static str,
    verifier: &'static str,
    case: verifier_case::Case,
    config: Value,
) -> Fixture {
    Fixture {
        label,
        verifier,
        store: case.store.clone(),
        subject: case.subject.clone(),
        artifact: case.artifact.clone(),
        _dir: None,
        _case: Some(case),
        config,
    }
}

/// A layout holding an image and one referrer whose manifest and blobs `make` returns (given
/// the subject and the subject manifest's bytes).
fn raw_fixture(
    label: &'static str,
    verifier: &'static str,
    artifact_type: &str,
    config: Value,
    make: impl FnOnce(&Descriptor, &[u8]) -> (Vec<u8>, Vec<(String, Vec<u8>)>),
) -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut b = LayoutBuilder::new(dir.path());
    let subject = b.image("v1", &[b"layer one"]);
    let subject_bytes = std::fs::read(dir.path().join("blobs/sha256").join(subject.digest.hex()))
        .expect("the subject manifest was written");
    let (manifest, blobs) = make(&subject, &subject_bytes);
    for (mt, data) in &blobs {
        b.blob(mt, data);
    }
    let mut artifact = b.blob(OCI_MANIFEST, &manifest);
    artifact.artifact_type = Some(artifact_type.into());
    b.finish();
    let store = LayoutStore::open(dir.path(), Default::default()).expect("the layout opens");
    Fixture {
        label,
        verifier,
        _dir: Some(dir),
        _case: None,
        store: Arc::new(store),
        subject,
        artifact,
        config,
    }
}

fn sref(d: &Descriptor) -> cx::SubjectRef {
    cx::SubjectRef {
        media_type: d.media_type.clone(),
        digest: d.digest.to_string(),
        size: d.size,
    }
}

fn blobs(m: cx::SignatureManifest) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let blobs = m
        .blobs
        .into_iter()
        .map(|b| (b.media_type, b.data))
        .collect();
    (m.manifest, blobs)
}

/// The CRL URL the revocation fixture's leaf names.
const BENCH_CRL_URL: &str = "http://crl.bench.test/leaf.crl";

/// Notation: a JWS (ES256) signature by a leaf of a test root, `strict` trust policy.
fn notation() -> Fixture {
    notation_fixture(
        "notation (JWS, ES256, 2-cert chain)",
        nx::ChainOptions::valid_now(),
    )
    .0
}

/// Notation with revocation: the leaf names a CRL distribution point; returns the fixture and
/// the root's fresh CRL for it (served warm: from memory, no request).
fn notation_with_crl() -> (Fixture, Vec<u8>) {
    let mut opts = nx::ChainOptions::valid_now();
    opts.leaf_revocation = nx::RevocationInfo::crl(BENCH_CRL_URL);
    let (f, chain) = notation_fixture("notation + CRL (warm, revocation good)", opts);
    let crl = chain
        .crl(&[], now() - 3600, now() + 86_400, false)
        .expect("a CRL");
    (f, crl)
}

fn notation_fixture(label: &'static str, opts: nx::ChainOptions) -> (Fixture, nx::TestChain) {
    let chain = nx::test_chain(&opts).expect("a notation test chain");
    let identity = opts.leaf_subject.identity();
    let config = json!({
        "trustPolicy": {"version": "1.0", "trustPolicies": [{
            "name": "default",
            "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:test"],
            "trustedIdentities": [identity],
        }]},
        "trustStores": {"ca": {"test": [chain.root_pem.clone()]}},
    });
    let fixture = raw_fixture(
        label,
        "notation",
        nx::SIGNATURE_ARTIFACT_TYPE,
        config,
        |subject, _| {
            let target = nx::Target {
                media_type: subject.media_type.clone(),
                digest: subject.digest.to_string(),
                size: subject.size,
            };
            let envelope = nx::sign_jws(
                &target,
                &chain.leaf_key_pkcs8,
                &chain.x5c(),
                &nx::JwsOptions::now(),
            )
            .expect("a JWS signature");
            let manifest =
                nx::signature_manifest(&target, &envelope, nx::JWS_MEDIA_TYPE, &chain.x5c());
            (
                manifest,
                vec![
                    (EMPTY_CONFIG.to_owned(), b"{}".to_vec()),
                    (nx::JWS_MEDIA_TYPE.to_owned(), envelope),
                ],
            )
        },
    );
    (fixture, chain)
}

/// A test Fulcio and Rekor, and a Fulcio leaf for `dev@example.test` valid from `nb` (returned
/// too, five minutes ago).
fn keyless() -> (cx::Fulcio, cx::Rekor, cx::Leaf, i64) {
    let fulcio = cx::Fulcio::new("fulcio").expect("a test Fulcio");
    let rekor = cx::Rekor::new().expect("a test Rekor");
    let nb = now() - 300;
    let leaf = fulcio
        .issue(
            &cx::San::Email("dev@example.test".into()),
            "https://accounts.example.test",
            cx::IssuerExtension::Both,
            nb,
        )
        .expect("a Fulcio leaf");
    (fulcio, rekor, leaf, nb)
}

/// Cosign, legacy form: a keyless simple-signing signature with a Rekor bundle annotation.
fn cosign_simple() -> Fixture {
    let (fulcio, rekor, leaf, nb) = keyless();
    let config = json!({
        "fulcioRoots": [fulcio.root_pem()],
        "identities": [{"issuer": "https://accounts.example.test", "subject": "dev@example.test"}],
        "rekorPublicKey": rekor.public_key_pem(),
        // The CT log keys its leaves' embedded SCTs are verified with.
        "trustedRoot": cx::trusted_root(&[&fulcio], &[&rekor]),
    });
    raw_fixture(
        "cosign (simple-signing, keyless + Rekor SET)",
        "cosign",
        cx::ARTIFACT_TYPE,
        config,
        |subject, _| {
            let s = sref(subject);
            let payload = cx::simple_signing_payload("example.test/app", &s.digest);
            let layer = cx::Layer::keyless(payload.clone(), &leaf, &fulcio).expect("a signature");
            let bundle = rekor
                .bundle(&payload, layer.signature(), &leaf.cert_pem, nb + 30, 7)
                .expect("a Rekor bundle");
            let layer = layer.with_annotation(cx::BUNDLE_ANNOTATION, &bundle);
            blobs(cx::signature_manifest(&s, &[layer]))
        },
    )
}

/// Cosign, Sigstore bundle v0.3: a keyless DSSE bundle with an inclusion proof (1 000-leaf tree).
fn cosign_bundle() -> Fixture {
    let (fulcio, rekor, leaf, nb) = keyless();
    let config = json!({
        "trustedRoot": cx::trusted_root(&[&fulcio], &[&rekor]),
        "identities": [{"issuer": "https://accounts.example.test", "subject": "dev@example.test"}],
    });
    raw_fixture(
        "cosign (bundle v0.3, DSSE, keyless + proof)",
        "cosign",
        cx::BUNDLE_V03,
        config,
        |subject, _| {
            let s = sref(subject);
            let hex = s.digest.trim_start_matches("sha256:");
            let stmt =
                cx::in_toto_statement("example.test/app", hex, "https://slsa.dev/provenance/v1");
            let log = cx::LogEntry {
                rekor: &rekor,
                integrated_time: nb + 30,
                log_index: 617,
                tree_size: Some(1000),
            };
            let bundle = cx::dsse_bundle(&stmt, &cx::BundleSigner::Certificate(&leaf), &log)
                .expect("a bundle");
            let bytes = serde_json::to_vec(&bundle).expect("JSON serialises");
            blobs(cx::bundle_manifest(&s, &bytes, cx::BUNDLE_V03))
        },
    )
}

/// Cosign, Sigstore bundle v0.3 logged to Rekor v2: the same keyless DSSE bundle, proven by an
/// inclusion proof (1 000-leaf tree) and an Ed25519 checkpoint, timed by an RFC 3161 timestamp.
fn cosign_bundle_v2() -> Fixture {
    let (fulcio, _, leaf, nb) = keyless();
    let log = cx::RekorV2::ed25519("log2025-1.rekor.test").expect("a Rekor v2 log");
    let tsa = nx::test_tsa("bench tsa").expect("a TSA");
    let mut root = cx::trusted_root(&[&fulcio], &[]);
    root["tlogs"] = json!([log.trusted_root_entry("2020-01-01T00:00:00Z")]);
    root["timestampAuthorities"] = json!([cx::timestamp_authority_entry(
        &tsa.cert_der,
        &tsa.root_der,
        "2020-01-01T00:00:00Z",
        None
    )]);
    let config = json!({
        "trustedRoot": root,
        "identities": [{"issuer": "https://accounts.example.test", "subject": "dev@example.test"}],
    });
    raw_fixture(
        "cosign (bundle v0.3, DSSE, keyless, Rekor v2 + RFC 3161)",
        "cosign",
        cx::BUNDLE_V03,
        config,
        |subject, _| {
            let s = sref(subject);
            let hex = s.digest.trim_start_matches("sha256:");
            let stmt =
                cx::in_toto_statement("example.test/app", hex, "https://slsa.dev/provenance/v1");
            let signer = cx::BundleSigner::Certificate(&leaf);
            let mut bundle = cx::dsse_bundle_v2(&stmt, &signer, &log, 617, 1000).expect("a bundle");
            let token = nx::timestamp_token(&tsa, &cx::bundle_signature(&bundle), nb + 30, None)
                .expect("a timestamp");
            cx::add_timestamps(&mut bundle, &[token]);
            let bytes = serde_json::to_vec(&bundle).expect("JSON serialises");
            blobs(cx::bundle_manifest(&s, &bytes, cx::BUNDLE_V03))
        },
    )
}

/// Cosign with a key: a plain simple-signing signature (`.sig`), the baseline of the attestation
/// row below.
fn cosign_key_signature(key: &cx::Key) -> Fixture {
    let config = json!({"keys": [{"name": "release", "pem": key.public_key_pem()}]});
    raw_fixture(
        "cosign (simple-signing, key)",
        "cosign",
        cx::ARTIFACT_TYPE,
        config,
        |subject, _| {
            let s = sref(subject);
            let payload = cx::simple_signing_payload("example.test/app", &s.digest);
            let layer = cx::Layer::key_signed(payload, key).expect("a signature");
            blobs(cx::tag_manifest(
                cx::SIMPLE_SIGNING,
                &[(layer.payload, layer.annotations)],
            ))
        },
    )
}

/// Cosign with a key: an attestation (`.att`, DSSE) of a SLSA v1 provenance statement of a
/// GitHub workflow build (~1.5 KB), verified and handed on to the policy as `statement`.
fn cosign_key_attestation(key: &cx::Key) -> Fixture {
    let config = json!({"keys": [{"name": "release", "pem": key.public_key_pem()}]});
    raw_fixture(
        "cosign (attestation .att, DSSE, key, SLSA v1)",
        "cosign",
        cx::ATTESTATION_ARTIFACT_TYPE,
        config,
        |subject, _| {
            let hex = subject.digest.hex();
            let repo = "https://github.com/example-org/app";
            let deps: Vec<Value> = (0..8)
                .map(|i| {
                    json!({"uri": format!("pkg:golang/example.test/dep{i}@v1.{i}.0"),
                                "digest": {"sha256": format!("{i:064x}")}})
                })
                .collect();
            let statement = serde_json::to_vec(&json!({
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": "example.test/app", "digest": {"sha256": hex}}],
                "predicateType": "https://slsa.dev/provenance/v1",
                "predicate": {
                    "buildDefinition": {
                        "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                        "externalParameters": {"workflow": {
                            "ref": "refs/tags/v1.2.0", "repository": repo,
                            "path": ".github/workflows/release.yml"}},
                        "resolvedDependencies": deps,
                    },
                    "runDetails": {
                        "builder": {"id": "https://github.com/actions/runner/github-hosted"},
                        "metadata": {"invocationId": format!("{repo}/actions/runs/1/attempts/1")},
                    },
                },
            }))
            .expect("JSON serialises");
            let a = cx::Attestation::key_signed(statement, "https://slsa.dev/provenance/v1", key)
                .expect("an attestation");
            blobs(cx::attestation_tag_manifest(&[a]))
        },
    )
}

const SPDX: &str = "application/spdx+json";

/// SBOM: an SPDX 2.3 document of three packages against a license allow-list.
fn sbom() -> Fixture {
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "app",
        "packages": [
            {"name": "openssl", "versionInfo": "3.0.11", "licenseConcluded": "Apache-2.0",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": "pkg:deb/debian/openssl@3.0.11"}]},
            {"name": "libfoo", "versionInfo": "1.2", "licenseConcluded": "NOASSERTION",
             "licenseDeclared": "GPL-3.0-or-later OR MIT"},
            {"name": "libbar", "versionInfo": "0.9", "licenseConcluded": "(MIT AND BSD-3-Clause)"},
        ]
    })
    .to_string();
    let c = verifier_case::case(SPDX, &[(SPDX, doc.as_bytes())]);
    from_case(
        "sbom (SPDX 2.3, 3 packages)",
        "sbom",
        c,
        json!({"allowedLicenses": ["Apache-2.0", "MIT", "BSD-3-Clause"]}),
    )
}

const PROVENANCE: &str = "application/vnd.example.provenance+json";

/// Schema: a provenance document against a JSON Schema (2020-12) with `$ref` and formats.
fn schema() -> Fixture {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["builder", "materials"],
        "properties": {
            "builder": {"type": "object", "required": ["id"],
                        "properties": {"id": {"type": "string", "format": "uri"}}},
            "materials": {"type": "array", "items": {"$ref": "#/$defs/material"}},
            "buildFinishedOn": {"type": "string", "format": "date-time"}
        },
        "$defs": {"material": {"type": "object", "required": ["uri", "digest"],
                               "properties": {"digest": {"type": "object",
                                   "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]+$"}}}}}
    });
    let doc = json!({
        "builder": {"id": "https://ci.example.com/builder"},
        "materials": [{"uri": "git+https://example.com/repo", "digest": {"sha1": "abc123"}}],
        "buildFinishedOn": "2024-05-01T12:00:00Z"
    })
    .to_string();
    let c = verifier_case::case(PROVENANCE, &[("application/json", doc.as_bytes())]);
    from_case(
        "schema (JSON Schema 2020-12)",
        "schema",
        c,
        json!({"schemas": {PROVENANCE: schema}}),
    )
}

const TRIVY: &str = "application/vnd.aquasecurity.trivy.report.sarif.v1+json";

/// Vuln: a Trivy SARIF report of five findings against a severity threshold.
fn vuln() -> Fixture {
    let report = json!({
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "Trivy", "version": "0.50.0", "rules": [
                {"id": "CVE-2021-44228", "properties": {"security-severity": "10.0",
                 "tags": ["vulnerability", "security", "CRITICAL"]}},
                {"id": "CVE-2022-3602", "properties": {"security-severity": "7.5",
                 "tags": ["vulnerability", "security", "HIGH"]}},
                {"id": "CVE-2023-0001", "properties": {"security-severity": "5.3",
                 "tags": ["vulnerability", "security", "MEDIUM"]}},
                {"id": "CVE-2023-0002", "properties": {"tags": ["vulnerability", "security", "LOW"]}}
            ]}},
            "results": [
                {"ruleId": "CVE-2021-44228", "ruleIndex": 0, "level": "error", "message": {"text": "a"}},
                {"ruleId": "CVE-2022-3602", "ruleIndex": 1, "level": "error", "message": {"text": "b"}},
                {"ruleId": "CVE-2023-0001", "ruleIndex": 2, "level": "warning", "message": {"text": "c"}},
                {"ruleId": "CVE-2023-0002", "ruleIndex": 3, "level": "note", "message": {"text": "d"}},
                {"ruleId": "CVE-2023-0002", "ruleIndex": 3, "level": "note", "message": {"text": "e"}}
            ]
        }]
    })
    .to_string();
    let c = verifier_case::case(TRIVY, &[(TRIVY, report.as_bytes())]);
    from_case(
        "vuln (Trivy SARIF, 5 findings)",
        "vuln",
        c,
        json!({"allowCVEs": ["CVE-2021-44228"], "denySeverity": "critical"}),
    )
}

/// Mean figures of one fixture.
struct Row {
    label: &'static str,
    iters: u32,
    total: Duration,
    crypto: Duration,
    store: Duration,
    host_calls: u64,
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A loaded, checked and warmed-up verifier with its input.
struct Prepared {
    verifier: vouch::runtime::Verifier,
    input: VerifyInput,
}

async fn prepare(rt: &Runtime, f: &Fixture) -> Prepared {
    let v = rt
        .load_file(f.verifier, &guests::verifier(f.verifier), Limits::default())
        .await
        .unwrap_or_else(|e| panic!("loading {}: {e}", f.verifier));
    let config = f.config.to_string();
    rt.check_config(&v, &config)
        .await
        .unwrap_or_else(|e| panic!("{}: config rejected: {e}", f.label));
    let input = VerifyInput {
        store: f.store.clone(),
        subject_reference: "example.test/app:v1".into(),
        subject: f.subject.clone(),
        artifact: f.artifact.clone(),
        config: config.into(),
        cpu_quota: None,
    };
    for _ in 0..5 {
        let out = rt.verify(&v, input.clone()).await.expect("a verification");
        assert!(
            out.report.is_success,
            "{}: the fixture must pass: {:?}",
            f.label, out.report
        );
    }
    Prepared { verifier: v, input }
}

impl Row {
    fn new(label: &'static str, iters: u32) -> Self {
        Row {
            label,
            iters,
            total: Duration::ZERO,
            crypto: Duration::ZERO,
            store: Duration::ZERO,
            host_calls: 0,
        }
    }

    /// Adds one call.
    async fn call(&mut self, rt: &Runtime, p: &Prepared) {
        let out = rt
            .verify(&p.verifier, p.input.clone())
            .await
            .expect("a verification");
        self.total += out.duration;
        self.crypto += out.stats.crypto_time;
        self.store += out.stats.store_time;
        self.host_calls += out.stats.host_calls;
    }
}

async fn measure(rt: &Runtime, f: &Fixture, iters: u32) -> Row {
    let p = prepare(rt, f).await;
    let mut row = Row::new(f.label, iters);
    for _ in 0..iters {
        row.call(rt, &p).await;
    }
    row
}

/// Two fixtures measured call for call in alternation, so that the load of a shared machine
/// weighs on both alike (their ratio is the figure that matters).
async fn measure_pair(rt: &Runtime, a: &Fixture, b: &Fixture, iters: u32) -> [Row; 2] {
    let (pa, pb) = (prepare(rt, a).await, prepare(rt, b).await);
    let mut rows = [Row::new(a.label, iters), Row::new(b.label, iters)];
    for _ in 0..iters {
        rows[0].call(rt, &pa).await;
        rows[1].call(rt, &pb).await;
    }
    rows
}

fn main() {
    let iters: u32 = std::env::var("VOUCH_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        // The revocation row's CRL is a file of an offline fetcher: a warm cache, no request.
        let (with_crl, crl) = notation_with_crl();
        let crl_dir = tempfile::tempdir().expect("a temp dir");
        let crl_path = crl_dir.path().join("leaf.crl");
        std::fs::write(&crl_path, crl).expect("the CRL file");
        let settings = Settings {
            offline: true,
            crl_files: vec![(BENCH_CRL_URL.to_owned(), crl_path)],
            ..Settings::default()
        };
        let fetcher = RevocationFetcher::new(settings, None).expect("the revocation fetcher");
        let runtime = Runtime::new(RuntimeConfig::default())
            .expect("a wasm runtime")
            .with_revocation(Arc::new(fetcher));
        let key = cx::generate_key().expect("a key");
        let fixtures = [
            notation(),
            with_crl,
            cosign_key_signature(&key),
            cosign_key_attestation(&key),
            cosign_simple(),
            cosign_bundle(),
            cosign_bundle_v2(),
            sbom(),
            schema(),
            vuln(),
        ];
        println!(
            "Per-verification cost, mean of {iters} sequential calls (fresh store + instantiate + \
             call each; pooling: {})",
            runtime.is_pooling()
        );
        println!(
            "{:<46} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>6}",
            "verifier (fixture)",
            "total µs",
            "crypto µs",
            "store µs",
            "guest µs",
            "crypto%",
            "guest%",
            "calls"
        );
        let mut totals = Vec::new();
        // Plain notation and notation with a warm CRL alternate call for call.
        let [plain, crl] = measure_pair(&runtime, &fixtures[0], &fixtures[1], iters).await;
        // So do a key-signed signature and a key-signed attestation of the same image.
        let [sig, att] = measure_pair(&runtime, &fixtures[2], &fixtures[3], iters).await;
        let mut rows = vec![plain, crl, sig, att];
        for f in &fixtures[4..] {
            rows.push(measure(&runtime, f, iters).await);
        }
        for r in rows {
            let n = f64::from(r.iters);
            let total = us(r.total) / n;
            totals.push(total);
            let crypto = us(r.crypto) / n;
            let store = us(r.store) / n;
            let guest = (total - crypto - store).max(0.0);
            println!(
                "{:<46} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>7.1}% {:>7.1}% {:>6.1}",
                r.label,
                total,
                crypto,
                store,
                guest,
                100.0 * crypto / total,
                100.0 * guest / total,
                r.host_calls as f64 / n
            );
        }
        println!(
            "crypto = time inside host crypto imports (verify-signature, verify-chain, digest, \
             parse-certificate); store = inside host store imports; guest = the rest (guest code, \
             instantiation, component-model glue); calls = host calls per verification."
        );
        println!(
            "revocation (warm CRL) / plain notation verification: {:.1} µs / {:.1} µs = {:.3}x \
             (measured in alternation)",
            totals[1],
            totals[0],
            totals[1] / totals[0]
        );
        println!(
            "attestation (.att DSSE, statement handed on) / signature (.sig), both key-signed: \
             {:.1} µs / {:.1} µs = {:.3}x per artifact (measured in alternation)",
            totals[3],
            totals[2],
            totals[3] / totals[2]
        );
        let (full, vsa) = vsa_vs_full(&runtime, iters.min(100)).await;
        println!(
            "cluster B on a signed verification summary (vsa) / cluster A's full verification of \
             demo:v1 (notation, cosign, sbom + its notation, vuln), per subject: {:.1} µs / {:.1} \
             µs = {:.3}x (measured in alternation)",
            us(vsa),
            us(full),
            vsa.as_secs_f64() / full.as_secs_f64()
        );
    });
}

/// The executor for the configuration `doc` (JSON), result cache off.
async fn executor_for(runtime: &Runtime, doc: &Value) -> vouch::executor::Executor {
    let config =
        vouch::config::Config::parse(&doc.to_string(), true, std::path::Path::new("bench.json"))
            .expect("the bench config");
    let verifiers = vouch::app::load_verifiers(runtime, &config)
        .await
        .expect("the verifiers load");
    let policy = vouch::app::policy::from_config(&config).expect("the policy");
    vouch::executor::Executor::new(
        runtime.clone(),
        verifiers,
        vouch::executor::Settings::from(&config.executor),
    )
    .with_policy(policy)
}

/// Median time of cluster A's full verification of `demo:v1` and of cluster B's admission of
/// it on A's signed summary, `iters` each, in alternation.
async fn vsa_vs_full(runtime: &Runtime, iters: u32) -> (Duration, Duration) {
    use vouch::report::vsa::{DSSE_ENVELOPE, Summary, envelope, statement};
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    // Cluster A: the demo's configuration, with the built verifiers.
    let mut full_doc: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(examples.join("vouch.yaml")).expect("examples/vouch.yaml"),
    )
    .expect("examples/vouch.yaml parses");
    for v in full_doc["verifiers"].as_array_mut().expect("verifiers") {
        let name = v["name"].as_str().expect("a name").to_owned();
        v["path"] = json!(guests::verifier(&name));
    }
    full_doc["executor"] = json!({"resultCacheTtlMs": 0});
    let full = executor_for(runtime, &full_doc).await;

    // A copy of the demo layout with A's summary of demo:v1 attached.
    let dir = tempfile::tempdir().expect("a temp dir");
    let root = dir.path().join("demo");
    copy_dir(&examples.join("demo-layout"), &root);
    let sources = vouch::store::sources::Sources::new(
        vouch::oci::registry::RegistryClient::new(Default::default()).expect("a client"),
        Default::default(),
        None,
        Default::default(),
    )
    .expect("sources");
    let subject = format!("{}:v1", root.display());
    let report = full
        .verify(sources.layout(&subject).expect("the subject"))
        .await;
    assert!(report.is_success, "the demo passes: {}", report.message);
    let (private, public) = vouch::plugin::SigningKey::generate_pem().expect("a key");
    let key = vouch::plugin::SigningKey::from_pem(private.as_bytes(), std::path::Path::new("a"))
        .expect("the key");
    let summary = Summary {
        verifier_id: "https://vouch.example/cluster-a".into(),
        versions: Default::default(),
        time_verified: SystemTime::now(),
        policy_uri: "file:///bench/vouch.yaml".into(),
        policy_digest: full.fingerprint().to_owned(),
    };
    let stmt = statement(&report, "demo", &summary).expect("a statement");
    let signed = envelope(&stmt, "", |m| key.sign(m)).expect("signed");
    let index_path = root.join("index.json");
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(&index_path).expect("index.json")).expect("JSON");
    let image: Descriptor = serde_json::from_value(index["manifests"][0].clone()).expect("v1");
    let vsa_artifact = vouch::plugin::referrer_artifact(
        DSSE_ENVELOPE,
        DSSE_ENVELOPE,
        bytes::Bytes::from(signed),
        &image,
        Default::default(),
    );
    let blobs = vsa_artifact
        .blobs
        .iter()
        .map(|(d, b)| (d.digest.clone(), b.clone()))
        .chain([(
            vsa_artifact.descriptor.digest.clone(),
            vsa_artifact.manifest.clone(),
        )]);
    for (digest, bytes) in blobs {
        std::fs::write(root.join("blobs/sha256").join(digest.hex()), bytes).expect("a blob");
    }
    index["manifests"]
        .as_array_mut()
        .expect("manifests")
        .push(serde_json::to_value(&vsa_artifact.descriptor).expect("a descriptor"));
    std::fs::write(&index_path, index.to_string()).expect("index.json");

    // Cluster B: only the vsa verifier, trusting A's key and policy digest.
    let b_doc = json!({
        "verifiers": [{"name": "vsa", "path": guests::verifier("vsa"), "config": {
            "keys": [{"name": "cluster-a", "pem": public}],
            "policyDigests": [full.fingerprint()],
        }}],
        "executor": {"resultCacheTtlMs": 0},
    });
    let b = executor_for(runtime, &b_doc).await;
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..iters {
        for (i, exec) in [&full, &b].into_iter().enumerate() {
            let source = sources.layout(&subject).expect("the subject");
            let start = std::time::Instant::now();
            let r = exec.verify(source).await;
            times[i].push(start.elapsed());
            assert!(r.is_success, "{}", r.message);
        }
    }
    let [mut full_t, mut vsa_t] = times;
    full_t.sort();
    vsa_t.sort();
    (full_t[full_t.len() / 2], vsa_t[vsa_t.len() / 2])
}

/// Copy the directory tree `from` to `to`.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("readable") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("a copy");
        }
    }
}
