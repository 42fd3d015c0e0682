//! Each rule of [`judge`], from the words of the SLSA VSA v1 specification
//! (<https://slsa.dev/spec/v1.0/verification_summary>) and the in-toto/DSSE specifications,
//! on VSAs these tests sign themselves (ring), verified natively as the host would.

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use serde_json::{Value, json};

use super::*;
use crate::config::Config;

const IMAGE: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const POLICY: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const NOW: i64 = 1_800_000_000; // 2027-01-15T08:00:00Z
const NOW_TEXT: &str = "2027-01-15T08:00:00Z";

/// Verifies as the host does, with ring.
struct Native;

impl SignatureCheck for Native {
    fn verify(&self, alg: SigAlg, spki: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), String> {
        let (algorithm, raw): (&dyn signature::VerificationAlgorithm, usize) = match alg {
            SigAlg::EcdsaP256Sha256 => (&signature::ECDSA_P256_SHA256_ASN1, 65),
            SigAlg::EcdsaP384Sha384 => (&signature::ECDSA_P384_SHA384_ASN1, 97),
            SigAlg::Ed25519 => (&signature::ED25519, 32),
            other => return Err(format!("{} is not a VSA key algorithm", other.name())),
        };
        let key = &spki[spki.len().saturating_sub(raw)..];
        signature::UnparsedPublicKey::new(algorithm, key)
            .verify(msg, sig)
            .map_err(|_| "signature mismatch".to_owned())
    }
}

/// A signing key and its public PEM.
enum Signer {
    P256(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Signer {
    fn p256() -> Signer {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let doc = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Signer::P256(EcdsaKeyPair::from_pkcs8(alg, doc.as_ref(), &rng).unwrap())
    }

    fn ed25519() -> Signer {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Signer::Ed(Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap())
    }

    fn pem(&self) -> String {
        const P256: [u8; 26] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        const ED: [u8; 12] = [
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        let der = match self {
            Signer::P256(k) => [&P256[..], k.public_key().as_ref()].concat(),
            Signer::Ed(k) => [&ED[..], k.public_key().as_ref()].concat(),
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Signer::P256(k) => k.sign(&SystemRandom::new(), msg).unwrap().as_ref().to_vec(),
            Signer::Ed(k) => k.sign(msg).as_ref().to_vec(),
        }
    }

    /// `statement` in a DSSE envelope signed by this key.
    fn envelope(&self, statement: &Value) -> Vec<u8> {
        let payload = serde_json::to_vec(statement).unwrap();
        let sig = self.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload));
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        serde_json::to_vec(&json!({
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "payload": b64(&payload),
            "signatures": [{"keyid": "", "sig": b64(&sig)}],
        }))
        .unwrap()
    }
}

/// A VSA as `vouch verify --attest-verdict` writes it, about `IMAGE`, PASSED at `NOW`.
fn vsa() -> Value {
    json!({
        "_type": STATEMENT_V1,
        "subject": [{"name": "registry.example/app", "digest": {"sha256": &IMAGE[7..]}}],
        "predicateType": VSA_PREDICATE_TYPE,
        "predicate": {
            "verifier": {"id": "https://vouch.example/cluster-a", "version": {"vouch": "0.1.0"}},
            "timeVerified": NOW_TEXT,
            "resourceUri": "registry.example/app@sha256:1111",
            "policy": {"uri": "file:///etc/vouch/vouch.yaml", "digest": {"sha256": POLICY}},
            "inputAttestations": [{"uri": "registry.example/app@sha256:4444", "digest": {"sha256": "4444"}}],
            "verificationResult": "PASSED",
            "verifiedLevels": [],
        }
    })
}

fn config(signer: &Signer, extra: &str) -> Config {
    let pem = serde_json::to_string(&signer.pem()).unwrap();
    Config::parse(&format!(
        r#"{{"keys":[{{"name":"platform","pem":{pem}{extra}}}],"policyDigests":["sha256:{POLICY}"],"maxAgeSeconds":3600}}"#
    ))
    .unwrap()
}

fn judged(signer: &Signer, config: &Config, statement: &Value) -> Result<Accepted, Rejection> {
    judge(&Native, config, IMAGE, &signer.envelope(statement), NOW)
}

fn reason(r: Result<Accepted, Rejection>) -> &'static str {
    r.expect_err("must be rejected").reason
}

