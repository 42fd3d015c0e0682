//! The Kubernetes manifests in `examples/kubernetes/`: every YAML document parses, has the kind
//! and API version Gatekeeper and Kubernetes expect, and the pieces are wired to each other (the
//! Deployment's arguments name files its volumes provide, the Service reaches the container port
//! the Providers' URLs name, the embedded `vouch.yaml` is a valid configuration, and the
//! ConstraintTemplate's Rego parses as Gatekeeper parses it and denies what it should when
//! evaluated against Gatekeeper's `external_data` response shape; the Deployment runs the image
//! `cargo xtask image` builds, a PodDisruptionBudget keeps a replica, and the replicas share
//! verdicts through the Redis of `redis.yaml` with the credentials of one Secret).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{Value, json};
use vouch::config::Config;

/// The namespace every namespaced object lives in.
const NAMESPACE: &str = "vouch-system";
/// The kinds the directory must hold, with their API versions and counts.
const EXPECTED: &[(&str, &str, usize)] = &[
    ("Namespace", "v1", 1),
    ("ServiceAccount", "v1", 1),
    ("ConfigMap", "v1", 1),
    ("Deployment", "apps/v1", 2),
    ("Service", "v1", 2),
    ("PodDisruptionBudget", "policy/v1", 1),
    ("NetworkPolicy", "networking.k8s.io/v1", 1),
    ("Provider", "externaldata.gatekeeper.sh/v1beta1", 2),
    ("ConstraintTemplate", "templates.gatekeeper.sh/v1", 1),
    ("VouchVerification", "constraints.gatekeeper.sh/v1beta1", 2),
    ("Assign", "mutations.gatekeeper.sh/v1", 2),
];
/// Cluster-scoped kinds (no `metadata.namespace`).
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Provider",
    "ConstraintTemplate",
    "VouchVerification",
    "Assign",
];

/// One YAML document and the file it came from.
struct Doc {
    file: String,
    value: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/kubernetes")
}

/// Every non-empty document of every `.yaml` file in the directory.
fn load() -> Vec<Doc> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("examples/kubernetes exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML files in {}", dir().display());
    let mut docs = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, de) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let value = Value::deserialize(de)
                .unwrap_or_else(|e| panic!("{file}: document {i} is not valid YAML: {e}"));
            if value.is_null() {
                continue; // a comment-only document, as kubectl skips it
            }
            docs.push(Doc {
                file: file.clone(),
                value,
            });
        }
    }
    docs
}

fn one<'a>(docs: &'a [Doc], kind: &str) -> &'a Value {
    let found: Vec<_> = docs.iter().filter(|d| d.kind() == kind).collect();
    assert_eq!(found.len(), 1, "expected exactly one {kind}");
    &found[0].value
}

fn named<'a>(docs: &'a [Doc], kind: &str, name: &str) -> &'a Value {
    &docs
        .iter()
        .find(|d| d.kind() == kind && d.name() == name)
        .unwrap_or_else(|| panic!("no {kind} named {name}"))
        .value
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string at {pointer} in {v}"))
}

/// The container's `--flag value` arguments after the subcommand.
fn flags(container: &Value) -> (String, BTreeMap<String, String>) {
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("the container has args")
        .iter()
        .map(|a| a.as_str().expect("string args"))
        .collect();
    let (subcommand, rest) = args.split_first().expect("a subcommand");
    assert_eq!(rest.len() % 2, 0, "every flag takes a value: {rest:?}");
    let mut map = BTreeMap::new();
    for pair in rest.chunks(2) {
        assert!(pair[0].starts_with("--"), "not a flag: {}", pair[0]);
        assert!(
            map.insert(pair[0].to_owned(), pair[1].to_owned()).is_none(),
            "flag {} given twice",
            pair[0]
        );
    }
    (subcommand.to_string(), map)
}

fn container(docs: &[Doc]) -> &Value {
    let containers = named(docs, "Deployment", "vouch")["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    containers
        .iter()
        .find(|c| c["name"] == "vouch")
        .expect("a container named vouch")
}

/// The container port a probe or Service `targetPort` names (by name or number).
fn resolve_port(container: &Value, port: &Value) -> u64 {
    let ports = container["ports"].as_array().expect("container ports");
    match port {
        Value::Number(n) => {
            let n = n.as_u64().unwrap();
            assert!(
                ports.iter().any(|p| p["containerPort"] == n),
                "port {n} is not a container port"
            );
            n
        }
        Value::String(name) => ports
            .iter()
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("no container port named {name}")),
        other => panic!("bad port {other}"),
    }
}

