//! The verification flow, written against the [`Host`] trait so it holds no wit-bindgen glue.
//!
//! Order and semantics follow notation's `Verify`: the signature manifest and envelope are
//! checked (integrity), the payload must name the subject, then authenticity, authentic
//! timestamp, expiry and revocation are run, each enforced, logged or skipped as the policy's
//! level says. Time decisions:
//!
//! * **Authenticity** validates the chain to the policy's trust store of the scheme's type (`ca`
//!   for `notary.x509`, `signingAuthority` for `notary.x509.signingAuthority`) at the *signing
//!   time* in the envelope (the envelope's chain must end in a certificate of that store, byte for
//!   byte, as notation-go compares it), with the signature specification's extended key usage rule for the
//!   signing certificate ([`signing_eku`]: optional; if present, code signing is checked and the
//!   TLS, e-mail, timestamping and any-purpose usages are refused), and matches the leaf subject
//!   against the trusted identities.
//! * **Authentic timestamp** (`notary.x509`; the signing time is only the signer's claim): as
//!   notation-go does, a timestamp is verified only when the policy names a `tsa` trust store.
//!   With one, `verifyTimestamp: always` (the default) requires an RFC 3161 timestamp
//!   countersignature: a signature without one fails ("no timestamp countersignature was found
//!   in the signature envelope"); `afterCertExpiry` requires it only once a certificate of the
//!   chain has expired. The token ([`crate::tsp`]) must be over the envelope's signature, signed
//!   by a TSA chaining to the `tsa` store (EKU timeStamping), and its time range
//!   (`genTime ± accuracy`) must lie inside the validity of every certificate of the signing
//!   chain; a verified timestamp is reported as the `timestamp` extension (and
//!   `timestampAuthority`). When no timestamp is verified every certificate of the chain must be
//!   valid *now* (the guest's clock). A timestamp that is present but cannot be parsed always
//!   fails, whether or not it would have been verified (fail closed; notation-go ignores an
//!   unverified one). For `notary.x509.signingAuthority` the authentic signing time was already
//!   checked by authenticity and the check passes.
//! * **Expiry**: `io.cncf.notary.expiry` must be after now.
//! * **Revocation**: following the specification's certificate revocation evaluation and
//!   notation-core-go, every certificate of the signing chain but the root is checked by OCSP
//!   (falling back to its CRLs) or its CRLs, fetched by the host's `revocation` import and judged
//!   here ([`crate::revocation::evaluate`]); one without OCSP or CRL information is not revoked.
//!   Revoked (`CERTIFICATE_REVOKED`) or undeterminable (`REVOCATION_STATUS_UNKNOWN`) fails the
//!   validation, enforced or logged as the level's `revocation` action says. The outcome is the
//!   `revocationStatus` extension ([`crate::revocation::Status`]: `skipped`, `nonRevokable`,
//!   `good`, `revoked` or `unknown`), which the engine counts in a metric. A verified
//!   timestamp's TSA chain is checked the same way inside the authentic timestamp validation, as
//!   notation-go does.

use std::collections::BTreeMap;

use crate::envelope::{self, Envelope, EnvelopeError, Scheme};
use crate::policy::{self, Action, Check, Config, Policy, VerifyTimestamp};
use crate::revocation::{self, Status};
use crate::time::format_rfc3339;
use crate::{cose, tsp, x509};

/// Artifact type of notation signatures.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// JWS envelope media type.
pub const JWS: &str = "application/jose+json";
/// COSE envelope media type.
pub const COSE: &str = "application/cose";
/// Extended key usage `id-kp-codeSigning`.
pub const CODE_SIGNING_EKU: &str = "1.3.6.1.5.5.7.3.3";
/// Key purposes a signing certificate's extended key usage MUST NOT contain (signature
/// specification, Leaf Certificates): `anyExtendedKeyUsage`, `serverAuth`, `clientAuth`,
/// `emailProtection`, `timeStamping`.
const FORBIDDEN_SIGNING_EKUS: [(&str, &str); 5] = [
    ("2.5.29.37.0", "anyExtendedKeyUsage"),
    ("1.3.6.1.5.5.7.3.1", "serverAuth"),
    ("1.3.6.1.5.5.7.3.2", "clientAuth"),
    ("1.3.6.1.5.5.7.3.4", "emailProtection"),
    ("1.3.6.1.5.5.7.3.8", "timeStamping"),
];

/// A descriptor, in the guest's own terms.
#[derive(Debug, Clone)]
pub struct Desc {
    /// Media type.
    pub media_type: String,
    /// Digest.
    pub digest: String,
    /// Size.
    pub size: u64,
}

pub use verifier_common::crypto::{CertInfo, Crypto, HashAlg, SigAlg, SigEncoding};

/// Log levels the flow uses.
#[derive(Debug, Clone, Copy)]
pub enum LogLevel {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
}

