//! SBOM documents: SPDX 2.2/2.3 JSON and CycloneDX 1.4–1.6 JSON, reduced to a list of packages.
//!
//! Errors carry the JSON path (`$.packages[3].name`) of what was wrong.
//!
//! SPDX: each `packages[]` entry gives `name`, `versionInfo`, the purl from the first
//! `externalRefs[]` entry with `referenceType: "purl"`, and its license: `licenseConcluded`
//! unless it is absent or `NOASSERTION`, then `licenseDeclared`. `NOASSERTION`, `NONE` or no
//! license at all make the license unknown.
//!
//! CycloneDX: every `components[]` entry, nested `components` included (depth-first), gives
//! `name`, `version`, `purl` and its license: the `licenses[]` entries (`{license: {id}}` parsed as
//! an SPDX id, `{license: {name}}` taken as a free-text name, `{expression}` parsed), all applying
//! together (AND). No `licenses` makes the license unknown. `metadata.component` (the described
//! artifact itself) is not a package.

use std::fmt;

use serde_json::{Map, Value};
use verifier_common::media_type::essence;

use crate::license::{Expr, Term};
use crate::purl::Purl;

/// Deepest nesting of CycloneDX `components` followed.
const MAX_COMPONENT_DEPTH: usize = 32;

/// Media type of SPDX JSON.
pub const SPDX_JSON: &str = "application/spdx+json";
/// Media type of CycloneDX JSON (may carry a `; version=1.x` parameter).
pub const CYCLONEDX_JSON: &str = "application/vnd.cyclonedx+json";

/// The SBOM formats understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// SPDX JSON.
    Spdx,
    /// CycloneDX JSON.
    CycloneDx,
}

impl Format {
    /// The format of a media type (parameters such as `; version=1.5` are ignored).
    pub fn from_media_type(media_type: &str) -> Option<Format> {
        match essence(media_type).as_str() {
            SPDX_JSON => Some(Format::Spdx),
            CYCLONEDX_JSON => Some(Format::CycloneDx),
            _ => None,
        }
    }
}

/// A malformed SBOM: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomError {
    /// JSON path of the offending value (`$` for the document).
    pub path: String,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for SbomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn err(path: &str, message: impl Into<String>) -> SbomError {
    SbomError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// What is known of a package's license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum License {
    /// No usable license information; the payload says what was found (`NOASSERTION`, ...).
    Unknown(&'static str),
    /// A license expression.
    Known(Expr),
}

/// One package (SPDX) or component (CycloneDX).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// JSON path of the package in its document.
    pub path: String,
    /// Package name.
    pub name: String,
    /// Package version, if given.
    pub version: Option<String>,
    /// Package URL, if given and well formed.
    pub purl: Option<Purl>,
    /// License.
    pub license: License,
}

/// A parsed SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sbom {
    /// Format and version, e.g. `SPDX-2.3` or `CycloneDX-1.5`.
    pub format: String,
    /// The packages it lists.
    pub packages: Vec<Package>,
}

/// Parses an SBOM of `format` from raw bytes.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Sbom, SbomError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| err("$", format!("not valid JSON: {e}")))?;
    parse_value(format, &value)
}

/// Parses an SBOM of `format` already read as JSON (e.g. an attestation's predicate).
pub fn parse_value(format: Format, value: &Value) -> Result<Sbom, SbomError> {
    let Value::Object(root) = value else {
        return Err(err("$", "the document must be a JSON object"));
    };
    match format {
        Format::Spdx => parse_spdx(root),
        Format::CycloneDx => parse_cyclonedx(root),
    }
}

fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, SbomError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(err(&format!("{path}.{key}"), "expected a string")),
    }
}

fn req_str<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, SbomError> {
    opt_str(obj, key, path)?
        .ok_or_else(|| err(&format!("{path}.{key}"), "required string is missing"))
}

fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a [Value], SbomError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(err(&format!("{path}.{key}"), "expected an array")),
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, SbomError> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(err(path, "expected an object")),
    }
}

