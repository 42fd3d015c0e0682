//! Pure helpers shared by Vouch's verifier guests: no WIT imports, so they build for
//! `wasm32-wasip2` and test natively alike. What needs the WIT bindings (store access, reports,
//! the host's crypto) is in the SDK, `vouch-verifier-sdk` (`guest-verifiers/sdk`), which
//! re-exports this crate as `vouch_verifier_sdk::common`.

pub mod config;
pub mod crypto;
pub mod der;
pub mod dsse;
pub mod manifest;
pub mod media_type;
pub mod statement;
pub mod time;
pub mod tsp;
