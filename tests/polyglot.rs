//! Verifiers written in Python (componentize-py) and JavaScript (componentize-js), built by
//! `cargo xtask polyglot` from `examples/verifiers/`, loaded by the unchanged engine under its
//! normal limits: a pass and named failures over OCI layouts built here, concurrent calls (a
//! Python component instantiates 14 core instances, more than one pool slot's share of memories),
//! and the load-time errors for a component the runtime's limits cannot hold.
//!
//! When a toolchain could not be installed (offline) the tests print why and return; with
//! `VOUCH_REQUIRE_POLYGLOT=1` (CI) a missing build fails instead.

#[allow(dead_code)] // only `verifier` is used here
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared with other test binaries that use all of it
#[path = "support/layout.rs"]
mod layout;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/verifier_case.rs"]
mod verifier_case;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::OnceCell;
use vouch::runtime::{Limits, Runtime, RuntimeConfig, RuntimeError, Verifier};

use verifier_case::{Case, case_of_annotated_image as case, verify};

const SPDX: &str = "application/spdx+json";
const CDX: &str = "application/vnd.cyclonedx+json";

/// The built example `file`, or `None` after printing why the test is skipped.
fn built(file: &str) -> Option<PathBuf> {
    match xtask::polyglot::built_example(file) {
        Some(path) => Some(path),
        None if std::env::var_os("VOUCH_REQUIRE_POLYGLOT").is_some() => {
            panic!(
                "{file} is not built and VOUCH_REQUIRE_POLYGLOT is set: run `cargo xtask polyglot`"
            )
        }
        None => {
            eprintln!(
                "SKIPPED: {file} is not built (its toolchain did not install?): run `cargo xtask polyglot`"
            );
            None
        }
    }
}

/// A runtime as `vouch verify` makes one for a small config (4 slots), compiling into a cache
/// shared by the test binaries (compiling CPython takes seconds).
fn runtime(config: RuntimeConfig) -> Runtime {
    Runtime::new(RuntimeConfig {
        compile_cache_dir: Some(
            xtask::polyglot::toolchain_dir(&xtask::polyglot::target_dir()).join("compile-cache"),
        ),
        ..config
    })
    .unwrap()
}

fn small() -> RuntimeConfig {
    RuntimeConfig {
        max_instances: 4,
        max_concurrency: 4,
        ..RuntimeConfig::default()
    }
}

static PYTHON: OnceCell<Option<(Runtime, Verifier)>> = OnceCell::const_new();
static JS: OnceCell<Option<(Runtime, Verifier)>> = OnceCell::const_new();

async fn load(
    cell: &'static OnceCell<Option<(Runtime, Verifier)>>,
    name: &str,
    file: &str,
) -> Option<(Runtime, Verifier)> {
    cell.get_or_init(|| async {
        let path = built(file)?;
        let rt = runtime(small());
        let v = rt.load_file(name, &path, Limits::default()).await.unwrap();
        Some((rt, v))
    })
    .await
    .clone()
}

fn sbom_case(media_type: &str, doc: &serde_json::Value) -> Case {
    let bytes = doc.to_string().into_bytes();
    case(&[], media_type, &[(media_type, &bytes)], &[])
}

/// Each config is refused by `check-config` at load time, with a message containing its text.
async fn assert_refused(rt: &Runtime, v: &Verifier, cases: &[(serde_json::Value, &str)]) {
    for (config, want) in cases {
        let e = rt.check_config(v, &config.to_string()).await.unwrap_err();
        assert!(
            matches!(e, RuntimeError::Config { .. }) && e.to_string().contains(want),
            "{config}: {e}"
        );
    }
}

fn spdx() -> serde_json::Value {
    json!({
        "spdxVersion": "SPDX-2.3",
        "SPDXID": "SPDXRef-DOCUMENT",
        "packages": [
            {"name": "openssl", "versionInfo": "3.0.11", "licenseConcluded": "Apache-2.0"},
            {"name": "libfoo", "versionInfo": "1.2", "licenseDeclared": "(MIT OR GPL-3.0-only)"},
        ]
    })
}

fn cyclonedx() -> serde_json::Value {
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": [
            {"name": "lodash", "version": "4.17.20", "licenses": [{"license": {"id": "MIT"}}],
             "components": [{"name": "left-pad", "version": "1.3.0",
                             "licenses": [{"expression": "WTFPL"}]}]},
        ]
    })
}

