//! Attestations whose verified predicate the policy judges: the cosign verifier hands the in-toto
//! statement it verified (`_type`, `subject`, `predicateType`, `predicate`) on as the report's
//! `statement` extension, and the shipped Rego examples (`examples/policies/*.rego`, loaded from
//! the files users copy) decide on it.
//!
//! Three storage forms, each with our own fixtures (keys and a test Fulcio/Rekor made here):
//! cosign's `sha256-<hex>.att` tag on Debian's `docker-registry` (through the `vouch` binary and
//! its tree output), an OCI 1.1 referrer with a DSSE layer, and a Sigstore bundle v0.3 with a
//! DSSE envelope signed keyless (both in OCI layouts). The policies' conditions are also tested on
//! their own, on reports written here.

#[path = "support/cli.rs"]
mod cli;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)]
#[path = "support/layout.rs"]
mod layout;
mod support;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use layout::LayoutBuilder;
use serde_json::{Map, Value, json};
use support::registry::Registry;
use support::verify::verify_subject;
use vouch::config::Config;

use vouch::oci::manifest::{COSIGN_ATTESTATION_ARTIFACT_TYPE, OCI_MANIFEST};
use vouch::policy::{Policy, PolicyInput, RegoPolicy};
use vouch::report::{SubjectReport, Timings, VerifierReport};
use vouch::runtime::{Runtime, RuntimeConfig};
use xtask::fixtures::cosign::{
    Attestation, BUNDLE_V03, BundleSigner, DSSE_ENVELOPE, Fulcio, IN_TOTO, IssuerExtension, Key,
    LogEntry, Rekor, San, attestation_tag_manifest, dsse_bundle, dsse_envelope, generate_key,
    trusted_root,
};

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
const VULNS: &str = "https://in-toto.io/attestation/vulns/v0.1";
const COSIGN_VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// A builder and a repository in the shipped examples' allow-lists.
const BUILDER_V1: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0";
const BUILDER_V02: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.9.0";
const REPO: &str = "https://github.com/example-org/app";
const ISSUER: &str = "https://token.actions.githubusercontent.example";
const WORKFLOW: &str =
    "https://github.com/example-org/app/.github/workflows/release.yml@refs/heads/main";

// ---------------------------------------------------------------------------------------------
// Statements and predicates (written here)

/// The shipped example policy `name` (`examples/policies/<name>`).
fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/policies")
        .join(name)
}

/// An in-toto v1 statement about the SHA-256 digests `subjects` (hex).
fn statement(subjects: &[&str], predicate_type: &str, predicate: &Value) -> Vec<u8> {
    let subject: Vec<Value> = subjects
        .iter()
        .enumerate()
        .map(|(i, hex)| json!({"name": format!("artifact-{i}"), "digest": {"sha256": hex}}))
        .collect();
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subject,
        "predicateType": predicate_type,
        "predicate": predicate,
    }))
    .unwrap()
}

/// A SLSA v1 provenance predicate as GitHub's workflow build type lays it out.
fn slsa_v1(builder: &str, repo: &str) -> Value {
    json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {
                "ref": "refs/heads/main", "repository": repo, "path": ".github/workflows/release.yml"
            }},
            "resolvedDependencies": [{
                "uri": format!("git+{repo}@refs/heads/main"),
                "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}
            }],
        },
        "runDetails": {"builder": {"id": builder}, "metadata": {"invocationId": "run-1"}},
    })
}

/// A SLSA v0.2 provenance predicate.
fn slsa_v02(builder: &str, repo: &str) -> Value {
    json!({
        "builder": {"id": builder},
        "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
        "invocation": {"configSource": {
            "uri": format!("git+{repo}@refs/heads/main"),
            "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"},
            "entryPoint": ".github/workflows/release.yml"
        }},
        "materials": [{"uri": format!("git+{repo}@refs/heads/main")}],
    })
}

/// An in-toto vulns v0.1 predicate with findings `(id, [(method, score)])`.
fn vulns(findings: &[(&str, &[(&str, &str)])]) -> Value {
    let result: Vec<Value> = findings
        .iter()
        .map(|(id, sev)| {
            let severity: Vec<Value> = sev
                .iter()
                .map(|(m, s)| json!({"method": m, "score": s}))
                .collect();
            json!({"id": id, "severity": severity})
        })
        .collect();
    json!({
        "scanner": {"uri": "pkg:github/example/scanner@v1", "version": "1.0",
                    "db": {"lastUpdate": "2026-01-01T00:00:00Z"}, "result": result},
        "metadata": {"scanStartedOn": "2026-01-01T00:00:00Z",
                     "scanFinishedOn": "2026-01-01T00:01:00Z"},
    })
}

