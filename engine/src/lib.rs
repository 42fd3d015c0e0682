//! Vouch: verifies the supply-chain artifacts attached to OCI images (signatures, SBOMs,
//! vulnerability reports) with verifier plugins that run as sandboxed WebAssembly components.
//!
//! One module per box of the data path (see `README.md`):
//! [`oci`] (references, manifests, layouts) → [`store`] (what the host functions read) →
//! [`runtime`] (wasmtime, host functions, limits).

pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod executor;
pub(crate) mod localfile;
pub mod oci;
pub mod plugin;
pub mod policy;
pub mod report;
pub mod runtime;
pub mod scope;
pub mod server;
pub mod store;

/// The size caps of local reads (verifier components; configuration files and what they name).
pub use localfile::{MAX_CONFIG_FILE_BYTES, MAX_WASM_BYTES};
