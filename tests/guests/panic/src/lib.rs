//! A hostile verifier that panics in `verify` (a trap under `panic = "abort"`), and rejects any
//! config containing `bad` in `check_config` (a load-time config error).

wit_bindgen::generate!({ path: "../../../wit", world: "verifier" });

use std::hint::black_box;

struct Panic;

impl Guest for Panic {
    fn metadata() -> Metadata {
        Metadata {
            name: "panic".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: None,
        }
    }

    fn check_config(config: String) -> Result<(), String> {
        if config.contains("bad") {
            return Err(format!("bad config: {config}"));
        }
        Ok(())
    }

    fn verify(req: Request) -> Report {
        black_box(&req);
        panic!("guest panicked on purpose");
    }
}

export!(Panic);
