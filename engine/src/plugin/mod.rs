//! Verifiers shipped as OCI artifacts: the artifact format, pushing (with an optional cosign
//! simple-signing signature attached as a referrer), and pulling with every check Vouch makes
//! before a verifier is compiled.
//!
//! Format (see `docs/plugins.md`): an OCI image manifest with `artifactType`
//! [`PLUGIN_ARTIFACT_TYPE`], the OCI empty config, and exactly one [`WASM_LAYER`] layer holding
//! the component. Annotations carry what the component's `metadata()` says about itself.
//!
//! Pull order, each step refusing on failure: parse the reference → pin a tag to the digest the
//! registry names (logged) → fetch the manifest (digest- and size-checked, or read from the disk
//! cache by digest) → check the artifact type and layers → when keys are configured, require a
//! valid signature by one of them over this manifest digest → fetch the wasm layer (digest- and
//! size-checked, or from the disk cache) and store it in the cache. Only then are the bytes handed
//! to the runtime ([`load_plugin`]), which compiles once (its compile cache is keyed by the
//! module digest).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;

pub use crate::crypto::{KeyError, SigningKey, VerifyingKeys};
use crate::oci::manifest::OCI_MANIFEST;
use crate::oci::registry::{RegistryClient, RegistryError};
use crate::oci::{Descriptor, Digest, Manifest, Reference};
use crate::runtime::{Limits, Runtime, RuntimeError, Verifier, VerifierMetadata};
use crate::store::check_content;
use crate::store::disk::DiskCache;

/// The scheme prefix of a verifier `path` that names an OCI artifact.
pub const OCI_SCHEME: &str = "oci://";
/// `artifactType` of a Vouch verifier artifact.
pub const PLUGIN_ARTIFACT_TYPE: &str = "application/vnd.vouch.verifier.v1+wasm";
/// Media type of the layer holding the component (the IANA type of WebAssembly).
pub const WASM_LAYER: &str = "application/wasm";
/// Media type of the OCI empty descriptor used as config.
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
/// Content of the OCI empty config blob.
pub const EMPTY_CONFIG_BYTES: &[u8] = b"{}";
/// Annotation: the component's file name.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// Annotation: the name the component's `metadata()` gives itself.
pub const ANNOTATION_NAME: &str = "io.vouch.verifier.name";
/// Annotation: the component's version from `metadata()`.
pub const ANNOTATION_VERSION: &str = "io.vouch.verifier.version";
/// Annotation: the artifact types the component judges, comma-separated.
pub const ANNOTATION_ARTIFACT_TYPES: &str = "io.vouch.verifier.artifact-types";
/// `artifactType` of a cosign signature attached as an OCI 1.1 referrer.
pub const COSIGN_SIG_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// Media type of cosign's simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature over the payload.
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of a cosign simple-signing payload.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";
/// Signature manifests examined at most for one plugin (a registry could list thousands).
const MAX_SIGNATURE_CANDIDATES: usize = 32;

