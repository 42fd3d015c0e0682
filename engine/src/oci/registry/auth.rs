//! Registry authentication: credentials (explicit or from a Docker `config.json`, with credential
//! helpers), `WWW-Authenticate` challenges, and the bearer-token cache.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

/// Docker Hub's API host; `docker.io` references are served from here.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The key Docker stores Docker Hub credentials under.
const DOCKER_HUB_CONFIG_KEY: &str = "https://index.docker.io/v1/";
/// How long a token lives when the token endpoint does not say (the distribution spec default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// A token is dropped this long before it expires, so that it does not expire in flight.
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(5);
/// The longest a credential helper may run.
const CRED_HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic …` header for these credentials.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Why credentials could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The Docker config file could not be read or parsed.
    #[error("docker config {path}: {reason}")]
    DockerConfig {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A credential helper failed.
    #[error("credential helper docker-credential-{helper} for {registry}: {reason}")]
    CredHelper {
        /// The helper's name (the part after `docker-credential-`).
        helper: String,
        /// The registry asked about.
        registry: String,
        /// What went wrong.
        reason: String,
    },
}

/// The parts of a Docker `config.json` Vouch reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerConfig {
    /// Inline credentials by registry.
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
    /// Credential helpers by registry.
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    /// The default credential helper.
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
struct DockerAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// What a credential helper prints for `get`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperOutput {
    username: String,
    secret: String,
}

/// A Docker config key (`https://host/v1/`, `http://host`, `host`) reduced to the host.
fn normalise_config_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => host,
    }
}

impl DockerConfig {
    /// Read and parse a Docker `config.json`.
    pub fn load(path: &Path) -> Result<DockerConfig, AuthError> {
        let err = |reason: String| AuthError::DockerConfig {
            path: path.to_owned(),
            reason,
        };
        let text = crate::localfile::read_regular_file_capped(
            path,
            crate::localfile::MAX_CONFIG_FILE_BYTES,
            "Docker config",
        )
        .map_err(|e| err(e.to_string()))?;
        serde_json::from_slice(&text).map_err(|e| err(format!("invalid JSON: {e}")))
    }

    /// Credentials for `registry` (a host as in a reference: `docker.io`, `localhost:5000`).
    ///
    /// A registry-specific credential helper wins, then inline `auths`, then `credsStore`.
    pub async fn credentials_for(
        &self,
        registry: &str,
        path: &Path,
    ) -> Result<Option<Credentials>, AuthError> {
        let wanted = normalise_config_key(registry);
        if let Some(helper) = self
            .cred_helpers
            .iter()
            .find(|(k, _)| normalise_config_key(k) == wanted)
            .map(|(_, v)| v)
        {
            return run_cred_helper(helper, registry).await.map(Some);
        }
        if let Some(entry) = self
            .auths
            .iter()
            .find(|(k, _)| normalise_config_key(k) == wanted)
            .map(|(_, v)| v)
            && let Some(creds) = entry.credentials(registry, path)?
        {
            return Ok(Some(creds));
        }
        if let Some(helper) = &self.creds_store {
            return match run_cred_helper(helper, registry).await {
                Ok(c) => Ok(Some(c)),
                // The default store has nothing for most registries; that is anonymous access.
                Err(e) => {
                    tracing::debug!(error = %e, "no credentials from the default store");
                    Ok(None)
                }
            };
        }
        Ok(None)
    }
}

impl DockerAuth {
    fn credentials(&self, registry: &str, path: &Path) -> Result<Option<Credentials>, AuthError> {
        if let Some(encoded) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let err = |reason: &str| AuthError::DockerConfig {
                path: path.to_owned(),
                reason: format!("auths[{registry}].auth {reason}"),
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| err("is not base64"))?;
            let raw = String::from_utf8(raw).map_err(|_| err("is not UTF-8"))?;
            let (user, pass) = raw
                .split_once(':')
                .ok_or_else(|| err("is not `user:password`"))?;
            return Ok(Some(Credentials {
                username: user.to_owned(),
                password: pass.to_owned(),
            }));
        }
        if let Some(token) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            // Docker's convention: an identity token is sent as the password of `<token>`.
            return Ok(Some(Credentials {
                username: "<token>".to_owned(),
                password: token.to_owned(),
            }));
        }
        match (&self.username, &self.password) {
            (Some(u), Some(p)) => Ok(Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            })),
            _ => Ok(None),
        }
    }
}

