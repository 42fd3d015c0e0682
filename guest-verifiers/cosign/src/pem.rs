//! PEM decoding and public-key algorithm detection.

use base64::Engine as _;

use crate::der;

/// Signature algorithms: the guests' one copy of the WIT `signature-algorithm` enum.
pub use verifier_common::crypto::SigAlg as Alg;

/// One PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The label, e.g. `PUBLIC KEY`.
    pub label: String,
    /// The decoded contents.
    pub der: Vec<u8>,
}

/// Decodes every PEM block of `text`, in order; an error names the first malformed one.
pub fn decode_all(text: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if line.contains(':') {
                continue; // RFC 1421 headers
            }
            body.push_str(line);
        }
        if !closed {
            return Err(format!("PEM block `{label}` has no END line"));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("PEM block `{label}` is not valid base64: {e}"))?;
        if der.is_empty() {
            return Err(format!("PEM block `{label}` is empty"));
        }
        blocks.push(Block {
            label: label.to_owned(),
            der,
        });
    }
    Ok(blocks)
}

/// Decodes the certificates of a PEM bundle; at least one is required.
pub fn certificates(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let blocks = decode_all(text)?;
    let mut certs = Vec::new();
    for b in blocks {
        if b.label != "CERTIFICATE" {
            return Err(format!(
                "expected CERTIFICATE PEM blocks, found `{}`",
                b.label
            ));
        }
        certs.push(b.der);
    }
    if certs.is_empty() {
        return Err("no PEM CERTIFICATE block".into());
    }
    Ok(certs)
}

/// A public key parsed from PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The DER of the key as given (SPKI, or PKCS#1 for `RSA PUBLIC KEY`).
    pub der: Vec<u8>,
    /// The algorithm the key's type calls for.
    pub alg: Alg,
}

/// OID of `id-ecPublicKey`.
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
/// OID of the P-256 curve.
const P256: &str = "1.2.840.10045.3.1.7";
/// OID of the P-384 curve.
const P384: &str = "1.3.132.0.34";
/// OID of `rsaEncryption`.
const RSA: &str = "1.2.840.113549.1.1.1";
/// OID of `id-RSASSA-PSS`.
const RSA_PSS: &str = "1.2.840.113549.1.1.10";
/// OID of Ed25519.
const ED25519: &str = "1.3.101.112";

/// The algorithm a DER `SubjectPublicKeyInfo` calls for: ECDSA P-256/P-384 with the curve's
/// hash, RSA with PKCS#1 v1.5 SHA-256 (cosign's choice), RSASSA-PSS SHA-256, Ed25519.
pub fn spki_alg(spki: &[u8]) -> Result<Alg, String> {
    let a = der::spki_algorithm(spki).map_err(|e| format!("bad SubjectPublicKeyInfo: {e}"))?;
    match (a.algorithm.as_str(), a.curve.as_deref()) {
        (EC_PUBLIC_KEY, Some(P256)) => Ok(Alg::EcdsaP256Sha256),
        (EC_PUBLIC_KEY, Some(P384)) => Ok(Alg::EcdsaP384Sha384),
        (EC_PUBLIC_KEY, curve) => Err(format!(
            "unsupported EC curve {}",
            curve.unwrap_or("(none)")
        )),
        (RSA, _) => Ok(Alg::RsaPkcs1Sha256),
        (RSA_PSS, _) => Ok(Alg::RsaPssSha256),
        (ED25519, _) => Ok(Alg::Ed25519),
        (other, _) => Err(format!("unsupported public key algorithm {other}")),
    }
}

/// Parses a PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`) and detects its algorithm.
pub fn public_key(text: &str) -> Result<PublicKey, String> {
    let blocks = decode_all(text)?;
    let Some(block) = blocks.into_iter().next() else {
        return Err("no PEM block found".into());
    };
    match block.label.as_str() {
        "PUBLIC KEY" => {
            let alg = spki_alg(&block.der)?;
            Ok(PublicKey {
                der: block.der,
                alg,
            })
        }
        "RSA PUBLIC KEY" => {
            let mut r = der::Reader::new(&block.der);
            r.expect(der::SEQUENCE, "RSAPublicKey")
                .map_err(|e| format!("bad RSA PUBLIC KEY: {e}"))?;
            Ok(PublicKey {
                der: block.der,
                alg: Alg::RsaPkcs1Sha256,
            })
        }
        other => Err(format!(
            "expected a `PUBLIC KEY` or `RSA PUBLIC KEY` PEM block, found `{other}`"
        )),
    }
}

/// Re-encodes DER as a PEM block with `label` (the host accepts PEM or DER; PEM is unambiguous).
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G5kfIAFEhWcljeuqgQ0K8cV2Ba8
bBDz6Tt5HnXYfGkvoBeXI8EKjBAyz4U3Sc1eBRUf9n4L9wwsRC3bHHJZbA==
-----END PUBLIC KEY-----
";

    #[test]
    fn detects_p256() {
        let k = public_key(P256_PEM).unwrap();
        assert_eq!(k.alg, Alg::EcdsaP256Sha256);
        assert_eq!(k.der.len(), 91);
        assert_eq!(public_key(&encode("PUBLIC KEY", &k.der)).unwrap(), k);
    }

    #[test]
    fn detects_ed25519() {
        // SPKI of an Ed25519 key: 302a300506032b6570032100 || 32 bytes.
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend_from_slice(&[9u8; 32]);
        assert_eq!(spki_alg(&der).unwrap(), Alg::Ed25519);
    }

    #[test]
    fn rejects_garbage() {
        assert!(public_key("not pem").is_err());
        assert!(public_key("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----").is_err());
        assert!(public_key("-----BEGIN PUBLIC KEY-----\nMFkw\n").is_err());
        assert!(
            public_key("-----BEGIN PUBLIC KEY-----\nMFkwEwYH\n-----END PUBLIC KEY-----").is_err()
        );
        let cert = "-----BEGIN CERTIFICATE-----\nMFkw\n-----END CERTIFICATE-----";
        assert!(public_key(cert).unwrap_err().contains("CERTIFICATE"));
    }
}
