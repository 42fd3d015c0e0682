//! OCI distribution client: tag resolution, referrers (API and tag-schema fallback), manifests and
//! blobs, with authentication, retries, concurrency limits and size/digest checks.
//!
//! # Why raw HTTP rather than `oci-client`'s request methods
//! `oci-client` 0.18 buffers every response body whole (`Response::bytes`), has no per-request
//! size cap, no retry or `Retry-After` handling, does not evict a token the registry rejects, and
//! does not follow `Link` pagination on the referrers API. Each of those is an invariant here
//! (content is size-capped while it streams, limits are verdicts, not crashes), so this module
//! speaks the distribution protocol over `reqwest` (the same version `oci-client` uses) and keeps
//! the whole request path — auth, retries, caps, digests — in one place. `oci-client` is used in the
//! tests as an independent client that pushes content this client must read back.
//!
//! Every byte returned has been size-capped while streaming (never buffered past `cap + 1`) and
//! checked against its digest; manifests have also been parsed.

pub mod auth;
mod pull;
pub mod push;
mod referrers;
pub mod retry;
mod transport;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LINK, WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode, Url};
use tokio::sync::{OnceCell, Semaphore};

use self::auth::{Challenge, Credentials, DockerConfig, TokenCache, TokenResponse};
use self::retry::RetryPolicy;
use super::content::{ContentError, check_content};
use super::manifest::{
    BINDING_ANNOTATION, CosignTag, MANIFEST_MEDIA_TYPES, OCI_INDEX, REPOSITORY_ANNOTATION,
};
use super::{Descriptor, Digest, Manifest, Reference};
use pull::*;
use transport::*;

/// The header registries put the manifest digest in.
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
/// How long a registry that answered 404 to the referrers API is assumed to lack it.
const NO_REFERRERS_API_RECHECK: std::time::Duration = std::time::Duration::from_secs(600);
/// The most referrer pages followed before giving up.
const MAX_REFERRER_PAGES: usize = 64;
/// The largest token-endpoint answer accepted.
const MAX_TOKEN_RESPONSE_BYTES: u64 = 1 << 20;
/// The most redirects followed (blob downloads are often redirected to object storage).
const MAX_REDIRECTS: usize = 5;

/// Settings for one registry (or the default for all registries).
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// Talk plain HTTP to this registry. Loopback registries always use plain HTTP.
    pub insecure: bool,
    /// Explicit credentials; when set, the Docker config is not consulted.
    pub credentials: Option<Credentials>,
    /// A Docker `config.json` to read credentials from (`auths`, `credHelpers`, `credsStore`).
    pub docker_config: Option<PathBuf>,
    /// Concurrent requests to this registry at most.
    pub max_concurrency: usize,
    /// Time limit for one request, body included.
    pub timeout: Duration,
    /// Attempts and back-off on 429, 5xx, timeouts and connection errors.
    pub retry: RetryPolicy,
    /// The largest manifest (or referrers page) accepted, in bytes.
    pub max_manifest_bytes: u64,
    /// The largest blob accepted, in bytes.
    pub max_blob_bytes: u64,
    /// Where cosign's `sha256-<hex>.sig` / `.att` tags of this registry's images live, when not
    /// in the image's own repository (cosign's `COSIGN_REPOSITORY`). Only the tag lookups go
    /// there, as in cosign; OCI 1.1 referrers are still read from the image's repository.
    pub signature_repository: Option<Reference>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure: false,
            credentials: None,
            docker_config: None,
            max_concurrency: 16,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_manifest_bytes: 4 << 20,
            max_blob_bytes: 32 << 20,
            signature_repository: None,
        }
    }
}

