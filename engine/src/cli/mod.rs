//! The `vouch` command line: `verify`, `discover`, `inspect` and `serve`.
//!
//! Exit codes: 0 every subject passed (or the command succeeded), 1 a subject failed
//! verification, 2 a usage or configuration error, 3 a subject could not be resolved (registry
//! unreachable, refused or without that tag or digest; layout missing) and none failed
//! verification. Logs go to stderr, filtered by `RUST_LOG` (default `warn`).

pub(crate) mod attest;
pub(crate) mod blob;
mod discover;
mod inspect;
pub(crate) mod plugin;
pub(crate) mod push;
pub(crate) mod render;
pub(crate) mod scaffold;
mod serve;
pub(crate) mod shipped;
mod verify;

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::app::process::CompileCacheChoice;
use crate::config::Config;
use crate::executor::SubjectSource;
use crate::store::sources::Sources;
use discover::discover;
use inspect::inspect;
use serve::serve;
use verify::{VerifyOptions, verify, verify_blob, verify_loaded};

/// Exit code: every subject passed.
pub const EXIT_PASS: u8 = 0;
/// Exit code: a subject failed verification.
pub const EXIT_FAIL: u8 = 1;
/// Exit code: usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a subject could not be resolved (and no subject failed verification).
pub const EXIT_UNREACHABLE: u8 = 3;

/// `--help` text on exit codes (a macro so that `verify`'s help can append it).
macro_rules! exit_help {
    () => {
        "Exit codes: 0 every subject verified; 1 a subject failed verification; 2 usage or \
         configuration error; 3 a subject could not be resolved (registry unreachable or \
         refusing, tag or digest not found) and none failed verification."
    };
}

/// `--help` text on subjects (a macro so that `verify`'s help can append the exit codes).
macro_rules! subject_help {
    () => {
        "A subject is an image reference (`registry/repo:tag`, \
`registry/repo@sha256:<hex>`, `nginx`), read from its registry through the TTL caches with the \
config's `stores.registries` settings (plain HTTP only for loopback or `insecure` registries), or, \
with --oci-layout, an OCI image layout on disk named like notation does: `<dir>:<tag>` or \
`<dir>@sha256:<hex>`. With --file PATH (or --digest sha256:<hex>) and --bundle FILE, the subject is \
a local file and its Sigstore bundle, verified by the cosign verifier with cosign verify-blob's \
flags (see docs/sigstore.md)."
    };
}

const SUBJECT_HELP: &str = subject_help!();

