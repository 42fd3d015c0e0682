//! [`StoreAccess`] over a local file and its Sigstore bundle: the in-memory source of
//! `vouch verify --file PATH --bundle FILE` (or `--digest sha256:… --bundle FILE`).
//!
//! The file is never served: the store knows only its descriptor (media type
//! `application/octet-stream`, the SHA-256 the host computed while streaming it, its size), so a
//! guest reading the subject gets `Invalid`. Its single referrer is a manifest made here, in
//! memory, the way cosign attaches a bundle to an image: artifact type [`BUNDLE_ARTIFACT_TYPE`],
//! the empty config, one layer holding the bundle's bytes, `subject` = the file's descriptor.
//! Everything returned is checked against its descriptor like any store's content.

use std::io::Read;
use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;

use super::{StoreAccess, StoreError, check_content};
use crate::localfile::{self, LocalFileError};
use crate::oci::manifest::OCI_MANIFEST;
use crate::oci::{Descriptor, Digest};

/// The media type of the subject: a file is opaque bytes.
pub const FILE_MEDIA_TYPE: &str = "application/octet-stream";
/// The artifact type (and layer media type) of the bundle referrer, which the cosign verifier
/// handles; the bundle's own `mediaType` (v0.1, v0.2 or v0.3) is inside its JSON.
pub const BUNDLE_ARTIFACT_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The OCI empty config (`{}`) of artifact manifests.
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
/// Largest bundle file read (Sigstore bundles are a few KiB; the guest refuses over 1 MiB).
pub const MAX_BUNDLE_BYTES: u64 = 4 << 20;
/// Read buffer of the streaming digest.
const CHUNK: usize = 64 << 10;

/// Why a file subject could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BlobSourceError {
    /// The file or the bundle could not be read.
    #[error(transparent)]
    File(#[from] LocalFileError),
    /// Reading the file failed half-way.
    #[error("cannot read the file `{path}`: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The digest given instead of a file is not `sha256:` and 64 lower-case hex digits.
    #[error("`{0}` is not a SHA-256 digest (`sha256:` followed by 64 hex digits)")]
    BadDigest(String),
}

/// The SHA-256 descriptor of the file at `path`, read in chunks (never whole in memory).
pub fn file_descriptor(path: &Path) -> Result<Descriptor, BlobSourceError> {
    use sha2::Digest as _;
    let (file, _) = localfile::open_regular_file(path, u64::MAX, "file to verify")?;
    let mut reader = std::io::BufReader::with_capacity(CHUNK, file);
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size: u64 = 0;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|source| BlobSourceError::Read {
                path: path.to_owned(),
                source,
            })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let hex = hex::encode(hasher.finalize());
    Ok(Descriptor {
        media_type: FILE_MEDIA_TYPE.into(),
        digest: format!("sha256:{hex}")
            .parse()
            .expect("a sha256 hex digest parses"),
        size,
        artifact_type: None,
        annotations: Default::default(),
    })
}

/// The descriptor of a file known only by its digest (`sha256:<64 hex>`); its size is unknown
/// and reported as 0.
pub fn digest_descriptor(digest: &str) -> Result<Descriptor, BlobSourceError> {
    // `Digest` checks the hex; only SHA-256 names a Sigstore artifact digest.
    let digest: Digest = digest
        .strip_prefix("sha256:")
        .and_then(|hex| format!("sha256:{}", hex.to_ascii_lowercase()).parse().ok())
        .ok_or_else(|| BlobSourceError::BadDigest(digest.to_owned()))?;
    Ok(Descriptor {
        media_type: FILE_MEDIA_TYPE.into(),
        digest,
        size: 0,
        artifact_type: None,
        annotations: Default::default(),
    })
}

/// A file subject and its one bundle referrer, in memory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    subject: Descriptor,
    referrer: Descriptor,
    manifest: Bytes,
    config: (Descriptor, Bytes),
    bundle: (Descriptor, Bytes),
}

impl BlobStore {
    /// A store whose subject is `subject` (see [`file_descriptor`], [`digest_descriptor`]) and
    /// whose one referrer carries `bundle` (the bundle file's bytes).
    pub fn new(subject: Descriptor, bundle: Vec<u8>) -> BlobStore {
        let bundle_desc = Descriptor::for_content(BUNDLE_ARTIFACT_TYPE, &bundle);
        let config = b"{}".to_vec();
        let config_desc = Descriptor::for_content(EMPTY_CONFIG, &config);
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_ARTIFACT_TYPE,
            "config": config_desc,
            "layers": [bundle_desc],
            "subject": subject,
        });
        let manifest = serde_json::to_vec(&doc).expect("a JSON value serialises");
        let mut referrer = Descriptor::for_content(OCI_MANIFEST, &manifest);
        referrer.artifact_type = Some(BUNDLE_ARTIFACT_TYPE.into());
        BlobStore {
            subject,
            referrer,
            manifest: manifest.into(),
            config: (config_desc, config.into()),
            bundle: (bundle_desc, bundle.into()),
        }
    }

    /// Reads the bundle file at `path` (capped at [`MAX_BUNDLE_BYTES`]) for [`BlobStore::new`].
    pub fn open(subject: Descriptor, bundle_path: &Path) -> Result<BlobStore, BlobSourceError> {
        let bundle =
            localfile::read_regular_file_capped(bundle_path, MAX_BUNDLE_BYTES, "bundle file")?;
        Ok(BlobStore::new(subject, bundle))
    }

    /// The subject's descriptor.
    pub fn subject(&self) -> &Descriptor {
        &self.subject
    }
}

