//! The single writer: requests from every handle, batched into durable blob writes and one atomic
//! index replacement per batch, under the cross-process lock.

use super::*;

/// A request to the writer task.
pub(super) enum Request {
    Put {
        desc: Descriptor,
        data: Bytes,
        ack: oneshot::Sender<Result<(), DiskCacheError>>,
    },
    Gc {
        ack: oneshot::Sender<Result<GcReport, DiskCacheError>>,
    },
    Reload {
        ack: oneshot::Sender<Result<(), DiskCacheError>>,
    },
    Shutdown,
}

/// The writer's state: handles and what it last published.
pub(super) struct WriterState {
    pub(super) shared: Arc<Shared>,
    /// The root directory opened for reading, so it can be fsynced and syncfs'd (a `Dir` is
    /// an `O_PATH` descriptor on Linux, which both reject).
    pub(super) root_sync: cap_std::fs::File,
    pub(super) lock: std::fs::File,
    /// This instance's temp directory and its name under `tmp/`.
    pub(super) tmp: Dir,
    pub(super) tmp_name: String,
    /// Held locked for the life of this instance, so `open` elsewhere knows `tmp` is in use.
    pub(super) owner_lock: Option<std::fs::File>,
    pub(super) blob_dirs: HashMap<Algorithm, (Dir, cap_std::fs::File)>,
    pub(super) counter: u64,
    pub(super) last_stamp_ms: u64,
    /// The bytes of the index this writer last read or wrote, to skip re-parsing it.
    pub(super) last_index: Option<(Vec<u8>, Arc<Snapshot>)>,
    pub(super) config: DiskCacheConfig,
}

pub(super) fn open_dir_for_sync(
    dir: &Dir,
    path: &str,
) -> Result<cap_std::fs::File, DiskCacheError> {
    dir.open_with(path, OpenOptions::new().read(true))
        .map_err(io_err("open for sync", path))
}

pub(super) fn open_blocking(
    path: PathBuf,
    config: DiskCacheConfig,
) -> Result<(Arc<Shared>, WriterState), DiskCacheError> {
    let display = path.display().to_string();
    Dir::create_ambient_dir_all(&path, ambient_authority())
        .map_err(io_err("create", display.as_str()))?;
    let root =
        Dir::open_ambient_dir(&path, ambient_authority()).map_err(io_err("open", display))?;
    root.create_dir_all(TMP_DIR)
        .map_err(io_err("create", TMP_DIR))?;
    let blob_dir = blob_dir_path(Algorithm::Sha256);
    root.create_dir_all(&blob_dir)
        .map_err(io_err("create", blob_dir))?;
    let lock = root
        .open_with(
            LOCK_FILE,
            OpenOptions::new().read(true).write(true).create(true),
        )
        .map_err(io_err("open", LOCK_FILE))?
        .into_std();
    let root_sync = open_dir_for_sync(&root, ".")?;
    let tmp_root = root.open_dir(TMP_DIR).map_err(io_err("open", TMP_DIR))?;

    let instance = INSTANCE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp_name = format!("{}-{instance}", std::process::id());

    let guard = LockGuard::acquire(&lock)?;
    clean_stale_tmp(&tmp_root)?;
    let owner_lock_name = format!("{tmp_name}.lock");
    let owner_lock = tmp_root
        .open_with(
            &owner_lock_name,
            OpenOptions::new().read(true).write(true).create(true),
        )
        .map_err(io_err("create", format!("{TMP_DIR}/{owner_lock_name}")))?
        .into_std();
    owner_lock
        .lock()
        .map_err(io_err("lock", format!("{TMP_DIR}/{owner_lock_name}")))?;
    tmp_root
        .create_dir(&tmp_name)
        .map_err(io_err("create", format!("{TMP_DIR}/{tmp_name}")))?;
    let tmp = tmp_root
        .open_dir(&tmp_name)
        .map_err(io_err("open", format!("{TMP_DIR}/{tmp_name}")))?;

    let shared = Arc::new(Shared {
        root,
        path,
        snapshot: RwLock::new(Arc::new(Snapshot::default())),
    });
    let mut state = WriterState {
        shared: shared.clone(),
        root_sync,
        lock: lock.try_clone().map_err(io_err("dup", LOCK_FILE))?,
        tmp,
        tmp_name,
        owner_lock: Some(owner_lock),
        blob_dirs: HashMap::new(),
        counter: 0,
        last_stamp_ms: 0,
        last_index: None,
        config,
    };
    if !state.exists(LAYOUT_FILE)? {
        state.write_root_file(LAYOUT_FILE, LAYOUT_CONTENT)?;
    }
    let snap = state.read_index()?;
    drop(guard);
    shared.publish(snap);
    Ok((shared, state))
}

