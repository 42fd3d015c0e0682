//! OCI descriptors and manifests (image manifests and image indexes), parsed strictly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Digest;

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of a Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Media type of a Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Media types Vouch accepts for manifests, in `Accept` header order.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Artifact type Vouch gives cosign's tag-stored signatures (`sha256-<hex>.sig`), the one cosign's
/// OCI 1.1 referrers carry and Vouch's cosign verifier handles.
pub const COSIGN_SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// Vouch-reserved descriptor annotation: how a referrer is bound to its subject when its manifest
/// has no `subject` field. Only the store's own tag lookup sets it; stores strip it from every
/// descriptor a registry or layout lists ([`Descriptor::strip_reserved`]).
pub const BINDING_ANNOTATION: &str = "dev.vouch.referrer.binding";
/// Value of [`BINDING_ANNOTATION`] for a cosign signature found under the tag `sha256-<hex>.sig`.
pub const COSIGN_TAG_BINDING: &str = "cosign-tag";

/// An OCI content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size of the referenced content in bytes.
    pub size: u64,
    /// Artifact type, when the content is an artifact manifest that declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// Whether the store bound this descriptor to its subject by cosign's `.sig` tag (the
    /// reserved [`BINDING_ANNOTATION`]), so its manifest may lack a `subject` field.
    pub fn is_cosign_tag_bound(&self) -> bool {
        self.annotations.get(BINDING_ANNOTATION).map(String::as_str) == Some(COSIGN_TAG_BINDING)
    }

    /// Remove Vouch-reserved annotations: what a registry or layout lists can never claim a
    /// binding only the store's own tag lookup may make. Returns whether one was removed.
    pub fn strip_reserved(&mut self) -> bool {
        self.annotations.remove(BINDING_ANNOTATION).is_some()
    }

    /// Mark this descriptor (of the manifest tagged `sha256-<hex>.sig`) as cosign's tag-bound
    /// signature of that digest: cosign's artifact type and the reserved binding annotation.
    pub fn into_cosign_tag_bound(mut self) -> Descriptor {
        self.artifact_type = Some(COSIGN_SIGNATURE_ARTIFACT_TYPE.to_owned());
        self.annotations
            .insert(BINDING_ANNOTATION.to_owned(), COSIGN_TAG_BINDING.to_owned());
        self
    }

    /// A descriptor for `data` with the given media type.
    pub fn for_content(media_type: &str, data: &[u8]) -> Self {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::sha256_of(data),
            size: data.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// An image manifest or an image index (the fields Vouch reads from either).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, when the manifest declares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type, for artifact manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob (image manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Descriptor>,
    /// The layers (image manifests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Descriptor>,
    /// The child manifests (indexes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to, for referrers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Why a manifest was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not valid JSON, or not the shape of a manifest.
    #[error("invalid manifest: {0}")]
    Json(#[from] serde_json::Error),
    /// `schemaVersion` is not 2.
    #[error("invalid manifest: schemaVersion is {0}, expected 2")]
    SchemaVersion(u32),
}

impl Manifest {
    /// Parse and validate a manifest.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let m: Manifest = serde_json::from_slice(bytes)?;
        if m.schema_version != 2 {
            return Err(ManifestError::SchemaVersion(m.schema_version));
        }
        Ok(m)
    }

    /// The artifact type as the referrers API reports it: `artifactType`, else the config's media type.
    pub fn effective_artifact_type(&self) -> Option<&str> {
        self.artifact_type
            .as_deref()
            .or(self.config.as_ref().map(|c| c.media_type.as_str()))
    }

    /// Every blob this manifest names (config, then layers).
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_artifact_manifest() {
        let cfg = Descriptor::for_content("application/vnd.oci.empty.v1+json", b"{}");
        let subject = Descriptor::for_content(OCI_MANIFEST, b"subject");
        let m = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            artifact_type: Some("application/vnd.example".into()),
            config: Some(cfg.clone()),
            layers: vec![],
            manifests: vec![],
            subject: Some(subject.clone()),
            annotations: BTreeMap::new(),
        };
        let bytes = serde_json::to_vec(&m).unwrap();
        let back = Manifest::parse(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            back.effective_artifact_type(),
            Some("application/vnd.example")
        );
        assert_eq!(back.blobs().count(), 1);
    }

    #[test]
    fn rejects_bad_manifests() {
        assert!(Manifest::parse(b"{").is_err());
        assert!(matches!(
            Manifest::parse(br#"{"schemaVersion":1}"#),
            Err(ManifestError::SchemaVersion(1))
        ));
        let bad_digest =
            br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:nothex","size":1}}"#;
        assert!(Manifest::parse(bad_digest).is_err());
    }
}
