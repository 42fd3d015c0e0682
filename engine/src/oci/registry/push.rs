//! Pushing to a registry: blobs (monolithic `POST` + `PUT` upload, skipped when the registry
//! already has the blob), manifests (`PUT` by tag or digest), and the referrers tag-schema
//! fallback index (`sha256-<hex>`) for registries without the referrers API.
//!
//! Every request goes through the client's authentication, retry and plain-HTTP rules (the token
//! scope is `repository:<name>:pull,push`). A blob upload is retried as a whole (a fresh `POST`),
//! so a half-finished upload session is never resumed.

use bytes::Bytes;
use reqwest::header::LOCATION;
use reqwest::{Method, Url};

use super::{
    DOCKER_CONTENT_DIGEST, Failure, RegistryClient, RegistryError, header_str, manifest_url,
    repo_url,
};
use crate::oci::content::check_content;
use crate::oci::manifest::{DOCKER_MANIFEST_LIST, OCI_INDEX};
use crate::oci::{Descriptor, Digest, Manifest, Reference};

/// Header a registry with the referrers API sets when it accepted a manifest with a `subject`.
const OCI_SUBJECT: &str = "oci-subject";
/// Token scope actions for pushing.
const PUSH_ACTIONS: &str = "pull,push";

/// A manifest the registry accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedManifest {
    /// Media type, digest and size of the bytes pushed.
    pub descriptor: Descriptor,
    /// Whether the registry answered `OCI-Subject`, i.e. it indexes referrers itself and the
    /// tag-schema fallback index need not be updated.
    pub subject_indexed: bool,
}

impl RegistryClient {
    /// Whether `reference`'s repository already holds the blob `digest` (`HEAD`).
    pub async fn blob_exists(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let st = self.state(reference)?;
        let what = format!("blob {}/{}@{digest}", st.host, reference.repository());
        let url = &repo_url(&st, reference, &["blobs", &digest.to_string()])?;
        let (st_ref, what_ref) = (&*st, what.as_str());
        let result = self
            .with_retries(st_ref, what_ref, |_| async move {
                self.send_with(
                    st_ref,
                    reference,
                    Method::HEAD,
                    url,
                    "*/*",
                    what_ref,
                    PUSH_ACTIONS,
                    None,
                )
                .await
                .map(|_| ())
            })
            .await;
        match result {
            Ok(()) => Ok(true),
            Err(RegistryError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Upload `data` as the blob `desc` names to `reference`'s repository, unless the registry
    /// already has it. The bytes are checked against `desc` before anything is sent.
    pub async fn push_blob(
        &self,
        reference: &Reference,
        desc: &Descriptor,
        data: &Bytes,
    ) -> Result<(), RegistryError> {
        let st = self.state(reference)?;
        let what = format!(
            "blob upload {}/{}@{}",
            st.host,
            reference.repository(),
            desc.digest
        );
        check_content(desc, data, u64::MAX).map_err(|e| RegistryError::from_check(&what, e))?;
        if self.blob_exists(reference, &desc.digest).await? {
            tracing::debug!(%what, "the registry already has the blob; upload skipped");
            return Ok(());
        }
        let start = &repo_url(&st, reference, &["blobs", "uploads", ""])?;
        let (st_ref, what_ref) = (&*st, what.as_str());
        self.with_retries(st_ref, what_ref, |_| async move {
            let resp = self
                .send_with(
                    st_ref,
                    reference,
                    Method::POST,
                    start,
                    "*/*",
                    what_ref,
                    PUSH_ACTIONS,
                    None,
                )
                .await?;
            let location = header_str(resp.headers(), LOCATION.as_str()).ok_or_else(|| {
                Failure::Fatal(RegistryError::Invalid {
                    what: what_ref.to_owned(),
                    reason: "the upload answer has no Location header".into(),
                })
            })?;
            let mut url = upload_url(start, location).map_err(|reason| {
                Failure::Fatal(RegistryError::Invalid {
                    what: what_ref.to_owned(),
                    reason,
                })
            })?;
            url.query_pairs_mut()
                .append_pair("digest", &desc.digest.to_string());
            self.send_with(
                st_ref,
                reference,
                Method::PUT,
                &url,
                "*/*",
                what_ref,
                PUSH_ACTIONS,
                Some(("application/octet-stream", data)),
            )
            .await?;
            Ok(())
        })
        .await?;
        tracing::debug!(%what, size = desc.size, "blob uploaded");
        Ok(())
    }

    /// Put `bytes` (a manifest of `media_type`) under `tag_or_digest` in `reference`'s
    /// repository. A digest must be the digest of `bytes`; the registry's
    /// `Docker-Content-Digest` answer must match too.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        tag_or_digest: &str,
        media_type: &str,
        bytes: &Bytes,
    ) -> Result<PushedManifest, RegistryError> {
        let st = self.state(reference)?;
        let what = format!(
            "manifest push {}/{}:{tag_or_digest}",
            st.host,
            reference.repository()
        );
        let manifest = Manifest::parse(bytes).map_err(|e| RegistryError::Invalid {
            what: what.clone(),
            reason: e.to_string(),
        })?;
        let digest = Digest::sha256_of(bytes);
        if let Some(pinned) = super::pinned_digest(tag_or_digest, &what)? {
            let actual = pinned.recompute(bytes);
            if actual != pinned {
                return Err(RegistryError::DigestMismatch {
                    what,
                    expected: pinned,
                    actual,
                });
            }
        }
        let url = &manifest_url(&st, reference, tag_or_digest)?;
        let (st_ref, what_ref) = (&*st, what.as_str());
        let headers = self
            .with_retries(st_ref, what_ref, |_| async move {
                let resp = self
                    .send_with(
                        st_ref,
                        reference,
                        Method::PUT,
                        url,
                        "*/*",
                        what_ref,
                        PUSH_ACTIONS,
                        Some((media_type, bytes)),
                    )
                    .await?;
                Ok(resp.headers().clone())
            })
            .await?;
        if let Some(answered) =
            header_str(&headers, DOCKER_CONTENT_DIGEST).and_then(|v| v.parse::<Digest>().ok())
            && answered.algorithm() == digest.algorithm()
            && answered != digest
        {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: digest,
                actual: answered,
            });
        }
        let mut descriptor = Descriptor::for_content(media_type, bytes);
        descriptor.artifact_type = manifest.effective_artifact_type().map(str::to_owned);
        tracing::debug!(%what, digest = %descriptor.digest, "manifest pushed");
        Ok(PushedManifest {
            descriptor,
            subject_indexed: headers.contains_key(OCI_SUBJECT),
        })
    }

