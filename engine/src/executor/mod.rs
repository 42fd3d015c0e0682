//! The executor: for one subject, resolve it, list its referrers, run every verifier that handles
//! each referrer (concurrently, bounded), recurse into referrers of referrers, and decide.
//!
//! - Every verifier call runs under the request deadline; a call still running when it passes is
//!   cancelled (its future dropped, which drops the wasm store) and reported as failed with
//!   `errorReason` [`crate::report::DEADLINE_EXCEEDED`]. A [`CallError`] (limit hit, trap) is a failed
//!   report naming it, never an error of the request.
//! - Verdicts are cached by subject *digest* (never by tag), store scope and a fingerprint of the
//!   effective configuration; identical requests in flight run once (single-flight). Verdicts that
//!   depend on something transient (deadline, store failure, instantiation failure) are shared
//!   with the in-flight waiters but not cached.

mod cache;
pub mod redis_cache;
pub(crate) mod settings;
pub mod walk;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, join, join_all};
use serde::Serialize;
use sha2::Digest as _;
use tokio::sync::Semaphore;
use tracing::Instrument;

pub use self::cache::ResultCache;
use self::cache::{CacheKey, CachedVerdict};
use self::settings::ExecutorConfig;
use self::walk::{Claim, Refusal, Walk, WalkLimits};
use crate::oci::{Descriptor, Digest};
use crate::policy::{DefaultPolicy, Policy, PolicyInput};
use crate::report::{
    DEADLINE_EXCEEDED, EXECUTOR_NAME, STORE_ERROR, SubjectReport, Timings, VerifierReport,
};
use crate::runtime::{CallError, CpuQuota, Runtime, Verifier, VerifyInput};
use crate::scope::{ImageNames, ImageScope, ScopeSettings};
pub use crate::store::sources::SubjectSource;
use crate::store::{StoreAccess, StoreError};

/// The subject message's tag when no verifier's image scope covers the image (fail closed).
pub const NO_VERIFIER_APPLIES: &str = "NO_VERIFIER_APPLIES";

/// Which verifiers apply to one image.
enum Scoped {
    /// No verifier is scoped: all apply.
    All,
    /// These (by index) apply; at least one.
    Some(Vec<bool>),
    /// None applies: the subject is exempt (`passed`) or fails, for `message`.
    None { passed: bool, message: String },
}

/// A loaded verifier with the configuration the executor hands it.
#[derive(Clone, Debug)]
pub struct ExecVerifier {
    /// The loaded component.
    pub verifier: Verifier,
    /// Its JSON configuration.
    pub config: Arc<str>,
    /// Artifact types to run on, overriding the verifier's metadata when set.
    pub artifact_types: Option<Vec<String>>,
    /// The images it applies to (`imageReferences`, `skipImageReferences`; default: all).
    pub scope: ImageScope,
}

impl ExecVerifier {
    /// A verifier with `config`, running on the artifact types its metadata declares.
    pub fn new(verifier: Verifier, config: impl Into<Arc<str>>) -> ExecVerifier {
        ExecVerifier {
            verifier,
            config: config.into(),
            artifact_types: None,
            scope: ImageScope::default(),
        }
    }

    /// Whether this verifier runs on referrers of `artifact_type`.
    pub fn handles(&self, artifact_type: &str) -> bool {
        match &self.artifact_types {
            Some(types) => types.iter().any(|t| t == "*" || t == artifact_type),
            None => self.verifier.metadata().handles(artifact_type),
        }
    }

    /// The one artifact type this verifier runs on, when it runs on exactly one (not `*`).
    fn sole_artifact_type(&self) -> Option<&str> {
        let types = match &self.artifact_types {
            Some(types) => types,
            None => &self.verifier.metadata().artifact_types,
        };
        let first = types.first()?;
        (first != "*" && types.iter().all(|t| t == first)).then_some(first.as_str())
    }
}