#[tokio::test]
async fn python_sbom_passes_a_clean_sbom_in_both_formats() {
    let Some((rt, v)) = load(&PYTHON, "python-sbom", "python_sbom.wasm").await else {
        return;
    };
    assert_eq!(v.metadata().name, "python-sbom");
    assert_eq!(v.metadata().artifact_types, [SPDX, CDX]);
    let policy = json!({"deniedPackages": ["log4j-core"], "deniedLicenses": ["AGPL-3.0-only"]});
    let r = verify(&rt, &v, &sbom_case(SPDX, &spdx()), policy.clone()).await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.extensions["packages"], 2);
    assert_eq!(r.extensions["format"], "spdx");
    let r = verify(&rt, &v, &sbom_case(CDX, &cyclonedx()), policy).await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.extensions["packages"], 2, "nested components count");
}

#[tokio::test]
async fn python_sbom_names_each_violation() {
    let Some((rt, v)) = load(&PYTHON, "python-sbom", "python_sbom.wasm").await else {
        return;
    };
    // A license inside an SPDX expression is found.
    let r = verify(
        &rt,
        &v,
        &sbom_case(SPDX, &spdx()),
        json!({"deniedLicenses": ["gpl-3.0-only"]}),
    )
    .await;
    assert!(!r.is_success);
    assert_eq!(r.error_reason.as_deref(), Some("LICENSE_DENIED"), "{r:?}");
    assert!(
        r.message.contains("libfoo@1.2") && r.message.contains("GPL-3.0-ONLY"),
        "{}",
        r.message
    );
    // A nested component, denied by name@version; a pin on another version does not match.
    let r = verify(
        &rt,
        &v,
        &sbom_case(CDX, &cyclonedx()),
        json!({"deniedPackages": ["left-pad@1.3.0", "lodash@1.0.0"]}),
    )
    .await;
    assert_eq!(r.error_reason.as_deref(), Some("PACKAGE_DENIED"), "{r:?}");
    assert!(
        r.message.contains("left-pad@1.3.0") && !r.message.contains("more"),
        "{}",
        r.message
    );
    // Both kinds at once are both named.
    let r = verify(
        &rt,
        &v,
        &sbom_case(CDX, &cyclonedx()),
        json!({"deniedPackages": ["lodash"], "deniedLicenses": ["WTFPL"]}),
    )
    .await;
    assert_eq!(
        r.error_reason.as_deref(),
        Some("LICENSE_DENIED,PACKAGE_DENIED"),
        "{r:?}"
    );
    assert_eq!(r.extensions["findings"].as_array().unwrap().len(), 2);
    // A package without a license, when one is required.
    let doc = json!({"spdxVersion": "SPDX-2.3", "packages": [{"name": "x", "licenseConcluded": "NOASSERTION"}]});
    let r = verify(
        &rt,
        &v,
        &sbom_case(SPDX, &doc),
        json!({"requireLicense": true}),
    )
    .await;
    assert_eq!(r.error_reason.as_deref(), Some("LICENSE_MISSING"), "{r:?}");
}

#[tokio::test]
async fn python_sbom_fails_closed_on_what_it_cannot_read() {
    let Some((rt, v)) = load(&PYTHON, "python-sbom", "python_sbom.wasm").await else {
        return;
    };
    let garbage = case(&[], SPDX, &[(SPDX, b"{not json")], &[]);
    let r = verify(&rt, &v, &garbage, json!({})).await;
    assert_eq!(
        (r.is_success, r.error_reason.as_deref()),
        (false, Some("SBOM_INVALID")),
        "{r:?}"
    );
    let wrong = sbom_case(SPDX, &json!({"spdxVersion": "SPDX-3.0", "packages": []}));
    let r = verify(&rt, &v, &wrong, json!({})).await;
    assert_eq!(r.error_reason.as_deref(), Some("SBOM_INVALID"), "{r:?}");
    let none = case(&[], SPDX, &[("text/plain", b"hello")], &[]);
    let r = verify(&rt, &v, &none, json!({})).await;
    assert_eq!(r.error_reason.as_deref(), Some("SBOM_MISSING"), "{r:?}");
    // Bad configurations are refused at load time, naming the field.
    let cases = [
        (
            json!({"deniedPackage": []}),
            "unknown config key(s): deniedPackage",
        ),
        (
            json!({"deniedPackages": "x"}),
            "deniedPackages must be a list",
        ),
        (json!({"deniedPackages": ["x@"]}), "bad entry 'x@'"),
        (
            json!({"requireLicense": "yes"}),
            "requireLicense must be a boolean",
        ),
    ];
    assert_refused(&rt, &v, &cases).await;
}

