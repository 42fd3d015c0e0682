//! A hostile verifier that never returns: `verify` spins forever. The host's CPU deadline (epoch
//! interruption) must stop it and turn it into a failed report.

wit_bindgen::generate!({ path: "../../../wit", world: "verifier" });

use std::hint::black_box;

struct Loop;

impl Guest for Loop {
    fn metadata() -> Metadata {
        Metadata {
            name: "loop".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: None,
        }
    }

    fn check_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn verify(_req: Request) -> Report {
        let mut counter = 0u64;
        loop {
            counter = black_box(black_box(counter).wrapping_add(1));
        }
    }
}

export!(Loop);
