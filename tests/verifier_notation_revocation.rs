//! The notation verifier's revocation validation end to end: the real notation `.wasm` asks the
//! host's `revocation` import for the CRL its signing certificate names, or sends its OCSP
//! request to the responder the certificate names; the host fetches from a CRL/OCSP server on
//! 127.0.0.1 (counting requests), caches, or reads a CRL file in offline mode; the guest judges
//! the answer (issuer or delegated responder signature, `nextUpdate`, serial number) and applies
//! the level's `revocation` action.

#[allow(dead_code)] // `guest()` is for the test guests
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared with other test binaries that use all of it
#[path = "support/layout.rs"]
mod layout;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use vouch::oci::Descriptor;
use vouch::oci::manifest::OCI_MANIFEST;
use vouch::runtime::{GuestReport, Limits, Runtime, RuntimeConfig, Verifier, VerifyInput};
use vouch::store::layout::LayoutStore;
use vouch::store::revocation::{RevocationFetcher, Settings};
use xtask::fixtures::notation::{
    self as fx, ChainOptions, CrlEntry, JwsOptions, OcspCertStatus, OcspSigner, RevocationInfo,
    SigningScheme, Target, TestChain, unix_now,
};

use layout::{EMPTY_CONFIG, LayoutBuilder};

const REFERENCE: &str = "registry.test/team/app:v1";
const DAY: i64 = 86_400;

/// A CRL and OCSP server on 127.0.0.1: path → body (a GET of a CRL, or the answer to any POST
/// of an OCSP request there), and a request counter.
#[derive(Clone, Default)]
struct CrlServer {
    bodies: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    requests: Arc<AtomicU64>,
}

impl CrlServer {
    /// Starts serving; returns the base URL.
    async fn start(&self) -> String {
        async fn serve(
            State(s): State<CrlServer>,
            UrlPath(path): UrlPath<String>,
        ) -> (StatusCode, Vec<u8>) {
            s.requests.fetch_add(1, Ordering::SeqCst);
            match s.bodies.lock().unwrap().get(&path) {
                Some(b) => (StatusCode::OK, b.clone()),
                None => (StatusCode::NOT_FOUND, Vec::new()),
            }
        }
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::get(serve).post(serve))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn set(&self, path: &str, body: Vec<u8>) {
        self.bodies.lock().unwrap().insert(path.into(), body);
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A closed port on 127.0.0.1 (bound, then released).
async fn closed_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/leaf.crl")
}

/// A layout with one image, a chain whose leaf names `crl_url`, and the notation verifier on a
/// runtime whose revocation fetcher has `settings`.
struct Env {
    rt: Runtime,
    notation: Verifier,
    dir: tempfile::TempDir,
    subject: Descriptor,
    chain: TestChain,
    identity: String,
    fetcher: Arc<RevocationFetcher>,
}

/// A runtime answering the `revocation` import with a fetcher of `settings`, and notation on it.
async fn runtime(settings: Settings) -> (Runtime, Verifier, Arc<RevocationFetcher>) {
    let fetcher = Arc::new(RevocationFetcher::new(settings, None).unwrap());
    let rt = Runtime::new(RuntimeConfig::default())
        .unwrap()
        .with_revocation(fetcher.clone());
    let notation = rt
        .load_file("notation", &guests::verifier("notation"), Limits::default())
        .await
        .unwrap();
    (rt, notation, fetcher)
}

async fn env(crl_url: &str, settings: Settings) -> Env {
    env_with(RevocationInfo::crl(crl_url), settings).await
}

/// As [`env`], the leaf naming `revocation`.
async fn env_with(revocation: RevocationInfo, settings: Settings) -> Env {
    let mut opts = ChainOptions::valid_now();
    opts.leaf_revocation = revocation;
    let (rt, notation, fetcher) = runtime(settings).await;
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path());
    let subject = b.image("v1", &[b"layer one"]);
    b.finish();
    Env {
        rt,
        notation,
        dir,
        subject,
        chain: fx::test_chain(&opts).unwrap(),
        identity: opts.leaf_subject.identity(),
        fetcher,
    }
}

