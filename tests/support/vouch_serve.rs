//! `vouch serve` as a child process of a benchmark or test, on 127.0.0.1: start it on a config,
//! wait for `/readyz`, post Gatekeeper provider requests, read `/metrics`, its CPU time and RSS.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Gatekeeper's verify endpoint (Ratify's path).
pub const VERIFY_PATH: &str = "/ratify/gatekeeper/v1/verify";

/// A Gatekeeper `ProviderRequest` for `keys`.
pub fn provider_request(keys: &[&str]) -> String {
    json!({
        "apiVersion": "externaldata.gatekeeper.sh/v1beta1",
        "kind": "ProviderRequest",
        "request": {"keys": keys},
    })
    .to_string()
}

/// `vouch serve` as a child process on 127.0.0.1; killed on drop.
pub struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    /// A client for its endpoints.
    pub http: reqwest::Client,
}

impl Server {
    /// Write `config` (JSON) to a temporary file, start the server on it and wait for `/readyz`.
    pub async fn start(config: &Value) -> Server {
        Server::start_with(config, &[], "warn").await
    }

    /// [`Server::start`] with extra arguments to `vouch serve` and this `RUST_LOG`.
    pub async fn start_with(config: &Value, args: &[&str], rust_log: &str) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("vouch.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
        let port = super::process::free_port();
        let log = std::fs::File::create(dir.path().join("vouch.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vouch"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn vouch serve");
        let mut server = Server {
            child,
            port,
            dir,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("vouch serve exited with {status}: {}", server.log());
            }
            if let Ok(r) = server.http.get(server.url("/readyz")).send().await
                && r.status().is_success()
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "vouch serve not ready within 120 s: {}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("vouch.log")).unwrap_or_default()
    }

    /// Resident set size of the server process, in bytes.
    pub fn rss(&self) -> u64 {
        process_rss(self.child.id()).expect("read the server's /proc/<pid>/status")
    }

    /// CPU time (user + system, every thread) the server process has used so far.
    pub fn cpu_time(&self) -> Duration {
        process_cpu_time(self.child.id()).expect("read the server's /proc/<pid>/stat")
    }

    /// POST `body` to `path`; the status and the JSON answer.
    pub async fn post(&self, path: &str, body: String) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .expect("POST to vouch serve");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("response body");
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, value)
    }

    /// The `/metrics` text.
    async fn metrics_text(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("the metrics text")
    }

    /// A counter of `/metrics`, if the server exports it.
    pub async fn metric(&self, name: &str) -> Option<u64> {
        self.metrics_text()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(|v| v.trim().parse().unwrap())
    }

    /// The sum of every labelled series of the counter `name` (`name{…} value`), 0 when none.
    pub async fn metric_sum(&self, name: &str) -> u64 {
        self.metrics_text()
            .await
            .lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix('{'))
            .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<u64>().ok())
            .sum()
    }

    /// A counter of `/metrics`, 0 when the server has not exported it yet.
    pub async fn counter_or_zero(&self, name: &str) -> u64 {
        self.metric(name).await.unwrap_or(0)
    }

    /// A counter of `/metrics` that must be there.
    pub async fn counter(&self, name: &str) -> u64 {
        self.metric(name)
            .await
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    }

    /// Verify `key` once and check it passed; returns the item's report.
    pub async fn verify_ok(&self, key: &str) -> Value {
        let (status, answer) = self.post(VERIFY_PATH, provider_request(&[key])).await;
        assert_eq!(status, 200, "{answer}");
        let item = &answer["response"]["items"][0];
        assert_eq!(item["key"], key, "{answer}");
        assert_eq!(item["error"], "", "{key}: item error: {answer}");
        assert_eq!(
            item["value"]["isSuccess"], true,
            "{key} did not verify: {answer}"
        );
        item["value"].clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kernel clock ticks per second (the unit of `/proc/<pid>/stat` times).
pub fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// CPU time (user + system) of a process, from `/proc/<pid>/stat`.
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

/// Resident set size of a process, in bytes, from `/proc/<pid>/status`.
pub fn process_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}
