//! `vouch plugin`: push, pull and sign verifiers shipped as OCI artifacts (format and
//! configuration in `docs/plugins.md`).
//!
//! - `vouch plugin push <file.wasm> <ref> [--sign-key key.pem]`: loads the component to read its
//!   `metadata()`, pushes it as a verifier artifact, and with `--sign-key` attaches a cosign
//!   simple-signing signature as a referrer (plus the `sha256-<hex>` tag-schema index).
//! - `vouch plugin pull <ref> [--key pub.pem] [--out file.wasm]`: pins the reference, checks the
//!   artifact (and the signature with `--key`), loads the component, prints what it is.
//! - `vouch plugin keygen <dir>`: writes an ECDSA P-256 key pair for signing.
//! - `vouch plugin new --lang LANG NAME [--dir DIR]`: writes a buildable verifier project from
//!   the embedded templates (see [`super::scaffold`]).
//!
//! Exit codes follow the rest of the CLI: 0 done, 1 the plugin was refused (a failed check),
//! 2 a usage or configuration error.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Subcommand;

use super::{EXIT_FAIL, EXIT_PASS};
use crate::config::Config;
use crate::plugin::{
    ANNOTATION_ARTIFACT_TYPES, PluginClient, PluginError, SigningKey, VerifyingKeys, load_plugin,
};
use crate::runtime::{Limits, Runtime, RuntimeConfig};

/// File name of the private key `keygen` writes.
pub const PRIVATE_KEY_FILE: &str = "vouch-plugin.key";
/// File name of the public key `keygen` writes.
pub const PUBLIC_KEY_FILE: &str = "vouch-plugin.pub";

/// `vouch plugin …` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Push a verifier component to a registry as an OCI artifact, optionally signed.
    Push {
        /// The verifier component (`.wasm`).
        wasm: PathBuf,
        /// Where to push: `registry/repo:tag` (an `oci://` prefix is accepted).
        reference: String,
        /// Sign with this PKCS#8 PEM private key (ECDSA P-256 or P-384, or Ed25519) (cosign simple signing, attached as
        /// a referrer of the plugin manifest).
        #[arg(long)]
        sign_key: Option<PathBuf>,
        /// Configuration file for registry settings (credentials, insecure hosts).
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
    },
    /// Pull a verifier artifact, check it (and its signature with --key) and load it.
    Pull {
        /// The artifact: `registry/repo:tag` or `registry/repo@sha256:<hex>` (`oci://` accepted).
        reference: String,
        /// Require a valid signature by a key in this PEM file of public keys.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Write the component to this file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Configuration file for registry settings and the disk cache.
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a new verifier project (a minimal working verifier, README, test, build script).
    New {
        /// The language: one of the embedded templates (`rust`, `python`, `js`, …).
        #[arg(long)]
        lang: String,
        /// The verifier's name, kebab-case (`sbom-policy`).
        name: String,
        /// Where to write it (default `./NAME`); must be new or empty.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write a new ECDSA P-256 key pair for signing plugins into a directory.
    Keygen {
        /// Directory for `vouch-plugin.key` (private, mode 0600) and `vouch-plugin.pub`.
        dir: PathBuf,
    },
}

/// Run a `vouch plugin` subcommand; `Err` is a usage or configuration error.
pub async fn run(command: PluginCommand) -> anyhow::Result<u8> {
    match command {
        PluginCommand::Push {
            wasm,
            reference,
            sign_key,
            config,
        } => push(&wasm, &reference, sign_key.as_deref(), config.as_deref()).await,
        PluginCommand::Pull {
            reference,
            key,
            out,
            config,
            json,
        } => {
            pull(
                &reference,
                key.as_deref(),
                out.as_deref(),
                config.as_deref(),
                json,
            )
            .await
        }
        PluginCommand::Keygen { dir } => keygen(&dir),
        PluginCommand::New { lang, name, dir } => new_project(&lang, &name, dir),
    }
}

/// `vouch plugin new`: render the template, say where and what next.
fn new_project(lang: &str, name: &str, dir: Option<PathBuf>) -> anyhow::Result<u8> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let rendered = super::scaffold::render(lang, name, &dir)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote the {lang} verifier `{name}` to {}:",
        dir.display()
    )?;
    for f in rendered.files.iter().filter(|f| !f.starts_with("wit/")) {
        writeln!(out, "  {f}")?;
    }
    writeln!(out, "  wit/ (the vouch:verifier WIT package)")?;
    writeln!(out, "build and test it as {}/README.md says", dir.display())?;
    if lang == "rust" && !rendered.sdk_found {
        eprintln!(
            "note: the Rust SDK was not found (set {} to a Vouch source tree's \
             guest-verifiers/sdk): edit its path in Cargo.toml",
            super::scaffold::SDK_DIR_ENV
        );
    }
    Ok(EXIT_PASS)
}

fn small_runtime() -> anyhow::Result<Runtime> {
    Runtime::new(RuntimeConfig {
        max_instances: 4,
        max_concurrency: 4,
        ..RuntimeConfig::default()
    })
    .context("cannot create the verifier runtime")
}

async fn client_for(config: Option<&Path>) -> anyhow::Result<PluginClient> {
    let config = match config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    Ok(PluginClient::from_config(&config).await?)
}

