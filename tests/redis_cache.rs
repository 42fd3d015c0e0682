//! The Redis tier of the result cache against a real `redis-server` on 127.0.0.1: executors
//! standing in for replicas share verdicts (and never across configurations), the TTL is the
//! local cache's and a verdict read from Redis does not outlive it there, a dead or hung Redis
//! degrades to local caching with one warning, and two real `vouch serve` processes share a
//! verdict. Values are authenticated: an attacker who can write to Redis (flipping a field,
//! swapping values between keys, replaying an expired value, signing with a retired key, writing
//! garbage) causes a miss and a fresh verification, never a pass; keys rotate without a flag day;
//! TLS with a CA file and a client certificate, and ACL users with a password file, work against
//! the real server.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/layout.rs"]
mod layout;
mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};
use sha2::Digest as _;
use support::demo::{REPO, examples, push_demo};
use support::redis::Redis;
use support::registry::Registry;
use vouch::app::build;
use vouch::config::{Config, ExecutorConfig};
use vouch::executor::redis_cache::auth::{AuthKeys, Rejection, ValueAuth};
use vouch::executor::redis_cache::{RedisCacheConfig, RedisTier, verdict_key};
use vouch::executor::{ExecVerifier, Executor, ResultCache, Settings, SubjectSource};
use vouch::oci::{Descriptor, Digest};
use vouch::report::SubjectReport;
use vouch::runtime::{Limits, Runtime, RuntimeConfig};
use vouch::store::layout::LayoutStore;
use vouch::store::sources::subject_name;
use vouch::store::{StoreAccess, StoreError};

use guests::guest;
use layout::LayoutBuilder;

const SIG_TYPE: &str = "application/vnd.cncf.notary.signature";

/// A layout with two signed images, `v1` and `v2`.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path());
    for (tag, layer) in [("v1", &b"layer one"[..]), ("v2", &b"layer two"[..])] {
        let image = b.image(tag, &[layer]);
        b.referrer(
            &image,
            SIG_TYPE,
            &[("application/jose+json", b"{\"payload\":\"x\"}")],
            &[],
        );
    }
    b.finish();
    dir
}

/// A store that counts the referrer listings made through it: a verdict served from a cache
/// walks nothing, so its count stays at zero.
struct Counting {
    inner: LayoutStore,
    listings: AtomicU64,
}

#[async_trait::async_trait]
impl StoreAccess for Counting {
    async fn resolve(&self, tag_or_digest: &str) -> Result<Descriptor, StoreError> {
        self.inner.resolve(tag_or_digest).await
    }
    async fn list_referrers(
        &self,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        self.listings.fetch_add(1, Ordering::Relaxed);
        self.inner.list_referrers(digest, artifact_type).await
    }
    async fn get_manifest(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.inner.get_manifest(desc).await
    }
    async fn get_blob(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.inner.get_blob(desc).await
    }
}

