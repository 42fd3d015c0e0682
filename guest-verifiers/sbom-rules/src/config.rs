//! The sbom verifier's configuration (JSON), parsed fully by `check-config`.
//!
//! ```json
//! {
//!   "allowedLicenses": ["MIT", "Apache-2.0"],      // or "disallowedLicenses": [...], not both
//!   "unknownLicenses": "deny",                     // NOASSERTION/NONE/missing: "allow" | "deny"
//!   "disallowedPackages": [{"name": "log4j-core", "version": "2.14.1"}, {"purl": "pkg:npm/evil"}],
//!   "maxBlobBytes": 8388608,
//!   "maxReportedViolations": 20
//! }
//! ```
//!
//! `unknownLicenses` defaults to `deny` with `allowedLicenses` (an unknown license cannot be shown
//! to be allowed) and to `allow` otherwise (it cannot be shown to be disallowed).

use serde_json::Value;
use verifier_common::config::{parse_object_or_empty, positive_u64, positive_usize};

use crate::license::{Expr, Term};
use crate::purl::Purl;

/// Default cap on one SBOM layer.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 8 << 20;
/// Default number of violations listed in the report.
pub const DEFAULT_MAX_REPORTED: usize = 20;

/// Which licenses are acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseRule {
    /// No license rule: licenses are only counted.
    None,
    /// Only these licenses may be used.
    Allowed(Vec<Term>),
    /// These licenses may not be used.
    Disallowed(Vec<Term>),
}

/// A package that must not appear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageRule {
    /// By name, optionally one version only.
    Name {
        /// Exact package name.
        name: String,
        /// Exact version; every version when absent.
        version: Option<String>,
    },
    /// By package URL; without a version in the purl, every version.
    Purl(Purl),
}

/// The parsed configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The license rule.
    pub licenses: LicenseRule,
    /// Whether packages whose license is unknown (NOASSERTION, NONE, absent) pass.
    pub allow_unknown_licenses: bool,
    /// Packages that must not appear.
    pub disallowed_packages: Vec<PackageRule>,
    /// Cap on one SBOM layer in bytes.
    pub max_blob_bytes: u64,
    /// How many violations the report lists.
    pub max_reported_violations: usize,
}

const KEYS: [&str; 6] = [
    "allowedLicenses",
    "disallowedLicenses",
    "unknownLicenses",
    "disallowedPackages",
    "maxBlobBytes",
    "maxReportedViolations",
];

impl Config {
    /// Parses the config JSON (an empty string means `{}`); the error names the offending key.
    pub fn parse(text: &str) -> Result<Config, String> {
        let map = parse_object_or_empty(text, &KEYS)?;
        let licenses = match (map.get("allowedLicenses"), map.get("disallowedLicenses")) {
            (Some(_), Some(_)) => {
                return Err(
                    "`allowedLicenses` and `disallowedLicenses` are exclusive: set one".into(),
                );
            }
            (Some(v), None) => LicenseRule::Allowed(license_list("allowedLicenses", v)?),
            (None, Some(v)) => LicenseRule::Disallowed(license_list("disallowedLicenses", v)?),
            (None, None) => LicenseRule::None,
        };
        let allow_unknown_licenses = match map.get("unknownLicenses") {
            None => !matches!(licenses, LicenseRule::Allowed(_)),
            Some(Value::String(s)) if s == "allow" => true,
            Some(Value::String(s)) if s == "deny" => false,
            Some(other) => {
                return Err(format!(
                    "`unknownLicenses` must be \"allow\" or \"deny\", got {other}"
                ));
            }
        };
        let disallowed_packages = match map.get("disallowedPackages") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| package_rule(i, v))
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(format!("`disallowedPackages` must be a list, got {other}"));
            }
        };
        Ok(Config {
            licenses,
            allow_unknown_licenses,
            disallowed_packages,
            max_blob_bytes: positive_u64(&map, "maxBlobBytes")?.unwrap_or(DEFAULT_MAX_BLOB_BYTES),
            max_reported_violations: positive_usize(&map, "maxReportedViolations")?
                .unwrap_or(DEFAULT_MAX_REPORTED),
        })
    }
}

