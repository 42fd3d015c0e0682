//! The shipped `sbom` verifier (guest-verifiers/sbom) as a real wasm component, run by the
//! runtime over OCI layouts: passing SBOMs in both formats, every deny rule, malformed input
//! giving a failed report (never a trap), and bad configs rejected by `check-config`.

#[allow(dead_code)] // only `verifier` is used here
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared with other test binaries that use all of it
#[path = "support/layout.rs"]
mod layout;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/verifier_case.rs"]
mod verifier_case;

use serde_json::json;
use tokio::sync::OnceCell;
use vouch::runtime::{GuestReport, Runtime, RuntimeError, Verifier, VerifyInput};

use verifier_case::{Case, case, verify};

const SPDX: &str = "application/spdx+json";
const CDX: &str = "application/vnd.cyclonedx+json";

static SHARED: OnceCell<(Runtime, Verifier)> = OnceCell::const_new();

async fn setup() -> (Runtime, Verifier) {
    verifier_case::shared(&SHARED, "sbom").await
}

fn spdx_doc() -> Vec<u8> {
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "app",
        "packages": [
            {"name": "openssl", "versionInfo": "3.0.11", "licenseConcluded": "Apache-2.0",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": "pkg:deb/debian/openssl@3.0.11"}]},
            {"name": "libfoo", "versionInfo": "1.2", "licenseConcluded": "NOASSERTION",
             "licenseDeclared": "GPL-3.0-or-later OR MIT"},
            {"name": "libbar", "versionInfo": "0.9", "licenseConcluded": "(MIT AND BSD-3-Clause)"},
        ]
    })
    .to_string()
    .into_bytes()
}

fn cdx_doc() -> Vec<u8> {
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "components": [
            {"type": "library", "name": "lodash", "version": "4.17.20",
             "purl": "pkg:npm/lodash@4.17.20",
             "licenses": [{"license": {"id": "MIT"}}],
             "components": [
                {"type": "library", "name": "inner", "version": "1.0.0",
                 "licenses": [{"expression": "Apache-2.0 WITH LLVM-exception"}]}
             ]},
            {"type": "library", "name": "left-pad", "version": "1.3.0",
             "purl": "pkg:npm/left-pad@1.3.0",
             "licenses": [{"license": {"id": "AGPL-3.0-only"}}]},
        ]
    })
    .to_string()
    .into_bytes()
}

fn ext_u64(r: &GuestReport, key: &str) -> u64 {
    r.extensions[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {:?}", r.extensions))
}

#[tokio::test]
async fn metadata_and_passing_sboms_in_both_formats() {
    let (rt, v) = setup().await;
    assert_eq!(v.metadata().name, "sbom");
    assert_eq!(v.metadata().version, "0.1.0");
    assert!(v.metadata().handles(SPDX));
    assert!(v.metadata().handles(CDX));
    assert!(v.metadata().config_schema.is_some());

    let c = case(SPDX, &[(SPDX, &spdx_doc())]);
    let r = verify(
        &rt,
        &v,
        &c,
        json!({"allowedLicenses": ["Apache-2.0", "MIT", "BSD-3-Clause"]}),
    )
    .await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.error_reason, None);
    assert_eq!(ext_u64(&r, "packages"), 3);
    // Apache-2.0, GPL-3.0-or-later, MIT, BSD-3-Clause.
    assert_eq!(ext_u64(&r, "licenses"), 4);
    assert_eq!(ext_u64(&r, "violations"), 0);
    assert_eq!(r.extensions["format"], "SPDX-2.3");
    assert_eq!(r.extensions["violationDetails"], json!([]));

    // CycloneDX with a versioned layer media type; nested components are counted.
    let c = case(
        CDX,
        &[("application/vnd.cyclonedx+json; version=1.6", &cdx_doc())],
    );
    let r = verify(&rt, &v, &c, json!({})).await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(ext_u64(&r, "packages"), 3);
    assert_eq!(r.extensions["format"], "CycloneDX-1.6");
}