/// The imports the flow needs: the host's cryptography (signatures, digests, chains; the
/// shared [`Crypto`]) and the rest.
pub trait Host: Crypto {
    /// The artifact's manifest bytes.
    fn manifest(&self) -> Result<Vec<u8>, String>;
    /// A blob named by the manifest.
    fn blob(&self, digest: &str) -> Result<Vec<u8>, String>;
    /// Parse a certificate.
    fn parse_certificate(&self, der: &[u8]) -> Result<CertInfo, String>;
    /// Log a line.
    fn log(&self, level: LogLevel, msg: &str);
    /// The DER CRL at `url`, a CRL distribution point of `cert`, with the outcome of checking
    /// its signature against `issuer`'s key (the host's `revocation` import, which remembers
    /// that outcome per CRL and issuer; a host without one cannot fetch).
    fn fetch_crl(
        &self,
        _cert: &[u8],
        _issuer: &[u8],
        url: &str,
    ) -> Result<crate::crl::SignedCrl, String> {
        Err(format!("this host cannot fetch the CRL {url}"))
    }
    /// The DER OCSP response of responder `url` (named by `cert`) to the DER `request`.
    fn fetch_ocsp(&self, _cert: &[u8], url: &str, _request: &[u8]) -> Result<Vec<u8>, String> {
        Err(format!("this host cannot ask the OCSP responder {url}"))
    }
}

/// One verifier report, in the guest's own terms.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Pass or fail.
    pub ok: bool,
    /// Summary.
    pub message: String,
    /// Failure reason.
    pub reason: Option<&'static str>,
    /// Text extensions.
    pub text: Vec<(String, String)>,
    /// JSON extensions.
    pub json: Vec<(String, String)>,
}

struct Run<'a, H: Host> {
    host: &'a H,
    text: Vec<(String, String)>,
    checks: BTreeMap<&'static str, String>,
    logged: Vec<String>,
    /// DER certificates of the verified timestamp's TSA chain (empty when none was verified).
    tsa_chain: Vec<Vec<u8>>,
}

/// A failed outcome in progress.
type Fail = (&'static str, String);

impl<H: Host> Run<'_, H> {
    fn finish(mut self, result: Result<String, Fail>) -> Outcome {
        let json = if self.checks.is_empty() {
            Vec::new()
        } else {
            vec![(
                "checks".to_owned(),
                serde_json::to_string(&self.checks).unwrap_or_default(),
            )]
        };
        match result {
            Ok(mut message) => {
                if !self.logged.is_empty() {
                    message.push_str(&format!(
                        "; logged (not enforced) failures: {}",
                        self.logged.join("; ")
                    ));
                }
                Outcome {
                    ok: true,
                    message,
                    reason: None,
                    text: self.text,
                    json,
                }
            }
            Err((reason, message)) => {
                self.host.log(
                    LogLevel::Info,
                    &format!("notation verification failed: {message}"),
                );
                Outcome {
                    ok: false,
                    message,
                    reason: Some(reason),
                    text: std::mem::take(&mut self.text),
                    json,
                }
            }
        }
    }

    /// Records a check's result under the policy's action; an enforced failure stops the run.
    fn apply(
        &mut self,
        check: Check,
        action: Action,
        result: Result<(), Fail>,
    ) -> Result<(), Fail> {
        let name = check.name();
        match (action, result) {
            (Action::Skip, _) => {
                self.checks.insert(name, "skipped".into());
                Ok(())
            }
            (_, Ok(())) => {
                self.checks.insert(name, "passed".into());
                Ok(())
            }
            (Action::Enforce, Err((reason, msg))) => {
                self.checks.insert(name, format!("failed: {msg}"));
                Err((reason, format!("{name} validation failed: {msg}")))
            }
            (Action::Log, Err((_, msg))) => {
                self.host.log(
                    LogLevel::Warn,
                    &format!("{name} validation failed (logged, not enforced): {msg}"),
                );
                self.checks.insert(name, format!("failed (logged): {msg}"));
                self.logged.push(format!("{name}: {msg}"));
                Ok(())
            }
        }
    }
}

/// Verifies the notation signature `artifact` of `subject` under `config`, at time `now`.
pub fn verify<H: Host>(
    host: &H,
    config: &Config,
    subject_ref: &str,
    subject: &Desc,
    now: i64,
) -> Outcome {
    let mut run = Run {
        host,
        text: Vec::new(),
        checks: BTreeMap::new(),
        logged: Vec::new(),
        tsa_chain: Vec::new(),
    };
    let Some(policy) = config.policy_for(subject_ref) else {
        return run.finish(Err((
            "TRUST_POLICY_NOT_FOUND",
            format!(
                "no trust policy applies to {:?} (repository {:?}); add a policy with its repository or \"*\" in registryScopes",
                subject_ref,
                policy::repository_of(subject_ref)
            ),
        )));
    };
    run.text.push(("trustPolicy".into(), policy.name.clone()));
    run.text
        .push(("verificationLevel".into(), policy.level.name.clone()));
    let result = run_policy(&mut run, config, policy, subject, now);
    run.finish(result)
}

fn envelope_err(e: EnvelopeError) -> Fail {
    match e {
        EnvelopeError::Invalid(m) => ("INVALID_ENVELOPE", m),
        EnvelopeError::Unsupported(m) => ("UNSUPPORTED_ENVELOPE", m),
    }
}

