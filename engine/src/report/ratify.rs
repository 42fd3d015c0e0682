//! Ratify's report shapes, built from Vouch's [`SubjectReport`], so Ratify's Gatekeeper
//! templates and Rego policies read what they read from Ratify. The CLI keeps Vouch's own shape
//! ([`SubjectReport`] serialized as is); `vouch serve` sends these (see `docs/ratify-compat.md`).
//!
//! Written from Ratify v1's source (`httpserver/types.go`, `pkg/executor/core`,
//! `pkg/verifier/api.go`, `pkg/verifier/types`, the notation verifier, `plugins/verifier/sbom`
//! and `plugins/verifier/vulnerabilityreport`) and its `docs/reference/verification-response.md`.
//! Go's `encoding/json` drops an `omitempty` field when it is `""`, `false`, `0`, `nil` or an empty
//! slice/map; the shapes below say which fields do.
//!
//! # v1, config policy: `version: "0.2.0"` ([`Shape::Config`], the default)
//!
//! ```text
//! { "version": "0.2.0", "isSuccess": bool,
//!   "traceID": "<uuid>",            // omitempty; Vouch always sends one (per request)
//!   "timestamp": "<RFC 3339, ns>",  // omitempty; Vouch always sends one (per request)
//!   "verifierReports": [ VerifierResult ],   // omitempty
//!   // Vouch's additions: "subject", "digest", "message", "timings", "cached"
//! }
//! VerifierResult = {
//!   "subject": "<repo>@<digest of the node verified>",  // omitempty
//!   "isSuccess": bool,                                   // always
//!   "name": "<configured verifier name>",                // omitempty (deprecated alias)
//!   "verifierName": "<configured verifier name>",        // omitempty
//!   "type": "<verifier type>",                           // omitempty (deprecated alias)
//!   "verifierType": "<verifier type>",                   // omitempty
//!   "referenceDigest": "sha256:…",                       // omitempty
//!   "artifactType": "…",                                 // omitempty
//!   "message": "…",                                      // omitempty
//!   "errorReason": "…", "remediation": "…",              // omitempty
//!   "extensions": { … },                                 // omitempty (nil or empty map)
//!   "nestedResults": [ VerifierResult ],                 // omitempty
//!   // Vouch's addition: "timings"
//! }
//! ```
//!
//! A subject with no verifier report at all is, under Ratify's config policy, an *item error*
//! (`NO_VERIFIER_REPORT`), not a value: [`no_verifier_report`].
//!
//! # v1, Rego policy: `version: "1.1.0"` ([`Shape::Rego`])
//!
//! Ratify answers in this shape when its policy is a Rego policy (`package ratify.policy`); it is
//! also that policy's `input` (`{"verifierReports": [NestedVerifierReport]}`, [`rego_input`]).
//!
//! ```text
//! { "version": "1.1.0", "isSuccess": bool, "traceID": …, "timestamp": …,
//!   "verifierReports": [ NestedVerifierReport ] }            // omitempty
//! NestedVerifierReport = {                                   // no omitempty: [] when empty
//!   "subject", "referenceDigest", "artifactType",
//!   "verifierReports": [ { "isSuccess", "message", "errorReason"?, "remediation"?,
//!                          "name", "verifierName"?, "type"?, "verifierType"?, "extensions" } ],
//!   "nestedReports": [ NestedVerifierReport ] }              // every referrer's own referrers
//! ```
//!
//! # Ratify v2 ([`Shape::V2`])
//!
//! ratify-go's `ValidationResult {Succeeded, ArtifactReports []*ValidationReport{Subject,
//! Artifact (OCI descriptor), Results []*VerificationResult{Err, Description, Verifier, Detail},
//! ArtifactReports}}`, with camelCase names: `{"succeeded", "artifactReports": [{"subject",
//! "artifact": {"mediaType"?, "digest", "artifactType"}, "results": [{"verifierName",
//! "verifierType", "description", "error"?, "detail"}], "artifactReports": [...]}]}`. ratify-go's
//! types carry no JSON tags and v2's HTTP layer was not in the sources read, so this shape is
//! Vouch's camelCase rendering of those types (`docs/ratify-compat.md` says so).
//!
//! # `type`/`verifierType` per kind of verifier ([`ratify_type`])
//!
//! Ratify's built-in and plugin verifiers name their type `notation`, `cosign`, `sbom`,
//! `vulnerabilityreport` and `schemavalidator`; Vouch's modules call themselves `notation`,
//! `cosign`, `sbom`, `vuln` and `schema`. `name`/`verifierName` are the configured name, as in
//! Ratify (whose library templates filter on `name == "notation"`, `"sbom"`,
//! `"vulnerabilityreport"`: name the verifiers so in the config for those templates).
//!
//! # Extensions ([`extensions`])
//!
//! Vouch's own extension keys are kept; Ratify's are added under Ratify's names and formats:
//! - notation: `Issuer` and `SN`, the leaf certificate's issuer and subject as Go's
//!   `pkix.Name.String()` writes them (RFC 2253: most specific first, `,` between RDNs, no space:
//!   `CN=signer,O=Acme,ST=WA,C=US`). Vouch's host writes `CN=signer, O=Acme, …`; the space after
//!   each separator is dropped ([`go_dn`]).
//! - sbom (plugin v2): `creationInfo` (the SPDX document's `creationInfo`, when the guest reports
//!   it), and on a failure `licenseViolations` / `packageViolations`: lists of
//!   `{"Name", "Version", "License"}` (Go's `PackageLicense` has no JSON tags), from the guest's
//!   `violationDetails` (`rule` `license`/`package`; the license expression is the text between
//!   backticks in `detail`).
//! - vulnerabilityreport: `createdAt` (RFC 3339, from the guest's `created`), `scanner` (lower
//!   case, when reported), and on a failure `severityViolations` (`{ruleId: severity}`) and
//!   `cveViolations` (ids denied by `denyCVEs`).

