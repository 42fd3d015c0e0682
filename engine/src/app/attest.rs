//! Signing and publishing SLSA verification summaries of verdicts (see [`crate::report::vsa`]):
//! the shared core of `vouch verify --attest-verdict` and `vouch serve --attest-verdict`.
//!
//! Only PASSED summaries are pushed to the registry: a summary there lets other clusters admit
//! the image without verifying it, and a FAILED one admits nothing.
//!
//! In `vouch serve`, [`SummaryPublisher`] receives each verdict computed afresh, and a task of its
//! own signs and pushes the summary, so admission never waits for the registry. A verdict is
//! summarized at most once per `interval` per (digest, configuration fingerprint); when the queue
//! is full the summary is dropped (counted in `vouch_verification_summaries_total{result=
//! "dropped"}`) — a later fresh verdict publishes it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde_json::Value;
use sha2::Digest as _;
use tokio::sync::mpsc;

use crate::crypto::{KeyError, SigningKey};
use crate::executor::Executor;
use crate::oci::registry::{RegistryClient, RegistryError};
use crate::plugin::{PluginError, parse_reference, push_referrer, referrer_artifact};
use crate::report::SubjectReport;
use crate::report::vsa::{
    DSSE_ENVELOPE, PREDICATE_TYPE_ANNOTATION, Summary, VSA_PREDICATE_TYPE, VsaError, envelope,
    statement,
};
use crate::server::VerdictPublisher;
use crate::server::metrics::Metrics;
use crate::server::tenants::Tenant;
use crate::store::sources::subject_name;

/// The default `verifier.id` of the summaries Vouch writes (name the cluster or platform
/// instead: the spec wants the trust base consumers care about).
pub const DEFAULT_VERIFIER_ID: &str = "urn:vouch:verifier";

/// Annotation with the creation time of a pushed summary (its `timeVerified`).
const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// Summaries waiting to be pushed by `vouch serve`; more are dropped.
pub const PUBLISH_QUEUE: usize = 256;

/// (digest, fingerprint) pairs remembered to publish once per interval; the memory is cleared
/// when it reaches this size.
const RECENT_CAP: usize = 16_384;

