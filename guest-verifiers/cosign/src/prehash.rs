//! ECDSA verification over a digest: a Sigstore message signature over a file the guest never
//! sees (`vouch verify --file/--digest`), of which the host hands over only the SHA-256.
//!
//! The host's `verify-signature` hashes the message it is given, so it cannot check a signature
//! against a digest alone; sigstore-go does the same check (`verifyMessageSignatureWithArtifact
//! Digest`: the signature verified "with digest" over the bundle's `messageDigest`, once that
//! digest is the artifact's) and, like it, only keys that sign a prehash can be verified this way:
//! ECDSA P-256 and P-384. RSA and Ed25519 keys are refused with a message saying so.

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::pkcs8::DecodePublicKey as _;

use crate::pem::{self, Alg};

/// Verifies the DER ECDSA `signature` over `digest` with the key `spki` (DER
/// SubjectPublicKeyInfo).
pub fn verify(spki: &[u8], digest: &[u8], signature: &[u8]) -> Result<(), String> {
    match pem::spki_alg(spki)? {
        Alg::EcdsaP256Sha256 => {
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki)
                .map_err(|e| format!("bad P-256 key: {e}"))?;
            let sig = p256::ecdsa::Signature::from_der(signature)
                .map_err(|e| format!("the signature is not a DER ECDSA P-256 signature: {e}"))?;
            key.verify_prehash(digest, &sig)
                .map_err(|_| "the ECDSA P-256 signature does not verify over the digest".into())
        }
        Alg::EcdsaP384Sha384 => {
            let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki)
                .map_err(|e| format!("bad P-384 key: {e}"))?;
            let sig = p384::ecdsa::Signature::from_der(signature)
                .map_err(|e| format!("the signature is not a DER ECDSA P-384 signature: {e}"))?;
            key.verify_prehash(digest, &sig)
                .map_err(|_| "the ECDSA P-384 signature does not verify over the digest".into())
        }
        other => Err(format!(
            "a {} key cannot be checked against a file's digest alone (only ECDSA P-256 and \
             P-384 signatures can be verified over a digest)",
            other.name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    use p256::pkcs8::EncodePublicKey as _;
    use sha2::Digest as _;

    use super::*;

    #[test]
    fn p256_and_p384_verify_over_a_digest_only() {
        let digest = sha2::Sha256::digest(b"release.tar.gz bytes").to_vec();
        let other = sha2::Sha256::digest(b"another file").to_vec();

        let k = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let spki = k.verifying_key().to_public_key_der().unwrap();
        let sig: p256::ecdsa::Signature = k.sign_prehash(&digest).unwrap();
        let der = sig.to_der();
        verify(spki.as_bytes(), &digest, der.as_bytes()).unwrap();
        let e = verify(spki.as_bytes(), &other, der.as_bytes()).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        assert!(verify(spki.as_bytes(), &digest, b"\x30\x02junk").is_err());

        let k = p384::ecdsa::SigningKey::from_slice(&[9u8; 48]).unwrap();
        let spki = k.verifying_key().to_public_key_der().unwrap();
        let sig: p384::ecdsa::Signature = k.sign_prehash(&digest).unwrap();
        verify(spki.as_bytes(), &digest, sig.to_der().as_bytes()).unwrap();
        assert!(verify(spki.as_bytes(), &other, sig.to_der().as_bytes()).is_err());
    }

    #[test]
    fn keys_that_cannot_sign_a_prehash_are_refused() {
        // Ed25519 SubjectPublicKeyInfo (RFC 8410) with a zero key.
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend([0u8; 32]);
        let e = verify(&spki, &[0; 32], &[0; 64]).unwrap_err();
        assert!(
            e.contains("cannot be checked against a file's digest"),
            "{e}"
        );
    }
}
