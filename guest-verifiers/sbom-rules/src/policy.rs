//! Judging the packages of an SBOM against the configuration.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::config::{Config, LicenseRule, PackageRule};
use crate::document::{License, Package};
use crate::license::Term;

/// What kind of rule a violation broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The license rule (allowed/disallowed, unknown licenses).
    License,
    /// A disallowed package.
    Package,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which rule.
    pub rule: Rule,
    /// JSON path of the package.
    pub path: String,
    /// Package name.
    pub package: String,
    /// Package version.
    pub version: Option<String>,
    /// Why.
    pub detail: String,
}

impl Violation {
    /// The violation as a JSON object for the report.
    pub fn to_json(&self) -> Value {
        json!({
            "rule": match self.rule { Rule::License => "license", Rule::Package => "package" },
            "path": self.path,
            "package": self.package,
            "version": self.version,
            "detail": self.detail,
        })
    }
}

/// The verdict on a set of packages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Packages looked at.
    pub packages: usize,
    /// Distinct licenses seen.
    pub licenses: BTreeSet<String>,
    /// Packages whose license is unknown.
    pub unknown_licenses: usize,
    /// Every violation, in document order.
    pub violations: Vec<Violation>,
}

impl Evaluation {
    /// The error reason for a failed evaluation: `LICENSE_DISALLOWED`, `PACKAGE_DISALLOWED`, or
    /// `SBOM_POLICY_VIOLATION` when both kinds occur; `None` when nothing was violated.
    pub fn error_reason(&self) -> Option<&'static str> {
        let license = self.violations.iter().any(|v| v.rule == Rule::License);
        let package = self.violations.iter().any(|v| v.rule == Rule::Package);
        match (license, package) {
            (false, false) => None,
            (true, false) => Some("LICENSE_DISALLOWED"),
            (false, true) => Some("PACKAGE_DISALLOWED"),
            (true, true) => Some("SBOM_POLICY_VIOLATION"),
        }
    }
}