/// cosign's vuln v1 predicate with a Trivy report of `(id, severity)` findings.
fn cosign_vuln(findings: &[(&str, &str)]) -> Value {
    let v: Vec<Value> = findings
        .iter()
        .map(|(id, s)| json!({"VulnerabilityID": id, "Severity": s}))
        .collect();
    json!({
        "invocation": {"uri": "https://ci.example.test/run/1"},
        "scanner": {"uri": "pkg:github/aquasecurity/trivy@v0.50.0", "version": "0.50.0",
                    "result": {"SchemaVersion": 2, "Results": [{"Target": "app", "Vulnerabilities": v}]}},
        "metadata": {"scanStartedOn": "2026-01-01T00:00:00Z",
                     "scanFinishedOn": "2026-01-01T00:01:00Z"},
    })
}

// ---------------------------------------------------------------------------------------------
// The example policies on their own

/// A report of a verified attestation carrying `statement` (`None`: failed, no statement).
fn attestation_report(statement: Option<&[u8]>) -> VerifierReport {
    let mut extensions = Map::new();
    if let Some(s) = statement {
        let v: Value = serde_json::from_slice(s).unwrap();
        extensions.insert("predicateType".into(), v["predicateType"].clone());
        extensions.insert("statement".into(), v);
    }
    VerifierReport {
        subject: "reg.example.test/app@sha256:aa".into(),
        is_success: statement.is_some(),
        name: "cosign".into(),
        verifier_name: "cosign".into(),
        verifier_type: "cosign".into(),
        artifact_type: COSIGN_ATTESTATION_ARTIFACT_TYPE.into(),
        reference_digest: "sha256:bb".into(),
        message: String::new(),
        error_reason: statement.is_none().then(|| "SIGNATURE_INVALID".into()),
        extensions,
        nested_results: Vec::new(),
        timings: Timings::default(),
    }
}

/// The shipped policy `name`'s decision on reports of `statements`.
fn decide(name: &str, reports: &[VerifierReport]) -> (bool, String) {
    let path = example(name);
    let policy = RegoPolicy::new(
        &path.display().to_string(),
        &std::fs::read_to_string(&path).unwrap(),
    )
    .unwrap();
    let v = policy.decide(&PolicyInput {
        subject: "reg.example.test/app:v1",
        digest: Some("sha256:aa"),
        verifier_reports: reports,
    });
    (v.allow, v.message)
}

fn provenance_v1(builder: &str, repo: &str) -> VerifierReport {
    attestation_report(Some(&statement(&["aa"], SLSA_V1, &slsa_v1(builder, repo))))
}

/// SLSA v1: `runDetails.builder.id` must be an allowed builder and the workflow's repository an
/// allowed source; a failed (unverified) report's statement is never read.
#[test]
fn slsa_v1_policy_checks_builder_and_source() {
    let p = "slsa-provenance-v1.rego";
    let (ok, why) = decide(p, &[provenance_v1(BUILDER_V1, REPO)]);
    assert!(ok, "{why}");
    assert!(
        why.contains("SLSA v1 provenance accepted") && why.contains(REPO),
        "{why}"
    );

    let (ok, why) = decide(p, &[provenance_v1("https://ci.evil.test/builder", REPO)]);
    assert!(!ok);
    assert!(
        why.contains("builder https://ci.evil.test/builder is not in allowed_builders"),
        "{why}"
    );

    let (ok, why) = decide(
        p,
        &[provenance_v1(BUILDER_V1, "https://github.com/evil/app")],
    );
    assert!(!ok);
    assert!(
        why.contains("source https://github.com/evil/app is not in allowed_repositories"),
        "{why}"
    );

    // Only resolvedDependencies name the source: read from there.
    let mut pred = slsa_v1(BUILDER_V1, REPO);
    pred["buildDefinition"]["externalParameters"] = json!({});
    let (ok, why) = decide(
        p,
        &[attestation_report(Some(&statement(
            &["aa"],
            SLSA_V1,
            &pred,
        )))],
    );
    assert!(ok, "{why}");
    pred["buildDefinition"]["resolvedDependencies"] = json!([]);
    let (ok, why) = decide(
        p,
        &[attestation_report(Some(&statement(
            &["aa"],
            SLSA_V1,
            &pred,
        )))],
    );
    assert!(!ok && why.contains("no source repository"), "{why}");

    // No provenance at all, another predicate type, or a failed report.
    for reports in [
        vec![],
        vec![attestation_report(Some(&statement(
            &["aa"],
            SLSA_V02,
            &slsa_v02(BUILDER_V02, REPO),
        )))],
        vec![attestation_report(None)],
    ] {
        let (ok, why) = decide(p, &reports);
        assert!(!ok, "{reports:?}");
        assert!(
            why.contains(
                "no verified attestation of predicate type https://slsa.dev/provenance/v1"
            ),
            "{why}"
        );
    }
    // A forged report claiming success is the verifier's business; but a failed report that
    // still carries a statement must not count.
    let mut failed = provenance_v1(BUILDER_V1, REPO);
    failed.is_success = false;
    assert!(!decide(p, &[failed]).0);
}

