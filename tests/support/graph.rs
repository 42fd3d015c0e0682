//! The referrer graph the executor and policy tests verify, in an OCI layout on disk: image `v1`
//! with a signature and an SPDX SBOM, a signature on the SBOM, and image `bare` with no
//! referrers. Include beside `support/layout.rs` (declared as `mod layout` at the crate root).

use std::sync::Arc;

use vouch::executor::SubjectSource;
use vouch::oci::Descriptor;
use vouch::store::layout::LayoutStore;
use vouch::store::sources::subject_name;

use crate::layout::LayoutBuilder;

/// Artifact type of the signatures.
pub const SIG_TYPE: &str = "application/vnd.cncf.notary.signature";
/// Artifact type of the SBOM.
pub const SBOM_TYPE: &str = "application/spdx+json";

/// The graph and where it lives.
pub struct Graph {
    /// The layout's directory.
    pub dir: tempfile::TempDir,
    /// Image `v1`.
    pub subject: Descriptor,
    /// `v1`'s signature.
    pub signature: Descriptor,
    /// `v1`'s SBOM.
    pub sbom: Descriptor,
    /// The SBOM's signature.
    pub sbom_signature: Descriptor,
}

impl Graph {
    /// Write the graph to a new temporary directory.
    pub fn new() -> Graph {
        let dir = tempfile::tempdir().unwrap();
        let mut b = LayoutBuilder::new(dir.path());
        assert_eq!(b.root(), dir.path());
        let subject = b.image("v1", &[b"layer one"]);
        let signature = b.referrer(
            &subject,
            SIG_TYPE,
            &[("application/jose+json", b"{\"payload\":\"x\"}")],
            &[],
        );
        let sbom = b.referrer(
            &subject,
            SBOM_TYPE,
            &[("application/spdx+json", b"{\"spdxVersion\":\"SPDX-2.3\"}")],
            &[],
        );
        let sbom_signature = b.referrer(&sbom, SIG_TYPE, &[("application/jose+json", b"{}")], &[]);
        b.image("bare", &[b"another layer"]);
        b.finish();
        Graph {
            dir,
            subject,
            signature,
            sbom,
            sbom_signature,
        }
    }

    /// The subject `tag_or_digest` of the layout, as the executor reads it.
    pub fn source(&self, tag_or_digest: &str) -> SubjectSource {
        let store = LayoutStore::open(self.dir.path(), Default::default()).unwrap();
        let reference = format!("{}:{tag_or_digest}", self.dir.path().display());
        SubjectSource {
            store: Arc::new(store),
            scope: format!("oci-layout:{}", self.dir.path().display()),
            tag_or_digest: tag_or_digest.to_owned(),
            name: subject_name(&reference).to_owned(),
            reference,
        }
    }
}
