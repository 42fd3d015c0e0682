//! Authentication of the values of the Redis tier: whoever can write to Redis must not decide
//! what is admitted.
//!
//! A value is an envelope around the verdict JSON:
//!
//! ```text
//! vv1.<key id: 16 hex>.<expiry: 16 hex, Unix ms>.<HMAC-SHA-256: 64 hex>.<verdict JSON>
//! ```
//!
//! The MAC covers, each length-prefixed: the domain-separation tag `vouch-redis-verdict`, the
//! format version, the key id, the **Redis key** (so a value copied under another key fails),
//! the **absolute expiry** carried in the value (so a value replayed after it fails, whatever TTL
//! Redis was given) and the verdict bytes. The key id is the first 8 bytes of
//! `sha256("vouch-redis-key-id" ‖ key)`, so the verifying key is found in O(1) and a key never
//! needs a name. Tags are compared in constant time.
//!
//! Key files hold **base64** (standard alphabet, padding optional, surrounding whitespace
//! ignored) of at least [`MIN_KEY_BYTES`] random bytes, e.g. `openssl rand -base64 32`.
//!
//! Without keys (`insecureUnauthenticated: true`) values carry the all-zero key id and an all-zero
//! MAC: an authenticated reader rejects them (`unsigned`), an unauthenticated one checks only
//! their form and expiry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::hmac;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

/// Fewest key bytes accepted (HMAC-SHA-256's output size).
pub const MIN_KEY_BYTES: usize = 32;

/// Largest key file read.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Domain-separation tag of the MAC.
const DOMAIN: &[u8] = b"vouch-redis-verdict";

/// Version of the envelope; part of the MAC and of the magic prefix.
const FORMAT_VERSION: u8 = 1;

/// Start of every value.
const MAGIC: &[u8] = b"vv1.";

const KEY_ID_HEX: usize = 16;
const EXPIRY_HEX: usize = 16;
const MAC_HEX: usize = 64;

/// Bytes before the verdict: magic, key id, expiry, MAC and their separators.
pub const HEADER_LEN: usize = MAGIC.len() + KEY_ID_HEX + 1 + EXPIRY_HEX + 1 + MAC_HEX + 1;

/// The key id of unauthenticated values.
const UNSIGNED: [u8; 8] = [0; 8];

/// Why a key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("cannot read Redis auth key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file's content is not an acceptable key.
    #[error("Redis auth key file {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No key was given.
    #[error("no Redis auth key: list at least one file in executor.redis.authKeyFiles")]
    None,
}

/// Why a value read from Redis was not believed. Each is a miss, never a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// Not an envelope, or its verdict is not a report.
    Malformed,
    /// Written without authentication (by an `insecureUnauthenticated` replica).
    Unsigned,
    /// Signed with a key that is not listed (a retired key, or a forgery).
    UnknownKey,
    /// The MAC does not match: a changed byte, or a value moved from another key.
    BadMac,
    /// Authentic, but its own expiry has passed (a replay).
    Expired,
    /// A signed summary whose signature by a trusted key does not verify.
    BadSignature,
    /// An authentic signed summary stored under another key than its own (a swap).
    Misplaced,
}

impl Rejection {
    /// Every reason, in metric order.
    pub const ALL: [Rejection; 7] = [
        Rejection::Malformed,
        Rejection::Unsigned,
        Rejection::UnknownKey,
        Rejection::BadMac,
        Rejection::Expired,
        Rejection::BadSignature,
        Rejection::Misplaced,
    ];

    /// The `reason` label of `vouch_redis_rejected_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::Unsigned => "unsigned",
            Rejection::UnknownKey => "unknown_key",
            Rejection::BadMac => "bad_mac",
            Rejection::Expired => "expired",
            Rejection::BadSignature => "bad_signature",
            Rejection::Misplaced => "misplaced",
        }
    }

    /// Position in [`Rejection::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One HMAC key and its id.
#[derive(Clone)]
struct AuthKey {
    id: [u8; 8],
    key: hmac::Key,
}

