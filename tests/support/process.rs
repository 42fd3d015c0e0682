//! Starting a real server process for a test: wait until it answers, or say why it never did.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

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
