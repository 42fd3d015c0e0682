//! Ratify's Gatekeeper ConstraintTemplates (`examples/kubernetes/ratify-templates/`, written from
//! Ratify's published `library/` with only the provider name changed) evaluated with regorus
//! against real `vouch serve` answers: the demo pushed to a real `docker-registry`, the shipped
//! wasm verifiers, the server in-process, and Gatekeeper's handling of a provider response
//! (`external_data` → `{responses: [[key, value]], errors: [[key, error]], system_error}`:
//! items with an error go to `errors`, the others to `responses`).
//!
//! Ratify's issue: "Every template Ratify ships works unchanged except for the provider name …
//! each template admits and denies exactly as it does with Ratify." The expected decisions below
//! are Ratify v1's for the same images under a config policy, derived from Ratify's executor
//! (`pkg/executor/core`): a subject without any verifier report is an item error
//! (`NO_VERIFIER_REPORT`), an unresolvable subject is an item error, and a report whose nested
//! verification failed is itself failed ("nested verification failed").

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{Value, json};
use support::demo::{REPO, examples, push_demo};
use support::registry::Registry;
use support::served::Served;
use vouch::config::Config;
use vouch::oci::layout::REF_NAME_ANNOTATION;
use vouch::oci::{Descriptor, Digest, Manifest, OciLayout};
use vouch::server::metrics::Metrics;
use vouch::server::tenants::TenantSet;
use vouch::server::{self, API_VERSION, SharedTenants};

/// Where the templates are.
fn templates_dir() -> PathBuf {
    examples().join("kubernetes/ratify-templates")
}

/// The repository of the image whose SBOM signature was tampered with.
const NESTED_REPO: &str = "nested";
/// The namespace the tenant of the routing test owns.
const TENANT_NS: &str = "team-b";
/// The namespace of the tenant whose policy is a Ratify Rego policy.
const RATIFY_POLICY_NS: &str = "team-c";
/// A policy in Ratify's documented style (`docs/reference/crds/policies.md`), Rego v0.
const RATIFY_POLICY: &str = include_str!("../examples/ratify-policy.rego");
/// The issuer of the demo's notation signing certificate, as Ratify's `extensions.Issuer`.
const DEMO_ISSUER: &str = "CN=Vouch Test Root,O=Vouch Test,ST=WA,C=US";

/// The demo's configuration with Ratify's verifier names (the library templates filter on
/// `name == "notation"`, `"sbom"`, `"vulnerabilityreport"`) and the vulnerability-report verifier
/// passing its report through (as Ratify's does with `passthrough: true`), plus tenant `team-b` owning
/// namespace `team-b` with one notation verifier named `notation-b`.
fn config(dir: &Path) -> Config {
    let mut demo = serde_json::to_value(support::demo::demo_config(guests::verifier)).unwrap();
    for v in demo["verifiers"].as_array_mut().unwrap() {
        if v["name"] == "vuln" {
            // Ratify's vulnerability-report template re-judges the raw report: passthrough.
            v["name"] = json!("vulnerabilityreport");
            v["config"]["passthrough"] = json!(true);
        }
    }
    let notation = demo["verifiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "notation")
        .unwrap()
        .clone();
    let mut tenant_notation = notation;
    tenant_notation["name"] = json!("notation-b");
    let all_verifiers = demo["verifiers"].clone();
    demo["tenants"] = json!([
        {
            "name": "b",
            "namespaces": [TENANT_NS],
            "verifiers": [tenant_notation],
        },
        {
            "name": "c",
            "namespaces": [RATIFY_POLICY_NS],
            "verifiers": all_verifiers,
            "policy": {"type": "rego", "policy": RATIFY_POLICY},
        },
    ]);
    let path = dir.join("vouch.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&demo).unwrap()).unwrap();
    Config::load(&path).unwrap()
}

async fn start(config: &Config) -> Served {
    let set = TenantSet::build(config, None).await.unwrap();
    let tenants: SharedTenants = Arc::new(arc_swap::ArcSwap::from_pointee(set));
    let router =
        server::router_with_tenants(tenants, Arc::new(Metrics::default()), Default::default());
    Served::start(router).await
}

/// `POST path` with a ProviderRequest for `keys`; the response's items by key.
async fn ask(served: &Served, path: &str, keys: &[String]) -> BTreeMap<String, Value> {
    let body = json!({"apiVersion": API_VERSION, "kind": "ProviderRequest",
                      "request": {"keys": keys}});
    let resp: Value = served
        .http
        .post(format!("{}{path}", served.base))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["response"]["systemError"], "", "{resp:#}");
    resp["response"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["key"].as_str().unwrap().to_owned(), i.clone()))
        .collect()
}

