//! `vouch plugin new --lang LANG NAME [--dir DIR]`: a buildable verifier project, rendered from
//! the templates embedded in the binary (`templates/<lang>/` of the source tree, embedded by
//! `build.rs`), with a copy of the WIT package the verifier implements (`wit/`).
//!
//! Every template file is rendered by replacing `{{name}}` (the kebab-case name),
//! `{{name_snake}}` and `{{sdk_dependency}}` (the Cargo dependency on the Rust SDK, see
//! [`sdk_dependency`]). The languages are the template directories: one added to the source
//! tree appears here with the next build.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/templates.rs"));
}

/// Environment variable naming the Rust SDK's directory (`guest-verifiers/sdk` of a Vouch
/// source tree) for `{{sdk_dependency}}`, when it is not beside this binary's source.
pub const SDK_DIR_ENV: &str = "VOUCH_SDK_DIR";

/// The `{{sdk_dependency}}` used when no SDK directory is found: a path that does not exist,
/// so that `cargo build` names it and the README says what to put there.
pub const SDK_PLACEHOLDER: &str = "{ path = \"VOUCH-SOURCE/guest-verifiers/sdk\" }";

/// Why a project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// No template for the language.
    #[error("unknown language `{lang}`: this vouch has templates for {known}")]
    UnknownLanguage {
        /// What was asked for.
        lang: String,
        /// The languages there are, comma-separated.
        known: String,
    },
    /// The name is not a kebab-case identifier.
    #[error("invalid verifier name `{name}`: {why}")]
    BadName {
        /// What was given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The target directory exists and is not empty.
    #[error("{} exists and is not empty: give a new or empty directory with --dir", .dir.display())]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// Writing failed.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The languages there are templates for, sorted.
pub fn languages() -> Vec<&'static str> {
    embedded::TEMPLATE_FILES
        .iter()
        .filter_map(|(path, _)| path.split_once('/').map(|(lang, _)| lang))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The Cargo dependency spec of the Rust SDK: `{ path = "…" }` to `$VOUCH_SDK_DIR`, else to
/// `guest-verifiers/sdk` of the source tree this binary was built from when it is still there,
/// else [`SDK_PLACEHOLDER`] (the SDK is not published to a registry). The flag says whether a
/// directory was found.
pub fn sdk_dependency() -> (String, bool) {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-verifiers/sdk");
    let found = std::env::var_os(SDK_DIR_ENV)
        .map(PathBuf::from)
        .into_iter()
        .chain([built_from])
        .find(|d| d.join("Cargo.toml").is_file())
        .and_then(|d| d.canonicalize().ok());
    match found {
        Some(dir) => (
            format!("{{ path = {:?} }}", dir.display().to_string()),
            true,
        ),
        None => (SDK_PLACEHOLDER.to_owned(), false),
    }
}

/// What [`render`] wrote.
#[derive(Debug)]
pub struct Rendered {
    /// The files, relative to the project directory.
    pub files: Vec<String>,
    /// Whether `{{sdk_dependency}}` points at a real SDK directory (see [`sdk_dependency`]).
    pub sdk_found: bool,
}

/// Check that `name` is kebab-case: lower-case ASCII letters, digits and single dashes,
/// starting with a letter, at most 64 characters.
pub fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let bad = |why| {
        Err(ScaffoldError::BadName {
            name: name.to_owned(),
            why,
        })
    };
    if name.is_empty() || name.len() > 64 {
        return bad("it must be 1 to 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad("it must start with a lower-case letter");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return bad("only lower-case letters, digits and `-` (kebab-case)");
    }
    if name.ends_with('-') || name.contains("--") {
        return bad("no trailing or doubled `-`");
    }
    Ok(())
}

/// Write the `lang` project `name` into `dir` (created; refused when it holds anything).
pub fn render(lang: &str, name: &str, dir: &Path) -> Result<Rendered, ScaffoldError> {
    let known = languages();
    if !known.contains(&lang) {
        return Err(ScaffoldError::UnknownLanguage {
            lang: lang.to_owned(),
            known: if known.is_empty() {
                "no language (built without templates/)".to_owned()
            } else {
                known.join(", ")
            },
        });
    }
    check_name(name)?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ScaffoldError::Io { path, source }
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ScaffoldError::NotEmpty {
                    dir: dir.to_owned(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dir)(e)),
    }
    let (sdk, sdk_found) = sdk_dependency();
    let snake = name.replace('-', "_");
    let prefix = format!("{lang}/");
    let templates = embedded::TEMPLATE_FILES
        .iter()
        .filter_map(|(path, bytes)| Some((path.strip_prefix(&prefix)?, *bytes)));
    let wit = embedded::WIT_FILES
        .iter()
        .map(|(path, bytes)| (format!("wit/{path}"), *bytes, false));
    let mut files = Vec::new();
    for (rel, bytes, render) in templates.map(|(p, b)| (p.to_owned(), b, true)).chain(wit) {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let content = match std::str::from_utf8(bytes) {
            Ok(text) if render => text
                .replace("{{name_snake}}", &snake)
                .replace("{{name}}", name)
                .replace("{{sdk_dependency}}", &sdk)
                .into_bytes(),
            _ => bytes.to_vec(),
        };
        std::fs::write(&path, content).map_err(io(&path))?;
        if rel.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(io(&path))?;
        }
        files.push(rel);
    }
    Ok(Rendered { files, sdk_found })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kebab_case() {
        for ok in ["a", "sbom-policy", "v2-check", &"a".repeat(64)] {
            check_name(ok).unwrap();
        }
        for bad in [
            "",
            "Sbom",
            "2fa",
            "a_b",
            "a-",
            "a--b",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_wit_package_is_embedded() {
        let (path, bytes) = embedded::WIT_FILES
            .iter()
            .find(|(p, _)| *p == "verifier.wit")
            .expect("wit/verifier.wit embedded");
        assert_eq!(*path, "verifier.wit");
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(text.contains("world verifier"), "{text}");
    }

    #[test]
    fn an_unknown_language_names_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let e = render("cobol", "x", &dir.path().join("x")).unwrap_err();
        let m = e.to_string();
        for lang in languages() {
            assert!(m.contains(lang), "{m}");
        }
        assert!(m.contains("`cobol`"), "{m}");
        assert!(!dir.path().join("x").exists(), "nothing written");
    }

    #[test]
    fn a_non_empty_directory_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        let lang = languages()[0];
        let e = render(lang, "x", dir.path()).unwrap_err();
        assert!(matches!(e, ScaffoldError::NotEmpty { .. }), "{e}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    /// Every placeholder of every template is replaced, and each project gets the WIT package.
    #[test]
    fn every_language_renders_without_placeholders_left() {
        for lang in languages() {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("proj");
            let r = render(lang, "my-check", &out).unwrap();
            assert!(
                r.files.iter().any(|f| f == "wit/verifier.wit"),
                "{lang}: {:?}",
                r.files
            );
            assert!(
                r.files.iter().any(|f| f == "README.md"),
                "{lang}: {:?}",
                r.files
            );
            for f in &r.files {
                let text = std::fs::read_to_string(out.join(f)).unwrap();
                assert!(!text.contains("{{"), "{lang}/{f} has a placeholder left");
            }
            let all: String = r
                .files
                .iter()
                .map(|f| std::fs::read_to_string(out.join(f)).unwrap())
                .collect();
            assert!(all.contains("my-check"), "{lang}: the name is used");
        }
    }
}