/// Remove the temp directories of instances that no longer hold their lock (killed processes).
/// Runs under the cache lock, so no instance is between creating and locking its lock file.
pub(super) fn clean_stale_tmp(tmp_root: &Dir) -> Result<(), DiskCacheError> {
    let mut live = HashSet::new();
    let mut names = Vec::new();
    for entry in tmp_root.entries().map_err(io_err("list", TMP_DIR))? {
        let entry = entry.map_err(io_err("list", TMP_DIR))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    for name in &names {
        let Some(stem) = name.strip_suffix(".lock") else {
            continue;
        };
        let file = match tmp_root.open_with(name, OpenOptions::new().read(true).write(true)) {
            Ok(f) => f.into_std(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("open", format!("{TMP_DIR}/{name}"))(e)),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                live.insert(stem.to_owned());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_err("lock", format!("{TMP_DIR}/{name}"))(e));
            }
        }
    }
    for name in &names {
        let stem = name.strip_suffix(".lock").unwrap_or(name);
        if live.contains(stem) {
            continue;
        }
        let path = format!("{TMP_DIR}/{name}");
        let removed = match tmp_root.symlink_metadata(name) {
            Ok(m) if m.is_dir() => tmp_root.remove_dir_all(name),
            Ok(_) => tmp_root.remove_file(name),
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) => tracing::debug!(path, "disk cache: removed stale temp entry"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", path)(e)),
        }
    }
    Ok(())
}

/// A blob of the batch whose file is being created.
pub(super) struct NewBlob {
    pub(super) tmp_name: String,
    pub(super) digest: Digest,
    pub(super) file: Option<cap_std::fs::File>,
}