fn volume<'a>(docs: &'a [Doc], name: &str) -> &'a Value {
    named(docs, "Deployment", "vouch")["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

/// The volume mounted at the directory holding `file`, and the file's name inside it.
fn volume_for<'a>(container: &'a Value, file: &'a str) -> (&'a str, &'a str) {
    let path = Path::new(file);
    let parent = path.parent().unwrap().to_str().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == parent)
        .unwrap_or_else(|| panic!("nothing is mounted at {parent} (for {file})"));
    (mount["name"].as_str().unwrap(), name)
}

/// The embedded configuration, its text and where the Deployment reads it.
fn embedded_config(docs: &[Doc]) -> (String, Config) {
    let c = container(docs);
    let (_, flags) = flags(c);
    let config_path = flags.get("--config").expect("--config is given");
    let (volume_name, key) = volume_for(c, config_path);
    let config_map = str_at(volume(docs, volume_name), "/configMap/name");
    let text = named(docs, "ConfigMap", config_map)["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("ConfigMap {config_map} has no key {key} ({config_path})"))
        .to_owned();
    let config = Config::parse(&text, false, Path::new(config_path))
        .unwrap_or_else(|e| panic!("the embedded config does not parse: {e}"));
    (text, config)
}

/// `https://host:port/path` → (host, port, path).
fn split_url(url: &str) -> (&str, u64, &str) {
    let rest = url
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("{url} is not https (Gatekeeper requires TLS)"));
    let (authority, path) = rest.split_at(rest.find('/').expect("a path"));
    let (host, port) = authority.rsplit_once(':').expect("an explicit port");
    (host, port.parse().expect("a numeric port"), path)
}

/// `1536Mi` → bytes.
fn quantity_bytes(q: &str) -> u64 {
    let units = [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().expect("a number") * factor;
        }
    }
    q.parse().expect("a plain byte count")
}

#[test]
fn every_document_has_an_expected_kind_and_api_version() {
    let docs = load();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &docs {
        let kind = d.kind();
        let (_, api, _) = EXPECTED
            .iter()
            .find(|(k, _, _)| *k == kind)
            .unwrap_or_else(|| panic!("{}: unexpected kind `{kind}`", d.file));
        assert_eq!(
            d.value["apiVersion"],
            *api,
            "{}: {kind} {} has the wrong apiVersion",
            d.file,
            d.name()
        );
        assert!(!d.name().is_empty(), "{}: a {kind} without a name", d.file);
        let namespace = d.value["metadata"]["namespace"].as_str();
        if CLUSTER_SCOPED.contains(&kind) {
            assert_eq!(namespace, None, "{}: {kind} is cluster-scoped", d.file);
        } else {
            assert_eq!(
                namespace,
                Some(NAMESPACE),
                "{}: {kind} {} is not in {NAMESPACE}",
                d.file,
                d.name()
            );
        }
        *counts.entry(kind).or_default() += 1;
    }
    for (kind, _, n) in EXPECTED {
        assert_eq!(
            counts.get(kind).copied().unwrap_or(0),
            *n,
            "count of {kind}"
        );
    }
    assert_eq!(
        one(&docs, "Namespace")["metadata"]["name"],
        NAMESPACE,
        "the Namespace object"
    );
    // Names are unique per kind.
    let mut seen = BTreeSet::new();
    for d in &docs {
        assert!(
            seen.insert((d.kind(), d.name())),
            "duplicate {} {}",
            d.kind(),
            d.name()
        );
    }
}

