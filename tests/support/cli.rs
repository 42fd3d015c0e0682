//! Running the `vouch` binary cargo built for the integration tests.

use std::process::Command;

/// Run `vouch` with `args` to completion: its exit code (-1 when a signal ended it), stdout and
/// stderr.
pub fn vouch(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(args)
        .output()
        .expect("run the vouch binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
