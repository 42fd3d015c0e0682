//! Workspace tooling shared by `cargo xtask` and the tests: fixtures signed the way the real
//! tools sign them (notation JWS/COSE envelopes, cosign simple signing), generated from the specs
//! with throwaway keys, so anyone can regenerate them; and the container image ([`image`]).

pub mod fixtures;
pub mod image;
pub mod layout;
pub mod polyglot;