#[test]
fn the_deployment_serves_tls_with_the_configmap_and_locked_down() {
    let docs = load();
    let deployment = named(&docs, "Deployment", "vouch");
    let pod = &deployment["spec"]["template"];
    let c = container(&docs);
    let (subcommand, flags) = flags(c);
    assert_eq!(subcommand, "serve");

    // The listen address is every interface on the declared container port.
    let listen = flags.get("--listen").expect("--listen");
    let (host, port) = listen.rsplit_once(':').unwrap();
    assert_eq!(host, "0.0.0.0", "listen on every interface of the pod");
    let port: u64 = port.parse().unwrap();
    assert_eq!(resolve_port(c, &json!(port)), port);

    // TLS files come from the projected certificate volume.
    for (flag, file) in [
        ("--tls-cert", "tls.crt"),
        ("--tls-key", "tls.key"),
        ("--tls-client-ca", "ca.crt"),
    ] {
        let path = flags.get(flag).unwrap_or_else(|| panic!("{flag} is given"));
        assert_eq!(Path::new(path).file_name().unwrap(), file, "{flag}");
        let (vol, name) = volume_for(c, path);
        let sources = volume(&docs, vol)["projected"]["sources"]
            .as_array()
            .unwrap_or_else(|| panic!("volume {vol} is a projected volume"));
        let provided = sources.iter().any(|s| {
            s["secret"]["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["path"] == name))
        });
        assert!(provided, "{flag} {path}: no secret item projects {name}");
    }

    // The config file is a key of the ConfigMap (embedded_config panics otherwise).
    let (_, config) = embedded_config(&docs);

    // Probes present no client certificate, so they hit the plain-HTTP health port that
    // `--health-listen` opens, never the mTLS port.
    let health_port: u64 = flags
        .get("--health-listen")
        .expect("--health-listen is given")
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("--health-listen has a port");
    assert_ne!(health_port, port);
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["scheme"], "HTTP", "{probe}");
        assert_eq!(resolve_port(c, &get["port"]), health_port, "{probe} port");
    }

    // Resources: requests and a memory limit that holds the guests' worst case.
    let resources = &c["resources"];
    assert!(resources["requests"]["cpu"].is_string());
    assert!(resources["requests"]["memory"].is_string());
    let limit = quantity_bytes(str_at(resources, "/limits/memory"));
    let guests: u64 = config
        .verifiers
        .iter()
        .map(|v| v.limits.memory_bytes)
        .max()
        .unwrap()
        * config.executor.concurrency as u64;
    assert!(
        guests + config.stores.cache.memory_bytes < limit,
        "memory limit {limit} does not hold {guests} bytes of guests plus the cache"
    );

    // Non-root, no privilege escalation, read-only root filesystem, no capabilities.
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    let pod_sc = &pod["spec"]["securityContext"];
    assert_eq!(pod_sc["runAsNonRoot"], true);
    assert!(pod_sc["runAsUser"].as_u64().is_some_and(|u| u != 0));
    assert_eq!(pod["spec"]["automountServiceAccountToken"], false);
    let account = str_at(pod, "/spec/serviceAccountName");
    named(&docs, "ServiceAccount", account);

    // The disk cache is a writable emptyDir (the root filesystem is read-only).
    let cache = config
        .disk_cache_dir()
        .expect("the embedded config sets stores.diskCache");
    let cache = cache.to_str().unwrap();
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == cache)
        .unwrap_or_else(|| panic!("nothing is mounted at the disk cache {cache}"));
    assert_ne!(mount["readOnly"], true, "the disk cache must be writable");
    let vol = volume(&docs, mount["name"].as_str().unwrap());
    assert!(vol["emptyDir"].is_object(), "the disk cache is an emptyDir");

    // The pod template carries the labels the selector matches.
    let selector = deployment["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap();
    for (k, v) in selector {
        assert_eq!(&pod["metadata"]["labels"][k], v, "pod label {k}");
    }
}

#[test]
fn the_embedded_config_is_valid_and_fits_gatekeepers_timeout() {
    let docs = load();
    let (text, config) = embedded_config(&docs);
    let names: Vec<&str> = config.verifiers.iter().map(|v| v.name.as_str()).collect();
    assert!(names.contains(&"notation"), "verifiers: {names:?}");
    for v in &config.verifiers {
        assert!(
            v.path.is_absolute(),
            "verifier {} must name its file in the image by absolute path, not {}",
            v.name,
            v.path.display()
        );
    }
    // Every PEM certificate in the trust stores parses.
    let mut certs = 0;
    for block in text.split("-----BEGIN CERTIFICATE-----").skip(1) {
        let body = block.split("-----END CERTIFICATE-----").next().unwrap();
        let pem = format!("-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n");
        let pem = pem.lines().map(str::trim).collect::<Vec<_>>().join("\n");
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("a PEM block");
        pem.parse_x509().expect("a valid certificate");
        certs += 1;
    }
    assert!(certs > 0, "no trust anchor in the embedded config");
    // The verify deadline is inside the Provider's timeout.
    let timeout_s = named(&docs, "Provider", "vouch")["spec"]["timeout"]
        .as_u64()
        .unwrap();
    assert!(config.executor.deadline_ms < timeout_s * 1000);
    assert!(
        config.policy.is_some(),
        "the example sets an explicit policy"
    );
}

