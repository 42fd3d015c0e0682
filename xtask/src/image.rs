//! The container image of `vouch`: a `FROM scratch` image holding the binary (a static musl
//! build, or a glibc build with the few shared libraries it links: libc, libm, libgcc_s and the
//! loader), the shipped verifiers, CA certificates and a non-root user, built offline with
//! Debian's `buildah` into an OCI image layout, then pushed with `skopeo`, signed with
//! `vouch sign` and verified with `vouch verify --key` (run from the image's own filesystem when
//! this process may `chroot`).
//!
//! Layout of the image:
//! - `/opt/vouch/bin/vouch` (the entrypoint; `PATH` is `/opt/vouch/bin`),
//! - `/opt/vouch/verifiers/<name>.wasm` (found by `vouch` beside itself: `../verifiers/`),
//! - `/etc/ssl/certs/ca-certificates.crt`, `/etc/passwd` and `/etc/group` (user `vouch`, uid and
//!   gid 65532, the image's default user), an empty `/tmp`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The uid and gid the image runs as (as distroless' `nonroot`).
pub const UID: u32 = 65532;
/// Where the binary is in the image.
pub const BINARY: &str = "/opt/vouch/bin/vouch";
/// Where the shipped verifiers are in the image.
pub const VERIFIERS: &str = "/opt/vouch/verifiers";

/// Why building, pushing or checking the image failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A tool could not be started or exited with an error.
    #[error("`{command}` failed: {detail}")]
    Tool {
        /// The command line.
        command: String,
        /// Its exit status and standard error, or why it did not start.
        detail: String,
    },
    /// Something the image needs is missing or malformed.
    #[error("{0}")]
    Invalid(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ImageError {
    let path = path.to_owned();
    move |source| ImageError::Io { what, path, source }
}

/// Run `cmd`; its standard output, or an error with its standard error.
fn run(cmd: &mut Command) -> Result<String, ImageError> {
    let command = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|e| ImageError::Tool {
        command: command.clone(),
        detail: format!("cannot start it: {e}"),
    })?;
    if !out.status.success() {
        return Err(ImageError::Tool {
            command,
            detail: format!(
                "{}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `tool` can be run (`tool --version`).
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What to put in the image.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// The `vouch` binary to ship (stripped of debug information on the way).
    pub vouch: PathBuf,
    /// The directory `cargo xtask guests` wrote the verifiers to (`verifier_<name>.wasm`).
    pub guests: PathBuf,
    /// A scratch directory (the root filesystem, buildah's storage); emptied first.
    pub work: PathBuf,
    /// The OCI image layout to write (written afresh).
    pub layout: PathBuf,
    /// The tag of the image in the layout.
    pub tag: String,
}

/// The image built: its manifest digest in the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// `sha256:<hex>` of the image manifest.
    pub digest: String,
    /// The shipped verifiers, by name.
    pub verifiers: Vec<String>,
    /// The shared libraries copied in (empty for a static binary).
    pub libraries: Vec<PathBuf>,
}

/// The shared libraries `binary` needs, as `ldd` lists them (the vDSO excluded); empty for a
/// static binary.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| ImageError::Tool {
            command: "ldd".into(),
            detail: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let static_binary = ["not a dynamic executable", "statically linked"]
        .iter()
        .any(|t| text.contains(t) || String::from_utf8_lossy(&out.stderr).contains(t));
    if !out.status.success() || static_binary {
        return Ok(Vec::new()); // static (ldd exits 1 for those)
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.trim(),
            None => line.trim(),
        };
        let path = path.split(" (").next().unwrap_or_default().trim();
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        } else if line.contains("=> not found") {
            return Err(ImageError::Invalid(format!(
                "{} needs a library that is not installed: {}",
                binary.display(),
                line.trim()
            )));
        }
    }
    Ok(libs)
}

/// Copy `from` to `root` + `at` (an absolute path in the image), creating parents.
fn put(root: &Path, at: &Path, from: &Path) -> Result<PathBuf, ImageError> {
    let to = root.join(at.strip_prefix("/").unwrap_or(at));
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    }
    std::fs::copy(from, &to).map_err(io("cannot copy into the image", from))?;
    Ok(to)
}

/// Write `text` to `root` + `at`.
fn write(root: &Path, at: &str, text: &str) -> Result<(), ImageError> {
    let to = root.join(at.trim_start_matches('/'));
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    }
    std::fs::write(&to, text).map_err(io("cannot write", &to))
}

