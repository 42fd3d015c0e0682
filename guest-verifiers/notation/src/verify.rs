//! The verification flow, written against the [`Host`] trait so it holds no wit-bindgen glue.
//!
//! Order and semantics follow notation's `Verify`: the signature manifest and envelope are
//! checked (integrity), the payload must name the subject, then authenticity, authentic
//! timestamp, expiry and revocation are run, each enforced, logged or skipped as the policy's
//! level says. Time decisions:
//!
//! * **Authenticity** validates the chain to the policy's trust store of the scheme's type (`ca`
//!   for `notary.x509`, `signingAuthority` for `notary.x509.signingAuthority`) at the *signing
//!   time* in the envelope, with the code-signing EKU, and matches the leaf subject against the
//!   trusted identities.
//! * **Authentic timestamp**: for `notary.x509` the signing time is only the signer's claim.
//!   When every certificate of the chain is valid *now* (the guest's clock) no timestamp is
//!   needed. Otherwise an RFC 3161 timestamp countersignature must rescue it: the token
//!   ([`crate::tsp`]) must be over the envelope's signature, signed by a TSA chaining to the
//!   policy's `tsa` trust store (EKU timeStamping), and its time range (`genTime ± accuracy`) must
//!   lie inside the validity of every certificate of the signing chain. With `verifyTimestamp:
//!   always` (the default) a present timestamp is verified even when the chain is valid now (and
//!   must then pass); with `afterCertExpiry` it is only looked at once a certificate has expired.
//!   A verified timestamp is reported as the `timestamp` extension (and `timestampAuthority`).
//!   For `notary.x509.signingAuthority` the authentic signing time was already checked by
//!   authenticity and the check passes.
//! * **Expiry**: `io.cncf.notary.expiry` must be after now.
//! * **Revocation** needs OCSP/CRL fetches, which a sandboxed verifier cannot make: it is reported
//!   as `not checked (offline)` (with a warning log) and never counts as a failure.

use std::collections::BTreeMap;

use crate::envelope::{self, Envelope, EnvelopeError, Scheme};
use crate::policy::{self, Action, Check, Config, Policy, VerifyTimestamp};
use crate::time::format_rfc3339;
use crate::{cose, tsp};

/// Artifact type of notation signatures.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// JWS envelope media type.
pub const JWS: &str = "application/jose+json";
/// COSE envelope media type.
pub const COSE: &str = "application/cose";
/// Extended key usage required of the signing certificate: code signing.
pub const CODE_SIGNING_EKU: &str = "1.3.6.1.5.5.7.3.3";

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

/// What the host says about a certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial, lower-case hex.
    pub serial: String,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
}

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

/// Signature algorithms the flow asks the host to verify (envelopes and timestamp tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// ECDSA P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA P-384 with SHA-384.
    EcdsaP384Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256.
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512.
    RsaPssSha512,
}

/// How an ECDSA signature is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigEncoding {
    /// ASN.1 DER `SEQUENCE { r, s }` (CMS, X.509).
    Der,
    /// Fixed-width `r || s` (JWS, COSE).
    Fixed,
}

/// Digest algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// The imports the flow needs.
pub trait Host {
    /// The artifact's manifest bytes.
    fn manifest(&self) -> Result<Vec<u8>, String>;
    /// A blob named by the manifest.
    fn blob(&self, digest: &str) -> Result<Vec<u8>, String>;
    /// Verify `sig` over `msg` with the certificate's key.
    fn verify_signature(
        &self,
        alg: SigAlg,
        encoding: SigEncoding,
        cert: &[u8],
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), String>;
    /// Digest `data`.
    fn digest(&self, alg: HashAlg, data: &[u8]) -> Vec<u8>;
    /// Validate `chain` to one of `roots` at `at`, requiring `eku`.
    fn verify_chain(
        &self,
        chain: &[Vec<u8>],
        roots: &[Vec<u8>],
        at: i64,
        eku: &str,
    ) -> Result<Vec<CertInfo>, String>;
    /// Parse a certificate.
    fn parse_certificate(&self, der: &[u8]) -> Result<CertInfo, String>;
    /// Log a line.
    fn log(&self, level: LogLevel, msg: &str);
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

    let timestamp = check_authentic_timestamp(run, config, policy, &env, now);
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

    if level.action(Check::Revocation) == Action::Skip {
        run.checks
            .insert(Check::Revocation.name(), "skipped".into());
    } else {
        host.log(
            LogLevel::Warn,
            "revocation not checked: OCSP/CRL cannot be fetched by a sandboxed verifier (offline)",
        );
        run.checks
            .insert(Check::Revocation.name(), "not checked (offline)".into());
    }
    Ok(format!(
        "notation signature verified: signed by {:?} at {}, trust policy {:?} (level {}); revocation not checked (offline)",
        leaf.subject, env.signing_time_text, policy.name, level.name
    ))
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
    let path = host
        .verify_chain(&env.chain, &roots, env.signing_time, CODE_SIGNING_EKU)
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
    let mut chain = Vec::with_capacity(env.chain.len());
    for (i, der) in env.chain.iter().enumerate() {
        chain.push(host.parse_certificate(der).map_err(|e| {
            (
                "INVALID_ENVELOPE",
                format!("certificate {i} of the chain is not a certificate: {e}"),
            )
        })?);
    }
    let invalid_now = chain
        .iter()
        .find(|c| now < c.not_before || now > c.not_after);
    let check_token = match (&env.timestamp, policy.verify_timestamp) {
        (None, _) => false,
        (Some(_), VerifyTimestamp::Always) => true,
        (Some(_), VerifyTimestamp::AfterCertExpiry) => invalid_now.is_some(),
    };
    if !check_token {
        if env.timestamp.is_some() {
            host.log(
                LogLevel::Debug,
                "timestamp not checked: verifyTimestamp is afterCertExpiry and the certificate chain is valid now",
            );
        }
        return match invalid_now {
            None => Ok(()),
            Some(c) => Err((
                "CERTIFICATE_EXPIRED",
                format!(
                    "the signing time is not authentic (the envelope has no timestamp countersignature) and certificate {:?} is not valid now ({}): valid from {} to {}",
                    c.subject,
                    format_rfc3339(now),
                    format_rfc3339(c.not_before),
                    format_rfc3339(c.not_after)
                ),
            )),
        };
    }
    let token = env.timestamp.as_deref().unwrap_or_default();
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
    Ok(())
}
