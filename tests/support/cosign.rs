//! cosign signatures on the test registry: an image pushed with its `sha256-<hex>.sig` tag.

use vouch::oci::Digest;
use vouch::oci::manifest::OCI_MANIFEST;
use xtask::fixtures::cosign::{Key, Layer, SIMPLE_SIGNING, simple_signing_payload, tag_manifest};

use super::registry::Registry;

/// Push an image `repo:tag` with layer `content`, signed by each of `signers` (one layer of
/// cosign's `.sig` manifest each; none: unsigned); returns its digest.
pub async fn signed_image(
    reg: &Registry,
    repo: &str,
    tag: &str,
    content: &[u8],
    signers: &[&Key],
) -> Digest {
    let image = reg.push_image(repo, tag, content).await;
    if signers.is_empty() {
        return image.digest;
    }
    let layers: Vec<_> = signers
        .iter()
        .map(|k| {
            let payload = simple_signing_payload("example.test/app", &image.digest.to_string());
            let l = Layer::key_signed(payload, k).expect("a key signs");
            (l.payload, l.annotations)
        })
        .collect();
    let m = tag_manifest(SIMPLE_SIGNING, &layers);
    for b in &m.blobs {
        reg.push_blob(repo, &b.media_type, &b.data).await;
    }
    let sig_tag = format!("{}.sig", image.digest.fallback_tag());
    reg.push_manifest(repo, &sig_tag, &m.manifest, OCI_MANIFEST)
        .await;
    image.digest
}
