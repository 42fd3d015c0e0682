//! Revocation information for the `revocation` host import: CRLs and OCSP responses fetched
//! over HTTP(S), cached, and handed to the guest as raw DER for it to judge.
//!
//! What the host decides is only *what it may fetch*; whether a certificate is revoked is the
//! guest's judgement (signature, freshness, serial number), made in the sandbox.
//!
//! - **URLs come from the certificate.** A CRL is fetched only from a URI of the certificate's
//!   CRL distribution points, an OCSP request only sent to a URI of its authority information
//!   access OCSP locations; the host parses the certificate it is given to check. Only `http`
//!   and `https`; redirects are not followed (a redirect could leave the allow-list).
//! - **Allow-list.** With `allowedHosts` set, the URL's host (or `host:port`) must be listed;
//!   without it any host a certificate names may be asked.
//! - **Caps.** Response bytes (`maxCrlBytes`, `maxOcspBytes`) and a timeout per request.
//! - **Cache.** A TTL cache keyed by URL (OCSP: URL and request): a CRL is kept until its
//!   `nextUpdate` (at most `maxTtl`), an OCSP response until the earliest `nextUpdate` of its
//!   single responses (at most `ocspTtl`; one without a `nextUpdate`, or past it, is not kept). Concurrent misses of one key
//!   make one request (single-flight). With a disk cache configured, CRLs are also stored there
//!   (keyed by URL, through the disk cache's single writer) and read back after a restart while
//!   their `nextUpdate` has not passed.
//! - **Remembered CRL signatures.** The outcome of checking a CRL's signature with its issuer's
//!   key (computed by the runtime: this layer does no cryptography) is kept per (CRL digest,
//!   issuer certificate digest), so a warm CRL costs no signature verification per call
//!   ([`RevocationSource::crl_signature`]).
//! - **Offline.** `crlFiles` maps CRL URLs to files read at load (a missing or unparsable file is
//!   a load error naming it); they answer before the network. With `offline: true` nothing is
//!   fetched: an URL without a file, and every OCSP request, is `unavailable`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

pub use super::access::{FetchError, FetchedCrl, RevocationSource, SharedSource, sha256};
use super::disk::{DiskCache, REF_NAME_ANNOTATION};
use crate::oci::{Descriptor, Digest};

/// Media type of a DER CRL (RFC 5280 §4.2.1.13), as stored in the disk cache.
pub const CRL_MEDIA_TYPE: &str = "application/pkix-crl";
/// Disk cache reference-name prefix of a CRL entry (followed by its URL).
const DISK_NAME_PREFIX: &str = "vouch.revocation.crl:";
/// Disk cache annotation: Unix seconds after which the stored CRL is stale (its `nextUpdate`).
pub const EXPIRES_ANNOTATION: &str = "dev.vouch.revocation.expires";
/// Largest OCSP request body accepted from a guest.
const MAX_OCSP_REQUEST_BYTES: usize = 8 << 10;
/// `id-ad-ocsp`.
const AD_OCSP: &str = "1.3.6.1.5.5.7.48.1";

/// Why the fetcher could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// A configured CRL file is missing, unreadable or not a DER/PEM CRL.
    #[error("revocation.crlFiles[{url:?}]: {path}: {reason}")]
    CrlFile {
        /// The URL it answers for.
        url: String,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("revocation: cannot build the HTTP client: {0}")]
    Client(String),
}

/// Settings of a [`RevocationFetcher`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Fetch nothing over the network.
    pub offline: bool,
    /// CRL URL → file with that CRL (DER or PEM).
    pub crl_files: Vec<(String, PathBuf)>,
    /// Hosts (`host` or `host:port`) that may be asked; empty: any host a certificate names.
    pub allowed_hosts: Vec<String>,
    /// Largest CRL accepted.
    pub max_crl_bytes: u64,
    /// Largest OCSP response accepted.
    pub max_ocsp_bytes: u64,
    /// Timeout of one CRL download.
    pub crl_timeout: Duration,
    /// Timeout of one OCSP request.
    pub ocsp_timeout: Duration,
    /// Longest a CRL stays cached (its `nextUpdate` bounds it too).
    pub max_ttl: Duration,
    /// Longest an OCSP response stays cached (its `nextUpdate` bounds it too).
    pub ocsp_ttl: Duration,
    /// Cached responses at most.
    pub cache_entries: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            offline: false,
            crl_files: Vec::new(),
            allowed_hosts: Vec::new(),
            // notation-core-go's caps: 32 MiB per CRL, 20 KiB per OCSP response.
            max_crl_bytes: 32 << 20,
            max_ocsp_bytes: 20 << 10,
            crl_timeout: Duration::from_secs(2),
            ocsp_timeout: Duration::from_secs(2),
            max_ttl: Duration::from_secs(24 * 3600),
            ocsp_ttl: Duration::from_secs(60),
            cache_entries: 1024,
        }
    }
}