/// SLSA v0.2: `builder.id` and `invocation.configSource.uri` (`git+<repo>@<ref>`).
#[test]
fn slsa_v02_policy_checks_builder_and_config_source() {
    let p = "slsa-provenance-v0.2.rego";
    let report =
        |b: &str, r: &str| attestation_report(Some(&statement(&["aa"], SLSA_V02, &slsa_v02(b, r))));
    let (ok, why) = decide(p, &[report(BUILDER_V02, REPO)]);
    assert!(ok, "{why}");
    assert!(why.contains("SLSA v0.2 provenance accepted"), "{why}");
    let (ok, why) = decide(p, &[report(BUILDER_V1, REPO)]);
    assert!(!ok && why.contains("is not in allowed_builders"), "{why}");
    let (ok, why) = decide(p, &[report(BUILDER_V02, "https://github.com/evil/app")]);
    assert!(
        !ok && why.contains("source https://github.com/evil/app is not in allowed_repositories"),
        "{why}"
    );
    let (ok, why) = decide(p, &[provenance_v1(BUILDER_V1, REPO)]);
    assert!(!ok && why.contains("no verified attestation"), "{why}");
}

/// A vulnerability scan passes with no critical finding: in-toto vulns (`critical` word or CVSS
/// ≥ 9.0) and cosign's vuln v1 with a Trivy report; a scan the policy cannot read fails.
#[test]
fn vulnerability_policy_refuses_critical_findings() {
    let p = "vulnerability-no-critical.rego";
    let scan = |t: &str, pred: Value| attestation_report(Some(&statement(&["aa"], t, &pred)));
    let clean = scan(
        VULNS,
        vulns(&[
            ("CVE-2026-0001", &[("nvd", "medium"), ("cvss_score", "5.2")]),
            ("CVE-2026-0002", &[("nvd", "HIGH")]),
        ]),
    );
    let (ok, why) = decide(p, std::slice::from_ref(&clean));
    assert!(ok, "{why}");
    assert!(why.contains("no critical finding"), "{why}");
    let (ok, why) = decide(p, &[scan(VULNS, vulns(&[]))]);
    assert!(ok, "an empty result is a clean scan: {why}");

    for (findings, id) in [
        (
            vec![("CVE-2026-1000", &[("nvd", "Critical")][..])],
            "CVE-2026-1000",
        ),
        (
            vec![("CVE-2026-1001", &[("cvss_score", "9.8")][..])],
            "CVE-2026-1001",
        ),
        (
            vec![("CVE-2026-1002", &[("cvss_score", "9")][..])],
            "CVE-2026-1002",
        ),
    ] {
        let (ok, why) = decide(p, &[scan(VULNS, vulns(&findings)), clean.clone()]);
        assert!(!ok, "{findings:?}");
        assert!(
            why.contains(&format!("critical vulnerabilities: {id}")),
            "{why}"
        );
    }
    // 8.9 is high, not critical.
    let (ok, why) = decide(
        p,
        &[scan(
            VULNS,
            vulns(&[("CVE-2026-1003", &[("cvss_score", "8.9")])]),
        )],
    );
    assert!(ok, "{why}");

    let (ok, why) = decide(
        p,
        &[scan(COSIGN_VULN, cosign_vuln(&[("CVE-2026-2000", "LOW")]))],
    );
    assert!(ok, "{why}");
    let (ok, why) = decide(
        p,
        &[scan(
            COSIGN_VULN,
            cosign_vuln(&[("CVE-2026-2000", "LOW"), ("CVE-2026-2001", "CRITICAL")]),
        )],
    );
    assert!(!ok && why.contains("CVE-2026-2001"), "{why}");

    let (ok, why) = decide(p, &[scan(VULNS, json!({"scanner": {"result": "none"}}))]);
    assert!(
        !ok && why.contains("no result this policy can read"),
        "{why}"
    );
    let (ok, why) = decide(p, &[provenance_v1(BUILDER_V1, REPO)]);
    assert!(
        !ok && why.contains("no verified vulnerability scan attestation"),
        "{why}"
    );
}

// ---------------------------------------------------------------------------------------------
// The cosign verifier handing the statement on (OCI layouts)

/// Test signers: a key, and a Fulcio CA with a leaf for a GitHub workflow identity logged to a
/// test Rekor.
struct Signers {
    key: Key,
    fulcio: Fulcio,
    rekor: Rekor,
    leaf: xtask::fixtures::cosign::Leaf,
    at: i64,
}