/// Push the demo's `v1` tree to [`NESTED_REPO`] with the SBOM's notation signature tampered
/// with (one character of the JWS signature changed), so only the nested signature fails.
async fn push_nested_tampered(registry: &Registry) {
    let layout = OciLayout::open(examples().join("demo-layout")).unwrap();
    let index = layout.index().unwrap();
    let sbom = index
        .manifests
        .iter()
        .find(|d| d.artifact_type.as_deref() == Some("application/spdx+json"))
        .expect("the demo has an SBOM")
        .digest
        .clone();
    let mut referrers: Vec<(Digest, Descriptor)> = Vec::new();
    let mut tampered = false;
    for entry in &index.manifests {
        if entry
            .annotations
            .get(REF_NAME_ANNOTATION)
            .map(String::as_str)
            == Some("v2")
        {
            continue;
        }
        let bytes = layout.read_blob(entry, 4 << 20).unwrap();
        let mut manifest = Manifest::parse(&bytes).unwrap();
        if manifest
            .subject
            .as_ref()
            .is_some_and(|s| s.digest == v2_digest(&index))
        {
            continue; // v2's signature
        }
        let is_sbom_signature = manifest.subject.as_ref().is_some_and(|s| s.digest == sbom)
            && manifest.effective_artifact_type() == Some("application/vnd.cncf.notary.signature");
        let mut bytes = bytes.to_vec();
        for blob in manifest.blobs() {
            let data = layout.read_blob(blob, 32 << 20).unwrap();
            registry
                .push_blob(NESTED_REPO, &blob.media_type, &data)
                .await;
        }
        if is_sbom_signature {
            let layer = manifest.layers[0].clone();
            let mut data = layout.read_blob(&layer, 1 << 20).unwrap().to_vec();
            let marker = b"\"signature\":\"";
            let at = data
                .windows(marker.len())
                .position(|w| w == marker)
                .expect("a JWS signature")
                + marker.len()
                + 8;
            data[at] = if data[at] == b'A' { b'B' } else { b'A' };
            manifest.layers[0] = registry
                .push_blob(NESTED_REPO, &layer.media_type, &data)
                .await;
            bytes = serde_json::to_vec(&manifest).unwrap();
            tampered = true;
        }
        let reference = match entry.annotations.get(REF_NAME_ANNOTATION) {
            Some(tag) => tag.clone(),
            None => Digest::sha256_of(&bytes).to_string(),
        };
        let desc = registry
            .push_manifest(NESTED_REPO, &reference, &bytes, &entry.media_type)
            .await;
        if let Some(subject) = manifest.subject {
            referrers.push((subject.digest, desc));
        }
    }
    assert!(tampered, "the SBOM's signature was found");
    for (subject, referrer) in referrers {
        registry
            .push_referrer_fallback(NESTED_REPO, &subject, &referrer)
            .await;
    }
}

/// The digest of the demo's `v2` image.
fn v2_digest(index: &Manifest) -> Digest {
    index
        .manifests
        .iter()
        .find(|d| d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some("v2"))
        .unwrap()
        .digest
        .clone()
}

/// One ConstraintTemplate of the directory.
struct Template {
    file: String,
    package: String,
    provider: String,
    rego: String,
}

fn template(file: &str) -> Template {
    let text = std::fs::read_to_string(templates_dir().join(file)).unwrap();
    let doc = Value::deserialize(serde_yaml_ng::Deserializer::from_str(&text)).unwrap();
    assert_eq!(doc["kind"], "ConstraintTemplate", "{file}");
    let rego = doc["spec"]["targets"][0]["rego"]
        .as_str()
        .unwrap()
        .to_owned();
    let package = rego
        .lines()
        .find_map(|l| l.trim().strip_prefix("package "))
        .unwrap()
        .trim()
        .to_owned();
    let marker = "external_data({\"provider\": \"";
    let start = rego.find(marker).expect("calls external_data") + marker.len();
    let provider = rego[start..].split('"').next().unwrap().to_owned();
    Template {
        file: file.to_owned(),
        package,
        provider,
        rego,
    }
}