impl AuthKey {
    fn new(secret: &[u8]) -> AuthKey {
        let mut h = sha2::Sha256::new();
        h.update(b"vouch-redis-key-id");
        h.update(secret);
        let digest = h.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        AuthKey {
            id,
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }
}

/// The keys of a replica: the first signs, every one verifies.
#[derive(Clone)]
pub struct AuthKeys {
    /// Id of the signing key (always in `verifying`).
    signing: [u8; 8],
    verifying: HashMap<[u8; 8], hmac::Key>,
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<String> = self.verifying.keys().map(hex::encode).collect();
        ids.sort();
        f.debug_struct("AuthKeys")
            .field("signing", &hex::encode(self.signing))
            .field("verifying", &ids)
            .finish()
    }
}

impl AuthKeys {
    /// Read every key file (already resolved against the config's directory); the first signs.
    pub fn load(paths: &[PathBuf]) -> Result<AuthKeys, KeyFileError> {
        let mut secrets = Vec::with_capacity(paths.len());
        for path in paths {
            secrets.push((path.clone(), read_key_file(path)?));
        }
        let mut keys = Vec::with_capacity(secrets.len());
        for (path, secret) in &secrets {
            let key = AuthKey::new(secret);
            if key.id == UNSIGNED {
                return Err(KeyFileError::Invalid {
                    path: path.clone(),
                    reason: "this key's id is the unsigned marker; generate another key".into(),
                });
            }
            if let Some((other, _)) = keys
                .iter()
                .find(|(_, k): &&(&Path, AuthKey)| k.id == key.id)
            {
                return Err(KeyFileError::Invalid {
                    path: path.clone(),
                    reason: format!("holds the same key as {}", other.display()),
                });
            }
            keys.push((path.as_path(), key));
        }
        AuthKeys::from_keys(keys.into_iter().map(|(_, k)| k).collect())
    }

    /// Keys from raw secrets (for tests and benchmarks); the first signs. Each must have at least
    /// [`MIN_KEY_BYTES`].
    pub fn from_secrets(secrets: &[&[u8]]) -> Result<AuthKeys, KeyFileError> {
        for (i, s) in secrets.iter().enumerate() {
            if s.len() < MIN_KEY_BYTES {
                return Err(KeyFileError::Invalid {
                    path: PathBuf::from(format!("<secret {i}>")),
                    reason: format!("{} bytes; at least {MIN_KEY_BYTES} are required", s.len()),
                });
            }
        }
        AuthKeys::from_keys(secrets.iter().map(|s| AuthKey::new(s)).collect())
    }

    fn from_keys(keys: Vec<AuthKey>) -> Result<AuthKeys, KeyFileError> {
        let signing = keys.first().ok_or(KeyFileError::None)?.id;
        Ok(AuthKeys {
            signing,
            verifying: keys.into_iter().map(|k| (k.id, k.key)).collect(),
        })
    }

    /// The id of the signing key, in hex (for logs).
    pub fn signing_id(&self) -> String {
        hex::encode(self.signing)
    }

    /// How many keys verify.
    pub fn len(&self) -> usize {
        self.verifying.len()
    }

    /// Never true: there is always a signing key.
    pub fn is_empty(&self) -> bool {
        self.verifying.is_empty()
    }
}

/// Read and decode one key file.
fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    use std::io::Read as _;
    let read_err = |source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let invalid = |reason: String| KeyFileError::Invalid {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(invalid(format!(
            "larger than {MAX_KEY_FILE_BYTES} bytes; a key file holds base64 of at least {MIN_KEY_BYTES} random bytes"
        )));
    }
    decode_key(&bytes).map_err(invalid)
}

