//! Image references (`registry/repository:tag@digest`), parsed and normalised like the container
//! tools do (the docker/distribution reference grammar).
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [ registry "/" ] repository
//! registry         := host [ ":" port ]
//! host             := domain-name | "[" IPv6address "]"
//! domain-name      := component ( "." component )*, component := [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?
//! repository       := path-component ( "/" path-component )*
//! path-component   := [a-z0-9]+ ( separator [a-z0-9]+ )*, separator := [._] | "__" | "-"+
//! tag              := [\w][\w.-]{0,127}
//! ```
//!
//! Normalisation: a first component is a registry only if it contains `.` or `:` or is
//! `localhost`; otherwise the registry is `docker.io`. `index.docker.io` becomes `docker.io`,
//! single-component Docker Hub repositories get the `library/` prefix, and a reference with
//! neither tag nor digest gets the tag `latest`.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use super::{Digest, DigestError};

/// The default registry (Docker Hub).
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag used when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// The longest name (`registry/repository`) accepted, in bytes.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// The longest tag accepted, in bytes.
pub const TAG_LENGTH_MAX: usize = 128;

/// Docker Hub's legacy host name, normalised to [`DEFAULT_REGISTRY`].
const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";
/// Docker Hub's namespace for official images.
const OFFICIAL_NAMESPACE: &str = "library/";
/// Inputs longer than this are shortened when quoted in an error message.
const QUOTE_MAX: usize = 300;

/// A normalised, validated image reference.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a reference string was rejected; every variant quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The input is empty.
    #[error("invalid reference ``: empty")]
    Empty,
    /// The repository contains upper-case letters.
    #[error("invalid reference `{0}`: repository must be lower-case")]
    UppercaseRepository(String),
    /// A repository path component does not match `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`.
    #[error(
        "invalid reference `{input}`: repository path component `{component}` must be lower-case \
         letters and digits separated by `.`, `_`, `__` or dashes"
    )]
    InvalidRepository {
        /// The input.
        input: String,
        /// The offending path component (may be empty).
        component: String,
    },
    /// The input is a bare 64-character hex string, which the container tools read as an image ID.
    #[error(
        "invalid reference `{0}`: a 64-character hex string is an image ID, not a repository name \
         (use `repository@sha256:<hex>`)"
    )]
    LooksLikeId(String),
    /// The tag is empty or has a character outside `[\w.-]` (or starts with `.` or `-`).
    #[error(
        "invalid reference `{input}`: invalid tag `{tag}` (expected [A-Za-z0-9_][A-Za-z0-9_.-]*)"
    )]
    InvalidTag {
        /// The input.
        input: String,
        /// The offending tag.
        tag: String,
    },
    /// The tag is longer than 128 characters (`TAG_LENGTH_MAX`).
    #[error("invalid reference `{input}`: tag too long ({len} bytes, at most {TAG_LENGTH_MAX})")]
    TagTooLong {
        /// The input.
        input: String,
        /// The tag's length.
        len: usize,
    },
    /// The digest after `@` is malformed.
    #[error("invalid reference `{input}`: {source}")]
    InvalidDigest {
        /// The input.
        input: String,
        /// What was wrong with the digest.
        source: DigestError,
    },
    /// The registry host is not a domain name or a bracketed IPv6 address.
    #[error("invalid reference `{input}`: invalid registry host `{host}`")]
    InvalidRegistry {
        /// The input.
        input: String,
        /// The offending host.
        host: String,
    },
    /// The registry port is not a number in 1..=65535.
    #[error("invalid reference `{input}`: invalid port `{port}` (expected 1-65535)")]
    InvalidPort {
        /// The input.
        input: String,
        /// The offending port text.
        port: String,
    },
    /// The normalised name (`registry/repository`) is longer than 255 characters (`NAME_TOTAL_LENGTH_MAX`).
    #[error(
        "invalid reference `{input}`: name too long ({len} bytes, at most {NAME_TOTAL_LENGTH_MAX})"
    )]
    NameTooLong {
        /// The input.
        input: String,
        /// The normalised name's length.
        len: usize,
    },
}

impl Reference {
    /// Parse and normalise a reference such as `nginx`, `ghcr.io/org/app:v1` or `repo@sha256:…`.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let quoted = || quote(input);