#[test]
fn the_service_and_providers_reach_the_container() {
    let docs = load();
    let c = container(&docs);
    let (_, flags) = flags(c);
    let listen_port: u64 = flags["--listen"]
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let svc = named(&docs, "Service", "vouch");
    let pod_labels = &named(&docs, "Deployment", "vouch")["spec"]["template"]["metadata"]["labels"];
    for (k, v) in svc["spec"]["selector"].as_object().expect("a selector") {
        assert_eq!(&pod_labels[k], v, "the Service selects the pods by {k}");
    }
    let ports = svc["spec"]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1);
    let port = &ports[0];
    assert_eq!(resolve_port(c, &port["targetPort"]), listen_port);
    let service_port = port["port"].as_u64().unwrap();
    let service_host = format!(
        "{}.{}",
        str_at(svc, "/metadata/name"),
        str_at(svc, "/metadata/namespace")
    );

    for (provider, path, max_timeout) in [
        ("vouch", "/ratify/gatekeeper/v1/verify", 3),
        ("vouch-mutate", "/ratify/gatekeeper/v1/mutate", 1),
    ] {
        let p = named(&docs, "Provider", provider);
        let (host, port, url_path) = split_url(str_at(p, "/spec/url"));
        assert_eq!(host, service_host, "{provider}: URL host is the Service");
        assert_eq!(
            port, service_port,
            "{provider}: URL port is the Service port"
        );
        assert_eq!(url_path, path, "{provider}: endpoint");
        let timeout = p["spec"]["timeout"].as_u64().expect("timeout in seconds");
        assert!((1..=max_timeout).contains(&timeout), "{provider} timeout");
        assert!(
            !str_at(p, "/spec/caBundle").is_empty(),
            "{provider}: caBundle (placeholder) is present"
        );
    }
}

/// The Rego of the ConstraintTemplate and the provider it calls.
fn template_rego(docs: &[Doc]) -> (String, String) {
    let template = one(docs, "ConstraintTemplate");
    let targets = template["spec"]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0]["target"], "admission.k8s.gatekeeper.sh");
    let rego = str_at(&targets[0], "/rego").to_owned();
    let marker = "external_data({\"provider\": \"";
    let start = rego.find(marker).expect("the Rego calls external_data") + marker.len();
    let provider = rego[start..].split('"').next().unwrap().to_owned();
    (rego, provider)
}

/// A regorus engine with the template's Rego, parsed the way Gatekeeper does (v0 unless the
/// module opts in), and `external_data` answered from `answers` (image → ProviderResponse
/// item `value`, or `Err(error)`) turned into Gatekeeper's response shape.
fn engine_with(
    rego: &str,
    answers: BTreeMap<String, Result<Value, String>>,
    system_error: &str,
    calls: Arc<Mutex<Vec<Value>>>,
) -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(true);
    engine
        .add_policy("constraint-template.rego".into(), rego.into())
        .unwrap_or_else(|e| panic!("the ConstraintTemplate's Rego does not parse: {e}"));
    let system_error = system_error.to_owned();
    engine
        .add_extension(
            "external_data".into(),
            1,
            Box::new(move |args: Vec<regorus::Value>| {
                let request: Value = serde_json::from_str(&args[0].to_json_str()?)?;
                calls.lock().unwrap().push(request.clone());
                // Gatekeeper: items with an error go to `errors`, the others to `responses`.
                let (mut responses, mut errors) = (Vec::new(), Vec::new());
                for key in request["keys"].as_array().into_iter().flatten() {
                    let key = key.as_str().unwrap_or_default().to_owned();
                    match answers.get(&key) {
                        Some(Ok(value)) => responses.push(json!([key, value])),
                        Some(Err(e)) => errors.push(json!([key, e])),
                        None => errors.push(json!([key, "no answer"])),
                    }
                }
                let out = json!({
                    "responses": responses,
                    "errors": errors,
                    "status_code": 200,
                    "system_error": system_error,
                });
                regorus::Value::from_json_str(&out.to_string())
            }),
        )
        .unwrap();
    engine
}

