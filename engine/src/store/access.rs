//! What the runtime may see of the store layer: [`StoreAccess`], a reader scoped to one
//! repository (a registry repository or an OCI layout), and [`RevocationSource`], where the
//! `revocation` host import gets CRLs and OCSP responses. Every byte a `StoreAccess` returns has
//! been checked against its descriptor's digest and is under the size cap.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::oci::content::ContentError;
use crate::oci::{Descriptor, Digest};

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

/// Why a fetch failed (mirrors the WIT `fetch-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL is not named by the certificate, not `http`/`https`, or not on the allow-list.
    #[error("denied: {0}")]
    Denied(String),
    /// The response is over the cap (bytes).
    #[error("the response is over the {0}-byte cap")]
    TooLarge(u64),
    /// No answer (unreachable, timeout, error status, offline without a file).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// A CRL as the source holds it: its DER and the SHA-256 of that DER (computed once, when it
/// was fetched or read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedCrl {
    /// The DER `CertificateList`.
    pub der: Bytes,
    /// SHA-256 of `der`.
    pub sha256: [u8; 32],
}

impl FetchedCrl {
    /// `der` with its digest.
    pub fn new(der: Bytes) -> Self {
        let sha256 = sha256(&der);
        FetchedCrl { der, sha256 }
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

/// Where the `revocation` host import gets its answers.
#[async_trait]
pub trait RevocationSource: Send + Sync {
    /// The DER CRL at `url`, a CRL distribution point of the DER certificate `cert`.
    async fn fetch_crl(&self, cert: &[u8], url: &str) -> Result<FetchedCrl, FetchError>;
    /// The outcome of checking the signature of the CRL whose SHA-256 is `crl` with the key of
    /// the certificate whose SHA-256 is `issuer`: remembered, else computed by `check` (the
    /// caller's cryptography; it must depend on nothing but those two byte strings).
    fn crl_signature(
        &self,
        crl: &[u8; 32],
        issuer: &[u8; 32],
        check: &mut dyn FnMut() -> Result<(), String>,
    ) -> Result<(), String>;
    /// The DER OCSP response of responder `url` (named by `cert`) to the DER request `request`.
    async fn fetch_ocsp(&self, cert: &[u8], url: &str, request: &[u8])
    -> Result<Bytes, FetchError>;
}

/// The fetcher as the runtime holds it.
pub type SharedSource = Arc<dyn RevocationSource>;
