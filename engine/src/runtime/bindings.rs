//! Host bindings for the `vouch:verifier` world, generated from `wit/` by wasmtime's `bindgen!`.
//!
//! Store and revocation imports are async (they may reach a registry or a CRL/OCSP server); every import is trappable so the host can
//! end a call that exceeds its host-call, byte or log budget.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "verifier",
    imports: {
        "vouch:verifier/store": async | trappable,
        "vouch:verifier/revocation": async | trappable,
        default: trappable,
    },
    exports: {
        default: async,
    },
});

pub use self::vouch::verifier::types::{
    Descriptor as WitDescriptor, ExtensionValue, StoreError, Subject,
};
