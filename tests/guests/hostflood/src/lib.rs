//! A hostile verifier that floods the host: `verify` calls `log` and `get-subject` a million times
//! each. The host's host-call and log limits must stop it (or, if it survives, it reports how many
//! calls it made).

wit_bindgen::generate!({ path: "../../../wit", world: "verifier" });

use std::hint::black_box;

use vouch::verifier::log::{Level, log};
use vouch::verifier::store::get_subject;

/// Calls of each function made before giving up and returning.
const CALLS: u32 = 1_000_000;

struct HostFlood;

impl Guest for HostFlood {
    fn metadata() -> Metadata {
        Metadata {
            name: "hostflood".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: None,
        }
    }

    fn check_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn verify(_req: Request) -> Report {
        let mut calls = 0u64;
        for _ in 0..black_box(CALLS) {
            log(Level::Info, black_box("flood"));
            black_box(get_subject());
            calls += 2;
        }
        Report {
            is_success: true,
            message: format!("made {calls} host calls without being stopped"),
            error_reason: None,
            extensions: Vec::new(),
        }
    }
}

export!(HostFlood);
