//! Typed access to the subject's referrer graph: the [`Store`] the host offers (the WIT `store`
//! import, [`HostStore`]; a fake in tests), and [`Ctx`], one request's view of it, whose reads
//! fail with an [`AccessError`] that maps onto the standard report reasons.

use verifier_common::manifest::{Layer, Manifest};

use crate::report;
use crate::wit::vouch::verifier::store as imports;
use crate::{Descriptor, Report, StoreError, Subject};

/// `errorReason` of a store read that failed (not found, denied, invalid, unavailable).
pub const STORE_ERROR: &str = "STORE_ERROR";
/// `errorReason` of content over the host's cap or the verifier's `maxBlobBytes`.
pub const TOO_LARGE: &str = "TOO_LARGE";
/// `errorReason` of an artifact manifest that does not parse.
pub const INVALID_MANIFEST: &str = "INVALID_MANIFEST";

/// The host's store, as the WIT `store` interface offers it; all reads are scoped by the host to
/// the referrer graph of the subject under verification.
pub trait Store {
    /// Referrers of `digest`, optionally of one artifact type.
    fn list_referrers(
        &self,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError>;
    /// The raw bytes of the manifest `desc` names.
    fn get_manifest(&self, desc: &Descriptor) -> Result<Vec<u8>, StoreError>;
    /// The raw bytes of a blob named by a manifest already read in this call.
    fn get_blob(&self, digest: &str) -> Result<Vec<u8>, StoreError>;
}

/// The [`Store`] behind the component's WIT `store` import.
pub struct HostStore;

impl Store for HostStore {
    fn list_referrers(
        &self,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        imports::list_referrers(digest, artifact_type)
    }

    fn get_manifest(&self, desc: &Descriptor) -> Result<Vec<u8>, StoreError> {
        imports::get_manifest(desc)
    }

    fn get_blob(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        imports::get_blob(digest)
    }
}

/// Words a store error: `not found: …`, `larger than the host's cap of N bytes`, `denied: …`,
/// `invalid: …` or `unavailable: …`.
pub fn describe(e: &StoreError) -> String {
    match e {
        StoreError::NotFound(s) => format!("not found: {s}"),
        StoreError::TooLarge(cap) => format!("larger than the host's cap of {cap} bytes"),
        StoreError::Denied(s) => format!("denied: {s}"),
        StoreError::Invalid(s) => format!("invalid: {s}"),
        StoreError::Unavailable(s) => format!("unavailable: {s}"),
    }
}

/// Why a read through [`Ctx`] failed; `what` names the content in the message.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The host refused content over its cap (`TOO_LARGE`).
    #[error("{what} is larger than the host's cap of {cap} bytes")]
    HostCap {
        /// What was read.
        what: String,
        /// The host's cap in bytes.
        cap: u64,
    },
    /// The content is over the verifier's own cap (`TOO_LARGE`).
    #[error("{what} is {size} bytes, over maxBlobBytes {max}")]
    OverCap {
        /// What was read.
        what: String,
        /// Its declared or actual size.
        size: u64,
        /// The verifier's cap.
        max: u64,
    },
    /// Any other store error (`STORE_ERROR`); `detail` is [`describe`]'s wording.
    #[error("{what}: {detail}")]
    Store {
        /// What was read.
        what: String,
        /// The store error, worded.
        detail: String,
    },
    /// The artifact's manifest does not parse (`INVALID_MANIFEST`); the parser's message.
    #[error("{0}")]
    InvalidManifest(String),
}

impl AccessError {
    /// Classifies a store error met while reading `what`.
    pub fn from_store(what: &str, e: StoreError) -> AccessError {
        match e {
            StoreError::TooLarge(cap) => AccessError::HostCap {
                what: what.to_owned(),
                cap,
            },
            e => AccessError::Store {
                what: what.to_owned(),
                detail: describe(&e),
            },
        }
    }

    /// The report's `errorReason`: [`STORE_ERROR`], [`TOO_LARGE`] or [`INVALID_MANIFEST`].
    pub fn reason(&self) -> &'static str {
        match self {
            AccessError::HostCap { .. } | AccessError::OverCap { .. } => TOO_LARGE,
            AccessError::Store { .. } => STORE_ERROR,
            AccessError::InvalidManifest(_) => INVALID_MANIFEST,
        }
    }
}

