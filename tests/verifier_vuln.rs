//! The shipped `vuln` verifier (guest-verifiers/vuln) as a real wasm component, run by the
//! runtime over OCI layouts: a passing SARIF report, every deny rule (severity, CVE list, age),
//! malformed input giving a failed report (never a trap), and bad configs rejected by
//! `check-config`.

#[allow(dead_code)] // only `verifier` is used here
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared with other test binaries that use all of it
#[path = "support/layout.rs"]
mod layout;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/verifier_case.rs"]
mod verifier_case;

use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio::sync::OnceCell;
use vouch::runtime::{GuestReport, Runtime, RuntimeError, Verifier};

use verifier_case::{case_annotated, verify, verify_raw};

const SARIF: &str = "application/sarif+json";
const TRIVY: &str = "application/vnd.aquasecurity.trivy.report.sarif.v1+json";
const CREATED: &str = "org.opencontainers.image.created";

static SHARED: OnceCell<(Runtime, Verifier)> = OnceCell::const_new();

async fn setup() -> (Runtime, Verifier) {
    verifier_case::shared(&SHARED, "vuln").await
}

/// RFC 3339 UTC for `ago` before now.
fn rfc3339_ago(ago: Duration) -> String {
    let t = (SystemTime::now() - ago)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // civil_from_days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A Trivy-style SARIF report: rules carry the CVSS score and a severity tag.
fn trivy_report() -> Vec<u8> {
    json!({
        "version": "2.1.0",
        "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json",
        "runs": [{
            "tool": {"driver": {"name": "Trivy", "version": "0.50.0", "rules": [
                {"id": "CVE-2021-44228", "properties": {"security-severity": "10.0",
                 "tags": ["vulnerability", "security", "CRITICAL"]}},
                {"id": "CVE-2022-3602", "properties": {"security-severity": "7.5",
                 "tags": ["vulnerability", "security", "HIGH"]}},
                {"id": "CVE-2023-0001", "properties": {"security-severity": "5.3",
                 "tags": ["vulnerability", "security", "MEDIUM"]}},
                {"id": "CVE-2023-0002", "properties": {"tags": ["vulnerability", "security", "LOW"]}}
            ]}},
            "results": [
                {"ruleId": "CVE-2021-44228", "ruleIndex": 0, "level": "error",
                 "message": {"text": "log4j"}},
                {"ruleId": "CVE-2022-3602", "ruleIndex": 1, "level": "error",
                 "message": {"text": "openssl"}},
                {"ruleId": "CVE-2023-0001", "ruleIndex": 2, "level": "warning",
                 "message": {"text": "x"}},
                {"ruleId": "CVE-2023-0002", "ruleIndex": 3, "level": "note",
                 "message": {"text": "y"}},
                {"ruleId": "CVE-2023-0002", "ruleIndex": 3, "level": "note",
                 "message": {"text": "y again"}}
            ]
        }]
    })
    .to_string()
    .into_bytes()
}

/// A Grype-style report: rule ids carry the package, severities only by score.
fn grype_report() -> Vec<u8> {
    json!({
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "Grype", "rules": [
                {"id": "CVE-2024-1111-busybox", "properties": {"security-severity": "3.1"}},
                {"id": "GHSA-aaaa-bbbb-cccc-lodash", "properties": {"security-severity": "6.0"}}
            ]}},
            "results": [
                {"ruleId": "CVE-2024-1111-busybox", "level": "note", "message": {"text": "a"}},
                {"ruleId": "GHSA-aaaa-bbbb-cccc-lodash", "level": "warning", "message": {"text": "b"}}
            ]
        }]
    })
    .to_string()
    .into_bytes()
}

fn count(r: &GuestReport, severity: &str) -> u64 {
    r.extensions["severityCounts"][severity].as_u64().unwrap()
}

