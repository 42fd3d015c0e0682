//! The state of one subject's walk over its referrer graph, and the rules that keep the walk a
//! bounded DAG of digests (invariant 7 of the design).
//!
//! - **Subjects are checked.** A referrer is verified only after its own manifest's `subject`
//!   names the node it was listed under ([`check_subject`]); otherwise the subject fails with
//!   [`REFERRER_SUBJECT_MISMATCH`]. A registry (or a stale `sha256-<hex>` fallback index) can list
//!   anything; the manifest's digest-checked bytes cannot lie about what they refer to. The one
//!   exception: a cosign signature or attestation the store itself found under the tag
//!   `sha256-<hex>.sig` / `.att` is bound by that tag and may lack a `subject` (the reserved
//!   binding annotations, which stores strip from everything a registry or layout lists) — under
//!   the node whose digest the tag names, and no other.
//! - **Each node once.** A manifest has one `subject`, so a correct graph is a tree: a digest
//!   listed under two different nodes is a lie about at least one of them (a mismatch), and a
//!   digest listed under itself or one of its ancestors is a cycle ([`REFERRER_CYCLE`]). Neither
//!   is followed. The same digest listed twice in one answer is collapsed.
//! - **Caps** ([`WalkLimits`]): referrers per node, distinct nodes, verifier calls and bytes read
//!   per subject. A cap hit fails the subject naming the cap ([`WALK_LIMIT_EXCEEDED`]).
//!
//! A refusal is recorded once ([`Walk::refuse`]) and fails the subject whatever the policy says:
//! the walk stops starting work and cancels verifier calls in flight, so a hostile graph costs at
//! most the caps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;

use super::settings::ExecutorConfig;
use crate::oci::{Descriptor, Digest, Manifest};
use crate::report::{REFERRER_CYCLE, REFERRER_SUBJECT_MISMATCH, WALK_LIMIT_EXCEEDED};
use crate::store::{StoreAccess, StoreError};

/// Per-subject caps on the referrer graph walk (`executor.max*` in the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkLimits {
    /// Referrers one node may list.
    pub max_referrers_per_node: usize,
    /// Distinct referrers visited per subject.
    pub max_nodes: usize,
    /// Verifier calls per subject.
    pub max_verifier_calls: usize,
    /// Manifest and blob bytes read per subject (walk and verifiers together).
    pub max_bytes: u64,
}

impl Default for WalkLimits {
    fn default() -> Self {
        WalkLimits::from(&ExecutorConfig::default())
    }
}

impl From<&ExecutorConfig> for WalkLimits {
    fn from(c: &ExecutorConfig) -> Self {
        let size = |n: u32| usize::try_from(n).unwrap_or(usize::MAX).max(1);
        WalkLimits {
            max_referrers_per_node: size(c.max_referrers_per_node),
            max_nodes: size(c.max_nodes_per_subject),
            max_verifier_calls: size(c.max_verifier_calls_per_subject),
            max_bytes: c.max_bytes_per_subject.max(1),
        }
    }
}