impl From<AccessError> for Report {
    fn from(e: AccessError) -> Report {
        report::failed(e.reason(), e.to_string())
    }
}

/// Fails when `size` is over `max`: [`AccessError::OverCap`] naming `what`.
pub fn check_size(what: &str, size: u64, max: u64) -> Result<(), AccessError> {
    if size > max {
        return Err(AccessError::OverCap {
            what: what.to_owned(),
            size,
            max,
        });
    }
    Ok(())
}

/// One verification request: the subject, the artifact to judge, and the store to read them from.
pub struct Ctx<'a> {
    /// The image under verification.
    pub subject: Subject,
    /// The referrer to judge (its manifest descriptor).
    pub artifact: Descriptor,
    store: &'a dyn Store,
}

impl<'a> Ctx<'a> {
    /// A context over `store` (the SDK builds it over [`HostStore`]; tests pass a fake).
    pub fn new(subject: Subject, artifact: Descriptor, store: &'a dyn Store) -> Ctx<'a> {
        Ctx {
            subject,
            artifact,
            store,
        }
    }

    /// The raw store, for reads the typed helpers do not cover.
    pub fn store(&self) -> &'a dyn Store {
        self.store
    }

    /// The artifact's manifest, parsed; `manifest <digest>` names it in store errors.
    pub fn manifest(&self) -> Result<Manifest, AccessError> {
        let what = format!("manifest {}", self.artifact.digest);
        let bytes = self
            .store
            .get_manifest(&self.artifact)
            .map_err(|e| AccessError::from_store(&what, e))?;
        Manifest::parse(&bytes).map_err(AccessError::InvalidManifest)
    }

    /// The blob `digest` (`what` names it in errors), at most `max` bytes.
    pub fn blob(&self, what: &str, digest: &str, max: u64) -> Result<Vec<u8>, AccessError> {
        let blob = self
            .store
            .get_blob(digest)
            .map_err(|e| AccessError::from_store(what, e))?;
        check_size(what, blob.len() as u64, max)?;
        Ok(blob)
    }

    /// A layer's blob (`what` names it in errors), refused before reading when its declared
    /// size is over `max`, and after when its actual size is.
    pub fn layer(&self, what: &str, layer: &Layer, max: u64) -> Result<Vec<u8>, AccessError> {
        check_size(what, layer.size, max)?;
        self.blob(what, &layer.digest, max)
    }