/// Why a summary could not be made or published.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The signing key is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The statement could not be made or signed.
    #[error(transparent)]
    Summary(#[from] VsaError),
    /// The report's subject is not a registry reference.
    #[error("{0}")]
    Reference(#[from] PluginError),
    /// The registry refused the image lookup or the push.
    #[error("{what}: {source}")]
    Registry {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: RegistryError,
    },
}

/// A signed summary: the DSSE envelope (JSON bytes) and the statement it carries.
#[derive(Debug, Clone)]
pub struct SignedSummary {
    /// The DSSE envelope, as written to files and pushed.
    pub envelope: Vec<u8>,
    /// The in-toto statement inside it.
    pub statement: Value,
}

impl SignedSummary {
    /// `PASSED` or `FAILED`.
    pub fn result(&self) -> &str {
        self.statement["predicate"]["verificationResult"]
            .as_str()
            .unwrap_or_default()
    }
}

/// Signs summaries with one key, under one `verifier.id` and `policy.uri`.
pub struct VerdictAttestor {
    key: SigningKey,
    keyid: String,
    verifier_id: String,
    policy_uri: String,
}

impl VerdictAttestor {
    /// An attestor signing with the PKCS#8 PEM key at `key_path` (read now, so a bad key is an
    /// error before anything is verified).
    pub fn load(
        key_path: &Path,
        verifier_id: Option<String>,
        policy_uri: String,
    ) -> Result<VerdictAttestor, AttestError> {
        let key = SigningKey::load(key_path)?;
        let keyid = format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(key.public_key_spki_der()))
        );
        Ok(VerdictAttestor {
            key,
            keyid,
            verifier_id: verifier_id.unwrap_or_else(|| DEFAULT_VERIFIER_ID.to_owned()),
            policy_uri,
        })
    }

    /// The key id summaries are signed under: `sha256:<hex of the public key's SPKI DER>`.
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The summaries' `verifier.id`.
    pub fn verifier_id(&self) -> &str {
        &self.verifier_id
    }

    /// The summaries' `policy.uri`.
    pub fn policy_uri(&self) -> &str {
        &self.policy_uri
    }

    /// What summaries of `executor`'s verdicts say besides the report, verified now: the
    /// versions of Vouch and of each verifier, and the executor's fingerprint as policy digest.
    pub fn summary(&self, executor: &Executor) -> Summary {
        let mut versions = BTreeMap::from([("vouch".to_owned(), env!("CARGO_PKG_VERSION").into())]);
        for v in executor.verifiers() {
            versions.insert(
                v.verifier.name().to_owned(),
                v.verifier.metadata().version.clone(),
            );
        }
        Summary {
            verifier_id: self.verifier_id.clone(),
            versions,
            time_verified: SystemTime::now(),
            policy_uri: self.policy_uri.clone(),
            policy_digest: executor.fingerprint().to_owned(),
        }
    }

    /// The signed summary of `report`.
    pub fn sign(
        &self,
        report: &SubjectReport,
        summary: &Summary,
    ) -> Result<SignedSummary, AttestError> {
        let stmt = statement(report, subject_name(&report.subject), summary)?;
        let signed = envelope(&stmt, &self.keyid, |m| self.key.sign(m))?;
        Ok(SignedSummary {
            envelope: signed,
            statement: stmt,
        })
    }

    /// Push `signed` as an OCI referrer of the report's image (resolved to `digest`): returns
    /// where it is (`name@digest` of the summary's manifest).
    pub async fn push(
        &self,
        client: &RegistryClient,
        report: &SubjectReport,
        digest: &str,
        signed: &SignedSummary,
    ) -> Result<String, AttestError> {
        let target = parse_reference(&report.subject)?;
        let subject =
            client
                .resolve(&target, digest)
                .await
                .map_err(|source| AttestError::Registry {
                    what: format!("cannot resolve {}@{digest}", target.name()),
                    source,
                })?;
        let created = signed.statement["predicate"]["timeVerified"]
            .as_str()
            .unwrap_or_default();
        let annotations = BTreeMap::from([
            (
                PREDICATE_TYPE_ANNOTATION.to_owned(),
                VSA_PREDICATE_TYPE.to_owned(),
            ),
            (CREATED_ANNOTATION.to_owned(), created.to_owned()),
        ]);
        let artifact = referrer_artifact(
            DSSE_ENVELOPE,
            DSSE_ENVELOPE,
            Bytes::copy_from_slice(&signed.envelope),
            &subject,
            annotations,
        );
        push_referrer(client, &target, &subject.digest, &artifact)
            .await
            .map_err(|source| AttestError::Registry {
                what: format!("cannot push the summary to {}", target.name()),
                source,
            })?;
        Ok(format!("{}@{}", target.name(), artifact.descriptor.digest))
    }
}

/// `vouch serve --attest-verdict` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishOptions {
    /// The PKCS#8 PEM signing key.
    pub key: std::path::PathBuf,
    /// The summaries' `verifier.id` (default [`DEFAULT_VERIFIER_ID`]).
    pub verifier_id: Option<String>,
    /// The summaries' `policy.uri`.
    pub policy_uri: String,
    /// At most one summary per verdict (digest and configuration) within this interval.
    pub interval: Duration,
}

/// One summary to push.
struct Job {
    tenant: String,
    report: SubjectReport,
    summary: Summary,
}

/// `vouch serve --attest-verdict`: publishes a signed summary of each fresh PASSED verdict as a
/// referrer of its image, from a task of its own.
pub struct SummaryPublisher {
    attestor: Arc<VerdictAttestor>,
    queue: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
    interval: Duration,
    /// (digest, fingerprint) → when its summary was last queued.
    recent: Mutex<HashMap<(String, String), Instant>>,
}

