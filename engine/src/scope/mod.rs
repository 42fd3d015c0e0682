//! Image-scoped trust: which verifiers (and the policy) apply to which images, by reference
//! pattern; and the rollout modes per image scope ([`modes`]). On the ground floor (it reads
//! only [`crate::oci`]), so the configuration, the executor, the policy and the server share it.
//!
//! ```yaml
//! verifiers:
//!   - name: cosign-a                         # images of registry A need key K
//!     imageReferences: ["registry-a.example/**"]
//!     skipImageReferences: ["registry-a.example/sandbox/**"]
//!   - name: cosign-b                         # images of registry B need keyless identity I
//!     imageReferences: ["registry-b.example/team/*"]
//! executor:
//!   exemptImageReferences: ["registry-c.example/**"]   # images of C are exempt
//! ```
//!
//! A verifier without `imageReferences` applies to every image. With it, the verifier applies
//! to an image when one of its patterns matches and none of its `skipImageReferences` does.
//! When at least one verifier of the configuration is scoped, an image that no verifier applies
//! to **fails** (`NO_VERIFIER_APPLIES`, fail closed) unless it matches an
//! `executor.exemptImageReferences` pattern; an exempt image passes without a registry read.
//! Exemptions never override a verifier that applies.
//!
//! Patterns are matched against the image's normalized name (`registry/repository`, Docker Hub
//! names as `docker.io/library/nginx`) and against the name with its tag and/or digest
//! (`registry/repository:tag`, `…@sha256:…`); a pattern matching either matches. `*` matches
//! any run of characters but `/`, `**` any run including `/`, `?` one character but `/`; every
//! other character is itself. An OCI layout subject (`dir:tag`) is matched as given.

pub mod modes;

use crate::oci::reference::Reference;

/// Why a list of image reference patterns was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The list is present but empty (it would match nothing).
    #[error("is empty, which matches no image; omit it to apply to every image")]
    EmptyList,
    /// A pattern is empty or only whitespace.
    #[error("[{0}] is empty")]
    EmptyPattern(usize),
    /// A pattern has a character that no image reference holds.
    #[error("[{index}] `{pattern}` has whitespace, which no image reference holds")]
    Whitespace {
        /// Position in the list.
        index: usize,
        /// The pattern.
        pattern: String,
    },
}

/// Check a pattern list (`imageReferences` lists must not be empty; `skip…`/`exempt…` may be).
pub fn validate(patterns: &[String], may_be_empty: bool) -> Result<(), ScopeError> {
    if patterns.is_empty() && !may_be_empty {
        return Err(ScopeError::EmptyList);
    }
    for (index, p) in patterns.iter().enumerate() {
        if p.trim().is_empty() {
            return Err(ScopeError::EmptyPattern(index));
        }
        if p.chars().any(char::is_whitespace) {
            return Err(ScopeError::Whitespace {
                index,
                pattern: p.clone(),
            });
        }
    }
    Ok(())
}

/// One element of a pattern.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    /// A character matching itself.
    Char(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any run of characters but `/`.
    Star,
    /// `**`: any run of characters.
    DoubleStar,
}

fn tokens(pattern: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                Token::DoubleStar
            }
            '*' => Token::Star,
            '?' => Token::One,
            c => Token::Char(c),
        });
    }
    out
}

/// Whether `pattern` matches all of `text` (`*`, `**`, `?` as in the module docs).
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let p = tokens(pattern);
    let t: Vec<char> = text.chars().collect();
    // row[j]: the tokens from the current one on match t[j..]; built from the last token back
    // (O(|p|·|t|), no backtracking).
    let mut row = vec![false; t.len() + 1];
    row[t.len()] = true;
    for token in p.iter().rev() {
        let mut cur = vec![false; t.len() + 1];
        for j in (0..=t.len()).rev() {
            let here = t.get(j).copied();
            cur[j] = match *token {
                Token::Char(c) => here == Some(c) && row[j + 1],
                Token::One => here.is_some_and(|h| h != '/') && row[j + 1],
                Token::Star => row[j] || (here.is_some_and(|h| h != '/') && cur[j + 1]),
                Token::DoubleStar => row[j] || (here.is_some() && cur[j + 1]),
            };
        }
        row = cur;
    }
    row[0]
}

/// The strings an image is matched as: its name, and its name with tag and/or digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageNames(Vec<String>);

impl ImageNames {
    /// The names of a registry image `reference`; a string that does not parse as one (an OCI
    /// layout subject) is matched as given.
    pub fn of(reference: &str, layout: bool) -> ImageNames {
        if layout {
            return ImageNames(vec![reference.to_owned()]);
        }
        match reference.parse::<Reference>() {
            Ok(r) => {
                let name = r.name();
                let mut full = name.clone();
                if let Some(t) = r.tag() {
                    full.push(':');
                    full.push_str(t);
                }
                if let Some(d) = r.digest() {
                    full.push('@');
                    full.push_str(&d.to_string());
                }
                ImageNames(vec![name, full])
            }
            Err(_) => ImageNames(vec![reference.to_owned()]),
        }
    }

    /// The first of `patterns` matching one of the names.
    pub fn first_match<'p>(&self, patterns: &'p [String]) -> Option<&'p str> {
        patterns
            .iter()
            .find(|p| self.0.iter().any(|n| glob_matches(p, n)))
            .map(String::as_str)
    }

    /// The normalized name (for messages).
    pub fn name(&self) -> &str {
        &self.0[0]
    }
}

