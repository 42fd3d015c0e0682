//! A minimal OCI image layout writer (spec: image-layout.md): content-addressed blobs under
//! `blobs/sha256/`, the `oci-layout` marker, and `index.json` listing tagged images and referrers
//! the way `oras` and `notation` write them.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of the empty config `{}` that artifacts use.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
/// The annotation that names a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// What a manifest names: media type, digest, size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desc {
    /// Media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

impl Desc {
    /// The descriptor as JSON.
    pub fn to_json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// An OCI layout being written.
pub struct LayoutWriter {
    root: PathBuf,
    index: Vec<Value>,
}

impl LayoutWriter {
    /// Start a fresh layout in `root` (removed first if it exists).
    pub fn create(root: &Path) -> std::io::Result<Self> {
        if root.exists() {
            std::fs::remove_dir_all(root)?;
        }
        std::fs::create_dir_all(root.join("blobs/sha256"))?;
        std::fs::write(
            root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        Ok(LayoutWriter {
            root: root.to_owned(),
            index: Vec::new(),
        })
    }

    /// Write a blob; returns its descriptor.
    pub fn blob(&mut self, media_type: &str, data: &[u8]) -> std::io::Result<Desc> {
        let digest = sha256_digest(data);
        let hex = digest.trim_start_matches("sha256:");
        std::fs::write(self.root.join("blobs/sha256").join(hex), data)?;
        Ok(Desc {
            media_type: media_type.to_owned(),
            digest,
            size: data.len() as u64,
        })
    }

    /// Write an image manifest (config + one layer) and tag it.
    pub fn image(&mut self, tag: &str, layer: &[u8]) -> std::io::Result<Desc> {
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        )?;
        let layer = self.blob("application/vnd.oci.image.layer.v1.tar", layer)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.to_json(),
            "layers": [layer.to_json()],
        });
        let desc = self.blob(OCI_MANIFEST, &serde_json::to_vec(&manifest)?)?;
        let mut entry = desc.to_json();
        entry["annotations"] = json!({ REF_NAME: tag });
        self.index.push(entry);
        Ok(desc)
    }

    /// Write a referrer manifest (already serialised) and list it in the index.
    pub fn referrer(&mut self, manifest: &[u8]) -> std::io::Result<Desc> {
        let parsed: Value = serde_json::from_slice(manifest)?;
        let desc = self.blob(OCI_MANIFEST, manifest)?;
        let mut entry = desc.to_json();
        if let Some(t) = parsed.get("artifactType") {
            entry["artifactType"] = t.clone();
        }
        self.index.push(entry);
        Ok(desc)
    }

    /// An artifact manifest for `subject` with one layer, written with its blobs.
    pub fn artifact(
        &mut self,
        subject: &Desc,
        artifact_type: &str,
        layer_media_type: &str,
        content: &[u8],
    ) -> std::io::Result<Desc> {
        let config = self.blob(EMPTY_CONFIG, b"{}")?;
        let layer = self.blob(layer_media_type, content)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": config.to_json(),
            "layers": [layer.to_json()],
            "subject": subject.to_json(),
        });
        self.referrer(&serde_json::to_vec(&manifest)?)
    }

    /// Write `index.json`.
    pub fn finish(self) -> std::io::Result<()> {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": self.index,
        });
        std::fs::write(
            self.root.join("index.json"),
            serde_json::to_vec_pretty(&index)?,
        )
    }
}