/// Decode key file content: base64 (padding optional) with surrounding whitespace, at least
/// [`MIN_KEY_BYTES`] once decoded.
pub fn decode_key(content: &[u8]) -> Result<Vec<u8>, String> {
    let text = content.trim_ascii();
    if text.is_empty() {
        return Err(
            "is empty; write base64 of at least 32 random bytes (`openssl rand -base64 32`)".into(),
        );
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let key = engine.decode(text).map_err(|e| {
        format!("is not base64 ({e}); write base64 of at least {MIN_KEY_BYTES} random bytes (`openssl rand -base64 32`)")
    })?;
    if key.len() < MIN_KEY_BYTES {
        return Err(format!(
            "decodes to {} bytes; at least {MIN_KEY_BYTES} are required (`openssl rand -base64 32`)",
            key.len()
        ));
    }
    Ok(key)
}

/// How a tier protects its values: the MAC envelope of this module, or signed summaries.
#[derive(Debug)]
pub enum TierAuth {
    /// `vv1.` values: HMAC-SHA-256 with shared keys, or none.
    Mac(ValueAuth),
    /// `vs1.` values: verification summaries signed with a private key, checked with public keys
    /// ([`super::summary`]).
    Signed(Box<super::summary::SummaryKeys>),
}

/// How a MAC-envelope tier protects its values.
#[derive(Clone, Debug)]
pub enum ValueAuth {
    /// HMAC-SHA-256 with these keys.
    Hmac(AuthKeys),
    /// No authentication (`insecureUnauthenticated: true`): anyone who can write Redis decides.
    Unauthenticated,
}

/// An authentic value: the verdict bytes and the expiry it carried.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened<'v> {
    /// The verdict JSON.
    pub verdict: &'v [u8],
    /// When it expires, Unix milliseconds.
    pub expires_at_ms: u64,
}

impl ValueAuth {
    /// The value to store under `redis_key` for `verdict`, valid until `expires_at_ms`.
    pub fn seal(&self, redis_key: &str, expires_at_ms: u64, verdict: &[u8]) -> Vec<u8> {
        let (id, mac) = match self {
            ValueAuth::Hmac(keys) => {
                let id = keys.signing;
                let key = &keys.verifying[&id];
                (id, mac(key, &id, redis_key, expires_at_ms, verdict))
            }
            ValueAuth::Unauthenticated => (UNSIGNED, [0u8; 32]),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + verdict.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(hex::encode(id).as_bytes());
        out.push(b'.');
        out.extend_from_slice(format!("{expires_at_ms:016x}").as_bytes());
        out.push(b'.');
        out.extend_from_slice(hex::encode(mac).as_bytes());
        out.push(b'.');
        out.extend_from_slice(verdict);
        out
    }

    /// Check `value` read under `redis_key` at `now_ms` (Unix milliseconds).
    pub fn open<'v>(
        &self,
        redis_key: &str,
        value: &'v [u8],
        now_ms: u64,
    ) -> Result<Opened<'v>, Rejection> {
        let envelope = Envelope::parse(value).ok_or(Rejection::Malformed)?;
        if let ValueAuth::Hmac(keys) = self {
            if envelope.key_id == UNSIGNED {
                return Err(Rejection::Unsigned);
            }
            let key = keys
                .verifying
                .get(&envelope.key_id)
                .ok_or(Rejection::UnknownKey)?;
            let expected = mac(
                key,
                &envelope.key_id,
                redis_key,
                envelope.expires_at_ms,
                envelope.verdict,
            );
            if !bool::from(expected.ct_eq(&envelope.mac)) {
                return Err(Rejection::BadMac);
            }
        }
        if now_ms >= envelope.expires_at_ms {
            return Err(Rejection::Expired);
        }
        Ok(Opened {
            verdict: envelope.verdict,
            expires_at_ms: envelope.expires_at_ms,
        })
    }
}

/// The parts of a value.
struct Envelope<'v> {
    key_id: [u8; 8],
    expires_at_ms: u64,
    mac: [u8; 32],
    verdict: &'v [u8],
}

