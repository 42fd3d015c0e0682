//! The engine's layering, checked: the top-level modules of `engine/src` form a DAG, and the
//! imports the architecture forbids (README, "Architecture") are absent.
//!
//! The check reads the sources: every `crate::<module>` path (in `use` declarations, in
//! `use crate::{a, b::c}` groups and inline in code) and every `super::` path that climbs out of
//! its top-level module. Comments, doc comments and `#[cfg(test)]` modules are not production
//! dependencies and are skipped (a test may build a `Config` to drive the code it tests).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `(importer, imported, why)`: `importer` must never import `imported`.
const FORBIDDEN: &[(&str, &str, &str)] = &[
    ("oci", "store", "oci is below the store layer"),
    ("oci", "runtime", "oci is below the sandbox"),
    ("oci", "executor", "oci is below the executor"),
    ("store", "runtime", "storage sits below the sandbox"),
    ("store", "executor", "storage sits below the executor"),
    ("store", "server", "storage sits below the server"),
    ("runtime", "executor", "the sandbox sits below the executor"),
    ("runtime", "server", "the sandbox sits below the server"),
    ("policy", "runtime", "a policy reads reports only"),
    ("policy", "store", "a policy reads reports only"),
    ("policy", "executor", "a policy reads reports only"),
    ("executor", "server", "the executor serves every front end"),
    ("executor", "cli", "the executor serves every front end"),
    (
        "crypto",
        "runtime",
        "crypto is plain Rust, below the sandbox",
    ),
    ("crypto", "store", "crypto is plain Rust, below the store"),
];

/// Modules that may read the configuration file's types: the composition root, the front end that
/// loads the file, and the file format itself.
const CONFIG_READERS: &[&str] = &["app", "cli", "config"];

/// Modules with nothing of the engine below them.
const GROUND_FLOOR: &[&str] = &["report", "localfile"];

/// Of `store`, the runtime may only see the access traits (`store::access`).
const RUNTIME_STORE_FACADE: &str = "access";

/// One import of another top-level module.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Import {
    /// The importing file, relative to `src/`.
    file: String,
    /// The top-level module imported.
    module: String,
    /// The module path below it (`store::access::StoreAccess` → `access`), if any.
    sub: Option<String>,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file relative to `src/`: `runtime/host/mod.rs` → `[runtime, host]`.
fn module_path(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// `src` without comments and without `#[cfg(test)]` modules (inline ones; `mod tests;` files are
/// skipped by the caller).
fn production_code(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut skip_depth: Option<i64> = None;
    let mut depth: i64 = 0;
    let mut pending_cfg_test = false;
    for line in src.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let trimmed = code.trim();
        if skip_depth.is_none() {
            if trimmed == "#[cfg(test)]" {
                pending_cfg_test = true;
            } else if pending_cfg_test && !trimmed.is_empty() {
                pending_cfg_test = false;
                if trimmed.contains("mod ") && trimmed.ends_with('{') {
                    skip_depth = Some(depth);
                }
            }
        }
        let opens = code.matches('{').count() as i64;
        let closes = code.matches('}').count() as i64;
        depth += opens - closes;
        match skip_depth {
            Some(d) if depth <= d && closes > 0 => skip_depth = None,
            Some(_) => {}
            None => {
                out.push_str(code);
                out.push('\n');
            }
        }
    }
    out
}

/// Every top-level module `code` (of the file at `rel`) imports, other than its own.
fn imports(rel: &str, code: &str, modules: &BTreeSet<String>) -> Vec<Import> {
    let here = module_path(rel);
    let top = here[0].clone();
    let mut out = Vec::new();
    let mut push = |path: &[String]| {
        if let Some(module) = path.first()
            && *module != top
            && modules.contains(module)
        {
            out.push(Import {
                file: rel.to_owned(),
                module: module.clone(),
                sub: path.get(1).cloned(),
            });
        }
    };
    let bytes = code.as_bytes();
    for (i, _) in code.match_indices("crate::") {
        if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
            continue; // `$crate::` or an identifier ending in `crate`
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let path: Vec<String> = item
                    .trim()
                    .split("::")
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'))
                    .collect();
                push(&path);
            }
        } else {
            push(&path_segments(rest));
        }
    }
    // `super::` chains that leave the top-level module.
    for (i, _) in code.match_indices("super::") {
        if i >= 2 && &code[i - 2..i] == "::" {
            continue; // counted with the first `super`
        }
        let mut rest = &code[i..];
        let mut levels = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            levels += 1;
            rest = r;
        }
        // In `a/b/c.rs` (module a::b::c) `super` is a::b; leaving `a` takes len(here) supers.
        if levels >= here.len() {
            push(&path_segments(rest));
        }
    }
    out
}

/// `store::access::StoreAccess;` → `[store, access, StoreAccess]`.
fn path_segments(rest: &str) -> Vec<String> {
    let mut path = Vec::new();
    let mut rest = rest;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        path.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    path
}

/// The imports of every production file under `src`, and the top-level modules.
fn scan(src: &Path) -> (BTreeSet<String>, Vec<Import>) {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
        if name != "lib" && name != "main" && is_module {
            modules.insert(name);
        }
    }
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut all = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "lib.rs" || rel == "main.rs" || rel.ends_with("/tests.rs") {
            continue;
        }
        let code = production_code(&std::fs::read_to_string(&file).unwrap());
        all.extend(imports(&rel, &code, &modules));
    }
    (modules, all)
}

