//! Policies end to end through the executor with real guests (built by `cargo xtask guests`):
//! `any`/`all` per artifact type, required types, Rego allow/deny/reasons, the policy in the
//! result cache key, and the `policy:` section of the config file through the `vouch` binary.

#[path = "support/cli.rs"]
mod cli;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/graph.rs"]
mod graph;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/layout.rs"]
mod layout;

use std::sync::Arc;
use std::time::Duration;

use vouch::app::policy;
use vouch::config::Config;
use vouch::executor::{ExecVerifier, Executor, ResultCache, Settings};
use vouch::policy::{Policy, PolicyConfig};
use vouch::report::SubjectReport;
use vouch::runtime::{Limits, Runtime, RuntimeConfig};

use cli::vouch;
use graph::{Graph, SBOM_TYPE, SIG_TYPE};
use guests::guest;

/// A config the exerciser guest rejects in `verify` (`CHECK_FAILED`).
const FAILING: &str = r#"{"publicKeyPem":"incomplete"}"#;

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_instances: 16,
        max_concurrency: 16,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

fn settings() -> Settings {
    Settings {
        max_depth: 3,
        concurrency: 8,
        deadline: Duration::from_millis(2900),
        result_cache_ttl: Duration::from_secs(600),
        limits: Default::default(),
        scope: Default::default(),
    }
}

/// Guest `name` as a verifier of signatures only, with `config`.
async fn sig_verifier(rt: &Runtime, name: &str, config: &str) -> ExecVerifier {
    let v = rt
        .load_file(name, &guest(name), Limits::default())
        .await
        .unwrap();
    let mut v = ExecVerifier::new(v, config);
    v.artifact_types = Some(vec![SIG_TYPE.to_owned()]);
    v
}

/// `noop` passes and a misconfigured `exerciser` fails, both on the signatures only.
async fn pass_and_fail(rt: &Runtime) -> Vec<ExecVerifier> {
    vec![
        sig_verifier(rt, "noop", "{}").await,
        sig_verifier(rt, "exerciser", FAILING).await,
    ]
}

fn build(yaml: &str) -> Arc<dyn Policy> {
    let config: PolicyConfig = serde_yaml_ng::from_str(yaml).unwrap();
    config.build(std::path::Path::new(".")).unwrap()
}

fn dump(r: &SubjectReport) -> String {
    serde_json::to_string_pretty(r).unwrap()
}

