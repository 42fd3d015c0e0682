//! SARIF 2.1.0 vulnerability reports (Trivy, Grype) reduced to findings with a severity.
//!
//! Each `runs[].results[]` entry is a finding. Its rule is `tool.driver.rules[ruleIndex]` when the
//! index is valid, else the rule whose `id` equals `ruleId`. Its severity is the first of:
//! 1. `properties.security-severity` (a CVSS score, string or number) of the result, then of the
//!    rule: ≥ 9 critical, ≥ 7 high, ≥ 4 medium, > 0 low, 0 none;
//! 2. a severity tag (`CRITICAL`, `HIGH`, `MEDIUM`, `LOW`, any case) in `properties.tags` of the
//!    result, then of the rule (Trivy tags rules this way);
//! 3. the SARIF `level` of the result, else the rule's `defaultConfiguration.level`, else
//!    `warning` (the SARIF default): `error` high, `warning` medium, `note` low, `none` none.
//!
//! The vulnerability id is the `CVE-YYYY-N…` or `GHSA-xxxx-xxxx-xxxx` prefix of the rule id when
//! there is one (Grype's rule ids are `CVE-…-<package>`), else the whole rule id.

use std::fmt;

use serde_json::{Map, Value};

/// Severity of a finding, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// No severity (score 0, level `none`).
    None,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::None,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The severity of a CVSS score.
    pub fn from_score(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::None
        }
    }

    /// Parses a severity name (`low`, `medium`, `high`, `critical`, `none`; any case).
    pub fn from_name(name: &str) -> Option<Severity> {
        match name.to_ascii_lowercase().as_str() {
            "none" => Some(Severity::None),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A malformed report: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SarifError {
    /// JSON path of the offending value.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for SarifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn err(path: &str, message: impl Into<String>) -> SarifError {
    SarifError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// JSON path of the result.
    pub path: String,
    /// The rule id as written.
    pub rule_id: String,
    /// The vulnerability id (CVE/GHSA prefix of the rule id, or the rule id).
    pub vuln_id: String,
    /// Severity.
    pub severity: Severity,
}

/// The vulnerability id in a rule id.
pub fn vuln_id(rule_id: &str) -> String {
    let upper = rule_id.to_ascii_uppercase();
    let parts: Vec<&str> = upper.split('-').collect();
    let n = if upper.starts_with("CVE-")
        && parts.len() >= 3
        && parts[1].len() == 4
        && parts[1].bytes().all(|b| b.is_ascii_digit())
        && !parts[2].is_empty()
        && parts[2].bytes().all(|b| b.is_ascii_digit())
    {
        3
    } else if upper.starts_with("GHSA-") && parts.len() >= 4 {
        4
    } else {
        return rule_id.to_owned();
    };
    parts[..n].join("-")
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, SarifError> {
    v.as_object().ok_or_else(|| err(path, "expected an object"))
}

fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, SarifError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => object(v, &format!("{path}.{key}")).map(Some),
    }
}

fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a [Value], SarifError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(err(&format!("{path}.{key}"), "expected an array")),
    }
}

fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, SarifError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(err(&format!("{path}.{key}"), "expected a string")),
    }
}

/// Severity from a `properties` bag: `security-severity` score, then tags.
fn from_properties(
    props: Option<&Map<String, Value>>,
    path: &str,
) -> Result<(Option<Severity>, Option<Severity>), SarifError> {
    let Some(props) = props else {
        return Ok((None, None));
    };
    let spath = format!("{path}.properties.security-severity");
    let score = match props.get("security-severity") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => Some(
            s.trim()
                .parse::<f64>()
                .map_err(|_| err(&spath, format!("{s:?} is not a CVSS score")))?,
        ),
        Some(_) => return Err(err(&spath, "expected a number or a numeric string")),
    };
    let score = match score {
        Some(s) if !(0.0..=10.0).contains(&s) => {
            return Err(err(&spath, format!("CVSS score {s} is outside 0–10")));
        }
        other => other.map(Severity::from_score),
    };
    let tag = opt_array(props, "tags", &format!("{path}.properties"))?
        .iter()
        .filter_map(Value::as_str)
        .filter(|t| !t.eq_ignore_ascii_case("none"))
        .filter_map(Severity::from_name)
        .max();
    Ok((score, tag))
}

fn from_level(level: &str, path: &str) -> Result<Severity, SarifError> {
    match level {
        "error" => Ok(Severity::High),
        "warning" => Ok(Severity::Medium),
        "note" => Ok(Severity::Low),
        "none" => Ok(Severity::None),
        other => Err(err(
            path,
            format!("unknown level {other:?} (expected error, warning, note or none)"),
        )),
    }
}