/// Verifies the supply-chain artifacts (signatures, SBOMs, ...) attached to OCI images with
/// sandboxed WebAssembly verifiers.
#[derive(Debug, Parser)]
#[command(name = "vouch", version, about, long_about = None, after_help = exit_help!())]
struct Cli {
    /// Log format on stderr: `text`, or `json` (one JSON object per line, with the fields of
    /// the enclosing spans, among them the `trace_id` every verification is logged under and
    /// its report carries as `traceID`). What is logged is set by `RUST_LOG` (default `warn`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// Formats of the log on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line (tracing-subscriber's JSON formatter).
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify subjects: run the configured verifiers on every referrer, recursively.
    #[command(after_help = concat!(subject_help!(), "\n\n", exit_help!()))]
    Verify {
        /// Subjects to verify: image references, or `<dir>:<tag>` / `<dir>@<digest>` with --oci-layout.
        #[arg(required_unless_present_any = ["file", "digest"])]
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
        /// Verify as `vouch serve` would for a pod in this namespace: with the configuration of
        /// the tenant owning it (else the top level).
        #[arg(long, short = 'n')]
        namespace: Option<String>,
        /// Compile the verifiers afresh: no compile cache (by default compiled verifiers are
        /// kept in the config's disk cache, else in `$VOUCH_CACHE_DIR`, `$XDG_CACHE_HOME/vouch`
        /// or `~/.cache/vouch`, so the next run starts in milliseconds).
        #[arg(long)]
        no_cache: bool,
        /// A local file and its Sigstore bundle instead of image subjects.
        #[command(flatten)]
        blob: blob::BlobArgs,
        /// Signed verification summaries (SLSA VSA) of the verdicts.
        #[command(flatten)]
        attest: Box<attest::AttestArgs>,
    },
    /// Show a subject's referrer graph without verifying anything.
    #[command(after_help = SUBJECT_HELP)]
    Discover {
        /// The subject: an image reference, or `<dir>:<tag>` / `<dir>@<digest>` with --oci-layout.
        subject: String,
        /// Treat the subject as an OCI image layout directory.
        #[arg(long)]
        oci_layout: bool,
        /// Configuration file for registry settings (defaults apply when absent).
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Levels of referrers-of-referrers to show below the subject's referrers.
        #[arg(long, default_value_t = 3)]
        depth: u32,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Tree)]
        output: Output,
    },
    /// Serve Gatekeeper's external data provider protocol (verify and mutate): plain HTTP, or
    /// TLS 1.3 (optionally mTLS) with --tls-cert/--tls-key.
    Serve {
        /// Configuration file (YAML, or JSON when it ends in `.json`).
        #[arg(long, short = 'c', default_value = "vouch.yaml")]
        config: PathBuf,
        /// Address to listen on (plain HTTP unless --tls-cert).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Deadline of a verify request, in milliseconds.
        #[arg(long, default_value_t = 2900)]
        verify_timeout_ms: u64,
        /// Deadline of a mutate request, in milliseconds.
        #[arg(long, default_value_t = 950)]
        mutate_timeout_ms: u64,
        /// How often to check the config file for changes, in milliseconds (SIGHUP reloads at
        /// once; 0 disables polling).
        #[arg(long, default_value_t = 5000)]
        reload_interval_ms: u64,
        /// PEM certificate chain to serve over TLS 1.3 (server certificate first); reloaded
        /// when the file changes. Needs --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert (PKCS#8, PKCS#1 RSA or SEC1 EC; unencrypted).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// PEM bundle of CAs whose client certificates are required (mTLS), e.g. Gatekeeper's CA.
        #[arg(long, requires = "tls_cert")]
        tls_client_ca: Option<PathBuf>,
        /// Also serve `/healthz`, `/readyz` and `/metrics` over plain HTTP on this address (for
        /// kubelet probes, which present no client certificate to an mTLS port).
        #[arg(long)]
        health_listen: Option<std::net::SocketAddr>,
        /// Signed verification summaries of fresh verdicts.
        #[command(flatten)]
        attest: attest::ServeAttestArgs,
    },
    /// Describe a verifier component: metadata, imports, exports, size, digest, default limits.
    Inspect {
        /// The verifier's `.wasm` file.
        wasm: PathBuf,
        /// Output format (`tree` prints text).
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Tree)]
        output: Output,
    },
    /// Push, pull and sign verifiers shipped as OCI artifacts (see docs/plugins.md).
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Push an OCI image layout to a registry: its tagged images and every referrer
    /// (signatures, SBOMs, ...), with the referrers tag-schema index a registry without the
    /// referrers API needs. Exit 3 when the registry refuses or cannot be reached.
    Push(push::PushArgs),
    /// Sign an image in a registry with a key (a cosign simple-signing signature attached as
    /// an OCI 1.1 referrer); `vouch verify IMAGE --key KEY.pub` verifies it.
    Sign(push::SignArgs),
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
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let code = match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
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

/// `e` and its causes on one line, `: `-separated, skipping a cause whose text is already
/// printed (an error that formats its source into its own message would otherwise repeat it).
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // `span` is the innermost span, `spans` all of them from the root: the trace id is
        // on the outermost (the request's or the command's).
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}

