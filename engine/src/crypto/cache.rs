//! [`CryptoCache`]: what is pure across calls of the host `crypto` functions, remembered.
//!
//! Two answers are kept, both keyed by a SHA-256 over *every* input that decides them:
//!
//! * **Parsed certificates** ([`CryptoCache::parse_certificate`]): a [`CertInfo`] is a function
//!   of the certificate's bytes alone, so it is kept by the digest of the bytes as given (PEM or
//!   DER).
//! * **Chain validations** ([`CryptoCache::verify_chain`]), keyed by the chain's entries, the
//!   roots' entries (both in order, each length-prefixed), and the required EKU.
//!
//! # Why a cached chain verdict stays exact at another time
//!
//! A cached "valid at T" is not "valid at T'": the verdict of [`verify_chain`] depends on the
//! verification time, and only through one kind of test — each certificate's validity window.
//! rustls-webpki (path building, and the direct-trust case of [`verify_chain`]) compares the
//! time with the certificates' `notBefore` / `notAfter` and nothing else (no revocation lists
//! are passed to it): `T < notBefore` is "not yet valid", `T > notAfter` is "expired", otherwise
//! the certificate is in its window. Everything else it checks — signatures of certificates by
//! their issuers, basic constraints, name constraints, EKU nesting, critical extensions — is a
//! function of the bytes and the EKU, which are the key.
//!
//! So each entry records the windows of every certificate it was given (chain and roots, as
//! decoded from the input), and a verdict is stored under the **validity profile** of the time it
//! was computed at: for each certificate, which of the three sides of its window the time falls
//! on. Two times with the same profile make every time comparison come out the same, hence the
//! same path search, the same path and the same answer; a time with another profile (a
//! certificate that expired in between, or is not yet valid) misses and is validated afresh.
//! The profile is the exact "validity-time bucket": it adapts its bounds to the certificates
//! instead of a fixed width, and never spans a boundary. The windows are read with x509-parser
//! from the same DER `Validity` fields webpki reads (RFC 5280 UTCTime / GeneralizedTime, whole
//! seconds); a certificate whose times webpki cannot read fails the validation, and failures are
//! never kept.
//!
//! Only successes are kept: a failure's message names the verification time, and failures are
//! not the path that needs to be fast. Negative times (an error) bypass the cache.
//!
//! # Bounds and sharing
//!
//! At most [`MAX_CHAIN_ENTRIES`] chain entries of at most [`MAX_PROFILES`] verdicts each, and
//! at most [`MAX_CERT_ENTRIES`] parsed certificates (LRU-like eviction, moka's TinyLFU). An entry
//! holds only what the key's bytes determine, so one cache is shared by every tenant as content
//! by digest is (design invariant 8): it cannot carry one tenant's trust decisions into
//! another's, because the roots are part of the key.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ring::digest::{Context, SHA256};

use super::x509::{decode_cert_entry, parse_x509};
use super::{CertInfo, CryptoError, parse_certificate, verify_chain};

/// Most chain entries kept.
pub const MAX_CHAIN_ENTRIES: u64 = 4_096;
/// Most verdicts (validity profiles) kept per chain entry.
pub const MAX_PROFILES: usize = 4;
/// Most parsed certificates kept.
pub const MAX_CERT_ENTRIES: u64 = 4_096;

type Key = [u8; 32];

/// Where `at_unix` falls relative to one certificate's validity window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// Before `notBefore`.
    Before,
    /// Within `[notBefore, notAfter]`.
    Within,
    /// After `notAfter`.
    After,
}

/// A successful path (leaf → anchor), shared by every answer given from it.
type Path = Arc<Vec<CertInfo>>;

/// One chain validation input: the windows of its certificates and the verdicts by profile.
struct ChainEntry {
    /// `(notBefore, notAfter)` of every certificate decoded from the chain, then the roots.
    windows: Vec<(i64, i64)>,
    /// Successful paths, by the validity profile of the time they were computed at.
    verdicts: Mutex<Vec<(Vec<Side>, Path)>>,
}

impl ChainEntry {
    fn profile(&self, at_unix: i64) -> Vec<Side> {
        self.windows
            .iter()
            .map(|&(not_before, not_after)| {
                if at_unix < not_before {
                    Side::Before
                } else if at_unix > not_after {
                    Side::After
                } else {
                    Side::Within
                }
            })
            .collect()
    }

    fn lookup(&self, profile: &[Side]) -> Option<Path> {
        let verdicts = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
        verdicts
            .iter()
            .find(|(p, _)| p == profile)
            .map(|(_, infos)| infos.clone())
    }

    fn remember(&self, profile: Vec<Side>, infos: Path) {
        let mut verdicts = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
        if verdicts.iter().any(|(p, _)| *p == profile) {
            return;
        }
        if verdicts.len() >= MAX_PROFILES {
            verdicts.remove(0);
        }
        verdicts.push((profile, infos));
    }
}

/// Hits and misses of a [`CryptoCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CryptoCacheStats {
    /// Chain validations answered from the cache.
    pub chain_hits: u64,
    /// Chain validations computed.
    pub chain_misses: u64,
    /// Certificates answered from the cache.
    pub cert_hits: u64,
    /// Certificates parsed.
    pub cert_misses: u64,
}