/// `tag` of the layout at `dir`, read through a fresh counting store.
fn source(dir: &Path, tag: &str) -> (SubjectSource, Arc<Counting>) {
    let store = Arc::new(Counting {
        inner: LayoutStore::open(dir, Default::default()).unwrap(),
        listings: AtomicU64::new(0),
    });
    let reference = format!("{}:{tag}", dir.display());
    let source = SubjectSource {
        store: store.clone(),
        scope: format!("oci-layout:{}", dir.display()),
        tag_or_digest: tag.to_owned(),
        name: subject_name(&reference).to_owned(),
        reference,
    };
    (source, store)
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_instances: 16,
        max_concurrency: 16,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

/// The secret of test key `name`: 32 bytes derived from the name.
fn secret(name: &str) -> Vec<u8> {
    sha2::Sha256::digest(format!("vouch test redis key {name}")).to_vec()
}

/// The key file of test key `name` (base64 of [`secret`]), in `redis`'s directory.
fn key_file(redis: &Redis, name: &str) -> std::path::PathBuf {
    let path = redis.dir().join(format!("key-{name}"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret(name));
    std::fs::write(&path, format!("{b64}\n")).unwrap();
    path
}

/// The Redis settings of a test: a prefix of its own, a timeout roomy enough for a loaded CI
/// machine (the default 50 ms is for production) and values authenticated with key `a`.
fn redis_config(redis: &Redis, prefix: &str) -> RedisCacheConfig {
    RedisCacheConfig {
        key_prefix: prefix.to_owned(),
        timeout_ms: 1000,
        auth_key_files: vec![key_file(redis, "a")],
        ..RedisCacheConfig::new(redis.url())
    }
}

/// [`redis_config`] whose first key (the signing one) and then the others are `keys`.
fn keyed(redis: &Redis, prefix: &str, keys: &[&str]) -> RedisCacheConfig {
    RedisCacheConfig {
        auth_key_files: keys.iter().map(|k| key_file(redis, k)).collect(),
        ..redis_config(redis, prefix)
    }
}

/// A configuration that accepts unauthenticated values (for tests about availability, where
/// there is nothing to authenticate).
fn unauthenticated(url: String) -> RedisCacheConfig {
    RedisCacheConfig {
        insecure_unauthenticated: true,
        ..RedisCacheConfig::new(url)
    }
}

/// A replica: an executor running the `exerciser` guest with `verifier_config`, with its own
/// local cache in front of `redis`.
async fn replica(
    rt: &Runtime,
    verifier_config: &str,
    ttl: Duration,
    redis: RedisCacheConfig,
) -> (Executor, ResultCache) {
    let v = rt
        .load_file("exerciser", &guest("exerciser"), Limits::default())
        .await
        .unwrap();
    let config = ExecutorConfig {
        result_cache_ttl_ms: u64::try_from(ttl.as_millis()).unwrap(),
        redis: Some(redis),
        ..ExecutorConfig::default()
    };
    let cache = ResultCache::from_config(&config, Path::new("/")).unwrap();
    let ex = Executor::new(
        rt.clone(),
        vec![ExecVerifier::new(v, verifier_config)],
        Settings::from(&config),
    )
    .with_result_cache(cache.clone());
    (ex, cache)
}

/// Wait until `cache` has written `n` verdicts to Redis (writes are background tasks); returns
/// when it saw them.
async fn written(cache: &ResultCache, n: u64) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = cache.redis_stats().unwrap();
        if s.writes >= n {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{n} writes never happened: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn dump(r: &SubjectReport) -> String {
    serde_json::to_string_pretty(r).unwrap()
}

#[tokio::test]
async fn a_second_replica_gets_the_verdict_from_redis_without_verifying() {
    let redis = Redis::start();
    let rt = runtime();
    let dir = fixture();
    let ttl = Duration::from_secs(30);
    let (a, cache_a) = replica(&rt, "{}", ttl, redis_config(&redis, "share")).await;
    let (b, cache_b) = replica(&rt, "{}", ttl, redis_config(&redis, "share")).await;
    assert_eq!(a.fingerprint(), b.fingerprint());

    let (src, store_a) = source(dir.path(), "v1");
    let ra = a.verify(src).await;
    assert!(ra.is_success && !ra.cached, "{}", dump(&ra));
    assert!(store_a.listings.load(Ordering::Relaxed) > 0);
    written(&cache_a, 1).await;
    assert_eq!(redis.command("DBSIZE"), ":1\r\n");
    assert!(redis.command("KEYS share:v2:*").contains("share:v2:"));

    // B has never seen the subject: the verdict comes from Redis and nothing is walked.
    let (src, store_b) = source(dir.path(), "v1");
    let rb = b.verify(src).await;
    assert!(rb.is_success && rb.cached, "{}", dump(&rb));
    assert_eq!(
        store_b.listings.load(Ordering::Relaxed),
        0,
        "B walked the subject"
    );
    assert_eq!(rb.verifier_reports, ra.verifier_reports);
    assert_eq!(rb.digest, ra.digest);
    let s = cache_b.redis_stats().unwrap();
    assert_eq!(
        (s.hits, s.misses, s.errors, s.writes),
        (1, 0, 0, 0),
        "{s:?}"
    );

    // By digest on B: now a local hit (Redis is not asked again), under B's own reference.
    let digest = ra.digest.clone().unwrap();
    let (src, store_b) = source(dir.path(), &digest);
    let rb2 = b.verify(src).await;
    assert!(rb2.is_success && rb2.cached, "{}", dump(&rb2));
    assert!(rb2.subject.ends_with(&digest), "{}", rb2.subject);
    assert!(
        rb2.verifier_reports
            .iter()
            .all(|r| r.subject == rb2.subject)
    );
    assert_eq!(store_b.listings.load(Ordering::Relaxed), 0);
    assert_eq!(cache_b.redis_stats().unwrap().hits, 1);
    assert_eq!(cache_b.entry_count().await, 1);
}

#[tokio::test]
async fn different_configurations_and_scopes_never_share() {
    let redis = Redis::start();
    let rt = runtime();
    let dir = fixture();
    let ttl = Duration::from_secs(30);
    let (a, cache_a) = replica(&rt, "{}", ttl, redis_config(&redis, "fp")).await;
    let config_c = format!(r#"{{"artifactType":"{SIG_TYPE}"}}"#);
    let (c, cache_c) = replica(&rt, &config_c, ttl, redis_config(&redis, "fp")).await;
    assert_ne!(a.fingerprint(), c.fingerprint());

    assert!(!a.verify(source(dir.path(), "v1").0).await.cached);
    written(&cache_a, 1).await;

    let (src, store_c) = source(dir.path(), "v1");
    let rc = c.verify(src).await;
    assert!(rc.is_success && !rc.cached, "{}", dump(&rc));
    assert!(store_c.listings.load(Ordering::Relaxed) > 0);
    assert_eq!(rc.verifier_reports[0].extensions["filteredReferrers"], "1");
    let s = cache_c.redis_stats().unwrap();
    assert_eq!((s.hits, s.misses), (0, 1), "{s:?}");
    written(&cache_c, 1).await;
    assert_eq!(redis.command("DBSIZE"), ":2\r\n");

    // The same content in another layout: same digest, another scope, another key.
    let copy = fixture();
    let (a2, _) = replica(&rt, "{}", ttl, redis_config(&redis, "fp")).await;
    let r = a2.verify(source(copy.path(), "v1").0).await;
    assert!(!r.cached, "{}", dump(&r));
    assert_eq!(
        r.digest,
        a.verify(source(dir.path(), "v1").0).await.digest,
        "the copy has the same digest"
    );
}

#[tokio::test]
async fn the_ttl_is_honoured_and_a_verdict_from_redis_does_not_outlive_it() {
    let redis = Redis::start();
    let rt = runtime();
    let dir = fixture();
    let ttl = Duration::from_millis(1500);
    let (a, cache_a) = replica(&rt, "{}", ttl, redis_config(&redis, "ttl")).await;
    let (b, cache_b) = replica(&rt, "{}", ttl, redis_config(&redis, "ttl")).await;

    assert!(!a.verify(source(dir.path(), "v1").0).await.cached);
    let seen = written(&cache_a, 1).await;
    let key = redis.command("KEYS ttl:v2:*");
    // Inline-protocol reply: `*1`, `$<len>`, the key.
    let key = key.lines().nth(2).expect("one key").to_owned();
    let pttl: i64 = redis.command(&format!("PTTL {key}")).trim()[1..]
        .parse()
        .unwrap();
    assert!(pttl > 0 && pttl <= 1500, "PTTL {pttl}");

    // B reads it half-way through its life...
    tokio::time::sleep_until((seen + Duration::from_millis(700)).into()).await;
    let r = b.verify(source(dir.path(), "v1").0).await;
    assert!(r.cached, "{}", dump(&r));
    // ...and keeps it only for what was left: once Redis dropped it, B verifies again (a local
    // entry with a fresh TTL would still be alive here).
    tokio::time::sleep_until((seen + Duration::from_millis(1800)).into()).await;
    assert_eq!(
        redis.command(&format!("EXISTS {key}")),
        ":0\r\n",
        "Redis expired the key"
    );
    let (src, store_b) = source(dir.path(), "v1");
    let r = b.verify(src).await;
    assert!(!r.cached, "{}", dump(&r));
    assert!(store_b.listings.load(Ordering::Relaxed) > 0);
    let s = cache_b.redis_stats().unwrap();
    assert_eq!((s.hits, s.misses), (1, 1), "{s:?}");
}

/// Captures what the `tracing` macros print on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn unavailable_warnings(&self) -> usize {
        self.text()
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("error.type=\"redis_unavailable\""))
            .count()
    }
}

fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("vouch::executor::redis_cache=info")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

// Current-thread runtime: the captured subscriber sees the background writes too.
#[tokio::test(flavor = "current_thread")]
async fn a_dead_redis_degrades_to_local_caching_with_one_warning_and_recovers() {
    let (logs, _guard) = capture_logs();
    let mut redis = Redis::start();
    let rt = runtime();
    let dir = fixture();
    let ttl = Duration::from_secs(30);
    let config = RedisCacheConfig {
        retry_after_ms: 300,
        ..redis_config(&redis, "down")
    };
    let (a, cache_a) = replica(&rt, "{}", ttl, config.clone()).await;
    let (b, cache_b) = replica(&rt, "{}", ttl, config.clone()).await;
    assert!(!a.verify(source(dir.path(), "v1").0).await.cached);
    written(&cache_a, 1).await;

    redis.kill();
    // Requests still succeed, computed and then cached locally.
    let r = a.verify(source(dir.path(), "v2").0).await;
    assert!(r.is_success && !r.cached, "{}", dump(&r));
    let (src, store) = source(dir.path(), "v2");
    let r = a.verify(src).await;
    assert!(r.is_success && r.cached, "{}", dump(&r));
    assert_eq!(store.listings.load(Ordering::Relaxed), 0);
    // A fresh replica cannot get v1 from Redis: it verifies it itself.
    let (src, store) = source(dir.path(), "v1");
    let r = b.verify(src).await;
    assert!(r.is_success && !r.cached, "{}", dump(&r));
    assert!(store.listings.load(Ordering::Relaxed) > 0);
    assert!(cache_a.redis_stats().unwrap().errors >= 1);
    assert!(cache_b.redis_stats().unwrap().errors >= 1);
    assert_eq!(
        logs.unavailable_warnings(),
        2,
        "one warning per replica:\n{}",
        logs.text()
    );

    // Back (empty) after the back-off: the next lookup probes it, and verdicts are shared again.
    redis.restart();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let r = b.verify(source(dir.path(), "v2").0).await;
    assert!(r.is_success && !r.cached, "{}", dump(&r));
    written(&cache_b, 1).await;
    let (c, _) = replica(&rt, "{}", ttl, config).await;
    let (src, store) = source(dir.path(), "v2");
    let r = c.verify(src).await;
    assert!(r.cached, "{}", dump(&r));
    assert_eq!(store.listings.load(Ordering::Relaxed), 0);
    let text = logs.text();
    assert!(
        text.contains("redis result cache available again"),
        "{text}"
    );
    assert_eq!(logs.unavailable_warnings(), 2, "{text}");
}

#[tokio::test]
async fn a_hung_redis_costs_at_most_its_timeout() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            keep.lock().unwrap().push(conn);
        }
    });
    let rt = runtime();
    let dir = fixture();
    let config = RedisCacheConfig {
        timeout_ms: 100,
        retry_after_ms: 60_000,
        ..unauthenticated(format!("redis://127.0.0.1:{port}"))
    };
    let (ex, cache) = replica(&rt, "{}", Duration::from_secs(30), config).await;
    // The verification alone, by a replica without any cache (TTL zero: Redis is never used).
    let (plain, _) = replica(
        &rt,
        "{}",
        Duration::ZERO,
        unauthenticated("redis://127.0.0.1:1".into()),
    )
    .await;
    let t = Instant::now();
    assert!(plain.verify(source(dir.path(), "v2").0).await.is_success);
    let baseline = t.elapsed();

    let t = Instant::now();
    let r = ex.verify(source(dir.path(), "v1").0).await;
    let elapsed = t.elapsed();
    assert!(r.is_success && !r.cached, "{}", dump(&r));
    assert!(
        elapsed < baseline + Duration::from_millis(1000),
        "a hung Redis held the request for {elapsed:?} (verification alone: {baseline:?})"
    );
    assert!(
        !held.lock().unwrap().is_empty(),
        "the tier never tried Redis"
    );
    let s = cache.redis_stats().unwrap();
    assert_eq!(s.errors, 1, "{s:?}");
    // Backed off: the next request does not even try Redis.
    assert!(ex.verify(source(dir.path(), "v2").0).await.is_success);
    let s = cache.redis_stats().unwrap();
    assert!(s.errors == 1 && s.skipped >= 1, "{s:?}");
}

