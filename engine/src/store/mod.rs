//! The store layer: what the host functions read. Registries, OCI layouts, caches.
//!
//! The runtime sees a store only through [`StoreAccess`], a reader scoped to one repository
//! (a registry repository or an OCI layout). Every byte a `StoreAccess` returns has been checked
//! against its descriptor's digest and is under the size cap.

use async_trait::async_trait;
use bytes::Bytes;

use crate::oci::content::ContentError;
use crate::oci::{Descriptor, Digest};

pub mod blob;
pub mod cache;
pub mod disk;
pub mod layout;
pub mod registry;
pub mod revocation;

pub use layout::{LayoutStore, Limits as LayoutLimits};

/// Why a store read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The content does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The content is larger than the cap.
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// What was being read.
        what: String,
        /// Its size (declared or observed).
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// The content arrived but does not match its descriptor.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the descriptor named.
        expected: Digest,
        /// The digest of the bytes that arrived.
        actual: Digest,
    },
    /// The content exists but is malformed.
    #[error("invalid content: {0}")]
    Invalid(String),
    /// The store could not answer (network, registry error, I/O).
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Read access to one repository: a registry repository or an OCI layout.
#[async_trait]
pub trait StoreAccess: Send + Sync {
    /// Resolve a tag or a digest to the descriptor of the manifest it names.
    async fn resolve(&self, tag_or_digest: &str) -> Result<Descriptor, StoreError>;
    /// Referrers of the manifest `digest`, optionally only those of `artifact_type`.
    async fn list_referrers(
        &self,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError>;
    /// The manifest `desc` names, digest-checked and size-capped.
    async fn get_manifest(&self, desc: &Descriptor) -> Result<Bytes, StoreError>;
    /// The blob `desc` names, digest-checked and size-capped.
    async fn get_blob(&self, desc: &Descriptor) -> Result<Bytes, StoreError>;
}

impl From<ContentError> for StoreError {
    fn from(e: ContentError) -> StoreError {
        match e {
            ContentError::TooLarge { what, size, limit } => {
                StoreError::TooLarge { what, size, limit }
            }
            ContentError::DigestMismatch { expected, actual } => {
                StoreError::DigestMismatch { expected, actual }
            }
            e @ ContentError::SizeMismatch { .. } => StoreError::Invalid(e.to_string()),
        }
    }
}

/// Check fetched bytes against their descriptor (see [`crate::oci::content::check_content`]),
/// as a [`StoreError`].
pub fn check_content(desc: &Descriptor, data: &[u8], limit: u64) -> Result<(), StoreError> {
    Ok(crate::oci::content::check_content(desc, data, limit)?)
}
