//! `vouch verify --file PATH --bundle FILE` (and `--digest`): the built `vouch` binary and the
//! real cosign verifier on local files signed by `xtask::fixtures::cosign` (test Fulcio, CT log
//! and Rekor log), keyless and key-based, bundles v0.1 to v0.3, and the
//! sigstore-conformance client script shipped in `examples/`.

#[path = "support/cli.rs"]
mod cli;
#[allow(dead_code)] // `guest()` is for the test guests
#[path = "support/guests.rs"]
mod guests;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::Digest as _;
use xtask::fixtures::cosign::{
    BundleSigner, Fulcio, IssuerExtension, Key, Leaf, LogEntry, Rekor, San, dsse_bundle,
    generate_key, in_toto_statement, legacy_bundle, message_signature_bundle, trusted_root,
};

const ISSUER: &str = "https://accounts.example.test";
const EMAIL: &str = "release@example.test";
const CONTENT: &[u8] = b"release-1.0.tar.gz: the bytes of a release file\n";

/// Test Sigstore infrastructure and a directory holding the release file, the trusted root and
/// the signer's public key.
struct World {
    dir: tempfile::TempDir,
    fulcio: Fulcio,
    rekor: Rekor,
    leaf: Leaf,
    key: Key,
    at: i64,
}

impl World {
    fn new() -> World {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let fulcio = Fulcio::new("fulcio").unwrap();
        let leaf = fulcio
            .issue(
                &San::Email(EMAIL.into()),
                ISSUER,
                IssuerExtension::Both,
                now - 300,
            )
            .unwrap();
        let rekor = Rekor::new().unwrap();
        let key = generate_key().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("release.tar.gz"), CONTENT).unwrap();
        std::fs::write(
            dir.path().join("trusted_root.json"),
            serde_json::to_vec(&trusted_root(&[&fulcio], &[&rekor])).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("release.pub"), key.public_key_pem()).unwrap();
        World {
            dir,
            fulcio,
            rekor,
            leaf,
            key,
            at: now - 270,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log(&self, tree_size: Option<u64>) -> LogEntry<'_> {
        LogEntry {
            rekor: &self.rekor,
            integrated_time: self.at,
            log_index: 2,
            tree_size,
        }
    }

    /// A keyless message-signature bundle over `content`, written to `name`.
    fn keyless_bundle(&self, name: &str, content: &[u8], tree_size: Option<u64>) -> PathBuf {
        let b = message_signature_bundle(
            content,
            &BundleSigner::Certificate(&self.leaf),
            &self.log(tree_size),
        )
        .unwrap();
        self.write(name, &b)
    }