    /// The referrers of `digest` (the subject or one of its referrers), optionally of one
    /// artifact type; `referrers of <digest>` names them in errors.
    pub fn referrers(
        &self,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, AccessError> {
        self.store
            .list_referrers(digest, artifact_type)
            .map_err(|e| AccessError::from_store(&format!("referrers of {digest}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryStore, ctx, descriptor};

    fn failure(r: Report) -> (String, String) {
        assert!(!r.is_success);
        assert!(r.extensions.is_empty());
        (r.error_reason.unwrap(), r.message)
    }

    fn pair(reason: &str, message: &str) -> (String, String) {
        (reason.to_owned(), message.to_owned())
    }

    const MANIFEST: &str = r#"{"layers":[{"mediaType":"a/b","digest":"sha256:small","size":3}]}"#;

    fn store() -> MemoryStore {
        MemoryStore::default()
            .manifest("sha256:m", Ok(MANIFEST.as_bytes().to_vec()))
            .manifest("sha256:bad", Ok(b"[]".to_vec()))
            .manifest("sha256:huge", Err(StoreError::TooLarge(4096)))
            .blob("sha256:small", Ok(b"abc".to_vec()))
            // Declares 3 bytes but holds 10.
            .blob("sha256:lying", Ok(vec![0; 10]))
            .blob(
                "sha256:denied",
                Err(StoreError::Denied("outside the graph".into())),
            )
            .blob(
                "sha256:broken",
                Err(StoreError::Invalid("digest mismatch".into())),
            )
            .blob(
                "sha256:other",
                Err(StoreError::Unavailable("registry down".into())),
            )
            .referrer("sha256:m", descriptor("sha256:r", Some("a/b"), &[]))
    }

    fn ctx_for<'a>(digest: &str, store: &'a MemoryStore) -> Ctx<'a> {
        ctx(descriptor(digest, None, &[]), store)
    }

    #[test]
    fn store_errors_are_classified_and_worded() {
        for (e, want) in [
            (
                StoreError::TooLarge(7),
                pair(TOO_LARGE, "blob is larger than the host's cap of 7 bytes"),
            ),
            (
                StoreError::NotFound("d".into()),
                pair(STORE_ERROR, "blob: not found: d"),
            ),
            (
                StoreError::Denied("d".into()),
                pair(STORE_ERROR, "blob: denied: d"),
            ),
            (
                StoreError::Invalid("d".into()),
                pair(STORE_ERROR, "blob: invalid: d"),
            ),
            (
                StoreError::Unavailable("d".into()),
                pair(STORE_ERROR, "blob: unavailable: d"),
            ),
        ] {
            assert_eq!(failure(AccessError::from_store("blob", e).into()), want);
        }
        assert_eq!(
            describe(&StoreError::TooLarge(9)),
            "larger than the host's cap of 9 bytes"
        );
    }

    #[test]
    fn manifests_are_read_and_parsed() {
        let store = store();
        let m = ctx_for("sha256:m", &store).manifest().unwrap();
        assert_eq!(m.layers[0].digest, "sha256:small");
        assert_eq!(
            failure(ctx_for("sha256:bad", &store).manifest().unwrap_err().into()),
            pair(INVALID_MANIFEST, "manifest is not a JSON object")
        );
        assert_eq!(
            failure(
                ctx_for("sha256:huge", &store)
                    .manifest()
                    .unwrap_err()
                    .into()
            ),
            pair(
                TOO_LARGE,
                "manifest sha256:huge is larger than the host's cap of 4096 bytes"
            )
        );
        assert_eq!(
            failure(
                ctx_for("sha256:gone", &store)
                    .manifest()
                    .unwrap_err()
                    .into()
            ),
            pair(STORE_ERROR, "manifest sha256:gone: not found: sha256:gone")
        );
    }

    #[test]
    fn layers_are_fetched_within_the_cap() {
        let store = store();
        let ctx = ctx_for("sha256:m", &store);
        let layer = |digest: &str, size| Layer {
            index: 0,
            media_type: "a/b".into(),
            digest: digest.into(),
            size,
        };
        assert_eq!(
            ctx.layer("l", &layer("sha256:small", 3), 3).unwrap(),
            b"abc"
        );
        for (digest, size, cap, reason, message) in [
            (
                "sha256:small",
                4,
                3,
                TOO_LARGE,
                "l is 4 bytes, over maxBlobBytes 3",
            ),
            (
                "sha256:lying",
                3,
                5,
                TOO_LARGE,
                "l is 10 bytes, over maxBlobBytes 5",
            ),
            (
                "sha256:denied",
                3,
                5,
                STORE_ERROR,
                "l: denied: outside the graph",
            ),
            (
                "sha256:broken",
                3,
                5,
                STORE_ERROR,
                "l: invalid: digest mismatch",
            ),
            (
                "sha256:other",
                3,
                5,
                STORE_ERROR,
                "l: unavailable: registry down",
            ),
        ] {
            let r = ctx.layer("l", &layer(digest, size), cap).unwrap_err();
            assert_eq!(failure(r.into()), pair(reason, message), "{digest}");
        }
    }

    #[test]
    fn referrers_are_listed_or_fail_naming_the_node() {
        let store = store();
        let ctx = ctx_for("sha256:m", &store);
        let found = ctx.referrers("sha256:m", Some("a/b")).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].artifact_type.as_deref(), Some("a/b"));
        assert!(ctx.referrers("sha256:m", Some("c/d")).unwrap().is_empty());
        assert_eq!(
            failure(ctx.referrers("sha256:x", None).unwrap_err().into()),
            pair(STORE_ERROR, "referrers of sha256:x: denied: sha256:x")
        );
    }
}
