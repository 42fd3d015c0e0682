//! `RegistryStore` against a real registry (Debian's docker-registry, distribution 2.8.2: no
//! referrers API, so referrers come from the tag-schema fallback) and against the test registry
//! for what distribution 2.8 lacks (referrers API pagination, bearer tokens).

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::sync::Arc;
use std::time::Duration;

use support::fake::TestRegistry;
use support::registry::Registry;
use vouch::oci::manifest::{OCI_INDEX, OCI_MANIFEST};
use vouch::oci::registry::auth::Credentials;
use vouch::oci::registry::retry::RetryPolicy;
use vouch::oci::registry::{RegistryClient, RegistryConfig};
use vouch::oci::{Descriptor, Manifest, Reference};
use vouch::store::registry::RegistryStore;
use vouch::store::{StoreAccess, StoreError};

const SIG: &str = "application/vnd.cncf.notary.signature";
const SBOM: &str = "application/spdx+json";

fn config() -> RegistryConfig {
    RegistryConfig {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
        },
        ..RegistryConfig::default()
    }
}

fn store(client: &Arc<RegistryClient>, host: &str, repo: &str) -> RegistryStore {
    let r: Reference = format!("{host}/{repo}:latest").parse().unwrap();
    RegistryStore::new(client.clone(), r)
}

fn digests(list: &[Descriptor]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|d| d.digest.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn real_registry_resolve_fetch_and_fallback_referrers() {
    let reg = Registry::start();
    let repo = "team/app";
    let image = reg.push_image(repo, "v1", b"layer bytes").await;
    let sig = reg
        .push_referrer(repo, &image, SIG, "application/jose+json", b"{\"sig\":1}")
        .await;
    let sbom = reg
        .push_referrer(
            repo,
            &image,
            SBOM,
            "application/spdx+json",
            b"{\"spdx\":true}",
        )
        .await;
    // Nested: a signature on the SBOM.
    let sbom_sig = reg
        .push_referrer(repo, &sbom, SIG, "application/jose+json", b"{\"sig\":2}")
        .await;

    let client = Arc::new(RegistryClient::new(config()).unwrap());
    let s = store(&client, &reg.host(), repo);

    let resolved = s.resolve("v1").await.unwrap();
    assert_eq!(resolved.digest, image.digest);
    assert_eq!(resolved.size, image.size);
    assert_eq!(resolved.media_type, OCI_MANIFEST);
    let by_digest = s.resolve(&image.digest.to_string()).await.unwrap();
    assert_eq!(by_digest.digest, image.digest);
    let missing = s.resolve("nope").await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");

    let all = s.list_referrers(&image.digest, None).await.unwrap();
    assert_eq!(digests(&all), digests(&[sig.clone(), sbom.clone()]));
    let only_sig = s.list_referrers(&image.digest, Some(SIG)).await.unwrap();
    assert_eq!(digests(&only_sig), digests(std::slice::from_ref(&sig)));
    assert_eq!(only_sig[0].artifact_type.as_deref(), Some(SIG));
    let none = s
        .list_referrers(&image.digest, Some("application/vnd.none"))
        .await
        .unwrap();
    assert!(none.is_empty());
    let nested = s.list_referrers(&sbom.digest, None).await.unwrap();
    assert_eq!(digests(&nested), digests(&[sbom_sig]));
    // A subject without referrers: no fallback tag, an empty list (not an error).
    let lonely = s.list_referrers(&sig.digest, None).await.unwrap();
    assert!(lonely.is_empty());

    let sbom_bytes = s.get_manifest(&sbom).await.unwrap();
    let sbom_manifest = Manifest::parse(&sbom_bytes).unwrap();
    assert_eq!(sbom_manifest.subject.unwrap().digest, image.digest);
    let layer = &sbom_manifest.layers[0];
    let payload = s.get_blob(layer).await.unwrap();
    assert_eq!(&payload[..], b"{\"spdx\":true}");

    // A descriptor whose digest names other content is refused, naming both digests.
    let mut lying = layer.clone();
    lying.digest = sbom_manifest.config.as_ref().unwrap().digest.clone();
    let err = s.get_blob(&lying).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Invalid(_) | StoreError::DigestMismatch { .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn real_registry_basic_auth() {
    let reg = Registry::start_with_basic_auth("alice", "correct horse");
    let image = reg.push_image("private/app", "v1", b"secret layer").await;

    let with = |password: &str| {
        Arc::new(
            RegistryClient::new(RegistryConfig {
                credentials: Some(Credentials {
                    username: "alice".into(),
                    password: password.into(),
                }),
                ..config()
            })
            .unwrap(),
        )
    };
    let ok = store(&with("correct horse"), &reg.host(), "private/app");
    assert_eq!(ok.resolve("v1").await.unwrap().digest, image.digest);
    let bytes = ok.get_manifest(&image).await.unwrap();
    assert_eq!(Manifest::parse(&bytes).unwrap().layers.len(), 1);

    let bad = store(&with("wrong"), &reg.host(), "private/app");
    let err = bad.resolve("v1").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("unauthorized")),
        "{err}"
    );
    let anonymous = store(
        &Arc::new(RegistryClient::new(config()).unwrap()),
        &reg.host(),
        "private/app",
    );
    let err = anonymous.get_manifest(&image).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("unauthorized")),
        "{err}"
    );
}