fn run_policy<H: Host>(
    run: &mut Run<'_, H>,
    config: &Config,
    policy: &Policy,
    subject: &Desc,
    now: i64,
) -> Result<String, Fail> {
    let level = &policy.level;
    if level.is_skip() {
        for c in Check::ALL {
            run.checks.insert(c.name(), "skipped".into());
        }
        return Ok(format!(
            "signature verification skipped: trust policy {:?} has level \"skip\"",
            policy.name
        ));
    }
    let host = run.host;

    // Integrity: manifest, envelope, signature, payload.
    let (media_type, envelope_bytes) = read_envelope(host)?;
    let env = if media_type == COSE {
        cose::parse(&envelope_bytes)
    } else {
        envelope::parse(&envelope_bytes)
    }
    .map_err(envelope_err)?;
    let leaf = host.parse_certificate(&env.chain[0]).map_err(|e| {
        (
            "INVALID_ENVELOPE",
            format!("x5c[0] is not a certificate: {e}"),
        )
    })?;
    run.text.push(("Issuer".into(), leaf.issuer.clone()));
    run.text.push(("SN".into(), leaf.subject.clone()));
    run.text.push(("serialNumber".into(), leaf.serial.clone()));
    run.text
        .push(("signingTime".into(), env.signing_time_text.clone()));
    run.text
        .push(("signingScheme".into(), env.scheme.name().into()));
    if let Some(e) = env.expiry {
        run.text.push(("expiry".into(), format_rfc3339(e)));
    }
    if let Some(a) = &env.signing_agent {
        run.text.push(("signingAgent".into(), a.clone()));
    }
    let (alg, encoding) = env.alg.host_alg();
    let integrity = host
        .verify_signature(
            alg,
            encoding,
            &env.chain[0],
            &env.signing_input,
            &env.signature,
        )
        .map_err(|e| {
            (
                "SIGNATURE_INVALID",
                format!("the signature does not verify with the leaf certificate's key: {e}"),
            )
        });
    run.apply(Check::Integrity, level.action(Check::Integrity), integrity)?;
    check_certificate_requirements(host, &env.chain)?;
    check_requirements(run, &env.requires)?;
    let target = envelope::parse_payload(&env.payload).map_err(envelope_err)?;
    if target.digest != subject.digest
        || target.size != subject.size
        || target.media_type != subject.media_type
    {
        return Err((
            "SUBJECT_MISMATCH",
            format!(
                "the signed payload names {} {} ({} bytes), the subject is {} {} ({} bytes)",
                target.media_type,
                target.digest,
                target.size,
                subject.media_type,
                subject.digest,
                subject.size
            ),
        ));
    }

    let authenticity = check_authenticity(host, config, policy, &env);
    run.apply(
        Check::Authenticity,
        level.action(Check::Authenticity),
        authenticity,
    )?;

    let timestamp = check_authentic_timestamp(run, config, policy, &env, now)
        .and_then(|()| check_tsa_revocation(run, &config.certs(policy, "tsa"), now));
    run.apply(
        Check::AuthenticTimestamp,
        level.action(Check::AuthenticTimestamp),
        timestamp,
    )?;

    let expiry = match env.expiry {
        Some(e) if e <= now => Err((
            "SIGNATURE_EXPIRED",
            format!(
                "the signature expired at {} (now {})",
                format_rfc3339(e),
                format_rfc3339(now)
            ),
        )),
        _ => Ok(()),
    };
    run.apply(Check::Expiry, level.action(Check::Expiry), expiry)?;

    let status = check_revocation(run, &env, level.action(Check::Revocation), now)?;
    check_user_metadata(&config.user_metadata, &target.annotations)?;
    Ok(format!(
        "notation signature verified: signed by {:?} at {}, trust policy {:?} (level {}); revocation status {}",
        leaf.subject,
        env.signing_time_text,
        policy.name,
        level.name,
        status.name()
    ))
}

/// The Notary Project's certificate requirements of the envelope's chain (key usage, basic
/// constraints; [`x509::check_code_signing_chain`]), checked right after the signature as
/// notation-core-go's envelope verification does (`ValidateCodeSigningCertChain`, part of the
/// integrity validation, so at every level but `skip`): `CERTIFICATE_INVALID` naming the
/// certificate and the rule.
fn check_certificate_requirements<H: Host>(host: &H, chain: &[Vec<u8>]) -> Result<(), Fail> {
    x509::check_code_signing_chain(chain).map_err(|(index, e)| {
        let subject = chain
            .get(index)
            .and_then(|der| host.parse_certificate(der).ok())
            .map(|c| format!(" (subject {:?})", c.subject))
            .unwrap_or_default();
        (
            "CERTIFICATE_INVALID",
            format!("the certificate chain does not meet the Notary Project's certificate requirements: {e}{subject}"),
        )
    })
}

/// What the signature requires that this verifier cannot provide, refused right after the
/// integrity validation as notation-go does (it looks the verification plugin up there): a
/// verification plugin (`VERIFICATION_PLUGIN_REQUIRED`, naming it and its minimum version,
/// also reported in the `verificationPlugin` / `verificationPluginMinVersion` extensions), then
/// critical attributes not understood (`UNSUPPORTED_CRITICAL_ATTRIBUTE`). Whatever the level:
/// notation-go fails such a signature as inconclusive, outside the level's actions.
fn check_requirements<H: Host>(
    run: &mut Run<'_, H>,
    requires: &envelope::Requirements,
) -> Result<(), Fail> {
    if let Some((name, min)) = &requires.plugin {
        run.text.push(("verificationPlugin".into(), name.clone()));
        let version = match min {
            Some(v) => {
                run.text
                    .push(("verificationPluginMinVersion".into(), v.clone()));
                format!(" version {v} or later")
            }
            None => String::new(),
        };
        return Err((
            "VERIFICATION_PLUGIN_REQUIRED",
            format!(
                "the signature requires the notation verification plugin {name:?}{version} (protected header {}); this verifier runs no verification plugins",
                envelope::VERIFICATION_PLUGIN
            ),
        ));
    }
    if !requires.unknown_critical.is_empty() {
        return Err((
            "UNSUPPORTED_CRITICAL_ATTRIBUTE",
            format!(
                "the signature marks {:?} critical, which this verifier does not understand; a verifier MUST fail on a critical attribute it does not understand",
                requires.unknown_critical
            ),
        ));
    }
    Ok(())
}

