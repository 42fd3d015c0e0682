//! The parts of an OCI image manifest a verifier needs: layers and annotations.

use serde_json::Value;

/// One layer descriptor of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Index in `layers[]`.
    pub index: usize,
    /// Its media type.
    pub media_type: String,
    /// Its digest (`algorithm:hex`).
    pub digest: String,
    /// Its declared size in bytes.
    pub size: u64,
}

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The manifest's `artifactType`, if any.
    pub artifact_type: Option<String>,
    /// Its layers, in order.
    pub layers: Vec<Layer>,
    /// Its annotations.
    pub annotations: Vec<(String, String)>,
}

impl Manifest {
    /// Parses manifest bytes; the error says which field is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("manifest is not JSON: {e}"))?;
        let Value::Object(m) = v else {
            return Err("manifest is not a JSON object".into());
        };
        let layers = match m.get("layers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(index, l)| {
                    let s = |key: &str| {
                        l.get(key)
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .ok_or_else(|| format!("manifest layers[{index}].{key} is missing or not a string"))
                    };
                    Ok(Layer {
                        index,
                        media_type: s("mediaType")?,
                        digest: s("digest")?,
                        size: l.get("size").and_then(Value::as_u64).ok_or_else(|| {
                            format!("manifest layers[{index}].size is missing or not an unsigned integer")
                        })?,
                    })
                })
                .collect::<Result<_, String>>()?,
            Some(_) => return Err("manifest `layers` is not an array".into()),
        };
        let annotations = match m.get("annotations") {
            Some(Value::Object(a)) => a
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Manifest {
            artifact_type: m
                .get("artifactType")
                .and_then(Value::as_str)
                .map(str::to_owned),
            layers,
            annotations,
        })
    }

    /// The media types of its layers, in order (for messages naming what was found).
    pub fn media_types(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.media_type.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_layers_and_annotations() {
        let m = Manifest::parse(
            br#"{"schemaVersion":2,"artifactType":"a/b","layers":[{"mediaType":"x/y","digest":"sha256:00","size":3}],
                "annotations":{"k":"v"}}"#,
        )
        .unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("a/b"));
        assert_eq!(m.layers[0].media_type, "x/y");
        assert_eq!(m.layers[0].size, 3);
        assert_eq!(m.annotations, [("k".to_string(), "v".to_string())]);
        assert_eq!(m.media_types(), ["x/y"]);
    }

    #[test]
    fn malformed_manifests_are_errors() {
        assert!(Manifest::parse(b"nope").is_err());
        assert!(Manifest::parse(b"[]").is_err());
        assert!(Manifest::parse(br#"{"layers":{}}"#).is_err());
        let e = Manifest::parse(br#"{"layers":[{"mediaType":"x","digest":"d","size":-1}]}"#)
            .unwrap_err();
        assert!(e.contains("layers[0].size"), "{e}");
    }
}
