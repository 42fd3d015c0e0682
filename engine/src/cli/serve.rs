//! `vouch serve`: the Gatekeeper external data provider, with hot reload, health endpoint and
//! TLS.

use std::path::Path;

use anyhow::bail;

use super::EXIT_PASS;
use crate::app::serve::ServeOptions;

/// `vouch serve`: load every tenant, then serve until SIGTERM or ctrl-c, reloading the
/// configuration on SIGHUP or when the file changes.
pub(super) async fn serve(
    config_path: &Path,
    listen: std::net::SocketAddr,
    settings: crate::server::ServerSettings,
    reload_interval: std::time::Duration,
    tls: Option<crate::server::tls::TlsSettings>,
    health_listen: Option<std::net::SocketAddr>,
    attest: Option<crate::app::attest::PublishOptions>,
) -> anyhow::Result<u8> {
    if settings.verify_timeout.is_zero() || settings.mutate_timeout.is_zero() {
        bail!("--verify-timeout-ms and --mutate-timeout-ms must be at least 1");
    }
    crate::app::serve::serve(
        config_path,
        ServeOptions {
            listen,
            settings,
            reload_interval,
            tls,
            health_listen,
            attest,
        },
    )
    .await?;
    Ok(EXIT_PASS)
}