/// Why a subject's referrer graph was refused; fails the subject whatever the policy says.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A node listed more referrers than `executor.maxReferrersPerNode`.
    #[error("{node} lists {count} referrers, over the cap executor.maxReferrersPerNode = {limit}")]
    TooManyReferrers {
        /// The node whose list was too long.
        node: Digest,
        /// How many it listed.
        count: usize,
        /// The cap.
        limit: usize,
    },
    /// The walk reached more distinct referrers than `executor.maxNodesPerSubject`.
    #[error("the referrer graph has more than executor.maxNodesPerSubject = {limit} referrers")]
    TooManyNodes {
        /// The cap.
        limit: usize,
    },
    /// The subject needed more verifier calls than `executor.maxVerifierCallsPerSubject`.
    #[error(
        "the subject needs more than executor.maxVerifierCallsPerSubject = {limit} verifier calls"
    )]
    TooManyCalls {
        /// The cap.
        limit: usize,
    },
    /// Reading more would exceed `executor.maxBytesPerSubject`.
    #[error(
        "reading {what} ({size} bytes) would bring the bytes read for this subject over the cap \
         executor.maxBytesPerSubject = {limit}"
    )]
    TooManyBytes {
        /// The manifest or blob that did not fit.
        what: Digest,
        /// Its declared size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// A referrer's manifest does not name the node it was listed under as its `subject`.
    #[error("referrer {referrer} is listed under {node} but its manifest's subject is {actual}")]
    SubjectMismatch {
        /// The listed referrer.
        referrer: Digest,
        /// The node whose referrers were asked for.
        node: Digest,
        /// What its manifest says instead (a digest, "absent", or why it could not be read).
        actual: String,
    },
    /// A referrer listed under two different nodes (it has one subject: one listing is false).
    #[error(
        "referrer {referrer} is listed under both {first} and {node}; a manifest has one subject"
    )]
    ListedTwice {
        /// The listed referrer.
        referrer: Digest,
        /// The node it was first reached under.
        first: Digest,
        /// The node listing it again.
        node: Digest,
    },
    /// A referrer that is the node itself or one of its ancestors.
    #[error(
        "referrer {referrer} listed under {node} is that node or one of its ancestors: a cycle"
    )]
    Cycle {
        /// The listed referrer.
        referrer: Digest,
        /// The node listing it.
        node: Digest,
    },
}

impl Refusal {
    /// The `errorReason` reports carry for this refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::TooManyReferrers { .. }
            | Refusal::TooManyNodes { .. }
            | Refusal::TooManyCalls { .. }
            | Refusal::TooManyBytes { .. } => WALK_LIMIT_EXCEEDED,
            Refusal::SubjectMismatch { .. } | Refusal::ListedTwice { .. } => {
                REFERRER_SUBJECT_MISMATCH
            }
            Refusal::Cycle { .. } => REFERRER_CYCLE,
        }
    }
}

/// What [`Walk::claim`] decided for a listed referrer.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First time this digest is reached: walk it.
    New,
    /// Refused (and recorded): do not walk it.
    Refused(Refusal),
}

/// Caps and first refusal shared by a walk and its byte-counting store.
struct Budget {
    limits: WalkLimits,
    bytes: AtomicU64,
    refusal: OnceLock<Refusal>,
    refused: tokio::sync::watch::Sender<bool>,
}

impl Budget {
    fn refuse(&self, refusal: Refusal) {
        if self.refusal.set(refusal).is_ok() {
            tracing::warn!(refusal = %self.refusal.get().map(ToString::to_string).unwrap_or_default(), "referrer graph refused");
        }
        self.refused.send_replace(true);
    }
}

/// The state of one subject's walk: its store (counting bytes), caps, visited nodes, counters.
pub struct Walk {
    /// The subject's store, with every manifest and blob read counted against the byte cap.
    pub store: Arc<dyn StoreAccess>,
    /// The reference without tag or digest, for nested subjects (`name@digest`).
    pub name: String,
    /// When the subject's verification must be finished.
    pub deadline: tokio::time::Instant,
    /// Time spent in store reads.
    pub store_nanos: AtomicU64,
    /// Time spent in guests.
    pub guest_nanos: AtomicU64,
    /// Set when the verdict depends on something transient and must not be cached.
    pub transient: AtomicBool,
    /// Which verifiers (by index) apply to this subject's image (`None`: all).
    pub applicable: Option<Vec<bool>>,
    budget: Arc<Budget>,
    /// Every referrer reached, with the node it was first listed under.
    visited: Mutex<HashMap<Digest, Digest>>,
    calls: AtomicUsize,
}

