//! Reading PEM files: certificates, keys, CA bundles, each capped and named in errors.

use super::*;

/// The crypto provider of the server: aws-lc-rs, which reqwest already links in. (Enabling rustls'
/// `ring` feature as well would make rustls' process-wide default provider ambiguous, and every
/// `ClientConfig::builder()` in the dependency tree would then panic.)
pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Read a PEM file of at most [`MAX_PEM_BYTES`]: a regular file, never a FIFO or device.
pub(super) fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    use crate::localfile::LocalFileError;
    crate::localfile::read_regular_file_capped(path, MAX_PEM_BYTES, "PEM file").map_err(|e| match e
    {
        LocalFileError::TooLarge { .. } => TlsError::TooLarge {
            path: path.to_owned(),
        },
        LocalFileError::Io { source, .. } => TlsError::Read {
            path: path.to_owned(),
            source,
        },
        other @ (LocalFileError::NotFound { .. } | LocalFileError::NotRegular { .. }) => {
            let kind = if other.is_not_found() {
                io::ErrorKind::NotFound
            } else {
                io::ErrorKind::InvalidInput
            };
            TlsError::Read {
                path: path.to_owned(),
                source: io::Error::new(kind, other.to_string()),
            }
        }
    })
}

/// The `CERTIFICATE` sections of `pem_bytes` (read from `path`), at least one.
pub(super) fn parse_certs(
    path: &Path,
    pem_bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key of `pem_bytes` (read from `path`).
pub(super) fn parse_key(path: &Path, pem_bytes: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem_bytes).map_err(|e| match e {
        rustls_pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        source => TlsError::Pem {
            path: path.to_owned(),
            source,
        },
    })
}

/// A certificate chain and its key, from PEM bytes; fails unless the key is the certificate's.
pub(super) fn certified_key(
    provider: &CryptoProvider,
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<CertifiedKey, TlsError> {
    let chain = parse_certs(cert_path, cert_pem)?;
    let key = parse_key(key_path, key_pem)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::BadKey {
            path: key_path.to_owned(),
            source,
        })?;
    let pair = CertifiedKey::new(chain, signing_key);
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            })
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyUncheckable {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
        }),
        Err(source) => Err(TlsError::BadCertificate {
            path: cert_path.to_owned(),
            source,
        }),
    }
}