/// The artifact type every referrer listing can be narrowed to: the one type all `verifiers`
/// run on, when they share exactly one. A referrer of any other type would be listed only to be
/// skipped (no verifier handles it, and the walk does not descend into skipped referrers), so
/// asking the store for that type alone saves upstream requests without changing what is
/// verified: a registry with the referrers API filters on its side, and the cosign tag lookups
/// (`sha256-<hex>.sig` / `.att`), which only a cosign artifact type wants, are not made.
/// Two consequences, both bounded: `executor.maxReferrersPerNode` then counts the referrers of
/// that type (the others are dropped by the store before the walk sees them, as a registry
/// filtering on its side does), and a listed descriptor without an `artifactType` — which the
/// referrers specification does not allow for an artifact — is left out (a registry can leave
/// any entry out of its list anyway: the list was never a proof of completeness).
fn referrer_filter(verifiers: &[ExecVerifier]) -> Option<Arc<str>> {
    let (first, rest) = verifiers.split_first()?;
    let sole = first.sole_artifact_type()?;
    rest.iter()
        .all(|v| v.sole_artifact_type() == Some(sole))
        .then(|| Arc::from(sole))
}

/// Executor settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Levels of referrers-of-referrers verified below the subject's referrers (0: none).
    pub max_depth: u32,
    /// Verifier calls running at once across all requests.
    pub concurrency: usize,
    /// Deadline for one subject's verification.
    pub deadline: Duration,
    /// How long a verdict stays in the result cache (zero disables it).
    pub result_cache_ttl: Duration,
    /// Per-subject caps on the referrer graph walk.
    pub limits: WalkLimits,
    /// Exemptions and rollout modes (`exemptImageReferences`, `mode`, `modeScopes`).
    pub scope: ScopeSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from(&ExecutorConfig::default())
    }
}

impl From<&ExecutorConfig> for Settings {
    fn from(c: &ExecutorConfig) -> Self {
        Settings {
            max_depth: c.max_depth,
            concurrency: c.concurrency.max(1),
            deadline: c.deadline(),
            result_cache_ttl: c.result_cache_ttl(),
            limits: WalkLimits::from(c),
            scope: ScopeSettings {
                exempt: c.exempt_image_references.clone(),
                mode: c.mode,
                mode_scopes: c.mode_scopes.clone(),
            },
        }
    }
}

/// Runs verifiers over subjects. Cheap to share behind an `Arc`.
pub struct Executor {
    runtime: Runtime,
    verifiers: Arc<[ExecVerifier]>,
    settings: Settings,
    permits: Arc<Semaphore>,
    cache: ResultCache,
    policy: Arc<dyn Policy>,
    /// Who the verdicts are for (tenant name and a digest of its credentials); part of the
    /// fingerprint so tenants never share verdicts.
    tenant: Arc<str>,
    fingerprint: Arc<str>,
    /// The share of guest CPU its verifier calls draw from (unlimited when `None`).
    cpu_quota: Option<Arc<CpuQuota>>,
    /// The artifact type referrer listings are narrowed to ([`referrer_filter`]).
    referrer_filter: Option<Arc<str>>,
}

impl Executor {
    /// An executor with its own result cache and the [`DefaultPolicy`].
    pub fn new(runtime: Runtime, verifiers: Vec<ExecVerifier>, settings: Settings) -> Executor {
        let policy: Arc<dyn Policy> = Arc::new(DefaultPolicy);
        let fingerprint = fingerprint(&verifiers, &settings, policy.as_ref(), "").into();
        Executor {
            tenant: Arc::from(""),
            runtime,
            permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            cache: ResultCache::new(settings.result_cache_ttl),
            referrer_filter: referrer_filter(&verifiers),
            verifiers: verifiers.into(),
            settings,
            policy,
            fingerprint,
            cpu_quota: None,
        }
    }

    /// Decide subjects with `policy` (e.g. from `app::policy::from_config`); the fingerprint
    /// changes with it.
    pub fn with_policy(mut self, policy: Arc<dyn Policy>) -> Executor {
        self.fingerprint = fingerprint(
            &self.verifiers,
            &self.settings,
            policy.as_ref(),
            &self.tenant,
        )
        .into();
        self.policy = policy;
        self
    }

    /// Verify for `tenant`: its identity (name, and a digest of its credentials and store
    /// settings) enters the fingerprint, so two tenants never see each other's verdicts even
    /// with identical verifiers.
    pub fn with_tenant(mut self, tenant: &str) -> Executor {
        self.tenant = Arc::from(tenant);
        self.fingerprint = fingerprint(
            &self.verifiers,
            &self.settings,
            self.policy.as_ref(),
            &self.tenant,
        )
        .into();
        self
    }

