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
use rustls_pki_types::pem::{self as rustls_pem, PemObject};
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
        source: rustls_pem::Error,
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

mod accept;
mod pem;
mod reload;
#[cfg(test)]
mod tests;

use pem::*;
use reload::*;

pub use accept::serve_tls;
pub use reload::{ReloadOutcome, ReloadingCertResolver};

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
