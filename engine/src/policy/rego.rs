//! A Rego policy evaluated by regorus.
//!
//! The policy is `package vouch` and defines `allow` (a boolean; undefined counts as `false`)
//! and optionally `reasons` (a set or array of strings, joined into the verdict's message). Its
//! `input` is [`PolicyInput`] as JSON, the shape of Ratify's report:
//!
//! ```rego
//! package vouch
//!
//! default allow := false
//! allow if {
//!     some r in input.verifierReports
//!     r.artifactType == "application/vnd.cncf.notary.signature"
//!     r.isSuccess
//! }
//! reasons contains sprintf("%s failed on %s", [r.verifierName, r.referenceDigest]) if {
//!     some r in input.verifierReports
//!     not r.isSuccess
//! }
//! ```
//!
//! # Ratify mode
//!
//! A policy written for Ratify runs unchanged: `package ratify.policy` defining `valid`, parsed as
//! Ratify's embedded OPA (v0.x) parses it (Rego v0 syntax; `import future.keywords…` and
//! `import rego.v1` work), with Ratify's input: `{"verifierReports": [NestedVerifierReport]}`, the
//! reports grouped per artifact with their `nestedReports`, as
//! [`crate::report::ratify::rego_input`] builds it. `valid` undefined counts as `false`.
//!
//! ```rego
//! package ratify.policy
//!
//! default valid := false
//! valid {
//!   not failed_verify(input)
//! }
//! failed_verify(reports) {
//!   [path, value] := walk(reports)
//!   value == false
//!   path[count(path) - 1] == "isSuccess"
//! }
//! ```
//!
//! The policy is parsed, checked and evaluated once against an empty input when it is built, so
//! parse errors, a missing `allow` rule or a type error are configuration errors. The prepared
//! engine is then cloned per decision (regorus engines share the parsed modules; the clone is
//! cheap) and evaluated under [`EVAL_TIME_LIMIT`]; an evaluation error is a deny verdict naming it.

use std::num::NonZeroU32;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};
use sha2::Digest as _;

use super::{Policy, PolicyError, PolicyInput, Verdict};
use crate::report::ratify;

/// The rule deciding the verdict.
pub const ALLOW_RULE: &str = "data.vouch.allow";
/// The rule deciding the verdict of a Ratify policy (`package ratify.policy`).
pub const RATIFY_RULE: &str = "data.ratify.policy.valid";
/// The package of a Ratify policy.
pub const RATIFY_PACKAGE: &str = "ratify.policy";

/// Which package convention a policy follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `package vouch`: `allow`, optional `reasons`, Vouch's report as input.
    Vouch,
    /// `package ratify.policy`: `valid`, Ratify's nested reports as input, Rego v0 syntax.
    Ratify,
}

