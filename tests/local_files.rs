//! Local reads are bounded and never block (issue 11, item 4): a FIFO as a blob of an OCI layout,
//! `/dev/zero` as a verifier's `path` and as `vouch inspect`'s argument are clear errors in well
//! under a second, in bounded memory, through the `vouch` binary; the process then finishes.

#[path = "support/cli.rs"]
mod cli;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use std::path::Path;
use std::time::Duration;

use cli::vouch_bounded;
use vouch::oci::{Manifest, OciLayout};

/// Far more than the binary needs for these runs, far less than reading `/dev/zero` would take.
const MAX_RSS: u64 = 1 << 30;
/// A run that does not finish in this time is killed and fails the test.
const WITHIN: Duration = Duration::from_secs(60);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// The demo config (built verifiers) written to `dir/vouch.json`.
fn demo_config_file(dir: &Path) -> String {
    let path = dir.join("vouch.json");
    let config = support::demo::demo_config(guests::verifier);
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn a_fifo_blob_in_an_oci_layout_fails_its_verifier_and_the_process_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let layout_dir = dir.path().join("layout");
    copy_dir(&support::demo::examples().join("demo-layout"), &layout_dir);
    // The SARIF report's layer becomes a FIFO nobody writes to.
    let layout = OciLayout::open(&layout_dir).unwrap();
    let sarif = layout
        .index()
        .unwrap()
        .manifests
        .into_iter()
        .find(|d| d.artifact_type.as_deref() == Some("application/sarif+json"))
        .expect("the demo has a SARIF referrer");
    let manifest = Manifest::parse(&layout.read_blob(&sarif, 1 << 20).unwrap()).unwrap();
    let layer = &manifest.layers[0];
    let blob = layout_dir.join("blobs/sha256").join(layer.digest.hex());
    std::fs::remove_file(&blob).unwrap();
    mkfifo(&blob);

    let config = demo_config_file(dir.path());
    let subject = format!("{}:v1", layout_dir.display());
    let run = vouch_bounded(
        &[
            "verify",
            "--oci-layout",
            &subject,
            "-c",
            &config,
            "-o",
            "json",
        ],
        WITHIN,
        MAX_RSS,
    );
    assert_eq!(run.killed, None, "{run:?}");
    assert_eq!(run.code, 1, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["isSuccess"], false);
    let vuln = report["verifierReports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["verifierName"] == "vuln")
        .expect("the vuln verifier ran");
    assert_eq!(vuln["isSuccess"], false, "{vuln}");
    let text = vuln.to_string();
    assert!(
        text.contains("FIFO") && text.contains(layer.digest.hex()),
        "the report names the FIFO: {text}"
    );
}

#[test]
fn dev_zero_as_a_verifier_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::demo::demo_config(guests::verifier);
    config.verifiers[0].path = "/dev/zero".into();
    let path = dir.path().join("vouch.json");
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let subject = format!(
        "{}:v1",
        support::demo::examples().join("demo-layout").display()
    );
    let run = vouch_bounded(
        &[
            "verify",
            "--oci-layout",
            &subject,
            "-c",
            &path.display().to_string(),
        ],
        WITHIN,
        MAX_RSS,
    );
    assert_eq!(run.killed, None, "{run:?}");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("`/dev/zero` is a character device, not a regular file"),
        "{run:?}"
    );
}

#[test]
fn inspect_refuses_devices_and_fifos_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("verifier.wasm");
    mkfifo(&fifo);
    for (path, kind) in [
        ("/dev/zero".to_owned(), "a character device"),
        (fifo.display().to_string(), "a FIFO (named pipe)"),
    ] {
        let run = vouch_bounded(&["inspect", &path], WITHIN, MAX_RSS);
        assert_eq!(run.killed, None, "{run:?}");
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .contains(&format!("`{path}` is {kind}, not a regular file")),
            "{run:?}"
        );
        assert!(run.elapsed < Duration::from_secs(10), "{run:?}");
    }
}