/// Run `docker-credential-<helper> get` with the registry on stdin.
async fn run_cred_helper(helper: &str, registry: &str) -> Result<Credentials, AuthError> {
    let err = |reason: String| AuthError::CredHelper {
        helper: helper.to_owned(),
        registry: registry.to_owned(),
        reason,
    };
    if helper.is_empty()
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(err("invalid helper name".to_owned()));
    }
    run_helper_program(
        Path::new(&format!("docker-credential-{helper}")),
        helper,
        registry,
    )
    .await
}

/// Run a credential helper program (`get`, the server on stdin) and parse its answer.
async fn run_helper_program(
    program: &Path,
    helper: &str,
    registry: &str,
) -> Result<Credentials, AuthError> {
    let err = |reason: String| AuthError::CredHelper {
        helper: helper.to_owned(),
        registry: registry.to_owned(),
        reason,
    };
    let server = if normalise_config_key(registry) == "docker.io" {
        DOCKER_HUB_CONFIG_KEY
    } else {
        registry
    };
    let mut child = tokio::process::Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| err(format!("cannot run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .await
            .map_err(|e| err(format!("cannot write stdin: {e}")))?;
    }
    let out = tokio::time::timeout(CRED_HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| err(format!("no answer within {CRED_HELPER_TIMEOUT:?}")))?
        .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        return Err(err(format!(
            "exited with {}: {}",
            out.status,
            format!("{} {}", stdout.trim(), stderr.trim()).trim()
        )));
    }
    let parsed: HelperOutput =
        serde_json::from_slice(&out.stdout).map_err(|e| err(format!("unexpected output: {e}")))?;
    Ok(Credentials {
        username: parsed.username,
        password: parsed.secret,
    })
}