/// Why a registry request failed. Every variant names what was being fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered 404.
    #[error("{what}: not found")]
    NotFound {
        /// What was fetched.
        what: String,
    },
    /// The registry refused the credentials (after one token renewal).
    #[error("{what}: unauthorized by {registry} (HTTP {status}){detail}")]
    Unauthorized {
        /// What was fetched.
        what: String,
        /// The registry host.
        registry: String,
        /// 401 or 403.
        status: u16,
        /// Extra detail (prefixed with `: ` when present).
        detail: String,
    },
    /// The content is over the cap (declared or observed size).
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// What was fetched.
        what: String,
        /// Its declared size, or how many bytes arrived before the read stopped.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// The bytes do not hash to the expected digest.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// A manifest fetched by tag hashes to another digest than the registry's
    /// `Docker-Content-Digest` header names: the header alone never names content.
    #[error(
        "{what}: the registry says its digest is {header} (Docker-Content-Digest), but the manifest it sent hashes to {body}"
    )]
    HeaderDigestMismatch {
        /// What was fetched (names the registry host, the repository and the tag).
        what: String,
        /// The digest the header names.
        header: Digest,
        /// The digest of the bytes that arrived.
        body: Digest,
    },
    /// The content or the registry's answer is malformed.
    #[error("{what}: invalid: {reason}")]
    Invalid {
        /// What was fetched.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// The registry could not answer (5xx, 429, connection errors), after every attempt.
    #[error("{what}: registry unavailable after {attempts} attempt(s): {reason}")]
    Unavailable {
        /// What was fetched.
        what: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// Every attempt hit the per-request time limit.
    #[error("{what}: timed out after {attempts} attempt(s) of {timeout:?} each")]
    Timeout {
        /// What was fetched.
        what: String,
        /// Attempts made.
        attempts: u32,
        /// The per-request limit.
        timeout: Duration,
    },
    /// The configuration does not allow the request (credentials file, plain HTTP).
    #[error("registry {registry}: {reason}")]
    Config {
        /// The registry host.
        registry: String,
        /// What was wrong.
        reason: String,
    },
}

impl RegistryError {
    /// Fold a content-check failure (from [`check_content`]) into a registry error.
    fn from_check(what: &str, e: ContentError) -> RegistryError {
        match e {
            ContentError::TooLarge { size, limit, .. } => RegistryError::TooLarge {
                what: what.to_owned(),
                size,
                limit,
            },
            ContentError::DigestMismatch { expected, actual } => RegistryError::DigestMismatch {
                what: what.to_owned(),
                expected,
                actual,
            },
            other @ ContentError::SizeMismatch { .. } => RegistryError::Invalid {
                what: what.to_owned(),
                reason: format!("invalid content: {other}"),
            },
        }
    }
}

/// The outcome of one failed attempt: retry it or give up.
enum Failure {
    /// Transient; `retry_after` is the server's hint.
    Retry {
        reason: String,
        timed_out: bool,
        retry_after: Option<Duration>,
    },
    /// Final.
    Fatal(RegistryError),
}

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Self {
        Failure::Fatal(e)
    }
}

/// How a request authenticates, decided per attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AuthUsed {
    None,
    Basic,
    Bearer(String),
}

/// Per-registry state: settings, limits, credentials and tokens.
struct RegistryState {
    host: String,
    base: Url,
    config: RegistryConfig,
    permits: Semaphore,
    credentials: OnceCell<Option<Credentials>>,
    /// The scheme the registry asked for last (from its `WWW-Authenticate`).
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<TokenCache>,
    /// Serialises token fetches so concurrent requests share one renewal.
    token_fetch: tokio::sync::Mutex<()>,
    /// Until when the registry is known to lack the referrers API (it answered 404), so lists go
    /// straight to the tag-schema fallback instead of paying a 404 first (as oras-go does).
    no_referrers_api_until: Mutex<Option<std::time::Instant>>,
    /// Requests sent by status code (`None`: no HTTP answer), for metrics.
    requests: Mutex<std::collections::BTreeMap<Option<u16>, u64>>,
}

impl RegistryState {
    /// Count a request that ended with `status` (`None`: no HTTP answer).
    fn count(&self, status: Option<StatusCode>) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *requests.entry(status.map(|s| s.as_u16())).or_default() += 1;
    }
}

/// A client for OCI registries, shared by every repository store; holds per-registry settings,
/// credentials, token caches and concurrency limits.
pub struct RegistryClient {
    http: reqwest::Client,
    default: RegistryConfig,
    overrides: HashMap<String, RegistryConfig>,
    states: Mutex<HashMap<String, Arc<RegistryState>>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("default", &self.default)
            .field("overrides", &self.overrides.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The bytes of a manifest fetched by tag or digest, verified, with its descriptor.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    /// Media type, digest and size of the bytes.
    pub descriptor: Descriptor,
    /// The manifest bytes.
    pub bytes: Bytes,
    /// The parsed manifest.
    pub manifest: Manifest,
}

impl RegistryClient {
    /// A client using `default` for every registry.
    pub fn new(default: RegistryConfig) -> Result<RegistryClient, RegistryError> {
        Self::with_registries(default, HashMap::new())
    }

