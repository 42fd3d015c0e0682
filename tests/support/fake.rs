//! `TestRegistry`: a small test server (axum on 127.0.0.1:0) speaking the distribution endpoints
//! Vouch reads — `/v2/`, manifests HEAD/GET by tag and digest, blobs GET, the referrers API with
//! `Link` pagination and the `artifactType` filter, a bearer token endpoint — with programmable
//! misbehaviours (status storms, stalls, truncation, endless bodies, token rejection).
//!
//! It is a test double for misbehaving registries only; correct-path tests also run against the
//! real `docker-registry` (see `registry.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri, header};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use reqwest::Url;
use vouch::oci::{Descriptor, Digest, Manifest};

/// The `service` the token endpoint names.
pub const SERVICE: &str = "vouch-test-registry";

/// Answer `status` (with an optional `Retry-After`) to the next `remaining` requests.
#[derive(Clone, Debug)]
pub struct StatusStorm {
    /// The status to answer.
    pub status: u16,
    /// `Retry-After` seconds, if any.
    pub retry_after: Option<u64>,
    /// How many requests get it; `None` for all of them.
    pub remaining: Option<u32>,
}

/// What the test registry does wrong (all off by default).
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Answer every request with a status for a while.
    pub storm: Option<StatusStorm>,
    /// Send the headers of manifest/blob GETs, a few bytes, then nothing, forever.
    pub stall_body: bool,
    /// Declare the full length but close the connection halfway through the body.
    pub truncate_body: bool,
    /// Send bodies without `Content-Length`, in chunks.
    pub chunked: bool,
    /// Blob GETs stream zeros forever (chunked), counting what was sent.
    pub endless_blob: bool,
    /// Declare this `Content-Length` on blob GETs, and send that many bytes.
    pub inflate_blob_to: Option<u64>,
    /// HEAD answers carry no `Docker-Content-Digest`.
    pub omit_head_digest: bool,
    /// Require a bearer token from `/token`.
    pub require_token: bool,
    /// Refuse every token presented (the 401 loop).
    pub reject_tokens: bool,
    /// Answer 404 on the referrers API (as registries without it do).
    pub no_referrers_api: bool,
    /// Ignore the `artifactType` query parameter.
    pub ignore_artifact_type_filter: bool,
    /// Referrers per page; 0 means all on one page.
    pub page_size: usize,
    /// Answer every referrers request with this list, whatever the node asked about (a hostile
    /// registry: fan-out, cycles, referrers of other subjects).
    pub hostile_referrers: Option<Vec<Descriptor>>,
    /// Manifest answers by tag (HEAD and GET) carry this `Docker-Content-Digest` instead of the
    /// digest of the bytes they send (a registry lying about what a tag names).
    pub tag_digest_header: Option<String>,
    /// The referrers API answers 200 with this body (content type: image index).
    pub referrers_body: Option<String>,
}

#[derive(Default)]
struct Repo {
    /// Manifests by digest string: (bytes, media type).
    manifests: BTreeMap<String, (Bytes, String)>,
    tags: HashMap<String, String>,
    blobs: HashMap<String, Bytes>,
}

#[derive(Default)]
struct Inner {
    repos: Mutex<HashMap<String, Repo>>,
    behaviour: Mutex<Behaviour>,
    tokens: Mutex<HashSet<String>>,
    port: Mutex<u16>,
    requests: AtomicU64,
    token_requests: AtomicU64,
    referrer_requests: AtomicU64,
    streamed_bytes: Arc<AtomicU64>,
}

/// A running test registry; the server stops on drop.
pub struct TestRegistry {
    addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestRegistry {
    /// Start a test registry on 127.0.0.1 with a free port.
    pub async fn start() -> TestRegistry {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner::default());
        *inner.port.lock().unwrap() = addr.port();
        let state = inner.clone();
        let app =
            axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
                let state = state.clone();
                async move { handle(&state, method, uri, headers) }
            });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestRegistry { addr, inner, task }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Change the misbehaviours.
    pub fn behave(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.inner.behaviour.lock().unwrap());
    }

    /// Requests served (token endpoint included).
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Token endpoint requests served.
    pub fn token_requests(&self) -> u64 {
        self.inner.token_requests.load(Ordering::SeqCst)
    }

    /// Referrers API requests served.
    pub fn referrer_requests(&self) -> u64 {
        self.inner.referrer_requests.load(Ordering::SeqCst)
    }

    /// Bytes of endless bodies handed to the socket so far.
    pub fn streamed_bytes(&self) -> u64 {
        self.inner.streamed_bytes.load(Ordering::SeqCst)
    }

    /// Invalidate every token issued so far (the client's cached token then gets a 401).
    pub fn revoke_tokens(&self) {
        self.inner.tokens.lock().unwrap().clear();
    }

    /// Store a blob; returns its descriptor.
    pub fn put_blob(&self, repo: &str, media_type: &str, data: &[u8]) -> Descriptor {
        let desc = Descriptor::for_content(media_type, data);
        self.put_blob_as(repo, &desc.digest, data);
        desc
    }

    /// Serve `data` as the blob `digest` (which it need not match).
    pub fn put_blob_as(&self, repo: &str, digest: &Digest, data: &[u8]) {
        let mut repos = self.inner.repos.lock().unwrap();
        repos
            .entry(repo.to_owned())
            .or_default()
            .blobs
            .insert(digest.to_string(), Bytes::copy_from_slice(data));
    }

    /// Store a manifest (any bytes), optionally tagged; returns its descriptor.
    pub fn put_manifest(
        &self,
        repo: &str,
        tag: Option<&str>,
        bytes: &[u8],
        media_type: &str,
    ) -> Descriptor {
        let mut desc = Descriptor::for_content(media_type, bytes);
        if let Ok(m) = Manifest::parse(bytes) {
            desc.artifact_type = m.effective_artifact_type().map(str::to_owned);
        }
        self.put_manifest_as(repo, &desc.digest, tag, bytes, media_type);
        desc
    }

    /// Serve `bytes` as the manifest `digest` (which it need not match), optionally tagged.
    pub fn put_manifest_as(
        &self,
        repo: &str,
        digest: &Digest,
        tag: Option<&str>,
        bytes: &[u8],
        media_type: &str,
    ) {
        let mut repos = self.inner.repos.lock().unwrap();
        let r = repos.entry(repo.to_owned()).or_default();
        r.manifests.insert(
            digest.to_string(),
            (Bytes::copy_from_slice(bytes), media_type.to_owned()),
        );
        if let Some(tag) = tag {
            r.tags.insert(tag.to_owned(), digest.to_string());
        }
    }
}