/// Why a plugin could not be pushed, pulled or loaded. Every variant names the reference (or the
/// key file) and what failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The reference does not parse, or cannot be used for the operation.
    #[error("plugin reference `{reference}`: {reason}")]
    Reference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The registry refused or failed a request.
    #[error("plugin {reference}: {source}")]
    Registry {
        /// The reference.
        reference: String,
        /// The registry error (names the request).
        #[source]
        source: RegistryError,
    },
    /// Content does not hash to the digest it was asked for (by a pin, or in the cache).
    #[error("plugin {reference}: digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The reference.
        reference: String,
        /// The manifest or layer.
        what: String,
        /// The digest expected.
        expected: Digest,
        /// The digest of the bytes.
        actual: Digest,
    },
    /// The manifest is not a Vouch verifier artifact.
    #[error(
        "plugin {reference}@{digest}: artifact type is {found}, expected `{PLUGIN_ARTIFACT_TYPE}`"
    )]
    WrongArtifactType {
        /// The reference.
        reference: String,
        /// The manifest digest.
        digest: Digest,
        /// The artifact type found (quoted, or `none`).
        found: String,
    },
    /// The manifest does not have exactly one `application/wasm` layer.
    #[error(
        "plugin {reference}@{digest}: expected exactly one `{WASM_LAYER}` layer, found [{found}]"
    )]
    Layers {
        /// The reference.
        reference: String,
        /// The manifest digest.
        digest: Digest,
        /// The layers' media types.
        found: String,
    },
    /// A signature is required and none is attached.
    #[error(
        "plugin {reference}@{digest}: a signature by {keys} is required and none is attached (no `{COSIGN_SIG_ARTIFACT_TYPE}` referrer, no `.sig` tag)"
    )]
    NoSignature {
        /// The reference.
        reference: String,
        /// The manifest digest.
        digest: Digest,
        /// The key file(s) that would have been accepted.
        keys: String,
    },
    /// Signatures are attached but none is valid for this digest and a configured key.
    #[error("plugin {reference}@{digest}: no valid signature by {keys}: {reasons}")]
    BadSignature {
        /// The reference.
        reference: String,
        /// The manifest digest.
        digest: Digest,
        /// The key file(s).
        keys: String,
        /// Why each signature was rejected, `; `-separated.
        reasons: String,
    },
    /// The layer is not a valid `vouch:verifier` component.
    #[error("plugin {reference}: not a vouch verifier component: {reason}")]
    NotAComponent {
        /// The reference.
        reference: String,
        /// What the runtime said.
        reason: String,
    },
    /// The runtime failed to load the component for another reason (limits, `metadata` call).
    #[error("plugin {reference}: {source}")]
    Runtime {
        /// The reference.
        reference: String,
        /// The runtime error.
        #[source]
        source: RuntimeError,
    },
    /// A signing or verification key file could not be read or used.
    #[error("key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The disk cache could not be opened.
    #[error("plugin cache {path}: {reason}")]
    Cache {
        /// The cache directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

impl From<KeyError> for PluginError {
    fn from(e: KeyError) -> PluginError {
        PluginError::Key {
            path: e.path,
            reason: e.reason,
        }
    }
}

/// Push `artifact`, a referrer of `subject`, to `target`'s repository by digest: its blobs, its
/// manifest, and, for a registry without the referrers API, an entry in `subject`'s
/// `sha256-<hex>` tag-schema index.
pub async fn push_referrer(
    client: &RegistryClient,
    target: &Reference,
    subject: &crate::oci::Digest,
    artifact: &Artifact,
) -> Result<(), RegistryError> {
    for (desc, bytes) in &artifact.blobs {
        client.push_blob(target, desc, bytes).await?;
    }
    let pushed = client
        .push_manifest(
            target,
            &artifact.descriptor.digest.to_string(),
            &artifact.descriptor.media_type,
            &artifact.manifest,
        )
        .await?;
    if !pushed.subject_indexed {
        client
            .push_referrer_fallback(target, subject, &artifact.descriptor)
            .await?;
    }
    Ok(())
}

/// Parse a plugin reference: `oci://registry/repo:tag`, `oci://registry/repo@sha256:…` (the
/// `oci://` prefix is optional here).
pub fn parse_reference(reference: &str) -> Result<Reference, PluginError> {
    let bare = reference.strip_prefix(OCI_SCHEME).unwrap_or(reference);
    Reference::parse(bare).map_err(|e| PluginError::Reference {
        reference: reference.to_owned(),
        reason: e.to_string(),
    })
}

/// The reference part of a verifier `path` when it starts with `oci://`.
pub fn oci_path(path: &Path) -> Option<&str> {
    path.to_str()
        .and_then(|p| p.starts_with(OCI_SCHEME).then_some(p))
}

// ---------------------------------------------------------------------------------------------
// Plugin signatures
// ---------------------------------------------------------------------------------------------

impl VerifyingKeys {
    /// Check one simple-signing `payload` and its base64 `signature`: the payload must name
    /// `digest`, and the signature must verify with one of the keys. Returns which key.
    pub fn verify_simple_signing(
        &self,
        payload: &[u8],
        signature_b64: &str,
        digest: &Digest,
    ) -> Result<String, String> {
        let parsed: SimpleSigning = serde_json::from_slice(payload)
            .map_err(|e| format!("payload is not simple-signing JSON: {e}"))?;
        if parsed.critical.kind != SIMPLE_SIGNING_TYPE {
            return Err(format!(
                "payload type is `{}`, expected `{SIMPLE_SIGNING_TYPE}`",
                parsed.critical.kind
            ));
        }
        let signed = &parsed.critical.image.docker_manifest_digest;
        if signed != &digest.to_string() {
            return Err(format!("payload signs {signed}, not {digest}"));
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature_b64.trim())
            .map_err(|e| format!("signature annotation is not base64: {e}"))?;
        self.verify(payload, &signature)
    }
}

/// The parts of cosign's simple-signing payload Vouch checks.
#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    image: CriticalImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct CriticalImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Cosign's simple-signing payload for the manifest `digest` of `name` (`registry/repo`).
pub fn simple_signing_payload(name: &str, digest: &Digest) -> Vec<u8> {
    let payload = serde_json::json!({
        "critical": {
            "identity": { "docker-reference": name },
            "image": { "docker-manifest-digest": digest.to_string() },
            "type": SIMPLE_SIGNING_TYPE,
        },
        "optional": null,
    });
    payload.to_string().into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Artifacts
// ---------------------------------------------------------------------------------------------

/// A manifest with the blobs it names, ready to push.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The manifest's descriptor (with its artifact type).
    pub descriptor: Descriptor,
    /// The manifest bytes.
    pub manifest: Bytes,
    /// Every blob the manifest names, with its bytes (config first).
    pub blobs: Vec<(Descriptor, Bytes)>,
}

fn empty_config() -> (Descriptor, Bytes) {
    (
        Descriptor::for_content(EMPTY_CONFIG, EMPTY_CONFIG_BYTES),
        Bytes::from_static(EMPTY_CONFIG_BYTES),
    )
}

fn artifact(
    artifact_type: &str,
    layer: (Descriptor, Bytes),
    subject: Option<Descriptor>,
    annotations: BTreeMap<String, String>,
) -> Artifact {
    let config = empty_config();
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_owned()),
        artifact_type: Some(artifact_type.to_owned()),
        config: Some(config.0.clone()),
        layers: vec![layer.0.clone()],
        manifests: vec![],
        subject,
        annotations,
    };
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap_or_default());
    let mut descriptor = Descriptor::for_content(OCI_MANIFEST, &bytes);
    descriptor.artifact_type = Some(artifact_type.to_owned());
    Artifact {
        descriptor,
        manifest: bytes,
        blobs: vec![config, layer],
    }
}