impl SummaryPublisher {
    /// A publisher pushing with `client` (the top-level registry settings: the platform's
    /// credentials, whichever tenant verified), at most once per `interval` per verdict; spawns
    /// its pushing task on the current runtime (it ends when the publisher is dropped).
    pub fn spawn(
        attestor: VerdictAttestor,
        client: RegistryClient,
        metrics: Arc<Metrics>,
        interval: Duration,
    ) -> Arc<SummaryPublisher> {
        let attestor = Arc::new(attestor);
        let (queue, mut jobs) = mpsc::channel::<Job>(PUBLISH_QUEUE);
        let (worker_attestor, worker_metrics) = (attestor.clone(), metrics.clone());
        tokio::spawn(async move {
            while let Some(job) = jobs.recv().await {
                let result = publish(&worker_attestor, &client, &job).await;
                let outcome = match result {
                    Ok(at) => {
                        tracing::info!(tenant = job.tenant, subject = %job.report.subject, at, "verification summary pushed");
                        "pushed"
                    }
                    Err(e) => {
                        tracing::warn!(tenant = job.tenant, subject = %job.report.subject, error = %e, "cannot publish a verification summary");
                        "failed"
                    }
                };
                worker_metrics.summary(&job.tenant, outcome);
            }
        });
        Arc::new(SummaryPublisher {
            attestor,
            queue,
            metrics,
            interval,
            recent: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the verdict on `digest` under `fingerprint` is due (not queued within the
    /// interval); marks it queued.
    fn due(&self, digest: &str, fingerprint: &str) -> bool {
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let key = (digest.to_owned(), fingerprint.to_owned());
        if recent
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < self.interval)
        {
            return false;
        }
        if recent.len() >= RECENT_CAP {
            recent.retain(|_, at| now.duration_since(*at) < self.interval);
            if recent.len() >= RECENT_CAP {
                recent.clear();
            }
        }
        recent.insert(key, now);
        true
    }
}

impl VerdictPublisher for SummaryPublisher {
    fn fresh_verdict(&self, tenant: &Tenant, report: &SubjectReport) {
        let Some(digest) = report.digest.as_deref() else {
            return;
        };
        if !report.is_success || !self.due(digest, tenant.executor().fingerprint()) {
            return;
        }
        let job = Job {
            tenant: tenant.name().to_owned(),
            report: report.clone(),
            summary: self.attestor.summary(tenant.executor()),
        };
        if self.queue.try_send(job).is_err() {
            // Not queued: the next fresh verdict on it may try again.
            let key = (
                digest.to_owned(),
                tenant.executor().fingerprint().to_owned(),
            );
            self.recent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
            self.metrics.summary(tenant.name(), "dropped");
        }
    }
}

/// Sign and push one job's summary.
async fn publish(
    attestor: &VerdictAttestor,
    client: &RegistryClient,
    job: &Job,
) -> Result<String, AttestError> {
    let digest = job.report.digest.as_deref().unwrap_or_default();
    let signed = attestor.sign(&job.report, &job.summary)?;
    attestor.push(client, &job.report, digest, &signed).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn publisher(interval: Duration) -> Arc<SummaryPublisher> {
        let dir = tempfile::tempdir().unwrap();
        let (private, _) = SigningKey::generate_pem().unwrap();
        let key = dir.path().join("k.pem");
        std::fs::write(&key, private).unwrap();
        let attestor = VerdictAttestor::load(&key, None, "urn:p".into()).unwrap();
        let client = crate::config::StoresConfig::default()
            .registries
            .client()
            .unwrap();
        SummaryPublisher::spawn(attestor, client, Arc::new(Metrics::default()), interval)
    }

    /// A verdict is summarized once per interval per (digest, configuration): with the result
    /// cache off, every request is a fresh verdict, and a summary per request would flood the
    /// registry.
    #[tokio::test]
    async fn a_verdict_is_due_once_per_interval_and_configuration() {
        let p = publisher(Duration::from_millis(200)).await;
        assert!(p.due("sha256:a", "fp1"));
        assert!(!p.due("sha256:a", "fp1"));
        assert!(p.due("sha256:a", "fp2"), "another configuration");
        assert!(p.due("sha256:b", "fp1"), "another image");
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(p.due("sha256:a", "fp1"), "the interval passed");
    }

    #[test]
    fn an_unusable_key_is_an_error_naming_the_file() {
        let e = VerdictAttestor::load(Path::new("/nonexistent/vsa.key"), None, "u".into())
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/vsa.key"), "{e}");
    }
}
