//! Redis values as **signed verification summaries**: for replicas that must not share a
//! secret. The writer (e.g. a central cluster) holds a private key; readers (edge clusters, other
//! tenants' replicas) hold only public keys, so a reader that is compromised — or anyone who can
//! write to Redis — cannot forge a verdict, which an HMAC tier cannot promise (every holder of
//! the HMAC key can).
//!
//! A value is `vs1.` followed by a DSSE envelope (JSON) whose payload is an in-toto Statement v1
//! with predicate type `https://slsa.dev/verification_summary/v1`, as `vouch verify
//! --attest-verdict` writes (see [`crate::report::vsa`]), so any VSA consumer can read it. Its
//! predicate carries one more field, [`VERDICT_FIELD`]:
//! `{"redisKey": <the key it is stored under>, "expiresAtMs": <Unix ms>, "report": <the full
//! subject report>}` — VSA consumers ignore unknown predicate fields.
//!
//! A reader believes a value only when all of these hold; anything else is a miss with a reason
//! ([`Rejection`]), never a verdict:
//! - it is a DSSE envelope of an in-toto payload (`malformed` otherwise);
//! - one of its signatures has the key id (`sha256:<hex of the SPKI DER>`) of a trusted key
//!   (`unknown_key`) and verifies over DSSE's PAE with it (`bad_signature`);
//! - the statement is a VSA whose `redisKey` is the key it was read under (`misplaced`: a value
//!   copied from another image's, scope's or policy's key), whose `expiresAtMs` is in the future
//!   (`expired`: a replay), and whose report agrees with the statement: same subject digest,
//!   `isSuccess` exactly when `verificationResult` is `PASSED` (`malformed`).
//!
//! The writer's `policy.digest` is the executor's fingerprint (for a verdict under image scoping,
//! which has a fingerprint per set of applicable verifiers, the SHA-256 of that longer string);
//! `policy.uri` is [`POLICY_URI`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::auth::Rejection;
use crate::crypto::{
    SignatureEncoding, SigningKey, VerifyingKeys, cosign_algorithm, verify_signature,
};
use crate::report::SubjectReport;
use crate::report::vsa::{
    IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1, Summary, VSA_PREDICATE_TYPE, envelope, pae, statement,
};
use crate::store::sources::subject_name;

/// Start of every signed-summary value.
pub const MAGIC: &[u8] = b"vs1.";

/// The predicate field holding what the Redis tier needs besides the VSA.
pub const VERDICT_FIELD: &str = "vouchVerdict";

/// `policy.uri` of the summaries the tier writes.
pub const POLICY_URI: &str = "urn:vouch:redis-verdict-cache";

/// The `verifier.id` written when the config names none.
pub const DEFAULT_VERIFIER_ID: &str = "urn:vouch:verifier";

/// Largest value opened: a verdict report is kilobytes; anything near this is an attack.
pub const MAX_VALUE_BYTES: usize = 8 << 20;

/// Most signatures an envelope may carry: each one by a trusted key id costs a signature check,
/// so a value stuffed with signatures is refused before any is checked.
pub const MAX_SIGNATURES: usize = 8;

/// The keys of a signed-summary tier.
pub struct SummaryKeys {
    /// The private key and its key id, on replicas that write.
    signer: Option<(SigningKey, String)>,
    /// Key id → SPKI DER of every trusted public key (the signer's own included).
    trusted: HashMap<String, Vec<u8>>,
    verifier_id: String,
}

impl std::fmt::Debug for SummaryKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.trusted.keys().collect();
        ids.sort();
        f.debug_struct("SummaryKeys")
            .field("signer", &self.signer.as_ref().map(|(_, id)| id))
            .field("trusted", &ids)
            .field("verifier_id", &self.verifier_id)
            .finish()
    }
}

/// Why the keys of a signed-summary tier could not be loaded: the file and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {path}: {reason}")]
pub struct SummaryKeyError {
    /// The field below `executor.redis.signedSummaries` naming the file.
    pub field: &'static str,
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// The key id of a public key: `sha256:<hex of its SPKI DER>` (as `vouch verify
/// --attest-verdict` writes it).
pub fn key_id(spki_der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(spki_der)))
}

