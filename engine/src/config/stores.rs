//! The `stores.registries` section: how to reach registries (auth, transport, retries, caps).
//!
//! ```yaml
//! stores:
//!   registries:
//!     default: { timeoutMs: 30000 }          # applies to every registry
//!     hosts:
//!       registry.example.com: { username: ci, password: secret }
//!       localhost:5000: { insecure: true }
//!       ghcr.io: { signatureRepository: ghcr.io/acme/signatures }  # cosign's COSIGN_REPOSITORY
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::oci::Reference;
use crate::oci::registry::auth::Credentials;
use crate::oci::registry::retry::RetryPolicy;
use crate::oci::registry::{RegistryClient, RegistryConfig, RegistryError};

/// Registry settings: a default and per-host overrides (a host's entry replaces the default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistriesConfig {
    /// Settings for registries without an entry in `hosts`.
    pub default: RegistrySettings,
    /// Per-registry settings, keyed by host (`host[:port]`, as in image references).
    pub hosts: BTreeMap<String, RegistrySettings>,
}

/// How to talk to one registry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistrySettings {
    /// Plain HTTP (loopback registries always use it).
    pub insecure: bool,
    /// User name for basic auth or the token exchange (with `password`).
    pub username: Option<String>,
    /// Password or token (with `username`).
    pub password: Option<String>,
    /// A Docker `config.json` to read credentials from when `username` is not set.
    pub docker_config: Option<PathBuf>,
    /// Concurrent requests to the registry at most.
    pub max_concurrency: usize,
    /// Time limit of one request, body included, in milliseconds.
    pub timeout_ms: u64,
    /// Attempts per request on 429, 5xx, timeouts and connection errors (first included).
    pub max_attempts: u32,
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: u64,
    /// Largest blob accepted, in bytes.
    pub max_blob_bytes: u64,
    /// The repository (`host/path`, no tag or digest) that holds cosign's `sha256-<hex>.sig` and
    /// `.att` tags of this registry's images, as cosign's `COSIGN_REPOSITORY` does. Credentials
    /// for it are those of its own host's entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_repository: Option<String>,
}

impl std::fmt::Debug for RegistrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("insecure", &self.insecure)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("docker_config", &self.docker_config)
            .field("max_concurrency", &self.max_concurrency)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_attempts", &self.max_attempts)
            .field("signature_repository", &self.signature_repository)
            .finish_non_exhaustive()
    }
}

impl Default for RegistrySettings {
    fn default() -> Self {
        let d = RegistryConfig::default();
        RegistrySettings {
            insecure: d.insecure,
            username: None,
            password: None,
            docker_config: None,
            max_concurrency: d.max_concurrency,
            timeout_ms: d.timeout.as_millis() as u64,
            max_attempts: d.retry.max_attempts,
            max_manifest_bytes: d.max_manifest_bytes,
            max_blob_bytes: d.max_blob_bytes,
            signature_repository: None,
        }
    }
}

impl RegistrySettings {
    /// Check the values; returns `(field, message)` for the first bad one.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.username.is_some() != self.password.is_some() {
            return Err(("username", "username and password go together".into()));
        }
        if self.max_concurrency == 0 {
            return Err(("maxConcurrency", "must be at least 1".into()));
        }
        if self.timeout_ms == 0 {
            return Err(("timeoutMs", "must be at least 1".into()));
        }
        if self.max_attempts == 0 {
            return Err(("maxAttempts", "must be at least 1".into()));
        }
        if self.max_manifest_bytes == 0 || self.max_blob_bytes == 0 {
            return Err((
                "maxManifestBytes",
                "size caps must be at least 1 byte".into(),
            ));
        }
        if let Some(repo) = &self.signature_repository {
            parse_repository(repo).map_err(|m| ("signatureRepository", m))?;
        }
        Ok(())
    }

    /// The registry client's settings.
    pub fn to_registry_config(&self) -> RegistryConfig {
        let credentials = match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }),
            _ => None,
        };
        RegistryConfig {
            insecure: self.insecure,
            credentials,
            docker_config: self.docker_config.clone(),
            max_concurrency: self.max_concurrency,
            timeout: Duration::from_millis(self.timeout_ms),
            retry: RetryPolicy {
                max_attempts: self.max_attempts,
                ..RetryPolicy::default()
            },
            max_manifest_bytes: self.max_manifest_bytes,
            max_blob_bytes: self.max_blob_bytes,
            // Checked by `validate`; an unparsable value never reaches here from a loaded config.
            signature_repository: self
                .signature_repository
                .as_deref()
                .and_then(|r| parse_repository(r).ok()),
        }
    }
}

