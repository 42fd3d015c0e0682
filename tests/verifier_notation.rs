//! The shipped notation verifier (`guest-verifiers/notation`, real wasm through the runtime)
//! against signatures made by `xtask::fixtures::notation` the way `notation sign` makes them (JWS
//! and COSE envelopes, ES256 / PS256 / PS384, `notary.x509` and `notary.x509.signingAuthority`,
//! RFC 3161 timestamps from a test TSA): a valid signature passes with Ratify-style extensions;
//! tampering, a foreign subject, expired or untrusted certificates, identity mismatches, unknown
//! critical headers and malformed envelopes fail with a precise reason (never a trap); a valid
//! timestamp taken inside the certificate's validity rescues an expired certificate, an
//! untrusted, foreign or out-of-validity one does not, as `verifyTimestamp` says; each
//! verification level behaves as the Notary Project's table says; a bad trust policy is refused
//! by `check-config`.

#[allow(dead_code)] // `guest()` is for the test guests
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared with other test binaries that use all of it
#[path = "support/layout.rs"]
mod layout;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use vouch::oci::Descriptor;
use vouch::oci::manifest::OCI_MANIFEST;
use vouch::runtime::{
    GuestReport, Limits, Runtime, RuntimeConfig, RuntimeError, Verifier, VerifyInput,
};
use vouch::store::layout::LayoutStore;
use xtask::fixtures::notation::{
    self as fx, ChainOptions, JwsOptions, KeyKind, RevocationInfo, SigningAlg, SigningScheme,
    Subject, Target, TestChain, TestTsa, TimestampOptions, unix_now,
};

use layout::{EMPTY_CONFIG, LayoutBuilder};

const REFERENCE: &str = "registry.test/team/app:v1";
const DAY: i64 = 86_400;

/// A layout holding one image; signatures are added per test.
struct Fixture {
    dir: tempfile::TempDir,
    subject: Descriptor,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut b = LayoutBuilder::new(dir.path());
        let subject = b.image("v1", &[b"layer one"]);
        b.finish();
        Fixture { dir, subject }
    }

    fn target(&self) -> Target {
        Target {
            media_type: self.subject.media_type.clone(),
            digest: self.subject.digest.to_string(),
            size: self.subject.size,
        }
    }

    /// Stores a signature manifest whose layers are `layers` (media type, bytes); returns its
    /// descriptor.
    fn store_manifest(&self, layers: &[(&str, &[u8])], chain: &[Vec<u8>]) -> Descriptor {
        let mut b = LayoutBuilder::new(self.dir.path());
        b.blob(EMPTY_CONFIG, b"{}");
        let mut manifest: Value = serde_json::from_slice(&fx::signature_manifest(
            &self.target(),
            layers[0].1,
            layers[0].0,
            chain,
        ))
        .unwrap();
        let mut descs = Vec::new();
        for (mt, data) in layers {
            let d = b.blob(mt, data);
            descs.push(json!({"mediaType": mt, "digest": d.digest.to_string(), "size": d.size}));
        }
        manifest["layers"] = Value::Array(descs);
        let mut d = b.blob(OCI_MANIFEST, &serde_json::to_vec(&manifest).unwrap());
        d.artifact_type = Some(fx::SIGNATURE_ARTIFACT_TYPE.into());
        d
    }

    /// Stores a JWS envelope exactly as notation would.
    fn store_envelope(&self, envelope: &[u8], chain: &[Vec<u8>]) -> Descriptor {
        self.store_envelope_as(fx::JWS_MEDIA_TYPE, envelope, chain)
    }

    /// Stores an envelope of `media_type` exactly as notation would.
    fn store_envelope_as(
        &self,
        media_type: &str,
        envelope: &[u8],
        chain: &[Vec<u8>],
    ) -> Descriptor {
        let mut b = LayoutBuilder::new(self.dir.path());
        b.blob(EMPTY_CONFIG, b"{}");
        b.blob(media_type, envelope);
        let manifest = fx::signature_manifest(&self.target(), envelope, media_type, chain);
        let mut d = b.blob(OCI_MANIFEST, &manifest);
        d.artifact_type = Some(fx::SIGNATURE_ARTIFACT_TYPE.into());
        d
    }
}

/// A verifier config: one `*` policy at `level` trusting `root_pem` and `identities`.
fn config(level: &str, root_pem: &str, identities: &[&str]) -> Value {
    json!({
        "trustPolicy": {"version": "1.0", "trustPolicies": [{
            "name": "default",
            "registryScopes": ["*"],
            "signatureVerification": {"level": level},
            "trustStores": ["ca:test"],
            "trustedIdentities": identities,
        }]},
        "trustStores": {"ca": {"test": [root_pem]}},
    })
}

struct Env {
    rt: Runtime,
    notation: Verifier,
    f: Fixture,
    chain: TestChain,
    identity: String,
}

async fn env_with(opts: &ChainOptions) -> Env {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let notation = rt
        .load_file("notation", &guests::verifier("notation"), Limits::default())
        .await
        .unwrap();
    Env {
        rt,
        notation,
        f: Fixture::new(),
        chain: fx::test_chain(opts).unwrap(),
        identity: opts.leaf_subject.identity(),
    }
}

async fn env() -> Env {
    env_with(&ChainOptions::valid_now()).await
}

impl Env {
    fn config(&self, level: &str) -> Value {
        config(level, &self.chain.root_pem, &[&self.identity])
    }

    fn sign(&self, opts: &JwsOptions) -> Vec<u8> {
        fx::sign_jws(
            &self.f.target(),
            &self.chain.leaf_key_pkcs8,
            &self.chain.x5c(),
            opts,
        )
        .unwrap()
    }

    async fn verify(&self, artifact: &Descriptor, config: &Value) -> GuestReport {
        let config = config.to_string();
        self.rt.check_config(&self.notation, &config).await.unwrap();
        let store = LayoutStore::open(self.f.dir.path(), Default::default()).unwrap();
        let input = VerifyInput {
            store: Arc::new(store),
            subject_reference: REFERENCE.into(),
            subject: self.f.subject.clone(),
            artifact: artifact.clone(),
            config: config.into(),
            cpu_quota: None,
        };
        self.rt.verify(&self.notation, input).await.unwrap().report
    }

    async fn verify_envelope(&self, envelope: &[u8], config: &Value) -> GuestReport {
        let artifact = self.f.store_envelope(envelope, &self.chain.x5c());
        self.verify(&artifact, config).await
    }

    fn sign_cose(&self, opts: &JwsOptions) -> Vec<u8> {
        fx::sign_cose(
            &self.f.target(),
            &self.chain.leaf_key_pkcs8,
            &self.chain.x5c(),
            opts,
        )
        .unwrap()
    }

    async fn verify_cose(&self, envelope: &[u8], config: &Value) -> GuestReport {
        let artifact = self
            .f
            .store_envelope_as(fx::COSE_MEDIA_TYPE, envelope, &self.chain.x5c());
        self.verify(&artifact, config).await
    }

    /// Signs with `opts` as `kind` and verifies under `config`.
    async fn sign_and_verify(&self, kind: Kind, opts: &JwsOptions, config: &Value) -> GuestReport {
        match kind {
            Kind::Jws => self.verify_envelope(&self.sign(opts), config).await,
            Kind::Cose => self.verify_cose(&self.sign_cose(opts), config).await,
        }
    }
}

/// The two envelope formats.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Jws,
    Cose,
}

const KINDS: [Kind; 2] = [Kind::Jws, Kind::Cose];

/// Adds `tsa:ts` (trusting `tsa_root_pem`) to the first policy of `config`.
fn with_tsa(mut config: Value, tsa_root_pem: &str) -> Value {
    config["trustPolicy"]["trustPolicies"][0]["trustStores"]
        .as_array_mut()
        .unwrap()
        .push(json!("tsa:ts"));
    config["trustStores"]["tsa"] = json!({"ts": [tsa_root_pem]});
    config
}

/// Sets `verifyTimestamp` of the first policy of `config`.
fn verify_timestamp(mut config: Value, value: &str) -> Value {
    config["trustPolicy"]["trustPolicies"][0]["signatureVerification"]["verifyTimestamp"] =
        json!(value);
    config
}

/// A timestamp from `tsa` at `gen_time`.
fn stamp(tsa: &TestTsa, gen_time: i64, accuracy_secs: Option<u32>) -> Option<TimestampOptions> {
    Some(TimestampOptions {
        tsa: tsa.clone(),
        gen_time,
        accuracy_secs,
    })
}

/// An environment whose leaf expired a day ago; returns it and the leaf's validity.
async fn expired_env() -> (Env, (i64, i64)) {
    let mut opts = ChainOptions::valid_now();
    let now = unix_now();
    opts.leaf_validity = (now - 10 * DAY, now - DAY);
    (env_with(&opts).await, opts.leaf_validity)
}

fn checks(r: &GuestReport) -> Value {
    r.extensions.get("checks").cloned().unwrap_or(Value::Null)
}

