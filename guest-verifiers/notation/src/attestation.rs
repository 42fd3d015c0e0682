//! In-toto statements signed with notation: an attestation artifact (a manifest of artifact type
//! `application/vnd.in-toto+json` whose one layer of that media type is the statement, `subject`
//! the image) with notation signatures as its referrers — `notation sign` on the attestation's
//! digest.
//!
//! The verifier judges the attestation as a whole, so that a statement is handed on only once a
//! signature over it verified (failing closed: an unsigned attestation is a failure, not a pass
//! with nothing nested):
//! 1. the manifest has exactly one statement layer (`INVALID_STATEMENT` otherwise: none, or
//!    several, which would make "the" statement ambiguous), read capped at `maxStatementBytes`;
//! 2. the statement is judged by `verifier_common::statement` against the image's digest (cap,
//!    in-toto `_type`, `SUBJECT_MISMATCH`);
//! 3. the attestation's notation signatures (its referrers of artifact type
//!    `application/vnd.cncf.notary.signature`) are verified as any notation signature, with the
//!    attestation as their subject, under the trust policy scoped to the image's repository: one
//!    that passes suffices; none is `ATTESTATION_UNSIGNED`; when all fail, the first failure's
//!    reason, with each signature's message;
//! 4. the predicate type must be in `attestationTypes` when configured.
//!
//! The report carries the passing signature's extensions (signer, trust policy, checks…), the
//! `signature` digest, `predicateType` and the verified `statement` (JSON), as the cosign verifier
//! hands on the statements it verifies. Route attestations to this verifier with the engine's
//! `artifactTypes` override (`[application/vnd.cncf.notary.signature,
//! application/vnd.in-toto+json]`).

use verifier_common::media_type::essence;
use verifier_common::statement::{Carrier, EXTENSION, Statement};
use vouch_verifier_sdk::report::failed;
use vouch_verifier_sdk::{Ctx, Descriptor, ExtensionValue, Report};

use crate::policy::Config;
use crate::verify::{Desc, Outcome, SIGNATURE_ARTIFACT_TYPE};

/// Artifact type (and layer media type) of an in-toto attestation artifact.
pub const INTOTO_ARTIFACT_TYPE: &str = "application/vnd.in-toto+json";
/// Reason when the attestation has no notation signature.
pub const ATTESTATION_UNSIGNED: &str = "ATTESTATION_UNSIGNED";
/// Reason when the attestation's statement layer is missing, ambiguous or not a statement.
pub const INVALID_STATEMENT: &str = "INVALID_STATEMENT";

/// How messages name the statement's bytes.
const LAYER: Carrier = Carrier {
    what: "the attestation's statement layer",
    malformed: INVALID_STATEMENT,
};

/// A signature outcome's extensions as the report carries them: text, and JSON (`checks`).
pub fn extensions(out: Outcome) -> Vec<(String, ExtensionValue)> {
    out.text
        .into_iter()
        .map(|(k, v)| (k, ExtensionValue::Text(v)))
        .chain(
            out.json
                .into_iter()
                .map(|(k, v)| (k, ExtensionValue::Json(v))),
        )
        .collect()
}

