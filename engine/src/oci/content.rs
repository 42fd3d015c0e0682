//! Checking fetched bytes against the descriptor that named them: size first (cheap), then
//! digest. Every reader of content (layouts, registries, the disk cache, plugin pulls) uses it.

use super::{Descriptor, Digest};

/// Why bytes do not match their descriptor.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// The content is larger than the cap.
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// What was being read.
        what: String,
        /// Its size (observed).
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// The content's length differs from the descriptor's `size`.
    #[error("{digest} is {size} bytes, its descriptor says {declared}")]
    SizeMismatch {
        /// The digest the descriptor named.
        digest: Digest,
        /// The length of the bytes that arrived.
        size: u64,
        /// The descriptor's `size`.
        declared: u64,
    },
    /// The content arrived but does not match its descriptor's digest.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the descriptor named.
        expected: Digest,
        /// The digest of the bytes that arrived.
        actual: Digest,
    },
}

/// Check fetched bytes against their descriptor: size first (cheap), then digest.
pub fn check_content(desc: &Descriptor, data: &[u8], limit: u64) -> Result<(), ContentError> {
    let size = data.len() as u64;
    if size > limit {
        return Err(ContentError::TooLarge {
            what: desc.digest.to_string(),
            size,
            limit,
        });
    }
    if size != desc.size {
        return Err(ContentError::SizeMismatch {
            digest: desc.digest.clone(),
            size,
            declared: desc.size,
        });
    }
    let actual = desc.digest.recompute(data);
    if actual != desc.digest {
        return Err(ContentError::DigestMismatch {
            expected: desc.digest.clone(),
            actual,
        });
    }
    Ok(())
}
