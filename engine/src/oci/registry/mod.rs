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
pub mod push;
pub mod retry;

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

    /// Resolve `tag_or_digest` in `reference`'s repository to the descriptor of its manifest.
    ///
    /// A tag is resolved by GETting the manifest and hashing the bytes: the registry's
    /// `Docker-Content-Digest` header is only compared with that digest, never trusted alone (a
    /// registry could otherwise name a different, signed manifest than the one the tag serves).
    /// A digest is asked with HEAD (the bytes are checked against it when fetched); when that
    /// answer lacks a digest, media type or size, the manifest is fetched and described instead.
    pub async fn resolve(
        &self,
        reference: &Reference,
        tag_or_digest: &str,
    ) -> Result<Descriptor, RegistryError> {
        let st = self.state(reference)?;
        let what = format!(
            "manifest {}/{}:{tag_or_digest}",
            st.host,
            reference.repository()
        );
        let pinned = pinned_digest(tag_or_digest, &what)?;
        if pinned.is_none() {
            return Ok(self
                .fetch_manifest_by_ref(&st, reference, tag_or_digest, &what)
                .await?
                .descriptor);
        }
        let url = &manifest_url(&st, reference, tag_or_digest)?;
        let (st, what_ref) = (&*st, what.as_str());
        let head = self
            .with_retries(st, what_ref, |_| async move {
                let resp = self
                    .send(
                        st,
                        reference,
                        Method::HEAD,
                        url,
                        &MANIFEST_MEDIA_TYPES.join(", "),
                        what_ref,
                    )
                    .await?;
                Ok(resp.headers().clone())
            })
            .await?;
        let digest = head
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let media_type = header_str(&head, CONTENT_TYPE.as_str())
            .map(|m| m.split(';').next().unwrap_or(m).trim().to_owned())
            .filter(|m| MANIFEST_MEDIA_TYPES.contains(&m.as_str()));
        let size = header_str(&head, CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
        if let (Some(digest), Some(media_type), Some(size)) = (digest, media_type, size) {
            if let Some(pinned) = &pinned
                && *pinned != digest
            {
                return Err(RegistryError::DigestMismatch {
                    what,
                    expected: pinned.clone(),
                    actual: digest,
                });
            }
            let limit = st.config.max_manifest_bytes;
            if size > limit {
                return Err(RegistryError::TooLarge { what, size, limit });
            }
            return Ok(Descriptor {
                media_type,
                digest,
                size,
                artifact_type: None,
                annotations: Default::default(),
            });
        }
        tracing::debug!(%what, "HEAD gave no digest, media type or size; fetching the manifest");
        Ok(self
            .fetch_manifest_by_ref(st, reference, tag_or_digest, &what)
            .await?
            .descriptor)
    }

    /// Fetch and verify the manifest `tag_or_digest` names; the descriptor describes the bytes.
    pub async fn fetch_manifest_ref(
        &self,
        reference: &Reference,
        tag_or_digest: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let st = self.state(reference)?;
        let what = format!(
            "manifest {}/{}:{tag_or_digest}",
            st.host,
            reference.repository()
        );
        self.fetch_manifest_by_ref(&st, reference, tag_or_digest, &what)
            .await
    }

    async fn fetch_manifest_by_ref(
        &self,
        st: &RegistryState,
        reference: &Reference,
        tag_or_digest: &str,
        what: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let pinned = pinned_digest(tag_or_digest, what)?;
        let url = &manifest_url(st, reference, tag_or_digest)?;
        let limit = st.config.max_manifest_bytes;
        let (headers, bytes) = self
            .with_retries(st, what, |_| async move {
                let resp = self
                    .send(
                        st,
                        reference,
                        Method::GET,
                        url,
                        &MANIFEST_MEDIA_TYPES.join(", "),
                        what,
                    )
                    .await?;
                let headers = resp.headers().clone();
                let bytes = read_capped(resp, limit, what).await?;
                Ok((headers, bytes))
            })
            .await?;
        let header_digest = match header_str(&headers, DOCKER_CONTENT_DIGEST) {
            Some(v) => Some(v.parse::<Digest>().map_err(|e| RegistryError::Invalid {
                what: what.to_owned(),
                reason: format!("bad Docker-Content-Digest header: {e}"),
            })?),
            None => None,
        };
        let digest = match (&pinned, &header_digest) {
            (Some(expected), _) => {
                let actual = expected.recompute(&bytes);
                if actual != *expected {
                    return Err(RegistryError::DigestMismatch {
                        what: what.to_owned(),
                        expected: expected.clone(),
                        actual,
                    });
                }
                actual
            }
            (None, Some(header)) => {
                let body = header.recompute(&bytes);
                if body != *header {
                    return Err(RegistryError::HeaderDigestMismatch {
                        what: what.to_owned(),
                        header: header.clone(),
                        body,
                    });
                }
                body
            }
            (None, None) => Digest::sha256_of(&bytes),
        };
        // A registry that names a different digest than the one pinned is lying about something.
        if let Some(h) = header_digest
            && h.algorithm() == digest.algorithm()
            && h != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: what.to_owned(),
                expected: digest,
                actual: h,
            });
        }
        let manifest = Manifest::parse(&bytes).map_err(|e| RegistryError::Invalid {
            what: what.to_owned(),
            reason: format!("{e}; the registry answered {}", excerpt(&bytes)),
        })?;
        let media_type = manifest
            .media_type
            .clone()
            .or_else(|| {
                header_str(&headers, CONTENT_TYPE.as_str())
                    .map(|m| m.split(';').next().unwrap_or(m).trim().to_owned())
            })
            .ok_or_else(|| RegistryError::Invalid {
                what: what.to_owned(),
                reason: "no media type in the manifest or the Content-Type header".into(),
            })?;
        Ok(FetchedManifest {
            descriptor: Descriptor {
                media_type,
                digest,
                size: bytes.len() as u64,
                artifact_type: None,
                annotations: Default::default(),
            },
            bytes,
            manifest,
        })
    }

    /// Fetch the manifest `desc` names: size-capped, digest-checked and parsed.
    pub async fn get_manifest(
        &self,
        reference: &Reference,
        desc: &Descriptor,
    ) -> Result<Bytes, RegistryError> {
        let st = self.state(reference)?;
        let what = format!(
            "manifest {}/{}@{}",
            st.host,
            reference.repository(),
            desc.digest
        );
        let limit = st.config.max_manifest_bytes;
        let bytes = self
            .fetch_content(&st, reference, desc, "manifests", limit, &what)
            .await?;
        Manifest::parse(&bytes).map_err(|e| RegistryError::Invalid {
            what,
            reason: e.to_string(),
        })?;
        Ok(bytes)
    }

    /// Fetch the blob `desc` names: size-capped and digest-checked.
    pub async fn get_blob(
        &self,
        reference: &Reference,
        desc: &Descriptor,
    ) -> Result<Bytes, RegistryError> {
        let st = self.state(reference)?;
        let what = format!(
            "blob {}/{}@{}",
            st.host,
            reference.repository(),
            desc.digest
        );
        let limit = st.config.max_blob_bytes;
        self.fetch_content(&st, reference, desc, "blobs", limit, &what)
            .await
    }

    async fn fetch_content(
        &self,
        st: &RegistryState,
        reference: &Reference,
        desc: &Descriptor,
        kind: &str,
        limit: u64,
        what: &str,
    ) -> Result<Bytes, RegistryError> {
        if desc.size > limit {
            return Err(RegistryError::TooLarge {
                what: what.to_owned(),
                size: desc.size,
                limit,
            });
        }
        let url = &repo_url(st, reference, &[kind, &desc.digest.to_string()])?;
        let accept = &if kind == "manifests" {
            MANIFEST_MEDIA_TYPES.join(", ")
        } else {
            "*/*".to_owned()
        };
        let bytes = self
            .with_retries(st, what, |_| async move {
                let resp = self
                    .send(st, reference, Method::GET, url, accept, what)
                    .await?;
                read_capped(resp, limit, what).await
            })
            .await?;
        check_content(desc, &bytes, limit).map_err(|e| RegistryError::from_check(what, e))?;
        Ok(bytes)
    }

    /// Referrers of `subject` in `reference`'s repository, optionally of one artifact type.
    ///
    /// Uses the referrers API (following `Link` pagination); when the registry answers 404, reads
    /// the tag-schema fallback index (`sha256-<hex>`). The artifact type is filtered here in both
    /// cases, whatever the registry did with the `artifactType` parameter. Vouch-reserved
    /// annotations are stripped from what the registry lists.
    ///
    /// Then, for each kind the artifact type filter admits, looks up cosign's tags
    /// `sha256-<hex>.sig` and `sha256-<hex>.att` (one request each per listed node, concurrent) in
    /// the repository cosign keeps them in ([`Self::signature_repository`]): a tag that exists
    /// adds its manifest as a referrer of the kind's artifact type bound to `subject` by the tag
    /// ([`Descriptor::into_cosign_tag_bound`]). A missing tag is no signature; any other failure
    /// of a lookup is an error.
    pub async fn referrers(
        &self,
        reference: &Reference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        let mut found = self
            .listed_referrers(reference, subject, artifact_type)
            .await?;
        for d in &mut found {
            if d.strip_reserved() {
                tracing::warn!(
                    registry = %reference.registry(),
                    repository = %reference.repository(),
                    %subject,
                    referrer = %d.digest,
                    annotation = BINDING_ANNOTATION,
                    "the registry listed a referrer carrying a Vouch-reserved annotation; stripped"
                );
            }
        }
        let lookups = CosignTag::ALL
            .into_iter()
            .filter(|kind| kind.wanted(artifact_type))
            .map(|kind| self.cosign_tagged(reference, subject, kind));
        for bound in futures::future::try_join_all(lookups)
            .await?
            .into_iter()
            .flatten()
        {
            // The tag binds it whatever the registry listed: one entry, the bound one.
            found.retain(|d| d.digest != bound.digest);
            found.push(bound);
        }
        Ok(found)
    }

    /// The repository cosign's tags of `reference`'s images are looked up in: the registry's
    /// configured `signature_repository`, else `reference`'s own.
    pub fn signature_repository(&self, reference: &Reference) -> Reference {
        self.config_for(reference)
            .signature_repository
            .clone()
            .unwrap_or_else(|| reference.clone())
    }

    /// The manifest cosign's tag `sha256-<hex>.sig` or `.att` names, as a tag-bound descriptor
    /// of `subject`; `None` when the tag does not exist. When the tag lives in another repository
    /// than `reference`'s, the descriptor names it ([`REPOSITORY_ANNOTATION`]).
    async fn cosign_tagged(
        &self,
        reference: &Reference,
        subject: &Digest,
        kind: CosignTag,
    ) -> Result<Option<Descriptor>, RegistryError> {
        let repository = self.signature_repository(reference);
        let tag = subject.cosign_tag(kind);
        match self.resolve(&repository, &tag).await {
            Ok(desc) => {
                tracing::debug!(
                    repository = %repository.name(),
                    %subject,
                    %tag,
                    referrer = %desc.digest,
                    "found cosign's tag-stored artifact"
                );
                let mut bound = desc.into_cosign_tag_bound(kind, subject);
                if repository.name() != reference.name() {
                    bound
                        .annotations
                        .insert(REPOSITORY_ANNOTATION.to_owned(), repository.name());
                }
                Ok(Some(bound))
            }
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// What the registry itself lists as referrers of `subject` (API, else the fallback index).
    async fn listed_referrers(
        &self,
        reference: &Reference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        let st = self.state(reference)?;
        let what = format!(
            "referrers of {}/{}@{subject}",
            st.host,
            reference.repository()
        );
        let limit = st.config.max_manifest_bytes;
        let known_missing = st
            .no_referrers_api_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|until| std::time::Instant::now() < until);
        if known_missing {
            return self
                .referrers_fallback(&st, reference, subject, artifact_type)
                .await;
        }
        let mut url = repo_url(&st, reference, &["referrers", &subject.to_string()])?;
        if let Some(at) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", at);
        }
        let mut found = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for page in 0.. {
            if page >= MAX_REFERRER_PAGES {
                return Err(RegistryError::Invalid {
                    what,
                    reason: format!("more than {MAX_REFERRER_PAGES} pages of referrers"),
                });
            }
            if !seen.insert(url.clone()) {
                return Err(RegistryError::Invalid {
                    what,
                    reason: format!("pagination loops back to {url}"),
                });
            }
            let (st_ref, url_ref, what_ref) = (&*st, &url, what.as_str());
            let result = self
                .with_retries(st_ref, what_ref, |_| async move {
                    let resp = self
                        .send(st_ref, reference, Method::GET, url_ref, OCI_INDEX, what_ref)
                        .await?;
                    let headers = resp.headers().clone();
                    let bytes = read_capped(resp, limit, what_ref).await?;
                    Ok((headers, bytes))
                })
                .await;
            let (headers, bytes) = match result {
                Ok(r) => r,
                Err(RegistryError::NotFound { .. }) if page == 0 => {
                    tracing::debug!(%what, "no referrers API (404); reading the tag-schema fallback");
                    // A registry with the API answers 200 (an empty index) even for an unknown
                    // subject, so a 404 means the API is missing; re-probe after a while in case
                    // the registry is upgraded.
                    *st.no_referrers_api_until
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) =
                        Some(std::time::Instant::now() + NO_REFERRERS_API_RECHECK);
                    return self
                        .referrers_fallback(&st, reference, subject, artifact_type)
                        .await;
                }
                Err(e) => return Err(e),
            };
            found.extend(parse_referrers_answer(&bytes).map_err(|reason| {
                RegistryError::Invalid {
                    what: what.clone(),
                    reason,
                }
            })?);
            match next_link(&headers, &url) {
                Some(Ok(next)) => {
                    if next.origin() != url.origin() {
                        return Err(RegistryError::Invalid {
                            what,
                            reason: format!("Link header points to another origin: {next}"),
                        });
                    }
                    url = next;
                }
                Some(Err(reason)) => return Err(RegistryError::Invalid { what, reason }),
                None => break,
            }
        }
        Ok(filter_artifact_type(found, artifact_type))
    }

    async fn referrers_fallback(
        &self,
        st: &RegistryState,
        reference: &Reference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        let tag = subject.fallback_tag();
        let what = format!(
            "referrers index {}/{}:{tag}",
            st.host,
            reference.repository()
        );
        let fetched = match self.fetch_manifest_by_ref(st, reference, &tag, &what).await {
            Ok(f) => f,
            Err(RegistryError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        // Stricter than the spec's "SHOULD assume there are no referrers" for an invalid
        // fallback index: a verdict must fail closed, so an answer that is not an index of
        // referrers is an error naming it, never an empty list.
        let listed = parse_referrers_answer(&fetched.bytes)
            .map_err(|reason| RegistryError::Invalid { what, reason })?;
        Ok(filter_artifact_type(listed, artifact_type))
    }

    /// Run `attempt` up to the policy's attempt count, backing off between transient failures,
    /// each attempt holding one of the registry's concurrency permits.
    async fn with_retries<T, F, Fut>(
        &self,
        st: &RegistryState,
        what: &str,
        mut attempt: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let policy = &st.config.retry;
        let max = policy.max_attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            let result = {
                let _permit = st
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| RegistryError::Config {
                        registry: st.host.clone(),
                        reason: "the client is shutting down".into(),
                    })?;
                attempt(n).await
            };
            match result {
                Ok(v) => return Ok(v),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry {
                    reason,
                    timed_out,
                    retry_after,
                }) => {
                    if n >= max {
                        return Err(if timed_out {
                            RegistryError::Timeout {
                                what: what.to_owned(),
                                attempts: n,
                                timeout: st.config.timeout,
                            }
                        } else {
                            RegistryError::Unavailable {
                                what: what.to_owned(),
                                attempts: n,
                                reason,
                            }
                        });
                    }
                    let delay = policy.delay(n, retry_after);
                    tracing::debug!(%what, attempt = n, ?delay, %reason, "retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Send one request with authentication; on 401/403, renew the token (or switch to basic
    /// credentials) and try once more. Returns a 2xx response; maps everything else.
    async fn send(
        &self,
        st: &RegistryState,
        reference: &Reference,
        method: Method,
        url: &Url,
        accept: &str,
        what: &str,
    ) -> Result<Response, Failure> {
        self.send_with(st, reference, method, url, accept, what, "pull", None)
            .await
    }

    /// [`Self::send`] with the token scope's `actions` (`pull`, `pull,push`) and an optional
    /// request body with its content type (resent as is when the request is retried after a
    /// token renewal).
    #[allow(clippy::too_many_arguments)]
    async fn send_with(
        &self,
        st: &RegistryState,
        reference: &Reference,
        method: Method,
        url: &Url,
        accept: &str,
        what: &str,
        actions: &str,
        body: Option<(&str, &Bytes)>,
    ) -> Result<Response, Failure> {
        let scope = format!("repository:{}:{actions}", reference.repository());
        let mut renewed = false;
        loop {
            let auth = self.current_auth(st, &scope).await?;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .timeout(st.config.timeout)
                .header(ACCEPT, accept);
            if let Some((content_type, bytes)) = body {
                req = req
                    .header(CONTENT_TYPE, content_type)
                    .body((*bytes).clone());
            }
            match &auth {
                AuthUsed::None => {}
                AuthUsed::Basic => {
                    if let Some(c) = self.credentials(st).await? {
                        req = req.header(AUTHORIZATION, c.basic_header());
                    }
                }
                AuthUsed::Bearer(t) => req = req.header(AUTHORIZATION, format!("Bearer {t}")),
            }
            let resp = req.send().await.map_err(|e| {
                st.count(None);
                transport_failure(&e)
            })?;
            let status = resp.status();
            st.count(Some(status));
            if status.is_success() {
                return Ok(resp);
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                let challenge = resp
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(auth::parse_challenges)
                    .max_by_key(|c| matches!(c, Challenge::Bearer { .. }));
                if let AuthUsed::Bearer(t) = &auth {
                    st.tokens
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .evict(&scope, t);
                }
                let detail = error_detail(resp).await;
                let unauthorized = |detail: String| {
                    Failure::Fatal(RegistryError::Unauthorized {
                        what: what.to_owned(),
                        registry: st.host.clone(),
                        status: status.as_u16(),
                        detail: if detail.is_empty() {
                            String::new()
                        } else {
                            format!(": {detail}")
                        },
                    })
                };
                if renewed {
                    return Err(unauthorized(detail));
                }
                renewed = true;
                match challenge {
                    Some(c @ Challenge::Bearer { .. }) => {
                        *st.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
                        self.renew_token(st, &scope, &c, what).await?;
                    }
                    Some(Challenge::Basic) => {
                        if auth == AuthUsed::Basic || self.credentials(st).await?.is_none() {
                            return Err(unauthorized(detail));
                        }
                        *st.challenge.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(Challenge::Basic);
                    }
                    None => {
                        // 403 without a challenge: renew a bearer token if that is what was
                        // used; otherwise there is nothing to change.
                        let known = st
                            .challenge
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .clone();
                        match known {
                            Some(c @ Challenge::Bearer { .. })
                                if matches!(auth, AuthUsed::Bearer(_)) =>
                            {
                                self.renew_token(st, &scope, &c, what).await?;
                            }
                            _ => return Err(unauthorized(detail)),
                        }
                    }
                }
                continue;
            }
            if status == StatusCode::NOT_FOUND {
                return Err(Failure::Fatal(RegistryError::NotFound {
                    what: what.to_owned(),
                }));
            }
            let retry_after = retry::retry_after(resp.headers());
            let detail = error_detail(resp).await;
            let reason = if detail.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {detail}")
            };
            if retry::is_retryable_status(status) {
                return Err(Failure::Retry {
                    reason,
                    timed_out: false,
                    retry_after,
                });
            }
            return Err(Failure::Fatal(RegistryError::Unavailable {
                what: what.to_owned(),
                attempts: 1,
                reason: format!("unexpected {reason}"),
            }));
        }
    }

    async fn credentials(&self, st: &RegistryState) -> Result<Option<Credentials>, Failure> {
        st.credentials
            .get_or_try_init(|| async {
                if let Some(c) = &st.config.credentials {
                    return Ok(Some(c.clone()));
                }
                let Some(path) = &st.config.docker_config else {
                    return Ok(None);
                };
                let cfg = DockerConfig::load(path)?;
                cfg.credentials_for(&st.host, path).await
            })
            .await
            .cloned()
            .map_err(|e| {
                Failure::Fatal(RegistryError::Config {
                    registry: st.host.clone(),
                    reason: e.to_string(),
                })
            })
    }

    async fn current_auth(&self, st: &RegistryState, scope: &str) -> Result<AuthUsed, Failure> {
        let challenge = st
            .challenge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(match challenge {
            None => AuthUsed::None,
            Some(Challenge::Basic) => AuthUsed::Basic,
            Some(Challenge::Bearer { .. }) => {
                let cached = st
                    .tokens
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(scope, Instant::now());
                match cached {
                    Some(t) => AuthUsed::Bearer(t),
                    None => AuthUsed::None,
                }
            }
        })
    }

    /// Fetch a new token for `scope` from the challenge's realm and cache it.
    async fn renew_token(
        &self,
        st: &RegistryState,
        scope: &str,
        challenge: &Challenge,
        what: &str,
    ) -> Result<(), Failure> {
        let Challenge::Bearer { realm, service, .. } = challenge else {
            return Ok(());
        };
        let _one_at_a_time = st.token_fetch.lock().await;
        let realm_url = Url::parse(realm).map_err(|e| {
            Failure::Fatal(RegistryError::Invalid {
                what: what.to_owned(),
                reason: format!("token realm `{realm}` is not a URL: {e}"),
            })
        })?;
        let realm_host = realm_url.host_str().unwrap_or_default();
        let realm_host = realm_host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(realm_host);
        let realm_loopback = realm_host.eq_ignore_ascii_case("localhost")
            || realm_host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if realm_url.scheme() != "https"
            && !(realm_url.scheme() == "http" && (st.config.insecure || realm_loopback))
        {
            return Err(Failure::Fatal(RegistryError::Config {
                registry: st.host.clone(),
                reason: format!(
                    "refusing token realm {realm}: only HTTPS, or HTTP to loopback or an insecure registry"
                ),
            }));
        }
        let mut url = realm_url;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let mut req = self.http.get(url).timeout(st.config.timeout);
        if let Some(c) = self.credentials(st).await? {
            req = req.header(AUTHORIZATION, c.basic_header());
        }
        let token_what = format!("token for {scope} from {realm}");
        let resp = req.send().await.map_err(|e| transport_failure(&e))?;
        let status = resp.status();
        if !status.is_success() {
            let retry_after = retry::retry_after(resp.headers());
            let detail = error_detail(resp).await;
            if retry::is_retryable_status(status) {
                return Err(Failure::Retry {
                    reason: format!("{token_what}: HTTP {status} {detail}"),
                    timed_out: false,
                    retry_after,
                });
            }
            return Err(Failure::Fatal(RegistryError::Unauthorized {
                what: what.to_owned(),
                registry: st.host.clone(),
                status: status.as_u16(),
                detail: format!(": token endpoint refused ({status}) {detail}")
                    .trim_end()
                    .to_owned(),
            }));
        }
        let body = read_capped(resp, MAX_TOKEN_RESPONSE_BYTES, &token_what).await?;
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            Failure::Fatal(RegistryError::Invalid {
                what: token_what.clone(),
                reason: format!("not a token response: {e}"),
            })
        })?;
        let token = parsed.into_cached(Instant::now()).ok_or_else(|| {
            Failure::Fatal(RegistryError::Invalid {
                what: token_what.clone(),
                reason: "the answer holds no token".into(),
            })
        })?;
        tracing::debug!(registry = %st.host, %scope, "bearer token renewed");
        st.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(scope, token);
        Ok(())
    }
}

