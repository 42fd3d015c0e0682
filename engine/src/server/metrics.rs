//! A small Prometheus text exposition (format 0.0.4): request counts and latencies per endpoint,
//! verifier call durations, guest limit hits and reported revocation statuses per verifier, result
//! cache hits and misses; and,
//! rendered from the tenants at scrape time, store cache hits and misses per cache, registry
//! requests per registry and status, Redis operations and guest CPU quotas per tenant.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::report::{SubjectReport, VerifierReport};
use crate::runtime::LimitKind;
use crate::scope::modes::Outcome;
use crate::store::sources::Sources;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A cumulative histogram over [`BUCKETS`].
#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(&mut self.counts) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// (endpoint, status code) → requests.
    requests: BTreeMap<(String, u16), u64>,
    /// endpoint → request latency.
    latency: BTreeMap<String, Histogram>,
    /// verifier name → call duration.
    verifiers: BTreeMap<String, Histogram>,
    /// (verifier name, limit) → calls that hit it.
    limit_hits: BTreeMap<(String, &'static str), u64>,
    /// (verifier name, revocation status) → reports carrying it.
    revocation: BTreeMap<(String, &'static str), u64>,
    cache_hits: u64,
    cache_misses: u64,
    /// tenant → keys refused over its quota.
    quota_rejected: BTreeMap<String, u64>,
    /// outcome (`success`, `failure`) → configuration reloads.
    reloads: BTreeMap<&'static str, u64>,
    /// (tenant, mode scope, outcome) → verdicts answered.
    verdicts: BTreeMap<(String, String, &'static str), u64>,
    /// (tenant, result) → verification summaries of `vouch serve --attest-verdict`.
    summaries: BTreeMap<(String, &'static str), u64>,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Count one request to `endpoint` (the route, not the raw path) answered with `status`.
    pub fn request(&self, endpoint: &str, status: u16, elapsed: Duration) {
        let mut m = self.lock();
        *m.requests.entry((endpoint.to_owned(), status)).or_default() += 1;
        m.latency
            .entry(endpoint.to_owned())
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Record a subject's verdict: a cache hit, or a miss with its verifier calls' durations.
    pub fn report(&self, report: &SubjectReport) {
        let mut m = self.lock();
        if report.cached {
            m.cache_hits += 1;
            return;
        }
        m.cache_misses += 1;
        fn walk(m: &mut Inner, reports: &[VerifierReport]) {
            for r in reports {
                m.verifiers
                    .entry(r.verifier_name.clone())
                    .or_default()
                    .observe(r.timings.total_ms / 1000.0);
                let limit = r
                    .error_reason
                    .as_deref()
                    .and_then(LimitKind::from_error_type);
                if let Some(limit) = limit {
                    *m.limit_hits
                        .entry((r.verifier_name.clone(), limit.error_type()))
                        .or_default() += 1;
                }
                if let Some(status) = r
                    .extensions
                    .get(REVOCATION_STATUS)
                    .and_then(serde_json::Value::as_str)
                {
                    *m.revocation
                        .entry((r.verifier_name.clone(), revocation_label(status)))
                        .or_default() += 1;
                }
                walk(m, &r.nested_results);
            }
        }
        walk(&mut m, &report.verifier_reports);
    }

    /// Count a key of `tenant` refused because the tenant was at its quota.
    pub fn quota_rejected(&self, tenant: &str) {
        *self
            .lock()
            .quota_rejected
            .entry(tenant.to_owned())
            .or_default() += 1;
    }

    /// Count a verdict answered for `tenant` under the mode of `scope`: `pass`, `fail`
    /// (denied), `warn` (allowed with a warning) or `audit` (allowed, recorded only).
    pub fn verdict(&self, tenant: &str, scope: &str, outcome: Outcome) {
        *self
            .lock()
            .verdicts
            .entry((tenant.to_owned(), scope.to_owned(), outcome.as_str()))
            .or_default() += 1;
    }

    /// Count a verification summary of `tenant`'s verdict: `pushed`, `failed` (could not be
    /// signed or pushed) or `dropped` (the publishing queue was full).
    pub fn summary(&self, tenant: &str, result: &'static str) {
        *self
            .lock()
            .summaries
            .entry((tenant.to_owned(), result))
            .or_default() += 1;
    }

    /// Count a configuration reload that was applied (`ok`) or rejected.
    pub fn reload(&self, ok: bool) {
        let outcome = if ok { "success" } else { "failure" };
        *self.lock().reloads.entry(outcome).or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let m = self.lock();
        let mut out = String::new();
        family(
            &mut out,
            "vouch_http_requests_total",
            "counter",
            "HTTP requests by endpoint and status.",
        );
        for ((endpoint, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "vouch_http_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {n}",
                escape(endpoint)
            );
        }
        family(
            &mut out,
            "vouch_http_request_duration_seconds",
            "histogram",
            "HTTP request latency by endpoint.",
        );
        for (endpoint, h) in &m.latency {
            let labels = format!("endpoint=\"{}\"", escape(endpoint));
            h.render(&mut out, "vouch_http_request_duration_seconds", &labels);
        }
        family(
            &mut out,
            "vouch_verifier_duration_seconds",
            "histogram",
            "Verifier call durations by verifier (uncached verdicts).",
        );
        for (verifier, h) in &m.verifiers {
            let labels = format!("verifier=\"{}\"", escape(verifier));
            h.render(&mut out, "vouch_verifier_duration_seconds", &labels);
        }
        family(
            &mut out,
            "vouch_guest_limit_hits_total",
            "counter",
            "Verifier calls stopped by a limit, by verifier and limit.",
        );
        for ((verifier, limit), n) in &m.limit_hits {
            let _ = writeln!(
                out,
                "vouch_guest_limit_hits_total{{verifier=\"{}\",limit=\"{limit}\"}} {n}",
                escape(verifier)
            );
        }
        family(
            &mut out,
            "vouch_verifier_revocation_total",
            "counter",
            "Verifier reports by the revocation status they carry (revocationStatus extension).",
        );
        for ((verifier, status), n) in &m.revocation {
            let _ = writeln!(
                out,
                "vouch_verifier_revocation_total{{verifier=\"{}\",status=\"{status}\"}} {n}",
                escape(verifier)
            );
        }
        family(
            &mut out,
            "vouch_result_cache_hits_total",
            "counter",
            "Verdicts served from the result cache.",
        );
        let _ = writeln!(out, "vouch_result_cache_hits_total {}", m.cache_hits);
        family(
            &mut out,
            "vouch_result_cache_misses_total",
            "counter",
            "Verdicts computed (not from the result cache).",
        );
        let _ = writeln!(out, "vouch_result_cache_misses_total {}", m.cache_misses);
        family(
            &mut out,
            "vouch_tenant_quota_rejected_total",
            "counter",
            "Keys refused because their tenant was at its quota.",
        );
        for (tenant, n) in &m.quota_rejected {
            let _ = writeln!(
                out,
                "vouch_tenant_quota_rejected_total{{tenant=\"{}\"}} {n}",
                escape(tenant)
            );
        }
        family(
            &mut out,
            "vouch_config_reloads_total",
            "counter",
            "Configuration reloads by outcome.",
        );
        for (outcome, n) in &m.reloads {
            let _ = writeln!(
                out,
                "vouch_config_reloads_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        family(
            &mut out,
            "vouch_verdicts_total",
            "counter",
            "Verdicts answered, by tenant, mode scope (`default` when no modeScopes entry \
             matched) and outcome: pass, fail (denied), warn (allowed with a warning), audit \
             (allowed, recorded only).",
        );
        for ((tenant, scope, outcome), n) in &m.verdicts {
            let _ = writeln!(
                out,
                "vouch_verdicts_total{{tenant=\"{}\",scope=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(tenant),
                escape(scope)
            );
        }
        if !m.summaries.is_empty() {
            family(
                &mut out,
                "vouch_verification_summaries_total",
                "counter",
                "Signed verification summaries of fresh passing verdicts (`vouch serve \
                 --attest-verdict`), by tenant and result: pushed, failed, dropped.",
            );
        }
        for ((tenant, result), n) in &m.summaries {
            let _ = writeln!(
                out,
                "vouch_verification_summaries_total{{tenant=\"{}\",result=\"{result}\"}} {n}",
                escape(tenant)
            );
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Append the Redis verdict cache's counters of each tenant that has one.
pub fn render_redis(
    out: &mut String,
    tenants: &[(String, crate::executor::redis_cache::RedisStats)],
) {
    if tenants.is_empty() {
        return;
    }
    family(
        out,
        "vouch_redis_cache_operations_total",
        "counter",
        "Operations of the shared Redis verdict cache by tenant and outcome.",
    );
    for (tenant, s) in tenants {
        for (outcome, n) in [
            ("hit", s.hits),
            ("miss", s.misses),
            ("error", s.errors),
            ("skipped", s.skipped),
            ("write", s.writes),
            ("dropped_write", s.dropped_writes),
        ] {
            let _ = writeln!(
                out,
                "vouch_redis_cache_operations_total{{tenant=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(tenant)
            );
        }
    }
    family(
        out,
        "vouch_redis_rejected_total",
        "counter",
        "Values read from the shared Redis verdict cache that were not believed (each a miss), by tenant and reason.",
    );
    for (tenant, s) in tenants {
        for reason in crate::executor::redis_cache::auth::Rejection::ALL {
            let _ = writeln!(
                out,
                "vouch_redis_rejected_total{{tenant=\"{}\",reason=\"{reason}\"}} {}",
                escape(tenant),
                s.rejected(reason)
            );
        }
    }
}

/// Append each tenant's store counters: cache hits and misses per cache (`resolve`,
/// `referrers`, `memory`, `disk`) and registry requests per registry and status.
pub fn render_sources(out: &mut String, tenants: &[(String, &Sources)]) {
    family(
        out,
        "vouch_store_cache_requests_total",
        "counter",
        "Store cache lookups by tenant, cache and outcome.",
    );
    for (tenant, sources) in tenants {
        let s = sources.cache_stats();
        for (cache, hm) in [
            ("resolve", s.resolve),
            ("referrers", s.referrers),
            ("memory", s.memory),
            ("disk", s.disk),
        ] {
            for (outcome, n) in [("hit", hm.hits), ("miss", hm.misses)] {
                let _ = writeln!(
                    out,
                    "vouch_store_cache_requests_total{{tenant=\"{}\",cache=\"{cache}\",outcome=\"{outcome}\"}} {n}",
                    escape(tenant)
                );
            }
        }
    }
    family(
        out,
        "vouch_registry_requests_total",
        "counter",
        "Registry API requests by tenant, registry and status (error: no answer).",
    );
    for (tenant, sources) in tenants {
        for (registry, status, n) in sources.registry_requests() {
            let _ = writeln!(
                out,
                "vouch_registry_requests_total{{tenant=\"{}\",registry=\"{}\",status=\"{status}\"}} {n}",
                escape(tenant),
                escape(&registry)
            );
        }
    }
}

/// Append the guest CPU quota counters of each tenant that has a quota: CPU charged and time its
/// guests were parked for being over it.
pub fn render_cpu_quotas(out: &mut String, tenants: &[(String, &crate::runtime::CpuQuota)]) {
    if tenants.is_empty() {
        return;
    }
    for (name, help, value) in [
        (
            "vouch_tenant_guest_cpu_seconds_total",
            "Guest CPU charged to the tenant's quota.",
            crate::runtime::CpuQuota::charged as fn(&crate::runtime::CpuQuota) -> Duration,
        ),
        (
            "vouch_tenant_guest_throttled_seconds_total",
            "Time the tenant's guests were parked for being over their CPU quota (summed over calls).",
            crate::runtime::CpuQuota::throttled,
        ),
    ] {
        family(out, name, "counter", help);
        for (tenant, q) in tenants {
            let _ = writeln!(
                out,
                "{name}{{tenant=\"{}\"}} {:.6}",
                escape(tenant),
                value(q).as_secs_f64()
            );
        }
    }
}

/// The report extension in which a verifier states the revocation status it established.
pub const REVOCATION_STATUS: &str = "revocationStatus";

/// The label for a reported revocation status: the values verifiers report (`skipped`,
/// `nonRevokable`, `unknown`, `good`, `revoked`), anything else `other` (a guest's text must not
/// grow the label set without bound).
fn revocation_label(status: &str) -> &'static str {
    match status {
        "skipped" => "skipped",
        "nonRevokable" => "nonRevokable",
        "unknown" => "unknown",
        "good" => "good",
        "revoked" => "revoked",
        _ => "other",
    }
}

/// The `# HELP` and `# TYPE` lines that open a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escape a label value (backslash, quote, newline).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Timings;

    #[test]
    fn histograms_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.003);
        h.observe(0.2);
        h.observe(20.0);
        assert_eq!(h.counts[0], 0);
        assert_eq!(h.counts[1], 1); // ≤ 5 ms
        assert_eq!(h.counts[6], 2); // ≤ 250 ms
        assert_eq!(h.counts[BUCKETS.len() - 1], 2);
        assert_eq!(h.count, 3);
    }

    #[test]
    fn exposition_names_endpoints_verifiers_and_cache() {
        let m = Metrics::default();
        m.request("/v1/verify", 200, Duration::from_millis(12));
        m.request("/v1/verify", 400, Duration::from_millis(1));
        let verifier = VerifierReport {
            subject: "s".into(),
            is_success: true,
            name: "notation".into(),
            verifier_name: "notation".into(),
            verifier_type: "notation".into(),
            artifact_type: "a".into(),
            reference_digest: "d".into(),
            message: String::new(),
            error_reason: None,
            extensions: Default::default(),
            nested_results: Vec::new(),
            timings: Timings::new(Duration::from_millis(30), Duration::ZERO, Duration::ZERO),
        };
        let mut report = SubjectReport {
            subject: "s".into(),
            digest: None,
            is_success: true,
            message: String::new(),
            verifier_reports: vec![verifier.clone()],
            timings: Timings::default(),
            cached: false,
        };
        m.report(&report);
        report.cached = true;
        m.report(&report);
        // A limit hit, nested under a passing report: counted per verifier and limit; other
        // failure reasons are not limit hits.
        let mut bomb = verifier.clone();
        bomb.error_reason = Some("memory_limit_exceeded".into());
        let mut bad_signature = verifier.clone();
        bad_signature.error_reason = Some("SIGNATURE_INVALID".into());
        // Revocation statuses, nested or not, by verifier; an unknown value is `other`.
        let mut unknown = verifier.clone();
        unknown
            .extensions
            .insert(REVOCATION_STATUS.into(), "unknown".into());
        let mut invented = verifier.clone();
        invented
            .extensions
            .insert(REVOCATION_STATUS.into(), "made-up-by-a-guest".into());
        let mut outer = verifier;
        outer
            .extensions
            .insert(REVOCATION_STATUS.into(), "unknown".into());
        outer.nested_results = vec![bomb, bad_signature, unknown, invented];
        report.cached = false;
        report.verifier_reports = vec![outer];
        m.report(&report);
        let text = m.render();
        assert!(text.contains(
            "vouch_guest_limit_hits_total{verifier=\"notation\",limit=\"memory_limit_exceeded\"} 1"
        ));
        assert_eq!(text.matches("vouch_guest_limit_hits_total{").count(), 1);
        assert!(text.contains(
            "vouch_verifier_revocation_total{verifier=\"notation\",status=\"unknown\"} 2"
        ));
        assert!(
            text.contains(
                "vouch_verifier_revocation_total{verifier=\"notation\",status=\"other\"} 1"
            )
        );
        assert_eq!(text.matches("vouch_verifier_revocation_total{").count(), 2);
        assert!(
            text.contains("vouch_http_requests_total{endpoint=\"/v1/verify\",status=\"200\"} 1")
        );
        assert!(
            text.contains("vouch_http_requests_total{endpoint=\"/v1/verify\",status=\"400\"} 1")
        );
        assert!(text.contains(
            "vouch_http_request_duration_seconds_bucket{endpoint=\"/v1/verify\",le=\"0.025\"} 2"
        ));
        assert!(text.contains(
            "vouch_verifier_duration_seconds_bucket{verifier=\"notation\",le=\"0.05\"} 6"
        ));
        assert!(text.contains("vouch_result_cache_hits_total 1"));
        assert!(text.contains("vouch_result_cache_misses_total 2"));
        m.quota_rejected("team-a");
        m.reload(false);
        let text = m.render();
        assert!(text.contains("vouch_tenant_quota_rejected_total{tenant=\"team-a\"} 1"));
        assert!(text.contains("vouch_config_reloads_total{outcome=\"failure\"} 1"));
        let mut text = String::new();
        let mut stats = crate::executor::redis_cache::RedisStats {
            hits: 3,
            ..Default::default()
        };
        stats.rejected[crate::executor::redis_cache::auth::Rejection::BadMac.index()] = 2;
        render_redis(&mut text, &[("a\"b".into(), stats)]);
        let quota = crate::runtime::CpuQuota::new(500, Duration::from_millis(5));
        quota.charge(Duration::from_millis(80));
        render_cpu_quotas(&mut text, &[("team-a".into(), &quota)]);
        let value = |name: &str| -> f64 {
            let prefix = format!("{name}{{tenant=\"team-a\"}} ");
            let line = text.lines().find(|l| l.starts_with(&prefix)).expect(name);
            line[prefix.len()..].parse().unwrap()
        };
        assert_eq!(value("vouch_tenant_guest_cpu_seconds_total"), 0.08);
        // 80 ms against a 50 ms burst at half a core: 60 ms of pause (less what refilled
        // between creating the quota and charging it).
        let throttled = value("vouch_tenant_guest_throttled_seconds_total");
        assert!((0.055..=0.060).contains(&throttled), "{throttled}");
        assert!(
            text.contains(
                "vouch_redis_cache_operations_total{tenant=\"a\\\"b\",outcome=\"hit\"} 3"
            )
        );
        assert!(
            text.contains("vouch_redis_rejected_total{tenant=\"a\\\"b\",reason=\"bad_mac\"} 2")
        );
        assert!(
            text.contains("vouch_redis_rejected_total{tenant=\"a\\\"b\",reason=\"expired\"} 0")
        );
        assert_eq!(escape("a\"b\\"), "a\\\"b\\\\");
    }
}
