//! TLS for `vouch serve`: TLS 1.3 only (rustls), ALPN `h2` and `http/1.1`, the certificate and
//! key re-read from disk while serving, and optional client certificates (mTLS) checked against a
//! CA bundle, which is how Gatekeeper authenticates itself to an external data provider.
//!
//! - The certificate (PEM, leaf first, then intermediates) and the key (PEM: PKCS#8, PKCS#1 RSA or
//!   SEC1 EC, unencrypted) are loaded at start; a pair that cannot be used stops the start with an
//!   error naming the file and what is wrong with it.
//! - A background task owned by [`serve_tls`] hashes both files every
//!   [`TlsSettings::reload_interval`]; when their content changed, the new pair is swapped in if it
//!   parses and the key matches the certificate. A pair that does not is logged once
//!   (`tracing::warn!`, naming the file) and the old pair keeps serving. New handshakes use the
//!   new pair; established connections keep theirs.
//! - With [`TlsSettings::client_ca_path`], every client must present a certificate chaining to one
//!   of the bundle's CAs (`WebPkiClientVerifier`). The bundle is re-read with the pair: a changed,
//!   usable bundle applies from the next handshake on (CA rotation without a restart; put the
//!   old and the new CA in the bundle while clients move over); an unusable one is logged once
//!   and the previous bundle stays in force.
//! - Each connection's handshake is bounded by [`TlsSettings::handshake_timeout`]; a failed or slow
//!   handshake is logged at debug and costs the server nothing else.
//! - On shutdown the listener is closed (new connections are refused), in-flight requests finish
//!   and idle connections close, for at most [`TlsSettings::drain_timeout`]; what is still open
//!   then is dropped.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, VerifierBuilderError, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// How often the certificate and key files are checked for changes by default.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);
/// Default bound on one connection's TLS handshake (and on reading a request's headers).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on finishing in-flight requests after shutdown is asked for (under Kubernetes'
/// default 30 s termination grace period).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest certificate, key or CA bundle file read, in bytes.
pub const MAX_PEM_BYTES: u64 = 1 << 20;

/// ALPN protocols offered, in order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Where the server's certificate, key and (for mTLS) client CA bundle are, and its TLS timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain: the server's certificate first, then any intermediates.
    pub cert_path: PathBuf,
    /// PEM private key of the certificate (PKCS#8, PKCS#1 RSA or SEC1 EC; unencrypted).
    pub key_path: PathBuf,
    /// PEM bundle of the CAs that client certificates must chain to; `None`: no client auth.
    pub client_ca_path: Option<PathBuf>,
    /// How often the certificate, key and client-CA files are checked for changes; zero: never.
    pub reload_interval: Duration,
    /// Bound on one connection's TLS handshake and on reading an HTTP/1 request's headers.
    pub handshake_timeout: Duration,
    /// Bound on finishing in-flight requests once shutdown is asked for.
    pub drain_timeout: Duration,
}