/// The digest `tag_or_digest` pins, if it is a digest.
fn pinned_digest(tag_or_digest: &str, what: &str) -> Result<Option<Digest>, RegistryError> {
    if !tag_or_digest.contains(':') {
        return Ok(None);
    }
    tag_or_digest
        .parse::<Digest>()
        .map(Some)
        .map_err(|e| RegistryError::Invalid {
            what: what.to_owned(),
            reason: e.to_string(),
        })
}

fn repo_url(
    st: &RegistryState,
    reference: &Reference,
    tail: &[&str],
) -> Result<Url, RegistryError> {
    let mut url = st.base.clone();
    {
        let mut segs = url.path_segments_mut().map_err(|_| RegistryError::Config {
            registry: st.host.clone(),
            reason: "registry address cannot carry a path".into(),
        })?;
        segs.pop_if_empty().push("v2");
        segs.extend(reference.repository().split('/'));
        segs.extend(tail);
    }
    Ok(url)
}

fn manifest_url(
    st: &RegistryState,
    reference: &Reference,
    tag_or_digest: &str,
) -> Result<Url, RegistryError> {
    repo_url(st, reference, &["manifests", tag_or_digest])
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn filter_artifact_type(list: Vec<Descriptor>, artifact_type: Option<&str>) -> Vec<Descriptor> {
    match artifact_type {
        None => list,
        Some(at) => list
            .into_iter()
            .filter(|d| d.artifact_type.as_deref() == Some(at))
            .collect(),
    }
}

/// The `rel="next"` target of a `Link` header, resolved against `current`.
fn next_link(headers: &HeaderMap, current: &Url) -> Option<Result<Url, String>> {
    for value in headers.get_all(LINK).iter() {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let mut parts = link.split(';');
            let target = parts.next()?.trim();
            let is_next = parts.any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p == "rel=\"next\"" || p == "rel=next"
            });
            if !is_next {
                continue;
            }
            let Some(target) = target.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
                return Some(Err(format!("malformed Link header `{value}`")));
            };
            return Some(
                current
                    .join(target)
                    .map_err(|e| format!("bad Link target `{target}`: {e}")),
            );
        }
    }
    None
}