impl Walk {
    /// A walk over `store` with `limits`, finishing by `deadline`.
    pub fn new(
        store: Arc<dyn StoreAccess>,
        name: String,
        deadline: tokio::time::Instant,
        limits: WalkLimits,
    ) -> Walk {
        let budget = Arc::new(Budget {
            limits,
            bytes: AtomicU64::new(0),
            refusal: OnceLock::new(),
            refused: tokio::sync::watch::Sender::new(false),
        });
        Walk {
            store: Arc::new(BudgetedStore {
                inner: store,
                budget: budget.clone(),
            }),
            name,
            deadline,
            store_nanos: AtomicU64::new(0),
            guest_nanos: AtomicU64::new(0),
            transient: AtomicBool::new(false),
            applicable: None,
            budget,
            visited: Mutex::new(HashMap::new()),
            calls: AtomicUsize::new(0),
        }
    }

    /// Whether the verifier at `index` applies to this subject's image.
    pub fn applies(&self, index: usize) -> bool {
        self.applicable
            .as_ref()
            .is_none_or(|mask| mask.get(index).copied().unwrap_or(false))
    }

    /// The caps.
    pub fn limits(&self) -> &WalkLimits {
        &self.budget.limits
    }

    /// Record `refusal` (the first one wins) and stop the walk.
    pub fn refuse(&self, refusal: Refusal) {
        self.budget.refuse(refusal);
    }

    /// The first refusal, if the walk was refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        self.budget.refusal.get()
    }

    /// Resolves once the walk is refused (never, otherwise).
    pub async fn refused(&self) {
        let mut rx = self.budget.refused.subscribe();
        // The sender lives as long as `self`; an error cannot happen while we borrow it.
        if rx.wait_for(|r| *r).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Check that `referrers` (the answer for `node`, whose ancestors are `path`) fits the
    /// per-node cap, and collapse digests listed twice in it.
    pub fn check_list(
        &self,
        node: &Digest,
        referrers: Vec<Descriptor>,
    ) -> Result<Vec<Descriptor>, Refusal> {
        let limit = self.limits().max_referrers_per_node;
        if referrers.len() > limit {
            let refusal = Refusal::TooManyReferrers {
                node: node.clone(),
                count: referrers.len(),
                limit,
            };
            self.refuse(refusal.clone());
            return Err(refusal);
        }
        let mut seen = std::collections::HashSet::with_capacity(referrers.len());
        Ok(referrers
            .into_iter()
            .filter(|r| seen.insert(r.digest.clone()))
            .collect())
    }

    /// Decide whether `referrer`, listed under `node` (whose ancestors are `path`, root first),
    /// is walked: refuses cycles, digests already reached under another node, and nodes over
    /// the cap.
    pub fn claim(&self, referrer: &Digest, node: &Digest, path: &[Digest]) -> Claim {
        let refusal = if referrer == node || path.contains(referrer) {
            Refusal::Cycle {
                referrer: referrer.clone(),
                node: node.clone(),
            }
        } else {
            let mut visited = self.visited.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(first) = visited.get(referrer) {
                Refusal::ListedTwice {
                    referrer: referrer.clone(),
                    first: first.clone(),
                    node: node.clone(),
                }
            } else if visited.len() >= self.limits().max_nodes {
                Refusal::TooManyNodes {
                    limit: self.limits().max_nodes,
                }
            } else {
                visited.insert(referrer.clone(), node.clone());
                return Claim::New;
            }
        };
        self.refuse(refusal.clone());
        Claim::Refused(refusal)
    }

    /// Reserve `n` verifier calls against the cap.
    pub fn reserve_calls(&self, n: usize) -> Result<(), Refusal> {
        let before = self.calls.fetch_add(n, Ordering::Relaxed);
        let limit = self.limits().max_verifier_calls;
        if before.saturating_add(n) > limit {
            let refusal = Refusal::TooManyCalls { limit };
            self.refuse(refusal.clone());
            return Err(refusal);
        }
        Ok(())
    }

    /// Distinct referrers reached so far.
    pub fn nodes(&self) -> usize {
        self.visited.lock().map_or(0, |v| v.len())
    }

    /// Bytes read so far (reserved by declared size).
    pub fn bytes_read(&self) -> u64 {
        self.budget.bytes.load(Ordering::Relaxed)
    }
}

