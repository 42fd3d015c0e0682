//! Workspace tasks. `cargo xtask guests` builds every wasm guest (the shipped verifiers under
//! `guest-verifiers/` and the test guests under `tests/guests/`) for `wasm32-wasip2` with the
//! speed-optimised `guest` profile (opt-level 3, LTO, stripped), installing the target with rustup first when it is missing.
//! `cargo xtask example` regenerates the demo under `examples/` (layout, trust material, config);
//! `cargo xtask example --push REGISTRY` pushes it (images and referrers) to a registry instead.
//! `cargo xtask image` builds the container image (see [`xtask::image`]); with `--push
//! REGISTRY` it also pushes, signs and verifies it. `cargo xtask polyglot` builds the Python and
//! JavaScript example verifiers (see [`xtask::polyglot`]), installing their toolchains under the
//! target directory, and skips (exit 0, saying why) a language whose toolchain cannot install.

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
        Some("polyglot") if args.len() == 1 => build_polyglot(),
        Some("example") if args.len() == 1 => {
            example::generate(&workspace_root()?.join("examples"))
        }
        Some("example") => example_push(&Flags::parse(&args[1..], &["--push", "--sign-key"])?),
        Some("image") => image(&Flags::parse(
            &args[1..],
            &["--push", "--sign-key", "--tag", "--release", "--glibc"],
        )?),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

const USAGE: &str = "\
usage: cargo xtask guests
           build all wasm guests (wasm32-wasip2, profile `guest`)
       cargo xtask polyglot
           build the Python and JavaScript example verifiers (examples/verifiers/) into
           target/polyglot/, installing componentize-py (venv) and componentize-js (npm) there
           first; a toolchain that cannot install is skipped, saying why
       cargo xtask example
           regenerate examples/ (demo layout, trust material, vouch.yaml)
       cargo xtask example --push REGISTRY [--sign-key KEY.pem]
           push the demo layout (images and referrers) to REGISTRY/demo with `vouch push`, copy
           the verifiers to examples/verifiers/, and sign demo:v1 with KEY.pem when given
       cargo xtask image [--release] [--glibc] [--tag TAG] [--push REGISTRY [--sign-key KEY.pem]]
           build the container image (buildah, FROM scratch) into target/vouch-image/oci:TAG
           around a static (musl) vouch when the target and musl-gcc are installed, else (or
           with --glibc) the glibc build with its shared libraries;
           with --push: copy it to REGISTRY/vouch:TAG (skopeo), sign it with `vouch sign` (a
           key made in target/vouch-image/keys unless given) and verify it with `vouch verify`";

