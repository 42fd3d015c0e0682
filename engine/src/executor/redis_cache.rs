//! The optional shared tier of the result cache: verdicts in Redis, so that several replicas
//! behind one Service compute each verdict once.
//!
//! - Keys are `<keyPrefix>:v2:<hex sha256 of (scope, subject digest, config fingerprint)>`: the
//!   same identity as the local cache's key, so replicas with different configurations (or
//!   tenants) never share a verdict. Values are the [`SubjectReport`] as JSON in an authenticated
//!   envelope ([`auth`]: HMAC-SHA-256 over the Redis key, an absolute expiry and the verdict),
//!   written with `SET … PX <ttl>` (the local cache's TTL).
//! - A value that fails authentication, is past its own expiry or does not parse is a **miss**
//!   (the subject is verified afresh), counted by reason ([`RedisStats::rejected`]) and logged at
//!   most once per [`REJECTION_LOG_INTERVAL`] with its key — never a verdict.
//! - A tier without `authKeyFiles` is refused unless `insecureUnauthenticated: true`, which warns
//!   each time the tier is built (every start and reload).
//! - TLS (`rediss://`, `caFile`, `clientCertFile` + `clientKeyFile`) and ACL users (`username`,
//!   `passwordFile`); passwords are never inline in the configuration.
//! - Redis is never on the critical path for long: every operation (connect included) is bounded
//!   by `timeoutMs`; a failed or timed-out operation logs one warning
//!   (`error.type = "redis_unavailable"`) for the outage and skips Redis for `retryAfterMs`,
//!   after which one request probes it again. Meanwhile verdicts are cached locally only.
//!   Writes are fire-and-forget tasks, at most [`MAX_WRITES_IN_FLIGHT`] at once (the excess is
//!   dropped and counted).

pub mod auth;
pub mod summary;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use redis::IntoConnectionInfo as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::sync::Semaphore;

use self::auth::{AuthKeys, KeyFileError, Rejection, TierAuth, ValueAuth};
use self::summary::{SummaryKeyError, SummaryKeys};
use crate::oci::Digest;
use crate::report::SubjectReport;

/// Writes to Redis in flight at once; writes past it are dropped (the verdict stays local).
pub const MAX_WRITES_IN_FLIGHT: usize = 64;

/// Rejected values are logged at most once per this interval (the others are counted and
/// summed into the next warning).
pub const REJECTION_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Largest password, CA, certificate or key file read.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The `executor.redis` section of the configuration file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedisCacheConfig {
    /// `redis://host[:port][/db]` or `rediss://host[:port][/db]` (TLS); no user or password in
    /// it (see `username` and `passwordFile`).
    pub url: String,
    /// Prefix of every key, so several deployments can share one Redis.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Bound on each Redis operation (connect, read, write), in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How long Redis is skipped after a failure before it is tried again, in milliseconds.
    #[serde(default = "default_retry_after_ms")]
    pub retry_after_ms: u64,
    /// Files of the HMAC keys that authenticate values (relative to the config file): the first
    /// signs, every one verifies. Each holds base64 of at least 32 random bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_key_files: Vec<PathBuf>,
    /// Store signed verification summaries instead of HMAC'd values, for replicas that must not
    /// share a secret (instead of `authKeyFiles`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_summaries: Option<SignedSummariesConfig>,
    /// Accept a tier without `authKeyFiles`: whoever can write to Redis then decides verdicts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_unauthenticated: bool,
    /// PEM file of the CAs that sign Redis's certificate (`rediss://` only; the system's roots
    /// when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate (chain) presented to Redis (`rediss://` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
    /// ACL user to authenticate as (needs `passwordFile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// File holding the password (of `username`, or of the default user); one trailing newline
    /// is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

/// `executor.redis.signedSummaries`: values are SLSA verification summaries in DSSE envelopes
/// signed with a private key (see [`summary`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignedSummariesConfig {
    /// PKCS#8 PEM private key (ECDSA P-256/P-384 or Ed25519) of a replica that writes; a replica
    /// without it only reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key_file: Option<PathBuf>,
    /// PEM files of the public keys whose summaries are believed (every `PUBLIC KEY` block of
    /// each); the signing key's own public key is always believed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_key_files: Vec<PathBuf>,
    /// The summaries' `verifier.id` (default `urn:vouch:verifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier_id: Option<String>,
}

fn default_prefix() -> String {
    "vouch".to_owned()
}

fn default_timeout_ms() -> u64 {
    50
}

fn default_retry_after_ms() -> u64 {
    5000
}

