//! Rollout modes: whether a failed verdict denies admission (`enforce`, the default), is
//! answered as a warning with admission allowed (`warn`), or is only recorded in metrics and
//! logs (`audit`). Per tenant (its `executor` section) and per image scope:
//!
//! ```yaml
//! executor:
//!   mode: enforce                      # the tenant's default
//!   modeScopes:                        # first match wins
//!     - name: registry-b               # the metrics' `scope` label
//!       imageReferences: ["registry-b.example/**"]
//!       mode: warn
//!     - name: legacy
//!       imageReferences: ["registry-a.example/legacy/**"]
//!       mode: audit
//! ```
//!
//! Modes soften *verdicts*: a subject that failed verification (or could not be resolved). They
//! never change the verdict itself (`vouch verify`, the report, the result cache are the same),
//! and they do not soften refusals of the request (over quota, deadline of the whole request,
//! malformed request): those stay errors.

use serde::{Deserialize, Serialize};

use super::ImageNames;

/// What a failed verdict does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny admission.
    #[default]
    Enforce,
    /// Allow admission; the answer carries the failure as a warning.
    Warn,
    /// Allow admission silently; the failure is in metrics and logs only.
    Audit,
}

impl Mode {
    /// `enforce`, `warn` or `audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        }
    }
}

/// One `executor.modeScopes` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModeScope {
    /// Its name (the metrics' `scope` label; unique in the list, not `default`).
    pub name: String,
    /// Image reference globs it covers (see [`super`]).
    pub image_references: Vec<String>,
    /// The mode of the images it covers.
    pub mode: Mode,
}

/// The label of images no mode scope covers.
pub const DEFAULT_SCOPE: &str = "default";

/// Check a `modeScopes` list; the error names the field (relative to `executor.`).
pub fn validate(scopes: &[ModeScope]) -> Result<(), (String, String)> {
    let mut names = std::collections::HashSet::new();
    for (i, s) in scopes.iter().enumerate() {
        let at = |f: &str| format!("modeScopes[{i}].{f}");
        let valid = !s.name.is_empty()
            && s.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err((
                at("name"),
                format!(
                    "`{}` must be letters, digits, `-`, `_` or `.` (it labels metrics)",
                    s.name
                ),
            ));
        }
        if s.name == DEFAULT_SCOPE {
            return Err((
                at("name"),
                format!("`{DEFAULT_SCOPE}` labels images no scope covers; pick another name"),
            ));
        }
        if !names.insert(s.name.as_str()) {
            return Err((at("name"), format!("duplicate scope name `{}`", s.name)));
        }
        super::validate(&s.image_references, false)
            .map_err(|e| (at("imageReferences"), e.to_string()))?;
    }
    Ok(())
}

/// The mode of one image and the scope that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enforcement {
    /// The mode.
    pub mode: Mode,
    /// The deciding `modeScopes` entry's name, or [`DEFAULT_SCOPE`].
    pub scope: String,
}

/// The mode of the image `names`: the first `scopes` entry matching it, else `default`.
pub fn enforcement(default: Mode, scopes: &[ModeScope], names: &ImageNames) -> Enforcement {
    scopes
        .iter()
        .find(|s| names.first_match(&s.image_references).is_some())
        .map_or_else(
            || Enforcement {
                mode: default,
                scope: DEFAULT_SCOPE.to_owned(),
            },
            |s| Enforcement {
                mode: s.mode,
                scope: s.name.clone(),
            },
        )
}

/// How a verdict is counted and answered under its mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Verified.
    Pass,
    /// Failed, admission denied (`enforce`).
    Fail,
    /// Failed, admission allowed with a warning (`warn`).
    Warn,
    /// Failed, admission allowed silently (`audit`).
    Audit,
}

impl Outcome {
    /// The outcome of a verdict `passed` under `mode`.
    pub fn of(passed: bool, mode: Mode) -> Outcome {
        match (passed, mode) {
            (true, _) => Outcome::Pass,
            (false, Mode::Enforce) => Outcome::Fail,
            (false, Mode::Warn) => Outcome::Warn,
            (false, Mode::Audit) => Outcome::Audit,
        }
    }

    /// The metrics label: `pass`, `fail`, `warn`, `audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Audit => "audit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes() -> Vec<ModeScope> {
        serde_json::from_value(serde_json::json!([
            {"name": "b", "imageReferences": ["reg-b.example/**"], "mode": "warn"},
            {"name": "legacy", "imageReferences": ["reg-a.example/legacy/**"], "mode": "audit"},
            {"name": "all-a", "imageReferences": ["reg-a.example/**"], "mode": "enforce"},
        ]))
        .unwrap()
    }

    #[test]
    fn the_first_matching_scope_decides_else_the_default() {
        let s = scopes();
        let e = |r: &str| enforcement(Mode::Warn, &s, &ImageNames::of(r, false));
        assert_eq!(e("reg-b.example/app:v1").mode, Mode::Warn);
        assert_eq!(e("reg-a.example/legacy/app:v1").scope, "legacy");
        assert_eq!(e("reg-a.example/legacy/app:v1").mode, Mode::Audit);
        assert_eq!(e("reg-a.example/app:v1").mode, Mode::Enforce);
        assert_eq!(
            e("reg-c.example/app:v1"),
            Enforcement {
                mode: Mode::Warn,
                scope: DEFAULT_SCOPE.into()
            }
        );
    }

    #[test]
    fn outcomes() {
        assert_eq!(Outcome::of(true, Mode::Audit), Outcome::Pass);
        assert_eq!(Outcome::of(false, Mode::Enforce).as_str(), "fail");
        assert_eq!(Outcome::of(false, Mode::Warn).as_str(), "warn");
        assert_eq!(Outcome::of(false, Mode::Audit).as_str(), "audit");
    }

    #[test]
    fn scope_lists_are_validated() {
        assert!(validate(&scopes()).is_ok());
        let mut s = scopes();
        s[1].name = "b".into();
        assert!(validate(&s).unwrap_err().1.contains("duplicate"));
        let mut s = scopes();
        s[0].name = "default".into();
        assert!(validate(&s).unwrap_err().1.contains("pick another name"));
        let mut s = scopes();
        s[0].name = "a b".into();
        assert_eq!(validate(&s).unwrap_err().0, "modeScopes[0].name");
        let mut s = scopes();
        s[2].image_references.clear();
        assert_eq!(validate(&s).unwrap_err().0, "modeScopes[2].imageReferences");
        assert!(
            serde_json::from_value::<ModeScope>(serde_json::json!(
                {"name": "x", "imageReferences": ["r/**"], "mode": "dry-run"}
            ))
            .is_err()
        );
    }
}
