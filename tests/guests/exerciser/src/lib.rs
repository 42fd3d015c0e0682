//! A verifier that calls every host function and reports what it saw, for the runtime's
//! integration tests to assert on.
//!
//! It reads the subject, lists its referrers (all, and of the artifact type the config names),
//! reads the artifact's manifest and every layer blob, digests each blob on the host and compares
//! with the layer digest, verifies an ECDSA P-256 SHA-256 signature from the config when there is
//! one, logs at every level and writes to stdout and stderr.
//!
//! Config (every key optional):
//! `{"artifactType": "...", "publicKeyPem": "...", "message": "...", "signatureB64": "..."}`.
//!
//! Report extensions: `subject` (digest), `referrers` (count), `filteredReferrers` (count, when
//! `artifactType` is set), `layers` (count), `digestsMatch` (`true`/`false`), `signature`
//! (`valid`/`invalid: <why>`/`skipped`), `seen` (JSON list of the referrer digests).

wit_bindgen::generate!({ path: "../../../wit", world: "verifier" });

use base64::Engine as _;
use serde_json::Value;

use vouch::verifier::crypto::{self, DigestAlgorithm, SignatureAlgorithm, SignatureEncoding};
use vouch::verifier::log::{Level, log};
use vouch::verifier::store::{get_blob, get_manifest, get_subject, list_referrers};
use vouch::verifier::types::ExtensionValue;

struct Exerciser;

/// The parts of the config this verifier reads.
#[derive(Default)]
struct Config {
    /// Artifact type for the filtered `list-referrers` call.
    artifact_type: Option<String>,
    /// PEM public key for the signature check.
    public_key_pem: Option<String>,
    /// Signed message (UTF-8).
    message: Option<String>,
    /// DER ECDSA signature, base64.
    signature_b64: Option<String>,
}

impl Config {
    /// Parses the config JSON; an empty config means every key is absent.
    fn parse(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("config is not JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("config is not a JSON object".into());
        };
        let field = |key: &str| -> Result<Option<String>, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!("config key `{key}` must be a string, got {other}")),
            }
        };
        Ok(Config {
            artifact_type: field("artifactType")?,
            public_key_pem: field("publicKeyPem")?,
            message: field("message")?,
            signature_b64: field("signatureB64")?,
        })
    }
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Digests `blob` on the host and checks it against `digest` (`algorithm:hex`).
fn check_digest(digest: &str, blob: &[u8]) -> Result<(), String> {
    let (algorithm, expected) = digest
        .split_once(':')
        .ok_or_else(|| format!("layer digest `{digest}` has no algorithm"))?;
    let alg = match algorithm {
        "sha256" => DigestAlgorithm::Sha256,
        "sha384" => DigestAlgorithm::Sha384,
        "sha512" => DigestAlgorithm::Sha512,
        other => {
            return Err(format!(
                "layer digest `{digest}`: unknown algorithm `{other}`"
            ));
        }
    };
    let actual = hex(&crypto::digest(alg, blob));
    if actual == expected {
        Ok(())
    } else {
        Err(format!(
            "layer {digest}: host digest is {algorithm}:{actual}"
        ))
    }
}

/// Verifies the configured signature: `None` when the config has no signature to check.
fn check_signature(config: &Config) -> Option<Result<(), String>> {
    let (key, message, signature) = match (
        &config.public_key_pem,
        &config.message,
        &config.signature_b64,
    ) {
        (None, None, None) => return None,
        (Some(k), Some(m), Some(s)) => (k, m, s),
        _ => {
            return Some(Err(
                "config needs all of publicKeyPem, message and signatureB64".into(),
            ));
        }
    };
    let signature = match base64::engine::general_purpose::STANDARD.decode(signature.trim()) {
        Ok(bytes) => bytes,
        Err(e) => return Some(Err(format!("signatureB64 is not base64: {e}"))),
    };
    Some(crypto::verify_signature(
        SignatureAlgorithm::EcdsaP256Sha256,
        SignatureEncoding::Der,
        key.as_bytes(),
        message.as_bytes(),
        &signature,
    ))
}