/// A cached response and how long it stays.
#[derive(Clone)]
struct Entry {
    bytes: Bytes,
    /// SHA-256 of `bytes`.
    sha256: [u8; 32],
    ttl: Duration,
}

impl Entry {
    fn new(bytes: Bytes, ttl: Duration) -> Self {
        Entry {
            sha256: sha256(&bytes),
            bytes,
            ttl,
        }
    }
}

/// Per-entry expiry: each entry's own TTL.
struct EntryExpiry;

impl moka::Expiry<String, Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &String, value: &Entry, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The engine's [`RevocationSource`]: HTTP(S) with caps, a TTL cache, CRL files, the disk cache.
pub struct RevocationFetcher {
    settings: Settings,
    http: reqwest::Client,
    cache: moka::future::Cache<String, Entry>,
    files: HashMap<String, FetchedCrl>,
    disk: Option<DiskCache>,
    requests: AtomicU64,
    /// Remembered CRL signature outcomes: (CRL digest ‖ issuer certificate digest) → outcome.
    crl_signatures: moka::sync::Cache<[u8; 64], Result<(), String>>,
    /// CRL signature checks computed (misses of `crl_signatures`).
    signature_checks: AtomicU64,
    /// The revocation URLs of certificates seen, by the certificate's SHA-256, each with the
    /// outcome of the URL rules (parsing a certificate and its URLs on every fetch costs more
    /// than the rest of a warm fetch).
    cert_urls: moka::sync::Cache<[u8; 32], Arc<CertUrls>>,
}

/// A certificate's CRL distribution point URIs and OCSP responder URIs.
type CertUris = (Vec<String>, Vec<String>);

/// A certificate's revocation URLs of one kind, each with whether the URL rules allow it.
type CheckedUrls = Vec<(String, Result<(), FetchError>)>;

/// A certificate's checked CRL URLs and OCSP URLs.
struct CertUrls {
    crl: CheckedUrls,
    ocsp: CheckedUrls,
}

impl std::fmt::Debug for RevocationFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFetcher")
            .field("settings", &self.settings)
            .field("disk", &self.disk.as_ref().map(DiskCache::path))
            .finish_non_exhaustive()
    }
}

impl RevocationFetcher {
    /// A fetcher with `settings`, storing CRLs in `disk` too when given. Reads every CRL file.
    pub fn new(settings: Settings, disk: Option<DiskCache>) -> Result<Self, RevocationError> {
        let mut files = HashMap::new();
        for (url, path) in &settings.crl_files {
            let err = |reason: String| RevocationError::CrlFile {
                url: url.clone(),
                path: path.clone(),
                reason,
            };
            let bytes = crate::localfile::read_regular_file_capped(
                path,
                settings.max_crl_bytes,
                "CRL file",
            )
            .map_err(|e| err(e.to_string()))?;
            let der = crl_der(&bytes).map_err(err)?;
            files.insert(url.clone(), FetchedCrl::new(Bytes::from(der)));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RevocationError::Client(e.to_string()))?;
        let settings_cache_entries = settings.cache_entries;
        let cache = moka::future::Cache::builder()
            .max_capacity(settings.cache_entries)
            .expire_after(EntryExpiry)
            .build();
        Ok(RevocationFetcher {
            settings,
            http,
            cache,
            files,
            disk,
            requests: AtomicU64::new(0),
            crl_signatures: moka::sync::Cache::new(settings_cache_entries),
            signature_checks: AtomicU64::new(0),
            cert_urls: moka::sync::Cache::new(settings_cache_entries),
        })
    }

    /// HTTP requests sent so far (cache and file hits send none).
    pub fn network_requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// CRL signature checks computed so far (remembered outcomes compute none).
    pub fn crl_signature_checks(&self) -> u64 {
        self.signature_checks.load(Ordering::Relaxed)
    }

