//! The verifier runtime against real guests built from `tests/guests/`: the happy path of every
//! host function, each hostile behaviour contained with the expected error, and a normal guest
//! running correctly right after, in the same engine.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared with other test binaries that use all of it
#[path = "support/layout.rs"]
mod layout;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use vouch::oci::Descriptor;
use vouch::runtime::{
    CallError, LimitKind, Limits, Runtime, RuntimeConfig, RuntimeError, Verifier, VerifyInput,
};
use vouch::store::StoreAccess;
use vouch::store::layout::LayoutStore;

use guests::guest;
use layout::LayoutBuilder;

const SIG_TYPE: &str = "application/vnd.cncf.notary.signature";
const SBOM_TYPE: &str = "application/spdx+json";

/// A layout with an image, a signature and an SBOM referring to it, and a signature on the SBOM.
struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn StoreAccess>,
    subject: Descriptor,
    signature: Descriptor,
    sbom: Descriptor,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path());
    let subject = b.image("v1", &[b"layer one", b"layer two"]);
    let signature = b.referrer(
        &subject,
        SIG_TYPE,
        &[
            ("application/jose+json", b"{\"payload\":\"x\"}"),
            ("application/octet-stream", b"second"),
        ],
        &[("io.cncf.notary.x509chain.thumbprint#S256", "[]")],
    );
    let sbom = b.referrer(
        &subject,
        SBOM_TYPE,
        &[("application/spdx+json", b"{\"spdxVersion\":\"SPDX-2.3\"}")],
        &[],
    );
    b.referrer(&sbom, SIG_TYPE, &[("application/jose+json", b"{}")], &[]);
    b.finish();
    let store = LayoutStore::open(dir.path(), Default::default()).unwrap();
    Fixture {
        _dir: dir,
        store: Arc::new(store),
        subject,
        signature,
        sbom,
    }
}

fn input(f: &Fixture, artifact: &Descriptor, config: &str) -> VerifyInput {
    VerifyInput {
        store: f.store.clone(),
        subject_reference: "example.test/demo:v1".into(),
        subject: f.subject.clone(),
        artifact: artifact.clone(),
        config: config.into(),
        cpu_quota: None,
    }
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_instances: 64,
        max_concurrency: 64,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

async fn load(rt: &Runtime, name: &str, limits: Limits) -> Verifier {
    rt.load_file(name, &guest(name), limits).await.unwrap()
}

/// After a hostile guest, a normal one must still work in the same engine.
async fn noop_still_works(rt: &Runtime, f: &Fixture) {
    let noop = load(rt, "noop", Limits::default()).await;
    let out = rt
        .verify(&noop, input(f, &f.signature, "{}"))
        .await
        .unwrap();
    assert!(out.report.is_success);
}

fn expect_limit(res: Result<vouch::runtime::VerifyOutcome, CallError>, kind: LimitKind) -> String {
    match res {
        Err(e @ CallError::Limit { .. }) => {
            let CallError::Limit { limit, .. } = &e else {
                unreachable!()
            };
            assert_eq!(limit.kind, kind, "{e}");
            e.to_string()
        }
        other => panic!("expected {kind:?} limit, got {other:?}"),
    }
}

#[tokio::test]
async fn noop_guest_passes_and_reports_metadata() {
    let rt = runtime();
    let f = fixture();
    let noop = load(&rt, "noop", Limits::default()).await;
    assert_eq!(noop.metadata().name, "noop");
    assert!(noop.metadata().handles(SIG_TYPE));
    let out = rt
        .verify(&noop, input(&f, &f.signature, "{}"))
        .await
        .unwrap();
    assert!(out.report.is_success);
    assert_eq!(out.report.message, "ok");
    assert_eq!(out.stats.host_calls, 0);
}

#[tokio::test]
async fn exerciser_sees_every_host_function_work() {
    let rt = runtime();
    let f = fixture();
    let ex = load(&rt, "exerciser", Limits::default()).await;

    // A real ECDSA P-256 signature, made here, verified by the host on the guest's behalf.
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let message = "the payload";
    let sig = key.sign(&rng, message.as_bytes()).unwrap();
    let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    spki.extend_from_slice(key.public_key().as_ref());
    let b64 = base64::engine::general_purpose::STANDARD;
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        b64.encode(&spki)
    );
    let config = serde_json::json!({
        "artifactType": SBOM_TYPE,
        "publicKeyPem": pem,
        "message": message,
        "signatureB64": b64.encode(sig.as_ref()),
    })
    .to_string();

    let out = rt
        .verify(&ex, input(&f, &f.signature, &config))
        .await
        .unwrap();
    let ext = &out.report.extensions;
    assert!(out.report.is_success, "{:?}", out.report);
    assert_eq!(ext["subject"], f.subject.digest.to_string());
    assert_eq!(ext["referrers"], "2");
    assert_eq!(ext["filteredReferrers"], "1");
    assert_eq!(ext["layers"], "2");
    assert_eq!(ext["digestsMatch"], "true");
    assert_eq!(ext["signature"], "valid");
    let seen: Vec<String> = serde_json::from_value(ext["seen"].clone()).unwrap();
    assert!(seen.contains(&f.sbom.digest.to_string()));
    assert!(seen.contains(&f.signature.digest.to_string()));
    assert!(out.stats.host_calls >= 10, "{:?}", out.stats);
    assert!(out.stats.bytes_returned > 0);

    // The same call with a message that was not signed: the host says invalid.
    let bad = config.replace("the payload", "another payload");
    let out = rt.verify(&ex, input(&f, &f.signature, &bad)).await.unwrap();
    assert!(!out.report.is_success);
    assert!(
        out.report.extensions["signature"]
            .as_str()
            .unwrap()
            .starts_with("invalid")
    );
}

