//! The `vouch` command line: `verify`, `discover`, `inspect` and `serve`.
//!
//! Exit codes: 0 every subject passed (or the command succeeded), 1 a subject failed
//! verification, 2 a usage or configuration error, 3 a subject could not be resolved (registry
//! unreachable, refused or without that tag or digest; layout missing) and none failed
//! verification. Logs go to stderr, filtered by `RUST_LOG` (default `warn`).

pub mod blob;
pub mod plugin;
pub mod render;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::app::build;
use crate::config::Config;
use crate::executor::{self, Executor, SubjectSource};
use crate::report::SubjectReport;
use crate::runtime::{Limits, Runtime, RuntimeConfig};
use crate::store::disk::{DiskCache, DiskCacheConfig};
use crate::store::sources::Sources;
use render::render_tree;

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
    #[command(subcommand)]
    command: Command,
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
            namespace,
            no_cache,
            blob,
        } => {
            let compile_cache = if no_cache {
                CompileCacheChoice::Off
            } else {
                CompileCacheChoice::UserDefault
            };
            let options = VerifyOptions {
                oci_layout,
                output,
                compile_cache,
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
            serve(&config, listen, settings, reload, tls, health_listen).await
        }
    }
}

/// The disk cache `config` asks for, opened (once per process: readers and the writer task).
async fn open_disk(config: &Config) -> anyhow::Result<Option<DiskCache>> {
    let Some(dir) = config.disk_cache_dir() else {
        return Ok(None);
    };
    let disk = DiskCache::open(&dir, DiskCacheConfig::default())
        .await
        .with_context(|| format!("cannot open the disk cache {}", dir.display()))?;
    Ok(Some(disk))
}

