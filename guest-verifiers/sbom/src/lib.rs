//! The `sbom` verifier: judges SPDX and CycloneDX JSON SBOMs attached to an image.
//!
//! It reads the artifact's manifest, then every layer of media type `application/spdx+json` or
//! `application/vnd.cyclonedx+json` (a `; version=1.x` parameter is allowed), each capped at
//! `maxBlobBytes` (default 8 MiB; the host caps too), and checks every package against the
//! configured license rule and disallowed packages (see [`config`] for the keys and [`license`]
//! for how license expressions are judged).
//!
//! Report extensions: `format` (e.g. `SPDX-2.3`), `packages`, `licenses` (distinct licenses seen),
//! `unknownLicenses` (packages without a usable license), `violations` (counts) and
//! `violationDetails` (the first `maxReportedViolations` violations: `{rule, path, package,
//! version, detail}`).
//!
//! Error reasons: `CONFIG_INVALID`, `INVALID_MANIFEST`, `INVALID_SBOM` (malformed SBOM, with the
//! JSON path of the error, or no SBOM layer), `TOO_LARGE`, `STORE_ERROR`, and for policy failures
//! `LICENSE_DISALLOWED`, `PACKAGE_DISALLOWED` or `SBOM_POLICY_VIOLATION` (both).

pub use sbom_rules::{config, document, license, policy, purl};
pub use verifier_common::manifest;

use serde_json::Value;

use vouch_verifier_sdk::report::{failed, failed_with, json, passed, text};
use vouch_verifier_sdk::{Ctx, Level, Metadata, Report, Verifier, export_verifier, log};

use sbom_rules::config::Config;
use sbom_rules::document::{CYCLONEDX_JSON, Format, SPDX_JSON};
use sbom_rules::policy::Evaluation;

/// JSON Schema of the configuration, published in the metadata.
const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "allowedLicenses": {"type": "array", "items": {"type": "string"}},
    "disallowedLicenses": {"type": "array", "items": {"type": "string"}},
    "unknownLicenses": {"enum": ["allow", "deny"]},
    "disallowedPackages": {"type": "array", "items": {"oneOf": [
      {"type": "object", "required": ["name"], "additionalProperties": false,
       "properties": {"name": {"type": "string"}, "version": {"type": "string"}}},
      {"type": "object", "required": ["purl"], "additionalProperties": false,
       "properties": {"purl": {"type": "string", "pattern": "^pkg:"}}}]}},
    "maxBlobBytes": {"type": "integer", "minimum": 1},
    "maxReportedViolations": {"type": "integer", "minimum": 1}
  },
  "not": {"required": ["allowedLicenses", "disallowedLicenses"]}
}"#;

struct Sbom;

/// Judges one artifact under `config`.
fn run(ctx: &Ctx<'_>, config: Config) -> Report {
    let manifest = match ctx.manifest() {
        Ok(m) => m,
        Err(e) => return e.into(),
    };
    let sboms: Vec<_> = manifest
        .layers
        .iter()
        .filter_map(|l| Format::from_media_type(&l.media_type).map(|f| (l, f)))
        .collect();
    if sboms.is_empty() {
        return failed(
            "INVALID_SBOM",
            format!(
                "artifact {} has no layer of media type {SPDX_JSON} or {CYCLONEDX_JSON} \
                 (layers: [{}])",
                ctx.artifact.digest,
                manifest.media_types().join(", ")
            ),
        );
    }
    let mut eval = Evaluation::default();
    let mut formats = Vec::new();
    for (layer, format) in sboms {
        let what = format!("SBOM layer {} ({})", layer.index, layer.digest);
        let blob = match ctx.layer(&what, layer, config.max_blob_bytes) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        let sbom = match document::parse(format, &blob) {
            Ok(s) => s,
            Err(e) => {
                return failed_with(
                    "INVALID_SBOM",
                    format!("{what} is malformed at {e}"),
                    vec![("path".into(), text(e.path))],
                );
            }
        };
        log(
            Level::Debug,
            &format!(
                "{what}: {} with {} packages",
                sbom.format,
                sbom.packages.len()
            ),
        );
        policy::evaluate(&config, &sbom.packages, &mut eval);
        formats.push(sbom.format);
    }
    let v = sbom_rules::verdict(&config, &eval, &formats);
    let extensions = v
        .extensions
        .into_iter()
        .map(|(k, value)| match value {
            Value::String(s) => (k, text(s)),
            other => (k, json(other)),
        })
        .collect();
    match v.reason {
        None => passed(v.message, extensions),
        Some(reason) => failed_with(reason, v.message, extensions),
    }
}

impl Verifier for Sbom {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            name: "sbom".into(),
            version: "0.1.0".into(),
            artifact_types: vec![SPDX_JSON.into(), CYCLONEDX_JSON.into()],
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

export_verifier!(Sbom);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_schema_is_json() {
        let v: Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        assert_eq!(v["type"], "object");
    }
}
