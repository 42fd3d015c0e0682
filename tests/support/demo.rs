//! The committed demo (`examples/`, made by `cargo xtask example`) as test data: its config, and
//! a push of its layout into a real registry the way `oras copy` would.

use std::path::{Path, PathBuf};

use vouch::config::Config;
use vouch::oci::layout::REF_NAME_ANNOTATION;
use vouch::oci::{Descriptor, Manifest, OciLayout};

use super::registry::Registry;

/// The repository the demo is pushed to.
pub const REPO: &str = "demo";

/// The workspace's `examples/` directory.
pub fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// The demo config with each verifier's path given by `wasm` (e.g. the freshly built `.wasm`).
pub fn demo_config(wasm: impl Fn(&str) -> PathBuf) -> Config {
    let mut config =
        Config::load(&examples().join("vouch.yaml")).expect("examples/vouch.yaml loads");
    for v in &mut config.verifiers {
        v.path = wasm(&v.name);
    }
    config
}

/// Push every image and referrer of the demo layout to `registry` under [`REPO`].
pub async fn push_demo(registry: &Registry) {
    push_layout(registry, &examples().join("demo-layout"), REPO).await;
}

/// Push every image (by tag) and referrer (by digest, plus its tag-schema fallback index) of the
/// layout at `dir` to `repo`.
pub async fn push_layout(registry: &Registry, dir: &Path, repo: &str) {
    let layout = OciLayout::open(dir).unwrap();
    let index = layout.index().unwrap();
    let mut referrers: Vec<(Descriptor, Descriptor)> = Vec::new();
    for entry in &index.manifests {
        let bytes = layout.read_blob(entry, 4 << 20).unwrap();
        let manifest = Manifest::parse(&bytes).unwrap();
        for blob in manifest.blobs() {
            let data = layout.read_blob(blob, 32 << 20).unwrap();
            registry.push_blob(repo, &blob.media_type, &data).await;
        }
        let reference = match entry.annotations.get(REF_NAME_ANNOTATION) {
            Some(tag) => tag.clone(),
            None => entry.digest.to_string(),
        };
        let desc = registry
            .push_manifest(repo, &reference, &bytes, &entry.media_type)
            .await;
        if let Some(subject) = manifest.subject {
            referrers.push((subject, desc));
        }
    }
    // Fallback indexes last: the registry checks that an index's children exist.
    for (subject, referrer) in referrers {
        registry
            .push_referrer_fallback(repo, &subject.digest, &referrer)
            .await;
    }
}
