//! `vouch verify --file PATH --bundle FILE` (or `--digest sha256:… --bundle FILE`): a local file
//! and its Sigstore bundle, verified by the cosign verifier as it verifies an image's bundle
//! referrer. The host streams the file through SHA-256 (see [`crate::store::blob`]); the guest
//! sees only the file's descriptor and the bundle, through the usual host functions.
//!
//! The flags are cosign's `verify-blob` ones and become the cosign verifier's configuration:
//! `--certificate-identity[-regexp]` and `--certificate-oidc-issuer[-regexp]` an `identities`
//! entry, `--key` a `keys` entry, `--trusted-root` its `trustedRoot`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::config::{Config, VerifierConfig};
use crate::executor::SubjectSource;
use crate::localfile::{MAX_CONFIG_FILE_BYTES, read_regular_file_capped_to_string};
use crate::store::blob::{BlobStore, digest_descriptor, file_descriptor};
use crate::store::sources::subject_name;

/// The name of the verifier that judges Sigstore bundles, in a config file and in reports.
pub const COSIGN: &str = "cosign";
/// The name of the verifier that judges notation signatures, in a config file and in reports.
pub const NOTATION: &str = "notation";

/// Flags of `vouch verify` for a local file (or its digest) and its Sigstore bundle.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BlobArgs {
    /// Verify this local file with its Sigstore bundle (--bundle) instead of image subjects.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["digest", "subjects", "oci_layout"], requires = "bundle")]
    pub file: Option<PathBuf>,
    /// Verify a file known by its SHA-256 digest (`sha256:<hex>`) with its bundle (--bundle).
    #[arg(long, value_name = "sha256:HEX", conflicts_with_all = ["subjects", "oci_layout"], requires = "bundle")]
    pub digest: Option<String>,
    /// The Sigstore bundle (`.sigstore.json`, v0.1 to v0.3) of --file / --digest.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Keyless: the signing certificate's identity (SAN), exactly.
    #[arg(
        long,
        value_name = "IDENTITY",
        conflicts_with = "certificate_identity_regexp"
    )]
    pub certificate_identity: Option<String>,
    /// Keyless: a regular expression (unanchored search) the certificate's identity must match.
    #[arg(long, value_name = "REGEX")]
    pub certificate_identity_regexp: Option<String>,
    /// Keyless: the OIDC issuer of the signing certificate, exactly.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "certificate_oidc_issuer_regexp"
    )]
    pub certificate_oidc_issuer: Option<String>,
    /// Keyless: a regular expression (unanchored search) the certificate's OIDC issuer must match.
    #[arg(long, value_name = "REGEX")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// Keyless: `--certificate-github-workflow-*` (boxed: rarely given, and the verify command's
    /// arguments stay small).
    #[command(flatten)]
    pub workflow: Box<WorkflowArgs>,
    /// Key-based: the signer's PEM public key file.
    #[arg(long, value_name = "PEM_FILE")]
    pub key: Option<PathBuf>,
    /// The Sigstore `trusted_root.json` the bundle is verified against (required: nothing is
    /// fetched at verify time; for the public-good instance download it once, e.g. from
    /// Sigstore's TUF repository).
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// The verifier component (`cosign.wasm`, or `notation.wasm` with --notation-home); without
    /// it, the config file's verifier of that name, else the one shipped with Vouch (in
    /// `$VOUCH_VERIFIER_DIR`, else `../verifiers/` beside the `vouch` binary).
    #[arg(long, value_name = "WASM")]
    pub verifier: Option<PathBuf>,
    /// Image subjects: verify notation signatures with this notation configuration directory
    /// (`trustpolicy.oci.json` or `trustpolicy.json`, `truststore/x509/`), as `notation verify`
    /// does.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["file", "digest", "key"])]
    pub notation_home: Option<PathBuf>,
}

