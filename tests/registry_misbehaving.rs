//! `RegistryStore` against a misbehaving registry: every case gives a clear error and returns no
//! bad bytes. Short timeouts and back-offs keep each test fast.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::fake::{StatusStorm, TestRegistry};
use vouch::oci::manifest::OCI_MANIFEST;
use vouch::oci::registry::retry::RetryPolicy;
use vouch::oci::registry::{RegistryClient, RegistryConfig};
use vouch::oci::{Descriptor, Digest, Reference};
use vouch::store::registry::RegistryStore;
use vouch::store::{StoreAccess, StoreError};

const MANIFEST: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;

fn config() -> RegistryConfig {
    RegistryConfig {
        timeout: Duration::from_millis(400),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(2),
        },
        max_manifest_bytes: 64 * 1024,
        max_blob_bytes: 1 << 20,
        ..RegistryConfig::default()
    }
}

async fn setup(cfg: RegistryConfig) -> (TestRegistry, RegistryStore) {
    let reg = TestRegistry::start().await;
    let r: Reference = format!("{}/repo:latest", reg.host()).parse().unwrap();
    let s = RegistryStore::new(Arc::new(RegistryClient::new(cfg).unwrap()), r);
    (reg, s)
}

#[tokio::test]
async fn bad_json_manifest_is_invalid() {
    let (reg, s) = setup(config()).await;
    let bad = reg.put_manifest("repo", Some("bad"), b"{\"schemaVersion\":2,", OCI_MANIFEST);
    let err = s.get_manifest(&bad).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains("invalid manifest")),
        "{err}"
    );
    // Resolution by GET (HEAD without digest) parses too.
    reg.behave(|b| b.omit_head_digest = true);
    let err = s.resolve("bad").await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    let v1 = reg.put_manifest("repo", Some("v1"), b"{\"schemaVersion\":1}", OCI_MANIFEST);
    let err = s.get_manifest(&v1).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains("schemaVersion")),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_digest_is_a_mismatch_naming_both() {
    let (reg, s) = setup(config()).await;
    let good = Descriptor::for_content("application/octet-stream", b"good bytes");
    reg.put_blob_as("repo", &good.digest, b"evil bytes");
    let err = s.get_blob(&good).await.unwrap_err();
    let evil = Digest::sha256_of(b"evil bytes");
    assert_eq!(
        err,
        StoreError::DigestMismatch {
            expected: good.digest.clone(),
            actual: evil.clone()
        }
    );
    let text = err.to_string();
    assert!(text.contains(&good.digest.to_string()) && text.contains(&evil.to_string()));

    // A manifest served under another digest, fetched and resolved by digest.
    let other = MANIFEST.to_vec();
    let claimed = Descriptor::for_content(OCI_MANIFEST, br#"{"schemaVersion":2,"layers":[]}"#);
    reg.put_manifest_as("repo", &claimed.digest, Some("t"), &other, OCI_MANIFEST);
    let err = s
        .get_manifest(&Descriptor {
            size: other.len() as u64,
            ..claimed.clone()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    reg.behave(|b| b.omit_head_digest = true);
    let err = s.resolve(&claimed.digest.to_string()).await.unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    // By tag: the registry's Docker-Content-Digest header is checked against the bytes.
    let err = s.resolve("t").await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::Invalid(_))
            && text.contains(&claimed.digest.to_string())
            && text.contains(&Digest::sha256_of(&other).to_string()),
        "{text}"
    );
}

#[tokio::test]
async fn oversize_is_refused_by_descriptor_and_declared_length() {
    let (reg, s) = setup(config()).await;
    // The descriptor already says too large: no request at all.
    let mut huge = Descriptor::for_content("application/octet-stream", b"x");
    huge.size = 2 << 20;
    let before = reg.requests();
    let err = s.get_blob(&huge).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { size, limit, .. } if size == 2 << 20 && limit == 1 << 20),
        "{err}"
    );
    assert_eq!(reg.requests(), before);

    // The descriptor is small, the declared Content-Length is not: refused before reading.
    let small = reg.put_blob("repo", "application/octet-stream", b"small");
    reg.behave(|b| b.inflate_blob_to = Some(3 << 20));
    let err = s.get_blob(&small).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { size, .. } if size == 3 << 20),
        "{err}"
    );
    assert_eq!(reg.requests(), before + 1, "TooLarge is not retried");
}

