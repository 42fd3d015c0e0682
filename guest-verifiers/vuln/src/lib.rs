//! The `vuln` verifier: judges SARIF 2.1.0 vulnerability reports (Trivy, Grype) attached to an
//! image.
//!
//! It reads the artifact's manifest, then every layer whose media type is in `mediaTypes`
//! (default `application/sarif+json` and
//! `application/vnd.aquasecurity.trivy.report.sarif.v1+json`), each capped at `maxBlobBytes`
//! (default 8 MiB; the host caps too). Findings and their severities are read as [`sarif`]
//! describes and judged against the config ([`policy`]). With `maxAge`, the manifest annotation
//! `org.opencontainers.image.created` (RFC 3339) must be at most that old at the time of the call
//! (WASI wall clock); a missing or unparsable annotation fails.
//!
//! The artifact types the verifier announces are the two defaults; the engine config's
//! `artifactTypes` override routes other types to it (add their layer types to `mediaTypes`).
//!
//! Report extensions: `findings`, `severityCounts` (`{critical, high, medium, low, none}`),
//! `allowed` (findings skipped by `allowCVEs`), `denied` (count of distinct denied ids),
//! `deniedCVEs` (the first `maxReportedIds` ids with why), `created` and `ageSeconds` when known,
//! `scanner` (the first report's `runs[0].tool.driver.name`) when present. With
//! `passthrough: true` also `passthrough: true` and `report`, the first report layer's text, so a
//! Gatekeeper policy can re-judge it (Ratify's vulnerability-report verifier does the same; unlike
//! Ratify's, this one still judges the report itself).
//!
//! Error reasons: `CONFIG_INVALID`, `INVALID_MANIFEST`, `INVALID_SARIF` (with the JSON path, or no
//! report layer), `TOO_LARGE`, `STORE_ERROR`, `REPORT_AGE_UNKNOWN`, `REPORT_TOO_OLD`,
//! `VULNERABILITY_DENIED`.

pub use verifier_common::manifest;
pub mod policy;
pub mod sarif;
pub mod time;

use serde_json::{Map, Value, json};
use verifier_common::media_type::essence;
use verifier_common::time::now_unix;

use vouch_verifier_sdk::report::{failed, failed_with, json, text, verdict};
use vouch_verifier_sdk::{Ctx, Level, Metadata, Report, Verifier, export_verifier, log};

use crate::manifest::Manifest;
use crate::policy::{Config, DEFAULT_MEDIA_TYPES, Evaluation};
use crate::sarif::Severity;

/// Annotation holding the report's creation time.
pub const CREATED: &str = "org.opencontainers.image.created";

/// JSON Schema of the configuration, published in the metadata.
const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "denySeverity": {"enum": ["low", "medium", "high", "critical"]},
    "denyCVEs": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "allowCVEs": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "maxAge": {"type": "string", "pattern": "^([0-9]+[smhdw])+$"},
    "mediaTypes": {"type": "array", "minItems": 1, "items": {"type": "string"}},
    "maxBlobBytes": {"type": "integer", "minimum": 1},
    "maxReportedIds": {"type": "integer", "minimum": 1},
    "passthrough": {"type": "boolean"}
  }
}"#;

struct Vuln;

/// The outcome of the `maxAge` check.
enum Age {
    /// No `maxAge` configured, nor annotation to report.
    Unchecked,
    /// The creation time is known; `ok` tells whether it is recent enough.
    Known { created: String, age: i64, ok: bool },
    /// `maxAge` is set but the age cannot be told.
    Unknown(String),
}

fn check_age(config: &Config, manifest: &Manifest, now: i64) -> Age {
    let created = manifest
        .annotations
        .iter()
        .find(|(k, _)| k == CREATED)
        .map(|(_, v)| v.clone());
    let Some(created) = created else {
        return match config.max_age_secs {
            Some(_) => Age::Unknown(format!(
                "maxAge is set but the report manifest has no `{CREATED}` annotation"
            )),
            None => Age::Unchecked,
        };
    };
    match time::parse_rfc3339(&created) {
        Ok(at) => {
            // A timestamp slightly in the future (clock skew) counts as age 0.
            let age = now.saturating_sub(at).max(0);
            let ok = config
                .max_age_secs
                .is_none_or(|max| u64::try_from(age).unwrap_or(0) <= max);
            Age::Known { created, age, ok }
        }
        Err(e) if config.max_age_secs.is_some() => {
            Age::Unknown(format!("annotation `{CREATED}`: {e}"))
        }
        Err(_) => Age::Unchecked,
    }
}

