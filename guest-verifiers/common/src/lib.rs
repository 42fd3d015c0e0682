//! Pure helpers shared by Vouch's verifier guests: no WIT imports, so they build for
//! `wasm32-wasip2` and test natively alike. The helpers that need a guest's generated WIT types
//! are macros ([`report_helpers!`], [`store_error_helper!`]) expanded in the guest.

pub mod config;
pub mod crypto;
pub mod der;
pub mod dsse;
pub mod manifest;
pub mod media_type;
pub mod report;
pub mod time;
pub mod tsp;

/// Re-exports for the macros' expansions; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use serde_json;
}