/// `n` descriptors of manifests that exist nowhere, of `artifact_type`, in digest order (the
/// order the test registry pages in, `last=`): a registry listing more referrers than it has.
pub fn phantom_referrers(n: u32, artifact_type: &str) -> Vec<Descriptor> {
    let mut listed: Vec<Descriptor> = (0..n)
        .map(|i| {
            let mut d =
                Descriptor::for_content(vouch::oci::manifest::OCI_MANIFEST, &i.to_le_bytes());
            d.artifact_type = Some(artifact_type.to_owned());
            d
        })
        .collect();
    listed.sort_by_key(|d| d.digest.to_string());
    listed
}

fn respond(status: StatusCode, headers: &[(&str, String)], body: Body) -> Response<Body> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    b.body(body).unwrap()
}

fn error(status: StatusCode, code: &str) -> Response<Body> {
    respond(
        status,
        &[("content-type", "application/json".into())],
        Body::from(format!(
            r#"{{"errors":[{{"code":"{code}","message":"test registry says {code}"}}]}}"#
        )),
    )
}

fn handle(state: &Inner, method: Method, uri: Uri, headers: HeaderMap) -> Response<Body> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let behaviour = {
        let mut b = state.behaviour.lock().unwrap();
        if let Some(storm) = &mut b.storm {
            let active = storm.remaining.is_none_or(|n| n > 0);
            if active {
                if let Some(n) = &mut storm.remaining {
                    *n -= 1;
                }
                let mut h = vec![];
                if let Some(s) = storm.retry_after {
                    h.push(("retry-after", s.to_string()));
                }
                let status = StatusCode::from_u16(storm.status).unwrap();
                return respond(status, &h, Body::from("storm"));
            }
        }
        b.clone()
    };
    let path = uri.path();
    let query: Vec<(String, String)> = Url::parse(&format!("http://x{uri}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    if path == "/token" {
        state.token_requests.fetch_add(1, Ordering::SeqCst);
        let n = state.token_requests.load(Ordering::SeqCst);
        let token = format!("tok-{n}");
        state.tokens.lock().unwrap().insert(token.clone());
        return respond(
            StatusCode::OK,
            &[("content-type", "application/json".into())],
            Body::from(format!(r#"{{"token":"{token}","expires_in":300}}"#)),
        );
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND");
    };
    if behaviour.require_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let valid = presented
            .is_some_and(|t| !behaviour.reject_tokens && state.tokens.lock().unwrap().contains(t));
        if !valid {
            let port = *state.port.lock().unwrap();
            let name = rest.split("/manifests/").next().unwrap_or_default();
            let challenge = format!(
                r#"Bearer realm="http://127.0.0.1:{port}/token",service="{SERVICE}",scope="repository:{name}:pull""#
            );
            let mut resp = error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge.parse().unwrap());
            return resp;
        }
    }
    if rest.is_empty() {
        return respond(StatusCode::OK, &[], Body::from("{}"));
    }
    let repos = state.repos.lock().unwrap();
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        let Some(repo) = repos.get(name) else {
            return error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");
        };
        let by_tag = repo.tags.contains_key(reference);
        let digest = repo
            .tags
            .get(reference)
            .cloned()
            .unwrap_or_else(|| reference.to_owned());
        let Some((bytes, media_type)) = repo.manifests.get(&digest) else {
            return error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
        };
        let digest = match &behaviour.tag_digest_header {
            Some(lie) if by_tag => lie.clone(),
            _ => digest,
        };
        let mut h = vec![("content-type", media_type.clone())];
        if method == Method::HEAD {
            if !behaviour.omit_head_digest {
                h.push(("docker-content-digest", digest.clone()));
            }
            h.push(("content-length", bytes.len().to_string()));
            return respond(StatusCode::OK, &h, Body::empty());
        }
        h.push(("docker-content-digest", digest.clone()));
        return body(state, &behaviour, bytes.clone(), h, false);
    }
    if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
        let Some(data) = repos.get(name).and_then(|r| r.blobs.get(digest)) else {
            return error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
        };
        let h = vec![("content-type", "application/octet-stream".to_owned())];
        return body(state, &behaviour, data.clone(), h, true);
    }
    if let Some((name, digest)) = rest.rsplit_once("/referrers/") {
        state.referrer_requests.fetch_add(1, Ordering::SeqCst);
        if behaviour.no_referrers_api {
            return error(StatusCode::NOT_FOUND, "NOT_FOUND");
        }
        if let Some(body) = &behaviour.referrers_body {
            let h = [("content-type", vouch::oci::manifest::OCI_INDEX.to_owned())];
            return respond(StatusCode::OK, &h, Body::from(body.clone()));
        }
        let empty = Repo::default();
        let repo = repos.get(name).unwrap_or(&empty);
        let artifact_type = query
            .iter()
            .find(|(k, _)| k == "artifactType")
            .map(|(_, v)| v.clone());
        let last = query
            .iter()
            .find(|(k, _)| k == "last")
            .map(|(_, v)| v.clone());
        let mut all: Vec<Descriptor> = match &behaviour.hostile_referrers {
            Some(list) => list.clone(),
            None => repo
                .manifests
                .iter()
                .filter_map(|(d, (bytes, mt))| {
                    let m = Manifest::parse(bytes).ok()?;
                    (m.subject.as_ref()?.digest.to_string() == digest).then(|| Descriptor {
                        media_type: mt.clone(),
                        digest: d.parse().unwrap(),
                        size: bytes.len() as u64,
                        artifact_type: m.effective_artifact_type().map(str::to_owned),
                        annotations: m.annotations.clone(),
                    })
                })
                .collect(),
        };
        let mut h = vec![("content-type", vouch::oci::manifest::OCI_INDEX.to_owned())];
        if let Some(at) = &artifact_type
            && !behaviour.ignore_artifact_type_filter
        {
            all.retain(|d| d.artifact_type.as_deref() == Some(at));
            h.push(("oci-filters-applied", "artifactType".into()));
        }
        if let Some(last) = &last {
            all.retain(|d| d.digest.to_string() > *last);
        }
        if behaviour.page_size > 0 && all.len() > behaviour.page_size {
            all.truncate(behaviour.page_size);
            let mut next = Url::parse(&format!("http://x/v2/{name}/referrers/{digest}")).unwrap();
            next.query_pairs_mut()
                .append_pair("last", &all.last().unwrap().digest.to_string());
            if let Some(at) = &artifact_type {
                next.query_pairs_mut().append_pair("artifactType", at);
            }
            let target = format!("{}?{}", next.path(), next.query().unwrap());
            h.push(("link", format!("<{target}>; rel=\"next\"")));
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": vouch::oci::manifest::OCI_INDEX,
            "manifests": all,
        });
        return respond(StatusCode::OK, &h, Body::from(index.to_string()));
    }
    error(StatusCode::NOT_FOUND, "NOT_FOUND")
}