/// A fresh, PASSED VSA about the image, signed by a trusted key (P-256 and Ed25519), under an
/// accepted policy, is accepted.
#[test]
fn a_fresh_passed_vsa_from_a_trusted_key_is_accepted() {
    for signer in [Signer::p256(), Signer::ed25519()] {
        let c = config(&signer, "");
        let a = judged(&signer, &c, &vsa()).unwrap();
        assert_eq!(a.signer, "platform");
        assert_eq!(a.verifier_id, "https://vouch.example/cluster-a");
        assert_eq!(a.policy_digest, format!("sha256:{POLICY}"));
        assert_eq!((a.age, a.input_attestations), (0, 1));
    }
}

/// DSSE: "Reject if the signature ... does not verify" over `PAE(UTF8(payloadType), payload)`.
/// A VSA signed by a key that is not configured, or whose payload was changed after signing,
/// or that carries no signature, is not trusted.
#[test]
fn a_signature_by_an_unknown_key_or_over_other_bytes_is_invalid() {
    let trusted = Signer::p256();
    let c = config(&trusted, "");
    assert_eq!(
        reason(judged(&Signer::p256(), &c, &vsa())),
        VSA_SIGNATURE_INVALID
    );

    let mut env: Value = serde_json::from_slice(&trusted.envelope(&vsa())).unwrap();
    let mut forged = vsa();
    forged["predicate"]["verificationResult"] = json!("PASSED ");
    env["payload"] = json!(base64::engine::general_purpose::STANDARD.encode(forged.to_string()));
    let r = judge(&Native, &c, IMAGE, env.to_string().as_bytes(), NOW);
    assert_eq!(reason(r), VSA_SIGNATURE_INVALID);

    env["signatures"] = json!([]);
    let r = judge(&Native, &c, IMAGE, env.to_string().as_bytes(), NOW);
    assert_eq!(reason(r), VSA_SIGNATURE_INVALID);
}

/// in-toto Statement: "subject ... the set of software artifacts that the attestation applies
/// to"; a VSA about another digest says nothing about this image.
#[test]
fn a_vsa_about_another_digest_is_a_subject_mismatch() {
    let s = Signer::p256();
    let mut v = vsa();
    v["subject"][0]["digest"]["sha256"] = json!(OTHER);
    let r = judged(&s, &config(&s, ""), &v);
    assert_eq!(reason(r.clone()), VSA_SUBJECT_MISMATCH);
    assert!(r.unwrap_err().message.contains(OTHER));
}

/// VSA v1, `verificationResult`: "Either “PASSED” or “FAILED” to indicate if the artifact
/// passed or failed the policy verification." Only PASSED admits.
#[test]
fn a_failed_verdict_is_not_passed() {
    let s = Signer::p256();
    for result in ["FAILED", "passed", "UNKNOWN"] {
        let mut v = vsa();
        v["predicate"]["verificationResult"] = json!(result);
        assert_eq!(reason(judged(&s, &config(&s, ""), &v)), VSA_NOT_PASSED);
    }
}

/// VSA v1, `timeVerified`: "Timestamp indicating what time the verification occurred." A
/// verdict older than `maxAgeSeconds`, or later than now plus `maxSkewSeconds`, is stale; one
/// exactly at the bounds is fresh.
#[test]
fn stale_and_future_verdicts_are_stale() {
    let s = Signer::p256();
    let c = config(&s, "");
    let at = |t: &str| {
        let mut v = vsa();
        v["predicate"]["timeVerified"] = json!(t);
        judged(&s, &c, &v)
    };
    assert!(
        at("2027-01-15T07:00:00Z").is_ok(),
        "exactly maxAgeSeconds old"
    );
    assert_eq!(reason(at("2027-01-15T06:59:59Z")), VSA_STALE);
    assert!(at("2027-01-15T08:01:00Z").is_ok(), "within the skew");
    let r = at("2027-01-15T08:01:01Z");
    assert!(r.clone().unwrap_err().message.contains("future"), "{r:?}");
    assert_eq!(reason(r), VSA_STALE);
    assert_eq!(reason(at("yesterday")), VSA_MALFORMED);
}

/// VSA v1, `policy`: "Describes the policy that the `subject` was verified against." A verdict
/// under another policy (digest) is not this cluster's verdict.
#[test]
fn another_policy_digest_is_a_policy_mismatch() {
    let s = Signer::p256();
    let mut v = vsa();
    v["predicate"]["policy"]["digest"]["sha256"] = json!(OTHER);
    assert_eq!(reason(judged(&s, &config(&s, ""), &v)), VSA_POLICY_MISMATCH);
    v["predicate"]["policy"]["digest"] = json!({"sha512": OTHER});
    assert_eq!(reason(judged(&s, &config(&s, ""), &v)), VSA_POLICY_MISMATCH);
}