use serde_json::{Map, Value, json};

use super::{EXECUTOR_NAME, SubjectReport, VerifierReport};

/// `version` of the v1 response under a config policy.
pub const CONFIG_VERSION: &str = "0.2.0";
/// `version` of the v1 response under a Rego policy.
pub const REGO_VERSION: &str = "1.1.0";
/// Ratify's error code for a subject without any verifier report (config policy).
pub const NO_VERIFIER_REPORT: &str = "NO_VERIFIER_REPORT";

/// Which of Ratify's response shapes to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// v1 under a config policy (`version: "0.2.0"`, flat `verifierReports`, `nestedResults`).
    Config,
    /// v1 under a Rego policy (`version: "1.1.0"`, reports grouped per artifact).
    Rego,
    /// v2 (ratify-go's `ValidationResult`).
    V2,
}

/// What identifies one provider request: its trace id and when it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestMeta {
    /// `traceID`.
    pub trace_id: String,
    /// `timestamp`, RFC 3339 with nanoseconds (Go's `time.RFC3339Nano`).
    pub timestamp: String,
}

impl RequestMeta {
    /// A fresh trace id (a random UUID v4, as Ratify's) and the current time.
    pub fn now() -> RequestMeta {
        RequestMeta {
            trace_id: new_trace_id(),
            timestamp: rfc3339_nano(std::time::SystemTime::now()),
        }
    }
}

/// A random UUID v4 in its canonical text form.
pub fn new_trace_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `t` as Go's `time.RFC3339Nano` writes a UTC time: `2024-08-28T15:04:15.682247974Z`, trailing
/// zeros of the fraction (and a zero fraction) dropped.
pub fn rfc3339_nano(t: std::time::SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let mut s = -(d.as_secs() as i64);
            let mut n = d.subsec_nanos();
            if n > 0 {
                s -= 1;
                n = 1_000_000_000 - n;
            }
            (s, n)
        }
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Ratify's verifier type for a Vouch verifier module named `vouch_type` (its `metadata` name).
pub fn ratify_type(vouch_type: &str) -> &str {
    match vouch_type {
        "vuln" => "vulnerabilityreport",
        "schema" => "schemavalidator",
        other => other,
    }
}