fn license_list(key: &str, v: &Value) -> Result<Vec<Term>, String> {
    let Value::Array(items) = v else {
        return Err(format!(
            "`{key}` must be a list of SPDX license ids, got {v}"
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::String(s) = item else {
                return Err(format!("`{key}[{i}]` must be a string, got {item}"));
            };
            match Expr::parse(s) {
                Ok(Expr::License(t)) => Ok(t),
                Ok(_) => Err(format!(
                    "`{key}[{i}]` must be one license id (optionally `WITH` an exception), \
                     not an expression: {s:?}"
                )),
                Err(e) => Err(format!("`{key}[{i}]` is not a license id: {s:?}: {e}")),
            }
        })
        .collect()
}

fn package_rule(i: usize, v: &Value) -> Result<PackageRule, String> {
    let Value::Object(m) = v else {
        return Err(format!(
            "`disallowedPackages[{i}]` must be an object {{\"name\", \"version\"?}} or {{\"purl\"}}, got {v}"
        ));
    };
    let string = |key: &str| -> Result<Option<String>, String> {
        match m.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(other) => Err(format!(
                "`disallowedPackages[{i}].{key}` must be a non-empty string, got {other}"
            )),
        }
    };
    if let Some(k) = m
        .keys()
        .find(|k| !["name", "version", "purl"].contains(&k.as_str()))
    {
        return Err(format!("`disallowedPackages[{i}]`: unknown key `{k}`"));
    }
    match (string("name")?, string("version")?, string("purl")?) {
        (Some(name), version, None) => Ok(PackageRule::Name { name, version }),
        (None, None, Some(purl)) => Purl::parse(&purl)
            .map(PackageRule::Purl)
            .map_err(|e| format!("`disallowedPackages[{i}].purl`: {e}")),
        (None, None, None) => Err(format!(
            "`disallowedPackages[{i}]` needs a `name` or a `purl`"
        )),
        _ => Err(format!(
            "`disallowedPackages[{i}]`: use either `name` (with an optional `version`) or `purl`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_has_defaults() {
        for text in ["", "{}"] {
            let c = Config::parse(text).unwrap();
            assert_eq!(c.licenses, LicenseRule::None);
            assert!(c.allow_unknown_licenses);
            assert!(c.disallowed_packages.is_empty());
            assert_eq!(c.max_blob_bytes, DEFAULT_MAX_BLOB_BYTES);
            assert_eq!(c.max_reported_violations, DEFAULT_MAX_REPORTED);
        }
    }

    #[test]
    fn full_config_parses() {
        let c = Config::parse(
            r#"{"allowedLicenses": ["MIT", "GPL-2.0-only WITH Classpath-exception-2.0"],
                "disallowedPackages": [{"name": "log4j-core", "version": "2.14.1"},
                                       {"purl": "pkg:npm/%40scope/evil"}],
                "maxBlobBytes": 1024, "maxReportedViolations": 3}"#,
        )
        .unwrap();
        let LicenseRule::Allowed(list) = &c.licenses else {
            panic!("{c:?}")
        };
        assert_eq!(list.len(), 2);
        assert!(
            !c.allow_unknown_licenses,
            "allow-lists deny unknown by default"
        );
        assert_eq!(c.disallowed_packages.len(), 2);
        assert_eq!(c.max_blob_bytes, 1024);
        assert_eq!(c.max_reported_violations, 3);
        let c = Config::parse(r#"{"disallowedLicenses": ["GPL-3.0"], "unknownLicenses": "deny"}"#)
            .unwrap();
        assert!(!c.allow_unknown_licenses);
    }

    #[test]
    fn bad_configs_name_the_problem() {
        for (text, needle) in [
            ("[]", "JSON object"),
            ("{", "not JSON"),
            (
                r#"{"allowedLicences": []}"#,
                "unknown config key `allowedLicences`",
            ),
            (
                r#"{"allowedLicenses": ["MIT"], "disallowedLicenses": ["GPL-3.0"]}"#,
                "exclusive",
            ),
            (r#"{"allowedLicenses": "MIT"}"#, "must be a list"),
            (
                r#"{"allowedLicenses": [1]}"#,
                "`allowedLicenses[0]` must be a string",
            ),
            (
                r#"{"disallowedLicenses": ["MIT OR GPL-3.0"]}"#,
                "not an expression",
            ),
            (r#"{"disallowedLicenses": ["MIT AND"]}"#, "not a license id"),
            (r#"{"unknownLicenses": "maybe"}"#, "unknownLicenses"),
            (r#"{"disallowedPackages": {}}"#, "must be a list"),
            (
                r#"{"disallowedPackages": [{}]}"#,
                "needs a `name` or a `purl`",
            ),
            (
                r#"{"disallowedPackages": [{"name": "a", "purl": "pkg:npm/a"}]}"#,
                "either",
            ),
            (r#"{"disallowedPackages": [{"purl": "npm/a"}]}"#, "pkg:"),
            (
                r#"{"disallowedPackages": [{"name": "a", "ver": "1"}]}"#,
                "`ver`",
            ),
            (r#"{"maxBlobBytes": 0}"#, "positive integer"),
            (r#"{"maxReportedViolations": -1}"#, "positive integer"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