#[tokio::test]
async fn infinite_loop_hits_the_cpu_deadline() {
    let rt = runtime();
    let f = fixture();
    let v = load(
        &rt,
        "loop",
        Limits {
            cpu_time: Duration::from_millis(50),
            ..Limits::default()
        },
    )
    .await;
    let msg = expect_limit(
        rt.verify(&v, input(&f, &f.signature, "{}")).await,
        LimitKind::CpuTime,
    );
    assert_eq!(msg, "verifier `loop` exceeded its 50 ms CPU time limit");
    noop_still_works(&rt, &f).await;
}

#[tokio::test]
async fn infinite_loop_hits_the_wall_clock_when_cpu_allows_more() {
    let rt = runtime();
    let f = fixture();
    let limits = Limits {
        cpu_time: Duration::from_secs(60),
        wall_time: Duration::from_millis(100),
        ..Limits::default()
    };
    let v = load(&rt, "loop", limits).await;
    expect_limit(
        rt.verify(&v, input(&f, &f.signature, "{}")).await,
        LimitKind::WallTime,
    );
    noop_still_works(&rt, &f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_quota_parks_spinning_guests_and_leaves_the_others_alone() {
    use vouch::runtime::CpuQuota;
    let rt = runtime();
    let f = fixture();
    let limits = Limits {
        cpu_time: Duration::from_millis(100),
        ..Limits::default()
    };
    let v = load(&rt, "loop", limits).await;
    // Two spinning calls share 200 millicores (a 20 ms burst).
    let quota = Arc::new(CpuQuota::new(200, rt.config().epoch_tick));
    let spin = || {
        let (rt, v, quota) = (rt.clone(), v.clone(), quota.clone());
        let input = VerifyInput {
            cpu_quota: Some(quota),
            ..input(&f, &f.signature, "{}")
        };
        tokio::spawn(async move { rt.verify(&v, input).await })
    };
    let started = std::time::Instant::now();
    let (a, b) = (spin(), spin());
    // A call without a quota is not held up by them.
    noop_still_works(&rt, &f).await;
    assert!(
        !a.is_finished() && !b.is_finished(),
        "the quiet call finished first"
    );
    for call in [a, b] {
        // Parked time does not count against the CPU deadline: the limit hit is still CPU.
        expect_limit(call.await.unwrap(), LimitKind::CpuTime);
    }
    let elapsed = started.elapsed();
    let charged = quota.charged();
    assert!(charged >= Duration::from_millis(40), "charged {charged:?}");
    assert!(quota.throttled() > Duration::ZERO);
    // They got no more than their share: what they ran beyond the burst took 5x as long.
    let floor = charged
        .saturating_sub(Duration::from_millis(20))
        .as_secs_f64()
        / 0.2;
    assert!(
        elapsed.as_secs_f64() >= floor * 0.95,
        "{charged:?} of CPU in {elapsed:?} at 0.2 core"
    );
}

#[tokio::test]
async fn memory_bomb_hits_the_memory_cap() {
    let rt = runtime();
    let f = fixture();
    let v = load(
        &rt,
        "membomb",
        Limits {
            memory_bytes: 32 << 20,
            ..Limits::default()
        },
    )
    .await;
    let msg = expect_limit(
        rt.verify(&v, input(&f, &f.signature, "{}")).await,
        LimitKind::Memory,
    );
    assert_eq!(msg, "verifier `membomb` exceeded its 32 MiB memory limit");
    noop_still_works(&rt, &f).await;
}

#[tokio::test]
async fn deep_recursion_overflows_the_stack_cleanly() {
    let rt = runtime();
    let f = fixture();
    let v = load(&rt, "recurse", Limits::default()).await;
    expect_limit(
        rt.verify(&v, input(&f, &f.signature, "{}")).await,
        LimitKind::Stack,
    );
    noop_still_works(&rt, &f).await;
}

#[tokio::test]
async fn panic_is_a_trap_with_the_guest_message() {
    let rt = runtime();
    let f = fixture();
    let v = load(&rt, "panic", Limits::default()).await;
    match rt.verify(&v, input(&f, &f.signature, "{}")).await {
        Err(e @ CallError::Trap { .. }) => {
            // The panic's own words and location; the wasm backtrace is for debug logs.
            let m = e.to_string();
            assert!(
                m.starts_with("verifier `panic` trapped: panicked at "),
                "{m}"
            );
            assert!(m.ends_with(": guest panicked on purpose"), "{m}");
            assert!(!m.contains("backtrace") && !m.contains('\n'), "{m}");
            assert_eq!(e.error_type(), "verifier_trapped");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    noop_still_works(&rt, &f).await;
}

#[tokio::test]
async fn bad_config_is_rejected_at_load_time() {
    let rt = runtime();
    let v = load(&rt, "panic", Limits::default()).await;
    rt.check_config(&v, r#"{"mode":"good"}"#).await.unwrap();
    match rt.check_config(&v, r#"{"mode":"bad"}"#).await {
        Err(RuntimeError::Config { name, reason }) => {
            assert_eq!(name, "panic");
            assert!(reason.contains("bad config"), "{reason}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[tokio::test]
async fn huge_report_hits_the_report_limit() {
    let rt = runtime();
    let f = fixture();
    let v = load(&rt, "bigoutput", Limits::default()).await;
    expect_limit(
        rt.verify(&v, input(&f, &f.signature, "{}")).await,
        LimitKind::ReportBytes,
    );
    // Under the cap it passes through intact.
    let out = rt
        .verify(&v, input(&f, &f.signature, r#"{"bytes": 1000}"#))
        .await
        .unwrap();
    assert_eq!(out.report.message.len(), 1000);
    noop_still_works(&rt, &f).await;
}

#[tokio::test]
async fn host_call_flood_hits_the_call_and_log_limits() {
    let rt = runtime();
    let f = fixture();
    let v = load(
        &rt,
        "hostflood",
        Limits {
            host_calls: 5_000,
            ..Limits::default()
        },
    )
    .await;
    let msg = expect_limit(
        rt.verify(&v, input(&f, &f.signature, "{}")).await,
        LimitKind::HostCalls,
    );
    assert!(msg.contains("5000 host calls"), "{msg}");

    let limits = Limits {
        host_calls: u64::MAX,
        log_bytes: 1000,
        ..Limits::default()
    };
    let v = load(&rt, "hostflood", limits).await;
    expect_limit(
        rt.verify(&v, input(&f, &f.signature, "{}")).await,
        LimitKind::LogBytes,
    );
    noop_still_works(&rt, &f).await;
}

#[tokio::test]
async fn filesystem_is_not_reachable() {
    let rt = runtime();
    let f = fixture();
    let v = load(&rt, "fsprobe", Limits::default()).await;
    let out = rt.verify(&v, input(&f, &f.signature, "{}")).await.unwrap();
    assert!(out.report.is_success, "{}", out.report.message);
}

#[tokio::test]
async fn network_is_not_reachable() {
    let rt = runtime();
    let f = fixture();
    let v = load(&rt, "netprobe", Limits::default()).await;
    let out = rt.verify(&v, input(&f, &f.signature, "{}")).await.unwrap();
    assert!(out.report.is_success, "{}", out.report.message);
}

#[tokio::test]
async fn reads_outside_the_subject_graph_are_denied() {
    let rt = runtime();
    let f = fixture();
    let v = load(&rt, "escape", Limits::default()).await;
    let out = rt.verify(&v, input(&f, &f.signature, "{}")).await.unwrap();
    assert!(out.report.is_success, "{}", out.report.message);
}

#[tokio::test]
async fn compile_cache_is_hit_on_the_second_load() {
    let cache = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        max_instances: 8,
        max_concurrency: 8,
        compile_cache_dir: Some(cache.path().to_owned()),
        ..RuntimeConfig::default()
    };
    let first = Runtime::new(config.clone()).unwrap();
    let v = load(&first, "noop", Limits::default()).await;
    assert!(!v.compiled_from_cache());
    // A restart: a new engine with the same settings finds the compiled artefact.
    let second = Runtime::new(config).unwrap();
    let v = load(&second, "noop", Limits::default()).await;
    assert!(v.compiled_from_cache());
    let f = fixture();
    assert!(
        second
            .verify(&v, input(&f, &f.signature, "{}"))
            .await
            .unwrap()
            .report
            .is_success
    );

    // A corrupt cache entry is dropped and recompiled, not trusted.
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let third = Runtime::new(RuntimeConfig {
        max_instances: 8,
        max_concurrency: 8,
        compile_cache_dir: Some(cache.path().to_owned()),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let v = load(&third, "noop", Limits::default()).await;
    assert!(!v.compiled_from_cache());
    // Recompiling replaced the corrupt entry: the next restart hits it again.
    let fourth = Runtime::new(RuntimeConfig {
        max_instances: 8,
        max_concurrency: 8,
        compile_cache_dir: Some(cache.path().to_owned()),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let v = load(&fourth, "noop", Limits::default()).await;
    assert!(v.compiled_from_cache());
}

#[tokio::test]
async fn not_a_component_is_a_clear_error() {
    let rt = runtime();
    match rt
        .load_bytes("junk", b"\0asm not really".to_vec(), Limits::default())
        .await
    {
        Err(RuntimeError::Invalid { name, .. }) => assert_eq!(name, "junk"),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_calls_beyond_the_pool_wait_instead_of_failing() {
    let rt = Runtime::new(RuntimeConfig {
        max_instances: 4,
        max_concurrency: 4,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let f = Arc::new(fixture());
    let noop = load(&rt, "noop", Limits::default()).await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (rt, noop, f) = (rt.clone(), noop.clone(), f.clone());
        tasks.push(tokio::spawn(async move {
            rt.verify(&noop, input(&f, &f.signature, "{}")).await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().report.is_success);
    }
}
