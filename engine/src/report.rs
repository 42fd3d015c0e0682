//! The verification report: JSON compatible with Ratify's v1 response (`isSuccess`,
//! `verifierReports[]` with `nestedResults`), plus Vouch's additions (`timings`, `cached`,
//! `digest`, `message`), and a human-readable tree. This is the CLI's JSON; the server sends
//! Ratify's exact shapes, built by [`ratify`].

pub mod ratify;
pub mod vsa;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `errorReason` of a verification cancelled because the request deadline passed.
pub const DEADLINE_EXCEEDED: &str = "deadline_exceeded";
/// `errorReason` of a store read (resolve, referrers) that failed.
pub const STORE_ERROR: &str = "store_error";
/// `errorReason` of a referrer whose manifest's `subject` is not the node it was listed under
/// (or that is listed under two nodes).
pub const REFERRER_SUBJECT_MISMATCH: &str = "REFERRER_SUBJECT_MISMATCH";
/// `errorReason` of a referrer listed under itself or one of its ancestors.
pub const REFERRER_CYCLE: &str = "REFERRER_CYCLE";
/// `errorReason` of a subject whose referrer graph went over a per-subject cap
/// (`executor.maxReferrersPerNode`, `maxNodesPerSubject`, `maxVerifierCallsPerSubject`,
/// `maxBytesPerSubject`).
pub const WALK_LIMIT_EXCEEDED: &str = "WALK_LIMIT_EXCEEDED";
/// `verifierName` of reports the executor itself produces (store failures while walking).
pub const EXECUTOR_NAME: &str = "vouch";

/// Counts the bytes written to it (to size a value's JSON without building it).
struct ByteCounter(u64);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where the time went, in milliseconds (fractional).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Wall-clock time.
    pub total_ms: f64,
    /// Time spent reading the store (resolve, referrers, and the guests' store calls).
    pub store_ms: f64,
    /// Time spent in verifier calls, excluding their store calls.
    pub guest_ms: f64,
}

impl Timings {
    /// Timings from durations.
    pub fn new(total: Duration, store: Duration, guest: Duration) -> Timings {
        Timings {
            total_ms: ms(total),
            store_ms: ms(store),
            guest_ms: ms(guest),
        }
    }
}

/// A duration in milliseconds, rounded to the microsecond.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// One verifier's judgement of one referrer (Ratify's `verifierReports[]` entry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifierReport {
    /// The subject the referrer refers to (`name@digest`, or the reference as given at the top).
    pub subject: String,
    /// Whether the referrer passed this verifier.
    pub is_success: bool,
    /// The verifier's configured name (Ratify's legacy field).
    pub name: String,
    /// The verifier's configured name.
    pub verifier_name: String,
    /// The name the verifier module gives itself (its `metadata`).
    pub verifier_type: String,
    /// Artifact type of the referrer.
    pub artifact_type: String,
    /// Digest of the referrer manifest.
    pub reference_digest: String,
    /// What the verifier said.
    pub message: String,
    /// Machine-readable failure reason (`None` on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// Verifier-specific details.
    #[serde(default)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
    /// Reports of the referrer's own referrers (the referrer as the subject of a nested pass).
    #[serde(default)]
    pub nested_results: Vec<VerifierReport>,
    /// Call duration and its split between store reads and guest execution.
    pub timings: Timings,
}

impl VerifierReport {
    /// Whether this report and every nested one succeeded.
    pub fn all_successful(&self) -> bool {
        self.is_success
            && self
                .nested_results
                .iter()
                .all(VerifierReport::all_successful)
    }

    /// Whether this report or a nested one has `errorReason` `reason`.
    pub fn any_reason(&self, reason: &str) -> bool {
        self.error_reason.as_deref() == Some(reason)
            || self.nested_results.iter().any(|r| r.any_reason(reason))
    }
}

/// The verdict for one subject (Ratify's response object, plus Vouch's fields).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectReport {
    /// The subject reference as given.
    pub subject: String,
    /// The resolved subject digest (`None` when it could not be resolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The subject's verdict.
    pub is_success: bool,
    /// Why the subject passed or failed.
    pub message: String,
    /// One entry per (referrer, verifier) pair.
    pub verifier_reports: Vec<VerifierReport>,
    /// Where this request's time went.
    pub timings: Timings,
    /// Whether the verdict came from the result cache (or an identical in-flight request).
    pub cached: bool,
}

impl SubjectReport {
    /// Size of its JSON in bytes, counted without building it (what a cached copy weighs).
    pub fn json_size(&self) -> u64 {
        let mut counter = ByteCounter(0);
        // Writing to a counter cannot fail, and every field serializes.
        let _ = serde_json::to_writer(&mut counter, self);
        counter.0
    }
}