impl Env {
    fn config(&self, level: &str) -> Value {
        json!({
            "trustPolicy": {"version": "1.0", "trustPolicies": [{
                "name": "default", "registryScopes": ["*"],
                "signatureVerification": {"level": level},
                "trustStores": ["ca:test", "signingAuthority:test"],
                "trustedIdentities": [self.identity],
            }]},
            "trustStores": {"ca": {"test": [self.chain.root_pem]},
                            "signingAuthority": {"test": [self.chain.root_pem]}},
        })
    }

    /// The leaf's serial number.
    fn leaf_serial(&self) -> Vec<u8> {
        let (_, c) = x509_parser::parse_x509_certificate(&self.chain.leaf_der).unwrap();
        c.tbs_certificate.raw_serial().to_vec()
    }

    /// A fresh CRL by the root listing `entries`.
    fn crl(&self, entries: &[CrlEntry]) -> Vec<u8> {
        let now = unix_now();
        self.chain
            .crl(entries, now - DAY, now + DAY, false)
            .unwrap()
    }

    /// The leaf listed as revoked yesterday.
    fn revoked_entry(&self) -> CrlEntry {
        CrlEntry {
            serial: self.leaf_serial(),
            revoked_at: unix_now() - DAY,
            invalidity: None,
        }
    }

    /// Signs the subject (JWS, `notary.x509`) and verifies it under `level`.
    async fn verify(&self, level: &str) -> GuestReport {
        self.verify_with(level, &JwsOptions::now()).await
    }

    /// Signs the subject (JWS, with `opts`) and verifies it under `level`.
    async fn verify_with(&self, level: &str, opts: &JwsOptions) -> GuestReport {
        self.verify_config(&self.config(level), opts).await
    }

    /// Signs the subject (JWS, with `opts`) and verifies it under `config`.
    async fn verify_config(&self, config: &Value, opts: &JwsOptions) -> GuestReport {
        let target = Target {
            media_type: self.subject.media_type.clone(),
            digest: self.subject.digest.to_string(),
            size: self.subject.size,
        };
        let x5c = self.chain.x5c();
        let envelope = fx::sign_jws(&target, &self.chain.leaf_key_pkcs8, &x5c, opts).unwrap();
        let mut b = LayoutBuilder::new(self.dir.path());
        b.blob(EMPTY_CONFIG, b"{}");
        b.blob(fx::JWS_MEDIA_TYPE, &envelope);
        let manifest = fx::signature_manifest(&target, &envelope, fx::JWS_MEDIA_TYPE, &x5c);
        let mut artifact = b.blob(OCI_MANIFEST, &manifest);
        artifact.artifact_type = Some(fx::SIGNATURE_ARTIFACT_TYPE.into());
        let store = LayoutStore::open(self.dir.path(), Default::default()).unwrap();
        let input = VerifyInput {
            store: Arc::new(store),
            subject_reference: REFERENCE.into(),
            subject: self.subject.clone(),
            artifact,
            config: config.to_string().into(),
            cpu_quota: None,
        };
        self.rt.verify(&self.notation, input).await.unwrap().report
    }
}

#[track_caller]
fn assert_fails(r: &GuestReport, reason: &str, text: &str) {
    assert!(!r.is_success, "passed: {r:#?}");
    assert_eq!(r.error_reason.as_deref(), Some(reason), "{}", r.message);
    assert!(r.message.contains(text), "{:?} lacks {text:?}", r.message);
}

/// Spec (Certificate Revocation Evaluation): "If the certificate being validated includes
/// either OCSP or CRL information, then the one which is present is used for revocation check";
/// a CRL by the issuer that does not list the certificate makes it not revoked.
#[tokio::test]
async fn a_fresh_crl_without_the_certificate_passes() {
    let server = CrlServer::default();
    let base = server.start().await;
    let e = env(&format!("{base}/leaf.crl"), Settings::default()).await;
    server.set("leaf.crl", e.crl(&[]));
    let r = e.verify("strict").await;
    assert!(r.is_success, "{r:#?}");
    assert_eq!(r.extensions["revocationStatus"], "good");
    assert_eq!(server.requests(), 1);
}