fn denied_ids(r: &GuestReport) -> Vec<String> {
    r.extensions["deniedCVEs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn metadata_and_a_passing_report() {
    let (rt, v) = setup().await;
    assert_eq!(v.metadata().name, "vuln");
    assert!(v.metadata().handles(SARIF));
    assert!(v.metadata().handles(TRIVY));

    let c = case_annotated(TRIVY, &[(TRIVY, &trivy_report())], &[]);
    let r = verify(&rt, &v, &c, json!({})).await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.extensions["findings"], 5);
    assert_eq!(count(&r, "critical"), 1);
    assert_eq!(count(&r, "high"), 1);
    assert_eq!(count(&r, "medium"), 1);
    assert_eq!(count(&r, "low"), 2);
    assert_eq!(count(&r, "none"), 0);
    assert_eq!(r.extensions["denied"], 0);

    // Grype: CVSS scores decide; ids are reduced to the CVE/GHSA part.
    let c = case_annotated(SARIF, &[(SARIF, &grype_report())], &[]);
    let r = verify(&rt, &v, &c, json!({"denySeverity": "high"})).await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(count(&r, "low"), 1);
    assert_eq!(count(&r, "medium"), 1);
    let r = verify(&rt, &v, &c, json!({"denySeverity": "medium"})).await;
    assert_eq!(r.error_reason.as_deref(), Some("VULNERABILITY_DENIED"));
    assert_eq!(denied_ids(&r), ["GHSA-AAAA-BBBB-CCCC"]);
}

#[tokio::test]
async fn severity_and_cve_rules_deny() {
    let (rt, v) = setup().await;
    let c = case_annotated(TRIVY, &[(TRIVY, &trivy_report())], &[]);

    let r = verify(&rt, &v, &c, json!({"denySeverity": "high"})).await;
    assert!(!r.is_success);
    assert_eq!(r.error_reason.as_deref(), Some("VULNERABILITY_DENIED"));
    assert_eq!(denied_ids(&r), ["CVE-2021-44228", "CVE-2022-3602"]);
    assert!(r.message.contains("CVE-2021-44228"), "{}", r.message);

    let r = verify(&rt, &v, &c, json!({"denySeverity": "critical"})).await;
    assert_eq!(denied_ids(&r), ["CVE-2021-44228"]);

    // Accepted risks are not denied by severity (but still counted).
    let r = verify(
        &rt,
        &v,
        &c,
        json!({"denySeverity": "high", "allowCVEs": ["CVE-2021-44228", "cve-2022-3602"]}),
    )
    .await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.extensions["allowed"], 2);
    assert_eq!(count(&r, "critical"), 1);

    // Explicitly denied CVEs fail whatever their severity.
    let r = verify(&rt, &v, &c, json!({"denyCVEs": ["CVE-2023-0002"]})).await;
    assert_eq!(r.error_reason.as_deref(), Some("VULNERABILITY_DENIED"));
    assert_eq!(denied_ids(&r), ["CVE-2023-0002"]);
    assert_eq!(
        r.extensions["deniedCVEs"][0]["reason"],
        "listed in denyCVEs"
    );
    let r = verify(&rt, &v, &c, json!({"denyCVEs": ["CVE-1999-0001"]})).await;
    assert!(r.is_success, "{r:?}");
}

