//! [`StoreAccess`] over a read-only OCI image layout directory.
//!
//! File I/O runs on tokio's blocking pool; every read is size-capped before it starts and
//! digest-checked after it ends (see [`OciLayout::read_blob`]).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use super::{StoreAccess, StoreError};
use crate::oci::{Descriptor, Digest, LayoutError, OciLayout};

/// Size caps for what a [`LayoutStore`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutLimits {
    /// Largest manifest returned or read while resolving and listing referrers (bytes).
    pub max_manifest_bytes: u64,
    /// Largest blob returned (bytes).
    pub max_blob_bytes: u64,
}

impl Default for LayoutLimits {
    /// 4 MiB manifests (the registry spec's recommended limit), 32 MiB blobs.
    fn default() -> Self {
        LayoutLimits {
            max_manifest_bytes: 4 << 20,
            max_blob_bytes: 32 << 20,
        }
    }
}

/// A store that reads one OCI image layout directory.
#[derive(Debug, Clone)]
pub struct LayoutStore {
    layout: Arc<OciLayout>,
    limits: LayoutLimits,
}

impl LayoutStore {
    /// A store over `layout` with the given caps (the manifest cap also applies to the layout's
    /// own manifest reads).
    pub fn new(layout: OciLayout, limits: LayoutLimits) -> LayoutStore {
        LayoutStore {
            layout: Arc::new(layout.with_manifest_limit(limits.max_manifest_bytes)),
            limits,
        }
    }

    /// Open the layout at `path` and wrap it in a store.
    pub fn open(path: impl AsRef<Path>, limits: LayoutLimits) -> Result<LayoutStore, LayoutError> {
        Ok(LayoutStore::new(OciLayout::open(path)?, limits))
    }

    /// The layout this store reads.
    pub fn layout(&self) -> &OciLayout {
        &self.layout
    }

    /// The caps this store applies.
    pub fn limits(&self) -> LayoutLimits {
        self.limits
    }

    /// Run a layout read on the blocking pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&OciLayout) -> Result<T, LayoutError> + Send + 'static,
    {
        let layout = Arc::clone(&self.layout);
        tokio::task::spawn_blocking(move || f(&layout))
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "OCI layout `{}`: read task failed: {e}",
                    self.layout.path().display()
                ))
            })?
            .map_err(StoreError::from)
    }
}

impl From<LayoutError> for StoreError {
    fn from(e: LayoutError) -> StoreError {
        match e {
            LayoutError::NotFound(what) => StoreError::NotFound(what),
            LayoutError::TooLarge { what, size, limit } => {
                StoreError::TooLarge { what, size, limit }
            }
            LayoutError::DigestMismatch { expected, actual } => {
                StoreError::DigestMismatch { expected, actual }
            }
            e @ (LayoutError::SizeMismatch { .. }
            | LayoutError::NotRegular { .. }
            | LayoutError::InvalidIndex { .. }
            | LayoutError::InvalidManifest { .. }) => StoreError::Invalid(e.to_string()),
            e @ (LayoutError::Io { .. }
            | LayoutError::Open { .. }
            | LayoutError::NotALayout { .. }) => StoreError::Unavailable(e.to_string()),
        }
    }
}

#[async_trait]
impl StoreAccess for LayoutStore {
    async fn resolve(&self, tag_or_digest: &str) -> Result<Descriptor, StoreError> {
        let s = tag_or_digest.to_owned();
        self.blocking(move |layout| layout.resolve(&s)).await
    }

    async fn list_referrers(
        &self,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        let digest = digest.clone();
        let artifact_type = artifact_type.map(str::to_owned);
        self.blocking(move |layout| layout.referrers(&digest, artifact_type.as_deref()))
            .await
    }

    async fn get_manifest(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        let desc = desc.clone();
        let limit = self.limits.max_manifest_bytes;
        self.blocking(move |layout| layout.read_blob(&desc, limit))
            .await
    }