fn expression(text: &str, path: &str) -> Result<Expr, SbomError> {
    Expr::parse(text).map_err(|e| {
        err(
            path,
            format!("invalid SPDX license expression {text:?}: {e}"),
        )
    })
}

fn purl(text: &str, path: &str) -> Result<Purl, SbomError> {
    Purl::parse(text).map_err(|e| err(path, e))
}

fn parse_spdx(root: &Map<String, Value>) -> Result<Sbom, SbomError> {
    let version = req_str(root, "spdxVersion", "$")?;
    if !matches!(version, "SPDX-2.2" | "SPDX-2.3") {
        return Err(err(
            "$.spdxVersion",
            format!("unsupported version {version:?} (expected SPDX-2.2 or SPDX-2.3)"),
        ));
    }
    let mut packages = Vec::new();
    for (i, p) in opt_array(root, "packages", "$")?.iter().enumerate() {
        let path = format!("$.packages[{i}]");
        let obj = object(p, &path)?;
        let name = req_str(obj, "name", &path)?;
        let version = opt_str(obj, "versionInfo", &path)?;
        let mut found = None;
        for (j, r) in opt_array(obj, "externalRefs", &path)?.iter().enumerate() {
            let rpath = format!("{path}.externalRefs[{j}]");
            let r = object(r, &rpath)?;
            let kind = req_str(r, "referenceType", &rpath)?;
            let locator = req_str(r, "referenceLocator", &rpath)?;
            if kind == "purl" && found.is_none() {
                found = Some(purl(locator, &format!("{rpath}.referenceLocator"))?);
            }
        }
        let concluded = opt_str(obj, "licenseConcluded", &path)?;
        let declared = opt_str(obj, "licenseDeclared", &path)?;
        let (field, text) = match (concluded, declared) {
            (Some(c), _) if c.trim() != "NOASSERTION" => ("licenseConcluded", Some(c)),
            (_, Some(d)) => ("licenseDeclared", Some(d)),
            (c, None) => ("licenseConcluded", c),
        };
        let license = match text.map(str::trim) {
            None => License::Unknown("no license"),
            Some("NOASSERTION") => License::Unknown("NOASSERTION"),
            Some("NONE") => License::Unknown("NONE"),
            Some(t) => License::Known(expression(t, &format!("{path}.{field}"))?),
        };
        packages.push(Package {
            path,
            name: name.to_owned(),
            version: version.map(str::to_owned),
            purl: found,
            license,
        });
    }
    Ok(Sbom {
        format: version.to_owned(),
        packages,
    })
}

