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
/// Artifact type Vouch gives cosign's tag-stored attestations (`sha256-<hex>.att`): the one cosign
/// computes for its `att` attachment in OCI 1.1 mode (`application/vnd.dev.cosign.artifact.<name>.v1+json`).
pub const COSIGN_ATTESTATION_ARTIFACT_TYPE: &str =
    "application/vnd.dev.cosign.artifact.att.v1+json";
/// Media type of the layers of cosign's attestation manifests: one DSSE envelope each.
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Vouch-reserved descriptor annotation: how a referrer is bound to its subject when its manifest
/// has no `subject` field. Only the store's own tag lookup sets it; stores strip it from every
/// descriptor a registry or layout lists ([`Descriptor::strip_reserved`]).
pub const BINDING_ANNOTATION: &str = "dev.vouch.referrer.binding";
/// Value of [`BINDING_ANNOTATION`] for a cosign signature or attestation found under the tag
/// `sha256-<hex>.sig` / `sha256-<hex>.att`.
pub const COSIGN_TAG_BINDING: &str = "cosign-tag";
/// Vouch-reserved descriptor annotation: the digest the cosign tag of a tag-bound descriptor
/// names (`sha256-<hex>.sig` binds to `sha256:<hex>` and to nothing else).
pub const BOUND_SUBJECT_ANNOTATION: &str = "dev.vouch.referrer.bound-subject";
/// Vouch-reserved descriptor annotation: the repository (`host/path`) a tag-bound descriptor was
/// found in when it is not the subject's (cosign's `COSIGN_REPOSITORY`, Vouch's
/// `signatureRepository`), so its manifest is fetched from there.
pub const REPOSITORY_ANNOTATION: &str = "dev.vouch.referrer.repository";
/// Every Vouch-reserved annotation: stores strip them from whatever a registry or layout lists.
pub const RESERVED_ANNOTATIONS: [&str; 3] = [
    BINDING_ANNOTATION,
    BOUND_SUBJECT_ANNOTATION,
    REPOSITORY_ANNOTATION,
];

/// The two kinds of artifacts cosign stores under a tag derived from the subject's digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CosignTag {
    /// `sha256-<hex>.sig`: simple-signing signatures.
    Signature,
    /// `sha256-<hex>.att`: DSSE-enveloped in-toto attestations.
    Attestation,
}

impl CosignTag {
    /// Both kinds, in the order the stores look them up.
    pub const ALL: [CosignTag; 2] = [CosignTag::Signature, CosignTag::Attestation];