/// A distinguished name as Go's `pkix.Name.String()` writes it, from Vouch's RFC 4514 text
/// (`CN=a, O=b` → `CN=a,O=b`): the `", "` between RDNs becomes `","`; escaped characters
/// (`\,`) are left alone.
pub fn go_dn(vouch: &str) -> String {
    let mut out = String::with_capacity(vouch.len());
    let mut chars = vouch.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            ',' => {
                out.push(',');
                if chars.peek() == Some(&' ') {
                    chars.next();
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The report's extensions with Ratify's keys added for its kind of verifier (see the module
/// docs); Vouch's own keys are kept.
pub fn extensions(report: &VerifierReport) -> Map<String, Value> {
    let mut ext = report.extensions.clone();
    match ratify_type(&report.verifier_type) {
        "notation" => {
            for key in ["Issuer", "SN"] {
                if let Some(Value::String(dn)) = ext.get(key) {
                    let dn = go_dn(dn);
                    ext.insert(key.to_owned(), Value::String(dn));
                }
            }
        }
        "sbom" => sbom_extensions(&mut ext, report.is_success),
        "vulnerabilityreport" => vuln_extensions(&mut ext, report.is_success),
        _ => {}
    }
    ext
}

/// SBOM plugin v2: `licenseViolations` / `packageViolations` as `[{Name, Version, License}]`.
fn sbom_extensions(ext: &mut Map<String, Value>, success: bool) {
    if success {
        return;
    }
    let Some(Value::Array(details)) = ext.get("violationDetails") else {
        return;
    };
    let (mut licenses, mut packages) = (Vec::new(), Vec::new());
    for d in details {
        let text = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default();
        // The guest names the license expression between backticks in `detail`.
        let detail = text("detail");
        let license = detail.split('`').nth(1).unwrap_or(detail);
        let entry = json!({
            "Name": text("package"),
            "Version": text("version"),
            "License": license,
        });
        match text("rule") {
            "package" => packages.push(entry),
            _ => licenses.push(entry),
        }
    }
    if !licenses.is_empty() {
        ext.insert("licenseViolations".into(), Value::Array(licenses));
    }
    if !packages.is_empty() {
        ext.insert("packageViolations".into(), Value::Array(packages));
    }
}

/// vulnerabilityreport plugin: `createdAt`, `scanner`, `severityViolations`, `cveViolations`.
fn vuln_extensions(ext: &mut Map<String, Value>, success: bool) {
    if let Some(created) = ext.get("created").cloned() {
        ext.insert("createdAt".into(), created);
    }
    if let Some(Value::String(scanner)) = ext.get("scanner") {
        let lower = scanner.to_lowercase();
        ext.insert("scanner".into(), Value::String(lower));
    }
    if success {
        return;
    }
    let Some(Value::Array(denied)) = ext.get("deniedCVEs") else {
        return;
    };
    let mut severity = Map::new();
    let mut cves = Vec::new();
    for d in denied {
        let id = d.get("id").and_then(Value::as_str).unwrap_or_default();
        let reason = d.get("reason").and_then(Value::as_str).unwrap_or_default();
        if let Some(rest) = reason.strip_prefix("severity ") {
            let level = rest.split_whitespace().next().unwrap_or_default();
            severity.insert(id.to_owned(), Value::String(level.to_lowercase()));
        } else {
            cves.push(Value::String(id.to_lowercase()));
        }
    }
    if !severity.is_empty() {
        ext.insert("severityViolations".into(), Value::Object(severity));
    }
    if !cves.is_empty() {
        ext.insert("cveViolations".into(), Value::Array(cves));
    }
}

/// Insert `value` under `key` unless it is `""` (Go's `omitempty` on a string).
fn put_str(obj: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        obj.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

/// The verifier's type for a report (`vouch` for the executor's own store-failure reports).
fn type_of(r: &VerifierReport) -> &str {
    if r.verifier_name == EXECUTOR_NAME && r.verifier_type == EXECUTOR_NAME {
        EXECUTOR_NAME
    } else {
        ratify_type(&r.verifier_type)
    }
}

/// Ratify's message of a report whose nested verification failed.
pub const NESTED_FAILED: &str = "nested verification failed";

/// One report as Ratify v1's config-policy `VerifierResult` (with `nestedResults`). As Ratify's
/// executor does (`addNestedVerifierResult`), a report whose nested verification failed is
/// itself failed, with the message `nested verification failed`.
pub fn verifier_result(r: &VerifierReport) -> Value {
    let nested_failed = r.nested_results.iter().any(|n| !n.all_successful());
    let mut o = Map::new();
    put_str(&mut o, "subject", &r.subject);
    o.insert(
        "isSuccess".into(),
        Value::Bool(r.is_success && !nested_failed),
    );
    put_str(&mut o, "name", &r.verifier_name);
    put_str(&mut o, "verifierName", &r.verifier_name);
    put_str(&mut o, "type", type_of(r));
    put_str(&mut o, "verifierType", type_of(r));
    put_str(&mut o, "referenceDigest", &r.reference_digest);
    put_str(&mut o, "artifactType", &r.artifact_type);
    put_str(
        &mut o,
        "message",
        if nested_failed {
            NESTED_FAILED
        } else {
            &r.message
        },
    );
    if let Some(reason) = &r.error_reason {
        put_str(&mut o, "errorReason", reason);
    }
    let ext = extensions(r);
    if !ext.is_empty() {
        o.insert("extensions".into(), Value::Object(ext));
    }
    if !r.nested_results.is_empty() {
        o.insert(
            "nestedResults".into(),
            Value::Array(r.nested_results.iter().map(verifier_result).collect()),
        );
    }
    o.insert("timings".into(), json!(r.timings));
    Value::Object(o)
}

/// Vouch's additions to a response: `subject`, `digest`, `message`, `timings`, `cached`.
fn additions(o: &mut Map<String, Value>, report: &SubjectReport) {
    o.insert("subject".into(), Value::String(report.subject.clone()));
    if let Some(d) = &report.digest {
        o.insert("digest".into(), Value::String(d.clone()));
    }
    o.insert("message".into(), Value::String(report.message.clone()));
    o.insert("timings".into(), json!(report.timings));
    o.insert("cached".into(), Value::Bool(report.cached));
}

/// The response envelope common to both v1 versions.
fn v1_envelope(version: &str, report: &SubjectReport, meta: &RequestMeta) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("version".into(), Value::String(version.to_owned()));
    o.insert("isSuccess".into(), Value::Bool(report.is_success));
    put_str(&mut o, "traceID", &meta.trace_id);
    put_str(&mut o, "timestamp", &meta.timestamp);
    o
}

/// The `0.2.0` response (Ratify v1 under a config policy).
pub fn config_response(report: &SubjectReport, meta: &RequestMeta) -> Value {
    let mut o = v1_envelope(CONFIG_VERSION, report, meta);
    if !report.verifier_reports.is_empty() {
        o.insert(
            "verifierReports".into(),
            Value::Array(
                report
                    .verifier_reports
                    .iter()
                    .map(verifier_result)
                    .collect(),
            ),
        );
    }
    additions(&mut o, report);
    Value::Object(o)
}

/// The item error Ratify answers (config policy) for a resolved subject without any verifier
/// report; `None` when the subject has reports.
pub fn no_verifier_report(report: &SubjectReport) -> Option<String> {
    (report.digest.is_some() && report.verifier_reports.is_empty()).then(|| {
        format!(
            "{NO_VERIFIER_REPORT}: no verifier report: no verifier report was generated for \
             `{}`: it has no referrers (signatures, SBOMs, ...) that a configured verifier \
             handles",
            report.subject
        )
    })
}

/// One verifier's entry of a `NestedVerifierReport` (1.1.0).
fn inner_result(r: &VerifierReport) -> Value {
    let mut o = Map::new();
    o.insert("isSuccess".into(), Value::Bool(r.is_success));
    o.insert("message".into(), Value::String(r.message.clone()));
    if let Some(reason) = &r.error_reason {
        put_str(&mut o, "errorReason", reason);
    }
    o.insert("name".into(), Value::String(r.verifier_name.clone()));
    put_str(&mut o, "verifierName", &r.verifier_name);
    put_str(&mut o, "type", type_of(r));
    put_str(&mut o, "verifierType", type_of(r));
    let ext = extensions(r);
    o.insert(
        "extensions".into(),
        if ext.is_empty() {
            Value::Null
        } else {
            Value::Object(ext)
        },
    );
    Value::Object(o)
}

/// Consecutive reports on the same referrer (same subject and digest), one group each.
fn by_referrer(reports: &[VerifierReport]) -> Vec<Vec<&VerifierReport>> {
    let mut groups: Vec<Vec<&VerifierReport>> = Vec::new();
    for r in reports {
        match groups.last_mut() {
            Some(g) if g[0].reference_digest == r.reference_digest && g[0].subject == r.subject => {
                g.push(r)
            }
            _ => groups.push(vec![r]),
        }
    }
    groups
}

/// Reports grouped per artifact as Ratify's Rego-policy `NestedVerifierReport`s: consecutive
/// reports on the same referrer form one entry; its `nestedReports` are the referrer's own
/// (the first non-empty `nestedResults` of its reports, which are the same for each verifier).
pub fn nested_reports(reports: &[VerifierReport]) -> Vec<Value> {
    by_referrer(reports)
        .into_iter()
        .map(|g| {
            let first = g[0];
            let nested = g
                .iter()
                .find(|r| !r.nested_results.is_empty())
                .map(|r| nested_reports(&r.nested_results))
                .unwrap_or_default();
            json!({
                "subject": first.subject,
                "referenceDigest": first.reference_digest,
                "artifactType": first.artifact_type,
                "verifierReports": g.iter().map(|r| inner_result(r)).collect::<Vec<_>>(),
                "nestedReports": nested,
            })
        })
        .collect()
}

/// The `input` of a Ratify Rego policy (`package ratify.policy`): `{"verifierReports": [...]}`.
pub fn rego_input(reports: &[VerifierReport]) -> Value {
    json!({ "verifierReports": nested_reports(reports) })
}

/// The `1.1.0` response (Ratify v1 under a Rego policy).
pub fn rego_response(report: &SubjectReport, meta: &RequestMeta) -> Value {
    let mut o = v1_envelope(REGO_VERSION, report, meta);
    let nested = nested_reports(&report.verifier_reports);
    if !nested.is_empty() {
        o.insert("verifierReports".into(), Value::Array(nested));
    }
    additions(&mut o, report);
    Value::Object(o)
}

/// One artifact report of the v2 shape.
fn v2_artifact_reports(reports: &[VerifierReport]) -> Vec<Value> {
    by_referrer(reports)
        .into_iter()
        .map(|g| {
            let first = g[0];
            let results: Vec<Value> = g
                .iter()
                .map(|r| {
                    let mut o = Map::new();
                    o.insert(
                        "verifierName".into(),
                        Value::String(r.verifier_name.clone()),
                    );
                    o.insert("verifierType".into(), Value::String(type_of(r).to_owned()));
                    o.insert("description".into(), Value::String(r.message.clone()));
                    if !r.is_success {
                        let error = match &r.error_reason {
                            Some(reason) => format!("{reason}: {}", r.message),
                            None => r.message.clone(),
                        };
                        o.insert("error".into(), Value::String(error));
                    }
                    o.insert("detail".into(), Value::Object(extensions(r)));
                    Value::Object(o)
                })
                .collect();
            let nested = g
                .iter()
                .find(|r| !r.nested_results.is_empty())
                .map(|r| v2_artifact_reports(&r.nested_results))
                .unwrap_or_default();
            json!({
                "subject": first.subject,
                "artifact": {
                    "digest": first.reference_digest,
                    "artifactType": first.artifact_type,
                },
                "results": results,
                "artifactReports": nested,
            })
        })
        .collect()
}

/// The v2 response (ratify-go's `ValidationResult`, camelCase), with Vouch's additions and the
/// request's `traceID`/`timestamp`.
pub fn v2_response(report: &SubjectReport, meta: &RequestMeta) -> Value {
    let mut o = Map::new();
    o.insert("succeeded".into(), Value::Bool(report.is_success));
    o.insert(
        "artifactReports".into(),
        Value::Array(v2_artifact_reports(&report.verifier_reports)),
    );
    put_str(&mut o, "traceID", &meta.trace_id);
    put_str(&mut o, "timestamp", &meta.timestamp);
    additions(&mut o, report);
    Value::Object(o)
}

/// The response in `shape`.
pub fn response(shape: Shape, report: &SubjectReport, meta: &RequestMeta) -> Value {
    match shape {
        Shape::Config => config_response(report, meta),
        Shape::Rego => rego_response(report, meta),
        Shape::V2 => v2_response(report, meta),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Timings;
    use super::*;

    fn report(
        verifier: &str,
        module: &str,
        ok: bool,
        ext: Value,
        nested: Vec<VerifierReport>,
    ) -> VerifierReport {
        VerifierReport {
            subject: "reg/app@sha256:11".into(),
            is_success: ok,
            name: verifier.into(),
            verifier_name: verifier.into(),
            verifier_type: module.into(),
            artifact_type: "application/x".into(),
            reference_digest: "sha256:aa".into(),
            message: if ok { "ok".into() } else { "bad".into() },
            error_reason: (!ok).then(|| "FAILED".into()),
            extensions: ext.as_object().cloned().unwrap_or_default(),
            nested_results: nested,
            timings: Timings::default(),
        }
    }

    fn meta() -> RequestMeta {
        RequestMeta {
            trace_id: "t".into(),
            timestamp: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn go_dn_drops_the_space_after_rdn_separators_only() {
        assert_eq!(
            go_dn("CN=Signer, O=Acme\\, Inc., ST=WA, C=US"),
            "CN=Signer,O=Acme\\, Inc.,ST=WA,C=US"
        );
        assert_eq!(go_dn("CN=a\\\\, O=b"), "CN=a\\\\,O=b");
    }

    #[test]
    fn rfc3339_nano_matches_go() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_724_857_455, 682_247_974);
        assert_eq!(rfc3339_nano(t), "2024-08-28T15:04:15.682247974Z");
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(951_782_400, 500_000_000);
        assert_eq!(rfc3339_nano(t), "2000-02-29T00:00:00.5Z");
        assert_eq!(rfc3339_nano(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn trace_ids_are_uuid_v4() {
        let a = new_trace_id();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_ne!(a, new_trace_id());
    }

    #[test]
    fn config_shape_names_types_and_omits_empty_fields() {
        let sig = report(
            "notation",
            "notation",
            true,
            json!({"Issuer": "CN=CA, O=Acme", "SN": "CN=s, O=Acme"}),
            vec![],
        );
        let sbom = report(
            "sbom",
            "sbom",
            true,
            json!({}),
            vec![report("notation", "notation", true, json!({}), vec![])],
        );
        let vuln = report(
            "vulnerabilityreport",
            "vuln",
            false,
            json!({"created": "2026-01-01T00:00:00Z", "deniedCVEs": [
                {"id": "CVE-1", "reason": "severity HIGH ≥ denySeverity high"},
                {"id": "CVE-2", "reason": "listed in denyCVEs"}]}),
            vec![],
        );
        let s = SubjectReport {
            subject: "reg/app:1".into(),
            digest: Some("sha256:11".into()),
            is_success: false,
            message: "m".into(),
            verifier_reports: vec![sig, sbom, vuln],
            timings: Timings::default(),
            cached: false,
        };
        let v = config_response(&s, &meta());
        assert_eq!(v["version"], "0.2.0");
        assert_eq!(v["traceID"], "t");
        assert_eq!(v["timestamp"], "2026-01-01T00:00:00Z");
        let r = &v["verifierReports"];
        assert_eq!(r[0]["name"], "notation");
        assert_eq!(r[0]["type"], "notation");
        assert_eq!(r[0]["verifierType"], "notation");
        assert_eq!(r[0]["extensions"]["Issuer"], "CN=CA,O=Acme");
        assert_eq!(r[0]["extensions"]["SN"], "CN=s,O=Acme");
        assert!(r[0].get("errorReason").is_none() && r[0].get("nestedResults").is_none());
        assert!(r[1].get("extensions").is_none());
        assert_eq!(r[1]["nestedResults"][0]["type"], "notation");
        assert_eq!(r[1]["isSuccess"], true);
        assert_eq!(r[2]["type"], "vulnerabilityreport");
        assert_eq!(r[2]["extensions"]["createdAt"], "2026-01-01T00:00:00Z");
        assert_eq!(r[2]["extensions"]["severityViolations"]["CVE-1"], "high");
        assert_eq!(r[2]["extensions"]["cveViolations"], json!(["cve-2"]));
        assert_eq!(no_verifier_report(&s), None);

        let empty = SubjectReport {
            verifier_reports: vec![],
            ..s
        };
        assert!(
            config_response(&empty, &meta())
                .get("verifierReports")
                .is_none()
        );
        assert!(
            no_verifier_report(&empty)
                .unwrap()
                .starts_with(NO_VERIFIER_REPORT)
        );
    }

    #[test]
    fn a_failed_nested_result_fails_its_parent_as_in_ratify() {
        let sbom = report(
            "sbom",
            "sbom",
            true,
            json!({}),
            vec![report("notation", "notation", false, json!({}), vec![])],
        );
        let v = verifier_result(&sbom);
        assert_eq!(v["isSuccess"], false);
        assert_eq!(v["message"], NESTED_FAILED);
        assert_eq!(v["nestedResults"][0]["isSuccess"], false);
    }

    #[test]
    fn rego_shape_groups_reports_per_artifact() {
        let nested = vec![report("notation", "notation", true, json!({}), vec![])];
        let reports = vec![
            report("sbom", "sbom", true, json!({}), nested.clone()),
            report("schema", "schema", true, json!({}), nested),
        ];
        let input = rego_input(&reports);
        let top = &input["verifierReports"];
        assert_eq!(top.as_array().unwrap().len(), 1);
        assert_eq!(top[0]["verifierReports"].as_array().unwrap().len(), 2);
        assert_eq!(top[0]["verifierReports"][1]["type"], "schemavalidator");
        assert_eq!(top[0]["verifierReports"][0]["extensions"], Value::Null);
        assert_eq!(top[0]["nestedReports"][0]["nestedReports"], json!([]));
        assert_eq!(rego_input(&[])["verifierReports"], json!([]));
    }
}
