//! Multi-tenancy and configuration reload of `vouch serve`, over the demo pushed to a real
//! `docker-registry` on 127.0.0.1 and real wasm guests: keys routed by namespace to their
//! tenant's verifiers and credentials, verdicts never shared between tenants, a flooding tenant
//! refused at its quota without starving the others, and reloads that apply only a fully built
//! configuration (in-process, and SIGHUP to the real binary).

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::demo::{REPO, push_demo};
use support::registry::Registry;
use support::served::Served;
use vouch::app::reload::{ReloadError, ReloadOutcome, Reloader};
use vouch::config::Config;
use vouch::server::metrics::Metrics;
use vouch::server::tenants::TenantSet;
use vouch::server::{self, API_VERSION, ServerSettings, SharedTenants};

/// A server in-process on 127.0.0.1:0 over the config file at `path`, and the reloader of
/// that file (not watching: tests call it).
async fn start_reloadable(path: &Path) -> (Served, Arc<Reloader>) {
    let config = Config::load(path).unwrap();
    let set = TenantSet::build(&config, None).await.unwrap();
    let tenants: SharedTenants = Arc::new(arc_swap::ArcSwap::from_pointee(set));
    let metrics = Arc::new(Metrics::default());
    let reloader = Arc::new(Reloader::new(
        path,
        &config,
        tenants.clone(),
        metrics.clone(),
        None,
    ));
    let router = server::router_with_tenants(tenants, metrics, ServerSettings::default());
    (Served::start(router).await, reloader)
}

/// [`start_reloadable`] without the reloader.
async fn start(path: &Path) -> Served {
    start_reloadable(path).await.0
}

impl Served {
    async fn verify(&self, keys: &[String]) -> Value {
        verify_at(&self.http, &self.base, keys).await
    }
}