/// The verifier artifact for component bytes `wasm` whose `metadata()` is `metadata`; `title`
/// is the file name. Deterministic: the same component gives the same manifest digest.
pub fn plugin_artifact(wasm: Bytes, metadata: &VerifierMetadata, title: &str) -> Artifact {
    let mut layer = Descriptor::for_content(WASM_LAYER, &wasm);
    layer
        .annotations
        .insert(ANNOTATION_TITLE.into(), title.into());
    let annotations = BTreeMap::from([
        (ANNOTATION_TITLE.to_owned(), title.to_owned()),
        (ANNOTATION_NAME.to_owned(), metadata.name.clone()),
        (ANNOTATION_VERSION.to_owned(), metadata.version.clone()),
        (
            ANNOTATION_ARTIFACT_TYPES.to_owned(),
            metadata.artifact_types.join(","),
        ),
    ]);
    artifact(PLUGIN_ARTIFACT_TYPE, (layer, wasm), None, annotations)
}

/// An OCI 1.1 referrer of `subject`: an artifact manifest of `artifact_type` with one layer of
/// `layer_media_type` holding `content`, and the manifest `annotations`.
pub fn referrer_artifact(
    artifact_type: &str,
    layer_media_type: &str,
    content: Bytes,
    subject: &Descriptor,
    annotations: BTreeMap<String, String>,
) -> Artifact {
    let layer = Descriptor::for_content(layer_media_type, &content);
    let subject = Descriptor {
        artifact_type: None,
        annotations: BTreeMap::new(),
        ..subject.clone()
    };
    artifact(artifact_type, (layer, content), Some(subject), annotations)
}

/// A cosign simple-signing signature of `subject` (a manifest of `name`), as an OCI 1.1
/// referrer.
pub fn signature_artifact(
    name: &str,
    subject: &Descriptor,
    key: &SigningKey,
) -> Result<Artifact, PluginError> {
    let payload = simple_signing_payload(name, &subject.digest);
    let signature = key.sign(&payload)?;
    let mut layer = Descriptor::for_content(SIMPLE_SIGNING, &payload);
    layer.annotations.insert(
        COSIGN_SIGNATURE_ANNOTATION.into(),
        base64::engine::general_purpose::STANDARD.encode(signature),
    );
    let subject = Descriptor {
        artifact_type: None,
        annotations: BTreeMap::new(),
        ..subject.clone()
    };
    Ok(artifact(
        COSIGN_SIG_ARTIFACT_TYPE,
        (layer, Bytes::from(payload)),
        Some(subject),
        BTreeMap::new(),
    ))
}

/// What [`PluginClient::push`] put in the registry.
#[derive(Clone, Debug)]
pub struct PushedPlugin {
    /// The reference pinned to the plugin manifest's digest.
    pub reference: Reference,
    /// The plugin manifest.
    pub manifest: Descriptor,
    /// The signature manifest, when signed.
    pub signature: Option<Descriptor>,
    /// The referrers tag-schema index updated for the signature (registries without the
    /// referrers API).
    pub fallback_index: Option<Descriptor>,
}

