//! The vuln verifier's configuration and its judgement of findings.
//!
//! ```json
//! {
//!   "denySeverity": "high",             // deny any finding at or above: low|medium|high|critical
//!   "denyCVEs": ["CVE-2021-44228"],     // deny these whatever their severity
//!   "allowCVEs": ["CVE-2023-0001"],     // accepted risks: never denied by severity
//!   "maxAge": "7d",                     // report must be at most this old (s, m, h, d, w)
//!   "mediaTypes": ["application/sarif+json"],  // layer media types to read
//!   "maxBlobBytes": 8388608,
//!   "maxReportedIds": 50
//! }
//! ```
//!
//! CVE ids compare case-insensitively with both the finding's vulnerability id and its rule id.
//! A CVE in both `denyCVEs` and `allowCVEs` is a config error.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use verifier_common::config::{parse_object_or_empty, positive_u64, positive_usize};
use verifier_common::media_type::essence;

use crate::sarif::{Finding, Severity};
use crate::time::parse_duration;

/// Default layer media types read.
pub const DEFAULT_MEDIA_TYPES: [&str; 2] = [
    "application/sarif+json",
    "application/vnd.aquasecurity.trivy.report.sarif.v1+json",
];
/// Default cap on one report layer.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 8 << 20;
/// Default number of denied ids listed in the report.
pub const DEFAULT_MAX_REPORTED_IDS: usize = 50;

/// The parsed configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Deny findings at or above this severity.
    pub deny_severity: Option<Severity>,
    /// Always-denied ids, upper case.
    pub deny_cves: BTreeSet<String>,
    /// Accepted ids, upper case.
    pub allow_cves: BTreeSet<String>,
    /// Maximum report age in seconds.
    pub max_age_secs: Option<u64>,
    /// Layer media types read (essence, lower case).
    pub media_types: Vec<String>,
    /// Cap on one report layer.
    pub max_blob_bytes: u64,
    /// How many denied ids the report lists.
    pub max_reported_ids: usize,
    /// Also hand the raw report on (extensions `report` and `passthrough`, as Ratify's
    /// vulnerability-report verifier does with `passthrough: true`). The report is still judged.
    pub passthrough: bool,
}

const KEYS: [&str; 8] = [
    "passthrough",
    "denySeverity",
    "denyCVEs",
    "allowCVEs",
    "maxAge",
    "mediaTypes",
    "maxBlobBytes",
    "maxReportedIds",
];

fn strings(map: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match map.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                other => Err(format!(
                    "`{key}[{i}]` must be a non-empty string, got {other}"
                )),
            })
            .collect(),
        Some(other) => Err(format!("`{key}` must be a list of strings, got {other}")),
    }
}

impl Config {
    /// Parses the config JSON (an empty string means `{}`); the error names the offending key.
    pub fn parse(text: &str) -> Result<Config, String> {
        let map = parse_object_or_empty(text, &KEYS)?;
        let deny_severity = match map.get("denySeverity") {
            None => None,
            Some(Value::String(s)) => match Severity::from_name(s) {
                Some(Severity::None) | None => {
                    return Err(format!(
                        "`denySeverity` must be low, medium, high or critical, got {s:?}"
                    ));
                }
                sev => sev,
            },
            Some(other) => return Err(format!("`denySeverity` must be a string, got {other}")),
        };
        let upper = |v: Vec<String>| -> BTreeSet<String> {
            v.into_iter().map(|s| s.to_ascii_uppercase()).collect()
        };
        let deny_cves = upper(strings(&map, "denyCVEs")?);
        let allow_cves = upper(strings(&map, "allowCVEs")?);
        if let Some(both) = deny_cves.intersection(&allow_cves).next() {
            return Err(format!("{both} is in both `denyCVEs` and `allowCVEs`"));
        }
        let max_age_secs = match map.get("maxAge") {
            None => None,
            Some(Value::String(s)) => {
                Some(parse_duration(s).map_err(|e| format!("`maxAge`: {e}"))?)
            }
            Some(other) => {
                return Err(format!(
                    "`maxAge` must be a duration string like \"24h\" or \"7d\", got {other}"
                ));
            }
        };
        let media_types = if map.contains_key("mediaTypes") {
            let v = strings(&map, "mediaTypes")?;
            if v.is_empty() {
                return Err("`mediaTypes` must not be empty".into());
            }
            v.iter().map(|m| essence(m)).collect()
        } else {
            DEFAULT_MEDIA_TYPES.iter().map(|m| m.to_string()).collect()
        };
        Ok(Config {
            deny_severity,
            deny_cves,
            allow_cves,
            max_age_secs,
            media_types,
            max_blob_bytes: positive_u64(&map, "maxBlobBytes")?.unwrap_or(DEFAULT_MAX_BLOB_BYTES),
            max_reported_ids: positive_usize(&map, "maxReportedIds")?
                .unwrap_or(DEFAULT_MAX_REPORTED_IDS),
            passthrough: match map.get("passthrough") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(format!("`passthrough` must be true or false, got {other}"));
                }
            },
        })
    }

    fn listed(set: &BTreeSet<String>, f: &Finding) -> bool {
        set.contains(&f.vuln_id.to_ascii_uppercase())
            || set.contains(&f.rule_id.to_ascii_uppercase())
    }
}

