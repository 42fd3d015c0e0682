//! The store layer: what the host functions read. Registries, OCI layouts, caches.
//!
//! The runtime sees a store only through [`StoreAccess`], a reader scoped to one repository
//! (a registry repository or an OCI layout). Every byte a `StoreAccess` returns has been checked
//! against its descriptor's digest and is under the size cap.

pub(crate) mod access;
pub mod blob;
pub mod cache;
pub mod disk;
pub mod layout;
pub mod registry;
pub mod revocation;
pub mod sources;

pub use access::{StoreAccess, StoreError, check_content};
pub use layout::{LayoutLimits, LayoutStore};
