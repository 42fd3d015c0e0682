//! Trust material by reference: the host reads the files a verifier config names and hands the
//! guest their contents (guests never touch the file system, invariant 2).
//!
//! A verifier declares which config fields are file references in the JSON Schema it publishes
//! (`metadata.config-schema`), with the custom keyword `x-vouch-file` on the field's schema:
//!
//! | `x-vouch-file`  | the field holds                    | the guest receives as `content`                    |
//! |-----------------|------------------------------------|----------------------------------------------------|
//! | `pem`           | a PEM file                          | its text (it must contain a `-----BEGIN` block)    |
//! | `pem-dir`       | a directory of `*.pub` / `*.pem`    | `{file name: PEM text}` (other files are ignored)  |
//! | `json`          | a JSON file                         | the parsed JSON value                              |
//! | `notation-home` | a notation configuration directory | `{trustPolicyFile, trustPolicy, trustStores}`      |
//!
//! [`resolve`] walks the schema alongside the config (`properties`, `additionalProperties`,
//! `items`) and replaces each file field's path by `{"file": "<path as given>", "content": …}`
//! before `check-config`, at load and on every reload; the verifier's config fingerprint (part of
//! every result cache key, invariant 4) is computed over that resolved JSON, so it covers the
//! files' contents. Paths are relative to the config file's directory. Every file is read through
//! [`crate::localfile`] (regular files only, [`MAX_CONFIG_FILE_BYTES`] each).
//!
//! An optional sibling keyword `x-vouch-inline` names the field that takes the same material
//! inline, so that PEM text (or a JSON object) put where a path is expected is reported as that
//! mistake, naming the right field.
//!
//! A notation home is read as the notation CLI (notation-go) reads it: `trustpolicy.oci.json`,
//! or `trustpolicy.json` when that does not exist; the trust stores the policy document
//! references, `truststore/x509/<type>/<name>/`, each file of which must hold at least one PEM
//! or DER certificate (every file counts, whatever its extension; a subdirectory or symbolic link
//! in a store is an error; a non-CA certificate must be self-signed; an empty store is an
//! error). Certificates reach the guest as PEM text, whatever their encoding on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::localfile::{self, LocalFileError, MAX_CONFIG_FILE_BYTES};

/// The schema keyword that marks a file reference.
pub const FILE_KEYWORD: &str = "x-vouch-file";
/// The schema keyword that names a file field's inline alternative.
pub const INLINE_KEYWORD: &str = "x-vouch-inline";
/// Cap on the files read for one directory reference (a key directory, a trust store).
pub const MAX_FILES_PER_DIR: usize = 1024;
/// The trust store types of a notation home, as notation-go names their directories.
const NOTATION_STORE_TYPES: [&str; 3] = ["ca", "signingAuthority", "tsa"];

/// Why a file reference of a verifier config could not be resolved. Every variant names the
/// config field; those about a file name the file.
#[derive(Debug, thiserror::Error)]
pub enum FileRefError {
    /// The file could not be read (missing, not a regular file, over the cap, I/O error).
    #[error("`{field}`: {source}")]
    Read {
        /// The config field.
        field: String,
        /// Why (names the file).
        source: LocalFileError,
    },
    /// A directory could not be listed.
    #[error("`{field}`: cannot read directory `{path}`: {source}")]
    Dir {
        /// The config field.
        field: String,
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file was read but its content is not what the field takes.
    #[error("`{field}`: `{path}`: {message}")]
    Content {
        /// The config field.
        field: String,
        /// The file (or directory).
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The field's value is not a path (PEM text or inline JSON where a path belongs, ...).
    #[error("`{field}` {message}")]
    NotAPath {
        /// The config field.
        field: String,
        /// What it holds instead and where that belongs.
        message: String,
    },
    /// The schema names a kind of file reference this engine does not know.
    #[error(
        "`{field}`: the verifier's config schema declares {FILE_KEYWORD} {kind:?}, which this engine does not support (supported: pem, pem-dir, json, notation-home)"
    )]
    UnknownKind {
        /// The config field.
        field: String,
        /// The unknown kind.
        kind: String,
    },
}

