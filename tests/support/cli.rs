//! Running the `vouch` binary cargo built for the integration tests.
#![allow(dead_code)] // each test binary uses part of it

use std::process::Command;

/// Run `vouch` with `args` to completion: its exit code (-1 when a signal ended it), stdout and
/// stderr.
pub fn vouch(args: &[&str]) -> (i32, String, String) {
    vouch_env(args, &[])
}

/// [`vouch`] with these environment variables set. Unless they say otherwise, the compile cache
/// of `vouch verify` is one under cargo's temporary directory for tests, not the user's
/// (`~/.cache/vouch`), and no Docker `config.json` is read.
pub fn vouch_env(args: &[&str], env: &[(&str, &std::path::Path)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vouch"));
    command.args(args);
    if let Some(tmp) = option_env!("CARGO_TARGET_TMPDIR") {
        command.env(
            "VOUCH_CACHE_DIR",
            std::path::Path::new(tmp).join("vouch-cache"),
        );
    }
    command.envs(env.iter().copied());
    let out = command.output().expect("run the vouch binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What a [`vouch_bounded`] run did.
#[derive(Debug)]
pub struct BoundedRun {
    /// Exit code (-1 when a signal ended it, e.g. the kill on a bound).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time until it exited (or was killed).
    pub elapsed: std::time::Duration,
    /// The largest resident set size seen while polling, in bytes.
    pub peak_rss: u64,
    /// Why it was killed, when it crossed a bound.
    pub killed: Option<String>,
}

/// Run `vouch` with `args`, killing it when it runs longer than `within` or its resident set
/// grows over `max_rss` bytes (polled every 20 ms from `/proc`), so a test of a runaway read
/// fails instead of eating the machine.
pub fn vouch_bounded(args: &[&str], within: std::time::Duration, max_rss: u64) -> BoundedRun {
    use std::io::Read as _;
    use std::process::Stdio;
    use std::time::Instant;

    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the vouch binary");
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_rss = 0;
    let mut killed = None;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let rss = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
            * 1024;
        peak_rss = peak_rss.max(rss);
        let reason = if rss > max_rss {
            Some(format!("resident set {rss} bytes over {max_rss}"))
        } else if start.elapsed() > within {
            Some(format!("still running after {within:?}"))
        } else {
            None
        };
        if let Some(reason) = reason {
            let _ = child.kill();
            killed = Some(reason);
            break child.wait().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    BoundedRun {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed: start.elapsed(),
        peak_rss,
        killed,
    }
}
