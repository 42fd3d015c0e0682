//! Benchmark guest: verifies one ECDSA P-256 signature through the host `crypto` import `n` times.
//!
//! Config: `<n> <key-der-hex> <message-hex> <signature-der-hex>`, space separated (no JSON parser,
//! so the guest's own work is negligible next to the host call).

wit_bindgen::generate!({ path: "../../../wit", world: "verifier" });

use vouch::verifier::crypto::{SignatureAlgorithm, SignatureEncoding, verify_signature};

struct CryptoBench;

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err("odd hex length".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

fn parse(config: &str) -> Result<(u32, Vec<u8>, Vec<u8>, Vec<u8>), String> {
    let mut parts = config.split_whitespace();
    let mut next = |what: &str| {
        parts
            .next()
            .ok_or_else(|| format!("config is missing {what}"))
    };
    let n = next("n")?.parse().map_err(|e| format!("n: {e}"))?;
    Ok((
        n,
        unhex(next("key")?)?,
        unhex(next("message")?)?,
        unhex(next("signature")?)?,
    ))
}

impl Guest for CryptoBench {
    fn metadata() -> Metadata {
        Metadata {
            name: "cryptobench".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: None,
        }
    }

    fn check_config(config: String) -> Result<(), String> {
        parse(&config).map(|_| ())
    }

    fn verify(req: Request) -> Report {
        let (ok, message) = match parse(&req.config) {
            Ok((n, key, msg, sig)) => {
                let mut valid = 0u32;
                for _ in 0..n {
                    let r = verify_signature(
                        SignatureAlgorithm::EcdsaP256Sha256,
                        SignatureEncoding::Der,
                        &key,
                        &msg,
                        &sig,
                    );
                    valid += r.is_ok() as u32;
                }
                (valid == n, format!("{valid}/{n} valid"))
            }
            Err(e) => (false, e),
        };
        Report {
            is_success: ok,
            message,
            error_reason: None,
            extensions: Vec::new(),
        }
    }
}

export!(CryptoBench);
