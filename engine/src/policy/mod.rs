//! The subject-level decision: from the verifier reports of one subject to a verdict.
//!
//! Three policies, chosen by the config file's `policy:` section:
//! - none configured: [`DefaultPolicy`], every report (nested included) must pass and at least
//!   one referrer must have been verified;
//! - `type: config`: [`ConfigPolicy`], Ratify's `artifactVerificationPolicies` (`any`/`all` per
//!   artifact type, listed types required);
//! - `type: rego`: [`RegoPolicy`], a Rego policy defining `data.vouch.allow` (and optionally
//!   `data.vouch.reasons`), evaluated by regorus.
//!
//! ```yaml
//! policy:
//!   type: config
//!   artifactVerificationPolicies:
//!     application/vnd.cncf.notary.signature: any
//!     application/spdx+json: all
//!   defaultVerificationPolicy: all        # optional, `all` when absent
//! # or
//! policy: { type: rego, policyPath: policies/vouch.rego }   # or `policy: "<rego text>"`
//! ```
//!
//! A policy is built once per configuration (`app::policy::from_config`), so a bad policy (unparsable Rego,
//! missing `data.vouch.allow`) is a configuration error, never a request error. Its
//! [`Policy::fingerprint`] is part of the result cache key.

pub(crate) mod configpolicy;
pub mod rego;
pub(crate) mod scoped;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::configpolicy::ConfigPolicy;
pub use self::rego::RegoPolicy;
use crate::report::{VerifierReport, decide};

/// What a policy decides on: the subject and its verifier reports. Serialized (camelCase) it is
/// the Rego policy's `input`, the shape of Ratify's report: `{subject, digest, verifierReports}`.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyInput<'a> {
    /// The subject reference as the request gave it.
    pub subject: &'a str,
    /// The resolved subject digest.
    pub digest: Option<&'a str>,
    /// One report per (referrer, verifier) pair, with nested results.
    pub verifier_reports: &'a [VerifierReport],
}

/// A policy's decision for one subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the subject passes.
    pub allow: bool,
    /// Why (for a failure: the first reason found).
    pub message: String,
}

impl Verdict {
    /// A passing verdict.
    pub fn allow(message: impl Into<String>) -> Verdict {
        Verdict {
            allow: true,
            message: message.into(),
        }
    }

    /// A failing verdict.
    pub fn deny(message: impl Into<String>) -> Verdict {
        Verdict {
            allow: false,
            message: message.into(),
        }
    }
}

/// Decides whether a subject passes from its verifier reports. Built once per configuration,
/// shared by all requests: `decide` must be cheap and must not fail (a failure is a deny verdict).
pub trait Policy: Send + Sync {
    /// The verdict for one subject.
    fn decide(&self, input: &PolicyInput<'_>) -> Verdict;

    /// A stable identity of the policy and its settings (part of the result cache key): equal
    /// for equal configurations, different when the decision could differ.
    fn fingerprint(&self) -> &str;

    /// Whether this is a Ratify Rego policy (`package ratify.policy`): Ratify answers Gatekeeper
    /// in its `1.1.0` shape under such a policy, and so does `vouch serve`.
    fn is_ratify_rego(&self) -> bool {
        false
    }
}

/// The policy when none is configured: every report (nested included) passed and at least one
/// referrer was verified.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPolicy;

impl Policy for DefaultPolicy {
    fn decide(&self, input: &PolicyInput<'_>) -> Verdict {
        let (allow, message) = decide(input.verifier_reports);
        Verdict { allow, message }
    }

    fn fingerprint(&self) -> &str {
        "default"
    }
}

/// Why a policy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A field of the `policy` section has an unacceptable value.
    #[error("`{field}`: {message}")]
    Invalid {
        /// The offending field (`policy.policyPath`).
        field: String,
        /// What was wrong.
        message: String,
    },
    /// The Rego policy file could not be read.
    #[error("`policy.policyPath`: {source}")]
    ReadRego {
        /// The file.
        path: PathBuf,
        /// Why (names the file).
        source: crate::localfile::LocalFileError,
    },
    /// The Rego policy does not parse, does not define `data.vouch.allow`, or fails when
    /// evaluated against an empty input.
    #[error("Rego policy {origin}: {message}")]
    Rego {
        /// `policy.policy` (inline) or the file.
        origin: String,
        /// What regorus reported.
        message: String,
    },
}

/// `any`/`all`: how the reports of one artifact type combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// At least one report of the type passed.
    Any,
    /// Every report of the type passed.
    All,
}

impl Rule {
    /// `any` or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Any => "any",
            Rule::All => "all",
        }
    }
}

/// The config file's `policy` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PolicyConfig {
    /// Ratify-style `any`/`all` per artifact type.
    Config(ConfigPolicyConfig),
    /// A Rego policy.
    Rego(RegoPolicyConfig),
}