    /// Bound its guests to `quota` (see [`CpuQuota`]): a tenant's verifiers together use at most
    /// that much CPU, however many calls run at once. Does not change verdicts, so not the
    /// fingerprint either.
    pub fn with_cpu_quota(mut self, quota: Arc<CpuQuota>) -> Executor {
        self.cpu_quota = Some(quota);
        self
    }

    /// Its guest CPU quota, if any.
    pub fn cpu_quota(&self) -> Option<&Arc<CpuQuota>> {
        self.cpu_quota.as_ref()
    }

    /// The policy deciding subjects.
    pub fn policy(&self) -> &Arc<dyn Policy> {
        &self.policy
    }

    /// Use `cache` (e.g. one shared across configuration reloads) instead of a private one.
    pub fn with_result_cache(mut self, cache: ResultCache) -> Executor {
        self.cache = cache;
        self
    }

    /// sha256 over the verifiers' names, module digests, configs, artifact types and limits, the
    /// nesting depth, the walk's caps and the policy: everything a verdict depends on besides
    /// the subject.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The verdict cache (for its statistics).
    pub fn result_cache(&self) -> &ResultCache {
        &self.cache
    }

    /// The loaded verifiers.
    pub fn verifiers(&self) -> &[ExecVerifier] {
        &self.verifiers
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Verify one subject. Never fails: store errors, limit hits and the deadline become failed
    /// reports.
    pub async fn verify(&self, source: SubjectSource) -> SubjectReport {
        let span = tracing::info_span!(
            "vouch.subject",
            subject = %source.reference,
            digest = tracing::field::Empty,
            success = tracing::field::Empty,
            cached = tracing::field::Empty,
        );
        let report = self.verify_inner(source).instrument(span.clone()).await;
        span.record("success", report.is_success);
        span.record("cached", report.cached);
        tracing::info!(
            parent: &span,
            subject = %report.subject,
            success = report.is_success,
            cached = report.cached,
            total_ms = report.timings.total_ms,
            "subject verified"
        );
        report
    }

    async fn verify_inner(&self, source: SubjectSource) -> SubjectReport {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.settings.deadline;
        let resolved =
            tokio::time::timeout_at(deadline, source.store.resolve(&source.tag_or_digest)).await;
        let resolve_time = started.elapsed();
        let failed = |message: String| SubjectReport {
            subject: source.reference.clone(),
            digest: None,
            is_success: false,
            message,
            verifier_reports: Vec::new(),
            timings: Timings::new(started.elapsed(), resolve_time, Duration::ZERO),
            cached: false,
        };
        let desc = match resolved {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                return failed(format!("cannot resolve `{}`: {e}", source.tag_or_digest));
            }
            Err(_) => {
                return failed(format!(
                    "resolving `{}` was cancelled: the {} ms request deadline passed",
                    source.tag_or_digest,
                    self.settings.deadline.as_millis()
                ));
            }
        };
        tracing::Span::current().record("digest", tracing::field::display(&desc.digest));

        // Image-scoped trust: which verifiers apply to this reference.
        let applicable = match self.scoped(&source) {
            Scoped::All => None,
            Scoped::Some(mask) => Some(mask),
            Scoped::None { passed, message } => {
                tracing::info!(subject = %source.reference, passed, "{message}");
                return SubjectReport {
                    digest: Some(desc.digest.to_string()),
                    is_success: passed,
                    ..failed(message)
                };
            }
        };
        // The verdict depends on which verifiers applied: the key says which.
        let fingerprint: Arc<str> = match &applicable {
            Some(mask) => format!(
                "{}:scoped:{}",
                self.fingerprint,
                mask.iter()
                    .map(|&b| if b { '1' } else { '0' })
                    .collect::<String>()
            )
            .into(),
            None => self.fingerprint.clone(),
        };
        let run = self.run(
            &source,
            desc.clone(),
            deadline,
            started,
            resolve_time,
            applicable,
        );
        let Some(cache) = &self.cache.inner else {
            return run.await.0;
        };
        let key = CacheKey {
            scope: source.scope.clone(),
            digest: desc.digest.clone(),
            fingerprint,
        };
        let redis_key = self.cache.redis.as_ref().map(|r| {
            let rkey = r.key(&key.scope, &key.digest, &key.fingerprint);
            (r, rkey, key.fingerprint.clone())
        });
        let ttl = self.cache.ttl;
        let entry = cache
            .entry(key)
            .or_try_insert_with(async {
                // Another replica may have decided it already (bounded wait, never an error).
                if let Some((redis, rkey, _)) = &redis_key
                    && let Some((mut report, left)) = redis.get(rkey).await
                {
                    report.cached = true;
                    return Ok(CachedVerdict {
                        report: Arc::new(report),
                        ttl: left.min(ttl),
                    });
                }
                match run.await {
                    (report, true) => {
                        if let Some((redis, rkey, fingerprint)) = redis_key {
                            redis.put(rkey, &report, ttl, &fingerprint);
                        }
                        Ok(CachedVerdict {
                            report: Arc::new(report),
                            ttl,
                        })
                    }
                    (report, false) => Err(report),
                }
            })
            .await;
        match entry {
            // Computed by this request (a verdict from Redis is a hit like a local one).
            Ok(entry) if entry.is_fresh() && !entry.value().report.cached => {
                (*entry.into_value().report).clone()
            }
            Ok(entry) => {
                let mut report = (*entry.into_value().report).clone();
                report.cached = true;
                // The reports are the cached ones; the reference and timings are this request's.
                let decided_for = std::mem::replace(&mut report.subject, source.reference.clone());
                for r in &mut report.verifier_reports {
                    r.subject = source.reference.clone();
                }
                if decided_for != source.reference {
                    // The policy sees the subject reference (a Rego policy may match on it):
                    // decide again for this one, on the cached reports.
                    let verdict = self.policy.decide(&PolicyInput {
                        subject: &report.subject,
                        digest: report.digest.as_deref(),
                        verifier_reports: &report.verifier_reports,
                    });
                    report.is_success = verdict.allow;
                    report.message = verdict.message;
                }
                report.timings = Timings::new(started.elapsed(), resolve_time, Duration::ZERO);
                tracing::debug!(digest = %desc.digest, "result cache hit");
                report
            }
            // An uncacheable verdict shared with the identical requests that were in flight.
            Err(report) => (*report).clone(),
        }
    }