/// Build the example verifiers in other languages; a missing toolchain is a printed skip.
fn build_polyglot() -> Result<()> {
    use xtask::polyglot::{self, PolyglotError};
    let root = workspace_root()?;
    let dir = polyglot::toolchain_dir(&target_dir(&root));
    for (lang, app, file) in polyglot::EXAMPLES {
        let started = std::time::Instant::now();
        let tool = match polyglot::ensure(&dir, lang) {
            Ok(tool) => tool,
            Err(PolyglotError::Unavailable(why)) => {
                eprintln!(
                    "polyglot: skipped the {} verifier {app}: {why}",
                    lang.name()
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let out = dir.join(file);
        let app_dir = root.join("examples/verifiers").join(app);
        if polyglot::up_to_date(&out, &[&app_dir, &root.join("wit"), &tool]) {
            eprintln!("polyglot: {} is up to date", out.display());
            continue;
        }
        polyglot::build(lang, &tool, &app_dir, &root.join("wit"), &out)?;
        eprintln!(
            "polyglot: built {} ({} bytes) in {:.1} s",
            out.display(),
            std::fs::metadata(&out)?.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// `--name value` and `--switch` flags.
struct Flags(std::collections::BTreeMap<String, Option<String>>);

impl Flags {
    /// Parse `args` against `known` flags; `--release` and `--glibc` take no value.
    fn parse(args: &[String], known: &[&str]) -> Result<Flags> {
        let mut out = std::collections::BTreeMap::new();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if !known.contains(&flag.as_str()) {
                bail!("unknown argument `{flag}`\n{USAGE}");
            }
            let value = if flag == "--release" || flag == "--glibc" {
                None
            } else {
                Some(
                    it.next()
                        .with_context(|| format!("{flag} needs a value"))?
                        .clone(),
                )
            };
            out.insert(flag.clone(), value);
        }
        Ok(Flags(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// The target directory cargo builds into for this workspace.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// The static target of the container image's `vouch`.
const MUSL: &str = "x86_64-unknown-linux-musl";

/// Build the `vouch` binary (debug, or release) for the host, or for `target`; its path.
fn build_vouch(root: &Path, release: bool, target: Option<&str>) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "-p", "vouch", "--bin", "vouch"]);
    if release {
        cmd.arg("--release");
    }
    if let Some(target) = target {
        // Another target builds every dependency again: without debug information (the image
        // strips it anyway) it takes a fraction of the disk.
        cmd.args(["--target", target])
            .env("CARGO_PROFILE_DEV_DEBUG", "0");
    }
    if !cmd.status().context("running cargo")?.success() {
        bail!("building vouch failed");
    }
    let profile = if release { "release" } else { "debug" };
    let dir = match target {
        Some(target) => target_dir(root).join(target),
        None => target_dir(root),
    };
    Ok(dir.join(profile).join("vouch"))
}

/// Whether a static (musl) `vouch` can be built here: rustup has the target and Debian's
/// `musl-tools` the C compiler the crypto crates' C code needs.
fn musl_available() -> bool {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == MUSL)
        });
    installed && xtask::image::have("musl-gcc")
}

/// Run `vouch` with `args`, failing when it fails.
fn vouch(vouch: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new(vouch)
        .args(args)
        .status()
        .with_context(|| format!("running {}", vouch.display()))?;
    if !status.success() {
        bail!("`vouch {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// `cargo xtask example --push REGISTRY [--sign-key KEY]`.
fn example_push(flags: &Flags) -> Result<()> {
    let registry = flags.get("--push").context("--push REGISTRY is required")?;
    let root = workspace_root()?;
    build_guests()?;
    let examples = root.join("examples");
    let verifiers = examples.join("verifiers");
    std::fs::create_dir_all(&verifiers)?;
    let guests = target_dir(&root).join(TARGET).join("guest");
    for v in ["notation", "cosign", "sbom", "vuln"] {
        std::fs::copy(
            guests.join(format!("verifier_{v}.wasm")),
            verifiers.join(format!("{v}.wasm")),
        )?;
    }
    let bin = build_vouch(&root, false, None)?;
    let repo = format!("{}/demo", registry.trim_end_matches('/'));
    let layout = examples.join("demo-layout");
    vouch(&bin, &["push", &layout.to_string_lossy(), &repo])?;
    if let Some(key) = flags.get("--sign-key") {
        vouch(&bin, &["sign", &format!("{repo}:v1"), "--key", key])?;
    }
    println!(
        "\nThe demo is in {repo} (v1 passes, v2 fails). Try, from {}:\n  \
         {b} verify {repo}:v1 {repo}:v2 -c examples/vouch.yaml\n  \
         {b} verify {repo}:v1 --key examples/trust/cosign.pub\n  \
         {b} serve -c examples/vouch.yaml --listen 127.0.0.1:8080",
        root.display(),
        b = bin.display()
    );
    Ok(())
}

/// `cargo xtask image [--release] [--tag TAG] [--push REGISTRY [--sign-key KEY]]`.
fn image(flags: &Flags) -> Result<()> {
    use xtask::image;

    for tool in ["buildah", "strip", "tar"]
        .into_iter()
        .chain(flags.has("--push").then_some("skopeo"))
    {
        if !image::have(tool) {
            bail!("`{tool}` is needed (Debian: apt-get install {tool})");
        }
    }
    let root = workspace_root()?;
    build_guests()?;
    let release = flags.has("--release");
    // The image's binary: static (musl) when it can be built here, else glibc with its
    // libraries; `vouch sign`/`verify` below run the host's build.
    let musl = !flags.has("--glibc") && musl_available();
    if !musl && !flags.has("--glibc") {
        println!(
            "no static build (`rustup target add {MUSL}` and `apt-get install musl-tools` \
             enable it): the image ships the glibc binary with its libraries"
        );
    }
    let shipped = build_vouch(&root, release, musl.then_some(MUSL))?;
    let bin = if musl {
        build_vouch(&root, false, None)?
    } else {
        shipped.clone()
    };
    let out = target_dir(&root).join("vouch-image");
    let spec = image::ImageSpec {
        vouch: shipped,
        guests: target_dir(&root).join(TARGET).join("guest"),
        work: out.join("work"),
        layout: out.join("oci"),
        tag: flags
            .get("--tag")
            .unwrap_or(env!("CARGO_PKG_VERSION"))
            .to_owned(),
    };
    let built = image::build(&spec)?;
    println!(
        "built {}:{} ({}), verifiers {:?}, {} shared libraries",
        spec.layout.display(),
        spec.tag,
        built.digest,
        built.verifiers,
        built.libraries.len()
    );
    let unpacked = out.join("work/unpacked");
    image::unpack(&spec.layout, &spec.tag, &unpacked)?;
    let cosign = format!("{}/cosign.wasm", image::VERIFIERS);
    match image::run_inside(&unpacked, &["inspect", &cosign])? {
        Some(text) => println!("the image's vouch runs in its own filesystem:\n{text}"),
        None => println!("(not root: the image's vouch was not run in its own filesystem)"),
    }
    let Some(registry) = flags.get("--push") else {
        return Ok(());
    };
    let reference = format!("{}/vouch:{}", registry.trim_end_matches('/'), spec.tag);
    image::push(&spec.layout, &spec.tag, &reference)?;
    println!("pushed {reference}");
    let (key, public) = match flags.get("--sign-key") {
        Some(key) => {
            let key = PathBuf::from(key);
            let public = key.with_extension("pub");
            (key, public)
        }
        None => {
            let dir = out.join("keys");
            let key = dir.join("vouch-plugin.key");
            if !key.is_file() {
                vouch(&bin, &["plugin", "keygen", &dir.to_string_lossy()])?;
            }
            (key, dir.join("vouch-plugin.pub"))
        }
    };
    let verified = image::sign_and_verify(&bin, &reference, &key, &public, &unpacked)?;
    println!("signed with {} and verified:\n{verified}", key.display());
    Ok(())
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
    let out = target_dir(&root).join(TARGET).join("guest");
    for p in &packages {
        let file = out.join(format!("{}.wasm", p.replace('-', "_")));
        let size = std::fs::metadata(&file)
            .with_context(|| format!("expected {}", file.display()))?
            .len();
        println!("{:>9} bytes  {}", size, file.display());
    }
    Ok(())
}