/// The verdict on a set of findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Findings per severity (all findings, accepted ones included).
    pub counts: BTreeMap<Severity, usize>,
    /// Findings skipped because their id is in `allowCVEs`.
    pub allowed: usize,
    /// Denied vulnerability ids, distinct, with the reason each was denied.
    pub denied: BTreeMap<String, String>,
}

impl Evaluation {
    /// Total findings.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
}

/// Judges `findings` (adding to `eval`, so several report layers accumulate).
pub fn evaluate(config: &Config, findings: &[Finding], eval: &mut Evaluation) {
    for f in findings {
        *eval.counts.entry(f.severity).or_default() += 1;
        let reason = if Config::listed(&config.deny_cves, f) {
            Some("listed in denyCVEs".to_owned())
        } else if Config::listed(&config.allow_cves, f) {
            eval.allowed += 1;
            None
        } else {
            config
                .deny_severity
                .filter(|threshold| f.severity >= *threshold)
                .map(|threshold| format!("severity {} ≥ denySeverity {threshold}", f.severity))
        };
        if let Some(reason) = reason {
            eval.denied.entry(f.vuln_id.clone()).or_insert(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, severity: Severity) -> Finding {
        Finding {
            path: "$".into(),
            rule_id: format!("{id}-pkg"),
            vuln_id: id.into(),
            severity,
        }
    }

    fn run(config: &str) -> Evaluation {
        let findings = [
            f("CVE-2024-0001", Severity::Critical),
            f("CVE-2024-0002", Severity::High),
            f("CVE-2024-0003", Severity::Medium),
            f("CVE-2024-0004", Severity::Low),
            f("CVE-2024-0004", Severity::Low),
        ];
        let mut e = Evaluation::default();
        evaluate(&Config::parse(config).unwrap(), &findings, &mut e);
        e
    }

    #[test]
    fn counts_without_rules() {
        let e = run("{}");
        assert_eq!(e.total(), 5);
        assert_eq!(e.counts[&Severity::Low], 2);
        assert!(e.denied.is_empty());
    }

    #[test]
    fn severity_threshold_is_inclusive() {
        let e = run(r#"{"denySeverity": "high"}"#);
        assert_eq!(
            e.denied.keys().collect::<Vec<_>>(),
            ["CVE-2024-0001", "CVE-2024-0002"]
        );
        assert_eq!(run(r#"{"denySeverity": "critical"}"#).denied.len(), 1);
        assert_eq!(run(r#"{"denySeverity": "LOW"}"#).denied.len(), 4);
    }

    #[test]
    fn allow_and_deny_lists() {
        let e = run(r#"{"denySeverity": "high", "allowCVEs": ["cve-2024-0001"]}"#);
        assert_eq!(e.denied.keys().collect::<Vec<_>>(), ["CVE-2024-0002"]);
        assert_eq!(e.allowed, 1);
        let e = run(r#"{"denyCVEs": ["CVE-2024-0004-PKG"]}"#);
        assert_eq!(e.denied["CVE-2024-0004"], "listed in denyCVEs");
        assert_eq!(e.denied.len(), 1, "distinct ids");
    }

    #[test]
    fn config_errors() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.media_types.len(), 2);
        assert_eq!(c.max_blob_bytes, DEFAULT_MAX_BLOB_BYTES);
        let c =
            Config::parse(r#"{"maxAge": "7d", "mediaTypes": ["Application/JSON; charset=utf-8"]}"#)
                .unwrap();
        assert_eq!(c.max_age_secs, Some(604_800));
        assert_eq!(c.media_types, ["application/json"]);
        assert!(!c.passthrough);
        assert!(
            Config::parse(r#"{"passthrough": true}"#)
                .unwrap()
                .passthrough
        );
        for (text, needle) in [
            ("[1]", "JSON object"),
            (
                r#"{"maximumSeverity": "high"}"#,
                "unknown config key `maximumSeverity`",
            ),
            (r#"{"denySeverity": "severe"}"#, "denySeverity"),
            (r#"{"denySeverity": "none"}"#, "denySeverity"),
            (r#"{"denyCVEs": "CVE-1"}"#, "list of strings"),
            (r#"{"allowCVEs": [""]}"#, "allowCVEs[0]"),
            (
                r#"{"denyCVEs": ["CVE-2024-1"], "allowCVEs": ["cve-2024-1"]}"#,
                "both",
            ),
            (r#"{"maxAge": "soon"}"#, "maxAge"),
            (r#"{"maxAge": 3600}"#, "maxAge"),
            (r#"{"mediaTypes": []}"#, "mediaTypes"),
            (r#"{"maxBlobBytes": "big"}"#, "maxBlobBytes"),
            (
                r#"{"passthrough": "yes"}"#,
                "`passthrough` must be true or false",
            ),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
