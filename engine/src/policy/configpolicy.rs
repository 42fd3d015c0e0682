//! Ratify's `configpolicy`: `any`/`all` per artifact type.
//!
//! The exact rule:
//! 1. A subject without any verifier report fails (nothing was verified).
//! 2. Every artifact type listed in `artifactVerificationPolicies` is *required*: the subject
//!    fails when none of its (top-level) reports has that artifact type.
//! 3. The top-level reports are grouped by artifact type; a group passes under `any` when at
//!    least one of its reports passes *effectively*, under `all` when every one does. Types that
//!    are not listed use `defaultVerificationPolicy` (`all` by default).
//! 4. A report passes effectively when its own `isSuccess` is true and its `nestedResults`
//!    pass: grouped by artifact type with the same per-type rules as in 3, but without the
//!    requirement of 2 (a referrer without referrers of its own, e.g. a signature, has no
//!    nested results and passes on its own result). So an SBOM whose signature fails fails as
//!    an SBOM report, and under `any` another SBOM (or another verifier's report on it) can still
//!    carry the type.
//!
//! A failed verdict's message names every failure: the required types that are missing (in
//! sorted order), then each failing type (sorted) with each failing report in it and why.

use std::collections::BTreeMap;

use super::{ConfigPolicyConfig, Policy, PolicyInput, Rule, Verdict};
use crate::report::{VerifierReport, short};

/// Ratify-style `any`/`all` per artifact type (see the module docs for the exact rule).
#[derive(Clone, Debug)]
pub struct ConfigPolicy {
    config: ConfigPolicyConfig,
    fingerprint: String,
}

impl ConfigPolicy {
    /// The policy of `config`.
    pub fn new(config: ConfigPolicyConfig) -> ConfigPolicy {
        // BTreeMap keys serialize in sorted order: equal configs, equal fingerprints.
        let canonical = serde_json::to_string(&config).unwrap_or_default();
        ConfigPolicy {
            fingerprint: format!("config:{canonical}"),
            config,
        }
    }

    /// The rule applying to `artifact_type`.
    pub fn rule_for(&self, artifact_type: &str) -> Rule {
        self.config
            .artifact_verification_policies
            .get(artifact_type)
            .copied()
            .unwrap_or(self.config.default_verification_policy)
    }

    /// Check one level of reports grouped by type; `Ok` carries a summary per type, `Err` every
    /// failing type with every failure in it (a headline names all reasons, not only the first).
    fn check_level(&self, reports: &[VerifierReport]) -> Result<Vec<String>, String> {
        let mut summaries = Vec::new();
        let mut failures = Vec::new();
        for (artifact_type, group) in group_by_type(reports) {
            match self.check_group(artifact_type, &group) {
                Ok(summary) => summaries.push(summary),
                Err(why) => failures.push(why),
            }
        }
        if failures.is_empty() {
            Ok(summaries)
        } else {
            Err(failures.join("; "))
        }
    }

    /// Apply the type's rule to its reports; a failing group names each of its failures.
    fn check_group(
        &self,
        artifact_type: &str,
        group: &[&VerifierReport],
    ) -> Result<String, String> {
        let rule = self.rule_for(artifact_type);
        let failures: Vec<String> = group
            .iter()
            .filter_map(|r| self.effective(r).err())
            .collect();
        let passed = group.len() - failures.len();
        let ok = match rule {
            Rule::Any => passed > 0,
            Rule::All => failures.is_empty(),
        };
        let head = format!(
            "artifact type `{artifact_type}` (policy `{}`): {passed} of {} reports passed",
            rule.as_str(),
            group.len()
        );
        if ok {
            Ok(head)
        } else {
            Err(format!("{head}; {}", failures.join("; ")))
        }
    }

    /// Whether `report` passes on its own and its nested results pass (`Err`: why not).
    fn effective(&self, report: &VerifierReport) -> Result<(), String> {
        let who = format!(
            "`{}` on {}",
            report.verifier_name,
            short(&report.reference_digest)
        );
        if !report.is_success {
            let reason = report.error_reason.as_deref().unwrap_or("failed");
            return Err(format!(
                "{who} failed [{reason}]: {}",
                first_line(&report.message)
            ));
        }
        self.check_level(&report.nested_results)
            .map(|_| ())
            .map_err(|why| format!("{who} passed but its nested results failed: {why}"))
    }
}