/// A GET body, misbehaving as configured.
fn body(
    state: &Inner,
    b: &Behaviour,
    data: Bytes,
    mut h: Vec<(&'static str, String)>,
    is_blob: bool,
) -> Response<Body> {
    if is_blob && b.endless_blob {
        let counter = state.streamed_bytes.clone();
        let chunk = Bytes::from(vec![0u8; 64 * 1024]);
        let s = stream::repeat(chunk).map(move |c| {
            counter.fetch_add(c.len() as u64, Ordering::SeqCst);
            Ok::<_, Infallible>(c)
        });
        return respond(StatusCode::OK, &h, Body::from_stream(s));
    }
    if is_blob && let Some(n) = b.inflate_blob_to {
        h.push(("content-length", n.to_string()));
        return respond(StatusCode::OK, &h, Body::from(vec![0u8; n as usize]));
    }
    if b.stall_body {
        h.push(("content-length", data.len().to_string()));
        let head = data.slice(..data.len().min(4));
        let s = stream::once(async move { Ok::<_, Infallible>(head) }).chain(stream::pending());
        return respond(StatusCode::OK, &h, Body::from_stream(s));
    }
    if b.truncate_body {
        h.push(("content-length", data.len().to_string()));
        let half = data.slice(..data.len() / 2);
        // Send the headers and half the body, then cut the connection.
        let s = stream::once(async move { Ok(half) }).chain(stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Err(std::io::Error::other("test registry cuts the body"))
        }));
        return respond(StatusCode::OK, &h, Body::from_stream(s));
    }
    if b.chunked {
        let chunks: Vec<Result<Bytes, Infallible>> = data
            .chunks(8 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        return respond(StatusCode::OK, &h, Body::from_stream(stream::iter(chunks)));
    }
    respond(StatusCode::OK, &h, Body::from(data))
}
