//! `vouch verify … --attest-verdict KEY [--push] [--attest-out FILE]`: each verdict as a signed
//! SLSA Verification Summary (an in-toto statement in a DSSE envelope, see
//! [`crate::report::vsa`]), written to a file (JSON Lines, one envelope per subject) and/or
//! pushed as an OCI 1.1 referrer of the image (artifact type
//! `application/vnd.dsse.envelope.v1+json`, recorded in the `sha256-<hex>` tag-schema index
//! when the registry has no referrers API, as `vouch sign` does).
//!
//! Only PASSED verdicts are pushed: a summary in the registry is there to let other clusters
//! admit the image without verifying it, and a FAILED one admits nothing — it would only pile
//! up beside the image, and a consumer must not need it to reject. A FAILED summary is still
//! written to `--attest-out` (an audit record).
//!
//! The key is a PKCS#8 PEM private key (ECDSA P-256 or P-384, or Ed25519), as for `vouch sign`
//! and `vouch plugin keygen`; the summary's `policy.digest` is the executor's fingerprint of the
//! effective configuration, printed on stderr so that consumers can pin it (`policyDigests` of
//! the `vsa` verifier).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use sha2::Digest as _;

use super::EXIT_UNREACHABLE;
use super::push::push_referrer;
use crate::config::Config;
use crate::executor::{Executor, subject_name};
use crate::oci::registry::RegistryClient;
use crate::plugin::{SigningKey, parse_reference, referrer_artifact};
use crate::report::SubjectReport;
use crate::report::vsa::{
    DSSE_ENVELOPE, PREDICATE_TYPE_ANNOTATION, Summary, VSA_PREDICATE_TYPE, envelope, statement,
};

/// The default `verifier.id` of the summaries Vouch writes (set `--verifier-id` to name the
/// cluster or platform: the spec wants the trust base consumers care about).
pub const DEFAULT_VERIFIER_ID: &str = "urn:vouch:verifier";
/// Annotation with the creation time of a pushed summary (its `timeVerified`).
const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// The flags of `vouch verify` that attest its verdicts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AttestArgs {
    /// Sign each verdict as a SLSA Verification Summary (in-toto statement, DSSE envelope) with
    /// this PKCS#8 PEM private key (ECDSA P-256/P-384 or Ed25519; `vouch plugin keygen` makes
    /// one). Needs --push and/or --attest-out.
    #[arg(long, value_name = "PEM_FILE")]
    pub attest_verdict: Option<PathBuf>,
    /// Push each PASSED summary as an OCI referrer of its image (FAILED ones are not pushed).
    #[arg(long, requires = "attest_verdict")]
    pub push: bool,
    /// Write every summary (PASSED and FAILED) to FILE, one DSSE envelope per line.
    #[arg(long, value_name = "FILE", requires = "attest_verdict")]
    pub attest_out: Option<PathBuf>,
    /// The summaries' `verifier.id`: a URI naming this verifier (e.g. the cluster).
    #[arg(long, value_name = "URI", requires = "attest_verdict")]
    pub verifier_id: Option<String>,
    /// The summaries' `policy.uri` (default: the config file as a `file://` URI).
    #[arg(long, value_name = "URI", requires = "attest_verdict")]
    pub policy_uri: Option<String>,
}

/// Signs and publishes the summaries of one `vouch verify` run.
pub(super) struct Attestor {
    key: SigningKey,
    keyid: String,
    push: bool,
    out: Option<PathBuf>,
    verifier_id: String,
    policy_uri: String,
}

