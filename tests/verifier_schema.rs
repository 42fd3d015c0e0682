//! The shipped `schema` verifier (guest-verifiers/schema) as a real wasm component, run by the
//! runtime over OCI layouts: valid documents pass, schema violations fail with JSON pointers,
//! the no-schema pass-through and `requireSchema`, malformed input giving a failed report (never
//! a trap), and bad schemas rejected by `check-config`.

#[allow(dead_code)] // only `verifier` is used here
#[path = "support/guests.rs"]
mod guests;
#[allow(dead_code)] // shared with other test binaries that use all of it
#[path = "support/layout.rs"]
mod layout;
#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/verifier_case.rs"]
mod verifier_case;

use serde_json::{Value, json};
use tokio::sync::OnceCell;
use vouch::runtime::{Runtime, RuntimeError, Verifier};

use verifier_case::{case, verify, verify_raw};

const PROVENANCE: &str = "application/vnd.example.provenance+json";
const LAYER: &str = "application/vnd.example.provenance.layer.v1+json";

static SHARED: OnceCell<(Runtime, Verifier)> = OnceCell::const_new();

async fn setup() -> (Runtime, Verifier) {
    verifier_case::shared(&SHARED, "schema").await
}

fn provenance_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["builder", "materials"],
        "properties": {
            "builder": {"type": "object", "required": ["id"],
                        "properties": {"id": {"type": "string", "format": "uri"}}},
            "materials": {"type": "array", "items": {"$ref": "#/$defs/material"}},
            "buildFinishedOn": {"type": "string", "format": "date-time"}
        },
        "$defs": {"material": {"type": "object", "required": ["uri", "digest"],
                               "properties": {"digest": {"type": "object",
                                   "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]+$"}}}}}
    })
}

fn config() -> Value {
    json!({"schemas": {PROVENANCE: provenance_schema()}})
}

