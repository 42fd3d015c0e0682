//! A hostile verifier that recurses without bound. Every frame keeps a small array alive across
//! the recursive call and combines it with the result afterwards, so the recursion can become
//! neither a loop nor a tail call. The array lives in wasm locals (it is only indexed with
//! constants), so frames are spent on the engine's native wasm stack rather than on the guest's
//! shadow stack in linear memory: the call dies of wasmtime's `max_wasm_stack` limit
//! (`Trap::StackOverflow`), which the host must turn into a failed report.

wit_bindgen::generate!({ path: "../../../wit", world: "verifier" });

use std::hint::black_box;

struct Recurse;

/// Recurses until the stack runs out; the condition is opaque to the optimiser, never true.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    let frame: [u64; 8] = [
        black_box(depth),
        black_box(depth.wrapping_mul(3)),
        black_box(depth.wrapping_mul(5)),
        black_box(depth.wrapping_mul(7)),
        black_box(depth.wrapping_mul(11)),
        black_box(depth.wrapping_mul(13)),
        black_box(depth.wrapping_mul(17)),
        black_box(depth.wrapping_mul(19)),
    ];
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let below = descend(depth + 1);
    below
        ^ frame[0]
        ^ frame[1].rotate_left(1)
        ^ frame[2].rotate_left(2)
        ^ frame[3].rotate_left(3)
        ^ frame[4].rotate_left(4)
        ^ frame[5].rotate_left(5)
        ^ frame[6].rotate_left(6)
        ^ frame[7].rotate_left(7)
}

impl Guest for Recurse {
    fn metadata() -> Metadata {
        Metadata {
            name: "recurse".into(),
            version: "0.1.0".into(),
            artifact_types: vec!["*".into()],
            config_schema: None,
        }
    }

    fn check_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn verify(_req: Request) -> Report {
        let total = black_box(descend(black_box(0)));
        Report {
            is_success: false,
            message: format!("unbounded recursion returned {total}, which it never should"),
            error_reason: Some("UNREACHABLE".into()),
            extensions: Vec::new(),
        }
    }
}

export!(Recurse);