    /// Add `referrer` to the tag-schema fallback index of `subject` (`sha256-<hex>`): read the
    /// index (a missing tag is an empty index), replace any entry with the same digest, put it
    /// back. Returns the new index's descriptor.
    ///
    /// Like every client of the tag schema, two concurrent pushers can lose one another's entry;
    /// registries with the referrers API do not need this (see [`PushedManifest::subject_indexed`]).
    pub async fn push_referrer_fallback(
        &self,
        reference: &Reference,
        subject: &Digest,
        referrer: &Descriptor,
    ) -> Result<Descriptor, RegistryError> {
        let tag = subject.fallback_tag();
        let mut index = match self.fetch_manifest_ref(reference, &tag).await {
            Ok(f) => {
                let is_index = f.manifest.config.is_none()
                    && f.manifest.layers.is_empty()
                    && f.manifest
                        .media_type
                        .as_deref()
                        .is_none_or(|m| m == OCI_INDEX || m == DOCKER_MANIFEST_LIST);
                if !is_index {
                    return Err(RegistryError::Invalid {
                        what: format!(
                            "referrers index {}/{}:{tag}",
                            reference.registry(),
                            reference.repository()
                        ),
                        reason: "the fallback tag names an image manifest, not an index".into(),
                    });
                }
                f.manifest
            }
            Err(RegistryError::NotFound { .. }) => empty_index(),
            Err(e) => return Err(e),
        };
        index.media_type = Some(OCI_INDEX.to_owned());
        index.manifests.retain(|d| d.digest != referrer.digest);
        index.manifests.push(referrer.clone());
        let bytes =
            Bytes::from(
                serde_json::to_vec(&index).map_err(|e| RegistryError::Invalid {
                    what: format!("referrers index for {subject}"),
                    reason: e.to_string(),
                })?,
            );
        Ok(self
            .push_manifest(reference, &tag, OCI_INDEX, &bytes)
            .await?
            .descriptor)
    }
}

fn empty_index() -> Manifest {
    Manifest {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_owned()),
        artifact_type: None,
        config: None,
        layers: vec![],
        manifests: vec![],
        subject: None,
        annotations: Default::default(),
    }
}

/// The upload session URL a `Location` header names, resolved against the `POST` URL. It must
/// stay on the registry's origin: credentials are sent with the `PUT`.
fn upload_url(start: &Url, location: &str) -> Result<Url, String> {
    let url = start
        .join(location)
        .map_err(|e| format!("bad upload Location `{location}`: {e}"))?;
    if url.origin() != start.origin() {
        return Err(format!(
            "the upload Location {url} is on another origin than the registry ({}); refusing to send credentials there",
            start.origin().ascii_serialization()
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_location_is_resolved_and_kept_on_the_registry() {
        let start = Url::parse("http://127.0.0.1:5000/v2/a/blobs/uploads/").unwrap();
        let rel = upload_url(&start, "/v2/a/blobs/uploads/uuid?_state=x").unwrap();
        assert_eq!(
            rel.as_str(),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/uuid?_state=x"
        );
        let abs = upload_url(&start, "http://127.0.0.1:5000/v2/a/blobs/uploads/u2").unwrap();
        assert_eq!(abs.path(), "/v2/a/blobs/uploads/u2");
        let err = upload_url(&start, "http://evil.example/upload").unwrap_err();
        assert!(err.contains("another origin"), "{err}");
        let err = upload_url(&start, "https://127.0.0.1:5000/x").unwrap_err();
        assert!(err.contains("another origin"), "{err}");
    }

    #[tokio::test]
    async fn refuses_a_manifest_pushed_under_another_digest() {
        let client = RegistryClient::new(super::super::RegistryConfig::default()).unwrap();
        let reference: Reference = "127.0.0.1:1/a:v1".parse().unwrap();
        let bytes = Bytes::from_static(br#"{"schemaVersion":2}"#);
        let other = Digest::sha256_of(b"other").to_string();
        let err = client
            .push_manifest(&reference, &other, OCI_INDEX, &bytes)
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
        let bad_blob = Descriptor::for_content("application/wasm", b"wasm");
        let err = client
            .push_blob(&reference, &bad_blob, &Bytes::from_static(b"other"))
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::Invalid { .. }), "{err}");
    }
}