    fn write(&self, name: &str, bundle: &Value) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, serde_json::to_vec(bundle).unwrap()).unwrap();
        p
    }

    /// A key-based message-signature bundle over [`CONTENT`] (hint `release`), written out.
    fn key_bundle(&self) -> PathBuf {
        let b = message_signature_bundle(
            CONTENT,
            &BundleSigner::Key {
                key: &self.key,
                hint: "release",
            },
            &self.log(Some(3)),
        )
        .unwrap();
        self.write("key.sigstore.json", &b)
    }

    fn file_arg(&self) -> String {
        self.path("release.tar.gz").display().to_string()
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn cosign_wasm() -> String {
    s(&guests::verifier("cosign"))
}

/// `vouch verify -o json` with `args` plus the cosign verifier; exit code, report, stderr.
fn verify(w: &World, args: &[&str]) -> (i32, Value, String) {
    let wasm = cosign_wasm();
    let absent = s(&w.path("no-config.yaml"));
    let mut all = vec!["verify", "-o", "json", "-c", &absent, "--verifier", &wasm];
    all.extend_from_slice(args);
    let (code, out, err) = cli::vouch(&all);
    let report = serde_json::from_str(&out).unwrap_or(Value::Null);
    (code, report, err)
}

/// `verify` of `subject` (`--file`/`--digest` and its value) with `bundle`, trusting the test
/// root and the keyless identity [`EMAIL`] from [`ISSUER`].
fn verify_keyless(w: &World, bundle: &str, subject: [&str; 2]) -> (i32, Value, String) {
    let root = s(&w.path("trusted_root.json"));
    let mut args = vec![
        "--bundle",
        bundle,
        "--certificate-identity",
        EMAIL,
        "--certificate-oidc-issuer",
        ISSUER,
        "--trusted-root",
        &root,
    ];
    args.extend(subject);
    verify(w, &args)
}

/// The one verifier report of a blob verification.
fn only_report(report: &Value) -> &Value {
    let reports = report["verifierReports"]
        .as_array()
        .expect("verifierReports");
    assert_eq!(reports.len(), 1, "{report:#}");
    &reports[0]
}

fn assert_pass(code: i32, report: &Value, err: &str) {
    assert_eq!(code, 0, "{report:#}\n{err}");
    assert_eq!(report["isSuccess"], true, "{report:#}");
}

fn assert_fail(code: i32, report: &Value, reason: &str, needle: &str) {
    assert_eq!(code, 1, "{report:#}");
    let r = only_report(report);
    assert_eq!(r["isSuccess"], false, "{report:#}");
    assert_eq!(r["errorReason"], reason, "{report:#}");
    let msg = r["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
}

/// Sigstore client spec, verification: "the verifier MUST ensure that the artifact matches
/// the signature": for a message signature, the bundle's `messageDigest` is the artifact's
/// SHA-256 and the signature verifies over it, with a certificate that chains to the trusted
/// root's Fulcio and names the expected identity and issuer.
#[test]
fn keyless_file_with_its_bundle_passes_by_path_and_by_digest() {
    let w = World::new();
    let bundle = s(&w.keyless_bundle("release.sigstore.json", CONTENT, Some(5)));
    let file = w.file_arg();
    let (code, report, err) = verify_keyless(&w, &bundle, ["--file", &file]);
    assert_pass(code, &report, &err);
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(CONTENT)));
    assert_eq!(report["digest"], digest);
    let r = only_report(&report);
    assert_eq!(r["extensions"]["verificationMode"], "keyless");
    assert_eq!(r["extensions"]["subject"], EMAIL);
    assert_eq!(r["extensions"]["format"], "sigstore-bundle-v0.3");
    assert!(
        r["extensions"]["sct"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );

    let (code, report, err) = verify_keyless(&w, &bundle, ["--digest", &digest]);
    assert_pass(code, &report, &err);
}

/// Key-based (`cosign sign-blob --key` / `verify-blob --key`): the bundle's `publicKey.hint`
/// names the key; the signature verifies with the configured key over the file's digest.
#[test]
fn key_signed_file_passes_and_another_key_fails() {
    let w = World::new();
    let bundle = s(&w.key_bundle());
    let root = s(&w.path("trusted_root.json"));
    let file = w.file_arg();
    let other = generate_key().unwrap();
    std::fs::write(w.path("other.pub"), other.public_key_pem()).unwrap();
    let with_key = |key: &str| {
        let key = s(&w.path(key));
        verify(
            &w,
            &[
                "--file",
                &file,
                "--bundle",
                &bundle,
                "--key",
                &key,
                "--trusted-root",
                &root,
            ],
        )
    };
    let (code, report, err) = with_key("release.pub");
    assert_pass(code, &report, &err);
    assert_eq!(only_report(&report)["extensions"]["key"], "release");

    let (code, report, _) = with_key("other.pub");
    assert_fail(code, &report, "SIGNATURE_INVALID", "does not verify");
}

/// "The verifier MUST ensure that the artifact matches the signature": a bundle made for
/// another file is refused, by path and by digest, and so is a file whose bytes changed.
#[test]
fn a_bundle_for_another_file_fails() {
    let w = World::new();
    let bundle = s(&w.keyless_bundle("other.sigstore.json", b"another file", Some(5)));
    let file = w.file_arg();
    let (code, report, _) = verify_keyless(&w, &bundle, ["--file", &file]);
    assert_fail(code, &report, "SUBJECT_MISMATCH", "not the subject");

    // A DSSE statement about another digest.
    let stmt = in_toto_statement(
        "release.tar.gz",
        &"ab".repeat(32),
        "https://slsa.dev/provenance/v1",
    );
    let b = dsse_bundle(&stmt, &BundleSigner::Certificate(&w.leaf), &w.log(Some(4))).unwrap();
    let bundle = s(&w.write("dsse-other.sigstore.json", &b));
    let (code, report, _) = verify_keyless(&w, &bundle, ["--file", &file]);
    assert_fail(
        code,
        &report,
        "SUBJECT_MISMATCH",
        "do not include the subject",
    );
}

/// In-toto statements over files (`cosign attest-blob`): one of the statement's subjects
/// carries the file's SHA-256.
#[test]
fn dsse_statement_about_the_file_passes() {
    let w = World::new();
    let hex = hex::encode(sha2::Sha256::digest(CONTENT));
    let stmt = in_toto_statement("release.tar.gz", &hex, "https://slsa.dev/provenance/v1");
    let b = dsse_bundle(&stmt, &BundleSigner::Certificate(&w.leaf), &w.log(Some(4))).unwrap();
    let bundle = s(&w.write("dsse.sigstore.json", &b));
    let file = w.file_arg();
    let (code, report, err) = verify_keyless(&w, &bundle, ["--file", &file]);
    assert_pass(code, &report, &err);
    assert_eq!(
        only_report(&report)["extensions"]["predicateType"],
        "https://slsa.dev/provenance/v1"
    );
}

/// Sigstore client spec: the certificate's SAN and OIDC issuer "MUST match" the expected
/// identity; the regexp forms are unanchored searches, like cosign's.
#[test]
fn identity_and_issuer_are_enforced() {
    let w = World::new();
    let bundle = s(&w.keyless_bundle("release.sigstore.json", CONTENT, Some(5)));
    let root = s(&w.path("trusted_root.json"));
    let file = w.file_arg();
    let base = [
        "--file",
        &file,
        "--bundle",
        &bundle,
        "--trusted-root",
        &root,
    ];

    let mut args = base.to_vec();
    args.extend(["--certificate-identity", "intruder@example.test"]);
    args.extend(["--certificate-oidc-issuer", ISSUER]);
    let (code, report, _) = verify(&w, &args);
    assert_fail(code, &report, "IDENTITY_MISMATCH", "is not accepted");

    let mut args = base.to_vec();
    args.extend(["--certificate-identity", EMAIL]);
    args.extend(["--certificate-oidc-issuer", "https://other-issuer.test"]);
    let (code, report, _) = verify(&w, &args);
    assert_fail(code, &report, "IDENTITY_MISMATCH", "is not accepted");

    let mut args = base.to_vec();
    args.extend(["--certificate-identity-regexp", "@example\\.test$"]);
    args.extend(["--certificate-oidc-issuer-regexp", "^https://accounts\\."]);
    let (code, report, err) = verify(&w, &args);
    assert_pass(code, &report, &err);

    let mut args = base.to_vec();
    args.extend(["--certificate-identity-regexp", "^admin@"]);
    args.extend(["--certificate-oidc-issuer-regexp", "^https://accounts\\."]);
    let (code, report, _) = verify(&w, &args);
    assert_fail(code, &report, "IDENTITY_MISMATCH", "is not accepted");
}

/// sigstore-go `pkg/bundle`: "if bundle version == v0.1, require inclusion promise"; "if bundle
/// version >= v0.2, require inclusion proof"; v0.1 and v0.2 carry the signer in an
/// `x509CertificateChain` (its first certificate is the leaf).
#[test]
fn bundles_v01_and_v02_are_read_by_their_version_rules() {
    let w = World::new();
    let file = w.file_arg();
    let chain = w.fulcio.chain_der();
    let v03 = |tree: Option<u64>| {
        message_signature_bundle(CONTENT, &BundleSigner::Certificate(&w.leaf), &w.log(tree))
            .unwrap()
    };
    let run = |name: &str, bundle: Value| {
        let bundle = s(&w.write(name, &bundle));
        verify_keyless(&w, &bundle, ["--file", &file])
    };

    // v0.1: a signed entry timestamp (inclusion promise), no proof: passes.
    let (code, report, err) = run("v01.json", legacy_bundle(v03(None), 1, &chain));
    assert_pass(code, &report, &err);
    assert_eq!(
        only_report(&report)["extensions"]["format"],
        "sigstore-bundle-v0.1"
    );
    // v0.1 without the promise: refused, even with a proof.
    let mut b = legacy_bundle(v03(Some(4)), 1, &chain);
    b["verificationMaterial"]["tlogEntries"][0]
        .as_object_mut()
        .unwrap()
        .remove("inclusionPromise");
    let (code, report, _) = run("v01-nopromise.json", b);
    assert_fail(
        code,
        &report,
        "TLOG_INVALID",
        "must carry an inclusionPromise",
    );

    // v0.2: with an inclusion proof and checkpoint: passes.
    let (code, report, err) = run("v02.json", legacy_bundle(v03(Some(4)), 2, &chain));
    assert_pass(code, &report, &err);
    assert_eq!(
        only_report(&report)["extensions"]["format"],
        "sigstore-bundle-v0.2"
    );
    // v0.2 without a proof: refused.
    let (code, report, _) = run("v02-noproof.json", legacy_bundle(v03(None), 2, &chain));
    assert_fail(
        code,
        &report,
        "TLOG_INVALID",
        "must carry an inclusionProof",
    );

    // v0.3 with a chain instead of a certificate: refused.
    let mut b = legacy_bundle(v03(Some(4)), 2, &chain);
    b["mediaType"] = json!("application/vnd.dev.sigstore.bundle.v0.3+json");
    let (code, report, _) = run("v03-chain.json", b);
    assert_fail(code, &report, "INVALID_ENVELOPE", "x509CertificateChain");

    // An unknown version.
    let mut b = v03(Some(4));
    b["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.4");
    let (code, report, _) = run("v04.json", b);
    assert_fail(code, &report, "UNSUPPORTED_FORMAT", "version=0.4");
}

/// Usage errors exit 2 with a message naming what is missing.
#[test]
fn incomplete_flags_are_usage_errors() {
    let w = World::new();
    let bundle = s(&w.keyless_bundle("release.sigstore.json", CONTENT, Some(5)));
    let root = s(&w.path("trusted_root.json"));
    let file = w.file_arg();
    for (args, needle) in [
        (
            vec![
                "--file",
                &file,
                "--bundle",
                &bundle,
                "--trusted-root",
                &root,
            ],
            "who may have signed",
        ),
        (
            vec![
                "--file",
                &file,
                "--bundle",
                &bundle,
                "--certificate-identity",
                EMAIL,
                "--certificate-oidc-issuer",
                ISSUER,
            ],
            "--trusted-root is required",
        ),
        (
            vec![
                "--digest",
                "sha256:1234",
                "--bundle",
                &bundle,
                "--key",
                &root,
                "--trusted-root",
                &root,
            ],
            "is not a SHA-256 digest",
        ),
        (vec!["--file", &file], "--bundle"),
        // File flags with an image subject (the helper passes --verifier).
        (vec!["example.test/app:v1"], "go with --key"),
    ] {
        let (code, _, err) = verify(&w, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
}

/// The shipped sigstore-conformance client script, run as the suite runs it with the
/// whitespace-separated `args` (the test's paths have no spaces).
fn conformance(w: &World, args: &str, env: &[(&str, String)]) -> (i32, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/sigstore-conformance/vouch-conformance-client"
    );
    let mut cmd = std::process::Command::new(script);
    cmd.args(args.split_whitespace())
        .current_dir(w.dir.path())
        .env("VOUCH", env!("CARGO_BIN_EXE_vouch"))
        .env("VOUCH_COSIGN_WASM", cosign_wasm())
        .env_remove("VOUCH_CONFIG")
        .env_remove("VOUCH_TRUSTED_ROOT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the conformance client");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// sigstore-conformance `docs/cli_protocol.md`: `verify-bundle [--staging] --bundle FILE
/// --certificate-identity IDENTITY --certificate-oidc-issuer URL [--trusted-root FILE]
/// FILE_OR_DIGEST`; "the digest should start with the `sha256:` prefix, should be the right
/// length for a hexadecimal SHA-256 digest, and should not be a path on disk. If any of those
/// conditions are not met, the input should be interpreted as a filepath instead."
#[test]
fn the_conformance_client_speaks_the_suite_protocol() {
    let w = World::new();
    let bundle = s(&w.keyless_bundle("release.sigstore.json", CONTENT, Some(5)));
    let root = s(&w.path("trusted_root.json"));
    let file = w.file_arg();
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(CONTENT)));
    let keyless = |subject: &str, identity: &str| {
        let args = format!(
            "verify-bundle --bundle {bundle} --certificate-identity {identity} \
             --certificate-oidc-issuer {ISSUER} --trusted-root {root} {subject}"
        );
        conformance(&w, &args, &[])
    };
    let (code, out) = keyless(&file, EMAIL);
    assert_eq!(code, 0, "{out}");
    let (code, out) = keyless(&digest, EMAIL);
    assert_eq!(code, 0, "{out}");
    let (code, out) = keyless(&file, "intruder@example.test");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("IDENTITY_MISMATCH"), "{out}");

    // A file literally named like a digest is a file: its bytes are another file's.
    std::fs::write(w.path(&digest), b"not the release").unwrap();
    let (code, out) = keyless(&digest, EMAIL);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("SUBJECT_MISMATCH"), "{out}");

    // The trusted root from the environment when --trusted-root is absent.
    let args = format!(
        "verify-bundle --bundle {bundle} --certificate-identity {EMAIL} \
         --certificate-oidc-issuer {ISSUER} {file}"
    );
    let (code, out) = conformance(&w, &args, &[("VOUCH_TRUSTED_ROOT", root.clone())]);
    assert_eq!(code, 0, "{out}");
    let args = format!("verify-bundle --staging --bundle {bundle} --key {root} {file}");
    let (code, out) = conformance(&w, &args, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("VOUCH_STAGING_TRUSTED_ROOT"), "{out}");

    // Key-based.
    let key_bundle = s(&w.key_bundle());
    let key = s(&w.path("release.pub"));
    let args =
        format!("verify-bundle --bundle {key_bundle} --key {key} --trusted-root {root} {file}");
    let (code, out) = conformance(&w, &args, &[]);
    assert_eq!(code, 0, "{out}");

    // Signing is not Vouch's business.
    let args = format!("sign-bundle --identity-token t --bundle out.json {file}");
    let (code, out) = conformance(&w, &args, &[]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("sign-bundle is not supported"), "{out}");
}