fn parse_cyclonedx(root: &Map<String, Value>) -> Result<Sbom, SbomError> {
    let format = req_str(root, "bomFormat", "$")?;
    if format != "CycloneDX" {
        return Err(err(
            "$.bomFormat",
            format!("expected \"CycloneDX\", got {format:?}"),
        ));
    }
    let version = req_str(root, "specVersion", "$")?;
    if !matches!(version, "1.4" | "1.5" | "1.6") {
        return Err(err(
            "$.specVersion",
            format!("unsupported CycloneDX version {version:?} (expected 1.4, 1.5 or 1.6)"),
        ));
    }
    let mut packages = Vec::new();
    // Depth-first, in document order, without recursion.
    let mut stack: Vec<(String, &Value, usize)> = opt_array(root, "components", "$")?
        .iter()
        .enumerate()
        .rev()
        .map(|(i, c)| (format!("$.components[{i}]"), c, 1))
        .collect();
    while let Some((path, c, depth)) = stack.pop() {
        let obj = object(c, &path)?;
        let name = req_str(obj, "name", &path)?;
        let version = opt_str(obj, "version", &path)?;
        let found = opt_str(obj, "purl", &path)?
            .map(|p| purl(p, &format!("{path}.purl")))
            .transpose()?;
        let mut parts = Vec::new();
        for (j, l) in opt_array(obj, "licenses", &path)?.iter().enumerate() {
            let lpath = format!("{path}.licenses[{j}]");
            let l = object(l, &lpath)?;
            if let Some(e) = opt_str(l, "expression", &lpath)? {
                parts.push(expression(e, &format!("{lpath}.expression"))?);
            } else if let Some(lic) = l.get("license") {
                let inner = format!("{lpath}.license");
                let lic = object(lic, &inner)?;
                if let Some(id) = opt_str(lic, "id", &inner)? {
                    let e = expression(id, &format!("{inner}.id"))?;
                    if !matches!(e, Expr::License(_)) {
                        return Err(err(
                            &format!("{inner}.id"),
                            format!("expected one SPDX license id, got the expression {id:?}"),
                        ));
                    }
                    parts.push(e);
                } else if let Some(name) = opt_str(lic, "name", &inner)? {
                    parts.push(Expr::License(Term::named(name)));
                } else {
                    return Err(err(&inner, "a license needs an `id` or a `name`"));
                }
            } else {
                return Err(err(&lpath, "expected `license` or `expression`"));
            }
        }
        let license = match Expr::all(parts) {
            Some(e) => License::Known(e),
            None => License::Unknown("no license"),
        };
        let children = opt_array(obj, "components", &path)?;
        if !children.is_empty() {
            if depth >= MAX_COMPONENT_DEPTH {
                return Err(err(
                    &format!("{path}.components"),
                    format!("components nested deeper than {MAX_COMPONENT_DEPTH}"),
                ));
            }
            for (k, child) in children.iter().enumerate().rev() {
                stack.push((format!("{path}.components[{k}]"), child, depth + 1));
            }
        }
        packages.push(Package {
            path,
            name: name.to_owned(),
            version: version.map(str::to_owned),
            purl: found,
            license,
        });
    }
    Ok(Sbom {
        format: format!("CycloneDX-{version}"),
        packages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spdx(packages: &str) -> Result<Sbom, SbomError> {
        let doc = format!(
            r#"{{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT",
                "name":"x","packages":{packages}}}"#
        );
        parse(Format::Spdx, doc.as_bytes())
    }

    fn cdx(components: &str) -> Result<Sbom, SbomError> {
        let doc = format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":{components}}}"#
        );
        parse(Format::CycloneDx, doc.as_bytes())
    }

    #[test]
    fn media_types_map_to_formats() {
        assert_eq!(
            Format::from_media_type("application/spdx+json"),
            Some(Format::Spdx)
        );
        assert_eq!(
            Format::from_media_type("application/vnd.cyclonedx+json; version=1.5"),
            Some(Format::CycloneDx)
        );
        assert_eq!(
            Format::from_media_type("application/vnd.cyclonedx+xml"),
            None
        );
    }

    #[test]
    fn spdx_packages_licenses_and_purls() {
        let s = spdx(
            r#"[{"name":"openssl","versionInfo":"3.0.11","licenseConcluded":"NOASSERTION",
                 "licenseDeclared":"Apache-2.0",
                 "externalRefs":[{"referenceCategory":"SECURITY","referenceType":"cpe23Type","referenceLocator":"cpe:2.3:a:x"},
                                 {"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:deb/debian/openssl@3.0.11"}]},
                {"name":"zlib","licenseConcluded":"Zlib OR MIT","licenseDeclared":"GPL-3.0-only"},
                {"name":"none","licenseConcluded":"NONE"},
                {"name":"bare"}]"#,
        )
        .unwrap();
        assert_eq!(s.format, "SPDX-2.3");
        assert_eq!(s.packages.len(), 4);
        let p = &s.packages[0];
        assert_eq!(p.version.as_deref(), Some("3.0.11"));
        assert_eq!(p.purl.as_ref().unwrap().path, "debian/openssl");
        assert_eq!(
            p.license,
            License::Known(Expr::parse("Apache-2.0").unwrap())
        );
        assert_eq!(
            s.packages[1].license,
            License::Known(Expr::parse("Zlib OR MIT").unwrap()),
            "licenseConcluded wins over licenseDeclared"
        );
        assert_eq!(s.packages[2].license, License::Unknown("NONE"));
        assert_eq!(s.packages[3].license, License::Unknown("no license"));
        assert_eq!(s.packages[3].path, "$.packages[3]");
        assert!(spdx("[]").unwrap().packages.is_empty());
    }

    #[test]
    fn cyclonedx_nested_components_and_license_forms() {
        let s = cdx(
            r#"[{"type":"library","name":"a","version":"1","purl":"pkg:npm/a@1",
                 "licenses":[{"license":{"id":"MIT"}},{"license":{"name":"Custom License"}}],
                 "components":[{"name":"a-child","licenses":[{"expression":"Apache-2.0 OR GPL-2.0+"}]}]},
                {"name":"b"}]"#,
        )
        .unwrap();
        assert_eq!(s.format, "CycloneDX-1.5");
        let names: Vec<&str> = s.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "a-child", "b"]);
        assert_eq!(s.packages[1].path, "$.components[0].components[0]");
        let License::Known(e) = &s.packages[0].license else {
            panic!()
        };
        assert_eq!(e.to_string(), "MIT AND Custom License");
        assert_eq!(s.packages[2].license, License::Unknown("no license"));
    }

    #[test]
    fn malformed_documents_name_the_json_path() {
        let cases: Vec<(Result<Sbom, SbomError>, &str)> = vec![
            (parse(Format::Spdx, b"{not json"), "$"),
            (parse(Format::Spdx, b"[]"), "$"),
            (parse(Format::Spdx, br#"{"packages":[]}"#), "$.spdxVersion"),
            (
                parse(Format::Spdx, br#"{"spdxVersion":"SPDX-3.0"}"#),
                "$.spdxVersion",
            ),
            (spdx(r#"{}"#), "$.packages"),
            (
                spdx(r#"[{"name":"a"},{"versionInfo":"1"}]"#),
                "$.packages[1].name",
            ),
            (
                spdx(r#"[{"name":"a","versionInfo":1}]"#),
                "$.packages[0].versionInfo",
            ),
            (
                spdx(r#"[{"name":"a","licenseConcluded":"MIT AND"}]"#),
                "$.packages[0].licenseConcluded",
            ),
            (
                spdx(r#"[{"name":"a","licenseConcluded":"NOASSERTION","licenseDeclared":"(MIT"}]"#),
                "$.packages[0].licenseDeclared",
            ),
            (
                spdx(
                    r#"[{"name":"a","externalRefs":[{"referenceType":"purl","referenceLocator":"npm/a"}]}]"#,
                ),
                "$.packages[0].externalRefs[0].referenceLocator",
            ),
            (spdx(r#"[7]"#), "$.packages[0]"),
            (
                parse(
                    Format::CycloneDx,
                    br#"{"bomFormat":"SPDX","specVersion":"1.5"}"#,
                ),
                "$.bomFormat",
            ),
            (
                parse(
                    Format::CycloneDx,
                    br#"{"bomFormat":"CycloneDX","specVersion":"1.2"}"#,
                ),
                "$.specVersion",
            ),
            (
                cdx(r#"[{"name":"a","components":[{"name":"b","licenses":[{"license":{}}]}]}]"#),
                "$.components[0].components[0].licenses[0].license",
            ),
            (
                cdx(r#"[{"name":"a","licenses":[{"license":{"id":"MIT OR ISC"}}]}]"#),
                "$.components[0].licenses[0].license.id",
            ),
            (
                cdx(r#"[{"name":"a","licenses":[{"other":1}]}]"#),
                "$.components[0].licenses[0]",
            ),
            (
                cdx(r#"[{"name":"a","purl":"bad"}]"#),
                "$.components[0].purl",
            ),
            (cdx(r#"[{"version":"1"}]"#), "$.components[0].name"),
        ];
        for (res, path) in cases {
            let e = res.expect_err(path);
            assert_eq!(e.path, path, "{e}");
        }
    }

    #[test]
    fn deep_component_nesting_is_an_error_not_a_crash() {
        let mut doc = String::from(r#"{"name":"leaf"}"#);
        for _ in 0..40 {
            doc = format!(r#"{{"name":"n","components":[{doc}]}}"#);
        }
        let e = cdx(&format!("[{doc}]")).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{e}");
    }
}
