//! A hostile verifier that returns a huge report: the message is 16 MiB of `x`, or `N` bytes when
//! the config is `{"bytes": N}`. The host's output limit must reject it.

wit_bindgen::generate!({ path: "../../../wit", world: "verifier" });

use std::hint::black_box;

/// Message size when the config does not say.
const DEFAULT_BYTES: usize = 16 << 20;

struct BigOutput;

/// Reads `N` from a config like `{"bytes": N}`; `None` when absent or not a number.
fn configured_bytes(config: &str) -> Option<usize> {
    let after_key = &config[config.find("\"bytes\"")? + "\"bytes\"".len()..];
    let after_colon = after_key.trim_start().strip_prefix(':')?.trim_start();
    let end = after_colon
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after_colon.len());
    after_colon[..end].parse().ok()
}

impl Guest for BigOutput {
    fn metadata() -> Metadata {
        Metadata {
            name: "bigoutput".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: None,
        }
    }

    fn check_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn verify(req: Request) -> Report {
        let bytes = configured_bytes(&req.config).unwrap_or(DEFAULT_BYTES);
        Report {
            is_success: true,
            message: black_box("x".repeat(black_box(bytes))),
            error_reason: None,
            extensions: Vec::new(),
        }
    }
}

export!(BigOutput);