/// Judges the attestation `ctx.artifact` of `ctx.subject`; `verify_signature` verifies one
/// notation signature (its manifest descriptor) of the attestation (the [`Desc`] it must sign).
pub fn verify(
    ctx: &Ctx<'_>,
    config: &Config,
    verify_signature: &dyn Fn(&Descriptor, &Desc) -> Outcome,
) -> Report {
    let manifest = match ctx.manifest() {
        Ok(m) => m,
        Err(e) => return e.into(),
    };
    let layers: Vec<_> = manifest
        .layers
        .iter()
        .filter(|l| essence(&l.media_type) == INTOTO_ARTIFACT_TYPE)
        .collect();
    let layer = match layers[..] {
        [one] => one,
        [] => {
            return failed(
                INVALID_STATEMENT,
                format!(
                    "attestation {} has no layer of media type {INTOTO_ARTIFACT_TYPE} (layers: [{}])",
                    ctx.artifact.digest,
                    manifest.media_types().join(", ")
                ),
            );
        }
        _ => {
            return failed(
                INVALID_STATEMENT,
                format!(
                    "attestation {} has {} layers of media type {INTOTO_ARTIFACT_TYPE}; exactly one \
                     statement is judged",
                    ctx.artifact.digest,
                    layers.len()
                ),
            );
        }
    };
    let cap = config
        .max_statement
        .unwrap_or(verifier_common::statement::MAX_STATEMENT_LIMIT) as u64;
    let what = format!("the statement layer {}", layer.digest);
    let bytes = match ctx.layer(&what, layer, cap) {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    let statement = match Statement::about(
        &bytes,
        &ctx.subject.descriptor.digest,
        config.max_statement,
        LAYER,
    ) {
        Ok(s) => s,
        Err(r) => return failed(r.reason, r.message),
    };

    let signatures = match ctx.referrers(&ctx.artifact.digest, Some(SIGNATURE_ARTIFACT_TYPE)) {
        Ok(s) => s,
        Err(e) => return e.into(),
    };
    if signatures.is_empty() {
        return failed(
            ATTESTATION_UNSIGNED,
            format!(
                "attestation {} ({}) has no notation signature: its statement is not trusted",
                ctx.artifact.digest,
                statement.predicate_type()
            ),
        );
    }
    let attestation = Desc {
        media_type: ctx.artifact.media_type.clone(),
        digest: ctx.artifact.digest.clone(),
        size: ctx.artifact.size,
    };
    let mut failures = Vec::new();
    let mut passed = None;
    for sig in &signatures {
        let out = verify_signature(sig, &attestation);
        if out.ok {
            passed = Some((sig, out));
            break;
        }
        failures.push((sig.digest.clone(), out));
    }
    let Some((sig, out)) = passed else {
        let reason = failures[0].1.reason.unwrap_or("SIGNATURE_INVALID");
        let each: Vec<String> = failures
            .iter()
            .map(|(d, o)| format!("{d}: {}", o.message))
            .collect();
        return failed(
            reason,
            format!(
                "no notation signature of attestation {} verifies: {}",
                ctx.artifact.digest,
                each.join("; ")
            ),
        );
    };
    if let Err(r) = statement.check_type(config.attestation_types.as_deref()) {
        return failed(r.reason, r.message);
    }

    let message = out.message.clone();
    let mut extensions = extensions(out);
    extensions.push(("signature".into(), ExtensionValue::Text(sig.digest.clone())));
    extensions.push((
        "predicateType".into(),
        ExtensionValue::Text(statement.predicate_type().to_owned()),
    ));
    if config.max_statement.is_some() {
        extensions.push((
            EXTENSION.into(),
            ExtensionValue::Json(statement.handed_on()),
        ));
    }
    Report {
        is_success: true,
        message: format!(
            "in-toto attestation ({}) verified: {}",
            statement.predicate_type(),
            message
        ),
        error_reason: None,
        extensions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use vouch_verifier_sdk::testing::{MemoryStore, ctx, descriptor};

    const ATT: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const LAYER_A: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const LAYER_B: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const SIG_1: &str = "sha256:5151515151515151515151515151515151515151515151515151515151515151";
    const SIG_2: &str = "sha256:5252525252525252525252525252525252525252525252525252525252525252";
    const SLSA: &str = "https://slsa.dev/provenance/v1";

    fn statement(subject_hex: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "app", "digest": {"sha256": subject_hex}}],
            "predicateType": SLSA,
            "predicate": {"runDetails": {"builder": {"id": "https://ci.example.test"}}},
        }))
        .unwrap()
    }

    fn manifest(layers: &[(&str, &str, usize)]) -> Vec<u8> {
        let layers: Vec<Value> = layers
            .iter()
            .map(|(mt, d, n)| json!({"mediaType": mt, "digest": d, "size": n}))
            .collect();
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": INTOTO_ARTIFACT_TYPE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                       "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                       "size": 2},
            "layers": layers,
        }))
        .unwrap()
    }

    /// An attestation of the test subject (`sha256:5e`) with `statement` and `sigs` signatures.
    fn store(statement: &[u8], sigs: &[&str]) -> MemoryStore {
        let mut s = MemoryStore::default()
            .manifest(
                ATT,
                Ok(manifest(&[(
                    INTOTO_ARTIFACT_TYPE,
                    LAYER_A,
                    statement.len(),
                )])),
            )
            .blob(LAYER_A, Ok(statement.to_vec()))
            // A referrer of another type: not a signature, whatever it says.
            .referrer(ATT, descriptor(LAYER_B, Some("application/spdx+json"), &[]));
        for sig in sigs {
            s = s.referrer(ATT, descriptor(sig, Some(SIGNATURE_ARTIFACT_TYPE), &[]));
        }
        s
    }

    /// A trust policy that skips signature checks (the fake verifies signatures), plus `extra`.
    fn config(extra: Value) -> Config {
        let mut c = json!({"trustPolicy": {"version": "1.0", "trustPolicies": [{"name": "p",
            "registryScopes": ["*"], "signatureVerification": {"level": "skip"},
            "trustStores": [], "trustedIdentities": []}]}});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        crate::policy::parse(&c.to_string(), &|_| Ok(())).unwrap()
    }

    fn outcome(ok: bool, reason: Option<&'static str>, message: &str) -> Outcome {
        Outcome {
            ok,
            message: message.into(),
            reason,
            text: vec![("SN".into(), "CN=signer".into())],
            json: Vec::new(),
        }
    }

    fn judge(store: &MemoryStore, config: &Config, sig_ok: &dyn Fn(&str) -> bool) -> Report {
        let seen = std::cell::RefCell::new(Vec::new());
        let verify_signature = |sig: &Descriptor, att: &Desc| {
            seen.borrow_mut().push(att.digest.clone());
            if sig_ok(&sig.digest) {
                outcome(true, None, "signed by CN=signer")
            } else {
                outcome(false, Some("SIGNATURE_INVALID"), "bad signature")
            }
        };
        let artifact = descriptor(ATT, Some(INTOTO_ARTIFACT_TYPE), &[]);
        let r = verify(&ctx(artifact, store), config, &verify_signature);
        // Every signature is checked against the attestation, never the image.
        assert!(seen.borrow().iter().all(|d| d == ATT));
        r
    }

    fn ext<'a>(r: &'a Report, key: &str) -> Option<&'a ExtensionValue> {
        r.extensions.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A signed statement about the image passes, with the signature's extensions and the
    /// statement handed on; one verifying signature among failing ones suffices.
    #[test]
    fn a_signed_statement_about_the_image_is_handed_on() {
        let s = store(&statement("5e"), &[SIG_1, SIG_2]);
        let r = judge(&s, &config(json!({})), &|d| d == SIG_2);
        assert!(r.is_success, "{}", r.message);
        assert!(r.message.contains(SLSA), "{}", r.message);
        assert_eq!(
            ext(&r, "signature"),
            Some(&ExtensionValue::Text(SIG_2.into()))
        );
        assert_eq!(
            ext(&r, "SN"),
            Some(&ExtensionValue::Text("CN=signer".into()))
        );
        let Some(ExtensionValue::Json(stmt)) = ext(&r, EXTENSION) else {
            panic!("no statement: {:?}", r.extensions);
        };
        let stmt: Value = serde_json::from_str(stmt).unwrap();
        assert_eq!(stmt["predicateType"], SLSA);
    }

    /// Fail closed: an attestation without a notation signature is not a pass with nothing
    /// nested, and when every signature fails, the first failure's reason is the report's.
    #[test]
    fn unsigned_or_badly_signed_attestations_fail() {
        let r = judge(&store(&statement("5e"), &[]), &config(json!({})), &|_| true);
        assert_eq!(
            r.error_reason.as_deref(),
            Some(ATTESTATION_UNSIGNED),
            "{}",
            r.message
        );
        let r = judge(
            &store(&statement("5e"), &[SIG_1, SIG_2]),
            &config(json!({})),
            &|_| false,
        );
        assert_eq!(r.error_reason.as_deref(), Some("SIGNATURE_INVALID"));
        assert!(
            r.message.contains(SIG_1) && r.message.contains(SIG_2),
            "{}",
            r.message
        );
    }

    /// in-toto: the subject is "the set of software artifacts that the attestation applies to";
    /// a statement about another image fails, whoever signed it.
    #[test]
    fn a_statement_about_another_image_fails() {
        let r = judge(
            &store(&statement("77"), &[SIG_1]),
            &config(json!({})),
            &|_| true,
        );
        assert_eq!(
            r.error_reason.as_deref(),
            Some("SUBJECT_MISMATCH"),
            "{}",
            r.message
        );
    }

    #[test]
    fn predicate_types_caps_and_layers_are_enforced() {
        let s = store(&statement("5e"), &[SIG_1]);
        let r = judge(
            &s,
            &config(json!({"attestationTypes": ["https://spdx.dev/Document"]})),
            &|_| true,
        );
        assert_eq!(
            r.error_reason.as_deref(),
            Some("PREDICATE_TYPE_NOT_ACCEPTED")
        );
        let r = judge(&s, &config(json!({"maxStatementBytes": 64})), &|_| true);
        assert_eq!(
            r.error_reason.as_deref(),
            Some("TOO_LARGE"),
            "{}",
            r.message
        );
        // With `maxStatementBytes: 0` no statement is handed on, and the layer is still capped.
        let r = judge(&s, &config(json!({"maxStatementBytes": 0})), &|_| true);
        assert!(
            r.is_success && ext(&r, EXTENSION).is_none(),
            "{}",
            r.message
        );

        let not_json = store(b"not json", &[SIG_1]);
        let r = judge(&not_json, &config(json!({})), &|_| true);
        assert_eq!(
            r.error_reason.as_deref(),
            Some(INVALID_STATEMENT),
            "{}",
            r.message
        );
        let two = MemoryStore::default().manifest(
            ATT,
            Ok(manifest(&[
                (INTOTO_ARTIFACT_TYPE, LAYER_A, 10),
                (INTOTO_ARTIFACT_TYPE, LAYER_B, 10),
            ])),
        );
        let r = judge(&two, &config(json!({})), &|_| true);
        assert_eq!(r.error_reason.as_deref(), Some(INVALID_STATEMENT));
        assert!(r.message.contains("2 layers"), "{}", r.message);
        let none = MemoryStore::default().manifest(ATT, Ok(manifest(&[])));
        let r = judge(&none, &config(json!({})), &|_| true);
        assert_eq!(r.error_reason.as_deref(), Some(INVALID_STATEMENT));
        assert!(r.message.contains("has no layer"), "{}", r.message);
    }
}