    /// Which verifiers apply to `source` (see [`crate::scope`]).
    fn scoped(&self, source: &SubjectSource) -> Scoped {
        if !self.verifiers.iter().any(|v| v.scope.is_scoped()) {
            return Scoped::All;
        }
        let names = ImageNames::of(&source.reference, source.scope.starts_with("oci-layout:"));
        let mask: Vec<bool> = self
            .verifiers
            .iter()
            .map(|v| v.scope.applies(&names))
            .collect();
        if mask.iter().any(|&b| b) {
            return Scoped::Some(mask);
        }
        if let Some(pattern) = names.first_match(&self.settings.scope.exempt) {
            return Scoped::None {
                passed: true,
                message: format!(
                    "exempt: no verifier applies to {} and it matches executor.exemptImageReferences `{pattern}`",
                    names.name()
                ),
            };
        }
        let scopes: Vec<String> = self
            .verifiers
            .iter()
            .map(|v| format!("{}: {}", v.verifier.name(), v.scope.describe()))
            .collect();
        Scoped::None {
            passed: false,
            message: format!(
                "[{NO_VERIFIER_APPLIES}] no verifier applies to {}: it matches no verifier's \
                 image scope ({}) and no executor.exemptImageReferences pattern",
                names.name(),
                scopes.join("; ")
            ),
        }
    }

