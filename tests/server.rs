//! `vouch serve` end to end: the demo (`examples/`) pushed to a real `docker-registry` on
//! 127.0.0.1, the server started in-process on 127.0.0.1:0, and real Gatekeeper
//! `ProviderRequest` bodies sent to it with reqwest.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use std::sync::Arc;

use serde_json::{Value, json};
use support::demo::{REPO, push_demo};
use support::registry::Registry;
use support::served::Served;
use vouch::app::build;
use vouch::config::Config;
use vouch::runtime::Runtime;
use vouch::server::{self, API_VERSION, ServerSettings};

fn demo_config() -> Config {
    support::demo::demo_config(guests::verifier)
}

/// Start the server in-process on 127.0.0.1:0 over the demo config.
async fn start(settings: ServerSettings) -> Served {
    let config = demo_config();
    let runtime = Runtime::new(build::runtime_config(&config)).unwrap();
    let exec = build::executor(&runtime, &config, "").await.unwrap();
    let sources = build::sources(&config, None).unwrap();
    Served::start(server::router(Arc::new(exec), Arc::new(sources), settings)).await
}

fn provider_request(keys: &[String]) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "ProviderRequest",
        "request": { "keys": keys },
    })
}

impl Served {
    async fn post(&self, path: &str, body: String) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{path}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, json)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }
}