impl TlsSettings {
    /// Settings serving `cert_path` and `key_path`, without client auth, with default timings.
    pub fn new(cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Self {
        TlsSettings {
            cert_path: cert_path.into(),
            key_path: key_path.into(),
            client_ca_path: None,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }

    /// These settings, requiring client certificates issued by a CA in `ca_path` (mTLS).
    pub fn with_client_ca(mut self, ca_path: impl Into<PathBuf>) -> Self {
        self.client_ca_path = Some(ca_path.into());
        self
    }
}

/// Why TLS could not be set up, naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file is too large to be a certificate, key or CA bundle.
    #[error("{} is larger than {MAX_PEM_BYTES} bytes: not a PEM certificate, key or CA bundle", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A file is not well-formed PEM.
    #[error("{} is not valid PEM: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: pem::Error,
    },
    /// The certificate file holds no `CERTIFICATE` section.
    #[error("no certificate found in {}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key rustls can read.
    #[error(
        "no private key found in {} (expected an unencrypted PKCS#8, PKCS#1 RSA or SEC1 EC key in PEM)",
        path.display()
    )]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key is of a kind or shape the crypto provider cannot sign with.
    #[error("the private key in {} is not usable: {source}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The certificate is not a parsable X.509 certificate.
    #[error("the certificate in {} cannot be parsed: {source}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The key is not the certificate's key.
    #[error("certificate {} and key {} do not match", cert.display(), key.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The key's public half cannot be computed, so it cannot be checked against the certificate.
    #[error("cannot check that the key in {} belongs to certificate {}", key.display(), cert.display())]
    KeyUncheckable {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// A certificate of the client CA bundle cannot be a trust anchor.
    #[error("a certificate in client CA bundle {} is not usable as a trust anchor: {source}", path.display())]
    ClientCaCertificate {
        /// The bundle.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// No client certificate verifier can be built from the CA bundle.
    #[error("client CA bundle {}: {source}", path.display())]
    ClientVerifier {
        /// The bundle.
        path: PathBuf,
        /// Why.
        source: VerifierBuilderError,
    },
    /// rustls refused the configuration.
    #[error("cannot configure TLS: {0}")]
    Config(#[source] rustls::Error),
}

/// The crypto provider of the server: aws-lc-rs, which reqwest already links in. (Enabling rustls'
/// `ring` feature as well would make rustls' process-wide default provider ambiguous, and every
/// `ClientConfig::builder()` in the dependency tree would then panic.)
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Read a PEM file of at most [`MAX_PEM_BYTES`]: a regular file, never a FIFO or device.
fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    use crate::localfile::LocalFileError;
    crate::localfile::read_regular_file_capped(path, MAX_PEM_BYTES, "PEM file").map_err(|e| match e
    {
        LocalFileError::TooLarge { .. } => TlsError::TooLarge {
            path: path.to_owned(),
        },
        LocalFileError::Io { source, .. } => TlsError::Read {
            path: path.to_owned(),
            source,
        },
        other @ (LocalFileError::NotFound { .. } | LocalFileError::NotRegular { .. }) => {
            let kind = if other.is_not_found() {
                io::ErrorKind::NotFound
            } else {
                io::ErrorKind::InvalidInput
            };
            TlsError::Read {
                path: path.to_owned(),
                source: io::Error::new(kind, other.to_string()),
            }
        }
    })
}

/// The `CERTIFICATE` sections of `pem_bytes` (read from `path`), at least one.
fn parse_certs(path: &Path, pem_bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key of `pem_bytes` (read from `path`).
fn parse_key(path: &Path, pem_bytes: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem_bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        source => TlsError::Pem {
            path: path.to_owned(),
            source,
        },
    })
}

/// A certificate chain and its key, from PEM bytes; fails unless the key is the certificate's.
fn certified_key(
    provider: &CryptoProvider,
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<CertifiedKey, TlsError> {
    let chain = parse_certs(cert_path, cert_pem)?;
    let key = parse_key(key_path, key_pem)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::BadKey {
            path: key_path.to_owned(),
            source,
        })?;
    let pair = CertifiedKey::new(chain, signing_key);
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            })
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyUncheckable {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
        }),
        Err(source) => Err(TlsError::BadCertificate {
            path: cert_path.to_owned(),
            source,
        }),
    }
}