#[tokio::test]
async fn js_annotations_checks_subject_and_referrer_annotations() {
    let Some((rt, v)) = load(&JS, "js-annotations", "js_annotations.wasm").await else {
        return;
    };
    assert_eq!(v.metadata().name, "js-annotations");
    let c = case(
        &[
            ("org.opencontainers.image.vendor", "ACME Corp"),
            (
                "org.opencontainers.image.source",
                "https://git.acme.example/app",
            ),
        ],
        "application/vnd.example.review",
        &[("application/json", b"{}")],
        &[("com.acme.reviewed-by", "alice")],
    );
    let policy = json!({
        "subject": {"org.opencontainers.image.vendor": ["ACME Corp", "ACME Inc"],
                    "org.opencontainers.image.source": ["https://git.acme.example/*"]},
        "artifact": {"com.acme.reviewed-by": ["alice", "bob"]}
    });
    let r = verify(&rt, &v, &c, policy).await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.extensions["rules"], 3);

    let r = verify(
        &rt,
        &v,
        &c,
        json!({"subject": {"org.opencontainers.image.vendor": ["Evil Corp"]}}),
    )
    .await;
    assert_eq!(
        (r.is_success, r.error_reason.as_deref()),
        (false, Some("ANNOTATION_NOT_ALLOWED")),
        "{r:?}"
    );
    assert!(r.message.contains("\"ACME Corp\""), "{}", r.message);
    // A prefix rule is a prefix, not a substring.
    let r = verify(
        &rt,
        &v,
        &c,
        json!({"subject": {"org.opencontainers.image.source": ["https://acme.example/*"]}}),
    )
    .await;
    assert_eq!(
        r.error_reason.as_deref(),
        Some("ANNOTATION_NOT_ALLOWED"),
        "{r:?}"
    );
    let r = verify(&rt, &v, &c, json!({"artifact": {"com.acme.signed-off": ["*"]}, "subject": {"org.opencontainers.image.vendor": ["nope"]}})).await;
    assert_eq!(
        r.error_reason.as_deref(),
        Some("ANNOTATION_MISSING,ANNOTATION_NOT_ALLOWED"),
        "{r:?}"
    );
    assert_eq!(r.extensions["findings"].as_array().unwrap().len(), 2);

    let cases = [
        (json!({}), "no rules"),
        (json!({"subjects": {}}), "unknown config key(s): subjects"),
        (
            json!({"subject": {"k": []}}),
            "subject.k must be a non-empty list",
        ),
    ];
    assert_refused(&rt, &v, &cases).await;
}

/// Each toolchain's component, called from many tasks at once on a 4-slot runtime: every call
/// gets its slots' worth of the pool (a Python call takes more than one slot's memories and
/// 14 core instances) and passes; none fails on pool exhaustion.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_fit_the_pool() {
    for (cell, name, file) in [
        (&PYTHON, "python-sbom", "python_sbom.wasm"),
        (&JS, "js-annotations", "js_annotations.wasm"),
    ] {
        let Some((rt, v)) = load(cell, name, file).await else {
            return;
        };
        eprintln!("{name}: {} slot(s) per call", v.slots());
        let (c, config) = if name == "python-sbom" {
            (sbom_case(SPDX, &spdx()), json!({}))
        } else {
            (
                case(&[("a", "b")], "x/y", &[("application/json", b"{}")], &[]),
                json!({"subject": {"a": ["b"]}}),
            )
        };
        let c = Arc::new(c);
        let calls = (0..32).map(|_| {
            let (rt, v, c, config) = (rt.clone(), v.clone(), c.clone(), config.clone());
            tokio::spawn(async move { verify(&rt, &v, &c, config).await })
        });
        for r in futures::future::join_all(calls).await {
            let r = r.unwrap();
            assert!(r.is_success, "{name}: {r:?}");
        }
    }
}

/// A memory limit under what the component needs to start is refused at load, naming the
/// verifier and the setting, not left to fail every call.
#[tokio::test]
async fn a_memory_limit_too_small_for_the_component_is_a_load_error() {
    let Some(path) = built("python_sbom.wasm") else {
        return;
    };
    let rt = runtime(small());
    let limits = Limits {
        memory_bytes: 4 << 20,
        ..Limits::default()
    };
    let e = rt.load_file("tiny", &path, limits).await.unwrap_err();
    assert!(matches!(e, RuntimeError::MemoryLimitTooSmall { .. }), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("`tiny`") && m.contains("4194304") && m.contains("limits.memoryBytes"),
        "{m}"
    );
}