/// The violations of `template` for a pod in namespace `ns` running `image`, with
/// `external_data` answered from `items` (the provider's items by key) as Gatekeeper does. The
/// keys the template asked for are pushed to `asked`.
fn violations(
    template: &Template,
    ns: &str,
    image: &str,
    items: &BTreeMap<String, Value>,
    parameters: Value,
    asked: Arc<Mutex<Vec<String>>>,
) -> Vec<String> {
    let mut engine = regorus::Engine::new();
    // Gatekeeper parses templates as Rego v0 (Ratify's are v0).
    engine.set_rego_v0(true);
    // regorus enumerates `walk` only in its output-argument form (see `normalize_walk`).
    let rego = vouch::policy::rego::normalize_walk(&template.rego).into_owned();
    engine
        .add_policy(template.file.clone(), rego)
        .unwrap_or_else(|e| panic!("{}: does not parse: {e}", template.file));
    let items = items.clone();
    engine
        .add_extension(
            "external_data".into(),
            1,
            Box::new(move |args: Vec<regorus::Value>| {
                let request: Value = serde_json::from_str(&args[0].to_json_str()?)?;
                let (mut responses, mut errors) = (Vec::new(), Vec::new());
                for key in request["keys"].as_array().into_iter().flatten() {
                    let key = key.as_str().unwrap().to_owned();
                    asked.lock().unwrap().push(key.clone());
                    let item = items
                        .get(&key)
                        .unwrap_or_else(|| panic!("no provider answer for key {key}"));
                    match item["error"].as_str().unwrap_or_default() {
                        "" => responses.push(json!([key, item["value"]])),
                        e => errors.push(json!([key, e])),
                    }
                }
                let out = json!({"responses": responses, "errors": errors,
                                 "status_code": 200, "system_error": ""});
                regorus::Value::from_json_str(&out.to_string())
            }),
        )
        .unwrap();
    let input = json!({
        "review": {"kind": {"kind": "Pod"}, "object": {
            "metadata": {"name": "app", "namespace": ns},
            "spec": {"containers": [{"name": "app", "image": image}]},
        }},
        "parameters": parameters,
    });
    engine.set_input(regorus::Value::from_json_str(&input.to_string()).unwrap());
    let set = engine
        .eval_rule(format!("data.{}.violation", template.package))
        .unwrap_or_else(|e| panic!("{}: violation does not evaluate: {e}", template.file));
    let set: Value = serde_json::from_str(&set.to_json_str().unwrap()).unwrap();
    set.as_array()
        .into_iter()
        .flatten()
        .map(|v| v["msg"].as_str().unwrap().to_owned())
        .collect()
}

/// The images of the five cases, by name.
struct Cases {
    passes: String,
    tampered: String,
    unsigned: String,
    nested_tampered: String,
    unreachable: String,
}