#[tokio::test]
async fn undeclared_oversize_stream_stops_at_the_cap() {
    let (reg, s) = setup(config()).await;
    let small = reg.put_blob("repo", "application/octet-stream", b"small");
    reg.behave(|b| b.endless_blob = true);
    let t = Instant::now();
    let err = s.get_blob(&small).await.unwrap_err();
    let StoreError::TooLarge { size, limit, .. } = err else {
        panic!("expected TooLarge, got {err}")
    };
    assert_eq!(limit, 1 << 20);
    assert!(
        size > limit && size <= limit + 64 * 1024,
        "stopped at {size}"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    // The server is still writing into socket buffers, but nothing near unbounded was read.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        reg.streamed_bytes() < 64 << 20,
        "{} bytes streamed",
        reg.streamed_bytes()
    );

    // A chunked body within the cap is read fine.
    reg.behave(|b| {
        b.endless_blob = false;
        b.chunked = true;
    });
    let data = vec![7u8; 200 * 1024];
    let ok = reg.put_blob("repo", "application/octet-stream", &data);
    assert_eq!(&s.get_blob(&ok).await.unwrap()[..], &data[..]);
}

#[tokio::test]
async fn truncated_body_is_unavailable_after_retries() {
    let (reg, s) = setup(config()).await;
    let blob = reg.put_blob("repo", "application/octet-stream", &[1u8; 10_000]);
    reg.behave(|b| b.truncate_body = true);
    let before = reg.requests();
    let err = s.get_blob(&blob).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("after 3 attempt(s)") && m.contains("body")),
        "{err}"
    );
    assert_eq!(reg.requests() - before, 3);
}

#[tokio::test]
async fn stalled_socket_times_out() {
    let (reg, s) = setup(RegistryConfig {
        timeout: Duration::from_millis(300),
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        ..config()
    })
    .await;
    let m = reg.put_manifest("repo", Some("v1"), MANIFEST, OCI_MANIFEST);
    reg.behave(|b| b.stall_body = true);
    let t = Instant::now();
    let err = s.get_manifest(&m).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("timed out after 2 attempt(s)")),
        "{err}"
    );
    let elapsed = t.elapsed();
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn unauthorized_loop_stops_after_one_renewal() {
    let (reg, s) = setup(config()).await;
    let m = reg.put_manifest("repo", Some("v1"), MANIFEST, OCI_MANIFEST);
    reg.behave(|b| {
        b.require_token = true;
        b.reject_tokens = true;
    });
    let err = s.get_manifest(&m).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(msg) if msg.contains("unauthorized") && msg.contains("401")),
        "{err}"
    );
    assert_eq!(reg.token_requests(), 1);
    assert_eq!(reg.requests(), 3, "request, token, one retried request");
}

#[tokio::test]
async fn rate_limit_storm_honours_retry_after_then_fails_clearly() {
    let (reg, s) = setup(config()).await;
    let m = reg.put_manifest("repo", Some("v1"), MANIFEST, OCI_MANIFEST);
    reg.behave(|b| {
        b.storm = Some(StatusStorm {
            status: 429,
            retry_after: Some(1),
            remaining: None,
        })
    });
    let t = Instant::now();
    let err = s.get_manifest(&m).await.unwrap_err();
    let elapsed = t.elapsed();
    assert!(
        matches!(&err, StoreError::Unavailable(msg) if msg.contains("after 3 attempt(s)") && msg.contains("429")),
        "{err}"
    );
    assert_eq!(reg.requests(), 3);
    assert!(
        elapsed >= Duration::from_secs(2),
        "Retry-After: 1 honoured twice: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn transient_errors_recover_within_the_attempt_budget() {
    let reg = TestRegistry::start().await;
    let client = Arc::new(RegistryClient::new(config()).unwrap());
    let r: Reference = format!("{}/repo:latest", reg.host()).parse().unwrap();
    let s = RegistryStore::new(client.clone(), r);
    let m = reg.put_manifest("repo", Some("v1"), MANIFEST, OCI_MANIFEST);
    reg.behave(|b| {
        b.storm = Some(StatusStorm {
            status: 503,
            retry_after: None,
            remaining: Some(2),
        })
    });
    let bytes = s.get_manifest(&m).await.unwrap();
    assert_eq!(&bytes[..], MANIFEST);
    assert_eq!(reg.requests(), 3);
    // Every attempt is counted by registry and status (the metrics' source).
    let host = reg.host().to_string();
    assert_eq!(
        client.request_counts(),
        [(host.clone(), "200".into(), 1), (host, "503".into(), 2)]
    );
    // A connection refused is retried, then reported; no answer counts as `error`.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r: Reference = format!("127.0.0.1:{port}/repo:latest").parse().unwrap();
    let dead_client = Arc::new(RegistryClient::new(config()).unwrap());
    let dead = RegistryStore::new(dead_client.clone(), r);
    let err = dead.resolve("v1").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(msg) if msg.contains("after 3 attempt(s)")),
        "{err}"
    );
    assert_eq!(
        dead_client.request_counts(),
        [(format!("127.0.0.1:{port}"), "error".into(), 3)]
    );
}