/// `[path, value] := walk(x)` (or `=`) rewritten as `walk(x, [path, value])`, line by line.
///
/// OPA accepts both forms; regorus 0.14 enumerates `walk` only in the output-argument form (the
/// assignment form binds nothing, so a rule built on it is silently undefined). Ratify's
/// documented policies and its nested-validation template use the assignment form, so Ratify
/// policies are normalized before parsing. A line is rewritten only when the left side is a
/// two-variable array and the call's parentheses close on the same line; the meaning is the same
/// (the two variables are fresh in both forms).
pub fn normalize_walk(text: &str) -> std::borrow::Cow<'_, str> {
    fn ident(s: &str) -> bool {
        let mut c = s.chars();
        matches!(c.next(), Some(f) if f == '_' || f.is_ascii_alphabetic())
            && c.all(|c| c == '_' || c.is_ascii_alphanumeric())
    }
    fn rewrite(line: &str) -> Option<String> {
        let at = line.find("walk(")?;
        let before = line[..at].trim_end();
        let lhs = before
            .strip_suffix(":=")
            .or_else(|| before.strip_suffix('='))?
            .trim_end();
        let open = lhs.rfind('[')?;
        let vars = lhs[open..].strip_prefix('[')?.strip_suffix(']')?;
        let (a, b) = vars.split_once(',')?;
        let (a, b) = (a.trim(), b.trim());
        if !ident(a) || !ident(b) {
            return None;
        }
        let args_start = at + "walk(".len();
        let mut depth = 1usize;
        let mut end = None;
        for (i, c) in line[args_start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(args_start + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end?;
        let arg = &line[args_start..end];
        Some(format!(
            "{}walk({arg}, [{a}, {b}]){}",
            &line[..open],
            &line[end + 1..]
        ))
    }
    if !text.contains("walk(") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        match rewrite(line) {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The package a module declares (its first `package` line), if any.
fn declared_package(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|l| l.strip_prefix("package "))
        .map(str::trim)
}
/// The optional rule giving the verdict's reasons.
pub const REASONS_RULE: &str = "data.vouch.reasons";
/// Longest one evaluation may run before it is stopped (and the subject denied).
pub const EVAL_TIME_LIMIT: Duration = Duration::from_millis(250);

/// A compiled Rego policy (see the module docs).
#[derive(Clone)]
pub struct RegoPolicy {
    /// Parsed, prepared engine; cloned per decision.
    engine: Engine,
    /// Whether the policy declares `reasons`.
    has_reasons: bool,
    /// `package vouch` or `package ratify.policy`.
    mode: Mode,
    fingerprint: String,
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoPolicy")
            .field("has_reasons", &self.has_reasons)
            .field("mode", &self.mode)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl RegoPolicy {
    /// Parse `text` (named `origin` in errors), check it declares `data.vouch.allow` (or, as
    /// `package ratify.policy`, `data.ratify.policy.valid`), and evaluate it once against an
    /// empty input.
    pub fn new(origin: &str, text: &str) -> Result<RegoPolicy, PolicyError> {
        let err = |message: String| PolicyError::Rego {
            origin: origin.to_owned(),
            message,
        };
        let mut engine = Engine::new();
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: EVAL_TIME_LIMIT,
            check_interval: NonZeroU32::new(64).expect("non-zero"),
        });
        let (mode, source) = if declared_package(text) == Some(RATIFY_PACKAGE) {
            // Ratify evaluates with OPA v0.x: Rego v0 syntax unless the module imports rego.v1.
            engine.set_rego_v0(true);
            (Mode::Ratify, normalize_walk(text).into_owned())
        } else {
            (Mode::Vouch, text.to_owned())
        };
        engine
            .add_policy(origin.to_owned(), source)
            .map_err(|e| err(format!("does not parse: {e}")))?;
        let packages = engine
            .get_packages()
            .map_err(|e| err(format!("cannot list its packages: {e}")))?;
        let wanted = match mode {
            Mode::Vouch => "data.vouch",
            Mode::Ratify => "data.ratify.policy",
        };
        if packages.iter().all(|p| p != wanted) {
            return Err(err(format!(
                "it must be `package vouch` and define `{ALLOW_RULE}`, or `package \
                 {RATIFY_PACKAGE}` and define `{RATIFY_RULE}`; it declares {}",
                packages.join(", ")
            )));
        }
        // Rule selectors are relative to the module's package.
        let declares = |engine: &Engine, rule: &str| {
            engine
                .has_declared_rule_rooted_at(origin, rule)
                .map_err(|e| err(format!("cannot inspect its rules: {e}")))
        };
        let has_reasons = match mode {
            Mode::Vouch => {
                if !declares(&engine, "allow")? {
                    return Err(err(format!(
                        "it does not define `{ALLOW_RULE}` (an `allow` rule in `package vouch`)"
                    )));
                }
                declares(&engine, "reasons")?
            }
            Mode::Ratify => {
                if !declares(&engine, "valid")? {
                    return Err(err(format!(
                        "it does not define `{RATIFY_RULE}` (a `valid` rule in `package \
                         {RATIFY_PACKAGE}`)"
                    )));
                }
                false
            }
        };
        let policy = RegoPolicy {
            engine,
            has_reasons,
            mode,
            fingerprint: format!(
                "rego:sha256:{}",
                hex::encode(sha2::Sha256::digest(text.as_bytes()))
            ),
        };
        // Surface evaluation errors now, and leave the engine prepared for the clones.
        let mut policy = policy;
        let empty = PolicyInput {
            subject: "",
            digest: None,
            verifier_reports: &[],
        };
        let (engine, result) = policy.evaluate(&empty);
        result.map_err(|e| err(format!("fails on an empty input: {e}")))?;
        policy.engine = engine;
        Ok(policy)
    }

    /// The rule deciding the verdict.
    fn rule(&self) -> &'static str {
        match self.mode {
            Mode::Vouch => ALLOW_RULE,
            Mode::Ratify => RATIFY_RULE,
        }
    }

    /// Evaluate on a clone of the prepared engine; returns the clone (prepared) and the result.
    fn evaluate(&self, input: &PolicyInput<'_>) -> (Engine, Result<(bool, Vec<String>), String>) {
        let mut engine = self.engine.clone();
        let rule = self.rule();
        let result = (|| {
            let json = match self.mode {
                Mode::Vouch => serde_json::to_value(input)
                    .map_err(|e| format!("cannot encode the input: {e}"))?,
                Mode::Ratify => ratify::rego_input(input.verifier_reports),
            };
            engine.set_input(Value::from(json));
            let allow = match engine
                .eval_rule(rule.to_owned())
                .map_err(|e| format!("evaluating `{rule}`: {e}"))?
            {
                Value::Bool(b) => b,
                Value::Undefined => false,
                other => {
                    return Err(format!(
                        "`{rule}` must be a boolean, not {}",
                        describe(&other)
                    ));
                }
            };
            let reasons = if self.has_reasons {
                let value = engine
                    .eval_rule(REASONS_RULE.to_owned())
                    .map_err(|e| format!("evaluating `{REASONS_RULE}`: {e}"))?;
                strings(&value).ok_or_else(|| {
                    format!(
                        "`{REASONS_RULE}` must be a set or array of strings, not {}",
                        describe(&value)
                    )
                })?
            } else {
                Vec::new()
            };
            Ok((allow, reasons))
        })();
        (engine, result)
    }
}