/// Parses SARIF bytes into findings.
pub fn parse(bytes: &[u8]) -> Result<Vec<Finding>, SarifError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| err("$", format!("not valid JSON: {e}")))?;
    let root = object(&value, "$")?;
    match opt_str(root, "version", "$")? {
        Some("2.1.0") => {}
        Some(v) => {
            return Err(err(
                "$.version",
                format!("unsupported SARIF version {v:?} (expected 2.1.0)"),
            ));
        }
        None => return Err(err("$.version", "required string is missing")),
    }
    let runs = match root.get("runs") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(err("$.runs", "expected an array")),
        None => return Err(err("$.runs", "required array is missing")),
    };
    let mut findings = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        let rpath = format!("$.runs[{r}]");
        let run = object(run, &rpath)?;
        let rules: &[Value] = match opt_object(run, "tool", &rpath)? {
            Some(tool) => match opt_object(tool, "driver", &format!("{rpath}.tool"))? {
                Some(driver) => opt_array(driver, "rules", &format!("{rpath}.tool.driver"))?,
                None => &[],
            },
            None => &[],
        };
        for (i, rule) in rules.iter().enumerate() {
            object(rule, &format!("{rpath}.tool.driver.rules[{i}]"))?;
        }
        for (i, result) in opt_array(run, "results", &rpath)?.iter().enumerate() {
            let path = format!("{rpath}.results[{i}]");
            let res = object(result, &path)?;
            let index = match res.get("ruleIndex") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| {
                    err(
                        &format!("{path}.ruleIndex"),
                        "expected a non-negative integer",
                    )
                })?),
            };
            let by_index = index
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| rules.get(n))
                .and_then(Value::as_object);
            let rule_id = match opt_str(res, "ruleId", &path)? {
                Some(id) => id.to_owned(),
                None => by_index
                    .and_then(|r| r.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        err(
                            &format!("{path}.ruleId"),
                            "result has no ruleId and no rule with an id at ruleIndex",
                        )
                    })?,
            };
            let (rule, rule_path) = match by_index {
                Some(rule) => (
                    Some(rule),
                    format!("{rpath}.tool.driver.rules[{}]", index.unwrap_or_default()),
                ),
                None => match rules
                    .iter()
                    .position(|r| r.get("id").and_then(Value::as_str) == Some(&rule_id))
                {
                    Some(n) => (
                        rules[n].as_object(),
                        format!("{rpath}.tool.driver.rules[{n}]"),
                    ),
                    None => (None, String::new()),
                },
            };
            let (res_score, res_tag) =
                from_properties(opt_object(res, "properties", &path)?, &path)?;
            let (rule_score, rule_tag) = match rule {
                Some(rule) => {
                    from_properties(opt_object(rule, "properties", &rule_path)?, &rule_path)?
                }
                None => (None, None),
            };
            let severity = match res_score.or(rule_score).or(res_tag).or(rule_tag) {
                Some(s) => s,
                None => match opt_str(res, "level", &path)? {
                    Some(l) => from_level(l, &format!("{path}.level"))?,
                    None => {
                        let default = rule
                            .and_then(|r| r.get("defaultConfiguration"))
                            .and_then(|d| d.get("level"))
                            .and_then(Value::as_str);
                        match default {
                            Some(l) => {
                                from_level(l, &format!("{rule_path}.defaultConfiguration.level"))?
                            }
                            None => Severity::Medium,
                        }
                    }
                },
            };
            findings.push(Finding {
                path,
                vuln_id: vuln_id(&rule_id),
                rule_id,
                severity,
            });
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sarif(rules: Value, results: Value) -> Vec<u8> {
        json!({"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
               "runs": [{"tool": {"driver": {"name": "Trivy", "rules": rules}}, "results": results}]})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn scores_map_to_severities() {
        assert_eq!(Severity::from_score(9.8), Severity::Critical);
        assert_eq!(Severity::from_score(9.0), Severity::Critical);
        assert_eq!(Severity::from_score(7.0), Severity::High);
        assert_eq!(Severity::from_score(6.9), Severity::Medium);
        assert_eq!(Severity::from_score(4.0), Severity::Medium);
        assert_eq!(Severity::from_score(0.1), Severity::Low);
        assert_eq!(Severity::from_score(0.0), Severity::None);
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::None);
    }

    #[test]
    fn vuln_ids() {
        assert_eq!(vuln_id("CVE-2022-3602"), "CVE-2022-3602");
        assert_eq!(vuln_id("CVE-2022-3602-openssl"), "CVE-2022-3602");
        assert_eq!(vuln_id("GHSA-abcd-efgh-ijkl-lodash"), "GHSA-ABCD-EFGH-IJKL");
        assert_eq!(vuln_id("CVE-20x-1"), "CVE-20x-1");
        assert_eq!(vuln_id("DLA-3008-1"), "DLA-3008-1");
    }

    #[test]
    fn severity_sources_in_order() {
        let rules = json!([
            {"id": "CVE-2024-0001", "properties": {"security-severity": "9.8", "tags": ["vulnerability", "LOW"]}},
            {"id": "CVE-2024-0002", "properties": {"tags": ["vulnerability", "security", "HIGH"]}},
            {"id": "CVE-2024-0003", "defaultConfiguration": {"level": "note"}},
            {"id": "CVE-2024-0004"},
        ]);
        let results = json!([
            {"ruleId": "CVE-2024-0001", "ruleIndex": 0, "level": "note"},
            {"ruleId": "CVE-2024-0002", "level": "error"},
            {"ruleId": "CVE-2024-0003"},
            {"ruleId": "CVE-2024-0004"},
            {"ruleId": "CVE-2024-0004", "level": "none"},
            {"ruleId": "CVE-2024-0004", "properties": {"security-severity": 5.5}},
            {"ruleIndex": 1},
            {"ruleId": "CVE-2024-0009-pkg", "level": "error"},
        ]);
        let f = parse(&sarif(rules, results)).unwrap();
        let got: Vec<(&str, Severity)> =
            f.iter().map(|f| (f.vuln_id.as_str(), f.severity)).collect();
        assert_eq!(
            got,
            [
                ("CVE-2024-0001", Severity::Critical),
                ("CVE-2024-0002", Severity::High),
                ("CVE-2024-0003", Severity::Low),
                ("CVE-2024-0004", Severity::Medium),
                ("CVE-2024-0004", Severity::None),
                ("CVE-2024-0004", Severity::Medium),
                ("CVE-2024-0002", Severity::High),
                ("CVE-2024-0009", Severity::High),
            ]
        );
        assert_eq!(f[7].rule_id, "CVE-2024-0009-pkg");
        assert_eq!(f[1].path, "$.runs[0].results[1]");
    }

    #[test]
    fn empty_runs_and_results_are_fine() {
        assert!(
            parse(br#"{"version":"2.1.0","runs":[]}"#)
                .unwrap()
                .is_empty()
        );
        assert!(
            parse(br#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}}}]}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn malformed_reports_name_the_json_path() {
        for (doc, path) in [
            (b"nope".to_vec(), "$"),
            (br#"{"runs":[]}"#.to_vec(), "$.version"),
            (br#"{"version":"2.0.0","runs":[]}"#.to_vec(), "$.version"),
            (br#"{"version":"2.1.0"}"#.to_vec(), "$.runs"),
            (br#"{"version":"2.1.0","runs":{}}"#.to_vec(), "$.runs"),
            (br#"{"version":"2.1.0","runs":[1]}"#.to_vec(), "$.runs[0]"),
            (sarif(json!([]), json!({})), "$.runs[0].results"),
            (
                sarif(json!([]), json!([{"level": "error"}])),
                "$.runs[0].results[0].ruleId",
            ),
            (
                sarif(json!([]), json!([{"ruleId": 5}])),
                "$.runs[0].results[0].ruleId",
            ),
            (
                sarif(json!([]), json!([{"ruleId": "x", "level": "fatal"}])),
                "$.runs[0].results[0].level",
            ),
            (
                sarif(json!([]), json!([{"ruleId": "x", "ruleIndex": -1}])),
                "$.runs[0].results[0].ruleIndex",
            ),
            (
                sarif(
                    json!([{"id": "x", "properties": {"security-severity": "high"}}]),
                    json!([{"ruleId": "x"}]),
                ),
                "$.runs[0].tool.driver.rules[0].properties.security-severity",
            ),
            (
                sarif(
                    json!([]),
                    json!([{"ruleId": "x", "properties": {"security-severity": 11}}]),
                ),
                "$.runs[0].results[0].properties.security-severity",
            ),
            (
                sarif(json!([7]), json!([])),
                "$.runs[0].tool.driver.rules[0]",
            ),
        ] {
            let e = parse(&doc).expect_err(path);
            assert_eq!(e.path, path, "{e}");
        }
    }
}
