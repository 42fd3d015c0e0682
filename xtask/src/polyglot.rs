//! Verifiers written in Python and JavaScript: the toolchains that build them, installed on
//! demand under the target directory, and the builds.
//!
//! - Python: `componentize-py` (PyPI, pinned to [`COMPONENTIZE_PY`]) in a venv at
//!   `target/polyglot/venv`.
//! - JavaScript: `@bytecodealliance/componentize-js` (npm, pinned to [`COMPONENTIZE_JS`]) in
//!   `target/polyglot/npm`, called directly: `jco componentize` cannot read a `--wit` path with
//!   the shim versions it ships, and the `http`/`fetch-event` features are disabled because the
//!   engine provides no `wasi:http`.
//!
//! An install that fails (offline, no `python3 -m venv`, no `npm`) is not an error: the
//! toolchain is reported missing with the reason, and whoever needed it skips saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py release the Python verifiers are built with.
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// The componentize-js release the JavaScript verifiers are built with.
pub const COMPONENTIZE_JS: &str = "0.23.0";

/// Errors building a verifier or installing a toolchain.
#[derive(Debug, thiserror::Error)]
pub enum PolyglotError {
    /// The toolchain could not be installed; the payload says what failed.
    #[error("{0}")]
    Unavailable(String),
    /// The build ran and failed.
    #[error("{tool} failed on {app}: {output}")]
    Build {
        /// The tool.
        tool: &'static str,
        /// The app directory.
        app: PathBuf,
        /// Its output (the end of it).
        output: String,
    },
}

/// A language a verifier can be written in besides Rust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Python, `app.py` built with componentize-py.
    Python,
    /// JavaScript, `app.js` built with componentize-js.
    Js,
}

impl Lang {
    /// The language's name as `vouch plugin new --lang` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

/// Where the toolchains live: `<target>/polyglot`.
pub fn toolchain_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("polyglot")
}

/// The target directory of this workspace (`CARGO_TARGET_DIR` or `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The workspace root (this crate's parent directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

/// The installed tool of `lang` under `dir` (see [`toolchain_dir`]), if it is there.
pub fn installed(dir: &Path, lang: Lang) -> Option<PathBuf> {
    let tool = match lang {
        Lang::Python => dir.join("venv/bin/componentize-py"),
        Lang::Js => dir.join("npm/node_modules/.bin/componentize-js"),
    };
    tool.is_file().then_some(tool)
}

/// The tool of `lang`, installing it under `dir` first when missing.
pub fn ensure(dir: &Path, lang: Lang) -> Result<PathBuf, PolyglotError> {
    if let Some(tool) = installed(dir, lang) {
        return Ok(tool);
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| PolyglotError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
    match lang {
        Lang::Python => {
            let venv = dir.join("venv");
            run_install(
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
                "python3 -m venv",
            )?;
            run_install(
                Command::new(venv.join("bin/pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check"])
                    .arg(format!("componentize-py=={COMPONENTIZE_PY}")),
                "pip install componentize-py",
            )?;
        }
        Lang::Js => {
            let npm = dir.join("npm");
            std::fs::create_dir_all(&npm).map_err(|e| {
                PolyglotError::Unavailable(format!("cannot create {}: {e}", npm.display()))
            })?;
            if !npm.join("package.json").is_file() {
                std::fs::write(npm.join("package.json"), "{\"private\": true}\n").map_err(|e| {
                    PolyglotError::Unavailable(format!("cannot write package.json: {e}"))
                })?;
            }
            run_install(
                Command::new("npm")
                    .current_dir(&npm)
                    .args(["install", "--no-audit", "--no-fund", "--silent"])
                    .arg(format!(
                        "@bytecodealliance/componentize-js@{COMPONENTIZE_JS}"
                    )),
                "npm install @bytecodealliance/componentize-js",
            )?;
        }
    }
    installed(dir, lang).ok_or_else(|| {
        PolyglotError::Unavailable(format!(
            "the {} toolchain installed but its tool is not where expected under {}",
            lang.name(),
            dir.display()
        ))
    })
}

fn run_install(cmd: &mut Command, what: &str) -> Result<(), PolyglotError> {
    let out = cmd
        .output()
        .map_err(|e| PolyglotError::Unavailable(format!("{what}: cannot run: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(PolyglotError::Unavailable(format!(
        "{what} failed ({}): {}",
        out.status,
        tail(&out.stderr)
    )))
}

/// The last lines of a tool's output.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// Build the verifier in `app` (`app.py` or `app.js`) against the WIT package `wit` into `out`
/// with `tool` (from [`ensure`]).
pub fn build(
    lang: Lang,
    tool: &Path,
    app: &Path,
    wit: &Path,
    out: &Path,
) -> Result<(), PolyglotError> {
    let mut cmd = Command::new(tool);
    match lang {
        Lang::Python => {
            // `-p` instead of the current directory: nothing is written into the app directory
            // but Python's own `__pycache__`, which the build is told not to write.
            cmd.env("PYTHONDONTWRITEBYTECODE", "1")
                .arg("-d")
                .arg(wit)
                .args(["-w", "verifier", "componentize", "-p"])
                .arg(app)
                .args(["app", "-o"])
                .arg(out);
        }
        Lang::Js => {
            cmd.arg(app.join("app.js"))
                .arg("--wit")
                .arg(wit)
                .args([
                    "--world-name",
                    "verifier",
                    "-d",
                    "http",
                    "-d",
                    "fetch-event",
                    "-o",
                ])
                .arg(out);
        }
    }
    let output = cmd.output().map_err(|e| PolyglotError::Build {
        tool: tool_name(lang),
        app: app.to_owned(),
        output: format!("cannot run {}: {e}", tool.display()),
    })?;
    if !output.status.success() || !out.is_file() {
        let mut text = output.stdout;
        text.extend_from_slice(&output.stderr);
        return Err(PolyglotError::Build {
            tool: tool_name(lang),
            app: app.to_owned(),
            output: tail(&text),
        });
    }
    Ok(())
}

fn tool_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Python => "componentize-py",
        Lang::Js => "componentize-js",
    }
}

/// The example verifiers `cargo xtask polyglot` builds: language, directory under
/// `examples/verifiers/`, output file name under [`toolchain_dir`].
pub const EXAMPLES: [(Lang, &str, &str); 2] = [
    (Lang::Python, "python-sbom", "python_sbom.wasm"),
    (Lang::Js, "js-annotations", "js_annotations.wasm"),
];

/// The built example `file` (one of [`EXAMPLES`]), when `cargo xtask polyglot` built it.
pub fn built_example(file: &str) -> Option<PathBuf> {
    let path = toolchain_dir(&target_dir()).join(file);
    path.is_file().then_some(path)
}

/// Whether `out` exists and is newer than every file below `inputs` (files or directories).
pub fn up_to_date(out: &Path, inputs: &[&Path]) -> bool {
    fn newest(path: &Path) -> Option<std::time::SystemTime> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_dir() {
            return meta.modified().ok();
        }
        std::fs::read_dir(path)
            .ok()?
            .filter_map(|e| newest(&e.ok()?.path()))
            .max()
    }
    let Some(built) = std::fs::metadata(out).and_then(|m| m.modified()).ok() else {
        return false;
    };
    inputs.iter().all(|i| newest(i).is_some_and(|t| t <= built))
}