/// Run a command; `Err` is a usage or configuration error.
async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Verify {
            subjects,
            oci_layout,
            config,
            output,
            namespace,
            no_cache,
            blob,
            attest,
        } => {
            let compile_cache = if no_cache {
                CompileCacheChoice::Off
            } else {
                CompileCacheChoice::UserDefault
            };
            let attestor = attest::Attestor::new(&attest, &config, oci_layout)?;
            if attestor.is_some() && blob.is_blob() {
                bail!("--attest-verdict summarizes image verdicts, not --file/--bundle ones");
            }
            let options = VerifyOptions {
                oci_layout,
                output,
                compile_cache,
                attestor: attestor.as_ref(),
            };
            if blob.is_blob() {
                verify_blob(&blob, &config, options).await
            } else if blob.stray_flags() {
                bail!(
                    "--bundle verifies a local file (give --file PATH or --digest \
                     sha256:<hex>); --trusted-root and --verifier go with --key, the \
                     --certificate-* flags or --notation-home"
                )
            } else if blob.image_trust() {
                let flags = blob.image_config(&config)?;
                verify_loaded(&subjects, &config, flags, "flags", options).await
            } else {
                verify(&subjects, &config, namespace.as_deref(), options).await
            }
        }
        Command::Discover {
            subject,
            oci_layout,
            config,
            depth,
            output,
        } => discover(&subject, oci_layout, config.as_deref(), depth, output).await,
        Command::Inspect { wasm, output } => inspect(&wasm, output).await,
        Command::Plugin(command) => plugin::run(command).await,
        Command::Push(a) => push::push(&a.layout, &a.repository, a.config.as_deref()).await,
        Command::Sign(a) => push::sign(&a.reference, &a.key, a.config.as_deref()).await,
        Command::Serve {
            config,
            listen,
            verify_timeout_ms,
            mutate_timeout_ms,
            reload_interval_ms,
            tls_cert,
            tls_key,
            tls_client_ca,
            health_listen,
            attest,
        } => {
            let settings = crate::server::ServerSettings {
                verify_timeout: std::time::Duration::from_millis(verify_timeout_ms),
                mutate_timeout: std::time::Duration::from_millis(mutate_timeout_ms),
                ..crate::server::ServerSettings::default()
            };
            let reload = std::time::Duration::from_millis(reload_interval_ms);
            let tls = tls_cert.zip(tls_key).map(|(cert, key)| {
                let tls = crate::server::tls::TlsSettings::new(cert, key);
                match tls_client_ca {
                    Some(ca) => tls.with_client_ca(ca),
                    None => tls,
                }
            });
            let attest = attest.options(&config)?;
            serve(
                &config,
                listen,
                settings,
                reload,
                tls,
                health_listen,
                attest,
            )
            .await
        }
    }
}

/// Docker's credentials file where docker, oras, notation and cosign look for it:
/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; `None` when there is none.
pub fn user_docker_config() -> Option<PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
    };
    Some(dir.join("config.json")).filter(|f| f.is_file())
}

/// The CLI reads registry credentials as docker does: every registry entry of `config` without
/// credentials of its own (no `username`, no `dockerConfig`) uses `docker_config`. Only for the
/// CLI: `vouch serve` uses exactly the credentials each tenant's configuration names.
fn with_user_credentials(config: &mut Config, docker_config: Option<PathBuf>) {
    let Some(file) = docker_config else {
        return;
    };
    let registries = &mut config.stores.registries;
    for settings in std::iter::once(&mut registries.default).chain(registries.hosts.values_mut()) {
        if settings.username.is_none() && settings.docker_config.is_none() {
            settings.docker_config = Some(file.clone());
        }
    }
}

/// The source of one subject as the user named it.
fn source(sources: &Sources, subject: &str, oci_layout: bool) -> anyhow::Result<SubjectSource> {
    Ok(if oci_layout {
        sources.layout(subject)?
    } else {
        sources.registry(subject)?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_prints_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file (os error 2)");
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read x.wasm: {source}")]
        struct Read {
            source: std::io::Error,
        }
        let e = anyhow::Error::new(Read { source: io }).context("verifier `a`");
        assert_eq!(
            error_chain(&e),
            "verifier `a`: cannot read x.wasm: No such file (os error 2)"
        );
    }

    /// Entries with credentials of their own keep them; the others read the user's file.
    #[test]
    fn the_cli_falls_back_to_the_users_docker_credentials() {
        let mut config: Config = serde_yaml_ng::from_str(
            "stores:\n  registries:\n    hosts:\n      \
             a.example: { username: u, password: p }\n      \
             b.example: { dockerConfig: /etc/b.json }\n      \
             c.example: { insecure: true }\n",
        )
        .unwrap();
        let mine = PathBuf::from("/home/me/.docker/config.json");
        with_user_credentials(&mut config, Some(mine.clone()));
        let r = &config.stores.registries;
        assert_eq!(r.default.docker_config.as_ref(), Some(&mine));
        assert_eq!(r.hosts["a.example"].docker_config, None);
        assert_eq!(
            r.hosts["b.example"].docker_config,
            Some(PathBuf::from("/etc/b.json"))
        );
        assert_eq!(r.hosts["c.example"].docker_config.as_ref(), Some(&mine));
        let before = config.clone();
        with_user_credentials(&mut config, None);
        assert_eq!(config, before);
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
