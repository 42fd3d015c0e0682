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

/// The rule deciding the verdict.
pub const ALLOW_RULE: &str = "data.vouch.allow";
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
    fingerprint: String,
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoPolicy")
            .field("has_reasons", &self.has_reasons)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl RegoPolicy {
    /// Parse `text` (named `origin` in errors), check it declares `data.vouch.allow`, and
    /// evaluate it once against an empty input.
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
        engine
            .add_policy(origin.to_owned(), text.to_owned())
            .map_err(|e| err(format!("does not parse: {e}")))?;
        let packages = engine
            .get_packages()
            .map_err(|e| err(format!("cannot list its packages: {e}")))?;
        if packages.iter().all(|p| p != "data.vouch") {
            return Err(err(format!(
                "it must be `package vouch` and define `{ALLOW_RULE}`; it declares {}",
                packages.join(", ")
            )));
        }
        // Rule selectors are relative to the module's package.
        let declares = |engine: &Engine, rule: &str| {
            engine
                .has_declared_rule_rooted_at(origin, rule)
                .map_err(|e| err(format!("cannot inspect its rules: {e}")))
        };
        if !declares(&engine, "allow")? {
            return Err(err(format!(
                "it does not define `{ALLOW_RULE}` (an `allow` rule in `package vouch`)"
            )));
        }
        let has_reasons = declares(&engine, "reasons")?;
        let policy = RegoPolicy {
            engine,
            has_reasons,
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

    /// Evaluate on a clone of the prepared engine; returns the clone (prepared) and the result.
    fn evaluate(&self, input: &PolicyInput<'_>) -> (Engine, Result<(bool, Vec<String>), String>) {
        let mut engine = self.engine.clone();
        let result = (|| {
            let json =
                serde_json::to_value(input).map_err(|e| format!("cannot encode the input: {e}"))?;
            engine.set_input(Value::from(json));
            let allow = match engine
                .eval_rule(ALLOW_RULE.to_owned())
                .map_err(|e| format!("evaluating `{ALLOW_RULE}`: {e}"))?
            {
                Value::Bool(b) => b,
                Value::Undefined => false,
                other => {
                    return Err(format!(
                        "`{ALLOW_RULE}` must be a boolean, not {}",
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
                let message = if !reasons.is_empty() {
                    reasons.join("; ")
                } else if allow {
                    format!("the Rego policy allowed the subject (`{ALLOW_RULE}` is true)")
                } else {
                    format!(
                        "the Rego policy denied the subject (`{ALLOW_RULE}` is false or undefined)"
                    )
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
