//! The cache's index: entries keyed by reference name or digest, the immutable snapshot readers
//! see, and where blobs live in the layout.

use super::*;

/// One index entry: the descriptor as stored (with its stored-at annotation) and its time.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub(super) desc: Descriptor,
    pub(super) stored_at_ms: u64,
}

impl Entry {
    pub(super) fn from_stored(mut desc: Descriptor) -> Self {
        let stored_at_ms = desc
            .annotations
            .get(STORED_AT_ANNOTATION)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        desc.annotations
            .insert(STORED_AT_ANNOTATION.to_owned(), stored_at_ms.to_string());
        Entry { desc, stored_at_ms }
    }

    pub(super) fn new(mut desc: Descriptor, stored_at_ms: u64) -> Self {
        desc.annotations
            .insert(STORED_AT_ANNOTATION.to_owned(), stored_at_ms.to_string());
        Entry { desc, stored_at_ms }
    }
}

/// The key an entry is merged by: its reference name when it has one, else its digest.
pub(super) fn entry_key(desc: &Descriptor) -> String {
    match desc.annotations.get(REF_NAME_ANNOTATION) {
        Some(name) => format!("ref:{name}"),
        None => desc.digest.to_string(),
    }
}

/// Index entries by key; `Arc`s so that merging a batch into a large index copies pointers.
pub(super) type Entries = BTreeMap<Arc<str>, Arc<Entry>>;

/// An immutable view of the index; readers hold an `Arc` of it.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    pub(super) entries: Entries,
    /// Every digest the entries name, with its size.
    pub(super) blobs: HashMap<Digest, u64>,
    pub(super) total_bytes: u64,
}

impl Snapshot {
    pub(super) fn from_entries(entries: Entries) -> Self {
        let mut blobs = HashMap::with_capacity(entries.len());
        let mut total_bytes = 0u64;
        for e in entries.values() {
            if blobs.insert(e.desc.digest.clone(), e.desc.size).is_none() {
                total_bytes = total_bytes.saturating_add(e.desc.size);
            }
        }
        Snapshot {
            entries,
            blobs,
            total_bytes,
        }
    }

    /// Parse `index.json` bytes; entries with the same key collapse to the newest.
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let index = Manifest::parse(bytes).map_err(|e| e.to_string())?;
        let mut entries = Entries::new();
        for desc in index.manifests {
            let entry = Entry::from_stored(desc);
            let key: Arc<str> = entry_key(&entry.desc).into();
            match entries.get(&key) {
                Some(old) if old.stored_at_ms > entry.stored_at_ms => {}
                _ => {
                    entries.insert(key, Arc::new(entry));
                }
            }
        }
        Ok(Snapshot::from_entries(entries))
    }

    /// The OCI image index naming every entry (serialised without copying the descriptors).
    pub(super) fn to_index_bytes(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct IndexOut<'a> {
            schema_version: u32,
            media_type: &'a str,
            manifests: Vec<&'a Descriptor>,
        }
        let index = IndexOut {
            schema_version: 2,
            media_type: OCI_INDEX,
            manifests: self.entries.values().map(|e| &e.desc).collect(),
        };
        let mut out = Vec::with_capacity(64 + self.entries.len() * 200);
        serde_json::to_writer(&mut out, &index).expect("an OCI index always serialises");
        out
    }

    pub(super) fn stats(&self) -> DiskCacheStats {
        DiskCacheStats {
            entries: self.entries.len(),
            blobs: self.blobs.len(),
            bytes: self.total_bytes,
        }
    }
}

pub(super) fn blob_dir_path(alg: Algorithm) -> String {
    format!("blobs/{}", alg.name())
}

pub(super) fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