/// The image's root filesystem under `root`; the verifiers and libraries it holds.
fn stage(spec: &ImageSpec, root: &Path) -> Result<(Vec<String>, Vec<PathBuf>), ImageError> {
    let bin = root.join(BINARY.trim_start_matches('/'));
    std::fs::create_dir_all(bin.parent().unwrap_or(root)).map_err(io("cannot create", root))?;
    // Debug information is most of a debug build's size; the image does not need it.
    if run(Command::new("strip").arg("-o").arg(&bin).arg(&spec.vouch)).is_err() {
        put(root, Path::new(BINARY), &spec.vouch)?;
    }
    let mut verifiers = Vec::new();
    let entries = std::fs::read_dir(&spec.guests).map_err(io("cannot read", &spec.guests))?;
    for entry in entries {
        let path = entry.map_err(io("cannot read", &spec.guests))?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("verifier_")?.strip_suffix(".wasm"))
        else {
            continue;
        };
        put(
            root,
            &Path::new(VERIFIERS).join(format!("{name}.wasm")),
            &path,
        )?;
        verifiers.push(name.to_owned());
    }
    verifiers.sort();
    if verifiers.is_empty() {
        return Err(ImageError::Invalid(format!(
            "no verifier_<name>.wasm in {}: build them with `cargo xtask guests`",
            spec.guests.display()
        )));
    }
    let libraries = shared_libraries(&spec.vouch)?;
    for lib in &libraries {
        put(root, lib, lib)?; // std::fs::copy follows the symlinks ldd names
    }
    let certs = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if certs.is_file() {
        put(root, certs, certs)?;
    }
    write(
        root,
        "/etc/passwd",
        &format!(
            "root:x:0:0:root:/root:/sbin/nologin\nvouch:x:{UID}:{UID}:vouch:/tmp:/sbin/nologin\n"
        ),
    )?;
    write(root, "/etc/group", &format!("root:x:0:\nvouch:x:{UID}:\n"))?;
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(io("cannot create", &tmp))?;
    let sticky = std::os::unix::fs::PermissionsExt::from_mode(0o1777);
    std::fs::set_permissions(&tmp, sticky).map_err(io("cannot chmod", &tmp))?;
    Ok((verifiers, libraries))
}

/// Build the image into `spec.layout` (emptied first) under `spec.tag` with buildah (vfs
/// storage in `spec.work`, removed afterwards; no network, no RUN step).
pub fn build(spec: &ImageSpec) -> Result<Built, ImageError> {
    for dir in [&spec.work, &spec.layout] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io("cannot empty", dir))?;
        }
    }
    let root = spec.work.join("rootfs");
    let (verifiers, libraries) = stage(spec, &root)?;
    let storage = spec.work.join("storage");
    let buildah = || {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(storage.join("root"))
            .arg("--runroot")
            .arg(storage.join("run"))
            .args(["--storage-driver", "vfs"]);
        c
    };
    let ctr = run(buildah().args(["from", "scratch"]))?.trim().to_owned();
    let result = (|| {
        run(buildah().args(["copy", &ctr]).arg(&root).arg("/"))?;
        run(buildah().args([
            "config",
            "--entrypoint",
            &format!("[\"{BINARY}\"]"),
            "--cmd",
            "[\"serve\",\"--config\",\"/etc/vouch/config/vouch.yaml\",\"--listen\",\"0.0.0.0:8080\"]",
            "--user",
            &format!("{UID}:{UID}"),
            "--env",
            "PATH=/opt/vouch/bin",
            "--port",
            "8080",
            "--label",
            "org.opencontainers.image.title=vouch",
            "--label",
            &format!("org.opencontainers.image.version={}", spec.tag),
            "--label",
            "org.opencontainers.image.licenses=Apache-2.0",
            &ctr,
        ]))?;
        // gzip layers: a registry stores them as they are, so the digest signed here is the
        // one the registry serves (skopeo --preserve-digests); timestamp 0: reproducible.
        run(buildah()
            .args([
                "commit",
                "--quiet",
                "--format",
                "oci",
                "--disable-compression=false",
                "--timestamp",
                "0",
                &ctr,
            ])
            .arg(format!("oci:{}:{}", spec.layout.display(), spec.tag)))
    })();
    let _ = run(buildah().args(["rm", &ctr]));
    result?;
    let _ = std::fs::remove_dir_all(&storage);
    Ok(Built {
        digest: layout_digest(&spec.layout, &spec.tag)?,
        verifiers,
        libraries,
    })
}

