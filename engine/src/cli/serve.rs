//! `vouch serve`: the Gatekeeper external data provider, with hot reload, health endpoint and
//! TLS.

use std::path::Path;

use anyhow::{Context as _, bail};

use super::EXIT_PASS;
use crate::app::process::{close_disk, open_disk};
use crate::config::Config;

/// `vouch serve`: load every tenant, then serve until SIGTERM or ctrl-c, reloading the
/// configuration on SIGHUP or when the file changes.
pub(super) async fn serve(
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