/// A plugin pulled and checked, ready for the runtime.
#[derive(Clone, Debug)]
pub struct PulledPlugin {
    /// The reference pinned to the manifest digest.
    pub reference: Reference,
    /// The manifest's descriptor.
    pub manifest: Descriptor,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The wasm layer's descriptor.
    pub layer: Descriptor,
    /// The component bytes (checked against `layer`).
    pub wasm: Bytes,
    /// Which key verified the signature, when one was required.
    pub signed_by: Option<String>,
    /// Whether manifest and layer both came from the disk cache.
    pub from_cache: bool,
}

// ---------------------------------------------------------------------------------------------
// Push and pull
// ---------------------------------------------------------------------------------------------

/// The client of verifier distribution: pushes and pulls verifier artifacts through a registry
/// client, caching pulled content in the single-writer disk cache when there is one.
pub struct PluginClient {
    client: Arc<RegistryClient>,
    disk: Option<DiskCache>,
}

impl std::fmt::Debug for PluginClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginClient")
            .field("disk", &self.disk.as_ref().map(DiskCache::path))
            .finish_non_exhaustive()
    }
}

impl PluginClient {
    /// A plugin client over `client`, caching in `disk` when given.
    pub fn new(client: Arc<RegistryClient>, disk: Option<DiskCache>) -> PluginClient {
        PluginClient { client, disk }
    }

    /// The registry client.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// Push the component `wasm` (whose `metadata()` is `metadata`) to `reference` (a tag, or a
    /// digest that must be the manifest's), signing it with `key` when given: the signature is a
    /// referrer of the plugin manifest and is also recorded in the `sha256-<hex>` tag-schema
    /// index when the registry does not index referrers itself.
    pub async fn push(
        &self,
        reference: &str,
        wasm: Bytes,
        metadata: &VerifierMetadata,
        title: &str,
        key: Option<&SigningKey>,
    ) -> Result<PushedPlugin, PluginError> {
        let target = parse_reference(reference)?;
        let registry = |source| PluginError::Registry {
            reference: reference.to_owned(),
            source,
        };
        let plugin = plugin_artifact(wasm, metadata, title);
        if let Some(pinned) = target.digest()
            && *pinned != plugin.descriptor.digest
        {
            return Err(PluginError::DigestMismatch {
                reference: reference.to_owned(),
                what: "the manifest to push".into(),
                expected: pinned.clone(),
                actual: plugin.descriptor.digest.clone(),
            });
        }
        for (desc, bytes) in &plugin.blobs {
            self.client
                .push_blob(&target, desc, bytes)
                .await
                .map_err(registry)?;
        }
        let put_as = match target.tag() {
            Some(tag) => tag.to_owned(),
            None => plugin.descriptor.digest.to_string(),
        };
        self.client
            .push_manifest(&target, &put_as, OCI_MANIFEST, &plugin.manifest)
            .await
            .map_err(registry)?;
        let pinned = target.with_digest(plugin.descriptor.digest.clone());
        tracing::info!(reference = %pinned, "plugin pushed");
        let mut out = PushedPlugin {
            reference: pinned,
            manifest: plugin.descriptor.clone(),
            signature: None,
            fallback_index: None,
        };
        let Some(key) = key else {
            return Ok(out);
        };
        let sig = signature_artifact(&target.name(), &plugin.descriptor, key)?;
        for (desc, bytes) in &sig.blobs {
            self.client
                .push_blob(&target, desc, bytes)
                .await
                .map_err(registry)?;
        }
        let pushed = self
            .client
            .push_manifest(
                &target,
                &sig.descriptor.digest.to_string(),
                OCI_MANIFEST,
                &sig.manifest,
            )
            .await
            .map_err(registry)?;
        if !pushed.subject_indexed {
            let index = self
                .client
                .push_referrer_fallback(&target, &plugin.descriptor.digest, &sig.descriptor)
                .await
                .map_err(registry)?;
            out.fallback_index = Some(index);
        }
        tracing::info!(signature = %sig.descriptor.digest, "plugin signature pushed");
        out.signature = Some(sig.descriptor);
        Ok(out)
    }