#[async_trait]
impl StoreAccess for BlobStore {
    async fn resolve(&self, tag_or_digest: &str) -> Result<Descriptor, StoreError> {
        if tag_or_digest == self.subject.digest.to_string() {
            Ok(self.subject.clone())
        } else {
            Err(StoreError::NotFound(format!(
                "{tag_or_digest}: this source holds only the file {}",
                self.subject.digest
            )))
        }
    }

    async fn list_referrers(
        &self,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        let wanted = artifact_type.is_none_or(|t| t == BUNDLE_ARTIFACT_TYPE);
        Ok(if *digest == self.subject.digest && wanted {
            vec![self.referrer.clone()]
        } else {
            Vec::new()
        })
    }

    async fn get_manifest(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        if desc.digest == self.subject.digest {
            return Err(StoreError::Invalid(format!(
                "{} is a local file, not a manifest: its bytes are not served",
                desc.digest
            )));
        }
        if desc.digest != self.referrer.digest {
            return Err(StoreError::NotFound(desc.digest.to_string()));
        }
        check_content(desc, &self.manifest, MAX_BUNDLE_BYTES)?;
        Ok(self.manifest.clone())
    }

    async fn get_blob(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        let data = [&self.bundle, &self.config]
            .into_iter()
            .find(|(d, _)| d.digest == desc.digest)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| StoreError::NotFound(desc.digest.to_string()))?;
        check_content(desc, &data, MAX_BUNDLE_BYTES)?;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Manifest;

    #[test]
    fn file_descriptors_are_streamed_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Over several read chunks.
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let d = file_descriptor(&path).unwrap();
        assert_eq!(d.digest, Digest::sha256_of(&data));
        assert_eq!(d.size, 200_000);
        assert_eq!(d.media_type, FILE_MEDIA_TYPE);
        let err = file_descriptor(&dir.path().join("absent")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn digests_must_be_sha256_hex() {
        let hex = "ab".repeat(32);
        let d = digest_descriptor(&format!("sha256:{}", hex.to_uppercase())).unwrap();
        assert_eq!(d.digest.to_string(), format!("sha256:{hex}"));
        for bad in [
            hex.clone(),
            format!("sha512:{hex}"),
            format!("sha256:{}", &hex[1..]),
            format!("sha256:{}zz", &hex[2..]),
        ] {
            assert!(digest_descriptor(&bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn serves_the_bundle_referrer_and_never_the_file() {
        let subject = Descriptor::for_content(FILE_MEDIA_TYPE, b"release file");
        let s = BlobStore::new(subject.clone(), b"{\"bundle\":1}".to_vec());
        assert_eq!(
            s.resolve(&subject.digest.to_string()).await.unwrap(),
            subject
        );
        assert!(matches!(
            s.resolve("latest").await,
            Err(StoreError::NotFound(_))
        ));
        let refs = s.list_referrers(&subject.digest, None).await.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(
            s.list_referrers(&subject.digest, Some(BUNDLE_ARTIFACT_TYPE))
                .await
                .unwrap(),
            refs
        );
        assert!(
            s.list_referrers(&subject.digest, Some("application/other"))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.list_referrers(&refs[0].digest, None)
                .await
                .unwrap()
                .is_empty()
        );
        let m = Manifest::parse(&s.get_manifest(&refs[0]).await.unwrap()).unwrap();
        assert_eq!(m.subject.as_ref().unwrap().digest, subject.digest);
        assert_eq!(m.effective_artifact_type(), Some(BUNDLE_ARTIFACT_TYPE));
        let layer = &m.layers[0];
        assert_eq!(&s.get_blob(layer).await.unwrap()[..], b"{\"bundle\":1}");
        let config = m.config.as_ref().unwrap();
        assert_eq!(&s.get_blob(config).await.unwrap()[..], b"{}");
        assert!(matches!(
            s.get_manifest(&subject).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.get_blob(&subject).await,
            Err(StoreError::NotFound(_))
        ));
        // A forged size is refused like any store's.
        let forged = Descriptor {
            size: 1,
            ..layer.clone()
        };
        assert!(matches!(
            s.get_blob(&forged).await,
            Err(StoreError::Invalid(_))
        ));
    }
}