#[tokio::test]
async fn license_rules_deny() {
    let (rt, v) = setup().await;
    let c = case(CDX, &[(CDX, &cdx_doc())]);

    // Deny list: AGPL is unavoidable for left-pad.
    let r = verify(
        &rt,
        &v,
        &c,
        json!({"disallowedLicenses": ["AGPL-3.0-or-later"]}),
    )
    .await;
    assert!(!r.is_success);
    assert_eq!(r.error_reason.as_deref(), Some("LICENSE_DISALLOWED"));
    assert_eq!(ext_u64(&r, "violations"), 1);
    let details = r.extensions["violationDetails"].as_array().unwrap();
    assert_eq!(details[0]["package"], "left-pad");
    assert_eq!(details[0]["version"], "1.3.0");
    assert_eq!(details[0]["rule"], "license");
    assert_eq!(details[0]["path"], "$.components[1]");
    assert!(r.message.contains("left-pad"), "{}", r.message);

    // Allow list: a plain `Apache-2.0` entry covers the nested `Apache-2.0 WITH LLVM-exception`;
    // AGPL is not allowed.
    let r = verify(
        &rt,
        &v,
        &c,
        json!({"allowedLicenses": ["MIT", "Apache-2.0"]}),
    )
    .await;
    assert_eq!(r.error_reason.as_deref(), Some("LICENSE_DISALLOWED"));
    assert_eq!(ext_u64(&r, "violations"), 1);
    // An entry naming the exception form covers that term too.
    let r = verify(
        &rt,
        &v,
        &c,
        json!({"allowedLicenses": ["MIT", "Apache-2.0 WITH LLVM-exception", "AGPL-3.0-only"]}),
    )
    .await;
    assert!(r.is_success, "{r:?}");

    // SPDX: an OR with a denied branch passes; unknown licenses deny only when told to.
    let c = case(SPDX, &[(SPDX, &spdx_doc())]);
    let r = verify(&rt, &v, &c, json!({"disallowedLicenses": ["GPL-3.0-only"]})).await;
    assert!(r.is_success, "{r:?}");
    let r = verify(&rt, &v, &c, json!({"disallowedLicenses": ["MIT"]})).await;
    assert!(!r.is_success);
    assert_eq!(ext_u64(&r, "violations"), 1, "only libbar needs MIT: {r:?}");
    let unknown = json!({"spdxVersion": "SPDX-2.3", "packages": [
        {"name": "mystery", "licenseConcluded": "NOASSERTION"}]})
    .to_string();
    let c = case(SPDX, &[(SPDX, unknown.as_bytes())]);
    assert!(
        verify(&rt, &v, &c, json!({"disallowedLicenses": ["MIT"]}))
            .await
            .is_success
    );
    let r = verify(&rt, &v, &c, json!({"allowedLicenses": ["MIT"]})).await;
    assert_eq!(r.error_reason.as_deref(), Some("LICENSE_DISALLOWED"));
    assert_eq!(ext_u64(&r, "unknownLicenses"), 1);
    let r = verify(
        &rt,
        &v,
        &c,
        json!({"allowedLicenses": ["MIT"], "unknownLicenses": "allow"}),
    )
    .await;
    assert!(r.is_success, "{r:?}");
}

