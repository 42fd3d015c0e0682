//! An in-memory [`Store`] for verifiers' native unit tests: manifests, blobs and referrers by
//! digest, each an answer or a [`StoreError`].

use std::collections::BTreeMap;

use crate::store::{Ctx, Store};
use crate::{Descriptor, StoreError, Subject};

/// See the module documentation. Unknown manifests and blobs are `not-found`; referrers of a
/// node never added are `denied` (outside the graph), as the host answers.
#[derive(Default)]
pub struct MemoryStore {
    manifests: BTreeMap<String, Result<Vec<u8>, StoreError>>,
    blobs: BTreeMap<String, Result<Vec<u8>, StoreError>>,
    referrers: BTreeMap<String, Vec<Descriptor>>,
}

impl MemoryStore {
    /// Answers `get-manifest` of `digest` with `answer`.
    pub fn manifest(mut self, digest: &str, answer: Result<Vec<u8>, StoreError>) -> Self {
        self.manifests.insert(digest.to_owned(), answer);
        self
    }

    /// Answers `get-blob` of `digest` with `answer`.
    pub fn blob(mut self, digest: &str, answer: Result<Vec<u8>, StoreError>) -> Self {
        self.blobs.insert(digest.to_owned(), answer);
        self
    }

    /// Lists `referrer` among the referrers of `digest`.
    pub fn referrer(mut self, digest: &str, referrer: Descriptor) -> Self {
        self.referrers
            .entry(digest.to_owned())
            .or_default()
            .push(referrer);
        self
    }
}

impl Store for MemoryStore {
    fn list_referrers(
        &self,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        let all = self
            .referrers
            .get(digest)
            .ok_or_else(|| StoreError::Denied(digest.to_owned()))?;
        Ok(all
            .iter()
            .filter(|d| artifact_type.is_none() || d.artifact_type.as_deref() == artifact_type)
            .cloned()
            .collect())
    }

    fn get_manifest(&self, desc: &Descriptor) -> Result<Vec<u8>, StoreError> {
        self.manifests
            .get(&desc.digest)
            .cloned()
            .unwrap_or_else(|| Err(StoreError::NotFound(desc.digest.clone())))
    }

    fn get_blob(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        self.blobs
            .get(digest)
            .cloned()
            .unwrap_or_else(|| Err(StoreError::NotFound(digest.to_owned())))
    }
}

/// A descriptor of an OCI image manifest: `digest`, `artifact_type` and `annotations`, size 0.
pub fn descriptor(
    digest: &str,
    artifact_type: Option<&str>,
    annotations: &[(&str, &str)],
) -> Descriptor {
    Descriptor {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: digest.into(),
        size: 0,
        artifact_type: artifact_type.map(str::to_owned),
        annotations: annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// A context judging `artifact` of the subject `registry.test/app@sha256:5e` over `store`.
pub fn ctx<'a>(artifact: Descriptor, store: &'a dyn Store) -> Ctx<'a> {
    let subject = Subject {
        reference: "registry.test/app@sha256:5e".into(),
        descriptor: descriptor("sha256:5e", None, &[]),
    };
    Ctx::new(subject, artifact, store)
}