/// Spec (Validate Trusted Timestamp): "Validate timestamp certificate and certificate chain
/// revocation status using certificate revocation evaluation section". A TSA certificate its
/// root's CRL lists as revoked proves no signing time: the verification fails
/// `CERTIFICATE_REVOKED`, and passes once the CRL no longer lists it.
#[tokio::test]
async fn a_revoked_tsa_certificate_proves_no_signing_time() {
    let server = CrlServer::default();
    let base = server.start().await;
    let e = env_with(RevocationInfo::default(), Settings::default()).await;
    let tsa = fx::test_tsa_with(
        "Vouch Revoked TSA",
        &RevocationInfo::crl(&format!("{base}/tsa.crl")),
    )
    .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&tsa.cert_der).unwrap();
    let revoked = CrlEntry {
        serial: cert.tbs_certificate.raw_serial().to_vec(),
        revoked_at: unix_now() - DAY,
        invalidity: None,
    };
    let now = unix_now();
    // The policy of `e` with the TSA's root as its `tsa` trust store.
    let config = |e: &Env| {
        let mut config = e.config("strict");
        let policy = &mut config["trustPolicy"]["trustPolicies"][0];
        policy["trustStores"]
            .as_array_mut()
            .unwrap()
            .push("tsa:ts".into());
        config["trustStores"]["tsa"] = json!({"ts": [tsa.root_pem]});
        config
    };
    let mut opts = JwsOptions::now();
    opts.timestamp = Some(fx::TimestampOptions {
        tsa: tsa.clone(),
        gen_time: opts.signing_time,
        accuracy_secs: None,
    });

    // Each phase on a fresh runtime (and chain): the host caches a CRL by its URL.
    server.set("tsa.crl", tsa.crl(&[], now - DAY, now + DAY).unwrap());
    let r = e.verify_config(&config(&e), &opts).await;
    assert!(r.is_success, "{r:#?}");
    assert!(r.extensions.contains_key("timestamp"), "{r:#?}");

    let e = env_with(RevocationInfo::default(), Settings::default()).await;
    server.set(
        "tsa.crl",
        tsa.crl(&[revoked], now - DAY, now + DAY).unwrap(),
    );
    let r = e.verify_config(&config(&e), &opts).await;
    assert_fails(&r, "CERTIFICATE_REVOKED", "is revoked");
}

/// Spec: "If the revocation status of any of the certificates is revoked or cannot be
/// determined (revocation unavailable), fail this step. This will fail the overall signature
/// verification or log the error, depending on if revocations status check is `enforced` or
/// `logged`." A revoked leaf fails strict (`CERTIFICATE_REVOKED`) and is logged by audit.
#[tokio::test]
async fn a_revoked_certificate_fails_strict_and_is_logged_by_audit() {
    let server = CrlServer::default();
    let base = server.start().await;
    let e = env(&format!("{base}/leaf.crl"), Settings::default()).await;
    server.set("leaf.crl", e.crl(&[e.revoked_entry()]));
    let r = e.verify("strict").await;
    assert_fails(&r, "CERTIFICATE_REVOKED", "signing certificate #1");
    assert!(r.message.contains("is revoked"), "{}", r.message);
    assert_eq!(r.extensions["revocationStatus"], "revoked");
    for level in ["permissive", "audit"] {
        let r = e.verify(level).await;
        assert!(r.is_success, "{level}: {r:#?}");
        assert_eq!(r.extensions["revocationStatus"], "revoked");
        assert!(
            r.message
                .contains("logged (not enforced) failures: revocation")
        );
    }
}

/// notation-core-go checks the CRL's validity: "expired CRL. Current time ... is after CRL
/// NextUpdate"; an expired CRL leaves the status undeterminable (spec: "cannot be determined
/// (revocation unavailable)").
#[tokio::test]
async fn a_stale_crl_is_undeterminable() {
    let server = CrlServer::default();
    let base = server.start().await;
    let e = env(&format!("{base}/leaf.crl"), Settings::default()).await;
    let now = unix_now();
    server.set(
        "leaf.crl",
        e.chain.crl(&[], now - 3 * DAY, now - DAY, false).unwrap(),
    );
    let r = e.verify("strict").await;
    assert_fails(&r, "REVOCATION_STATUS_UNKNOWN", "expired CRL");
    assert_eq!(r.extensions["revocationStatus"], "unknown");
}