#[tokio::test]
async fn package_rules_deny() {
    let (rt, v) = setup().await;
    let c = case(CDX, &[(CDX, &cdx_doc())]);
    let r = verify(
        &rt,
        &v,
        &c,
        json!({"disallowedPackages": [{"purl": "pkg:npm/lodash"}]}),
    )
    .await;
    assert_eq!(r.error_reason.as_deref(), Some("PACKAGE_DISALLOWED"));
    assert_eq!(r.extensions["violationDetails"][0]["package"], "lodash");
    let r = verify(
        &rt,
        &v,
        &c,
        json!({"disallowedPackages": [{"name": "inner", "version": "1.0.0"}]}),
    )
    .await;
    assert_eq!(r.error_reason.as_deref(), Some("PACKAGE_DISALLOWED"));
    assert_eq!(
        r.extensions["violationDetails"][0]["path"],
        "$.components[0].components[0]"
    );
    let r = verify(
        &rt,
        &v,
        &c,
        json!({"disallowedPackages": [{"name": "inner", "version": "2.0.0"},
                                      {"purl": "pkg:npm/lodash@4.17.21"}]}),
    )
    .await;
    assert!(r.is_success, "{r:?}");

    // Both kinds at once, and the list of details capped.
    let r = verify(
        &rt,
        &v,
        &c,
        json!({"disallowedPackages": [{"name": "lodash"}, {"name": "left-pad"}],
               "disallowedLicenses": ["AGPL-3.0-only"], "maxReportedViolations": 2}),
    )
    .await;
    assert_eq!(r.error_reason.as_deref(), Some("SBOM_POLICY_VIOLATION"));
    assert_eq!(ext_u64(&r, "violations"), 3);
    assert_eq!(
        r.extensions["violationDetails"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn malformed_input_fails_without_trapping() {
    let (rt, v) = setup().await;
    let bad_license = json!({"spdxVersion": "SPDX-2.3", "packages": [
        {"name": "ok", "licenseConcluded": "MIT"},
        {"name": "bad", "licenseConcluded": "MIT AND (Apache-2.0"}]})
    .to_string();
    let cases: Vec<(Case, &str)> = vec![
        (case(SPDX, &[(SPDX, b"{\"spdxVersion\": ")]), "$"),
        (case(SPDX, &[(SPDX, bad_license.as_bytes())]), "$.packages[1].licenseConcluded"),
        (
            case(CDX, &[(CDX, br#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":"a","components":[{"version":"1"}]}]}"#)]),
            "$.components[0].components[0].name",
        ),
        (case(CDX, &[(CDX, br#"{"bomFormat":"CycloneDX","specVersion":"9.9"}"#)]), "$.specVersion"),
    ];
    for (c, path) in cases {
        let r = verify(&rt, &v, &c, json!({})).await;
        assert!(!r.is_success);
        assert_eq!(r.error_reason.as_deref(), Some("INVALID_SBOM"), "{r:?}");
        assert_eq!(r.extensions["path"], path, "{r:?}");
        assert!(r.message.contains(path), "{}", r.message);
    }

    // No SBOM layer at all.
    let c = case(SPDX, &[("application/octet-stream", b"data")]);
    let r = verify(&rt, &v, &c, json!({})).await;
    assert_eq!(r.error_reason.as_deref(), Some("INVALID_SBOM"));
    assert!(
        r.message.contains("application/octet-stream"),
        "{}",
        r.message
    );

    // Over the configured size cap: refused before it is read.
    let c = case(SPDX, &[(SPDX, &spdx_doc())]);
    let r = verify(&rt, &v, &c, json!({"maxBlobBytes": 100})).await;
    assert_eq!(r.error_reason.as_deref(), Some("TOO_LARGE"));
    assert!(r.message.contains("maxBlobBytes 100"), "{}", r.message);
}

#[tokio::test]
async fn bad_config_is_rejected_by_check_config() {
    let (rt, v) = setup().await;
    for (config, needle) in [
        ("not json", "not JSON"),
        (
            r#"{"allowedLicenses": ["MIT"], "disallowedLicenses": ["GPL-3.0"]}"#,
            "exclusive",
        ),
        (r#"{"allowedLicenses": ["MIT OR"]}"#, "allowedLicenses[0]"),
        (
            r#"{"disallowedPackages": [{"purl": "npm/x"}]}"#,
            "disallowedPackages[0].purl",
        ),
        (r#"{"licences": []}"#, "unknown config key"),
    ] {
        match rt.check_config(&v, config).await {
            Err(RuntimeError::Config { name, reason }) => {
                assert_eq!(name, "sbom");
                assert!(reason.contains(needle), "{config}: {reason}");
            }
            other => panic!("{config}: expected a config error, got {other:?}"),
        }
    }
    // The same bad config reaching verify is a failed report, not a trap.
    let c = case(SPDX, &[(SPDX, &spdx_doc())]);
    let r = rt
        .verify(
            &v,
            VerifyInput {
                store: c.store.clone(),
                subject_reference: "example.test/app:v1".into(),
                subject: c.subject.clone(),
                artifact: c.artifact.clone(),
                config: r#"{"allowedLicenses": 5}"#.into(),
                cpu_quota: None,
            },
        )
        .await
        .unwrap()
        .report;
    assert_eq!(r.error_reason.as_deref(), Some("CONFIG_INVALID"));
}