    /// Verify the resolved subject; the flag says whether the verdict may be cached.
    async fn run(
        &self,
        source: &SubjectSource,
        desc: Descriptor,
        deadline: tokio::time::Instant,
        started: Instant,
        resolve_time: Duration,
        applicable: Option<Vec<bool>>,
    ) -> (SubjectReport, bool) {
        let mut walk = Walk::new(
            source.store.clone(),
            source.name.clone(),
            deadline,
            self.settings.limits.clone(),
        );
        walk.applicable = applicable;
        walk.store_nanos
            .store(nanos(resolve_time), Ordering::Relaxed);
        // The deadline holds for the walk as a whole too (not only at each store read and
        // verifier call), whichever front end asked.
        let walked = tokio::time::timeout_at(
            deadline,
            self.verify_referrers(&walk, source.reference.clone(), desc.clone(), 0, Vec::new()),
        )
        .await;
        let reports = walked.unwrap_or_else(|_| {
            walk.transient.store(true, Ordering::Relaxed);
            vec![executor_report(
                &source.reference,
                &desc,
                DEADLINE_EXCEEDED,
                format!(
                    "verifying the referrer graph of {} was cancelled: the {} ms request deadline passed",
                    desc.digest,
                    self.settings.deadline.as_millis()
                ),
            )]
        });
        let digest = desc.digest.to_string();
        let verdict = self.policy.decide(&PolicyInput {
            subject: &source.reference,
            digest: Some(&digest),
            verifier_reports: &reports,
        });
        // A refused graph fails the subject whatever the policy makes of the reports.
        let (is_success, message) = match walk.refusal() {
            Some(refusal) => (
                false,
                format!("referrer graph refused [{}]: {refusal}", refusal.reason()),
            ),
            None => (verdict.allow, verdict.message),
        };
        tracing::debug!(
            nodes = walk.nodes(),
            bytes = walk.bytes_read(),
            refused = walk.refusal().is_some(),
            "referrer graph walked"
        );
        let report = SubjectReport {
            subject: source.reference.clone(),
            digest: Some(digest),
            is_success,
            message,
            verifier_reports: reports,
            timings: Timings::new(
                started.elapsed(),
                Duration::from_nanos(walk.store_nanos.load(Ordering::Relaxed)),
                Duration::from_nanos(walk.guest_nanos.load(Ordering::Relaxed)),
            ),
            cached: false,
        };
        (report, !walk.transient.load(Ordering::Relaxed))
    }