/// Issue 11 item 7: a tag's `Docker-Content-Digest` header is compared with the digest of the
/// manifest the registry sends for the tag; a registry naming another (say, signed) manifest in
/// the header than the one the tag serves is an error naming both digests and the registry.
#[tokio::test]
async fn a_lying_tag_digest_header_is_refused() {
    let (reg, s) = setup(config()).await;
    let signed = reg.put_manifest("repo", Some("signed"), MANIFEST, OCI_MANIFEST);
    let served = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[],"annotations":{"evil":"yes"}}"#;
    let evil = reg.put_manifest("repo", Some("v1"), served, OCI_MANIFEST);
    // Honest answers: the tag resolves to what it serves.
    assert_eq!(s.resolve("v1").await.unwrap().digest, evil.digest);
    reg.behave(|b| b.tag_digest_header = Some(signed.digest.to_string()));
    for omit_head_digest in [false, true] {
        // Whether HEAD answers carry a digest or not, a tag is resolved from the bytes.
        reg.behave(|b| b.omit_head_digest = omit_head_digest);
        let err = s.resolve("v1").await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Invalid(_)), "{text}");
        assert!(
            text.contains(&signed.digest.to_string())
                && text.contains(&evil.digest.to_string())
                && text.contains(&reg.host())
                && text.contains("Docker-Content-Digest"),
            "{text}"
        );
    }
    // By digest, nothing changes: the digest itself is checked against the bytes.
    assert_eq!(
        s.resolve(&evil.digest.to_string()).await.unwrap().digest,
        evil.digest
    );
}

/// Issue 11 item 7: a referrers answer that is not an image index with a `manifests` list (the
/// distribution spec: "the response MUST be a JSON body with an image index containing a list
/// of descriptors"; "if a query results in no matching referrers, an empty manifest list MUST
/// be returned") is an error quoting the registry's answer, never "no referrers"; the same for
/// the tag-schema fallback index.
#[tokio::test]
async fn a_garbage_referrers_answer_is_an_error_naming_it() {
    let (reg, s) = setup(config()).await;
    let subject = reg.put_manifest("repo", Some("v1"), MANIFEST, OCI_MANIFEST);
    for (body, needle) in [
        (r#"{"schemaVersion":2}"#, "no `manifests` list"),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#,
            "no `manifests` list",
        ),
        (
            r#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1},"layers":[],"manifests":[]}"#,
            "image manifest",
        ),
        (r#"{"manifests":[]}"#, "schemaVersion is missing"),
        ("<html>gateway says hello</html>", "not valid JSON"),
    ] {
        reg.behave(|b| b.referrers_body = Some(body.to_owned()));
        let err = s.list_referrers(&subject.digest, None).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Invalid(_)), "{body}: {text}");
        let quoted = format!("{body:?}");
        assert!(
            text.contains(needle) && text.contains(&quoted) && text.contains(&reg.host()),
            "{body}: {text}"
        );
    }
    // An empty list is a valid answer.
    reg.behave(|b| {
        b.referrers_body = Some(r#"{"schemaVersion":2,"manifests":[]}"#.to_owned());
    });
    assert!(
        s.list_referrers(&subject.digest, None)
            .await
            .unwrap()
            .is_empty()
    );

    // The tag-schema fallback: an index without `manifests` under `sha256-<hex>`.
    reg.behave(|b| {
        b.referrers_body = None;
        b.no_referrers_api = true;
    });
    let bogus = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#;
    reg.put_manifest(
        "repo",
        Some(&subject.digest.fallback_tag()),
        bogus,
        "application/vnd.oci.image.index.v1+json",
    );
    let err = s.list_referrers(&subject.digest, None).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::Invalid(_)) && text.contains("no `manifests` list"),
        "{text}"
    );
    assert!(text.contains(&subject.digest.fallback_tag()), "{text}");
}