/// VSA v1, `verifier`: "Consumers MUST accept only specific (signer, verifier) pairs." A key
/// with `verifierIds` signs only for those verifiers.
#[test]
fn a_key_signs_only_for_its_verifier_ids() {
    let s = Signer::p256();
    let pinned = config(&s, r#","verifierIds":["https://vouch.example/cluster-a"]"#);
    assert!(judged(&s, &pinned, &vsa()).is_ok());
    let other = config(&s, r#","verifierIds":["https://vouch.example/cluster-b"]"#);
    assert_eq!(reason(judged(&s, &other, &vsa())), VSA_VERIFIER_NOT_TRUSTED);
}

/// VSA v1 lists `verifier`, `timeVerified`, `resourceUri`, `policy` and `verificationResult`
/// as required; the statement must be an in-toto Statement v1 of predicate type
/// `https://slsa.dev/verification_summary/v1`, in an envelope of payload type
/// `application/vnd.in-toto+json`. Anything else is malformed.
#[test]
fn missing_required_fields_and_other_types_are_malformed() {
    let s = Signer::p256();
    let c = config(&s, "");
    for pointer in [
        "verifier",
        "timeVerified",
        "resourceUri",
        "policy",
        "verificationResult",
    ] {
        let mut v = vsa();
        v["predicate"].as_object_mut().unwrap().remove(pointer);
        assert_eq!(reason(judged(&s, &c, &v)), VSA_MALFORMED, "{pointer}");
    }
    let mut v = vsa();
    v["predicateType"] = json!("https://slsa.dev/verification_summary/v0.2");
    assert_eq!(reason(judged(&s, &c, &v)), VSA_MALFORMED);
    let mut v = vsa();
    v["_type"] = json!("https://in-toto.io/Statement/v0.1");
    assert_eq!(reason(judged(&s, &c, &v)), VSA_MALFORMED);
    let r = judge(&Native, &c, IMAGE, b"not json", NOW);
    assert_eq!(reason(r), VSA_MALFORMED);
    let r = judge(
        &Native,
        &c,
        IMAGE,
        br#"{"payloadType":"text/plain","payload":""}"#,
        NOW,
    );
    assert_eq!(reason(r), VSA_MALFORMED);
}

/// in-toto parsing rules: "Consumers MUST ignore unrecognized fields."
#[test]
fn unrecognized_fields_are_ignored() {
    let s = Signer::p256();
    let mut v = vsa();
    v["predicate"]["https://example.com/extension"] = json!({"any": "thing"});
    v["predicate"]["dependencyLevels"] = json!({"SLSA_BUILD_LEVEL_3": 2});
    v["somethingNew"] = json!(1);
    assert!(judged(&s, &config(&s, ""), &v).is_ok());
}

/// The configuration fails closed at load: no key, no policy digest, a digest that is not
/// sha256, a key that is not P-256/P-384/Ed25519, unknown fields.
#[test]
fn bad_configurations_are_refused() {
    let pem = serde_json::to_string(&Signer::p256().pem()).unwrap();
    let ok =
        format!(r#"{{"keys":[{{"name":"a","pem":{pem}}}],"policyDigests":["sha256:{POLICY}"]}}"#);
    let c = Config::parse(&ok).unwrap();
    assert_eq!((c.max_age, c.max_skew), (86_400, 60));
    for bad in [
        format!(r#"{{"keys":[],"policyDigests":["sha256:{POLICY}"]}}"#),
        format!(r#"{{"keys":[{{"name":"a","pem":{pem}}}],"policyDigests":[]}}"#),
        format!(r#"{{"keys":[{{"name":"a","pem":{pem}}}],"policyDigests":["sha512:{POLICY}"]}}"#),
        format!(r#"{{"keys":[{{"name":"a","pem":"x"}}],"policyDigests":["sha256:{POLICY}"]}}"#),
        format!(
            r#"{{"keys":[{{"name":"a","pem":{pem},"x":1}}],"policyDigests":["sha256:{POLICY}"]}}"#
        ),
        format!(
            r#"{{"keys":[{{"name":"a","pem":{pem}}}],"policyDigests":["sha256:{POLICY}"],"maxAgeSeconds":0}}"#
        ),
    ] {
        assert!(Config::parse(&bad).is_err(), "{bad}");
    }
}