/// Wait (bounded by `stores.diskCacheFlushTimeoutMs`) for the background writes of the disk
/// cache, so content this process already used is in the cache index when it exits; then stop
/// the writer. A timeout is logged, never an error of the command.
pub async fn close_disk(disk: Option<DiskCache>, config: &Config) {
    if let Some(disk) = disk {
        // `close` logs what went wrong; the command's outcome does not depend on the cache.
        let _ = disk.close(config.stores.disk_cache_flush_timeout()).await;
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

/// Progress on stderr while subjects are verified, only when stderr is a terminal (never in
/// pipes, CI logs or JSON consumers' captures).
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(subjects: usize) -> Self {
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(subjects as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} verifying {pos}/{len} subjects {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        Progress(Some(bar))
    }

    fn done(&self, report: &SubjectReport) {
        if let Some(bar) = &self.0 {
            bar.set_message(report.subject.clone());
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Where `vouch verify` keeps compiled verifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompileCacheChoice {
    /// The config's (inside its disk cache), else the user's cache directory (see
    /// [`user_compile_cache`]).
    UserDefault,
    /// None: compile every verifier afresh (`--no-cache`).
    Off,
}

/// The compile cache in the user's cache directory: `compiled/` in `$VOUCH_CACHE_DIR`, else in
/// `$XDG_CACHE_HOME/vouch`, else in `$HOME/.cache/vouch` (relative paths are ignored, as the XDG
/// specification says), created private to the user. `None` (every run compiles afresh, said
/// in a warning) when no such directory can be made safe: deserializing native code is only
/// sound from a directory no one else can write.
pub fn user_compile_cache() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = var("VOUCH_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("vouch")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("vouch")))?;
    let dir = base.join("compiled");
    match private_dir(&dir) {
        Ok(()) => Some(dir),
        Err(why) => {
            tracing::warn!(dir = %dir.display(), why, "not caching compiled verifiers");
            None
        }
    }
}

/// Create `dir` (mode 0700, parents as needed) unless it exists, then check that it is a
/// directory (not a symlink) owned by this user and writable by no one else.
fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create it: {e}"))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot stat it: {e}"))?;
    if !meta.is_dir() {
        return Err("it is not a directory".into());
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(format!(
            "it is owned by uid {}, not by this user",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "it is writable by others (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
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

/// The executor `config` (loaded from `config_path`, named in errors) describes: runtime,
/// verifiers (loaded and config-checked), policy and settings.
pub async fn executor_for(
    config: &Config,
    config_path: &Path,
    disk: Option<&DiskCache>,
    compile_cache: CompileCacheChoice,
) -> anyhow::Result<Executor> {
    let revocation = build::revocation(config, disk)
        .with_context(|| format!("config file {}", config_path.display()))?;
    let mut runtime_config = build::runtime_config(config);
    match compile_cache {
        CompileCacheChoice::Off => runtime_config.compile_cache_dir = None,
        CompileCacheChoice::UserDefault if runtime_config.compile_cache_dir.is_none() => {
            runtime_config.compile_cache_dir = user_compile_cache();
        }
        CompileCacheChoice::UserDefault => {}
    }
    let runtime = Runtime::new(runtime_config)
        .context("cannot create the verifier runtime")?
        .with_revocation(revocation);
    build::executor(&runtime, config, "")
        .await
        .with_context(|| format!("config file {}", config_path.display()))
}

/// `vouch serve`: load every tenant, then serve until SIGTERM or ctrl-c, reloading the
/// configuration on SIGHUP or when the file changes.
async fn serve(
    config_path: &Path,
    listen: std::net::SocketAddr,
    settings: crate::server::ServerSettings,
    reload_interval: std::time::Duration,
    tls: Option<crate::server::tls::TlsSettings>,
    health_listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<u8> {
    use std::sync::Arc;

    use crate::app::reload::Reloader;
    use crate::server::metrics::Metrics;
    use crate::server::tenants::TenantSet;

    if settings.verify_timeout.is_zero() || settings.mutate_timeout.is_zero() {
        bail!("--verify-timeout-ms and --mutate-timeout-ms must be at least 1");
    }
    if let Some(tls) = &tls {
        // Fail before loading verifiers when the certificate, key or CA bundle is unusable.
        crate::server::tls::TlsConfig::load(tls)?;
    }
    let config = Config::load(config_path)?;
    let disk = open_disk(&config).await?;
    let tenants = TenantSet::build(&config, disk.as_ref())
        .await
        .with_context(|| format!("config file {}", config_path.display()))?;
    let tenants = Arc::new(arc_swap::ArcSwap::from_pointee(tenants));
    let metrics = Arc::new(Metrics::default());
    let exit_disk = disk.clone();
    let reloader = Arc::new(Reloader::new(
        config_path,
        &config,
        tenants.clone(),
        metrics.clone(),
        disk,
    ));
    let watcher = reloader.spawn(Some(reload_interval).filter(|i| !i.is_zero()));
    let health = match health_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--health-listen)"))?;
            let router = crate::server::health_router(tenants.clone(), metrics.clone());
            Some(tokio::spawn(crate::server::serve(
                listener,
                router,
                crate::server::shutdown_signal(),
            )))
        }
        None => None,
    };
    let router = crate::server::router_with_tenants(tenants, metrics, settings);
    let served = match tls {
        Some(tls) => match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => crate::server::tls::serve_tls(
                listener,
                router,
                tls,
                crate::server::shutdown_signal(),
            )
            .await
            .map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::Error::from(e).context(format!("cannot listen on {listen}"))),
        },
        None => crate::server::run(listen, router)
            .await
            .map_err(anyhow::Error::from),
    };
    watcher.abort();
    if let Some(health) = health {
        health.abort();
    }
    // In-flight requests have finished: wait for the disk writes they started.
    close_disk(exit_disk, &config).await;
    served?;
    Ok(EXIT_PASS)
}

/// How `vouch verify` runs, besides its subjects and configuration.
#[derive(Clone, Copy, Debug)]
struct VerifyOptions {
    oci_layout: bool,
    output: Output,
    compile_cache: CompileCacheChoice,
}

async fn verify(
    subjects: &[String],
    config_path: &Path,
    namespace: Option<&str>,
    options: VerifyOptions,
) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let (tenant, config) = config.for_namespace(namespace.unwrap_or_default());
    verify_loaded(subjects, config_path, config, &tenant, options).await
}

/// `vouch verify` with `config` (of `tenant`; loaded from `config_path`, named in errors).
async fn verify_loaded(
    subjects: &[String],
    config_path: &Path,
    mut config: Config,
    tenant: &str,
    options: VerifyOptions,
) -> anyhow::Result<u8> {
    with_user_credentials(&mut config, user_docker_config());
    if config.verifiers.is_empty() {
        bail!(
            "config file {}: tenant `{tenant}` has no verifiers: nothing could verify a subject",
            config_path.display()
        );
    }
    tracing::debug!(tenant, "verifying with this tenant's configuration");
    let disk = open_disk(&config).await?;
    let outcome = match build::sources(&config, disk.as_ref()) {
        Ok(resolver) => match subjects
            .iter()
            .map(|s| source(&resolver, s, options.oci_layout))
            .collect::<anyhow::Result<Vec<_>>>()
        {
            Ok(sources) => verify_with(sources, config_path, &config, disk.as_ref(), options).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e.into()),
    };
    close_disk(disk, &config).await;
    outcome
}

/// `vouch verify --file PATH --bundle FILE` (or `--digest`): the cosign verifier, configured by
/// the flags, on the file and its bundle.
async fn verify_blob(
    args: &blob::BlobArgs,
    config_path: &Path,
    options: VerifyOptions,
) -> anyhow::Result<u8> {
    let config = args.config(config_path)?;
    let source = args.source().await?;
    let disk = open_disk(&config).await?;
    let outcome = verify_with(vec![source], config_path, &config, disk.as_ref(), options).await;
    close_disk(disk, &config).await;
    outcome
}

/// `vouch verify` once the configuration and the disk cache are open and the subjects named.
async fn verify_with(
    sources: Vec<SubjectSource>,
    config_path: &Path,
    config: &Config,
    disk: Option<&DiskCache>,
    options: VerifyOptions,
) -> anyhow::Result<u8> {
    let executor = executor_for(config, config_path, disk, options.compile_cache).await?;
    let progress = Progress::new(sources.len());
    let reports: Vec<SubjectReport> =
        futures::future::join_all(sources.into_iter().map(|s| async {
            let report = executor.verify(s).await;
            progress.done(&report);
            report
        }))
        .await;
    progress.finish();
    let code = exit_code(&reports);
    let mut out = std::io::stdout().lock();
    match options.output {
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
    Ok(code)
}

/// The exit code of `vouch verify` for these reports: a failed verification (1) outranks a
/// subject that could not be resolved (3), which outranks success (0).
fn exit_code(reports: &[SubjectReport]) -> u8 {
    let failed = |r: &&SubjectReport| !r.is_success;
    if reports.iter().filter(failed).any(|r| r.digest.is_some()) {
        EXIT_FAIL
    } else if reports.iter().any(|r| !r.is_success) {
        EXIT_UNREACHABLE
    } else {
        EXIT_PASS
    }
}

async fn discover(
    subject: &str,
    oci_layout: bool,
    config_path: Option<&Path>,
    depth: u32,
    output: Output,
) -> anyhow::Result<u8> {
    let mut config = match config_path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    with_user_credentials(&mut config, user_docker_config());
    let disk = open_disk(&config).await?;
    let outcome = discover_with(subject, oci_layout, depth, output, &config, disk.as_ref()).await;
    close_disk(disk, &config).await;
    outcome
}

/// `vouch discover` once the configuration and the disk cache are open.
async fn discover_with(
    subject: &str,
    oci_layout: bool,
    depth: u32,
    output: Output,
    config: &Config,
    disk: Option<&DiskCache>,
) -> anyhow::Result<u8> {
    let source = source(&build::sources(config, disk)?, subject, oci_layout)?;
    let settings = executor::Settings::from(&config.executor);
    let resolved = tokio::time::timeout(
        settings.deadline,
        source.store.resolve(&source.tag_or_digest),
    )
    .await;
    let desc = match resolved {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            eprintln!("error: cannot resolve `{subject}`: {e}");
            return Ok(EXIT_FAIL);
        }
        Err(_) => {
            eprintln!(
                "error: cannot resolve `{subject}`: the {} ms deadline (executor.deadlineMs) passed",
                settings.deadline.as_millis()
            );
            return Ok(EXIT_FAIL);
        }
    };
    let nodes = match executor::discover(source.store.clone(), &desc.digest, depth, &settings).await
    {
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
            render::render_discovery(subject, &desc.digest, &nodes)
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

    fn subject(digest: Option<&str>, ok: bool) -> SubjectReport {
        SubjectReport {
            subject: "r/x:1".into(),
            digest: digest.map(str::to_owned),
            is_success: ok,
            message: String::new(),
            verifier_reports: Vec::new(),
            timings: Default::default(),
            cached: false,
        }
    }

    /// 1 (a verification failed) outranks 3 (a subject could not be resolved) outranks 0.
    #[test]
    fn exit_codes_rank_a_failed_verification_first() {
        let pass = subject(Some("sha256:aa"), true);
        let fail = subject(Some("sha256:bb"), false);
        let unresolved = subject(None, false);
        assert_eq!(exit_code(std::slice::from_ref(&pass)), EXIT_PASS);
        assert_eq!(
            exit_code(&[pass.clone(), unresolved.clone()]),
            EXIT_UNREACHABLE
        );
        assert_eq!(exit_code(&[unresolved.clone(), fail.clone()]), EXIT_FAIL);
        assert_eq!(exit_code(&[fail, pass]), EXIT_FAIL);
    }

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

    /// Compiled native code is only loaded from a directory no one else can write.
    #[test]
    fn the_user_compile_cache_must_be_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/compiled");
        private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = private_dir(&dir).unwrap_err();
        assert!(e.contains("writable by others (mode 777)"), "{e}");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path(), &link).unwrap();
        assert_eq!(private_dir(&link).unwrap_err(), "it is not a directory");
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(
            private_dir(&file)
                .unwrap_err()
                .starts_with("cannot create it")
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
