//! `vouch serve` wired together: every tenant loaded, the hot reload watching the file, the
//! health listener and the provider (plain HTTP or TLS), and the disk writes drained at exit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::attest::{AttestError, PublishOptions, SummaryPublisher, VerdictAttestor};
use super::process::{AppError, close_disk, open_disk};
use super::reload::Reloader;
use super::tenants::TenantsError;
use crate::config::{Config, ConfigError};
use crate::oci::registry::RegistryError;
use crate::server::metrics::Metrics;
use crate::server::tenants::TenantSet;
use crate::server::tls::{TlsConfig, TlsError, TlsSettings};
use crate::server::{ServerError, ServerSettings, VerdictPublisher};

/// Where and how `vouch serve` listens.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The provider's address.
    pub listen: SocketAddr,
    /// Deadlines and limits of the provider.
    pub settings: ServerSettings,
    /// How often the configuration file is polled for changes (zero: only on SIGHUP).
    pub reload_interval: Duration,
    /// TLS for the provider (plain HTTP without).
    pub tls: Option<TlsSettings>,
    /// A plain-HTTP listener for health probes and metrics only.
    pub health_listen: Option<SocketAddr>,
    /// Publish signed verification summaries of fresh PASSED verdicts.
    pub attest: Option<PublishOptions>,
}

/// Why `vouch serve` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS certificate, key or CA bundle is unusable, or TLS serving failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The configuration file could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The disk cache could not be opened.
    #[error(transparent)]
    App(#[from] AppError),
    /// The tenants the file describes could not be built.
    #[error("config file {}", path.display())]
    Tenants {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: TenantsError,
    },
    /// An address could not be bound.
    #[error("cannot listen on {addr}{flag}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The flag that named it, for the message (` (--health-listen)`), or empty.
        flag: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The plain-HTTP provider failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The summary signing key is unusable.
    #[error("--attest-verdict: {0}")]
    Attest(#[from] AttestError),
    /// The registry client for pushing summaries could not be built.
    #[error("--attest-verdict: the registry client: {0}")]
    Registry(#[from] RegistryError),
}

/// Load every tenant of the configuration at `config_path`, then serve until SIGTERM or ctrl-c,
/// reloading the configuration on SIGHUP or when the file changes.
pub async fn serve(config_path: &Path, options: ServeOptions) -> Result<(), ServeError> {
    if let Some(tls) = &options.tls {
        // Fail before loading verifiers when the certificate, key or CA bundle is unusable.
        TlsConfig::load(tls)?;
    }
    let config = Config::load(config_path)?;
    // Fail before loading verifiers when the summary key or the registry settings are unusable.
    let attest = match &options.attest {
        Some(o) => Some((
            VerdictAttestor::load(&o.key, o.verifier_id.clone(), o.policy_uri.clone())?,
            config.stores.registries.client()?,
            o.interval,
        )),
        None => None,
    };
    let disk = open_disk(&config).await?;
    let tenants = TenantSet::build(&config, disk.as_ref())
        .await
        .map_err(|source| ServeError::Tenants {
            path: config_path.to_owned(),
            source,
        })?;
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
    let interval = Some(options.reload_interval).filter(|i| !i.is_zero());
    let watcher = reloader.spawn(interval);
    let health = match options.health_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Listen {
                    addr,
                    flag: " (--health-listen)",
                    source,
                })?;
            let router = crate::server::health_router(tenants.clone(), metrics.clone());
            Some(tokio::spawn(crate::server::serve(
                listener,
                router,
                crate::server::shutdown_signal(),
            )))
        }
        None => None,
    };
    let publisher = match attest {
        Some((attestor, client, interval)) => {
            tracing::info!(
                keyid = attestor.keyid(),
                verifier_id = attestor.verifier_id(),
                "publishing signed verification summaries of fresh passing verdicts"
            );
            let p: Arc<dyn VerdictPublisher> =
                SummaryPublisher::spawn(attestor, client, metrics.clone(), interval);
            Some(p)
        }
        None => None,
    };
    let router =
        crate::server::router_with_publisher(tenants, metrics, options.settings, publisher);
    let listen = options.listen;
    let served = match options.tls {
        Some(tls) => match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => crate::server::tls::serve_tls(
                listener,
                router,
                tls,
                crate::server::shutdown_signal(),
            )
            .await
            .map_err(ServeError::from),
            Err(source) => Err(ServeError::Listen {
                addr: listen,
                flag: "",
                source,
            }),
        },
        None => crate::server::run(listen, router)
            .await
            .map_err(ServeError::from),
    };
    watcher.abort();
    if let Some(health) = health {
        health.abort();
    }
    // In-flight requests have finished: wait for the disk writes they started.
    close_disk(exit_disk, &config).await;
    served
}