/// A runtime configured for fewer core instances per component than the component creates
/// refuses it at load, naming the count, the limit and the setting; the compiled entry it could
/// not use stays for the runtimes that can.
#[tokio::test]
async fn a_component_over_the_core_instance_limit_is_a_load_error() {
    let Some(path) = built("python_sbom.wasm") else {
        return;
    };
    // Through the compile cache the other tests share: the entry is valid for their pool, and
    // the limit is checked before the cache is read, so this pool's refusal leaves it in place
    // (the cache drops an entry it cannot deserialize).
    let ok = runtime(small());
    ok.load_file("py", &path, Limits::default()).await.unwrap();
    let rt = runtime(RuntimeConfig {
        max_core_instances_per_component: 8,
        ..small()
    });
    let e = rt
        .load_file("py", &path, Limits::default())
        .await
        .unwrap_err();
    assert!(matches!(e, RuntimeError::PoolLimit { .. }), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("`py`")
            && m.contains("core module instances")
            && m.contains("maximum of 8")
            && m.contains("runtime.maxCoreInstancesPerComponent"),
        "{m}"
    );
    let again = runtime(small())
        .load_file("py", &path, Limits::default())
        .await
        .unwrap();
    assert!(
        again.compiled_from_cache(),
        "the shared compiled entry was dropped by a pool that could not use it"
    );
}

/// The toolchain of `lang`, or `None` after printing why the test is skipped.
fn toolchain(lang: xtask::polyglot::Lang) -> Option<PathBuf> {
    let dir = xtask::polyglot::toolchain_dir(&xtask::polyglot::target_dir());
    match xtask::polyglot::installed(&dir, lang) {
        Some(tool) => Some(tool),
        None if std::env::var_os("VOUCH_REQUIRE_POLYGLOT").is_some() => {
            panic!(
                "the {} toolchain is not installed and VOUCH_REQUIRE_POLYGLOT is set: run `cargo xtask polyglot`",
                lang.name()
            )
        }
        None => {
            eprintln!(
                "SKIPPED: the {} toolchain is not installed: run `cargo xtask polyglot`",
                lang.name()
            );
            None
        }
    }
}

/// `vouch plugin new --lang python|js` renders a project that builds with its toolchain, loads
/// in the engine under the default limits and judges a referrer, and whose own end-to-end test
/// (`test.py` / `test.mjs`, driving the `vouch` binary) passes.
#[tokio::test]
async fn plugin_new_projects_build_load_and_pass_their_own_tests() {
    use xtask::polyglot::Lang;
    for (lang, test) in [
        (Lang::Python, ["python3", "test.py"]),
        (Lang::Js, ["node", "test.mjs"]),
    ] {
        let Some(tool) = toolchain(lang) else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("my-check");
        let (code, stdout, stderr) = run_vouch(&[
            "plugin",
            "new",
            "--lang",
            lang.name(),
            "my-check",
            "--dir",
            project.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(stdout.contains("README.md"), "{stdout}");
        let wasm = project.join("my-check.wasm");
        xtask::polyglot::build(lang, &tool, &project, &project.join("wit"), &wasm).unwrap();

        let rt = runtime(small());
        let v = rt
            .load_file("my-check", &wasm, Limits::default())
            .await
            .unwrap();
        assert_eq!(v.metadata().name, "my-check");
        let at = "application/vnd.example.my-check.v1+json";
        assert_eq!(v.metadata().artifact_types, [at]);
        let ok = case(
            &[],
            at,
            &[("application/json", br#"{"status":"approved"}"#)],
            &[],
        );
        let r = verify(&rt, &v, &ok, json!({})).await;
        assert!(r.is_success, "{}: {r:?}", lang.name());
        let bad = case(
            &[],
            at,
            &[("application/json", br#"{"status":"draft"}"#)],
            &[],
        );
        let r = verify(&rt, &v, &bad, json!({})).await;
        assert_eq!(
            r.error_reason.as_deref(),
            Some("STATUS_MISMATCH"),
            "{}: {r:?}",
            lang.name()
        );

        let out = std::process::Command::new(test[0])
            .args(&test[1..])
            .current_dir(&project)
            .env("VOUCH", env!("CARGO_BIN_EXE_vouch"))
            // Compiled once for the three runs, not once per run.
            .env("VOUCH_CACHE_DIR", dir.path().join("cache"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("all my-check tests passed"),
            "{}: {text}",
            lang.name()
        );
    }
}

/// The language list comes from the embedded templates; a non-empty directory is refused.
#[test]
fn plugin_new_refuses_unknown_languages_and_used_directories() {
    let (code, _, stderr) = run_vouch(&["plugin", "new", "--lang", "cobol", "x"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("unknown language `cobol`")
            && stderr.contains("js")
            && stderr.contains("python"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mine"), "x").unwrap();
    let (code, _, stderr) = run_vouch(&[
        "plugin",
        "new",
        "--lang",
        "python",
        "x",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing written"
    );
}

fn run_vouch(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
