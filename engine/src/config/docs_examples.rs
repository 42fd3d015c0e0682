//! The configuration examples in the documentation are configurations: every YAML block of
//! `README.md` and `docs/*.md` whose top-level keys are configuration sections parses with
//! [`Config::parse`] (unknown fields are refused, so a renamed field fails here, not in a user's
//! hands).

use std::path::{Path, PathBuf};

use super::Config;

/// The top-level keys of a configuration file.
const SECTIONS: [&str; 8] = [
    "verifiers",
    "executor",
    "stores",
    "policy",
    "quota",
    "tenants",
    "runtime",
    "revocation",
];

/// Every fenced `yaml` block of `text`, with the line it starts on.
fn yaml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut current {
            None if line.trim_start().starts_with("```yaml") => {
                current = Some((i + 1, String::new()))
            }
            Some(_) if line.trim_start().starts_with("```") => blocks.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// The top-level keys of a YAML block (lines that start with a key).
fn top_level_keys(block: &str) -> Vec<&str> {
    block
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '-']) && !l.trim().is_empty())
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.trim()))
        .collect()
}

fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn every_configuration_example_in_the_docs_parses() {
    let mut checked = 0;
    for file in documents() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, block) in yaml_blocks(&text) {
            let keys = top_level_keys(&block);
            if keys.is_empty() || !keys.iter().all(|k| SECTIONS.contains(k)) {
                continue; // a Kubernetes object, or a fragment of another format
            }
            let name = format!("{}:{line}", file.display());
            if let Err(e) = Config::parse(&block, false, Path::new(&name)) {
                panic!("the example at {name} is not a valid configuration: {e}\n{block}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} configuration examples found");
}

#[test]
fn blocks_and_keys_are_found() {
    let text = "a\n```yaml\nverifiers: []\n# c\nexecutor:\n  x: 1\n```\n```sh\nls\n```\n";
    let blocks = yaml_blocks(text);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].0, 2);
    assert_eq!(top_level_keys(&blocks[0].1), ["verifiers", "executor"]);
}