impl Signers {
    fn new() -> Signers {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let fulcio = Fulcio::new("fulcio").unwrap();
        let leaf = fulcio
            .issue(
                &San::Uri(WORKFLOW.into()),
                ISSUER,
                IssuerExtension::Both,
                now - 300,
            )
            .unwrap();
        Signers {
            key: generate_key().unwrap(),
            fulcio,
            rekor: Rekor::new().unwrap(),
            leaf,
            at: now - 270,
        }
    }

    /// The cosign verifier's config: the key, the keyless identity and the trusted root.
    fn cosign(&self) -> Value {
        json!({
            "keys": [{"name": "release", "pem": self.key.public_key_pem()}],
            "identities": [{"issuer": ISSUER, "subject": WORKFLOW}],
            "trustedRoot": trusted_root(&[&self.fulcio], &[&self.rekor]),
        })
    }

    /// A keyless Sigstore bundle (DSSE) of `statement`, logged to the test Rekor.
    fn bundle(&self, statement: &[u8]) -> Vec<u8> {
        self.bundle_by(&self.leaf, statement)
    }

    /// [`Signers::bundle`] signed by `leaf`.
    fn bundle_by(&self, leaf: &xtask::fixtures::cosign::Leaf, statement: &[u8]) -> Vec<u8> {
        let log = LogEntry {
            rekor: &self.rekor,
            integrated_time: self.at,
            log_index: 7,
            tree_size: Some(9),
        };
        let b = dsse_bundle(statement, &BundleSigner::Certificate(leaf), &log).unwrap();
        serde_json::to_vec(&b).unwrap()
    }
}

/// How the attestation is attached in the layout.
#[derive(Clone, Copy, Debug)]
enum Form {
    /// An OCI 1.1 referrer of cosign's attestation artifact type with a key-signed DSSE layer.
    DsseReferrer,
    /// An OCI 1.1 referrer holding a keyless Sigstore bundle v0.3 with a DSSE envelope.
    Bundle,
}

const FORMS: [Form; 2] = [Form::DsseReferrer, Form::Bundle];

/// A layout with one image and one attestation of the statement `make` writes for the image's
/// digest (hex), in `form`.
struct AttLayout {
    dir: tempfile::TempDir,
}

impl AttLayout {
    fn new(s: &Signers, form: Form, make: impl FnOnce(&str) -> Vec<u8>) -> AttLayout {
        Self::with_envelope(s, form, make, |e| e)
    }

    /// [`AttLayout::new`], the envelope bytes (DSSE referrer) or bundle bytes passed through
    /// `edit` after signing.
    fn with_envelope(
        s: &Signers,
        form: Form,
        make: impl FnOnce(&str) -> Vec<u8>,
        edit: impl FnOnce(Vec<u8>) -> Vec<u8>,
    ) -> AttLayout {
        let dir = tempfile::tempdir().unwrap();
        let mut b = LayoutBuilder::new(dir.path());
        let image = b.image("v1", &[b"attested image layer"]);
        let stmt = make(image.digest.hex());
        match form {
            Form::DsseReferrer => {
                let envelope = edit(dsse_envelope(IN_TOTO, &stmt, &[&s.key]).unwrap());
                b.referrer(
                    &image,
                    COSIGN_ATTESTATION_ARTIFACT_TYPE,
                    &[(DSSE_ENVELOPE, &envelope)],
                    &[],
                );
            }
            Form::Bundle => {
                let bundle = edit(s.bundle(&stmt));
                b.referrer(&image, BUNDLE_V03, &[(BUNDLE_V03, &bundle)], &[]);
            }
        }
        b.finish();
        AttLayout { dir }
    }

    async fn verify(&self, cosign: Value, policy: Option<&str>) -> SubjectReport {
        let text = config(cosign, policy);
        let subject = format!("{}:v1", self.dir.path().display());
        verify_subject(&parse(&text), &subject, true).await
    }
}

/// A config with the cosign verifier (`cosign` as its config) for attestations and bundles, and
/// the shipped Rego `policy` (else the default policy).
fn config(cosign: Value, policy: Option<&str>) -> String {
    let mut c = json!({
        "verifiers": [{
            "name": "cosign",
            "path": guests::verifier("cosign"),
            "artifactTypes": [COSIGN_ATTESTATION_ARTIFACT_TYPE, BUNDLE_V03],
            "config": cosign,
        }],
        "executor": {"resultCacheTtlMs": 0},
    });
    if let Some(p) = policy {
        c["policy"] = json!({"type": "rego", "policyPath": example(p)});
    }
    c.to_string()
}

fn parse(text: &str) -> Config {
    Config::parse(text, true, Path::new("test.json")).unwrap()
}