impl Attestor {
    /// The attestor the flags ask for (`None` without --attest-verdict); the key is read now,
    /// so a bad key is a usage error before anything is verified.
    pub(super) fn new(
        args: &AttestArgs,
        config_path: &Path,
        oci_layout: bool,
    ) -> anyhow::Result<Option<Attestor>> {
        let Some(key_path) = &args.attest_verdict else {
            return Ok(None);
        };
        if !args.push && args.attest_out.is_none() {
            bail!("--attest-verdict needs --push and/or --attest-out FILE");
        }
        if args.push && oci_layout {
            bail!("--push attaches summaries in a registry; for OCI layouts use --attest-out");
        }
        let key = SigningKey::load(key_path)?;
        let keyid = format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(key.public_key_spki_der()))
        );
        let policy_uri = match &args.policy_uri {
            Some(uri) => uri.clone(),
            None => {
                let abs = std::path::absolute(config_path).unwrap_or(config_path.to_owned());
                format!("file://{}", abs.display())
            }
        };
        Ok(Some(Attestor {
            key,
            keyid,
            push: args.push,
            out: args.attest_out.clone(),
            verifier_id: args
                .verifier_id
                .clone()
                .unwrap_or_else(|| DEFAULT_VERIFIER_ID.to_owned()),
            policy_uri,
        }))
    }

    /// Sign a summary of every resolved subject of `reports`, write and push them; the exit
    /// code a failed push earns (3), else `None`.
    pub(super) async fn attest(
        &self,
        reports: &[SubjectReport],
        executor: &Executor,
        config: &Config,
    ) -> anyhow::Result<Option<u8>> {
        let mut versions = BTreeMap::from([("vouch".to_owned(), env!("CARGO_PKG_VERSION").into())]);
        for v in executor.verifiers() {
            versions.insert(
                v.verifier.name().to_owned(),
                v.verifier.metadata().version.clone(),
            );
        }
        let summary = Summary {
            verifier_id: self.verifier_id.clone(),
            versions,
            time_verified: SystemTime::now(),
            policy_uri: self.policy_uri.clone(),
            policy_digest: executor.fingerprint().to_owned(),
        };
        let mut err = std::io::stderr().lock();
        writeln!(
            err,
            "verification summaries under policy {}",
            summary.policy_digest
        )?;
        let client = match self.push {
            true => Some(config.stores.registries.client()?),
            false => None,
        };
        let mut lines = Vec::new();
        let mut code = None;
        for report in reports {
            let Some(digest) = report.digest.as_deref() else {
                writeln!(err, "  {}: not resolved, no summary", report.subject)?;
                continue;
            };
            let name = subject_name(&report.subject);
            let stmt = statement(report, name, &summary)?;
            let signed = envelope(&stmt, &self.keyid, |m| self.key.sign(m))?;
            let result = stmt["predicate"]["verificationResult"]
                .as_str()
                .unwrap_or_default();
            if let Some(client) = &client
                && report.is_success
            {
                match push_one(client, report, digest, &signed, &stmt).await {
                    Ok(at) => writeln!(err, "  {}: {result}, pushed {at}", report.subject)?,
                    Err(e) => {
                        writeln!(
                            err,
                            "  {}: {result}, cannot push the summary: {e:#}",
                            report.subject
                        )?;
                        code = Some(EXIT_UNREACHABLE);
                    }
                }
            } else if self.push {
                writeln!(
                    err,
                    "  {}: {result}, not pushed (only PASSED summaries are)",
                    report.subject
                )?;
            }
            lines.push(signed);
        }
        if let Some(out) = &self.out {
            let mut text = Vec::new();
            for line in &lines {
                text.extend_from_slice(line);
                text.push(b'\n');
            }
            std::fs::write(out, text)
                .with_context(|| format!("cannot write the summaries to {}", out.display()))?;
            writeln!(
                err,
                "  {} summaries written to {}",
                lines.len(),
                out.display()
            )?;
        }
        Ok(code)
    }
}

/// Push one signed summary as a referrer of the report's image (resolved to `digest`); returns
/// where it is.
async fn push_one(
    client: &RegistryClient,
    report: &SubjectReport,
    digest: &str,
    signed: &[u8],
    stmt: &serde_json::Value,
) -> anyhow::Result<String> {
    let target = parse_reference(&report.subject)?;
    let subject = client
        .resolve(&target, digest)
        .await
        .with_context(|| format!("cannot resolve {}@{digest}", target.name()))?;
    let annotations = BTreeMap::from([
        (
            PREDICATE_TYPE_ANNOTATION.to_owned(),
            VSA_PREDICATE_TYPE.to_owned(),
        ),
        (
            CREATED_ANNOTATION.to_owned(),
            stmt["predicate"]["timeVerified"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
    ]);
    let artifact = referrer_artifact(
        DSSE_ENVELOPE,
        DSSE_ENVELOPE,
        Bytes::copy_from_slice(signed),
        &subject,
        annotations,
    );
    push_referrer(client, &target, &subject.digest, &artifact).await?;
    Ok(format!("{}@{}", target.name(), artifact.descriptor.digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(key: &Path) -> AttestArgs {
        AttestArgs {
            attest_verdict: Some(key.to_owned()),
            ..AttestArgs::default()
        }
    }

    fn error(args: &AttestArgs, layout: bool) -> String {
        match Attestor::new(args, Path::new("vouch.yaml"), layout) {
            Ok(_) => panic!("must be refused"),
            Err(e) => format!("{e:#}"),
        }
    }

    /// Usage errors come before any verification: nowhere to put the summaries, `--push` of
    /// layout subjects, an unreadable key (named).
    #[test]
    fn attestation_flags_are_checked_before_verifying() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("a.key");
        let (private, _) = SigningKey::generate_pem().unwrap();
        std::fs::write(&key, private).unwrap();
        assert!(error(&args(&key), false).contains("--push and/or --attest-out"));
        let push = AttestArgs {
            push: true,
            ..args(&key)
        };
        assert!(error(&push, true).contains("--attest-out"));
        let missing = AttestArgs {
            push: true,
            ..args(&dir.path().join("absent.key"))
        };
        assert!(error(&missing, false).contains("absent.key"));
        let a = Attestor::new(&push, Path::new("/etc/vouch.yaml"), false)
            .unwrap()
            .unwrap();
        assert_eq!(a.policy_uri, "file:///etc/vouch.yaml");
        assert_eq!(a.verifier_id, DEFAULT_VERIFIER_ID);
        assert!(a.keyid.starts_with("sha256:") && a.keyid.len() == 71);
        assert!(
            Attestor::new(&AttestArgs::default(), Path::new("v"), false)
                .unwrap()
                .is_none()
        );
    }
}