#[track_caller]
fn assert_fails(r: &GuestReport, reason: &str, text: &str) {
    assert!(!r.is_success, "expected failure {reason}, got {r:#?}");
    assert_eq!(r.error_reason.as_deref(), Some(reason), "{r:#?}");
    assert!(
        r.message.contains(text),
        "message {:?} lacks {text:?}",
        r.message
    );
}

/// Replaces `field` of an envelope's JSON.
fn with_field(envelope: &[u8], field: &str, value: Value) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(envelope).unwrap();
    v[field] = value;
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn metadata_names_the_signature_artifact_type() {
    let e = env().await;
    assert_eq!(e.notation.metadata().name, "notation");
    assert!(e.notation.metadata().handles(fx::SIGNATURE_ARTIFACT_TYPE));
}

#[tokio::test]
async fn valid_signature_passes_with_extensions() {
    let e = env().await;
    let mut opts = JwsOptions::now();
    opts.expiry = Some(unix_now() + DAY);
    let r = e.verify_envelope(&e.sign(&opts), &e.config("strict")).await;
    assert!(r.is_success, "{r:#?}");
    let x = &r.extensions;
    assert_eq!(x["Issuer"], "CN=Vouch Test Root, O=Vouch Test, ST=WA, C=US");
    assert_eq!(x["SN"], "CN=Vouch Test Signer, O=Vouch Test, ST=WA, C=US");
    assert!(!x["serialNumber"].as_str().unwrap().is_empty());
    assert_eq!(x["signingTime"], fx::rfc3339(opts.signing_time).unwrap());
    assert_eq!(x["signingScheme"], "notary.x509");
    assert_eq!(x["signingAgent"], "vouch-xtask/0.1.0");
    assert_eq!(x["trustPolicy"], "default");
    assert_eq!(x["verificationLevel"], "strict");
    assert_eq!(
        checks(&r),
        json!({
            "integrity": "passed", "authenticity": "passed", "authenticTimestamp": "passed",
            "expiry": "passed",
            "revocation": "passed (no certificate names an OCSP responder or a CRL distribution point)"
        })
    );
    assert_eq!(x["revocationStatus"], "nonRevokable");
    assert!(
        r.message.contains("revocation status nonRevokable"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn tampered_payload_fails_integrity() {
    let e = env().await;
    let envelope = e.sign(&JwsOptions::now());
    let mut other = e.f.target();
    other.size += 1;
    let forged = with_field(
        &envelope,
        "payload",
        URL_SAFE_NO_PAD.encode(fx::payload(&other)).into(),
    );
    let r = e.verify_envelope(&forged, &e.config("strict")).await;
    assert_fails(&r, "SIGNATURE_INVALID", "integrity validation failed");
    assert!(
        checks(&r)["integrity"]
            .as_str()
            .unwrap()
            .starts_with("failed")
    );
}

#[tokio::test]
async fn tampered_signature_fails_integrity_even_in_audit() {
    let e = env().await;
    let envelope = e.sign(&JwsOptions::now());
    let v: Value = serde_json::from_slice(&envelope).unwrap();
    let mut sig = URL_SAFE_NO_PAD
        .decode(v["signature"].as_str().unwrap())
        .unwrap();
    sig[10] ^= 1;
    let forged = with_field(&envelope, "signature", URL_SAFE_NO_PAD.encode(sig).into());
    for level in ["strict", "audit"] {
        let r = e.verify_envelope(&forged, &e.config(level)).await;
        assert_fails(&r, "SIGNATURE_INVALID", "does not verify");
    }
}

/// notation-go compares the payload's `targetArtifact` with the subject's descriptor as a
/// whole (`content.Equal`: media type, digest and size): any one of the three differing is a
/// signature over something else.
#[tokio::test]
async fn signature_for_another_subject_is_a_subject_mismatch() {
    let e = env().await;
    let mut other = e.f.target();
    other.digest = fx::sha256_digest(b"another image");
    let mut bigger = e.f.target();
    bigger.size += 1;
    let mut retyped = e.f.target();
    retyped.media_type = "application/vnd.oci.image.index.v1+json".into();
    for (target, named) in [
        (&other, other.digest.clone()),
        (&bigger, format!("({} bytes)", bigger.size)),
        (&retyped, retyped.media_type.clone()),
    ] {
        let envelope = fx::sign_jws(
            target,
            &e.chain.leaf_key_pkcs8,
            &e.chain.x5c(),
            &JwsOptions::now(),
        )
        .unwrap();
        for level in ["strict", "audit"] {
            let r = e.verify_envelope(&envelope, &e.config(level)).await;
            assert_fails(&r, "SUBJECT_MISMATCH", &named);
        }
    }
}

#[tokio::test]
async fn expired_certificate_fails_strict_and_is_logged_by_permissive_and_audit() {
    let mut opts = ChainOptions::valid_now();
    let now = unix_now();
    opts.leaf_validity = (now - 10 * DAY, now - DAY);
    let e = env_with(&opts).await;
    let mut sign = JwsOptions::now();
    sign.signing_time = now - 5 * DAY; // signed while the certificate was valid
    let envelope = e.sign(&sign);

    let r = e.verify_envelope(&envelope, &e.config("strict")).await;
    assert_fails(
        &r,
        "CERTIFICATE_EXPIRED",
        "authenticTimestamp validation failed",
    );
    assert_eq!(checks(&r)["authenticity"], "passed");

    for level in ["permissive", "audit"] {
        let r = e.verify_envelope(&envelope, &e.config(level)).await;
        assert!(r.is_success, "{level}: {r:#?}");
        let ts = checks(&r)["authenticTimestamp"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(ts.starts_with("failed (logged)"), "{ts}");
        assert!(
            r.message
                .contains("logged (not enforced) failures: authenticTimestamp"),
            "{}",
            r.message
        );
    }

    // strict with authenticTimestamp overridden to log passes too.
    let mut c = e.config("strict");
    c["trustPolicy"]["trustPolicies"][0]["signatureVerification"]["override"] =
        json!({"authenticTimestamp": "log"});
    assert!(e.verify_envelope(&envelope, &c).await.is_success);
}

#[tokio::test]
async fn untrusted_root_fails_authenticity_unless_audited() {
    let e = env().await;
    let stranger = fx::test_chain(&ChainOptions::valid_now()).unwrap();
    let envelope = e.sign(&JwsOptions::now());
    let untrusting = config("strict", &stranger.root_pem, &[&e.identity]);
    let r = e.verify_envelope(&envelope, &untrusting).await;
    assert_fails(&r, "UNTRUSTED", "authenticity validation failed");

    let audit = config("audit", &stranger.root_pem, &[&e.identity]);
    let r = e.verify_envelope(&envelope, &audit).await;
    assert!(r.is_success, "{r:#?}");
    assert!(
        checks(&r)["authenticity"]
            .as_str()
            .unwrap()
            .starts_with("failed (logged)")
    );
}

#[tokio::test]
async fn identity_mismatch_fails_authenticity() {
    let e = env().await;
    let envelope = e.sign(&JwsOptions::now());
    let other = Subject::new("Vouch Test", "Someone Else").identity();
    let r = e
        .verify_envelope(&envelope, &config("strict", &e.chain.root_pem, &[&other]))
        .await;
    assert_fails(
        &r,
        "UNTRUSTED_IDENTITY",
        "is not one of the trusted identities",
    );

    // The identity is a subset match, attribute order does not matter, `*` trusts anyone.
    for ok in ["x509.subject: O=Vouch Test, C=US, ST=WA", "*"] {
        let r = e
            .verify_envelope(&envelope, &config("strict", &e.chain.root_pem, &[ok]))
            .await;
        assert!(r.is_success, "{ok}: {r:#?}");
    }
}

#[tokio::test]
async fn levels_follow_the_spec_table_for_an_expired_signature() {
    let e = env().await;
    let now = unix_now();
    let mut opts = JwsOptions::now();
    opts.signing_time = now - DAY / 2; // the leaf is valid from a day ago
    opts.expiry = Some(now - 3600);
    let envelope = e.sign(&opts);

    let r = e.verify_envelope(&envelope, &e.config("strict")).await;
    assert_fails(&r, "SIGNATURE_EXPIRED", "expiry validation failed");
    for level in ["permissive", "audit"] {
        let r = e.verify_envelope(&envelope, &e.config(level)).await;
        assert!(r.is_success, "{level}: {r:#?}");
        assert!(
            checks(&r)["expiry"]
                .as_str()
                .unwrap()
                .starts_with("failed (logged)")
        );
    }
    let mut c = e.config("strict");
    c["trustPolicy"]["trustPolicies"][0]["signatureVerification"]["override"] =
        json!({"expiry": "log", "revocation": "skip"});
    let r = e.verify_envelope(&envelope, &c).await;
    assert!(r.is_success, "{r:#?}");
    assert_eq!(checks(&r)["revocation"], "skipped");
    assert_eq!(r.extensions["revocationStatus"], "skipped");

    // skip verifies nothing: even a garbage envelope passes, and says so.
    let skip = json!({
        "trustPolicy": {"version": "1.0", "trustPolicies": [{
            "name": "skipper", "registryScopes": ["*"], "signatureVerification": {"level": "skip"},
        }]},
    });
    let r = e.verify_envelope(b"garbage", &skip).await;
    assert!(r.is_success, "{r:#?}");
    assert!(r.message.contains("skipped"));
    assert_eq!(checks(&r)["integrity"], "skipped");
}

#[tokio::test]
async fn exact_scope_beats_the_wildcard_and_unscoped_subjects_fail() {
    let e = env().await;
    let forged = with_field(&e.sign(&JwsOptions::now()), "signature", "AAAA".into());
    let mut c = e.config("strict");
    let policies = c["trustPolicy"]["trustPolicies"].as_array_mut().unwrap();
    policies[0]["registryScopes"] = json!(["registry.test/team/app"]);
    policies.push(json!({
        "name": "others", "registryScopes": ["*"], "signatureVerification": {"level": "skip"},
    }));
    let r = e.verify_envelope(&forged, &c).await;
    assert_fails(&r, "SIGNATURE_INVALID", "integrity");
    assert_eq!(r.extensions["trustPolicy"], "default");

    c["trustPolicy"]["trustPolicies"]
        .as_array_mut()
        .unwrap()
        .pop();
    let r = e.verify_envelope(&forged, &c).await;
    assert_fails(&r, "SIGNATURE_INVALID", "integrity");
    let mut elsewhere = e.config("strict");
    elsewhere["trustPolicy"]["trustPolicies"][0]["registryScopes"] = json!(["registry.test/other"]);
    let r = e.verify_envelope(&forged, &elsewhere).await;
    assert_fails(&r, "TRUST_POLICY_NOT_FOUND", "registry.test/team/app");
}

#[tokio::test]
async fn unknown_critical_header_is_rejected() {
    let e = env().await;
    let mut opts = JwsOptions::now();
    opts.extra_protected
        .insert("com.example.mustUnderstand".into(), "yes".into());
    opts.extra_crit.push("com.example.mustUnderstand".into());
    let r = e.verify_envelope(&e.sign(&opts), &e.config("strict")).await;
    assert_fails(
        &r,
        "UNSUPPORTED_CRITICAL_ATTRIBUTE",
        "[\"com.example.mustUnderstand\"] critical, which this verifier does not understand",
    );

    // The same header, not critical, is an ignored extended attribute.
    let mut opts = JwsOptions::now();
    opts.extra_protected
        .insert("com.example.info".into(), "yes".into());
    assert!(
        e.verify_envelope(&e.sign(&opts), &e.config("strict"))
            .await
            .is_success
    );
}

#[tokio::test]
async fn malformed_envelopes_fail_with_a_report_not_a_trap() {
    let e = env().await;
    let config = e.config("strict");
    let good = e.sign(&JwsOptions::now());
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            with_field(&good, "payload", "***".into()),
            "INVALID_ENVELOPE",
            "payload is not unpadded base64url",
        ),
        (
            with_field(&good, "protected", "e30".into()),
            "INVALID_ENVELOPE",
            "no alg",
        ),
        (
            b"{not json".to_vec(),
            "INVALID_ENVELOPE",
            "envelope is not JSON",
        ),
        (
            with_field(&good, "header", json!({"x5c": ["%%"]})),
            "INVALID_ENVELOPE",
            "x5c[0] is not base64",
        ),
        (
            with_field(&good, "header", json!({"x5c": ["AAEC"]})),
            "INVALID_ENVELOPE",
            "x5c[0] is not a certificate",
        ),
        (vec![0xff; 4096], "INVALID_ENVELOPE", "not JSON"),
    ];
    for (envelope, reason, text) in cases {
        let r = e.verify_envelope(&envelope, &config).await;
        assert_fails(&r, reason, text);
    }

    let x5c = e.chain.x5c();
    let two = e.f.store_manifest(
        &[(fx::JWS_MEDIA_TYPE, &good), (fx::JWS_MEDIA_TYPE, b"{}")],
        &x5c,
    );
    assert_fails(
        &e.verify(&two, &config).await,
        "INVALID_ENVELOPE",
        "exactly one layer, this one has 2",
    );
    let cose =
        e.f.store_manifest(&[("application/cose", b"\xd2\x84")], &x5c);
    assert_fails(
        &e.verify(&cose, &config).await,
        "INVALID_ENVELOPE",
        "envelope is not valid CBOR: CBOR is truncated",
    );
    let odd = e.f.store_manifest(&[("text/plain", b"hi")], &x5c);
    assert_fails(
        &e.verify(&odd, &config).await,
        "INVALID_ENVELOPE",
        "\"text/plain\"",
    );
}

#[tokio::test]
async fn bad_trust_policies_are_refused_by_check_config() {
    let e = env().await;
    let good = e.config("strict");
    e.rt.check_config(&e.notation, &good.to_string())
        .await
        .unwrap();

    let not_a_cert = "-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n";
    let cases: Vec<(Value, &str)> = vec![
        (json!({"trustPolicy": 1}), "config"),
        (
            {
                let mut c = good.clone();
                c["trustPolicy"]["version"] = json!("0.9");
                c
            },
            "version \"0.9\" is not supported",
        ),
        (
            config("lenient", &e.chain.root_pem, &["*"]),
            "level \"lenient\" is invalid",
        ),
        (
            config("strict", not_a_cert, &["*"]),
            "trust store ca:test, entry 0, certificate 0: not a valid X.509 certificate",
        ),
        (
            config("strict", &e.chain.root_pem, &["x509.subject: CN=x"]),
            "no \"C\" attribute",
        ),
        (
            {
                let mut c = good.clone();
                c["trustPolicy"]["trustPolicies"][0]["trustStores"] = json!(["ca:nope"]);
                c
            },
            "ca:nope is referenced but not defined",
        ),
    ];
    for (config, text) in cases {
        match e.rt.check_config(&e.notation, &config.to_string()).await {
            Err(RuntimeError::Config { reason, .. }) => {
                assert!(reason.contains(text), "{reason:?} lacks {text:?}")
            }
            other => panic!("{text}: expected a config error, got {other:?}"),
        }
    }

    // verify() with a bad config reports CONFIG_INVALID rather than trapping.
    let store = LayoutStore::open(e.f.dir.path(), Default::default()).unwrap();
    let artifact =
        e.f.store_envelope(&e.sign(&JwsOptions::now()), &e.chain.x5c());
    let input = VerifyInput {
        store: Arc::new(store),
        subject_reference: REFERENCE.into(),
        subject: e.f.subject.clone(),
        artifact,
        config: "{\"trustPolicy\": {}}".into(),
        cpu_quota: None,
    };
    let r = e.rt.verify(&e.notation, input).await.unwrap().report;
    assert_fails(&r, "CONFIG_INVALID", "missing field `version`");
}

#[tokio::test]
async fn cose_es256_passes_with_extensions() {
    let e = env().await;
    let mut opts = JwsOptions::now();
    opts.expiry = Some(unix_now() + DAY);
    let r = e
        .verify_cose(&e.sign_cose(&opts), &e.config("strict"))
        .await;
    assert!(r.is_success, "{r:#?}");
    let x = &r.extensions;
    assert_eq!(x["SN"], "CN=Vouch Test Signer, O=Vouch Test, ST=WA, C=US");
    assert_eq!(x["signingTime"], fx::rfc3339(opts.signing_time).unwrap());
    assert_eq!(x["expiry"], fx::rfc3339(opts.expiry.unwrap()).unwrap());
    assert_eq!(x["signingScheme"], "notary.x509");
    assert_eq!(x["signingAgent"], "vouch-xtask/0.1.0");
    assert!(x.get("timestamp").is_none(), "{x:?}");
    assert_eq!(
        checks(&r),
        json!({
            "integrity": "passed", "authenticity": "passed", "authenticTimestamp": "passed",
            "expiry": "passed",
            "revocation": "passed (no certificate names an OCSP responder or a CRL distribution point)"
        })
    );
    assert_eq!(x["revocationStatus"], "nonRevokable");
}

#[tokio::test]
async fn rsa_pss_envelopes_pass_and_a_wrong_alg_fails() {
    let mut opts = ChainOptions::valid_now();
    opts.leaf_key = KeyKind::Rsa2048;
    let e = env_with(&opts).await;
    for (kind, alg) in [
        (Kind::Jws, SigningAlg::Ps256),
        (Kind::Cose, SigningAlg::Ps256),
        (Kind::Jws, SigningAlg::Ps384),
        (Kind::Cose, SigningAlg::Ps384),
        (Kind::Cose, SigningAlg::Ps512),
    ] {
        let mut sign = JwsOptions::now();
        sign.alg = alg;
        let r = e.sign_and_verify(kind, &sign, &e.config("strict")).await;
        assert!(r.is_success, "{kind:?} {alg:?}: {r:#?}");
    }
    // A PS384 signature relabelled PS256 does not verify.
    let mut sign = JwsOptions::now();
    sign.alg = SigningAlg::Ps384;
    sign.extra_protected.insert("alg".into(), "PS256".into());
    let r = e.verify_envelope(&e.sign(&sign), &e.config("strict")).await;
    assert_fails(&r, "SIGNATURE_INVALID", "does not verify");
}

/// Replaces the first occurrence of `from` in `data` with `to` (same length).
fn replace_bytes(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = data
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = data.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[tokio::test]
async fn cose_tampering_and_malformed_envelopes_fail_precisely() {
    let e = env().await;
    let config = e.config("strict");
    let good = e.sign_cose(&JwsOptions::now());
    assert!(e.verify_cose(&good, &config).await.is_success);

    // The payload names another digest of the same length: the signature no longer covers it.
    let other = fx::sha256_digest(b"another image");
    let forged = replace_bytes(&good, e.f.target().digest.as_bytes(), other.as_bytes());
    assert_fails(
        &e.verify_cose(&forged, &config).await,
        "SIGNATURE_INVALID",
        "integrity validation failed",
    );

    // The signature is the last item: flip its last byte.
    let mut forged = good.clone();
    *forged.last_mut().unwrap() ^= 1;
    for level in ["strict", "audit"] {
        assert_fails(
            &e.verify_cose(&forged, &e.config(level)).await,
            "SIGNATURE_INVALID",
            "does not verify",
        );
    }

    let mut foreign = e.f.target();
    foreign.digest = other.clone();
    let envelope = fx::sign_cose(
        &foreign,
        &e.chain.leaf_key_pkcs8,
        &e.chain.x5c(),
        &JwsOptions::now(),
    )
    .unwrap();
    assert_fails(
        &e.verify_cose(&envelope, &config).await,
        "SUBJECT_MISMATCH",
        &other,
    );

    for cut in [1, good.len() / 2, good.len() - 1] {
        assert_fails(
            &e.verify_cose(&good[..cut], &config).await,
            "INVALID_ENVELOPE",
            "truncated",
        );
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert_fails(
        &e.verify_cose(&trailing, &config).await,
        "INVALID_ENVELOPE",
        "1 trailing bytes",
    );
    // A JWS in a COSE layer: `{` reads as a text string with an absurd 8-byte length.
    assert_fails(
        &e.verify_cose(&e.sign(&JwsOptions::now()), &config).await,
        "INVALID_ENVELOPE",
        "envelope is not valid CBOR",
    );

    let mut opts = JwsOptions::now();
    opts.extra_protected
        .insert("com.example.mustUnderstand".into(), "yes".into());
    opts.extra_crit.push("com.example.mustUnderstand".into());
    assert_fails(
        &e.verify_cose(&e.sign_cose(&opts), &config).await,
        "UNSUPPORTED_CRITICAL_ATTRIBUTE",
        "[\"com.example.mustUnderstand\"] critical",
    );
    opts.extra_crit.clear();
    assert!(e.verify_cose(&e.sign_cose(&opts), &config).await.is_success);
}

#[tokio::test]
async fn cose_levels_follow_the_spec_table() {
    let (e, _) = expired_env().await;
    let mut sign = JwsOptions::now();
    sign.signing_time = unix_now() - 5 * DAY;
    let envelope = e.sign_cose(&sign);
    assert_fails(
        &e.verify_cose(&envelope, &e.config("strict")).await,
        "CERTIFICATE_EXPIRED",
        "names no \"tsa\" trust store",
    );
    for level in ["permissive", "audit"] {
        let r = e.verify_cose(&envelope, &e.config(level)).await;
        assert!(r.is_success, "{level}: {r:#?}");
        assert!(
            checks(&r)["authenticTimestamp"]
                .as_str()
                .unwrap()
                .starts_with("failed (logged)")
        );
    }
    let stranger = fx::test_chain(&ChainOptions::valid_now()).unwrap();
    let untrusting = config("permissive", &stranger.root_pem, &[&e.identity]);
    assert_fails(
        &e.verify_cose(&envelope, &untrusting).await,
        "UNTRUSTED",
        "authenticity validation failed",
    );
    let audit = config("audit", &stranger.root_pem, &[&e.identity]);
    assert!(e.verify_cose(&envelope, &audit).await.is_success);
    let other = Subject::new("Vouch Test", "Someone Else").identity();
    assert_fails(
        &e.verify_cose(&envelope, &config("strict", &e.chain.root_pem, &[&other]))
            .await,
        "UNTRUSTED_IDENTITY",
        "not one of the trusted identities",
    );
}

#[tokio::test]
async fn a_valid_timestamp_rescues_an_expired_certificate() {
    let (e, _) = expired_env().await;
    let tsa = fx::test_tsa("Vouch Test TSA").unwrap();
    let signed = unix_now() - 5 * DAY;
    let mut sign = JwsOptions::now();
    sign.signing_time = signed;
    sign.timestamp = stamp(&tsa, signed + 10, Some(1));
    let strict = with_tsa(e.config("strict"), &tsa.root_pem);
    for kind in KINDS {
        let r = e.sign_and_verify(kind, &sign, &strict).await;
        assert!(r.is_success, "{kind:?}: {r:#?}");
        assert_eq!(r.extensions["timestamp"], fx::rfc3339(signed + 10).unwrap());
        assert_eq!(
            r.extensions["timestampAuthority"],
            "CN=Vouch Test TSA, O=Vouch Test TSA, ST=WA, C=US"
        );
        assert_eq!(checks(&r)["authenticTimestamp"], "passed");
        // afterCertExpiry checks it too, since the certificate has expired.
        let after = verify_timestamp(strict.clone(), "afterCertExpiry");
        let r = e.sign_and_verify(kind, &sign, &after).await;
        assert!(r.is_success, "{kind:?}: {r:#?}");
        assert!(r.extensions.contains_key("timestamp"));

        // Without a tsa trust store no timestamp is verified (notation-go: "Timestamp
        // verification disabled: no tsa trust store is configured in trust policy"), so the
        // expired certificate fails.
        let r = e.sign_and_verify(kind, &sign, &e.config("strict")).await;
        assert_fails(&r, "CERTIFICATE_EXPIRED", "names no \"tsa\" trust store");
    }
}

#[tokio::test]
async fn untrusted_foreign_or_altered_timestamps_do_not_rescue() {
    let (e, (not_before, not_after)) = expired_env().await;
    let tsa = fx::test_tsa("Vouch Test TSA").unwrap();
    let rogue = fx::test_tsa("Rogue TSA").unwrap();
    let signed = unix_now() - 5 * DAY;
    let strict = with_tsa(e.config("strict"), &tsa.root_pem);
    for kind in KINDS {
        let mut sign = JwsOptions::now();
        sign.signing_time = signed;
        sign.timestamp = stamp(&rogue, signed, None);
        let r = e.sign_and_verify(kind, &sign, &strict).await;
        assert_fails(
            &r,
            "TIMESTAMP_INVALID",
            "not trusted by the \"tsa\" trust store",
        );
        // permissive logs it.
        let permissive = with_tsa(e.config("permissive"), &tsa.root_pem);
        let r = e.sign_and_verify(kind, &sign, &permissive).await;
        assert!(r.is_success, "{r:#?}");
        assert!(
            checks(&r)["authenticTimestamp"]
                .as_str()
                .unwrap()
                .contains("not trusted")
        );

        // Taken after the certificate expired.
        sign.timestamp = stamp(&tsa, not_after + 3600, None);
        let r = e.sign_and_verify(kind, &sign, &strict).await;
        assert_fails(
            &r,
            "TIMESTAMP_INVALID",
            "outside the validity of certificate",
        );
        // Just inside, but its accuracy reaches past the expiry.
        sign.timestamp = stamp(&tsa, not_after - 10, Some(60));
        let r = e.sign_and_verify(kind, &sign, &strict).await;
        assert_fails(&r, "TIMESTAMP_INVALID", "(± 60 s) is outside the validity");
        sign.timestamp = stamp(&tsa, not_after - 10, Some(5));
        assert!(e.sign_and_verify(kind, &sign, &strict).await.is_success);
        // Reaching exactly to notAfter is inside: RFC 5280 4.1.2.5, "the period of time from
        // notBefore through notAfter, inclusive".
        sign.timestamp = stamp(&tsa, not_after - 5, Some(5));
        assert!(e.sign_and_verify(kind, &sign, &strict).await.is_success);

        // notation-go checks "the timestamp against the signing certificate chain" on both
        // sides: "timestamp can be before certificate ... validity period, it will be valid
        // from ...". A timestamp before the leaf's notBefore, or whose accuracy reaches before
        // it, proves nothing about a time the certificate was valid.
        sign.timestamp = stamp(&tsa, not_before - 3600, None);
        let r = e.sign_and_verify(kind, &sign, &strict).await;
        assert_fails(
            &r,
            "TIMESTAMP_INVALID",
            "outside the validity of certificate",
        );
        sign.timestamp = stamp(&tsa, not_before + 10, Some(60));
        let r = e.sign_and_verify(kind, &sign, &strict).await;
        assert_fails(&r, "TIMESTAMP_INVALID", "(± 60 s) is outside the validity");
        // Reaching back exactly to notBefore is inside (inclusive).
        sign.timestamp = stamp(&tsa, not_before + 5, Some(5));
        let r = e.sign_and_verify(kind, &sign, &strict).await;
        assert!(r.is_success, "{kind:?}: {r:#?}");
    }

    // A token over another signature (JWS: swapped in from another envelope).
    let mut sign = JwsOptions::now();
    sign.signing_time = signed;
    let envelope = e.sign(&sign);
    let token = fx::timestamp_token(&tsa, b"some other signature", signed, None).unwrap();
    let mut v: Value = serde_json::from_slice(&envelope).unwrap();
    v["header"]["io.cncf.notary.timestampSignature"] = base64::engine::general_purpose::STANDARD
        .encode(&token)
        .into();
    let r = e
        .verify_envelope(&serde_json::to_vec(&v).unwrap(), &strict)
        .await;
    assert_fails(&r, "TIMESTAMP_INVALID", "message imprint");
    // A token whose TSTInfo was altered after signing (genTime moved a year back).
    let year = fx::rfc3339(signed).unwrap()[..4].to_owned();
    let earlier = (year.parse::<u32>().unwrap() - 1).to_string();
    let sig = URL_SAFE_NO_PAD
        .decode(v["signature"].as_str().unwrap())
        .unwrap();
    let over_sig = fx::timestamp_token(&tsa, &sig, signed, None).unwrap();
    let altered_over_sig = replace_bytes(&over_sig, year.as_bytes(), earlier.as_bytes());
    // A token whose ESS attribute names another certificate than the one that signed it (a
    // substituted TSA certificate), and one with no ESS attribute at all.
    let substituted = fx::TokenEss::Certificate(tsa.root_der.clone());
    let substituted = fx::timestamp_token_with(&tsa, &sig, signed, None, &substituted).unwrap();
    let unbound = fx::timestamp_token_with(&tsa, &sig, signed, None, &fx::TokenEss::Absent);
    for (token, text) in [
        (altered_over_sig, "messageDigest does not match its TSTInfo"),
        (substituted, "names another certificate than its signer's"),
        (
            unbound.unwrap(),
            "no signingCertificateV2 or signingCertificate",
        ),
        (
            b"\x30\x03\x02\x01\x01".to_vec(),
            "malformed timestamp token",
        ),
    ] {
        v["header"]["io.cncf.notary.timestampSignature"] =
            base64::engine::general_purpose::STANDARD
                .encode(&token)
                .into();
        let r = e
            .verify_envelope(&serde_json::to_vec(&v).unwrap(), &strict)
            .await;
        assert_fails(&r, "TIMESTAMP_INVALID", text);
    }
}

#[tokio::test]
async fn verify_timestamp_always_checks_a_present_timestamp_after_cert_expiry_does_not() {
    let e = env().await;
    let tsa = fx::test_tsa("Vouch Test TSA").unwrap();
    let rogue = fx::test_tsa("Rogue TSA").unwrap();
    let mut sign = JwsOptions::now();
    sign.timestamp = stamp(&rogue, sign.signing_time, None);
    let always = with_tsa(e.config("strict"), &tsa.root_pem);
    let after = verify_timestamp(always.clone(), "afterCertExpiry");
    for kind in KINDS {
        let r = e.sign_and_verify(kind, &sign, &always).await;
        assert_fails(&r, "TIMESTAMP_INVALID", "not trusted");
        let r = e
            .sign_and_verify(kind, &sign, &verify_timestamp(always.clone(), "always"))
            .await;
        assert_fails(&r, "TIMESTAMP_INVALID", "not trusted");
        // The certificate is valid now: afterCertExpiry does not look at the timestamp.
        let r = e.sign_and_verify(kind, &sign, &after).await;
        assert!(r.is_success, "{kind:?}: {r:#?}");
        assert!(!r.extensions.contains_key("timestamp"));
        // A good timestamp under `always` is verified and reported.
        let mut good = sign.clone();
        good.timestamp = stamp(&tsa, sign.signing_time, None);
        let r = e.sign_and_verify(kind, &good, &always).await;
        assert!(r.is_success, "{kind:?}: {r:#?}");
        assert_eq!(
            r.extensions["timestamp"],
            fx::rfc3339(sign.signing_time).unwrap()
        );
    }
}

/// A config trusting `root_pem` as a signing authority.
fn signing_authority_config(level: &str, root_pem: &str, identity: &str) -> Value {
    json!({
        "trustPolicy": {"version": "1.0", "trustPolicies": [{
            "name": "default",
            "registryScopes": ["*"],
            "signatureVerification": {"level": level},
            "trustStores": ["signingAuthority:sa"],
            "trustedIdentities": [identity],
        }]},
        "trustStores": {"signingAuthority": {"sa": [root_pem]}},
    })
}

#[tokio::test]
async fn signing_authority_scheme_uses_the_signing_authority_store() {
    let (e, _) = expired_env().await;
    let mut sign = JwsOptions::now();
    sign.scheme = SigningScheme::SigningAuthority;
    sign.signing_time = unix_now() - 5 * DAY; // an authentic time inside the validity
    let sa = signing_authority_config("strict", &e.chain.root_pem, &e.identity);
    for kind in KINDS {
        let r = e.sign_and_verify(kind, &sign, &sa).await;
        assert!(r.is_success, "{kind:?}: {r:#?}");
        assert_eq!(
            r.extensions["signingScheme"],
            "notary.x509.signingAuthority"
        );
        assert_eq!(checks(&r)["authenticTimestamp"], "passed");
        // The same root as a `ca` store does not vouch for a signing authority.
        let r = e.sign_and_verify(kind, &sign, &e.config("strict")).await;
        assert_fails(&r, "UNTRUSTED", "needs a \"signingAuthority\" trust store");
        // An authentic signing time outside the certificate's validity is not trusted.
        let mut late = sign.clone();
        late.signing_time = unix_now() - 3600;
        let r = e.sign_and_verify(kind, &late, &sa).await;
        assert_fails(&r, "UNTRUSTED", "at the signing time");
    }
}

/// Sets the `override` map of the first policy of `config`.
fn with_override(mut config: Value, overrides: Value) -> Value {
    config["trustPolicy"]["trustPolicies"][0]["signatureVerification"]["override"] = overrides;
    config
}

/// Spec (trust-store-trust-policy.md, Validate Trusted Timestamp) and notation-go
/// (`verifyTimestamp`): when the policy names a `tsa` trust store and `verifyTimestamp` is
/// `always` (the default), "Timestamp countersignature MUST be present": a signature without one
/// fails authentic timestamp validation with "no timestamp countersignature was found in the
/// signature envelope" (enforced by strict, logged by permissive and audit). Without a `tsa`
/// store, or under `afterCertExpiry` while the chain is unexpired, no timestamp is needed and the
/// chain must be valid now.
#[tokio::test]
async fn a_tsa_store_with_verify_timestamp_always_requires_a_timestamp() {
    let e = env().await;
    let tsa = fx::test_tsa("Vouch Test TSA").unwrap();
    let unstamped = JwsOptions::now();
    let default_always = with_tsa(e.config("strict"), &tsa.root_pem);
    let explicit_always = verify_timestamp(default_always.clone(), "always");
    let after = verify_timestamp(default_always.clone(), "afterCertExpiry");
    for kind in KINDS {
        for config in [&default_always, &explicit_always] {
            let r = e.sign_and_verify(kind, &unstamped, config).await;
            assert_fails(
                &r,
                "TIMESTAMP_MISSING",
                "no timestamp countersignature was found in the signature envelope",
            );
            assert!(r.message.contains("authenticTimestamp validation failed"));
            assert_eq!(checks(&r)["authenticity"], "passed");
        }
        // permissive and audit log the missing timestamp.
        for level in ["permissive", "audit"] {
            let r = e
                .sign_and_verify(kind, &unstamped, &with_tsa(e.config(level), &tsa.root_pem))
                .await;
            assert!(r.is_success, "{level}: {r:#?}");
            let ts = checks(&r)["authenticTimestamp"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(ts.starts_with("failed (logged)"), "{ts}");
            assert!(ts.contains("no timestamp countersignature"), "{ts}");
        }
        // strict with authenticTimestamp overridden to log passes.
        let logged = with_override(default_always.clone(), json!({"authenticTimestamp": "log"}));
        assert!(
            e.sign_and_verify(kind, &unstamped, &logged)
                .await
                .is_success
        );
        // afterCertExpiry: the chain is valid now, no timestamp needed.
        let r = e.sign_and_verify(kind, &unstamped, &after).await;
        assert!(r.is_success, "{kind:?}: {r:#?}");
        assert_eq!(checks(&r)["authenticTimestamp"], "passed");
        // No tsa store: no timestamp is verified, the valid chain passes.
        let r = e
            .sign_and_verify(kind, &unstamped, &e.config("strict"))
            .await;
        assert!(r.is_success, "{kind:?}: {r:#?}");
        // A stamped signature passes under `always`.
        let mut stamped = unstamped.clone();
        stamped.timestamp = stamp(&tsa, stamped.signing_time, None);
        let r = e.sign_and_verify(kind, &stamped, &default_always).await;
        assert!(r.is_success, "{kind:?}: {r:#?}");
        assert!(r.extensions.contains_key("timestamp"));
    }
}

/// notation-go (`verifyTimestamp`, `afterCertExpiry`): once a certificate of the signing chain
/// has expired, the timestamp is verified and "Timestamp countersignature MUST be present"; spec:
/// "In the absence of an Authentic Timestamp, a signature is considered invalid if the signing
/// certificate or chain is either expired or revoked".
#[tokio::test]
async fn after_cert_expiry_requires_a_timestamp_once_the_certificate_expired() {
    let (e, _) = expired_env().await;
    let tsa = fx::test_tsa("Vouch Test TSA").unwrap();
    let mut unstamped = JwsOptions::now();
    unstamped.signing_time = unix_now() - 5 * DAY;
    let after = verify_timestamp(
        with_tsa(e.config("strict"), &tsa.root_pem),
        "afterCertExpiry",
    );
    for kind in KINDS {
        let r = e.sign_and_verify(kind, &unstamped, &after).await;
        assert_fails(
            &r,
            "TIMESTAMP_MISSING",
            "a certificate of the chain has expired",
        );
        // Without a tsa store the expired certificate fails, naming why no timestamp helps.
        let r = e
            .sign_and_verify(kind, &unstamped, &e.config("strict"))
            .await;
        assert_fails(&r, "CERTIFICATE_EXPIRED", "names no \"tsa\" trust store");
    }
}

/// A timestamp countersignature that is present but cannot be parsed fails authentic timestamp
/// validation, saying so (notation-go: "failed to parse timestamp countersignature"), under every
/// `verifyTimestamp` option, with or without a `tsa` store (fail closed: notation-go ignores a
/// timestamp it does not verify; this verifier does not accept a malformed envelope attribute).
#[tokio::test]
async fn a_present_but_unparsable_timestamp_fails_saying_so() {
    let e = env().await;
    let tsa = fx::test_tsa("Vouch Test TSA").unwrap();
    let mut garbage = JwsOptions::now();
    garbage.raw_timestamp = Some(b"\x30\x03\x02\x01\x01 not a timestamp token".to_vec());
    let always = with_tsa(e.config("strict"), &tsa.root_pem);
    let configs = [
        always.clone(),
        verify_timestamp(always, "afterCertExpiry"),
        e.config("strict"),
        verify_timestamp(e.config("strict"), "afterCertExpiry"),
    ];
    for kind in KINDS {
        for config in &configs {
            let r = e.sign_and_verify(kind, &garbage, config).await;
            assert_fails(
                &r,
                "TIMESTAMP_INVALID",
                "the timestamp countersignature cannot be parsed (malformed timestamp token",
            );
        }
        let r = e
            .sign_and_verify(kind, &garbage, &e.config("permissive"))
            .await;
        assert!(r.is_success, "{r:#?}");
        assert!(
            checks(&r)["authenticTimestamp"]
                .as_str()
                .unwrap()
                .contains("cannot be parsed")
        );
    }
}

/// A chain whose leaf and root carry the revocation endpoints `leaf` and `root`.
async fn revocable_env(leaf: RevocationInfo, root: RevocationInfo) -> Env {
    let mut opts = ChainOptions::valid_now();
    opts.leaf_revocation = leaf;
    opts.root_revocation = root;
    env_with(&opts).await
}

/// Spec (Certificate Revocation Evaluation): "If the revocation status of any of the
/// certificates is revoked or cannot be determined (revocation unavailable), fail this step.
/// This will fail the overall signature verification or log the error, depending on if
/// revocations status check is `enforced` or `logged`". A certificate naming a CRL distribution
/// point or an OCSP responder has an undeterminable status here (no OCSP/CRL fetching): strict
/// fails, permissive and audit pass with the status recorded, overrides apply.
#[tokio::test]
async fn revocation_endpoints_follow_the_levels_revocation_action() {
    let crl = "http://crl.test/leaf.crl";
    let e = revocable_env(RevocationInfo::crl(crl), RevocationInfo::default()).await;
    let sign = JwsOptions::now();
    for kind in KINDS {
        let r = e.sign_and_verify(kind, &sign, &e.config("strict")).await;
        assert_fails(
            &r,
            "REVOCATION_STATUS_UNKNOWN",
            "revocation validation failed",
        );
        assert!(r.message.contains(&format!("CRL {crl}")), "{}", r.message);
        assert!(
            r.message
                .contains("signing certificate #1 \"CN=Vouch Test Signer"),
            "{}",
            r.message
        );
        assert_eq!(r.extensions["revocationStatus"], "unknown");
        assert_eq!(checks(&r)["expiry"], "passed");

        for level in ["permissive", "audit"] {
            let r = e.sign_and_verify(kind, &sign, &e.config(level)).await;
            assert!(r.is_success, "{level}: {r:#?}");
            assert_eq!(r.extensions["revocationStatus"], "unknown");
            assert!(
                checks(&r)["revocation"]
                    .as_str()
                    .unwrap()
                    .starts_with("failed (logged): signing certificate #1")
            );
            assert!(
                r.message
                    .contains("logged (not enforced) failures: revocation:"),
                "{}",
                r.message
            );
            assert!(r.message.contains("revocation status unknown"));
        }
        // Overrides: strict logging revocation passes, strict skipping it does not check it,
        // permissive enforcing it fails.
        let logged = with_override(e.config("strict"), json!({"revocation": "log"}));
        let r = e.sign_and_verify(kind, &sign, &logged).await;
        assert!(r.is_success, "{r:#?}");
        assert_eq!(r.extensions["revocationStatus"], "unknown");
        let skipped = with_override(e.config("strict"), json!({"revocation": "skip"}));
        let r = e.sign_and_verify(kind, &sign, &skipped).await;
        assert!(r.is_success, "{r:#?}");
        assert_eq!(r.extensions["revocationStatus"], "skipped");
        assert_eq!(checks(&r)["revocation"], "skipped");
        let enforced = with_override(e.config("permissive"), json!({"revocation": "enforce"}));
        let r = e.sign_and_verify(kind, &sign, &enforced).await;
        assert_fails(&r, "REVOCATION_STATUS_UNKNOWN", crl);
    }
}

/// Spec: "If the certificate being validated includes either OCSP or CRL information, then the
/// one which is present is used for revocation check", checked "for each certificate in the
/// certificate chain": an OCSP responder (authority information access) on the leaf makes the
/// status undeterminable here (no revocation source); a CRL distribution point on the root alone
/// does not (notation-core-go: "Last is root cert, which will never be revoked by OCSP or CRL");
/// a chain with neither is "considered valid (not revoked)".
#[tokio::test]
async fn ocsp_responders_and_root_distribution_points_are_revocation_information() {
    let sign = JwsOptions::now();
    let ocsp = revocable_env(RevocationInfo::ocsp("http://ocsp.test"), Default::default()).await;
    let root = revocable_env(
        Default::default(),
        RevocationInfo::crl("http://crl.test/root.crl"),
    )
    .await;
    let plain = env().await;
    for kind in KINDS {
        let r = ocsp
            .sign_and_verify(kind, &sign, &ocsp.config("strict"))
            .await;
        assert_fails(&r, "REVOCATION_STATUS_UNKNOWN", "OCSP: http://ocsp.test");
        let r = root
            .sign_and_verify(kind, &sign, &root.config("strict"))
            .await;
        assert!(r.is_success, "{r:#?}");
        assert_eq!(r.extensions["revocationStatus"], "nonRevokable");
        let r = plain
            .sign_and_verify(kind, &sign, &plain.config("strict"))
            .await;
        assert!(r.is_success, "{r:#?}");
        assert_eq!(r.extensions["revocationStatus"], "nonRevokable");
    }
}

/// Spec (Validate Trusted Timestamp): "Validate timestamp certificate and certificate chain
/// revocation status using certificate revocation evaluation section" — a TSA certificate naming
/// an OCSP responder has an undeterminable status; as in notation-go this fails the authentic
/// timestamp validation (under its action), whatever the `revocation` action.
#[tokio::test]
async fn a_tsa_certificate_with_revocation_endpoints_is_undeterminable() {
    let e = env().await;
    let tsa = fx::test_tsa_with(
        "Vouch OCSP TSA",
        &RevocationInfo::ocsp("http://ocsp.tsa.test"),
    )
    .unwrap();
    let mut sign = JwsOptions::now();
    sign.timestamp = stamp(&tsa, sign.signing_time, None);
    let strict = with_tsa(e.config("strict"), &tsa.root_pem);
    for kind in KINDS {
        let r = e.sign_and_verify(kind, &sign, &strict).await;
        assert_fails(
            &r,
            "REVOCATION_STATUS_UNKNOWN",
            "timestamping certificate #1 \"CN=Vouch OCSP TSA",
        );
        assert!(
            r.message.contains("OCSP: http://ocsp.tsa.test"),
            "{}",
            r.message
        );
        assert!(
            checks(&r)["authenticTimestamp"]
                .as_str()
                .unwrap()
                .starts_with("failed")
        );
        let permissive = with_tsa(e.config("permissive"), &tsa.root_pem);
        let r = e.sign_and_verify(kind, &sign, &permissive).await;
        assert!(r.is_success, "{r:#?}");
        assert_eq!(r.extensions["revocationStatus"], "nonRevokable");
        let skipped = with_override(strict.clone(), json!({"revocation": "skip"}));
        let r = e.sign_and_verify(kind, &sign, &skipped).await;
        assert_fails(&r, "REVOCATION_STATUS_UNKNOWN", "Vouch OCSP TSA");
        assert_eq!(r.extensions.get("revocationStatus"), None);
    }
}

/// signature-envelope-jws.md, Unprotected Headers: "`io.cncf.notary.timestampSignature`
/// (*string*): This OPTIONAL header is used to store countersignature that provides authentic
/// signing time". A JWS timestamp is read from that header (a valid one rescues an expired
/// certificate, a garbage one fails); the same token under `io.cncf.notary.timestamp` is not a
/// timestamp (notation ignores that name), so a policy requiring one fails.
#[tokio::test]
async fn jws_timestamps_are_read_from_the_timestamp_signature_header() {
    let (e, _) = expired_env().await;
    let tsa = fx::test_tsa("Vouch Test TSA").unwrap();
    let mut sign = JwsOptions::now();
    sign.signing_time = unix_now() - 5 * DAY;
    sign.timestamp = stamp(&tsa, sign.signing_time, None);
    let strict = with_tsa(e.config("strict"), &tsa.root_pem);
    let envelope = e.sign(&sign);
    let mut v: Value = serde_json::from_slice(&envelope).unwrap();
    let token = v["header"]["io.cncf.notary.timestampSignature"].clone();
    assert!(
        token.is_string(),
        "the fixture writes the spec's header: {v}"
    );
    let r = e.verify_envelope(&envelope, &strict).await;
    assert!(r.is_success, "{r:#?}");
    assert!(r.extensions.contains_key("timestamp"));

    let header = v["header"].as_object_mut().unwrap();
    header.remove("io.cncf.notary.timestampSignature");
    header.insert("io.cncf.notary.timestamp".into(), token);
    let renamed = serde_json::to_vec(&v).unwrap();
    let r = e.verify_envelope(&renamed, &strict).await;
    assert_fails(
        &r,
        "TIMESTAMP_MISSING",
        "no timestamp countersignature was found",
    );

    v["header"]["io.cncf.notary.timestampSignature"] = base64::engine::general_purpose::STANDARD
        .encode(b"garbage")
        .into();
    let r = e
        .verify_envelope(&serde_json::to_vec(&v).unwrap(), &strict)
        .await;
    assert_fails(&r, "TIMESTAMP_INVALID", "cannot be parsed");
}

/// Signature specification, Leaf Certificates: "Extended Key Usage: The `extendedKeyUsage`
/// extension is OPTIONAL and can OPTIONALLY be marked as critical. For signing certificate: If
/// present, the value MAY contain `id-kp-codeSigning` and MUST NOT contain
/// `anyExtendedKeyUsage`, `serverAuth`, `clientAuth`, `emailProtection` and `timeStamping`."
/// A leaf without the extension is accepted (as notation-go does); one listing a TLS or
/// timestamping purpose fails authenticity.
#[tokio::test]
async fn signing_certificate_extended_key_usage_follows_the_spec() {
    let sign = JwsOptions::now();
    let mut no_eku = ChainOptions::valid_now();
    no_eku.code_signing = false;
    let no_eku = env_with(&no_eku).await;
    let mut server = ChainOptions::valid_now();
    server.leaf_extra_ekus = vec![vec![1, 3, 6, 1, 5, 5, 7, 3, 1]];
    let server = env_with(&server).await;
    let mut stamping = ChainOptions::valid_now();
    stamping.code_signing = false;
    stamping.leaf_extra_ekus = vec![vec![1, 3, 6, 1, 5, 5, 7, 3, 8]];
    let stamping = env_with(&stamping).await;
    for kind in KINDS {
        let r = no_eku
            .sign_and_verify(kind, &sign, &no_eku.config("strict"))
            .await;
        assert!(r.is_success, "{kind:?}: {r:#?}");
        assert_eq!(checks(&r)["authenticity"], "passed");
        let r = server
            .sign_and_verify(kind, &sign, &server.config("strict"))
            .await;
        assert_fails(&r, "UNTRUSTED", "extended key usage lists serverAuth");
        let r = stamping
            .sign_and_verify(kind, &sign, &stamping.config("strict"))
            .await;
        assert_fails(&r, "UNTRUSTED", "extended key usage lists timeStamping");
        // audit logs authenticity failures.
        let r = stamping
            .sign_and_verify(kind, &sign, &stamping.config("audit"))
            .await;
        assert!(r.is_success, "{r:#?}");
    }
}

/// Signature specification: the manifest annotation `io.cncf.notary.x509chain.thumbprint#S256`
/// is "REQUIRED" and serves filtering; notation-go writes it when signing and never reads it
/// when verifying, so Vouch does the same: the envelope's own chain is what is verified. An
/// annotation naming other certificates neither fails a good signature nor makes a stranger's
/// signature trusted.
#[tokio::test]
async fn the_thumbprint_annotation_neither_fails_nor_grants_trust() {
    let e = env().await;
    let stranger = fx::test_chain(&ChainOptions::valid_now()).unwrap();
    let opts = JwsOptions::now();
    let target = e.f.target();
    let ours = fx::sign_jws(&target, &e.chain.leaf_key_pkcs8, &e.chain.x5c(), &opts).unwrap();
    let r = e
        .verify(
            &e.f.store_envelope(&ours, &stranger.x5c()),
            &e.config("strict"),
        )
        .await;
    assert!(r.is_success, "{r:#?}");
    let theirs = fx::sign_jws(&target, &stranger.leaf_key_pkcs8, &stranger.x5c(), &opts).unwrap();
    let r = e
        .verify(
            &e.f.store_envelope(&theirs, &e.chain.x5c()),
            &e.config("strict"),
        )
        .await;
    assert_fails(
        &r,
        "UNTRUSTED",
        "does not end in a certificate of trust store",
    );
}

/// Signature specification, Certificate Requirements, leaf: "The `keyUsage` extension MUST be
/// present and MUST be marked critical. Bit positions for `digitalSignature` MUST be set. Bit
/// positions for `keyCertSign` and `cRLSign` MUST NOT be set"; root and intermediate CA
/// certificates: "The `basicConstraints` extension MUST be present and MUST be marked as
/// critical. The `cA` field MUST be set `true`". notation-core-go checks these while verifying
/// the envelope (`ValidateCodeSigningCertChain`, an integrity failure): `CERTIFICATE_INVALID`
/// at every level, audit included.
#[tokio::test]
async fn certificate_requirements_are_checked_with_the_signature() {
    use rcgen::KeyUsagePurpose as Ku;
    let sign = JwsOptions::now();
    let mut no_ku = ChainOptions::valid_now();
    no_ku.leaf_key_usages = Vec::new();
    let mut cert_sign = ChainOptions::valid_now();
    cert_sign.leaf_key_usages = vec![Ku::DigitalSignature, Ku::KeyCertSign];
    let mut no_digital = ChainOptions::valid_now();
    no_digital.leaf_key_usages = vec![Ku::ContentCommitment];
    let mut root_not_ca = ChainOptions::valid_now();
    root_not_ca.root_is_ca = false;
    let cases = [
        (
            no_ku,
            "certificate #1: the keyUsage extension MUST be present",
        ),
        (
            cert_sign,
            "keyUsage must be digitalSignature only, but has keyCertSign",
        ),
        (no_digital, "keyUsage MUST have digitalSignature set"),
        (
            root_not_ca,
            "certificate #2 (a CA certificate): basicConstraints MUST be present with cA set true",
        ),
    ];
    for (opts, text) in cases {
        let e = env_with(&opts).await;
        for kind in KINDS {
            for level in ["strict", "audit"] {
                let r = e.sign_and_verify(kind, &sign, &e.config(level)).await;
                assert_fails(&r, "CERTIFICATE_INVALID", text);
            }
        }
    }
}

/// Trust store and trust policy specification, Validate Authenticity: "Validate that the
/// signature envelope contains a complete certificate chain that starts from a code signing
/// certificate and terminates with a root certificate" and "Validate that certificate and
/// certificate-chain lead to a trusted certificate present in the named store" (notation-go
/// compares the chain's last certificate with the store's). An `x5c` without the root, or ending
/// in a root the store does not hold, fails authenticity even when the leaf chains to the store.
#[tokio::test]
async fn the_envelope_chain_must_end_in_a_certificate_of_the_trust_store() {
    let e = env().await;
    let stranger = fx::test_chain(&ChainOptions::valid_now()).unwrap();
    let opts = JwsOptions::now();
    let key = &e.chain.leaf_key_pkcs8;
    let leaf_only = vec![e.chain.leaf_der.clone()];
    let foreign_end = vec![e.chain.leaf_der.clone(), stranger.root_der.clone()];
    for chain in [&leaf_only, &foreign_end] {
        let jws = fx::sign_jws(&e.f.target(), key, chain, &opts).unwrap();
        let cose = fx::sign_cose(&e.f.target(), key, chain, &opts).unwrap();
        let reports = [
            e.verify(&e.f.store_envelope(&jws, chain), &e.config("strict"))
                .await,
            e.verify(
                &e.f.store_envelope_as(fx::COSE_MEDIA_TYPE, &cose, chain),
                &e.config("strict"),
            )
            .await,
        ];
        for r in reports {
            assert_fails(
                &r,
                "UNTRUSTED",
                "does not end in a certificate of trust store type \"ca\"",
            );
            assert!(
                r.message
                    .contains(&format!("last certificate (#{}", chain.len())),
                "{}",
                r.message
            );
        }
    }
    // The complete chain (leaf, root) passes.
    let r = e.verify_envelope(&e.sign(&opts), &e.config("strict")).await;
    assert!(r.is_success, "{r:#?}");
}

/// signature-specification.md, extended attributes: `io.cncf.notary.verificationPlugin` names
/// the plugin verification requires and `io.cncf.notary.verificationPluginMinVersion` its
/// minimum version. This verifier runs no plugins: the signature fails, saying which plugin
/// and version it needs, with a reason of its own, in JWS and COSE alike and at every level
/// but `skip` (notation-go fails it as inconclusive right after integrity). A missing
/// certificate chain is reported as that, first.
#[tokio::test]
async fn a_required_verification_plugin_is_named_with_its_minimum_version() {
    let e = env().await;
    let mut opts = JwsOptions::now();
    opts.extra_protected.insert(
        "io.cncf.notary.verificationPlugin".into(),
        "com.example.verifier".into(),
    );
    opts.extra_protected.insert(
        "io.cncf.notary.verificationPluginMinVersion".into(),
        "1.2.0".into(),
    );
    opts.extra_crit
        .push("io.cncf.notary.verificationPlugin".into());
    opts.extra_crit
        .push("io.cncf.notary.verificationPluginMinVersion".into());
    for kind in KINDS {
        for level in ["strict", "permissive", "audit"] {
            let r = e.sign_and_verify(kind, &opts, &e.config(level)).await;
            assert_fails(
                &r,
                "VERIFICATION_PLUGIN_REQUIRED",
                "plugin \"com.example.verifier\" version 1.2.0 or later",
            );
            assert_eq!(
                r.extensions["verificationPluginMinVersion"],
                json!("1.2.0"),
                "{kind:?} {level}"
            );
        }
    }
    // Tampered: integrity fails first.
    let envelope = e.sign(&opts);
    let mut v: Value = serde_json::from_slice(&envelope).unwrap();
    v["signature"] = json!(URL_SAFE_NO_PAD.encode([0u8; 64]));
    let r = e
        .verify_envelope(&serde_json::to_vec(&v).unwrap(), &e.config("strict"))
        .await;
    assert_fails(&r, "SIGNATURE_INVALID", "does not verify");
    // No chain: reported as that.
    let mut v: Value = serde_json::from_slice(&envelope).unwrap();
    v["header"].as_object_mut().unwrap().remove("x5c");
    let r = e
        .verify_envelope(&serde_json::to_vec(&v).unwrap(), &e.config("strict"))
        .await;
    assert_fails(&r, "INVALID_ENVELOPE", "x5c");
}

/// `notation verify --user-metadata k=v` (notation-go `verifyUserMetadata`): every pair must be
/// among the signed annotations of the target artifact in the payload, with an equal value;
/// otherwise the verification fails (`USER_METADATA_MISMATCH`), naming what is missing.
#[tokio::test]
async fn user_metadata_must_be_signed_into_the_payload() {
    let e = env().await;
    let payload = json!({"targetArtifact": {
        "mediaType": e.f.subject.media_type,
        "digest": e.f.subject.digest.to_string(),
        "size": e.f.subject.size,
        "annotations": {"env": "prod", "io.wabbit-networks.buildId": "123"},
    }});
    let envelope = fx::sign_jws_payload(
        &serde_json::to_vec(&payload).unwrap(),
        &e.chain.leaf_key_pkcs8,
        &e.chain.x5c(),
        &JwsOptions::now(),
    )
    .unwrap();
    let with_metadata = |pairs: Value| {
        let mut c = e.config("strict");
        c["userMetadata"] = pairs;
        c
    };
    let r = e
        .verify_envelope(&envelope, &with_metadata(json!({"env": "prod"})))
        .await;
    assert!(r.is_success, "{r:#?}");
    let r = e
        .verify_envelope(&envelope, &with_metadata(json!({"env": "dev"})))
        .await;
    assert_fails(&r, "USER_METADATA_MISMATCH", "env=dev (signed: env=prod)");
    // A signature without annotations lacks any required pair.
    let r = e
        .verify_envelope(
            &e.sign(&JwsOptions::now()),
            &with_metadata(json!({"env": "prod"})),
        )
        .await;
    assert_fails(&r, "USER_METADATA_MISMATCH", "env=prod (absent)");
}

/// A notation home as the notation CLI keeps it (`trustpolicy.oci.json`,
/// `truststore/x509/ca/<name>/` with a DER `.crt`), referenced by `notationHome` in the engine's
/// config: the host reads it at load, the guest verifies with it exactly as with inline PEM, and
/// the resolved config (the verdicts' fingerprint) follows the files' contents, not their path.
#[tokio::test]
async fn a_notation_home_is_trust_material_by_reference() {
    let e = env().await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("notation");
    let store = home.join("truststore/x509/ca/test");
    std::fs::create_dir_all(&store).unwrap();
    let policy = &e.config("strict")["trustPolicy"];
    std::fs::write(home.join("trustpolicy.oci.json"), policy.to_string()).unwrap();
    std::fs::write(store.join("root.crt"), &e.chain.root_der).unwrap();
    let config_file = dir.path().join("vouch.yaml");
    let yaml = format!(
        "verifiers:\n  - name: notation\n    path: {}\n    config: {{ notationHome: notation }}\n",
        guests::verifier("notation").display()
    );
    std::fs::write(&config_file, yaml).unwrap();
    let load = || async {
        let config = vouch::config::Config::load(&config_file).unwrap();
        vouch::app::load_verifiers(&e.rt, &config).await
    };
    let resolved: Value = serde_json::from_str(&load().await.unwrap()[0].config).unwrap();
    assert_eq!(resolved["notationHome"]["file"], "notation");
    let envelope = e.sign(&JwsOptions::now());
    let r = e.verify_envelope(&envelope, &resolved).await;
    assert!(r.is_success, "{r:#?}");

    // Another root under the same path: another config (and fingerprint), and untrusted.
    let other = fx::test_chain(&ChainOptions::valid_now()).unwrap();
    std::fs::write(store.join("root.crt"), &other.root_der).unwrap();
    let changed: Value = serde_json::from_str(&load().await.unwrap()[0].config).unwrap();
    assert_ne!(changed, resolved);
    let r = e.verify_envelope(&envelope, &changed).await;
    assert_fails(&r, "UNTRUSTED", "");

    // A broken certificate file is refused at load, naming the field and the file.
    std::fs::write(store.join("root.crt"), b"not a certificate").unwrap();
    let err = load().await.unwrap_err().to_string();
    assert!(
        err.contains("verifiers[0].config.notationHome") && err.contains("root.crt"),
        "{err}"
    );
    // On reload (`vouch serve`), a broken trust file is rejected naming it and the previous
    // configuration keeps serving.
    std::fs::write(store.join("root.crt"), &e.chain.root_der).unwrap();
    let config = vouch::config::Config::load(&config_file).unwrap();
    let set = vouch::server::tenants::TenantSet::build(&config, None)
        .await
        .unwrap();
    let tenants: vouch::server::SharedTenants = Arc::new(arc_swap::ArcSwap::from_pointee(set));
    let reloader = vouch::app::reload::Reloader::new(
        &config_file,
        &config,
        tenants.clone(),
        Arc::new(vouch::server::metrics::Metrics::default()),
        None,
    );
    let served = tenants.load_full();
    std::fs::write(store.join("root.crt"), b"not a certificate").unwrap();
    let err = reloader.reload(true).await.unwrap_err().to_string();
    assert!(
        err.contains("root.crt") && err.contains("vouch.yaml"),
        "{err}"
    );
    assert!(
        Arc::ptr_eq(&served, &tenants.load_full()),
        "the previous set serves"
    );
    std::fs::write(store.join("root.crt"), &e.chain.root_der).unwrap();
    reloader.reload(true).await.unwrap();
    assert!(
        !Arc::ptr_eq(&served, &tenants.load_full()),
        "a fixed file is applied"
    );

    // PEM text where the path belongs says so.
    let yaml = format!(
        "verifiers:\n  - name: notation\n    path: {}\n    config: {{ notationHome: {:?} }}\n",
        guests::verifier("notation").display(),
        e.chain.root_pem
    );
    std::fs::write(&config_file, yaml).unwrap();
    let err = load().await.unwrap_err().to_string();
    assert!(
        err.contains("holds PEM text; give it inline in `trustPolicy`"),
        "{err}"
    );
}
