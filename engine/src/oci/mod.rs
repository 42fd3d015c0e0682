//! OCI data model: digests, descriptors, manifests, references, and the read-only image layout.

pub mod content;
pub(crate) mod digest;
pub mod layout;
pub mod manifest;
pub(crate) mod reference;
pub mod registry;

pub use digest::{Digest, DigestError};
pub use layout::{LayoutError, OciLayout};
pub use manifest::{Descriptor, Manifest, ManifestError};
pub use reference::{Reference, ReferenceError};