async fn verify_at(http: &reqwest::Client, base: &str, keys: &[String]) -> Value {
    let body = json!({
        "apiVersion": API_VERSION,
        "kind": "ProviderRequest",
        "request": { "keys": keys },
    });
    let resp = http
        .post(format!("{base}/ratify/gatekeeper/v1/verify"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

fn item<'a>(response: &'a Value, key: &str) -> &'a Value {
    response["response"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .unwrap_or_else(|| panic!("no item for {key} in {response:#}"))
}

/// Names of the verifiers that judged an item's referrers.
fn verifier_names(item: &Value) -> Vec<String> {
    let mut names: Vec<String> = item["value"]["verifierReports"]
        .as_array()
        .unwrap_or_else(|| panic!("no reports in {item:#}"))
        .iter()
        .map(|r| r["verifierName"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A verifier entry running guest `guest` on every referrer.
fn verifier(name: &str, guest: &str, extra: &str) -> String {
    verifier_for(name, guest, "'*'", extra)
}

/// A verifier entry running guest `guest` on referrers of `types` (a YAML list's items).
fn verifier_for(name: &str, guest: &str, types: &str, extra: &str) -> String {
    format!(
        "{{ name: {name}, path: '{}', artifactTypes: [{types}]{extra} }}",
        guests::guest(guest).display()
    )
}

/// A configuration: the default tenant with the no-op verifier, and tenant `name` (owning
/// namespace `name`) whose verifier spins on every SBOM until `cpu_ms` of CPU (or `wall_ms`),
/// with `executor` and `quota` settings (YAML flow-mapping entries).
fn spinning_tenant(name: &str, executor: &str, quota: &str, cpu_ms: u64, wall_ms: u64) -> String {
    format!(
        "verifiers: [ {} ]\n\
         tenants:\n\
         \x20 - name: {name}\n    namespaces: [{name}]\n    verifiers: [ {} ]\n\
         \x20   executor: {{ {executor} }}\n\
         \x20   quota: {{ {quota} }}\n",
        verifier("noop", "noop", ""),
        verifier_for(
            "spin",
            "loop",
            "application/spdx+json",
            &format!(", limits: {{ cpuTime: {cpu_ms}, wallTime: {wall_ms} }}")
        ),
    )
}

/// A server whose default tenant runs the no-op verifier beside tenant `noisy` (see
/// [`spinning_tenant`]), with `keys` keys of `noisy` being verified in one request meanwhile.
struct NoisyRun {
    _registry: Registry,
    _dir: tempfile::TempDir,
    served: Arc<Served>,
    /// The demo image, by tag.
    v1: String,
    /// The noisy request.
    noisy: tokio::task::JoinHandle<Value>,
    /// When the noisy request was sent.
    started: Instant,
}

impl NoisyRun {
    async fn start(executor: &str, quota: &str, cpu_ms: u64, keys: usize) -> NoisyRun {
        let (registry, dir) = demo_registry().await;
        let config = spinning_tenant("noisy", executor, quota, cpu_ms, 2500);
        let served = Arc::new(start(&write(dir.path(), &config)).await);
        let v1 = registry.reference(REPO, "v1");
        let keys: Vec<String> = (0..keys).map(|_| format!("[noisy]{v1}")).collect();
        let started = Instant::now();
        let noisy = {
            let served = served.clone();
            tokio::spawn(async move { served.verify(&keys).await })
        };
        NoisyRun {
            _registry: registry,
            _dir: dir,
            served,
            v1,
            noisy,
            started,
        }
    }

    /// Once the noisy tenant is busy, the default tenant's key is verified `times` over, each
    /// before the noisy request is answered.
    async fn quiet_tenant_is_served_meanwhile(&self, times: usize) {
        let v1 = &self.v1;
        tokio::time::sleep(Duration::from_millis(150)).await;
        for _ in 0..times {
            let started = Instant::now();
            let r = self.served.verify(std::slice::from_ref(v1)).await;
            assert_eq!(item(&r, v1)["error"], "", "{r:#}");
            assert_eq!(item(&r, v1)["value"]["isSuccess"], true, "{r:#}");
            assert!(
                !self.noisy.is_finished(),
                "the quiet request took {:?}: the noisy one finished first",
                started.elapsed()
            );
        }
    }
}

/// `base` plus a tenant `team-c` owning namespace `team-c` with the no-op verifier `c-noop`.
fn with_team_c(base: &str) -> String {
    format!(
        "{base}tenants:\n  - name: team-c\n    namespaces: [team-c]\n    verifiers: [ {} ]\n",
        verifier("c-noop", "noop", "")
    )
}

/// docker-registry on 127.0.0.1 with the demo pushed, and a directory for the config file.
async fn demo_registry() -> (Registry, tempfile::TempDir) {
    let registry = Registry::start();
    push_demo(&registry).await;
    (registry, tempfile::tempdir().unwrap())
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("vouch.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_go_to_their_tenant_with_its_own_credentials_and_verdicts() {
    let registry = Registry::start_with_basic_auth("ci", "s3cret");
    push_demo(&registry).await;
    let host = registry.host();
    let dir = tempfile::tempdir().unwrap();
    let creds =
        format!("registries: {{ hosts: {{ '{host}': {{ username: ci, password: s3cret }} }} }}");
    let path = write(
        dir.path(),
        &format!(
            "verifiers: [ {} ]\nstores: {{ {creds} }}\n\
             tenants:\n\
             \x20 - name: team-a\n    namespaces: [team-a]\n    verifiers: [ {} ]\n    {creds}\n\
             \x20 - name: team-b\n    namespaces: ['team-b*']\n    verifiers: [ {} ]\n\
             \x20 - name: team-c\n    namespaces: [team-c]\n    verifiers: [ {} ]\n    {creds}\n",
            verifier("noop", "noop", ""),
            verifier("a-noop", "noop", ""),
            verifier("b-noop", "noop", ""),
            verifier("a-noop", "noop", ""),
        ),
    );
    let served = start(&path).await;
    let image = registry.reference(REPO, "v1");
    let a = format!("[team-a]{image}");
    let b = format!("[team-b-dev]{image}");
    let c = format!("[team-c]{image}");
    let other = format!("[elsewhere]{image}");

    let r = served
        .verify(&[a.clone(), b.clone(), image.clone(), other.clone()])
        .await;
    assert_eq!(item(&r, &a)["error"], "", "{r:#}");
    assert_eq!(item(&r, &a)["value"]["isSuccess"], true);
    assert_eq!(verifier_names(item(&r, &a)), ["a-noop"]);
    // team-b declared no credentials: it does not borrow anyone's.
    let e = item(&r, &b)["error"].as_str().unwrap();
    assert!(
        e.contains("401") || e.to_lowercase().contains("unauthorized"),
        "{e}"
    );
    // No namespace, or one no tenant owns: the default tenant.
    assert_eq!(verifier_names(item(&r, &image)), ["noop"]);
    assert_eq!(verifier_names(item(&r, &other)), ["noop"]);

    // team-a's verdict is cached for team-a only: team-b still cannot read the image, and
    // team-c (same verifier name and module, same credentials) computes its own.
    let r = served.verify(&[a.clone(), b.clone(), c.clone()]).await;
    assert_eq!(item(&r, &a)["value"]["cached"], true, "{r:#}");
    assert_ne!(item(&r, &b)["error"], "");
    assert_eq!(item(&r, &c)["error"], "");
    assert_eq!(item(&r, &c)["value"]["cached"], false, "{r:#}");
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_tenant_is_refused_at_its_quota_and_others_are_served() {
    // The noisy tenant's verifier spins until its CPU limit on each SBOM; two calls and two
    // keys at a time; eight keys asked for.
    let run = NoisyRun::start(
        "concurrency: 2, resultCacheTtlMs: 0",
        "maxKeysInFlight: 2",
        1200,
        8,
    )
    .await;
    // While the noisy tenant spins, the default tenant is answered (and long before the noisy
    // request could be).
    run.quiet_tenant_is_served_meanwhile(2).await;
    let (served, noisy) = (run.served, run.noisy);
    let r = noisy.await.unwrap();
    let items = r["response"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    let refused: Vec<&Value> = items
        .iter()
        .filter(|i| {
            i["error"]
                .as_str()
                .unwrap()
                .contains("tenant `noisy` is over its quota of 2 keys in flight (quota.maxKeysInFlight; waited 100 ms for a slot)")
        })
        .collect();
    assert_eq!(refused.len(), 6, "{r:#}");
    // The two admitted keys ran into a limit (CPU, or the deadline on a loaded machine): a
    // failed verdict, not a crash.
    for i in items.iter().filter(|i| i["error"] == "") {
        assert_eq!(i["value"]["isSuccess"], false, "{i:#}");
        let reason = i["value"]["verifierReports"][0]["errorReason"].as_str();
        assert!(reason.is_some_and(|r| r.ends_with("_exceeded")), "{i:#}");
    }
    let metrics = metrics_of(&served).await;
    assert!(
        metrics.contains("vouch_tenant_quota_rejected_total{tenant=\"noisy\"} 6"),
        "{metrics}"
    );
    Arc::into_inner(served).unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_the_quota_waits_for_a_slot_before_it_is_refused() {
    let (registry, dir) = demo_registry().await;
    // One key at a time, and a key over it may wait 2 s: the second key of a request waits for
    // the first one's verification (~100 ms of spinning) instead of being refused.
    let path = write(
        dir.path(),
        &spinning_tenant(
            "burst",
            "resultCacheTtlMs: 0",
            "maxKeysInFlight: 1, admissionWaitMs: 2000",
            100,
            1000,
        ),
    );
    let served = start(&path).await;
    let v1 = registry.reference(REPO, "v1");
    let keys: Vec<String> = (0..2).map(|_| format!("[burst]{v1}")).collect();
    let r = served.verify(&keys).await;
    for i in r["response"]["items"].as_array().unwrap() {
        assert_eq!(i["error"], "", "admitted after waiting: {i:#}");
        let reason = i["value"]["verifierReports"][0]["errorReason"].as_str();
        assert_eq!(reason, Some("cpu_time_limit_exceeded"), "{i:#}");
    }
    let metrics = metrics_of(&served).await;
    assert!(
        !metrics.contains("vouch_tenant_quota_rejected_total{tenant=\"burst\"}"),
        "{metrics}"
    );
    served.shutdown().await;
}

/// Text of the server's `/metrics`.
async fn metrics_of(served: &Served) -> String {
    let resp = served.http.get(format!("{}/metrics", served.base)).send();
    resp.await.unwrap().text().await.unwrap()
}

/// The value of the sample `name` (labels included) in `metrics`.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    let line = metrics.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_cpu_quota_is_slowed_and_the_others_are_not() {
    // The noisy tenant may use a tenth of a core; its verifier spins 60 ms per SBOM, two at once:
    // 120 ms of CPU takes it ~1.1 s instead of ~60 ms.
    let executor = "concurrency: 2, resultCacheTtlMs: 0";
    let run = NoisyRun::start(executor, "guestCpuMillicores: 100", 60, 2).await;
    run.quiet_tenant_is_served_meanwhile(1).await;
    let (served, noisy, started) = (run.served, run.noisy, run.started);
    let r = noisy.await.unwrap();
    let elapsed = started.elapsed();
    for i in r["response"]["items"].as_array().unwrap() {
        // Slowed, not failed for it: the limit it hits is still its CPU time, not its wall time.
        let reason = i["value"]["verifierReports"][0]["errorReason"].as_str();
        assert_eq!(reason, Some("cpu_time_limit_exceeded"), "{i:#}");
    }
    assert!(
        elapsed >= Duration::from_millis(500),
        "not throttled: {elapsed:?}"
    );
    let metrics = metrics_of(&served).await;
    let cpu = sample(
        &metrics,
        "vouch_tenant_guest_cpu_seconds_total{tenant=\"noisy\"}",
    );
    let parked = sample(
        &metrics,
        "vouch_tenant_guest_throttled_seconds_total{tenant=\"noisy\"}",
    );
    assert!(cpu.is_some_and(|s| s >= 0.06), "{metrics}");
    let limit_hits =
        "vouch_guest_limit_hits_total{verifier=\"spin\",limit=\"cpu_time_limit_exceeded\"}";
    assert_eq!(sample(&metrics, limit_hits), Some(2.0), "{metrics}");
    assert!(parked.is_some_and(|s| s >= 0.3), "{metrics}");
    assert!(
        !metrics.contains("guest_cpu_seconds_total{tenant=\"default\"}"),
        "the default tenant has no quota: {metrics}"
    );
    Arc::into_inner(served).unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_a_tenants_cpu_quota_unless_its_rate_changes() {
    let (registry, dir) = demo_registry().await;
    let config = |ttl: u32, millicores: u32| {
        let executor = format!("resultCacheTtlMs: {ttl}");
        let quota = format!("guestCpuMillicores: {millicores}");
        spinning_tenant("noisy", &executor, &quota, 30, 2500)
    };
    let path = write(dir.path(), &config(0, 500));
    let (served, reloader) = start_reloadable(&path).await;
    let key = format!("[noisy]{}", registry.reference(REPO, "v1"));
    served.verify(std::slice::from_ref(&key)).await;
    let name = "vouch_tenant_guest_cpu_seconds_total{tenant=\"noisy\"}";
    let before = sample(&metrics_of(&served).await, name).unwrap();
    assert!(before >= 0.02, "the spin was charged: {before}");

    // Another setting of the tenant changes: its quota (bucket and counters) carries over.
    write(dir.path(), &config(1, 500));
    assert_eq!(
        reloader.reload(false).await.unwrap(),
        ReloadOutcome::Applied
    );
    assert_eq!(sample(&metrics_of(&served).await, name), Some(before));

    // A new rate: a new bucket.
    write(dir.path(), &config(1, 400));
    assert_eq!(
        reloader.reload(false).await.unwrap(),
        ReloadOutcome::Applied
    );
    assert_eq!(sample(&metrics_of(&served).await, name), Some(0.0));
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_only_a_fully_built_configuration() {
    let (registry, dir) = demo_registry().await;
    let base = format!("verifiers: [ {} ]\n", verifier("noop", "noop", ""));
    let path = write(dir.path(), &base);
    let (served, reloader) = start_reloadable(&path).await;
    let key = format!("[team-c]{}", registry.reference(REPO, "v1"));
    let r = served.verify(std::slice::from_ref(&key)).await;
    assert_eq!(verifier_names(item(&r, &key)), ["noop"]);
    assert_eq!(
        reloader.reload(false).await.unwrap(),
        ReloadOutcome::Unchanged
    );

    // A new tenant: applied, and the next request routes to it.
    let with_c = with_team_c(&base);
    write(dir.path(), &with_c);
    assert_eq!(
        reloader.reload(false).await.unwrap(),
        ReloadOutcome::Applied
    );
    let r = served.verify(std::slice::from_ref(&key)).await;
    assert_eq!(verifier_names(item(&r, &key)), ["c-noop"]);

    // Valid YAML whose verifier does not load: rejected after trying to build it, naming the
    // file and the verifier; the previous configuration keeps serving.
    write(
        dir.path(),
        &format!(
            "{base}tenants:\n  - name: team-c\n    namespaces: [team-c]\n    \
             verifiers: [ {{ name: c-missing, path: /nonexistent/verifier.wasm }} ]\n"
        ),
    );
    let e = reloader.reload(false).await.unwrap_err();
    assert!(matches!(e, ReloadError::Build { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("vouch.yaml")
            && msg.contains("team-c")
            && msg.contains("/nonexistent/verifier.wasm"),
        "{msg}"
    );
    let r = served.verify(std::slice::from_ref(&key)).await;
    assert_eq!(verifier_names(item(&r, &key)), ["c-noop"]);
    // The same bad content is not retried until it changes (or SIGHUP forces it).
    assert_eq!(
        reloader.reload(false).await.unwrap(),
        ReloadOutcome::Unchanged
    );
    assert!(reloader.reload(true).await.is_err());

    // Not even YAML: rejected by the parser, naming the file.
    write(dir.path(), "verifiers: [ {\n");
    let e = reloader.reload(false).await.unwrap_err();
    assert!(matches!(e, ReloadError::Config(_)), "{e}");
    assert!(e.to_string().contains("vouch.yaml"), "{e}");
    let r = served.verify(std::slice::from_ref(&key)).await;
    assert_eq!(verifier_names(item(&r, &key)), ["c-noop"]);

    // The file watcher picks up a change by itself.
    let watcher = reloader.clone().spawn(Some(Duration::from_millis(50)));
    write(dir.path(), &base);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = served.verify(std::slice::from_ref(&key)).await;
        if verifier_names(item(&r, &key)) == ["noop"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher never reloaded: {r:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();
    served.shutdown().await;
}

/// SIGHUP to a real `vouch serve` process reloads its configuration; a bad one is rejected and
/// the process keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_real_binary() {
    let (registry, dir) = demo_registry().await;
    let base = format!("verifiers: [ {} ]\n", verifier("noop", "noop", ""));
    let path = write(dir.path(), &base);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["serve", "--config"])
        .arg(&path)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--reload-interval-ms", "0"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base_url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let metrics = async |http: &reqwest::Client| -> String {
        match http.get(format!("{base_url}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while metrics(&http).await.is_empty() {
        assert!(Instant::now() < deadline, "vouch serve did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let key = format!("[team-c]{}", registry.reference(REPO, "v1"));
    let hup = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    let wait_for = async |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let m = metrics(&http).await;
            if m.contains(needle) {
                break;
            }
            assert!(Instant::now() < deadline, "no `{needle}` in\n{m}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    write(dir.path(), "verifiers: [ {\n");
    hup(child.id());
    wait_for("vouch_config_reloads_total{outcome=\"failure\"} 1").await;
    let r = verify_at(&http, &base_url, std::slice::from_ref(&key)).await;
    assert_eq!(verifier_names(item(&r, &key)), ["noop"]);

    write(dir.path(), &with_team_c(&base));
    hup(child.id());
    wait_for("vouch_config_reloads_total{outcome=\"success\"} 1").await;
    let r = verify_at(&http, &base_url, std::slice::from_ref(&key)).await;
    assert_eq!(verifier_names(item(&r, &key)), ["c-noop"]);

    child.kill().unwrap();
    child.wait().unwrap();
}

/// `vouch verify --namespace` verifies with the configuration `vouch serve` would route the
/// namespace to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_on_the_command_line_as_a_tenant() {
    let (registry, dir) = demo_registry().await;
    let path = write(
        dir.path(),
        &with_team_c(&format!(
            "verifiers: [ {} ]\n",
            verifier("noop", "noop", "")
        )),
    );
    let image = registry.reference(REPO, "v1");
    let run = |namespace: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vouch"));
        cmd.arg("verify").arg("-c").arg(&path).args(["-o", "json"]);
        if let Some(ns) = namespace {
            cmd.args(["--namespace", ns]);
        }
        let out = cmd.arg(&image).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        verifier_names(&json!({ "value": report }))
    };
    assert_eq!(run(Some("team-c")), ["c-noop"]);
    assert_eq!(run(Some("elsewhere")), ["noop"]);
    assert_eq!(run(None), ["noop"]);
}