    /// The revocation URLs `cert` names, checked against the URL rules (remembered by the
    /// certificate's digest).
    fn urls(&self, cert: &[u8]) -> Result<Arc<CertUrls>, FetchError> {
        let key = sha256(cert);
        if let Some(urls) = self.cert_urls.get(&key) {
            return Ok(urls);
        }
        let (crl, ocsp) = cert_uris(cert)?;
        let check = |uris: Vec<String>| {
            uris.into_iter()
                .map(|u| {
                    let outcome = self.url_rules(&u);
                    (u, outcome)
                })
                .collect()
        };
        let urls = Arc::new(CertUrls {
            crl: check(crl),
            ocsp: check(ocsp),
        });
        self.cert_urls.insert(key, urls.clone());
        Ok(urls)
    }

    /// Refuses `url` unless `named` (the certificate's URLs of that kind) lists it and the URL
    /// rules allow it.
    fn check_url(url: &str, named: &CheckedUrls, what: &str) -> Result<(), FetchError> {
        match named.iter().find(|(u, _)| u == url) {
            Some((_, outcome)) => outcome.clone(),
            None => {
                let names: Vec<&str> = named.iter().map(|(u, _)| u.as_str()).collect();
                Err(FetchError::Denied(format!(
                    "{url:?} is not {what} of the certificate (it names {names:?})"
                )))
            }
        }
    }

    /// The URL rules: scheme `http`/`https`, host on the allow-list when there is one.
    fn url_rules(&self, url: &str) -> Result<(), FetchError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| FetchError::Denied(format!("{url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::Denied(format!(
                "{url:?}: only http and https are fetched"
            )));
        }
        let host = parsed.host_str().unwrap_or_default();
        if !self.settings.allowed_hosts.is_empty() {
            let with_port = parsed
                .port()
                .map(|p| format!("{host}:{p}"))
                .unwrap_or_else(|| host.to_owned());
            let listed = self
                .settings
                .allowed_hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(&with_port));
            if !listed {
                return Err(FetchError::Denied(format!(
                    "host {with_port:?} of {url:?} is not in revocation.allowedHosts"
                )));
            }
        }
        Ok(())
    }

    /// A stored, still fresh CRL for `url` from the disk cache.
    async fn read_disk(&self, url: &str) -> Option<Entry> {
        let disk = self.disk.as_ref()?;
        let desc = disk.resolve(&format!("{DISK_NAME_PREFIX}{url}"))?;
        let expires: i64 = desc.annotations.get(EXPIRES_ANNOTATION)?.parse().ok()?;
        let ttl = ttl_until(expires, self.settings.max_ttl)?;
        match disk.get_async(&desc.digest).await {
            Ok(Some(bytes)) => Some(Entry::new(bytes, ttl)),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(url, error = %e, "revocation: reading a CRL from the disk cache failed");
                None
            }
        }
    }

    /// Stores a fresh CRL in the disk cache (failures are logged: the cache is an optimisation).
    async fn write_disk(&self, url: &str, bytes: &Bytes, expires: i64) {
        let Some(disk) = &self.disk else { return };
        let desc = Descriptor {
            media_type: CRL_MEDIA_TYPE.to_owned(),
            digest: Digest::sha256_of(bytes),
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: [
                (
                    REF_NAME_ANNOTATION.to_owned(),
                    format!("{DISK_NAME_PREFIX}{url}"),
                ),
                (EXPIRES_ANNOTATION.to_owned(), expires.to_string()),
            ]
            .into(),
        };
        if let Err(e) = disk.put(desc, bytes.clone()).await {
            tracing::warn!(url, error = %e, "revocation: storing a CRL in the disk cache failed");
        }
    }

    /// One request with the caps: the body, or why not.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
        cap: u64,
        timeout: Duration,
    ) -> Result<Bytes, FetchError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let unavailable = |e: String| FetchError::Unavailable(format!("{url}: {e}"));
        let read = async {
            let mut resp = request
                .send()
                .await
                .map_err(|e| unavailable(error_chain(&e)))?;
            if !resp.status().is_success() {
                return Err(unavailable(format!("HTTP status {}", resp.status())));
            }
            if resp.content_length().is_some_and(|n| n > cap) {
                return Err(FetchError::TooLarge(cap));
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| unavailable(error_chain(&e)))?
            {
                if (body.len() + chunk.len()) as u64 > cap {
                    return Err(FetchError::TooLarge(cap));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Bytes::from(body))
        };
        tokio::time::timeout(timeout, read)
            .await
            .unwrap_or_else(|_| Err(unavailable(format!("no answer within {timeout:?}"))))
    }

    /// A CRL from the disk cache or the network (the cache miss path).
    async fn load_crl(&self, url: &str) -> Result<Entry, FetchError> {
        if let Some(entry) = self.read_disk(url).await {
            tracing::debug!(url, "revocation: CRL from the disk cache");
            return Ok(entry);
        }
        let s = &self.settings;
        let started = Instant::now();
        let bytes = self
            .send(self.http.get(url), url, s.max_crl_bytes, s.crl_timeout)
            .await?;
        let next_update = next_update(&bytes);
        tracing::debug!(url, bytes = bytes.len(), ?next_update, elapsed = ?started.elapsed(), "revocation: CRL fetched");
        let ttl = next_update
            .and_then(|t| ttl_until(t, s.max_ttl))
            .unwrap_or_default();
        if let (Some(t), false) = (next_update, ttl.is_zero()) {
            self.write_disk(url, &bytes, t).await;
        }
        Ok(Entry::new(bytes, ttl))
    }
}