impl Policy for ConfigPolicy {
    fn decide(&self, input: &PolicyInput<'_>) -> Verdict {
        let reports = input.verifier_reports;
        if reports.is_empty() {
            return Verdict::deny(
                "no referrers were verified: the subject has no referrers (signatures, SBOMs, \
                 ...) that a configured verifier handles",
            );
        }
        let mut failures: Vec<String> = self
            .config
            .artifact_verification_policies
            .iter()
            .filter(|(artifact_type, _)| {
                !reports.iter().any(|r| &r.artifact_type == *artifact_type)
            })
            .map(|(artifact_type, rule)| {
                format!(
                    "artifact type `{artifact_type}` is required by the policy (`{}`) but no \
                     referrer of that type was verified",
                    rule.as_str()
                )
            })
            .collect();
        match self.check_level(reports) {
            Ok(summaries) if failures.is_empty() => {
                Verdict::allow(format!("policy passed: {}", summaries.join("; ")))
            }
            Ok(_) => Verdict::deny(format!("policy failed: {}", failures.join("; "))),
            Err(why) => {
                failures.push(why);
                Verdict::deny(format!("policy failed: {}", failures.join("; ")))
            }
        }
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Reports grouped by artifact type, types sorted.
fn group_by_type(reports: &[VerifierReport]) -> BTreeMap<&str, Vec<&VerifierReport>> {
    let mut groups: BTreeMap<&str, Vec<&VerifierReport>> = BTreeMap::new();
    for r in reports {
        groups.entry(r.artifact_type.as_str()).or_default().push(r);
    }
    groups
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::{input, report};

    const SIG: &str = "application/vnd.cncf.notary.signature";
    const SBOM: &str = "application/spdx+json";

    fn policy(listed: &[(&str, Rule)], default: Rule) -> ConfigPolicy {
        ConfigPolicy::new(ConfigPolicyConfig {
            artifact_verification_policies: listed
                .iter()
                .map(|(t, r)| ((*t).to_owned(), *r))
                .collect(),
            default_verification_policy: default,
            image_references: None,
            skip_image_references: Vec::new(),
        })
    }

    #[test]
    fn any_needs_one_passing_report_of_the_type_and_all_needs_every_one() {
        let reports = [
            report("notation", SIG, "sha256:aa", false, vec![]),
            report("cosign", SIG, "sha256:aa", true, vec![]),
        ];
        let v = policy(&[(SIG, Rule::Any)], Rule::All).decide(&input(&reports));
        assert!(v.allow, "{v:?}");
        assert!(v.message.contains("1 of 2 reports passed"), "{}", v.message);
        let v = policy(&[(SIG, Rule::All)], Rule::Any).decide(&input(&reports));
        assert!(!v.allow);
        assert_eq!(
            v.message,
            format!(
                "policy failed: artifact type `{SIG}` (policy `all`): 1 of 2 reports passed; \
                 `notation` on sha256:aa failed [CHECK_FAILED]: bad signature"
            )
        );
        let failing = [report("notation", SIG, "sha256:aa", false, vec![])];
        let v = policy(&[(SIG, Rule::Any)], Rule::All).decide(&input(&failing));
        assert!(!v.allow && v.message.contains("0 of 1"), "{v:?}");
    }

    #[test]
    fn the_default_applies_to_unlisted_types_and_defaults_to_all() {
        let reports = [
            report("notation", SIG, "sha256:aa", true, vec![]),
            report("sbom", SBOM, "sha256:bb", true, vec![]),
            report("sbom", SBOM, "sha256:cc", false, vec![]),
        ];
        let default_all = ConfigPolicy::new(
            serde_yaml_ng::from_str(&format!("artifactVerificationPolicies: {{ {SIG}: any }}"))
                .unwrap(),
        );
        let v = default_all.decide(&input(&reports));
        assert!(!v.allow);
        assert!(
            v.message.contains(&format!("`{SBOM}` (policy `all`)"))
                && v.message.contains("sha256:cc"),
            "{}",
            v.message
        );
        let v = policy(&[(SIG, Rule::Any)], Rule::Any).decide(&input(&reports));
        assert!(v.allow, "{v:?}");
        // No listed type at all: the default alone decides.
        assert!(policy(&[], Rule::Any).decide(&input(&reports)).allow);
        assert!(!policy(&[], Rule::All).decide(&input(&reports)).allow);
    }

    #[test]
    fn a_listed_type_is_required_and_the_message_names_it() {
        let reports = [report("notation", SIG, "sha256:aa", true, vec![])];
        let v = policy(&[(SIG, Rule::Any), (SBOM, Rule::All)], Rule::All).decide(&input(&reports));
        assert!(!v.allow);
        assert_eq!(
            v.message,
            format!(
                "policy failed: artifact type `{SBOM}` is required by the policy (`all`) but no \
                 referrer of that type was verified"
            )
        );
        let v = policy(&[], Rule::All).decide(&input(&[]));
        assert!(!v.allow && v.message.contains("no referrers"), "{v:?}");
    }

    #[test]
    fn a_failing_nested_result_fails_its_referrer() {
        // An SBOM whose signature fails: the SBOM report fails under its type's rule.
        let bad_sbom = report(
            "sbom",
            SBOM,
            "sha256:bb",
            true,
            vec![report("notation", SIG, "sha256:cc", false, vec![])],
        );
        let reports = [
            report("notation", SIG, "sha256:aa", true, vec![]),
            bad_sbom.clone(),
        ];
        let v = policy(&[(SIG, Rule::All), (SBOM, Rule::All)], Rule::All).decide(&input(&reports));
        assert!(!v.allow);
        assert_eq!(
            v.message,
            format!(
                "policy failed: artifact type `{SBOM}` (policy `all`): 0 of 1 reports passed; \
                 `sbom` on sha256:bb passed but its nested results failed: artifact type \
                 `{SIG}` (policy `all`): 0 of 1 reports passed; `notation` on sha256:cc failed \
                 [CHECK_FAILED]: bad signature"
            )
        );
        // Nested groups use the same per-type rules: `any` on signatures accepts one good one.
        let two_sigs = report(
            "sbom",
            SBOM,
            "sha256:bb",
            true,
            vec![
                report("notation", SIG, "sha256:cc", false, vec![]),
                report("notation", SIG, "sha256:dd", true, vec![]),
            ],
        );
        let reports = [two_sigs];
        assert!(
            !policy(&[(SIG, Rule::Any)], Rule::All)
                .decide(&input(&reports))
                .allow,
            "SIG is required at the top level, where there is none"
        );
        let v = policy(&[(SBOM, Rule::All), (SIG, Rule::Any)], Rule::All);
        let mut with_top_sig = reports.to_vec();
        with_top_sig.push(report("notation", SIG, "sha256:aa", true, vec![]));
        assert!(v.decide(&input(&with_top_sig)).allow);
        // Under `any` for SBOMs, a second, good SBOM carries the type.
        let reports = [bad_sbom, report("sbom", SBOM, "sha256:ee", true, vec![])];
        assert!(
            policy(&[(SBOM, Rule::Any)], Rule::All)
                .decide(&input(&reports))
                .allow
        );
        assert!(
            !policy(&[(SBOM, Rule::All)], Rule::All)
                .decide(&input(&reports))
                .allow
        );
    }

    /// The headline of a failed verdict names every failure, not only the first: each missing
    /// required type, and each failing report of each failing type.
    #[test]
    fn a_failed_verdict_names_every_failure() {
        const VULN: &str = "application/sarif+json";
        let reports = [
            report("notation", SIG, "sha256:aa", false, vec![]),
            report("cosign", SIG, "sha256:ab", false, vec![]),
            report("notation", SIG, "sha256:ac", true, vec![]),
            report("sbom", SBOM, "sha256:bb", false, vec![]),
        ];
        let v = policy(&[(VULN, Rule::Any), (SIG, Rule::All)], Rule::All).decide(&input(&reports));
        assert!(!v.allow);
        assert_eq!(
            v.message,
            format!(
                "policy failed: artifact type `{VULN}` is required by the policy (`any`) but no \
                 referrer of that type was verified; artifact type `{SBOM}` (policy `all`): 0 of \
                 1 reports passed; `sbom` on sha256:bb failed [CHECK_FAILED]: bad signature; \
                 artifact type `{SIG}` (policy `all`): 1 of 3 reports passed; `notation` on \
                 sha256:aa failed [CHECK_FAILED]: bad signature; `cosign` on sha256:ab failed \
                 [CHECK_FAILED]: bad signature"
            )
        );
        // Under `any` the failures of a passing group are not the verdict's reasons.
        let v = policy(&[(SIG, Rule::Any)], Rule::Any).decide(&input(&reports));
        assert!(!v.allow);
        assert!(!v.message.contains("sha256:aa"), "{}", v.message);
        assert!(v.message.contains("sha256:bb"), "{}", v.message);
    }

    #[test]
    fn passing_message_summarises_every_type() {
        let reports = [
            report("notation", SIG, "sha256:aa", true, vec![]),
            report("sbom", SBOM, "sha256:bb", true, vec![]),
        ];
        let v = policy(&[(SIG, Rule::All)], Rule::Any).decide(&input(&reports));
        assert_eq!(
            v,
            Verdict::allow(format!(
                "policy passed: artifact type `{SBOM}` (policy `any`): 1 of 1 reports passed; \
                 artifact type `{SIG}` (policy `all`): 1 of 1 reports passed"
            ))
        );
    }
}
