//! [`StoreAccess`] over one repository of an OCI registry.
//!
//! cosign's tag-stored signatures and attestations may live in another repository than the
//! image (cosign's `COSIGN_REPOSITORY`, the registry's `signatureRepository` setting): the
//! client marks such descriptors with the repository they came from, and this store fetches
//! their manifests there. Their blobs are named by digest only, so a blob the image's repository
//! does not have (404) is asked of the signature repository next; content is digest-checked
//! whichever repository served it.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use super::{StoreAccess, StoreError};
use crate::oci::registry::{RegistryClient, RegistryError};
use crate::oci::{Descriptor, Digest, Reference};

/// One registry repository, read through a shared [`RegistryClient`].
#[derive(Clone, Debug)]
pub struct RegistryStore {
    client: Arc<RegistryClient>,
    reference: Reference,
}

impl RegistryStore {
    /// A store for `reference`'s repository (its tag or digest is ignored).
    pub fn new(client: Arc<RegistryClient>, reference: Reference) -> RegistryStore {
        RegistryStore { client, reference }
    }

    /// The reference this store was made for.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }
}

impl From<RegistryError> for StoreError {
    fn from(e: RegistryError) -> StoreError {
        match e {
            RegistryError::NotFound { .. } => StoreError::NotFound(e.to_string()),
            RegistryError::TooLarge { what, size, limit } => {
                StoreError::TooLarge { what, size, limit }
            }
            RegistryError::DigestMismatch {
                expected, actual, ..
            } => StoreError::DigestMismatch { expected, actual },
            RegistryError::Invalid { .. } | RegistryError::HeaderDigestMismatch { .. } => {
                StoreError::Invalid(e.to_string())
            }
            RegistryError::Unauthorized { .. }
            | RegistryError::Unavailable { .. }
            | RegistryError::Timeout { .. }
            | RegistryError::Config { .. } => StoreError::Unavailable(e.to_string()),
        }
    }
}

#[async_trait]
impl StoreAccess for RegistryStore {
    async fn resolve(&self, tag_or_digest: &str) -> Result<Descriptor, StoreError> {
        Ok(self.client.resolve(&self.reference, tag_or_digest).await?)
    }

    async fn list_referrers(
        &self,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        Ok(self
            .client
            .referrers(&self.reference, digest, artifact_type)
            .await?)
    }

    async fn get_manifest(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        let signatures = self.signature_repository();
        let from = match (&signatures, desc.cosign_repository()) {
            // Only the configured repository, never any name a descriptor carries.
            (Some(sig), Some(named)) if sig.name() == named => sig,
            _ => &self.reference,
        };
        Ok(self.client.get_manifest(from, desc).await?)
    }

    async fn get_blob(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        let not_found = match self.client.get_blob(&self.reference, desc).await {
            Err(e @ RegistryError::NotFound { .. }) => e,
            other => return Ok(other?),
        };
        let Some(sig) = self.signature_repository() else {
            return Err(not_found.into());
        };
        tracing::debug!(blob = %desc.digest, repository = %sig.name(),
            "blob not in the image's repository; reading the signature repository");
        Ok(self.client.get_blob(&sig, desc).await?)
    }
}

impl RegistryStore {
    /// The configured signature repository of this store's registry, when it is another
    /// repository than this store's.
    fn signature_repository(&self) -> Option<Reference> {
        let sig = self.client.signature_repository(&self.reference);
        (sig.name() != self.reference.name()).then_some(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Digest {
        Digest::sha256_of(b"x")
    }

    #[test]
    fn maps_registry_errors_precisely() {
        let e: StoreError = RegistryError::NotFound { what: "m".into() }.into();
        assert!(matches!(e, StoreError::NotFound(ref m) if m.contains("m: not found")));
        let e: StoreError = RegistryError::Unauthorized {
            what: "m".into(),
            registry: "r".into(),
            status: 401,
            detail: String::new(),
        }
        .into();
        assert!(matches!(e, StoreError::Unavailable(ref m) if m.contains("unauthorized")));
        let e: StoreError = RegistryError::TooLarge {
            what: "b".into(),
            size: 9,
            limit: 8,
        }
        .into();
        assert_eq!(
            e,
            StoreError::TooLarge {
                what: "b".into(),
                size: 9,
                limit: 8
            }
        );
        let e: StoreError = RegistryError::DigestMismatch {
            what: "b".into(),
            expected: d(),
            actual: Digest::sha256_of(b"y"),
        }
        .into();
        assert!(matches!(e, StoreError::DigestMismatch { .. }));
        let e: StoreError = RegistryError::Invalid {
            what: "m".into(),
            reason: "bad".into(),
        }
        .into();
        assert!(matches!(e, StoreError::Invalid(_)));
        let e: StoreError = RegistryError::Timeout {
            what: "m".into(),
            attempts: 3,
            timeout: std::time::Duration::from_millis(5),
        }
        .into();
        assert!(matches!(e, StoreError::Unavailable(ref m) if m.contains("timed out")));
    }
}
