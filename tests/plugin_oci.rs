//! Verifiers shipped as OCI artifacts, against a real registry (Debian's `docker-registry`, which
//! has no referrers API, so signatures are found through the `sha256-<hex>` tag fallback) and the
//! real verifier components built by `cargo xtask guests`: push/pull round trips, tag pinning,
//! required signatures (valid, missing, wrong key, tampered), refused artifacts, a config with
//! `oci://` verifiers verifying the demo through `app::load_verifiers` (and again from the
//! disk cache with the registry gone), and the `vouch plugin` commands of the binary.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use support::registry::Registry;
use vouch::config::Config;

use vouch::app::{ExecutorError, build};
use vouch::oci::manifest::OCI_MANIFEST;
use vouch::oci::registry::{RegistryClient, RegistryConfig};
use vouch::oci::{Digest, Manifest};
use vouch::plugin::{
    ANNOTATION_ARTIFACT_TYPES, ANNOTATION_NAME, ANNOTATION_TITLE, ANNOTATION_VERSION,
    COSIGN_SIGNATURE_ANNOTATION, PLUGIN_ARTIFACT_TYPE, PluginClient, PluginError, SigningKey,
    VerifyingKeys, WASM_LAYER, load_plugin, plugin_artifact, signature_artifact,
};
use vouch::runtime::{Limits, Runtime, RuntimeConfig, VerifierMetadata};

/// A runtime whose compile cache is shared by every test of this file (and its runs), so each
/// component is compiled once.
fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_instances: 16,
        max_concurrency: 16,
        compile_cache_dir: Some(
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin_oci-compile-cache"),
        ),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

fn store() -> PluginClient {
    PluginClient::new(
        Arc::new(RegistryClient::new(RegistryConfig::default()).unwrap()),
        None,
    )
}

async fn metadata_of(runtime: &Runtime, wasm: &Path) -> VerifierMetadata {
    runtime
        .load_file("probe", wasm, Limits::default())
        .await
        .unwrap()
        .metadata()
        .clone()
}

/// Push `wasm` to `reference`, reading its metadata with the runtime as the CLI does.
async fn push(
    store: &PluginClient,
    runtime: &Runtime,
    wasm: &Path,
    reference: &str,
    key: Option<&SigningKey>,
) -> vouch::plugin::PushedPlugin {
    let md = metadata_of(runtime, wasm).await;
    let bytes = Bytes::from(std::fs::read(wasm).unwrap());
    let title = wasm.file_name().unwrap().to_str().unwrap();
    store.push(reference, bytes, &md, title, key).await.unwrap()
}