impl SummaryKeys {
    /// Keys from files already resolved against the config's directory: the optional signing
    /// key (PKCS#8 PEM) and every `PUBLIC KEY` block of each trusted file.
    pub fn load(
        signing: Option<&Path>,
        trusted: &[PathBuf],
        verifier_id: Option<&str>,
    ) -> Result<SummaryKeys, SummaryKeyError> {
        let signer = signing
            .map(|p| {
                SigningKey::load(p).map_err(|e| SummaryKeyError {
                    field: "signingKeyFile",
                    path: p.to_owned(),
                    reason: e.reason,
                })
            })
            .transpose()?;
        let mut public = Vec::new();
        for path in trusted {
            let keys = VerifyingKeys::load(path).map_err(|e| SummaryKeyError {
                field: "trustedKeyFiles",
                path: path.clone(),
                reason: e.reason,
            })?;
            for spki in keys.spki_ders() {
                cosign_algorithm(spki).map_err(|e| SummaryKeyError {
                    field: "trustedKeyFiles",
                    path: path.clone(),
                    reason: format!("a key Vouch cannot verify with: {e}"),
                })?;
                public.push(spki.to_vec());
            }
        }
        SummaryKeys::new(signer, public, verifier_id)
    }

    /// Keys from values (for tests and benchmarks): `trusted` are SPKI DER public keys.
    pub fn new(
        signer: Option<SigningKey>,
        trusted: Vec<Vec<u8>>,
        verifier_id: Option<&str>,
    ) -> Result<SummaryKeys, SummaryKeyError> {
        let mut map = HashMap::new();
        for spki in trusted {
            cosign_algorithm(&spki).map_err(|e| SummaryKeyError {
                field: "trustedKeyFiles",
                path: PathBuf::new(),
                reason: format!("a key Vouch cannot verify with: {e}"),
            })?;
            map.insert(key_id(&spki), spki);
        }
        let signer = signer.map(|key| {
            let spki = key.public_key_spki_der();
            let id = key_id(&spki);
            // A replica believes what it wrote itself.
            map.insert(id.clone(), spki);
            (key, id)
        });
        if map.is_empty() {
            return Err(SummaryKeyError {
                field: "trustedKeyFiles",
                path: PathBuf::new(),
                reason: "no key: list at least one public key (or give signingKeyFile)".into(),
            });
        }
        Ok(SummaryKeys {
            signer,
            trusted: map,
            verifier_id: verifier_id.unwrap_or(DEFAULT_VERIFIER_ID).to_owned(),
        })
    }

    /// Whether this replica writes (it has a signing key).
    pub fn writes(&self) -> bool {
        self.signer.is_some()
    }

    /// The value to store under `redis_key` for `report` (verified under the executor
    /// fingerprint `fingerprint`), valid until `expires_at_ms`; `None` on a read-only replica.
    pub fn seal(
        &self,
        redis_key: &str,
        expires_at_ms: u64,
        report: &SubjectReport,
        fingerprint: &str,
    ) -> Result<Option<Vec<u8>>, String> {
        let Some((key, keyid)) = &self.signer else {
            return Ok(None);
        };
        let summary = Summary {
            verifier_id: self.verifier_id.clone(),
            versions: [("vouch".to_owned(), env!("CARGO_PKG_VERSION").to_owned())].into(),
            time_verified: SystemTime::now(),
            policy_uri: POLICY_URI.to_owned(),
            policy_digest: policy_digest(fingerprint),
        };
        let mut stmt = statement(report, subject_name(&report.subject), &summary)
            .map_err(|e| e.to_string())?;
        stmt["predicate"][VERDICT_FIELD] = json!({
            "redisKey": redis_key,
            "expiresAtMs": expires_at_ms,
            "report": report,
        });
        let signed = envelope(&stmt, keyid, |m| key.sign(m)).map_err(|e| e.to_string())?;
        let mut value = Vec::with_capacity(MAGIC.len() + signed.len());
        value.extend_from_slice(MAGIC);
        value.extend_from_slice(&signed);
        Ok(Some(value))
    }