/// A refused plugin is a failed check (exit 1), named on stderr; anything else is an error.
fn refused(e: PluginError) -> anyhow::Result<u8> {
    match e {
        PluginError::Key { .. } | PluginError::Cache { .. } | PluginError::Reference { .. } => {
            Err(e.into())
        }
        e => {
            eprintln!("error: {e}");
            Ok(EXIT_FAIL)
        }
    }
}

/// `vouch plugin push`.
pub async fn push(
    wasm: &Path,
    reference: &str,
    sign_key: Option<&Path>,
    config: Option<&Path>,
) -> anyhow::Result<u8> {
    let key = sign_key.map(SigningKey::load).transpose()?;
    let bytes = crate::localfile::read_regular_file_capped_async(
        wasm,
        crate::localfile::MAX_WASM_BYTES,
        "verifier component",
    )
    .await?;
    let title = wasm
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "verifier.wasm".into());
    let runtime = small_runtime()?;
    // Loading proves it is a verifier component and yields the metadata for the annotations.
    let verifier = runtime
        .load_bytes(&title, bytes.clone(), Limits::default())
        .await
        .with_context(|| format!("{} is not a loadable verifier", wasm.display()))?;
    let plugins = client_for(config).await?;
    let pushed = match plugins
        .push(
            reference,
            Bytes::from(bytes),
            verifier.metadata(),
            &title,
            key.as_ref(),
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "pushed {}", pushed.reference)?;
    writeln!(out, "  manifest:  {}", pushed.manifest.digest)?;
    if let Some(sig) = &pushed.signature {
        writeln!(out, "  signature: {}", sig.digest)?;
    }
    if let Some(index) = &pushed.fallback_index {
        writeln!(
            out,
            "  referrers index (tag {}): {}",
            pushed.manifest.digest.fallback_tag(),
            index.digest
        )?;
    }
    Ok(EXIT_PASS)
}

/// `vouch plugin pull`.
pub async fn pull(
    reference: &str,
    key: Option<&Path>,
    out_file: Option<&Path>,
    config: Option<&Path>,
    json: bool,
) -> anyhow::Result<u8> {
    let keys = key.map(VerifyingKeys::load).transpose()?;
    let plugins = client_for(config).await?;
    let pulled = match plugins.pull(reference, keys.as_ref()).await {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    let runtime = small_runtime()?;
    let name = pulled
        .annotations
        .get(crate::plugin::ANNOTATION_NAME)
        .cloned()
        .unwrap_or_else(|| "plugin".into());
    let verifier = match load_plugin(&runtime, &name, &pulled, Limits::default()).await {
        Ok(v) => v,
        Err(e) => return refused(e),
    };
    if let Some(path) = out_file {
        tokio::fs::write(path, &pulled.wasm)
            .await
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let md = verifier.metadata();
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({
            "reference": pulled.reference.to_string(),
            "manifest": pulled.manifest,
            "layer": pulled.layer,
            "annotations": pulled.annotations,
            "metadata": md,
            "signedBy": pulled.signed_by,
            "fromCache": pulled.from_cache,
            "out": out_file,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(out, "pulled {}", pulled.reference)?;
        writeln!(out, "  name:           {}", md.name)?;
        writeln!(out, "  version:        {}", md.version)?;
        writeln!(out, "  artifact types: {}", md.artifact_types.join(", "))?;
        writeln!(out, "  module digest:  {}", verifier.module_digest())?;
        writeln!(out, "  size:           {} bytes", pulled.layer.size)?;
        writeln!(
            out,
            "  signature:      {}",
            pulled.signed_by.as_deref().unwrap_or("not checked")
        )?;
        if let Some(path) = out_file {
            writeln!(out, "  written to:     {}", path.display())?;
        }
    }
    if pulled.annotations.get(ANNOTATION_ARTIFACT_TYPES) != Some(&md.artifact_types.join(",")) {
        eprintln!(
            "warning: the artifact's `{ANNOTATION_ARTIFACT_TYPES}` annotation does not match the component's metadata"
        );
    }
    Ok(EXIT_PASS)
}

/// `vouch plugin keygen`: never overwrites an existing key.
pub fn keygen(dir: &Path) -> anyhow::Result<u8> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (private, public) = SigningKey::generate_pem()?;
    let private_path = dir.join(PRIVATE_KEY_FILE);
    let public_path = dir.join(PUBLIC_KEY_FILE);
    for p in [&private_path, &public_path] {
        if p.exists() {
            bail!("{} already exists; not overwriting a key", p.display());
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(&private_path)
        .with_context(|| format!("cannot create {}", private_path.display()))?;
    f.write_all(private.as_bytes())?;
    f.sync_all()?;
    std::fs::write(&public_path, public)
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "private key: {}", private_path.display())?;
    writeln!(out, "public key:  {}", public_path.display())?;
    Ok(EXIT_PASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_writes_a_usable_pair_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(keygen(dir.path()).unwrap(), EXIT_PASS);
        let private = dir.path().join(PRIVATE_KEY_FILE);
        let key = SigningKey::load(&private).unwrap();
        let keys = VerifyingKeys::load(&dir.path().join(PUBLIC_KEY_FILE)).unwrap();
        let digest = crate::oci::Digest::sha256_of(b"m");
        let payload = crate::plugin::simple_signing_payload("r/x", &digest);
        let sig = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            key.sign(&payload).unwrap(),
        );
        keys.verify_simple_signing(&payload, &sig, &digest).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&private).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let e = keygen(dir.path()).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
    }
}
