//! The referrer graph a call may read: invariant 2 of the design ("each call to a store import is
//! checked against the graph of the subject being verified").
//!
//! The graph is discovered as the guest walks it. The subject and the artifact under judgement are
//! known at the start; a `list-referrers` answer adds referrers (one level deeper); a manifest read
//! adds the blobs it names (and, for an index, its child manifests). Anything else is denied.
//! The host always uses its own descriptor for a digest, never the one the guest passes, so a guest
//! cannot make the host fetch content with a forged size or media type.

use std::collections::HashMap;

use crate::oci::{Descriptor, Digest, Manifest};

/// What a call may read.
#[derive(Debug)]
pub(crate) struct Scope {
    manifests: HashMap<Digest, (Descriptor, u32)>,
    blobs: HashMap<Digest, Descriptor>,
    max_depth: u32,
}

/// Why a read was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ScopeError {
    /// The digest is not a manifest of the graph discovered so far.
    #[error("{0} is not a manifest in the referrer graph of the subject under verification")]
    NotAManifest(String),
    /// The digest is not a blob named by a manifest read so far.
    #[error("{0} is not a blob named by a manifest read in this verification")]
    NotABlob(String),
    /// Listing referrers here would go deeper than the nesting limit.
    #[error("listing referrers of {0} exceeds the nesting depth limit of {1}")]
    TooDeep(String, u32),
    /// The string is not a digest.
    #[error("invalid digest: {0}")]
    BadDigest(String),
}

impl Scope {
    /// A scope rooted at `subject`, with `artifact` (a referrer of it) readable.
    pub(crate) fn new(subject: &Descriptor, artifact: &Descriptor, max_depth: u32) -> Self {
        let mut manifests = HashMap::new();
        manifests.insert(subject.digest.clone(), (subject.clone(), 0));
        manifests
            .entry(artifact.digest.clone())
            .or_insert_with(|| (artifact.clone(), 1));
        Scope {
            manifests,
            blobs: HashMap::new(),
            max_depth,
        }
    }

    fn parse(digest: &str) -> Result<Digest, ScopeError> {
        digest
            .parse()
            .map_err(|_| ScopeError::BadDigest(digest.to_owned()))
    }

    /// May the guest list the referrers of `digest`? Returns the parsed digest and its depth.
    pub(crate) fn check_referrers(&self, digest: &str) -> Result<(Digest, u32), ScopeError> {
        let d = Self::parse(digest)?;
        let (_, depth) = self
            .manifests
            .get(&d)
            .ok_or_else(|| ScopeError::NotAManifest(digest.to_owned()))?;
        if *depth >= self.max_depth {
            return Err(ScopeError::TooDeep(digest.to_owned(), self.max_depth));
        }
        Ok((d, *depth))
    }

    /// Record referrers found at `depth` (the depth of the manifest they refer to).
    pub(crate) fn add_referrers(&mut self, depth: u32, found: &[Descriptor]) {
        for r in found {
            self.manifests
                .entry(r.digest.clone())
                .or_insert_with(|| (r.clone(), depth + 1));
        }
    }

    /// The host's descriptor for the manifest `digest`, if it is in the graph.
    pub(crate) fn manifest(&self, digest: &str) -> Result<Descriptor, ScopeError> {
        let d = Self::parse(digest)?;
        self.manifests
            .get(&d)
            .map(|(desc, _)| desc.clone())
            .ok_or_else(|| ScopeError::NotAManifest(digest.to_owned()))
    }

    /// Record what a manifest read names: its blobs, and an index's child manifests.
    pub(crate) fn add_manifest_content(&mut self, digest: &Digest, manifest: &Manifest) {
        let depth = self.manifests.get(digest).map_or(0, |(_, d)| *d);
        for b in manifest.blobs() {
            self.blobs
                .entry(b.digest.clone())
                .or_insert_with(|| b.clone());
        }
        for m in &manifest.manifests {
            self.manifests
                .entry(m.digest.clone())
                .or_insert_with(|| (m.clone(), depth));
        }
    }

    /// The host's descriptor for the blob `digest`, if a manifest read so far names it.
    pub(crate) fn blob(&self, digest: &str) -> Result<Descriptor, ScopeError> {
        let d = Self::parse(digest)?;
        self.blobs
            .get(&d)
            .cloned()
            .ok_or_else(|| ScopeError::NotABlob(digest.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::oci::manifest::OCI_MANIFEST;

    fn desc(data: &[u8]) -> Descriptor {
        Descriptor::for_content(OCI_MANIFEST, data)
    }

    #[test]
    fn graph_is_discovered_step_by_step() {
        let subject = desc(b"subject");
        let sig = desc(b"sig");
        let sbom = desc(b"sbom");
        let sbom_sig = desc(b"sbom-sig");
        let layer = Descriptor::for_content("application/octet-stream", b"layer");
        let mut scope = Scope::new(&subject, &sig, 2);

        // Blobs are unknown until a manifest naming them is read.
        let layer_d = layer.digest.to_string();
        assert!(matches!(scope.blob(&layer_d), Err(ScopeError::NotABlob(_))));
        let m = Manifest {
            schema_version: 2,
            media_type: None,
            artifact_type: None,
            config: None,
            layers: vec![layer.clone()],
            manifests: vec![],
            subject: Some(subject.clone()),
            annotations: BTreeMap::new(),
        };
        scope.add_manifest_content(&sig.digest, &m);
        assert_eq!(scope.blob(&layer_d).unwrap(), layer);

        // Referrers of referrers, up to the depth limit.
        let (d, depth) = scope.check_referrers(&subject.digest.to_string()).unwrap();
        assert_eq!((d, depth), (subject.digest.clone(), 0));
        scope.add_referrers(0, std::slice::from_ref(&sbom));
        assert!(scope.manifest(&sbom.digest.to_string()).is_ok());
        let (_, depth) = scope.check_referrers(&sbom.digest.to_string()).unwrap();
        scope.add_referrers(depth, std::slice::from_ref(&sbom_sig));
        assert!(matches!(
            scope.check_referrers(&sbom_sig.digest.to_string()),
            Err(ScopeError::TooDeep(_, 2))
        ));

        // Made-up digests and garbage are refused.
        let stranger = Digest::sha256_of(b"not in the graph").to_string();
        assert!(matches!(
            scope.manifest(&stranger),
            Err(ScopeError::NotAManifest(_))
        ));
        assert!(matches!(
            scope.check_referrers("../../etc"),
            Err(ScopeError::BadDigest(_))
        ));
    }
}