    async fn get_blob(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        let desc = desc.clone();
        let limit = self.limits.max_blob_bytes;
        self.blocking(move |layout| layout.read_blob(&desc, limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::layout::testing::LayoutBuilder;

    const SIG: &str = "application/vnd.cncf.notary.signature";

    fn store(b: &LayoutBuilder, limits: LayoutLimits) -> LayoutStore {
        LayoutStore::open(b.path(), limits).unwrap()
    }

    #[test]
    fn default_limits() {
        let l = LayoutLimits::default();
        assert_eq!(l.max_manifest_bytes, 4 * 1024 * 1024);
        assert_eq!(l.max_blob_bytes, 32 * 1024 * 1024);
    }

    #[tokio::test]
    async fn resolves_lists_and_reads() {
        let mut b = LayoutBuilder::new();
        let image = b.image(b"layer bytes");
        let sig = b.artifact(SIG, &image, b"signature");
        let sbom = b.artifact("application/spdx+json", &image, b"sbom");
        let sbom_sig = b.artifact(SIG, &sbom, b"signature on sbom");
        b.add(&image, Some("v1"));
        for d in [&sig, &sbom, &sbom_sig] {
            b.add(d, None);
        }
        b.write_index();
        let s = store(&b, LayoutLimits::default());

        let desc = s.resolve("v1").await.unwrap();
        assert_eq!(desc.digest, image.digest);
        assert_eq!(
            s.resolve(&image.digest.to_string()).await.unwrap().digest,
            image.digest
        );

        let all = s.list_referrers(&image.digest, None).await.unwrap();
        assert_eq!(all.len(), 2);
        let sigs = s.list_referrers(&image.digest, Some(SIG)).await.unwrap();
        assert_eq!(sigs.len(), 1);
        assert_eq!(sigs[0].digest, sig.digest);
        assert_eq!(sigs[0].artifact_type.as_deref(), Some(SIG));
        let nested = s.list_referrers(&sbom.digest, Some(SIG)).await.unwrap();
        assert_eq!(nested.len(), 1);
        assert_eq!(nested[0].digest, sbom_sig.digest);

        let manifest = s.get_manifest(&sigs[0]).await.unwrap();
        let parsed = crate::oci::Manifest::parse(&manifest).unwrap();
        assert_eq!(parsed.subject.unwrap().digest, image.digest);
        let layer = &parsed.layers[0];
        assert_eq!(&s.get_blob(layer).await.unwrap()[..], b"signature");
    }

    #[tokio::test]
    async fn maps_errors_precisely() {
        let mut b = LayoutBuilder::new();
        let image = b.image(b"layer");
        let big = b.blob("application/octet-stream", &[1u8; 2048]);
        let tampered = b.blob("application/octet-stream", b"original");
        std::fs::write(b.path().join(LayoutBuilder::rel(&tampered)), b"modified").unwrap();
        b.add(&image, Some("v1"));
        b.write_index();
        let s = store(
            &b,
            LayoutLimits {
                max_manifest_bytes: 1 << 20,
                max_blob_bytes: 1024,
            },
        );

        assert!(matches!(
            s.resolve("nope").await,
            Err(StoreError::NotFound(_))
        ));
        let absent = Descriptor::for_content("application/octet-stream", b"absent");
        assert!(matches!(
            s.get_blob(&absent).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.get_blob(&big).await,
            Err(StoreError::TooLarge {
                size: 2048,
                limit: 1024,
                ..
            })
        ));
        // The same blob is within the manifest cap.
        assert_eq!(s.get_manifest(&big).await.unwrap().len(), 2048);
        match s.get_blob(&tampered).await {
            Err(StoreError::DigestMismatch { expected, actual }) => {
                assert_eq!(expected, tampered.digest);
                assert_eq!(actual, Digest::sha256_of(b"modified"));
            }
            other => panic!("expected a digest mismatch, got {other:?}"),
        }
        let short = Descriptor {
            size: 3,
            ..image.clone()
        };
        assert!(matches!(
            s.get_manifest(&short).await,
            Err(StoreError::Invalid(_))
        ));

        std::fs::write(b.path().join("index.json"), b"{\"schemaVersion\":").unwrap();
        let err = s.resolve("v1").await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains("index.json")),
            "{err}"
        );
        let err = s.list_referrers(&image.digest, None).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn escaping_symlink_is_unavailable_not_read() {
        let b = LayoutBuilder::new();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x"), b"outside").unwrap();
        let desc = Descriptor::for_content("application/octet-stream", b"outside");
        std::os::unix::fs::symlink(
            outside.path().join("x"),
            b.path().join(LayoutBuilder::rel(&desc)),
        )
        .unwrap();
        b.write_index();
        let s = store(&b, LayoutLimits::default());
        let err = s.get_blob(&desc).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    }

    #[test]
    fn manifest_limit_applies_to_the_layout() {
        let b = LayoutBuilder::new();
        b.write_index();
        let limits = LayoutLimits {
            max_manifest_bytes: 123,
            max_blob_bytes: 456,
        };
        let s = store(&b, limits);
        assert_eq!(s.layout().manifest_limit(), 123);
        assert_eq!(s.limits(), limits);
    }
}
