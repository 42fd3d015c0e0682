//! A real Redis for tests: Debian's `redis-server` on 127.0.0.1 with a random port, no
//! persistence (`--save "" --appendonly no`) and a temporary working directory, killed on drop.
//! Optionally a TLS port too (Debian's build links OpenSSL: `--tls-port`), with certificates the
//! test made. Raw `GET`/`SET` over RESP let a test play the attacker who can write to Redis.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BINARY: &str = "/usr/bin/redis-server";

/// A running `redis-server` process; stopped on drop.
pub struct Redis {
    child: Option<Child>,
    port: u16,
    tls: Option<TlsPort>,
    dir: tempfile::TempDir,
}

/// The TLS side of a server: its port and the files `redis-server` was given.
#[derive(Clone)]
struct TlsPort {
    port: u16,
    args: Vec<String>,
}

/// PEM files for a TLS Redis: its certificate and key, and the CA its clients' certificates
/// must chain to.
pub struct TlsFiles {
    /// Server certificate (PEM).
    pub cert: PathBuf,
    /// Server key (PEM).
    pub key: PathBuf,
    /// CA bundle that client certificates are checked against (PEM).
    pub client_ca: PathBuf,
    /// Whether clients must present a certificate.
    pub require_client_cert: bool,
}

/// Install `redis-server` with apt (through sudo when not root) when it is missing; panic with a
/// clear message when that fails.
fn ensure_installed() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| super::process::apt_install("redis-server", BINARY, "the Redis tests"));
}

/// `PING` over a raw socket; true once the server answers `+PONG`.
fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    if s.set_read_timeout(Some(Duration::from_secs(2))).is_err()
        || s.write_all(b"PING\r\n").is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    s.read(&mut buf)
        .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}

impl Redis {
    /// Start a server on a free loopback port.
    pub fn start() -> Redis {
        ensure_installed();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut redis = Redis {
            child: None,
            port: 0,
            tls: None,
            dir,
        };
        redis.launch(None);
        redis
    }

    /// Start a server with a plain port (for the test's own commands) and a TLS port.
    pub fn start_tls(files: &TlsFiles) -> Redis {
        ensure_installed();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |p: &Path| p.to_str().expect("UTF-8 path").to_owned();
        let mut redis = Redis {
            child: None,
            port: 0,
            tls: Some(TlsPort {
                port: 0,
                args: vec![
                    "--tls-cert-file".into(),
                    path(&files.cert),
                    "--tls-key-file".into(),
                    path(&files.key),
                    "--tls-ca-cert-file".into(),
                    path(&files.client_ca),
                    "--tls-auth-clients".into(),
                    if files.require_client_cert {
                        "yes"
                    } else {
                        "no"
                    }
                    .into(),
                ],
            }),
            dir,
        };
        redis.launch(None);
        redis
    }

    /// Its working directory (removed on drop), for files a test wants to live as long.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Start the process on `port` (a free one when `None`); retries with other ports when the
    /// chosen one was taken in between.
    fn launch(&mut self, port: Option<u16>) {
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = port.unwrap_or_else(super::process::free_port);
            let log = self.dir.path().join("redis.log");
            let mut tls_args = Vec::new();
            if let Some(tls) = &mut self.tls {
                tls.port = super::process::free_port();
                tls_args.push("--tls-port".to_owned());
                tls_args.push(tls.port.to_string());
                tls_args.extend(tls.args.iter().cloned());
            }
            let tls_port = self.tls.as_ref().map(|t| t.port);
            let mut child = Command::new(BINARY)
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(&tls_args)
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(self.dir.path())
                .arg("--logfile")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            match super::process::wait_until_ready(
                &mut child,
                "redis-server",
                &log,
                Duration::from_secs(10),
                Duration::from_millis(20),
                || {
                    ping(port)
                        && tls_port.is_none_or(|p| TcpStream::connect(("127.0.0.1", p)).is_ok())
                },
            ) {
                Ok(()) => {
                    self.child = Some(child);
                    self.port = port;
                    return;
                }
                Err(e) => last_err = e,
            }
        }
        panic!("could not start redis-server: {last_err}");
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// `rediss://127.0.0.1:<TLS port>/0` (a server started with [`Redis::start_tls`]).
    pub fn tls_url(&self) -> String {
        let tls = self.tls.as_ref().expect("started with start_tls");
        format!("rediss://127.0.0.1:{}/0", tls.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kill the server (SIGKILL), as a crash or a network loss would look to clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port (empty: nothing is persisted).
    pub fn restart(&mut self) {
        self.kill();
        self.launch(Some(self.port));
    }

    /// Run one command with `redis-cli`-like simplicity over a raw socket (inline protocol) and
    /// return the raw reply, e.g. `command("DBSIZE")` → `":3\r\n"`.
    pub fn command(&self, line: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis-server");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let n = s.read(&mut buf).expect("redis reply");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl Redis {
    /// Send one command as a RESP array (any bytes in the arguments) and read its reply.
    pub fn call(&self, args: &[&[u8]]) -> Reply {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis-server");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        (&s).write_all(&req).unwrap();
        read_reply(&mut BufReader::new(s))
    }

    /// The value under `key` (`GET`), as an attacker reading Redis sees it.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.call(&[b"GET", key.as_bytes()]) {
            Reply::Bulk(v) => v,
            other => panic!("GET {key}: {other:?}"),
        }
    }

    /// Store `value` under `key` for `px_ms` milliseconds (`SET … PX`), as an attacker who can
    /// write to Redis would.
    pub fn set(&self, key: &str, value: &[u8], px_ms: u64) {
        let px = px_ms.to_string();
        match self.call(&[b"SET", key.as_bytes(), value, b"PX", px.as_bytes()]) {
            Reply::Status(s) if s == "OK" => {}
            other => panic!("SET {key}: {other:?}"),
        }
    }

    /// The keys matching `pattern` (`KEYS`), sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        match self.call(&[b"KEYS", pattern.as_bytes()]) {
            Reply::Array(items) => {
                let mut keys: Vec<String> = items
                    .into_iter()
                    .map(|i| match i {
                        Reply::Bulk(Some(k)) => String::from_utf8(k).unwrap(),
                        other => panic!("KEYS {pattern}: {other:?}"),
                    })
                    .collect();
                keys.sort();
                keys
            }
            other => panic!("KEYS {pattern}: {other:?}"),
        }
    }
}

/// A RESP reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+…`
    Status(String),
    /// `-…`
    Error(String),
    /// `:…`
    Int(i64),
    /// `$…` (`None`: the null bulk string).
    Bulk(Option<Vec<u8>>),
    /// `*…`
    Array(Vec<Reply>),
}

fn read_reply(r: &mut impl BufRead) -> Reply {
    let mut line = String::new();
    r.read_line(&mut line).expect("RESP reply");
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" => Reply::Status(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(rest.parse().unwrap()),
        "$" => {
            let len: i64 = rest.parse().unwrap();
            if len < 0 {
                return Reply::Bulk(None);
            }
            let mut buf = vec![0u8; len as usize + 2];
            r.read_exact(&mut buf).expect("RESP bulk string");
            buf.truncate(len as usize);
            Reply::Bulk(Some(buf))
        }
        "*" => {
            let n: i64 = rest.parse().unwrap();
            Reply::Array((0..n.max(0)).map(|_| read_reply(r)).collect())
        }
        other => panic!("not a RESP reply: {other}{rest}"),
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