/// `policy: { type: config, ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigPolicyConfig {
    /// Rule per artifact type; every listed type is required (a subject without a verified
    /// referrer of a listed type fails).
    #[serde(default)]
    pub artifact_verification_policies: BTreeMap<String, Rule>,
    /// Rule for artifact types present but not listed (`all` when absent).
    #[serde(default = "default_rule")]
    pub default_verification_policy: Rule,
    /// Images this policy decides (absent: all; others get the default policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_references: Option<Vec<String>>,
    /// Images this policy does not decide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_image_references: Vec<String>,
}

fn default_rule() -> Rule {
    Rule::All
}

/// `policy: { type: rego, policy: "<text>" }` or `policy: { type: rego, policyPath: file }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegoPolicyConfig {
    /// The Rego text.
    #[serde(default)]
    pub policy: Option<String>,
    /// A `.rego` file, relative to the config file.
    #[serde(default)]
    pub policy_path: Option<PathBuf>,
    /// Images this policy decides (absent: all; others get the default policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_references: Option<Vec<String>>,
    /// Images this policy does not decide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_image_references: Vec<String>,
}

impl PolicyConfig {
    /// Its image scope (`imageReferences`, `skipImageReferences`).
    pub fn image_scope(&self) -> crate::scope::ImageScope {
        let (include, skip) = match self {
            PolicyConfig::Config(c) => (&c.image_references, &c.skip_image_references),
            PolicyConfig::Rego(r) => (&r.image_references, &r.skip_image_references),
        };
        crate::scope::ImageScope {
            include: include.clone(),
            skip: skip.clone(),
        }
    }