fn violations(engine: &mut regorus::Engine, package: &str, pod: &Value) -> Vec<String> {
    let input = json!({"review": {"object": pod, "kind": {"kind": "Pod"}}});
    engine.set_input(regorus::Value::from_json_str(&input.to_string()).unwrap());
    let set = engine
        .eval_rule(format!("data.{package}.violation"))
        .expect("violation evaluates");
    let set: Value = serde_json::from_str(&set.to_json_str().unwrap()).unwrap();
    let mut msgs: Vec<String> = set
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v["msg"].as_str().unwrap().to_owned())
        .collect();
    msgs.sort();
    msgs
}

#[test]
fn the_constraint_template_denies_what_vouch_did_not_verify() {
    let docs = load();
    let (rego, provider) = template_rego(&docs);
    // The provider it calls exists and is the verify endpoint.
    let p = named(&docs, "Provider", &provider);
    assert!(str_at(p, "/spec/url").ends_with("/verify"));
    // It parses in Rego v1 too (the syntax is `import rego.v1`-clean).
    regorus::Engine::new()
        .add_policy("v1.rego".into(), rego.clone())
        .expect("parses as Rego v1");
    let package = rego
        .lines()
        .find_map(|l| l.trim().strip_prefix("package "))
        .expect("a package")
        .trim()
        .to_owned();
    // The Constraint instantiates this template.
    let template_kind = str_at(
        one(&docs, "ConstraintTemplate"),
        "/spec/crd/spec/names/kind",
    );
    // Two constraints instantiate it: one denies, one only reports warn-mode admissions.
    let constraints: Vec<&Value> = docs
        .iter()
        .filter(|d| d.kind() == template_kind)
        .map(|d| &d.value)
        .collect();
    let actions: Vec<&str> = constraints
        .iter()
        .map(|c| str_at(c, "/spec/enforcementAction"))
        .collect();
    assert_eq!(actions, ["deny", "warn"]);
    assert_eq!(
        constraints[1]["spec"]["parameters"],
        json!({"showWarnings": true})
    );
    for constraint in constraints {
        let excluded = constraint["spec"]["match"]["excludedNamespaces"]
            .as_array()
            .unwrap();
        for ns in [NAMESPACE, "gatekeeper-system"] {
            assert!(
                excluded.contains(&json!(ns)),
                "the Constraint must exclude {ns}"
            );
        }
        assert_eq!(
            constraint["spec"]["match"]["kinds"],
            json!([{"apiGroups": [""], "kinds": ["Pod"]}])
        );
    }

    // Keys are `[namespace]image` (Ratify's multi-tenancy convention, docs/tenancy.md).
    let pod = json!({"metadata": {"namespace": "shop"}, "spec": {
        "initContainers": [{"name": "init", "image": "reg.example/init:1"}],
        "containers": [
            {"name": "app", "image": "reg.example/app:1"},
            {"name": "sidecar", "image": "reg.example/sidecar@sha256:aa"},
        ],
    }});
    let ok = |subject: &str| Ok(json!({"subject": subject, "isSuccess": true, "message": "ok"}));
    let all_ok: BTreeMap<String, Result<Value, String>> = [
        "[shop]reg.example/init:1",
        "[shop]reg.example/app:1",
        "[shop]reg.example/sidecar@sha256:aa",
    ]
    .into_iter()
    .map(|k| (k.to_owned(), ok(k)))
    .collect();

    // Every image verified: no violation, one call naming every image.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut e = engine_with(&rego, all_ok.clone(), "", calls.clone());
    assert_eq!(violations(&mut e, &package, &pod), Vec::<String>::new());
    let calls = calls.lock().unwrap().clone();
    assert!(!calls.is_empty());
    let mut keys: Vec<&str> = calls[0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "[shop]reg.example/app:1",
            "[shop]reg.example/init:1",
            "[shop]reg.example/sidecar@sha256:aa"
        ]
    );
    assert_eq!(calls[0]["provider"], provider);

    // One image failed verification: one violation naming it and Vouch's message.
    let mut answers = all_ok.clone();
    answers.insert(
        "[shop]reg.example/app:1".into(),
        Ok(json!({"isSuccess": false, "message": "no valid notation signature"})),
    );
    let mut e = engine_with(&rego, answers, "", Arc::default());
    let v = violations(&mut e, &package, &pod);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("reg.example/app:1") && v[0].contains("no valid notation signature"));

    // An item error (e.g. deadline) denies too.
    let mut answers = all_ok.clone();
    answers.insert(
        "[shop]reg.example/init:1".into(),
        Err("deadline exceeded".into()),
    );
    let mut e = engine_with(&rego, answers, "", Arc::default());
    let v = violations(&mut e, &package, &pod);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("reg.example/init:1") && v[0].contains("deadline exceeded"));

    // A system error (provider unreachable) denies.
    let mut e = engine_with(&rego, all_ok, "connection refused", Arc::default());
    let v = violations(&mut e, &package, &pod);
    assert!(v.iter().any(|m| m.contains("connection refused")), "{v:?}");
}

