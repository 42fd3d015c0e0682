//! Locates the wasm guests built by `cargo xtask guests`.

use std::path::PathBuf;

/// Path of the built guest `name` (`guest-<name>` crate); panics with the command to run when missing.
pub fn guest(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target
        .join("wasm32-wasip2/guest")
        .join(format!("guest_{}.wasm", name.replace('-', "_")));
    assert!(
        path.is_file(),
        "{} is missing: build the guests first with `cargo xtask guests`",
        path.display()
    );
    path
}

/// Path of the built shipped verifier `name` (`verifier-<name>` crate under `guest-verifiers/`).
pub fn verifier(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target
        .join("wasm32-wasip2/guest")
        .join(format!("verifier_{}.wasm", name.replace('-', "_")));
    assert!(
        path.is_file(),
        "{} is missing: build the guests first with `cargo xtask guests`",
        path.display()
    );
    path
}