impl WriterState {
    pub(super) fn exists(&self, path: &str) -> Result<bool, DiskCacheError> {
        match self.shared.root.metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("stat", path)(e)),
        }
    }

    pub(super) fn next_tmp_name(&mut self) -> String {
        self.counter += 1;
        format!("{}", self.counter)
    }

    pub(super) fn tmp_path(&self, name: &str) -> String {
        format!("{TMP_DIR}/{}/{name}", self.tmp_name)
    }

    pub(super) fn blob_dir(
        &mut self,
        alg: Algorithm,
    ) -> Result<&(Dir, cap_std::fs::File), DiskCacheError> {
        if !self.blob_dirs.contains_key(&alg) {
            let path = blob_dir_path(alg);
            self.shared
                .root
                .create_dir_all(&path)
                .map_err(io_err("create", path.as_str()))?;
            let dir = self
                .shared
                .root
                .open_dir(&path)
                .map_err(io_err("open", path.as_str()))?;
            let sync = open_dir_for_sync(&self.shared.root, &path)?;
            self.blob_dirs.insert(alg, (dir, sync));
        }
        Ok(&self.blob_dirs[&alg])
    }

    /// Whether the blob file exists with the expected size.
    pub(super) fn blob_present(
        &mut self,
        digest: &Digest,
        size: u64,
    ) -> Result<bool, DiskCacheError> {
        let (dir, _) = self.blob_dir(digest.algorithm())?;
        match dir.metadata(digest.hex()) {
            Ok(m) if m.is_file() && m.len() == size => Ok(true),
            Ok(m) => {
                tracing::warn!(%digest, expected = size, found = m.len(), "disk cache: replacing a blob file of the wrong size");
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("stat", blob_path(digest))(e)),
        }
    }

    /// Write a temp file; it is closed unless `keep_open` (so the caller can sync it).
    pub(super) fn write_tmp(
        &mut self,
        data: &[u8],
        keep_open: bool,
    ) -> Result<(String, Option<cap_std::fs::File>), DiskCacheError> {
        let name = self.next_tmp_name();
        let path = self.tmp_path(&name);
        let mut file = self
            .tmp
            .open_with(&name, OpenOptions::new().write(true).create_new(true))
            .map_err(io_err("create", path.as_str()))?;
        file.write_all(data).map_err(io_err("write", path))?;
        Ok((name, keep_open.then_some(file)))
    }

    /// Write the blobs of a batch that are not on disk yet and make them durable.
    pub(super) fn write_blobs(
        &mut self,
        puts: &[(Descriptor, Bytes)],
    ) -> Result<usize, DiskCacheError> {
        let mut seen = HashSet::new();
        let mut todo = Vec::new();
        for (desc, data) in puts {
            if seen.insert(desc.digest.clone()) && !self.blob_present(&desc.digest, desc.size)? {
                todo.push((desc.digest.clone(), data.clone()));
            }
        }
        if todo.is_empty() {
            return Ok(0);
        }
        let use_syncfs = cfg!(target_os = "linux") && todo.len() >= SYNCFS_MIN_BLOBS;
        let mut written = Vec::with_capacity(todo.len());
        for (digest, data) in &todo {
            let (tmp_name, file) = self.write_tmp(data, !use_syncfs)?;
            written.push(NewBlob {
                tmp_name,
                digest: digest.clone(),
                file,
            });
        }
        if use_syncfs {
            syncfs(&self.root_sync).map_err(io_err("syncfs", "."))?;
        } else {
            self.sync_files(&written)?;
        }
        let mut algs = HashSet::new();
        for blob in &written {
            let alg = blob.digest.algorithm();
            if algs.insert(alg) {
                self.blob_dir(alg)?;
            }
            let (dir, _) = &self.blob_dirs[&alg];
            self.tmp
                .rename(&blob.tmp_name, dir, blob.digest.hex())
                .map_err(io_err("rename", blob_path(&blob.digest)))?;
        }
        for alg in algs {
            let (_, sync) = self.blob_dir(alg)?;
            sync.sync_all()
                .map_err(io_err("fsync", blob_dir_path(alg)))?;
        }
        Ok(written.len())
    }

    /// `fdatasync` the files concurrently: the file system groups concurrent syncs into few
    /// journal commits.
    pub(super) fn sync_files(&self, files: &[NewBlob]) -> Result<(), DiskCacheError> {
        let sync_one = |b: &NewBlob| -> Result<(), DiskCacheError> {
            match &b.file {
                Some(f) => f
                    .sync_data()
                    .map_err(io_err("fsync", self.tmp_path(&b.tmp_name))),
                None => Ok(()),
            }
        };
        if files.len() == 1 {
            return sync_one(&files[0]);
        }
        let per_thread = files.len().div_ceil(MAX_SYNC_THREADS);
        std::thread::scope(|s| {
            let handles: Vec<_> = files
                .chunks(per_thread)
                .map(|chunk| s.spawn(move || chunk.iter().try_for_each(sync_one)))
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| DiskCacheError::Writer("fsync thread panicked".into()))??;
            }
            Ok(())
        })
    }

    /// Write `name` in the root directory atomically and durably.
    pub(super) fn write_root_file(
        &mut self,
        name: &str,
        data: &[u8],
    ) -> Result<(), DiskCacheError> {
        let (tmp_name, file) = self.write_tmp(data, true)?;
        let file = file.expect("kept open");
        file.sync_all()
            .map_err(io_err("fsync", self.tmp_path(&tmp_name)))?;
        drop(file);
        self.tmp
            .rename(&tmp_name, &self.shared.root, name)
            .map_err(io_err("rename", name))?;
        self.root_sync.sync_all().map_err(io_err("fsync", "."))
    }

    /// Read `index.json` (missing: empty). An unparsable index (never written by this code) is
    /// moved aside and replaced by an empty one rather than blocking the cache forever.
    pub(super) fn read_index(&mut self) -> Result<Arc<Snapshot>, DiskCacheError> {
        let bytes = match crate::localfile::open_regular_in(&self.shared.root, INDEX_FILE) {
            Ok((file, meta)) => {
                crate::localfile::read_to_end_capped(file, MAX_INDEX_BYTES, meta.len())
                    .map_err(io_err("read", INDEX_FILE))?
            }
            Err(OpenInDirError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(OpenInDirError::Io(e)) => return Err(io_err("read", INDEX_FILE)(e)),
            Err(OpenInDirError::NotRegular(kind)) => {
                return Err(io_err("read", INDEX_FILE)(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("it is {kind}, not a regular file"),
                )));
            }
        };
        if let Some((last, snap)) = &self.last_index
            && *last == bytes
        {
            return Ok(snap.clone());
        }
        let parsed = if bytes.len() as u64 > MAX_INDEX_BYTES {
            Err(format!(
                "the file is over the {MAX_INDEX_BYTES}-byte limit on the cache index"
            ))
        } else {
            Snapshot::parse(&bytes)
        };
        let snap = if bytes.is_empty() {
            Arc::new(Snapshot::default())
        } else {
            match parsed {
                Ok(s) => Arc::new(s),
                Err(reason) => {
                    let aside = format!("{INDEX_FILE}.corrupt-{}", now_ms());
                    tracing::error!(
                        reason,
                        aside,
                        "disk cache: index.json is invalid; moved aside, starting empty"
                    );
                    self.shared
                        .root
                        .rename(INDEX_FILE, &self.shared.root, &aside)
                        .map_err(io_err("rename", aside.as_str()))?;
                    Arc::new(Snapshot::default())
                }
            }
        };
        self.last_index = Some((bytes, snap.clone()));
        Ok(snap)
    }

    /// A stamp for this batch: now, but strictly after the previous batch's.
    pub(super) fn stamp(&mut self) -> u64 {
        self.last_stamp_ms = now_ms().max(self.last_stamp_ms + 1);
        self.last_stamp_ms
    }

    /// Handle one batch: write blobs, then under the lock merge, collect and publish.
    pub(super) fn process(
        &mut self,
        puts: &[(Descriptor, Bytes)],
        gc: bool,
        reload: bool,
    ) -> Result<Option<GcReport>, DiskCacheError> {
        if puts.is_empty() && !gc {
            if reload {
                let snap = self.read_index()?;
                self.shared.publish(snap);
            }
            return Ok(None);
        }
        let written = self.write_blobs(puts)?;

        let lock = self.lock.try_clone().map_err(io_err("dup", LOCK_FILE))?;
        let _guard = LockGuard::acquire(&lock)?;
        let base = self.read_index()?;

        // A process collecting garbage may have unlinked a blob between our write and the
        // lock; nothing can unlink it while we hold the lock, so check and restore it now.
        let mut restored = 0;
        let mut checked = HashSet::new();
        for (desc, data) in puts {
            if checked.insert(desc.digest.clone()) && !self.blob_present(&desc.digest, desc.size)? {
                self.write_blobs(std::slice::from_ref(&(desc.clone(), data.clone())))?;
                restored += 1;
            }
        }

        let stamp = self.stamp();
        let mut entries = base.entries.clone();
        let mut protected = HashSet::new();
        for (desc, _) in puts {
            let key: Arc<str> = entry_key(desc).into();
            let stored_at = entries
                .get(&key)
                .map_or(stamp, |old| old.stored_at_ms.max(stamp));
            entries.insert(key.clone(), Arc::new(Entry::new(desc.clone(), stored_at)));
            protected.insert(key);
        }

        let mut merged = Snapshot::from_entries(entries);
        let over_size = self
            .config
            .max_bytes
            .is_some_and(|max| merged.total_bytes > max);
        let mut dropped = Vec::new();
        if gc || over_size {
            let mut entries = merged.entries;
            dropped = collect(&mut entries, &protected, &self.config, now_ms(), gc);
            merged = Snapshot::from_entries(entries);
        }
        let merged = Arc::new(merged);
        let bytes = merged.to_index_bytes();
        let unchanged = self
            .last_index
            .as_ref()
            .is_some_and(|(last, _)| *last == bytes);
        if !unchanged {
            self.write_root_file(INDEX_FILE, &bytes)?;
            self.last_index = Some((bytes, merged.clone()));
        }

        let mut report = None;
        if gc || !dropped.is_empty() {
            let blobs_removed = if gc {
                self.sweep_blobs(&merged)?
            } else {
                self.unlink_dropped(&dropped, &merged)?
            };
            report = Some(GcReport {
                entries_removed: dropped.len(),
                blobs_removed,
                bytes_after: merged.total_bytes,
            });
        }
        drop(_guard);
        tracing::debug!(
            puts = puts.len(),
            written,
            restored,
            entries = merged.entries.len(),
            dropped = dropped.len(),
            "disk cache: published index"
        );
        self.shared.publish(merged);
        Ok(report)
    }

    /// Unlink the blobs of `dropped` entries that the new index no longer names.
    pub(super) fn unlink_dropped(
        &mut self,
        dropped: &[Arc<Entry>],
        merged: &Snapshot,
    ) -> Result<usize, DiskCacheError> {
        let mut removed = 0;
        let mut done = HashSet::new();
        for e in dropped {
            let d = &e.desc.digest;
            if merged.blobs.contains_key(d) || !done.insert(d.clone()) {
                continue;
            }
            let (dir, _) = self.blob_dir(d.algorithm())?;
            match dir.remove_file(d.hex()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", blob_path(d))(e)),
            }
        }
        Ok(removed)
    }

    /// Unlink every blob file the index does not name (also orphans of killed writers).
    /// Safe under the lock: a writer re-checks its blobs under the lock before indexing them.
    pub(super) fn sweep_blobs(&mut self, merged: &Snapshot) -> Result<usize, DiskCacheError> {
        let mut removed = 0;
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let path = blob_dir_path(alg);
            if !self.exists(&path)? {
                continue;
            }
            let (dir, _) = self.blob_dir(alg)?;
            let mut doomed = Vec::new();
            for entry in dir.entries().map_err(io_err("list", path.as_str()))? {
                let entry = entry.map_err(io_err("list", path.as_str()))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let keep = format!("{}:{name}", alg.name())
                    .parse::<Digest>()
                    .is_ok_and(|d| merged.blobs.contains_key(&d));
                if !keep {
                    doomed.push(name);
                }
            }
            for name in doomed {
                match dir.remove_file(&name) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("remove", format!("{path}/{name}"))(e)),
                }
            }
        }
        Ok(removed)
    }

    /// Remove this instance's temp directory and release its lock.
    pub(super) fn close(&mut self) {
        let Ok(tmp_root) = self.shared.root.open_dir(TMP_DIR) else {
            return;
        };
        if let Err(e) = tmp_root.remove_dir_all(&self.tmp_name)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "disk cache: cannot remove temp directory");
        }
        let _ = tmp_root.remove_file(format!("{}.lock", self.tmp_name));
        self.owner_lock = None;
    }
}