impl std::fmt::Debug for RedisCacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCacheConfig")
            .field("url", &redact(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("timeout_ms", &self.timeout_ms)
            .field("retry_after_ms", &self.retry_after_ms)
            .field("auth_key_files", &self.auth_key_files)
            .field("signed_summaries", &self.signed_summaries)
            .field("insecure_unauthenticated", &self.insecure_unauthenticated)
            .field("ca_file", &self.ca_file)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_key_file", &self.client_key_file)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .finish()
    }
}

impl RedisCacheConfig {
    /// A configuration for `url` with the default prefix, timeout and retry delay, and no
    /// authentication yet: set `auth_key_files` (or `insecure_unauthenticated`) before use.
    pub fn new(url: impl Into<String>) -> RedisCacheConfig {
        RedisCacheConfig {
            url: url.into(),
            key_prefix: default_prefix(),
            timeout_ms: default_timeout_ms(),
            retry_after_ms: default_retry_after_ms(),
            auth_key_files: Vec::new(),
            signed_summaries: None,
            insecure_unauthenticated: false,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            username: None,
            password_file: None,
        }
    }

    /// The per-operation bound as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The back-off after a failure as a duration.
    pub fn retry_after(&self) -> Duration {
        Duration::from_millis(self.retry_after_ms)
    }

    /// Check the values; the error is (field below `executor.redis`, what is wrong).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let info = match self.url.as_str().into_connection_info() {
            Ok(info) => info,
            Err(e) => {
                return Err((
                    "url",
                    format!("`{}` is not a usable Redis URL: {e}", redact(&self.url)),
                ));
            }
        };
        let settings = info.redis_settings();
        if settings.password().is_some() || settings.username().is_some() {
            return Err((
                "url",
                format!(
                    "`{}` carries credentials; set `username` and `passwordFile` instead (a password is never inline)",
                    redact(&self.url)
                ),
            ));
        }
        let tls = match info.addr() {
            redis::ConnectionAddr::TcpTls { insecure: true, .. } => {
                return Err((
                    "url",
                    "`#insecure` (no check of Redis's certificate) is not supported; set `caFile`"
                        .to_owned(),
                ));
            }
            redis::ConnectionAddr::TcpTls { .. } => true,
            _ => false,
        };
        if self.key_prefix.is_empty() || self.key_prefix.chars().any(char::is_whitespace) {
            return Err((
                "keyPrefix",
                "must be non-empty and contain no whitespace".to_owned(),
            ));
        }
        if self.timeout_ms == 0 {
            return Err(("timeoutMs", "must be at least 1".to_owned()));
        }
        if self.retry_after_ms == 0 {
            return Err(("retryAfterMs", "must be at least 1".to_owned()));
        }
        let chosen = [
            ("authKeyFiles", !self.auth_key_files.is_empty()),
            ("signedSummaries", self.signed_summaries.is_some()),
            ("insecureUnauthenticated", self.insecure_unauthenticated),
        ];
        match chosen
            .iter()
            .filter(|(_, on)| *on)
            .map(|(f, _)| *f)
            .collect::<Vec<_>>()[..]
        {
            [] => {
                return Err((
                    "authKeyFiles",
                    "is required: without it anyone who can write to Redis decides verdicts \
                     (list key files, or set signedSummaries, or insecureUnauthenticated: true to \
                     accept that)"
                        .to_owned(),
                ));
            }
            [_] => {}
            [first, second, ..] => {
                return Err((second, format!("contradicts {first}: remove one of them")));
            }
        }
        if let Some(signed) = &self.signed_summaries {
            if signed.signing_key_file.is_none() && signed.trusted_key_files.is_empty() {
                return Err((
                    "signedSummaries",
                    "needs signingKeyFile (a replica that writes) and/or trustedKeyFiles"
                        .to_owned(),
                ));
            }
            let empty = signed
                .signing_key_file
                .iter()
                .chain(&signed.trusted_key_files);
            if empty.into_iter().any(|p| p.as_os_str().is_empty()) {
                return Err(("signedSummaries", "must not name an empty path".to_owned()));
            }
            if signed
                .verifier_id
                .as_deref()
                .is_some_and(|id| !id.contains(':'))
            {
                return Err(("signedSummaries", "verifierId must be a URI".to_owned()));
            }
        }
        let files = [
            ("caFile", &self.ca_file),
            ("clientCertFile", &self.client_cert_file),
            ("clientKeyFile", &self.client_key_file),
            ("passwordFile", &self.password_file),
        ];
        for (field, path) in files {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err((field, "must not be empty".to_owned()));
            }
        }
        if self.auth_key_files.iter().any(|p| p.as_os_str().is_empty()) {
            return Err(("authKeyFiles", "must not list an empty path".to_owned()));
        }
        if !tls {
            for (field, path) in &files[..3] {
                if path.is_some() {
                    return Err((field, "needs a `rediss://` (TLS) url".to_owned()));
                }
            }
        }
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(_), None) => {
                return Err((
                    "clientKeyFile",
                    "is required with clientCertFile".to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err((
                    "clientCertFile",
                    "is required with clientKeyFile".to_owned(),
                ));
            }
            _ => {}
        }
        if let Some(user) = &self.username {
            if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err((
                    "username",
                    "must be non-empty and contain no whitespace".to_owned(),
                ));
            }
            if self.password_file.is_none() {
                return Err(("passwordFile", "is required with username".to_owned()));
            }
        }
        Ok(())
    }
}