/// Replaces every file reference of `config` (as declared by the verifier's JSON Schema `schema`)
/// by `{"file": path, "content": …}`, reading the files relative to `base_dir`. `field` is the
/// config's own path for messages (e.g. `verifiers[0].config`). A schema that is not JSON
/// declares no file references.
pub fn resolve(
    schema: &str,
    config: &mut Value,
    base_dir: &Path,
    field: &str,
) -> Result<(), FileRefError> {
    let Ok(schema) = serde_json::from_str::<Value>(schema) else {
        tracing::warn!(
            field,
            "the verifier's config schema is not JSON; no file references resolved"
        );
        return Ok(());
    };
    walk(&schema, config, base_dir, field)
}

fn walk(schema: &Value, value: &mut Value, base: &Path, field: &str) -> Result<(), FileRefError> {
    if let Some(kind) = schema.get(FILE_KEYWORD).and_then(Value::as_str) {
        let inline = schema.get(INLINE_KEYWORD).and_then(Value::as_str);
        return resolve_one(kind, inline, value, base, field);
    }
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|s| s.is_object());
            for (key, v) in map.iter_mut() {
                if let Some(sub) = props.and_then(|p| p.get(key)).or(additional) {
                    walk(sub, v, base, &format!("{field}.{key}"))?;
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items").filter(|s| s.is_object()) {
                for (i, v) in items.iter_mut().enumerate() {
                    walk(sub, v, base, &format!("{field}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether `s` is PEM text rather than a path.
fn looks_like_pem(s: &str) -> bool {
    s.contains("-----BEGIN") || s.contains('\n')
}

fn resolve_one(
    kind: &str,
    inline: Option<&str>,
    value: &mut Value,
    base: &Path,
    field: &str,
) -> Result<(), FileRefError> {
    let instead = |what: &str| {
        let hint = match inline {
            Some(f) => format!("; give it inline in `{f}` instead"),
            None => String::new(),
        };
        FileRefError::NotAPath {
            field: field.to_owned(),
            message: format!(
                "takes a file path (relative to the config file) but holds {what}{hint}"
            ),
        }
    };
    let given = match value {
        Value::String(s) if looks_like_pem(s) => return Err(instead("PEM text")),
        Value::String(s) if s.trim().is_empty() => {
            return Err(FileRefError::NotAPath {
                field: field.to_owned(),
                message: "is empty; it takes a file path (relative to the config file)".into(),
            });
        }
        Value::String(s) => s.clone(),
        Value::Object(_) => return Err(instead("a JSON object")),
        other => return Err(instead(&format!("a JSON {}", json_type(other)))),
    };
    let path = base.join(&given);
    let content = match kind {
        "pem" => Value::String(read_pem(&path, field)?),
        "pem-dir" => Value::Object(read_pem_dir(&path, field)?),
        "json" => read_json(&path, field)?,
        "notation-home" => read_notation_home(&path, field)?,
        other => {
            return Err(FileRefError::UnknownKind {
                field: field.to_owned(),
                kind: other.to_owned(),
            });
        }
    };
    tracing::debug!(field, path = %path.display(), kind, "config file reference resolved");
    *value = serde_json::json!({"file": given, "content": content});
    Ok(())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn read(path: &Path, field: &str, what: &str) -> Result<Vec<u8>, FileRefError> {
    localfile::read_regular_file_capped(path, MAX_CONFIG_FILE_BYTES, what).map_err(|source| {
        FileRefError::Read {
            field: field.to_owned(),
            source,
        }
    })
}

fn content_err(field: &str, path: &Path, message: impl Into<String>) -> FileRefError {
    FileRefError::Content {
        field: field.to_owned(),
        path: path.to_owned(),
        message: message.into(),
    }
}

fn read_pem(path: &Path, field: &str) -> Result<String, FileRefError> {
    let bytes = read(path, field, "PEM file")?;
    let text = String::from_utf8(bytes)
        .map_err(|_| content_err(field, path, "is not a PEM file (not text; a DER file?)"))?;
    if !text.contains("-----BEGIN ") {
        return Err(content_err(
            field,
            path,
            "has no PEM block (`-----BEGIN …-----`); a PEM file is expected",
        ));
    }
    Ok(text)
}

/// Regular entries of `dir`, sorted by name, at most [`MAX_FILES_PER_DIR`].
fn list_dir(dir: &Path, field: &str) -> Result<Vec<(String, std::fs::FileType)>, FileRefError> {
    let dir_err = |source| FileRefError::Dir {
        field: field.to_owned(),
        path: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_err)? {
        let entry = entry.map_err(dir_err)?;
        let ty = entry.file_type().map_err(dir_err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((name, ty));
        if out.len() > MAX_FILES_PER_DIR {
            return Err(content_err(
                field,
                dir,
                format!("has more than {MAX_FILES_PER_DIR} entries"),
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn read_pem_dir(dir: &Path, field: &str) -> Result<Map<String, Value>, FileRefError> {
    let mut out = Map::new();
    for (name, _) in list_dir(dir, field)? {
        let lower = name.to_ascii_lowercase();
        if !(lower.ends_with(".pub") || lower.ends_with(".pem")) {
            continue;
        }
        let text = read_pem(&dir.join(&name), field)?;
        out.insert(name, Value::String(text));
    }
    if out.is_empty() {
        return Err(content_err(field, dir, "has no `*.pub` or `*.pem` files"));
    }
    Ok(out)
}

fn read_json(path: &Path, field: &str) -> Result<Value, FileRefError> {
    let bytes = read(path, field, "JSON file")?;
    serde_json::from_slice(&bytes)
        .map_err(|e| content_err(field, path, format!("is not valid JSON: {e}")))
}

/// The notation home at `home`: the trust policy document and the trust stores it references.
fn read_notation_home(home: &Path, field: &str) -> Result<Value, FileRefError> {
    if !home.is_dir() {
        return Err(content_err(
            field,
            home,
            "is not a directory; a notation home (the directory holding trustpolicy.json and truststore/) is expected",
        ));
    }
    // notation-go's LoadOCIDocument: the OCI document first, the legacy name when it is absent.
    let mut chosen = None;
    for name in ["trustpolicy.oci.json", "trustpolicy.json"] {
        match localfile::read_regular_file_capped(
            &home.join(name),
            MAX_CONFIG_FILE_BYTES,
            "trust policy",
        ) {
            Ok(bytes) => {
                chosen = Some((name, bytes));
                break;
            }
            Err(e) if e.is_not_found() => continue,
            Err(source) => {
                return Err(FileRefError::Read {
                    field: field.to_owned(),
                    source,
                });
            }
        }
    }
    let Some((policy_file, bytes)) = chosen else {
        return Err(content_err(
            field,
            home,
            "has neither trustpolicy.oci.json nor trustpolicy.json",
        ));
    };
    let policy_path = home.join(policy_file);
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| content_err(field, &policy_path, format!("is not valid JSON: {e}")))?;
    let mut stores: BTreeMap<&str, BTreeMap<String, Vec<Value>>> = BTreeMap::new();
    for (kind, name) in referenced_stores(&doc) {
        let Some(kind) = NOTATION_STORE_TYPES.iter().find(|k| **k == kind) else {
            continue; // the verifier reports the malformed reference
        };
        let dir = home.join("truststore").join("x509").join(kind).join(&name);
        let pems = read_trust_store(&dir, &format!("{kind}:{name}"), field)?;
        stores.entry(kind).or_default().insert(name, pems);
    }
    Ok(serde_json::json!({
        "trustPolicyFile": policy_file,
        "trustPolicy": doc,
        "trustStores": stores,
    }))
}

/// `type:name` references of every statement of a policy document, deduplicated; names that
/// notation would refuse (`[a-zA-Z0-9_.-]+`) are left to the verifier to report.
fn referenced_stores(doc: &Value) -> BTreeSet<(String, String)> {
    let statements = doc.get("trustPolicies").and_then(Value::as_array);
    statements
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("trustStores").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|s| s.split_once(':'))
        .filter(|(_, name)| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        })
        .map(|(k, n)| (k.to_owned(), n.to_owned()))
        .collect()
}

/// The certificates of one named trust store directory, as PEM text, following notation-go's
/// `x509TrustStore.GetCertificates`.
fn read_trust_store(dir: &Path, store: &str, field: &str) -> Result<Vec<Value>, FileRefError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(content_err(
                field,
                dir,
                format!("trust store {store} is referenced by the trust policy but does not exist"),
            ));
        }
        Err(source) => {
            return Err(FileRefError::Dir {
                field: field.to_owned(),
                path: dir.to_owned(),
                source,
            });
        }
        Ok(m) if !m.is_dir() => {
            return Err(content_err(
                field,
                dir,
                format!(
                    "trust store {store} is not a regular directory (symbolic links are not supported)"
                ),
            ));
        }
        Ok(_) => {}
    }
    let mut pems = Vec::new();
    for (name, ty) in list_dir(dir, field)? {
        let path = dir.join(&name);
        if ty.is_dir() || ty.is_symlink() {
            return Err(content_err(
                field,
                &path,
                format!(
                    "is in trust store {store} but is not a regular file (directories and symbolic links are not supported)"
                ),
            ));
        }
        let bytes = read(&path, field, "trust store certificate")?;
        let ders = certificates(&bytes).map_err(|m| content_err(field, &path, m))?;
        for der in ders {
            pems.push(Value::String(to_pem(&der)));
        }
    }
    if pems.is_empty() {
        return Err(content_err(
            field,
            dir,
            format!("trust store {store} has no x509 certificates"),
        ));
    }
    Ok(pems)
}

/// The DER certificates of a trust store file: every PEM block when it has any, else a
/// concatenation of DER certificates (notation-core-go's `ReadCertificateFile`). At least one;
/// a certificate that is not a CA must be self-signed.
fn certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut ders = Vec::new();
    let text = std::str::from_utf8(bytes).ok();
    if let Some(text) = text.filter(|t| t.contains("-----BEGIN")) {
        for (i, pem) in x509_parser::pem::Pem::iter_from_buffer(text.as_bytes()).enumerate() {
            let pem = pem.map_err(|e| format!("PEM block {i} cannot be decoded: {e}"))?;
            if pem.label != "CERTIFICATE" {
                return Err(format!(
                    "PEM block {i} is labelled {:?}; a trust store holds CERTIFICATE blocks only",
                    pem.label
                ));
            }
            ders.push(pem.contents);
        }
    } else {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (next, _) = x509_parser::parse_x509_certificate(rest).map_err(|e| {
                format!(
                    "is neither PEM nor a DER certificate (at byte {}): {e}",
                    bytes.len() - rest.len()
                )
            })?;
            ders.push(rest[..rest.len() - next.len()].to_vec());
            rest = next;
        }
    }
    if ders.is_empty() {
        return Err(
            "holds no certificate; every file in a trust store must have a PEM or DER certificate in it"
                .into(),
        );
    }
    for (i, der) in ders.iter().enumerate() {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("certificate {i} is not a valid X.509 certificate: {e}"))?;
        let is_ca = cert
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        if !is_ca && cert.verify_signature(None).is_err() {
            return Err(format!(
                "certificate {i} (subject {:?}) is not a CA certificate or a self-signed signing certificate",
                cert.subject().to_string()
            ));
        }
    }
    Ok(ders)
}

/// DER certificate as PEM text.
fn to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &str = r#"{"type":"object","properties":{
        "keys":{"type":"array","items":{"type":"object","properties":{
            "pemFile":{"type":"string","x-vouch-file":"pem","x-vouch-inline":"pem"}}}},
        "keysDir":{"type":"string","x-vouch-file":"pem-dir"},
        "root":{"x-vouch-file":"json","x-vouch-inline":"trustedRoot"},
        "home":{"type":"string","x-vouch-file":"notation-home"},
        "named":{"type":"object","additionalProperties":{"x-vouch-file":"pem"}}}}"#;

    const KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";

    fn ca_cert(name: &str) -> rcgen::Certificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap()
    }

    /// A leaf (not a CA) signed by a separate CA: not acceptable in a trust store.
    fn issued_leaf() -> rcgen::Certificate {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["leaf".into()]).unwrap();
        params.signed_by(&key, &issuer).unwrap()
    }

    fn resolve_in(dir: &Path, mut config: Value) -> Result<Value, FileRefError> {
        resolve(SCHEMA, &mut config, dir, "config")?;
        Ok(config)
    }

    fn write(dir: &Path, rel: &str, bytes: &[u8]) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    #[test]
    fn pem_json_and_directories_are_replaced_by_their_contents() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "cosign.pub", KEY_PEM.as_bytes());
        write(d.path(), "keys/a.pub", KEY_PEM.as_bytes());
        write(d.path(), "keys/b.PEM", KEY_PEM.as_bytes());
        write(d.path(), "keys/private.key", b"not read");
        write(d.path(), "root.json", br#"{"mediaType":"x"}"#);
        let out = resolve_in(
            d.path(),
            json!({"keys": [{"name": "k", "pemFile": "cosign.pub"}], "keysDir": "keys",
                   "root": "root.json", "named": {"x": "cosign.pub"}, "other": "cosign.pub"}),
        )
        .unwrap();
        assert_eq!(
            out["keys"][0]["pemFile"],
            json!({"file": "cosign.pub", "content": KEY_PEM})
        );
        assert_eq!(out["keys"][0]["name"], "k");
        assert_eq!(
            out["keysDir"]["content"],
            json!({"a.pub": KEY_PEM, "b.PEM": KEY_PEM})
        );
        assert_eq!(out["root"]["content"], json!({"mediaType": "x"}));
        assert_eq!(out["named"]["x"]["content"], KEY_PEM);
        assert_eq!(out["other"], "cosign.pub", "not a file field: untouched");
    }

    #[test]
    fn natural_mistakes_are_named() {
        let d = tempfile::tempdir().unwrap();
        let err = |config: Value| resolve_in(d.path(), config).unwrap_err().to_string();
        let e = err(json!({"keys": [{"pemFile": KEY_PEM}]}));
        assert!(
            e.contains("`config.keys[0].pemFile` takes a file path")
                && e.contains("holds PEM text")
                && e.contains("inline in `pem`"),
            "{e}"
        );
        let e = err(json!({"root": {"mediaType": "x"}}));
        assert!(
            e.contains("holds a JSON object; give it inline in `trustedRoot`"),
            "{e}"
        );
        let e = err(json!({"keys": [{"pemFile": "missing.pub"}]}));
        assert!(
            e.contains("missing.pub") && e.contains("does not exist"),
            "{e}"
        );
        write(d.path(), "key.der", &[0x30, 0x03, 0x02, 0x01, 0xff]);
        let e = err(json!({"keys": [{"pemFile": "key.der"}]}));
        assert!(e.contains("key.der") && e.contains("not a PEM file"), "{e}");
        write(d.path(), "plain.pub", b"hello");
        let e = err(json!({"keys": [{"pemFile": "plain.pub"}]}));
        assert!(e.contains("has no PEM block"), "{e}");
        write(d.path(), "bad.json", b"{");
        let e = err(json!({"root": "bad.json"}));
        assert!(
            e.contains("bad.json") && e.contains("not valid JSON"),
            "{e}"
        );
        std::fs::create_dir(d.path().join("empty")).unwrap();
        let e = err(json!({"keysDir": "empty"}));
        assert!(e.contains("has no `*.pub` or `*.pem` files"), "{e}");
        let e = err(json!({"keys": [{"pemFile": "empty"}]}));
        assert!(e.contains("a directory, not a regular file"), "{e}");
        let e = resolve(
            r#"{"properties":{"k":{"x-vouch-file":"zip"}}}"#,
            &mut json!({"k": "a"}),
            d.path(),
            "c",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("x-vouch-file \"zip\""), "{e}");
    }

    fn policy(stores: &[&str]) -> Value {
        json!({"version": "1.0", "trustPolicies": [{"name": "p", "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"}, "trustStores": stores,
            "trustedIdentities": ["*"]}]})
    }

    #[test]
    fn a_notation_home_is_read_as_notation_reads_it() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("notation");
        let a = ca_cert("a");
        let b = ca_cert("b");
        let c = ca_cert("c");
        let pem_ab = format!("{}{}", a.pem(), b.pem());
        write(
            &home,
            "trustpolicy.json",
            policy(&["ca:legacy"]).to_string().as_bytes(),
        );
        write(
            &home,
            "trustpolicy.oci.json",
            policy(&["ca:acme", "tsa:ts", "ca:bad name"])
                .to_string()
                .as_bytes(),
        );
        // PEM with two certificates, DER under any extension.
        write(&home, "truststore/x509/ca/acme/root.pem", pem_ab.as_bytes());
        write(&home, "truststore/x509/ca/acme/other.der", c.der());
        write(&home, "truststore/x509/tsa/ts/tsa.crt", a.der());
        // Not referenced: never read.
        write(&home, "truststore/x509/ca/unused/garbage.pem", b"garbage");
        let out = resolve_in(d.path(), json!({"home": "notation"})).unwrap();
        let content = &out["home"]["content"];
        assert_eq!(out["home"]["file"], "notation");
        assert_eq!(content["trustPolicyFile"], "trustpolicy.oci.json");
        assert_eq!(
            content["trustPolicy"],
            policy(&["ca:acme", "tsa:ts", "ca:bad name"])
        );
        let acme: Vec<&str> = content["trustStores"]["ca"]["acme"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(acme.len(), 3);
        assert_eq!(acme[0], to_pem(c.der()), "other.der sorts before root.pem");
        assert_eq!(acme[1], to_pem(a.der()));
        assert_eq!(acme[2], to_pem(b.der()));
        assert_eq!(content["trustStores"]["tsa"]["ts"][0], to_pem(a.der()));
        assert!(content["trustStores"]["ca"].get("unused").is_none());

        // Without the OCI document, the legacy one is read.
        std::fs::remove_file(home.join("trustpolicy.oci.json")).unwrap();
        write(&home, "truststore/x509/ca/legacy/r.pem", a.pem().as_bytes());
        let out = resolve_in(d.path(), json!({"home": "notation"})).unwrap();
        assert_eq!(
            out["home"]["content"]["trustPolicyFile"],
            "trustpolicy.json"
        );
        assert!(out["home"]["content"]["trustStores"]["ca"]["legacy"].is_array());
    }

    #[test]
    fn broken_notation_homes_are_refused_naming_the_path() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("h");
        let err = || {
            resolve_in(d.path(), json!({"home": "h"}))
                .unwrap_err()
                .to_string()
        };
        let refused = |needles: &[&str]| {
            let e = err();
            assert!(needles.iter().all(|n| e.contains(n)), "{e}");
        };
        std::fs::create_dir_all(&home).unwrap();
        assert!(err().contains("neither trustpolicy.oci.json nor trustpolicy.json"));
        write(&home, "trustpolicy.json", b"{nope");
        refused(&["trustpolicy.json", "not valid JSON"]);
        write(
            &home,
            "trustpolicy.json",
            policy(&["ca:acme"]).to_string().as_bytes(),
        );
        assert!(
            err().contains(
                "trust store ca:acme is referenced by the trust policy but does not exist"
            )
        );
        std::fs::create_dir_all(home.join("truststore/x509/ca/acme")).unwrap();
        assert!(err().contains("trust store ca:acme has no x509 certificates"));
        write(
            &home,
            "truststore/x509/ca/acme/x.pem",
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        );
        refused(&["x.pem", "CERTIFICATE blocks only"]);
        write(&home, "truststore/x509/ca/acme/x.pem", b"garbage");
        refused(&["x.pem", "neither PEM nor a DER certificate"]);
        write(
            &home,
            "truststore/x509/ca/acme/x.pem",
            issued_leaf().pem().as_bytes(),
        );
        let e = err();
        assert!(
            e.contains("not a CA certificate or a self-signed signing certificate"),
            "{e}"
        );
        std::fs::remove_file(home.join("truststore/x509/ca/acme/x.pem")).unwrap();
        std::fs::create_dir_all(home.join("truststore/x509/ca/acme/sub")).unwrap();
        refused(&["sub", "directories and symbolic links are not supported"]);
        std::fs::remove_dir(home.join("truststore/x509/ca/acme/sub")).unwrap();
        // trust-store-trust-policy.md: "Symlinks are not supported for the named store
        // directories or certificate files. Implementation MUST validate … and fail".
        let ca = ca_cert("linked");
        write(d.path(), "elsewhere/ca.pem", ca.pem().as_bytes());
        let link = home.join("truststore/x509/ca/acme/link.pem");
        std::os::unix::fs::symlink(d.path().join("elsewhere/ca.pem"), &link).unwrap();
        refused(&["link.pem", "symbolic links are not supported"]);
        std::fs::remove_file(&link).unwrap();
        std::fs::rename(
            home.join("truststore/x509/ca/acme"),
            d.path().join("real-acme"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            d.path().join("real-acme"),
            home.join("truststore/x509/ca/acme"),
        )
        .unwrap();
        let e = err();
        assert!(
            e.contains("trust store ca:acme is not a regular directory"),
            "{e}"
        );
        std::fs::remove_file(home.join("truststore/x509/ca/acme")).unwrap();
        std::fs::rename(
            d.path().join("real-acme"),
            home.join("truststore/x509/ca/acme"),
        )
        .unwrap();
        // A self-signed leaf (no CA flag) is acceptable, as in notation-go.
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["signer".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        write(
            &home,
            "truststore/x509/ca/acme/leaf.pem",
            leaf.pem().as_bytes(),
        );
        assert!(resolve_in(d.path(), json!({"home": "h"})).is_ok());
        write(&home, "plain", b"");
        let e = resolve_in(d.path(), json!({"home": "h/plain"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a directory; a notation home"), "{e}");
    }
}