/// Check that the manifest of `referrer` (its digest-checked bytes) names `node` as its subject.
///
/// A cosign signature or attestation the store found under the tag `sha256-<hex>.sig` / `.att`
/// (the reserved binding annotations, which stores strip from anything a registry lists) is
/// bound by that tag to the digest it names and may have no `subject` when listed under that
/// digest; under any other node it is refused. When it has a `subject`, it must still be `node`.
pub fn check_subject(referrer: &Descriptor, node: &Digest, manifest: &[u8]) -> Result<(), Refusal> {
    let actual = match Manifest::parse(manifest) {
        Ok(m) => match m.subject {
            Some(s) if s.digest == *node => return Ok(()),
            Some(s) => s.digest.to_string(),
            None if referrer.is_cosign_tag_bound() => match referrer.cosign_bound_subject() {
                Some(bound) if bound == node.to_string() => return Ok(()),
                bound => format!(
                    "absent, and its cosign tag names {}",
                    bound.unwrap_or("no digest")
                ),
            },
            None => "absent".to_owned(),
        },
        Err(e) => format!("unreadable ({e})"),
    };
    Err(Refusal::SubjectMismatch {
        referrer: referrer.digest.clone(),
        node: node.clone(),
        actual,
    })
}

/// A store that charges every manifest and blob read against the walk's byte cap (by declared
/// size, before fetching, so an over-cap read costs nothing upstream).
struct BudgetedStore {
    inner: Arc<dyn StoreAccess>,
    budget: Arc<Budget>,
}

