//! Embeds the verifier templates (`templates/<lang>/…` at the workspace root) and the WIT
//! package (`wit/`) for `vouch plugin new`: a generated table of `include_bytes!` entries, so a
//! language appears in the binary as soon as its template directory exists. A source tree
//! without them (a packaged crate) embeds none.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.parent().expect("the engine is a workspace member");
    let mut out = String::new();
    for (name, dir) in [
        ("TEMPLATE_FILES", root.join("templates")),
        ("WIT_FILES", root.join("wit")),
    ] {
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files = Vec::new();
        if dir.is_dir() {
            walk(&dir, &mut files);
        }
        files.sort();
        writeln!(
            out,
            "/// Embedded files: (path relative to the directory, bytes)."
        )
        .unwrap();
        writeln!(out, "pub static {name}: &[(&str, &[u8])] = &[").unwrap();
        for file in files {
            let rel = file.strip_prefix(&dir).expect("walked below dir");
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_str().expect("template paths are UTF-8"))
                .collect::<Vec<_>>()
                .join("/");
            println!("cargo:rerun-if-changed={}", file.display());
            writeln!(
                out,
                "    ({rel:?}, include_bytes!({:?})),",
                file.display().to_string()
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("templates.rs");
    std::fs::write(dest, out).expect("writing the templates table");
}

/// Every regular file below `dir`, skipping build outputs a template directory may hold after
/// someone tried it in place.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("reading a template directory")
        .map(|e| e.expect("reading a template directory").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if matches!(name, "node_modules" | "__pycache__" | "target" | ".venv")
            || name.ends_with(".wasm")
        {
            continue;
        }
        if path.is_dir() {
            walk(&path, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}
