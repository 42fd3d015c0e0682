//! The Rust verifier template (`templates/rust/`, what `vouch plugin new --lang rust` renders)
//! is a buildable verifier: rendered into a temporary directory with its three placeholders
//! substituted, its own unit tests pass, it builds offline for `wasm32-wasip2` with the same
//! cargo, and the engine loads the component and judges OCI layouts with it — a pass on a
//! referrer carrying the required annotations, `ANNOTATION_MISSING` on one without, and a bad
//! configuration refused by `check-config`.

#[allow(dead_code)] // needed by `verifier_case`; the component under test is built here
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // used through `verifier_case`
#[path = "support/layout.rs"]
mod layout;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/verifier_case.rs"]
mod verifier_case;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use vouch::runtime::{Limits, Runtime, RuntimeConfig, RuntimeError};

use verifier_case::{case_annotated, verify, verify_raw};

/// The verifier's name as `vouch plugin new` takes it (kebab-case) and its snake-case form.
const NAME: &str = "annotation-check";
const NAME_SNAKE: &str = "annotation_check";
/// The artifact type the rendered template announces.
const ARTIFACT_TYPE: &str = "application/vnd.example.annotation-check.v1+json";
const SOURCE: &str = "org.opencontainers.image.source";
const CREATED: &str = "org.opencontainers.image.created";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Copies every file of `from` into `to`, replacing `{{name}}`, `{{name_snake}}` and
/// `{{sdk_dependency}}` in each, as `vouch plugin new` does.
fn render(from: &Path, to: &Path, sdk_dependency: &str) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            render(&entry.path(), &dest, sdk_dependency);
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let text = text
            .replace("{{name}}", NAME)
            .replace("{{name_snake}}", NAME_SNAKE)
            .replace("{{sdk_dependency}}", sdk_dependency);
        assert!(
            !text.contains("{{name") && !text.contains("{{sdk_"),
            "{} keeps a placeholder",
            dest.display()
        );
        std::fs::write(dest, text).unwrap();
    }
}

/// Runs the workspace's cargo in `dir`, offline, with its own target directory `target`.
fn cargo(dir: &Path, target: &Path, args: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .args(args)
        .arg("--offline")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Renders the template, runs its tests, builds the component and returns its path.
fn build_template(dir: &Path) -> PathBuf {
    let sdk = repo_root()
        .join("guest-verifiers/sdk")
        .canonicalize()
        .unwrap();
    let sdk_dependency = format!("{{ path = {:?} }}", sdk.display().to_string());
    render(&repo_root().join("templates/rust"), dir, &sdk_dependency);
    for file in ["Cargo.toml", "README.md", ".gitignore", "src/lib.rs"] {
        assert!(dir.join(file).is_file(), "the template has no {file}");
    }
    // A target directory of its own, kept between runs so a rebuild is incremental.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
        .join("template-rust");
    cargo(dir, &target, &["test", "--quiet"]);
    cargo(
        dir,
        &target,
        &["build", "--quiet", "--target", "wasm32-wasip2", "--release"],
    );
    target.join(format!("wasm32-wasip2/release/{NAME_SNAKE}.wasm"))
}

#[tokio::test(flavor = "multi_thread")]
async fn rendered_rust_template_builds_loads_and_judges_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || build_template(&dir)
    })
    .await
    .unwrap();

    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let v = rt.load_file(NAME, &wasm, Limits::default()).await.unwrap();
    assert_eq!(v.metadata().name, NAME);
    assert_eq!(v.metadata().artifact_types, [ARTIFACT_TYPE]);

    let config = json!({"requiredAnnotations": [SOURCE, CREATED]});
    let layers: &[(&str, &[u8])] = &[("application/json", b"{}")];

    let c = case_annotated(
        ARTIFACT_TYPE,
        layers,
        &[
            (SOURCE, "https://example.test/repo"),
            (CREATED, "2026-01-01T00:00:00Z"),
        ],
    );
    let r = verify(&rt, &v, &c, &config).await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(
        r.extensions["annotations"],
        json!({SOURCE: "https://example.test/repo", CREATED: "2026-01-01T00:00:00Z"})
    );

    let c = case_annotated(
        ARTIFACT_TYPE,
        layers,
        &[(SOURCE, "https://example.test/repo")],
    );
    let r = verify(&rt, &v, &c, &config).await;
    assert!(!r.is_success, "{r:?}");
    assert_eq!(r.error_reason.as_deref(), Some("ANNOTATION_MISSING"));
    assert_eq!(
        r.message,
        format!(
            "artifact {} lacks the required annotation(s) {CREATED}",
            c.artifact.digest
        )
    );

    match rt.check_config(&v, r#"{"requiredAnnotations": []}"#).await {
        Err(RuntimeError::Config { name, reason }) => {
            assert_eq!(name, NAME);
            assert!(reason.contains("requiredAnnotations"), "{reason}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    let r = verify_raw(&rt, &v, &c, "[]").await;
    assert_eq!(r.error_reason.as_deref(), Some("CONFIG_INVALID"));
}