fn only_report(r: &SubjectReport) -> &VerifierReport {
    assert_eq!(r.verifier_reports.len(), 1, "{r:#?}");
    &r.verifier_reports[0]
}

fn fails_with(r: &SubjectReport, reason: &str, needle: &str) {
    let v = only_report(r);
    assert!(!r.is_success && !v.is_success, "{r:#?}");
    assert_eq!(v.error_reason.as_deref(), Some(reason), "{v:#?}");
    assert!(v.message.contains(needle), "{} lacks {needle}", v.message);
    assert!(
        v.extensions.get("statement").is_none(),
        "a failed attestation hands no statement on: {v:#?}"
    );
}

/// In every form the verified statement reaches the report as JSON and the SLSA v1 example
/// decides on it: an allowed builder passes, another builder fails with the policy's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verified_statement_reaches_the_policy_in_every_form() {
    let s = Signers::new();
    for form in FORMS {
        let good = AttLayout::new(&s, form, |hex| {
            statement(&[hex], SLSA_V1, &slsa_v1(BUILDER_V1, REPO))
        });
        let r = good
            .verify(s.cosign(), Some("slsa-provenance-v1.rego"))
            .await;
        assert!(r.is_success, "{form:?}: {r:#?}");
        assert!(
            r.message.contains("SLSA v1 provenance accepted"),
            "{}",
            r.message
        );
        let v = only_report(&r);
        let st = &v.extensions["statement"];
        assert_eq!(st["predicateType"], SLSA_V1, "{form:?}");
        assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(
            st["subject"][0]["digest"]["sha256"],
            r.digest.as_deref().unwrap()[7..]
        );
        assert_eq!(st["predicate"]["runDetails"]["builder"]["id"], BUILDER_V1);
        if matches!(form, Form::Bundle) {
            assert_eq!(v.extensions["verificationMode"], "keyless");
            assert_eq!(v.extensions["subject"], WORKFLOW);
        }

        let bad = AttLayout::new(&s, form, |hex| {
            statement(&[hex], SLSA_V1, &slsa_v1("https://ci.evil.test/b", REPO))
        });
        let r = bad
            .verify(s.cosign(), Some("slsa-provenance-v1.rego"))
            .await;
        assert!(!r.is_success, "{form:?}: {r:#?}");
        assert!(only_report(&r).is_success, "the signature itself verifies");
        assert!(
            r.message
                .contains("builder https://ci.evil.test/b is not in allowed_builders"),
            "{}",
            r.message
        );
    }
}

/// in-toto: the statement applies to its `subject` artifacts. Another image's statement fails
/// (`SUBJECT_MISMATCH`); one listing the image among many passes and hands every subject on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_right_wrong_and_many() {
    let s = Signers::new();
    let other = "ef".repeat(32);
    for form in FORMS {
        let wrong = AttLayout::new(&s, form, |_| {
            statement(&[&other], SLSA_V1, &slsa_v1(BUILDER_V1, REPO))
        });
        fails_with(
            &wrong.verify(s.cosign(), None).await,
            "SUBJECT_MISMATCH",
            &other,
        );

        let many = AttLayout::new(&s, form, |hex| {
            let mut subjects: Vec<String> = (0..40).map(|i| format!("{i:064x}")).collect();
            subjects.insert(23, hex.to_owned());
            let refs: Vec<&str> = subjects.iter().map(String::as_str).collect();
            statement(&refs, SLSA_V1, &slsa_v1(BUILDER_V1, REPO))
        });
        let r = many
            .verify(s.cosign(), Some("slsa-provenance-v1.rego"))
            .await;
        assert!(r.is_success, "{form:?}: {r:#?}");
        let subjects = only_report(&r).extensions["statement"]["subject"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(subjects, 41);
    }
}

/// `attestationTypes` now applies to bundles too: a predicate type outside it fails
/// `PREDICATE_TYPE_NOT_ACCEPTED` although the signature verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_predicate_type_outside_attestation_types_fails_in_every_form() {
    let s = Signers::new();
    let mut cosign = s.cosign();
    cosign["attestationTypes"] = json!([SLSA_V1]);
    for form in FORMS {
        let l = AttLayout::new(&s, form, |hex| statement(&[hex], VULNS, &vulns(&[])));
        fails_with(
            &l.verify(cosign.clone(), None).await,
            "PREDICATE_TYPE_NOT_ACCEPTED",
            VULNS,
        );
        let ok = AttLayout::new(&s, form, |hex| {
            statement(&[hex], SLSA_V1, &slsa_v1(BUILDER_V1, REPO))
        });
        assert!(ok.verify(cosign.clone(), None).await.is_success, "{form:?}");
    }
}

