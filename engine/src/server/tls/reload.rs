//! Hot reload of the serving certificate and the client CA bundle: re-read on an interval,
//! swapped only when the new files parse and match.

use super::*;

/// What the files looked like at the last check, so a change is acted on (and logged) once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seen {
    /// sha256 over the certificate file's then the key file's content.
    Content([u8; 32]),
    /// The files could not be read, for this reason.
    Unreadable(String),
}

/// What a [`ReloadingCertResolver::reload`] did.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// The files are as at the last check: nothing was done.
    Unchanged,
    /// The files changed and the new pair is now served.
    Reloaded,
    /// The files changed but the new pair cannot be used: the old pair is still served.
    Rejected(TlsError),
}

/// Serves the certificate and key last loaded from two files, and loads them again on change.
#[derive(Debug)]
pub struct ReloadingCertResolver {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    seen: Mutex<Seen>,
}

impl ReloadingCertResolver {
    /// Load the pair in `cert_path` and `key_path`; fails when it cannot be served.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        Self::load_with(provider(), cert_path, key_path)
    }

    pub(super) fn load_with(
        provider: Arc<CryptoProvider>,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Self, TlsError> {
        let cert_pem = read_pem(cert_path)?;
        let key_pem = read_pem(key_path)?;
        let pair = certified_key(&provider, cert_path, &cert_pem, key_path, &key_pem)?;
        log_certificate("loaded TLS certificate", cert_path, &pair);
        Ok(ReloadingCertResolver {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            provider,
            current: RwLock::new(Arc::new(pair)),
            seen: Mutex::new(Seen::Content(fingerprint(&cert_pem, &key_pem))),
        })
    }

    /// The pair new handshakes are answered with.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-read both files; when they changed since the last check, serve the new pair if it is
    /// usable, else log why (once per change) and keep serving the old one. Blocking (file I/O).
    pub fn reload(&self) -> ReloadOutcome {
        let read = read_pem(&self.cert_path).and_then(|c| Ok((c, read_pem(&self.key_path)?)));
        let seen = match &read {
            Ok((cert_pem, key_pem)) => Seen::Content(fingerprint(cert_pem, key_pem)),
            Err(e) => Seen::Unreadable(e.to_string()),
        };
        let mut last = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *last == seen {
            return ReloadOutcome::Unchanged;
        }
        *last = seen;
        let result = read.and_then(|(cert_pem, key_pem)| {
            certified_key(
                &self.provider,
                &self.cert_path,
                &cert_pem,
                &self.key_path,
                &key_pem,
            )
        });
        match result {
            Ok(pair) => {
                log_certificate("reloaded TLS certificate", &self.cert_path, &pair);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(pair);
                ReloadOutcome::Reloaded
            }
            Err(e) => {
                tracing::warn!(
                    cert = %self.cert_path.display(),
                    key = %self.key_path.display(),
                    "TLS certificate not reloaded, still serving the previous one: {e}"
                );
                ReloadOutcome::Rejected(e)
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// sha256 over both files' content, each prefixed by its length so the boundary counts.
pub(super) fn fingerprint(cert_pem: &[u8], key_pem: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [cert_pem, key_pem] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// Log a served certificate's subject, serial and expiry (and warn when it is not valid now).
pub(super) fn log_certificate(what: &str, path: &Path, pair: &CertifiedKey) {
    let Some(der) = pair.cert.first() else { return };
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let not_after = cert.validity().not_after;
            tracing::info!(
                file = %path.display(),
                subject = %cert.subject(),
                serial = %cert.raw_serial_as_string(),
                %not_after,
                "{what}"
            );
            if !cert.validity().is_valid() {
                tracing::warn!(
                    file = %path.display(),
                    not_before = %cert.validity().not_before,
                    %not_after,
                    "the TLS certificate is not valid at the current time"
                );
            }
        }
        Err(e) => tracing::debug!(file = %path.display(), "cannot describe the certificate: {e}"),
    }
}

/// The verifier requiring client certificates issued by a CA of the bundle `pem_bytes` read
/// from `path`.
pub(super) fn client_verifier(
    provider: Arc<CryptoProvider>,
    path: &Path,
    pem_bytes: &[u8],
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let certs = parse_certs(path, pem_bytes)?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|source| TlsError::ClientCaCertificate {
                path: path.to_owned(),
                source,
            })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|source| TlsError::ClientVerifier {
            path: path.to_owned(),
            source,
        })
}

/// The client-CA bundle, re-read on change so the CA can be rotated without a restart.
#[derive(Debug)]
pub(super) struct ReloadingClientCa {
    path: PathBuf,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Seen>,
}

impl ReloadingClientCa {
    /// Load the bundle at `path`: the reloader and the verifier it makes.
    pub(super) fn load(
        provider: Arc<CryptoProvider>,
        path: &Path,
    ) -> Result<(Self, Arc<dyn ClientCertVerifier>), TlsError> {
        let pem = read_pem(path)?;
        let verifier = client_verifier(provider.clone(), path, &pem)?;
        tracing::info!(file = %path.display(), "loaded the client CA bundle (mTLS)");
        let ca = ReloadingClientCa {
            path: path.to_owned(),
            provider,
            seen: Mutex::new(Seen::Content(fingerprint(&pem, &[]))),
        };
        Ok((ca, verifier))
    }

    /// Re-read the bundle: a new verifier when it changed and is usable; when it changed and
    /// is not, the reason (logged once per change), the previous verifier staying in force.
    pub(super) fn reload(&self) -> (ReloadOutcome, Option<Arc<dyn ClientCertVerifier>>) {
        let read = read_pem(&self.path);
        let seen = match &read {
            Ok(pem) => Seen::Content(fingerprint(pem, &[])),
            Err(e) => Seen::Unreadable(e.to_string()),
        };
        let mut last = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *last == seen {
            return (ReloadOutcome::Unchanged, None);
        }
        *last = seen;
        match read.and_then(|pem| client_verifier(self.provider.clone(), &self.path, &pem)) {
            Ok(verifier) => {
                tracing::info!(file = %self.path.display(), "reloaded the client CA bundle (mTLS)");
                (ReloadOutcome::Reloaded, Some(verifier))
            }
            Err(e) => {
                tracing::warn!(
                    file = %self.path.display(),
                    "client CA bundle not reloaded, still requiring the previous one: {e}"
                );
                (ReloadOutcome::Rejected(e), None)
            }
        }
    }
}

/// Aborts the certificate reload task when the server it belongs to ends.
pub(super) struct ReloadTask(tokio::task::JoinHandle<()>);

impl Drop for ReloadTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Check `tls`'s files every `interval` until the returned guard is dropped.
pub(super) fn spawn_reloader(tls: Arc<TlsConfig>, interval: Duration) -> ReloadTask {
    ReloadTask(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate: the files were just loaded
        loop {
            tick.tick().await;
            let tls = tls.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || tls.reload()).await {
                tracing::warn!("the TLS files' reload check failed: {e}");
            }
        }
    }))
}
