//! The Redis tier of the result cache against a real `redis-server` on 127.0.0.1: executors
//! standing in for replicas share verdicts (and never across configurations), the TTL is the
//! local cache's and a verdict read from Redis does not outlive it there, a dead or hung Redis
//! degrades to local caching with one warning, and two real `vouch serve` processes share a
//! verdict.

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

use bytes::Bytes;
use serde_json::{Value, json};
use support::demo::{REPO, examples, push_demo};
use support::redis::Redis;
use support::registry::Registry;
use vouch::config::ExecutorConfig;
use vouch::executor::redis_cache::RedisCacheConfig;
use vouch::executor::report::SubjectReport;
use vouch::executor::{ExecVerifier, Executor, ResultCache, Settings, SubjectSource};
use vouch::oci::{Descriptor, Digest};
use vouch::runtime::{Limits, Runtime, RuntimeConfig};
use vouch::store::layout::LayoutStore;
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
    let source = SubjectSource {
        store: store.clone(),
        scope: format!("oci-layout:{}", dir.display()),
        tag_or_digest: tag.to_owned(),
        reference: format!("{}:{tag}", dir.display()),
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

/// The Redis settings of a test: a prefix of its own and a timeout roomy enough for a loaded CI
/// machine (the default 50 ms is for production).
fn redis_config(redis: &Redis, prefix: &str) -> RedisCacheConfig {
    RedisCacheConfig {
        key_prefix: prefix.to_owned(),
        timeout_ms: 1000,
        ..RedisCacheConfig::new(redis.url())
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
    let cache = ResultCache::from_config(&config).unwrap();
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
    assert!(redis.command("KEYS share:v1:*").contains("share:v1:"));

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
    let key = redis.command("KEYS ttl:v1:*");
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
        ..RedisCacheConfig::new(format!("redis://127.0.0.1:{port}"))
    };
    let (ex, cache) = replica(&rt, "{}", Duration::from_secs(30), config).await;
    // The verification alone, by a replica without any cache (TTL zero: Redis is never used).
    let (plain, _) = replica(
        &rt,
        "{}",
        Duration::ZERO,
        RedisCacheConfig::new("redis://127.0.0.1:1"),
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
    config["executor"] = json!({ "redis": { "url": redis.url(), "timeoutMs": 1000 } });
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