impl BudgetedStore {
    fn charge(&self, desc: &Descriptor) -> Result<(), StoreError> {
        let limit = self.budget.limits.max_bytes;
        let before = self.budget.bytes.fetch_add(desc.size, Ordering::Relaxed);
        if before.saturating_add(desc.size) > limit {
            let refusal = Refusal::TooManyBytes {
                what: desc.digest.clone(),
                size: desc.size,
                limit,
            };
            let message = refusal.to_string();
            self.budget.refuse(refusal);
            return Err(StoreError::TooLarge {
                what: message,
                size: before.saturating_add(desc.size),
                limit,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl StoreAccess for BudgetedStore {
    async fn resolve(&self, tag_or_digest: &str) -> Result<Descriptor, StoreError> {
        self.inner.resolve(tag_or_digest).await
    }

    async fn list_referrers(
        &self,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, StoreError> {
        self.inner.list_referrers(digest, artifact_type).await
    }

    async fn get_manifest(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.charge(desc)?;
        self.inner.get_manifest(desc).await
    }

    async fn get_blob(&self, desc: &Descriptor) -> Result<Bytes, StoreError> {
        self.charge(desc)?;
        self.inner.get_blob(desc).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::manifest::CosignTag;

    const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

    struct Empty;

    #[async_trait]
    impl StoreAccess for Empty {
        async fn resolve(&self, t: &str) -> Result<Descriptor, StoreError> {
            Err(StoreError::NotFound(t.to_owned()))
        }
        async fn list_referrers(
            &self,
            _: &Digest,
            _: Option<&str>,
        ) -> Result<Vec<Descriptor>, StoreError> {
            Ok(Vec::new())
        }
        async fn get_manifest(&self, d: &Descriptor) -> Result<Bytes, StoreError> {
            Ok(Bytes::from(vec![0; usize::try_from(d.size).unwrap()]))
        }
        async fn get_blob(&self, d: &Descriptor) -> Result<Bytes, StoreError> {
            self.get_manifest(d).await
        }
    }

    fn walk(limits: WalkLimits) -> Walk {
        Walk::new(
            Arc::new(Empty),
            "repo".into(),
            tokio::time::Instant::now() + std::time::Duration::from_secs(5),
            limits,
        )
    }

    fn d(n: u8) -> Digest {
        Digest::sha256_of(&[n])
    }

    fn desc(n: u8) -> Descriptor {
        Descriptor::for_content(OCI_MANIFEST, &[n])
    }

    #[test]
    fn defaults_are_the_documented_caps() {
        let l = WalkLimits::default();
        assert_eq!(l.max_referrers_per_node, 256);
        assert_eq!(l.max_nodes, 1024);
        assert_eq!(l.max_verifier_calls, 2048);
        assert_eq!(l.max_bytes, 256 << 20);
    }

    #[test]
    fn a_node_listed_under_itself_or_an_ancestor_is_a_cycle() {
        let w = walk(WalkLimits::default());
        let (root, a) = (d(0), d(1));
        assert!(matches!(
            w.claim(&a, &a, std::slice::from_ref(&root)),
            Claim::Refused(Refusal::Cycle { .. })
        ));
        let w = walk(WalkLimits::default());
        assert!(matches!(
            w.claim(&root, &a, std::slice::from_ref(&root)),
            Claim::Refused(Refusal::Cycle { .. })
        ));
        assert_eq!(w.refusal().map(Refusal::reason), Some(REFERRER_CYCLE));
    }

    #[test]
    fn a_digest_reached_under_two_nodes_is_refused_and_the_first_refusal_stays() {
        let w = walk(WalkLimits::default());
        let (root, a, b, x) = (d(0), d(1), d(2), d(3));
        assert_eq!(w.claim(&a, &root, &[]), Claim::New);
        assert_eq!(w.claim(&b, &root, &[]), Claim::New);
        assert_eq!(w.claim(&x, &a, std::slice::from_ref(&root)), Claim::New);
        let Claim::Refused(r) = w.claim(&x, &b, std::slice::from_ref(&root)) else {
            panic!("x under a second node must be refused")
        };
        assert_eq!(r.reason(), REFERRER_SUBJECT_MISMATCH);
        assert!(r.to_string().contains(&a.to_string()), "{r}");
        // A later refusal does not replace the first.
        w.refuse(Refusal::TooManyCalls { limit: 1 });
        assert_eq!(w.refusal(), Some(&r));
    }

    #[test]
    fn node_cap_counts_distinct_referrers() {
        let w = walk(WalkLimits {
            max_nodes: 2,
            ..WalkLimits::default()
        });
        let root = d(0);
        assert_eq!(w.claim(&d(1), &root, &[]), Claim::New);
        assert_eq!(w.claim(&d(2), &root, &[]), Claim::New);
        assert_eq!(
            w.claim(&d(3), &root, &[]),
            Claim::Refused(Refusal::TooManyNodes { limit: 2 })
        );
        assert_eq!(w.nodes(), 2);
    }

    #[test]
    fn list_cap_and_duplicates_in_one_answer() {
        let w = walk(WalkLimits {
            max_referrers_per_node: 3,
            ..WalkLimits::default()
        });
        let listed = w
            .check_list(&d(0), vec![desc(1), desc(2), desc(1)])
            .unwrap();
        assert_eq!(listed, vec![desc(1), desc(2)]);
        assert!(w.refusal().is_none());
        let err = w
            .check_list(&d(0), vec![desc(1), desc(2), desc(3), desc(4)])
            .unwrap_err();
        assert_eq!(err.reason(), WALK_LIMIT_EXCEEDED);
        assert!(err.to_string().contains("maxReferrersPerNode = 3"), "{err}");
    }

    #[test]
    fn call_cap() {
        let w = walk(WalkLimits {
            max_verifier_calls: 3,
            ..WalkLimits::default()
        });
        assert!(w.reserve_calls(2).is_ok());
        assert!(w.reserve_calls(1).is_ok());
        assert_eq!(w.reserve_calls(1), Err(Refusal::TooManyCalls { limit: 3 }));
    }

    #[tokio::test]
    async fn byte_cap_refuses_before_fetching_and_wakes_the_walk() {
        let w = walk(WalkLimits {
            max_bytes: 10,
            ..WalkLimits::default()
        });
        let small = Descriptor { size: 6, ..desc(1) };
        assert_eq!(w.store.get_blob(&small).await.unwrap().len(), 6);
        let err = w.store.get_manifest(&small).await.unwrap_err();
        assert!(
            matches!(err, StoreError::TooLarge { limit: 10, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("maxBytesPerSubject"), "{err}");
        assert_eq!(w.refusal().map(Refusal::reason), Some(WALK_LIMIT_EXCEEDED));
        tokio::time::timeout(std::time::Duration::from_secs(1), w.refused())
            .await
            .expect("a refused walk wakes its waiters");
    }

    #[test]
    fn subjects_must_name_the_node() {
        let node = desc(0);
        let referrer = desc(9);
        let manifest = |subject: Option<&Descriptor>| {
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "subject": subject,
            }))
            .unwrap()
        };
        assert!(check_subject(&referrer, &node.digest, &manifest(Some(&node))).is_ok());
        let other = check_subject(&referrer, &node.digest, &manifest(Some(&desc(5)))).unwrap_err();
        assert!(
            other.to_string().contains(&desc(5).digest.to_string()),
            "{other}"
        );
        let absent = check_subject(&referrer, &node.digest, &manifest(None)).unwrap_err();
        assert!(absent.to_string().contains("absent"), "{absent}");
        let garbage = check_subject(&referrer, &node.digest, b"not json").unwrap_err();
        assert_eq!(garbage.reason(), REFERRER_SUBJECT_MISMATCH);
    }

    /// A tag-bound cosign signature (no `subject` in cosign's `.sig` manifests) is accepted
    /// without a subject, but a subject it does carry must still be the node; the binding never
    /// excuses an unreadable manifest, and an unbound descriptor still needs its subject.
    #[test]
    fn tag_bound_signature_needs_no_subject_but_a_present_one_must_match() {
        let node = desc(1);
        let manifest = |subject: Option<&Descriptor>| {
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": desc(2),
                "layers": [desc(3)],
                "subject": subject,
            }))
            .unwrap()
        };
        let unbound = desc(4);
        let bound = desc(4).into_cosign_tag_bound(CosignTag::Signature, &node.digest);
        assert!(check_subject(&bound, &node.digest, &manifest(None)).is_ok());
        // The tag names one digest: listed under any other node, the binding does not hold.
        let elsewhere = check_subject(&bound, &desc(6).digest, &manifest(None)).unwrap_err();
        assert_eq!(elsewhere.reason(), REFERRER_SUBJECT_MISMATCH);
        assert!(
            elsewhere.to_string().contains(&node.digest.to_string()),
            "{elsewhere}"
        );
        let attestation = desc(4).into_cosign_tag_bound(CosignTag::Attestation, &node.digest);
        assert!(check_subject(&attestation, &node.digest, &manifest(None)).is_ok());
        let mut unnamed = bound.clone();
        unnamed
            .annotations
            .remove(crate::oci::manifest::BOUND_SUBJECT_ANNOTATION);
        assert!(check_subject(&unnamed, &node.digest, &manifest(None)).is_err());
        assert!(check_subject(&unbound, &node.digest, &manifest(None)).is_err());
        assert!(check_subject(&bound, &node.digest, &manifest(Some(&node))).is_ok());
        let other = check_subject(&bound, &node.digest, &manifest(Some(&desc(5)))).unwrap_err();
        assert_eq!(other.reason(), REFERRER_SUBJECT_MISMATCH);
        let garbage = check_subject(&bound, &node.digest, b"not json").unwrap_err();
        assert_eq!(garbage.reason(), REFERRER_SUBJECT_MISMATCH);
    }
}
