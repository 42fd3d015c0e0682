//! Certificate chain validation with rustls-webpki, extended key usage, validity windows.

use super::*;

/// The EKU OIDs a certificate lists (`None` without an EKU extension; malformed lists are empty).
pub(super) fn certificate_ekus<'a>(cert: &X509Certificate<'a>) -> Option<Vec<&'a [u8]>> {
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.as_bytes() == OID_EXT_KEY_USAGE)?;
    let list = read_whole(ext.value, TAG_SEQUENCE)?;
    Some(
        TlvIter::new(list)
            .map_while(|tlv| tlv.filter(|t| t.tag == TAG_OID).map(|t| t.value))
            .collect(),
    )
}

/// webpki EKU policy: nothing required, or "if present, must allow `required` (or any EKU)".
///
/// webpki applies it to every certificate in the path; the leaf's explicit requirement is checked
/// separately in [`verify_chain`].
pub(super) struct EkuPolicy<'a> {
    required: Option<&'a [u8]>,
    /// The EKUs of the last certificate that failed the policy, dotted.
    violation: RefCell<Option<Vec<String>>>,
}

impl ExtendedKeyUsageValidator for EkuPolicy<'_> {
    // `RequiredEkuNotFoundContext` needs a `'static` OID; ours is per call, so the plain variant
    // is returned and the details are kept in `violation`.
    #[allow(deprecated)]
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let Some(required) = self.required else {
            for id in iter {
                id?;
            }
            return Ok(());
        };
        let wanted = KeyPurposeId::new(required);
        let any = KeyPurposeId::new(OID_ANY_EKU);
        let mut present = Vec::new();
        for id in iter {
            let id = id?;
            if id == wanted || id == any {
                return Ok(());
            }
            present.push(
                id.to_decoded_oid()
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join("."),
            );
        }
        if present.is_empty() {
            return Ok(());
        }
        *self.violation.borrow_mut() = Some(present);
        Err(webpki::Error::RequiredEkuNotFound)
    }
}

/// Checks a parsed certificate's validity period at `at_unix`.
pub(super) fn check_validity_at(
    cert: &X509Certificate<'_>,
    at_unix: i64,
) -> Result<(), CryptoError> {
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if at_unix < not_before {
        return Err(CryptoError::CertNotYetValid {
            subject: format_name(cert.subject()),
            not_before,
            at_unix,
        });
    }
    if at_unix > not_after {
        return Err(CryptoError::CertExpired {
            subject: format_name(cert.subject()),
            not_after,
            at_unix,
        });
    }
    Ok(())
}

/// Validate `chain_der` (leaf first; PEM or DER entries) to one of `roots_der` at `at_unix`,
/// requiring the extended key usage `eku` (dotted OID) when given. Returns leaf → anchor infos.
pub fn verify_chain(
    chain_der: &[Vec<u8>],
    roots_der: &[Vec<u8>],
    at_unix: i64,
    eku: Option<&str>,
) -> Result<Vec<CertInfo>, CryptoError> {
    let seconds = u64::try_from(at_unix).map_err(|_| CryptoError::InvalidTime(at_unix))?;
    let required_eku = eku.map(encode_oid).transpose()?;

    let mut chain = Vec::with_capacity(chain_der.len());
    for (i, entry) in chain_der.iter().enumerate() {
        let what = if i == 0 {
            "chain[0] (the leaf)".to_owned()
        } else {
            format!("chain[{i}]")
        };
        decode_cert_entry(entry, &what, &mut chain)?;
    }
    if chain.is_empty() {
        return Err(CryptoError::EmptyChain);
    }
    let mut roots = Vec::with_capacity(roots_der.len());
    for (i, entry) in roots_der.iter().enumerate() {
        decode_cert_entry(entry, &format!("roots[{i}]"), &mut roots)?;
    }
    if roots.is_empty() {
        return Err(CryptoError::NoRoots);
    }

    let parsed = chain
        .iter()
        .map(|(what, der)| parse_x509(der, what))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = &parsed[0];
    let leaf_der: &[u8] = &chain[0].1;

    if let (Some(required), Some(dotted)) = (required_eku.as_deref(), eku) {
        let present = certificate_ekus(leaf).unwrap_or_default();
        if !present.contains(&required) {
            return Err(CryptoError::EkuMissing {
                subject: format_name(leaf.subject()),
                required: dotted.to_owned(),
                present: present.iter().map(|oid| decode_oid(oid)).collect(),
            });
        }
    }

    // A leaf that is itself one of the roots is trusted directly.
    if roots.iter().any(|(_, root)| root.as_ref() == leaf_der) {
        check_validity_at(leaf, at_unix)?;
        tracing::debug!(subject = %format_name(leaf.subject()), "leaf certificate is a trusted root");
        return Ok(vec![cert_info(leaf_der, leaf)]);
    }

    let root_ders: Vec<CertificateDer<'_>> = roots
        .iter()
        .map(|(_, der)| CertificateDer::from(der.as_ref()))
        .collect();
    let anchors = root_ders
        .iter()
        .zip(&roots)
        .map(|(der, (what, _))| {
            webpki::anchor_from_trusted_cert(der).map_err(|e| CryptoError::UnparsableCertificate {
                what: what.clone(),
                reason: format!("not usable as a trust anchor: {e:?}"),
            })
        })
        .collect::<Result<Vec<TrustAnchor<'_>>, _>>()?;
    let leaf_cert_der = CertificateDer::from(leaf_der);
    let end_entity = EndEntityCert::try_from(&leaf_cert_der).map_err(|e| {
        CryptoError::UnparsableCertificate {
            what: chain[0].0.clone(),
            reason: format!("rejected by the path validator: {e:?}"),
        }
    })?;
    let intermediates: Vec<CertificateDer<'_>> = chain[1..]
        .iter()
        .map(|(_, der)| CertificateDer::from(der.as_ref()))
        .collect();
    let policy = EkuPolicy {
        required: required_eku.as_deref(),
        violation: RefCell::new(None),
    };

    let path = end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(Duration::from_secs(seconds)),
            &policy,
            None,
            None,
        )
        .map_err(|e| chain_error(e, at_unix, &parsed, &roots, eku, &policy))?;

    let mut infos = Vec::with_capacity(2 + intermediates.len());
    infos.push(cert_info(leaf_der, leaf));
    for cert in path.intermediate_certificates() {
        let der = cert.der();
        infos.push(cert_info(
            &der,
            &parse_x509(&der, "an intermediate certificate")?,
        ));
    }
    let anchor_index = anchors
        .iter()
        .position(|a| std::ptr::eq(a, path.anchor()))
        .ok_or_else(|| {
            CryptoError::InvalidChain("the trust anchor of the path is unknown".to_owned())
        })?;
    let (what, root_der) = &roots[anchor_index];
    infos.push(cert_info(root_der, &parse_x509(root_der, what)?));
    tracing::debug!(
        leaf = %infos[0].subject,
        anchor = %infos[infos.len() - 1].subject,
        length = infos.len(),
        "certificate chain verified"
    );
    Ok(infos)
}