    /// A client using `overrides[host]` for the registries it names and `default` for the rest.
    pub fn with_registries(
        default: RegistryConfig,
        overrides: HashMap<String, RegistryConfig>,
    ) -> Result<RegistryClient, RegistryError> {
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            let downgrade = attempt
                .previous()
                .last()
                .is_some_and(|prev| prev.scheme() == "https")
                && attempt.url().scheme() != "https";
            if downgrade {
                return attempt.error("refusing a redirect from HTTPS to plain HTTP");
            }
            attempt.follow()
        });
        let http = reqwest::Client::builder()
            .redirect(redirects)
            .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Config {
                registry: "*".into(),
                reason: format!("cannot build the HTTP client: {}", error_chain(&e)),
            })?;
        Ok(RegistryClient {
            http,
            default,
            overrides,
            states: Mutex::new(HashMap::new()),
        })
    }

    /// Requests sent so far (token requests aside), as `(registry, status, count)` sorted by
    /// registry then status; the status is the HTTP code, or `error` when no answer came.
    pub fn request_counts(&self) -> Vec<(String, String, u64)> {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let mut counts: Vec<_> = states
            .values()
            .flat_map(|st| {
                let requests = st.requests.lock().unwrap_or_else(|p| p.into_inner());
                requests
                    .iter()
                    .map(|(status, n)| {
                        let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
                        (st.host.clone(), status, *n)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        counts.sort();
        counts
    }

    fn state(&self, reference: &Reference) -> Result<Arc<RegistryState>, RegistryError> {
        let host = reference.registry();
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = states.get(host) {
            return Ok(s.clone());
        }
        let config = self.overrides.get(host).unwrap_or(&self.default).clone();
        let plain = config.insecure || reference.is_loopback();
        let api_host = if host == super::reference::DEFAULT_REGISTRY {
            auth::DOCKER_HUB_API_HOST
        } else {
            host
        };
        let scheme = if plain { "http" } else { "https" };
        let base =
            Url::parse(&format!("{scheme}://{api_host}/")).map_err(|e| RegistryError::Config {
                registry: host.to_owned(),
                reason: format!("invalid registry address: {e}"),
            })?;
        let state = Arc::new(RegistryState {
            host: host.to_owned(),
            base,
            permits: Semaphore::new(config.max_concurrency.max(1)),
            config,
            credentials: OnceCell::new(),
            challenge: Mutex::new(None),
            tokens: Mutex::new(TokenCache::default()),
            token_fetch: tokio::sync::Mutex::new(()),
            no_referrers_api_until: Mutex::new(None),
            requests: Mutex::new(Default::default()),
        });
        states.insert(host.to_owned(), state.clone());
        Ok(state)
    }

    /// The settings in force for `reference`'s registry.
    pub fn config_for(&self, reference: &Reference) -> &RegistryConfig {
        self.overrides
            .get(reference.registry())
            .unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::referrers::*;
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn follows_link_headers() {
        let cur = Url::parse("http://127.0.0.1:5000/v2/a/referrers/sha256:x").unwrap();
        let mut h = HeaderMap::new();
        assert!(next_link(&h, &cur).is_none());
        h.insert(
            LINK,
            HeaderValue::from_static(r#"</v2/a/referrers/sha256:x?last=2&n=2>; rel="next""#),
        );
        let next = next_link(&h, &cur).unwrap().unwrap();
        assert_eq!(
            next.as_str(),
            "http://127.0.0.1:5000/v2/a/referrers/sha256:x?last=2&n=2"
        );
        h.insert(
            LINK,
            HeaderValue::from_static(r#"<http://other/x>; rel="prev""#),
        );
        assert!(next_link(&h, &cur).is_none());
        h.insert(LINK, HeaderValue::from_static(r#"no-brackets; rel=next"#));
        assert!(next_link(&h, &cur).unwrap().is_err());
    }

    #[test]
    fn builds_urls_and_picks_scheme() {
        let client = RegistryClient::new(RegistryConfig::default()).unwrap();
        let local: Reference = "127.0.0.1:5000/team/app:v1".parse().unwrap();
        let st = client.state(&local).unwrap();
        assert_eq!(
            manifest_url(&st, &local, "v1").unwrap().as_str(),
            "http://127.0.0.1:5000/v2/team/app/manifests/v1"
        );
        let hub: Reference = "nginx".parse().unwrap();
        let st = client.state(&hub).unwrap();
        assert_eq!(
            repo_url(&st, &hub, &["blobs", "sha256:ab"])
                .unwrap()
                .as_str(),
            "https://registry-1.docker.io/v2/library/nginx/blobs/sha256:ab"
        );
    }

    #[test]
    fn filters_by_artifact_type() {
        let mut a = Descriptor::for_content(OCI_INDEX, b"a");
        a.artifact_type = Some("x".into());
        let b = Descriptor::for_content(OCI_INDEX, b"b");
        let all = vec![a.clone(), b];
        assert_eq!(filter_artifact_type(all.clone(), Some("x")), vec![a]);
        assert_eq!(filter_artifact_type(all.clone(), Some("y")), vec![]);
        assert_eq!(filter_artifact_type(all, None).len(), 2);
    }

    #[test]
    fn rejects_malformed_pinned_digests() {
        assert_eq!(pinned_digest("v1.0", "m").unwrap(), None);
        assert!(pinned_digest("sha256:zz", "m").is_err());
    }
}
