//! Pure helpers shared by Vouch's verifier guests: no WIT imports, so they build for
//! `wasm32-wasip2` and test natively alike.

pub mod manifest;
