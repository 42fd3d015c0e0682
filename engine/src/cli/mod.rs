//! The `vouch` command line: `verify`, `discover` and `inspect`.
//!
//! Exit codes: 0 every subject passed (or the command succeeded), 1 a subject failed (or could
//! not be found), 2 a usage or configuration error. Logs go to stderr, filtered by `RUST_LOG`
//! (default `warn`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, LayoutStoreConfig};
use crate::executor::report::{SubjectReport, render_tree};
use crate::executor::{self, Executor, Settings, SubjectSource};
use crate::oci::Digest;
use crate::runtime::{Limits, Runtime, RuntimeConfig};
use crate::store::{LayoutStore, StoreAccess};

/// Exit code: every subject passed.
pub const EXIT_PASS: u8 = 0;
/// Exit code: a subject failed verification.
pub const EXIT_FAIL: u8 = 1;
/// Exit code: usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

const SUBJECT_HELP: &str = "Subjects are OCI image layouts on disk, named like notation does: \
`--oci-layout <dir>:<tag>` or `--oci-layout <dir>@sha256:<hex>`. Registry references \
(`registry/repo:tag`) are not supported yet by the CLI: they are rejected with an error.";

/// Verifies the supply-chain artifacts (signatures, SBOMs, ...) attached to OCI images with
/// sandboxed WebAssembly verifiers.
#[derive(Debug, Parser)]
#[command(name = "vouch", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify subjects: run the configured verifiers on every referrer, recursively.
    #[command(after_help = SUBJECT_HELP)]
    Verify {
        /// Subjects to verify (`<dir>:<tag>` or `<dir>@<digest>` with --oci-layout).
        #[arg(required = true)]
        subjects: Vec<String>,
        /// Treat the subjects as OCI image layout directories.
        #[arg(long)]
        oci_layout: bool,
        /// Configuration file (YAML, or JSON when it ends in `.json`).
        #[arg(long, short = 'c', default_value = "vouch.yaml")]
        config: PathBuf,
        /// Output format: JSON (Ratify v1 compatible; an array for several subjects) or a tree.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Tree)]
        output: Output,
    },
    /// Show a subject's referrer graph without verifying anything.
    #[command(after_help = SUBJECT_HELP)]
    Discover {
        /// The subject (`<dir>:<tag>` or `<dir>@<digest>` with --oci-layout).
        subject: String,
        /// Treat the subject as an OCI image layout directory.
        #[arg(long)]
        oci_layout: bool,
        /// Levels of referrers-of-referrers to show below the subject's referrers.
        #[arg(long, default_value_t = 3)]
        depth: u32,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Tree)]
        output: Output,
    },
    /// Describe a verifier component: metadata, imports, exports, size, digest, default limits.
    Inspect {
        /// The verifier's `.wasm` file.
        wasm: PathBuf,
        /// Output format (`tree` prints text).
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Tree)]
        output: Output,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// JSON on stdout.
    Json,
    /// Human-readable tree.
    Tree,
}

/// Entry point of the `vouch` binary.
pub fn main() -> anyhow::Result<()> {
    init_tracing();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let code = match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_USAGE
        }
    };
    drop(rt);
    std::io::stdout().flush().ok();
    if code != EXIT_PASS {
        std::process::exit(i32::from(code));
    }
    Ok(())
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Run a command; `Err` is a usage or configuration error.
async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Verify {
            subjects,
            oci_layout,
            config,
            output,
        } => verify(&subjects, oci_layout, &config, output).await,
        Command::Discover {
            subject,
            oci_layout,
            depth,
            output,
        } => discover(&subject, oci_layout, depth, output).await,
        Command::Inspect { wasm, output } => inspect(&wasm, output).await,
    }
}

/// A subject on disk: the layout directory and the tag or digest in it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LayoutSubject {
    dir: PathBuf,
    tag_or_digest: String,
}

/// Parse `<dir>:<tag>` or `<dir>@<algorithm>:<hex>`.
fn parse_layout_subject(s: &str) -> anyhow::Result<LayoutSubject> {
    let form = "an OCI layout subject is `<dir>:<tag>` or `<dir>@sha256:<hex>`";
    if let Some((dir, digest)) = s.rsplit_once('@') {
        let d: Digest = digest
            .parse()
            .with_context(|| format!("`{s}`: invalid digest `{digest}` ({form})"))?;
        if dir.is_empty() {
            bail!("`{s}`: missing the layout directory ({form})");
        }
        return Ok(LayoutSubject {
            dir: dir.into(),
            tag_or_digest: d.to_string(),
        });
    }
    match s.rsplit_once(':') {
        Some((dir, tag)) if !dir.is_empty() && !tag.is_empty() && !tag.contains('/') => {
            Ok(LayoutSubject {
                dir: dir.into(),
                tag_or_digest: tag.to_owned(),
            })
        }
        _ => bail!("`{s}`: missing `:<tag>` or `@<digest>` ({form})"),
    }
}

/// Open the subject's layout as a store source.
fn layout_source(s: &str, caps: &LayoutStoreConfig) -> anyhow::Result<SubjectSource> {
    let subject = parse_layout_subject(s)?;
    let store = LayoutStore::open(&subject.dir, caps.limits())
        .with_context(|| format!("cannot open the OCI layout `{}`", subject.dir.display()))?;
    let canonical = std::fs::canonicalize(&subject.dir).unwrap_or_else(|_| subject.dir.clone());
    Ok(SubjectSource {
        store: Arc::new(store),
        scope: format!("oci-layout:{}", canonical.display()),
        tag_or_digest: subject.tag_or_digest,
        reference: s.to_owned(),
    })
}