    /// Check the section's shape (without reading or compiling Rego): the offending field and
    /// what is wrong with it.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let invalid = |field: &str, message: &str| PolicyError::Invalid {
            field: field.to_owned(),
            message: message.to_owned(),
        };
        let scope = self.image_scope();
        if let Some(p) = &scope.include {
            crate::scope::validate(p, false)
                .map_err(|e| invalid("policy.imageReferences", &e.to_string()))?;
        }
        crate::scope::validate(&scope.skip, true)
            .map_err(|e| invalid("policy.skipImageReferences", &e.to_string()))?;
        match self {
            PolicyConfig::Config(c) => {
                if c.artifact_verification_policies
                    .keys()
                    .any(|t| t.trim().is_empty())
                {
                    return Err(invalid(
                        "policy.artifactVerificationPolicies",
                        "artifact types must not be empty",
                    ));
                }
                Ok(())
            }
            PolicyConfig::Rego(r) => match (&r.policy, &r.policy_path) {
                (Some(_), Some(_)) => Err(invalid(
                    "policy",
                    "set either `policy` (Rego text) or `policyPath`, not both",
                )),
                (None, None) => Err(invalid(
                    "policy",
                    "a Rego policy needs `policy` (Rego text) or `policyPath`",
                )),
                (Some(text), None) if text.trim().is_empty() => {
                    Err(invalid("policy.policy", "the Rego text is empty"))
                }
                (None, Some(p)) if p.as_os_str().is_empty() => {
                    Err(invalid("policy.policyPath", "must not be empty"))
                }
                _ => Ok(()),
            },
        }
    }

    /// Build the policy; relative `policyPath`s are resolved against `base_dir`. Rego is read,
    /// compiled and evaluated once against an empty input here.
    pub fn build(&self, base_dir: &Path) -> Result<Arc<dyn Policy>, PolicyError> {
        self.validate()?;
        let built: Arc<dyn Policy> = match self {
            PolicyConfig::Config(c) => Arc::new(ConfigPolicy::new(c.clone())),
            PolicyConfig::Rego(r) => Arc::new(match (&r.policy, &r.policy_path) {
                (Some(text), _) => RegoPolicy::new("policy.policy", text)?,
                (None, Some(path)) => {
                    let path = base_dir.join(path);
                    let text = crate::localfile::read_regular_file_capped_to_string(
                        &path,
                        crate::localfile::MAX_CONFIG_FILE_BYTES,
                        "Rego policy file",
                    )
                    .map_err(|source| PolicyError::ReadRego {
                        path: path.clone(),
                        source,
                    })?;
                    RegoPolicy::new(&path.display().to_string(), &text)?
                }
                (None, None) => unreachable!("validate() rejects a Rego policy without text"),
            }),
        };
        let scope = self.image_scope();
        Ok(if scope.is_scoped() {
            Arc::new(scoped::ScopedPolicy::new(built, scope))
        } else {
            built
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::Timings;

    /// A report of `verifier` on referrer `digest` of `artifact_type`.
    pub(crate) fn report(
        verifier: &str,
        artifact_type: &str,
        digest: &str,
        ok: bool,
        nested: Vec<VerifierReport>,
    ) -> VerifierReport {
        VerifierReport {
            subject: "reg/app:v1".into(),
            is_success: ok,
            name: verifier.into(),
            verifier_name: verifier.into(),
            verifier_type: verifier.into(),
            artifact_type: artifact_type.into(),
            reference_digest: digest.into(),
            message: if ok {
                "ok".into()
            } else {
                "bad signature".into()
            },
            error_reason: (!ok).then(|| "CHECK_FAILED".into()),
            extensions: Default::default(),
            nested_results: nested,
            timings: Timings::default(),
        }
    }

    /// The input for `reports`.
    pub(crate) fn input(reports: &[VerifierReport]) -> PolicyInput<'_> {
        PolicyInput {
            subject: "reg/app:v1",
            digest: Some("sha256:00"),
            verifier_reports: reports,
        }
    }

    fn parse(yaml: &str) -> Result<PolicyConfig, serde_yaml_ng::Error> {
        serde_yaml_ng::from_str(yaml)
    }

    #[test]
    fn default_policy_is_the_executor_decision() {
        let reports = [report("v", "a/sig", "sha256:aa", true, vec![])];
        let v = DefaultPolicy.decide(&input(&reports));
        assert_eq!(v, Verdict::allow("all 1 verifier reports passed"));
        let v = DefaultPolicy.decide(&input(&[]));
        assert!(!v.allow && v.message.contains("no referrers"), "{v:?}");
    }

    #[test]
    fn parses_both_policy_types() {
        let c = parse(
            "type: config\nartifactVerificationPolicies: { a/sig: any, a/sbom: all }\n\
             defaultVerificationPolicy: any\n",
        )
        .unwrap();
        let PolicyConfig::Config(c) = c else {
            panic!("{c:?}")
        };
        assert_eq!(c.artifact_verification_policies["a/sig"], Rule::Any);
        assert_eq!(c.default_verification_policy, Rule::Any);
        let PolicyConfig::Config(c) = parse("type: config\n").unwrap() else {
            panic!()
        };
        assert_eq!(c.default_verification_policy, Rule::All);
        assert!(c.artifact_verification_policies.is_empty());
        let r = parse("type: rego\npolicyPath: p.rego\n").unwrap();
        assert_eq!(
            r,
            PolicyConfig::Rego(RegoPolicyConfig {
                policy: None,
                policy_path: Some("p.rego".into()),
                image_references: None,
                skip_image_references: Vec::new(),
            })
        );
    }

    #[test]
    fn rejects_bad_sections_naming_the_field() {
        let e = parse("type: config\nartifactVerificationPolicies: { a/sig: some }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("some") && e.contains("any"), "{e}");
        assert!(parse("type: opa\n").is_err());
        assert!(parse("type: config\nartifactPolicies: {}\n").is_err());
        let e = parse("type: rego\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("policyPath"), "{e}");
        let e = parse("type: rego\npolicy: 'package vouch'\npolicyPath: x.rego\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("not both"), "{e}");
        let e = parse("type: config\nartifactVerificationPolicies: { '': any }\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("policy.artifactVerificationPolicies"), "{e}");
    }

    #[test]
    fn builds_from_a_file_relative_to_the_config_and_reports_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("p.rego"),
            "package vouch\nallow := count(input.verifierReports) > 0\n",
        )
        .unwrap();
        let p = parse("type: rego\npolicyPath: p.rego\n")
            .unwrap()
            .build(dir.path())
            .unwrap();
        let reports = [report("v", "a/sig", "sha256:aa", true, vec![])];
        assert!(p.decide(&input(&reports)).allow);
        assert!(!p.decide(&input(&[])).allow);
        let e = parse("type: rego\npolicyPath: missing.rego\n")
            .unwrap()
            .build(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("missing.rego") && e.contains("policyPath"),
            "{e}"
        );
        // A device is refused by type, never read.
        let e = parse("type: rego\npolicyPath: /dev/zero\n")
            .unwrap()
            .build(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("is a character device"), "{e}");
    }

    #[test]
    fn fingerprints_differ_between_policies_and_match_for_equal_ones() {
        let dir = Path::new(".");
        let a = parse("type: config\nartifactVerificationPolicies: { a/sig: any }\n")
            .unwrap()
            .build(dir)
            .unwrap();
        let a2 = parse("type: config\nartifactVerificationPolicies: { a/sig: any }\n")
            .unwrap()
            .build(dir)
            .unwrap();
        let b = parse("type: config\nartifactVerificationPolicies: { a/sig: all }\n")
            .unwrap()
            .build(dir)
            .unwrap();
        let r = parse("type: rego\npolicy: \"package vouch\\nallow := true\"\n")
            .unwrap()
            .build(dir)
            .unwrap();
        assert_eq!(a.fingerprint(), a2.fingerprint());
        let all = [
            a.fingerprint(),
            b.fingerprint(),
            r.fingerprint(),
            DefaultPolicy.fingerprint(),
        ];
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
    }
}
