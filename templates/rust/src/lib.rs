//! `{{name}}`: a Vouch verifier. It judges referrers of artifact type [`ARTIFACT_TYPE`] and
//! passes one whose manifest carries every annotation the configuration requires:
//!
//! ```json
//! {"requiredAnnotations": ["org.opencontainers.image.created", "org.opencontainers.image.source"]}
//! ```
//!
//! Error reasons: `CONFIG_INVALID` (the configuration above is malformed), `ANNOTATION_MISSING`
//! (the message lists the missing keys), and the SDK's `STORE_ERROR`, `TOO_LARGE` and
//! `INVALID_MANIFEST` when the manifest cannot be read. On success the extension
//! `annotations` holds the required annotations with their values.

use serde_json::{Map, Value};
use vouch_verifier_sdk::report::{failed, json, passed};
use vouch_verifier_sdk::{Ctx, Metadata, Report, Verifier, export_verifier};

/// The artifact type this verifier judges (the engine config's `artifactTypes` can route others
/// to it).
pub const ARTIFACT_TYPE: &str = "application/vnd.example.{{name}}.v1+json";

/// `errorReason` of an artifact that lacks a required annotation.
pub const ANNOTATION_MISSING: &str = "ANNOTATION_MISSING";

/// JSON Schema of the configuration, published in the metadata.
const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["requiredAnnotations"],
  "properties": {
    "requiredAnnotations": {"type": "array", "minItems": 1,
                            "items": {"type": "string", "minLength": 1}}
  }
}"#;

/// The parsed configuration.
#[derive(Debug, PartialEq, Eq)]
pub struct Config {
    /// Annotation keys the artifact's manifest must carry.
    pub required: Vec<String>,
}

impl Config {
    /// Parses the configuration; the error names the field that is wrong.
    pub fn parse(text: &str) -> Result<Config, String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("config is not JSON: {e}"))?;
        let Some(obj) = v.as_object() else {
            return Err("config is not a JSON object".into());
        };
        if let Some(key) = obj.keys().find(|k| *k != "requiredAnnotations") {
            return Err(format!("unknown config key `{key}`"));
        }
        let keys = obj
            .get("requiredAnnotations")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or("`requiredAnnotations` must be a non-empty array of annotation keys")?;
        let required = keys
            .iter()
            .map(|k| match k.as_str() {
                Some(k) if !k.is_empty() => Ok(k.to_owned()),
                _ => Err(format!(
                    "`requiredAnnotations` holds {k}, not an annotation key"
                )),
            })
            .collect::<Result<_, String>>()?;
        Ok(Config { required })
    }
}

/// The verifier.
pub struct RequiredAnnotations;

impl Verifier for RequiredAnnotations {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            name: "{{name}}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            artifact_types: vec![ARTIFACT_TYPE.into()],
            config_schema: Some(CONFIG_SCHEMA.into()),
        }
    }

    fn parse_config(config: &str) -> Result<Config, String> {
        Config::parse(config)
    }

    fn verify(ctx: &Ctx<'_>, config: Config) -> Report {
        let manifest = match ctx.manifest() {
            Ok(m) => m,
            Err(e) => return e.into(),
        };
        let value = |key: &str| {
            manifest
                .annotations
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let missing: Vec<&str> = config
            .required
            .iter()
            .filter(|k| value(k).is_none())
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return failed(
                ANNOTATION_MISSING,
                format!(
                    "artifact {} lacks the required annotation(s) {}",
                    ctx.artifact.digest,
                    missing.join(", ")
                ),
            );
        }
        let found: Map<String, Value> = config
            .required
            .iter()
            .map(|k| (k.clone(), Value::from(value(k).unwrap_or_default())))
            .collect();
        passed(
            format!(
                "all {} required annotation(s) present",
                config.required.len()
            ),
            vec![("annotations".into(), json(found))],
        )
    }
}

export_verifier!(RequiredAnnotations);

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_verifier_sdk::testing::{MemoryStore, ctx, descriptor};

    /// A store holding one artifact manifest with `annotations`.
    fn store(annotations: Value) -> MemoryStore {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "artifactType": ARTIFACT_TYPE,
            "layers": [],
            "annotations": annotations,
        });
        MemoryStore::default().manifest("sha256:a1", Ok(manifest.to_string().into_bytes()))
    }

    fn judge(store: &MemoryStore, config: &str) -> Report {
        let config = Config::parse(config).unwrap();
        RequiredAnnotations::verify(
            &ctx(descriptor("sha256:a1", Some(ARTIFACT_TYPE), &[]), store),
            config,
        )
    }

    const CONFIG: &str = r#"{"requiredAnnotations": ["a", "b"]}"#;

    #[test]
    fn passes_when_every_annotation_is_present() {
        let r = judge(
            &store(serde_json::json!({"a": "1", "b": "2", "c": "3"})),
            CONFIG,
        );
        assert!(r.is_success, "{r:?}");
        assert_eq!(r.extensions[0].0, "annotations");
    }

    #[test]
    fn fails_naming_the_missing_annotations() {
        let r = judge(&store(serde_json::json!({"b": "2"})), CONFIG);
        assert!(!r.is_success);
        assert_eq!(r.error_reason.as_deref(), Some(ANNOTATION_MISSING));
        assert_eq!(
            r.message,
            "artifact sha256:a1 lacks the required annotation(s) a"
        );
    }

    #[test]
    fn an_unreadable_manifest_is_a_store_error() {
        let r = judge(&MemoryStore::default(), CONFIG);
        assert_eq!(r.error_reason.as_deref(), Some("STORE_ERROR"));
    }

    #[test]
    fn bad_configs_are_refused() {
        for bad in [
            "[]",
            "{}",
            r#"{"requiredAnnotations": []}"#,
            r#"{"requiredAnnotations": [1]}"#,
            r#"{"requiredAnnotations": ["a"], "x": 1}"#,
        ] {
            assert!(Config::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Config::parse(CONFIG).unwrap().required, ["a", "b"]);
        let schema: Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        assert_eq!(schema["required"][0], "requiredAnnotations");
    }
}