/// cosign's `--certificate-github-workflow-*` flags: Fulcio's GitHub workflow extensions the
/// signing certificate must carry, each exactly.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct WorkflowArgs {
    /// Keyless: the GitHub workflow trigger (Fulcio extension `1.3.6.1.4.1.57264.1.2`), exactly.
    #[arg(long, value_name = "EVENT")]
    pub certificate_github_workflow_trigger: Option<String>,
    /// Keyless: the GitHub workflow commit SHA (`1.3.6.1.4.1.57264.1.3`), exactly.
    #[arg(long, value_name = "SHA")]
    pub certificate_github_workflow_sha: Option<String>,
    /// Keyless: the GitHub workflow name (`1.3.6.1.4.1.57264.1.4`), exactly.
    #[arg(long, value_name = "NAME")]
    pub certificate_github_workflow_name: Option<String>,
    /// Keyless: the GitHub workflow repository, `owner/repo` (`1.3.6.1.4.1.57264.1.5`), exactly.
    #[arg(long, value_name = "OWNER/REPO")]
    pub certificate_github_workflow_repository: Option<String>,
    /// Keyless: the GitHub workflow ref, e.g. `refs/tags/v1` (`1.3.6.1.4.1.57264.1.6`), exactly.
    #[arg(long, value_name = "REF")]
    pub certificate_github_workflow_ref: Option<String>,
}

impl BlobArgs {
    /// Whether a file subject was asked for.
    pub fn is_blob(&self) -> bool {
        self.file.is_some() || self.digest.is_some()
    }

    /// Whether flags name the trust for image subjects without a file subject: `--key`, the
    /// `--certificate-*` identity flags (the cosign verifier) or `--notation-home`.
    pub fn image_trust(&self) -> bool {
        !self.is_blob()
            && (self.key.is_some()
                || self.certificate_identity.is_some()
                || self.certificate_identity_regexp.is_some()
                || self.certificate_oidc_issuer.is_some()
                || self.certificate_oidc_issuer_regexp.is_some()
                || self.workflow.certificate_github_workflow_trigger.is_some()
                || self.workflow.certificate_github_workflow_sha.is_some()
                || self.workflow.certificate_github_workflow_name.is_some()
                || self
                    .workflow
                    .certificate_github_workflow_repository
                    .is_some()
                || self.workflow.certificate_github_workflow_ref.is_some()
                || self.notation_home.is_some())
    }

    /// Whether a flag was given that means nothing here: `--bundle` without a file subject, or
    /// `--trusted-root` / `--verifier` without a file subject or image trust flags.
    pub fn stray_flags(&self) -> bool {
        !self.is_blob()
            && (self.bundle.is_some()
                || (!self.image_trust()
                    && (self.trusted_root.is_some() || self.verifier.is_some())))
    }