    /// Reports for every (referrer of `subject`, verifier) pair, with nested results; `path` is
    /// the chain of nodes above `subject` (the root subject first).
    fn verify_referrers<'a>(
        &'a self,
        walk: &'a Walk,
        subject_str: String,
        subject: Descriptor,
        depth: u32,
        path: Vec<Digest>,
    ) -> BoxFuture<'a, Vec<VerifierReport>> {
        async move {
            if walk.refusal().is_some() {
                return Vec::new();
            }
            let t = Instant::now();
            let listed = tokio::select! {
                listed = tokio::time::timeout_at(
                    walk.deadline,
                    walk.store
                        .list_referrers(&subject.digest, self.referrer_filter.as_deref()),
                ) => Some(listed),
                () = walk.refused() => None,
            };
            walk.store_nanos.fetch_add(nanos(t.elapsed()), Ordering::Relaxed);
            let referrers = match listed {
                None => return Vec::new(),
                Some(Ok(Ok(r))) => r,
                Some(Ok(Err(e))) => {
                    walk.transient.store(true, Ordering::Relaxed);
                    return vec![executor_report(
                        &subject_str,
                        &subject,
                        STORE_ERROR,
                        format!("cannot list the referrers of {}: {e}", subject.digest),
                    )];
                }
                Some(Err(_)) => {
                    walk.transient.store(true, Ordering::Relaxed);
                    return vec![executor_report(
                        &subject_str,
                        &subject,
                        DEADLINE_EXCEEDED,
                        format!(
                            "listing the referrers of {} was cancelled: the {} ms request deadline passed",
                            subject.digest,
                            self.settings.deadline.as_millis()
                        ),
                    )];
                }
            };
            let referrers = match walk.check_list(&subject.digest, referrers) {
                Ok(r) => r,
                Err(refusal) => return vec![refused_report(&subject_str, &subject, &refusal)],
            };
            tracing::debug!(subject = %subject.digest, depth, referrers = referrers.len(), "listed referrers");
            let child_path: Vec<Digest> =
                path.iter().cloned().chain([subject.digest.clone()]).collect();
            let per_referrer = referrers.into_iter().map(|referrer| {
                let subject_str = subject_str.clone();
                let subject = subject.clone();
                let path = &path;
                let child_path = child_path.clone();
                async move {
                    let artifact_type = referrer
                        .artifact_type
                        .clone()
                        .unwrap_or_else(|| referrer.media_type.clone());
                    let handling: Vec<&ExecVerifier> = self
                        .verifiers
                        .iter()
                        .enumerate()
                        .filter(|(i, v)| walk.applies(*i) && v.handles(&artifact_type))
                        .map(|(_, v)| v)
                        .collect();
                    if handling.is_empty() {
                        tracing::debug!(referrer = %referrer.digest, artifact_type, "no verifier handles this referrer; skipped");
                        return Vec::new();
                    }
                    if let Err(report) =
                        self.admit(walk, &subject_str, &subject, path, &referrer, handling.len()).await
                    {
                        return report.into_iter().collect();
                    }
                    let calls = join_all(handling.into_iter().map(|v| {
                        self.call(walk, v, &subject_str, &subject, &referrer, &artifact_type)
                    }));
                    let nested = if depth < self.settings.max_depth {
                        let nested_str = format!("{}@{}", walk.name, referrer.digest);
                        self.verify_referrers(walk, nested_str, referrer.clone(), depth + 1, child_path)
                    } else {
                        futures::future::ready(Vec::new()).boxed()
                    };
                    let (mut reports, nested) = join(calls, nested).await;
                    for r in &mut reports {
                        r.nested_results = nested.clone();
                    }
                    reports
                }
            });
            join_all(per_referrer).await.into_iter().flatten().collect()
        }
        .boxed()
    }

    /// Whether `referrer`, listed under `subject`, may be verified: reached for the first time,
    /// under the node caps, with a manifest whose `subject` is that node, within the call cap.
    /// `Err` holds the report saying why not (the walk is refused, or the read failed); none
    /// when the walk was already refused (its first refusal is reported once, not per node).
    async fn admit(
        &self,
        walk: &Walk,
        subject_str: &str,
        subject: &Descriptor,
        path: &[Digest],
        referrer: &Descriptor,
        calls: usize,
    ) -> Result<(), Option<VerifierReport>> {
        if walk.refusal().is_some() {
            return Err(None);
        }
        let refused = |refusal: &Refusal| Some(refused_report(subject_str, referrer, refusal));
        if let Claim::Refused(refusal) = walk.claim(&referrer.digest, &subject.digest, path) {
            return Err(refused(&refusal));
        }
        let t = Instant::now();
        let manifest = tokio::select! {
            m = tokio::time::timeout_at(walk.deadline, walk.store.get_manifest(referrer)) => m,
            () = walk.refused() => {
                let refusal = walk.refusal().cloned().expect("refused walks carry a refusal");
                return Err(refused(&refusal));
            }
        };
        walk.store_nanos
            .fetch_add(nanos(t.elapsed()), Ordering::Relaxed);
        let manifest = match manifest {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                if let Some(refusal) = walk.refusal() {
                    return Err(refused(refusal));
                }
                walk.transient.store(true, Ordering::Relaxed);
                return Err(Some(executor_report(
                    subject_str,
                    referrer,
                    STORE_ERROR,
                    format!(
                        "cannot read the manifest of referrer {}: {e}",
                        referrer.digest
                    ),
                )));
            }
            Err(_) => {
                walk.transient.store(true, Ordering::Relaxed);
                return Err(Some(executor_report(
                    subject_str,
                    referrer,
                    DEADLINE_EXCEEDED,
                    format!(
                        "reading the manifest of referrer {} was cancelled: the {} ms request deadline passed",
                        referrer.digest,
                        self.settings.deadline.as_millis()
                    ),
                )));
            }
        };
        if let Err(refusal) = walk::check_subject(referrer, &subject.digest, &manifest) {
            walk.refuse(refusal.clone());
            return Err(refused(&refusal));
        }
        walk.reserve_calls(calls).map_err(|r| refused(&r))
    }

    /// One verifier call, under the concurrency limit and the deadline; cancelled when the walk
    /// is refused.
    async fn call(
        &self,
        walk: &Walk,
        v: &ExecVerifier,
        subject_str: &str,
        subject: &Descriptor,
        referrer: &Descriptor,
        artifact_type: &str,
    ) -> VerifierReport {
        let span = tracing::info_span!(
            "vouch.verifier",
            verifier = v.verifier.name(),
            artifact_type,
            referrer = %referrer.digest,
            success = tracing::field::Empty,
            error_reason = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let run = async {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|e| CallError::Instantiate {
                    verifier: v.verifier.name().to_owned(),
                    message: format!("executor concurrency limit closed: {e}"),
                })?;
            self.runtime
                .verify(
                    &v.verifier,
                    VerifyInput {
                        store: walk.store.clone(),
                        subject_reference: subject_str.to_owned(),
                        subject: subject.clone(),
                        artifact: referrer.clone(),
                        config: v.config.clone(),
                        cpu_quota: self.cpu_quota.clone(),
                    },
                )
                .await
        };
        let result = tokio::select! {
            r = tokio::time::timeout_at(walk.deadline, run).instrument(span.clone()) => Some(r),
            () = walk.refused() => None,
        };
        let mut report = VerifierReport {
            subject: subject_str.to_owned(),
            is_success: false,
            name: v.verifier.name().to_owned(),
            verifier_name: v.verifier.name().to_owned(),
            verifier_type: v.verifier.metadata().name.clone(),
            artifact_type: artifact_type.to_owned(),
            reference_digest: referrer.digest.to_string(),
            message: String::new(),
            error_reason: None,
            extensions: serde_json::Map::new(),
            nested_results: Vec::new(),
            timings: Timings::default(),
        };
        match result {
            None => {
                let elapsed = started.elapsed();
                let refusal = walk
                    .refusal()
                    .cloned()
                    .expect("refused walks carry a refusal");
                report.error_reason = Some(refusal.reason().to_owned());
                report.message = format!(
                    "verifier `{}` on {} was cancelled: the referrer graph was refused: {refusal}",
                    v.verifier.name(),
                    referrer.digest
                );
                report.timings = Timings::new(elapsed, Duration::ZERO, Duration::ZERO);
            }
            Some(Ok(Ok(out))) => {
                let store = out.stats.store_time;
                let guest = out.duration.saturating_sub(store);
                walk.store_nanos.fetch_add(nanos(store), Ordering::Relaxed);
                walk.guest_nanos.fetch_add(nanos(guest), Ordering::Relaxed);
                report.is_success = out.report.is_success;
                report.message = out.report.message;
                report.error_reason = if out.report.is_success {
                    out.report.error_reason
                } else {
                    Some(
                        out.report
                            .error_reason
                            .unwrap_or_else(|| "verification_failed".into()),
                    )
                };
                report.extensions = out.report.extensions.into_iter().collect();
                report.timings = Timings::new(out.duration, store, guest);
            }
            Some(Ok(Err(e))) => {
                if matches!(e, CallError::Instantiate { .. }) {
                    walk.transient.store(true, Ordering::Relaxed);
                }
                let elapsed = started.elapsed();
                walk.guest_nanos
                    .fetch_add(nanos(elapsed), Ordering::Relaxed);
                report.error_reason = Some(e.error_type().to_owned());
                report.message = e.to_string();
                report.timings = Timings::new(elapsed, Duration::ZERO, elapsed);
            }
            Some(Err(_)) => {
                walk.transient.store(true, Ordering::Relaxed);
                let elapsed = started.elapsed();
                report.error_reason = Some(DEADLINE_EXCEEDED.to_owned());
                report.message = format!(
                    "verifier `{}` on {} was cancelled after {} ms: the {} ms request deadline passed",
                    v.verifier.name(),
                    referrer.digest,
                    elapsed.as_millis(),
                    self.settings.deadline.as_millis()
                );
                report.timings = Timings::new(elapsed, Duration::ZERO, Duration::ZERO);
            }
        }
        span.record("success", report.is_success);
        if let Some(reason) = &report.error_reason {
            span.record("error_reason", reason.as_str());
        }
        span.record("duration_ms", report.timings.total_ms);
        tracing::debug!(parent: &span, success = report.is_success, message = %report.message, "verifier call finished");
        report
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The failed report of a node the walk refused (named by `node`, listed under `subject_str`).
fn refused_report(subject_str: &str, node: &Descriptor, refusal: &Refusal) -> VerifierReport {
    executor_report(subject_str, node, refusal.reason(), refusal.to_string())
}

/// A failed report the executor itself produces (store failure or deadline while walking).
fn executor_report(
    subject_str: &str,
    subject: &Descriptor,
    reason: &str,
    message: String,
) -> VerifierReport {
    VerifierReport {
        subject: subject_str.to_owned(),
        is_success: false,
        name: EXECUTOR_NAME.to_owned(),
        verifier_name: EXECUTOR_NAME.to_owned(),
        verifier_type: EXECUTOR_NAME.to_owned(),
        artifact_type: subject
            .artifact_type
            .clone()
            .unwrap_or_else(|| subject.media_type.clone()),
        reference_digest: subject.digest.to_string(),
        message,
        error_reason: Some(reason.to_owned()),
        extensions: serde_json::Map::new(),
        nested_results: Vec::new(),
        timings: Timings::default(),
    }
}

/// Fingerprint of everything a verdict depends on besides the subject (see [`Executor::fingerprint`]).
fn fingerprint(
    verifiers: &[ExecVerifier],
    settings: &Settings,
    policy: &dyn Policy,
    tenant: &str,
) -> String {
    let mut h = sha2::Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(b"vouch-result-v2");
    field(&settings.max_depth.to_le_bytes());
    // The caps decide verdicts too (a graph over a cap fails).
    let l = &settings.limits;
    for cap in [
        l.max_referrers_per_node as u64,
        l.max_nodes as u64,
        l.max_verifier_calls as u64,
        l.max_bytes,
    ] {
        field(&cap.to_le_bytes());
    }
    for v in verifiers {
        field(v.verifier.name().as_bytes());
        field(v.verifier.module_digest().to_string().as_bytes());
        field(v.config.as_bytes());
        let types = serde_json::to_vec(&v.artifact_types).unwrap_or_default();
        field(&types);
        let limits = serde_json::to_vec(v.verifier.limits()).unwrap_or_default();
        field(&limits);
        field(v.scope.describe().as_bytes());
    }
    // Exemptions decide verdicts; modes do not (they only change how a verdict is answered).
    field(settings.scope.exempt.join("\n").as_bytes());
    field(policy.fingerprint().as_bytes());
    field(tenant.as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// A referrer and, recursively, its own referrers (for `vouch discover`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerNode {
    /// The referrer's descriptor.
    #[serde(flatten)]
    pub descriptor: Descriptor,
    /// Its referrers, down to the requested depth.
    pub referrers: Vec<ReferrerNode>,
}

/// Why `vouch discover` could not walk a referrer graph.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// A store read failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The graph broke a rule or a cap of the walk (see [`walk`]).
    #[error("referrer graph refused [{reason}]: {refusal}", reason = .0.reason(), refusal = .0)]
    Refused(Refusal),
    /// The deadline passed.
    #[error("the {0} ms deadline passed while walking the referrer graph")]
    Deadline(u128),
}

/// The referrer graph of `digest`: its referrers and theirs, `max_depth` levels below the first,
/// under the same rules and caps as a verification (each referrer's `subject` checked, each node
/// once, no cycles, `settings.limits`) and within `settings.deadline`.
pub async fn discover(
    store: Arc<dyn StoreAccess>,
    digest: &Digest,
    max_depth: u32,
    settings: &Settings,
) -> Result<Vec<ReferrerNode>, DiscoverError> {
    let deadline = tokio::time::Instant::now() + settings.deadline;
    let walk = Walk::new(store, String::new(), deadline, settings.limits.clone());
    tokio::time::timeout_at(
        deadline,
        discover_node(&walk, digest, max_depth, Vec::new()),
    )
    .await
    .map_err(|_| DiscoverError::Deadline(settings.deadline.as_millis()))?
}

fn discover_node<'a>(
    walk: &'a Walk,
    digest: &'a Digest,
    max_depth: u32,
    path: Vec<Digest>,
) -> BoxFuture<'a, Result<Vec<ReferrerNode>, DiscoverError>> {
    async move {
        let listed = walk.store.list_referrers(digest, None).await?;
        let referrers = walk
            .check_list(digest, listed)
            .map_err(DiscoverError::Refused)?;
        let child_path: Vec<Digest> = path.iter().cloned().chain([digest.clone()]).collect();
        let mut out = Vec::with_capacity(referrers.len());
        for descriptor in referrers {
            if let Claim::Refused(r) = walk.claim(&descriptor.digest, digest, &path) {
                return Err(DiscoverError::Refused(r));
            }
            let manifest = walk.store.get_manifest(&descriptor).await?;
            walk::check_subject(&descriptor, digest, &manifest).map_err(DiscoverError::Refused)?;
            let nested = if max_depth > 0 {
                discover_node(walk, &descriptor.digest, max_depth - 1, child_path.clone()).await?
            } else {
                Vec::new()
            };
            out.push(ReferrerNode {
                descriptor,
                referrers: nested,
            });
        }
        Ok(out)
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_follow_the_config_defaults() {
        let s = Settings::default();
        assert_eq!(s.deadline, Duration::from_millis(2900));
        assert_eq!(s.result_cache_ttl, Duration::from_secs(10));
        assert_eq!(s.max_depth, 3);
    }
}