/// `notation verify --user-metadata`: every configured pair must be among the signed
/// annotations of the target artifact (`USER_METADATA_MISMATCH`), checked once the signature is
/// otherwise verified, as notation-go does.
fn check_user_metadata(
    wanted: &BTreeMap<String, String>,
    signed: &BTreeMap<String, String>,
) -> Result<(), Fail> {
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(k, v)| signed.get(*k) != Some(*v))
        .map(|(k, v)| match signed.get(k) {
            Some(got) => format!("{k}={v} (signed: {k}={got})"),
            None => format!("{k}={v} (absent)"),
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err((
        "USER_METADATA_MISMATCH",
        format!(
            "the signed annotations of the target artifact lack the required user metadata: {}",
            missing.join(", ")
        ),
    ))
}

/// The revocation validation (see the module documentation): records the `revocationStatus`
/// extension and the check; a revoked or undeterminable status fails under `enforce` and is
/// recorded as a logged failure under `log`. As notation-go does, the signing chain is checked
/// with the authentic signing time only for `notary.x509.signingAuthority` (compared with an
/// `invalidityDate`); for `notary.x509` any revocation entry counts.
fn check_revocation<H: Host>(
    run: &mut Run<'_, H>,
    env: &Envelope,
    action: Action,
    now: i64,
) -> Result<Status, Fail> {
    let name = Check::Revocation.name();
    let status = if action == Action::Skip {
        Status::Skipped
    } else {
        let signing_time = (env.scheme == Scheme::SigningAuthority).then_some(env.signing_time);
        revocation::evaluate(
            run.host,
            &env.chain,
            "signing certificate",
            now,
            signing_time,
        )
    };
    run.text
        .push(("revocationStatus".into(), status.name().into()));
    let (reason, why) = match &status {
        Status::Skipped => {
            run.checks.insert(name, "skipped".into());
            return Ok(status);
        }
        Status::NonRevokable => {
            run.checks.insert(
                name,
                "passed (no certificate names an OCSP responder or a CRL distribution point)"
                    .into(),
            );
            return Ok(status);
        }
        Status::Good => {
            run.checks.insert(name, "passed (not revoked)".into());
            return Ok(status);
        }
        Status::Revoked(why) => ("CERTIFICATE_REVOKED", why.clone()),
        Status::Unknown(why) => ("REVOCATION_STATUS_UNKNOWN", why.clone()),
    };
    if action == Action::Enforce {
        run.checks.insert(name, format!("failed: {why}"));
        return Err((reason, format!("{name} validation failed: {why}")));
    }
    run.host.log(
        LogLevel::Warn,
        &format!("{name} validation failed (logged, not enforced): {why}"),
    );
    run.checks.insert(name, format!("failed (logged): {why}"));
    run.logged.push(format!("{name}: {why}"));
    Ok(status)
}

/// notation-go's authentic timestamp step 5: "Perform the timestamping certificate chain
/// revocation check" of a verified timestamp's TSA chain (without a signing time); a revoked or
/// undeterminable TSA certificate fails the authentic timestamp validation.
/// The token carries the TSA's certificates, not always its root: the chain is completed with
/// the `tsa` store certificate that issued its last certificate (as notation-go's verified chain
/// ends in the trusted root), so every TSA certificate but the root has an issuer to check with.
fn check_tsa_revocation<H: Host>(
    run: &mut Run<'_, H>,
    roots: &[Vec<u8>],
    now: i64,
) -> Result<(), Fail> {
    let mut chain = run.tsa_chain.clone();
    let Some(last) = chain.last() else {
        return Ok(());
    };
    if let Ok(id) = crate::pkix::cert_id(last)
        && id.issuer != id.subject
        && let Some(root) = roots
            .iter()
            .find(|r| crate::pkix::cert_id(r).is_ok_and(|r| r.subject == id.issuer) && *r != last)
    {
        chain.push(root.clone());
    }
    match revocation::evaluate(run.host, &chain, "timestamping certificate", now, None) {
        Status::Revoked(why) => Err(("CERTIFICATE_REVOKED", why)),
        Status::Unknown(why) => Err(("REVOCATION_STATUS_UNKNOWN", why)),
        _ => Ok(()),
    }
}

/// Reads the signature manifest and its one envelope layer: (media type, bytes).
fn read_envelope<H: Host>(host: &H) -> Result<(&'static str, Vec<u8>), Fail> {
    let bytes = host.manifest().map_err(|e| {
        (
            "STORE_ERROR",
            format!("reading the signature manifest: {e}"),
        )
    })?;
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        (
            "INVALID_ENVELOPE",
            format!("the signature manifest is not JSON: {e}"),
        )
    })?;
    let artifact_type = manifest
        .get("artifactType")
        .and_then(|v| v.as_str())
        .or_else(|| {
            manifest
                .pointer("/config/mediaType")
                .and_then(|v| v.as_str())
        });
    if artifact_type != Some(SIGNATURE_ARTIFACT_TYPE) {
        return Err((
            "INVALID_ENVELOPE",
            format!(
                "the manifest's artifact type is {artifact_type:?}, not {SIGNATURE_ARTIFACT_TYPE:?}"
            ),
        ));
    }
    let layers = manifest
        .get("layers")
        .and_then(|v| v.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let [layer] = layers else {
        return Err((
            "INVALID_ENVELOPE",
            format!(
                "a notation signature manifest has exactly one layer, this one has {}",
                layers.len()
            ),
        ));
    };
    let media_type = layer
        .get("mediaType")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let digest = layer.get("digest").and_then(|v| v.as_str()).ok_or((
        "INVALID_ENVELOPE",
        "the signature layer has no digest".to_owned(),
    ))?;
    let media_type = match media_type {
        JWS => JWS,
        COSE => COSE,
        other => {
            return Err((
                "INVALID_ENVELOPE",
                format!(
                    "the signature layer's media type {other:?} is neither {JWS:?} nor {COSE:?}"
                ),
            ));
        }
    };
    let bytes = host.blob(digest).map_err(|e| {
        (
            "STORE_ERROR",
            format!("reading the signature envelope {digest}: {e}"),
        )
    })?;
    Ok((media_type, bytes))
}

