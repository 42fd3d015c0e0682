//! A hostile verifier that probes the filesystem: it tries to read `/etc/passwd`, list `/` and
//! write `x`. It passes only if every attempt failed (the sandbox held); the message lists each
//! attempt's outcome, and an attempt that succeeded makes it fail with `sandbox escape: …`.

wit_bindgen::generate!({ path: "../../../wit", world: "verifier" });

use std::hint::black_box;

use vouch::verifier::types::ExtensionValue;

struct FsProbe;

/// The outcome of one attempt to get out of the sandbox.
struct Attempt {
    /// What was tried, e.g. `read /etc/passwd`.
    what: &'static str,
    /// `Ok(what it got)` if the sandbox let it through, `Err(the error)` if it held.
    outcome: Result<String, String>,
}

/// Runs every filesystem attempt.
fn attempts() -> Vec<Attempt> {
    vec![
        Attempt {
            what: "read /etc/passwd",
            outcome: std::fs::read(black_box("/etc/passwd"))
                .map(|bytes| format!("read {} bytes", bytes.len()))
                .map_err(|e| e.to_string()),
        },
        Attempt {
            what: "read_dir /",
            outcome: std::fs::read_dir(black_box("/"))
                .map(|entries| format!("listed {} entries", entries.count()))
                .map_err(|e| e.to_string()),
        },
        Attempt {
            what: "write x",
            outcome: std::fs::write(black_box("x"), b"written by the fsprobe guest")
                .map(|()| "wrote the file".to_string())
                .map_err(|e| e.to_string()),
        },
    ]
}

/// Turns the attempts into a verdict: success only if every attempt failed.
fn judge(attempts: &[Attempt]) -> Report {
    let escapes: Vec<String> = attempts
        .iter()
        .filter_map(|a| {
            a.outcome
                .as_ref()
                .ok()
                .map(|got| format!("{}: {got}", a.what))
        })
        .collect();
    let extensions = attempts
        .iter()
        .map(|a| {
            let value = match &a.outcome {
                Ok(got) => format!("succeeded: {got}"),
                Err(e) => format!("failed: {e}"),
            };
            (a.what.to_string(), ExtensionValue::Text(value))
        })
        .collect();
    if escapes.is_empty() {
        let failures: Vec<String> = attempts
            .iter()
            .map(|a| {
                format!(
                    "{} failed: {}",
                    a.what,
                    a.outcome.as_ref().err().map_or("", |e| e)
                )
            })
            .collect();
        Report {
            is_success: true,
            message: format!("sandbox held: {}", failures.join("; ")),
            error_reason: None,
            extensions,
        }
    } else {
        Report {
            is_success: false,
            message: format!("sandbox escape: {}", escapes.join("; ")),
            error_reason: Some("SANDBOX_ESCAPE".into()),
            extensions,
        }
    }
}

impl Guest for FsProbe {
    fn metadata() -> Metadata {
        Metadata {
            name: "fsprobe".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: None,
        }
    }

    fn check_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn verify(_req: Request) -> Report {
        judge(&attempts())
    }
}

export!(FsProbe);
