//! Where subjects come from: an image reference (a registry repository, behind the TTL caches)
//! or an OCI layout on disk (notation's `<dir>:<tag>` / `<dir>@<digest>` form).
//!
//! One [`CachedStore`] per repository is kept in a bounded map, so repeated requests for a
//! repository share its caches (and single-flight) while the map's size bounds memory.

use std::path::PathBuf;
use std::sync::Arc;

use super::StoreAccess;
use crate::oci::registry::RegistryClient;
use crate::oci::{Digest, Reference, ReferenceError};
use crate::store::cache::{
    CacheConfig, CacheConfigError, CacheStats, CachedStore, SharedContent, SharedCounters,
};
use crate::store::disk::DiskCache;
use crate::store::registry::RegistryStore;
use crate::store::{LayoutLimits, LayoutStore};

/// Repositories whose caches are kept at once.
const MAX_REPOSITORIES: u64 = 256;

/// The subject of a verification: where to read it and how it was named.
#[derive(Clone)]
pub struct SubjectSource {
    /// Reader of the subject's repository.
    pub store: Arc<dyn StoreAccess>,
    /// Identity of that repository (registry name or canonical layout path); part of cache keys.
    pub scope: String,
    /// The tag or digest to resolve.
    pub tag_or_digest: String,
    /// The reference as the user gave it (the report's `subject`).
    pub reference: String,
    /// The reference as given without its tag or digest (`dir:v1` → `dir`, `reg/repo@sha256:…`
    /// → `reg/repo`), derived once (by [`subject_name`]) when the source is made: nested subjects are named
    /// `name@digest` after it.
    pub name: String,
}

/// The reference as given without its tag or digest: `dir:v1` → `dir`, `reg/repo@sha256:…` →
/// `reg/repo`. A [`SubjectSource`] carries it as [`SubjectSource::name`]; the summary statements
/// derive it from a report's `subject` string.
pub fn subject_name(reference: &str) -> &str {
    let base = reference.split_once('@').map_or(reference, |(b, _)| b);
    let last_slash = base.rfind('/');
    match base.rfind(':') {
        Some(c) if last_slash.is_none_or(|s| c > s) => &base[..c],
        _ => base,
    }
}