/// notation-core-go: a CRL must be signed by the certificate's issuer ("CRL is not signed by
/// CA"); one signed by another key is unusable.
#[tokio::test]
async fn a_crl_signed_by_another_key_is_undeterminable() {
    let server = CrlServer::default();
    let base = server.start().await;
    let e = env(&format!("{base}/leaf.crl"), Settings::default()).await;
    let now = unix_now();
    server.set(
        "leaf.crl",
        e.chain.crl(&[], now - DAY, now + DAY, true).unwrap(),
    );
    let r = e.verify("strict").await;
    assert_fails(
        &r,
        "REVOCATION_STATUS_UNKNOWN",
        "not signed by the certificate's issuer",
    );
}

/// Spec: a status that "cannot be determined (revocation unavailable)" fails this step: an
/// unreachable CRL server, and a CRL over the host's size cap.
#[tokio::test]
async fn unreachable_and_oversized_crls_are_undeterminable() {
    let e = env(&closed_url().await, Settings::default()).await;
    let r = e.verify("strict").await;
    assert_fails(&r, "REVOCATION_STATUS_UNKNOWN", "unavailable");

    let server = CrlServer::default();
    let base = server.start().await;
    let small = Settings {
        max_crl_bytes: 64,
        ..Settings::default()
    };
    let e = env(&format!("{base}/leaf.crl"), small).await;
    server.set("leaf.crl", e.crl(&[]));
    let r = e.verify("strict").await;
    assert_fails(&r, "REVOCATION_STATUS_UNKNOWN", "64-byte cap");
}

/// The host's TTL cache keyed by URL, honouring `nextUpdate`: a second verification asks the
/// server nothing and verifies the CRL's signature no more.
#[tokio::test]
async fn a_cached_crl_costs_no_request() {
    let server = CrlServer::default();
    let base = server.start().await;
    let e = env(&format!("{base}/leaf.crl"), Settings::default()).await;
    server.set("leaf.crl", e.crl(&[]));
    assert!(e.verify("strict").await.is_success);
    assert_eq!(server.requests(), 1);
    let r = e.verify("strict").await;
    assert!(r.is_success, "{r:#?}");
    assert_eq!(
        server.requests(),
        1,
        "the second verification fetched again"
    );
    assert_eq!(e.fetcher.network_requests(), 1);
    // The CRL's signature was checked once; the second verification used the remembered
    // outcome for this (CRL, issuer).
    assert_eq!(e.fetcher.crl_signature_checks(), 1);
}

/// Offline mode: CRLs supplied as files answer for their URL; nothing is fetched.
#[tokio::test]
async fn offline_mode_reads_crl_files_and_fetches_nothing() {
    let url = closed_url().await;
    let dir = tempfile::tempdir().unwrap();
    // The chain is made first (the file holds its CRL), then the runtime reads the file.
    let probe = env(&url, Settings::default()).await;
    let path = dir.path().join("leaf.crl");
    std::fs::write(&path, probe.crl(&[probe.revoked_entry()])).unwrap();
    let offline = Settings {
        offline: true,
        crl_files: vec![(url.clone(), path)],
        ..Settings::default()
    };
    let (rt, notation, fetcher) = runtime(offline).await;
    let e = Env {
        rt,
        notation,
        fetcher,
        ..probe
    };
    let r = e.verify("strict").await;
    assert_fails(&r, "CERTIFICATE_REVOKED", "is revoked");
    assert_eq!(e.fetcher.network_requests(), 0);
}

/// The leaf names an OCSP responder at `{base}/ocsp` of a fresh server; returns the server too.
async fn ocsp_env() -> (CrlServer, Env) {
    let server = CrlServer::default();
    let base = server.start().await;
    let e = env_with(
        RevocationInfo::ocsp(&format!("{base}/ocsp")),
        Settings::default(),
    )
    .await;
    (server, e)
}

impl Env {
    /// An OCSP response about the leaf by `signer`, valid from an hour ago to `next_update`.
    fn ocsp(
        &self,
        signer: &OcspSigner,
        status: OcspCertStatus,
        next_update: Option<i64>,
    ) -> Vec<u8> {
        self.chain
            .ocsp_response(signer, status, unix_now() - 3600, next_update)
            .unwrap()
    }
}