#[tokio::test]
async fn real_registry_docker_config_credentials() {
    let reg = Registry::start_with_basic_auth("bob", "pw");
    let image = reg.push_image("app", "v1", b"x").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"auths":{{"http://{}":{{"auth":"Ym9iOnB3"}}}}}}"#,
            reg.host()
        ),
    )
    .unwrap();
    let client = Arc::new(
        RegistryClient::new(RegistryConfig {
            docker_config: Some(path),
            ..config()
        })
        .unwrap(),
    );
    let s = store(&client, &reg.host(), "app");
    assert_eq!(s.resolve("v1").await.unwrap().digest, image.digest);
}

/// The CLI reads the user's Docker credentials (`$DOCKER_CONFIG/config.json`) as docker, oras,
/// notation and cosign do, without a config file naming them; without them the registry refuses.
#[tokio::test]
async fn the_cli_reads_the_users_docker_credentials() {
    let reg = Registry::start_with_basic_auth("bob", "pw");
    let image = reg.push_image("app", "v1", b"x").await;
    let docker = tempfile::tempdir().unwrap();
    std::fs::write(
        docker.path().join("config.json"),
        format!(
            r#"{{"auths":{{"http://{}":{{"auth":"Ym9iOnB3"}}}}}}"#,
            reg.host()
        ),
    )
    .unwrap();
    let subject = reg.reference("app", "v1");
    let args = ["discover", subject.as_str(), "-o", "json"];
    let (code, out, err) = cli::vouch_env(&args, &[("DOCKER_CONFIG", docker.path())]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&image.digest.to_string()), "{out}");
    let (code, out, err) = cli::vouch(&args);
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(err.contains("unauthorized") || err.contains("401"), "{err}");
}

#[tokio::test]
async fn reads_what_an_independent_client_pushed() {
    use oci_client::client::{ClientConfig, ClientProtocol};
    use oci_client::secrets::RegistryAuth;

    let reg = Registry::start();
    let oci = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let r = oci_client::Reference::try_from(format!("{}/indep/app:v2", reg.host())).unwrap();
    oci.auth(
        &r,
        &RegistryAuth::Anonymous,
        oci_client::RegistryOperation::Push,
    )
    .await
    .unwrap();
    let layer = b"pushed by oci-client".to_vec();
    let config_blob = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer_digest = oci_client::client::ImageLayer::oci_v1(layer.clone(), None).sha256_digest();
    let result = oci
        .push(
            &r,
            &[oci_client::client::ImageLayer::oci_v1(layer.clone(), None)],
            oci_client::client::Config::oci_v1(config_blob, None),
            &RegistryAuth::Anonymous,
            None,
        )
        .await
        .unwrap();

    let client = Arc::new(RegistryClient::new(config()).unwrap());
    let s = store(&client, &reg.host(), "indep/app");
    let desc = s.resolve("v2").await.unwrap();
    assert!(result.manifest_url.contains(&desc.digest.to_string()));
    let manifest = Manifest::parse(&s.get_manifest(&desc).await.unwrap()).unwrap();
    assert_eq!(manifest.layers[0].digest.to_string(), layer_digest);
    assert_eq!(
        &s.get_blob(&manifest.layers[0]).await.unwrap()[..],
        &layer[..]
    );
}

