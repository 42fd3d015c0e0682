//! A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution 2.8.2) on
//! 127.0.0.1 with a random port and a temporary storage directory, killed on drop; plus a small
//! pusher (blob uploads, manifests, and the referrers tag-schema fallback index, as oras does).
//!
//! distribution 2.8 has no referrers API, so reading referrers from it exercises the fallback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use reqwest::{StatusCode, Url};
use vouch::oci::manifest::{OCI_INDEX, OCI_MANIFEST};
use vouch::oci::{Descriptor, Digest, Manifest};

const BINARY: &str = "/usr/bin/docker-registry";
/// Media type of the empty config blob (`{}`) artifacts use.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// A running `docker-registry` process; stopped and its storage removed on drop.
pub struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    credentials: Option<(String, String)>,
    http: reqwest::Client,
}

/// Install `docker-registry` with apt when it is missing; panic with a clear message otherwise.
fn ensure_installed() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL
        .call_once(|| super::process::apt_install("docker-registry", BINARY, "the registry tests"));
}

/// `GET /v2/` over a raw socket; returns the status code once the registry answers.
fn probe(port: u16) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let line = std::str::from_utf8(&buf[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Registry {
    /// Start an anonymous registry.
    pub fn start() -> Registry {
        Self::launch(None)
    }

    /// Start a registry that requires HTTP basic authentication as `user`/`password`.
    pub fn start_with_basic_auth(user: &str, password: &str) -> Registry {
        Self::launch(Some((user.to_owned(), password.to_owned())))
    }

    fn launch(credentials: Option<(String, String)>) -> Registry {
        ensure_installed();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = super::process::free_port();
            let mut config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            );
            if let Some((user, password)) = &credentials {
                let hash = bcrypt::hash(password, 4).expect("bcrypt");
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: vouch-test\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new(BINARY)
                // docker-registry 2.8 allocates ~0.5 MB per manifest request and ~1 MB per blob
                // request; with Go's default GC target (100) it spends ~0.9 ms of CPU per
                // manifest GET on this machine kind, with 400 ~0.55 ms for ~60-140 MB of RSS.
                // A registry is rarely this starved for memory; on two shared cores its GC would
                // otherwise dominate every registry-bound test and benchmark.
                .env("GOGC", "400")
                .arg("serve")
                .arg(&config_path)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn docker-registry");
            let ready = || probe(port).is_some_and(|code| code == 200 || code == 401);
            match super::process::wait_until_ready(
                &mut child,
                "docker-registry",
                &dir.path().join("registry.log"),
                Duration::from_secs(15),
                Duration::from_millis(50),
                ready,
            ) {
                Ok(()) => {
                    return Registry {
                        child,
                        port,
                        _dir: dir,
                        credentials,
                        http: reqwest::Client::new(),
                    };
                }
                Err(e) => last_err = e,
            }
        }
        panic!("could not start docker-registry: {last_err}");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`, the registry part of references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A reference string `host/repo:tag`.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.host())
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Some((u, p)) => req.header(
                reqwest::header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                ),
            ),
            None => req,
        }
    }

    /// Upload `data` as a blob of `repo` (monolithic upload); returns its descriptor.
    pub async fn push_blob(&self, repo: &str, media_type: &str, data: &[u8]) -> Descriptor {
        let desc = Descriptor::for_content(media_type, data);
        let start = self
            .auth(
                self.http
                    .post(format!("{}/v2/{repo}/blobs/uploads/", self.url())),
            )
            .send()
            .await
            .expect("start blob upload");
        assert_eq!(
            start.status(),
            StatusCode::ACCEPTED,
            "start upload: {start:?}"
        );
        let location = start
            .headers()
            .get(reqwest::header::LOCATION)
            .expect("upload location")
            .to_str()
            .unwrap()
            .to_owned();
        let mut url = Url::parse(&self.url()).unwrap().join(&location).unwrap();
        url.query_pairs_mut()
            .append_pair("digest", &desc.digest.to_string());
        let put = self
            .auth(self.http.put(url))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .expect("finish blob upload");
        assert_eq!(put.status(), StatusCode::CREATED, "finish upload: {put:?}");
        desc
    }

    /// Put a manifest under `reference` (a tag or its digest); returns its descriptor.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Descriptor {
        let resp = self
            .auth(
                self.http
                    .put(format!("{}/v2/{repo}/manifests/{reference}", self.url())),
            )
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("put manifest");
        let status = resp.status();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "put manifest {repo}:{reference}: {}",
            resp.text().await.unwrap_or_default()
        );
        let mut desc = Descriptor::for_content(media_type, bytes);
        if let Ok(m) = Manifest::parse(bytes) {
            desc.artifact_type = m.effective_artifact_type().map(str::to_owned);
        }
        desc
    }

    /// Push a small image (config + one layer) tagged `tag`; returns the manifest descriptor.
    pub async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> Descriptor {
        let config = self
            .push_blob(
                repo,
                "application/vnd.oci.image.config.v1+json",
                br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
            )
            .await;
        let layer = self
            .push_blob(repo, "application/vnd.oci.image.layer.v1.tar", layer)
            .await;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: None,
            config: Some(config),
            layers: vec![layer],
            manifests: vec![],
            subject: None,
            annotations: Default::default(),
        };
        let bytes = serde_json::to_vec(&manifest).unwrap();
        self.push_manifest(repo, tag, &bytes, OCI_MANIFEST).await
    }

    /// Push an artifact manifest (empty config, one layer of `payload`) whose subject is
    /// `subject`, by digest, and record it in the tag-schema fallback index; returns its
    /// descriptor (with its artifact type).
    pub async fn push_referrer(
        &self,
        repo: &str,
        subject: &Descriptor,
        artifact_type: &str,
        layer_media_type: &str,
        payload: &[u8],
    ) -> Descriptor {
        let config = self.push_blob(repo, EMPTY_CONFIG, b"{}").await;
        let layer = self.push_blob(repo, layer_media_type, payload).await;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: Some(artifact_type.into()),
            config: Some(config),
            layers: vec![layer],
            manifests: vec![],
            subject: Some(Descriptor {
                artifact_type: None,
                annotations: Default::default(),
                ..subject.clone()
            }),
            annotations: Default::default(),
        };
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let digest = Digest::sha256_of(&bytes).to_string();
        let desc = self
            .push_manifest(repo, &digest, &bytes, OCI_MANIFEST)
            .await;
        self.push_referrer_fallback(repo, &subject.digest, &desc)
            .await;
        desc
    }

    /// Push the image `repo:tag` (one layer, `layer`) with `signatures` notation signatures (JWS,
    /// signed now by `chain`'s leaf), each listed in the image's fallback index; returns the
    /// image's reference.
    pub async fn push_notation_signed(
        &self,
        repo: &str,
        tag: &str,
        layer: &[u8],
        signatures: usize,
        chain: &xtask::fixtures::notation::TestChain,
    ) -> String {
        use xtask::fixtures::notation as fx;
        let image = self.push_image(repo, tag, layer).await;
        let target = fx::Target {
            media_type: image.media_type.clone(),
            digest: image.digest.to_string(),
            size: image.size,
        };
        for _ in 0..signatures {
            let env = fx::sign_jws(
                &target,
                &chain.leaf_key_pkcs8,
                &chain.x5c(),
                &fx::JwsOptions::now(),
            )
            .unwrap();
            self.push_blob(repo, fx::EMPTY_CONFIG, b"{}").await;
            self.push_blob(repo, fx::JWS_MEDIA_TYPE, &env).await;
            let m = fx::signature_manifest(&target, &env, fx::JWS_MEDIA_TYPE, &chain.x5c());
            let digest = Digest::sha256_of(&m).to_string();
            let desc = self.push_manifest(repo, &digest, &m, OCI_MANIFEST).await;
            self.push_referrer_fallback(repo, &image.digest, &desc)
                .await;
        }
        self.reference(repo, tag)
    }

    /// Add `referrer` to the `sha256-<hex>` fallback index of `subject` (read, merge, put back).
    pub async fn push_referrer_fallback(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Descriptor,
    ) -> Descriptor {
        let tag = subject.fallback_tag();
        let existing = self
            .auth(
                self.http
                    .get(format!("{}/v2/{repo}/manifests/{tag}", self.url())),
            )
            .header(reqwest::header::ACCEPT, OCI_INDEX)
            .send()
            .await
            .expect("get fallback index");
        let mut index = if existing.status() == StatusCode::OK {
            Manifest::parse(&existing.bytes().await.unwrap()).expect("fallback index parses")
        } else {
            Manifest {
                schema_version: 2,
                media_type: Some(OCI_INDEX.into()),
                artifact_type: None,
                config: None,
                layers: vec![],
                manifests: vec![],
                subject: None,
                annotations: Default::default(),
            }
        };
        index.manifests.retain(|d| d.digest != referrer.digest);
        index.manifests.push(referrer.clone());
        let bytes = serde_json::to_vec(&index).unwrap();
        self.push_manifest(repo, &tag, &bytes, OCI_INDEX).await
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
