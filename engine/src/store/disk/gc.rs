//! Garbage collection: which entries and blobs a size budget evicts.

use super::*;

/// Drop entries by age (only when `by_age`) and, when over `max_bytes`, the oldest entries
/// until the total is at most 90 % of it. `protected` entries (this batch) are always kept.
pub(super) fn collect(
    entries: &mut Entries,
    protected: &HashSet<Arc<str>>,
    config: &DiskCacheConfig,
    now: u64,
    by_age: bool,
) -> Vec<Arc<Entry>> {
    let mut dropped = Vec::new();
    if by_age && let Some(max_age) = config.max_age {
        let cutoff = now.saturating_sub(max_age.as_millis() as u64);
        let old: Vec<Arc<str>> = entries
            .iter()
            .filter(|(k, e)| e.stored_at_ms < cutoff && !protected.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            dropped.extend(entries.remove(&k));
        }
    }
    let Some(max) = config.max_bytes else {
        return dropped;
    };
    let mut seen = HashSet::with_capacity(entries.len());
    let total: u64 = entries
        .values()
        .filter(|e| seen.insert(&e.desc.digest))
        .map(|e| e.desc.size)
        .sum();
    if total <= max {
        return dropped;
    }
    let target = max - max / 10;
    let mut order: Vec<(bool, u64, Arc<str>)> = entries
        .iter()
        .map(|(k, e)| (protected.contains(k), e.stored_at_ms, k.clone()))
        .collect();
    // Protected first, then newest first.
    order.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut kept_digests: HashSet<Digest> = HashSet::new();
    let mut total = 0u64;
    let mut full = false;
    for (is_protected, _, key) in order {
        let e = &entries[&key];
        let digest = e.desc.digest.clone();
        let size = e.desc.size;
        let keep = if kept_digests.contains(&digest) || is_protected {
            true
        } else {
            full = full || total.saturating_add(size) > target;
            !full
        };
        if keep {
            if kept_digests.insert(digest) {
                total = total.saturating_add(size);
            }
        } else {
            dropped.extend(entries.remove(&key));
        }
    }
    dropped
}
