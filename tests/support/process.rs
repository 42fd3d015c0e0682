//! Starting a real server process for a test: install it with apt when missing, pick a free
//! port, wait until it answers, or say why it never did.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Install Debian `package` with apt-get (through `sudo -n` when not root) unless `binary`
/// exists; panic naming `needed_by` when that fails. Callers guard it with a `Once`.
pub fn apt_install(package: &str, binary: &str, needed_by: &str) {
    if Path::new(binary).exists() {
        return;
    }
    eprintln!("{package} is missing; installing it with apt-get");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let sudo = if root { "" } else { "sudo -n " };
    let script = format!(
        "({sudo}apt-get install -y {package} || ({sudo}apt-get update && {sudo}apt-get install -y {package})) >/dev/null 2>&1"
    );
    let ok = Command::new("sh")
        .args(["-c", &script])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok && Path::new(binary).exists(),
        "{needed_by} need Debian's {package} ({binary}); `apt-get install -y {package}` failed — install it and re-run"
    );
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `ready` every `poll` until it holds, for at most `within`. If `child` exits first or
/// time runs out, kill it and return why, with its log (`name` names it in the message).
pub fn wait_until_ready(
    child: &mut Child,
    name: &str,
    log: &Path,
    within: Duration,
    poll: Duration,
    ready: impl Fn() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{name} exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            ));
        }
        if ready() {
            return Ok(());
        }
        std::thread::sleep(poll);
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "{name} did not answer within {} s",
        within.as_secs()
    ))
}