/// One authentication challenge from a `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP basic authentication.
    Basic,
    /// Bearer token authentication: fetch a token from `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter to pass on, if any.
        service: Option<String>,
        /// The scope the registry asked for, if any.
        scope: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` header value into its challenges (unknown schemes are skipped).
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        // Scheme token.
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ',')
            .unwrap_or(rest.len());
        let scheme = rest[..end].to_ascii_lowercase();
        rest = rest[end..].trim_start_matches([' ', '\t', ',']);
        let mut params: HashMap<String, String> = HashMap::new();
        // auth-params: name=value or name="quoted", comma separated, until the next scheme.
        while let Some(eq) = rest.find('=') {
            let name = &rest[..eq];
            if name.is_empty() || name.contains([' ', '\t', ',']) {
                break; // the next token is a new scheme
            }
            let name = name.to_ascii_lowercase();
            let after = &rest[eq + 1..];
            let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = q.char_indices();
                let mut end = q.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &q[end.min(q.len())..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            };
            params.insert(name, value);
            rest = remaining.trim_start_matches([' ', '\t', ',']);
        }
        match scheme.as_str() {
            "basic" => out.push(Challenge::Basic),
            "bearer" => {
                if let Some(realm) = params.remove("realm") {
                    out.push(Challenge::Bearer {
                        realm,
                        service: params.remove("service"),
                        scope: params.remove("scope"),
                    });
                }
            }
            "" => break,
            _ => {}
        }
    }
    out
}

/// What a token endpoint answers.
#[derive(Deserialize)]
pub struct TokenResponse {
    /// The token (distribution spec name).
    #[serde(default)]
    pub token: Option<String>,
    /// The token (OAuth2 name).
    #[serde(default)]
    pub access_token: Option<String>,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token and the instant it should be dropped from the cache.
    pub fn into_cached(self, now: Instant) -> Option<CachedToken> {
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        let lifetime = self
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        let usable = lifetime
            .checked_sub(TOKEN_EXPIRY_MARGIN)
            .unwrap_or(lifetime / 2);
        Some(CachedToken {
            token,
            expires_at: now + usable,
        })
    }
}

/// A bearer token and when it stops being used.
#[derive(Clone, PartialEq, Eq)]
pub struct CachedToken {
    /// The token.
    pub token: String,
    /// When it is dropped from the cache.
    pub expires_at: Instant,
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Bearer tokens by scope, for one registry.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: HashMap<String, CachedToken>,
}

impl TokenCache {
    /// The live token for `scope`, dropping it if it has expired.
    pub fn get(&mut self, scope: &str, now: Instant) -> Option<String> {
        match self.tokens.get(scope) {
            Some(t) if t.expires_at > now => Some(t.token.clone()),
            Some(_) => {
                self.tokens.remove(scope);
                None
            }
            None => None,
        }
    }

    /// Remember `token` for `scope`.
    pub fn insert(&mut self, scope: &str, token: CachedToken) {
        self.tokens.insert(scope.to_owned(), token);
    }

    /// Forget the token for `scope` if it is still `token` (another task may have renewed it).
    pub fn evict(&mut self, scope: &str, token: &str) {
        if self.tokens.get(scope).is_some_and(|t| t.token == token) {
            self.tokens.remove(scope);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            c,
            vec![Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull".into()),
            }]
        );
        assert_eq!(
            parse_challenges(r#"Basic realm="Registry Realm""#),
            vec![Challenge::Basic]
        );
        let both = parse_challenges(r#"Basic realm="x", Bearer realm="https://t/", service=s"#);
        assert_eq!(both.len(), 2);
        assert_eq!(
            both[1],
            Challenge::Bearer {
                realm: "https://t/".into(),
                service: Some("s".into()),
                scope: None
            }
        );
        assert!(
            parse_challenges("Bearer service=x").is_empty(),
            "no realm, no challenge"
        );
        assert!(parse_challenges("").is_empty());
    }

    #[test]
    fn token_cache_expires_and_evicts_only_the_stale_token() {
        let now = Instant::now();
        let mut cache = TokenCache::default();
        let t = TokenResponse {
            token: Some("t1".into()),
            access_token: None,
            expires_in: Some(300),
        }
        .into_cached(now)
        .unwrap();
        cache.insert("s", t);
        assert_eq!(cache.get("s", now).as_deref(), Some("t1"));
        cache.evict("s", "other");
        assert_eq!(cache.get("s", now).as_deref(), Some("t1"));
        cache.evict("s", "t1");
        assert_eq!(cache.get("s", now), None);

        let short = TokenResponse {
            token: None,
            access_token: Some("t2".into()),
            expires_in: None,
        }
        .into_cached(now)
        .unwrap();
        cache.insert("s", short);
        assert_eq!(cache.get("s", now).as_deref(), Some("t2"));
        assert_eq!(cache.get("s", now + Duration::from_secs(60)), None);
        let empty = TokenResponse {
            token: Some(String::new()),
            access_token: None,
            expires_in: None,
        };
        assert!(empty.into_cached(now).is_none());
    }

    #[tokio::test]
    async fn reads_docker_config_auths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths": {{
                    "https://index.docker.io/v1/": {{"auth": "{encoded}"}},
                    "http://127.0.0.1:5000": {{"username": "bob", "password": "pw"}},
                    "broken.example": {{"auth": "%%%"}}
                }}}}"#
            ),
        )
        .unwrap();
        let cfg = DockerConfig::load(&path).unwrap();
        let hub = cfg
            .credentials_for("docker.io", &path)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(hub.username, "alice");
        assert_eq!(hub.password, "s3cr:et");
        let local = cfg
            .credentials_for("127.0.0.1:5000", &path)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (local.username.as_str(), local.password.as_str()),
            ("bob", "pw")
        );
        assert_eq!(cfg.credentials_for("ghcr.io", &path).await.unwrap(), None);
        let err = cfg
            .credentials_for("broken.example", &path)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
        assert!(!format!("{local:?}").contains("pw"), "Debug must redact");
        assert_eq!(local.basic_header(), "Basic Ym9iOnB3");
    }

    #[tokio::test]
    async fn runs_credential_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-vouchtest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread host\n[ \"$1\" = get ] || exit 3\n\
             if [ \"$host\" = reg.example ]; then echo '{\"Username\":\"u\",\"Secret\":\"s\"}'; \
             else echo 'credentials not found' >&2; exit 1; fi\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The helper is run by absolute path here: changing PATH would race other tests.
        let ok = run_helper_program(&helper, "vouchtest", "reg.example")
            .await
            .unwrap();
        assert_eq!((ok.username.as_str(), ok.password.as_str()), ("u", "s"));
        let err = run_helper_program(&helper, "vouchtest", "other.example")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("credentials not found"), "{err}");
        let err = run_cred_helper("../evil", "reg.example").await.unwrap_err();
        assert!(err.to_string().contains("invalid helper name"), "{err}");
        let err = run_cred_helper("vouch-missing-helper", "reg.example")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cannot run"), "{err}");
    }
}