#[async_trait]
impl RevocationSource for RevocationFetcher {
    async fn fetch_crl(&self, cert: &[u8], url: &str) -> Result<FetchedCrl, FetchError> {
        let urls = self.urls(cert)?;
        Self::check_url(url, &urls.crl, "a CRL distribution point")?;
        if let Some(crl) = self.files.get(url) {
            return Ok(crl.clone());
        }
        if self.settings.offline {
            return Err(FetchError::Unavailable(format!(
                "offline, and no CRL file is configured for {url}"
            )));
        }
        self.cache
            .try_get_with(format!("crl {url}"), self.load_crl(url))
            .await
            .map(|e| FetchedCrl {
                der: e.bytes,
                sha256: e.sha256,
            })
            .map_err(|e| (*e).clone())
    }

    fn crl_signature(
        &self,
        crl: &[u8; 32],
        issuer: &[u8; 32],
        check: &mut dyn FnMut() -> Result<(), String>,
    ) -> Result<(), String> {
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(crl);
        key[32..].copy_from_slice(issuer);
        self.crl_signatures.get_with(key, || {
            self.signature_checks.fetch_add(1, Ordering::Relaxed);
            check()
        })
    }

    async fn fetch_ocsp(
        &self,
        cert: &[u8],
        url: &str,
        request: &[u8],
    ) -> Result<Bytes, FetchError> {
        let urls = self.urls(cert)?;
        Self::check_url(url, &urls.ocsp, "an OCSP responder")?;
        if request.len() > MAX_OCSP_REQUEST_BYTES {
            return Err(FetchError::Denied(format!(
                "the OCSP request is {} bytes, over {MAX_OCSP_REQUEST_BYTES}",
                request.len()
            )));
        }
        if self.settings.offline {
            return Err(FetchError::Unavailable(format!(
                "offline: OCSP responder {url} is not asked"
            )));
        }
        let key = format!("ocsp {url} {}", Digest::sha256_of(request));
        let s = &self.settings;
        let load = async {
            let req = self
                .http
                .post(url)
                .header("content-type", "application/ocsp-request")
                .header("accept", "application/ocsp-response")
                .body(request.to_vec());
            let bytes = self
                .send(req, url, s.max_ocsp_bytes, s.ocsp_timeout)
                .await?;
            let next_update = ocsp_next_update(&bytes);
            let ttl = next_update
                .and_then(|t| ttl_until(t, s.ocsp_ttl))
                .unwrap_or_default();
            tracing::debug!(
                url,
                bytes = bytes.len(),
                ?next_update,
                ?ttl,
                "revocation: OCSP response"
            );
            Ok::<_, FetchError>(Entry::new(bytes, ttl))
        };
        self.cache
            .try_get_with(key, load)
            .await
            .map(|e| e.bytes)
            .map_err(|e| (*e).clone())
    }
}

/// The CRL distribution point URIs and OCSP responder URIs of a DER certificate.
pub fn cert_uris(cert: &[u8]) -> Result<CertUris, FetchError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert)
        .map_err(|e| FetchError::Denied(format!("the certificate cannot be parsed: {e}")))?;
    let mut crl = Vec::new();
    let mut ocsp = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(points) => {
                for p in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &p.distribution_point {
                        crl.extend(names.iter().filter_map(uri));
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => ocsp.extend(
                aia.iter()
                    .filter(|d| d.access_method.to_id_string() == AD_OCSP)
                    .filter_map(|d| uri(&d.access_location)),
            ),
            _ => {}
        }
    }
    Ok((crl, ocsp))
}