/// The file is streamed through SHA-256, never held in memory: verifying a 128 MiB file peaks
/// at about the resident set of verifying a small one (a whole-file read would add 128 MiB).
/// Both runs load the verifier compiled by a first run from the disk cache (`stores.diskCache`),
/// so compiling it (the largest allocation otherwise) does not mask the file's.
#[test]
fn large_files_are_streamed_not_read_whole() {
    use std::io::Write as _;
    const MIB: usize = 1 << 20;
    let w = World::new();
    let big = w.path("big.bin");
    let mut f = std::fs::File::create(&big).unwrap();
    let chunk: Vec<u8> = (0..MIB as u32).map(|i| (i * 7) as u8).collect();
    for _ in 0..128 {
        f.write_all(&chunk).unwrap();
    }
    drop(f);
    let big_bundle = {
        let data = std::fs::read(&big).unwrap();
        let b = message_signature_bundle(
            &data,
            &BundleSigner::Key {
                key: &w.key,
                hint: "release",
            },
            &w.log(Some(3)),
        )
        .unwrap();
        s(&w.write("big.sigstore.json", &b))
    };
    let small_bundle = s(&w.key_bundle());
    let config = w.path("vouch.yaml");
    std::fs::write(&config, "stores: { diskCache: cache }\n").unwrap();
    let (root, key, wasm, config) = (
        s(&w.path("trusted_root.json")),
        s(&w.path("release.pub")),
        cosign_wasm(),
        s(&config),
    );
    let run = |file: &str, bundle: &str| {
        let args = [
            "verify",
            "-o",
            "json",
            "-c",
            &config,
            "--verifier",
            &wasm,
            "--file",
            file,
            "--bundle",
            bundle,
            "--key",
            &key,
            "--trusted-root",
            &root,
        ];
        cli::vouch_bounded(&args, std::time::Duration::from_secs(120), 2 << 30)
    };
    let warm = run(&w.file_arg(), &small_bundle);
    assert_eq!(warm.code, 0, "{warm:?}");
    let small = run(&w.file_arg(), &small_bundle);
    assert_eq!(small.code, 0, "{small:?}");
    let large = run(&s(&big), &big_bundle);
    assert_eq!(large.code, 0, "{large:?}");
    let report: Value = serde_json::from_str(&large.stdout).unwrap();
    assert_eq!(report["isSuccess"], true);
    let added = large.peak_rss.saturating_sub(small.peak_rss);
    assert!(
        added < (64 * MIB) as u64,
        "verifying a 128 MiB file added {added} bytes of resident set over a small file's \
         ({} vs {}; warm-up {})",
        large.peak_rss,
        small.peak_rss,
        warm.peak_rss
    );
    eprintln!(
        "peak RSS: small file {} MiB, 128 MiB file {} MiB (first run, compiling: {} MiB)",
        small.peak_rss >> 20,
        large.peak_rss >> 20,
        warm.peak_rss >> 20
    );
}