/// DSSE signs the PAE of the payload: a statement edited after signing (the builder swapped for
/// an allowed one) fails the signature, and its predicate never reaches the policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_statement_fails_and_is_not_handed_on() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let s = Signers::new();
    // Swap the signed statement's builder for an allowed one, leaving the signature as it was.
    let forge = |payload_at: &[&str], bytes: Vec<u8>| {
        let mut v: Value = serde_json::from_slice(&bytes).unwrap();
        let mut at = &mut v;
        for k in payload_at {
            at = &mut at[*k];
        }
        let mut st: Value =
            serde_json::from_slice(&b64.decode(at.as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(
            st["predicate"]["runDetails"]["builder"]["id"],
            "https://ci.evil.test/b"
        );
        st["predicate"]["runDetails"]["builder"]["id"] = json!(BUILDER_V1);
        *at = json!(b64.encode(serde_json::to_vec(&st).unwrap()));
        serde_json::to_vec(&v).unwrap()
    };
    for (form, path) in [
        (Form::DsseReferrer, &["payload"][..]),
        (Form::Bundle, &["dsseEnvelope", "payload"][..]),
    ] {
        let l = AttLayout::with_envelope(
            &s,
            form,
            |hex| statement(&[hex], SLSA_V1, &slsa_v1("https://ci.evil.test/b", REPO)),
            |bytes| forge(path, bytes),
        );
        let r = l.verify(s.cosign(), Some("slsa-provenance-v1.rego")).await;
        let v = only_report(&r);
        assert!(!r.is_success && !v.is_success, "{form:?}: {r:#?}");
        assert_eq!(
            v.error_reason.as_deref(),
            Some("SIGNATURE_INVALID"),
            "{form:?}: {v:#?}"
        );
        assert!(v.extensions.get("statement").is_none(), "{v:#?}");
        assert!(
            r.message.contains("no verified attestation"),
            "{}",
            r.message
        );
    }
}

/// The statement handed on is capped (`maxStatementBytes`, default 256 KiB): an oversized one
/// fails closed with `STATEMENT_TOO_LARGE` naming its size and the cap; `0` hands none on (the
/// attestation passes, and a policy needing the predicate then denies); a cap above what the
/// host's report limit allows is refused at load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_statements_are_capped_with_a_clear_error() {
    let s = Signers::new();
    let big = |hex: &str| {
        let mut p = slsa_v1(BUILDER_V1, REPO);
        p["runDetails"]["byproducts"] = json!([{"content": "x".repeat(300 << 10)}]);
        statement(&[hex], SLSA_V1, &p)
    };
    let l = AttLayout::new(&s, Form::DsseReferrer, big);
    fails_with(
        &l.verify(s.cosign(), None).await,
        "STATEMENT_TOO_LARGE",
        "capped at 262144 bytes (`maxStatementBytes`",
    );
    let mut small_cap = s.cosign();
    small_cap["maxStatementBytes"] = json!(256);
    let normal = AttLayout::new(&s, Form::Bundle, |hex| {
        statement(&[hex], SLSA_V1, &slsa_v1(BUILDER_V1, REPO))
    });
    fails_with(
        &normal.verify(small_cap, None).await,
        "STATEMENT_TOO_LARGE",
        "capped at 256 bytes",
    );

    let mut none = s.cosign();
    none["maxStatementBytes"] = json!(0);
    let r = l.verify(none.clone(), None).await;
    assert!(r.is_success, "{r:#?}");
    assert!(only_report(&r).extensions.get("statement").is_none());
    assert_eq!(only_report(&r).extensions["predicateType"], SLSA_V1);
    let r = l.verify(none, Some("slsa-provenance-v1.rego")).await;
    assert!(
        !r.is_success && r.message.contains("no verified attestation"),
        "{r:#?}"
    );

    let mut too_big = s.cosign();
    too_big["maxStatementBytes"] = json!(1 << 20);
    let config = parse(&config(too_big, None));
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let Err(e) = vouch::app::load_verifiers(&runtime, &config).await else {
        panic!("a maxStatementBytes over the report limit is accepted");
    };
    assert!(format!("{e:#}").contains("maxStatementBytes"), "{e:#}");
}

// ---------------------------------------------------------------------------------------------
// cosign's `.att` tag on a real registry, through `vouch verify`