#[cfg(target_os = "linux")]
pub(super) fn syncfs(dir: &cap_std::fs::File) -> io::Result<()> {
    rustix::fs::syncfs(dir).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn syncfs(_dir: &cap_std::fs::File) -> io::Result<()> {
    unreachable!("syncfs is only used on Linux")
}

/// The writer task: batches requests and runs each batch on the blocking pool.
pub(super) async fn run_writer(
    mut rx: mpsc::Receiver<Request>,
    state: WriterState,
    config: DiskCacheConfig,
) {
    let mut state = Some(state);
    let mut carry: Option<Request> = None;
    loop {
        let first = match carry.take() {
            Some(r) => r,
            None => match rx.recv().await {
                Some(r) => r,
                None => break,
            },
        };
        let mut puts = Vec::new();
        let mut put_acks = Vec::new();
        let mut gc_acks = Vec::new();
        let mut reload_acks = Vec::new();
        let mut bytes = 0usize;
        let mut next = Some(first);
        while let Some(req) = next.take() {
            match req {
                Request::Put { desc, data, ack } => {
                    if !puts.is_empty()
                        && (puts.len() >= config.max_batch_items
                            || bytes + data.len() > config.max_batch_bytes)
                    {
                        carry = Some(Request::Put { desc, data, ack });
                        break;
                    }
                    bytes += data.len();
                    puts.push((desc, data));
                    put_acks.push(ack);
                }
                Request::Gc { ack } => gc_acks.push(ack),
                Request::Reload { ack } => reload_acks.push(ack),
                Request::Shutdown => rx.close(),
            }
            next = rx.try_recv().ok();
        }
        if puts.is_empty() && gc_acks.is_empty() && reload_acks.is_empty() {
            continue;
        }

        let Some(mut st) = state.take() else { break };
        let gc = !gc_acks.is_empty();
        let reload = !reload_acks.is_empty();
        let joined = tokio::task::spawn_blocking(move || {
            let result = st.process(&puts, gc, reload);
            (st, result)
        })
        .await;
        let result = match joined {
            Ok((st, result)) => {
                state = Some(st);
                result
            }
            Err(e) => Err(DiskCacheError::Writer(format!("batch task failed: {e}"))),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "disk cache: batch failed");
        }
        for ack in put_acks {
            let _ = ack.send(result.clone().map(|_| ()));
        }
        for ack in reload_acks {
            let _ = ack.send(result.clone().map(|_| ()));
        }
        for ack in gc_acks {
            let _ = ack.send(
                result
                    .clone()
                    .map(|r| r.expect("a gc batch always reports")),
            );
        }
        if state.is_none() {
            // The state was lost with a panicked batch: stop; later requests see `Closed`.
            break;
        }
    }
    if let Some(mut st) = state {
        tokio::task::spawn_blocking(move || st.close()).await.ok();
    }
}
