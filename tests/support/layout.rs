//! Builds OCI image layouts on disk for tests: blobs, manifests, referrers, `index.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vouch::oci::manifest::OCI_MANIFEST;
use vouch::oci::{Descriptor, Manifest};

/// Media type of the empty config (`{}`) that artifacts use.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// An OCI layout being written.
pub struct LayoutBuilder {
    root: PathBuf,
    index: Vec<Descriptor>,
}

impl LayoutBuilder {
    /// Start a layout in `root` (created).
    pub fn new(root: &Path) -> Self {
        std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        std::fs::write(
            root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        LayoutBuilder {
            root: root.to_owned(),
            index: Vec::new(),
        }
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Write a blob; returns its descriptor.
    pub fn blob(&mut self, media_type: &str, data: &[u8]) -> Descriptor {
        let d = Descriptor::for_content(media_type, data);
        std::fs::write(self.root.join("blobs/sha256").join(d.digest.hex()), data).unwrap();
        d
    }

    /// Write an image manifest with one layer per entry of `layers`.
    pub fn image(&mut self, tag: &str, layers: &[&[u8]]) -> Descriptor {
        self.image_annotated(tag, layers, &[])
    }

    /// [`LayoutBuilder::image`] whose manifest carries `annotations`.
    pub fn image_annotated(
        &mut self,
        tag: &str,
        layers: &[&[u8]],
        annotations: &[(&str, &str)],
    ) -> Descriptor {
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            b"{\"architecture\":\"amd64\",\"os\":\"linux\"}",
        );
        let layers = layers
            .iter()
            .map(|l| self.blob("application/vnd.oci.image.layer.v1.tar", l))
            .collect();
        let m = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: None,
            config: Some(config),
            layers,
            manifests: vec![],
            subject: None,
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let mut d = self.manifest(&m);
        d.annotations
            .insert("org.opencontainers.image.ref.name".into(), tag.into());
        self.index.push(d.clone());
        d.annotations.clear();
        d
    }

    /// Write an artifact manifest referring to `subject`, with the given layers and annotations.
    pub fn referrer(
        &mut self,
        subject: &Descriptor,
        artifact_type: &str,
        layers: &[(&str, &[u8])],
        annotations: &[(&str, &str)],
    ) -> Descriptor {
        let config = self.blob(EMPTY_CONFIG, b"{}");
        let layers = layers
            .iter()
            .map(|(mt, data)| self.blob(mt, data))
            .collect();
        let annotations: BTreeMap<String, String> = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let subject = Descriptor {
            annotations: BTreeMap::new(),
            artifact_type: None,
            ..subject.clone()
        };
        let m = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: Some(artifact_type.into()),
            config: Some(config),
            layers,
            manifests: vec![],
            subject: Some(subject),
            annotations: annotations.clone(),
        };
        let mut d = self.manifest(&m);
        d.artifact_type = Some(artifact_type.into());
        d.annotations = annotations;
        self.index.push(d.clone());
        d
    }

    fn manifest(&mut self, m: &Manifest) -> Descriptor {
        let bytes = serde_json::to_vec(m).unwrap();
        self.blob(OCI_MANIFEST, &bytes)
    }

    /// Write `index.json`.
    pub fn finish(&self) {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": self.index,
        });
        std::fs::write(
            self.root.join("index.json"),
            serde_json::to_vec_pretty(&index).unwrap(),
        )
        .unwrap();
    }
}