/// Push `team/app:tag` with cosign's `.att` tag holding one attestation by `key` of a statement
/// about it of `predicate_type` with `predicate`.
async fn attested_image(
    reg: &Registry,
    tag: &str,
    key: &Key,
    predicate_type: &str,
    predicate: &Value,
) {
    let image = reg.push_image("team/app", tag, tag.as_bytes()).await;
    let stmt = statement(&[image.digest.hex()], predicate_type, predicate);
    let a = Attestation::key_signed(stmt, predicate_type, key).unwrap();
    let m = attestation_tag_manifest(&[a]);
    for b in &m.blobs {
        reg.push_blob("team/app", &b.media_type, &b.data).await;
    }
    let att_tag = format!("{}.att", image.digest.fallback_tag());
    reg.push_manifest("team/app", &att_tag, &m.manifest, OCI_MANIFEST)
        .await;
}

/// `vouch verify -o tree` on an image whose `.att` tag holds a vulnerability scan: the tree shows
/// the attestation and its predicate type, and the policy's reasons (the passing scan; a critical
/// finding, with exit code 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vouch_verify_tree_shows_the_attestation_and_the_policys_reasons() {
    let reg = Registry::start();
    let s = Signers::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vouch.json");
    let mut c: Value =
        serde_json::from_str(&config(s.cosign(), Some("vulnerability-no-critical.rego"))).unwrap();
    c["stores"] = json!({"registries": {"hosts": {reg.host(): {"insecure": true}}}});
    std::fs::write(&path, c.to_string()).unwrap();

    for (tag, findings, code, reason) in [
        (
            "clean",
            vulns(&[("CVE-2026-0001", &[("nvd", "low")])]),
            0,
            "vulnerability scan (https://in-toto.io/attestation/vulns/v0.1) has no critical finding",
        ),
        (
            "dirty",
            vulns(&[("CVE-2026-9999", &[("cvss_score", "9.8")])]),
            1,
            "critical vulnerabilities: CVE-2026-9999",
        ),
    ] {
        attested_image(&reg, tag, &s.key, VULNS, &findings).await;

        let reference = reg.reference("team/app", tag);
        let (p, r) = (path.clone(), reference.clone());
        let (got, out, err) = tokio::task::spawn_blocking(move || {
            cli::vouch(&["verify", &r, "-c", p.to_str().unwrap(), "-o", "tree"])
        })
        .await
        .unwrap();
        assert_eq!(got, code, "{tag}: {out}\n{err}");
        assert!(
            out.contains(&format!("{COSIGN_ATTESTATION_ARTIFACT_TYPE} ")),
            "{out}"
        );
        assert!(
            out.contains(&format!("attestation {VULNS} (1 subject)")),
            "{out}"
        );
        assert!(out.contains(reason), "{tag}: {out}");
    }
}

// ---------------------------------------------------------------------------------------------
// Keyless identities as cosign's flags write them

