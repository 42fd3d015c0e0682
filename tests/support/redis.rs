//! A real Redis for tests: Debian's `redis-server` on 127.0.0.1 with a random port, no
//! persistence (`--save "" --appendonly no`) and a temporary working directory, killed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BINARY: &str = "/usr/bin/redis-server";

/// A running `redis-server` process; stopped on drop.
pub struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
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
            dir,
        };
        redis.launch(None);
        redis
    }

    /// Start the process on `port` (a free one when `None`); retries with other ports when the
    /// chosen one was taken in between.
    fn launch(&mut self, port: Option<u16>) {
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = port.unwrap_or_else(super::process::free_port);
            let log = self.dir.path().join("redis.log");
            let mut child = Command::new(BINARY)
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
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
                || ping(port),
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

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
