//! The schema verifier's configuration and JSON Schema validation.
//!
//! ```json
//! {
//!   "schemas": {
//!     "application/vnd.example.provenance+json": {"type": "object", "required": ["builder"]},
//!     "application/vnd.example.layer.v1+json": {"$ref": "#/$defs/x", "$defs": {"x": {}}}
//!   },
//!   "requireSchema": false,
//!   "maxBlobBytes": 8388608,
//!   "maxReportedErrors": 5
//! }
//! ```
//!
//! Keys are artifact types or layer media types, compared on their essence (before any `;`,
//! case-insensitive). Every schema is compiled when the config is parsed (so `check-config`
//! rejects bad schemas); the draft is taken from `$schema` (2020-12 when absent). Remote `$ref`s
//! are not resolved (no network): a schema that needs one does not compile.

use serde_json::Value;
use verifier_common::config::{parse_object, positive_u64, positive_usize};
use verifier_common::media_type::essence;

/// Default cap on one layer.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 8 << 20;
/// Default number of validation errors listed.
pub const DEFAULT_MAX_REPORTED_ERRORS: usize = 5;

/// One configured, compiled schema.
pub struct Schema {
    /// The key it was configured under, as written.
    pub key: String,
    /// The key's essence.
    essence: String,
    /// The compiled validator.
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// One validation error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer of the offending value in the document (`""` for the root).
    pub instance_path: String,
    /// JSON pointer of the schema keyword that failed.
    pub schema_path: String,
    /// What was wrong (without echoing the offending value).
    pub message: String,
}

impl Schema {
    /// Validates `doc`: every error, in the validator's order.
    pub fn validate(&self, doc: &Value) -> Vec<Problem> {
        self.validator
            .iter_errors(doc)
            .map(|e| Problem {
                instance_path: e.instance_path().to_string(),
                schema_path: e.schema_path().to_string(),
                message: e.masked().to_string(),
            })
            .collect()
    }
}

/// The parsed configuration.
#[derive(Debug)]
pub struct Config {
    /// The compiled schemas, in key order.
    pub schemas: Vec<Schema>,
    /// Fail when no schema applies to an artifact (default: pass through).
    pub require_schema: bool,
    /// Cap on one layer.
    pub max_blob_bytes: u64,
    /// How many validation errors the report lists.
    pub max_reported_errors: usize,
}

const KEYS: [&str; 4] = [
    "schemas",
    "requireSchema",
    "maxBlobBytes",
    "maxReportedErrors",
];

impl Config {
    /// Parses the config and compiles every schema; the error names the offending key.
    pub fn parse(text: &str) -> Result<Config, String> {
        let map = parse_object(text, &KEYS)?;
        let schemas = match map.get("schemas") {
            Some(Value::Object(s)) if !s.is_empty() => s,
            Some(Value::Object(_)) => return Err("`schemas` must not be empty".into()),
            Some(other) => {
                return Err(format!(
                    "`schemas` must be an object mapping artifact or media types to JSON Schemas, got {other}"
                ));
            }
            None => return Err("`schemas` is required".into()),
        };
        let mut compiled: Vec<Schema> = Vec::with_capacity(schemas.len());
        for (key, schema) in schemas {
            let essence = essence(key);
            if essence.is_empty() {
                return Err("`schemas` has an empty key".into());
            }
            if let Some(other) = compiled.iter().find(|s| s.essence == essence) {
                return Err(format!(
                    "`schemas` keys {:?} and {key:?} name the same type",
                    other.key
                ));
            }
            if !matches!(schema, Value::Object(_) | Value::Bool(_)) {
                return Err(format!(
                    "`schemas[{key:?}]` must be a JSON Schema object or boolean"
                ));
            }
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(schema)
                .map_err(|e| {
                    format!(
                        "`schemas[{key:?}]` is not a valid JSON Schema: {}",
                        e.masked()
                    )
                })?;
            compiled.push(Schema {
                key: key.clone(),
                essence,
                validator,
            });
        }
        let require_schema = match map.get("requireSchema") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(format!("`requireSchema` must be a boolean, got {other}")),
        };
        Ok(Config {
            schemas: compiled,
            require_schema,
            max_blob_bytes: positive_u64(&map, "maxBlobBytes")?.unwrap_or(DEFAULT_MAX_BLOB_BYTES),
            max_reported_errors: positive_usize(&map, "maxReportedErrors")?
                .unwrap_or(DEFAULT_MAX_REPORTED_ERRORS),
        })
    }

    /// The schema configured for a type (artifact type or media type), if any.
    pub fn schema_for(&self, media_type: &str) -> Option<&Schema> {
        let e = essence(media_type);
        self.schemas.iter().find(|s| s.essence == e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compiles_and_validates() {
        let c = Config::parse(
            &json!({"schemas": {"Application/X+JSON; v=1": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"}, "n": {"type": "integer", "maximum": 3},
                               "when": {"type": "string", "format": "date-time"}}}}})
            .to_string(),
        )
        .unwrap();
        assert!(!c.require_schema);
        assert_eq!(c.max_reported_errors, 5);
        let s = c.schema_for("application/x+json").expect("essence match");
        assert!(c.schema_for("application/y+json").is_none());
        assert!(s.validate(&json!({"name": "a", "n": 2})).is_empty());
        let p = s.validate(&json!({"n": 9, "when": "yesterday"}));
        assert_eq!(p.len(), 3, "{p:?}");
        let paths: Vec<&str> = p.iter().map(|p| p.instance_path.as_str()).collect();
        assert!(paths.contains(&""), "{paths:?}");
        assert!(paths.contains(&"/n"), "{paths:?}");
        assert!(paths.contains(&"/when"), "{paths:?}");
        assert!(
            p.iter().any(|p| p.schema_path == "/properties/n/maximum"),
            "{p:?}"
        );
    }

    #[test]
    fn bad_configs_name_the_problem() {
        for (text, needle) in [
            ("nope", "not JSON"),
            ("[]", "JSON object"),
            ("{}", "`schemas` is required"),
            (r#"{"schemas": {}}"#, "must not be empty"),
            (r#"{"schemas": []}"#, "must be an object"),
            (r#"{"schemas": {"a/b": 5}}"#, "object or boolean"),
            (
                r#"{"schemas": {"a/b": {"type": "nonsense"}}}"#,
                "not a valid JSON Schema",
            ),
            (
                r#"{"schemas": {"a/b": {"minimum": "x"}}}"#,
                "not a valid JSON Schema",
            ),
            (
                r#"{"schemas": {"a/b": {"$ref": "https://example.com/s.json"}}}"#,
                "not a valid JSON Schema",
            ),
            (r#"{"schemas": {"a/b": {}, "A/B": {}}}"#, "same type"),
            (
                r#"{"schemas": {"a/b": {}}, "requireSchema": "yes"}"#,
                "requireSchema",
            ),
            (
                r#"{"schemas": {"a/b": {}}, "extra": 1}"#,
                "unknown config key `extra`",
            ),
            (
                r#"{"schemas": {"a/b": {}}, "maxBlobBytes": 0}"#,
                "maxBlobBytes",
            ),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