#[tokio::test]
async fn max_age_uses_the_created_annotation() {
    let (rt, v) = setup().await;
    let fresh = rfc3339_ago(Duration::from_secs(3600));
    let c = case_annotated(SARIF, &[(SARIF, &grype_report())], &[(CREATED, &fresh)]);
    let r = verify(&rt, &v, &c, json!({"maxAge": "24h"})).await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.extensions["created"], fresh.as_str());
    let age = r.extensions["ageSeconds"].as_i64().unwrap();
    assert!((3600..3700).contains(&age), "{age}");

    let r = verify(&rt, &v, &c, json!({"maxAge": "30m"})).await;
    assert_eq!(r.error_reason.as_deref(), Some("REPORT_TOO_OLD"));
    assert!(r.message.contains(&fresh), "{}", r.message);

    let old = rfc3339_ago(Duration::from_secs(8 * 86_400));
    let c = case_annotated(SARIF, &[(SARIF, &grype_report())], &[(CREATED, &old)]);
    let r = verify(&rt, &v, &c, json!({"maxAge": "7d"})).await;
    assert_eq!(r.error_reason.as_deref(), Some("REPORT_TOO_OLD"));

    let c = case_annotated(SARIF, &[(SARIF, &grype_report())], &[]);
    let r = verify(&rt, &v, &c, json!({"maxAge": "7d"})).await;
    assert_eq!(r.error_reason.as_deref(), Some("REPORT_AGE_UNKNOWN"));
    assert!(r.message.contains(CREATED), "{}", r.message);
    // Without maxAge, no annotation is needed.
    assert!(verify(&rt, &v, &c, json!({})).await.is_success);

    let c = case_annotated(
        SARIF,
        &[(SARIF, &grype_report())],
        &[(CREATED, "last tuesday")],
    );
    let r = verify(&rt, &v, &c, json!({"maxAge": "7d"})).await;
    assert_eq!(r.error_reason.as_deref(), Some("REPORT_AGE_UNKNOWN"));
}

#[tokio::test]
async fn malformed_input_fails_without_trapping() {
    let (rt, v) = setup().await;
    for (doc, path) in [
        (b"{\"version\": \"2.1.0\", \"runs\": [".to_vec(), "$"),
        (
            br#"{"version":"2.1.0","runs":[{"results":[{"ruleId":"x","level":"loud"}]}]}"#.to_vec(),
            "$.runs[0].results[0].level",
        ),
        (br#"{"version":"1.0.0","runs":[]}"#.to_vec(), "$.version"),
        (
            br#"{"version":"2.1.0","runs":[{"results":[{"message":{"text":"no id"}}]}]}"#.to_vec(),
            "$.runs[0].results[0].ruleId",
        ),
    ] {
        let c = case_annotated(SARIF, &[(SARIF, &doc)], &[]);
        let r = verify(&rt, &v, &c, json!({})).await;
        assert!(!r.is_success);
        assert_eq!(r.error_reason.as_deref(), Some("INVALID_SARIF"), "{r:?}");
        assert_eq!(r.extensions["path"], path, "{r:?}");
    }

    let c = case_annotated(SARIF, &[("application/json", &grype_report())], &[]);
    let r = verify(&rt, &v, &c, json!({})).await;
    assert_eq!(r.error_reason.as_deref(), Some("INVALID_SARIF"));
    assert!(r.message.contains("application/json"), "{}", r.message);
    // ... unless that media type is configured.
    let r = verify(&rt, &v, &c, json!({"mediaTypes": ["application/json"]})).await;
    assert!(r.is_success, "{r:?}");

    let c = case_annotated(SARIF, &[(SARIF, &trivy_report())], &[]);
    let r = verify(&rt, &v, &c, json!({"maxBlobBytes": 64})).await;
    assert_eq!(r.error_reason.as_deref(), Some("TOO_LARGE"));
}

#[tokio::test]
async fn bad_config_is_rejected_by_check_config() {
    let (rt, v) = setup().await;
    for (config, needle) in [
        ("{", "not JSON"),
        (r#"{"denySeverity": "severe"}"#, "denySeverity"),
        (r#"{"maxAge": "7 days"}"#, "maxAge"),
        (r#"{"denyCVEs": ["CVE-1"], "allowCVEs": ["CVE-1"]}"#, "both"),
        (r#"{"maximumSeverity": "high"}"#, "unknown config key"),
    ] {
        match rt.check_config(&v, config).await {
            Err(RuntimeError::Config { name, reason }) => {
                assert_eq!(name, "vuln");
                assert!(reason.contains(needle), "{config}: {reason}");
            }
            other => panic!("{config}: expected a config error, got {other:?}"),
        }
    }
    let c = case_annotated(SARIF, &[(SARIF, &grype_report())], &[]);
    let r = verify_raw(&rt, &v, &c, r#"{"denySeverity": 7}"#).await;
    assert_eq!(r.error_reason.as_deref(), Some("CONFIG_INVALID"));
}