/// Five referrers: three signatures and two SBOMs.
fn seed_referrers(reg: &TestRegistry, repo: &str) -> (Descriptor, Vec<Descriptor>) {
    let image = reg.put_manifest(
        repo,
        Some("v1"),
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#,
        OCI_MANIFEST,
    );
    let mut refs = Vec::new();
    for (i, at) in [SIG, SIG, SIG, SBOM, SBOM].iter().enumerate() {
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": at,
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": image.size},
            "annotations": {"n": i.to_string()},
        });
        refs.push(reg.put_manifest(repo, None, m.to_string().as_bytes(), OCI_MANIFEST));
    }
    (image, refs)
}

#[tokio::test]
async fn referrers_api_with_pagination_and_filter() {
    let reg = TestRegistry::start().await;
    let (image, refs) = seed_referrers(&reg, "paged");
    reg.behave(|b| b.page_size = 2);
    let client = Arc::new(RegistryClient::new(config()).unwrap());
    let s = store(&client, &reg.host(), "paged");

    let all = s.list_referrers(&image.digest, None).await.unwrap();
    assert_eq!(digests(&all), digests(&refs));
    assert_eq!(reg.referrer_requests(), 3, "5 referrers in pages of 2");
    assert!(all.iter().all(|d| d.annotations.contains_key("n")));

    let sigs = s.list_referrers(&image.digest, Some(SIG)).await.unwrap();
    assert_eq!(sigs.len(), 3);
    assert!(sigs.iter().all(|d| d.artifact_type.as_deref() == Some(SIG)));

    // A registry that ignores the filter: the client filters anyway.
    reg.behave(|b| {
        b.ignore_artifact_type_filter = true;
        b.page_size = 0;
    });
    let sboms = s.list_referrers(&image.digest, Some(SBOM)).await.unwrap();
    assert_eq!(sboms.len(), 2);
    assert!(
        sboms
            .iter()
            .all(|d| d.artifact_type.as_deref() == Some(SBOM))
    );

    // And without the API, the (absent) fallback tag means no referrers.
    reg.behave(|b| b.no_referrers_api = true);
    assert!(
        s.list_referrers(&image.digest, None)
            .await
            .unwrap()
            .is_empty()
    );
    // The 404 is remembered: later lists go straight to the fallback tag.
    let before = reg.referrer_requests();
    for _ in 0..3 {
        assert!(
            s.list_referrers(&image.digest, None)
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(
        reg.referrer_requests(),
        before,
        "no referrers API probe after a 404"
    );
}

#[tokio::test]
async fn bearer_token_is_reused_and_renewed_once_on_401() {
    let reg = TestRegistry::start().await;
    let (image, _) = seed_referrers(&reg, "private");
    let index = reg.put_manifest(
        "private",
        Some("idx"),
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
        OCI_INDEX,
    );
    reg.behave(|b| b.require_token = true);
    let client = Arc::new(RegistryClient::new(config()).unwrap());
    let s = store(&client, &reg.host(), "private");

    assert_eq!(s.resolve("v1").await.unwrap().digest, image.digest);
    assert_eq!(reg.token_requests(), 1);
    s.get_manifest(&image).await.unwrap();
    s.list_referrers(&image.digest, None).await.unwrap();
    assert_eq!(s.resolve("idx").await.unwrap().digest, index.digest);
    assert_eq!(reg.token_requests(), 1, "the cached token is reused");

    reg.revoke_tokens();
    let before = reg.requests();
    s.get_manifest(&image).await.unwrap();
    assert_eq!(
        reg.token_requests(),
        2,
        "a rejected token is evicted and renewed once"
    );
    // rejected request + token + retried request
    assert_eq!(reg.requests() - before, 3);
}
