//! The composition root: the only module that reads a [`Config`](crate::config::Config) to build
//! things. From one configuration it builds the runtime, the stores (registry client, caches, disk
//! cache, revocation source), the verifiers (files or `oci://` plugins), the policy, the executor
//! and, for `vouch serve`, the tenants and their hot reload.

pub mod attest;
pub mod build;
pub(crate) mod plugins;
pub mod policy;
pub(crate) mod process;
pub mod reload;
pub(crate) mod serve;
pub(crate) mod tenants;
pub(crate) mod verifiers;

pub use verifiers::{ExecutorError, load_verifiers};