        let (name_and_tag, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest =
                    d.parse::<Digest>()
                        .map_err(|source| ReferenceError::InvalidDigest {
                            input: quoted(),
                            source,
                        })?;
                (rest, Some(digest))
            }
            None => (input, None),
        };

        // The tag separator is the last `:` after the last `/` (a `:` before it is a port).
        let last_slash = name_and_tag.rfind('/');
        let (name, tag) = match name_and_tag.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
            }
            _ => (name_and_tag, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|e| e(quoted(), tag))?;
        }

        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                validate_registry(first).map_err(|e| e(quoted()))?;
                let registry = if first == LEGACY_DEFAULT_REGISTRY {
                    DEFAULT_REGISTRY
                } else {
                    first
                };
                (registry, rest)
            }
            _ => {
                if tag.is_none() && digest.is_none() && is_image_id(name) {
                    return Err(ReferenceError::LooksLikeId(quoted()));
                }
                (DEFAULT_REGISTRY, name)
            }
        };
        validate_repository(repository).map_err(|e| e(quoted()))?;
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("{OFFICIAL_NAMESPACE}{repository}")
        } else {
            repository.to_owned()
        };

        let len = registry.len() + 1 + repository.len();
        if len > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong {
                input: quoted(),
                len,
            });
        }

        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry: registry.to_owned(),
            repository,
            tag,
            digest,
        })
    }

    /// The registry host, with its port if any (`docker.io`, `localhost:5000`, `[::1]:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path (`library/nginx`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The full name without tag or digest: `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag (`latest` when the input named neither tag nor digest).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, when the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same registry, repository and tag, pinned to `digest` (replacing any previous digest).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: self.tag.clone(),
            digest: Some(digest),
        }
    }

    /// What to ask the registry for: the digest when present, else the tag, else `latest`.
    pub fn tag_or_digest(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// Whether the registry is on the loopback interface (`localhost`, 127.0.0.0/8, `::1`).
    pub fn is_loopback(&self) -> bool {
        let host = host_of(&self.registry);
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => v4.is_loopback(),
            Ok(IpAddr::V6(v6)) => v6.to_canonical().is_loopback(),
            Err(_) => false,
        }
    }
}

/// The host part of a validated registry (`host`, `host:port`, `[v6]`, `[v6]:port`).
fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        match registry.find(']') {
            Some(end) => &registry[..=end],
            None => registry,
        }
    } else {
        registry.split_once(':').map_or(registry, |(h, _)| h)
    }
}

/// Quote `input` for an error message, shortening very long inputs.
fn quote(input: &str) -> String {
    if input.len() <= QUOTE_MAX {
        return input.to_owned();
    }
    let mut end = QUOTE_MAX;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &input[..end])
}

/// A bare 64-character lower-case hex string (an image ID).
fn is_image_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

type TagErr = fn(String, &str) -> ReferenceError;

fn validate_tag(tag: &str) -> Result<(), TagErr> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    let ok = bytes.first().is_some_and(|&b| word(b))
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
    if !ok {
        return Err(|input, tag| ReferenceError::InvalidTag {
            input,
            tag: quote(tag),
        });
    }
    if tag.len() > TAG_LENGTH_MAX {
        return Err(|input, tag| ReferenceError::TagTooLong {
            input,
            len: tag.len(),
        });
    }
    Ok(())
}

type Deferred = Box<dyn FnOnce(String) -> ReferenceError>;

/// Validate `host[:port]` where host is a domain name or a bracketed IPv6 address.
fn validate_registry(registry: &str) -> Result<(), Deferred> {
    let bad_host = |host: &str| -> Deferred {
        let host = quote(host);
        Box::new(move |input| ReferenceError::InvalidRegistry { input, host })
    };
    let (host, port) = if let Some(v6) = registry.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err(bad_host(registry));
        };
        let valid = !addr.is_empty()
            && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
            && addr.parse::<Ipv6Addr>().is_ok();
        if !valid {
            return Err(bad_host(&registry[..addr.len() + 2]));
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err(bad_host(registry)),
            },
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host
        && !is_domain_name(host)
    {
        return Err(bad_host(host));
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p != 0);
        if !valid {
            let port = quote(port);
            return Err(Box::new(move |input| ReferenceError::InvalidPort {
                input,
                port,
            }));
        }
    }
    Ok(())
}

/// `component ("." component)*` with `component := [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`.
fn is_domain_name(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
        })
}