/// Why a subject could not be turned into a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The image reference is malformed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The layout subject is malformed.
    #[error("invalid OCI layout subject `{0}`: expected `<dir>:<tag>` or `<dir>@sha256:<hex>`")]
    LayoutSubject(String),
    /// The layout could not be opened.
    #[error("cannot open the OCI layout `{path}`: {reason}")]
    Layout {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The caches could not be configured.
    #[error(transparent)]
    Cache(#[from] CacheConfigError),
}

/// Turns subjects into [`SubjectSource`]s.
pub struct Sources {
    client: Arc<RegistryClient>,
    cache: CacheConfig,
    disk: Option<DiskCache>,
    layout_limits: LayoutLimits,
    repositories: moka::sync::Cache<String, Arc<CachedStore>>,
    /// One content budget (`memoryBytes`) for every repository, not one each.
    content: SharedContent,
    /// What every repository's caches counted, evicted ones included.
    counters: SharedCounters,
}

impl Sources {
    /// Sources reading registries through `client`, caching with `cache` (and `disk`).
    pub fn new(
        client: RegistryClient,
        cache: CacheConfig,
        disk: Option<DiskCache>,
        layout_limits: LayoutLimits,
    ) -> Result<Self, SourceError> {
        cache.validate()?;
        let content = SharedContent::new(cache.memory_bytes);
        Ok(Sources {
            client: Arc::new(client),
            cache,
            disk,
            layout_limits,
            repositories: moka::sync::Cache::new(MAX_REPOSITORIES),
            content,
            counters: SharedCounters::default(),
        })
    }

    /// The registry client every repository is read through.
    pub fn client(&self) -> &Arc<RegistryClient> {
        &self.client
    }

    /// The disk cache under the TTL caches, if one is configured.
    pub fn disk(&self) -> Option<&DiskCache> {
        self.disk.as_ref()
    }

    /// A source for an image reference (`registry/repo:tag`, `repo@sha256:…`, `nginx`).
    pub fn registry(&self, subject: &str) -> Result<SubjectSource, SourceError> {
        let reference: Reference = subject.parse()?;
        let scope = reference.name();
        let store = match self.repositories.get(&scope) {
            Some(store) => store,
            None => {
                let inner = Arc::new(RegistryStore::new(self.client.clone(), reference.clone()));
                let mut cached = CachedStore::new(inner, self.cache.clone())?
                    .with_counters(&self.counters)
                    .with_shared_content(&self.content);
                if let Some(disk) = &self.disk {
                    cached = cached.with_disk(disk.clone());
                }
                // Two racing first requests may both build one; the map keeps the last, and the
                // loser's caches simply go away with its request.
                let cached = Arc::new(cached);
                self.repositories.insert(scope.clone(), cached.clone());
                cached
            }
        };
        // Where cosign's tags are read from decides verdicts too, so it is part of the scope (and
        // with it of the result cache key) when it is not the image's repository.
        let signatures = self.client.signature_repository(&reference).name();
        let scope = if signatures == scope {
            format!("registry:{scope}")
        } else {
            format!("registry:{scope} signatures:{signatures}")
        };
        Ok(SubjectSource {
            store,
            scope,
            tag_or_digest: reference.tag_or_digest(),
            reference: subject.to_owned(),
            name: subject_name(subject).to_owned(),
        })
    }

    /// Hits and misses of the registry caches, over every repository read so far.
    pub fn cache_stats(&self) -> CacheStats {
        self.counters.stats()
    }

    /// Registry requests sent so far: `(registry, status, count)` (see
    /// [`RegistryClient::request_counts`]).
    pub fn registry_requests(&self) -> Vec<(String, String, u64)> {
        self.client.request_counts()
    }

    /// A source for an OCI layout subject: `<dir>:<tag>` or `<dir>@<algorithm>:<hex>`.
    pub fn layout(&self, subject: &str) -> Result<SubjectSource, SourceError> {
        let bad = || SourceError::LayoutSubject(subject.to_owned());
        let (dir, tag_or_digest) = match subject.rsplit_once('@') {
            Some((dir, digest)) => {
                let d: Digest = digest.parse().map_err(|_| bad())?;
                (dir, d.to_string())
            }
            None => match subject.rsplit_once(':') {
                Some((dir, tag)) if !tag.is_empty() && !tag.contains('/') => (dir, tag.to_owned()),
                _ => return Err(bad()),
            },
        };
        if dir.is_empty() {
            return Err(bad());
        }
        let store =
            LayoutStore::open(dir, self.layout_limits).map_err(|e| SourceError::Layout {
                path: dir.into(),
                reason: e.to_string(),
            })?;
        let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.into());
        Ok(SubjectSource {
            store: Arc::new(store),
            scope: format!("oci-layout:{}", canonical.display()),
            tag_or_digest,
            reference: subject.to_owned(),
            name: dir.to_owned(),
        })
    }
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("cache", &self.cache)
            .field("repositories", &self.repositories.entry_count())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Sources {
        Sources::new(
            RegistryClient::new(Default::default()).unwrap(),
            CacheConfig::default(),
            None,
            LayoutLimits::default(),
        )
        .unwrap()
    }

    #[test]
    fn registry_sources_share_a_repository_cache() {
        let s = sources();
        let a = s.registry("127.0.0.1:5000/demo:v1").unwrap();
        let b = s
            .registry(&format!("127.0.0.1:5000/demo@sha256:{}", "a".repeat(64)))
            .unwrap();
        assert!(Arc::ptr_eq(&a.store, &b.store));
        assert_eq!(a.scope, "registry:127.0.0.1:5000/demo");
        // A signature repository is part of the scope (the result cache key).
        let mut settings = crate::config::stores::RegistriesConfig::default();
        settings.default.signature_repository = Some("127.0.0.1:5000/sigs".into());
        let with_sigs = Sources::new(
            settings.client().unwrap(),
            CacheConfig::default(),
            None,
            LayoutLimits::default(),
        )
        .unwrap();
        assert_eq!(
            with_sigs.registry("127.0.0.1:5000/demo:v1").unwrap().scope,
            "registry:127.0.0.1:5000/demo signatures:127.0.0.1:5000/sigs"
        );
        assert_eq!(a.tag_or_digest, "v1");
        assert!(matches!(
            s.registry("Bad/Upper:x"),
            Err(SourceError::Reference(_))
        ));
    }

    #[test]
    fn subject_names_drop_tag_and_digest() {
        assert_eq!(subject_name("/tmp/layout:v1"), "/tmp/layout");
        assert_eq!(subject_name("dir@sha256:abcd"), "dir");
        assert_eq!(
            subject_name("localhost:5000/repo:v1"),
            "localhost:5000/repo"
        );
        assert_eq!(subject_name("localhost:5000/repo"), "localhost:5000/repo");
        assert_eq!(subject_name("reg.io/a/b:t@sha256:00"), "reg.io/a/b");
    }

    /// The name a source carries is the one its reference string gives (what the summaries of
    /// its report use), for every form of registry reference.
    #[test]
    fn source_names_match_the_reference_as_given() {
        let s = sources();
        let pin = format!("sha256:{}", "a".repeat(64));
        for (subject, name) in [
            ("127.0.0.1:5000/demo:v1", "127.0.0.1:5000/demo"),
            ("127.0.0.1:5000/demo", "127.0.0.1:5000/demo"),
            (&format!("127.0.0.1:5000/demo@{pin}"), "127.0.0.1:5000/demo"),
            (&format!("localhost:5000/a/b:t@{pin}"), "localhost:5000/a/b"),
            ("nginx", "nginx"),
            ("nginx:latest", "nginx"),
            ("docker.io/library/latest", "docker.io/library/latest"),
        ] {
            let source = s.registry(subject).unwrap();
            assert_eq!(source.name, name, "{subject}");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("index.json"),
            r#"{"schemaVersion":2,"manifests":[]}"#,
        )
        .unwrap();
        let path = dir.path().display().to_string();
        for subject in [format!("{path}:v1"), format!("{path}@{pin}")] {
            let source = s.layout(&subject).unwrap();
            assert_eq!(source.name, path, "{subject}");
        }
    }

    #[test]
    fn layout_subjects_are_parsed_strictly() {
        let s = sources();
        for bad in [
            "no-tag",
            "dir@sha256:zz",
            ":v1",
            "dir:",
            "a:b/c",
            "@sha256:00",
        ] {
            assert!(
                matches!(s.layout(bad), Err(SourceError::LayoutSubject(_))),
                "{bad} accepted"
            );
        }
        assert!(matches!(
            s.layout("/nonexistent/dir:v1"),
            Err(SourceError::Layout { .. })
        ));
    }
}