fn check_authenticity<H: Host>(
    host: &H,
    config: &Config,
    policy: &Policy,
    env: &Envelope,
) -> Result<(), Fail> {
    let kind = env.scheme.store_kind();
    let roots = config.certs(policy, kind);
    if roots.is_empty() {
        return Err((
            "UNTRUSTED",
            format!(
                "signing scheme {} needs a {kind:?} trust store, trust policy {:?} has none",
                env.scheme.name(),
                policy.name
            ),
        ));
    }
    check_chain_end(host, policy, kind, &env.chain, &roots)?;
    let eku = signing_eku(&env.chain[0])?;
    let path = host
        .verify_chain(&env.chain, &roots, env.signing_time, eku)
        .map_err(|e| ("UNTRUSTED", format!("the certificate chain does not lead to trust store type {kind:?} of policy {:?} at the signing time {}: {e}", policy.name, env.signing_time_text)))?;
    let leaf = path
        .first()
        .ok_or(("UNTRUSTED", "the host returned an empty path".to_owned()))?;
    match policy.identities.matches(&leaf.subject) {
        Ok(true) => Ok(()),
        Ok(false) => Err((
            "UNTRUSTED_IDENTITY",
            format!(
                "the signing certificate's subject {:?} is not one of the trusted identities of policy {:?}",
                leaf.subject, policy.name
            ),
        )),
        Err(e) => Err(("UNTRUSTED_IDENTITY", e)),
    }
}

/// Trust policy specification, Validate Authenticity: "Validate that the signature envelope
/// contains a complete certificate chain that starts from a code signing certificate and
/// terminates with a root certificate", which must be "a trusted certificate present in the named
/// store": the last certificate of the envelope's chain must be byte for byte one of `roots` (as
/// notation-go compares it). A chain that stops short of the root, or ends in a copy of it that
/// differs, is not trusted even if a path to the store could be built.
fn check_chain_end<H: Host>(
    host: &H,
    policy: &Policy,
    kind: &str,
    chain: &[Vec<u8>],
    roots: &[Vec<u8>],
) -> Result<(), Fail> {
    let Some(last) = chain.last() else {
        return Err((
            "INVALID_ENVELOPE",
            "the signature envelope has no certificate chain".to_owned(),
        ));
    };
    if roots.iter().any(|r| r == last) {
        return Ok(());
    }
    let subject = host
        .parse_certificate(last)
        .map_or_else(|e| format!("(unparsable: {e})"), |c| c.subject);
    Err((
        "UNTRUSTED",
        format!(
            "the certificate chain in the signature envelope does not end in a certificate of trust store type {kind:?} of policy {:?}: its last certificate (#{}, {subject:?}) is not in the store; the envelope must carry the complete chain up to a trusted root",
            policy.name,
            chain.len()
        ),
    ))
}

/// The extended key usage the chain validation must require of the signing certificate
/// `leaf`. Signature specification, Leaf Certificates: "The `extendedKeyUsage` extension is
/// OPTIONAL"; "For signing certificate: If present, the value MAY contain `id-kp-codeSigning` and
/// MUST NOT contain `anyExtendedKeyUsage`, `serverAuth`, `clientAuth`, `emailProtection` and
/// `timeStamping`". A leaf without the extension (or with only other purposes) needs none; one
/// listing code signing has it checked by the host (with EKU nesting through intermediates);
/// a forbidden purpose fails authenticity.
fn signing_eku(leaf: &[u8]) -> Result<Option<&'static str>, Fail> {
    let usages = x509::extended_key_usages(leaf).map_err(|e| {
        (
            "UNTRUSTED",
            format!("the signing certificate's extended key usage cannot be read: {e}"),
        )
    })?;
    let Some(usages) = usages else {
        return Ok(None);
    };
    if let Some((oid, name)) = FORBIDDEN_SIGNING_EKUS
        .iter()
        .find(|(oid, _)| usages.iter().any(|u| u == oid))
    {
        return Err((
            "UNTRUSTED",
            format!(
                "the signing certificate's extended key usage lists {name} ({oid}), which a Notary Project signing certificate MUST NOT contain (nor anyExtendedKeyUsage, serverAuth, clientAuth, emailProtection or timeStamping)"
            ),
        ));
    }
    Ok(usages
        .iter()
        .any(|u| u == CODE_SIGNING_EKU)
        .then_some(CODE_SIGNING_EKU))
}

