//! A read-only reader of an OCI image layout directory (`oci-layout`, `index.json`,
//! `blobs/<alg>/<hex>`), as written by `oras`, `notation`, `skopeo` and `crane`.
//!
//! Every file access goes through one [`cap_std::fs::Dir`] opened at the layout root, so neither
//! a crafted name nor a symbolic link inside the layout can reach a file outside it. Blob paths
//! are built only from parsed [`Digest`]s (algorithm name and lower-case hex), never from tags.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cap_std::fs::Dir;

use super::content::{ContentError, check_content};
use super::manifest::{
    CosignTag, DOCKER_MANIFEST_LIST, MANIFEST_MEDIA_TYPES, OCI_INDEX, OCI_MANIFEST,
    RESERVED_ANNOTATIONS,
};
use super::{Descriptor, Digest, Manifest};

/// The annotation naming a tag on an `index.json` entry.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// The only `imageLayoutVersion` this reader accepts.
pub const IMAGE_LAYOUT_VERSION: &str = "1.0.0";
/// Default cap on a manifest read while resolving or listing referrers (4 MiB).
pub const DEFAULT_MANIFEST_LIMIT: u64 = 4 << 20;
/// Default cap on `index.json` (64 MiB; layouts that collect many referrers grow large).
pub const DEFAULT_INDEX_LIMIT: u64 = 64 << 20;
/// Cap on the `oci-layout` marker file.
const MARKER_LIMIT: u64 = 64 << 10;
/// How deep nested indexes in `index.json` are followed when collecting referrers.
const MAX_INDEX_DEPTH: usize = 8;