/// Validate every `/`-separated path component of a repository.
fn validate_repository(repository: &str) -> Result<(), Deferred> {
    for component in repository.split('/') {
        if !is_path_component(component) {
            // Upper case is the common mistake; name it precisely when it is the only problem.
            let lowered = component.to_ascii_lowercase();
            if lowered != component && is_path_component(&lowered) {
                return Err(Box::new(ReferenceError::UppercaseRepository));
            }
            let component = quote(component);
            return Err(Box::new(move |input| ReferenceError::InvalidRepository {
                input,
                component,
            }));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or any number of `-`, followed by an alphanumeric.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        debug_assert!(i > start);
        if !b.get(i).is_some_and(|&x| alnum(x)) {
            return false;
        }
    }
    true
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn digest() -> String {
        format!("sha256:{HEX}")
    }

    #[test]
    fn normalises_valid_references() {
        let d = digest();
        let cases: Vec<(String, String)> = vec![
            ("nginx".into(), "docker.io/library/nginx:latest".into()),
            ("nginx:1.27".into(), "docker.io/library/nginx:1.27".into()),
            ("user/app".into(), "docker.io/user/app:latest".into()),
            (
                "docker.io/nginx".into(),
                "docker.io/library/nginx:latest".into(),
            ),
            (
                "index.docker.io/nginx".into(),
                "docker.io/library/nginx:latest".into(),
            ),
            (
                "index.docker.io/user/app:v1".into(),
                "docker.io/user/app:v1".into(),
            ),
            (
                "ghcr.io/org/team/app:v1.2.3".into(),
                "ghcr.io/org/team/app:v1.2.3".into(),
            ),
            ("localhost/app".into(), "localhost/app:latest".into()),
            (
                "localhost:5000/app:dev".into(),
                "localhost:5000/app:dev".into(),
            ),
            ("myhost:5000/app".into(), "myhost:5000/app:latest".into()),
            (
                "127.0.0.1:5000/a/b".into(),
                "127.0.0.1:5000/a/b:latest".into(),
            ),
            ("[::1]:5000/repo".into(), "[::1]:5000/repo:latest".into()),
            ("[fe80::1]/repo:t".into(), "[fe80::1]/repo:t".into()),
            (format!("repo@{d}"), format!("docker.io/library/repo@{d}")),
            (
                format!("repo:tag@{d}"),
                format!("docker.io/library/repo:tag@{d}"),
            ),
            (format!("reg.io:443/r@{d}"), format!("reg.io:443/r@{d}")),
            (
                "a-b__c/e--f_g.h:T_a.g-1".into(),
                "docker.io/a-b__c/e--f_g.h:T_a.g-1".into(),
            ),
            (
                "my-Registry.io/app".into(),
                "my-Registry.io/app:latest".into(),
            ),
            ("app:_x".into(), "docker.io/library/app:_x".into()),
            (
                format!("app:{}", "t".repeat(128)),
                format!("docker.io/library/app:{}", "t".repeat(128)),
            ),
            (
                "localhost:5000".into(),
                "docker.io/library/localhost:5000".into(),
            ),
        ];
        for (input, want) in cases {
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), want, "input {input}");
            assert_eq!(Reference::parse(&want).unwrap(), r, "re-parse of {want}");
        }
    }

    #[test]
    fn accessors() {
        let r: Reference = "nginx".parse().unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/nginx");
        assert_eq!(r.name(), "docker.io/library/nginx");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.digest(), None);
        assert_eq!(r.tag_or_digest(), "latest");

        let d: Digest = digest().parse().unwrap();
        let pinned = r.with_digest(d.clone());
        assert_eq!(pinned.digest(), Some(&d));
        assert_eq!(pinned.tag(), Some("latest"));
        assert_eq!(pinned.registry(), "docker.io");
        assert_eq!(pinned.tag_or_digest(), d.to_string());
        let other = Digest::sha256_of(b"other");
        assert_eq!(pinned.with_digest(other.clone()).digest(), Some(&other));

        let by_digest = Reference::parse(&format!("ghcr.io/a/b@{d}")).unwrap();
        assert_eq!(by_digest.tag(), None);
        assert_eq!(by_digest.tag_or_digest(), d.to_string());

        let tagged: Reference = "ghcr.io/a/b:v2".parse().unwrap();
        assert_eq!(tagged.tag_or_digest(), "v2");
    }

    #[test]
    fn loopback() {
        for s in [
            "localhost/a",
            "LOCALHOST:5000/a",
            "127.0.0.1/a",
            "127.1.2.3:80/a",
            "[::1]/a",
            "[::1]:5000/a",
        ] {
            assert!(Reference::parse(s).unwrap().is_loopback(), "{s}");
        }
        for s in [
            "nginx",
            "ghcr.io/a",
            "128.0.0.1/a",
            "[fe80::1]/a",
            "localhost.example.com/a",
            "10.0.0.1:5000/a",
        ] {
            assert!(!Reference::parse(s).unwrap().is_loopback(), "{s}");
        }
    }

    #[test]
    fn rejects_invalid_references() {
        use ReferenceError as E;
        let long_repo = format!("ghcr.io/{}", "a".repeat(250));
        type Case = (String, fn(&E) -> bool, &'static str);
        let cases: Vec<Case> = vec![
            ("".into(), |e| matches!(e, E::Empty), "empty"),
            (
                "Foo/bar".into(),
                |e| matches!(e, E::UppercaseRepository(_)),
                "lower-case",
            ),
            (
                "ghcr.io/Org/app".into(),
                |e| matches!(e, E::UppercaseRepository(_)),
                "lower-case",
            ),
            (
                "NGINX".into(),
                |e| matches!(e, E::UppercaseRepository(_)),
                "lower-case",
            ),
            (
                "a//b".into(),
                |e| matches!(e, E::InvalidRepository { .. }),
                "path component ``",
            ),
            (
                "a/".into(),
                |e| matches!(e, E::InvalidRepository { .. }),
                "path component",
            ),
            (
                "-a".into(),
                |e| matches!(e, E::InvalidRepository { .. }),
                "`-a`",
            ),
            (
                "a-".into(),
                |e| matches!(e, E::InvalidRepository { .. }),
                "`a-`",
            ),
            (
                "a..b".into(),
                |e| matches!(e, E::InvalidRepository { .. }),
                "`a..b`",
            ),
            (
                "a___b".into(),
                |e| matches!(e, E::InvalidRepository { .. }),
                "`a___b`",
            ),
            (
                "a b".into(),
                |e| matches!(e, E::InvalidRepository { .. }),
                "`a b`",
            ),
            (
                "ghcr.io/".into(),
                |e| matches!(e, E::InvalidRepository { .. }),
                "path component",
            ),
            (
                "app:".into(),
                |e| matches!(e, E::InvalidTag { .. }),
                "invalid tag ``",
            ),
            (
                "app:.x".into(),
                |e| matches!(e, E::InvalidTag { .. }),
                "invalid tag `.x`",
            ),
            (
                "app:-x".into(),
                |e| matches!(e, E::InvalidTag { .. }),
                "invalid tag",
            ),
            (
                "app:a+b".into(),
                |e| matches!(e, E::InvalidTag { .. }),
                "invalid tag",
            ),
            (
                format!("app:{}", "t".repeat(129)),
                |e| matches!(e, E::TagTooLong { len: 129, .. }),
                "tag too long",
            ),
            (
                "app@sha256:abc".into(),
                |e| matches!(e, E::InvalidDigest { .. }),
                "invalid digest",
            ),
            (
                "app@".into(),
                |e| matches!(e, E::InvalidDigest { .. }),
                "invalid digest",
            ),
            (
                format!("app@{}@{}", digest(), digest()),
                |e| matches!(e, E::InvalidDigest { .. }),
                "invalid digest",
            ),
            (
                format!("app@md5:{HEX}"),
                |e| matches!(e, E::InvalidDigest { .. }),
                "unsupported algorithm",
            ),
            (
                "host:0/a".into(),
                |e| matches!(e, E::InvalidPort { .. }),
                "invalid port `0`",
            ),
            (
                "host:70000/a".into(),
                |e| matches!(e, E::InvalidPort { .. }),
                "invalid port `70000`",
            ),
            (
                "host:/a".into(),
                |e| matches!(e, E::InvalidPort { .. }),
                "invalid port ``",
            ),
            (
                "host:ab/a".into(),
                |e| matches!(e, E::InvalidPort { .. }),
                "invalid port `ab`",
            ),
            (
                "[::1]x/a".into(),
                |e| matches!(e, E::InvalidRegistry { .. }),
                "registry host",
            ),
            (
                "[zz::1]/a".into(),
                |e| matches!(e, E::InvalidRegistry { .. }),
                "registry host",
            ),
            (
                "[::1/a".into(),
                |e| matches!(e, E::InvalidRegistry { .. }),
                "registry host",
            ),
            (
                "-bad.io/a".into(),
                |e| matches!(e, E::InvalidRegistry { .. }),
                "`-bad.io`",
            ),
            (
                "bad..io/a".into(),
                |e| matches!(e, E::InvalidRegistry { .. }),
                "`bad..io`",
            ),
            (
                "bad_host.io/a".into(),
                |e| matches!(e, E::InvalidRegistry { .. }),
                "registry host",
            ),
            (
                long_repo,
                |e| matches!(e, E::NameTooLong { len: 258, .. }),
                "name too long",
            ),
            (HEX.into(), |e| matches!(e, E::LooksLikeId(_)), "image ID"),
        ];
        for (input, check, needle) in cases {
            let err = Reference::parse(&input).expect_err(&input);
            assert!(check(&err), "{input}: unexpected error {err:?}");
            let msg = err.to_string();
            assert!(
                msg.contains(needle),
                "{input}: `{msg}` should mention `{needle}`"
            );
            assert!(msg.starts_with("invalid reference `"), "{msg}");
            if input.len() < 100 {
                assert!(
                    msg.contains(&format!("`{input}`")),
                    "{msg} should quote the input"
                );
            }
        }
        // The exact message from the brief.
        assert_eq!(
            Reference::parse("Foo/bar").unwrap_err().to_string(),
            "invalid reference `Foo/bar`: repository must be lower-case"
        );
    }

    #[test]
    fn long_inputs_are_quoted_shortened() {
        let input = format!("A{}", "é".repeat(1000));
        let msg = Reference::parse(&input).unwrap_err().to_string();
        assert!(msg.len() < 1000, "{}", msg.len());
        assert!(msg.contains('…'));
    }

    #[test]
    fn serde_as_string() {
        let r: Reference = "ghcr.io/a/b:v1".parse().unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"ghcr.io/a/b:v1\"");
        let back: Reference = serde_json::from_str("\"index.docker.io/nginx\"").unwrap();
        assert_eq!(back.to_string(), "docker.io/library/nginx:latest");
        let err = serde_json::from_str::<Reference>("\"Foo/bar\"").unwrap_err();
        assert!(err.to_string().contains("lower-case"), "{err}");
    }

    fn path_component() -> impl Strategy<Value = String> {
        prop::collection::vec(
            (
                "[a-z0-9]{1,4}",
                prop::sample::select(vec![".", "_", "__", "-", "--"]),
            ),
            1..4,
        )
        .prop_map(|parts| {
            let mut s = String::new();
            for (i, (alnum, sep)) in parts.iter().enumerate() {
                if i > 0 {
                    s.push_str(sep);
                }
                s.push_str(alnum);
            }
            s
        })
    }

    fn registry() -> impl Strategy<Value = Option<String>> {
        let domain = prop::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,3}[a-zA-Z0-9])?", 1..4)
            .prop_map(|c| c.join("."));
        let host = prop_oneof![
            domain,
            Just("localhost".to_owned()),
            Just("[::1]".to_owned()),
            Just("[2001:db8::7]".to_owned()),
            (0u8..=255, 0u8..=255).prop_map(|(a, b)| format!("127.{a}.{b}.1")),
        ];
        prop::option::of((host, prop::option::of(1u16..)).prop_map(|(h, p)| match p {
            Some(p) => format!("{h}:{p}"),
            None => h,
        }))
    }

    fn reference_string() -> impl Strategy<Value = String> {
        (
            registry(),
            prop::collection::vec(path_component(), 1..4),
            prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            prop::option::of("[0-9a-f]{64}"),
        )
            .prop_map(|(reg, comps, tag, hex)| {
                let mut s = String::new();
                if let Some(reg) = reg {
                    // A registry must be recognisable as one; plain words are repository names.
                    let reg = if reg.contains('.') || reg.contains(':') || reg == "localhost" {
                        reg
                    } else {
                        format!("{reg}.io")
                    };
                    s.push_str(&reg);
                    s.push('/');
                }
                let mut comps = comps;
                if s.is_empty() && comps.len() > 1 {
                    // Without a registry, a first component with a `.` would be read as one.
                    comps[0] = comps[0].replace('.', "_");
                }
                s.push_str(&comps.join("/"));
                if let Some(tag) = tag {
                    s.push(':');
                    s.push_str(&tag);
                }
                if let Some(hex) = hex {
                    s.push_str("@sha256:");
                    s.push_str(&hex);
                }
                s
            })
    }

    proptest! {
        #[test]
        fn display_round_trips(input in reference_string()) {
            let r = Reference::parse(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let shown = r.to_string();
            let again = Reference::parse(&shown).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&again, &r);
            prop_assert_eq!(again.to_string(), shown);
            prop_assert!(r.tag().is_some() || r.digest().is_some());
        }

        #[test]
        fn arbitrary_strings_never_panic(input in "\\PC{0,80}") {
            if let Ok(r) = Reference::parse(&input) {
                prop_assert_eq!(Reference::parse(&r.to_string()), Ok(r.clone()));
            }
        }

        #[test]
        fn reference_alphabet_never_panics(input in "[a-zA-Z0-9:/@._\\-\\[\\]]{0,60}") {
            if let Ok(r) = Reference::parse(&input) {
                prop_assert_eq!(Reference::parse(&r.to_string()), Ok(r.clone()));
                let _ = r.is_loopback();
            }
        }
    }
}