fn uri(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::URI(u) => Some((*u).to_owned()),
        _ => None,
    }
}

/// A CRL file's DER: DER as is, or the first `X509 CRL` PEM block; it must parse as a CRL.
fn crl_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let der = if bytes.starts_with(b"-----BEGIN") {
        let (_, pem) =
            x509_parser::pem::parse_x509_pem(bytes).map_err(|e| format!("not a PEM CRL: {e}"))?;
        if pem.label != "X509 CRL" {
            return Err(format!("a PEM {:?} block, not an X509 CRL", pem.label));
        }
        pem.contents
    } else {
        bytes.to_vec()
    };
    x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
        .map_err(|e| format!("not a DER CRL: {e}"))?;
    Ok(der)
}

/// A CRL's `nextUpdate`, Unix seconds, when it parses and has one.
fn next_update(der: &[u8]) -> Option<i64> {
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der).ok()?;
    crl.next_update().map(|t| t.timestamp())
}

/// The earliest `nextUpdate` of a DER `OCSPResponse`'s single responses, Unix seconds; `None`
/// when it is not a successful basic response or a single response has no `nextUpdate`. Only
/// sizes the cache entry: the guest judges the response.
fn ocsp_next_update(der: &[u8]) -> Option<i64> {
    use x509_parser::asn1_rs::{Any, Class, FromDer as _, GeneralizedTime, Tag};
    /// The content of the element at the start of `data` if it is `tag` of `class`, and the
    /// bytes after it.
    fn take(data: &[u8], class: Class, tag: Tag) -> Option<(&[u8], &[u8])> {
        let (rest, any) = Any::from_der(data).ok()?;
        (any.class() == class && any.tag() == tag).then_some((any.data, rest))
    }
    let universal = |data, tag| take(data, Class::Universal, tag);
    let context = |data, n| take(data, Class::ContextSpecific, Tag(n));
    let (resp, _) = universal(der, Tag::Sequence)?;
    let (status, rest) = universal(resp, Tag::Enumerated)?;
    if status != [0] {
        return None;
    }
    let (bytes, _) = context(rest, 0)?; // responseBytes
    let (bytes, _) = universal(bytes, Tag::Sequence)?;
    let (_, rest) = universal(bytes, Tag::Oid)?; // responseType
    let (basic, _) = universal(rest, Tag::OctetString)?;
    let (basic, _) = universal(basic, Tag::Sequence)?;
    let (tbs, _) = universal(basic, Tag::Sequence)?;
    let rest = context(tbs, 0).map_or(tbs, |(_, after)| after); // version
    let (rest, _) = Any::from_der(rest).ok()?; // responderID
    let (_, rest) = universal(rest, Tag::GeneralizedTime)?; // producedAt
    let (mut responses, _) = universal(rest, Tag::Sequence)?;
    let mut earliest: Option<i64> = None;
    while !responses.is_empty() {
        let (single, after) = universal(responses, Tag::Sequence)?;
        responses = after;
        let (_, rest) = universal(single, Tag::Sequence)?; // certID
        let (rest, _) = Any::from_der(rest).ok()?; // certStatus
        let (_, rest) = universal(rest, Tag::GeneralizedTime)?; // thisUpdate
        let (next, _) = context(rest, 0)?;
        let (_, next) = GeneralizedTime::from_der(next).ok()?;
        let t = next.utc_datetime().ok()?.unix_timestamp();
        earliest = Some(earliest.map_or(t, |e| e.min(t)));
    }
    earliest
}

/// Time from now until `unix` (at most `max`); `None` once it has passed.
fn ttl_until(unix: i64, max: Duration) -> Option<Duration> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let left = unix.checked_sub(now).filter(|s| *s > 0)?;
    Some(Duration::from_secs(left as u64).min(max))
}