/// Bounded memo of [`verify_chain`] successes and [`parse_certificate`] results (module docs:
/// keys, exactness, bounds). Cheap to clone; clones share the entries.
#[derive(Clone)]
pub struct CryptoCache {
    chains: moka::sync::Cache<Key, Arc<ChainEntry>>,
    certs: moka::sync::Cache<Key, CertInfo>,
    counters: Arc<[AtomicU64; 4]>,
}

const CHAIN_HITS: usize = 0;
const CHAIN_MISSES: usize = 1;
const CERT_HITS: usize = 2;
const CERT_MISSES: usize = 3;

impl Default for CryptoCache {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CryptoCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoCache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Feeds a length-prefixed field into the key.
fn field(ctx: &mut Context, bytes: &[u8]) {
    ctx.update(&(bytes.len() as u64).to_be_bytes());
    ctx.update(bytes);
}

fn finish(ctx: Context) -> Key {
    let mut key = [0; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// The key of a chain validation: every input but the time.
fn chain_key(chain_der: &[Vec<u8>], roots_der: &[Vec<u8>], eku: Option<&str>) -> Key {
    let mut ctx = Context::new(&SHA256);
    ctx.update(b"vouch verify-chain v1\0");
    for list in [chain_der, roots_der] {
        ctx.update(&(list.len() as u64).to_be_bytes());
        for entry in list {
            field(&mut ctx, entry);
        }
    }
    match eku {
        Some(oid) => {
            ctx.update(&[1]);
            field(&mut ctx, oid.as_bytes());
        }
        None => ctx.update(&[0]),
    }
    finish(ctx)
}

/// The validity windows of every certificate decoded from `chain_der` then `roots_der`; `None`
/// if one cannot be decoded (the validation would not have succeeded then).
fn windows(chain_der: &[Vec<u8>], roots_der: &[Vec<u8>]) -> Option<Vec<(i64, i64)>> {
    let mut decoded = Vec::new();
    for entry in chain_der.iter().chain(roots_der) {
        decode_cert_entry(entry, "a certificate", &mut decoded).ok()?;
    }
    decoded
        .iter()
        .map(|(what, der)| {
            let cert = parse_x509(der, what).ok()?;
            let v = cert.validity();
            Some((v.not_before.timestamp(), v.not_after.timestamp()))
        })
        .collect()
}

impl CryptoCache {
    /// An empty cache with the module's bounds.
    pub fn new() -> Self {
        CryptoCache {
            chains: moka::sync::Cache::new(MAX_CHAIN_ENTRIES),
            certs: moka::sync::Cache::new(MAX_CERT_ENTRIES),
            counters: Arc::default(),
        }
    }

    /// What the cache answered and computed so far.
    pub fn stats(&self) -> CryptoCacheStats {
        let n = |i: usize| self.counters[i].load(Ordering::Relaxed);
        CryptoCacheStats {
            chain_hits: n(CHAIN_HITS),
            chain_misses: n(CHAIN_MISSES),
            cert_hits: n(CERT_HITS),
            cert_misses: n(CERT_MISSES),
        }
    }

    fn count(&self, which: usize) {
        self.counters[which].fetch_add(1, Ordering::Relaxed);
    }

    /// [`verify_chain`], answered from the cache when the same inputs were validated at a time
    /// with the same validity profile (module docs); the answer is the one `verify_chain` gives.
    pub fn verify_chain(
        &self,
        chain_der: &[Vec<u8>],
        roots_der: &[Vec<u8>],
        at_unix: i64,
        eku: Option<&str>,
    ) -> Result<Arc<Vec<CertInfo>>, CryptoError> {
        if at_unix < 0 {
            return verify_chain(chain_der, roots_der, at_unix, eku).map(Arc::new);
        }
        let key = chain_key(chain_der, roots_der, eku);
        let entry = self.chains.get(&key);
        if let Some(entry) = &entry {
            let profile = entry.profile(at_unix);
            if let Some(infos) = entry.lookup(&profile) {
                self.count(CHAIN_HITS);
                return Ok(infos);
            }
        }
        self.count(CHAIN_MISSES);
        let infos = Arc::new(verify_chain(chain_der, roots_der, at_unix, eku)?);
        let entry = match entry {
            Some(e) => e,
            None => {
                let Some(windows) = windows(chain_der, roots_der) else {
                    return Ok(infos);
                };
                let fresh = Arc::new(ChainEntry {
                    windows,
                    verdicts: Mutex::new(Vec::new()),
                });
                self.chains.get_with(key, || fresh)
            }
        };
        entry.remember(entry.profile(at_unix), infos.clone());
        tracing::trace!(at_unix, "certificate chain validation cached");
        Ok(infos)
    }

    /// [`parse_certificate`], answered from the cache for bytes parsed before.
    pub fn parse_certificate(&self, cert: &[u8]) -> Result<CertInfo, CryptoError> {
        let mut ctx = Context::new(&SHA256);
        ctx.update(b"vouch parse-certificate v1\0");
        ctx.update(cert);
        let key = finish(ctx);
        if let Some(info) = self.certs.get(&key) {
            self.count(CERT_HITS);
            return Ok(info);
        }
        self.count(CERT_MISSES);
        let info = parse_certificate(cert)?;
        self.certs.insert(key, info.clone());
        Ok(info)
    }
}