/// Spec (Certificate Revocation Evaluation): "If the certificate being validated includes
/// either OCSP or CRL information, then the one which is present is used for revocation
/// check". A `good` answer of the issuer's responder passes; the host keeps the response until
/// its `nextUpdate` (here beyond the `ocspTtl` cap), so a second verification asks nothing.
#[tokio::test]
async fn ocsp_good_passes_and_is_cached() {
    let (server, e) = ocsp_env().await;
    let signer = e.chain.ocsp_issuer_signer();
    server.set(
        "ocsp",
        e.ocsp(&signer, OcspCertStatus::Good, Some(unix_now() + DAY)),
    );
    let r = e.verify("strict").await;
    assert!(r.is_success, "{r:#?}");
    assert_eq!(r.extensions["revocationStatus"], "good");
    assert!(e.verify("strict").await.is_success);
    assert_eq!(
        server.requests(),
        1,
        "the cached OCSP response was asked again"
    );
}

/// Spec: "If the revocation status of any of the certificates is revoked ... fail this step";
/// an OCSP `revoked` answer fails strict with `CERTIFICATE_REVOKED` and is logged by audit.
#[tokio::test]
async fn ocsp_revoked_fails_strict_and_is_logged_by_audit() {
    let (server, e) = ocsp_env().await;
    let signer = e.chain.ocsp_issuer_signer();
    let revoked = OcspCertStatus::Revoked(unix_now() - DAY);
    server.set("ocsp", e.ocsp(&signer, revoked, Some(unix_now() + DAY)));
    let r = e.verify("strict").await;
    assert_fails(&r, "CERTIFICATE_REVOKED", "OCSP: revoked at");
    assert_eq!(r.extensions["revocationStatus"], "revoked");
    let r = e.verify("audit").await;
    assert!(r.is_success, "{r:#?}");
    assert_eq!(r.extensions["revocationStatus"], "revoked");
}

/// Spec: a status that "cannot be determined (revocation unavailable)" fails this step: an
/// OCSP `unknown` answer with no CRL to fall back to is `REVOCATION_STATUS_UNKNOWN`; with a
/// CRL distribution point too, notation-core-go falls back to the CRL, which decides.
#[tokio::test]
async fn ocsp_unknown_is_undeterminable_unless_a_crl_decides() {
    let (server, e) = ocsp_env().await;
    let signer = e.chain.ocsp_issuer_signer();
    let unknown = e.ocsp(&signer, OcspCertStatus::Unknown, Some(unix_now() + DAY));
    server.set("ocsp", unknown);
    let r = e.verify("strict").await;
    assert_fails(
        &r,
        "REVOCATION_STATUS_UNKNOWN",
        "responder's status is unknown",
    );

    let server = CrlServer::default();
    let base = server.start().await;
    let both = RevocationInfo {
        crl: vec![format!("{base}/leaf.crl")],
        ocsp: vec![format!("{base}/ocsp")],
    };
    let e = env_with(both, Settings::default()).await;
    let signer = e.chain.ocsp_issuer_signer();
    server.set(
        "ocsp",
        e.ocsp(&signer, OcspCertStatus::Unknown, Some(unix_now() + DAY)),
    );
    server.set("leaf.crl", e.crl(&[]));
    let r = e.verify("strict").await;
    assert!(r.is_success, "{r:#?}");
    assert_eq!(r.extensions["revocationStatus"], "good");
    server.set("leaf.crl", e.crl(&[e.revoked_entry()]));
    // A fresh runtime: the first one keeps the CRL above.
    let (rt, notation, fetcher) = runtime(Settings::default()).await;
    let e = Env {
        rt,
        notation,
        fetcher,
        ..e
    };
    assert_fails(
        &e.verify("strict").await,
        "CERTIFICATE_REVOKED",
        "is revoked",
    );
}

/// notation-core-go: the response must be signed by the issuer or a responder it authorized;
/// one signed by another key (claiming to be the issuer) leaves the status undeterminable.
#[tokio::test]
async fn ocsp_signed_by_a_wrong_key_is_undeterminable() {
    let (server, e) = ocsp_env().await;
    let forger = OcspSigner::foreign().unwrap();
    server.set(
        "ocsp",
        e.ocsp(&forger, OcspCertStatus::Good, Some(unix_now() + DAY)),
    );
    let r = e.verify("strict").await;
    assert_fails(&r, "REVOCATION_STATUS_UNKNOWN", "signature does not verify");
}