/// An error with its sources, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(crl: &[&str], ocsp: &[&str]) -> Vec<u8> {
        let mut p = rcgen::CertificateParams::new(vec!["leaf.test".into()]).unwrap();
        p.crl_distribution_points = crl
            .iter()
            .map(|u| rcgen::CrlDistributionPoint {
                uris: vec![(*u).to_owned()],
            })
            .collect();
        if !ocsp.is_empty() {
            p.custom_extensions.push(aia_extension(ocsp));
        }
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().to_vec()
    }

    /// An authority information access extension with OCSP URIs.
    fn aia_extension(ocsp: &[&str]) -> rcgen::CustomExtension {
        fn tlv(tag: u8, v: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            if v.len() < 128 {
                out.push(v.len() as u8);
            } else {
                out.extend([0x82, (v.len() >> 8) as u8, v.len() as u8]);
            }
            out.extend_from_slice(v);
            out
        }
        let descs: Vec<u8> = ocsp
            .iter()
            .flat_map(|u| {
                let mut d = tlv(0x06, &[0x2b, 6, 1, 5, 5, 7, 48, 1]);
                d.extend(tlv(0x86, u.as_bytes()));
                tlv(0x30, &d)
            })
            .collect();
        rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], tlv(0x30, &descs))
    }

    fn fetcher(allowed: &[&str], offline: bool) -> RevocationFetcher {
        RevocationFetcher::new(
            Settings {
                allowed_hosts: allowed.iter().map(|s| s.to_string()).collect(),
                offline,
                ..Settings::default()
            },
            None,
        )
        .unwrap()
    }

    #[test]
    fn the_certificate_names_the_urls() {
        let cert = cert_with(&["http://crl.test/a.crl"], &["http://ocsp.test/"]);
        let (crl, ocsp) = cert_uris(&cert).unwrap();
        assert_eq!(crl, ["http://crl.test/a.crl"]);
        assert_eq!(ocsp, ["http://ocsp.test/"]);
        assert!(matches!(cert_uris(b"junk"), Err(FetchError::Denied(_))));
    }

    #[tokio::test]
    async fn urls_not_in_the_certificate_are_denied_before_any_request() {
        let f = fetcher(&[], false);
        let cert = cert_with(&["http://127.0.0.1:9/a.crl"], &["http://127.0.0.1:9/ocsp"]);
        let e = f
            .fetch_crl(&cert, "http://127.0.0.1:9/other.crl")
            .await
            .unwrap_err();
        assert!(
            matches!(&e, FetchError::Denied(m) if m.contains("not a CRL distribution point")),
            "{e}"
        );
        // An OCSP URL is not a CRL URL, and the other way round.
        let e = f
            .fetch_crl(&cert, "http://127.0.0.1:9/ocsp")
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Denied(_)), "{e}");
        let e = f
            .fetch_ocsp(&cert, "http://127.0.0.1:9/a.crl", b"r")
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Denied(_)), "{e}");
        assert_eq!(f.network_requests(), 0);
    }

    #[tokio::test]
    async fn only_http_and_allowed_hosts() {
        let cert = cert_with(&["ldap://127.0.0.1/x", "http://127.0.0.1:9/a.crl"], &[]);
        let f = fetcher(&["crl.example"], false);
        let e = f.fetch_crl(&cert, "ldap://127.0.0.1/x").await.unwrap_err();
        assert!(
            matches!(&e, FetchError::Denied(m) if m.contains("only http")),
            "{e}"
        );
        let e = f
            .fetch_crl(&cert, "http://127.0.0.1:9/a.crl")
            .await
            .unwrap_err();
        assert!(
            matches!(&e, FetchError::Denied(m) if m.contains("allowedHosts")),
            "{e}"
        );
        // Listed with its port: allowed (and then unreachable: port 9 is closed).
        let f = fetcher(&["127.0.0.1:9"], false);
        let e = f
            .fetch_crl(&cert, "http://127.0.0.1:9/a.crl")
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Unavailable(_)), "{e}");
        assert_eq!(f.network_requests(), 1);
    }

    #[tokio::test]
    async fn offline_fetches_nothing() {
        let cert = cert_with(&["http://127.0.0.1:9/a.crl"], &["http://127.0.0.1:9/o"]);
        let f = fetcher(&[], true);
        let e = f
            .fetch_crl(&cert, "http://127.0.0.1:9/a.crl")
            .await
            .unwrap_err();
        assert!(
            matches!(&e, FetchError::Unavailable(m) if m.contains("offline")),
            "{e}"
        );
        let e = f
            .fetch_ocsp(&cert, "http://127.0.0.1:9/o", b"r")
            .await
            .unwrap_err();
        assert!(
            matches!(&e, FetchError::Unavailable(m) if m.contains("offline")),
            "{e}"
        );
        assert_eq!(f.network_requests(), 0);
    }

    #[test]
    fn a_bad_crl_file_is_a_load_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.crl");
        std::fs::write(&junk, b"not a crl").unwrap();
        for path in [junk, dir.path().join("missing.crl")] {
            let e = RevocationFetcher::new(
                Settings {
                    crl_files: vec![("http://crl.test/a.crl".into(), path.clone())],
                    ..Settings::default()
                },
                None,
            )
            .unwrap_err();
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains("http://crl.test/a.crl"), "{text}");
        }
    }

    /// A CRL signature outcome is computed once per (CRL, issuer) and remembered; another
    /// issuer (or another CRL) is a different key, computed afresh, and a failure is remembered
    /// as the failure it was.
    #[test]
    fn crl_signature_outcomes_are_remembered_per_crl_and_issuer() {
        let f = fetcher(&[], true);
        let (crl, issuer, other) = (sha256(b"crl"), sha256(b"issuer"), sha256(b"other"));
        let mut calls = 0;
        let mut ok = || {
            calls += 1;
            Ok(())
        };
        assert_eq!(f.crl_signature(&crl, &issuer, &mut ok), Ok(()));
        assert_eq!(f.crl_signature(&crl, &issuer, &mut ok), Ok(()));
        assert_eq!(calls, 1);
        assert_eq!(f.crl_signature_checks(), 1);
        let mut bad = || Err("not signed".to_owned());
        assert_eq!(
            f.crl_signature(&crl, &other, &mut bad),
            Err("not signed".into())
        );
        assert_eq!(
            f.crl_signature(&other, &issuer, &mut bad),
            Err("not signed".into())
        );
        let mut unreached = || -> Result<(), String> { panic!("recomputed") };
        assert_eq!(
            f.crl_signature(&crl, &other, &mut unreached),
            Err("not signed".into())
        );
        assert_eq!(f.crl_signature_checks(), 3);
    }

    /// A certificate's URIs are read once (by its digest); a different certificate is read
    /// afresh, so one certificate's URLs never answer for another.
    #[tokio::test]
    async fn each_certificate_is_asked_for_its_own_urls() {
        let f = fetcher(&[], true);
        let a = cert_with(&["http://127.0.0.1:9/a.crl"], &[]);
        let b = cert_with(&["http://127.0.0.1:9/b.crl"], &[]);
        for _ in 0..2 {
            let e = f
                .fetch_crl(&a, "http://127.0.0.1:9/a.crl")
                .await
                .unwrap_err();
            assert!(matches!(e, FetchError::Unavailable(_)), "{e}");
            let e = f
                .fetch_crl(&b, "http://127.0.0.1:9/a.crl")
                .await
                .unwrap_err();
            assert!(matches!(e, FetchError::Denied(_)), "{e}");
        }
    }

    /// The OCSP cache entry lives until the response's `nextUpdate` (the earliest of its single
    /// responses); without one, nothing is kept.
    #[test]
    fn an_ocsp_responses_next_update_is_read() {
        use xtask::fixtures::notation as nx;
        let chain = nx::test_chain(&nx::ChainOptions::valid_now()).unwrap();
        let now = nx::unix_now();
        let signer = chain.ocsp_issuer_signer();
        let good = chain
            .ocsp_response(&signer, nx::OcspCertStatus::Good, now - 60, Some(now + 600))
            .unwrap();
        assert_eq!(ocsp_next_update(&good), Some(now + 600));
        let open = chain
            .ocsp_response(&signer, nx::OcspCertStatus::Good, now - 60, None)
            .unwrap();
        assert_eq!(ocsp_next_update(&open), None);
        assert_eq!(ocsp_next_update(b"junk"), None);
        assert_eq!(ocsp_next_update(&good[..good.len() - 1]), None);
    }

    #[test]
    fn ttl_is_bounded_by_next_update_and_max() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(ttl_until(now - 1, Duration::from_secs(100)), None);
        let t = ttl_until(now + 50, Duration::from_secs(100)).unwrap();
        assert!(t <= Duration::from_secs(50) && t >= Duration::from_secs(48));
        assert_eq!(
            ttl_until(now + 5000, Duration::from_secs(100)),
            Some(Duration::from_secs(100))
        );
    }
}