/// Turns a webpki path-building error into a [`CryptoError`] naming the certificate when known.
#[allow(deprecated)] // matches webpki's deprecated variants too
pub(super) fn chain_error(
    error: webpki::Error,
    at_unix: i64,
    chain: &[X509Certificate<'_>],
    roots: &[(String, Cow<'_, [u8]>)],
    eku: Option<&str>,
    policy: &EkuPolicy<'_>,
) -> CryptoError {
    use webpki::Error as E;
    let subject_where = |pred: &dyn Fn(&X509Certificate<'_>) -> bool| {
        chain.iter().find(|c| pred(c)).map_or_else(
            || "a certificate in the chain".to_owned(),
            |c| format_name(c.subject()),
        )
    };
    let leaf = &chain[0];
    match error {
        E::CertExpired { not_after, .. } => {
            let not_after = i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX);
            CryptoError::CertExpired {
                subject: subject_where(&|c| c.validity().not_after.timestamp() == not_after),
                not_after,
                at_unix,
            }
        }
        E::CertNotValidYet { not_before, .. } => {
            let not_before = i64::try_from(not_before.as_secs()).unwrap_or(i64::MAX);
            CryptoError::CertNotYetValid {
                subject: subject_where(&|c| c.validity().not_before.timestamp() == not_before),
                not_before,
                at_unix,
            }
        }
        E::UnknownIssuer => {
            let root_names: Vec<String> = roots
                .iter()
                .take(5)
                .map(|(what, der)| match X509Certificate::from_der(der) {
                    Ok((_, c)) => format_name(c.subject()),
                    Err(_) => what.clone(),
                })
                .collect();
            let more = if roots.len() > 5 {
                format!(" and {} more", roots.len() - 5)
            } else {
                String::new()
            };
            let top = chain.last().unwrap_or(leaf);
            CryptoError::UntrustedChain(format!(
                "no path from the leaf {} to a trusted root: the chain ends at {} issued by {}, which is not among the trusted roots [{}{more}]",
                format_name(leaf.subject()),
                format_name(top.subject()),
                format_name(top.issuer()),
                root_names.join("; ")
            ))
        }
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => {
            CryptoError::EkuNotPermittedByIssuer {
                required: eku.unwrap_or_default().to_owned(),
                present: policy.violation.borrow().clone().unwrap_or_default(),
            }
        }
        E::InvalidSignatureForPublicKey => CryptoError::InvalidChain(
            "a certificate's signature does not verify with its issuer's public key".to_owned(),
        ),
        E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKey
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | E::SignatureAlgorithmMismatch => CryptoError::InvalidChain(format!(
            "a certificate is signed with an unsupported or mismatched algorithm ({error:?})"
        )),
        E::CaUsedAsEndEntity => CryptoError::InvalidChain(format!(
            "the leaf {} is a CA certificate (basicConstraints cA=true) and cannot be the end-entity certificate",
            format_name(leaf.subject())
        )),
        E::EndEntityUsedAsCa => CryptoError::InvalidChain(
            "a certificate that issues another one in the chain is not a CA (basicConstraints cA is absent or false)"
                .to_owned(),
        ),
        E::PathLenConstraintViolated => CryptoError::InvalidChain(
            "a CA's basicConstraints pathLenConstraint is exceeded".to_owned(),
        ),
        E::EmptyEkuExtension => CryptoError::InvalidChain(
            "a certificate has an empty extended key usage extension".to_owned(),
        ),
        E::UnsupportedCriticalExtension => CryptoError::InvalidChain(
            "a certificate has a critical extension the validator does not support".to_owned(),
        ),
        E::NameConstraintViolation => CryptoError::InvalidChain(
            "a certificate violates its issuer's name constraints".to_owned(),
        ),
        E::InvalidCertValidity => CryptoError::InvalidChain(
            "a certificate's notBefore is after its notAfter".to_owned(),
        ),
        E::CertDistrusted => CryptoError::InvalidChain(
            "a certificate in the chain uses a distrusted public key".to_owned(),
        ),
        E::MaximumPathDepthExceeded
        | E::MaximumPathBuildCallsExceeded
        | E::MaximumSignatureChecksExceeded => CryptoError::InvalidChain(format!(
            "the chain is too long or too ambiguous to build a path ({error:?})"
        )),
        other => CryptoError::InvalidChain(format!("{other:?}")),
    }
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp (`2024-01-31T12:00:00Z`).
pub(super) fn fmt_unix(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
