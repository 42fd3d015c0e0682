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

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::EXIT_UNREACHABLE;
use crate::app::attest::VerdictAttestor;
use crate::config::Config;
use crate::executor::Executor;
use crate::report::SubjectReport;

/// The flags of `vouch serve` that publish its verdicts as signed summaries.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeAttestArgs {
    /// Push a signed SLSA Verification Summary (in-toto statement, DSSE envelope) of each fresh
    /// PASSED verdict as an OCI referrer of its image, signed with this PKCS#8 PEM private key
    /// (ECDSA P-256/P-384 or Ed25519). Pushed with the top-level registry settings, in the
    /// background: admission never waits for it.
    #[arg(long = "attest-verdict", value_name = "PEM_FILE")]
    pub attest_verdict: Option<PathBuf>,
    /// The summaries' `verifier.id`: a URI naming this verifier (e.g. the cluster).
    #[arg(long = "verifier-id", value_name = "URI", requires = "attest_verdict")]
    pub verifier_id: Option<String>,
    /// The summaries' `policy.uri` (default: the config file as a `file://` URI).
    #[arg(long = "policy-uri", value_name = "URI", requires = "attest_verdict")]
    pub policy_uri: Option<String>,
    /// At most one summary per image digest and configuration within this many seconds.
    #[arg(
        long = "attest-interval-s",
        value_name = "SECONDS",
        default_value_t = 3600,
        requires = "attest_verdict"
    )]
    pub attest_interval_s: u64,
}

impl ServeAttestArgs {
    /// The publishing settings the flags ask for (`None` without --attest-verdict).
    pub(super) fn options(
        &self,
        config_path: &Path,
    ) -> anyhow::Result<Option<crate::app::attest::PublishOptions>> {
        let Some(key) = &self.attest_verdict else {
            return Ok(None);
        };
        if self.attest_interval_s == 0 {
            bail!("--attest-interval-s must be at least 1");
        }
        Ok(Some(crate::app::attest::PublishOptions {
            key: key.clone(),
            verifier_id: self.verifier_id.clone(),
            policy_uri: policy_uri(self.policy_uri.as_deref(), config_path),
            interval: std::time::Duration::from_secs(self.attest_interval_s),
        }))
    }
}

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
    attestor: VerdictAttestor,
    push: bool,
    out: Option<PathBuf>,
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
        let attestor = VerdictAttestor::load(
            key_path,
            args.verifier_id.clone(),
            policy_uri(args.policy_uri.as_deref(), config_path),
        )?;
        Ok(Some(Attestor {
            attestor,
            push: args.push,
            out: args.attest_out.clone(),
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
        let summary = self.attestor.summary(executor);
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
            let signed = self.attestor.sign(report, &summary)?;
            let result = signed.result();
            if let Some(client) = &client
                && report.is_success
            {
                match self.attestor.push(client, report, digest, &signed).await {
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
            lines.push(signed.envelope);
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

/// The summaries' `policy.uri`: the flag's, else the config file as a `file://` URI.
pub(super) fn policy_uri(flag: Option<&str>, config_path: &Path) -> String {
    match flag {
        Some(uri) => uri.to_owned(),
        None => {
            let abs = std::path::absolute(config_path).unwrap_or(config_path.to_owned());
            format!("file://{}", abs.display())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningKey;

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
        assert_eq!(a.attestor.policy_uri(), "file:///etc/vouch.yaml");
        assert_eq!(
            a.attestor.verifier_id(),
            crate::app::attest::DEFAULT_VERIFIER_ID
        );
        let keyid = a.attestor.keyid();
        assert!(keyid.starts_with("sha256:") && keyid.len() == 71);
        assert!(
            Attestor::new(&AttestArgs::default(), Path::new("v"), false)
                .unwrap()
                .is_none()
        );
    }
}