/// Reads the artifact manifest and every layer blob; returns the layer count and whether every
/// blob's host digest matched its layer digest.
fn check_layers(req: &Request, failures: &mut Vec<String>) -> (Option<usize>, bool) {
    let manifest = match get_manifest(&req.artifact) {
        Ok(bytes) => bytes,
        Err(e) => {
            failures.push(format!("get-manifest {}: {e:?}", req.artifact.digest));
            return (None, false);
        }
    };
    let manifest: Value = match serde_json::from_slice(&manifest) {
        Ok(value) => value,
        Err(e) => {
            failures.push(format!("manifest {} is not JSON: {e}", req.artifact.digest));
            return (None, false);
        }
    };
    let layers = match manifest.get("layers") {
        None => Vec::new(),
        Some(Value::Array(layers)) => layers.clone(),
        Some(other) => {
            failures.push(format!("manifest `layers` is not an array: {other}"));
            return (None, false);
        }
    };
    let mut all_match = true;
    for (index, layer) in layers.iter().enumerate() {
        let Some(digest) = layer.get("digest").and_then(Value::as_str) else {
            failures.push(format!("layer {index} has no digest"));
            all_match = false;
            continue;
        };
        let checked = get_blob(digest)
            .map_err(|e| format!("get-blob {digest}: {e:?}"))
            .and_then(|blob| check_digest(digest, &blob));
        if let Err(e) = checked {
            failures.push(e);
            all_match = false;
        }
    }
    (Some(layers.len()), all_match)
}

impl Guest for Exerciser {
    fn metadata() -> Metadata {
        Metadata {
            name: "exerciser".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: None,
        }
    }

    fn check_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn verify(req: Request) -> Report {
        let mut failures = Vec::new();
        let mut extensions = Vec::new();
        let text = |key: &str, value: String| (key.to_string(), ExtensionValue::Text(value));

        for (level, name) in [
            (Level::Trace, "trace"),
            (Level::Debug, "debug"),
            (Level::Info, "info"),
            (Level::Warn, "warn"),
            (Level::Error, "error"),
        ] {
            log(level, &format!("exerciser log at {name}"));
        }
        println!("exerciser stdout line");
        eprintln!("exerciser stderr line");

        let config = Config::parse(&req.config).unwrap_or_else(|e| {
            failures.push(e);
            Config::default()
        });

        let subject = get_subject();
        if subject.descriptor.digest != req.subject.descriptor.digest {
            failures.push(format!(
                "get-subject returned {}, the request names {}",
                subject.descriptor.digest, req.subject.descriptor.digest
            ));
        }
        extensions.push(text("subject", subject.descriptor.digest.clone()));

        let seen: Vec<String> = match list_referrers(&subject.descriptor.digest, None) {
            Ok(referrers) => referrers.into_iter().map(|d| d.digest).collect(),
            Err(e) => {
                failures.push(format!(
                    "list-referrers {}: {e:?}",
                    subject.descriptor.digest
                ));
                Vec::new()
            }
        };
        extensions.push(text("referrers", seen.len().to_string()));

        if let Some(artifact_type) = &config.artifact_type {
            match list_referrers(&subject.descriptor.digest, Some(artifact_type)) {
                Ok(filtered) => {
                    for d in filtered.iter() {
                        if d.artifact_type.as_deref() != Some(artifact_type.as_str()) {
                            failures.push(format!(
                                "filter {artifact_type} returned {} of type {:?}",
                                d.digest, d.artifact_type
                            ));
                        }
                    }
                    extensions.push(text("filteredReferrers", filtered.len().to_string()));
                }
                Err(e) => failures.push(format!(
                    "list-referrers {} filtered by {artifact_type}: {e:?}",
                    subject.descriptor.digest
                )),
            }
        }

        let (layers, digests_match) = check_layers(&req, &mut failures);
        if let Some(layers) = layers {
            extensions.push(text("layers", layers.to_string()));
        }
        extensions.push(text("digestsMatch", digests_match.to_string()));

        let signature = match check_signature(&config) {
            None => "skipped".to_string(),
            Some(Ok(())) => "valid".to_string(),
            Some(Err(e)) => {
                failures.push(format!("signature: {e}"));
                format!("invalid: {e}")
            }
        };
        extensions.push(text("signature", signature));

        let seen_json = serde_json::to_string(&seen).unwrap_or_else(|_| "[]".into());
        extensions.push(("seen".into(), ExtensionValue::Json(seen_json)));

        let is_success = failures.is_empty();
        Report {
            is_success,
            message: if is_success {
                "every host function answered as expected".into()
            } else {
                format!("checks failed: {}", failures.join("; "))
            },
            error_reason: (!is_success).then(|| "CHECK_FAILED".into()),
            extensions,
        }
    }
}

export!(Exerciser);
