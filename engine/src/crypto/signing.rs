//! Keys Vouch signs with and the public keys it checks those signatures against: plugin
//! signatures (`vouch plugin push --sign`), `vouch sign`, verification summaries, and the
//! signed values of the Redis tier.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _,
};

use super::{SignatureEncoding, cosign_algorithm, verify_signature};

/// A signing or verification key file could not be read or used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("key {path}: {reason}")]
pub struct KeyError {
    /// The key file.
    pub path: PathBuf,
    /// What was wrong.
    pub reason: String,
}

/// A signing key (PKCS#8, unencrypted PEM `PRIVATE KEY`): ECDSA P-256 (what `keygen` makes),
/// ECDSA P-384 or Ed25519.
pub struct SigningKey {
    pair: Pair,
    rng: SystemRandom,
}

/// The key pair behind a [`SigningKey`].
enum Pair {
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").finish_non_exhaustive()
    }
}

/// A key file's bytes: a regular file under the config-file cap.
fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    crate::localfile::read_regular_file_capped(
        path,
        crate::localfile::MAX_CONFIG_FILE_BYTES,
        "key file",
    )
    .map_err(|e| KeyError {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

impl SigningKey {
    /// Generate a key pair; returns `(private PKCS#8 PEM, public SPKI PEM)`.
    pub fn generate_pem() -> Result<(String, String), KeyError> {
        let rng = SystemRandom::new();
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(|_| {
                KeyError {
                    path: PathBuf::from("<generated>"),
                    reason: "cannot generate an ECDSA P-256 key".into(),
                }
            })?;
        let key = Self::from_pkcs8_der(doc.as_ref(), Path::new("<generated>"))?;
        Ok((pem("PRIVATE KEY", doc.as_ref()), key.public_key_pem()))
    }

    /// Read a PKCS#8 PEM private key from `path`.
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        Self::from_pem(&read_key_file(path)?, path)
    }

    /// Parse a PKCS#8 PEM private key; `path` names it in errors.
    pub fn from_pem(text: &[u8], path: &Path) -> Result<SigningKey, KeyError> {
        let fail = |reason: String| KeyError {
            path: path.to_owned(),
            reason,
        };
        let (pem, _) = x509_parser::pem::Pem::read(std::io::Cursor::new(text))
            .map_err(|e| fail(format!("not a PEM file: {e}")))?;
        match pem.label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&pem.contents, path),
            "EC PRIVATE KEY" => Err(fail(
                "a SEC1 `EC PRIVATE KEY`; convert it to PKCS#8 with \
                 `openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.p8.pem`"
                    .into(),
            )),
            label if label.contains("ENCRYPTED") => Err(fail(format!(
                "`{label}` is encrypted; an unencrypted PKCS#8 `PRIVATE KEY` is required"
            ))),
            label => Err(fail(format!(
                "PEM label `{label}`; a PKCS#8 `PRIVATE KEY` (ECDSA P-256, P-384 or Ed25519) is required"
            ))),
        }
    }

    fn from_pkcs8_der(der: &[u8], path: &Path) -> Result<SigningKey, KeyError> {
        let rng = SystemRandom::new();
        let pair = if let Ok(p) =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
        {
            Pair::P256(p)
        } else if let Ok(p) = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, der, &rng) {
            Pair::P384(p)
        } else {
            // `maybe_unchecked`: also the PKCS#8 v1 form OpenSSL writes (no public key inside).
            let p = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| KeyError {
                path: path.to_owned(),
                reason: format!(
                    "not an ECDSA P-256, ECDSA P-384 or Ed25519 PKCS#8 private key ({e})"
                ),
            })?;
            Pair::Ed25519(p)
        };
        Ok(SigningKey { pair, rng })
    }

    /// Sign `message` as cosign does: ECDSA over SHA-256 (P-256) or SHA-384 (P-384) with an
    /// ASN.1 DER signature, or Ed25519.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let signed = match &self.pair {
            Pair::P256(p) | Pair::P384(p) => {
                p.sign(&self.rng, message).map(|s| s.as_ref().to_vec())
            }
            Pair::Ed25519(p) => Ok(p.sign(message).as_ref().to_vec()),
        };
        signed.map_err(|_| KeyError {
            path: PathBuf::from("<signing key>"),
            reason: "signing failed".into(),
        })
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        // SEQUENCE { SEQUENCE { algorithm (, curve) }, BIT STRING (the key) }
        const P256_SPKI_PREFIX: [u8; 26] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        const P384_SPKI_PREFIX: [u8; 23] = [
            0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
        ];
        const ED25519_SPKI_PREFIX: [u8; 12] = [
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        let (prefix, key): (&[u8], &[u8]) = match &self.pair {
            Pair::P256(p) => (&P256_SPKI_PREFIX, p.public_key().as_ref()),
            Pair::P384(p) => (&P384_SPKI_PREFIX, p.public_key().as_ref()),
            Pair::Ed25519(p) => (&ED25519_SPKI_PREFIX, p.public_key().as_ref()),
        };
        [prefix, key].concat()
    }

    /// The public key as PEM `PUBLIC KEY` (SPKI), the form [`VerifyingKeys`] reads.
    pub fn public_key_pem(&self) -> String {
        pem("PUBLIC KEY", &self.public_key_spki_der())
    }
}