/// A subject's report with the trace id of the request (server) or command (CLI) that produced
/// it: `traceID` first, then the report's fields. The same id is the `trace_id` field of the
/// request's log span, so a report can be matched to its log lines. Not part of
/// [`SubjectReport`], which is cached and shared between requests.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TracedReport<'a> {
    /// The request's (or command's) trace id.
    #[serde(rename = "traceID")]
    pub trace_id: &'a str,
    /// The report.
    #[serde(flatten)]
    pub report: &'a SubjectReport,
}

/// The subject-level decision: every verifier report (nested included) successful and at least
/// one referrer verified. The decision of the default policy (no policy configured).
pub fn decide(reports: &[VerifierReport]) -> (bool, String) {
    if reports.is_empty() {
        return (
            false,
            "no referrers were verified: the subject has no referrers (signatures, SBOMs, ...) \
             that a configured verifier handles"
                .to_owned(),
        );
    }
    let mut total = 0usize;
    let mut failed = Vec::new();
    fn walk<'a>(r: &'a [VerifierReport], total: &mut usize, failed: &mut Vec<&'a VerifierReport>) {
        for v in r {
            *total += 1;
            if !v.is_success {
                failed.push(v);
            }
            walk(&v.nested_results, total, failed);
        }
    }
    walk(reports, &mut total, &mut failed);
    if failed.is_empty() {
        return (true, format!("all {total} verifier reports passed"));
    }
    let names: Vec<String> = failed
        .iter()
        .map(|f| {
            format!(
                "{} on {} ({})",
                f.verifier_name,
                short(&f.reference_digest),
                f.error_reason.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    (
        false,
        format!(
            "{} of {total} verifier reports failed: {}",
            failed.len(),
            names.join(", ")
        ),
    )
}

/// `sha256:0123456789ab` from a full digest.
pub fn short(digest: &str) -> &str {
    match digest.split_once(':') {
        Some((alg, hex)) => &digest[..alg.len() + 1 + hex.len().min(12)],
        None => digest,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A verifier report for tests: `ok` or failed with `CHECK_FAILED`, with `nested` under it.
    pub(crate) fn report(digest: &str, ok: bool, nested: Vec<VerifierReport>) -> VerifierReport {
        VerifierReport {
            subject: "s".into(),
            is_success: ok,
            name: "v".into(),
            verifier_name: "v".into(),
            verifier_type: "noop".into(),
            artifact_type: "application/x".into(),
            reference_digest: digest.into(),
            message: if ok {
                "ok".into()
            } else {
                "bad\nsecond line".into()
            },
            error_reason: (!ok).then(|| "CHECK_FAILED".into()),
            extensions: Default::default(),
            nested_results: nested,
            timings: Timings::default(),
        }
    }

    #[test]
    fn decide_requires_a_referrer() {
        let (ok, msg) = decide(&[]);
        assert!(!ok);
        assert!(msg.contains("no referrers"), "{msg}");
    }

    #[test]
    fn decide_passes_when_all_pass_and_fails_on_a_nested_failure() {
        let (ok, msg) = decide(&[report(
            "sha256:aa",
            true,
            vec![report("sha256:bb", true, vec![])],
        )]);
        assert!(ok, "{msg}");
        assert_eq!(msg, "all 2 verifier reports passed");
        let (ok, msg) = decide(&[report(
            "sha256:aa",
            true,
            vec![report("sha256:bb", false, vec![])],
        )]);
        assert!(!ok);
        assert!(msg.contains("1 of 2") && msg.contains("sha256:bb"), "{msg}");
    }

    #[test]
    fn json_size_is_the_length_of_the_json() {
        let subject = SubjectReport {
            subject: "reg/app:v1".into(),
            digest: Some("sha256:aa".into()),
            is_success: false,
            message: "why".into(),
            verifier_reports: vec![report(
                "sha256:aa",
                true,
                vec![report("sha256:bb", false, vec![])],
            )],
            timings: Timings::default(),
            cached: false,
        };
        assert_eq!(
            subject.json_size(),
            serde_json::to_vec(&subject).unwrap().len() as u64
        );
    }

    #[test]
    fn json_uses_ratify_field_names() {
        let v = serde_json::to_value(report("sha256:aa", false, vec![])).unwrap();
        for key in [
            "subject",
            "isSuccess",
            "name",
            "verifierName",
            "artifactType",
            "referenceDigest",
            "message",
            "errorReason",
            "extensions",
            "nestedResults",
            "timings",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert!(v["timings"].get("guestMs").is_some());
    }

    #[test]
    fn ms_keeps_microseconds() {
        assert_eq!(ms(Duration::from_micros(1500)), 1.5);
    }
}
