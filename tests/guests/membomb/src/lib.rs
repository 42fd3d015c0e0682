//! A hostile verifier that allocates until it dies: `verify` pushes 1 MiB chunks, every byte
//! written, into a vector forever. The host's memory cap must make the allocation fail (a trap)
//! and turn it into a failed report.

wit_bindgen::generate!({ path: "../../../wit", world: "verifier" });

use std::hint::black_box;

/// Size of one allocation.
const CHUNK: usize = 1 << 20;

struct Membomb;

impl Guest for Membomb {
    fn metadata() -> Metadata {
        Metadata {
            name: "membomb".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: None,
        }
    }

    fn check_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn verify(_req: Request) -> Report {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        let mut fill = 0u8;
        loop {
            fill = fill.wrapping_add(1) | 1;
            // A non-zero fill forces every byte to be written (no lazily zeroed pages).
            let chunk = vec![black_box(fill); CHUNK];
            hoard.push(black_box(chunk));
            black_box(&mut hoard);
        }
    }
}

export!(Membomb);
