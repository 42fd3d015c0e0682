//! Workspace tasks. `cargo xtask guests` builds every wasm guest (the shipped verifiers under
//! `guest-verifiers/` and the test guests under `tests/guests/`) for `wasm32-wasip2` with the
//! size-optimised `guest` profile, installing the target with rustup first when it is missing.
//! `cargo xtask example` regenerates the demo under `examples/` (layout, trust material, config).

mod example;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const GUEST_DIRS: [&str; 2] = ["guest-verifiers", "tests/guests"];
const TARGET: &str = "wasm32-wasip2";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("guests") => build_guests(),
        Some("example") => example::generate(&workspace_root()?.join("examples")),
        _ => {
            eprintln!(
                "usage: cargo xtask guests    build all wasm guests (wasm32-wasip2, profile `guest`)\n       cargo xtask example   regenerate examples/ (demo layout, trust material, vouch.yaml)"
            );
            std::process::exit(2);
        }
    }
}

/// The workspace this xtask runs in, found at run time: `cargo xtask` (`cargo run`) sets
/// `CARGO_MANIFEST_DIR` to this checkout's `xtask/`; otherwise the nearest ancestor of the current
/// directory holding `xtask/Cargo.toml` and a workspace `Cargo.toml`. Never the compile-time path:
/// a binary built by another checkout sharing `CARGO_TARGET_DIR` would act on that checkout.
fn workspace_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        let dir = PathBuf::from(dir);
        if let Some(root) = dir.parent().filter(|r| is_workspace_root(r)) {
            return Ok(root.to_owned());
        }
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    cwd.ancestors()
        .find(|d| is_workspace_root(d))
        .map(Path::to_owned)
        .with_context(|| {
            format!(
                "no Vouch workspace (a Cargo.toml with [workspace] beside xtask/) at or above {}",
                cwd.display()
            )
        })
}

fn is_workspace_root(dir: &Path) -> bool {
    dir.join("xtask/Cargo.toml").is_file()
        && std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
}

/// Package names of every guest crate.
fn guest_packages(root: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for dir in GUEST_DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let manifest = entry?.path().join("Cargo.toml");
            if !manifest.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&manifest)
                .with_context(|| format!("reading {}", manifest.display()))?;
            // Shared libraries (e.g. `verifier-common`) are not components.
            if !text.contains("\"cdylib\"") {
                continue;
            }
            let name = text
                .lines()
                .find_map(|l| {
                    let l = l.trim();
                    l.strip_prefix("name")
                        .and_then(|r| r.trim_start().strip_prefix('='))
                        .map(|r| r.trim().trim_matches('"').to_owned())
                })
                .with_context(|| format!("no package name in {}", manifest.display()))?;
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn ensure_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match out {
        Ok(o)
            if String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == TARGET) =>
        {
            Ok(())
        }
        Ok(_) => {
            let ok = Command::new("rustup")
                .args(["target", "add", TARGET])
                .status()?
                .success();
            if !ok {
                bail!("`rustup target add {TARGET}` failed");
            }
            Ok(())
        }
        // No rustup: assume the toolchain was installed with the target.
        Err(_) => Ok(()),
    }
}

fn build_guests() -> Result<()> {
    let root = workspace_root()?;
    ensure_target()?;
    let packages = guest_packages(&root)?;
    if packages.is_empty() {
        bail!("no guest crates found under {GUEST_DIRS:?}");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--profile", "guest", "--target", TARGET]);
    for p in &packages {
        cmd.args(["-p", p]);
    }
    if !cmd.status().context("running cargo")?.success() {
        bail!("building the guests failed");
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let out = target_dir.join(TARGET).join("guest");
    for p in &packages {
        let file = out.join(format!("{}.wasm", p.replace('-', "_")));
        let size = std::fs::metadata(&file)
            .with_context(|| format!("expected {}", file.display()))?
            .len();
        println!("{:>9} bytes  {}", size, file.display());
    }
    Ok(())
}