/// `der` as PEM with `label`, 64 characters a line.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Public keys a signature must verify with (any one suffices): every `PUBLIC KEY` PEM
/// block of one file, so a key can be rotated by listing old and new keys together.
#[derive(Clone, Debug)]
pub struct VerifyingKeys {
    path: PathBuf,
    keys: Vec<Vec<u8>>,
}

impl VerifyingKeys {
    /// Read every `PUBLIC KEY` (SPKI) PEM block of `path`; at least one is required.
    pub fn load(path: &Path) -> Result<VerifyingKeys, KeyError> {
        Self::from_pem(&read_key_file(path)?, path)
    }

    /// Parse PEM text; `path` names the keys in errors and messages.
    pub fn from_pem(text: &[u8], path: &Path) -> Result<VerifyingKeys, KeyError> {
        let fail = |reason: String| KeyError {
            path: path.to_owned(),
            reason,
        };
        let mut keys = Vec::new();
        for (i, block) in x509_parser::pem::Pem::iter_from_buffer(text).enumerate() {
            let block = block.map_err(|e| fail(format!("malformed PEM block {}: {e}", i + 1)))?;
            if block.label != "PUBLIC KEY" {
                return Err(fail(format!(
                    "PEM block {} is `{}`; only `PUBLIC KEY` (SPKI) blocks are accepted",
                    i + 1,
                    block.label
                )));
            }
            keys.push(block.contents);
        }
        if keys.is_empty() {
            return Err(fail("no `PUBLIC KEY` PEM block".into()));
        }
        Ok(VerifyingKeys {
            path: path.to_owned(),
            keys,
        })
    }

    /// Verify `signature` over `message` with the keys in turn: ECDSA signatures are ASN.1 DER
    /// (as cosign and DSSE writers produce them), RSA and Ed25519 as usual. Returns which key
    /// verified (`<file> (key N)`), or why each refused.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<String, String> {
        let mut why = Vec::new();
        for (i, key) in self.keys.iter().enumerate() {
            let verified = cosign_algorithm(key).and_then(|alg| {
                verify_signature(alg, SignatureEncoding::Der, key, message, signature)
            });
            match verified {
                Ok(()) => return Ok(format!("{} (key {})", self.path.display(), i + 1)),
                Err(e) => why.push(format!("key {}: {e}", i + 1)),
            }
        }
        Err(why.join(", "))
    }

    /// The SubjectPublicKeyInfo DER of each key, in file order.
    pub fn spki_ders(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().map(Vec::as_slice)
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many keys the file holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the file holds no key (never true for a loaded set).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How the keys are named in messages: "the key(s) in `<file>`".
    pub fn describe(&self) -> String {
        format!("the key(s) in {}", self.path.display())
    }
}