/// What the files looked like at the last check, so a change is acted on (and logged) once.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
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

    fn load_with(
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
fn fingerprint(cert_pem: &[u8], key_pem: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [cert_pem, key_pem] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// Log a served certificate's subject, serial and expiry (and warn when it is not valid now).
fn log_certificate(what: &str, path: &Path, pair: &CertifiedKey) {
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
fn client_verifier(
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
struct ReloadingClientCa {
    path: PathBuf,
    provider: Arc<CryptoProvider>,
    seen: Mutex<Seen>,
}

impl ReloadingClientCa {
    /// Load the bundle at `path`: the reloader and the verifier it makes.
    fn load(
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
    fn reload(&self) -> (ReloadOutcome, Option<Arc<dyn ClientCertVerifier>>) {
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

/// A listener's TLS configuration: the rustls configuration new handshakes use, the resolver of
/// its certificate (which reloads in place) and, with mTLS, the client-CA bundle (a change
/// builds a new configuration, swapped in whole; handshakes in progress keep the old one).
#[derive(Debug)]
pub struct TlsConfig {
    provider: Arc<CryptoProvider>,
    resolver: Arc<ReloadingCertResolver>,
    client_ca: Option<ReloadingClientCa>,
    current: arc_swap::ArcSwap<ServerConfig>,
}

impl TlsConfig {
    /// Load what `settings` name (TLS 1.3 only, ALPN h2 and http/1.1); fails when any file is
    /// unusable.
    pub fn load(settings: &TlsSettings) -> Result<TlsConfig, TlsError> {
        let provider = provider();
        let resolver = Arc::new(ReloadingCertResolver::load_with(
            provider.clone(),
            &settings.cert_path,
            &settings.key_path,
        )?);
        let (client_ca, verifier) = match &settings.client_ca_path {
            Some(path) => {
                let (ca, verifier) = ReloadingClientCa::load(provider.clone(), path)?;
                (Some(ca), Some(verifier))
            }
            None => (None, None),
        };
        let config = rustls_config(&provider, verifier, &resolver)?;
        Ok(TlsConfig {
            provider,
            resolver,
            client_ca,
            current: arc_swap::ArcSwap::from_pointee(config),
        })
    }

    /// The configuration new handshakes use.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// The resolver serving the certificate.
    pub fn resolver(&self) -> &Arc<ReloadingCertResolver> {
        &self.resolver
    }

    /// Re-read every file (blocking I/O): the certificate pair and the client-CA bundle, each
    /// applied when it changed and is usable. Returns what happened to the bundle
    /// ([`ReloadOutcome::Unchanged`] without mTLS).
    pub fn reload(&self) -> ReloadOutcome {
        self.resolver.reload();
        let Some(ca) = &self.client_ca else {
            return ReloadOutcome::Unchanged;
        };
        let (outcome, verifier) = ca.reload();
        if let Some(verifier) = verifier {
            match rustls_config(&self.provider, Some(verifier), &self.resolver) {
                Ok(config) => self.current.store(Arc::new(config)),
                Err(e) => return ReloadOutcome::Rejected(e),
            }
        }
        outcome
    }
}

/// A rustls configuration: TLS 1.3 only, client certificates checked by `verifier` (none asked
/// for without one), the certificate from `resolver`, ALPN h2 then http/1.1.
fn rustls_config(
    provider: &Arc<CryptoProvider>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    resolver: &Arc<ReloadingCertResolver>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Config)?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver.clone());
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Aborts the certificate reload task when the server it belongs to ends.
struct ReloadTask(tokio::task::JoinHandle<()>);

impl Drop for ReloadTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Check `tls`'s files every `interval` until the returned guard is dropped.
fn spawn_reloader(tls: Arc<TlsConfig>, interval: Duration) -> ReloadTask {
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

/// Accept errors that concern one connection only (the next accept may well succeed).
fn is_connection_error(e: &io::Error) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed pair for `name`, as (certificate PEM, key PEM).
    fn self_signed(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A self-signed pair for `localhost` written to `cert.pem` and `key.pem` in `dir`: the
    /// certificate's PEM and both paths.
    fn pair_files(dir: &Path) -> (String, PathBuf, PathBuf) {
        let (cert, key) = self_signed("localhost");
        let c = write(dir, "cert.pem", &cert);
        let k = write(dir, "key.pem", &key);
        (cert, c, k)
    }

    fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn served_der(resolver: &ReloadingCertResolver) -> Vec<u8> {
        resolver.current().cert[0].to_vec()
    }

    fn pem_to_der(pem_text: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem_text.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn loads_a_matching_pair() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, c, k) = pair_files(dir.path());
        let resolver = ReloadingCertResolver::load(&c, &k).unwrap();
        assert_eq!(served_der(&resolver), pem_to_der(&cert));
    }

    #[test]
    fn missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = self_signed("localhost");
        let k = write(dir.path(), "key.pem", &key);
        let missing = dir.path().join("nope.pem");
        let err = ReloadingCertResolver::load(&missing, &k).unwrap_err();
        assert!(matches!(err, TlsError::Read { ref path, .. } if *path == missing));
        assert!(err.to_string().contains("nope.pem"), "{err}");
    }

    #[test]
    fn garbage_key_has_no_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed("localhost");
        let c = write(dir.path(), "cert.pem", &cert);
        let k = write(dir.path(), "key.pem", "not a key at all\n");
        let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with("no private key found in "), "{text}");
        assert!(text.contains("key.pem"), "{text}");
    }

    #[test]
    fn certificate_given_as_key_has_no_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed("localhost");
        let c = write(dir.path(), "cert.pem", &cert);
        let k = write(dir.path(), "key.pem", &cert);
        let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
    }

    #[test]
    fn key_given_as_certificate_has_no_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = self_signed("localhost");
        let c = write(dir.path(), "cert.pem", &key);
        let k = write(dir.path(), "key.pem", &key);
        let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("no certificate found in {}", c.display())
        );
    }

    #[test]
    fn broken_base64_is_invalid_pem() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = self_signed("localhost");
        let c = write(
            dir.path(),
            "cert.pem",
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
        );
        let k = write(dir.path(), "key.pem", &key);
        let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
        assert!(matches!(err, TlsError::Pem { .. }), "{err:?}");
        assert!(
            err.to_string().contains("cert.pem is not valid PEM"),
            "{err}"
        );
    }

    #[test]
    fn unparsable_certificate_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = self_signed("localhost");
        // Valid PEM, but the DER inside is not a certificate.
        let c = write(
            dir.path(),
            "cert.pem",
            "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
        );
        let k = write(dir.path(), "key.pem", &key);
        let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
        assert!(matches!(err, TlsError::BadCertificate { .. }), "{err:?}");
    }

    #[test]
    fn key_of_another_certificate_does_not_match() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed("localhost");
        let (_, other_key) = self_signed("localhost");
        let c = write(dir.path(), "cert.pem", &cert);
        let k = write(dir.path(), "key.pem", &other_key);
        let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "certificate {} and key {} do not match",
                c.display(),
                k.display()
            )
        );
    }

    #[test]
    fn oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed("localhost");
        let c = write(dir.path(), "cert.pem", &cert);
        let k = write(
            dir.path(),
            "key.pem",
            vec![b'a'; MAX_PEM_BYTES as usize + 1],
        );
        let err = ReloadingCertResolver::load(&c, &k).unwrap_err();
        assert!(matches!(err, TlsError::TooLarge { .. }), "{err:?}");
    }

    /// The SEC1 `ECPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (the `privateKey` OCTET STRING).
    fn pkcs8_to_sec1(pkcs8: &[u8]) -> Vec<u8> {
        /// (tag, content, rest) of the DER element at the start of `der`.
        fn tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
            let (tag, first) = (der[0], der[1]);
            let (len, start) = if first < 0x80 {
                (first as usize, 2)
            } else {
                let n = (first & 0x7f) as usize;
                let len = der[2..2 + n]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | *b as usize);
                (len, 2 + n)
            };
            (tag, &der[start..start + len], &der[start + len..])
        }
        let (tag, info, _) = tlv(pkcs8);
        assert_eq!(tag, 0x30);
        let (_, _, rest) = tlv(info); // version
        let (_, _, rest) = tlv(rest); // algorithm
        let (tag, private_key, _) = tlv(rest);
        assert_eq!(tag, 0x04);
        private_key.to_vec()
    }

    #[test]
    fn sec1_key_loads() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let sec1 = pkcs8_to_sec1(&key.serialize_der());
        let text = format!(
            "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n",
            base64_lines(&sec1)
        );
        let c = write(dir.path(), "cert.pem", cert.pem());
        let k = write(dir.path(), "key.pem", &text);
        assert!(matches!(
            PrivateKeyDer::from_pem_slice(text.as_bytes()).unwrap(),
            PrivateKeyDer::Sec1(_)
        ));
        let resolver = ReloadingCertResolver::load(&c, &k).unwrap();
        assert_eq!(served_der(&resolver), cert.der().to_vec());
    }

    fn base64_lines(der: &[u8]) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        b64.as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn reload_swaps_good_pairs_and_keeps_the_old_one_on_bad() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_a, key_a) = self_signed("a.localhost");
        let c = write(dir.path(), "cert.pem", &cert_a);
        let k = write(dir.path(), "key.pem", &key_a);
        let resolver = ReloadingCertResolver::load(&c, &k).unwrap();
        assert!(matches!(resolver.reload(), ReloadOutcome::Unchanged));

        let (cert_b, key_b) = self_signed("b.localhost");
        write(dir.path(), "cert.pem", &cert_b);
        write(dir.path(), "key.pem", &key_b);
        assert!(matches!(resolver.reload(), ReloadOutcome::Reloaded));
        assert_eq!(served_der(&resolver), pem_to_der(&cert_b));

        // A garbage key: rejected once, then unchanged; B is still served.
        write(dir.path(), "key.pem", "garbage");
        assert!(matches!(
            resolver.reload(),
            ReloadOutcome::Rejected(TlsError::NoPrivateKey { .. })
        ));
        assert!(matches!(resolver.reload(), ReloadOutcome::Unchanged));
        assert_eq!(served_der(&resolver), pem_to_der(&cert_b));

        // Half-rotated (new certificate, old key): rejected; then the key arrives too.
        let (cert_c, key_c) = self_signed("c.localhost");
        write(dir.path(), "cert.pem", &cert_c);
        write(dir.path(), "key.pem", &key_b);
        assert!(matches!(
            resolver.reload(),
            ReloadOutcome::Rejected(TlsError::KeyMismatch { .. })
        ));
        assert_eq!(served_der(&resolver), pem_to_der(&cert_b));
        write(dir.path(), "key.pem", &key_c);
        assert!(matches!(resolver.reload(), ReloadOutcome::Reloaded));
        assert_eq!(served_der(&resolver), pem_to_der(&cert_c));

        // A deleted file: rejected, old pair kept; restoring it reloads.
        std::fs::remove_file(&k).unwrap();
        assert!(matches!(
            resolver.reload(),
            ReloadOutcome::Rejected(TlsError::Read { .. })
        ));
        assert!(matches!(resolver.reload(), ReloadOutcome::Unchanged));
        assert_eq!(served_der(&resolver), pem_to_der(&cert_c));
        write(dir.path(), "key.pem", &key_c);
        assert!(matches!(resolver.reload(), ReloadOutcome::Reloaded));
        assert_eq!(served_der(&resolver), pem_to_der(&cert_c));
    }

    #[test]
    fn client_ca_bundle_errors_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (_, c, k) = pair_files(dir.path());
        let empty = write(dir.path(), "ca.pem", "");
        let err = TlsConfig::load(&TlsSettings::new(&c, &k).with_client_ca(&empty)).unwrap_err();
        assert!(
            matches!(err, TlsError::NoCertificate { ref path } if *path == empty),
            "{err:?}"
        );

        let bad = write(
            dir.path(),
            "bad-ca.pem",
            "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
        );
        let err = TlsConfig::load(&TlsSettings::new(&c, &k).with_client_ca(&bad)).unwrap_err();
        assert!(
            matches!(err, TlsError::ClientCaCertificate { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("bad-ca.pem"), "{err}");

        let tls = TlsConfig::load(&TlsSettings::new(&c, &k).with_client_ca(&c)).unwrap();
        assert_eq!(
            tls.current().alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn a_changed_client_ca_bundle_is_applied_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (_, c, k) = pair_files(dir.path());
        let (ca_a, _) = self_signed("ca-a");
        let ca = write(dir.path(), "ca.pem", &ca_a);
        let tls = TlsConfig::load(&TlsSettings::new(&c, &k).with_client_ca(&ca)).unwrap();
        let first = tls.current();
        assert!(matches!(tls.reload(), ReloadOutcome::Unchanged));
        assert!(
            Arc::ptr_eq(&first, &tls.current()),
            "nothing changed: same configuration"
        );

        let (ca_b, _) = self_signed("ca-b");
        write(dir.path(), "ca.pem", format!("{ca_a}{ca_b}"));
        assert!(matches!(tls.reload(), ReloadOutcome::Reloaded));
        let second = tls.current();
        assert!(
            !Arc::ptr_eq(&first, &second),
            "a new bundle: a new configuration"
        );

        write(dir.path(), "ca.pem", "not a bundle");
        let outcome = tls.reload();
        assert!(
            matches!(&outcome, ReloadOutcome::Rejected(TlsError::NoCertificate { path }) if *path == ca),
            "{outcome:?}"
        );
        assert!(
            Arc::ptr_eq(&second, &tls.current()),
            "the broken bundle is not applied"
        );
        assert!(
            matches!(tls.reload(), ReloadOutcome::Unchanged),
            "logged once"
        );

        // Without mTLS there is no bundle to reload.
        let plain = TlsConfig::load(&TlsSettings::new(&c, &k)).unwrap();
        assert!(matches!(plain.reload(), ReloadOutcome::Unchanged));
    }

    #[test]
    fn settings_defaults() {
        let s = TlsSettings::new("c.pem", "k.pem");
        assert_eq!(s.client_ca_path, None);
        assert_eq!(s.reload_interval, DEFAULT_RELOAD_INTERVAL);
        assert_eq!(s.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
        assert_eq!(s.drain_timeout, DEFAULT_DRAIN_TIMEOUT);
        assert_eq!(
            s.with_client_ca("ca.pem").client_ca_path,
            Some(PathBuf::from("ca.pem"))
        );
    }
}
