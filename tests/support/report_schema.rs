//! `docs/schemas/verify-report.schema.json`, the JSON Schema of `vouch verify --output json`
//! and of `/vouch/v1/verify` values, applied to real outputs.
#![allow(dead_code)] // each test binary uses part of it

use serde_json::Value;

/// The checked-in schema, compiled.
pub fn validator() -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/schemas/verify-report.schema.json");
    let text = std::fs::read_to_string(&path).expect("the report schema is checked in");
    let schema: Value = serde_json::from_str(&text).expect("the report schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the report schema is a valid 2020-12 schema")
}

/// Panics, listing every violation, unless `value` is valid under the schema.
pub fn assert_valid(value: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not valid under docs/schemas/verify-report.schema.json:\n{}\n{value:#}",
        errors.join("\n")
    );
}
