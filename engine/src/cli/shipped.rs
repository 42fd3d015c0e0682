//! The verifiers shipped with Vouch (`guest-verifiers/`: cosign, notation, sbom, schema, vsa, vuln),
//! found at run time next to the `vouch` binary, so that `vouch verify IMAGE --key cosign.pub`
//! and `--notation-home DIR` need neither a config file nor `--verifier`.
//!
//! Where they are looked for, first found wins:
//! 1. `$VOUCH_VERIFIER_DIR` when set (and then only there): `<name>.wasm`;
//! 2. `<dir of vouch>/../verifiers/<name>.wasm`: an installed tree, as in the container image
//!    (`/opt/vouch/bin/vouch` and `/opt/vouch/verifiers/`), or a release archive unpacked anywhere;
//! 3. cargo's target directory, for a `vouch` that cargo built (`target/<profile>/vouch` or
//!    `target/<triple>/<profile>/vouch`): `target/wasm32-wasip2/guest/verifier_<name>.wasm`, where
//!    `cargo xtask guests` writes them.
//!
//! The files are read when the verifier loads, like any verifier named in a config file: the
//! reports name their module digest, and `vouch inspect` describes them.

use std::path::{Path, PathBuf};

/// The environment variable naming the directory of the shipped verifiers.
pub const VERIFIER_DIR_ENV: &str = "VOUCH_VERIFIER_DIR";

/// The verifiers shipped with Vouch, by the name they have in reports and config files.
pub const SHIPPED: [&str; 6] = ["cosign", "notation", "sbom", "schema", "vsa", "vuln"];

/// Why a shipped verifier was not found.
#[derive(Debug, thiserror::Error)]
pub enum ShippedError {
    /// `name` is not one of [`SHIPPED`].
    #[error("`{0}` is not a verifier shipped with Vouch (those are {SHIPPED:?})")]
    Unknown(String),
    /// No candidate file exists.
    #[error(
        "no --verifier given, the config file names no `{name}` verifier, and the shipped \
         `{name}` verifier is not installed: looked for {looked}. Build the verifiers with \
         `cargo xtask guests`, set ${VERIFIER_DIR_ENV} to the directory holding {name}.wasm, or \
         pass --verifier FILE"
    )]
    NotFound {
        /// The verifier's name.
        name: String,
        /// The paths tried, comma-separated.
        looked: String,
    },
}

/// The paths where the shipped verifier `name` may be, in the order they are tried, for a
/// `vouch` binary at `exe` and `$VOUCH_VERIFIER_DIR` = `env_dir`.
pub fn candidates(name: &str, exe: Option<&Path>, env_dir: Option<&Path>) -> Vec<PathBuf> {
    if let Some(dir) = env_dir {
        return vec![dir.join(format!("{name}.wasm"))];
    }
    let Some(bin_dir) = exe.and_then(Path::parent) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(prefix) = bin_dir.parent() {
        out.push(prefix.join("verifiers").join(format!("{name}.wasm")));
    }
    // target/<profile>/vouch, then target/<triple>/<profile>/vouch.
    let cargo_file = format!("verifier_{name}.wasm");
    for target in bin_dir.ancestors().skip(1).take(2) {
        out.push(target.join("wasm32-wasip2/guest").join(&cargo_file));
    }
    out
}

/// The shipped verifier `name`, found as the module documentation says for this process.
pub fn locate(name: &str) -> Result<PathBuf, ShippedError> {
    if !SHIPPED.contains(&name) {
        return Err(ShippedError::Unknown(name.to_owned()));
    }
    // The binary's real location: a symlink in ~/bin still finds the tree it came from.
    // Without /proc (a bare chroot) the path it was started by, when that names a file.
    let exe = std::env::current_exe()
        .ok()
        .or_else(|| {
            let argv0 = PathBuf::from(std::env::args_os().next()?);
            (argv0.components().count() > 1).then(|| std::path::absolute(&argv0).ok())?
        })
        .map(|e| std::fs::canonicalize(&e).unwrap_or(e));
    let env_dir = std::env::var_os(VERIFIER_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    let tried = candidates(name, exe.as_deref(), env_dir.as_deref());
    if let Some(found) = tried.iter().find(|p| p.is_file()) {
        tracing::debug!(verifier = name, path = %found.display(), "shipped verifier");
        return Ok(found.clone());
    }
    let looked = if tried.is_empty() {
        "nothing (the path of this executable is unknown)".to_owned()
    } else {
        tried
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(ShippedError::NotFound {
        name: name.to_owned(),
        looked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installed_tree_comes_before_cargos_target_directory() {
        let got = candidates("cosign", Some(Path::new("/opt/vouch/bin/vouch")), None);
        assert_eq!(
            got,
            [
                "/opt/vouch/verifiers/cosign.wasm",
                "/opt/vouch/wasm32-wasip2/guest/verifier_cosign.wasm",
                "/opt/wasm32-wasip2/guest/verifier_cosign.wasm",
            ]
            .map(PathBuf::from)
        );
        let musl = candidates(
            "notation",
            Some(Path::new(
                "/w/target/x86_64-unknown-linux-musl/release/vouch",
            )),
            None,
        );
        assert!(musl.contains(&PathBuf::from(
            "/w/target/wasm32-wasip2/guest/verifier_notation.wasm"
        )));
    }

    #[test]
    fn the_environment_variable_is_the_only_place_when_set() {
        let got = candidates(
            "vuln",
            Some(Path::new("/opt/vouch/bin/vouch")),
            Some(Path::new("/srv/v")),
        );
        assert_eq!(got, [PathBuf::from("/srv/v/vuln.wasm")]);
    }

    #[test]
    fn unknown_or_missing_verifiers_say_what_to_do() {
        assert!(matches!(locate("nope"), Err(ShippedError::Unknown(_))));
        let e = ShippedError::NotFound {
            name: "cosign".into(),
            looked: "/a/cosign.wasm".into(),
        }
        .to_string();
        assert!(
            e.contains("/a/cosign.wasm") && e.contains("--verifier FILE"),
            "{e}"
        );
    }
}
