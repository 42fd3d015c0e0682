//! The verifier's configuration, parsed and validated in full by `check-config`.
//!
//! ```json
//! {
//!   "keys": [{"name": "release", "pem": "-----BEGIN PUBLIC KEY-----…", "algorithm": "ecdsa-p256-sha256"}],
//!   "fulcioRoots": ["-----BEGIN CERTIFICATE-----…"],
//!   "identities": [{"issuer": "https://accounts.google.com", "subjectRegExp": "@example\\.com$"}],
//!   "rekorPublicKey": "-----BEGIN PUBLIC KEY-----…",
//!   "annotations": {"env": "prod"},
//!   "attestationTypes": ["https://slsa.dev/provenance/v1"]
//! }
//! ```
//!
//! * `keys`: key-based verification. `algorithm` is optional: by default it follows the key type
//!   (P-256 → `ecdsa-p256-sha256`, P-384 → `ecdsa-p384-sha384`, RSA → `rsa-pkcs1-sha256`,
//!   Ed25519 → `ed25519`).
//! * `fulcioRoots` + `identities`: keyless verification; both are needed together. An identity
//!   gives exactly one of `issuer` / `issuerRegExp` and exactly one of `subject` /
//!   `subjectRegExp`. Regular expressions are unanchored searches, as cosign's
//!   `--certificate-identity-regexp` is: anchor them with `^…$` to match whole values.
//!   cosign's flag names are accepted as aliases: `certificateIdentity(Regexp)` for
//!   `subject(RegExp)`, `certificateOidcIssuer(Regexp)` for `issuer(RegExp)`. An identity may
//!   also require GitHub Actions workflow extensions to equal given values exactly, as
//!   `cosign verify --certificate-github-workflow-{trigger,sha,name,repository,ref}` does:
//!   `githubWorkflowTrigger` (`push`), `githubWorkflowSha` (the commit), `githubWorkflowName`,
//!   `githubWorkflowRepository` (`owner/repo`), `githubWorkflowRef` (`refs/tags/v1`), also
//!   spelled `certificateGithubWorkflow…`. They are read, as cosign reads them, from Fulcio's
//!   extensions `1.3.6.1.4.1.57264.1.2`–`.6`; a certificate without the extension does not
//!   match. An identity matches when its issuer, one SAN and every workflow value match.
//! * `rekorPublicKey`: when set, keyless signatures must carry a Rekor bundle whose signed entry
//!   timestamp verifies with this key; the bundle's `integratedTime` is then the signing time.
//!   Key-based signatures that carry a bundle have it verified too.
//! * `keys[].pemFile`: the key by path instead of `pem` (e.g. `cosign.pub`); `keysDir`: a
//!   directory whose `*.pub` / `*.pem` files are keys named after their file names;
//!   `trustedRootFile`: `trusted_root.json` by path. Paths are relative to the engine's config
//!   file; the host reads them at load and on reload and hands this verifier
//!   `{"file": path, "content": …}` (see the engine's `config::filerefs`). A path put in `pem`,
//!   `trustedRoot`, `fulcioRoots` or `rekorPublicKey` is reported as such.
//! * `annotations`: every pair must appear in the payload's `optional` section.
//! * `attestationTypes`: the in-toto `predicateType`s accepted in cosign attestations
//!   (`sha256-<hex>.att`, see `attestation.rs`). Absent: any predicate type passes once the
//!   envelope verifies (the report names it); present: any other fails with
//!   `PREDICATE_TYPE_NOT_ACCEPTED`. An empty list is refused (it would accept nothing).
//!   The list applies to Sigstore bundles' DSSE envelopes too.
//! * `maxStatementBytes`: the verified in-toto statement of an attestation (`.att` layer or
//!   bundle DSSE envelope) becomes the report's `statement` extension, JSON
//!   `{"_type", "subject", "predicateType", "predicate"}`, for the policy to read (see
//!   `statement.rs`). A statement over this many bytes fails with `STATEMENT_TOO_LARGE`
//!   (default 262144, at most 786432); `0` hands no statement on (and caps nothing).
//! * `sbom`: the sbom verifier's rules (`allowedLicenses` or `disallowedLicenses`,
//!   `unknownLicenses`, `disallowedPackages`, `maxReportedViolations`), applied to the verified
//!   predicate of SPDX (`https://spdx.dev/Document[/vX]`) and CycloneDX
//!   (`https://cyclonedx.org/bom[/vX]`) attestations: a failing SBOM fails the report with the
//!   sbom verifier's reason; a passing one adds the `sbom` extension (JSON: `format`,
//!   `packages`, `licenses`, `unknownLicenses`, `violations`, `violationDetails`). Other
//!   predicate types are not judged by it (require SBOM types with `attestationTypes`).
//! * `thresholds`: how many verified items a Sigstore bundle needs, as sigstore-go's verifier
//!   options: `transparencyLog` (entries that verify, default 1, at least 1), `signedTimestamps`
//!   (RFC 3161 timestamps, default 0), `integratedTimestamps` (Rekor v1 integrated times, default
//!   0) and `observerTimestamps` (either kind, default 1, at least 1).
//! * `trustedRoot`: Sigstore's `trusted_root.json` (the object inline, or the file's text as a
//!   string). It is what Sigstore bundles (`application/vnd.dev.sigstore.bundle.v0.3+json`) are
//!   verified against: certificates chain to one of its `certificateAuthorities` valid at the
//!   log's `integratedTime`, and the signed entry timestamp verifies with one of its `tlogs`.
//!   Certificate bundles are matched against `identities` (then `fulcioRoots` may be omitted);
//!   public-key bundles against `keys`. The legacy simple-signing form takes its CAs from
//!   `fulcioRoots`, but the CT log keys of its certificates' embedded SCTs from this root's
//!   `ctlogs`: a keyless simple-signing signature fails without a `trustedRoot`.
//!   Every `validFor` window (tlogs' and ctlogs' `publicKey.validFor`, certificate and timestamp
//!   authorities' `validFor`) must have a `start`; a root where one is missing is refused by
//!   `check-config` naming the field. A log key or CA is trusted only inside its window, end
//!   inclusive, at the entry's integrated time.
//!   A certificate bundle also needs an embedded SCT that verifies with one of the root's
//!   `ctlogs` (see `bundle.rs`, step 6).