/// RFC 6960 §4.2.2.2: a delegated responder's certificate is "issued directly by the CA that
/// is identified in the request" and "MUST ... include a value of id-kp-OCSPSigning in an
/// extended key usage extension". One with that purpose answers for the issuer; one the issuer
/// certified for another purpose does not.
#[tokio::test]
async fn a_delegated_responder_needs_ocsp_signing() {
    let (server, e) = ocsp_env().await;
    let delegated = e.chain.ocsp_delegated_signer(true).unwrap();
    server.set(
        "ocsp",
        e.ocsp(&delegated, OcspCertStatus::Good, Some(unix_now() + DAY)),
    );
    let r = e.verify("strict").await;
    assert!(r.is_success, "{r:#?}");
    assert_eq!(r.extensions["revocationStatus"], "good");

    let (server, e) = ocsp_env().await;
    let unauthorized = e.chain.ocsp_delegated_signer(false).unwrap();
    server.set(
        "ocsp",
        e.ocsp(&unauthorized, OcspCertStatus::Good, Some(unix_now() + DAY)),
    );
    let r = e.verify("strict").await;
    assert_fails(
        &r,
        "REVOCATION_STATUS_UNKNOWN",
        "not authorized by the certificate's issuer",
    );
}

/// notation-core-go: "expired OCSP response" once `nextUpdate` has passed, and a response
/// without `nextUpdate` is not accepted; both leave the status undeterminable. The host does
/// not keep a response past its `nextUpdate`: each verification asks again.
#[tokio::test]
async fn stale_or_open_ended_ocsp_responses_are_undeterminable() {
    let (server, e) = ocsp_env().await;
    let signer = e.chain.ocsp_issuer_signer();
    server.set(
        "ocsp",
        e.ocsp(&signer, OcspCertStatus::Good, Some(unix_now() - 60)),
    );
    let r = e.verify("strict").await;
    assert_fails(&r, "REVOCATION_STATUS_UNKNOWN", "expired OCSP response");
    assert_fails(
        &e.verify("strict").await,
        "REVOCATION_STATUS_UNKNOWN",
        "expired",
    );
    assert_eq!(
        server.requests(),
        2,
        "a stale OCSP response was served from the cache"
    );

    let (server, e) = ocsp_env().await;
    let signer = e.chain.ocsp_issuer_signer();
    server.set("ocsp", e.ocsp(&signer, OcspCertStatus::Good, None));
    let r = e.verify("strict").await;
    assert_fails(&r, "REVOCATION_STATUS_UNKNOWN", "no nextUpdate");
}

/// notation-core-go (CRL and OCSP): "If the invalidity date extension is present ... and
/// SigningTime is not zero, the certificate is considered revoked if the SigningTime is after
/// the invalidity date", and the signing time counts only when it is authentic
/// (`notary.x509.signingAuthority`): an entry whose `invalidityDate` is after the authentic
/// signing time does not revoke that signature, one before it does, and under `notary.x509`
/// the same entry revokes.
#[tokio::test]
async fn a_crl_invalidity_date_is_compared_with_the_authentic_signing_time() {
    let server = CrlServer::default();
    let base = server.start().await;
    let now = unix_now();
    let signed_at = now - 600;
    let authority = JwsOptions {
        signing_time: signed_at,
        scheme: SigningScheme::SigningAuthority,
        ..JwsOptions::now()
    };
    let x509 = JwsOptions {
        signing_time: signed_at,
        ..JwsOptions::now()
    };
    let entry = |e: &Env, invalid_from: i64| CrlEntry {
        invalidity: Some(invalid_from),
        ..e.revoked_entry()
    };
    // Compromised after the authentic signing time: that signature stands.
    let e = env(&format!("{base}/after.crl"), Settings::default()).await;
    server.set("after.crl", e.crl(&[entry(&e, now - 60)]));
    let r = e.verify_with("strict", &authority).await;
    assert!(r.is_success, "{r:#?}");
    assert_eq!(r.extensions["revocationStatus"], "good");
    // Under notary.x509 the signing time is the signer's claim: the entry revokes.
    let r = e.verify_with("strict", &x509).await;
    assert_fails(&r, "CERTIFICATE_REVOKED", "is revoked");
    // Compromised before the authentic signing time: revoked.
    let e = env(&format!("{base}/before.crl"), Settings::default()).await;
    server.set("before.crl", e.crl(&[entry(&e, now - 1200)]));
    let r = e.verify_with("strict", &authority).await;
    assert_fails(&r, "CERTIFICATE_REVOKED", "is revoked");
}