/// A key pair in `dir`: (signing key, verifying keys, public key path).
fn key_pair(dir: &Path, name: &str) -> (SigningKey, VerifyingKeys, PathBuf) {
    let (private, public) = SigningKey::generate_pem().unwrap();
    let private_path = dir.join(format!("{name}.key"));
    let public_path = dir.join(format!("{name}.pub"));
    std::fs::write(&private_path, private).unwrap();
    std::fs::write(&public_path, public).unwrap();
    (
        SigningKey::load(&private_path).unwrap(),
        VerifyingKeys::load(&public_path).unwrap(),
        public_path,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_round_trips_and_tags_are_pinned() {
    let registry = Registry::start();
    let runtime = runtime();
    let store = store();
    let sbom = guests::verifier("sbom");
    let vuln = guests::verifier("vuln");
    let sbom_bytes = std::fs::read(&sbom).unwrap();
    let md = metadata_of(&runtime, &sbom).await;

    let reference = format!("oci://{}", registry.reference("plugins/v", "v1"));
    let pushed = push(&store, &runtime, &sbom, &reference, None).await;
    assert!(pushed.signature.is_none() && pushed.fallback_index.is_none());
    assert_eq!(pushed.reference.digest(), Some(&pushed.manifest.digest));

    // The manifest in the registry, read independently: artifact type, layer, annotations.
    let raw = reqwest::Client::new()
        .get(format!(
            "{}/v2/plugins/v/manifests/{}",
            registry.url(),
            pushed.manifest.digest
        ))
        .header(reqwest::header::ACCEPT, OCI_MANIFEST)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(Digest::sha256_of(&raw), pushed.manifest.digest);
    let m = Manifest::parse(&raw).unwrap();
    assert_eq!(m.artifact_type.as_deref(), Some(PLUGIN_ARTIFACT_TYPE));
    assert_eq!(m.layers.len(), 1);
    assert_eq!(m.layers[0].media_type, WASM_LAYER);
    assert_eq!(m.layers[0].digest, Digest::sha256_of(&sbom_bytes));
    assert_eq!(m.annotations[ANNOTATION_NAME], md.name);
    assert_eq!(m.annotations[ANNOTATION_VERSION], md.version);
    assert_eq!(
        m.annotations[ANNOTATION_ARTIFACT_TYPES],
        md.artifact_types.join(",")
    );
    assert_eq!(m.annotations[ANNOTATION_TITLE], "verifier_sbom.wasm");

    // Pull by tag: pinned to the pushed digest, the same bytes, and it loads as a verifier.
    let pulled = store.pull(&reference, None).await.unwrap();
    assert_eq!(pulled.reference.digest(), Some(&pushed.manifest.digest));
    assert_eq!(pulled.wasm.as_ref(), sbom_bytes.as_slice());
    assert_eq!(pulled.annotations[ANNOTATION_NAME], md.name);
    assert!(pulled.signed_by.is_none() && !pulled.from_cache);
    let v = load_plugin(&runtime, "sbom", &pulled, Limits::default())
        .await
        .unwrap();
    assert_eq!(v.metadata(), &md);
    assert_eq!(v.module_digest(), &Digest::sha256_of(&sbom_bytes));
    // Compiled once: the pusher's load already compiled this module digest.
    assert!(v.compiled_from_cache());

    // Moving the tag changes what the tag resolves to, not what the old digest names.
    let old_pin = format!("oci://{}", pulled.reference);
    let moved = push(&store, &runtime, &vuln, &reference, None).await;
    assert_ne!(moved.manifest.digest, pushed.manifest.digest);
    let by_tag = store.pull(&reference, None).await.unwrap();
    assert_eq!(by_tag.reference.digest(), Some(&moved.manifest.digest));
    let by_old_digest = store.pull(&old_pin, None).await.unwrap();
    assert_eq!(by_old_digest.wasm.as_ref(), sbom_bytes.as_slice());

    // Pushing to a digest that is not the manifest's is refused before anything is sent.
    let wrong = format!(
        "{}/plugins/v@{}",
        registry.host(),
        Digest::sha256_of(b"not it")
    );
    let e = store
        .push(&wrong, Bytes::from(sbom_bytes.clone()), &md, "x.wasm", None)
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::DigestMismatch { .. }), "{e}");

    // Pushing the same component again is idempotent (same digest; blobs are not re-uploaded).
    let again = push(
        &store,
        &runtime,
        &sbom,
        &registry.reference("plugins/v", "v2"),
        None,
    )
    .await;
    assert_eq!(again.manifest.digest, pushed.manifest.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_signatures_are_checked() {
    let registry = Registry::start();
    let runtime = runtime();
    let store = store();
    let dir = tempfile::tempdir().unwrap();
    let (key, keys, _) = key_pair(dir.path(), "good");
    let (_, other_keys, _) = key_pair(dir.path(), "other");
    let sbom = guests::verifier("sbom");

    // Signed: a cosign referrer, and the fallback index because this registry has no API.
    let signed_ref = registry.reference("plugins/signed", "v1");
    let pushed = push(&store, &runtime, &sbom, &signed_ref, Some(&key)).await;
    let sig = pushed.signature.clone().unwrap();
    assert!(pushed.fallback_index.is_some());
    let referrers = store
        .client()
        .referrers(
            &vouch::oci::Reference::parse(&signed_ref).unwrap(),
            &pushed.manifest.digest,
            None,
        )
        .await
        .unwrap();
    assert_eq!(referrers.len(), 1);
    assert_eq!(referrers[0].digest, sig.digest);

    let ok = store.pull(&signed_ref, Some(&keys)).await.unwrap();
    assert!(ok.signed_by.unwrap().contains("good.pub"));

    // The wrong key: refused, naming the reference and the key file.
    let e = store
        .pull(&signed_ref, Some(&other_keys))
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::BadSignature { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("plugins/signed") && text.contains("other.pub"),
        "{text}"
    );

    // Unsigned: refused when a signature is required, fine otherwise.
    let unsigned_ref = registry.reference("plugins/unsigned", "v1");
    push(&store, &runtime, &sbom, &unsigned_ref, None).await;
    let e = store.pull(&unsigned_ref, Some(&keys)).await.unwrap_err();
    assert!(matches!(e, PluginError::NoSignature { .. }), "{e}");
    assert!(e.to_string().contains("plugins/unsigned"), "{e}");
    store.pull(&unsigned_ref, None).await.unwrap();

    // Tampered: a signature referrer whose signature bytes were altered.
    let tampered_ref = registry.reference("plugins/tampered", "v1");
    let target = vouch::oci::Reference::parse(&tampered_ref).unwrap();
    let plain = push(&store, &runtime, &sbom, &tampered_ref, None).await;
    let mut forged = signature_artifact(&target.name(), &plain.manifest, &key).unwrap();
    let layer = &mut forged.blobs[1].0;
    let sig_b64 = layer.annotations[COSIGN_SIGNATURE_ANNOTATION].clone();
    let mut raw_sig = base64::engine::general_purpose::STANDARD
        .decode(sig_b64)
        .unwrap();
    let last = raw_sig.len() - 1;
    raw_sig[last] ^= 0x01;
    layer.annotations.insert(
        COSIGN_SIGNATURE_ANNOTATION.into(),
        base64::engine::general_purpose::STANDARD.encode(raw_sig),
    );
    let mut manifest = Manifest::parse(&forged.manifest).unwrap();
    manifest.layers[0] = forged.blobs[1].0.clone();
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    for (desc, data) in &forged.blobs {
        store.client().push_blob(&target, desc, data).await.unwrap();
    }
    let sig_desc = store
        .client()
        .push_manifest(
            &target,
            &Digest::sha256_of(&bytes).to_string(),
            OCI_MANIFEST,
            &bytes,
        )
        .await
        .unwrap()
        .descriptor;
    store
        .client()
        .push_referrer_fallback(&target, &plain.manifest.digest, &sig_desc)
        .await
        .unwrap();
    let e = store.pull(&tampered_ref, Some(&keys)).await.unwrap_err();
    assert!(matches!(e, PluginError::BadSignature { .. }), "{e}");
    assert!(e.to_string().contains("signature"), "{e}");

    // A signature of another plugin, re-attached here, signs the wrong digest.
    let moved_ref = registry.reference("plugins/moved", "v1");
    let moved_target = vouch::oci::Reference::parse(&moved_ref).unwrap();
    let moved = push(
        &store,
        &runtime,
        &guests::verifier("vuln"),
        &moved_ref,
        None,
    )
    .await;
    let borrowed = signature_artifact(&moved_target.name(), &pushed.manifest, &key).unwrap();
    for (desc, data) in &borrowed.blobs {
        store
            .client()
            .push_blob(&moved_target, desc, data)
            .await
            .unwrap();
    }
    let borrowed_desc = store
        .client()
        .push_manifest(
            &moved_target,
            &borrowed.descriptor.digest.to_string(),
            OCI_MANIFEST,
            &borrowed.manifest,
        )
        .await
        .unwrap()
        .descriptor;
    store
        .client()
        .push_referrer_fallback(&moved_target, &moved.manifest.digest, &borrowed_desc)
        .await
        .unwrap();
    let e = store.pull(&moved_ref, Some(&keys)).await.unwrap_err();
    assert!(
        matches!(e, PluginError::BadSignature { .. }) && e.to_string().contains("not sha256:"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_that_are_not_verifiers_are_refused() {
    let registry = Registry::start();
    let runtime = runtime();
    let store = store();

    // An ordinary image.
    registry.push_image("plugins/image", "v1", b"layer").await;
    let e = store
        .pull(&registry.reference("plugins/image", "v1"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::WrongArtifactType { .. }), "{e}");
    assert!(e.to_string().contains("plugins/image"), "{e}");

    // A verifier artifact whose layer is not a component: pulled, then refused by the runtime.
    let md = VerifierMetadata {
        name: "junk".into(),
        version: "0".into(),
        artifact_types: vec!["*".into()],
        config_schema: None,
    };
    let junk_ref = registry.reference("plugins/junk", "v1");
    store
        .push(
            &junk_ref,
            Bytes::from_static(b"\0asm but not really"),
            &md,
            "junk.wasm",
            None,
        )
        .await
        .unwrap();
    let pulled = store.pull(&junk_ref, None).await.unwrap();
    let e = load_plugin(&runtime, "junk", &pulled, Limits::default())
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::NotAComponent { .. }), "{e}");
    assert!(e.to_string().contains("plugins/junk"), "{e}");

    // An artifact of the right type with two layers.
    let target = vouch::oci::Reference::parse(&junk_ref).unwrap();
    let a = plugin_artifact(Bytes::from_static(b"x"), &md, "x.wasm");
    let mut m = Manifest::parse(&a.manifest).unwrap();
    m.layers.push(m.layers[0].clone());
    for (desc, data) in &a.blobs {
        store.client().push_blob(&target, desc, data).await.unwrap();
    }
    let bytes = Bytes::from(serde_json::to_vec(&m).unwrap());
    store
        .client()
        .push_manifest(&target, "two", OCI_MANIFEST, &bytes)
        .await
        .unwrap();
    let e = store
        .pull(&registry.reference("plugins/junk", "two"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::Layers { .. }), "{e}");

    // Missing tag: a registry error naming the reference.
    let e = store
        .pull(&registry.reference("plugins/junk", "nope"), None)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("plugins/junk") && e.to_string().contains("not found"),
        "{e}"
    );
}

/// Push every demo verifier as a signed plugin and write a config that names them by `oci://`
/// references (tags), with the public key and a disk cache relative to the config file.
async fn oci_demo_config(registry: &Registry, dir: &Path) -> (PathBuf, Vec<Digest>) {
    let runtime = runtime();
    let store = store();
    let (key, _, public) = key_pair(dir, "plugins");
    let mut config = support::demo::demo_config(guests::verifier);
    let mut modules = Vec::new();
    for v in &mut config.verifiers {
        let wasm = guests::verifier(&v.name);
        modules.push(Digest::sha256_of(&std::fs::read(&wasm).unwrap()));
        let reference = registry.reference(&format!("plugins/{}", v.name), "1.0");
        push(&store, &runtime, &wasm, &reference, Some(&key)).await;
        v.path = PathBuf::from(format!("oci://{reference}"));
        v.signature_key = Some(PathBuf::from(public.file_name().unwrap()));
    }
    config.stores.disk_cache = Some(PathBuf::from("cache"));
    let path = dir.join("vouch.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    (path, modules)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_with_oci_verifiers_loads_and_verifies() {
    let registry = Registry::start();
    support::demo::push_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, modules) = oci_demo_config(&registry, dir.path()).await;

    let config = Config::load(&path).unwrap();
    let runtime = runtime();
    let exec = build::executor(&runtime, &config, "").await.unwrap();
    let loaded: Vec<Digest> = exec
        .verifiers()
        .iter()
        .map(|v| v.verifier.module_digest().clone())
        .collect();
    assert_eq!(loaded, modules);
    let sources = build::sources(&config, None).unwrap();
    let subject = registry.reference(support::demo::REPO, "v1");
    let report = exec.verify(sources.registry(&subject).unwrap()).await;
    assert!(
        report.is_success,
        "{}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    assert!(report.verifier_reports.len() >= 4);

    // The pulled components are in the disk cache: pinned by digest and without signature
    // requirements, they load with the registry gone.
    let mut offline = config.clone();
    for v in &mut offline.verifiers {
        let reference = v.path.to_str().unwrap().to_owned();
        let pulled = store().pull(&reference, None).await.unwrap();
        v.path = PathBuf::from(format!("oci://{}", pulled.reference));
        v.signature_key = None;
    }
    drop(registry);
    let again = vouch::app::load_verifiers(&runtime, &offline)
        .await
        .unwrap();
    assert_eq!(again.len(), modules.len());

    // A required signature cannot be checked without the registry: refused, naming the entry.
    let mut needs_sig = offline.clone();
    needs_sig.verifiers[0].signature_key = config.verifiers[0].signature_key.clone();
    let e = vouch::app::load_verifiers(&runtime, &needs_sig)
        .await
        .unwrap_err();
    assert!(matches!(e, ExecutorError::Plugin { index: 0, .. }), "{e}");
    assert!(e.to_string().contains("verifiers[0]"), "{e}");
}

/// A tenant pulls its `oci://` verifiers through the registry client and disk cache its subjects
/// are read with (one of each per tenant, not a second pair opened for the plugins): the pulls
/// show in that client's request counts, and the disk cache the tenant was given holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_pull_plugins_through_their_own_client_and_disk_cache() {
    use vouch::server::tenants::TenantSet;
    use vouch::store::disk::{DiskCache, DiskCacheConfig};

    let registry = Registry::start();
    support::demo::push_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = oci_demo_config(&registry, dir.path()).await;
    let config = Config::load(&path).unwrap();
    let disk = DiskCache::open(dir.path().join("cache"), DiskCacheConfig::default())
        .await
        .unwrap();
    let set = TenantSet::build(&config, Some(&disk)).await.unwrap();
    let tenant = set.iter().next().unwrap();
    let requests: u64 = tenant
        .sources()
        .client()
        .request_counts()
        .iter()
        .map(|(_, _, n)| n)
        .sum();
    assert!(
        requests >= config.verifiers.len() as u64,
        "the plugin pulls went through another client: {:?}",
        tenant.sources().client().request_counts()
    );
    disk.flush(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        disk.stats().entries >= config.verifiers.len(),
        "{:?}",
        disk.stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_signed_by_another_key_is_not_started() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let (key, _, _) = key_pair(dir.path(), "signer");
    let (_, _, trusted) = key_pair(dir.path(), "trusted");
    let reference = registry.reference("plugins/sbom", "v1");
    push(
        &store(),
        &runtime,
        &guests::verifier("sbom"),
        &reference,
        Some(&key),
    )
    .await;
    let yaml = format!(
        "verifiers:\n  - name: sbom\n    path: oci://{reference}\n    signatureKey: {}\n",
        trusted.file_name().unwrap().to_str().unwrap()
    );
    let path = dir.path().join("vouch.yaml");
    std::fs::write(&path, yaml).unwrap();
    let config = Config::load(&path).unwrap();
    let e = vouch::app::load_verifiers(&runtime, &config)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("verifiers[0]")
            && text.contains("plugins/sbom")
            && text.contains("trusted.pub"),
        "{text}"
    );
}

/// Run the `vouch` binary.
fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

#[test]
fn config_validates_oci_verifiers() {
    let parse = |text: &str| Config::parse(text, false, Path::new("vouch.yaml"));
    let ok = parse(
        "verifiers:\n  - { name: a, path: \"oci://127.0.0.1:5000/p/a:v1\", signatureKey: k.pub }\n",
    )
    .unwrap();
    assert_eq!(
        ok.verifiers[0].signature_key.as_deref(),
        Some(Path::new("k.pub"))
    );
    let e = parse("verifiers:\n  - { name: a, path: a.wasm, signatureKey: k.pub }\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("verifiers[0].signatureKey"), "{e}");
    let e = parse("verifiers:\n  - { name: a, path: \"oci://Bad/Ref:x\" }\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("verifiers[0].path"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vouch_binary_pushes_and_pulls_plugins() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();

    let keys = dir.path().join("keys");
    let out = run(&[&"plugin", &"keygen", &keys]);
    assert!(out.status.success(), "{out:?}");
    let private = keys.join("vouch-plugin.key");
    let public = keys.join("vouch-plugin.pub");

    let wasm = guests::verifier("vuln");
    let reference = format!("oci://{}", registry.reference("plugins/vuln", "v1"));
    let out = run(&[
        &"plugin",
        &"push",
        &wasm,
        &reference,
        &"--sign-key",
        &private,
    ]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("pushed") && stdout.contains("signature:"),
        "{stdout}"
    );

    let copy = dir.path().join("pulled.wasm");
    let out = run(&[
        &"plugin", &"pull", &reference, &"--key", &public, &"--out", &copy, &"--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let original = std::fs::read(&wasm).unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), original);
    assert!(
        json["signedBy"]
            .as_str()
            .unwrap()
            .contains("vouch-plugin.pub")
    );
    assert!(json["reference"].as_str().unwrap().contains("@sha256:"));
    assert_eq!(
        json["metadata"]["name"],
        json["annotations"][ANNOTATION_NAME]
    );

    // Another key: refused with exit code 1 and a message naming the reference.
    let other = dir.path().join("other");
    assert!(run(&[&"plugin", &"keygen", &other]).status.success());
    let out = run(&[
        &"plugin",
        &"pull",
        &reference,
        &"--key",
        &other.join("vouch-plugin.pub"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("plugins/vuln") && stderr.contains("no valid signature"),
        "{stderr}"
    );

    // Not a component: refused at push time, nothing pushed.
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").unwrap();
    let out = run(&[
        &"plugin",
        &"push",
        &junk,
        &registry.reference("plugins/junk", "v1"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("junk.wasm"),
        "{out:?}"
    );
}
