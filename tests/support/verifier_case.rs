//! The harness the shipped-verifier tests share: one referrer of one image in a temporary OCI
//! layout, and a verifier compiled once per test binary (compiling is the slow part).

use std::borrow::Borrow;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::OnceCell;
use vouch::oci::Descriptor;
use vouch::runtime::{GuestReport, Limits, Runtime, RuntimeConfig, Verifier, VerifyInput};
use vouch::store::StoreAccess;
use vouch::store::layout::LayoutStore;

use crate::layout::LayoutBuilder;

/// A layout holding one image and one referrer of it.
pub struct Case {
    _dir: tempfile::TempDir,
    /// The layout as a store.
    pub store: Arc<dyn StoreAccess>,
    /// The image.
    pub subject: Descriptor,
    /// The referrer under judgement.
    pub artifact: Descriptor,
}

/// A referrer of `artifact_type` with `layers`.
pub fn case(artifact_type: &str, layers: &[(&str, &[u8])]) -> Case {
    case_annotated(artifact_type, layers, &[])
}

/// A referrer of `artifact_type` with `layers` and manifest `annotations`.
pub fn case_annotated(
    artifact_type: &str,
    layers: &[(&str, &[u8])],
    annotations: &[(&str, &str)],
) -> Case {
    case_of_annotated_image(&[], artifact_type, layers, annotations)
}

/// [`case_annotated`] of an image whose manifest carries `image_annotations`.
pub fn case_of_annotated_image(
    image_annotations: &[(&str, &str)],
    artifact_type: &str,
    layers: &[(&str, &[u8])],
    annotations: &[(&str, &str)],
) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path());
    let subject = b.image_annotated("v1", &[b"layer"], image_annotations);
    let artifact = b.referrer(&subject, artifact_type, layers, annotations);
    b.finish();
    let store = LayoutStore::open(dir.path(), Default::default()).unwrap();
    Case {
        _dir: dir,
        store: Arc::new(store),
        subject,
        artifact,
    }
}

/// The runtime and the verifier `name`, loaded once into `cell` for the whole test binary.
pub async fn shared(
    cell: &'static OnceCell<(Runtime, Verifier)>,
    name: &str,
) -> (Runtime, Verifier) {
    cell.get_or_init(|| async {
        let rt = Runtime::new(RuntimeConfig {
            max_instances: 16,
            max_concurrency: 16,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let v = rt
            .load_file(name, &crate::guests::verifier(name), Limits::default())
            .await
            .unwrap();
        (rt, v)
    })
    .await
    .clone()
}

/// Run the verifier on the case with `config` as given (no load-time check).
pub async fn verify_raw(rt: &Runtime, v: &Verifier, c: &Case, config: &str) -> GuestReport {
    rt.verify(
        v,
        VerifyInput {
            store: c.store.clone(),
            subject_reference: "example.test/app:v1".into(),
            subject: c.subject.clone(),
            artifact: c.artifact.clone(),
            config: config.into(),
            cpu_quota: None,
        },
    )
    .await
    .unwrap()
    .report
}

/// Check `config` as the engine does at load time, then run the verifier on the case.
pub async fn verify(
    rt: &Runtime,
    v: &Verifier,
    c: &Case,
    config: impl Borrow<Value>,
) -> GuestReport {
    let config = config.borrow().to_string();
    rt.check_config(v, &config).await.unwrap();
    verify_raw(rt, v, c, &config).await
}