/// `url` with its password (if any) replaced by `***`, for logs and errors.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Why the Redis tier could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RedisCacheError {
    /// The URL was rejected by the client.
    #[error("redis result cache: `{url}` is not a usable Redis URL: {source}")]
    Url {
        /// The URL, password redacted.
        url: String,
        /// Why.
        source: redis::RedisError,
    },
    /// A setting is not acceptable.
    #[error("redis result cache: `{field}`: {message}")]
    Invalid {
        /// The field below `executor.redis`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An auth key file is missing, unreadable or not a key.
    #[error("redis result cache: authKeyFiles: {0}")]
    AuthKey(#[from] KeyFileError),
    /// A signed-summary key file is missing, unreadable or not a usable key.
    #[error("redis result cache: signedSummaries.{0}")]
    SummaryKey(#[from] SummaryKeyError),
    /// A password, CA, certificate or key file could not be read or is not acceptable.
    #[error("redis result cache: `{field}`: {path}: {message}")]
    File {
        /// The field naming the file.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The TLS settings were rejected by the client.
    #[error("redis result cache: TLS settings: {0}")]
    Tls(#[source] redis::RedisError),
}

/// Counters of the Redis tier (for metrics and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Verdicts found in Redis.
    pub hits: u64,
    /// Lookups that found nothing usable (absent, or rejected: see `rejected`).
    pub misses: u64,
    /// Values rejected, by [`Rejection::index`] (each also counts as a miss).
    pub rejected: [u64; Rejection::ALL.len()],
    /// Operations that failed or timed out.
    pub errors: u64,
    /// Operations skipped because Redis is backed off after a failure.
    pub skipped: u64,
    /// Verdicts written.
    pub writes: u64,
    /// Writes dropped because [`MAX_WRITES_IN_FLIGHT`] were already running.
    pub dropped_writes: u64,
}

impl RedisStats {
    /// Values rejected for `reason`.
    pub fn rejected(&self, reason: Rejection) -> u64 {
        self.rejected[reason.index()]
    }

    /// Values rejected for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }
}
/// Availability of Redis as seen by this process: the back-off state machine.
///
/// `Up` → (failure) → `Down{until}`; while `now < until` operations are skipped; the first
/// operation after `until` is a probe and pushes `until` one back-off further (so one probe per
/// window, even if the probing request is cancelled); a success returns to `Up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Health {
    Up,
    Down { until: Instant },
}

impl Health {
    /// Whether an operation may go to Redis now.
    fn allow(&mut self, now: Instant, retry_after: Duration) -> bool {
        match *self {
            Health::Up => true,
            Health::Down { until } if now < until => false,
            Health::Down { .. } => {
                *self = Health::Down {
                    until: now + retry_after,
                };
                true
            }
        }
    }

    /// Record a failure; true when it starts an outage (the one to warn about).
    fn failure(&mut self, now: Instant, retry_after: Duration) -> bool {
        let was_up = *self == Health::Up;
        *self = Health::Down {
            until: now + retry_after,
        };
        was_up
    }

    /// Record a success; true when it ends an outage.
    fn success(&mut self) -> bool {
        let was_down = *self != Health::Up;
        *self = Health::Up;
        was_down
    }
}

/// The Redis key of a verdict: `<prefix>:v2:<hex sha256 of the length-prefixed scope, digest
/// and fingerprint>` (`v2`: the authenticated value format of [`auth`]).
pub fn verdict_key(prefix: &str, scope: &str, digest: &Digest, fingerprint: &str) -> String {
    let mut h = sha2::Sha256::new();
    for field in [
        "vouch-verdict-key-v1",
        scope,
        &digest.to_string(),
        fingerprint,
    ] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    format!("{prefix}:v2:{}", hex::encode(h.finalize()))
}

/// The Redis tier: a lazily (re)connected multiplexed connection with bounded operations and
/// back-off, and authenticated values. Cheap to clone (shared state).
#[derive(Clone)]
pub struct RedisTier {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// The URL with its password redacted, for logs.
    url: String,
    prefix: String,
    timeout: Duration,
    retry_after: Duration,
    auth: TierAuth,
    /// The current connection, if one is established.
    conn: std::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// Serialises connection attempts.
    connecting: tokio::sync::Mutex<()>,
    health: std::sync::Mutex<Health>,
    writes: Arc<Semaphore>,
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: [AtomicU64; Rejection::ALL.len()],
    rejection_log: std::sync::Mutex<RejectionLog>,
    errors: AtomicU64,
    skipped: AtomicU64,
    written: AtomicU64,
    dropped_writes: AtomicU64,
}

/// Rate limit of the rejection warnings: when the last one was logged and how many were
/// suppressed since.
#[derive(Default)]
struct RejectionLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RejectionLog {
    /// Whether a rejection at `now` is logged; when it is, how many were suppressed before it.
    fn admit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < REJECTION_LOG_INTERVAL => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier")
            .field("url", &self.inner.url)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("auth", &self.inner.auth)
            .finish_non_exhaustive()
    }
}

/// Now as Unix milliseconds (0 before 1970: every value is then unexpired, which only a broken
/// clock produces).
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Read a small file named by `field`.
fn read_file(field: &'static str, path: &Path) -> Result<Vec<u8>, RedisCacheError> {
    use std::io::Read as _;
    let err = |message: String| RedisCacheError::File {
        field,
        path: path.to_owned(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot read it: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(err(format!("larger than {MAX_FILE_BYTES} bytes")));
    }
    Ok(bytes)
}

/// The password in `path`: UTF-8, one trailing newline (`\n` or `\r\n`) removed, non-empty.
fn read_password(path: &Path) -> Result<String, RedisCacheError> {
    let bytes = read_file("passwordFile", path)?;
    let err = |message: &str| RedisCacheError::File {
        field: "passwordFile",
        path: path.to_owned(),
        message: message.to_owned(),
    };
    let text = String::from_utf8(bytes).map_err(|_| err("is not UTF-8"))?;
    let password = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if password.is_empty() {
        return Err(err("is empty"));
    }
    Ok(password.to_owned())
}

impl RedisTier {
    /// A tier for `config`, its files resolved against `base_dir` (the config file's directory)
    /// and read now: auth keys, password, CA, client certificate and key. No connection is made
    /// until the first lookup. Without auth keys (`insecureUnauthenticated`) it warns.
    pub fn new(config: &RedisCacheConfig, base_dir: &Path) -> Result<RedisTier, RedisCacheError> {
        config
            .validate()
            .map_err(|(field, message)| RedisCacheError::Invalid { field, message })?;
        let url = redact(&config.url);
        let url_err = |source| RedisCacheError::Url {
            url: url.clone(),
            source,
        };
        let auth = if let Some(signed) = &config.signed_summaries {
            let trusted: Vec<PathBuf> = signed
                .trusted_key_files
                .iter()
                .map(|p| base_dir.join(p))
                .collect();
            let signing = signed.signing_key_file.as_ref().map(|p| base_dir.join(p));
            let keys =
                SummaryKeys::load(signing.as_deref(), &trusted, signed.verifier_id.as_deref())?;
            tracing::debug!(url = %url, keys = ?keys, "redis result cache values are signed summaries");
            TierAuth::Signed(Box::new(keys))
        } else if config.auth_key_files.is_empty() {
            tracing::warn!(
                "error.type" = "redis_unauthenticated",
                url = %url,
                "executor.redis.insecureUnauthenticated is set: verdicts in Redis are not authenticated, so anyone who can write to this Redis decides what is admitted; list executor.redis.authKeyFiles"
            );
            TierAuth::Mac(ValueAuth::Unauthenticated)
        } else {
            let paths: Vec<PathBuf> = config
                .auth_key_files
                .iter()
                .map(|p| base_dir.join(p))
                .collect();
            let keys = AuthKeys::load(&paths)?;
            tracing::debug!(url = %url, keys = ?keys, "redis result cache values are authenticated");
            TierAuth::Mac(ValueAuth::Hmac(keys))
        };
        let mut info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(url_err)?;
        if let Some(path) = &config.password_file {
            let password = read_password(&base_dir.join(path))?;
            let mut settings = info.redis_settings().clone().set_password(password);
            if let Some(user) = &config.username {
                settings = settings.set_username(user);
            }
            info = info.set_redis_settings(settings);
        }
        let client = if matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
            // The client builds its rustls configuration with the process default provider;
            // install the one the rest of the engine uses unless one is already set.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let root_cert = match &config.ca_file {
                Some(p) => Some(read_file("caFile", &base_dir.join(p))?),
                None => None,
            };
            let client_tls = match (&config.client_cert_file, &config.client_key_file) {
                (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                    client_cert: read_file("clientCertFile", &base_dir.join(cert))?,
                    client_key: read_file("clientKeyFile", &base_dir.join(key))?,
                }),
                _ => None,
            };
            redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls,
                    root_cert,
                },
            )
            .map_err(RedisCacheError::Tls)?
        } else {
            redis::Client::open(info).map_err(url_err)?
        };
        Ok(RedisTier {
            inner: Arc::new(Inner {
                client,
                url,
                prefix: config.key_prefix.clone(),
                timeout: config.timeout().max(Duration::from_millis(1)),
                retry_after: config.retry_after(),
                auth,
                conn: std::sync::Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                health: std::sync::Mutex::new(Health::Up),
                writes: Arc::new(Semaphore::new(MAX_WRITES_IN_FLIGHT)),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                rejected: Default::default(),
                rejection_log: std::sync::Mutex::new(RejectionLog::default()),
                errors: AtomicU64::new(0),
                skipped: AtomicU64::new(0),
                written: AtomicU64::new(0),
                dropped_writes: AtomicU64::new(0),
            }),
        })
    }

    /// The key of the verdict for (`scope`, `digest`, `fingerprint`) under this tier's prefix.
    pub fn key(&self, scope: &str, digest: &Digest, fingerprint: &str) -> String {
        verdict_key(&self.inner.prefix, scope, digest, fingerprint)
    }

    /// How this tier authenticates its values.
    pub fn auth(&self) -> &TierAuth {
        &self.inner.auth
    }

    /// The counters so far.
    pub fn stats(&self) -> RedisStats {
        let i = &self.inner;
        RedisStats {
            hits: i.hits.load(Ordering::Relaxed),
            misses: i.misses.load(Ordering::Relaxed),
            rejected: std::array::from_fn(|r| i.rejected[r].load(Ordering::Relaxed)),
            errors: i.errors.load(Ordering::Relaxed),
            skipped: i.skipped.load(Ordering::Relaxed),
            writes: i.written.load(Ordering::Relaxed),
            dropped_writes: i.dropped_writes.load(Ordering::Relaxed),
        }
    }

    /// The verdict stored under `key` and how long it has left to live (by the expiry it
    /// carries); `None` on a miss, a rejected value, or when Redis is unavailable (never waits
    /// longer than the timeout).
    pub async fn get(&self, key: &str) -> Option<(SubjectReport, Duration)> {
        if !self.inner.allow() {
            self.inner.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let inner = &self.inner;
        let op = async {
            let mut conn = inner.connection().await?;
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
        };
        let value = match tokio::time::timeout(inner.timeout, op).await {
            Ok(Ok(found)) => {
                inner.succeeded();
                found
            }
            Ok(Err(e)) => {
                inner.failed(&format!("GET failed: {e}"));
                return None;
            }
            Err(_) => {
                inner.failed(&format!(
                    "GET timed out after {} ms",
                    inner.timeout.as_millis()
                ));
                return None;
            }
        };
        let Some(bytes) = value else {
            inner.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        match inner.open(key, &bytes, unix_ms()) {
            Ok(found) => {
                inner.hits.fetch_add(1, Ordering::Relaxed);
                Some(found)
            }
            Err((reason, detail)) => {
                inner.rejected(key, reason, &detail);
                None
            }
        }
    }

    /// Store `report` (reached under the executor fingerprint `fingerprint`) under `key` for
    /// `ttl`, in a background task (fire and forget; skipped while Redis is backed off, when too
    /// many writes are in flight, or on a read-only signed-summary replica).
    pub fn put(&self, key: String, report: &SubjectReport, ttl: Duration, fingerprint: &str) {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if ttl_ms == 0 {
            return;
        }
        let Ok(permit) = self.inner.writes.clone().try_acquire_owned() else {
            self.inner.dropped_writes.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if !self.inner.allow() {
            self.inner.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let expires_at_ms = unix_ms().saturating_add(ttl_ms);
        let value = match &self.inner.auth {
            TierAuth::Mac(auth) => serde_json::to_vec(report)
                .map(|verdict| Some(auth.seal(&key, expires_at_ms, &verdict)))
                .map_err(|e| e.to_string()),
            TierAuth::Signed(keys) => keys.seal(&key, expires_at_ms, report, fingerprint),
        };
        let value = match value {
            Ok(Some(v)) => v,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(key, error = %e, "cannot seal a verdict for the Redis result cache");
                return;
            }
        };
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let op = async {
                let mut conn = inner.connection().await?;
                redis::cmd("SET")
                    .arg(&key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<()>(&mut conn)
                    .await
            };
            match tokio::time::timeout(inner.timeout, op).await {
                Ok(Ok(())) => {
                    inner.succeeded();
                    inner.written.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(e)) => inner.failed(&format!("SET failed: {e}")),
                Err(_) => inner.failed(&format!(
                    "SET timed out after {} ms",
                    inner.timeout.as_millis()
                )),
            }
        });
    }
}

impl Inner {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn allow(&self) -> bool {
        self.health().allow(Instant::now(), self.retry_after)
    }

    /// Authenticate and parse `value` read under `key` at `now_ms`: the report and how long it
    /// has left, or why it is rejected (with a detail for the log).
    fn open(
        &self,
        key: &str,
        value: &[u8],
        now_ms: u64,
    ) -> Result<(SubjectReport, Duration), (Rejection, String)> {
        let (report, expires_at_ms) = match &self.auth {
            TierAuth::Mac(auth) => {
                let opened = auth
                    .open(key, value, now_ms)
                    .map_err(|r| (r, String::new()))?;
                let report = serde_json::from_slice::<SubjectReport>(opened.verdict)
                    .map_err(|e| (Rejection::Malformed, e.to_string()))?;
                (report, opened.expires_at_ms)
            }
            TierAuth::Signed(keys) => keys.open(key, value, now_ms)?,
        };
        Ok((report, Duration::from_millis(expires_at_ms - now_ms)))
    }

    /// Count a rejected value as a miss of `reason`, and warn about it unless one was logged
    /// within [`REJECTION_LOG_INTERVAL`].
    fn rejected(&self, key: &str, reason: Rejection, detail: &str) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.rejected[reason.index()].fetch_add(1, Ordering::Relaxed);
        let admitted = self
            .rejection_log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(Instant::now());
        match admitted {
            Some(suppressed) => tracing::warn!(
                "error.type" = "redis_value_rejected",
                key,
                reason = reason.as_str(),
                detail,
                suppressed_since_last_warning = suppressed,
                "a value in the Redis result cache was rejected (treated as a miss; the subject is verified afresh)"
            ),
            None => tracing::debug!(
                key,
                reason = reason.as_str(),
                detail,
                "a value in the Redis result cache was rejected"
            ),
        }
    }

    fn succeeded(&self) {
        if self.health().success() {
            tracing::info!(url = %self.url, "redis result cache available again");
        }
    }

    /// Drop the connection, back off, and warn once per outage.
    fn failed(&self, error: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).take();
        let starts_outage = self.health().failure(Instant::now(), self.retry_after);
        if starts_outage {
            tracing::warn!(
                "error.type" = "redis_unavailable",
                url = %self.url,
                error,
                retry_after_ms = u64::try_from(self.retry_after.as_millis()).unwrap_or(u64::MAX),
                "redis result cache unavailable; caching verdicts locally only until it is back"
            );
        } else {
            tracing::debug!(url = %self.url, error, "redis result cache still unavailable");
        }
    }

    /// The current connection, connecting first if there is none.
    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _gate = self.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
        tracing::debug!(url = %self.url, "connected to the redis result cache");
        Ok(conn)
    }

    fn current(&self) -> Option<redis::aio::MultiplexedConnection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_scope_digest_and_fingerprint() {
        let d = Digest::sha256_of(b"subject");
        let k = verdict_key("vouch", "reg.io/repo", &d, "sha256:f1");
        assert!(k.starts_with("vouch:v2:"), "{k}");
        assert_eq!(k.len(), "vouch:v2:".len() + 64);
        assert_eq!(k, verdict_key("vouch", "reg.io/repo", &d, "sha256:f1"));
        let others = [
            verdict_key("other", "reg.io/repo", &d, "sha256:f1"),
            verdict_key("vouch", "reg.io/repo2", &d, "sha256:f1"),
            verdict_key(
                "vouch",
                "reg.io/repo",
                &Digest::sha256_of(b"x"),
                "sha256:f1",
            ),
            verdict_key("vouch", "reg.io/repo", &d, "sha256:f2"),
            // Length prefixes: moving bytes between fields changes the key.
            verdict_key("vouch", "reg.io/repos", &d, "ha256:f1"),
        ];
        for o in &others {
            assert_ne!(&k, o);
        }
    }

    #[test]
    fn back_off_skips_then_probes_once_per_window() {
        let retry = Duration::from_secs(5);
        let t0 = Instant::now();
        let mut h = Health::Up;
        assert!(h.allow(t0, retry));
        assert!(h.failure(t0, retry), "the first failure starts an outage");
        assert!(!h.allow(t0 + Duration::from_secs(1), retry));
        assert!(!h.allow(t0 + Duration::from_millis(4999), retry));
        // The window is over: one probe, the others still skip.
        let t1 = t0 + Duration::from_secs(5);
        assert!(h.allow(t1, retry));
        assert!(!h.allow(t1, retry));
        assert!(!h.failure(t1, retry), "a failed probe does not warn again");
        assert!(!h.allow(t1 + Duration::from_secs(4), retry));
        // A probe whose request was cancelled: the next window probes again.
        let t2 = t1 + Duration::from_secs(5);
        assert!(h.allow(t2, retry));
        let t3 = t2 + Duration::from_secs(5);
        assert!(h.allow(t3, retry));
        assert!(h.success(), "a successful probe ends the outage");
        assert!(h.allow(t3, retry));
        assert!(!h.success());
        assert_eq!(h, Health::Up);
    }

    /// A configuration that validates: `url` and one (never read) key file.
    fn valid(url: &str) -> RedisCacheConfig {
        RedisCacheConfig {
            auth_key_files: vec!["k".into()],
            ..RedisCacheConfig::new(url)
        }
    }

    #[test]
    fn config_validation_names_the_field() {
        let ok = valid("redis://127.0.0.1:6379/0");
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.timeout(), Duration::from_millis(50));
        assert_eq!(ok.retry_after(), Duration::from_secs(5));
        let field = |c: RedisCacheConfig| c.validate().unwrap_err().0;
        assert_eq!(field(valid("http://127.0.0.1:6379")), "url");
        assert_eq!(
            field(RedisCacheConfig {
                key_prefix: "a b".into(),
                ..ok.clone()
            }),
            "keyPrefix"
        );
        assert_eq!(
            field(RedisCacheConfig {
                timeout_ms: 0,
                ..ok.clone()
            }),
            "timeoutMs"
        );
        assert_eq!(
            field(RedisCacheConfig {
                retry_after_ms: 0,
                ..ok.clone()
            }),
            "retryAfterMs"
        );
        let tls = valid("rediss://127.0.0.1:6380/0");
        assert_eq!(tls.validate(), Ok(()));
        let with = |c: &RedisCacheConfig, f: &dyn Fn(&mut RedisCacheConfig)| {
            let mut c = c.clone();
            f(&mut c);
            c
        };
        assert_eq!(
            with(&tls, &|c| {
                c.ca_file = Some("ca.pem".into());
                c.client_cert_file = Some("c.pem".into());
                c.client_key_file = Some("k.pem".into());
                c.username = Some("vouch".into());
                c.password_file = Some("pw".into());
            })
            .validate(),
            Ok(())
        );
        for (config, expected) in [
            // No authentication, and no explicit opt-out: refused.
            (RedisCacheConfig::new("redis://r"), "authKeyFiles"),
            (
                with(&ok, &|c| c.insecure_unauthenticated = true),
                "insecureUnauthenticated",
            ),
            (
                with(&ok, &|c| c.auth_key_files.push("".into())),
                "authKeyFiles",
            ),
            // TLS files need a TLS url.
            (with(&ok, &|c| c.ca_file = Some("ca.pem".into())), "caFile"),
            (
                with(&ok, &|c| c.client_cert_file = Some("c.pem".into())),
                "clientCertFile",
            ),
            (
                with(&tls, &|c| c.client_cert_file = Some("c.pem".into())),
                "clientKeyFile",
            ),
            (
                with(&tls, &|c| c.client_key_file = Some("k.pem".into())),
                "clientCertFile",
            ),
            (
                with(&ok, &|c| c.username = Some("vouch".into())),
                "passwordFile",
            ),
            (
                with(&ok, &|c| {
                    c.username = Some("a b".into());
                    c.password_file = Some("pw".into());
                }),
                "username",
            ),
            // Credentials never inline; no certificate-less TLS.
            (valid("redis://user:s3cret@r"), "url"),
            (valid("redis://:s3cret@r"), "url"),
            (valid("rediss://r#insecure"), "url"),
        ] {
            assert_eq!(field(config.clone()), expected, "{config:?}");
        }
        let insecure = RedisCacheConfig {
            insecure_unauthenticated: true,
            ..RedisCacheConfig::new("redis://r")
        };
        assert_eq!(insecure.validate(), Ok(()));
        assert!(RedisTier::new(&valid("nope://x"), Path::new(".")).is_err());
        // A tier is never built from an invalid configuration.
        let e = RedisTier::new(&RedisCacheConfig::new("redis://r"), Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(e.contains("authKeyFiles"), "{e}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("redis://user:s3cret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(redact("redis://:s3cret@host"), "redis://:***@host");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        let c = RedisCacheConfig::new("redis://:s3cret@host");
        assert!(!format!("{c:?}").contains("s3cret"));
        let e = valid("redis://:s3cret@host:notaport")
            .validate()
            .unwrap_err();
        assert!(!e.1.contains("s3cret"), "{}", e.1);
        let e = valid("redis://:s3cret@host").validate().unwrap_err();
        assert!(
            !e.1.contains("s3cret") && e.1.contains("passwordFile"),
            "{}",
            e.1
        );
    }

    #[test]
    fn files_are_read_when_the_tier_is_built_and_errors_name_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), [b'A'; 44]).unwrap();
        std::fs::write(dir.path().join("short"), "AAAA").unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        std::fs::write(dir.path().join("empty-pw"), "\n").unwrap();
        let base = |c: RedisCacheConfig| RedisTier::new(&c, dir.path());
        let ok = RedisCacheConfig {
            auth_key_files: vec!["key".into()],
            password_file: Some("pw".into()),
            username: Some("vouch".into()),
            ..RedisCacheConfig::new("redis://127.0.0.1:1")
        };
        let tier = base(ok.clone()).unwrap();
        assert!(matches!(tier.auth(), TierAuth::Mac(ValueAuth::Hmac(k)) if k.len() == 1));
        // A reload builds the tier again and so reads the files again: a rotated key file is
        // picked up without a change to the configuration.
        let signing = |t: &RedisTier| match t.auth() {
            TierAuth::Mac(ValueAuth::Hmac(k)) => k.signing_id(),
            other => unreachable!("{other:?}"),
        };
        std::fs::write(dir.path().join("key"), [b'B'; 44]).unwrap();
        let reloaded = base(ok.clone()).unwrap();
        assert_ne!(signing(&tier), signing(&reloaded));
        assert!(!format!("{tier:?}").contains("s3cret"));
        assert_eq!(read_password(&dir.path().join("pw")).unwrap(), "s3cret");
        for (config, needle) in [
            (
                RedisCacheConfig {
                    auth_key_files: vec!["key".into(), "missing-key".into()],
                    ..ok.clone()
                },
                "missing-key",
            ),
            (
                RedisCacheConfig {
                    auth_key_files: vec!["short".into()],
                    ..ok.clone()
                },
                "decodes to 3 bytes",
            ),
            (
                RedisCacheConfig {
                    password_file: Some("nope".into()),
                    ..ok.clone()
                },
                "passwordFile",
            ),
            (
                RedisCacheConfig {
                    password_file: Some("empty-pw".into()),
                    ..ok.clone()
                },
                "is empty",
            ),
            (
                RedisCacheConfig {
                    url: "rediss://127.0.0.1:1".into(),
                    ca_file: Some("no-ca.pem".into()),
                    ..ok.clone()
                },
                "no-ca.pem",
            ),
        ] {
            let e = base(config).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn rejection_warnings_are_rate_limited() {
        let mut log = RejectionLog::default();
        let t0 = Instant::now();
        assert_eq!(log.admit(t0), Some(0));
        assert_eq!(log.admit(t0 + Duration::from_secs(1)), None);
        assert_eq!(log.admit(t0 + Duration::from_secs(9)), None);
        assert_eq!(log.admit(t0 + REJECTION_LOG_INTERVAL), Some(2));
        assert_eq!(log.admit(t0 + REJECTION_LOG_INTERVAL * 3), Some(0));
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_a_fast_miss_then_skipped() {
        // A port nothing listens on (bound then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tier = RedisTier::new(
            &RedisCacheConfig {
                insecure_unauthenticated: true,
                ..RedisCacheConfig::new(format!("redis://127.0.0.1:{port}"))
            },
            Path::new("."),
        )
        .unwrap();
        let t = Instant::now();
        assert!(tier.get("k").await.is_none());
        assert!(tier.get("k").await.is_none());
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        let s = tier.stats();
        assert_eq!((s.errors, s.skipped, s.hits), (1, 1, 0), "{s:?}");
    }
}
