//! The verifier's configuration: a notation trust policy document and the trust stores it names,
//! parsed and validated the way notation (notation-go `trustpolicy`) does.
//!
//! Config shape:
//! ```json
//! {"trustPolicy": {"version": "1.0", "trustPolicies": [{"name": "…", "registryScopes": ["*"],
//!   "signatureVerification": {"level": "strict", "override": {"expiry": "log"}},
//!   "trustStores": ["ca:acme"], "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme"]}]},
//!  "trustStores": {"ca": {"acme": ["-----BEGIN CERTIFICATE-----…"]}, "signingAuthority": {}, "tsa": {}}}
//! ```
//! Unknown keys are rejected (a misspelt `signatureVerification` must not silently disable a
//! check); notation itself ignores them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use serde::Deserialize;

/// What a validation does when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A failure fails the verification.
    Enforce,
    /// A failure is logged and reported; the verification goes on.
    Log,
    /// The validation is not performed.
    Skip,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        match s {
            "enforce" => Some(Action::Enforce),
            "log" => Some(Action::Log),
            "skip" => Some(Action::Skip),
            _ => None,
        }
    }
}

/// The five validations of the notation trust policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    /// The signature is valid over the payload and the envelope is well formed.
    Integrity,
    /// The signing chain leads to a trusted certificate and the signer is a trusted identity.
    Authenticity,
    /// The signing time is authentic (timestamped, or the chain is valid now).
    AuthenticTimestamp,
    /// The signature has not expired.
    Expiry,
    /// No certificate of the chain is revoked.
    Revocation,
}

impl Check {
    /// Every validation, in the order notation runs them.
    pub const ALL: [Check; 5] = [
        Check::Integrity,
        Check::Authenticity,
        Check::AuthenticTimestamp,
        Check::Expiry,
        Check::Revocation,
    ];

    /// The name used in trust policies and reports.
    pub fn name(self) -> &'static str {
        match self {
            Check::Integrity => "integrity",
            Check::Authenticity => "authenticity",
            Check::AuthenticTimestamp => "authenticTimestamp",
            Check::Expiry => "expiry",
            Check::Revocation => "revocation",
        }
    }

    fn parse(s: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// The effective verification level of a policy: a named level with its overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// `strict`, `permissive`, `audit` or `skip` (the base level, even when overridden).
    pub name: String,
    /// The action per validation, indexed like [`Check::ALL`].
    actions: [Action; 5],
}

impl Level {
    /// The base levels of the notation specification's table.
    fn base(name: &str) -> Option<Level> {
        use Action::*;
        let actions = match name {
            "strict" => [Enforce, Enforce, Enforce, Enforce, Enforce],
            "permissive" => [Enforce, Enforce, Log, Log, Log],
            "audit" => [Enforce, Log, Log, Log, Log],
            "skip" => [Skip, Skip, Skip, Skip, Skip],
            _ => return None,
        };
        Some(Level {
            name: name.to_owned(),
            actions,
        })
    }

    /// The action for `check`.
    pub fn action(&self, check: Check) -> Action {
        self.actions[check as usize]
    }

    /// Whether this level verifies nothing.
    pub fn is_skip(&self) -> bool {
        self.actions.iter().all(|a| *a == Action::Skip)
    }
}

/// Which signing time `verifyTimestamp` asks to establish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyTimestamp {
    /// Always verify the timestamp (default).
    Always,
    /// Verify it only when the signing certificate has expired.
    AfterCertExpiry,
}

/// A trust store reference `type:name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoreRef {
    /// `ca`, `signingAuthority` or `tsa`.
    pub kind: String,
    /// The store's name.
    pub name: String,
}

impl fmt::Display for StoreRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// Trusted identities of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identities {
    /// `*`: any signer chaining to the trust store.
    Any,
    /// The leaf subject must contain every attribute of one of these DNs.
    Subjects(Vec<Dn>),
}

/// A distinguished name as a set of attribute type → value (types upper-cased).
pub type Dn = BTreeMap<String, String>;

/// One trust policy statement.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Its unique name.
    pub name: String,
    /// `*` or fully qualified repositories.
    pub scopes: Vec<String>,
    /// The effective level.
    pub level: Level,
    /// `verifyTimestamp` option.
    pub verify_timestamp: VerifyTimestamp,
    /// Trust stores it uses.
    pub stores: Vec<StoreRef>,
    /// Who may sign.
    pub identities: Identities,
}

impl Policy {
    /// Whether the policy names a `tsa` trust store: timestamps are verified only then.
    pub fn has_tsa_store(&self) -> bool {
        self.stores.iter().any(|r| r.kind == "tsa")
    }
}