/// Fulcio's GitHub workflow extensions (`1.3.6.1.4.1.57264.1.2`–`.6`: trigger, SHA, name,
/// repository, ref), raw strings as Fulcio writes them.
fn github_extensions(values: [&str; 5]) -> Vec<(&'static [u64], Vec<u8>)> {
    const OIDS: [&[u64]; 5] = [
        &[1, 3, 6, 1, 4, 1, 57264, 1, 2],
        &[1, 3, 6, 1, 4, 1, 57264, 1, 3],
        &[1, 3, 6, 1, 4, 1, 57264, 1, 4],
        &[1, 3, 6, 1, 4, 1, 57264, 1, 5],
        &[1, 3, 6, 1, 4, 1, 57264, 1, 6],
    ];
    OIDS.iter()
        .zip(values)
        .map(|(oid, v)| (*oid, v.as_bytes().to_vec()))
        .collect()
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// cosign `verify --certificate-identity(-regexp) --certificate-oidc-issuer(-regexp)
/// --certificate-github-workflow-{trigger,sha,name,repository,ref}`, written in the config under
/// the flags' own names. cosign's `validateCertExtensions` compares each given value with
/// "ce.GetCertExtensionGithubWorkflowTrigger() != co.CertGithubWorkflowTrigger" — exact
/// equality with the deprecated extensions' raw value — and `CheckCertificatePolicy` matches
/// `--certificate-identity-regexp` with `regex.MatchString(san)`: an unanchored search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_identities_match_cosigns_flags_and_github_workflow_extensions() {
    let s = Signers::new();
    let now = s.at + 270;
    let workflow_leaf = s
        .fulcio
        .issue_with_extensions(
            &San::Uri(WORKFLOW.into()),
            ISSUER,
            IssuerExtension::Both,
            now - 300,
            xtask::fixtures::cosign::SctMode::Valid,
            &github_extensions(["push", SHA, "Release", "example-org/app", "refs/heads/main"]),
        )
        .unwrap();
    let layout = |leaf: &xtask::fixtures::cosign::Leaf| {
        let dir = tempfile::tempdir().unwrap();
        let mut b = LayoutBuilder::new(dir.path());
        let image = b.image("v1", &[b"keyless image"]);
        let stmt = statement(&[image.digest.hex()], SLSA_V1, &slsa_v1(BUILDER_V1, REPO));
        let bundle = s.bundle_by(leaf, &stmt);
        b.referrer(&image, BUNDLE_V03, &[(BUNDLE_V03, &bundle)], &[]);
        b.finish();
        AttLayout { dir }
    };
    let with_workflow = layout(&workflow_leaf);
    let without_workflow = layout(&s.leaf);
    let cosign = |identity: Value| {
        json!({"identities": [identity],
               "trustedRoot": trusted_root(&[&s.fulcio], &[&s.rekor])})
    };
    let flags = json!({
        "certificateIdentityRegexp": "^https://github\\.com/example-org/",
        "certificateOidcIssuer": ISSUER,
        "certificateGithubWorkflowTrigger": "push",
        "certificateGithubWorkflowSha": SHA,
        "certificateGithubWorkflowName": "Release",
        "certificateGithubWorkflowRepository": "example-org/app",
        "certificateGithubWorkflowRef": "refs/heads/main",
    });

    let r = with_workflow.verify(cosign(flags.clone()), None).await;
    assert!(r.is_success, "{r:#?}");
    let v = only_report(&r);
    assert_eq!(v.extensions["subject"], WORKFLOW);
    assert_eq!(v.extensions["githubWorkflowRepository"], "example-org/app");
    assert_eq!(v.extensions["githubWorkflowTrigger"], "push");
    assert_eq!(v.extensions["githubWorkflowSha"], SHA);

    // Each value is compared exactly: any one different fails the identity.
    for (flag, other) in [
        ("certificateGithubWorkflowTrigger", "pull_request"),
        (
            "certificateGithubWorkflowSha",
            "fedcba9876543210fedcba9876543210fedcba98",
        ),
        ("certificateGithubWorkflowName", "release"),
        (
            "certificateGithubWorkflowRepository",
            "example-org/app-fork",
        ),
        ("certificateGithubWorkflowRef", "refs/heads/mai"),
    ] {
        let mut id = flags.clone();
        id[flag] = json!(other);
        fails_with(
            &with_workflow.verify(cosign(id), None).await,
            "IDENTITY_MISMATCH",
            "githubWorkflowRepository \"example-org/app\"",
        );
    }
    // A certificate without the extensions never matches a workflow constraint.
    let r = without_workflow.verify(cosign(flags.clone()), None).await;
    fails_with(&r, "IDENTITY_MISMATCH", "GitHub workflow extensions [none]");
    // Without workflow constraints, the SAN and issuer decide, as before.
    let plain = json!({"certificateIdentity": WORKFLOW, "certificateOidcIssuerRegexp": "githubusercontent"});
    assert!(
        without_workflow
            .verify(cosign(plain), None)
            .await
            .is_success
    );
    // The regexp is a search: an anchored one that does not match the SAN fails.
    let mut anchored = flags.clone();
    anchored["certificateIdentityRegexp"] = json!("^example-org/");
    fails_with(
        &with_workflow.verify(cosign(anchored), None).await,
        "IDENTITY_MISMATCH",
        "/^example-org//",
    );
}

/// `vouch serve` answers Gatekeeper without the statements (the policy read them; answers stay
/// small) but with the predicate type and the policy's verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatekeeper_answers_leave_the_statement_out() {
    use support::vouch_serve::{Server, provider_request};
    let reg = Registry::start();
    let s = Signers::new();
    attested_image(&reg, "v1", &s.key, SLSA_V1, &slsa_v1(BUILDER_V1, REPO)).await;
    let mut c: Value =
        serde_json::from_str(&config(s.cosign(), Some("slsa-provenance-v1.rego"))).unwrap();
    c["stores"] = json!({"registries": {"hosts": {reg.host(): {"insecure": true}}}});
    let server = Server::start(&c).await;
    let key = reg.reference("team/app", "v1");
    for path in ["/vouch/v1/verify", "/ratify/gatekeeper/v2/verify"] {
        let (status, answer) = server.post(path, provider_request(&[&key])).await;
        assert_eq!(status, 200, "{answer}");
        let text = answer.to_string();
        assert!(text.contains(SLSA_V1), "{path}: {text}");
        assert!(
            !text.contains("runDetails"),
            "{path}: the statement leaked: {text}"
        );
        assert!(!text.contains("\"statement\""), "{path}: {text}");
    }
    let (_, answer) = server
        .post("/vouch/v1/verify", provider_request(&[&key]))
        .await;
    let value = &answer["response"]["items"][0]["value"];
    assert_eq!(value["isSuccess"], true, "{answer}");
    assert!(
        value["message"]
            .as_str()
            .unwrap()
            .contains("SLSA v1 provenance accepted"),
        "{answer}"
    );
}