/// A repository name `host/path` (no tag, no digest), as `signatureRepository` takes it.
fn parse_repository(text: &str) -> Result<Reference, String> {
    let last = text.rsplit('/').next().unwrap_or(text);
    if text.contains('@') || last.contains(':') {
        return Err(format!(
            "`{text}` must name a repository (`host/path`), without a tag or digest"
        ));
    }
    Reference::parse(text).map_err(|e| e.to_string())
}

impl RegistriesConfig {
    /// Check every entry; returns `(field path, message)` for the first bad one.
    pub fn validate(&self) -> Result<(), (String, String)> {
        self.default
            .validate()
            .map_err(|(f, m)| (format!("stores.registries.default.{f}"), m))?;
        for (host, s) in &self.hosts {
            s.validate()
                .map_err(|(f, m)| (format!("stores.registries.hosts.{host}.{f}"), m))?;
        }
        Ok(())
    }

    /// A registry client with these settings.
    pub fn client(&self) -> Result<RegistryClient, RegistryError> {
        let hosts: HashMap<String, RegistryConfig> = self
            .hosts
            .iter()
            .map(|(h, s)| (h.clone(), s.to_registry_config()))
            .collect();
        RegistryClient::with_registries(self.default.to_registry_config(), hosts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_hosts() {
        let c: RegistriesConfig = serde_json::from_str(
            r#"{"hosts": {"localhost:5000": {"insecure": true, "username": "u", "password": "p"}}}"#,
        )
        .unwrap();
        c.validate().unwrap();
        let h = c.hosts["localhost:5000"].to_registry_config();
        assert!(h.insecure);
        assert_eq!(h.credentials.unwrap().username, "u");
        assert_eq!(c.default, RegistrySettings::default());
        assert!(c.client().is_ok());
        assert!(!format!("{:?}", c.hosts["localhost:5000"]).contains("\"p\""));
    }

    #[test]
    fn rejects_bad_settings() {
        let c: RegistriesConfig =
            serde_json::from_str(r#"{"hosts": {"r.example": {"username": "u"}}}"#).unwrap();
        let (field, _) = c.validate().unwrap_err();
        assert_eq!(field, "stores.registries.hosts.r.example.username");
        assert!(serde_json::from_str::<RegistriesConfig>(r#"{"default": {"tls": true}}"#).is_err());
    }

    /// `signatureRepository` names a repository: parsed into the client's settings; a tag, a
    /// digest or a malformed name is refused naming the field.
    #[test]
    fn signature_repository_is_a_repository_name() {
        let c: RegistriesConfig = serde_json::from_str(
            r#"{"hosts": {"localhost:5000": {"signatureRepository": "localhost:5000/team/sigs"}}}"#,
        )
        .unwrap();
        c.validate().unwrap();
        let repo = c.hosts["localhost:5000"]
            .to_registry_config()
            .signature_repository
            .unwrap();
        assert_eq!(repo.name(), "localhost:5000/team/sigs");
        assert!(
            c.default
                .to_registry_config()
                .signature_repository
                .is_none()
        );
        for bad in [
            "localhost:5000/team/sigs:v1",
            "localhost:5000/team/sigs@sha256:00",
            "Bad/Upper",
        ] {
            let c: RegistriesConfig = serde_json::from_value(
                serde_json::json!({"default": {"signatureRepository": bad}}),
            )
            .unwrap();
            let (field, message) = c.validate().unwrap_err();
            assert_eq!(
                field, "stores.registries.default.signatureRepository",
                "{bad}"
            );
            assert!(!message.is_empty());
        }
    }
}