/// The parsed configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Policies in document order.
    pub policies: Vec<Policy>,
    /// Trust stores: `type:name` → DER certificates.
    pub stores: BTreeMap<StoreRef, Vec<Vec<u8>>>,
    /// `notation verify --user-metadata`: pairs the signed annotations of the target artifact
    /// must contain (`userMetadata` in the config).
    pub user_metadata: BTreeMap<String, String>,
    /// Accepted in-toto predicate types of notation-signed attestations (`attestationTypes`;
    /// `None`: any).
    pub attestation_types: Option<Vec<String>>,
    /// The cap on a verified in-toto statement handed to the policy (`maxStatementBytes`;
    /// `None`: `0` was configured, no statement is handed on).
    pub max_statement: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    trust_policy: Option<RawDocument>,
    #[serde(default)]
    trust_stores: RawStores,
    /// A notation home, resolved by the host into `{"file", "content": RawHome}`.
    notation_home: Option<serde_json::Value>,
    #[serde(default)]
    user_metadata: BTreeMap<String, String>,
    attestation_types: Option<Vec<String>>,
    max_statement_bytes: Option<usize>,
}

/// Trust stores: type → name → PEM texts.
type RawStores = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// What the host reads from a notation home (see the engine's `config::filerefs`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawHome {
    trust_policy_file: String,
    trust_policy: RawDocument,
    #[serde(default)]
    trust_stores: RawStores,
}

/// The trust policy document and stores of a config: inline, or from `notationHome` (then with
/// the prefix that names the home and its policy file in error messages).
fn document_and_stores(raw: RawConfig) -> Result<(RawDocument, RawStores, String), String> {
    let Some(home) = raw.notation_home else {
        let doc = raw.trust_policy.ok_or(
            "config: give `trustPolicy` (with `trustStores`) inline, or `notationHome` (a notation configuration directory)",
        )?;
        return Ok((doc, raw.trust_stores, String::new()));
    };
    if raw.trust_policy.is_some() || !raw.trust_stores.is_empty() {
        return Err(
            "config: `notationHome` brings its own trust policy and trust stores; remove `trustPolicy` and `trustStores`, or `notationHome`".into(),
        );
    }
    let file = home.get("file").and_then(|f| f.as_str()).map(str::to_owned);
    let (Some(file), Some(content)) = (file, home.get("content")) else {
        return Err(format!(
            "config: `notationHome` must be a directory path that the host resolves; got {home} unresolved (is the engine older than this verifier?)"
        ));
    };
    let home: RawHome = serde_json::from_value(content.clone())
        .map_err(|e| format!("notationHome `{file}`: {e}"))?;
    let prefix = format!("notationHome `{file}` ({}): ", home.trust_policy_file);
    Ok((home.trust_policy, home.trust_stores, prefix))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDocument {
    version: String,
    trust_policies: Vec<RawPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
    name: String,
    registry_scopes: Vec<String>,
    signature_verification: RawVerification,
    #[serde(default)]
    trust_stores: Vec<String>,
    #[serde(default)]
    trusted_identities: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawVerification {
    level: String,
    #[serde(default)]
    r#override: BTreeMap<String, String>,
    #[serde(default)]
    verify_timestamp: Option<String>,
}

const STORE_KINDS: [&str; 3] = ["ca", "signingAuthority", "tsa"];

/// Parses and validates the configuration. `check_cert` parses one DER certificate (on the host)
/// so that an unparsable certificate is a config error, not a verification failure.
pub fn parse(
    text: &str,
    check_cert: &dyn Fn(&[u8]) -> Result<(), String>,
) -> Result<Config, String> {
    let mut raw: RawConfig = serde_json::from_str(text).map_err(|e| format!("config: {e}"))?;
    let user_metadata = std::mem::take(&mut raw.user_metadata);
    if user_metadata.keys().any(String::is_empty) {
        return Err("userMetadata: a key is empty".into());
    }
    let attestation_types = raw.attestation_types.take();
    verifier_common::statement::check_attestation_types(attestation_types.as_deref())?;
    let max_statement = verifier_common::statement::max_statement(raw.max_statement_bytes)?;
    let (doc, raw_stores, prefix) = document_and_stores(raw)?;
    let in_home = |e: String| format!("{prefix}{e}");
    let stores = parse_stores(&raw_stores, check_cert).map_err(in_home)?;
    let mut config = parse_document(doc, stores).map_err(in_home)?;
    config.user_metadata = user_metadata;
    config.attestation_types = attestation_types;
    config.max_statement = max_statement;
    Ok(config)
}

fn parse_document(
    doc: RawDocument,
    stores: BTreeMap<StoreRef, Vec<Vec<u8>>>,
) -> Result<Config, String> {
    if doc.version != "1.0" {
        return Err(format!(
            "trustPolicy: version {:?} is not supported, supported versions are [\"1.0\"]",
            doc.version
        ));
    }
    if doc.trust_policies.is_empty() {
        return Err(
            "trustPolicy: trustPolicies is empty, at least one trust policy is required".into(),
        );
    }
    let mut names = BTreeSet::new();
    let mut scopes_seen: BTreeMap<String, String> = BTreeMap::new();
    let mut policies = Vec::new();
    for p in doc.trust_policies {
        let policy = parse_policy(p, &stores)?;
        if !names.insert(policy.name.clone()) {
            return Err(format!(
                "trust policy {:?}: multiple trust policy statements use the same name",
                policy.name
            ));
        }
        for scope in &policy.scopes {
            if let Some(other) = scopes_seen.insert(scope.clone(), policy.name.clone()) {
                return Err(format!(
                    "registry scope {scope:?} is present in trust policies {other:?} and {:?}; a scope may appear in one policy only",
                    policy.name
                ));
            }
        }
        policies.push(policy);
    }
    Ok(Config {
        policies,
        stores,
        user_metadata: BTreeMap::new(),
        attestation_types: None,
        max_statement: None,
    })
}

fn parse_stores(
    raw: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
    check_cert: &dyn Fn(&[u8]) -> Result<(), String>,
) -> Result<BTreeMap<StoreRef, Vec<Vec<u8>>>, String> {
    let mut stores = BTreeMap::new();
    for (kind, named) in raw {
        if !STORE_KINDS.contains(&kind.as_str()) {
            return Err(format!(
                "trustStores: unknown trust store type {kind:?}, supported types are {STORE_KINDS:?}"
            ));
        }
        for (name, pems) in named {
            let r = StoreRef {
                kind: kind.clone(),
                name: name.clone(),
            };
            check_store_name(name).map_err(|e| format!("trustStores.{kind}: {e}"))?;
            let mut certs = Vec::new();
            for (i, pem) in pems.iter().enumerate() {
                if verifier_common::config::looks_like_path(pem) {
                    return Err(format!(
                        "trust store {r}, entry {i}: {pem:?} looks like a file path; entries are PEM text — to read certificates from files, use `notationHome` (a notation directory with truststore/x509/{kind}/{name}/)"
                    ));
                }
                let ders =
                    split_pem(pem).map_err(|e| format!("trust store {r}, entry {i}: {e}"))?;
                for (j, der) in ders.into_iter().enumerate() {
                    check_cert(&der).map_err(|e| {
                        format!("trust store {r}, entry {i}, certificate {j}: not a valid X.509 certificate: {e}")
                    })?;
                    certs.push(der);
                }
            }
            if certs.is_empty() {
                return Err(format!("trust store {r} has no certificates"));
            }
            stores.insert(r, certs);
        }
    }
    Ok(stores)
}

fn check_store_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(format!(
            "trust store name {name:?} is invalid, it must match [a-zA-Z0-9_.-]+"
        ));
    }
    Ok(())
}