/// Judges `packages` (adding to `eval`, so several SBOM layers accumulate).
pub fn evaluate(config: &Config, packages: &[Package], eval: &mut Evaluation) {
    for p in packages {
        eval.packages += 1;
        let violation = |rule, detail: String| Violation {
            rule,
            path: p.path.clone(),
            package: p.name.clone(),
            version: p.version.clone(),
            detail,
        };
        match &p.license {
            License::Known(e) => {
                e.term_names(&mut eval.licenses);
                let problem = match &config.licenses {
                    LicenseRule::None => None,
                    LicenseRule::Allowed(list) => {
                        let ok = |t: &Term| list.iter().any(|entry| t.matches(entry));
                        (!e.satisfiable(&ok)).then(|| {
                            let bad: Vec<String> = e
                                .terms()
                                .into_iter()
                                .filter(|t| !ok(t))
                                .map(|t| t.to_string())
                                .collect();
                            format!(
                                "license `{e}` cannot be satisfied with allowed licenses \
                                 (not allowed: {})",
                                bad.join(", ")
                            )
                        })
                    }
                    LicenseRule::Disallowed(list) => {
                        let denied = |t: &Term| list.iter().any(|entry| t.matches(entry));
                        (!e.satisfiable(&|t| !denied(t))).then(|| {
                            let bad: Vec<String> = e
                                .terms()
                                .into_iter()
                                .filter(|t| denied(t))
                                .map(|t| t.to_string())
                                .collect();
                            format!(
                                "license `{e}` needs a disallowed license ({})",
                                bad.join(", ")
                            )
                        })
                    }
                };
                if let Some(detail) = problem {
                    eval.violations.push(violation(Rule::License, detail));
                }
            }
            License::Unknown(what) => {
                eval.unknown_licenses += 1;
                if config.licenses != LicenseRule::None && !config.allow_unknown_licenses {
                    eval.violations.push(violation(
                        Rule::License,
                        format!("license is unknown ({what}) and unknownLicenses is \"deny\""),
                    ));
                }
            }
        }
        for rule in &config.disallowed_packages {
            let hit = match rule {
                PackageRule::Name { name, version } => {
                    p.name == *name
                        && version
                            .as_ref()
                            .is_none_or(|v| p.version.as_deref() == Some(v))
                }
                PackageRule::Purl(r) => p.purl.as_ref().is_some_and(|purl| r.covers(purl)),
            };
            if hit {
                let what = match rule {
                    PackageRule::Name {
                        name,
                        version: Some(v),
                    } => format!("{name}@{v}"),
                    PackageRule::Name {
                        name,
                        version: None,
                    } => name.clone(),
                    PackageRule::Purl(r) => r.to_string(),
                };
                eval.violations.push(violation(
                    Rule::Package,
                    format!("package matches disallowed `{what}`"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Format, parse};

    fn run(config: &str, packages: &str) -> Evaluation {
        let doc = format!(r#"{{"spdxVersion":"SPDX-2.3","packages":{packages}}}"#);
        let sbom = parse(Format::Spdx, doc.as_bytes()).unwrap();
        let mut eval = Evaluation::default();
        evaluate(&Config::parse(config).unwrap(), &sbom.packages, &mut eval);
        eval
    }

    const PKGS: &str = r#"[
        {"name":"a","versionInfo":"1.0","licenseConcluded":"MIT"},
        {"name":"b","versionInfo":"2.0","licenseConcluded":"GPL-3.0-only OR Apache-2.0"},
        {"name":"c","versionInfo":"3.0","licenseConcluded":"GPL-3.0-only AND MIT",
         "externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:npm/c@3.0"}]},
        {"name":"d","licenseConcluded":"NOASSERTION"}]"#;

    #[test]
    fn no_rules_count_only() {
        let e = run("{}", PKGS);
        assert_eq!(e.packages, 4);
        assert_eq!(e.licenses.len(), 3);
        assert_eq!(e.unknown_licenses, 1);
        assert!(e.violations.is_empty());
        assert_eq!(e.error_reason(), None);
    }

    #[test]
    fn allow_list_fails_unsatisfiable_and_unknown() {
        let e = run(r#"{"allowedLicenses":["MIT","Apache-2.0"]}"#, PKGS);
        let bad: Vec<&str> = e.violations.iter().map(|v| v.package.as_str()).collect();
        assert_eq!(bad, ["c", "d"]);
        assert!(
            e.violations[0].detail.contains("not allowed: GPL-3.0-only"),
            "{:?}",
            e.violations[0]
        );
        assert_eq!(e.error_reason(), Some("LICENSE_DISALLOWED"));
        let e = run(
            r#"{"allowedLicenses":["MIT","Apache-2.0"],"unknownLicenses":"allow"}"#,
            PKGS,
        );
        assert_eq!(e.violations.len(), 1);
    }

    #[test]
    fn deny_list_fails_only_unavoidable() {
        let e = run(r#"{"disallowedLicenses":["GPL-3.0-or-later"]}"#, PKGS);
        assert_eq!(e.violations.len(), 1);
        assert_eq!(e.violations[0].package, "c");
        assert!(e.violations[0].detail.contains("(GPL-3.0-only)"));
        let e = run(
            r#"{"disallowedLicenses":["GPL-3.0"],"unknownLicenses":"deny"}"#,
            PKGS,
        );
        assert_eq!(e.violations.len(), 2);
    }

    #[test]
    fn disallowed_packages_by_name_version_and_purl() {
        let e = run(r#"{"disallowedPackages":[{"name":"a"}]}"#, PKGS);
        assert_eq!(e.violations.len(), 1);
        assert_eq!(e.error_reason(), Some("PACKAGE_DISALLOWED"));
        assert!(
            run(
                r#"{"disallowedPackages":[{"name":"a","version":"9"}]}"#,
                PKGS
            )
            .violations
            .is_empty()
        );
        assert_eq!(
            run(
                r#"{"disallowedPackages":[{"name":"b","version":"2.0"}]}"#,
                PKGS
            )
            .violations
            .len(),
            1
        );
        let e = run(r#"{"disallowedPackages":[{"purl":"pkg:npm/c"}]}"#, PKGS);
        assert_eq!(e.violations[0].package, "c");
        assert_eq!(e.violations[0].to_json()["rule"], "package");
        assert!(
            run(r#"{"disallowedPackages":[{"purl":"pkg:npm/c@4"}]}"#, PKGS)
                .violations
                .is_empty()
        );
        let e = run(
            r#"{"disallowedPackages":[{"name":"a"}],"allowedLicenses":["MIT"]}"#,
            PKGS,
        );
        assert_eq!(e.error_reason(), Some("SBOM_POLICY_VIOLATION"));
    }
}