    /// Pull `reference` (`oci://` optional), pinning a tag to its digest, checking the artifact,
    /// and, when `keys` is given, requiring a valid signature by one of them.
    pub async fn pull(
        &self,
        reference: &str,
        keys: Option<&VerifyingKeys>,
    ) -> Result<PulledPlugin, PluginError> {
        let parsed = parse_reference(reference)?;
        let registry = |source: RegistryError| match source {
            RegistryError::DigestMismatch {
                what,
                expected,
                actual,
            } => PluginError::DigestMismatch {
                reference: reference.to_owned(),
                what,
                expected,
                actual,
            },
            source => PluginError::Registry {
                reference: reference.to_owned(),
                source,
            },
        };
        // The manifest: from the cache when pinned by digest and cached, else from the registry
        // (by digest, or by tag: one GET that both resolves and fetches, so nothing can change
        // between resolving and reading).
        let cached = match parsed.digest() {
            Some(d) => self.cached(d).await,
            None => None,
        };
        let manifest_from_cache = cached.is_some();
        let (descriptor, bytes) = match cached {
            Some(bytes) => {
                let digest = parsed
                    .digest()
                    .cloned()
                    .unwrap_or_else(|| Digest::sha256_of(&bytes));
                let desc = Descriptor {
                    media_type: OCI_MANIFEST.to_owned(),
                    digest,
                    size: bytes.len() as u64,
                    artifact_type: None,
                    annotations: BTreeMap::new(),
                };
                (desc, bytes)
            }
            None => {
                let fetched = self
                    .client
                    .fetch_manifest_ref(&parsed, &parsed.tag_or_digest())
                    .await
                    .map_err(registry)?;
                (fetched.descriptor, fetched.bytes)
            }
        };
        let pinned = parsed.with_digest(descriptor.digest.clone());
        if parsed.digest().is_none() {
            tracing::info!(%reference, pinned = %pinned, "plugin tag pinned to its digest");
        }
        let manifest = Manifest::parse(&bytes).map_err(|e| PluginError::Registry {
            reference: reference.to_owned(),
            source: RegistryError::Invalid {
                what: format!("manifest {}", descriptor.digest),
                reason: e.to_string(),
            },
        })?;
        let layer = check_plugin_manifest(reference, &descriptor, &manifest)?;
        if !manifest_from_cache {
            self.store(&descriptor, &bytes).await;
        }
        let signed_by = match keys {
            Some(keys) => Some(self.check_signature(reference, &pinned, keys).await?),
            None => None,
        };
        let (wasm, layer_from_cache) = match self.cached(&layer.digest).await {
            Some(wasm) => (wasm, true),
            None => {
                let wasm = self
                    .client
                    .get_blob(&pinned, &layer)
                    .await
                    .map_err(registry)?;
                self.store(&layer, &wasm).await;
                (wasm, false)
            }
        };
        check_content(&layer, &wasm, u64::MAX).map_err(|e| match e {
            crate::store::StoreError::DigestMismatch { expected, actual } => {
                PluginError::DigestMismatch {
                    reference: reference.to_owned(),
                    what: format!("layer {}", layer.digest),
                    expected,
                    actual,
                }
            }
            other => PluginError::Registry {
                reference: reference.to_owned(),
                source: RegistryError::Invalid {
                    what: format!("layer {}", layer.digest),
                    reason: other.to_string(),
                },
            },
        })?;
        let mut manifest_desc = descriptor;
        manifest_desc.artifact_type = manifest.artifact_type.clone();
        Ok(PulledPlugin {
            reference: pinned,
            manifest: manifest_desc,
            annotations: manifest.annotations,
            layer,
            wasm,
            signed_by,
            from_cache: manifest_from_cache && layer_from_cache,
        })
    }

    /// Require a valid cosign simple-signing signature of `pinned`'s digest by one of `keys`,
    /// attached as a referrer (API or tag-schema fallback) or under cosign's `sha256-<hex>.sig`
    /// tag. Returns which key verified it.
    pub async fn check_signature(
        &self,
        reference: &str,
        pinned: &Reference,
        keys: &VerifyingKeys,
    ) -> Result<String, PluginError> {
        let Some(digest) = pinned.digest() else {
            return Err(PluginError::Reference {
                reference: reference.to_owned(),
                reason: "a signature can only be checked for a digest".into(),
            });
        };
        let registry = |source| PluginError::Registry {
            reference: reference.to_owned(),
            source,
        };
        let mut candidates: Vec<Manifest> = Vec::new();
        // The client lists cosign's `sha256-<hex>.sig` tag among the referrers of this type.
        let referrers = self
            .client
            .referrers(pinned, digest, Some(COSIGN_SIG_ARTIFACT_TYPE))
            .await
            .map_err(registry)?;
        let mut reasons = Vec::new();
        for desc in referrers.iter().take(MAX_SIGNATURE_CANDIDATES) {
            match self.client.get_manifest(pinned, desc).await {
                Ok(bytes) => match Manifest::parse(&bytes) {
                    Ok(m) => candidates.push(m),
                    Err(e) => reasons.push(format!("{}: {e}", desc.digest)),
                },
                Err(e) => reasons.push(e.to_string()),
            }
        }
        let layers: Vec<Descriptor> = candidates
            .iter()
            .flat_map(|m| m.layers.iter())
            .filter(|l| l.media_type == SIMPLE_SIGNING)
            .take(MAX_SIGNATURE_CANDIDATES)
            .cloned()
            .collect();
        if layers.is_empty() && reasons.is_empty() {
            return Err(PluginError::NoSignature {
                reference: reference.to_owned(),
                digest: digest.clone(),
                keys: keys.describe(),
            });
        }
        for layer in &layers {
            let Some(sig) = layer.annotations.get(COSIGN_SIGNATURE_ANNOTATION) else {
                reasons.push(format!(
                    "payload {}: no `{COSIGN_SIGNATURE_ANNOTATION}` annotation",
                    layer.digest
                ));
                continue;
            };
            let payload = match self.client.get_blob(pinned, layer).await {
                Ok(p) => p,
                Err(e) => {
                    reasons.push(e.to_string());
                    continue;
                }
            };
            match keys.verify_simple_signing(&payload, sig, digest) {
                Ok(by) => {
                    tracing::info!(%reference, %digest, key = %by, "plugin signature verified");
                    return Ok(by);
                }
                Err(why) => reasons.push(format!("payload {}: {why}", layer.digest)),
            }
        }
        Err(PluginError::BadSignature {
            reference: reference.to_owned(),
            digest: digest.clone(),
            keys: keys.describe(),
            reasons: reasons.join("; "),
        })
    }

