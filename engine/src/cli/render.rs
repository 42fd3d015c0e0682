//! Terminal rendering of reports and referrer graphs: the trees `vouch verify` and
//! `vouch discover` print.

use std::fmt::Write as _;

use crate::executor::ReferrerNode;
use crate::oci::Digest;
use crate::report::{SubjectReport, VerifierReport, short};

/// Render a subject report as a tree: the subject, then each referrer with ✓/✗ per verifier.
pub fn render_tree(report: &SubjectReport) -> String {
    let mut out = String::new();
    let mark = if report.is_success { "✓" } else { "✗" };
    let _ = write!(out, "{mark} {}", report.subject);
    if let Some(d) = &report.digest {
        let _ = write!(out, " ({})", short(d));
    }
    let cached = if report.cached { ", cached" } else { "" };
    let _ = writeln!(out, " [{:.1} ms{cached}]", report.timings.total_ms);
    let _ = writeln!(out, "  {}", report.message);
    render_reports(&mut out, &report.verifier_reports, "");
    out
}

fn render_reports(out: &mut String, reports: &[VerifierReport], indent: &str) {
    // Group consecutive reports of the same referrer under one node.
    let mut groups: Vec<(&str, &str, Vec<&VerifierReport>)> = Vec::new();
    for r in reports {
        match groups.last_mut() {
            Some((d, _, list)) if *d == r.reference_digest => list.push(r),
            _ => groups.push((&r.reference_digest, &r.artifact_type, vec![r])),
        }
    }
    for (i, (digest, artifact_type, list)) in groups.iter().enumerate() {
        let last = i + 1 == groups.len();
        let (branch, cont) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let _ = writeln!(out, "{indent}{branch}{artifact_type} {}", short(digest));
        let child = format!("{indent}{cont}");
        for r in list {
            let mark = if r.is_success { "✓" } else { "✗" };
            let reason = r
                .error_reason
                .as_deref()
                .map(|e| format!(" [{e}]"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{child}{mark} {}: {}{reason} ({:.1} ms)",
                r.verifier_name,
                one_line(&r.message),
                r.timings.total_ms
            );
            if let Some(line) = attestation_line(r) {
                let _ = writeln!(out, "{child}  {line}");
            }
        }
        // Nested results are the same for every verifier of this referrer; show them once.
        if let Some(first) = list.iter().find(|r| !r.nested_results.is_empty()) {
            render_reports(out, &first.nested_results, &child);
        }
    }
}

/// For an attestation report (one naming a `predicateType`): `attestation <predicateType>`,
/// with the number of the statement's subjects when the verified statement was handed on.
fn attestation_line(r: &VerifierReport) -> Option<String> {
    let predicate_type = r.extensions.get("predicateType")?.as_str()?;
    let subjects = r
        .extensions
        .get("statement")
        .and_then(|s| s.get("subject"))
        .and_then(serde_json::Value::as_array)
        .map(|s| {
            format!(
                " ({} subject{})",
                s.len(),
                if s.len() == 1 { "" } else { "s" }
            )
        })
        .unwrap_or_default();
    Some(format!(
        "attestation {}{subjects}",
        one_line(predicate_type)
    ))
}

/// The first line of `s`, at most 200 characters.
fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 200 {
        let cut: String = line.chars().take(200).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

/// Render a referrer graph as an indented tree under `root`.
pub fn render_discovery(root: &str, digest: &Digest, nodes: &[ReferrerNode]) -> String {
    fn walk(out: &mut String, nodes: &[ReferrerNode], indent: &str) {
        for (i, n) in nodes.iter().enumerate() {
            let last = i + 1 == nodes.len();
            let (branch, cont) = if last {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            let at = n
                .descriptor
                .artifact_type
                .as_deref()
                .unwrap_or(&n.descriptor.media_type);
            // cosign's tag-stored artifacts say where they were found (tag, other repository).
            let origin = n
                .descriptor
                .cosign_tag_origin()
                .map_or_else(String::new, |o| format!(" ({o})"));
            out.push_str(&format!(
                "{indent}{branch}{at} {}{origin}\n",
                n.descriptor.digest
            ));
            walk(out, &n.referrers, &format!("{indent}{cont}"));
        }
    }
    let mut out = format!("{root} ({digest})\n");
    if nodes.is_empty() {
        out.push_str("└── (no referrers)\n");
    }
    walk(&mut out, nodes, "");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Descriptor;
    use crate::report::Timings;
    use crate::report::tests::report;

    /// An attestation's report shows its predicate type (and subjects) under the verifier line.
    #[test]
    fn tree_shows_an_attestations_predicate_type() {
        let mut r = report("sha256:aa", true, vec![]);
        r.extensions.insert(
            "predicateType".into(),
            "https://slsa.dev/provenance/v1".into(),
        );
        r.extensions.insert(
            "statement".into(),
            serde_json::json!({"subject": [{"name": "a"}, {"name": "b"}]}),
        );
        let s = SubjectReport {
            subject: "dir:v1".into(),
            digest: None,
            is_success: true,
            message: "builder allowed".into(),
            verifier_reports: vec![r, report("sha256:bb", true, vec![])],
            timings: Timings::default(),
            cached: false,
        };
        let t = render_tree(&s);
        assert!(
            t.contains(
                "├── application/x sha256:aa\n│   ✓ v: ok (0.0 ms)\n│     attestation \
                 https://slsa.dev/provenance/v1 (2 subjects)\n└──"
            ),
            "{t}"
        );
        assert_eq!(t.matches("attestation").count(), 1, "{t}");
        assert!(t.contains("\n  builder allowed\n"), "{t}");
    }

    #[test]
    fn tree_shows_marks_and_nesting() {
        let s = SubjectReport {
            subject: "dir:v1".into(),
            digest: Some("sha256:0123456789abcdef".into()),
            is_success: false,
            message: "m".into(),
            verifier_reports: vec![report(
                "sha256:aa",
                true,
                vec![report("sha256:bb", false, vec![])],
            )],
            timings: Timings::default(),
            cached: true,
        };
        let t = render_tree(&s);
        assert!(
            t.starts_with("✗ dir:v1 (sha256:0123456789ab) [0.0 ms, cached]"),
            "{t}"
        );
        assert!(
            t.contains("└── application/x sha256:aa\n    ✓ v: ok"),
            "{t}"
        );
        assert!(
            t.contains("    └── application/x sha256:bb\n        ✗ v: bad [CHECK_FAILED]"),
            "{t}"
        );
    }

    #[test]
    fn discovery_tree_renders_nesting() {
        let leaf = Descriptor::for_content("application/vnd.oci.image.manifest.v1+json", b"b");
        let mut mid = Descriptor::for_content("application/vnd.oci.image.manifest.v1+json", b"a");
        mid.artifact_type = Some("application/spdx+json".into());
        let nodes = vec![ReferrerNode {
            descriptor: mid.clone(),
            referrers: vec![ReferrerNode {
                descriptor: leaf.clone(),
                referrers: vec![],
            }],
        }];
        let root = Digest::sha256_of(b"root");
        let t = render_discovery("dir:v1", &root, &nodes);
        assert!(t.contains(&format!("└── application/spdx+json {}\n    └── application/vnd.oci.image.manifest.v1+json {}", mid.digest, leaf.digest)), "{t}");
        assert!(render_discovery("x", &root, &[]).contains("no referrers"));
    }
}
