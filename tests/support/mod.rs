//! Shared test harness: a real registry (Debian's `docker-registry`) with a pusher, and a test
//! registry server with programmable misbehaviours. Each test file uses part of it.
#![allow(dead_code)]

pub mod cosign;
pub mod demo;
pub mod fake;
pub mod process;
pub mod redis;
pub mod registry;
pub mod report_schema;
pub mod served;
pub mod verify;
pub mod vouch_serve;

/// Sources reading registries with default settings: a fresh client and fresh caches.
pub fn registry_sources() -> vouch::store::sources::Sources {
    vouch::store::sources::Sources::new(
        vouch::oci::registry::RegistryClient::new(Default::default()).unwrap(),
        Default::default(),
        None,
        Default::default(),
    )
    .unwrap()
}