/// Judges one artifact under `config`.
fn run(ctx: &Ctx<'_>, config: Config) -> Report {
    let manifest = match ctx.manifest() {
        Ok(m) => m,
        Err(e) => return e.into(),
    };
    let layers: Vec<_> = manifest
        .layers
        .iter()
        .filter(|l| config.media_types.contains(&essence(&l.media_type)))
        .collect();
    if layers.is_empty() {
        return failed(
            "INVALID_SARIF",
            format!(
                "artifact {} has no layer of media type {} (layers: [{}])",
                ctx.artifact.digest,
                config.media_types.join(" or "),
                manifest.media_types().join(", ")
            ),
        );
    }
    let mut eval = Evaluation::default();
    let mut first: Option<Vec<u8>> = None;
    for layer in layers {
        let what = format!("report layer {} ({})", layer.index, layer.digest);
        let blob = match ctx.layer(&what, layer, config.max_blob_bytes) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        let findings = match sarif::parse(&blob) {
            Ok(f) => f,
            Err(e) => {
                return failed_with(
                    "INVALID_SARIF",
                    format!("{what} is malformed at {e}"),
                    vec![("path".into(), text(e.path))],
                );
            }
        };
        log(
            Level::Debug,
            &format!("{what}: {} findings", findings.len()),
        );
        policy::evaluate(&config, &findings, &mut eval);
        if first.is_none() {
            first = Some(blob);
        }
    }

    let counts: Map<String, Value> = Severity::ALL
        .iter()
        .rev()
        .map(|s| {
            (
                s.name().to_owned(),
                json!(eval.counts.get(s).copied().unwrap_or(0)),
            )
        })
        .collect();
    let denied: Vec<Value> = eval
        .denied
        .iter()
        .take(config.max_reported_ids)
        .map(|(id, why)| json!({"id": id, "reason": why}))
        .collect();
    let mut extensions = vec![
        ("findings".into(), json(eval.total())),
        ("severityCounts".into(), json(counts)),
        ("allowed".into(), json(eval.allowed)),
        ("denied".into(), json(eval.denied.len())),
        ("deniedCVEs".into(), json(denied)),
    ];
    if let Some(raw) = &first {
        let scanner = serde_json::from_slice::<Value>(raw).ok().and_then(|v| {
            v.pointer("/runs/0/tool/driver/name")?
                .as_str()
                .map(str::to_owned)
        });
        if let Some(scanner) = scanner {
            extensions.push(("scanner".into(), text(scanner)));
        }
        if config.passthrough {
            // The layer parsed as SARIF JSON, so it is UTF-8.
            extensions.push(("passthrough".into(), json(true)));
            extensions.push((
                "report".into(),
                text(String::from_utf8_lossy(raw).into_owned()),
            ));
        }
    }
    let mut problems: Vec<(&str, String)> = Vec::new();
    match check_age(&config, &manifest, now_unix()) {
        Age::Unchecked => {}
        Age::Known { created, age, ok } => {
            if !ok {
                problems.push((
                    "REPORT_TOO_OLD",
                    format!(
                        "report created {created} is {age} s old, over maxAge ({} s)",
                        config.max_age_secs.unwrap_or_default()
                    ),
                ));
            }
            extensions.push(("created".into(), text(created)));
            extensions.push(("ageSeconds".into(), json(age)));
        }
        Age::Unknown(why) => problems.push(("REPORT_AGE_UNKNOWN", why)),
    }
    if !eval.denied.is_empty() {
        let ids: Vec<&str> = eval.denied.keys().take(5).map(String::as_str).collect();
        let more = eval.denied.len().saturating_sub(ids.len());
        problems.push((
            "VULNERABILITY_DENIED",
            format!(
                "{} denied vulnerabilit{}: {}{}",
                eval.denied.len(),
                if eval.denied.len() == 1 { "y" } else { "ies" },
                ids.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
        ));
    }
    let message = match problems.first() {
        None => format!("{} findings, none denied", eval.total()),
        Some(_) => problems
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    };
    verdict(problems.first().map(|(r, _)| *r), message, extensions)
}

impl Verifier for Vuln {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            name: "vuln".into(),
            version: "0.1.0".into(),
            artifact_types: DEFAULT_MEDIA_TYPES.iter().map(|t| t.to_string()).collect(),
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

export_verifier!(Vuln);

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(created: Option<&str>) -> Manifest {
        Manifest {
            artifact_type: None,
            layers: Vec::new(),
            annotations: created
                .map(|c| vec![(CREATED.to_owned(), c.to_owned())])
                .unwrap_or_default(),
        }
    }

    #[test]
    fn age_checks() {
        let now = time::parse_rfc3339("2024-05-10T00:00:00Z").unwrap();
        let with = Config::parse(r#"{"maxAge": "7d"}"#).unwrap();
        let without = Config::parse("{}").unwrap();
        let recent = manifest(Some("2024-05-05T00:00:00Z"));
        let old = manifest(Some("2024-05-01T00:00:00Z"));
        let future = manifest(Some("2024-05-10T00:01:00Z"));
        assert!(matches!(
            check_age(&with, &recent, now),
            Age::Known {
                ok: true,
                age: 432_000,
                ..
            }
        ));
        assert!(matches!(
            check_age(&with, &old, now),
            Age::Known { ok: false, .. }
        ));
        assert!(matches!(
            check_age(&with, &future, now),
            Age::Known {
                ok: true,
                age: 0,
                ..
            }
        ));
        assert!(matches!(
            check_age(&without, &old, now),
            Age::Known { ok: true, .. }
        ));
        assert!(
            matches!(check_age(&with, &manifest(None), now), Age::Unknown(m) if m.contains(CREATED))
        );
        assert!(matches!(
            check_age(&without, &manifest(None), now),
            Age::Unchecked
        ));
        assert!(matches!(
            check_age(&with, &manifest(Some("last week")), now),
            Age::Unknown(_)
        ));
        assert!(matches!(
            check_age(&without, &manifest(Some("last week")), now),
            Age::Unchecked
        ));
    }

    #[test]
    fn config_schema_is_json() {
        let v: Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
        assert_eq!(v["type"], "object");
    }
}