fn registry_not_supported(subject: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`{subject}`: registry subjects are not supported by the CLI yet; \
         pass an OCI layout with `--oci-layout <dir>:<tag>` or `--oci-layout <dir>@<digest>`"
    )
}

/// A runtime sized for `config`'s verifiers and executor.
fn runtime_for(config: &Config) -> anyhow::Result<Runtime> {
    let max_memory = config
        .verifiers
        .iter()
        .map(|v| v.limits.memory_bytes)
        .chain([RuntimeConfig::default().max_memory_bytes])
        .max()
        .unwrap_or_default();
    let slots = u32::try_from(config.executor.concurrency)
        .unwrap_or(u32::MAX)
        .clamp(4, 1000);
    Runtime::new(RuntimeConfig {
        max_instances: slots,
        max_concurrency: slots as usize,
        max_memory_bytes: max_memory,
        max_nesting_depth: config.executor.max_depth,
        ..RuntimeConfig::default()
    })
    .context("cannot create the verifier runtime")
}

async fn verify(
    subjects: &[String],
    oci_layout: bool,
    config_path: &Path,
    output: Output,
) -> anyhow::Result<u8> {
    if !oci_layout {
        return Err(registry_not_supported(&subjects[0]));
    }
    let config = Config::load(config_path)?;
    if config.verifiers.is_empty() {
        bail!(
            "config file {}: `verifiers` is empty: nothing could verify a subject",
            config_path.display()
        );
    }
    let sources = subjects
        .iter()
        .map(|s| layout_source(s, &config.stores.layouts))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let runtime = runtime_for(&config)?;
    let verifiers = executor::load_verifiers(&runtime, &config)
        .await
        .with_context(|| format!("config file {}", config_path.display()))?;
    let executor = Executor::new(runtime, verifiers, Settings::from(&config.executor));
    let reports: Vec<SubjectReport> =
        futures::future::join_all(sources.into_iter().map(|s| executor.verify(s))).await;
    let all_pass = reports.iter().all(|r| r.is_success);
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => {
            let json = if reports.len() == 1 {
                serde_json::to_string_pretty(&reports[0])
            } else {
                serde_json::to_string_pretty(&reports)
            }?;
            writeln!(out, "{json}")?;
        }
        Output::Tree => {
            for r in &reports {
                write!(out, "{}", render_tree(r))?;
            }
        }
    }
    Ok(if all_pass { EXIT_PASS } else { EXIT_FAIL })
}

async fn discover(
    subject: &str,
    oci_layout: bool,
    depth: u32,
    output: Output,
) -> anyhow::Result<u8> {
    if !oci_layout {
        return Err(registry_not_supported(subject));
    }
    let source = layout_source(subject, &LayoutStoreConfig::default())?;
    let desc = match source.store.resolve(&source.tag_or_digest).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot resolve `{subject}`: {e}");
            return Ok(EXIT_FAIL);
        }
    };
    let store: &dyn StoreAccess = source.store.as_ref();
    let nodes = match executor::discover(store, &desc.digest, depth).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: cannot list the referrers of `{subject}`: {e}");
            return Ok(EXIT_FAIL);
        }
    };
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => {
            let json = serde_json::json!({
                "subject": subject,
                "descriptor": desc,
                "referrers": nodes,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        }
        Output::Tree => write!(
            out,
            "{}",
            executor::render_discovery(subject, &desc.digest, &nodes)
        )?,
    }
    Ok(EXIT_PASS)
}

async fn inspect(wasm: &Path, output: Output) -> anyhow::Result<u8> {
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 4,
        max_concurrency: 4,
        ..RuntimeConfig::default()
    })
    .context("cannot create the verifier runtime")?;
    let limits = Limits::default();
    let name = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "verifier".into());
    let verifier = runtime.load_file(&name, wasm, limits.clone()).await?;
    let (imports, exports) = verifier.component_interface(&runtime);
    let md = verifier.metadata();
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => {
            let json = serde_json::json!({
                "path": wasm,
                "metadata": md,
                "moduleDigest": verifier.module_digest().to_string(),
                "sizeBytes": verifier.wasm_size(),
                "imports": imports,
                "exports": exports,
                "defaultLimits": limits,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        }
        Output::Tree => {
            writeln!(out, "{}", wasm.display())?;
            writeln!(out, "  name:           {}", md.name)?;
            writeln!(out, "  version:        {}", md.version)?;
            writeln!(out, "  artifact types: {}", md.artifact_types.join(", "))?;
            writeln!(
                out,
                "  config schema:  {}",
                if md.config_schema.is_some() {
                    "published"
                } else {
                    "none"
                }
            )?;
            writeln!(out, "  module digest:  {}", verifier.module_digest())?;
            writeln!(out, "  size:           {} bytes", verifier.wasm_size())?;
            writeln!(out, "  imports:")?;
            for i in &imports {
                writeln!(out, "    {i}")?;
            }
            writeln!(out, "  exports:")?;
            for e in &exports {
                writeln!(out, "    {e}")?;
            }
            writeln!(out, "  default limits: {}", serde_json::to_string(&limits)?)?;
        }
    }
    Ok(EXIT_PASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_layout_subjects() {
        let hex = "a".repeat(64);
        assert_eq!(
            parse_layout_subject("/tmp/l:v1").unwrap(),
            LayoutSubject {
                dir: "/tmp/l".into(),
                tag_or_digest: "v1".into()
            }
        );
        let s = parse_layout_subject(&format!("dir@sha256:{hex}")).unwrap();
        assert_eq!(s.dir, PathBuf::from("dir"));
        assert_eq!(s.tag_or_digest, format!("sha256:{hex}"));
        for bad in ["dir", "dir@sha256:zz", ":v1", "dir:", "a:b/c", "@sha256:00"] {
            assert!(parse_layout_subject(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