/// Read a response body, refusing it by its declared length first, then counting while it
/// streams and stopping at `limit + 1` bytes.
async fn read_capped(mut resp: Response, limit: u64, what: &str) -> Result<Bytes, Failure> {
    let declared =
        header_str(resp.headers(), CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    if let Some(size) = declared
        && size > limit
    {
        return Err(Failure::Fatal(RegistryError::TooLarge {
            what: what.to_owned(),
            size,
            limit,
        }));
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let total = buf.len() as u64 + chunk.len() as u64;
                if total > limit {
                    return Err(Failure::Fatal(RegistryError::TooLarge {
                        what: what.to_owned(),
                        size: total,
                        limit,
                    }));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => {
                let mut f = transport_failure(&e);
                if let Failure::Retry { reason, .. } = &mut f {
                    *reason = format!("body read failed after {} bytes: {reason}", buf.len());
                }
                return Err(f);
            }
        }
    }
}

/// The start of a registry's answer, quoted and escaped, for error messages.
fn excerpt(bytes: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(MAX_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    format!("{out:?} ({} bytes)", bytes.len())
}

/// The descriptors of a referrers answer: a page of the referrers API or the tag-schema
/// fallback index. Both must be an image index (`schemaVersion` 2, an index media type when
/// one is declared, no `config` or `layers`) with a `manifests` list — the distribution spec:
/// "the response MUST be a JSON body with an image index containing a list of descriptors",
/// and "if a query results in no matching referrers, an empty manifest list MUST be returned".
/// Anything else is an error quoting the answer, never "no referrers".
fn parse_referrers_answer(bytes: &[u8]) -> Result<Vec<Descriptor>, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        schema_version: Option<u32>,
        media_type: Option<String>,
        config: Option<serde::de::IgnoredAny>,
        layers: Option<serde::de::IgnoredAny>,
        manifests: Option<Vec<Descriptor>>,
    }
    let invalid = |why: String| {
        format!(
            "the registry's answer is not an image index of referrers ({why}): {}",
            excerpt(bytes)
        )
    };
    let answer: Answer =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    if answer.schema_version != Some(2) {
        return Err(invalid(format!(
            "schemaVersion is {}, expected 2",
            answer
                .schema_version
                .map_or_else(|| "missing".to_owned(), |v| v.to_string())
        )));
    }
    if let Some(media_type) = &answer.media_type
        && media_type != OCI_INDEX
        && media_type != super::manifest::DOCKER_MANIFEST_LIST
    {
        return Err(invalid(format!("mediaType is `{media_type}`")));
    }
    if answer.config.is_some() || answer.layers.is_some() {
        return Err(invalid("it is an image manifest".into()));
    }
    answer
        .manifests
        .ok_or_else(|| invalid("no `manifests` list".into()))
}

/// A transport error as a retryable failure, with its whole cause chain.
fn transport_failure(e: &reqwest::Error) -> Failure {
    Failure::Retry {
        reason: error_chain(e),
        timed_out: e.is_timeout(),
        retry_after: None,
    }
}

/// An error and its sources, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        source = s.source();
    }
    out
}

/// A short excerpt of an error response body (distribution error JSON is small).
async fn error_detail(resp: Response) -> String {
    let text = match read_capped(resp, 4096, "error body").await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => return String::new(),
    };
    let text = text.trim();
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
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