fn item<'a>(response: &'a Value, key: &str) -> &'a Value {
    response["response"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .unwrap_or_else(|| panic!("no item for {key} in {response:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatekeeper_requests_are_answered_over_the_demo_in_a_real_registry() {
    let registry = Registry::start();
    push_demo(&registry).await;
    let served = start(ServerSettings::default()).await;

    let v1 = registry.reference(REPO, "v1");
    let v2 = registry.reference(REPO, "v2");
    let tenant_v1 = format!("[default]{v1}");
    let bad = "Not A Reference".to_owned();
    let missing = registry.reference(REPO, "nope");
    let keys = vec![
        v1.clone(),
        v2.clone(),
        tenant_v1.clone(),
        bad.clone(),
        missing.clone(),
    ];
    let body = provider_request(&keys).to_string();

    for path in ["/ratify/gatekeeper/v1/verify", "/v1/verify"] {
        let (status, resp) = served.post(path, body.clone()).await;
        assert_eq!(status, 200, "{resp:#}");
        assert_eq!(resp["apiVersion"], API_VERSION);
        assert_eq!(resp["kind"], "ProviderResponse");
        assert_eq!(resp["response"]["idempotent"], false);
        assert_eq!(resp["response"]["systemError"], "");
        assert_eq!(
            resp["response"]["items"].as_array().unwrap().len(),
            keys.len()
        );

        let ok = item(&resp, &v1);
        assert_eq!(ok["error"], "", "{ok:#}");
        assert_eq!(ok["value"]["isSuccess"], true, "{ok:#}");
        assert!(ok["value"]["verifierReports"].as_array().unwrap().len() >= 4);
        // Ratify v1's shape (config policy): version, a trace id and timestamp per request,
        // `type`s under Ratify's names; Vouch's `timings` and `cached` kept.
        let value = &ok["value"];
        assert_eq!(value["version"], "0.2.0");
        let trace = value["traceID"].as_str().unwrap();
        assert_eq!(trace.len(), 36, "{trace}");
        let timestamp = value["timestamp"].as_str().unwrap();
        assert!(
            timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
            "{timestamp}"
        );
        assert!(value["timings"]["totalMs"].is_number() && value["cached"].is_boolean());
        // Every key of one request shares its trace id.
        assert_eq!(item(&resp, &tenant_v1)["value"]["traceID"], trace);
        let types: Vec<&str> = value["verifierReports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap())
            .collect();
        for t in ["notation", "cosign", "sbom", "vulnerabilityreport"] {
            assert!(types.contains(&t), "{t} missing from {types:?}");
        }
        let tenant = item(&resp, &tenant_v1);
        assert_eq!(tenant["value"]["isSuccess"], true, "{tenant:#}");
        assert_eq!(tenant["value"]["subject"], v1.as_str());

        let failed = item(&resp, &v2);
        assert_eq!(failed["error"], "", "{failed:#}");
        assert_eq!(failed["value"]["isSuccess"], false);

        let bad_item = item(&resp, &bad);
        assert!(
            bad_item["error"]
                .as_str()
                .unwrap()
                .contains("invalid reference"),
            "{bad_item:#}"
        );
        let missing_item = item(&resp, &missing);
        assert!(
            missing_item["error"].as_str().unwrap().contains("nope"),
            "{missing_item:#}"
        );
        // As from Ratify, an item with an error carries no value.
        assert_eq!(missing_item["value"], Value::Null, "{missing_item:#}");
    }

    // Ratify v2's shape, and Vouch's own (the CLI's JSON), on their own paths.
    let one = provider_request(std::slice::from_ref(&v1)).to_string();
    let (status, resp) = served
        .post("/ratify/gatekeeper/v2/verify", one.clone())
        .await;
    assert_eq!(status, 200, "{resp:#}");
    let v2_value = &item(&resp, &v1)["value"];
    assert_eq!(v2_value["succeeded"], true, "{v2_value:#}");
    assert!(v2_value["artifactReports"].as_array().unwrap().len() >= 4);
    assert!(v2_value.get("isSuccess").is_none());
    let (_, resp) = served.post("/vouch/v1/verify", one).await;
    let native = &item(&resp, &v1)["value"];
    assert_eq!(native["isSuccess"], true);
    assert!(native.get("version").is_none() && native.get("traceID").is_none());
    assert!(native["verifierReports"][0].get("type").is_none());

    // Mutate: tag → digest; a key by digest comes back unchanged.
    let (status, resp) = served
        .post(
            "/ratify/gatekeeper/v1/mutate",
            provider_request(&[v1.clone(), bad.clone()]).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{resp:#}");
    assert_eq!(resp["response"]["idempotent"], true);
    let pinned = item(&resp, &v1)["value"].as_str().unwrap().to_owned();
    let prefix = format!("{}/{REPO}@sha256:", registry.host());
    assert!(pinned.starts_with(&prefix), "{pinned}");
    assert_eq!(pinned.len(), prefix.len() + 64);
    // A key that cannot be pinned: as Ratify, the key itself and why.
    let failed = item(&resp, &bad);
    assert_eq!(failed["value"], bad.as_str(), "{failed:#}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!("failed to mutate image reference {bad}: ")),
        "{failed:#}"
    );
    let (_, resp) = served
        .post(
            "/v1/mutate",
            provider_request(std::slice::from_ref(&pinned)).to_string(),
        )
        .await;
    assert_eq!(item(&resp, &pinned)["value"], pinned.as_str());
    assert_eq!(item(&resp, &pinned)["error"], "");

    // The verify report for the pinned digest names the same digest.
    let (_, resp) = served
        .post(
            "/v1/verify",
            provider_request(std::slice::from_ref(&pinned)).to_string(),
        )
        .await;
    let digest = pinned.rsplit_once('@').unwrap().1;
    assert_eq!(item(&resp, &pinned)["value"]["digest"], digest);

    // Malformed bodies and too many keys are 400s with a systemError naming the problem.
    let (status, resp) = served.post("/v1/verify", "{not json".into()).await;
    assert_eq!(status, 400);
    assert!(
        resp["response"]["systemError"]
            .as_str()
            .unwrap()
            .contains("malformed"),
        "{resp:#}"
    );
    let wrong = json!({"apiVersion": "v1", "kind": "ProviderRequest", "request": {"keys": []}});
    let (status, resp) = served.post("/v1/mutate", wrong.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        resp["response"]["systemError"]
            .as_str()
            .unwrap()
            .contains("apiVersion")
    );
    let many: Vec<String> = (0..1001).map(|i| format!("127.0.0.1:1/x:{i}")).collect();
    let (status, resp) = served
        .post("/v1/verify", provider_request(&many).to_string())
        .await;
    assert_eq!(status, 400);
    assert!(
        resp["response"]["systemError"]
            .as_str()
            .unwrap()
            .contains("too many keys"),
        "{resp:#}"
    );
    let huge = "x".repeat(2 << 20);
    let resp = served
        .http
        .post(format!("{}/v1/verify", served.base))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    // Not reusable (the body was not read): the client must not send the next request on it.
    assert_eq!(resp.headers()["connection"], "close");

    // Health, readiness, metrics.
    assert_eq!(served.get("/healthz").await.0, 200);
    let (status, text) = served.get("/readyz").await;
    assert_eq!(status, 200);
    assert!(text.contains("4 verifiers"), "{text}");
    let (status, text) = served.get("/metrics").await;
    assert_eq!(status, 200);
    for needle in [
        "vouch_http_requests_total{endpoint=\"/ratify/gatekeeper/v1/verify\",status=\"200\"} 1",
        "vouch_http_requests_total{endpoint=\"/v1/verify\",status=\"400\"} 2",
        "vouch_http_request_duration_seconds_count{endpoint=\"/v1/mutate\"}",
        "vouch_verifier_duration_seconds_count{verifier=\"notation\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    // The second verify request found v1 and v2 in the result cache.
    let hits: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("vouch_result_cache_hits_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(hits >= 2, "{text}");
    // What the store layer did for the default tenant: registry requests by status (the
    // referrers API probe answered 404 before the tag fallback was read), cache lookups.
    let sample = |name: &str| -> u64 {
        let line = text.lines().find(|l| l.starts_with(name));
        let value = line.unwrap_or_else(|| panic!("{name} missing from\n{text}"));
        value[name.len()..].trim().parse().unwrap()
    };
    let registry_host = registry.host();
    let requests = |status: &str| {
        sample(&format!(
            "vouch_registry_requests_total{{tenant=\"default\",registry=\"{registry_host}\",status=\"{status}\"}}"
        ))
    };
    assert!(requests("200") >= 8, "{text}");
    assert!(requests("404") >= 1, "{text}");
    let cache = |cache: &str, outcome: &str| {
        sample(&format!(
            "vouch_store_cache_requests_total{{tenant=\"default\",cache=\"{cache}\",outcome=\"{outcome}\"}}"
        ))
    };
    assert!(cache("resolve", "miss") >= 2, "{text}");
    assert!(cache("memory", "miss") >= 4, "{text}");
    assert_eq!(cache("disk", "hit"), 0, "no disk cache configured");

    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_past_the_deadline_times_out_alone() {
    // A registry address that accepts connections but never answers: the key must time out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_ref = format!("{}/stuck:v1", silent.local_addr().unwrap());
    let served = start(ServerSettings {
        verify_timeout: std::time::Duration::from_millis(300),
        mutate_timeout: std::time::Duration::from_millis(300),
        ..ServerSettings::default()
    })
    .await;
    let started = std::time::Instant::now();
    let keys = vec![silent_ref.clone(), "bad ref".to_owned()];
    let (status, resp) = served
        .post("/v1/verify", provider_request(&keys).to_string())
        .await;
    assert_eq!(status, 200, "{resp:#}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let stuck = item(&resp, &silent_ref);
    assert!(
        stuck["error"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 300 ms"),
        "{stuck:#}"
    );
    assert!(!item(&resp, "bad ref")["error"].as_str().unwrap().is_empty());
    let (_, resp) = served
        .post(
            "/v1/mutate",
            provider_request(std::slice::from_ref(&silent_ref)).to_string(),
        )
        .await;
    assert!(
        item(&resp, &silent_ref)["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "failed to mutate image reference {silent_ref}: timed out after 300 ms"
            )),
        "{resp:#}"
    );

    // Graceful shutdown: a request in flight when shutdown starts still gets its answer.
    let in_flight = {
        let http = served.http.clone();
        let url = format!("{}/v1/verify", served.base);
        let body = provider_request(std::slice::from_ref(&silent_ref)).to_string();
        tokio::spawn(async move { http.post(url).body(body).send().await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let base = served.base.clone();
    served.shutdown().await;
    let resp = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(resp.status().as_u16(), 200);
    let json: Value = resp.json().await.unwrap();
    assert!(
        item(&json, &silent_ref)["error"]
            .as_str()
            .unwrap()
            .starts_with("timed out"),
        "{json:#}"
    );
    // And the server no longer accepts connections.
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err());
    drop(silent);
}
