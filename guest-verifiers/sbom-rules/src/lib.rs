//! SBOM rules shared by Vouch's verifiers: parsing SPDX and CycloneDX JSON ([`document`]),
//! license expressions ([`license`]), package URLs ([`purl`]), the rule configuration
//! ([`config`]) and the judgement ([`policy`], [`verdict`]).
//!
//! The `sbom` verifier applies them to SBOM referrers; the `cosign` verifier applies the same
//! rules to the verified predicate of an SPDX or CycloneDX attestation, so one configuration
//! means the same thing wherever the SBOM came from. Pure code: no WIT types, tested natively.

pub mod config;
pub mod document;
pub mod license;
pub mod policy;
pub mod purl;

use serde_json::Value;

use crate::config::Config;
use crate::policy::Evaluation;

/// The outcome of judging the SBOMs of one artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `None` when every package passed; else `LICENSE_DISALLOWED`, `PACKAGE_DISALLOWED` or
    /// `SBOM_POLICY_VIOLATION`.
    pub reason: Option<&'static str>,
    /// What a report says.
    pub message: String,
    /// Report extensions: `format` (a string), `packages`, `licenses` (distinct licenses seen),
    /// `unknownLicenses`, `violations` (counts) and `violationDetails` (the first
    /// `maxReportedViolations` violations).
    pub extensions: Vec<(String, Value)>,
}

/// The verdict on `eval`, the evaluation of SBOMs of `formats` (e.g. `SPDX-2.3`) under `config`.
pub fn verdict(config: &Config, eval: &Evaluation, formats: &[String]) -> Verdict {
    let listed: Vec<Value> = eval
        .violations
        .iter()
        .take(config.max_reported_violations)
        .map(|v| v.to_json())
        .collect();
    let extensions = vec![
        ("format".into(), Value::String(formats.join(", "))),
        ("packages".into(), eval.packages.into()),
        ("licenses".into(), eval.licenses.len().into()),
        ("unknownLicenses".into(), eval.unknown_licenses.into()),
        ("violations".into(), eval.violations.len().into()),
        ("violationDetails".into(), Value::Array(listed)),
    ];
    let reason = eval.error_reason();
    let message = match (reason, eval.violations.first()) {
        (Some(_), Some(first)) => format!(
            "{} violation(s) in {} packages; first: {} {}: {}",
            eval.violations.len(),
            eval.packages,
            first.package,
            first.version.as_deref().unwrap_or("(no version)"),
            first.detail
        ),
        _ => format!(
            "SBOM passed: {} packages, {} distinct licenses",
            eval.packages,
            eval.licenses.len()
        ),
    };
    Verdict {
        reason,
        message,
        extensions,
    }
}