/// Splits PEM text into the DER bytes of its `CERTIFICATE` blocks (at least one).
pub fn split_pem(text: &str) -> Result<Vec<Vec<u8>>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let end = body
            .find(END)
            .ok_or("PEM block `BEGIN CERTIFICATE` has no `END CERTIFICATE` line")?;
        let b64: String = body[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| format!("PEM certificate block is not valid base64: {e}"))?;
        out.push(der);
        rest = &body[end + END.len()..];
    }
    if out.is_empty() {
        return Err("no `-----BEGIN CERTIFICATE-----` block found".into());
    }
    Ok(out)
}

fn parse_policy(p: RawPolicy, stores: &BTreeMap<StoreRef, Vec<Vec<u8>>>) -> Result<Policy, String> {
    let name = p.name.trim().to_owned();
    if name.is_empty() {
        return Err("trust policy: a policy has an empty name".into());
    }
    let ctx = |e: String| format!("trust policy {name:?}: {e}");
    let scopes = parse_scopes(&p.registry_scopes).map_err(ctx)?;
    let level = parse_level(&p.signature_verification).map_err(ctx)?;
    let verify_timestamp = match p.signature_verification.verify_timestamp.as_deref() {
        None | Some("always") => VerifyTimestamp::Always,
        Some("afterCertExpiry") => VerifyTimestamp::AfterCertExpiry,
        Some(other) => {
            return Err(ctx(format!(
                "verifyTimestamp {other:?} is invalid, supported values are \"always\" and \"afterCertExpiry\""
            )));
        }
    };
    if level.is_skip() {
        if !p.trust_stores.is_empty() || !p.trusted_identities.is_empty() {
            return Err(ctx(
                "level \"skip\" verifies nothing but trustStores and/or trustedIdentities are set; remove them".into(),
            ));
        }
        return Ok(Policy {
            name,
            scopes,
            level,
            verify_timestamp,
            stores: Vec::new(),
            identities: Identities::Any,
        });
    }
    let store_refs = parse_store_refs(&p.trust_stores, stores).map_err(ctx)?;
    let identities = parse_identities(&p.trusted_identities).map_err(ctx)?;
    Ok(Policy {
        name,
        scopes,
        level,
        verify_timestamp,
        stores: store_refs,
        identities,
    })
}

fn parse_scopes(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.is_empty() {
        return Err("registryScopes is empty, at least one scope is required".into());
    }
    let mut seen = BTreeSet::new();
    for s in raw {
        if s == "*" {
            if raw.len() > 1 {
                return Err(
                    "registryScopes: the wildcard \"*\" must be the only scope of its policy"
                        .into(),
                );
            }
        } else {
            check_scope(s)?;
        }
        if !seen.insert(s.as_str()) {
            return Err(format!("registryScopes: {s:?} is listed twice"));
        }
    }
    Ok(raw.to_vec())
}