    /// Check `value` read under `redis_key` at `now_ms`: the report and its expiry (Unix ms), or
    /// why it is not believed (with a detail for the log).
    pub fn open(
        &self,
        redis_key: &str,
        value: &[u8],
        now_ms: u64,
    ) -> Result<(SubjectReport, u64), (Rejection, String)> {
        let malformed = |detail: String| (Rejection::Malformed, detail);
        if value.len() > MAX_VALUE_BYTES {
            return Err(malformed(format!("larger than {MAX_VALUE_BYTES} bytes")));
        }
        let json = value
            .strip_prefix(MAGIC)
            .ok_or_else(|| malformed("not a signed summary (no `vs1.` prefix)".into()))?;
        let env: Envelope = serde_json::from_slice(json)
            .map_err(|e| malformed(format!("not a DSSE envelope: {e}")))?;
        if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(malformed(format!(
                "payload type `{}`, not `{IN_TOTO_PAYLOAD_TYPE}`",
                env.payload_type
            )));
        }
        if env.signatures.len() > MAX_SIGNATURES {
            return Err(malformed(format!(
                "{} signatures; at most {MAX_SIGNATURES} are read",
                env.signatures.len()
            )));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = b64
            .decode(&env.payload)
            .map_err(|e| malformed(format!("payload is not base64: {e}")))?;
        let message = pae(IN_TOTO_PAYLOAD_TYPE, &payload);
        // Only signatures by a trusted key count; one that verifies suffices.
        let mut known = false;
        let mut verified = false;
        for sig in &env.signatures {
            let Some(spki) = self.trusted.get(&sig.keyid) else {
                continue;
            };
            known = true;
            let Ok(bytes) = b64.decode(&sig.sig) else {
                continue;
            };
            let ok = cosign_algorithm(spki).and_then(|alg| {
                verify_signature(alg, SignatureEncoding::Der, spki, &message, &bytes)
            });
            if ok.is_ok() {
                verified = true;
                break;
            }
        }
        if !known {
            let ids: Vec<&str> = env.signatures.iter().map(|s| s.keyid.as_str()).collect();
            return Err((
                Rejection::UnknownKey,
                format!("signed by {ids:?}, none of them trusted"),
            ));
        }
        if !verified {
            return Err((
                Rejection::BadSignature,
                "no signature by a trusted key verifies".into(),
            ));
        }
        let stmt: Value = serde_json::from_slice(&payload)
            .map_err(|e| malformed(format!("payload is not JSON: {e}")))?;
        check_statement(&stmt, redis_key, now_ms)
    }
}

/// The authentic statement's checks: VSA form, placement, expiry, agreement of report and
/// summary.
fn check_statement(
    stmt: &Value,
    redis_key: &str,
    now_ms: u64,
) -> Result<(SubjectReport, u64), (Rejection, String)> {
    let malformed = |detail: String| (Rejection::Malformed, detail);
    if stmt["_type"] != STATEMENT_V1 || stmt["predicateType"] != VSA_PREDICATE_TYPE {
        return Err(malformed(format!(
            "not an in-toto v1 verification summary (_type {}, predicateType {})",
            stmt["_type"], stmt["predicateType"]
        )));
    }
    let predicate = &stmt["predicate"];
    let verdict = &predicate[VERDICT_FIELD];
    let stored_under = verdict["redisKey"].as_str().unwrap_or_default();
    if stored_under != redis_key {
        return Err((
            Rejection::Misplaced,
            format!("the summary is for key {stored_under:?}"),
        ));
    }
    let expires_at_ms = verdict["expiresAtMs"]
        .as_u64()
        .ok_or_else(|| malformed(format!("{VERDICT_FIELD}.expiresAtMs is not a number")))?;
    if now_ms >= expires_at_ms {
        return Err((Rejection::Expired, format!("expired at {expires_at_ms} ms")));
    }
    let report = SubjectReport::deserialize(&verdict["report"])
        .map_err(|e| malformed(format!("{VERDICT_FIELD}.report: {e}")))?;
    let result = predicate["verificationResult"].as_str().unwrap_or_default();
    if report.is_success != (result == "PASSED") {
        return Err(malformed(format!(
            "verificationResult {result:?} disagrees with the report's isSuccess {}",
            report.is_success
        )));
    }
    let subject_hex = stmt["subject"][0]["digest"]["sha256"]
        .as_str()
        .unwrap_or_default();
    let report_hex = report
        .digest
        .as_deref()
        .and_then(|d| d.strip_prefix("sha256:"))
        .unwrap_or_default();
    if subject_hex.is_empty() || subject_hex != report_hex {
        return Err(malformed(format!(
            "the statement's subject sha256:{subject_hex} is not the report's digest"
        )));
    }
    Ok((report, expires_at_ms))
}

