//! Reading from a registry: resolving tags, fetching manifests and blobs, digest-checked and
//! size-capped.

use super::*;

impl RegistryClient {
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

    pub(super) async fn fetch_manifest_by_ref(
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

    pub(super) async fn fetch_content(
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
}

/// The digest `tag_or_digest` pins, if it is a digest.
pub(super) fn pinned_digest(
    tag_or_digest: &str,
    what: &str,
) -> Result<Option<Digest>, RegistryError> {
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

pub(super) fn manifest_url(
    st: &RegistryState,
    reference: &Reference,
    tag_or_digest: &str,
) -> Result<Url, RegistryError> {
    repo_url(st, reference, &["manifests", tag_or_digest])
}