impl Cases {
    fn all(&self) -> [(&'static str, &str); 5] {
        [
            ("passes", &self.passes),
            ("tampered", &self.tampered),
            ("unsigned", &self.unsigned),
            ("nested", &self.nested_tampered),
            ("unreachable", &self.unreachable),
        ]
    }
}

const ADMIT: bool = true;
const DENY: bool = false;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratifys_templates_admit_and_deny_as_with_ratify() {
    let registry = Registry::start();
    push_demo(&registry).await;
    registry
        .push_image(REPO, "unsigned", b"an image nobody signed")
        .await;
    push_nested_tampered(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let served = start(&config(dir.path())).await;

    let closed = support::process::free_port();
    let cases = Cases {
        passes: registry.reference(REPO, "v1"),
        tampered: registry.reference(REPO, "v2"),
        unsigned: registry.reference(REPO, "unsigned"),
        nested_tampered: registry.reference(NESTED_REPO, "v1"),
        unreachable: format!("127.0.0.1:{closed}/{REPO}:v1"),
    };
    // Every key a template may send: the image, or `[namespace]image` (multi-tenancy).
    let ns = "team-a";
    let mut keys = Vec::new();
    for (_, image) in cases.all() {
        keys.push(image.to_owned());
        keys.push(format!("[{ns}]{image}"));
    }
    let v1 = ask(&served, "/ratify/gatekeeper/v1/verify", &keys).await;
    let v2 = ask(&served, "/ratify/gatekeeper/v2/verify", &keys).await;

    // What the cases look like on the wire (Ratify v1, config policy).
    let value = |c: &str| &v1[c]["value"];
    assert_eq!(
        value(&cases.passes)["isSuccess"],
        true,
        "{:#}",
        v1[&cases.passes]
    );
    assert_eq!(value(&cases.tampered)["isSuccess"], false);
    assert!(
        v1[&cases.unsigned]["error"]
            .as_str()
            .unwrap()
            .starts_with("NO_VERIFIER_REPORT"),
        "{:#}",
        v1[&cases.unsigned]
    );
    assert_eq!(value(&cases.unsigned), &Value::Null);
    assert!(!v1[&cases.unreachable]["error"].as_str().unwrap().is_empty());
    let nested = value(&cases.nested_tampered);
    assert_eq!(nested["isSuccess"], false, "{nested:#}");
    let sbom = nested["verifierReports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "sbom")
        .unwrap();
    assert_eq!(sbom["isSuccess"], false, "{sbom:#}");
    assert_eq!(sbom["message"], "nested verification failed");
    assert_eq!(sbom["nestedResults"][0]["isSuccess"], false);
    let issuers: Vec<&Value> = value(&cases.passes)["verifierReports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "notation")
        .map(|r| &r["extensions"]["Issuer"])
        .collect();
    assert!(
        issuers.iter().all(|i| *i == DEMO_ISSUER),
        "notation Issuer must be Go's pkix.Name form: {issuers:?}"
    );

    let vuln = value(&cases.passes)["verifierReports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "vulnerabilityreport")
        .unwrap();
    assert_eq!(vuln["extensions"]["scanner"], "trivy", "{vuln:#}");
    assert_eq!(vuln["extensions"]["passthrough"], true);
    let raw: Value = serde_json::from_str(vuln["extensions"]["report"].as_str().unwrap()).unwrap();
    assert_eq!(raw["version"], "2.1.0");

    // Ratify's decision per template and case: passes, tampered, unsigned, nested, unreachable.
    let issuer = json!({"issuer": DEMO_ISSUER});
    let table: [(&str, Value, [bool; 5]); 8] = [
        ("default.yaml", json!({}), [ADMIT, DENY, DENY, DENY, DENY]),
        (
            "multi-tenancy-validation.yaml",
            json!({}),
            [ADMIT, DENY, DENY, DENY, DENY],
        ),
        // Only passing top-level notation reports count; item errors are not looked at, so an
        // image without any report (or an unreachable one) is admitted, as with Ratify.
        (
            "notation-validation.yaml",
            json!({}),
            [ADMIT, DENY, ADMIT, ADMIT, ADMIT],
        ),
        (
            "notation-issuer-validation.yaml",
            issuer,
            [ADMIT, DENY, DENY, DENY, DENY],
        ),
        (
            "notation-nested-validation.yaml",
            json!({}),
            [ADMIT, DENY, DENY, DENY, DENY],
        ),
        (
            "sbom-validation.yaml",
            json!({}),
            [ADMIT, DENY, DENY, DENY, DENY],
        ),
        // The demo's SARIF rules carry no `help.text` ("Severity: …"), which the template needs,
        // so its report fails it; an image without a report (tampered) is not looked at.
        (
            "vulnerability-report-validation.yaml",
            json!({}),
            [DENY, ADMIT, DENY, DENY, DENY],
        ),
        (
            "v2-default.yaml",
            json!({}),
            [ADMIT, DENY, DENY, DENY, DENY],
        ),
    ];
    let mut files: Vec<String> = std::fs::read_dir(templates_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = table.iter().map(|t| t.0.to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "every checked-in template is evaluated");

    let mut mismatches = Vec::new();
    for (file, parameters, expected) in &table {
        let t = template(file);
        let items = if t.provider == "vouch-v2" { &v2 } else { &v1 };
        assert!(
            ["vouch", "vouch-v2"].contains(&t.provider.as_str()),
            "{file}: provider {}",
            t.provider
        );
        for ((case, image), admit) in cases.all().into_iter().zip(expected) {
            let asked = Arc::new(Mutex::new(Vec::new()));
            let v = violations(&t, ns, image, items, parameters.clone(), asked.clone());
            assert!(
                !asked.lock().unwrap().is_empty(),
                "{file}: no external_data call"
            );
            if v.is_empty() != *admit {
                mismatches.push(format!(
                    "{file} / {case}: expected {}, got violations {v:?}",
                    if *admit { "admit" } else { "deny" }
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));

    // The vulnerability-report template on Trivy-style reports (rules with `help.text`
    // "Severity: …"): a low finding admits, a high one denies.
    let t = template("vulnerability-report-validation.yaml");
    for (tag, severity, admit) in [("trivy-low", "LOW", ADMIT), ("trivy-high", "HIGH", DENY)] {
        let image = registry.push_image(REPO, tag, tag.as_bytes()).await;
        let sarif = json!({"version": "2.1.0", "runs": [{
            "tool": {"driver": {"name": "Trivy", "rules": [{
                "id": "CVE-2024-1111",
                "help": {"text": format!("Vulnerability CVE-2024-1111\nSeverity: {severity}\n")},
                "properties": {"security-severity": if admit { "3.1" } else { "8.1" }},
            }]}},
            "results": [{"ruleId": "CVE-2024-1111", "ruleIndex": 0, "level": "warning",
                         "message": {"text": "a finding"}}],
        }]});
        registry
            .push_referrer(
                REPO,
                &image,
                "application/sarif+json",
                "application/sarif+json",
                sarif.to_string().as_bytes(),
            )
            .await;
        let reference = registry.reference(REPO, tag);
        let items = ask(
            &served,
            "/ratify/gatekeeper/v1/verify",
            std::slice::from_ref(&reference),
        )
        .await;
        let v = violations(&t, ns, &reference, &items, json!({}), Arc::default());
        assert_eq!(
            v.is_empty(),
            admit,
            "{tag}: {v:?} over {:#}",
            items[&reference]
        );
    }

    // The multi-tenancy template sends `[namespace]image`, and its failure message carries the
    // report's timestamp and trace id (undefined, so admitted, if they were missing).
    let t = template("multi-tenancy-validation.yaml");
    let asked = Arc::new(Mutex::new(Vec::new()));
    let v = violations(&t, ns, &cases.tampered, &v1, json!({}), asked.clone());
    assert_eq!(
        *asked.lock().unwrap(),
        [format!("[{ns}]{}", cases.tampered)]
    );
    let trace = value(&cases.tampered)["traceID"].as_str().unwrap();
    assert!(
        v.iter()
            .any(|m| m.contains(trace) && m.starts_with("Time=2")),
        "{v:?}"
    );
}

/// The shipped ConstraintTemplate, `examples/kubernetes/constraint-template.yaml`.
fn shipped_template() -> Template {
    let text =
        std::fs::read_to_string(examples().join("kubernetes/constraint-template.yaml")).unwrap();
    let doc = Value::deserialize(serde_yaml_ng::Deserializer::from_str(&text)).unwrap();
    let rego = doc["spec"]["targets"][0]["rego"].as_str().unwrap();
    Template {
        file: "constraint-template.yaml".into(),
        package: rego
            .lines()
            .find_map(|l| l.trim().strip_prefix("package "))
            .unwrap()
            .trim()
            .to_owned(),
        provider: "vouch".into(),
        rego: rego.to_owned(),
    }
}

/// docs/modes.md: under `warn` "the Gatekeeper value carries the failure as a warning message,
/// admission allowed" (issue 13). The shipped template admits such an image under the denying
/// constraint, and reports it under the shipped `vouch-warnings` constraint
/// (`showWarnings: true`); a passing image is reported by neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_template_reports_warn_mode_failures_only_when_asked() {
    let registry = Registry::start();
    push_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.executor.mode = vouch::scope::modes::Mode::Warn;
    let served = start(&config).await;
    let shipped = shipped_template();
    let constraints =
        std::fs::read_to_string(examples().join("kubernetes/constraint.yaml")).unwrap();
    let shipped_constraints: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&constraints)
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    assert_eq!(
        shipped_constraints.len(),
        2,
        "the denying and the warning constraint"
    );
    assert_eq!(shipped_constraints[0]["spec"]["enforcementAction"], "deny");
    assert_eq!(shipped_constraints[1]["spec"]["enforcementAction"], "warn");
    let show = shipped_constraints[1]["spec"]["parameters"].clone();
    assert_eq!(show, json!({"showWarnings": true}));
    for (tag, failed) in [("v1", false), ("v2", true)] {
        let image = registry.reference(REPO, tag);
        let key = format!("[team-a]{image}");
        let items = ask(
            &served,
            "/ratify/gatekeeper/v1/verify",
            std::slice::from_ref(&key),
        )
        .await;
        let value = &items[&key]["value"];
        assert_eq!(
            value["isSuccess"], true,
            "{tag}: admitted in warn mode: {value:#}"
        );
        let asked = || Arc::new(Mutex::new(Vec::new()));
        let denied = violations(&shipped, "team-a", &image, &items, json!({}), asked());
        assert!(denied.is_empty(), "{tag}: {denied:?}");
        let warned = violations(&shipped, "team-a", &image, &items, show.clone(), asked());
        if failed {
            assert_eq!(warned.len(), 1, "{tag}: {warned:?}");
            assert!(
                warned[0].contains("would be denied (warn mode)") && warned[0].contains(&image),
                "{warned:?}"
            );
        } else {
            assert!(warned.is_empty(), "{tag}: {warned:?}");
        }
    }
}

/// The shipped ConstraintTemplate (`examples/kubernetes/constraint-template.yaml`) sends
/// `[namespace]image` keys, and `vouch serve` routes such a key to the tenant owning the
/// namespace (docs/tenancy.md): the tenant's verifier judges it, the default tenant's do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_template_routes_a_tenants_keys() {
    let registry = Registry::start();
    push_demo(&registry).await;
    let dir = tempfile::tempdir().unwrap();
    let served = start(&config(dir.path())).await;
    let image = registry.reference(REPO, "v1");

    let shipped = shipped_template();

    // A tenant with a Ratify Rego policy is answered in Ratify's Rego shape (1.1.0), and the
    // policy decides: the demo passes, the tampered image does not.
    for (tag, ok) in [("v1", true), ("v2", false)] {
        let key = format!("[{RATIFY_POLICY_NS}]{}", registry.reference(REPO, tag));
        let items = ask(
            &served,
            "/ratify/gatekeeper/v1/verify",
            std::slice::from_ref(&key),
        )
        .await;
        let value = &items[&key]["value"];
        assert_eq!(value["version"], "1.1.0", "{value:#}");
        assert_eq!(value["isSuccess"], ok, "{value:#}");
        assert!(
            value["message"]
                .as_str()
                .unwrap()
                .contains("data.ratify.policy.valid")
        );
        let first = &value["verifierReports"][0];
        assert!(first["verifierReports"].is_array() && first["nestedReports"].is_array());
    }

    for (ns, verifiers) in [
        (TENANT_NS, vec!["notation-b"]),
        (
            "team-a",
            vec!["cosign", "notation", "sbom", "vulnerabilityreport"],
        ),
    ] {
        let key = format!("[{ns}]{image}");
        let items = ask(
            &served,
            "/ratify/gatekeeper/v1/verify",
            std::slice::from_ref(&key),
        )
        .await;
        let asked = Arc::new(Mutex::new(Vec::new()));
        let v = violations(&shipped, ns, &image, &items, json!({}), asked.clone());
        assert_eq!(
            *asked.lock().unwrap(),
            std::slice::from_ref(&key),
            "the template's keys"
        );
        assert!(v.is_empty(), "{ns}: {v:?}");
        let mut names: Vec<&str> = items[&key]["value"]["verifierReports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["verifierName"].as_str().unwrap())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names, verifiers, "{ns}: judged by its tenant's verifiers");
    }
}
