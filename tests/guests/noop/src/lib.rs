//! A verifier that does nothing and passes: the baseline for runtime overhead.

wit_bindgen::generate!({ path: "../../../wit", world: "verifier" });

struct Noop;

impl Guest for Noop {
    fn metadata() -> Metadata {
        Metadata {
            name: "noop".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: None,
        }
    }

    fn check_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn verify(_req: Request) -> Report {
        Report {
            is_success: true,
            message: "ok".into(),
            error_reason: None,
            extensions: Vec::new(),
        }
    }
}

export!(Noop);