/// `policy.digest` for an executor fingerprint: itself when it is a plain `sha256:<hex>`, else
/// the SHA-256 of the string.
fn policy_digest(fingerprint: &str) -> String {
    let plain = fingerprint
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if plain {
        fingerprint.to_owned()
    } else {
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(fingerprint.as_bytes()))
        )
    }
}

/// A DSSE envelope as read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Timings;

    const IMG: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const FP: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const KEY: &str = "vouch:v2:aaaa";
    const NOW: u64 = 1_800_000_000_000;

    fn report(ok: bool) -> SubjectReport {
        SubjectReport {
            subject: "r.example/app:v1".into(),
            digest: Some(IMG.into()),
            is_success: ok,
            message: if ok {
                "passed".into()
            } else {
                "failed: x".into()
            },
            verifier_reports: Vec::new(),
            timings: Timings::default(),
            cached: false,
        }
    }

    fn key() -> SigningKey {
        let (private, _) = SigningKey::generate_pem().unwrap();
        SigningKey::from_pem(private.as_bytes(), Path::new("k")).unwrap()
    }

    /// A writer with `key` and a reader that holds only its public key.
    fn pair() -> (SummaryKeys, SummaryKeys) {
        let k = key();
        let public = k.public_key_spki_der();
        let writer = SummaryKeys::new(Some(k), Vec::new(), None).unwrap();
        let reader = SummaryKeys::new(None, vec![public], None).unwrap();
        (writer, reader)
    }

    fn sealed(writer: &SummaryKeys, r: &SubjectReport) -> Vec<u8> {
        writer.seal(KEY, NOW + 60_000, r, FP).unwrap().unwrap()
    }

    /// The statement inside a value, and a re-signing helper over an edited statement.
    fn statement_of(value: &[u8]) -> Value {
        let env: Value = serde_json::from_slice(&value[MAGIC.len()..]).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        serde_json::from_slice(&b64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap()
    }

    fn resign(writer: &SummaryKeys, stmt: &Value) -> Vec<u8> {
        let (k, id) = writer.signer.as_ref().unwrap();
        [MAGIC, &envelope(stmt, id, |m| k.sign(m)).unwrap()[..]].concat()
    }

    /// A reader without the secret believes what the writer signed, and gets the full report.
    #[test]
    fn a_reader_with_only_the_public_key_opens_what_the_writer_sealed() {
        let (writer, reader) = pair();
        for ok in [true, false] {
            let v = sealed(&writer, &report(ok));
            let (r, exp) = reader.open(KEY, &v, NOW).unwrap();
            assert_eq!(r, report(ok));
            assert_eq!(exp, NOW + 60_000);
            // The writer believes its own values without listing its key.
            assert!(writer.open(KEY, &v, NOW).is_ok());
        }
        assert!(!reader.writes());
        assert_eq!(reader.seal(KEY, NOW, &report(true), FP), Ok(None));
    }

    /// SLSA VSA v1: the value is a verification summary any consumer can read — in-toto
    /// Statement v1, predicate type `https://slsa.dev/verification_summary/v1`, the image as
    /// subject, `policy.digest` the executor's fingerprint, `verificationResult` PASSED/FAILED —
    /// in a DSSE envelope whose keyid is the SHA-256 of the signer's SPKI.
    #[test]
    fn values_are_dsse_signed_slsa_verification_summaries() {
        let (writer, _) = pair();
        let v = sealed(&writer, &report(false));
        let env: Value = serde_json::from_slice(&v[MAGIC.len()..]).unwrap();
        assert_eq!(env["payloadType"], IN_TOTO_PAYLOAD_TYPE);
        assert_eq!(
            env["signatures"][0]["keyid"],
            writer.signer.as_ref().unwrap().1
        );
        let s = statement_of(&v);
        assert_eq!(s["_type"], STATEMENT_V1);
        assert_eq!(s["predicateType"], VSA_PREDICATE_TYPE);
        assert_eq!(s["subject"][0]["digest"]["sha256"], &IMG[7..]);
        assert_eq!(s["predicate"]["policy"]["digest"]["sha256"], &FP[7..]);
        assert_eq!(s["predicate"]["policy"]["uri"], POLICY_URI);
        assert_eq!(s["predicate"]["verificationResult"], "FAILED");
        assert_eq!(s["predicate"]["verifier"]["id"], DEFAULT_VERIFIER_ID);
        assert_eq!(s["predicate"][VERDICT_FIELD]["redisKey"], KEY);
        // A scoped fingerprint is not a digest: its SHA-256 stands for it.
        let scoped = format!("{FP}:scoped:0101");
        let w = writer
            .seal(KEY, NOW + 1, &report(true), &scoped)
            .unwrap()
            .unwrap();
        let digest = statement_of(&w)["predicate"]["policy"]["digest"]["sha256"].clone();
        assert_eq!(digest, hex::encode(sha2::Sha256::digest(scoped.as_bytes())));
    }

    /// Issue 21: "A value that fails authentication, is expired by its own expiry, or does not
    /// parse is a miss … never a pass" — flipped field, value swapped from another key, replay
    /// after expiry, unknown signer, garbage; each with its own reason.
    #[test]
    fn tampered_swapped_replayed_foreign_and_garbage_values_are_rejected() {
        let (writer, reader) = pair();
        let v = sealed(&writer, &report(false));
        let reason =
            |value: &[u8], key: &str, now: u64| reader.open(key, value, now).unwrap_err().0;

        // A flipped verdict inside the signed payload, the signature kept.
        let mut env: Value = serde_json::from_slice(&v[MAGIC.len()..]).unwrap();
        let mut s = statement_of(&v);
        s["predicate"]["verificationResult"] = json!("PASSED");
        s["predicate"][VERDICT_FIELD]["report"]["isSuccess"] = json!(true);
        let b64 = base64::engine::general_purpose::STANDARD;
        env["payload"] = json!(b64.encode(serde_json::to_vec(&s).unwrap()));
        let flipped = [MAGIC, &serde_json::to_vec(&env).unwrap()[..]].concat();
        assert_eq!(reason(&flipped, KEY, NOW), Rejection::BadSignature);
        // The same value under another key.
        assert_eq!(reason(&v, "vouch:v2:bbbb", NOW), Rejection::Misplaced);
        // At and after its own expiry.
        assert_eq!(reason(&v, KEY, NOW + 60_000), Rejection::Expired);
        assert!(reader.open(KEY, &v, NOW + 59_999).is_ok());
        // Signed by a key the reader does not list.
        let (stranger, _) = pair();
        let foreign = sealed(&stranger, &report(true));
        assert_eq!(reason(&foreign, KEY, NOW), Rejection::UnknownKey);
        // A trusted key id on a signature made by another key.
        let mut env: Value = serde_json::from_slice(&foreign[MAGIC.len()..]).unwrap();
        env["signatures"][0]["keyid"] = json!(writer.signer.as_ref().unwrap().1);
        let forged = [MAGIC, &serde_json::to_vec(&env).unwrap()[..]].concat();
        assert_eq!(reason(&forged, KEY, NOW), Rejection::BadSignature);
        // No signature at all.
        env["signatures"] = json!([]);
        let unsigned = [MAGIC, &serde_json::to_vec(&env).unwrap()[..]].concat();
        assert_eq!(reason(&unsigned, KEY, NOW), Rejection::UnknownKey);
        // Garbage, an HMAC-tier value, a truncated value, an oversized one.
        let garbage: Vec<u8> = (0..512u32).map(|i| (i * 7919 % 251) as u8).collect();
        for bad in [
            &garbage[..],
            b"vv1.0000000000000000.0000000000000000.00.{}",
            &v[..v.len() / 2],
            b"vs1.{\"payloadType\":\"text/plain\",\"payload\":\"\",\"signatures\":[]}",
        ] {
            assert_eq!(reason(bad, KEY, NOW), Rejection::Malformed, "{bad:?}");
        }
        let huge = [MAGIC, &vec![b' '; MAX_VALUE_BYTES][..]].concat();
        assert_eq!(reason(&huge, KEY, NOW), Rejection::Malformed);
    }

    /// A value signed by a trusted key must also be coherent: a summary whose verdict and report
    /// disagree, whose subject is not the report's image, or that is not a VSA is not believed.
    #[test]
    fn authentic_but_incoherent_summaries_are_malformed() {
        let (writer, reader) = pair();
        let good = statement_of(&sealed(&writer, &report(false)));
        type Edit = fn(&mut Value);
        let edits: [(&str, Edit); 4] = [
            ("PASSED over a failing report", |s| {
                s["predicate"]["verificationResult"] = json!("PASSED");
            }),
            ("another image as subject", |s| {
                s["subject"][0]["digest"]["sha256"] = json!("3".repeat(64));
            }),
            ("another predicate type", |s| {
                s["predicateType"] = json!("https://slsa.dev/provenance/v1");
            }),
            ("no expiry", |s| {
                s["predicate"][VERDICT_FIELD]["expiresAtMs"] = json!("soon");
            }),
        ];
        for (what, edit) in edits {
            let mut s = good.clone();
            edit(&mut s);
            let err = reader.open(KEY, &resign(&writer, &s), NOW).unwrap_err();
            assert_eq!(err.0, Rejection::Malformed, "{what}: {err:?}");
        }
        // Re-signed unchanged, it is believed: the edits are what was refused.
        assert!(reader.open(KEY, &resign(&writer, &good), NOW).is_ok());
    }

    /// Several signatures: one by a trusted key that verifies suffices, whatever the others are;
    /// more than [`MAX_SIGNATURES`] is refused.
    #[test]
    fn one_verifying_trusted_signature_suffices() {
        let (writer, reader) = pair();
        let (stranger, _) = pair();
        let v = sealed(&writer, &report(true));
        let other = sealed(&stranger, &report(true));
        let mut env: Value = serde_json::from_slice(&v[MAGIC.len()..]).unwrap();
        let theirs: Value = serde_json::from_slice(&other[MAGIC.len()..]).unwrap();
        let ours = env["signatures"][0].clone();
        env["signatures"] = json!([theirs["signatures"][0], ours]);
        let both = [MAGIC, &serde_json::to_vec(&env).unwrap()[..]].concat();
        assert!(reader.open(KEY, &both, NOW).is_ok());

        // Stuffed with signatures under the trusted key id: refused before checking any (each
        // would cost a signature check).
        let bogus = json!({"keyid": writer.signer.as_ref().unwrap().1, "sig": "AAAA"});
        let mut many = vec![bogus; MAX_SIGNATURES];
        many.push(env["signatures"][1].clone());
        env["signatures"] = Value::Array(many);
        let stuffed = [MAGIC, &serde_json::to_vec(&env).unwrap()[..]].concat();
        let (reason, detail) = reader.open(KEY, &stuffed, NOW).unwrap_err();
        assert_eq!(reason, Rejection::Malformed, "{detail}");
        assert!(detail.contains("at most 8"), "{detail}");
    }

    #[test]
    fn keys_load_from_files_and_errors_name_them() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = SigningKey::generate_pem().unwrap();
        std::fs::write(dir.path().join("w.key"), private).unwrap();
        std::fs::write(dir.path().join("w.pub"), public).unwrap();
        std::fs::write(dir.path().join("bad.pub"), "not a key").unwrap();
        let k = SummaryKeys::load(None, &[dir.path().join("w.pub")], Some("urn:x")).unwrap();
        assert_eq!(k.trusted.len(), 1);
        assert!(!k.writes());
        let w = SummaryKeys::load(Some(&dir.path().join("w.key")), &[], None).unwrap();
        assert!(w.writes());
        let e = SummaryKeys::load(None, &[dir.path().join("bad.pub")], None).unwrap_err();
        assert_eq!(e.field, "trustedKeyFiles");
        assert!(e.to_string().contains("bad.pub"), "{e}");
        let e = SummaryKeys::load(Some(&dir.path().join("nope.key")), &[], None).unwrap_err();
        assert_eq!(e.field, "signingKeyFile");
        assert!(e.to_string().contains("nope.key"), "{e}");
        assert!(SummaryKeys::new(None, Vec::new(), None).is_err());
    }
}