use std::collections::BTreeMap;

use regex_lite::Regex;
use serde::Deserialize;

use crate::pem::{self, Alg, PublicKey};
use crate::trusted_root::TrustedRoot;

/// A configured verification key.
#[derive(Debug, Clone)]
pub struct Key {
    /// Name reported in the result.
    pub name: String,
    /// The key as PEM text (what the host's `verify-signature` gets).
    pub pem: String,
    /// The parsed key.
    pub key: PublicKey,
}

/// How one identity field is matched.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Exact string equality.
    Exact(String),
    /// Unanchored regular-expression search.
    Regex(Regex),
}

impl Matcher {
    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(r) => r.is_match(value),
        }
    }

    /// A description for messages, e.g. `"x"` or `/x/`.
    pub fn describe(&self) -> String {
        match self {
            Matcher::Exact(s) => format!("{s:?}"),
            Matcher::Regex(r) => format!("/{}/", r.as_str()),
        }
    }
}

/// One accepted keyless identity.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Matches the OIDC issuer.
    pub issuer: Matcher,
    /// Matches one of the certificate's subject alternative names.
    pub subject: Matcher,
    /// GitHub workflow extensions that must equal these values exactly (cosign's
    /// `--certificate-github-workflow-*`), by [`crate::der::GITHUB_WORKFLOW`] name.
    pub github: Vec<(&'static str, String)>,
}

impl Identity {
    /// Whether a certificate with OIDC issuer `issuer`, SANs `sans` and GitHub workflow
    /// extensions `github` is this identity; the SAN that matched.
    pub fn accepts<'a>(
        &self,
        issuer: &str,
        sans: &'a [String],
        github: &std::collections::BTreeMap<&'static str, String>,
    ) -> Option<&'a String> {
        if !self.issuer.matches(issuer)
            || !self
                .github
                .iter()
                .all(|(name, want)| github.get(name) == Some(want))
        {
            return None;
        }
        sans.iter().find(|s| self.subject.matches(s))
    }

    /// A description for messages: `/subject/ from "issuer"` and any workflow constraints.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} from {}",
            self.subject.describe(),
            self.issuer.describe()
        );
        for (name, want) in &self.github {
            s.push_str(&format!(" with {name} {want:?}"));
        }
        s
    }
}

/// Keyless trust: Fulcio roots and accepted identities.
#[derive(Debug, Clone)]
pub struct Keyless {
    /// DER root certificates (`fulcioRoots`; empty when only `trustedRoot` gives the CAs).
    pub roots: Vec<Vec<u8>>,
    /// Accepted identities (at least one).
    pub identities: Vec<Identity>,
}

/// The Rekor log's public key.
#[derive(Debug, Clone)]
pub struct Rekor {
    /// PEM text.
    pub pem: String,
    /// Parsed key.
    pub key: PublicKey,
}

