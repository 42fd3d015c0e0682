//! `vouch verify`: subjects (images, layouts, or a file with its bundle) verified by the
//! configuration's verifiers, printed as a tree or JSON, with the exit code the outcome earns.

use std::io::Write as _;
use std::path::Path;

use anyhow::bail;

use super::attest::Attestor;
use super::render::render_tree;
use super::{
    EXIT_FAIL, EXIT_PASS, EXIT_UNREACHABLE, Output, blob, source, user_docker_config,
    with_user_credentials,
};
use crate::app::build;
use crate::app::process::{CompileCacheChoice, close_disk, executor_for, open_disk};
use crate::config::Config;
use crate::executor::SubjectSource;
use crate::plugin::PluginClient;
use crate::report::ratify::new_trace_id;
use crate::report::{SubjectReport, TracedReport};
use crate::store::disk::DiskCache;

/// How `vouch verify` runs, besides its subjects and configuration.
#[derive(Clone, Copy)]
pub(super) struct VerifyOptions<'a> {
    /// Subjects are OCI layouts on disk.
    pub(super) oci_layout: bool,
    /// How reports are printed.
    pub(super) output: Output,
    /// Where compiled verifiers are kept.
    pub(super) compile_cache: CompileCacheChoice,
    /// Signs (and publishes) a summary of each verdict, when asked to.
    pub(super) attestor: Option<&'a Attestor>,
}

pub(super) async fn verify(
    subjects: &[String],
    config_path: &Path,
    namespace: Option<&str>,
    options: VerifyOptions<'_>,
) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let (tenant, config) = config.for_namespace(namespace.unwrap_or_default());
    verify_loaded(subjects, config_path, config, &tenant, options).await
}

/// `vouch verify` with `config` (of `tenant`; loaded from `config_path`, named in errors).
pub(super) async fn verify_loaded(
    subjects: &[String],
    config_path: &Path,
    mut config: Config,
    tenant: &str,
    options: VerifyOptions<'_>,
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
            Ok(sources) => {
                let plugins = Some(build::plugin_client(&resolver));
                verify_with(
                    sources,
                    config_path,
                    &config,
                    disk.as_ref(),
                    plugins,
                    options,
                )
                .await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e.into()),
    };
    close_disk(disk, &config).await;
    outcome
}

/// `vouch verify --file PATH --bundle FILE` (or `--digest`): the cosign verifier, configured by
/// the flags, on the file and its bundle.
pub(super) async fn verify_blob(
    args: &blob::BlobArgs,
    config_path: &Path,
    options: VerifyOptions<'_>,
) -> anyhow::Result<u8> {
    let config = args.config(config_path)?;
    let source = args.source().await?;
    let disk = open_disk(&config).await?;
    let outcome = verify_with(
        vec![source],
        config_path,
        &config,
        disk.as_ref(),
        None,
        options,
    )
    .await;
    close_disk(disk, &config).await;
    outcome
}

/// `vouch verify` once the configuration and the disk cache are open and the subjects named.
async fn verify_with(
    sources: Vec<SubjectSource>,
    config_path: &Path,
    config: &Config,
    disk: Option<&DiskCache>,
    plugins: Option<PluginClient>,
    options: VerifyOptions<'_>,
) -> anyhow::Result<u8> {
    use tracing::Instrument as _;

    // One trace id per command, as `vouch serve` has one per request: on the log span of
    // everything this command does and in every report it prints.
    let trace_id = new_trace_id();
    let span = tracing::info_span!("verify", trace_id = %trace_id);
    let reports = async {
        let executor =
            executor_for(config, config_path, disk, options.compile_cache, plugins).await?;
        let progress = Progress::new(sources.len());
        let reports: Vec<SubjectReport> =
            futures::future::join_all(sources.into_iter().map(|s| async {
                let report = executor.verify(s).await;
                progress.done(&report);
                report
            }))
            .await;
        progress.finish();
        anyhow::Ok((reports, executor))
    }
    .instrument(span)
    .await?;
    let (reports, executor) = reports;
    let mut code = exit_code(&reports);
    if let Some(attestor) = options.attestor
        && let Some(worse) = attestor.attest(&reports, &executor, config).await?
        && code == EXIT_PASS
    {
        code = worse;
    }
    let mut out = std::io::stdout().lock();
    match options.output {
        Output::Json => {
            let traced: Vec<TracedReport> = reports
                .iter()
                .map(|report| TracedReport {
                    trace_id: &trace_id,
                    report,
                })
                .collect();
            let json = if traced.len() == 1 {
                serde_json::to_string_pretty(&traced[0])
            } else {
                serde_json::to_string_pretty(&traced)
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
pub(super) fn exit_code(reports: &[SubjectReport]) -> u8 {
    let failed = |r: &&SubjectReport| !r.is_success;
    if reports.iter().filter(failed).any(|r| r.digest.is_some()) {
        EXIT_FAIL
    } else if reports.iter().any(|r| !r.is_success) {
        EXIT_UNREACHABLE
    } else {
        EXIT_PASS
    }
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
}