/// Every broken rule, one line each.
fn violations(imports: &[Import]) -> Vec<String> {
    let mut out = Vec::new();
    for i in imports {
        let from = module_path(&i.file)[0].clone();
        for (a, b, why) in FORBIDDEN {
            if from == *a && i.module == *b {
                let facade = from == "runtime" && i.module == "store";
                if !(facade && i.sub.as_deref() == Some(RUNTIME_STORE_FACADE)) {
                    out.push(format!("{}: {from} imports {}: {why}", i.file, i.module));
                }
            }
        }
        if from == "runtime"
            && i.module == "store"
            && i.sub.as_deref() != Some(RUNTIME_STORE_FACADE)
        {
            out.push(format!(
                "{}: runtime imports store::{} (only store::{RUNTIME_STORE_FACADE} is its interface)",
                i.file,
                i.sub.as_deref().unwrap_or("")
            ));
        }
        if i.module == "config" && !CONFIG_READERS.contains(&from.as_str()) {
            out.push(format!(
                "{}: {from} reads the configuration (only {CONFIG_READERS:?} may)",
                i.file
            ));
        }
        if GROUND_FLOOR.contains(&from.as_str()) {
            out.push(format!(
                "{}: {from} is on the ground floor but imports {}",
                i.file, i.module
            ));
        }
    }
    let graph = graph(imports);
    if let Some(cycle) = find_cycle(&graph) {
        out.push(format!("module cycle: {}", cycle.join(" → ")));
    }
    out.sort();
    out.dedup();
    out
}

fn graph(imports: &[Import]) -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in imports {
        g.entry(module_path(&i.file)[0].clone())
            .or_default()
            .insert(i.module.clone());
    }
    g
}

/// A cycle of the module graph (first module repeated at the end), if there is one.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_owned());
        for next in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        if let Some(c) = visit(n, g, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_engine_keeps_its_layering() {
    let (modules, imports) = scan(&src_dir());
    for expected in [
        "app", "cli", "crypto", "executor", "oci", "policy", "report", "runtime", "store",
    ] {
        assert!(
            modules.contains(expected),
            "no top-level module `{expected}` in {modules:?}"
        );
    }
    assert!(
        imports.len() > 50,
        "the scan found only {} imports: is it reading the sources?",
        imports.len()
    );
    let broken = violations(&imports);
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

/// The checker itself catches what it must (so the test above can fail).
#[test]
fn the_checker_sees_forbidden_imports_cycles_and_escapes() {
    let modules: BTreeSet<String> = ["oci", "store", "runtime", "policy", "config", "report"]
        .map(String::from)
        .into();
    let scan = |files: &[(&str, &str)]| -> Vec<String> {
        let all: Vec<Import> = files
            .iter()
            .flat_map(|(rel, src)| imports(rel, &production_code(src), &modules))
            .collect();
        violations(&all)
    };
    // A plain `use`, a group, an inline path, a `super` escape.
    assert_eq!(
        scan(&[("oci/layout.rs", "use crate::store::StoreError;\n")]).len(),
        1
    );
    assert_eq!(
        scan(&[("oci/mod.rs", "use crate::{digest, store::x};\n")]).len(),
        1
    );
    assert_eq!(
        scan(&[("policy/rego.rs", "fn f() { crate::runtime::x(); }\n")]).len(),
        1
    );
    assert_eq!(
        scan(&[("oci/registry/mod.rs", "use super::super::store::X;\n")]).len(),
        1
    );
    // Inside its own module, `super` is no import.
    assert!(scan(&[("oci/registry/mod.rs", "use super::digest::Digest;\n")]).is_empty());
    // The runtime sees the store only through `store::access`.
    assert!(
        scan(&[(
            "runtime/host/mod.rs",
            "use crate::store::access::StoreAccess;\n"
        )])
        .is_empty()
    );
    assert_eq!(
        scan(&[("runtime/mod.rs", "use crate::store::cache::X;\n")]).len(),
        1
    );
    // Config is read by the composition root only.
    assert_eq!(
        scan(&[("policy/mod.rs", "use crate::config::Config;\n")]).len(),
        1
    );
    // Ground floor.
    assert_eq!(scan(&[("report.rs", "use crate::oci::Digest;\n")]).len(), 1);
    // Comments and test modules are not dependencies.
    assert!(
        scan(&[(
            "oci/mod.rs",
            "// see crate::store::X\n/// [`crate::store`]\n"
        )])
        .is_empty()
    );
    assert!(
        scan(&[(
            "oci/mod.rs",
            "fn a() {}\n#[cfg(test)]\nmod tests {\n    use crate::store::X;\n    fn b() { if x { y } }\n}\nuse crate::report::R;\n"
        )])
        .is_empty()
    );
    // Cycles.
    let cyc = scan(&[
        ("store/mod.rs", "use crate::oci::X;\n"),
        ("oci/mod.rs", "use crate::localfile::Y;\n"),
        ("config/mod.rs", "use crate::store::Z;\n"),
        ("store/cache.rs", "use crate::config::W;\n"),
    ]);
    assert!(
        cyc.iter().any(|v| v.starts_with("module cycle:")),
        "{cyc:?}"
    );
}
