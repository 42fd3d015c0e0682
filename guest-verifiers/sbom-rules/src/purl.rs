//! Package URLs (`pkg:type/namespace/name@version?qualifiers#subpath`), just enough to match
//! disallowed packages: qualifiers and subpath are ignored, the type and path are compared
//! case-insensitively after percent-decoding, the version exactly.

use std::fmt;

/// A parsed package URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// Package type, lower case (`npm`, `maven`, `deb`, ...).
    pub kind: String,
    /// Namespace and name, percent-decoded, lower case (`@babel/core`, `org.apache/log4j`).
    pub path: String,
    /// Version, percent-decoded, if present.
    pub version: Option<String>,
}

impl Purl {
    /// Parses a package URL.
    pub fn parse(text: &str) -> Result<Purl, String> {
        let rest = text
            .strip_prefix("pkg:")
            .ok_or_else(|| format!("package URL {text:?} does not start with `pkg:`"))?;
        let rest = rest.split('#').next().unwrap_or_default();
        let rest = rest.split('?').next().unwrap_or_default();
        let rest = rest.trim_start_matches('/');
        let (kind, path) = rest
            .split_once('/')
            .ok_or_else(|| format!("package URL {text:?} has no `type/name`"))?;
        if kind.is_empty() {
            return Err(format!("package URL {text:?} has an empty type"));
        }
        // The version is after the last `@` of the last path segment (`@scope` may start a
        // namespace segment).
        let (path, version) = match path.rfind('/') {
            Some(slash) => match path[slash..].rfind('@') {
                Some(at) => (&path[..slash + at], Some(&path[slash + at + 1..])),
                None => (path, None),
            },
            None => match path.rfind('@') {
                Some(at) if at > 0 => (&path[..at], Some(&path[at + 1..])),
                _ => (path, None),
            },
        };
        let path = path.trim_end_matches('/');
        if path.is_empty() || path.ends_with('@') {
            return Err(format!("package URL {text:?} has an empty name"));
        }
        Ok(Purl {
            kind: kind.to_ascii_lowercase(),
            path: decode(path).to_lowercase(),
            version: version.filter(|v| !v.is_empty()).map(decode),
        })
    }

    /// Whether `self`, a rule, covers the package URL `other` (any version when the rule has none).
    pub fn covers(&self, other: &Purl) -> bool {
        self.kind == other.kind
            && self.path == other.path
            && match &self.version {
                None => true,
                Some(v) => other.version.as_deref() == Some(v),
            }
    }
}

impl fmt::Display for Purl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkg:{}/{}", self.kind, self.path)?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

/// Percent-decodes `s`; malformed escapes are kept as written.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Purl {
        Purl::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_type_path_and_version() {
        let x = p("pkg:npm/%40babel/core@7.0.0?arch=x#lib");
        assert_eq!(x.kind, "npm");
        assert_eq!(x.path, "@babel/core");
        assert_eq!(x.version.as_deref(), Some("7.0.0"));
        let x = p("pkg:npm/@babel/core@7.0.0");
        assert_eq!(x.path, "@babel/core");
        assert_eq!(x.version.as_deref(), Some("7.0.0"));
        let x = p("pkg:npm/@babel/core");
        assert_eq!(x.path, "@babel/core");
        assert_eq!(x.version, None);
        let x = p("pkg:Maven/org.apache.logging.log4j/log4j-core@2.14.1");
        assert_eq!(x.kind, "maven");
        assert_eq!(x.path, "org.apache.logging.log4j/log4j-core");
        let x = p("pkg:golang/golang.org/x/net@v0.0.1");
        assert_eq!(x.path, "golang.org/x/net");
        assert_eq!(x.to_string(), "pkg:golang/golang.org/x/net@v0.0.1");
        let x = p("pkg:deb/debian/openssl@3.0.11-1~deb12u2%2Bx");
        assert_eq!(x.version.as_deref(), Some("3.0.11-1~deb12u2+x"));
    }

    #[test]
    fn rejects_non_purls() {
        for bad in ["npm/a", "pkg:", "pkg:npm", "pkg:/a", "pkg:npm/"] {
            assert!(Purl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn covers_any_version_or_exactly_one() {
        let any = p("pkg:npm/lodash");
        let one = p("pkg:npm/lodash@4.17.20");
        assert!(any.covers(&p("pkg:npm/lodash@4.17.21")));
        assert!(any.covers(&p("pkg:NPM/Lodash")));
        assert!(one.covers(&p("pkg:npm/lodash@4.17.20?x=y")));
        assert!(!one.covers(&p("pkg:npm/lodash@4.17.21")));
        assert!(!one.covers(&p("pkg:npm/lodash")));
        assert!(!any.covers(&p("pkg:pypi/lodash@1")));
    }
}