/// A `vouch serve` process, killed on drop.
struct Server {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(config: &Path, log: std::path::PathBuf) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_vouch"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn vouch serve");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("vouch serve exited with {status}: {}", server.stderr());
            }
            if let Ok(resp) = http.get(format!("{}/readyz", server.base)).send().await
                && resp.status().is_success()
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "vouch serve not ready within 60 s: {}",
                server.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn verify(&self, key: &str) -> Value {
        let body = json!({
            "apiVersion": vouch::server::API_VERSION,
            "kind": "ProviderRequest",
            "request": { "keys": [key] },
        });
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/verify", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        v["response"]["items"][0].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_share_a_verdict_through_redis() {
    let registry = Registry::start();
    push_demo(&registry).await;
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();

    // The demo config with the freshly built verifiers and the shared Redis.
    let text = std::fs::read_to_string(examples().join("vouch.yaml")).unwrap();
    let mut config: Value = serde_yaml_ng::from_str(&text).expect("examples/vouch.yaml parses");
    for v in config["verifiers"].as_array_mut().unwrap() {
        let name = v["name"].as_str().unwrap().to_owned();
        v["path"] = json!(guests::verifier(&name));
    }
    config["executor"] = json!({ "redis": {
        "url": redis.url(),
        "timeoutMs": 1000,
        "authKeyFiles": [key_file(&redis, "a")],
    } });
    let file = dir.path().join("vouch.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    let a = Server::start(&file, dir.path().join("a.log")).await;
    let b = Server::start(&file, dir.path().join("b.log")).await;
    let key = registry.reference(REPO, "v1");

    let ia = a.verify(&key).await;
    assert_eq!(ia["error"], "", "{ia:#}\n{}", a.stderr());
    assert_eq!(ia["value"]["isSuccess"], true, "{ia:#}");
    assert_eq!(ia["value"]["cached"], false, "{ia:#}");
    // A writes in the background: wait for the key.
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis.command("DBSIZE") != ":1\r\n" {
        assert!(
            Instant::now() < deadline,
            "server A never wrote its verdict to Redis: {}",
            a.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let ib = b.verify(&key).await;
    assert_eq!(ib["error"], "", "{ib:#}");
    assert_eq!(
        ib["value"]["cached"],
        true,
        "server B did not use A's verdict: {ib:#}\n{}",
        b.stderr()
    );
    assert_eq!(ib["value"]["isSuccess"], true);
    assert_eq!(
        ib["value"]["verifierReports"],
        ia["value"]["verifierReports"]
    );
    // B's metrics: a cache hit, and no verifier ran there.
    let metrics = reqwest::get(format!("{}/metrics", b.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vouch_result_cache_hits_total 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("vouch_verifier_duration_seconds_count{"),
        "a verifier ran on B:\n{metrics}"
    );
}

/// The demo's config (its four real verifiers and its policy, `demo:v1` passes and `demo:v2`'s
/// signature was tampered with) sharing `redis` with `tier`; compiled code is kept in `cache` so
/// that each replica built from it is cheap.
fn demo_replica_config(cache: &Path, tier: RedisCacheConfig) -> Config {
    let mut config = support::demo::demo_config(guests::verifier);
    config.stores.disk_cache = Some(cache.to_owned());
    config.executor.result_cache_ttl_ms = 60_000;
    config.executor.redis = Some(tier);
    config
}

/// A replica of `config`: a whole executor built from it, as `vouch serve` builds one.
async fn demo_replica(rt: &Runtime, config: &Config) -> Executor {
    build::executor(rt, config, "").await.expect("demo replica")
}

fn demo_layout() -> std::path::PathBuf {
    support::demo::examples().join("demo-layout")
}

/// The Redis key of `tag`'s verdict as `ex` computes it.
fn demo_key(ex: &Executor, prefix: &str, report: &SubjectReport, tag: &str) -> String {
    let (src, _) = source(&demo_layout(), tag);
    let digest: Digest = report.digest.as_deref().unwrap().parse().unwrap();
    verdict_key(prefix, &src.scope, &digest, ex.fingerprint())
}

/// Unix milliseconds an hour from now: an expiry far enough for any test.
fn an_hour_from_now_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(now.as_millis()).unwrap() + 3_600_000
}

/// The verdict JSON inside a value read from Redis (what an attacker sees in clear).
fn verdict_of(value: &[u8]) -> Value {
    let json = &value[vouch::executor::redis_cache::auth::HEADER_LEN..];
    serde_json::from_slice(json).unwrap()
}

/// What the shared tier promises (issue 21): "A value that fails authentication, is expired by
/// its own expiry, or does not parse is a **miss** (the subject is verified afresh) … never a
/// pass." Each attack of someone who can write to Redis is played against a fresh replica of
/// the demo deployment, on the key of the tampered image `demo:v2` (or of `demo:v1` for the
/// replay): the replica must verify afresh, count the rejection under its reason, and fail
/// `demo:v2`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_swapped_replayed_retired_and_garbage_values_are_misses() {
    let redis = Redis::start();
    let compiled = tempfile::tempdir().unwrap();
    let config = demo_replica_config(compiled.path(), keyed(&redis, "atk", &["new"]));
    let rt = Runtime::new(build::runtime_config(&config)).unwrap();
    let a = demo_replica(&rt, &config).await;

    let ra1 = a.verify(source(&demo_layout(), "v1").0).await;
    assert!(ra1.is_success && !ra1.cached, "{}", dump(&ra1));
    let ra2 = a.verify(source(&demo_layout(), "v2").0).await;
    assert!(!ra2.is_success && !ra2.cached, "{}", dump(&ra2));
    written(a.result_cache(), 2).await;
    let key1 = demo_key(&a, "atk", &ra1, "v1");
    let key2 = demo_key(&a, "atk", &ra2, "v2");
    assert_eq!(redis.keys("atk:*"), {
        let mut k = vec![key1.clone(), key2.clone()];
        k.sort();
        k
    });
    let value1 = redis.get(&key1).expect("v1's verdict");
    let value2 = redis.get(&key2).expect("v2's verdict");
    assert_eq!(verdict_of(&value2)["isSuccess"], false);

    // A replica reads each untouched value as a hit: the attacks below start from real values.
    let honest = demo_replica(&rt, &config).await;
    let (src, store) = source(&demo_layout(), "v2");
    let r = honest.verify(src).await;
    assert!(r.cached && !r.is_success, "{}", dump(&r));
    assert_eq!(store.listings.load(Ordering::Relaxed), 0);

    // 1. A flipped field: every `isSuccess` of v2's verdict set to true, MAC kept.
    let flipped = String::from_utf8(value2.clone())
        .unwrap()
        .replace("\"isSuccess\":false", "\"isSuccess\":true");
    assert_ne!(flipped.as_bytes(), &value2[..]);
    assert_eq!(verdict_of(flipped.as_bytes())["isSuccess"], true);
    // 2. v1's passing value copied under v2's key.
    let swapped = value1.clone();
    // 3. A passing verdict for v2 signed with a retired key (say, one that leaked): the replicas
    //    list only `new` now.
    let retired = ValueAuth::Hmac(AuthKeys::from_secrets(&[&secret("old")]).unwrap());
    let mut forged_verdict = verdict_of(&value1);
    forged_verdict["digest"] = json!(ra2.digest);
    let far = an_hour_from_now_ms();
    let retired_value = retired.seal(&key2, far, &serde_json::to_vec(&forged_verdict).unwrap());
    // 4. Garbage.
    let garbage: Vec<u8> = (0..512u32).map(|i| (i * 7919 % 251) as u8).collect();

    for (attack, value, reason) in [
        ("flipped field", flipped.into_bytes(), Rejection::BadMac),
        ("value swapped from v1's key", swapped, Rejection::BadMac),
        (
            "signed with a retired key",
            retired_value.clone(),
            Rejection::UnknownKey,
        ),
        ("garbage bytes", garbage, Rejection::Malformed),
    ] {
        redis.set(&key2, &value, 600_000);
        let b = demo_replica(&rt, &config).await;
        let (src, store) = source(&demo_layout(), "v2");
        let r = b.verify(src).await;
        assert!(
            !r.is_success && !r.cached,
            "{attack}: the tampered image must fail, verified afresh: {}",
            dump(&r)
        );
        assert!(
            store.listings.load(Ordering::Relaxed) > 0,
            "{attack}: not verified afresh"
        );
        let s = b.result_cache().redis_stats().unwrap();
        assert_eq!((s.hits, s.misses), (0, 1), "{attack}: {s:?}");
        assert_eq!(s.rejected(reason), 1, "{attack}: {s:?}");
        assert_eq!(s.rejected_total(), 1, "{attack}: {s:?}");
        // The replica writes its fresh verdict behind the response: wait for it to land, or it
        // could overwrite the next attack's value with an honest one.
        written(b.result_cache(), 1).await;
    }

    // The retired-key forgery is well formed: a replica that still listed the old key would have
    // believed it, so listing only current keys is what stops it.
    redis.set(&key2, &retired_value, 600_000);
    let stale = demo_replica_config(compiled.path(), keyed(&redis, "atk", &["new", "old"]));
    let c = demo_replica(&rt, &stale).await;
    assert_eq!(c.fingerprint(), a.fingerprint());
    let r = c.verify(source(&demo_layout(), "v2").0).await;
    assert!(r.cached && r.is_success, "{}", dump(&r));

    // 5. Replay: v1's authentic value stored again after its own expiry (here: a replica whose
    //    verdicts live 1 s), with a long Redis TTL.
    let short = {
        let mut c = demo_replica_config(compiled.path(), keyed(&redis, "atk", &["new"]));
        c.executor.result_cache_ttl_ms = 1000;
        c
    };
    let writer = demo_replica(&rt, &short).await;
    assert_eq!(
        writer.fingerprint(),
        a.fingerprint(),
        "the TTL is not part of the identity"
    );
    redis.call(&[b"DEL", key1.as_bytes()]);
    assert!(!writer.verify(source(&demo_layout(), "v1").0).await.cached);
    written(writer.result_cache(), 1).await;
    let captured = redis.get(&key1).expect("the short-lived value");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    redis.set(&key1, &captured, 600_000);
    let b = demo_replica(&rt, &config).await;
    let (src, store) = source(&demo_layout(), "v1");
    let r = b.verify(src).await;
    assert!(r.is_success && !r.cached, "replayed value: {}", dump(&r));
    assert!(store.listings.load(Ordering::Relaxed) > 0);
    let s = b.result_cache().redis_stats().unwrap();
    assert_eq!((s.hits, s.rejected(Rejection::Expired)), (0, 1), "{s:?}");
}

/// "the first signs, every listed key verifies, so a key can be rotated without a flag day":
/// replicas on `[a]`, then `[b, a]`, then `[b]` share verdicts at each step of a rotation, and
/// a replica that dropped a key no longer believes values signed with it.
#[tokio::test]
async fn keys_rotate_without_a_flag_day() {
    let redis = Redis::start();
    let rt = runtime();
    let dir = fixture();
    let ttl = Duration::from_secs(30);
    let (old, cache_old) = replica(&rt, "{}", ttl, keyed(&redis, "rot", &["a"])).await;
    assert!(!old.verify(source(dir.path(), "v1").0).await.cached);
    written(&cache_old, 1).await;

    // Step 1: the new key is listed second, then first (signing) on the next replicas.
    let (both, cache_both) = replica(&rt, "{}", ttl, keyed(&redis, "rot", &["b", "a"])).await;
    let (src, store) = source(dir.path(), "v1");
    let r = both.verify(src).await;
    assert!(
        r.cached,
        "a value signed with the old key verifies: {}",
        dump(&r)
    );
    assert_eq!(store.listings.load(Ordering::Relaxed), 0);
    assert!(!both.verify(source(dir.path(), "v2").0).await.cached);
    written(&cache_both, 1).await;
    // The rotated replica signs with `b`: an old replica (only `a`) cannot verify that.
    let (old2, cache_old2) = replica(&rt, "{}", ttl, keyed(&redis, "rot", &["a"])).await;
    assert!(!old2.verify(source(dir.path(), "v2").0).await.cached);
    let s = cache_old2.redis_stats().unwrap();
    assert_eq!(s.rejected(Rejection::UnknownKey), 1, "{s:?}");

    // Step 2: `a` retired. v2 was rewritten by `old2` (signed `a`) — no longer believed; a value
    // signed `b` is.
    written(&cache_old2, 1).await;
    let (new, cache_new) = replica(&rt, "{}", ttl, keyed(&redis, "rot", &["b"])).await;
    assert!(!new.verify(source(dir.path(), "v2").0).await.cached);
    assert!(!new.verify(source(dir.path(), "v1").0).await.cached);
    let s = cache_new.redis_stats().unwrap();
    assert_eq!((s.hits, s.rejected(Rejection::UnknownKey)), (0, 2), "{s:?}");
    written(&cache_new, 2).await;
    let (new2, cache_new2) = replica(&rt, "{}", ttl, keyed(&redis, "rot", &["b"])).await;
    assert!(new2.verify(source(dir.path(), "v1").0).await.cached);
    assert_eq!(cache_new2.redis_stats().unwrap().hits, 1);
}

/// "A Redis tier without `authKeyFiles` is refused at load unless the user sets
/// `insecureUnauthenticated: true`, which logs a warning at every start." Its values are then
/// refused by authenticated replicas (`unsigned`), and a rejection is logged with its key, once
/// per burst.
#[tokio::test(flavor = "current_thread")]
async fn an_unauthenticated_tier_warns_and_authenticated_replicas_refuse_its_values() {
    let (logs, _guard) = capture_logs();
    let redis = Redis::start();
    let rt = runtime();
    let dir = fixture();
    let ttl = Duration::from_secs(30);
    let insecure = RedisCacheConfig {
        key_prefix: "mix".into(),
        timeout_ms: 1000,
        ..unauthenticated(redis.url())
    };
    let warning = "verdicts in Redis are not authenticated";
    let (open, cache_open) = replica(&rt, "{}", ttl, insecure.clone()).await;
    assert_eq!(logs.text().matches(warning).count(), 1, "{}", logs.text());
    let _ = RedisTier::new(&insecure, Path::new("/")).unwrap();
    assert_eq!(logs.text().matches(warning).count(), 2, "every start warns");
    assert!(!open.verify(source(dir.path(), "v1").0).await.cached);
    assert!(!open.verify(source(dir.path(), "v2").0).await.cached);
    written(&cache_open, 2).await;

    let (strict, cache_strict) = replica(&rt, "{}", ttl, redis_config(&redis, "mix")).await;
    assert_eq!(logs.text().matches(warning).count(), 2);
    for tag in ["v1", "v2"] {
        let (src, store) = source(dir.path(), tag);
        let r = strict.verify(src).await;
        assert!(r.is_success && !r.cached, "{}", dump(&r));
        assert!(store.listings.load(Ordering::Relaxed) > 0);
    }
    let s = cache_strict.redis_stats().unwrap();
    assert_eq!((s.hits, s.rejected(Rejection::Unsigned)), (0, 2), "{s:?}");
    // Two rejections within the interval: one warning, naming the key and the reason.
    let text = logs.text();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("redis_value_rejected"))
        .collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(
        warnings[0].contains("key=\"mix:v2:") || warnings[0].contains("key=mix:v2:"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("unsigned"), "{}", warnings[0]);
}

/// A certificate authority for the TLS test.
struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        TestCa {
            issuer: rcgen::CertifiedIssuer::self_signed(
                params,
                rcgen::KeyPair::generate().unwrap(),
            )
            .unwrap(),
        }
    }

    /// A leaf for `sans` with `usage`, written as `<name>.pem` and `<name>.key` in `dir`.
    fn leaf(
        &self,
        dir: &Path,
        name: &str,
        sans: &[&str],
        usage: rcgen::ExtendedKeyUsagePurpose,
    ) -> (std::path::PathBuf, std::path::PathBuf) {
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (c, k) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    fn write(&self, path: &Path) -> std::path::PathBuf {
        std::fs::write(path, self.issuer.pem()).unwrap();
        path.to_owned()
    }
}

/// "TLS to Redis (`rediss://`, a CA file, optional client certificate) and Redis ACL users
/// (`username`, password from a file, never inline in the config)": a real `redis-server` with
/// a TLS port that requires client certificates and an ACL user. A replica with the right CA,
/// client certificate and password shares verdicts; a wrong CA, a missing client certificate or
/// a wrong password is an unavailable Redis (a miss, nothing written), never a crash.
#[tokio::test]
async fn tls_with_a_ca_file_a_client_certificate_and_an_acl_user() {
    let files = tempfile::tempdir().unwrap();
    let d = files.path();
    let ca = TestCa::new("redis test CA");
    let ca_file = ca.write(&d.join("ca.pem"));
    let (server_cert, server_key) = ca.leaf(
        d,
        "server",
        &["127.0.0.1", "localhost"],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) =
        ca.leaf(d, "client", &[], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let other_ca = TestCa::new("another CA").write(&d.join("other-ca.pem"));
    let redis = Redis::start_tls(&support::redis::TlsFiles {
        cert: server_cert,
        key: server_key,
        client_ca: ca_file.clone(),
        require_client_cert: true,
    });
    let acl = redis.command("ACL SETUSER vouch on >s3cret-pass ~tls:* +get +set");
    assert_eq!(acl, "+OK\r\n");
    std::fs::write(d.join("password"), "s3cret-pass\n").unwrap();
    std::fs::write(d.join("wrong-password"), "nope\n").unwrap();

    let good = RedisCacheConfig {
        url: redis.tls_url(),
        ca_file: Some(ca_file),
        client_cert_file: Some(client_cert),
        client_key_file: Some(client_key),
        username: Some("vouch".into()),
        password_file: Some(d.join("password")),
        ..redis_config(&redis, "tls")
    };
    let rt = runtime();
    let dir = fixture();
    let ttl = Duration::from_secs(30);
    let (a, cache_a) = replica(&rt, "{}", ttl, good.clone()).await;
    let r = a.verify(source(dir.path(), "v1").0).await;
    assert!(r.is_success && !r.cached, "{}", dump(&r));
    written(&cache_a, 1).await;
    assert_eq!(redis.keys("tls:*").len(), 1);
    let (b, cache_b) = replica(&rt, "{}", ttl, good.clone()).await;
    let (src, store) = source(dir.path(), "v1");
    assert!(b.verify(src).await.cached);
    assert_eq!(store.listings.load(Ordering::Relaxed), 0);
    assert_eq!(cache_b.redis_stats().unwrap().errors, 0);

    for (what, config) in [
        (
            "a CA that did not sign Redis's certificate",
            RedisCacheConfig {
                ca_file: Some(other_ca.clone()),
                ..good.clone()
            },
        ),
        (
            "no client certificate",
            RedisCacheConfig {
                client_cert_file: None,
                client_key_file: None,
                ..good.clone()
            },
        ),
        (
            "a wrong password",
            RedisCacheConfig {
                password_file: Some(d.join("wrong-password")),
                ..good.clone()
            },
        ),
        (
            "an unknown ACL user on the plain port",
            RedisCacheConfig {
                url: redis.url(),
                ca_file: None,
                client_cert_file: None,
                client_key_file: None,
                username: Some("nobody".into()),
                ..good.clone()
            },
        ),
    ] {
        let (c, cache_c) = replica(&rt, "{}", ttl, config).await;
        let (src, store) = source(dir.path(), "v1");
        let r = c.verify(src).await;
        assert!(r.is_success && !r.cached, "{what}: {}", dump(&r));
        assert!(store.listings.load(Ordering::Relaxed) > 0, "{what}");
        let s = cache_c.redis_stats().unwrap();
        assert_eq!((s.errors, s.hits), (1, 0), "{what}: {s:?}");
    }
}

/// Issue 21: "The Redis tier can store these signed summaries instead of HMAC'd JSON where
/// replicas do not share a secret." A central replica signs (it holds the private key); an edge
/// replica holds only the public key: it takes the central verdicts as hits, for the passing and
/// the failing image alike, cannot write, and cannot be fooled by a summary someone else signed
/// — not even by someone who holds a key of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_summaries_let_replicas_trust_a_writer_without_sharing_a_secret() {
    use vouch::executor::redis_cache::SignedSummariesConfig;
    use vouch::executor::redis_cache::summary::SummaryKeys;
    use vouch::plugin::SigningKey;
    let redis = Redis::start();
    let compiled = tempfile::tempdir().unwrap();
    let pair = |name: &str| {
        let (private, public) = SigningKey::generate_pem().unwrap();
        let (k, p) = (
            redis.dir().join(format!("{name}.key")),
            redis.dir().join(format!("{name}.pub")),
        );
        std::fs::write(&k, private).unwrap();
        std::fs::write(&p, public).unwrap();
        (k, p)
    };
    let (central_key, central_pub) = pair("central");
    let (rogue_key, _) = pair("rogue");
    let tier = |signing: Option<&Path>, trusted: &[&Path]| RedisCacheConfig {
        auth_key_files: Vec::new(),
        signed_summaries: Some(SignedSummariesConfig {
            signing_key_file: signing.map(Path::to_owned),
            trusted_key_files: trusted.iter().map(|p| p.to_path_buf()).collect(),
            verifier_id: Some("urn:vouch:test:central".into()),
        }),
        ..redis_config(&redis, "sum")
    };
    let rt = Runtime::new(build::runtime_config(&demo_replica_config(
        compiled.path(),
        tier(Some(&central_key), &[]),
    )))
    .unwrap();
    let central = demo_replica(
        &rt,
        &demo_replica_config(compiled.path(), tier(Some(&central_key), &[])),
    )
    .await;
    let edge_config = demo_replica_config(compiled.path(), tier(None, &[&central_pub]));

    let r1 = central.verify(source(&demo_layout(), "v1").0).await;
    let r2 = central.verify(source(&demo_layout(), "v2").0).await;
    assert!(r1.is_success && !r2.is_success, "{}", dump(&r2));
    written(central.result_cache(), 2).await;
    let key2 = demo_key(&central, "sum", &r2, "v2");
    let value2 = redis.get(&key2).expect("v2's summary");
    assert!(value2.starts_with(b"vs1.{"), "a DSSE envelope");

    // The edge replica believes both verdicts without verifying, and writes nothing.
    let edge = demo_replica(&rt, &edge_config).await;
    assert_eq!(edge.fingerprint(), central.fingerprint());
    for (tag, passed) in [("v1", true), ("v2", false)] {
        let (src, store) = source(&demo_layout(), tag);
        let r = edge.verify(src).await;
        assert!(r.cached && r.is_success == passed, "{tag}: {}", dump(&r));
        assert_eq!(store.listings.load(Ordering::Relaxed), 0, "{tag}");
    }
    assert_eq!(edge.result_cache().redis_stats().unwrap().writes, 0);

    // Someone with a key of their own (not trusted by the edge) signs a passing summary for the
    // tampered image: the edge verifies afresh and fails it.
    let rogue = SummaryKeys::load(Some(&rogue_key), &[], None).unwrap();
    let mut forged = r2.clone();
    forged.is_success = true;
    forged.verifier_reports.clear();
    let far = an_hour_from_now_ms();
    let value = rogue
        .seal(&key2, far, &forged, central.fingerprint())
        .unwrap()
        .unwrap();
    redis.set(&key2, &value, 600_000);
    let edge = demo_replica(&rt, &edge_config).await;
    let (src, store) = source(&demo_layout(), "v2");
    let r = edge.verify(src).await;
    assert!(!r.is_success && !r.cached, "{}", dump(&r));
    assert!(
        store.listings.load(Ordering::Relaxed) > 0,
        "verified afresh"
    );
    let s = edge.result_cache().redis_stats().unwrap();
    assert_eq!((s.hits, s.rejected(Rejection::UnknownKey)), (0, 1), "{s:?}");

    // The central summary of v1 copied under v2's key is authentic but misplaced.
    let key1 = demo_key(&central, "sum", &r1, "v1");
    let value1 = redis.get(&key1).expect("v1's summary");
    redis.set(&key2, &value1, 600_000);
    let edge = demo_replica(&rt, &edge_config).await;
    let r = edge.verify(source(&demo_layout(), "v2").0).await;
    assert!(!r.is_success && !r.cached, "{}", dump(&r));
    let s = edge.result_cache().redis_stats().unwrap();
    assert_eq!(s.rejected(Rejection::Misplaced), 1, "{s:?}");
}