/// A scope is a fully qualified repository: `registry/repo[/…]`, no tag, no digest, no wildcard.
fn check_scope(s: &str) -> Result<(), String> {
    let invalid = |why: &str| {
        Err(format!(
            "registry scope {s:?} is not valid ({why}), make sure it is a fully qualified repository without tag or digest, or \"*\""
        ))
    };
    let Some((registry, repo)) = s.split_once('/') else {
        return invalid("no registry");
    };
    if registry.is_empty() || repo.is_empty() {
        return invalid("empty registry or repository");
    }
    if s.contains('*') {
        return invalid("wildcards are only allowed as the whole scope");
    }
    if s.contains('@') || repo.contains(':') {
        return invalid("it has a tag or digest");
    }
    let repo_ok = repo.split('/').all(|part| {
        !part.is_empty()
            && part.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
    });
    let registry_ok = registry
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !repo_ok || !registry_ok {
        return invalid("invalid characters");
    }
    Ok(())
}

fn parse_level(v: &RawVerification) -> Result<Level, String> {
    let mut level = Level::base(&v.level).ok_or_else(|| {
        format!(
            "signatureVerification.level {:?} is invalid, supported values are \"strict\", \"permissive\", \"audit\" and \"skip\"",
            v.level
        )
    })?;
    if v.r#override.is_empty() {
        return Ok(level);
    }
    if level.is_skip() {
        return Err("signatureVerification level \"skip\" cannot be combined with override".into());
    }
    for (key, value) in &v.r#override {
        let check = Check::parse(key).ok_or_else(|| {
            format!(
                "signatureVerification.override: validation type {key:?} is not supported, supported values are {:?}",
                Check::ALL.map(Check::name)
            )
        })?;
        let action = Action::parse(value).ok_or_else(|| {
            format!(
                "signatureVerification.override.{key}: action {value:?} is not supported, supported values are \"enforce\", \"log\" and \"skip\""
            )
        })?;
        if check == Check::Integrity {
            return Err(
                "signatureVerification.override: \"integrity\" validation cannot be overridden"
                    .into(),
            );
        }
        if check != Check::Revocation && action == Action::Skip {
            return Err(format!(
                "signatureVerification.override: {key:?} validation cannot be skipped (only \"revocation\" can)"
            ));
        }
        level.actions[check as usize] = action;
    }
    Ok(level)
}

fn parse_store_refs(
    raw: &[String],
    stores: &BTreeMap<StoreRef, Vec<Vec<u8>>>,
) -> Result<Vec<StoreRef>, String> {
    if raw.is_empty() {
        return Err("trustStores is empty, at least one trust store is required".into());
    }
    let mut out: Vec<StoreRef> = Vec::new();
    for s in raw {
        let Some((kind, name)) = s.split_once(':') else {
            return Err(format!(
                "trust store {s:?} is malformed, the format is <type>:<name> (e.g. \"ca:acme\")"
            ));
        };
        if !STORE_KINDS.contains(&kind) {
            return Err(format!(
                "trust store {s:?} has an unsupported type {kind:?}, supported types are {STORE_KINDS:?}"
            ));
        }
        check_store_name(name)?;
        let r = StoreRef {
            kind: kind.to_owned(),
            name: name.to_owned(),
        };
        if !stores.contains_key(&r) {
            return Err(format!(
                "trust store {r} is referenced but not defined in trustStores.{kind}"
            ));
        }
        if out.contains(&r) {
            return Err(format!("trust store {r} is listed twice"));
        }
        out.push(r);
    }
    if !out.iter().any(|r| r.kind != "tsa") {
        return Err(
            "trustStores has only tsa stores; a ca or signingAuthority store is required".into(),
        );
    }
    Ok(out)
}

fn parse_identities(raw: &[String]) -> Result<Identities, String> {
    if raw.is_empty() {
        return Err(
            "trustedIdentities is empty; use [\"*\"] to trust any signer chaining to the trust stores".into(),
        );
    }
    if raw.iter().any(|s| s.trim() == "*") {
        if raw.len() > 1 {
            return Err("trustedIdentities: the wildcard \"*\" must be the only identity".into());
        }
        return Ok(Identities::Any);
    }
    let mut dns: Vec<Dn> = Vec::new();
    for s in raw {
        let Some((prefix, value)) = s.split_once(':') else {
            return Err(format!(
                "trusted identity {s:?} is malformed, the format is \"x509.subject:<DN>\" or \"*\""
            ));
        };
        if prefix.trim() != "x509.subject" {
            return Err(format!(
                "trusted identity {s:?} has an unsupported type {:?}, the only supported type is \"x509.subject\"",
                prefix.trim()
            ));
        }
        let dn = parse_dn(value, false).map_err(|e| format!("trusted identity {s:?}: {e}"))?;
        for required in ["C", "ST", "O"] {
            if !dn.contains_key(required) {
                return Err(format!(
                    "trusted identity {s:?} has no {required:?} attribute; an identity must contain C, ST and O at a minimum"
                ));
            }
        }
        if dns.contains(&dn) {
            return Err(format!("trusted identity {s:?} is listed twice"));
        }
        dns.push(dn);
    }
    // trust-store-trust-policy.md: "trustedIdentities list items MUST NOT have overlapping
    // values" — one is overlapping another when its attributes are a subset of the other's (a
    // certificate matching the larger matches both; notation-go `validateOverlappingDNs`).
    let subset = |a: &Dn, b: &Dn| a.iter().all(|(k, v)| b.get(k) == Some(v));
    for (i, a) in dns.iter().enumerate() {
        if let Some(j) = (0..dns.len()).find(|&j| j != i && subset(a, &dns[j])) {
            return Err(format!(
                "trusted identities {:?} and {:?} overlap (every certificate matching the second matches the first); trusted identities must not overlap",
                raw[i], raw[j]
            ));
        }
    }
    Ok(Identities::Subjects(dns))
}