/// How many verified log entries and times a Sigstore bundle needs, as sigstore-go's
/// `WithTransparencyLog(n)`, `WithSignedTimestamps(n)`, `WithIntegratedTimestamps(n)` and
/// `WithObserverTimestamps(n)` set them (`thresholds` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Transparency-log entries that must verify (at least 1: bundles are verified offline
    /// against their entries).
    pub transparency_log: usize,
    /// RFC 3161 signed timestamps that must verify.
    pub signed_timestamps: usize,
    /// Log entries whose integrated time (Rekor v1) must be verified.
    pub integrated_timestamps: usize,
    /// Verified times of either kind (at least 1: a certificate is checked at a proven time).
    pub observer_timestamps: usize,
}

impl Default for Thresholds {
    /// sigstore-go's defaults for cosign bundles: one log entry, one observer timestamp.
    fn default() -> Self {
        Thresholds {
            transparency_log: 1,
            signed_timestamps: 0,
            integrated_timestamps: 0,
            observer_timestamps: 1,
        }
    }
}

/// The most a threshold may ask for: a bundle carries at most 32 log entries and 32 timestamps.
const MAX_THRESHOLD: usize = 32;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawThresholds {
    transparency_log: Option<usize>,
    signed_timestamps: Option<usize>,
    integrated_timestamps: Option<usize>,
    observer_timestamps: Option<usize>,
}