/// A tenant's image-scoped settings: exemptions and rollout modes (from its `executor` section:
/// `exemptImageReferences`, `mode`, `modeScopes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSettings {
    /// `exemptImageReferences`.
    pub exempt: Vec<String>,
    /// `mode`.
    pub mode: modes::Mode,
    /// `modeScopes`.
    pub mode_scopes: Vec<modes::ModeScope>,
}

impl ScopeSettings {
    /// The mode of the image `reference` (a registry reference).
    pub fn enforcement(&self, reference: &str) -> modes::Enforcement {
        modes::enforcement(
            self.mode,
            &self.mode_scopes,
            &ImageNames::of(reference, false),
        )
    }
}

/// One verifier's scope: `imageReferences` (absent: every image) and `skipImageReferences`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageScope {
    /// Patterns the image must match (`None`: unscoped).
    pub include: Option<Vec<String>>,
    /// Patterns that exclude an image.
    pub skip: Vec<String>,
}

impl ImageScope {
    /// Whether the scope restricts anything.
    pub fn is_scoped(&self) -> bool {
        self.include.is_some() || !self.skip.is_empty()
    }

    /// Whether the verifier applies to the image named `names`.
    pub fn applies(&self, names: &ImageNames) -> bool {
        let included = match &self.include {
            Some(patterns) => names.first_match(patterns).is_some(),
            None => true,
        };
        included && names.first_match(&self.skip).is_none()
    }

    /// `imageReferences [..] skipImageReferences [..]`, for messages.
    pub fn describe(&self) -> String {
        let mut s = match &self.include {
            Some(p) => format!("imageReferences [{}]", p.join(", ")),
            None => "every image".to_owned(),
        };
        if !self.skip.is_empty() {
            s.push_str(&format!(
                " but skipImageReferences [{}]",
                self.skip.join(", ")
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches(
            "registry-a.example/**",
            "registry-a.example/team/app"
        ));
        assert!(glob_matches(
            "registry-a.example/**",
            "registry-a.example/app:v1"
        ));
        assert!(!glob_matches("registry-a.example/**", "registry-a.example"));
        assert!(!glob_matches(
            "registry-a.example/**",
            "registry-b.example/app"
        ));
        assert!(glob_matches(
            "registry-a.example/*",
            "registry-a.example/app"
        ));
        assert!(!glob_matches(
            "registry-a.example/*",
            "registry-a.example/team/app"
        ));
        assert!(glob_matches("*.example/app", "registry-a.example/app"));
        assert!(glob_matches("reg/app:v?", "reg/app:v1"));
        assert!(!glob_matches("reg/app:v?", "reg/app:v10"));
        assert!(!glob_matches("reg/?pp", "reg//pp"));
        assert!(glob_matches("reg/**/app", "reg/a/b/app"));
        assert!(glob_matches("reg/**app", "reg/app"));
        assert!(glob_matches("**", "anything/at/all:v1"));
        assert!(glob_matches("reg/app", "reg/app"));
        assert!(!glob_matches("reg/app", "reg/app2"));
        assert!(!glob_matches("reg/app", "reg/ap"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy/c"));
        assert!(glob_matches("", ""));
        assert!(!glob_matches("", "x"));
    }

    #[test]
    fn names_are_normalized_and_carry_tag_and_digest() {
        let n = ImageNames::of("nginx:1.27", false);
        assert_eq!(
            n.0,
            ["docker.io/library/nginx", "docker.io/library/nginx:1.27"]
        );
        assert_eq!(
            n.first_match(&["docker.io/library/*".into()]),
            Some("docker.io/library/*")
        );
        assert!(
            n.first_match(&["docker.io/library/nginx:1.*".into()])
                .is_some()
        );
        assert!(n.first_match(&["nginx".into()]).is_none());
        let d = format!("reg.example/app@sha256:{}", "a".repeat(64));
        let n = ImageNames::of(&d, false);
        assert_eq!(n.0[1], d);
        let l = ImageNames::of("/tmp/layout:v1", true);
        assert!(l.first_match(&["/tmp/**".into()]).is_some());
    }

    #[test]
    fn scopes_include_then_skip() {
        let s = ImageScope {
            include: Some(vec!["reg-a.example/**".into()]),
            skip: vec!["reg-a.example/sandbox/**".into()],
        };
        assert!(s.is_scoped());
        assert!(s.applies(&ImageNames::of("reg-a.example/team/app:v1", false)));
        assert!(!s.applies(&ImageNames::of("reg-a.example/sandbox/app:v1", false)));
        assert!(!s.applies(&ImageNames::of("reg-b.example/team/app:v1", false)));
        let skip_only = ImageScope {
            include: None,
            skip: vec!["reg-c.example/**".into()],
        };
        assert!(skip_only.applies(&ImageNames::of("reg-a.example/x", false)));
        assert!(!skip_only.applies(&ImageNames::of("reg-c.example/x", false)));
        assert!(!ImageScope::default().is_scoped());
        assert!(ImageScope::default().applies(&ImageNames::of("x", false)));
    }

    #[test]
    fn pattern_lists_are_validated() {
        assert_eq!(validate(&[], false), Err(ScopeError::EmptyList));
        assert!(validate(&[], true).is_ok());
        assert_eq!(
            validate(&["a".into(), " ".into()], true),
            Err(ScopeError::EmptyPattern(1))
        );
        assert!(matches!(
            validate(&["reg/a b".into()], true),
            Err(ScopeError::Whitespace { index: 0, .. })
        ));
    }
}