fn good_doc() -> Vec<u8> {
    json!({
        "builder": {"id": "https://ci.example.com/builder"},
        "materials": [{"uri": "git+https://example.com/repo", "digest": {"sha1": "abc123"}}],
        "buildFinishedOn": "2024-05-01T12:00:00Z"
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn valid_documents_pass_by_artifact_or_layer_type() {
    let (rt, v) = setup().await;
    assert_eq!(v.metadata().name, "schema");
    assert_eq!(v.metadata().artifact_types, ["*"]);
    assert!(v.metadata().handles(PROVENANCE));

    let c = case(PROVENANCE, &[("application/json", &good_doc())]);
    let r = verify(&rt, &v, &c, &config()).await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.extensions["validated"], true);
    assert_eq!(r.extensions["layers"], 1);
    assert_eq!(r.extensions["errors"], 0);

    // Keyed by the layer media type (with a parameter on the layer), under another artifact type.
    let c = case(
        "application/vnd.other",
        &[(&format!("{LAYER}; charset=utf-8"), &good_doc())],
    );
    let by_layer = json!({"schemas": {LAYER: provenance_schema()}});
    let r = verify(&rt, &v, &c, &by_layer).await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.extensions["layers"], 1);
}

#[tokio::test]
async fn violations_fail_with_json_pointers() {
    let (rt, v) = setup().await;
    let bad = json!({
        "builder": {"id": 7},
        "materials": [{"uri": "a", "digest": {"sha256": "NOT-HEX"}}, {"digest": {}}],
        "buildFinishedOn": "yesterday"
    })
    .to_string();
    let c = case(PROVENANCE, &[("application/json", bad.as_bytes())]);
    let r = verify(&rt, &v, &c, &config()).await;
    assert!(!r.is_success);
    assert_eq!(r.error_reason.as_deref(), Some("SCHEMA_VIOLATION"));
    assert_eq!(r.extensions["errors"], 4, "{r:?}");
    let details = r.extensions["errorDetails"].as_array().unwrap();
    let paths: Vec<&str> = details
        .iter()
        .map(|d| d["instancePath"].as_str().unwrap())
        .collect();
    for p in [
        "/builder/id",
        "/materials/0/digest/sha256",
        "/materials/1",
        "/buildFinishedOn",
    ] {
        assert!(paths.contains(&p), "{p} not in {paths:?}");
    }
    assert_eq!(details[0]["schema"], PROVENANCE);
    assert!(r.message.contains("4 schema error(s)"), "{}", r.message);

    // Only the first `maxReportedErrors` are listed; the count stays exact.
    let mut capped = config();
    capped["maxReportedErrors"] = json!(2);
    let r = verify(&rt, &v, &c, &capped).await;
    assert_eq!(r.extensions["errors"], 4);
    assert_eq!(r.extensions["errorDetails"].as_array().unwrap().len(), 2);

    // The default lists five.
    let many: Vec<Value> = (0..10).map(|_| json!({"uri": 1})).collect();
    let doc = json!({"builder": {"id": "https://ci.example.com"}, "materials": many}).to_string();
    let c = case(PROVENANCE, &[("application/json", doc.as_bytes())]);
    let r = verify(&rt, &v, &c, &config()).await;
    assert_eq!(r.extensions["errors"], 10);
    assert_eq!(r.extensions["errorDetails"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn no_schema_passes_through_unless_required() {
    let (rt, v) = setup().await;
    let c = case("application/vnd.unrelated", &[("application/json", b"{}")]);
    let r = verify(&rt, &v, &c, &config()).await;
    assert!(r.is_success, "{r:?}");
    assert_eq!(r.message, "no schema for application/vnd.unrelated");
    assert_eq!(r.extensions["validated"], false);

    let mut strict = config();
    strict["requireSchema"] = json!(true);
    let r = verify(&rt, &v, &c, &strict).await;
    assert_eq!(r.error_reason.as_deref(), Some("NO_SCHEMA"));
}

#[tokio::test]
async fn malformed_input_fails_without_trapping() {
    let (rt, v) = setup().await;
    let c = case(PROVENANCE, &[("application/json", b"{\"builder\": ")]);
    let r = verify(&rt, &v, &c, &config()).await;
    assert_eq!(r.error_reason.as_deref(), Some("INVALID_JSON"), "{r:?}");
    assert!(r.message.contains("not JSON"), "{}", r.message);

    let c = case(PROVENANCE, &[]);
    let r = verify(&rt, &v, &c, &config()).await;
    assert_eq!(r.error_reason.as_deref(), Some("NO_LAYERS"), "{r:?}");

    let c = case(PROVENANCE, &[("application/json", &good_doc())]);
    let mut small = config();
    small["maxBlobBytes"] = json!(10);
    let r = verify(&rt, &v, &c, &small).await;
    assert_eq!(r.error_reason.as_deref(), Some("TOO_LARGE"), "{r:?}");

    // A deeply nested document is refused by the JSON parser, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let c = case(PROVENANCE, &[("application/json", deep.as_bytes())]);
    let r = verify(&rt, &v, &c, &config()).await;
    assert_eq!(r.error_reason.as_deref(), Some("INVALID_JSON"), "{r:?}");
}

#[tokio::test]
async fn bad_schemas_are_rejected_by_check_config() {
    let (rt, v) = setup().await;
    for (config, needle) in [
        (json!({}), "`schemas` is required"),
        (
            json!({"schemas": {PROVENANCE: {"type": "nonsense"}}}),
            "not a valid JSON Schema",
        ),
        (
            json!({"schemas": {PROVENANCE: {"pattern": "("}}}),
            "not a valid JSON Schema",
        ),
        (
            json!({"schemas": {PROVENANCE: {"$ref": "https://example.com/remote.json"}}}),
            "not a valid JSON Schema",
        ),
        (json!({"schemas": {PROVENANCE: 3}}), "object or boolean"),
    ] {
        match rt.check_config(&v, &config.to_string()).await {
            Err(RuntimeError::Config { name, reason }) => {
                assert_eq!(name, "schema");
                assert!(reason.contains(needle), "{config}: {reason}");
            }
            other => panic!("{config}: expected a config error, got {other:?}"),
        }
    }
    let c = case(PROVENANCE, &[("application/json", &good_doc())]);
    let r = verify_raw(&rt, &v, &c, r#"{"schemas": {"a/b": {"type": 1}}}"#).await;
    assert_eq!(r.error_reason.as_deref(), Some("CONFIG_INVALID"));
}