impl<'v> Envelope<'v> {
    /// Strict parse: exact magic, fixed-width lower-case hex fields, dots where they belong.
    fn parse(value: &'v [u8]) -> Option<Envelope<'v>> {
        let rest = value.strip_prefix(MAGIC)?;
        let (id, rest) = field(rest, KEY_ID_HEX)?;
        let (expiry, rest) = field(rest, EXPIRY_HEX)?;
        let (mac_hex, verdict) = field(rest, MAC_HEX)?;
        let mut key_id = [0u8; 8];
        hex::decode_to_slice(id, &mut key_id).ok()?;
        let mut exp = [0u8; 8];
        hex::decode_to_slice(expiry, &mut exp).ok()?;
        let mut mac = [0u8; 32];
        hex::decode_to_slice(mac_hex, &mut mac).ok()?;
        Some(Envelope {
            key_id,
            expires_at_ms: u64::from_be_bytes(exp),
            mac,
            verdict,
        })
    }
}

/// `len` lower-case hex digits then a dot; the field and what follows the dot.
fn field(bytes: &[u8], len: usize) -> Option<(&[u8], &[u8])> {
    let (f, rest) = bytes.split_at_checked(len)?;
    let rest = rest.strip_prefix(b".")?;
    f.iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        .then_some((f, rest))
}

/// HMAC-SHA-256 over the length-prefixed fields.
fn mac(
    key: &hmac::Key,
    id: &[u8; 8],
    redis_key: &str,
    expires_at_ms: u64,
    verdict: &[u8],
) -> [u8; 32] {
    let mut ctx = hmac::Context::with_key(key);
    for part in [
        DOMAIN,
        &[FORMAT_VERSION][..],
        &id[..],
        redis_key.as_bytes(),
        &expires_at_ms.to_be_bytes()[..],
        verdict,
    ] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &[u8] = &[1u8; 32];
    const K2: &[u8] = &[2u8; 40];

    fn keys(secrets: &[&[u8]]) -> ValueAuth {
        ValueAuth::Hmac(AuthKeys::from_secrets(secrets).unwrap())
    }

    #[test]
    fn a_sealed_value_opens_under_its_key_until_its_expiry() {
        let auth = keys(&[K1]);
        let v = auth.seal("p:v2:k", 5000, br#"{"isSuccess":false}"#);
        assert_eq!(v.len(), HEADER_LEN + 19);
        assert!(v.starts_with(b"vv1."), "{}", String::from_utf8_lossy(&v));
        let opened = auth.open("p:v2:k", &v, 4999).unwrap();
        assert_eq!(opened.verdict, br#"{"isSuccess":false}"#);
        assert_eq!(opened.expires_at_ms, 5000);
        assert_eq!(auth.open("p:v2:k", &v, 5000), Err(Rejection::Expired));
    }

    #[test]
    fn every_covered_field_is_authenticated() {
        let auth = keys(&[K1]);
        let v = auth.seal("p:v2:k", 5000, br#"{"isSuccess":false}"#);
        // Another Redis key: a swapped value.
        assert_eq!(auth.open("p:v2:other", &v, 0), Err(Rejection::BadMac));
        // Every byte of the expiry, MAC and verdict matters.
        let expiry_at = MAGIC.len() + KEY_ID_HEX + 1;
        for i in expiry_at..v.len() {
            if v[i] == b'.' {
                continue;
            }
            let mut t = v.clone();
            t[i] = if t[i] == b'0' { b'1' } else { b'0' };
            let r = auth.open("p:v2:k", &t, 0);
            assert!(
                matches!(r, Err(Rejection::BadMac | Rejection::Malformed)),
                "byte {i}: {r:?}"
            );
        }
        // A later expiry with the old MAC: refused, not a longer life.
        let longer = String::from_utf8(v.clone()).unwrap().replacen(
            "0000000000001388",
            "00000000ffffffff",
            1,
        );
        assert_eq!(
            auth.open("p:v2:k", longer.as_bytes(), 0),
            Err(Rejection::BadMac)
        );
        // Flipped verdict field.
        let flipped = String::from_utf8(v)
            .unwrap()
            .replace("\"isSuccess\":false", "\"isSuccess\":true ");
        assert_eq!(
            auth.open("p:v2:k", flipped.as_bytes(), 0),
            Err(Rejection::BadMac)
        );
    }

    #[test]
    fn rotation_the_first_key_signs_every_listed_key_verifies() {
        let old = keys(&[K1]);
        let rotated = keys(&[K2, K1]);
        let new_only = keys(&[K2]);
        let by_old = old.seal("k", 10, b"{}");
        let by_new = rotated.seal("k", 10, b"{}");
        assert!(rotated.open("k", &by_old, 0).is_ok());
        assert!(rotated.open("k", &by_new, 0).is_ok());
        assert!(new_only.open("k", &by_new, 0).is_ok());
        assert_eq!(new_only.open("k", &by_old, 0), Err(Rejection::UnknownKey));
        assert_eq!(old.open("k", &by_new, 0), Err(Rejection::UnknownKey));
        // Same id prefix, different secret is impossible to construct; a wrong key with the
        // right id is a bad MAC: forge the id of K1 on a value signed with K2.
        let mut forged = by_new.clone();
        let id1 = hex::encode(AuthKey::new(K1).id);
        forged[MAGIC.len()..MAGIC.len() + KEY_ID_HEX].copy_from_slice(id1.as_bytes());
        assert_eq!(old.open("k", &forged, 0), Err(Rejection::BadMac));
    }

    #[test]
    fn unsigned_values_are_refused_by_authenticated_readers_only() {
        let unsigned = ValueAuth::Unauthenticated.seal("k", 10, b"{}");
        assert_eq!(
            keys(&[K1]).open("k", &unsigned, 0),
            Err(Rejection::Unsigned)
        );
        assert!(ValueAuth::Unauthenticated.open("k", &unsigned, 0).is_ok());
        assert_eq!(
            ValueAuth::Unauthenticated.open("k", &unsigned, 10),
            Err(Rejection::Expired)
        );
        // An unauthenticated reader accepts signed values too (mixed deployments during a
        // migration); it has no way to check them.
        let signed = keys(&[K1]).seal("k", 10, b"{}");
        assert!(ValueAuth::Unauthenticated.open("k", &signed, 0).is_ok());
    }

    #[test]
    fn garbage_and_near_misses_are_malformed() {
        let auth = keys(&[K1]);
        let good = auth.seal("k", 10, b"{}");
        let upper = String::from_utf8(good.clone()).unwrap().to_uppercase();
        for bad in [
            &b""[..],
            b"{\"isSuccess\":true}",
            b"vv1.",
            &good[..HEADER_LEN - 1],
            upper.as_bytes(),
            b"vv2.0000000000000000.0000000000000010.0000000000000000000000000000000000000000000000000000000000000000.{}",
            &[0xff, 0x00, 0x13, 0x37][..],
        ] {
            assert_eq!(auth.open("k", bad, 0), Err(Rejection::Malformed), "{bad:?}");
        }
        // The verdict may be empty at this layer (it then fails to parse as a report).
        assert!(auth.open("k", &good[..HEADER_LEN], 0).is_err());
    }

    #[test]
    fn key_files_are_base64_of_at_least_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let write = |name: &str, content: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, content).unwrap();
            p
        };
        let good = write("good", format!("  {}\n", b64.encode([7u8; 32])).as_bytes());
        let unpadded = write(
            "unpadded",
            b64.encode([8u8; 32]).trim_end_matches('=').as_bytes(),
        );
        let keys = AuthKeys::load(&[good.clone(), unpadded.clone()]).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.signing_id(), hex::encode(AuthKey::new(&[7u8; 32]).id));

        let short = write("short", b64.encode([1u8; 31]).as_bytes());
        let raw = write("raw", &[0x9au8; 48]);
        let empty = write("empty", b"\n");
        let big = write("big", &vec![b'A'; 5000]);
        for (path, needle) in [
            (&short, "decodes to 31 bytes"),
            (&raw, "is not base64"),
            (&empty, "is empty"),
            (&big, "larger than"),
        ] {
            let e = AuthKeys::load(&[good.clone(), path.clone()])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&path.display().to_string()) && e.contains(needle),
                "{e}"
            );
        }
        let missing = dir.path().join("missing");
        let e = AuthKeys::load(std::slice::from_ref(&missing))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&missing.display().to_string()), "{e}");
        let e = AuthKeys::load(&[good.clone(), good.clone()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("same key"), "{e}");
        assert!(matches!(AuthKeys::load(&[]), Err(KeyFileError::None)));
        assert!(AuthKeys::from_secrets(&[&[0u8; 31]]).is_err());
    }
}
