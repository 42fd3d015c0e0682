//! Accepting TLS connections: handshakes with a timeout, HTTP/1.1 and h2 over rustls, graceful
//! drain on shutdown.

use super::*;

/// Accept errors that concern one connection only (the next accept may well succeed).
pub(super) fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serve `router` over TLS on `listener` until `shutdown` completes; then stop accepting, let
/// in-flight requests finish (for at most [`TlsSettings::drain_timeout`]) and return.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    tls: TlsSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TlsError> {
    let config = Arc::new(TlsConfig::load(&tls)?);
    let _reloader = (!tls.reload_interval.is_zero())
        .then(|| spawn_reloader(config.clone(), tls.reload_interval));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(tls.handshake_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    // Tells connections still in their handshake to give up when shutdown starts.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            mtls = tls.client_ca_path.is_some(),
            "serving the Gatekeeper external data provider over TLS 1.3"
        );
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = joined
                    && e.is_panic()
                {
                    tracing::error!("a TLS connection task panicked: {e}");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
                    }
                    // The configuration of the moment: a reloaded client-CA bundle applies
                    // from the next connection on.
                    let acceptor = TlsAcceptor::from(config.current());
                    // Subscribed now, so a handshake that ends after shutdown began still
                    // sees the signal (and its connection closes once idle).
                    let watcher = graceful.watcher();
                    let builder = builder.clone();
                    let service = TowerToHyperService::new(router.clone());
                    let handshake_timeout = tls.handshake_timeout;
                    let mut stopping = stop_rx.clone();
                    connections.spawn(async move {
                        let handshake =
                            tokio::time::timeout(handshake_timeout, acceptor.accept(tcp));
                        let stream = tokio::select! {
                            done = handshake => match done {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(e)) => {
                                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(
                                        %peer,
                                        "TLS handshake not finished within {handshake_timeout:?}"
                                    );
                                    return;
                                }
                            },
                            // No request can be in flight yet: nothing to wait for.
                            _ = stopping.wait_for(|stop| *stop) => {
                                tracing::debug!(%peer, "shutting down: dropped a TLS handshake");
                                return;
                            }
                        };
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        if let Err(e) = watcher.watch(conn).await {
                            tracing::debug!(%peer, "TLS connection ended with an error: {e}");
                        }
                    });
                }
                Err(e) if is_connection_error(&e) => {
                    tracing::debug!("accepting a connection failed: {e}");
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::error!("accepting connections failed: {e}; retrying in 1 s");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = &mut shutdown => break,
                    }
                }
            }
        }
    }
    drop(listener);
    stop_tx.send_replace(true);
    tracing::info!(
        connections = graceful.count(),
        "shutting down TLS: no longer accepting, finishing in-flight requests"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::debug!("all TLS connections closed"),
        () = tokio::time::sleep(tls.drain_timeout) => tracing::warn!(
            "TLS connections still open after {:?}: closing them",
            tls.drain_timeout
        ),
    }
    connections.shutdown().await;
    Ok(())
}