/// Parses an RFC 4514 distinguished name into attribute type → value. Multi-valued RDNs (`+`) are
/// split into their attributes when `allow_multi`, rejected otherwise (as notation does for
/// trusted identities); a repeated attribute type is rejected.
pub fn parse_dn(text: &str, allow_multi: bool) -> Result<Dn, String> {
    let mut dn = Dn::new();
    // Attribute text as bytes (hex escapes may spell multi-byte UTF-8). An escaped space is
    // wrapped in NUL markers so that trimming keeps it; markers are removed afterwards.
    let mut attr: Vec<u8> = Vec::new();
    let mut raw_attrs: Vec<(Vec<u8>, bool)> = Vec::new(); // (bytes, ends an RDN)
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().ok_or("a trailing backslash")?;
                let byte = match (next.to_digit(16), chars.peek().and_then(|n| n.to_digit(16))) {
                    (Some(hi), Some(lo)) => {
                        chars.next();
                        (hi * 16 + lo) as u8
                    }
                    _ => {
                        if next == ' ' {
                            attr.extend_from_slice(b"\0 \0");
                        } else {
                            let mut buf = [0; 4];
                            attr.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
                        }
                        continue;
                    }
                };
                if byte == b' ' {
                    attr.extend_from_slice(b"\0 \0");
                } else {
                    attr.push(byte);
                }
            }
            ',' | ';' => raw_attrs.push((std::mem::take(&mut attr), true)),
            '+' => raw_attrs.push((std::mem::take(&mut attr), false)),
            _ => {
                let mut buf = [0; 4];
                attr.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    raw_attrs.push((attr, true));
    let mut attrs = Vec::with_capacity(raw_attrs.len());
    for (bytes, ends_rdn) in raw_attrs {
        let text = String::from_utf8(bytes)
            .map_err(|_| "a hex escape does not spell valid UTF-8".to_owned())?;
        attrs.push((text, ends_rdn));
    }
    let mut rdn_len = 0;
    for (raw, ends_rdn) in attrs {
        rdn_len += 1;
        if rdn_len > 1 && !allow_multi {
            return Err("multi-valued RDNs (`+`) are not supported".into());
        }
        if ends_rdn {
            rdn_len = 0;
        }
        let (ty, value) = raw.split_once('=').ok_or_else(|| {
            format!(
                "{:?} is not an attribute `TYPE=value`",
                raw.replace('\u{0}', "")
            )
        })?;
        let ty = ty.replace('\u{0}', "").trim().to_ascii_uppercase();
        let value = value.trim_matches(|c: char| c == ' ').replace('\u{0}', "");
        if ty.is_empty() || value.is_empty() {
            return Err(format!(
                "attribute {:?} has an empty type or value",
                raw.replace('\u{0}', "")
            ));
        }
        if dn.insert(ty.clone(), value).is_some() {
            return Err(format!("attribute {ty:?} appears more than once"));
        }
    }
    Ok(dn)
}

impl Identities {
    /// Whether a leaf with subject `leaf` (RFC 4514, as the host prints it) is trusted: some
    /// identity's attributes are all in the leaf's subject with equal values (notation's
    /// `IsSubsetDN`: order-insensitive, extra leaf attributes allowed).
    pub fn matches(&self, leaf: &str) -> Result<bool, String> {
        match self {
            Identities::Any => Ok(true),
            Identities::Subjects(dns) => {
                let leaf = parse_dn(leaf, true).map_err(|e| {
                    format!("cannot parse the signing certificate's subject {leaf:?}: {e}")
                })?;
                Ok(dns
                    .iter()
                    .any(|dn| dn.iter().all(|(k, v)| leaf.get(k) == Some(v))))
            }
        }
    }
}