impl RawThresholds {
    fn validate(self) -> Result<Thresholds, String> {
        let d = Thresholds::default();
        let t = Thresholds {
            transparency_log: self.transparency_log.unwrap_or(d.transparency_log),
            signed_timestamps: self.signed_timestamps.unwrap_or(d.signed_timestamps),
            integrated_timestamps: self
                .integrated_timestamps
                .unwrap_or(d.integrated_timestamps),
            observer_timestamps: self.observer_timestamps.unwrap_or(d.observer_timestamps),
        };
        if t.transparency_log < 1 {
            return Err(
                "thresholds.transparencyLog must be at least 1: bundles are verified \
                        offline against their transparency-log entries"
                    .into(),
            );
        }
        if t.observer_timestamps < 1 {
            return Err(
                "thresholds.observerTimestamps must be at least 1: a signature needs a \
                        verified time"
                    .into(),
            );
        }
        for (name, v) in [
            ("transparencyLog", t.transparency_log),
            ("signedTimestamps", t.signed_timestamps),
            ("integratedTimestamps", t.integrated_timestamps),
            ("observerTimestamps", t.observer_timestamps),
        ] {
            if v > MAX_THRESHOLD {
                return Err(format!(
                    "thresholds.{name} is {v}; a bundle carries at most {MAX_THRESHOLD}"
                ));
            }
        }
        Ok(t)
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Keys for key-based verification.
    pub keys: Vec<Key>,
    /// Keyless trust, when configured.
    pub keyless: Option<Keyless>,
    /// Rekor public key, when configured.
    pub rekor: Option<Rekor>,
    /// Annotations required in the payload's `optional` section.
    pub annotations: BTreeMap<String, String>,
    /// Sigstore trusted root for bundles, when configured.
    pub trusted_root: Option<TrustedRoot>,
    /// Accepted in-toto predicate types of attestations (`None`: any).
    pub attestation_types: Option<Vec<String>>,
    /// The cap on a verified in-toto statement handed to the policy (`maxStatementBytes`;
    /// `None`: `0` was configured, no statement is handed on).
    pub max_statement: Option<usize>,
    /// Verified log entries and times a bundle needs.
    pub thresholds: Thresholds,
    /// The sbom verifier's rules, applied to SPDX and CycloneDX attestations (`sbom`).
    pub sbom: Option<sbom_rules::config::Config>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    keys: Vec<RawKey>,
    #[serde(default)]
    fulcio_roots: Vec<String>,
    #[serde(default)]
    identities: Vec<RawIdentity>,
    rekor_public_key: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    trusted_root: Option<serde_json::Value>,
    /// `trusted_root.json` by path, resolved by the host into a [`FileRef`] of its JSON.
    trusted_root_file: Option<serde_json::Value>,
    /// A directory of PEM keys by path, resolved by the host into a [`FileRef`] of
    /// `{file name: PEM text}`.
    keys_dir: Option<serde_json::Value>,
    attestation_types: Option<Vec<String>>,
    max_statement_bytes: Option<usize>,
    /// The sbom verifier's configuration, for SBOM attestations.
    sbom: Option<serde_json::Value>,
    /// Verified log entries and times a Sigstore bundle needs.
    #[serde(default)]
    thresholds: RawThresholds,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKey {
    name: String,
    pem: Option<String>,
    /// The key by path, resolved by the host into a [`FileRef`] of its PEM text.
    pem_file: Option<serde_json::Value>,
    algorithm: Option<String>,
}

/// A file reference as the host resolves it (the engine's `config::filerefs`): the path as
/// given and the file's content.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRef<T> {
    file: String,
    content: T,
}

impl<T: serde::de::DeserializeOwned> FileRef<T> {
    /// The resolved reference at `field`; a bare path there means the host did not resolve it.
    fn from_value(field: &str, value: serde_json::Value) -> Result<FileRef<T>, String> {
        if let serde_json::Value::String(path) = &value {
            return Err(format!(
                "{field} ({path:?}) was not resolved by the host: file references are read by the engine at load (is the engine older than this verifier?)"
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("{field}: {e}"))
    }
}

/// "looks like a file path; use `file_field`" when `text`, found in `field`, is a path.
fn path_given(field: &str, text: &str, file_field: &str) -> Result<(), String> {
    if verifier_common::config::looks_like_path(text) {
        return Err(format!(
            "{field} looks like a file path ({text:?}), not PEM/JSON text; use `{file_field}` for a file (relative to the config file)"
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawIdentity {
    #[serde(alias = "certificateOidcIssuer")]
    issuer: Option<String>,
    #[serde(alias = "certificateOidcIssuerRegexp")]
    issuer_reg_exp: Option<String>,
    #[serde(alias = "certificateIdentity")]
    subject: Option<String>,
    #[serde(alias = "certificateIdentityRegexp")]
    subject_reg_exp: Option<String>,
    #[serde(alias = "certificateGithubWorkflowTrigger")]
    github_workflow_trigger: Option<String>,
    #[serde(alias = "certificateGithubWorkflowSha")]
    github_workflow_sha: Option<String>,
    #[serde(alias = "certificateGithubWorkflowName")]
    github_workflow_name: Option<String>,
    #[serde(alias = "certificateGithubWorkflowRepository")]
    github_workflow_repository: Option<String>,
    #[serde(alias = "certificateGithubWorkflowRef")]
    github_workflow_ref: Option<String>,
}

impl RawIdentity {
    /// The validated `identities[index]`.
    fn into_identity(mut self, index: usize) -> Result<Identity, String> {
        let github = self.github(index)?;
        Ok(Identity {
            issuer: matcher(index, "issuer", self.issuer, self.issuer_reg_exp)?,
            subject: matcher(index, "subject", self.subject, self.subject_reg_exp)?,
            github,
        })
    }

    /// The GitHub workflow constraints given, by [`crate::der::GITHUB_WORKFLOW`] name; an empty
    /// value is refused (cosign reads `""` as "no constraint": say so by omitting the field).
    fn github(&mut self, index: usize) -> Result<Vec<(&'static str, String)>, String> {
        let given = [
            self.github_workflow_trigger.take(),
            self.github_workflow_sha.take(),
            self.github_workflow_name.take(),
            self.github_workflow_repository.take(),
            self.github_workflow_ref.take(),
        ];
        let mut out = Vec::new();
        for ((_, name), value) in crate::der::GITHUB_WORKFLOW.iter().zip(given) {
            match value {
                Some(v) if v.is_empty() => {
                    return Err(format!(
                        "identities[{index}].{name} is empty; omit it to accept any value"
                    ));
                }
                Some(v) => out.push((*name, v)),
                None => {}
            }
        }
        Ok(out)
    }
}

fn matcher(
    index: usize,
    field: &str,
    exact: Option<String>,
    regex: Option<String>,
) -> Result<Matcher, String> {
    match (exact, regex) {
        (Some(s), None) if !s.is_empty() => Ok(Matcher::Exact(s)),
        (None, Some(r)) => Regex::new(&r).map(Matcher::Regex).map_err(|e| {
            format!("identities[{index}].{field}RegExp `{r}` is not a valid regex: {e}")
        }),
        (Some(_), None) => Err(format!("identities[{index}].{field} is empty")),
        (Some(_), Some(_)) => Err(format!(
            "identities[{index}] gives both {field} and {field}RegExp; give one"
        )),
        (None, None) => Err(format!(
            "identities[{index}] needs {field} or {field}RegExp"
        )),
    }
}

impl Config {
    /// Parses and validates `text`; the error says what is wrong and where.
    pub fn parse(text: &str) -> Result<Config, String> {
        let raw: RawConfig =
            serde_json::from_str(text).map_err(|e| format!("config is not valid: {e}"))?;
        let mut keys = Vec::with_capacity(raw.keys.len());
        let keys_dir = raw
            .keys_dir
            .map(|v| FileRef::<BTreeMap<String, String>>::from_value("keysDir", v))
            .transpose()?;
        let from_dir = keys_dir.into_iter().flat_map(|d| {
            let dir = d.file;
            d.content.into_iter().map(move |(name, pem)| RawKey {
                name: name.clone(),
                pem: None,
                pem_file: Some(
                    serde_json::json!({"file": format!("{dir}/{name}"), "content": pem}),
                ),
                algorithm: None,
            })
        });
        for (i, k) in raw.keys.into_iter().chain(from_dir).enumerate() {
            if k.name.is_empty() {
                return Err(format!("keys[{i}].name is empty"));
            }
            if keys.iter().any(|x: &Key| x.name == k.name) {
                return Err(format!("keys[{i}]: duplicate key name `{}`", k.name));
            }
            let (pem, source) = match (k.pem, k.pem_file) {
                (Some(p), None) => {
                    path_given(&format!("keys[{i}].pem"), &p, "pemFile")?;
                    (p, String::new())
                }
                (None, Some(f)) => {
                    let f = FileRef::<String>::from_value(&format!("keys[{i}].pemFile"), f)?;
                    (f.content, format!(" from `{}`", f.file))
                }
                _ => {
                    return Err(format!(
                        "keys[{i}] (`{}`) needs exactly one of `pem` (PEM text) and `pemFile` (a path)",
                        k.name
                    ));
                }
            };
            let mut key = pem::public_key(&pem).map_err(|e| {
                format!(
                    "keys[{i}] (`{}`){source}: cannot parse the PEM key: {e}",
                    k.name
                )
            })?;
            if let Some(a) = k.algorithm {
                key.alg = Alg::parse(&a).ok_or_else(|| {
                    format!(
                        "keys[{i}] (`{}`): unknown algorithm `{a}`; expected one of {}",
                        k.name,
                        Alg::all_names()
                    )
                })?;
            }
            keys.push(Key {
                name: k.name,
                pem,
                key,
            });
        }
        let trusted_root = match (&raw.trusted_root, raw.trusted_root_file) {
            (Some(_), Some(_)) => {
                return Err(
                    "give `trustedRoot` (inline) or `trustedRootFile` (a path), not both".into(),
                );
            }
            (Some(v), None) => {
                // JSON text (a `{…}` object) is never a path, whatever `/` and `.` it holds.
                if let Some(s) = v.as_str().filter(|s| !s.trim_start().starts_with('{')) {
                    path_given("trustedRoot", s, "trustedRootFile")?;
                }
                Some(TrustedRoot::from_value(v).map_err(|e| format!("trustedRoot: {e}"))?)
            }
            (None, Some(f)) => {
                let f = FileRef::<serde_json::Value>::from_value("trustedRootFile", f)?;
                Some(
                    TrustedRoot::from_value(&f.content)
                        .map_err(|e| format!("trustedRootFile `{}`: {e}", f.file))?,
                )
            }
            (None, None) => None,
        };
        let root_has_cas = trusted_root
            .as_ref()
            .is_some_and(|t| !t.certificate_authorities.is_empty());
        let keyless = match (
            raw.fulcio_roots.is_empty(),
            root_has_cas,
            raw.identities.is_empty(),
        ) {
            (true, _, true) => None,
            (false, _, true) => {
                return Err(
                    "fulcioRoots is set but identities is empty: keyless verification \
                            needs the accepted identities"
                        .into(),
                );
            }
            (true, false, false) => {
                return Err(
                    "identities is set but fulcioRoots is empty (and no trustedRoot with \
                     certificateAuthorities): keyless verification needs the Fulcio root \
                     certificates"
                        .into(),
                );
            }
            _ => {
                let mut roots = Vec::new();
                for (i, r) in raw.fulcio_roots.iter().enumerate() {
                    path_given(&format!("fulcioRoots[{i}]"), r, "trustedRootFile")?;
                    let certs =
                        pem::certificates(r).map_err(|e| format!("fulcioRoots[{i}]: {e}"))?;
                    for c in &certs {
                        crate::der::cert_fields(c)
                            .map_err(|e| format!("fulcioRoots[{i}]: bad certificate: {e}"))?;
                    }
                    roots.extend(certs);
                }
                let identities = raw
                    .identities
                    .into_iter()
                    .enumerate()
                    .map(|(i, id)| id.into_identity(i))
                    .collect::<Result<Vec<_>, String>>()?;
                Some(Keyless { roots, identities })
            }
        };
        if keys.is_empty() && keyless.is_none() {
            return Err(if trusted_root.is_some() {
                "trustedRoot alone decides nothing: give `identities` (certificate bundles) \
                 or `keys` (public-key bundles) too"
                    .into()
            } else {
                "no trust configured: give `keys` (key-based) or `fulcioRoots` and \
                        `identities` (keyless)"
                    .into()
            });
        }
        let rekor = match raw.rekor_public_key {
            Some(p) => {
                path_given("rekorPublicKey", &p, "trustedRootFile")?;
                let key = pem::public_key(&p)
                    .map_err(|e| format!("rekorPublicKey: cannot parse the PEM key: {e}"))?;
                Some(Rekor { pem: p, key })
            }
            None => None,
        };
        verifier_common::statement::check_attestation_types(raw.attestation_types.as_deref())?;
        let max_statement = verifier_common::statement::max_statement(raw.max_statement_bytes)?;
        let sbom = match raw.sbom {
            Some(v @ serde_json::Value::Object(_)) => Some(
                sbom_rules::config::Config::parse(&v.to_string())
                    .map_err(|e| format!("sbom: {e}"))?,
            ),
            Some(other) => {
                return Err(format!(
                    "sbom must be an object of the sbom verifier's rules, got {other}"
                ));
            }
            None => None,
        };
        Ok(Config {
            keys,
            keyless,
            rekor,
            annotations: raw.annotations,
            trusted_root,
            attestation_types: raw.attestation_types,
            max_statement,
            thresholds: raw.thresholds.validate()?,
            sbom,
        })
    }
}

/// JSON Schema of the configuration.
pub const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "keys": {"type": "array", "items": {"type": "object", "additionalProperties": false,
      "required": ["name"],
      "properties": {"name": {"type": "string"}, "pem": {"type": "string"},
                     "pemFile": {"type": "string", "x-vouch-file": "pem", "x-vouch-inline": "pem"},
                     "algorithm": {"type": "string"}}}},
    "keysDir": {"type": "string", "x-vouch-file": "pem-dir", "x-vouch-inline": "keys"},
    "fulcioRoots": {"type": "array", "items": {"type": "string"}},
    "identities": {"type": "array", "items": {"type": "object", "additionalProperties": false,
      "properties": {"issuer": {"type": "string"}, "issuerRegExp": {"type": "string"},
                     "subject": {"type": "string"}, "subjectRegExp": {"type": "string"},
                     "certificateOidcIssuer": {"type": "string"},
                     "certificateOidcIssuerRegexp": {"type": "string"},
                     "certificateIdentity": {"type": "string"},
                     "certificateIdentityRegexp": {"type": "string"},
                     "githubWorkflowTrigger": {"type": "string"},
                     "githubWorkflowSha": {"type": "string"},
                     "githubWorkflowName": {"type": "string"},
                     "githubWorkflowRepository": {"type": "string"},
                     "githubWorkflowRef": {"type": "string"},
                     "certificateGithubWorkflowTrigger": {"type": "string"},
                     "certificateGithubWorkflowSha": {"type": "string"},
                     "certificateGithubWorkflowName": {"type": "string"},
                     "certificateGithubWorkflowRepository": {"type": "string"},
                     "certificateGithubWorkflowRef": {"type": "string"}}}},
    "rekorPublicKey": {"type": "string"},
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "attestationTypes": {"type": "array", "items": {"type": "string"}},
    "maxStatementBytes": {"type": "integer", "minimum": 0, "maximum": 786432},
    "sbom": {"type": "object"},
    "trustedRoot": {"type": ["object", "string"]},
    "trustedRootFile": {"type": "string", "x-vouch-file": "json", "x-vouch-inline": "trustedRoot"},
    "thresholds": {"type": "object", "additionalProperties": false,
      "properties": {"transparencyLog": {"type": "integer", "minimum": 1, "maximum": 32},
                     "signedTimestamps": {"type": "integer", "minimum": 0, "maximum": 32},
                     "integratedTimestamps": {"type": "integer", "minimum": 0, "maximum": 32},
                     "observerTimestamps": {"type": "integer", "minimum": 1, "maximum": 32}}}
  }
}"#;

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G5kfIAFEhWcljeuqgQ0K8cV2Ba8\\nbBDz6Tt5HnXYfGkvoBeXI8EKjBAyz4U3Sc1eBRUf9n4L9wwsRC3bHHJZbA==\\n-----END PUBLIC KEY-----\\n";

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err()
    }

    #[test]
    fn key_config_parses() {
        let c = Config::parse(&format!(r#"{{"keys":[{{"name":"a","pem":"{KEY}"}}]}}"#)).unwrap();
        assert_eq!(c.keys.len(), 1);
        assert_eq!(c.keys[0].key.alg, Alg::EcdsaP256Sha256);
        assert!(c.keyless.is_none());
    }

    #[test]
    fn bad_configs_are_rejected_with_reasons() {
        assert!(err("{}").contains("no trust configured"));
        assert!(err(r#"{"keys":[]}"#).contains("no trust configured"));
        assert!(err("nope").contains("not valid"));
        assert!(err(r#"{"keys":[{"name":"a","pem":"junk"}]}"#).contains("keys[0]"));
        assert!(err(r#"{"kees":[]}"#).contains("unknown field"));
        assert!(
            err(&format!(
                r#"{{"keys":[{{"name":"a","pem":"{KEY}","algorithm":"md5"}}]}}"#
            ))
            .contains("unknown algorithm")
        );
        assert!(
            err(&format!(
                r#"{{"keys":[{{"name":"a","pem":"{KEY}"}},{{"name":"a","pem":"{KEY}"}}]}}"#
            ))
            .contains("duplicate")
        );
        assert!(err(r#"{"fulcioRoots":["x"]}"#).contains("identities is empty"));
        assert!(
            err(r#"{"identities":[{"issuer":"a","subject":"b"}]}"#)
                .contains("fulcioRoots is empty")
        );
        assert!(
            err(&format!(
                r#"{{"keys":[{{"name":"a","pem":"{KEY}"}}],"rekorPublicKey":"x"}}"#
            ))
            .contains("rekorPublicKey")
        );
    }

    #[test]
    fn keys_by_reference_arrive_resolved() {
        let c = Config::parse(&format!(
            r#"{{"keys":[{{"name":"a","pemFile":{{"file":"cosign.pub","content":"{KEY}"}}}}],
                "keysDir":{{"file":"keys","content":{{"b.pub":"{KEY}","c.pem":"{KEY}"}}}}}}"#
        ))
        .unwrap();
        let names: Vec<&str> = c.keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["a", "b.pub", "c.pem"]);
        let e = err(r#"{"keysDir":{"file":"keys","content":{"b.pub":"junk"}}}"#);
        assert!(
            e.contains("keys[0] (`b.pub`) from `keys/b.pub`: cannot parse"),
            "{e}"
        );
        let e = err(&format!(
            r#"{{"keys":[{{"name":"a","pem":"{KEY}","pemFile":{{"file":"k","content":"{KEY}"}}}}]}}"#
        ));
        assert!(e.contains("exactly one of `pem`"), "{e}");
        // An unresolved path (no host resolution) is refused, not read as PEM.
        let e = err(r#"{"keys":[{"name":"a","pemFile":"cosign.pub"}]}"#);
        assert!(
            e.contains("keys[0].pemFile (\"cosign.pub\") was not resolved by the host"),
            "{e}"
        );
    }

    #[test]
    fn thresholds_default_like_sigstore_go_and_are_bounded() {
        let c = Config::parse(&format!(r#"{{"keys":[{{"name":"a","pem":"{KEY}"}}]}}"#)).unwrap();
        assert_eq!(c.thresholds, Thresholds::default());
        let c = Config::parse(&format!(
            r#"{{"keys":[{{"name":"a","pem":"{KEY}"}}],"thresholds":{{"signedTimestamps":2,"observerTimestamps":3}}}}"#
        ))
        .unwrap();
        assert_eq!(c.thresholds.signed_timestamps, 2);
        assert_eq!(c.thresholds.observer_timestamps, 3);
        assert_eq!(c.thresholds.transparency_log, 1);
        for (t, needle) in [
            (
                r#"{"transparencyLog":0}"#,
                "transparencyLog must be at least 1",
            ),
            (
                r#"{"observerTimestamps":0}"#,
                "observerTimestamps must be at least 1",
            ),
            (r#"{"signedTimestamps":33}"#, "at most 32"),
            (r#"{"sct":1}"#, "unknown field"),
        ] {
            let e = err(&format!(
                r#"{{"keys":[{{"name":"a","pem":"{KEY}"}}],"thresholds":{t}}}"#
            ));
            assert!(e.contains(needle), "{t}: {e}");
        }
    }

    #[test]
    fn a_path_where_pem_is_expected_says_so() {
        let e = err(r#"{"keys":[{"name":"a","pem":"keys/cosign.pub"}]}"#);
        assert!(
            e.contains("keys[0].pem looks like a file path (\"keys/cosign.pub\")")
                && e.contains("use `pemFile`"),
            "{e}"
        );
        let e = err(&format!(
            r#"{{"keys":[{{"name":"a","pem":"{KEY}"}}],"trustedRoot":"trusted_root.json"}}"#
        ));
        assert!(
            e.contains("trustedRoot looks like a file path") && e.contains("`trustedRootFile`"),
            "{e}"
        );
        let e = err(&format!(
            r#"{{"keys":[{{"name":"a","pem":"{KEY}"}}],"rekorPublicKey":"/etc/rekor.pub"}}"#
        ));
        assert!(e.contains("rekorPublicKey looks like a file path"), "{e}");
        // Trusted-root JSON as text is judged as JSON, even when, like a compact root, it has
        // no space and a `/` followed by a dotted segment (`https://rekor.test`).
        let root = r#"{\"mediaType\":\"x\",\"tlogs\":[{\"baseUrl\":\"https://rekor.test\"}]}"#;
        let e = err(&format!(
            r#"{{"keys":[{{"name":"a","pem":"{KEY}"}}],"trustedRoot":"{root}"}}"#
        ));
        assert!(!e.contains("looks like a file path"), "{e}");
        let e = err(&format!(
            r#"{{"keys":[{{"name":"a","pem":"{KEY}"}}],"trustedRoot":{{}},"trustedRootFile":{{"file":"t","content":{{}}}}}}"#
        ));
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn the_schema_declares_the_file_references() {
        let v: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let p = &v["properties"];
        assert_eq!(
            p["keys"]["items"]["properties"]["pemFile"]["x-vouch-file"],
            "pem"
        );
        assert_eq!(p["keysDir"]["x-vouch-file"], "pem-dir");
        assert_eq!(p["trustedRootFile"]["x-vouch-file"], "json");
    }

    /// cosign's flags as users write them (`--certificate-identity`,
    /// `--certificate-oidc-issuer-regexp`, `--certificate-github-workflow-repository`, …) are
    /// accepted under their own names; cosign `validateCertExtensions`: "if
    /// co.CertGithubWorkflowTrigger != "" { if ce.GetCertExtensionGithubWorkflowTrigger() !=
    /// co.CertGithubWorkflowTrigger { … not found in certificate } }" — exact equality of each
    /// given value, every one required, a missing extension never equal.
    #[test]
    fn cosign_flag_names_and_github_workflow_constraints() {
        let parse = |json: &str| {
            serde_json::from_str::<RawIdentity>(json)
                .map_err(|e| e.to_string())
                .and_then(|raw| raw.into_identity(0))
        };
        let id = parse(
            r#"{"certificateIdentityRegexp":"^https://github\\.com/org/app/","certificateOidcIssuer":"https://token.actions.githubusercontent.com","certificateGithubWorkflowRepository":"org/app","githubWorkflowTrigger":"push"}"#,
        )
        .unwrap();
        assert!(matches!(id.subject, Matcher::Regex(_)));
        assert!(
            matches!(&id.issuer, Matcher::Exact(s) if s == "https://token.actions.githubusercontent.com")
        );
        assert_eq!(
            id.github,
            [
                ("githubWorkflowTrigger", "push".to_owned()),
                ("githubWorkflowRepository", "org/app".to_owned())
            ]
        );
        let sans = ["https://github.com/org/app/.github/workflows/r.yml@refs/tags/v1".to_owned()];
        let mut github = BTreeMap::from([
            ("githubWorkflowTrigger", "push".to_owned()),
            ("githubWorkflowRepository", "org/app".to_owned()),
            ("githubWorkflowRef", "refs/tags/v1".to_owned()),
        ]);
        let issuer = "https://token.actions.githubusercontent.com";
        assert_eq!(id.accepts(issuer, &sans, &github), Some(&sans[0]));
        github.insert("githubWorkflowTrigger", "pull_request".to_owned());
        assert_eq!(id.accepts(issuer, &sans, &github), None, "another trigger");
        github.remove("githubWorkflowTrigger");
        assert_eq!(
            id.accepts(issuer, &sans, &github),
            None,
            "no trigger extension"
        );
        github.insert("githubWorkflowTrigger", "push".to_owned());
        github.insert("githubWorkflowRepository", "org/app-fork".to_owned());
        assert_eq!(
            id.accepts(issuer, &sans, &github),
            None,
            "exact, not a prefix"
        );
        assert!(
            id.describe()
                .contains(r#"with githubWorkflowRepository "org/app""#)
        );

        let e =
            parse(r#"{"subject":"a","issuer":"b","certificateGithubWorkflowRef":""}"#).unwrap_err();
        assert!(
            e.contains("identities[0].githubWorkflowRef is empty"),
            "{e}"
        );
        let e = parse(r#"{"subject":"a","issuer":"b","githubWorkflowBranch":"x"}"#).unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn matchers() {
        let m = matcher(0, "subject", None, Some("@example\\.com$".into())).unwrap();
        assert!(m.matches("dev@example.com"));
        assert!(!m.matches("dev@example.com.evil"));
        assert!(
            matcher(0, "subject", None, Some("(".into()))
                .unwrap_err()
                .contains("regex")
        );
        assert!(matcher(0, "issuer", None, None).is_err());
        assert!(matcher(0, "issuer", Some("a".into()), Some("b".into())).is_err());
        assert!(Matcher::Exact("a".into()).matches("a"));
        assert!(!Matcher::Exact("a".into()).matches("ab"));
    }
}
