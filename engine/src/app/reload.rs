//! Configuration hot reload: on SIGHUP, or when the file's content changes (polled), the new
//! configuration is parsed, validated and *fully built* — every verifier compiled and
//! config-checked, every policy and registry client set up — before it replaces the served
//! [`TenantSet`] in one atomic swap. A configuration that fails any step is rejected with one
//! clear log line and the previous one keeps serving; requests in flight finish on the set they
//! started with.
//!
//! Polling the content (not the mtime) also catches Kubernetes ConfigMap updates, which swap a
//! symlink. Files the configuration refers to (`.wasm`, Rego, trust material) are read again on
//! every reload; a change to only those is picked up by SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::Digest as _;

use super::tenants::TenantsError;
use crate::config::{Config, ConfigError};
use crate::server::SharedTenants;
use crate::server::metrics::Metrics;
use crate::server::tenants::TenantSet;
use crate::store::disk::DiskCache;

/// Why a new configuration was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file could not be read, parsed or validated.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The configuration is valid but could not be built (a verifier failed to load, ...).
    #[error("config file {path}: {source}")]
    Build {
        /// The file.
        path: PathBuf,
        /// Why.
        source: TenantsError,
    },
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new configuration is being served.
    Applied,
    /// The file has not changed since the last attempt; nothing was done.
    Unchanged,
}

/// Reloads one configuration file into the served tenants.
pub struct Reloader {
    path: PathBuf,
    tenants: SharedTenants,
    metrics: Arc<Metrics>,
    disk: Option<DiskCache>,
    disk_dir: Option<PathBuf>,
    /// sha256 of the content last applied or rejected (a rejected file is not retried until it
    /// changes or SIGHUP asks).
    last: Mutex<Option<[u8; 32]>>,
}

impl Reloader {
    /// A reloader of `path` into `tenants`; `disk` is the process's disk cache (opened once at
    /// start from `initial.disk_cache_dir()`; changing it needs a restart). The file's current
    /// content is taken as already applied.
    pub fn new(
        path: &Path,
        initial: &Config,
        tenants: SharedTenants,
        metrics: Arc<Metrics>,
        disk: Option<DiskCache>,
    ) -> Reloader {
        Reloader {
            path: path.to_owned(),
            tenants,
            metrics,
            disk,
            disk_dir: initial.disk_cache_dir(),
            last: Mutex::new(
                crate::localfile::read_regular_file_capped(
                    path,
                    crate::localfile::MAX_CONFIG_FILE_BYTES,
                    "config file",
                )
                .ok()
                .map(|b| content_digest(&b)),
            ),
        }
    }

    /// Reload the file: when `force` (SIGHUP) even if its content did not change. On error the
    /// served tenants are untouched.
    pub async fn reload(&self, force: bool) -> Result<ReloadOutcome, ReloadError> {
        let bytes = crate::localfile::read_regular_file_capped_async(
            &self.path,
            crate::localfile::MAX_CONFIG_FILE_BYTES,
            "config file",
        )
        .await
        .map_err(|source| ConfigError::Read {
            path: self.path.clone(),
            source,
        })?;
        let digest = content_digest(&bytes);
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if !force && *last == Some(digest) {
                return Ok(ReloadOutcome::Unchanged);
            }
            *last = Some(digest);
        }
        let config = Config::load(&self.path)?;
        if config.disk_cache_dir() != self.disk_dir {
            tracing::warn!(
                config = %self.path.display(),
                "stores.diskCache changed: the disk cache directory is only opened at start; keeping the current one until a restart"
            );
        }
        let previous = self.tenants.load_full();
        let set = TenantSet::build_after(&config, self.disk.as_ref(), Some(&previous))
            .await
            .map_err(|source| ReloadError::Build {
                path: self.path.clone(),
                source,
            })?;
        let tenants: Vec<String> = set.iter().map(|t| t.name().to_owned()).collect();
        let verifiers = set.verifier_count();
        self.tenants.store(Arc::new(set));
        tracing::info!(
            config = %self.path.display(),
            tenants = ?tenants,
            verifiers,
            "configuration reloaded"
        );
        Ok(ReloadOutcome::Applied)
    }

    /// Reload, logging and counting the outcome.
    async fn reload_logged(&self, force: bool) {
        match self.reload(force).await {
            Ok(ReloadOutcome::Applied) => self.metrics.reload(true),
            Ok(ReloadOutcome::Unchanged) => {}
            Err(e) => {
                self.metrics.reload(false);
                tracing::error!(
                    "error.type" = "config_rejected",
                    error = %e,
                    "rejected the new configuration; still serving the previous one"
                );
            }
        }
    }

    /// Watch the file: poll its content every `interval` (never when `None`) and reload on
    /// SIGHUP, until the task is aborted (the server owns the handle and aborts it when it stops).
    pub fn spawn(self: Arc<Self>, interval: Option<Duration>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hup =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!(
                            "cannot listen for SIGHUP; reloading on file change only: {e}"
                        );
                        None
                    }
                };
            let mut tick = interval.map(|i| {
                let mut tick = tokio::time::interval_at(
                    tokio::time::Instant::now() + i,
                    i.max(Duration::from_millis(10)),
                );
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick
            });
            let mut next_tick = async || match tick.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending().await,
            };
            loop {
                #[cfg(unix)]
                let force = {
                    let hup_recv = async {
                        match hup.as_mut() {
                            Some(s) => s.recv().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        () = next_tick() => false,
                        _ = hup_recv => {
                            tracing::info!("SIGHUP: reloading the configuration");
                            true
                        }
                    }
                };
                #[cfg(not(unix))]
                let force = {
                    next_tick().await;
                    false
                };
                self.reload_logged(force).await;
            }
        })
    }
}

fn content_digest(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}
