//! The `schema` verifier: validates JSON artifacts against JSON Schemas from its config.
//!
//! It announces the artifact type `*`: at metadata time it cannot know the configured types.
//! For each artifact it reads the manifest and picks, for every layer, the schema configured for
//! the layer's media type, else the one for the artifact's type (see [`config`]). Layers with
//! neither are not read.
//!
//! When no schema applies to any layer, the verifier passes through (success, message
//! `no schema for <type>`, extension `validated: false`) unless `requireSchema` is true, which
//! fails with `NO_SCHEMA`. Passing through is the default because the engine routes every
//! referrer to a `*` verifier: restrict it with the engine config's `artifactTypes` (set to the
//! configured keys) and turn `requireSchema` on to fail closed.
//!
//! Each selected layer (capped at `maxBlobBytes`, default 8 MiB; the host caps too) must be JSON
//! and valid. Report extensions: `validated` (bool), `layers` (count validated), `errors` (count)
//! and `errorDetails`: the first `maxReportedErrors` (default 5) errors as
//! `{layer, schema, instancePath, schemaPath, message}` (JSON pointers).
//!
//! Error reasons: `CONFIG_INVALID`, `INVALID_MANIFEST`, `NO_SCHEMA`, `NO_LAYERS`, `TOO_LARGE`,
//! `STORE_ERROR`, `INVALID_JSON`, `SCHEMA_VIOLATION`.

pub mod config;
pub use verifier_common::manifest;

use serde_json::{Value, json};

use vouch_verifier_sdk::report::{failed, failed_with, json, passed};
use vouch_verifier_sdk::{Ctx, Level, Metadata, Report, Verifier, export_verifier, log};

use crate::config::Config;

/// JSON Schema of the configuration, published in the metadata.
const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["schemas"],
  "properties": {
    "schemas": {"type": "object", "minProperties": 1,
                "additionalProperties": {"type": ["object", "boolean"]}},
    "requireSchema": {"type": "boolean"},
    "maxBlobBytes": {"type": "integer", "minimum": 1},
    "maxReportedErrors": {"type": "integer", "minimum": 1}
  }
}"#;

struct SchemaVerifier;

/// Judges one artifact under `config`.
fn run(ctx: &Ctx<'_>, config: Config) -> Report {
    let manifest = match ctx.manifest() {
        Ok(m) => m,
        Err(e) => return e.into(),
    };
    let artifact_type = manifest
        .artifact_type
        .clone()
        .or_else(|| ctx.artifact.artifact_type.clone())
        .unwrap_or_else(|| ctx.artifact.media_type.clone());
    let by_type = config.schema_for(&artifact_type);
    let selected: Vec<_> = manifest
        .layers
        .iter()
        .filter_map(|l| config.schema_for(&l.media_type).or(by_type).map(|s| (l, s)))
        .collect();
    if selected.is_empty() {
        if by_type.is_some() {
            return failed(
                "NO_LAYERS",
                format!(
                    "artifact {} of type {artifact_type} has no layers to validate",
                    ctx.artifact.digest
                ),
            );
        }
        let message = format!("no schema for {artifact_type}");
        if config.require_schema {
            return failed("NO_SCHEMA", format!("{message} and requireSchema is set"));
        }
        return passed(message, vec![("validated".into(), json(false))]);
    }
    let mut problems = Vec::new();
    let mut total = 0usize;
    for (layer, schema) in &selected {
        let what = format!(
            "layer {} ({}, {})",
            layer.index, layer.media_type, layer.digest
        );
        let blob = match ctx.layer(&what, layer, config.max_blob_bytes) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        let doc: Value = match serde_json::from_slice(&blob) {
            Ok(v) => v,
            Err(e) => return failed("INVALID_JSON", format!("{what} is not JSON: {e}")),
        };
        let found = schema.validate(&doc);
        log(
            Level::Debug,
            &format!(
                "{what}: {} schema errors against {:?}",
                found.len(),
                schema.key
            ),
        );
        total += found.len();
        for p in found {
            if problems.len() < config.max_reported_errors {
                problems.push(json!({
                    "layer": layer.index,
                    "schema": schema.key,
                    "instancePath": p.instance_path,
                    "schemaPath": p.schema_path,
                    "message": p.message,
                }));
            }
        }
    }
    let first = problems.first().map(|p| {
        format!(
            "first at {:?}: {}",
            p["instancePath"].as_str().unwrap_or_default(),
            p["message"].as_str().unwrap_or_default()
        )
    });
    let extensions = vec![
        ("validated".into(), json(true)),
        ("layers".into(), json(selected.len())),
        ("errors".into(), json(total)),
        ("errorDetails".into(), json(problems)),
    ];
    match first {
        None => passed(
            format!("{} layer(s) of {artifact_type} valid", selected.len()),
            extensions,
        ),
        Some(first) => failed_with(
            "SCHEMA_VIOLATION",
            format!("{total} schema error(s) in {artifact_type}; {first}"),
            extensions,
        ),
    }
}

impl Verifier for SchemaVerifier {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            name: "schema".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: Some(CONFIG_SCHEMA.into()),
        }
    }

    fn parse_config(config: &str) -> Result<Config, String> {
        Config::parse(config)
    }

    fn verify(ctx: &Ctx<'_>, config: Config) -> Report {
        run(ctx, config)
    }
}

export_verifier!(SchemaVerifier);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_schema_compiles() {
        let v: Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        let validator = jsonschema::validator_for(&v).unwrap();
        assert!(validator.is_valid(&json!({"schemas": {"a/b": {}}})));
        assert!(!validator.is_valid(&json!({"schemas": {}})));
    }
}