    /// The cosign verifier's configuration these flags describe. A file's bundle needs
    /// `--trusted-root` (`require_root`); image signatures made with a key do not.
    pub fn verifier_config(&self, require_root: bool) -> anyhow::Result<Value> {
        let mut config = serde_json::Map::new();
        match &self.trusted_root {
            Some(root) => {
                let text = read_regular_file_capped_to_string(
                    root,
                    MAX_CONFIG_FILE_BYTES,
                    "trusted root",
                )?;
                let root: Value = serde_json::from_str(&text)
                    .with_context(|| format!("the trusted root {} is not JSON", root.display()))?;
                config.insert("trustedRoot".into(), root);
            }
            None if require_root => bail!(
                "--trusted-root is required: a Sigstore bundle is verified against a \
                 trusted_root.json, and nothing is fetched at verify time"
            ),
            None => {}
        }
        let subject = match (
            &self.certificate_identity,
            &self.certificate_identity_regexp,
        ) {
            (Some(s), _) => Some(("subject", s)),
            (None, Some(r)) => Some(("subjectRegExp", r)),
            (None, None) => None,
        };
        let issuer = match (
            &self.certificate_oidc_issuer,
            &self.certificate_oidc_issuer_regexp,
        ) {
            (Some(s), _) => Some(("issuer", s)),
            (None, Some(r)) => Some(("issuerRegExp", r)),
            (None, None) => None,
        };
        let workflow: Vec<(&str, &String)> = [
            (
                "githubWorkflowTrigger",
                &self.workflow.certificate_github_workflow_trigger,
            ),
            (
                "githubWorkflowSha",
                &self.workflow.certificate_github_workflow_sha,
            ),
            (
                "githubWorkflowName",
                &self.workflow.certificate_github_workflow_name,
            ),
            (
                "githubWorkflowRepository",
                &self.workflow.certificate_github_workflow_repository,
            ),
            (
                "githubWorkflowRef",
                &self.workflow.certificate_github_workflow_ref,
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        if subject.is_none() && !workflow.is_empty() {
            bail!(
                "--certificate-github-workflow-* narrows a keyless identity: give \
                 --certificate-identity(-regexp) and --certificate-oidc-issuer(-regexp) too"
            );
        }
        match (subject, issuer) {
            (Some((sk, sv)), Some((ik, iv))) => {
                let mut identity = json!({ sk: sv, ik: iv });
                for (k, v) in workflow {
                    identity[k] = json!(v);
                }
                config.insert("identities".into(), json!([identity]));
            }
            (Some(_), None) => bail!(
                "--certificate-identity(-regexp) needs --certificate-oidc-issuer(-regexp): an \
                 identity is only meaningful with the issuer that vouched for it"
            ),
            (None, Some(_)) => {
                bail!("--certificate-oidc-issuer(-regexp) needs --certificate-identity(-regexp)")
            }
            (None, None) => {}
        }
        if let Some(key) = &self.key {
            let pem = read_regular_file_capped_to_string(key, MAX_CONFIG_FILE_BYTES, "key")?;
            let name = key
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "key".into());
            config.insert("keys".into(), json!([{ "name": name, "pem": pem }]));
        }
        if !config.contains_key("identities") && !config.contains_key("keys") {
            bail!(
                "say who may have signed: --certificate-identity(-regexp) with \
                 --certificate-oidc-issuer(-regexp) (keyless), or --key PEM_FILE"
            );
        }
        Ok(Value::Object(config))
    }

    /// The configuration to verify with: one verifier, `cosign` (from --verifier, else the
    /// config file's, else the shipped one), configured by these flags; the config file's other settings (runtime,
    /// executor) are kept, its policy and tenants are not.
    pub fn config(&self, config_path: &Path) -> anyhow::Result<Config> {
        self.config_with(config_path, COSIGN, self.verifier_config(true)?)
    }

    /// The configuration to verify image subjects with: one verifier configured by the flags —
    /// `notation` with `{notationHome: DIR}` for --notation-home, else `cosign` with the key or
    /// identities (and the trusted root when given) — from --verifier, else the config file's
    /// verifier of that name, else the shipped one; the config file's other settings (registries, caches, runtime) are
    /// kept, its policy and tenants are not.
    pub fn image_config(&self, config_path: &Path) -> anyhow::Result<Config> {
        match &self.notation_home {
            Some(home) => {
                let home = std::path::absolute(home)
                    .with_context(|| format!("--notation-home {}", home.display()))?;
                let config = json!({ "notationHome": home.display().to_string() });
                self.config_with(config_path, NOTATION, config)
            }
            None => self.config_with(config_path, COSIGN, self.verifier_config(false)?),
        }
    }

    /// The config file (or defaults, when there is none) with one verifier, `name`, configured
    /// by `verifier_config`: the `.wasm` of --verifier, else the config file's verifier of that
    /// name, else the one shipped with Vouch ([`super::shipped`]).
    fn config_with(
        &self,
        config_path: &Path,
        name: &str,
        verifier_config: Value,
    ) -> anyhow::Result<Config> {
        let mut config = if config_path.exists() {
            Config::load(config_path)?
        } else {
            Config {
                base_dir: std::env::current_dir().context("cannot read the current directory")?,
                ..Config::default()
            }
        };
        let named = |path: PathBuf| VerifierConfig {
            name: name.into(),
            path,
            signature_key: None,
            artifact_types: None,
            limits: Default::default(),
            config: None,
            image_references: None,
            skip_image_references: Vec::new(),
        };
        let mut verifier = match &self.verifier {
            Some(path) => named(
                std::path::absolute(path)
                    .with_context(|| format!("--verifier {}", path.display()))?,
            ),
            None => match config.verifiers.iter().find(|v| v.name == name) {
                Some(v) => v.clone(),
                None => named(super::shipped::locate(name)?),
            },
        };
        verifier.config = Some(verifier_config);
        // The flags name the trust for exactly the subjects given: no image scope applies.
        verifier.image_references = None;
        verifier.skip_image_references.clear();
        config.verifiers = vec![verifier];
        config.policy = None;
        config.tenants = Vec::new();
        Ok(config)
    }

    /// The subject: the file (streamed through SHA-256 on the blocking pool) or the digest, with
    /// the bundle as its one referrer.
    pub async fn source(&self) -> anyhow::Result<SubjectSource> {
        let bundle = self
            .bundle
            .clone()
            .context("--bundle is required with --file or --digest")?;
        let (subject, scope, reference) = match (&self.file, &self.digest) {
            (Some(path), _) => {
                let p = path.clone();
                let desc = tokio::task::spawn_blocking(move || file_descriptor(&p))
                    .await
                    .context("the file digest task failed")??;
                let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                (
                    desc,
                    format!("file:{}", canonical.display()),
                    path.display().to_string(),
                )
            }
            (None, Some(d)) => (digest_descriptor(d)?, "digest".to_owned(), d.clone()),
            (None, None) => bail!("--file or --digest is required"),
        };
        let tag_or_digest = subject.digest.to_string();
        let store = BlobStore::open(subject, &bundle)?;
        Ok(SubjectSource {
            store: Arc::new(store),
            scope,
            tag_or_digest,
            name: subject_name(&reference).to_owned(),
            reference,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> BlobArgs {
        let root = dir.join("root.json");
        std::fs::write(&root, "{\"mediaType\":\"x\"}").unwrap();
        BlobArgs {
            file: Some(dir.join("f")),
            bundle: Some(dir.join("b")),
            trusted_root: Some(root),
            ..BlobArgs::default()
        }
    }

    #[test]
    fn flags_become_the_cosign_config() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("release.pub");
        std::fs::write(&key, "PEM").unwrap();
        let a = BlobArgs {
            certificate_identity: Some("me@example.com".into()),
            certificate_oidc_issuer_regexp: Some("^https://issuer$".into()),
            key: Some(key),
            ..args(dir.path())
        };
        let c = a.verifier_config(true).unwrap();
        assert_eq!(c["trustedRoot"], json!({"mediaType": "x"}));
        assert_eq!(
            c["identities"],
            json!([{"subject": "me@example.com", "issuerRegExp": "^https://issuer$"}])
        );
        assert_eq!(c["keys"], json!([{"name": "release", "pem": "PEM"}]));
    }

    /// cosign verify-blob's `--certificate-github-workflow-*` flags narrow the identity.
    #[test]
    fn github_workflow_flags_join_the_identity() {
        let dir = tempfile::tempdir().unwrap();
        let a = BlobArgs {
            certificate_identity_regexp: Some("^https://github.com/o/r/".into()),
            certificate_oidc_issuer: Some("https://token.actions.githubusercontent.com".into()),
            workflow: Box::new(WorkflowArgs {
                certificate_github_workflow_repository: Some("o/r".into()),
                certificate_github_workflow_trigger: Some("push".into()),
                ..WorkflowArgs::default()
            }),
            ..args(dir.path())
        };
        let c = a.verifier_config(true).unwrap();
        assert_eq!(
            c["identities"],
            json!([{"subjectRegExp": "^https://github.com/o/r/",
                    "issuer": "https://token.actions.githubusercontent.com",
                    "githubWorkflowRepository": "o/r", "githubWorkflowTrigger": "push"}])
        );
        let e = BlobArgs {
            workflow: Box::new(WorkflowArgs {
                certificate_github_workflow_ref: Some("refs/tags/v1".into()),
                ..WorkflowArgs::default()
            }),
            ..args(dir.path())
        }
        .verifier_config(true)
        .unwrap_err();
        assert!(e.to_string().contains("narrows a keyless identity"), "{e}");
    }

    #[test]
    fn blob_flags_without_a_file_are_stray() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!args(dir.path()).stray_flags());
        let image = BlobArgs {
            file: None,
            ..args(dir.path())
        };
        assert!(image.stray_flags());
        assert!(!BlobArgs::default().stray_flags());
    }

    #[test]
    fn incomplete_flags_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let no_signer = args(dir.path()).verifier_config(true).unwrap_err();
        assert!(
            no_signer.to_string().contains("who may have signed"),
            "{no_signer}"
        );
        let no_issuer = BlobArgs {
            certificate_identity_regexp: Some("x".into()),
            ..args(dir.path())
        }
        .verifier_config(true)
        .unwrap_err();
        assert!(
            no_issuer
                .to_string()
                .contains("needs --certificate-oidc-issuer")
        );
        let no_root = BlobArgs {
            certificate_identity: Some("x".into()),
            certificate_oidc_issuer: Some("y".into()),
            trusted_root: None,
            ..args(dir.path())
        }
        .verifier_config(true)
        .unwrap_err();
        assert!(no_root.to_string().contains("--trusted-root is required"));
    }
}