/// The authentic timestamp validation (see the module documentation).
fn check_authentic_timestamp<H: Host>(
    run: &mut Run<'_, H>,
    config: &Config,
    policy: &Policy,
    env: &Envelope,
    now: i64,
) -> Result<(), Fail> {
    if env.scheme == Scheme::SigningAuthority {
        // The signing authority's authentic signing time was validated by authenticity.
        return Ok(());
    }
    let host = run.host;
    if let Some(token) = &env.timestamp {
        tsp::check_structure(token).map_err(|e| {
            (
                "TIMESTAMP_INVALID",
                format!("the timestamp countersignature cannot be parsed ({e})"),
            )
        })?;
    }
    let mut chain = Vec::with_capacity(env.chain.len());
    for (i, der) in env.chain.iter().enumerate() {
        chain.push(host.parse_certificate(der).map_err(|e| {
            (
                "INVALID_ENVELOPE",
                format!("certificate {i} of the chain is not a certificate: {e}"),
            )
        })?);
    }
    let expired = chain.iter().any(|c| now > c.not_after);
    // Why no timestamp is verified, if none is.
    let unverified = if !policy.has_tsa_store() {
        Some(format!(
            "trust policy {:?} names no \"tsa\" trust store, so no timestamp is verified",
            policy.name
        ))
    } else if policy.verify_timestamp == VerifyTimestamp::AfterCertExpiry && !expired {
        Some("verifyTimestamp is \"afterCertExpiry\" and no certificate has expired".to_owned())
    } else {
        None
    };
    if let Some(why) = unverified {
        if env.timestamp.is_some() {
            host.log(
                LogLevel::Debug,
                &format!("timestamp countersignature not verified: {why}"),
            );
        }
        return match chain
            .iter()
            .find(|c| now < c.not_before || now > c.not_after)
        {
            None => Ok(()),
            Some(c) => Err((
                "CERTIFICATE_EXPIRED",
                format!(
                    "the signing time is not authentic ({why}) and certificate {:?} is not valid now ({}): valid from {} to {}",
                    c.subject,
                    format_rfc3339(now),
                    format_rfc3339(c.not_before),
                    format_rfc3339(c.not_after)
                ),
            )),
        };
    }
    let token = env.timestamp.as_deref().ok_or_else(|| {
        (
            "TIMESTAMP_MISSING",
            format!(
                "no timestamp countersignature was found in the signature envelope; trust policy {:?} requires one (it names a \"tsa\" trust store and verifyTimestamp is {})",
                policy.name,
                match policy.verify_timestamp {
                    VerifyTimestamp::Always => "\"always\"",
                    VerifyTimestamp::AfterCertExpiry =>
                        "\"afterCertExpiry\" and a certificate of the chain has expired",
                }
            ),
        )
    })?;
    let ts = tsp::verify_token(host, token, &env.signature, &config.certs(policy, "tsa")).map_err(
        |e| {
            (
                "TIMESTAMP_INVALID",
                format!("the timestamp countersignature is not valid: {e}"),
            )
        },
    )?;
    for c in &chain {
        if ts.earliest() < c.not_before || ts.latest() > c.not_after {
            return Err((
                "TIMESTAMP_INVALID",
                format!(
                    "the timestamp {} (± {} s) is outside the validity of certificate {:?} ({} to {})",
                    format_rfc3339(ts.gen_time),
                    ts.accuracy,
                    c.subject,
                    format_rfc3339(c.not_before),
                    format_rfc3339(c.not_after)
                ),
            ));
        }
    }
    run.text
        .push(("timestamp".into(), format_rfc3339(ts.gen_time)));
    run.text
        .push(("timestampAuthority".into(), ts.tsa_subject.clone()));
    run.tsa_chain = ts.chain;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Alg;

    const NOW: i64 = 1_800_000_000;

    /// Certificates are named by their bytes: `valid` (valid now), `expired` (expired a second
    /// ago) or `future` (not valid yet). Nothing else is reachable from the timestamp check.
    struct FakeHost;

    impl Crypto for FakeHost {
        fn verify_signature(
            &self,
            _: SigAlg,
            _: SigEncoding,
            _: &[u8],
            _: &[u8],
            _: &[u8],
        ) -> Result<(), String> {
            Err("unused".into())
        }
        fn digest(&self, _: HashAlg, _: &[u8]) -> Vec<u8> {
            Vec::new()
        }
        fn verify_chain(
            &self,
            _: &[Vec<u8>],
            _: &[Vec<u8>],
            _: i64,
            _: Option<&str>,
        ) -> Result<Vec<CertInfo>, String> {
            Err("unused".into())
        }
    }

    impl Host for FakeHost {
        fn manifest(&self) -> Result<Vec<u8>, String> {
            Err("unused".into())
        }
        fn blob(&self, _: &str) -> Result<Vec<u8>, String> {
            Err("unused".into())
        }
        fn parse_certificate(&self, der: &[u8]) -> Result<CertInfo, String> {
            let (not_before, not_after) = match der {
                b"valid" => (NOW - 100, NOW + 100),
                b"expired" => (NOW - 100, NOW - 1),
                b"future" => (NOW + 1, NOW + 100),
                b"starts-now" => (NOW, NOW + 100),
                b"ends-now" => (NOW - 100, NOW),
                _ => return Err("not a certificate".into()),
            };
            Ok(CertInfo {
                subject: format!("CN={}", String::from_utf8_lossy(der)),
                issuer: String::new(),
                serial: "01".into(),
                not_before,
                not_after,
            })
        }
        fn log(&self, _: LogLevel, _: &str) {}
    }

    /// A config with one `*` policy; `tsa` adds a `tsa` trust store to it; an empty
    /// `verify_timestamp` leaves the option out.
    fn config(tsa: bool, verify_timestamp: &str) -> Config {
        let pem = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----";
        let mut stores = vec!["ca:acme"];
        if tsa {
            stores.push("tsa:ts");
        }
        let mut doc = serde_json::json!({
            "trustPolicy": {"version": "1.0", "trustPolicies": [{
                "name": "p", "registryScopes": ["*"],
                "signatureVerification": {"level": "strict"},
                "trustStores": stores, "trustedIdentities": ["*"],
            }]},
            "trustStores": {"ca": {"acme": [pem]}, "tsa": {"ts": [pem]}},
        });
        if !verify_timestamp.is_empty() {
            doc["trustPolicy"]["trustPolicies"][0]["signatureVerification"]["verifyTimestamp"] =
                verify_timestamp.into();
        }
        policy::parse(&doc.to_string(), &|_| Ok(())).unwrap()
    }

    fn envelope(leaf: &[u8], timestamp: Option<&[u8]>) -> Envelope {
        Envelope {
            signing_input: Vec::new(),
            signature: vec![1, 2, 3],
            payload: Vec::new(),
            alg: Alg::Es256,
            scheme: Scheme::X509,
            signing_time: NOW - 50,
            signing_time_text: String::new(),
            expiry: None,
            chain: vec![leaf.to_vec(), b"valid".to_vec()],
            signing_agent: None,
            timestamp: timestamp.map(<[u8]>::to_vec),
            requires: Default::default(),
        }
    }

    fn run() -> Run<'static, FakeHost> {
        Run {
            host: &FakeHost,
            text: Vec::new(),
            checks: BTreeMap::new(),
            logged: Vec::new(),
            tsa_chain: Vec::new(),
        }
    }

    /// signature-specification.md, verification plugins: a signature naming
    /// `io.cncf.notary.verificationPlugin` needs that plugin (of at least
    /// `io.cncf.notary.verificationPluginMinVersion`); "if the verifier encounters a critical
    /// attribute it does not understand, it MUST fail".
    #[test]
    fn plugin_and_unknown_critical_requirements_fail_precisely() {
        let mut requires = envelope::Requirements {
            plugin: Some(("com.example.plugin".into(), Some("1.2.0".into()))),
            unknown_critical: vec!["com.example.x".into()],
        };
        let mut r = run();
        let (reason, msg) = check_requirements(&mut r, &requires).unwrap_err();
        assert_eq!(reason, "VERIFICATION_PLUGIN_REQUIRED");
        assert!(
            msg.contains("\"com.example.plugin\" version 1.2.0 or later"),
            "{msg}"
        );
        assert!(
            r.text
                .contains(&("verificationPluginMinVersion".into(), "1.2.0".into()))
        );
        requires.plugin = None;
        let (reason, msg) = check_requirements(&mut run(), &requires).unwrap_err();
        assert_eq!(reason, "UNSUPPORTED_CRITICAL_ATTRIBUTE");
        assert!(msg.contains("[\"com.example.x\"]"), "{msg}");
        assert!(check_requirements(&mut run(), &Default::default()).is_ok());
    }

    /// notation verify --user-metadata: "the signed annotations of the target artifact must
    /// contain the pairs" (notation-go `verifyUserMetadata`: key present, value equal).
    #[test]
    fn user_metadata_must_be_among_the_signed_annotations() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let signed = map(&[("env", "prod"), ("team", "a")]);
        assert!(check_user_metadata(&map(&[]), &signed).is_ok());
        assert!(check_user_metadata(&map(&[("env", "prod")]), &signed).is_ok());
        let (reason, msg) =
            check_user_metadata(&map(&[("env", "dev"), ("x", "1")]), &signed).unwrap_err();
        assert_eq!(reason, "USER_METADATA_MISMATCH");
        assert!(
            msg.contains("env=dev (signed: env=prod)") && msg.contains("x=1 (absent)"),
            "{msg}"
        );
    }

    fn check(tsa: bool, verify_timestamp: &str, env: &Envelope) -> Result<(), Fail> {
        let config = config(tsa, verify_timestamp);
        let mut run = Run {
            host: &FakeHost,
            text: Vec::new(),
            checks: BTreeMap::new(),
            logged: Vec::new(),
            tsa_chain: Vec::new(),
        };
        check_authentic_timestamp(&mut run, &config, &config.policies[0], env, NOW)
    }

    #[track_caller]
    fn fails(result: Result<(), Fail>, reason: &str, text: &str) {
        let (r, m) = result.expect_err("the check passed");
        assert_eq!(r, reason, "{m}");
        assert!(m.contains(text), "{m:?} lacks {text:?}");
    }

    /// notation-go (`verifyTimestamp`): with a `tsa` trust store in the policy and
    /// `verifyTimestamp` `always`, "Timestamp countersignature MUST be present": "no timestamp
    /// countersignature was found in the signature envelope".
    #[test]
    fn a_tsa_store_with_always_requires_a_timestamp() {
        // "" leaves verifyTimestamp out: `always` is the default.
        for always in ["always", ""] {
            fails(
                check(true, always, &envelope(b"valid", None)),
                "TIMESTAMP_MISSING",
                "no timestamp countersignature was found in the signature envelope",
            );
        }
    }

    /// notation-go: "Timestamp verification disabled: verifyTimestamp is set to
    /// afterCertExpiry and signing cert chain unexpired"; once a certificate has expired the
    /// timestamp MUST be present.
    #[test]
    fn after_cert_expiry_requires_a_timestamp_only_once_a_certificate_expired() {
        assert_eq!(
            check(true, "afterCertExpiry", &envelope(b"valid", None)),
            Ok(())
        );
        fails(
            check(true, "afterCertExpiry", &envelope(b"expired", None)),
            "TIMESTAMP_MISSING",
            "a certificate of the chain has expired",
        );
        // A certificate whose notAfter is now has not expired yet (RFC 5280: inclusive).
        assert_eq!(
            check(true, "afterCertExpiry", &envelope(b"ends-now", None)),
            Ok(())
        );
        // Not verifying the timestamp, the chain must be valid now: not-yet-valid fails.
        fails(
            check(true, "afterCertExpiry", &envelope(b"future", None)),
            "CERTIFICATE_EXPIRED",
            "\"CN=future\" is not valid now",
        );
    }

    /// notation-go: "Timestamp verification disabled: no tsa trust store is configured in
    /// trust policy"; spec: "In the absence of an Authentic Timestamp, a signature is
    /// considered invalid if the signing certificate or chain is either expired".
    #[test]
    fn without_a_tsa_store_the_chain_must_be_valid_now() {
        for option in ["always", "afterCertExpiry"] {
            assert_eq!(check(false, option, &envelope(b"valid", None)), Ok(()));
            // RFC 5280 4.1.2.5: the validity period runs "from notBefore through notAfter,
            // inclusive": a certificate starting or ending exactly now is valid now.
            for edge in [&b"starts-now"[..], b"ends-now"] {
                assert_eq!(check(false, option, &envelope(edge, None)), Ok(()));
            }
            fails(
                check(false, option, &envelope(b"future", None)),
                "CERTIFICATE_EXPIRED",
                "\"CN=future\" is not valid now",
            );
            fails(
                check(false, option, &envelope(b"expired", None)),
                "CERTIFICATE_EXPIRED",
                "names no \"tsa\" trust store",
            );
        }
    }

    /// Signature specification, Leaf Certificates: "The `extendedKeyUsage` extension is
    /// OPTIONAL" and "For signing certificate: If present, the value MAY contain
    /// `id-kp-codeSigning` and MUST NOT contain `anyExtendedKeyUsage`, `serverAuth`,
    /// `clientAuth`, `emailProtection` and `timeStamping`."
    #[test]
    fn signing_certificate_eku_rule() {
        use crate::x509::tests::{cert, eku};
        // Absent: nothing to require.
        assert_eq!(signing_eku(&cert(&[])), Ok(None));
        // Code signing: required of the chain (the host checks it and EKU nesting).
        assert_eq!(signing_eku(&cert(&[eku(&[3])])), Ok(Some(CODE_SIGNING_EKU)));
        // Another, unlisted purpose (id-kp 17): allowed, nothing to require.
        assert_eq!(signing_eku(&cert(&[eku(&[17])])), Ok(None));
        for (kp, name) in [
            (1, "serverAuth"),
            (2, "clientAuth"),
            (4, "emailProtection"),
            (8, "timeStamping"),
        ] {
            let (reason, msg) = signing_eku(&cert(&[eku(&[3, kp])])).unwrap_err();
            assert_eq!(reason, "UNTRUSTED");
            assert!(msg.contains(&format!("lists {name}")), "{msg}");
        }
        let any = crate::x509::tests::ext(
            crate::x509::tests::tlv(crate::der::OID, &[0x55, 0x1d, 0x25]),
            crate::x509::tests::seq(&[crate::x509::tests::tlv(
                crate::der::OID,
                &[0x55, 0x1d, 0x25, 0x00],
            )]),
            false,
        );
        let (_, msg) = signing_eku(&cert(&[any])).unwrap_err();
        assert!(msg.contains("lists anyExtendedKeyUsage"), "{msg}");
    }

    /// Trust policy specification, Validate Authenticity: the envelope "contains a complete
    /// certificate chain that starts from a code signing certificate and terminates with a root
    /// certificate", a "trusted certificate present in the named store".
    #[test]
    fn the_chain_must_end_in_a_store_certificate() {
        let config = config(false, "");
        let policy = &config.policies[0];
        let roots = vec![b"valid".to_vec()];
        let check = |chain: &[&[u8]]| {
            let chain: Vec<Vec<u8>> = chain.iter().map(|c| c.to_vec()).collect();
            check_chain_end(&FakeHost, policy, "ca", &chain, &roots)
        };
        assert_eq!(check(&[b"leaf", b"valid"]), Ok(()));
        assert_eq!(check(&[b"valid"]), Ok(()));
        fails(
            check(&[b"valid", b"expired"]),
            "UNTRUSTED",
            "its last certificate (#2, \"CN=expired\") is not in the store",
        );
        fails(check(&[b"leaf"]), "UNTRUSTED", "(#1, \"(unparsable");
        fails(check(&[]), "INVALID_ENVELOPE", "no certificate chain");
    }

    /// A present timestamp that cannot be parsed fails in every configuration, saying so
    /// (fail closed, also where the timestamp would not have been verified).
    #[test]
    fn an_unparsable_timestamp_always_fails() {
        for (tsa, option) in [
            (true, "always"),
            (true, "afterCertExpiry"),
            (false, "always"),
            (false, "afterCertExpiry"),
        ] {
            fails(
                check(tsa, option, &envelope(b"valid", Some(b"garbage"))),
                "TIMESTAMP_INVALID",
                "the timestamp countersignature cannot be parsed (malformed timestamp token",
            );
        }
    }
}