    /// The tag suffix cosign uses (`.sig`, `.att`).
    pub fn suffix(self) -> &'static str {
        match self {
            CosignTag::Signature => ".sig",
            CosignTag::Attestation => ".att",
        }
    }

    /// The artifact type Vouch lists such a manifest under.
    pub fn artifact_type(self) -> &'static str {
        match self {
            CosignTag::Signature => COSIGN_SIGNATURE_ARTIFACT_TYPE,
            CosignTag::Attestation => COSIGN_ATTESTATION_ARTIFACT_TYPE,
        }
    }

    /// Whether a lookup filtered on `artifact_type` (`None`: no filter) wants this kind.
    pub fn wanted(self, artifact_type: Option<&str>) -> bool {
        artifact_type.is_none_or(|at| at == self.artifact_type())
    }

    /// The subject digest and kind a tag `<alg>-<hex>.sig|.att` names, if it is one.
    pub fn parse_tag(tag: &str) -> Option<(Digest, CosignTag)> {
        CosignTag::ALL.into_iter().find_map(|kind| {
            let (alg, hex) = tag.strip_suffix(kind.suffix())?.split_once('-')?;
            let digest = format!("{alg}:{hex}").parse::<Digest>().ok()?;
            Some((digest, kind))
        })
    }
}

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
    /// Whether the store bound this descriptor to its subject by a cosign tag (`.sig`, `.att`;
    /// the reserved [`BINDING_ANNOTATION`]), so its manifest may lack a `subject` field.
    pub fn is_cosign_tag_bound(&self) -> bool {
        self.annotations.get(BINDING_ANNOTATION).map(String::as_str) == Some(COSIGN_TAG_BINDING)
    }

    /// The digest a tag-bound descriptor's cosign tag names ([`BOUND_SUBJECT_ANNOTATION`]).
    pub fn cosign_bound_subject(&self) -> Option<&str> {
        self.annotations
            .get(BOUND_SUBJECT_ANNOTATION)
            .map(String::as_str)
    }

    /// The repository a tag-bound descriptor was found in, when not the subject's
    /// ([`REPOSITORY_ANNOTATION`]).
    pub fn cosign_repository(&self) -> Option<&str> {
        self.annotations
            .get(REPOSITORY_ANNOTATION)
            .map(String::as_str)
    }

    /// Where a tag-bound descriptor was found, for people: `tag sha256-<hex>.att` (and
    /// ` in <repository>` when it is not the subject's); `None` for any other descriptor.
    pub fn cosign_tag_origin(&self) -> Option<String> {
        if !self.is_cosign_tag_bound() {
            return None;
        }
        let kind = CosignTag::ALL
            .into_iter()
            .find(|k| self.artifact_type.as_deref() == Some(k.artifact_type()))?;
        let subject: Digest = self.cosign_bound_subject()?.parse().ok()?;
        let mut out = format!("tag {}", subject.cosign_tag(kind));
        if let Some(repo) = self.cosign_repository() {
            out.push_str(&format!(" in {repo}"));
        }
        Some(out)
    }

    /// Remove Vouch-reserved annotations: what a registry or layout lists can never claim a
    /// binding only the store's own tag lookup may make. Returns whether one was removed.
    pub fn strip_reserved(&mut self) -> bool {
        let mut removed = false;
        for key in RESERVED_ANNOTATIONS {
            removed |= self.annotations.remove(key).is_some();
        }
        removed
    }

    /// Mark this descriptor (of the manifest tagged `sha256-<hex>.sig` or `.att`) as cosign's
    /// tag-bound `kind` of `subject`: the kind's artifact type, the reserved binding annotation and
    /// the digest the tag names (the only node it may be accepted under).
    pub fn into_cosign_tag_bound(mut self, kind: CosignTag, subject: &Digest) -> Descriptor {
        self.artifact_type = Some(kind.artifact_type().to_owned());
        self.annotations
            .insert(BINDING_ANNOTATION.to_owned(), COSIGN_TAG_BINDING.to_owned());
        self.annotations
            .insert(BOUND_SUBJECT_ANNOTATION.to_owned(), subject.to_string());
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

    /// cosign's tag names: `<alg>-<hex>.sig` / `.att` name the digest `<alg>:<hex>`; anything
    /// else (another suffix, a bad digest, the plain fallback tag) names nothing.
    #[test]
    fn parses_cosign_tags() {
        let d = Digest::sha256_of(b"img");
        for kind in CosignTag::ALL {
            assert_eq!(
                CosignTag::parse_tag(&d.cosign_tag(kind)),
                Some((d.clone(), kind))
            );
            assert!(kind.wanted(None));
            assert!(kind.wanted(Some(kind.artifact_type())));
            assert!(!kind.wanted(Some("application/spdx+json")));
        }
        for bad in [
            d.fallback_tag(),
            format!("{}.sbom", d.fallback_tag()),
            "sha256-abc.sig".to_owned(),
            "v1.att".to_owned(),
            format!("md5-{}.sig", d.hex()),
        ] {
            assert_eq!(CosignTag::parse_tag(&bad), None, "{bad}");
        }
    }

    /// The store's binding carries the kind's artifact type and the digest the tag names; every
    /// reserved annotation is stripped from what a registry lists.
    #[test]
    fn tag_binding_names_its_subject_and_is_stripped() {
        let subject = Digest::sha256_of(b"img");
        let bound = Descriptor::for_content(OCI_MANIFEST, b"att")
            .into_cosign_tag_bound(CosignTag::Attestation, &subject);
        assert!(bound.is_cosign_tag_bound());
        assert_eq!(
            bound.artifact_type.as_deref(),
            Some(COSIGN_ATTESTATION_ARTIFACT_TYPE)
        );
        assert_eq!(
            bound.cosign_bound_subject(),
            Some(subject.to_string().as_str())
        );
        assert_eq!(
            bound.cosign_tag_origin(),
            Some(format!("tag sha256-{}.att", subject.hex()))
        );
        let mut listed = bound.clone();
        listed
            .annotations
            .insert(REPOSITORY_ANNOTATION.into(), "r.example/sigs".into());
        listed.annotations.insert("keep".into(), "me".into());
        assert_eq!(
            listed.cosign_tag_origin(),
            Some(format!(
                "tag sha256-{}.att in r.example/sigs",
                subject.hex()
            ))
        );
        assert!(listed.strip_reserved());
        assert_eq!(listed.cosign_tag_origin(), None);
        assert!(!listed.is_cosign_tag_bound());
        assert_eq!(listed.cosign_bound_subject(), None);
        assert_eq!(listed.cosign_repository(), None);
        assert_eq!(listed.annotations.len(), 1);
        assert!(!listed.strip_reserved());
    }
}