#[test]
fn the_assigns_pin_images_through_the_mutate_provider() {
    let docs = load();
    let assigns: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "Assign").collect();
    let mut locations = BTreeSet::new();
    for a in assigns {
        let v = &a.value;
        let external = &v["spec"]["parameters"]["assign"]["externalData"];
        let provider = str_at(external, "/provider");
        let p = named(&docs, "Provider", provider);
        assert!(
            str_at(p, "/spec/url").ends_with("/ratify/gatekeeper/v1/mutate"),
            "{}: provider {provider} is not the mutate endpoint",
            a.name()
        );
        assert_eq!(external["dataSource"], "ValueAtLocation");
        assert!(
            ["Ignore", "Fail", "UseDefault"].contains(&str_at(external, "/failurePolicy")),
            "failurePolicy"
        );
        assert_eq!(
            v["spec"]["applyTo"],
            json!([{"groups": [""], "kinds": ["Pod"], "versions": ["v1"]}])
        );
        let excluded = v["spec"]["match"]["excludedNamespaces"].as_array().unwrap();
        assert!(excluded.contains(&json!(NAMESPACE)));
        locations.insert(str_at(v, "/spec/location").to_owned());
    }
    assert_eq!(
        locations,
        BTreeSet::from([
            "spec.containers[name:*].image".to_owned(),
            "spec.initContainers[name:*].image".to_owned()
        ])
    );
}

/// The labels a workload's pods carry.
fn pod_labels<'a>(docs: &'a [Doc], deployment: &str) -> &'a Value {
    &named(docs, "Deployment", deployment)["spec"]["template"]["metadata"]["labels"]
}

/// Whether `selector` (`matchLabels`) selects pods labelled `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let wanted = selector["matchLabels"].as_object().expect("matchLabels");
    !wanted.is_empty() && wanted.iter().all(|(k, v)| &labels[k] == v)
}

/// The Deployment runs the image `cargo xtask image` builds (its entrypoint, its user, the
/// verifiers where the image has them), and a PodDisruptionBudget keeps one of its replicas
/// through voluntary disruptions.
#[test]
fn the_deployment_runs_the_built_image_and_a_budget_keeps_a_replica() {
    let docs = load();
    let c = container(&docs);
    let image = str_at(c, "/image");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        image.ends_with(&format!("/vouch:{version}")),
        "{image}: the image `cargo xtask image --push REGISTRY` pushes is REGISTRY/vouch:{version}"
    );
    assert!(
        c.get("command").is_none(),
        "the image's entrypoint ({}) runs the args",
        xtask::image::BINARY
    );
    let pod = &named(&docs, "Deployment", "vouch")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], xtask::image::UID);
    let (_, config) = embedded_config(&docs);
    for v in &config.verifiers {
        assert!(
            v.path.starts_with(xtask::image::VERIFIERS),
            "verifier {} is not where the image ships it: {}",
            v.name,
            v.path.display()
        );
    }

    let pdb = one(&docs, "PodDisruptionBudget");
    assert!(selects(
        &pdb["spec"]["selector"],
        pod_labels(&docs, "vouch")
    ));
    let min = pdb["spec"]["minAvailable"].as_u64().expect("minAvailable");
    let replicas = named(&docs, "Deployment", "vouch")["spec"]["replicas"]
        .as_u64()
        .unwrap();
    assert!(
        (1..replicas).contains(&min),
        "minAvailable {min} of {replicas}: one replica answers, one may be drained"
    );
}