    /// Cached bytes for `digest`, checked again (a corrupt cache entry is a miss).
    async fn cached(&self, digest: &Digest) -> Option<Bytes> {
        let disk = self.disk.as_ref()?;
        match disk.get_async(digest).await {
            Ok(Some(bytes)) if digest.matches(&bytes) => Some(bytes),
            Ok(Some(_)) => {
                tracing::warn!(%digest, "plugin cache entry does not match its digest; refetching");
                None
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(%digest, error = %e, "plugin cache read failed; refetching");
                None
            }
        }
    }

    /// Store checked bytes in the disk cache; a failure is logged (the cache is an optimisation).
    async fn store(&self, desc: &Descriptor, bytes: &Bytes) {
        if let Some(disk) = &self.disk {
            let desc = Descriptor {
                artifact_type: None,
                annotations: BTreeMap::new(),
                ..desc.clone()
            };
            if let Err(e) = disk.put(desc.clone(), bytes.clone()).await {
                tracing::warn!(digest = %desc.digest, error = %e, "could not cache plugin content");
            }
        }
    }
}

/// Check that `manifest` is a verifier artifact; returns its wasm layer.
fn check_plugin_manifest(
    reference: &str,
    descriptor: &Descriptor,
    manifest: &Manifest,
) -> Result<Descriptor, PluginError> {
    let media_type = manifest
        .media_type
        .as_deref()
        .unwrap_or(&descriptor.media_type);
    if media_type != OCI_MANIFEST || !manifest.manifests.is_empty() {
        return Err(PluginError::WrongArtifactType {
            reference: reference.to_owned(),
            digest: descriptor.digest.clone(),
            found: format!("none (the manifest is `{media_type}`, not an OCI image manifest)"),
        });
    }
    if manifest.artifact_type.as_deref() != Some(PLUGIN_ARTIFACT_TYPE) {
        return Err(PluginError::WrongArtifactType {
            reference: reference.to_owned(),
            digest: descriptor.digest.clone(),
            found: match manifest.effective_artifact_type() {
                Some(t) => format!("`{t}`"),
                None => "none".into(),
            },
        });
    }
    match manifest.layers.as_slice() {
        [layer] if layer.media_type == WASM_LAYER => Ok(layer.clone()),
        layers => Err(PluginError::Layers {
            reference: reference.to_owned(),
            digest: descriptor.digest.clone(),
            found: layers
                .iter()
                .map(|l| l.media_type.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Compile and load a pulled plugin as verifier `name` (the runtime's compile cache makes this
/// a one-time compilation per module digest).
pub async fn load_plugin(
    runtime: &Runtime,
    name: &str,
    plugin: &PulledPlugin,
    limits: Limits,
) -> Result<Verifier, PluginError> {
    let reference = plugin.reference.to_string();
    let verifier = runtime
        .load_bytes(name, plugin.wasm.to_vec(), limits)
        .await
        .map_err(|e| match e {
            RuntimeError::Invalid { reason, .. } => PluginError::NotAComponent {
                reference: reference.clone(),
                reason,
            },
            source => PluginError::Runtime {
                reference: reference.clone(),
                source,
            },
        })?;
    let md = verifier.metadata();
    let declared = (
        plugin.annotations.get(ANNOTATION_NAME),
        plugin.annotations.get(ANNOTATION_VERSION),
    );
    if declared != (Some(&md.name), Some(&md.version)) {
        tracing::warn!(
            %reference,
            annotated_name = ?declared.0,
            annotated_version = ?declared.1,
            name = %md.name,
            version = %md.version,
            "plugin annotations do not match the component's metadata"
        );
    }
    tracing::info!(%reference, verifier = name, module = %verifier.module_digest(), "plugin loaded");
    Ok(verifier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::pem;
    use ring::signature::{ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};

    fn metadata() -> VerifierMetadata {
        VerifierMetadata {
            name: "demo".into(),
            version: "1.2.3".into(),
            artifact_types: vec!["a/b".into(), "c/d".into()],
            config_schema: None,
        }
    }

    #[test]
    fn plugin_artifact_is_deterministic_and_annotated() {
        let wasm = Bytes::from_static(b"\0asm component");
        let a = plugin_artifact(wasm.clone(), &metadata(), "demo.wasm");
        let b = plugin_artifact(wasm.clone(), &metadata(), "demo.wasm");
        assert_eq!(a.descriptor, b.descriptor);
        let m = Manifest::parse(&a.manifest).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some(PLUGIN_ARTIFACT_TYPE));
        assert_eq!(m.config.as_ref().unwrap().media_type, EMPTY_CONFIG);
        assert_eq!(m.config.as_ref().unwrap().size, 2);
        assert_eq!(m.layers.len(), 1);
        assert_eq!(m.layers[0].media_type, WASM_LAYER);
        assert_eq!(m.layers[0].digest, Digest::sha256_of(&wasm));
        assert_eq!(m.annotations[ANNOTATION_NAME], "demo");
        assert_eq!(m.annotations[ANNOTATION_VERSION], "1.2.3");
        assert_eq!(m.annotations[ANNOTATION_ARTIFACT_TYPES], "a/b,c/d");
        assert_eq!(m.annotations[ANNOTATION_TITLE], "demo.wasm");
        assert_eq!(a.descriptor.digest, Digest::sha256_of(&a.manifest));
        let layer = check_plugin_manifest("r", &a.descriptor, &m).unwrap();
        assert_eq!(layer, m.layers[0]);
    }

    #[test]
    fn rejects_manifests_that_are_not_plugins() {
        let a = plugin_artifact(Bytes::from_static(b"x"), &metadata(), "x.wasm");
        let good = Manifest::parse(&a.manifest).unwrap();
        let mut wrong_type = good.clone();
        wrong_type.artifact_type = Some("application/vnd.other".into());
        let e = check_plugin_manifest("oci://r/x:1", &a.descriptor, &wrong_type).unwrap_err();
        assert!(matches!(e, PluginError::WrongArtifactType { .. }), "{e}");
        assert!(e.to_string().contains("application/vnd.other"), "{e}");
        let mut two = good.clone();
        two.layers.push(two.layers[0].clone());
        let e = check_plugin_manifest("oci://r/x:1", &a.descriptor, &two).unwrap_err();
        assert!(
            e.to_string().contains("application/wasm, application/wasm"),
            "{e}"
        );
        let mut tar = good.clone();
        tar.layers[0].media_type = "application/vnd.oci.image.layer.v1.tar".into();
        assert!(matches!(
            check_plugin_manifest("r", &a.descriptor, &tar),
            Err(PluginError::Layers { .. })
        ));
        let mut none = good;
        none.layers.clear();
        assert!(matches!(
            check_plugin_manifest("r", &a.descriptor, &none),
            Err(PluginError::Layers { .. })
        ));
    }

    #[test]
    fn generated_keys_sign_and_verify_simple_signing_payloads() {
        let (private, public) = SigningKey::generate_pem().unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let key = SigningKey::from_pem(private.as_bytes(), Path::new("k.pem")).unwrap();
        assert_eq!(key.public_key_pem(), public);
        let keys = VerifyingKeys::from_pem(public.as_bytes(), Path::new("k.pub")).unwrap();
        assert_eq!(keys.len(), 1);

        let digest = Digest::sha256_of(b"manifest");
        let payload = simple_signing_payload("127.0.0.1:5000/plugins/demo", &digest);
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            v["critical"]["image"]["docker-manifest-digest"],
            digest.to_string()
        );
        assert_eq!(v["critical"]["type"], SIMPLE_SIGNING_TYPE);
        let sig = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload).unwrap());
        assert!(
            keys.verify_simple_signing(&payload, &sig, &digest)
                .unwrap()
                .contains("k.pub")
        );
        // Another digest, a tampered payload, another key: all refused.
        let other = Digest::sha256_of(b"other");
        let e = keys
            .verify_simple_signing(&payload, &sig, &other)
            .unwrap_err();
        assert!(e.contains("not sha256:"), "{e}");
        let mut tampered = payload.clone();
        let last = tampered.len() - 2;
        tampered[last] = b' ';
        assert!(
            keys.verify_simple_signing(&tampered, &sig, &digest)
                .is_err()
        );
        let (_, other_public) = SigningKey::generate_pem().unwrap();
        let others = VerifyingKeys::from_pem(other_public.as_bytes(), Path::new("o.pub")).unwrap();
        let e = others
            .verify_simple_signing(&payload, &sig, &digest)
            .unwrap_err();
        assert!(e.contains("key 1"), "{e}");
        // Both keys in one file: either verifies.
        let both = format!("{other_public}{public}");
        let rotated = VerifyingKeys::from_pem(both.as_bytes(), Path::new("both.pub")).unwrap();
        assert_eq!(rotated.len(), 2);
        assert!(
            rotated
                .verify_simple_signing(&payload, &sig, &digest)
                .unwrap()
                .contains("key 2")
        );
        assert!(
            keys.verify_simple_signing(&payload, "not base64!", &digest)
                .unwrap_err()
                .contains("base64")
        );
    }

    #[test]
    fn p384_and_ed25519_keys_sign_and_verify_too() {
        let rng = ring::rand::SystemRandom::new();
        let digest = Digest::sha256_of(b"manifest");
        let payload = simple_signing_payload("127.0.0.1:5000/plugins/demo", &digest);
        let p384 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &rng).unwrap();
        let ed25519 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        for (what, pkcs8) in [("P-384", p384.as_ref()), ("Ed25519", ed25519.as_ref())] {
            let private = pem("PRIVATE KEY", pkcs8);
            let key = SigningKey::from_pem(private.as_bytes(), Path::new("k.pem")).unwrap();
            let public = key.public_key_pem();
            let keys = VerifyingKeys::from_pem(public.as_bytes(), Path::new("k.pub")).unwrap();
            let sig = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload).unwrap());
            assert!(
                keys.verify_simple_signing(&payload, &sig, &digest).is_ok(),
                "{what}"
            );
            let mut tampered = payload.clone();
            let last = tampered.len() - 2;
            tampered[last] = b' ';
            assert!(
                keys.verify_simple_signing(&tampered, &sig, &digest)
                    .is_err(),
                "{what}"
            );
        }
    }

    #[test]
    fn signature_artifact_is_a_cosign_referrer() {
        let (private, _) = SigningKey::generate_pem().unwrap();
        let key = SigningKey::from_pem(private.as_bytes(), Path::new("k.pem")).unwrap();
        let plugin = plugin_artifact(Bytes::from_static(b"x"), &metadata(), "x.wasm");
        let sig = signature_artifact("r/x", &plugin.descriptor, &key).unwrap();
        let m = Manifest::parse(&sig.manifest).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some(COSIGN_SIG_ARTIFACT_TYPE));
        assert_eq!(m.subject.as_ref().unwrap().digest, plugin.descriptor.digest);
        assert_eq!(m.subject.as_ref().unwrap().artifact_type, None);
        assert_eq!(m.layers[0].media_type, SIMPLE_SIGNING);
        assert!(
            m.layers[0]
                .annotations
                .contains_key(COSIGN_SIGNATURE_ANNOTATION)
        );
    }

    #[test]
    fn key_files_are_checked() {
        let e = SigningKey::from_pem(
            b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
            Path::new("sec1.pem"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sec1.pem") && e.contains("pkcs8"), "{e}");
        let e = SigningKey::from_pem(b"junk", Path::new("j.pem"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("j.pem"), "{e}");
        let (private, _) = SigningKey::generate_pem().unwrap();
        let e = VerifyingKeys::from_pem(private.as_bytes(), Path::new("p.pem"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("PRIVATE KEY") && e.contains("p.pem"), "{e}");
        let e = VerifyingKeys::from_pem(b"", Path::new("empty.pem"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `PUBLIC KEY`"), "{e}");
    }

    #[test]
    fn parses_plugin_references() {
        let r = parse_reference("oci://127.0.0.1:5000/plugins/demo:v1").unwrap();
        assert_eq!(r.repository(), "plugins/demo");
        assert_eq!(r.tag(), Some("v1"));
        assert!(parse_reference("oci://UPPER/Case:x").is_err());
        assert_eq!(oci_path(Path::new("oci://r/x:1")), Some("oci://r/x:1"));
        assert_eq!(oci_path(Path::new("verifiers/x.wasm")), None);
    }
}