/// The repository (`registry/repo`) of a subject reference: tag and digest stripped.
pub fn repository_of(reference: &str) -> &str {
    let no_digest = reference.split_once('@').map_or(reference, |(r, _)| r);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

impl Config {
    /// The policy for `reference`: the one whose scope is its repository, else the `*` one.
    pub fn policy_for(&self, reference: &str) -> Option<&Policy> {
        let repo = repository_of(reference);
        self.policies
            .iter()
            .find(|p| p.scopes.iter().any(|s| s == repo))
            .or_else(|| {
                self.policies
                    .iter()
                    .find(|p| p.scopes.iter().any(|s| s == "*"))
            })
    }

    /// DER certificates of the policy's stores of `kind`.
    pub fn certs(&self, policy: &Policy, kind: &str) -> Vec<Vec<u8>> {
        policy
            .stores
            .iter()
            .filter(|r| r.kind == kind)
            .filter_map(|r| self.stores.get(r))
            .flatten()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";

    fn ok_cert(der: &[u8]) -> Result<(), String> {
        if der == [1, 2, 3] {
            Ok(())
        } else {
            Err("garbage".into())
        }
    }

    fn config(policy: serde_json::Value) -> serde_json::Value {
        json!({
            "trustPolicy": {"version": "1.0", "trustPolicies": [policy]},
            "trustStores": {"ca": {"acme": [PEM]}, "tsa": {"ts": [PEM]}}
        })
    }

    fn policy() -> serde_json::Value {
        json!({
            "name": "p", "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:acme"],
            "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme, CN=signer"]
        })
    }

    fn parse_value(v: &serde_json::Value) -> Result<Config, String> {
        parse(&v.to_string(), &ok_cert)
    }

    fn err_with(mutate: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v = config(policy());
        mutate(&mut v);
        parse_value(&v).expect_err("config was accepted")
    }

    /// Trust policy specification: "`skip` cannot be used with a global scope (`*`), the value
    /// of `registryScopes` MUST contain fully qualified registry URL(s)". notation-go does not
    /// enforce it (`validatePolicyCore` only refuses trust stores or identities on a `skip`
    /// policy, and its own tests accept a global `skip` policy); Vouch follows notation-go: a
    /// documented deviation, pinned here so that changing it is a decision.
    #[test]
    fn a_global_skip_policy_is_accepted_as_notation_go_does() {
        let mut p = policy();
        p["registryScopes"] = json!(["*"]);
        p["signatureVerification"] = json!({"level": "skip"});
        p.as_object_mut().unwrap().remove("trustStores");
        p.as_object_mut().unwrap().remove("trustedIdentities");
        let c = parse_value(&config(p)).unwrap();
        assert!(c.policies[0].level.is_skip());
    }

    #[test]
    fn parses_a_full_policy() {
        let mut p = policy();
        p["signatureVerification"]["override"] = json!({"expiry": "log", "revocation": "skip"});
        let c = parse_value(&config(p)).unwrap();
        let p = &c.policies[0];
        assert_eq!(p.level.action(Check::Integrity), Action::Enforce);
        assert_eq!(p.level.action(Check::Expiry), Action::Log);
        assert_eq!(p.level.action(Check::Revocation), Action::Skip);
        assert_eq!(c.certs(p, "ca"), vec![vec![1, 2, 3]]);
        assert!(
            p.identities
                .matches("CN=signer, O=Acme, L=Seattle, ST=WA, C=US")
                .unwrap()
        );
        assert!(
            !p.identities
                .matches("CN=other, O=Acme, ST=WA, C=US")
                .unwrap()
        );
        assert!(!p.identities.matches("O=Acme, ST=WA, C=US").unwrap());
    }

    #[test]
    fn level_table_matches_the_spec() {
        use Action::*;
        let row = |n| Check::ALL.map(|c| Level::base(n).unwrap().action(c));
        assert_eq!(row("strict"), [Enforce; 5]);
        assert_eq!(row("permissive"), [Enforce, Enforce, Log, Log, Log]);
        assert_eq!(row("audit"), [Enforce, Log, Log, Log, Log]);
        assert_eq!(row("skip"), [Skip; 5]);
    }

    /// A change to a valid config document.
    type Mutation = Box<dyn FnOnce(&mut serde_json::Value)>;

    #[test]
    fn rejects_bad_documents_precisely() {
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|v| v["trustPolicy"]["version"] = json!("2.0")),
                "version \"2.0\"",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["signatureVerification"]["level"] =
                        json!("lenient")
                }),
                "level \"lenient\"",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["signatureVerification"]["override"] =
                        json!({"expiri": "log"})
                }),
                "validation type \"expiri\"",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["signatureVerification"]["override"] =
                        json!({"expiry": "warn"})
                }),
                "action \"warn\"",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["signatureVerification"]["override"] =
                        json!({"integrity": "log"})
                }),
                "cannot be overridden",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["signatureVerification"]["override"] =
                        json!({"authenticity": "skip"})
                }),
                "cannot be skipped",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["trustStores"] = json!(["ca:missing"])
                }),
                "ca:missing is referenced but not defined",
            ),
            (
                Box::new(|v| v["trustPolicy"]["trustPolicies"][0]["trustStores"] = json!(["acme"])),
                "<type>:<name>",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["trustStores"] = json!(["tsa:ts"])
                }),
                "only tsa stores",
            ),
            (
                Box::new(|v| v["trustStores"]["ca"]["acme"] = json!(["not a pem"])),
                "no `-----BEGIN CERTIFICATE-----`",
            ),
            (
                Box::new(|v| {
                    v["trustStores"]["ca"]["acme"] =
                        json!(["-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"])
                }),
                "not valid base64",
            ),
            (
                Box::new(|v| {
                    v["trustStores"]["ca"]["acme"] =
                        json!(["-----BEGIN CERTIFICATE-----\nAQIE\n-----END CERTIFICATE-----"])
                }),
                "not a valid X.509 certificate: garbage",
            ),
            (
                Box::new(|v| v["trustStores"]["x"] = json!({})),
                "unknown trust store type \"x\"",
            ),
            (
                Box::new(|v| {
                    let p = v["trustPolicy"]["trustPolicies"][0].clone();
                    v["trustPolicy"]["trustPolicies"] = json!([p.clone(), p]);
                }),
                "same name",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["trustedIdentities"] =
                        json!(["x509.subject: C=US, O=Acme"])
                }),
                "no \"ST\" attribute",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["trustedIdentities"] =
                        json!(["x509.subject: C=US, ST=WA, O=Acme+OU=x"])
                }),
                "multi-valued",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["trustedIdentities"] =
                        json!(["x509.subject: C=US, C=CA, ST=WA, O=Acme"])
                }),
                "more than once",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["trustedIdentities"] =
                        json!(["email: a@b"])
                }),
                "unsupported type \"email\"",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["trustedIdentities"] =
                        json!(["*", "x509.subject: C=US, ST=WA, O=A"])
                }),
                "must be the only identity",
            ),
            (
                Box::new(|v| v["trustPolicy"]["trustPolicies"][0]["trustedIdentities"] = json!([])),
                "trustedIdentities is empty",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["trustedIdentities"] = json!([
                        "x509.subject: C=US, ST=WA, O=Acme",
                        "x509.subject: C=US, ST=WA, O=Acme, OU=Build"
                    ])
                }),
                "overlap (every certificate matching the second matches the first)",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["registryScopes"] =
                        json!(["ghcr.io/acme/app:v1"])
                }),
                "without tag or digest",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["registryScopes"] =
                        json!(["*", "ghcr.io/acme/app"])
                }),
                "must be the only scope",
            ),
            (
                Box::new(|v| v["trustPolicy"]["trustPolicies"][0]["registryScopes"] = json!([])),
                "registryScopes is empty",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["signatureVerifcation"] = json!({})
                }),
                "unknown field `signatureVerifcation`",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["signatureVerification"] =
                        json!({"level": "skip"})
                }),
                "remove them",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["signatureVerification"]["verifyTimestamp"] =
                        json!("never")
                }),
                "verifyTimestamp \"never\"",
            ),
        ];
        for (mutate, expected) in cases {
            let e = err_with(mutate);
            assert!(
                e.contains(expected),
                "error {e:?} does not mention {expected:?}"
            );
        }
    }

    /// trust-store-trust-policy.md: `registryScopes` are "fully qualified repository URLs"
    /// (`<registry>/<repository>`, no tag or digest, distribution's repository grammar: lower
    /// case alphanumerics separated by `.`, `_`, `-`, components by `/`); trust store names
    /// "SHOULD only contain alphanumeric characters, `_`, `.`, `-`" (notation-go refuses the
    /// others); `skip` "does not need a trust store or trusted identities". Each rule alone.
    #[test]
    fn each_scope_store_name_and_skip_rule_is_checked_alone() {
        let scope = |s: &'static str| -> Mutation {
            Box::new(move |v| v["trustPolicy"]["trustPolicies"][0]["registryScopes"] = json!([s]))
        };
        let cases: Vec<(Mutation, &str)> = vec![
            (scope("ghcr.io/"), "empty registry or repository"),
            (scope("/acme/app"), "empty registry or repository"),
            (
                scope("ghcr.io/acme/app@sha256:ab"),
                "(it has a tag or digest)",
            ),
            (scope("ghcr.io/acme/app@latest"), "(it has a tag or digest)"),
            (scope("ghcr.io/acme//app"), "invalid characters"),
            (scope("ghcr.io/Acme/app"), "invalid characters"),
            (scope("ghcr io/acme/app"), "invalid characters"),
            (
                Box::new(|v| v["trustPolicy"]["trustPolicies"][0]["trustStores"] = json!(["ca:"])),
                "trust store name \"\" is invalid",
            ),
            (
                Box::new(|v| {
                    v["trustPolicy"]["trustPolicies"][0]["trustStores"] = json!(["ca:a b"])
                }),
                "trust store name \"a b\" is invalid",
            ),
            (
                Box::new(|v| v["trustStores"]["ca"]["a/b"] = json!([PEM])),
                "trustStores.ca: trust store name \"a/b\" is invalid",
            ),
            (
                Box::new(|v| {
                    let p = &mut v["trustPolicy"]["trustPolicies"][0];
                    p["signatureVerification"] = json!({"level": "skip"});
                    p["trustedIdentities"] = json!([]);
                }),
                "remove them",
            ),
            (
                Box::new(|v| {
                    let p = &mut v["trustPolicy"]["trustPolicies"][0];
                    p["signatureVerification"] = json!({"level": "skip"});
                    p["trustStores"] = json!([]);
                }),
                "remove them",
            ),
        ];
        for (mutate, expected) in cases {
            let e = err_with(mutate);
            assert!(
                e.contains(expected),
                "error {e:?} does not mention {expected:?}"
            );
        }
        let mut p = policy();
        p["registryScopes"] = json!(["localhost:5000/team-1/app.v2_x", "[::1]:5000/a/b"]);
        p["trustStores"] = json!(["ca:acme"]);
        p["signatureVerification"]["override"] = json!({"revocation": "enforce"});
        let c = parse_value(&config(p)).unwrap();
        assert_eq!(
            c.policies[0].level.action(Check::Revocation),
            Action::Enforce
        );
        let mut p = policy();
        p["signatureVerification"] =
            json!({"level": "permissive", "override": {"expiry": "enforce"}});
        let c = parse_value(&config(p)).unwrap();
        assert_eq!(c.policies[0].level.action(Check::Expiry), Action::Enforce);
    }

    /// RFC 4514 §3: an attribute is `type=value`; notation-go refuses a trusted identity whose
    /// attribute type or value is empty.
    #[test]
    fn an_attribute_needs_a_type_and_a_value() {
        for dn in ["C=US, =WA", "C=US, ST="] {
            let e = parse_dn(dn, false).unwrap_err();
            assert!(e.contains("has an empty type or value"), "{dn}: {e}");
        }
    }

    /// A config whose policy and stores come from a notation home, as the host resolves it.
    fn home_config(policy: serde_json::Value) -> serde_json::Value {
        json!({"notationHome": {"file": "notation", "content": {
            "trustPolicyFile": "trustpolicy.oci.json",
            "trustPolicy": {"version": "1.0", "trustPolicies": [policy]},
            "trustStores": {"ca": {"acme": [PEM]}}}}})
    }

    #[test]
    fn a_resolved_notation_home_is_a_policy_and_its_stores() {
        let c = parse_value(&home_config(policy())).unwrap();
        assert_eq!(c.certs(&c.policies[0], "ca"), vec![vec![1, 2, 3]]);
        let mut bad = policy();
        bad["trustStores"] = json!(["ca:missing"]);
        let e = parse_value(&home_config(bad)).unwrap_err();
        assert!(
            e.starts_with("notationHome `notation` (trustpolicy.oci.json): trust policy \"p\": trust store ca:missing"),
            "{e}"
        );
        let mut both = home_config(policy());
        both["trustPolicy"] = json!({"version": "1.0", "trustPolicies": []});
        assert!(
            parse_value(&both)
                .unwrap_err()
                .contains("remove `trustPolicy`")
        );
        let unresolved = json!({"notationHome": "notation"});
        assert!(parse_value(&unresolved).unwrap_err().contains("unresolved"));
        assert!(
            parse_value(&json!({}))
                .unwrap_err()
                .contains("or `notationHome`")
        );
    }

    #[test]
    fn a_path_in_a_trust_store_says_so() {
        let e = err_with(|v| v["trustStores"]["ca"]["acme"] = json!(["certs/root.pem"]));
        assert!(
            e.contains("\"certs/root.pem\" looks like a file path") && e.contains("`notationHome`"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_scopes_across_policies_are_rejected() {
        let mut a = policy();
        a["registryScopes"] = json!(["reg.io/app"]);
        let mut b = a.clone();
        b["name"] = json!("q");
        let mut v = config(a);
        v["trustPolicy"]["trustPolicies"]
            .as_array_mut()
            .unwrap()
            .push(b);
        assert!(
            parse_value(&v)
                .unwrap_err()
                .contains("\"reg.io/app\" is present in trust policies")
        );
    }

    #[test]
    fn exact_scope_beats_wildcard() {
        let mut exact = policy();
        exact["name"] = json!("exact");
        exact["registryScopes"] = json!(["reg.io/team/app"]);
        let mut v = config(policy());
        v["trustPolicy"]["trustPolicies"]
            .as_array_mut()
            .unwrap()
            .push(exact);
        let c = parse_value(&v).unwrap();
        for r in [
            "reg.io/team/app:v1",
            "reg.io/team/app@sha256:ab",
            "reg.io/team/app:v1@sha256:ab",
        ] {
            assert_eq!(c.policy_for(r).unwrap().name, "exact", "{r}");
        }
        assert_eq!(c.policy_for("reg.io/team/other:v1").unwrap().name, "p");
        assert_eq!(repository_of("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(repository_of("localhost:5000/app:v2"), "localhost:5000/app");
    }

    #[test]
    fn dn_parsing_handles_escapes_and_spacing() {
        let dn = parse_dn(r"CN=a\, b ,O = Acme\+Co, c=US", false).unwrap();
        assert_eq!(dn["CN"], "a, b");
        assert_eq!(dn["O"], "Acme+Co");
        assert_eq!(dn["C"], "US");
        let multi = parse_dn("CN=x+OU=y, O=z", true).unwrap();
        assert_eq!(multi.len(), 3);
        assert!(parse_dn("CN", false).is_err());
        assert!(parse_dn("CN=x\\", false).is_err());
        let hex = parse_dn(r"CN=caf\c3\a9\20, O=\ lead", false).unwrap();
        assert_eq!(hex["CN"], "caf\u{e9} ");
        assert_eq!(hex["O"], " lead");
        assert!(parse_dn(r"CN=\ff", false).is_err());
    }
}