/// Why reading an OCI layout failed.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The layout directory could not be opened.
    #[error("cannot open OCI layout `{path}`: {source}")]
    Open {
        /// The layout directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The directory has no valid `oci-layout` marker.
    #[error("`{path}` is not an OCI image layout: {reason}")]
    NotALayout {
        /// The layout directory.
        path: PathBuf,
        /// What was wrong with the marker.
        reason: String,
    },
    /// A tag, digest or blob does not exist in the layout.
    #[error("{0}")]
    NotFound(String),
    /// Content is larger than the cap (checked before reading).
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// What was being read.
        what: String,
        /// Its size (declared or on disk).
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// A blob's size on disk differs from its descriptor.
    #[error("blob {digest} is {actual} bytes in the layout, its descriptor says {expected}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The size the descriptor declares.
        expected: u64,
        /// The size on disk.
        actual: u64,
    },
    /// A blob's content does not hash to its name.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the descriptor (and the file name) claims.
        expected: Digest,
        /// The digest of the bytes in the file.
        actual: Digest,
    },
    /// `index.json` is missing its required shape or is ambiguous.
    #[error("invalid index.json in `{path}`: {reason}")]
    InvalidIndex {
        /// The layout directory.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A manifest blob is not a valid manifest.
    #[error("invalid manifest {digest}: {reason}")]
    InvalidManifest {
        /// The manifest.
        digest: Digest,
        /// What was wrong.
        reason: String,
    },
    /// A file of the layout is a directory, FIFO, socket or device instead of a regular file.
    #[error("{what} in OCI layout `{path}` is {kind}, not a regular file")]
    NotRegular {
        /// The layout directory.
        path: PathBuf,
        /// The file, relative to the layout.
        what: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// Reading a file failed.
    #[error("cannot read {what} in OCI layout `{path}`: {source}")]
    Io {
        /// The layout directory.
        path: PathBuf,
        /// The file, relative to the layout.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
}

/// Referrers by subject digest, built from one version of `index.json`.
type ReferrersMap = HashMap<Digest, Vec<Descriptor>>;

/// The referrers map together with the digest of the `index.json` it was built from.
struct ReferrersSnapshot {
    index_digest: Digest,
    map: ReferrersMap,
    /// Cosign signatures and attestations tagged `sha256-<hex>.sig` / `.att` in `index.json`, by
    /// the digest the tag names (signature first).
    cosign_tags: HashMap<Digest, Vec<Descriptor>>,
}

/// An open, read-only OCI image layout.
pub struct OciLayout {
    root: Dir,
    path: PathBuf,
    manifest_limit: u64,
    index_limit: u64,
    referrers: Mutex<Option<Arc<ReferrersSnapshot>>>,
}

impl std::fmt::Debug for OciLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciLayout")
            .field("path", &self.path)
            .field("manifest_limit", &self.manifest_limit)
            .field("index_limit", &self.index_limit)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutMarker {
    image_layout_version: String,
}

impl OciLayout {
    /// Open the layout at `path` and check its `oci-layout` marker (version 1.0.0).
    pub fn open(path: impl AsRef<Path>) -> Result<OciLayout, LayoutError> {
        let path = path.as_ref().to_path_buf();
        let root =
            Dir::open_ambient_dir(&path, cap_std::ambient_authority()).map_err(|source| {
                LayoutError::Open {
                    path: path.clone(),
                    source,
                }
            })?;
        let layout = OciLayout {
            root,
            path,
            manifest_limit: DEFAULT_MANIFEST_LIMIT,
            index_limit: DEFAULT_INDEX_LIMIT,
            referrers: Mutex::new(None),
        };
        layout.check_marker()?;
        tracing::debug!(path = %layout.path.display(), "opened OCI layout");
        Ok(layout)
    }

    /// Set the cap on manifests read while resolving and listing referrers.
    pub fn with_manifest_limit(mut self, limit: u64) -> OciLayout {
        self.manifest_limit = limit;
        self
    }

    /// Set the cap on `index.json`.
    pub fn with_index_limit(mut self, limit: u64) -> OciLayout {
        self.index_limit = limit;
        self
    }

    /// The layout directory this reader was opened on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cap on manifests read while resolving and listing referrers.
    pub fn manifest_limit(&self) -> u64 {
        self.manifest_limit
    }

    fn check_marker(&self) -> Result<(), LayoutError> {
        let not_a_layout = |reason: String| LayoutError::NotALayout {
            path: self.path.clone(),
            reason,
        };
        let bytes = match self.read_file("oci-layout", MARKER_LIMIT) {
            Ok(bytes) => bytes,
            Err(LayoutError::NotFound(_)) => {
                return Err(not_a_layout("no `oci-layout` file".into()));
            }
            Err(LayoutError::TooLarge { size, .. }) => {
                return Err(not_a_layout(format!("`oci-layout` is {size} bytes")));
            }
            Err(e) => return Err(e),
        };
        let marker: LayoutMarker = serde_json::from_slice(&bytes)
            .map_err(|e| not_a_layout(format!("`oci-layout` is not valid: {e}")))?;
        if marker.image_layout_version != IMAGE_LAYOUT_VERSION {
            return Err(not_a_layout(format!(
                "imageLayoutVersion is `{}`, expected `{IMAGE_LAYOUT_VERSION}`",
                marker.image_layout_version
            )));
        }
        Ok(())
    }

    /// Read and parse `index.json` (re-read on every call: tools rewrite it in place).
    pub fn index(&self) -> Result<Manifest, LayoutError> {
        self.parse_index(&self.read_index_bytes()?)
    }

    /// The bytes of `index.json`, capped.
    fn read_index_bytes(&self) -> Result<Vec<u8>, LayoutError> {
        match self.read_file("index.json", self.index_limit) {
            Err(LayoutError::NotFound(_)) => Err(self.invalid_index("the file is missing".into())),
            other => other,
        }
    }

    fn parse_index(&self, bytes: &[u8]) -> Result<Manifest, LayoutError> {
        Manifest::parse(bytes).map_err(|e| self.invalid_index(e.to_string()))
    }

    fn invalid_index(&self, reason: String) -> LayoutError {
        LayoutError::InvalidIndex {
            path: self.path.clone(),
            reason,
        }
    }

    /// Resolve a tag (the `org.opencontainers.image.ref.name` of an `index.json` entry) or a
    /// digest (an `index.json` entry, else a manifest blob) to a manifest descriptor.
    pub fn resolve(&self, tag_or_digest: &str) -> Result<Descriptor, LayoutError> {
        let index = self.index()?;
        if let Ok(digest) = tag_or_digest.parse::<Digest>() {
            if let Some(entry) = index.manifests.iter().find(|d| d.digest == digest) {
                return Ok(entry.clone());
            }
            return self.describe_manifest_blob(&digest);
        }
        let mut matches = index.manifests.iter().filter(|d| {
            d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some(tag_or_digest)
        });
        let Some(first) = matches.next() else {
            return Err(LayoutError::NotFound(format!(
                "tag `{tag_or_digest}` not found in OCI layout `{}`",
                self.path.display()
            )));
        };
        if let Some(other) = matches.find(|d| d.digest != first.digest) {
            return Err(self.invalid_index(format!(
                "tag `{tag_or_digest}` names more than one manifest ({} and {})",
                first.digest, other.digest
            )));
        }
        Ok(first.clone())
    }

    /// Build the descriptor of the manifest blob `digest` by reading it.
    fn describe_manifest_blob(&self, digest: &Digest) -> Result<Descriptor, LayoutError> {
        let path = blob_path(digest);
        let bytes = self
            .read_file(&path, self.manifest_limit)
            .map_err(|e| match e {
                LayoutError::NotFound(_) => LayoutError::NotFound(format!(
                    "digest {digest} not found in OCI layout `{}`",
                    self.path.display()
                )),
                other => other,
            })?;
        let actual = digest.recompute(&bytes);
        if actual != *digest {
            return Err(LayoutError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        let manifest = parse_manifest(digest, &bytes)?;
        let media_type = manifest.media_type.clone().unwrap_or_else(|| {
            // Without a declared media type, the shape tells an index from an image manifest.
            if manifest.manifests.is_empty() {
                OCI_MANIFEST
            } else {
                OCI_INDEX
            }
            .to_owned()
        });
        Ok(Descriptor {
            media_type,
            digest: digest.clone(),
            size: bytes.len() as u64,
            artifact_type: manifest.artifact_type.clone(),
            annotations: BTreeMap::new(),
        })
    }

    /// Read the blob `desc` names, at most `limit` bytes: size checked before reading, digest after.
    pub fn read_blob(&self, desc: &Descriptor, limit: u64) -> Result<Bytes, LayoutError> {
        let what = || format!("blob {}", desc.digest);
        if desc.size > limit {
            return Err(LayoutError::TooLarge {
                what: what(),
                size: desc.size,
                limit,
            });
        }
        let path = blob_path(&desc.digest);
        let (mut file, on_disk) = self.open_file(&path).map_err(|e| match e {
            LayoutError::NotFound(_) => LayoutError::NotFound(format!(
                "blob {} not found in OCI layout `{}`",
                desc.digest,
                self.path.display()
            )),
            other => other,
        })?;
        if on_disk > limit {
            return Err(LayoutError::TooLarge {
                what: what(),
                size: on_disk,
                limit,
            });
        }
        if on_disk != desc.size {
            return Err(LayoutError::SizeMismatch {
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: on_disk,
            });
        }
        let data = self.read_capped(&mut file, &path, limit)?;
        check_content(desc, &data, limit).map_err(|e| match e {
            ContentError::TooLarge { size, limit, .. } => LayoutError::TooLarge {
                what: what(),
                size,
                limit,
            },
            ContentError::DigestMismatch { expected, actual } => {
                LayoutError::DigestMismatch { expected, actual }
            }
            // A size change between the metadata and the read.
            ContentError::SizeMismatch { .. } => LayoutError::SizeMismatch {
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: data.len() as u64,
            },
        })?;
        Ok(Bytes::from(data))
    }

    /// Referrers of the manifest `digest`: the manifests in `index.json` (and in indexes nested in
    /// it) whose `subject` is `digest`, optionally only those whose artifact type is `artifact_type`.
    /// Descriptors carry the manifest's effective artifact type and annotations (Vouch-reserved
    /// ones stripped). A manifest tagged `sha256-<hex>.sig` or `sha256-<hex>.att` in `index.json`
    /// (cosign's default signature and attestation tags) is added as a tag-bound cosign
    /// signature or attestation of `digest`.
    pub fn referrers(
        &self,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, LayoutError> {
        let snapshot = self.referrers_snapshot()?;
        let tagged: &[Descriptor] = snapshot.cosign_tags.get(digest).map_or(&[], Vec::as_slice);
        let mut found: Vec<Descriptor> = snapshot
            .map
            .get(digest)
            .into_iter()
            .flatten()
            .filter(|d| !tagged.iter().any(|t| t.digest == d.digest))
            .cloned()
            .collect();
        found.extend(tagged.iter().cloned());
        found.retain(|d| artifact_type.is_none_or(|t| d.artifact_type.as_deref() == Some(t)));
        Ok(found)
    }

    /// The `index.json` entries tagged `<alg>-<hex>.sig` or `.att`, by the digest their tag
    /// names, marked as tag-bound cosign signatures or attestations of that digest. A tag naming
    /// two different manifests binds neither.
    fn cosign_tags(index: &Manifest) -> HashMap<Digest, Vec<Descriptor>> {
        let mut tags: BTreeMap<(Digest, CosignTag), Option<Descriptor>> = BTreeMap::new();
        for entry in &index.manifests {
            let Some(tag) = entry.annotations.get(REF_NAME_ANNOTATION) else {
                continue;
            };
            let Some((subject, kind)) = CosignTag::parse_tag(tag) else {
                continue;
            };
            if !MANIFEST_MEDIA_TYPES.contains(&entry.media_type.as_str()) {
                continue;
            }
            let bound = Descriptor {
                media_type: entry.media_type.clone(),
                digest: entry.digest.clone(),
                size: entry.size,
                artifact_type: None,
                annotations: BTreeMap::new(),
            }
            .into_cosign_tag_bound(kind, &subject);
            let key = (subject, kind);
            match tags.get_mut(&key) {
                None => {
                    tags.insert(key, Some(bound));
                }
                Some(Some(prev)) if prev.digest != bound.digest => {
                    tracing::warn!(%tag, first = %prev.digest, second = %bound.digest,
                        "cosign tag names two manifests in index.json; using neither");
                    tags.insert(key, None);
                }
                Some(_) => {}
            }
        }
        let mut out: HashMap<Digest, Vec<Descriptor>> = HashMap::new();
        for ((subject, _), bound) in tags {
            if let Some(bound) = bound {
                let list = out.entry(subject).or_default();
                // The same manifest under both tags is listed once.
                if !list.iter().any(|d| d.digest == bound.digest) {
                    list.push(bound);
                }
            }
        }
        out
    }

    /// The referrers map for the current `index.json`, rebuilt only when its content changed.
    fn referrers_snapshot(&self) -> Result<Arc<ReferrersSnapshot>, LayoutError> {
        // Hashing is much cheaper than parsing a large index.json: parse only on a change.
        let bytes = self.read_index_bytes()?;
        let index_digest = Digest::sha256_of(&bytes);
        {
            let cached = self.referrers.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(snapshot) = cached.as_ref()
                && snapshot.index_digest == index_digest
            {
                return Ok(Arc::clone(snapshot));
            }
        }
        let started = std::time::Instant::now();
        let index = self.parse_index(&bytes)?;
        drop(bytes);
        let map = self.build_referrers(&index)?;
        let cosign_tags = Self::cosign_tags(&index);
        tracing::debug!(
            path = %self.path.display(),
            index = %index_digest,
            subjects = map.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "built OCI layout referrers map"
        );
        let snapshot = Arc::new(ReferrersSnapshot {
            index_digest,
            map,
            cosign_tags,
        });
        *self.referrers.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// Walk `index.json` (following nested indexes) and group manifests by their subject.
    fn build_referrers(&self, index: &Manifest) -> Result<ReferrersMap, LayoutError> {
        let mut map = ReferrersMap::new();
        let mut seen = HashSet::new();
        // Depth-first in index order, so referrers come back in the order the tools added them.
        let mut stack: Vec<(Descriptor, usize)> = index
            .manifests
            .iter()
            .rev()
            .map(|d| (d.clone(), 1))
            .collect();
        while let Some((entry, depth)) = stack.pop() {
            if !MANIFEST_MEDIA_TYPES.contains(&entry.media_type.as_str())
                || !seen.insert(entry.digest.clone())
            {
                continue;
            }
            let bytes = match self.read_blob(&entry, self.manifest_limit) {
                Ok(bytes) => bytes,
                // Partial layouts (one platform of a multi-platform image) are normal.
                Err(LayoutError::NotFound(_)) => {
                    tracing::debug!(digest = %entry.digest, "manifest named in index.json is absent");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let manifest = parse_manifest(&entry.digest, &bytes)?;
            let is_index = matches!(entry.media_type.as_str(), OCI_INDEX | DOCKER_MANIFEST_LIST);
            if is_index {
                if depth < MAX_INDEX_DEPTH {
                    stack.extend(
                        manifest
                            .manifests
                            .iter()
                            .rev()
                            .map(|d| (d.clone(), depth + 1)),
                    );
                } else {
                    tracing::warn!(digest = %entry.digest, "nested indexes too deep; not followed");
                }
            }
            if let Some(subject) = &manifest.subject {
                let artifact_type = manifest.effective_artifact_type().map(str::to_owned);
                let mut annotations = manifest.annotations;
                for key in RESERVED_ANNOTATIONS {
                    annotations.remove(key);
                }
                map.entry(subject.digest.clone())
                    .or_default()
                    .push(Descriptor {
                        media_type: manifest.media_type.clone().unwrap_or(entry.media_type),
                        digest: entry.digest,
                        size: entry.size,
                        artifact_type,
                        annotations,
                    });
            }
        }
        Ok(map)
    }

    /// Open a regular file relative to the layout root and return it with its size on disk.
    ///
    /// The type is checked before opening (a FIFO, socket or device is never opened) and again on
    /// the descriptor, which is opened non-blocking so that a FIFO swapped in between cannot
    /// block the open (see [`crate::localfile`]).
    fn open_file(&self, rel: &str) -> Result<(std::fs::File, u64), LayoutError> {
        let io_err = |source: io::Error| {
            if source.kind() == io::ErrorKind::NotFound {
                LayoutError::NotFound(format!(
                    "`{rel}` not found in OCI layout `{}`",
                    self.path.display()
                ))
            } else {
                LayoutError::Io {
                    path: self.path.clone(),
                    what: format!("`{rel}`"),
                    source,
                }
            }
        };
        let (file, meta) =
            crate::localfile::open_regular_in(&self.root, rel).map_err(|e| match e {
                crate::localfile::OpenInDirError::Io(source) => io_err(source),
                crate::localfile::OpenInDirError::NotRegular(kind) => LayoutError::NotRegular {
                    path: self.path.clone(),
                    what: format!("`{rel}`"),
                    kind,
                },
            })?;
        Ok((file, meta.len()))
    }

    /// Read a whole file, refusing (by its metadata, before reading) one over `limit` bytes.
    fn read_file(&self, rel: &str, limit: u64) -> Result<Vec<u8>, LayoutError> {
        let (mut file, size) = self.open_file(rel)?;
        if size > limit {
            return Err(LayoutError::TooLarge {
                what: format!("`{rel}`"),
                size,
                limit,
            });
        }
        let data = self.read_capped(&mut file, rel, limit)?;
        if data.len() as u64 > limit {
            return Err(LayoutError::TooLarge {
                what: format!("`{rel}`"),
                size: data.len() as u64,
                limit,
            });
        }
        Ok(data)
    }

    /// Read at most `limit + 1` bytes, so a file that grew after its metadata was read is caught.
    fn read_capped(
        &self,
        file: &mut std::fs::File,
        rel: &str,
        limit: u64,
    ) -> Result<Vec<u8>, LayoutError> {
        crate::localfile::read_to_end_capped(file, limit, 0).map_err(|source| LayoutError::Io {
            path: self.path.clone(),
            what: format!("`{rel}`"),
            source,
        })
    }
}

/// `blobs/<alg>/<hex>`: safe as a path because a [`Digest`] is only `[a-z0-9]+:[0-9a-f]+`.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

fn parse_manifest(digest: &Digest, bytes: &[u8]) -> Result<Manifest, LayoutError> {
    Manifest::parse(bytes).map_err(|e| LayoutError::InvalidManifest {
        digest: digest.clone(),
        reason: e.to_string(),
    })
}

/// Builds small OCI layouts in a temporary directory for tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::oci::manifest::{OCI_INDEX, OCI_MANIFEST};
    use crate::oci::{Descriptor, Manifest};

    use super::REF_NAME_ANNOTATION;

    /// Media type of the empty config of artifact manifests.
    pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

    /// A layout under construction: blobs on disk, `index.json` written by [`Self::write_index`].
    pub struct LayoutBuilder {
        /// The temporary directory that holds the layout.
        pub dir: tempfile::TempDir,
        /// The `index.json` entries.
        pub entries: Vec<Descriptor>,
    }

    impl LayoutBuilder {
        /// A new layout with its `oci-layout` marker and an empty `blobs/sha256`.
        pub fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                dir.path().join("oci-layout"),
                br#"{"imageLayoutVersion":"1.0.0"}"#,
            )
            .unwrap();
            std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
            LayoutBuilder {
                dir,
                entries: Vec::new(),
            }
        }

        /// The layout directory.
        pub fn path(&self) -> &Path {
            self.dir.path()
        }

        /// Store `data` as a blob and return its descriptor.
        pub fn blob(&self, media_type: &str, data: &[u8]) -> Descriptor {
            let desc = Descriptor::for_content(media_type, data);
            std::fs::write(self.path().join(Self::rel(&desc)), data).unwrap();
            desc
        }

        /// The blob's path relative to the layout.
        pub fn rel(desc: &Descriptor) -> String {
            format!("blobs/sha256/{}", desc.digest.hex())
        }

        /// Store a manifest and return its descriptor.
        pub fn manifest(&self, m: &Manifest) -> Descriptor {
            let media_type = m.media_type.clone().unwrap_or_else(|| OCI_MANIFEST.into());
            self.blob(&media_type, &serde_json::to_vec(m).unwrap())
        }

        /// Store an image manifest with one layer of `content`.
        pub fn image(&self, content: &[u8]) -> Descriptor {
            self.single_layer(
                b"{\"os\":\"linux\"}",
                "application/vnd.oci.image.layer.v1.tar",
                content,
            )
        }

        /// Store a manifest as cosign stores its tagged signatures and attestations: an image
        /// config, one layer of `media_type` holding `payload`, no `artifactType`, no `subject`.
        pub fn tag_stored(&self, media_type: &str, payload: &[u8]) -> Descriptor {
            self.single_layer(b"{}", media_type, payload)
        }

        /// Store an image manifest with the image config `config` and one `media_type` layer.
        fn single_layer(&self, config: &[u8], media_type: &str, content: &[u8]) -> Descriptor {
            let config = self.blob("application/vnd.oci.image.config.v1+json", config);
            let layer = self.blob(media_type, content);
            self.manifest(&Manifest {
                schema_version: 2,
                media_type: Some(OCI_MANIFEST.into()),
                artifact_type: None,
                config: Some(config),
                layers: vec![layer],
                manifests: vec![],
                subject: None,
                annotations: BTreeMap::new(),
            })
        }

        /// Store an artifact manifest of `artifact_type` attached to `subject`.
        pub fn artifact(
            &self,
            artifact_type: &str,
            subject: &Descriptor,
            payload: &[u8],
        ) -> Descriptor {
            let config = self.blob(EMPTY_CONFIG, b"{}");
            let layer = self.blob("application/octet-stream", payload);
            let mut annotations = BTreeMap::new();
            annotations.insert(
                "org.opencontainers.image.created".into(),
                "2025-01-01T00:00:00Z".into(),
            );
            self.manifest(&Manifest {
                schema_version: 2,
                media_type: Some(OCI_MANIFEST.into()),
                artifact_type: Some(artifact_type.into()),
                config: Some(config),
                layers: vec![layer],
                manifests: vec![],
                subject: Some(Descriptor {
                    artifact_type: None,
                    annotations: BTreeMap::new(),
                    ..subject.clone()
                }),
                annotations,
            })
        }

        /// Store an image index over `children`.
        pub fn index_of(&self, children: Vec<Descriptor>) -> Descriptor {
            self.manifest(&Manifest {
                schema_version: 2,
                media_type: Some(OCI_INDEX.into()),
                artifact_type: None,
                config: None,
                layers: vec![],
                manifests: children,
                subject: None,
                annotations: BTreeMap::new(),
            })
        }

        /// Add an `index.json` entry, tagged when `tag` is given.
        pub fn add(&mut self, desc: &Descriptor, tag: Option<&str>) {
            let mut entry = desc.clone();
            if let Some(tag) = tag {
                entry
                    .annotations
                    .insert(REF_NAME_ANNOTATION.into(), tag.into());
            }
            self.entries.push(entry);
        }

        /// Write `index.json` from the entries.
        pub fn write_index(&self) {
            let index = Manifest {
                schema_version: 2,
                media_type: Some(OCI_INDEX.into()),
                artifact_type: None,
                config: None,
                layers: vec![],
                manifests: self.entries.clone(),
                subject: None,
                annotations: BTreeMap::new(),
            };
            std::fs::write(
                self.path().join("index.json"),
                serde_json::to_vec(&index).unwrap(),
            )
            .unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::LayoutBuilder;
    use super::*;

    const SIG: &str = "application/vnd.cncf.notary.signature";
    const SBOM: &str = "application/spdx+json";

    /// image ← sbom ← signature-on-sbom; image ← signature. Image tagged `v1`.
    struct Fixture {
        b: LayoutBuilder,
        image: Descriptor,
        sbom: Descriptor,
        sig: Descriptor,
        sbom_sig: Descriptor,
    }

    fn fixture() -> Fixture {
        let mut b = LayoutBuilder::new();
        let image = b.image(b"layer");
        let sbom = b.artifact(SBOM, &image, b"{\"spdxVersion\":\"SPDX-2.3\"}");
        let sig = b.artifact(SIG, &image, b"jws-on-image");
        let sbom_sig = b.artifact(SIG, &sbom, b"jws-on-sbom");
        b.add(&image, Some("v1"));
        b.add(&sbom, None);
        b.add(&sig, None);
        b.add(&sbom_sig, None);
        b.write_index();
        Fixture {
            b,
            image,
            sbom,
            sig,
            sbom_sig,
        }
    }

    fn digests(v: &[Descriptor]) -> Vec<Digest> {
        v.iter().map(|d| d.digest.clone()).collect()
    }

    #[test]
    fn opens_and_reads_index() {
        let f = fixture();
        let layout = OciLayout::open(f.b.path()).unwrap();
        let index = layout.index().unwrap();
        assert_eq!(index.manifests.len(), 4);
        assert_eq!(layout.path(), f.b.path());
    }

    #[test]
    fn rejects_non_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let err = OciLayout::open(dir.path()).unwrap_err();
        assert!(matches!(err, LayoutError::NotALayout { .. }), "{err}");
        assert!(err.to_string().contains("no `oci-layout` file"), "{err}");

        std::fs::write(
            dir.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"2.0.0"}"#,
        )
        .unwrap();
        let err = OciLayout::open(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("imageLayoutVersion is `2.0.0`"),
            "{err}"
        );

        std::fs::write(dir.path().join("oci-layout"), b"not json").unwrap();
        assert!(matches!(
            OciLayout::open(dir.path()),
            Err(LayoutError::NotALayout { .. })
        ));

        let err = OciLayout::open(dir.path().join("absent")).unwrap_err();
        assert!(matches!(err, LayoutError::Open { .. }), "{err}");
    }

    #[test]
    fn resolves_tags() {
        let f = fixture();
        let layout = OciLayout::open(f.b.path()).unwrap();
        let desc = layout.resolve("v1").unwrap();
        assert_eq!(desc.digest, f.image.digest);
        assert_eq!(desc.media_type, OCI_MANIFEST);
        assert_eq!(desc.size, f.image.size);
        let err = layout.resolve("v2").unwrap_err();
        assert!(matches!(err, LayoutError::NotFound(_)), "{err}");
        assert!(err.to_string().contains("tag `v2` not found"), "{err}");
    }

    #[test]
    fn ambiguous_tag_is_an_error() {
        let mut b = LayoutBuilder::new();
        let one = b.image(b"one");
        let two = b.image(b"two");
        b.add(&one, Some("v1"));
        b.add(&two, Some("v1"));
        b.write_index();
        let layout = OciLayout::open(b.path()).unwrap();
        let err = layout.resolve("v1").unwrap_err();
        assert!(matches!(err, LayoutError::InvalidIndex { .. }), "{err}");
        assert!(err.to_string().contains("more than one manifest"), "{err}");
    }

    #[test]
    fn resolves_digests_from_index_and_blobs() {
        let mut f = fixture();
        // A child of a nested index: not an index.json entry, but its blob exists.
        let child = f.b.image(b"arm64 layer");
        let idx = f.b.index_of(vec![child.clone()]);
        f.b.add(&idx, Some("multi"));
        f.b.write_index();
        let layout = OciLayout::open(f.b.path()).unwrap();

        let entry = layout.resolve(&f.image.digest.to_string()).unwrap();
        assert_eq!(
            entry
                .annotations
                .get(REF_NAME_ANNOTATION)
                .map(String::as_str),
            Some("v1")
        );

        let from_blob = layout.resolve(&child.digest.to_string()).unwrap();
        assert_eq!(from_blob.digest, child.digest);
        assert_eq!(from_blob.size, child.size);
        assert_eq!(from_blob.media_type, OCI_MANIFEST);

        let multi = layout.resolve("multi").unwrap();
        assert_eq!(multi.media_type, OCI_INDEX);

        let absent = Digest::sha256_of(b"nothing");
        let err = layout.resolve(&absent.to_string()).unwrap_err();
        assert!(matches!(err, LayoutError::NotFound(_)), "{err}");
        assert!(err.to_string().contains(&absent.to_string()), "{err}");

        // A digest naming a blob that is not a manifest.
        let layer = f.b.blob("application/octet-stream", b"raw bytes");
        let err = layout.resolve(&layer.digest.to_string()).unwrap_err();
        assert!(matches!(err, LayoutError::InvalidManifest { .. }), "{err}");
    }

    #[test]
    fn resolve_without_media_type_uses_shape() {
        let b = LayoutBuilder::new();
        let child = b.image(b"x");
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [child],
        }))
        .unwrap();
        let idx = b.blob("unused", &bytes);
        b.write_index();
        let layout = OciLayout::open(b.path()).unwrap();
        assert_eq!(
            layout.resolve(&idx.digest.to_string()).unwrap().media_type,
            OCI_INDEX
        );
    }

    #[test]
    fn lists_referrers_with_and_without_filter() {
        let f = fixture();
        let layout = OciLayout::open(f.b.path()).unwrap();
        let all = layout.referrers(&f.image.digest, None).unwrap();
        assert_eq!(
            digests(&all),
            vec![f.sbom.digest.clone(), f.sig.digest.clone()]
        );
        assert_eq!(all[0].artifact_type.as_deref(), Some(SBOM));
        assert_eq!(all[1].artifact_type.as_deref(), Some(SIG));
        assert_eq!(all[1].media_type, OCI_MANIFEST);
        assert_eq!(all[1].size, f.sig.size);
        assert_eq!(
            all[1]
                .annotations
                .get("org.opencontainers.image.created")
                .map(String::as_str),
            Some("2025-01-01T00:00:00Z")
        );

        let sigs = layout.referrers(&f.image.digest, Some(SIG)).unwrap();
        assert_eq!(digests(&sigs), vec![f.sig.digest.clone()]);
        assert!(
            layout
                .referrers(&f.image.digest, Some("application/none"))
                .unwrap()
                .is_empty()
        );

        // Nested: the signature on the SBOM is a referrer of the SBOM, not of the image.
        let on_sbom = layout.referrers(&f.sbom.digest, None).unwrap();
        assert_eq!(digests(&on_sbom), vec![f.sbom_sig.digest.clone()]);
        assert!(layout.referrers(&f.sig.digest, None).unwrap().is_empty());
        assert!(
            layout
                .referrers(&Digest::sha256_of(b"x"), None)
                .unwrap()
                .is_empty()
        );
    }

    /// Cosign's default storage: a manifest tagged `sha256-<hex>.sig` (no `subject`) is a
    /// tag-bound cosign signature of that digest; the reserved binding annotation is never taken
    /// from a manifest's own annotations.
    #[test]
    fn cosign_sig_tags_are_tag_bound_referrers_and_the_binding_is_unforgeable() {
        use crate::oci::manifest::{BINDING_ANNOTATION, COSIGN_SIGNATURE_ARTIFACT_TYPE};
        let mut b = LayoutBuilder::new();
        let image = b.image(b"img");
        let other = b.image(b"other");
        let sig = b.tag_stored(
            "application/vnd.dev.cosign.simplesigning.v1+json",
            b"payload",
        );
        // An attached artifact claiming the binding in its own annotations.
        let mut forged = b.artifact(COSIGN_SIGNATURE_ARTIFACT_TYPE, &other, b"forged");
        let mut m =
            Manifest::parse(&std::fs::read(b.path().join(LayoutBuilder::rel(&forged))).unwrap())
                .unwrap();
        m.annotations
            .insert(BINDING_ANNOTATION.into(), "cosign-tag".into());
        forged = b.manifest(&m);
        b.add(&image, Some("v1"));
        b.add(&other, Some("v2"));
        b.add(&sig, Some(&format!("sha256-{}.sig", image.digest.hex())));
        b.add(&forged, None);
        b.write_index();
        let layout = OciLayout::open(b.path()).unwrap();

        let refs = layout.referrers(&image.digest, None).unwrap();
        assert_eq!(digests(&refs), vec![sig.digest.clone()]);
        assert!(refs[0].is_cosign_tag_bound());
        assert_eq!(
            refs[0].artifact_type.as_deref(),
            Some(COSIGN_SIGNATURE_ARTIFACT_TYPE)
        );
        let filtered = layout
            .referrers(&image.digest, Some(COSIGN_SIGNATURE_ARTIFACT_TYPE))
            .unwrap();
        assert_eq!(digests(&filtered), vec![sig.digest.clone()]);
        assert!(
            layout
                .referrers(&image.digest, Some(SIG))
                .unwrap()
                .is_empty()
        );

        let on_other = layout.referrers(&other.digest, None).unwrap();
        assert_eq!(digests(&on_other), vec![forged.digest.clone()]);
        assert!(!on_other[0].is_cosign_tag_bound());
        assert!(!on_other[0].annotations.contains_key(BINDING_ANNOTATION));
    }

    /// cosign's attestation tag `sha256-<hex>.att` (DSSE layers, no `subject`) is a tag-bound
    /// attestation of that digest next to the `.sig` one, bound to that digest only; a tag naming
    /// two manifests binds neither.
    #[test]
    fn cosign_att_tags_are_tag_bound_attestations_of_the_digest_they_name() {
        use crate::oci::manifest::{
            COSIGN_ATTESTATION_ARTIFACT_TYPE, COSIGN_SIGNATURE_ARTIFACT_TYPE, DSSE_ENVELOPE,
        };
        let mut b = LayoutBuilder::new();
        let image = b.image(b"img");
        let other = b.image(b"other");
        let sig = b.tag_stored("application/vnd.dev.cosign.simplesigning.v1+json", b"s");
        let att = b.tag_stored(DSSE_ENVELOPE, b"{\"payload\":\"\"}");
        let twice_a = b.tag_stored(DSSE_ENVELOPE, b"a");
        let twice_b = b.tag_stored(DSSE_ENVELOPE, b"b");
        b.add(&image, Some("v1"));
        b.add(&other, Some("v2"));
        b.add(&sig, Some(&format!("sha256-{}.sig", image.digest.hex())));
        b.add(&att, Some(&format!("sha256-{}.att", image.digest.hex())));
        b.add(
            &twice_a,
            Some(&format!("sha256-{}.att", other.digest.hex())),
        );
        b.add(
            &twice_b,
            Some(&format!("sha256-{}.att", other.digest.hex())),
        );
        b.write_index();
        let layout = OciLayout::open(b.path()).unwrap();

        let refs = layout.referrers(&image.digest, None).unwrap();
        assert_eq!(digests(&refs), vec![sig.digest.clone(), att.digest.clone()]);
        assert!(refs.iter().all(Descriptor::is_cosign_tag_bound));
        let image_digest = image.digest.to_string();
        assert!(
            refs.iter()
                .all(|d| d.cosign_bound_subject() == Some(image_digest.as_str()))
        );
        assert_eq!(
            refs[1].artifact_type.as_deref(),
            Some(COSIGN_ATTESTATION_ARTIFACT_TYPE)
        );
        let atts = layout
            .referrers(&image.digest, Some(COSIGN_ATTESTATION_ARTIFACT_TYPE))
            .unwrap();
        assert_eq!(digests(&atts), vec![att.digest.clone()]);
        let sigs = layout
            .referrers(&image.digest, Some(COSIGN_SIGNATURE_ARTIFACT_TYPE))
            .unwrap();
        assert_eq!(digests(&sigs), vec![sig.digest.clone()]);
        // The ambiguous `.att` tag of `other` binds nothing.
        assert!(layout.referrers(&other.digest, None).unwrap().is_empty());
    }

    #[test]
    fn referrers_follow_nested_indexes_and_effective_type() {
        let mut b = LayoutBuilder::new();
        let image = b.image(b"img");
        // An artifact without artifactType: its config media type is the effective type.
        let cfg = b.blob("application/vnd.example.config", b"{}");
        let legacy = b.manifest(&Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: None,
            config: Some(cfg),
            layers: vec![],
            manifests: vec![],
            subject: Some(image.clone()),
            annotations: BTreeMap::new(),
        });
        let missing_child = Descriptor::for_content(OCI_MANIFEST, b"never written");
        let nested = b.index_of(vec![legacy.clone(), missing_child]);
        b.add(&image, Some("v1"));
        b.add(&nested, None);
        b.write_index();
        let layout = OciLayout::open(b.path()).unwrap();
        let refs = layout.referrers(&image.digest, None).unwrap();
        assert_eq!(digests(&refs), vec![legacy.digest.clone()]);
        assert_eq!(
            refs[0].artifact_type.as_deref(),
            Some("application/vnd.example.config")
        );
        let filtered = layout
            .referrers(&image.digest, Some("application/vnd.example.config"))
            .unwrap();
        assert_eq!(filtered.len(), 1);
    }

    #[test]
    fn referrers_cache_follows_index_rewrites() {
        let mut f = fixture();
        let layout = OciLayout::open(f.b.path()).unwrap();
        assert_eq!(layout.referrers(&f.image.digest, None).unwrap().len(), 2);
        let first = layout.referrers_snapshot().unwrap();
        // Unchanged index.json: the same snapshot is reused.
        assert!(Arc::ptr_eq(&first, &layout.referrers_snapshot().unwrap()));

        let extra =
            f.b.artifact("application/vnd.example.vex", &f.image, b"vex");
        f.b.add(&extra, None);
        f.b.write_index();
        let refs = layout.referrers(&f.image.digest, None).unwrap();
        assert_eq!(refs.len(), 3);
        assert_eq!(refs[2].digest, extra.digest);
        assert!(!Arc::ptr_eq(&first, &layout.referrers_snapshot().unwrap()));
    }

    #[test]
    fn reads_and_checks_blobs() {
        let f = fixture();
        let layout = OciLayout::open(f.b.path()).unwrap();
        let bytes = layout.read_blob(&f.image, 1 << 20).unwrap();
        assert_eq!(bytes.len() as u64, f.image.size);
        assert!(f.image.digest.matches(&bytes));
    }

    #[test]
    fn tampered_blob_is_a_digest_mismatch() {
        let f = fixture();
        let path = f.b.path().join(LayoutBuilder::rel(&f.sig));
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 2;
        data[last] ^= 0x20; // same size, different content
        std::fs::write(&path, &data).unwrap();
        let layout = OciLayout::open(f.b.path()).unwrap();
        let err = layout.read_blob(&f.sig, 1 << 20).unwrap_err();
        match &err {
            LayoutError::DigestMismatch { expected, actual } => {
                assert_eq!(expected, &f.sig.digest);
                assert_eq!(actual, &Digest::sha256_of(&data));
            }
            other => panic!("expected a digest mismatch, got {other:?}"),
        }
        // The referrers walk reads the same blob and refuses it too.
        let err = layout.referrers(&f.image.digest, None).unwrap_err();
        assert!(matches!(err, LayoutError::DigestMismatch { .. }), "{err}");
        // Resolving the digest directly (not an index entry here) checks it as well.
        let tampered_child = f.b.blob(OCI_MANIFEST, b"{\"schemaVersion\":2}");
        std::fs::write(
            f.b.path().join(LayoutBuilder::rel(&tampered_child)),
            b"{\"schemaVersion\":3}",
        )
        .unwrap();
        let err = layout
            .resolve(&tampered_child.digest.to_string())
            .unwrap_err();
        assert!(matches!(err, LayoutError::DigestMismatch { .. }), "{err}");
    }

    #[test]
    fn size_changes_are_caught() {
        let f = fixture();
        let path = f.b.path().join(LayoutBuilder::rel(&f.sig));
        let mut data = std::fs::read(&path).unwrap();
        data.push(b' ');
        std::fs::write(&path, &data).unwrap();
        let layout = OciLayout::open(f.b.path()).unwrap();
        let err = layout.read_blob(&f.sig, 1 << 20).unwrap_err();
        assert!(
            matches!(err, LayoutError::SizeMismatch { expected, actual, .. } if actual == expected + 1),
            "{err}"
        );
    }

    #[test]
    fn oversize_blobs_are_refused_before_reading() {
        let b = LayoutBuilder::new();
        let big = b.blob("application/octet-stream", &vec![7u8; 4096]);
        b.write_index();
        let layout = OciLayout::open(b.path()).unwrap();
        let err = layout.read_blob(&big, 1024).unwrap_err();
        assert!(
            matches!(
                err,
                LayoutError::TooLarge {
                    size: 4096,
                    limit: 1024,
                    ..
                }
            ),
            "{err}"
        );
        // A descriptor understating the size: the file's metadata still trips the cap.
        let lying = Descriptor {
            size: 10,
            ..big.clone()
        };
        let err = layout.read_blob(&lying, 1024).unwrap_err();
        assert!(
            matches!(err, LayoutError::TooLarge { size: 4096, .. }),
            "{err}"
        );
        assert_eq!(layout.read_blob(&big, 4096).unwrap().len(), 4096);

        // Manifests over the manifest cap are refused while resolving.
        let small = OciLayout::open(b.path()).unwrap().with_manifest_limit(16);
        let m = b.image(b"l");
        let err = small.resolve(&m.digest.to_string());
        assert!(matches!(err, Err(LayoutError::TooLarge { .. })), "{err:?}");
    }

    #[test]
    fn missing_blob_is_not_found() {
        let f = fixture();
        std::fs::remove_file(f.b.path().join(LayoutBuilder::rel(&f.sbom))).unwrap();
        let layout = OciLayout::open(f.b.path()).unwrap();
        let err = layout.read_blob(&f.sbom, 1 << 20).unwrap_err();
        assert!(matches!(err, LayoutError::NotFound(_)), "{err}");
        assert!(
            err.to_string().contains(&f.sbom.digest.to_string()),
            "{err}"
        );
        // A missing manifest is skipped by the referrers walk (partial layouts are normal).
        let refs = layout.referrers(&f.image.digest, None).unwrap();
        assert_eq!(digests(&refs), vec![f.sig.digest.clone()]);
    }

    #[test]
    fn malformed_index_json() {
        let f = fixture();
        let layout = OciLayout::open(f.b.path()).unwrap();
        let index = f.b.path().join("index.json");
        for (bytes, needle) in [
            (&b"{not json"[..], "invalid index.json"),
            (br#"{"schemaVersion":1,"manifests":[]}"#, "schemaVersion is 1"),
            (
                br#"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:../../etc/passwd","size":1}]}"#,
                "invalid index.json",
            ),
        ] {
            std::fs::write(&index, bytes).unwrap();
            for err in [
                layout.index().unwrap_err(),
                layout.resolve("v1").unwrap_err(),
                layout.referrers(&f.image.digest, None).unwrap_err(),
            ] {
                assert!(matches!(err, LayoutError::InvalidIndex { .. }), "{err}");
                assert!(err.to_string().contains(needle), "{err} lacks {needle}");
            }
        }
        std::fs::remove_file(&index).unwrap();
        let err = layout.index().unwrap_err();
        assert!(err.to_string().contains("the file is missing"), "{err}");
    }

    #[test]
    fn invalid_manifest_in_index_is_reported() {
        let mut b = LayoutBuilder::new();
        let bogus = b.blob(OCI_MANIFEST, b"[1,2,3]");
        b.add(&bogus, None);
        b.write_index();
        let layout = OciLayout::open(b.path()).unwrap();
        let err = layout
            .referrers(&Digest::sha256_of(b"s"), None)
            .unwrap_err();
        assert!(matches!(err, LayoutError::InvalidManifest { .. }), "{err}");
        assert!(err.to_string().contains(&bogus.digest.to_string()), "{err}");
    }

    #[test]
    fn paths_never_escape_the_layout() {
        let f = fixture();
        let outside = tempfile::tempdir().unwrap();
        let secret = b"{\"schemaVersion\":2,\"secret\":true}";
        let secret_desc = Descriptor::for_content(OCI_MANIFEST, secret);
        std::fs::write(outside.path().join("secret"), secret).unwrap();
        let layout = OciLayout::open(f.b.path()).unwrap();

        // Tags are matched against annotations, never used as paths.
        for tag in [
            "../../secret",
            "/etc/passwd",
            "blobs/sha256/../../oci-layout",
            "index.json",
        ] {
            assert!(
                matches!(layout.resolve(tag), Err(LayoutError::NotFound(_))),
                "{tag}"
            );
        }
        // Digests that look like paths do not parse, so they are tags, which do not exist.
        let traversal = format!("sha256:../../{}", "a".repeat(58));
        assert!(matches!(
            layout.resolve(&traversal),
            Err(LayoutError::NotFound(_))
        ));

        // Symbolic links inside the layout that point outside it are refused by cap-std,
        // whether absolute or relative.
        let blob = f.b.path().join(LayoutBuilder::rel(&secret_desc));
        #[cfg(unix)]
        for target in [
            outside.path().join("secret"),
            PathBuf::from("../".repeat(32))
                .join(outside.path().strip_prefix("/").unwrap())
                .join("secret"),
        ] {
            let _ = std::fs::remove_file(&blob);
            std::os::unix::fs::symlink(&target, &blob).unwrap();
            // The link works for the ambient filesystem...
            assert_eq!(std::fs::read(&blob).unwrap(), secret);
            // ...but not through the layout.
            let err = layout.read_blob(&secret_desc, 1 << 20).unwrap_err();
            assert!(matches!(err, LayoutError::Io { .. }), "{target:?}: {err:?}");
            let err = layout.resolve(&secret_desc.digest.to_string()).unwrap_err();
            assert!(matches!(err, LayoutError::Io { .. }), "{target:?}: {err:?}");
        }
        // The same for index.json itself.
        #[cfg(unix)]
        {
            let index = f.b.path().join("index.json");
            std::fs::remove_file(&index).unwrap();
            std::fs::write(outside.path().join("index.json"), b"{\"schemaVersion\":2}").unwrap();
            std::os::unix::fs::symlink(outside.path().join("index.json"), &index).unwrap();
            assert!(matches!(layout.index(), Err(LayoutError::Io { .. })));
        }
    }

    #[test]
    fn directory_in_place_of_a_blob_is_refused() {
        let f = fixture();
        let path = f.b.path().join(LayoutBuilder::rel(&f.sig));
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let layout = OciLayout::open(f.b.path()).unwrap();
        let err = layout.read_blob(&f.sig, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    /// A FIFO, socket or directory in place of a blob, a manifest, `index.json` or `oci-layout`
    /// is an error naming the file and its type, at once: never a read that blocks forever.
    #[cfg(unix)]
    #[test]
    fn special_files_are_refused_at_once() {
        use std::time::{Duration, Instant};

        fn mkfifo(path: &Path) {
            rustix::fs::mkfifoat(
                rustix::fs::CWD,
                path,
                rustix::fs::Mode::from_raw_mode(0o600),
            )
            .unwrap();
        }
        let within_a_second = |t: Instant| {
            assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        };

        // A blob (and the manifest the referrers walk reads).
        let f = fixture();
        let blob = f.b.path().join(LayoutBuilder::rel(&f.sig));
        std::fs::remove_file(&blob).unwrap();
        mkfifo(&blob);
        let layout = OciLayout::open(f.b.path()).unwrap();
        let t = Instant::now();
        let err = layout.read_blob(&f.sig, 1 << 20).unwrap_err();
        within_a_second(t);
        assert!(matches!(err, LayoutError::NotRegular { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("a FIFO (named pipe), not a regular file")
                && text.contains(&f.sig.digest.hex().to_string()),
            "{text}"
        );
        let t = Instant::now();
        let err = layout.referrers(&f.image.digest, None).unwrap_err();
        within_a_second(t);
        assert!(err.to_string().contains("FIFO"), "{err}");

        // A socket in place of a blob.
        std::fs::remove_file(&blob).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(&blob).unwrap();
        let err = layout.read_blob(&f.sig, 1 << 20).unwrap_err();
        assert!(
            err.to_string().contains("a socket, not a regular file"),
            "{err}"
        );

        // index.json.
        let index = f.b.path().join("index.json");
        std::fs::remove_file(&index).unwrap();
        mkfifo(&index);
        let t = Instant::now();
        let err = layout.index().unwrap_err();
        within_a_second(t);
        assert!(
            err.to_string().contains("`index.json`") && err.to_string().contains("FIFO"),
            "{err}"
        );

        // The oci-layout marker: a FIFO, then a directory.
        let marker = f.b.path().join("oci-layout");
        std::fs::remove_file(&marker).unwrap();
        mkfifo(&marker);
        let t = Instant::now();
        let err = OciLayout::open(f.b.path()).unwrap_err();
        within_a_second(t);
        assert!(
            err.to_string().contains("`oci-layout`") && err.to_string().contains("FIFO"),
            "{err}"
        );
        std::fs::remove_file(&marker).unwrap();
        std::fs::create_dir(&marker).unwrap();
        let err = OciLayout::open(f.b.path()).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
    }
}