/// `executor.redis` points at the Service of `redis.yaml`, on the port its container listens
/// on; the password Redis requires and the file Vouch reads it from come from the same key of
/// the same Secret, as does the key verdicts are authenticated with; only Vouch's pods may reach
/// Redis; Redis is bounded (memory, no persistence) and probed.
#[test]
fn the_replicas_share_verdicts_through_the_redis_of_the_manifests() {
    let docs = load();
    let (_, config) = embedded_config(&docs);
    let redis = config
        .executor
        .redis
        .as_ref()
        .expect("the example shares verdicts through Redis");
    let rest = redis.url.strip_prefix("redis://").expect("redis://");
    let host_port = rest.split('/').next().unwrap();
    let (host, port) = host_port.rsplit_once(':').unwrap();
    let svc = named(&docs, "Service", "vouch-redis");
    assert_eq!(
        host,
        format!("{}.{NAMESPACE}", str_at(svc, "/metadata/name")),
        "the URL's host is the Service"
    );
    let svc_port = &svc["spec"]["ports"][0];
    assert_eq!(port, svc_port["port"].to_string());
    let redis_pod = &named(&docs, "Deployment", "vouch-redis")["spec"]["template"];
    assert!(selects(
        &json!({"matchLabels": svc["spec"]["selector"]}),
        &redis_pod["metadata"]["labels"]
    ));
    let rc = &redis_pod["spec"]["containers"][0];
    assert_eq!(resolve_port(rc, &svc_port["targetPort"]), 6379);

    // The password: Redis's --requirepass from the Secret key that Vouch's passwordFile is.
    let c = container(&docs);
    let password_file = redis.password_file.as_ref().expect("passwordFile");
    let (vol, file) = volume_for(c, password_file.to_str().unwrap());
    let secret = &volume(&docs, vol)["secret"];
    let secret_name = str_at(secret, "/secretName");
    let key_of = |path: &str| {
        secret["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["path"] == path)
            .and_then(|i| i["key"].as_str())
            .unwrap_or_else(|| panic!("secret {secret_name} projects no {path}"))
            .to_owned()
    };
    let password_key = key_of(file);
    let env = rc["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "REDIS_PASSWORD")
        .expect("REDIS_PASSWORD");
    assert_eq!(env["valueFrom"]["secretKeyRef"]["name"], secret_name);
    assert_eq!(
        env["valueFrom"]["secretKeyRef"]["key"],
        password_key.as_str()
    );
    let args: Vec<&str> = rc["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let after = |flag: &str| {
        args.iter()
            .position(|a| *a == flag)
            .map(|i| args[i + 1])
            .unwrap_or_else(|| panic!("redis-server {flag} is not given: {args:?}"))
    };
    assert_eq!(after("--requirepass"), "$(REDIS_PASSWORD)");
    assert_eq!(after("--save"), "", "a cache: no snapshots");
    assert_eq!(after("--appendonly"), "no");
    assert!(after("--maxmemory").ends_with("mb"));
    let limit = quantity_bytes(str_at(rc, "/resources/limits/memory"));
    let maxmemory: u64 = after("--maxmemory").trim_end_matches("mb").parse().unwrap();
    assert!(
        maxmemory << 20 < limit,
        "maxmemory fits the container's memory limit"
    );
    assert!(rc["readinessProbe"].is_object() && rc["livenessProbe"].is_object());

    // Values are authenticated with a key from the same Secret.
    assert_eq!(redis.auth_key_files.len(), 1, "authKeyFiles");
    let (auth_vol, auth_file) = volume_for(c, redis.auth_key_files[0].to_str().unwrap());
    assert_eq!(auth_vol, vol);
    key_of(auth_file);

    // Only Vouch's pods reach Redis.
    let policy = named(&docs, "NetworkPolicy", "vouch-redis");
    assert!(selects(
        &policy["spec"]["podSelector"],
        &redis_pod["metadata"]["labels"]
    ));
    let from = &policy["spec"]["ingress"][0]["from"][0]["podSelector"];
    assert!(selects(from, pod_labels(&docs, "vouch")));
    assert!(!selects(from, &redis_pod["metadata"]["labels"]));
}