impl Policy for RegoPolicy {
    fn decide(&self, input: &PolicyInput<'_>) -> Verdict {
        match self.evaluate(input).1 {
            Ok((allow, reasons)) => {
                let rule = self.rule();
                let message = if !reasons.is_empty() {
                    reasons.join("; ")
                } else if allow {
                    format!("the Rego policy allowed the subject (`{rule}` is true)")
                } else {
                    format!("the Rego policy denied the subject (`{rule}` is false or undefined)")
                };
                Verdict { allow, message }
            }
            Err(e) => {
                tracing::warn!(subject = input.subject, error = %e, "Rego policy evaluation failed");
                Verdict::deny(format!("the Rego policy could not be evaluated: {e}"))
            }
        }
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn is_ratify_rego(&self) -> bool {
        self.mode == Mode::Ratify
    }
}

/// The strings of a set or array of strings (`Undefined`: none); `None` for anything else.
fn strings(value: &Value) -> Option<Vec<String>> {
    let items: Vec<&Value> = match value {
        Value::Undefined => return Some(Vec::new()),
        Value::Set(s) => s.iter().collect(),
        Value::Array(a) => a.iter().collect(),
        _ => return None,
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

/// A short description of a value for error messages.
fn describe(value: &Value) -> String {
    let json = value.to_json_str().unwrap_or_else(|_| "?".into());
    let json = json.replace('\n', " ");
    if json.chars().count() > 80 {
        format!("{}…", json.chars().take(80).collect::<String>())
    } else {
        json
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::policy::tests::{input, report};

    const SIG: &str = "application/vnd.cncf.notary.signature";

    const POLICY: &str = r#"
package vouch

default allow := false

allow if {
    some r in input.verifierReports
    r.artifactType == "application/vnd.cncf.notary.signature"
    r.isSuccess
}

reasons contains sprintf("%s failed on %s", [r.verifierName, r.referenceDigest]) if {
    some r in input.verifierReports
    not r.isSuccess
}

reasons contains "no signature verified" if not allow
"#;

    fn new(text: &str) -> Result<RegoPolicy, PolicyError> {
        RegoPolicy::new("test.rego", text)
    }

    #[test]
    fn allows_denies_and_explains() {
        let p = new(POLICY).unwrap();
        assert!(p.has_reasons);
        let ok = [report("notation", SIG, "sha256:aa", true, vec![])];
        let v = p.decide(&input(&ok));
        assert_eq!(
            v,
            Verdict::allow("the Rego policy allowed the subject (`data.vouch.allow` is true)")
        );
        let bad = [report("notation", SIG, "sha256:aa", false, vec![])];
        let v = p.decide(&input(&bad));
        assert!(!v.allow);
        assert_eq!(
            v.message,
            "no signature verified; notation failed on sha256:aa"
        );
        // One passing signature allows even with a failing one; the reasons still say why.
        let mixed = [bad[0].clone(), ok[0].clone()];
        let v = p.decide(&input(&mixed));
        assert!(v.allow);
        assert_eq!(v.message, "notation failed on sha256:aa");
    }

    #[test]
    fn the_input_has_the_report_shape() {
        let p = new(r#"package vouch
allow if {
    input.subject == "reg/app:v1"
    input.digest == "sha256:00"
    input.verifierReports[0].nestedResults[0].errorReason == "CHECK_FAILED"
}"#)
        .unwrap();
        assert!(!p.has_reasons);
        let nested = [report(
            "sbom",
            "a/sbom",
            "sha256:bb",
            true,
            vec![report("notation", SIG, "sha256:cc", false, vec![])],
        )];
        assert!(p.decide(&input(&nested)).allow);
        let v = p.decide(&input(&[]));
        assert!(!v.allow);
        assert!(v.message.contains("false or undefined"), "{}", v.message);
    }

    #[test]
    fn reasons_may_be_an_array() {
        let p = new("package vouch\nallow := false\nreasons := [\"a\", \"b\"]\n").unwrap();
        assert_eq!(p.decide(&input(&[])), Verdict::deny("a; b"));
    }

    #[test]
    fn bad_rego_is_an_error_at_build_time() {
        let e = new("package vouch\nallow if {").unwrap_err().to_string();
        assert!(
            e.contains("test.rego") && e.contains("does not parse"),
            "{e}"
        );
        let e = new("package other\nallow := true\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data.vouch.allow") && e.contains("data.other"),
            "{e}"
        );
        let e = new("package vouch\ndeny := true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.vouch.allow"), "{e}");
        let e = new("package vouch\nallow := \"yes\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty input") && e.contains("boolean"), "{e}");
        let e = new("package vouch\nallow := true\nreasons := 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data.vouch.reasons") && e.contains("strings"),
            "{e}"
        );
        // Rego v0 syntax (no `if`) is rejected: policies are Rego v1.
        assert!(new("package vouch\nallow { true }\n").is_err());
    }

    #[test]
    fn an_evaluation_error_at_request_time_is_a_deny_naming_it() {
        // Fine on the empty input, a type error once a report is there.
        let p = new("package vouch\nallow := x if { x := input.verifierReports[0].message }\n")
            .unwrap();
        let reports = [report("notation", SIG, "sha256:aa", true, vec![])];
        let v = p.decide(&input(&reports));
        assert!(!v.allow);
        assert!(
            v.message.contains("could not be evaluated") && v.message.contains("boolean"),
            "{}",
            v.message
        );
    }

    /// A policy in Ratify's documented style (`docs/reference/crds/policies.md`: "all reports MUST
    /// pass the verification", "each artifact MUST have at least one report"), Rego v0 syntax,
    /// runs unchanged on Ratify's input shape.
    const RATIFY_POLICY: &str = include_str!("../../../examples/ratify-policy.rego");

    #[test]
    fn walk_assignments_are_rewritten_to_the_output_form() {
        assert_eq!(
            normalize_walk("  [path, value] := walk(reports)\n  x := 1\n"),
            "  walk(reports, [path, value])\n  x := 1\n"
        );
        assert_eq!(
            normalize_walk("[p,v] = walk(f(a, b)) # c"),
            "walk(f(a, b), [p, v]) # c"
        );
        // Anything else is left alone.
        for keep in ["walk(x, [p, v])", "y := walk(x)", "[a.b, c] := walk(x)"] {
            assert_eq!(normalize_walk(keep), keep);
        }
    }

    #[test]
    fn a_ratify_policy_runs_unchanged() {
        let p = new(RATIFY_POLICY).unwrap();
        assert!(p.is_ratify_rego());
        let nested = |ok| {
            [report(
                "sbom",
                "application/spdx+json",
                "sha256:bb",
                true,
                vec![report("notation", SIG, "sha256:cc", ok, vec![])],
            )]
        };
        let v = p.decide(&input(&nested(true)));
        assert!(v.allow, "{}", v.message);
        assert!(v.message.contains(RATIFY_RULE), "{}", v.message);
        // A failed nested signature fails the walk.
        assert!(!p.decide(&input(&nested(false))).allow);
        // No report at all: the top-level `verifierReports` is empty.
        assert!(!p.decide(&input(&[])).allow);
        // Rego v1 policies stay `package vouch`; a Ratify policy without `valid` is refused.
        let e = new("package ratify.policy\nallow := true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(RATIFY_RULE), "{e}");
        assert!(!new(POLICY).unwrap().is_ratify_rego());
    }

    /// Cost of one decision (engine clone + input conversion + two rules), printed for the notes.
    #[test]
    fn decisions_are_cheap() {
        let p = new(POLICY).unwrap();
        let reports: Vec<_> = (0..8)
            .map(|i| {
                report(
                    "notation",
                    SIG,
                    &format!("sha256:{i:02}"),
                    i % 2 == 0,
                    vec![],
                )
            })
            .collect();
        let n = 200u32;
        let t = Instant::now();
        for _ in 0..n {
            assert!(p.decide(&input(&reports)).allow);
        }
        let per = t.elapsed() / n;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(p.engine.clone());
        }
        let clone = t.elapsed() / n;
        println!("rego decision: {per:?} per decision (8 reports), engine clone {clone:?}");
        // Generous bound (debug build, shared CI cores): catches a pathological regression only.
        assert!(per < Duration::from_millis(50), "{per:?}");
    }
}