/// The manifest digest of `tag` in the OCI layout at `layout`.
pub fn layout_digest(layout: &Path, tag: &str) -> Result<String, ImageError> {
    let path = layout.join("index.json");
    let text = std::fs::read_to_string(&path).map_err(io("cannot read", &path))?;
    let index: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ImageError::Invalid(format!("{}: {e}", path.display())))?;
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .and_then(|m| m["digest"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| ImageError::Invalid(format!("no tag `{tag}` in {}", path.display())))
}

/// Unpack the image `tag` of `layout` (its layers in order, with `tar`) into `dir`.
pub fn unpack(layout: &Path, tag: &str, dir: &Path) -> Result<(), ImageError> {
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let manifest_path = blob(&layout_digest(layout, tag)?);
    let text =
        std::fs::read_to_string(&manifest_path).map_err(io("cannot read", &manifest_path))?;
    let manifest: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ImageError::Invalid(format!("{}: {e}", manifest_path.display())))?;
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        let digest = layer["digest"].as_str().unwrap_or_default();
        run(Command::new("tar")
            .arg("-xzf")
            .arg(blob(digest))
            .arg("-C")
            .arg(dir))?;
    }
    Ok(())
}

/// Run the image's own `vouch` with `args` inside the unpacked image at `root` (`chroot`, as
/// root): what a container runtime would run, minus the namespaces. `None` when this process
/// may not chroot (not root).
pub fn run_inside(root: &Path, args: &[&str]) -> Result<Option<String>, ImageError> {
    if !is_root() {
        return Ok(None);
    }
    // Found on this process's PATH: the child's environment is the image's.
    let chroot = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("chroot"))
        .find(|p| p.is_file())
        .ok_or_else(|| ImageError::Invalid("no `chroot` on PATH".into()))?;
    let mut cmd = Command::new(chroot);
    cmd.arg(root)
        .arg(BINARY)
        .args(args)
        .env_clear()
        .env("PATH", "/opt/vouch/bin")
        .env("HOME", "/tmp");
    run(&mut cmd).map(Some)
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).is_ok_and(|u| u.trim() == "0")
}

/// Copy `tag` of `layout` to `reference` (`registry/repository:tag`) with skopeo, digests
/// preserved; plain HTTP for a registry on loopback.
pub fn push(layout: &Path, tag: &str, reference: &str) -> Result<(), ImageError> {
    let loopback = ["127.", "localhost", "[::1]"]
        .iter()
        .any(|p| reference.starts_with(p));
    let mut cmd = Command::new("skopeo");
    cmd.args(["--insecure-policy", "copy", "--quiet", "--preserve-digests"]);
    if loopback {
        cmd.arg("--dest-tls-verify=false");
    }
    cmd.arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{reference}"));
    run(&mut cmd).map(drop)
}

/// `vouch sign reference --key key`, then `vouch verify reference --key public` with the image's
/// own `vouch` and verifiers when `unpacked` can be entered (else with `vouch` and the
/// verifiers of `unpacked`): the verification's output.
pub fn sign_and_verify(
    vouch: &Path,
    reference: &str,
    key: &Path,
    public: &Path,
    unpacked: &Path,
) -> Result<String, ImageError> {
    run(Command::new(vouch)
        .args(["sign", reference, "--key"])
        .arg(key))?;
    let inside = unpacked.join("tmp/signer.pub");
    std::fs::copy(public, &inside).map_err(io("cannot copy", public))?;
    let args = [
        "verify",
        reference,
        "--key",
        "/tmp/signer.pub",
        "--no-cache",
    ];
    if let Some(out) = run_inside(unpacked, &args)? {
        return Ok(out);
    }
    let mut cmd = Command::new(vouch);
    cmd.args(["verify", reference, "--no-cache", "--key"])
        .arg(public)
        .env(
            "VOUCH_VERIFIER_DIR",
            unpacked.join(VERIFIERS.trim_start_matches('/')),
        );
    run(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_binary_lists_its_libraries_and_the_loader() {
        let libs = shared_libraries(&std::env::current_exe().unwrap()).unwrap();
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
        assert!(
            libs.iter()
                .any(|l| l.to_string_lossy().contains("ld-linux"))
        );
    }
}
