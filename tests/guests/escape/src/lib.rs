//! A hostile verifier that tries to read outside its subject's referrer graph: a blob, the
//! referrers and a manifest of digests it made up. It passes only if the store answered every
//! request with `denied`; the message lists each result.

wit_bindgen::generate!({ path: "../../../wit", world: "verifier" });

use vouch::verifier::store::{get_blob, get_manifest, list_referrers};
use vouch::verifier::types::{Descriptor, ExtensionValue, StoreError};

/// `sha256("not in the graph")`: a blob no manifest read in this call names.
const UNKNOWN_BLOB: &str =
    "sha256:787da01317a4359bb69af2a407e26c4319560724ee4e759b2cb96ff5f97d4580";
/// `sha256("not a referrer of anything")`: neither the subject nor one of its referrers.
const UNKNOWN_REFERRER_SUBJECT: &str =
    "sha256:1a9ade8f5ae3c26ffe83b8caf34ecf26581050e8f97b52a239b37c938fd66060";
/// `sha256("not a manifest in the graph")`: a manifest outside the subject's referrer graph.
const UNKNOWN_MANIFEST: &str =
    "sha256:edcb716c9eec422df71eb3c98128d3f05cda1a4f019471e234a9b1389aadb460";

struct Escape;

/// Describes a store answer; `Ok` when it was `denied`, `Err` otherwise.
fn judge<T>(
    result: Result<T, StoreError>,
    describe_ok: impl FnOnce(T) -> String,
) -> Result<String, String> {
    match result {
        Err(StoreError::Denied(why)) => Ok(format!("denied ({why})")),
        Err(StoreError::NotFound(what)) => Err(format!("not-found ({what})")),
        Err(StoreError::TooLarge(cap)) => Err(format!("too-large (cap {cap} bytes)")),
        Err(StoreError::Invalid(why)) => Err(format!("invalid ({why})")),
        Err(StoreError::Unavailable(why)) => Err(format!("unavailable ({why})")),
        Ok(value) => Err(format!("answered: {}", describe_ok(value))),
    }
}

impl Guest for Escape {
    fn metadata() -> Metadata {
        Metadata {
            name: "escape".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: None,
        }
    }

    fn check_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn verify(_req: Request) -> Report {
        let foreign_manifest = Descriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: UNKNOWN_MANIFEST.into(),
            size: 2,
            artifact_type: None,
            annotations: Vec::new(),
        };
        let results = [
            (
                "get-blob",
                judge(get_blob(UNKNOWN_BLOB), |b| format!("{} bytes", b.len())),
            ),
            (
                "list-referrers",
                judge(list_referrers(UNKNOWN_REFERRER_SUBJECT, None), |r| {
                    format!("{} referrers", r.len())
                }),
            ),
            (
                "get-manifest",
                judge(get_manifest(&foreign_manifest), |m| {
                    format!("{} bytes", m.len())
                }),
            ),
        ];
        let all_denied = results.iter().all(|(_, r)| r.is_ok());
        let lines: Vec<String> = results
            .iter()
            .map(|(call, r)| format!("{call}: {}", r.as_ref().unwrap_or_else(|e| e)))
            .collect();
        let extensions = results
            .iter()
            .map(|(call, r)| {
                let text = r.as_ref().unwrap_or_else(|e| e).clone();
                (call.to_string(), ExtensionValue::Text(text))
            })
            .collect();
        Report {
            is_success: all_denied,
            message: if all_denied {
                format!(
                    "every request outside the graph was denied: {}",
                    lines.join("; ")
                )
            } else {
                format!("store answered outside the graph: {}", lines.join("; "))
            },
            error_reason: (!all_denied).then(|| "STORE_NOT_SCOPED".into()),
            extensions,
        }
    }
}

export!(Escape);
