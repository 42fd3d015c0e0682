//! The Rust SDK for Vouch verifiers: everything a verifier crate needs to implement the
//! `vouch:verifier` world (`wit/verifier.wit`) without its own bindings.
//!
//! A verifier implements [`Verifier`] and exports it with [`export_verifier!`]:
//!
//! ```no_run
//! use vouch_verifier_sdk::{Ctx, Metadata, Report, Verifier, export_verifier, report};
//!
//! struct Hello;
//!
//! impl Verifier for Hello {
//!     type Config = ();
//!     fn metadata() -> Metadata {
//!         Metadata {
//!             name: "hello".into(),
//!             version: "0.1.0".into(),
//!             artifact_types: vec!["application/vnd.example.hello".into()],
//!             config_schema: None,
//!         }
//!     }
//!     fn parse_config(_: &str) -> Result<(), String> {
//!         Ok(())
//!     }
//!     fn verify(ctx: &Ctx<'_>, _: ()) -> Report {
//!         match ctx.manifest() {
//!             Ok(m) => report::passed(format!("{} layers", m.layers.len()), Vec::new()),
//!             Err(e) => e.into(),
//!         }
//!     }
//! }
//!
//! export_verifier!(Hello);
//! ```
//!
//! The pieces: [`Ctx`] is the request (subject, artifact) with typed store access ([`store`]:
//! manifests parsed to [`common::manifest::Manifest`], size-capped blobs, referrers, errors
//! mapping to the standard `STORE_ERROR`, `TOO_LARGE` and `INVALID_MANIFEST` reasons);
//! [`report`] builds verdicts; [`crypto`] maps the pure [`common::crypto`] types onto the host's
//! `crypto` import; [`wit`] is the raw generated bindings (the `log` and `revocation` imports
//! included). The pure helpers of [`common`] (DER, RFC 3161, DSSE, RFC 3339, media types) build
//! and test natively alike.

extern crate self as vouch_verifier_sdk;

pub mod crypto;
pub mod report;
pub mod store;
pub mod testing;

pub use verifier_common as common;

/// The bindings `wit_bindgen` generates for the `verifier` world of `wit/verifier.wit`.
#[allow(missing_docs)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "verifier",
        pub_export_macro: true,
        export_macro_name: "__export_verifier_world",
        default_bindings_module: "vouch_verifier_sdk::wit",
        runtime_path: "vouch_verifier_sdk::__private::wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

pub use store::{AccessError, Ctx, HostStore, Store};
pub use wit::vouch::verifier::log::{Level, log};
pub use wit::vouch::verifier::types::{
    Descriptor, ExtensionValue, Metadata, Report, Request, StoreError, Subject,
};

/// The `errorReason` of a report on a configuration [`Verifier::parse_config`] rejects.
pub const CONFIG_INVALID: &str = "CONFIG_INVALID";

/// A verifier: what the `vouch:verifier` world's exports ask, in Rust terms.
///
/// [`export_verifier!`] wires it to the world: `metadata` → [`Verifier::metadata`],
/// `check-config` → [`Verifier::parse_config`] (its error is the load-time error), `verify` →
/// [`Verifier::parse_config`] then [`Verifier::verify`] with a [`Ctx`] over the host's store, or
/// [`Verifier::config_invalid`] when the configuration does not parse.
pub trait Verifier {
    /// The parsed configuration.
    type Config;

    /// Who the verifier is and which artifact types it judges.
    fn metadata() -> Metadata;

    /// Parses and validates the configuration (JSON text); the error names what is wrong.
    fn parse_config(config: &str) -> Result<Self::Config, String>;

    /// The report on a configuration that does not parse at verify time: `CONFIG_INVALID` with
    /// the parser's error as the message, unless the verifier words it otherwise.
    fn config_invalid(error: String) -> Report {
        report::failed(CONFIG_INVALID, error)
    }

    /// Judges the artifact `ctx` names under `config`.
    fn verify(ctx: &Ctx<'_>, config: Self::Config) -> Report;
}

/// `check-config` for `V`: whether its configuration parses.
pub fn check_config<V: Verifier>(config: &str) -> Result<(), String> {
    V::parse_config(config).map(|_| ())
}

/// `verify` for `V` over `store`: parses the request's configuration and judges the artifact.
pub fn verify<V: Verifier>(req: Request, store: &dyn Store) -> Report {
    let config = match V::parse_config(&req.config) {
        Ok(c) => c,
        Err(e) => return V::config_invalid(e),
    };
    let ctx = Ctx::new(req.subject, req.artifact, store);
    V::verify(&ctx, config)
}

/// Exports a [`Verifier`] as the component's `verifier` world: `export_verifier!(MyVerifier);`
/// once, at the root of the verifier's `cdylib` crate.
#[macro_export]
macro_rules! export_verifier {
    ($ty:ty) => {
        const _: () = {
            /// The world's exports, forwarded to the verifier.
            struct VouchVerifierExports;

            impl $crate::wit::Guest for VouchVerifierExports {
                fn metadata() -> $crate::Metadata {
                    <$ty as $crate::Verifier>::metadata()
                }

                fn check_config(
                    config: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::check_config::<$ty>(&config)
                }

                fn verify(req: $crate::Request) -> $crate::Report {
                    $crate::verify::<$ty>(req, &$crate::HostStore)
                }
            }

    $crate::wit::__export_verifier_world!(VouchVerifierExports with_types_in $crate::wit);
        };
    };
}

/// Re-exports for the macros' and bindings' expansions; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}