#[tokio::test]
async fn any_passes_and_all_fails_with_one_failing_verifier_of_the_type() {
    let rt = runtime();
    let f = Graph::new();
    let run = |policy: Option<Arc<dyn Policy>>| {
        let rt = rt.clone();
        let source = f.source("v1");
        async move {
            let ex = Executor::new(rt.clone(), pass_and_fail(&rt).await, settings());
            let ex = match policy {
                Some(p) => ex.with_policy(p),
                None => ex,
            };
            ex.verify(source).await
        }
    };

    let any = run(Some(build(&format!(
        "type: config\nartifactVerificationPolicies: {{ {SIG_TYPE}: any }}\n"
    ))))
    .await;
    assert!(any.is_success, "{}", dump(&any));
    assert_eq!(any.verifier_reports.len(), 2, "{}", dump(&any));
    assert!(
        any.message.contains("1 of 2 reports passed"),
        "{}",
        any.message
    );

    let all = run(Some(build(&format!(
        "type: config\nartifactVerificationPolicies: {{ {SIG_TYPE}: all }}\n"
    ))))
    .await;
    assert!(!all.is_success);
    let outcomes = |r: &SubjectReport| {
        r.verifier_reports
            .iter()
            .map(|v| {
                (
                    v.verifier_name.clone(),
                    v.reference_digest.clone(),
                    v.is_success,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(outcomes(&all), outcomes(&any));
    assert!(
        all.message
            .contains(&format!("`{SIG_TYPE}` (policy `all`)"))
            && all.message.contains("`exerciser` on")
            && all.message.contains("CHECK_FAILED"),
        "{}",
        all.message
    );

    // `defaultVerificationPolicy` covers the unlisted type.
    let default_any = run(Some(build(
        "type: config\ndefaultVerificationPolicy: any\n",
    )))
    .await;
    assert!(default_any.is_success, "{}", default_any.message);
    let default_all = run(Some(build("type: config\n"))).await;
    assert!(!default_all.is_success);

    // No policy: the executor's default (everything must pass).
    let none = run(None).await;
    assert!(!none.is_success);
    assert!(none.message.contains("1 of 2"), "{}", none.message);
}

#[tokio::test]
async fn a_required_type_without_referrers_fails_naming_it() {
    let rt = runtime();
    let f = Graph::new();
    // Only signatures are verified: no SBOM report, though the policy requires one.
    let ex = Executor::new(
        rt.clone(),
        vec![sig_verifier(&rt, "noop", "{}").await],
        settings(),
    )
    .with_policy(build(&format!(
        "type: config\nartifactVerificationPolicies: {{ {SIG_TYPE}: all, {SBOM_TYPE}: any }}\n"
    )));
    let r = ex.verify(f.source("v1")).await;
    assert!(!r.is_success, "{}", dump(&r));
    assert!(
        r.message.contains(&format!("`{SBOM_TYPE}` is required")),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn nested_results_count_for_their_referrer() {
    let rt = runtime();
    let f = Graph::new();
    // The exerciser verifies everything; `noop` the SBOM only. The SBOM's own signature is
    // verified in the nested pass, where the failing exerciser is the only signature verifier.
    let sbom_noop = {
        let v = rt
            .load_file("noop", &guest("noop"), Limits::default())
            .await
            .unwrap();
        let mut v = ExecVerifier::new(v, "{}");
        v.artifact_types = Some(vec![SBOM_TYPE.to_owned()]);
        v
    };
    let verifiers = vec![sbom_noop, sig_verifier(&rt, "exerciser", FAILING).await];
    let ex = Executor::new(rt.clone(), verifiers, settings()).with_policy(build(&format!(
        "type: config\nartifactVerificationPolicies: {{ {SBOM_TYPE}: all }}\n\
         defaultVerificationPolicy: any\n"
    )));
    let r = ex.verify(f.source("v1")).await;
    assert!(!r.is_success, "{}", dump(&r));
    let sbom = r
        .verifier_reports
        .iter()
        .find(|v| v.artifact_type == SBOM_TYPE)
        .unwrap();
    assert!(sbom.is_success && !sbom.nested_results.is_empty());
    // The top-level signature fails too, but SBOM sorts first: its nested failure is named.
    assert!(
        r.message.contains(&format!("`{SBOM_TYPE}` (policy `all`)"))
            && r.message.contains("`noop` on")
            && r.message.contains("passed but its nested results failed"),
        "{}",
        r.message
    );
}

const REGO: &str = r#"
package vouch

default allow := false

# One passing signature report is enough.
allow if {
    some r in input.verifierReports
    r.artifactType == "application/vnd.cncf.notary.signature"
    r.isSuccess
}

reasons contains sprintf("%s failed on %s (%s)", [r.verifierName, r.referenceDigest, r.errorReason]) if {
    some r in input.verifierReports
    not r.isSuccess
}
"#;

const REGO_STRICT: &str = r#"
package vouch

allow := count(failed) == 0

failed contains r.verifierName if {
    some r in input.verifierReports
    not r.isSuccess
}

reasons contains sprintf("denied: %s failed", [name]) if some name in failed
"#;

#[tokio::test]
async fn rego_allows_and_denies_with_reasons() {
    let rt = runtime();
    let f = Graph::new();
    let ex = |text: &str| {
        let rt = rt.clone();
        let policy = build(&format!(
            "type: rego\npolicy: {}\n",
            serde_json::to_string(text).unwrap()
        ));
        async move {
            Executor::new(rt.clone(), pass_and_fail(&rt).await, settings()).with_policy(policy)
        }
    };
    let allow = ex(REGO).await.verify(f.source("v1")).await;
    assert!(allow.is_success, "{}", dump(&allow));
    assert_eq!(
        allow.message,
        format!("exerciser failed on {} (CHECK_FAILED)", f.signature.digest)
    );
    let deny = ex(REGO_STRICT).await.verify(f.source("v1")).await;
    assert!(!deny.is_success);
    assert_eq!(deny.message, "denied: exerciser failed");
    assert_eq!(
        deny.digest.as_deref(),
        Some(f.subject.digest.to_string().as_str())
    );
}

#[tokio::test]
async fn a_policy_change_misses_the_shared_cache() {
    let rt = runtime();
    let f = Graph::new();
    let cache = ResultCache::new(Duration::from_secs(600));
    let exec = |policy: Arc<dyn Policy>| {
        let rt = rt.clone();
        let cache = cache.clone();
        async move {
            Executor::new(rt.clone(), pass_and_fail(&rt).await, settings())
                .with_result_cache(cache)
                .with_policy(policy)
        }
    };
    let any = format!("type: config\nartifactVerificationPolicies: {{ {SIG_TYPE}: any }}\n");
    let all = format!("type: config\nartifactVerificationPolicies: {{ {SIG_TYPE}: all }}\n");
    let a = exec(build(&any)).await;
    let b = exec(build(&all)).await;
    assert_ne!(a.fingerprint(), b.fingerprint());
    let ra = a.verify(f.source("v1")).await;
    assert!(ra.is_success && !ra.cached, "{}", dump(&ra));
    let rb = b.verify(f.source("v1")).await;
    assert!(!rb.cached, "another policy must not reuse the verdict");
    assert!(!rb.is_success);
    // The same policy again (a reload): same fingerprint, cache hit with the same verdict.
    let a2 = exec(build(&any)).await;
    assert_eq!(a.fingerprint(), a2.fingerprint());
    let ra2 = a2.verify(f.source("v1")).await;
    assert!(ra2.cached && ra2.is_success, "{}", dump(&ra2));
    assert_eq!(ra2.message, ra.message);
    // A Rego policy is keyed by its text.
    let r1 = exec(build(
        "type: rego\npolicy: \"package vouch\\nallow := true\\n\"\n",
    ))
    .await;
    let r2 = exec(build(
        "type: rego\npolicy: \"package vouch\\nallow := false\\n\"\n",
    ))
    .await;
    assert_ne!(r1.fingerprint(), r2.fingerprint());
    assert!(r1.verify(f.source("v1")).await.is_success);
    let rr2 = r2.verify(f.source("v1")).await;
    assert!(!rr2.cached && !rr2.is_success);
    for (ex, success) in [(&a, true), (&b, false), (&r1, true), (&r2, false)] {
        let again = ex.verify(f.source("v1")).await;
        assert!(
            again.cached && again.is_success == success,
            "{}",
            dump(&again)
        );
    }
    assert_eq!(cache.entry_count().await, 4);
}

#[tokio::test]
async fn a_cached_verdict_is_decided_again_for_another_reference() {
    let rt = runtime();
    let f = Graph::new();
    // Allows the subject only when it is named by the tag `v1`.
    let policy = build(
        "type: rego\npolicy: \"package vouch\\nallow if endswith(input.subject, \\\":v1\\\")\\n\"\n",
    );
    let ex = Executor::new(rt.clone(), pass_and_fail(&rt).await, settings()).with_policy(policy);
    let by_tag = ex.verify(f.source("v1")).await;
    assert!(by_tag.is_success && !by_tag.cached, "{}", dump(&by_tag));
    let by_digest = ex.verify(f.source(&f.subject.digest.to_string())).await;
    assert!(by_digest.cached, "{}", dump(&by_digest));
    assert!(!by_digest.is_success, "{}", dump(&by_digest));
    assert_eq!(
        by_digest.verifier_reports.len(),
        by_tag.verifier_reports.len()
    );
    let again = ex.verify(f.source("v1")).await;
    assert!(again.cached && again.is_success);
}

#[tokio::test]
async fn the_config_file_policy_section_is_loaded_and_bad_rego_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vouch.yaml");
    let write = |policy: &str| {
        std::fs::write(
            &file,
            format!(
                "verifiers:\n  - {{ name: noop, path: {} }}\npolicy:\n{policy}",
                guest("noop").display()
            ),
        )
        .unwrap()
    };
    write("  type: rego\n  policyPath: policies/vouch.rego\n");
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/vouch.rego"), REGO).unwrap();
    let config = Config::load(&file).unwrap();
    let p = policy::from_config(&config).unwrap();
    assert!(p.fingerprint().starts_with("rego:sha256:"));

    std::fs::write(
        dir.path().join("policies/vouch.rego"),
        "package vouch\nallow if {\n",
    )
    .unwrap();
    let config = Config::load(&file).unwrap();
    let e = policy::from_config(&config).err().unwrap().to_string();
    assert!(
        e.contains("vouch.rego") && e.contains("does not parse"),
        "{e}"
    );

    // Shape errors are caught by the config loader itself and name the file and field.
    write("  type: rego\n");
    let e = Config::load(&file).unwrap_err().to_string();
    assert!(e.contains("vouch.yaml") && e.contains("`policy`"), "{e}");
    write("  type: config\n  artifactVerificationPolicies: { a/b: most }\n");
    let e = Config::load(&file).unwrap_err().to_string();
    assert!(e.contains("vouch.yaml") && e.contains("most"), "{e}");

    // No section: the default policy.
    std::fs::write(
        &file,
        format!(
            "verifiers:\n  - {{ name: noop, path: {} }}\n",
            guest("noop").display()
        ),
    )
    .unwrap();
    let config = Config::load(&file).unwrap();
    assert_eq!(
        policy::from_config(&config).unwrap().fingerprint(),
        "default"
    );
}

#[test]
fn the_cli_applies_the_configured_policy() {
    let f = Graph::new();
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str, policy: &str| {
        let file = dir.path().join(name);
        std::fs::write(
            &file,
            format!(
                "verifiers:\n  - {{ name: noop, path: {noop}, artifactTypes: [{SIG_TYPE}] }}\n  \
                 - name: exerciser\n    path: {ex}\n    artifactTypes: [{SIG_TYPE}]\n    \
                 config: {FAILING}\n{policy}",
                noop = guest("noop").display(),
                ex = guest("exerciser").display(),
            ),
        )
        .unwrap();
        file.display().to_string()
    };
    let any = config(
        "any.yaml",
        &format!(
            "policy: {{ type: config, artifactVerificationPolicies: {{ {SIG_TYPE}: any }} }}\n"
        ),
    );
    let none = config("none.yaml", "");
    let bad = config(
        "bad.yaml",
        "policy: { type: rego, policy: \"package vouch\\nallow if {\" }\n",
    );
    let subject = format!("{}:v1", f.dir.path().display());

    let (code, out, err) = vouch(&["verify", "--oci-layout", &subject, "-c", &any, "-o", "json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["isSuccess"], true);
    assert!(
        json["message"].as_str().unwrap().contains("policy passed"),
        "{json}"
    );

    let (code, out, err) = vouch(&[
        "verify",
        "--oci-layout",
        &subject,
        "-c",
        &none,
        "-o",
        "json",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");

    let (code, _, err) = vouch(&["verify", "--oci-layout", &subject, "-c", &bad]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad.yaml") && err.contains("does not parse"),
        "{err}"
    );
}
