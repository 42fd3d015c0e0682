//! On-disk cache of compiled components, so a restart does not recompile.
//!
//! Key: the module's sha256 and the engine's compatibility hash (wasmtime version, compiler
//! settings, CPU features). A file is written to a temp name, fsynced and renamed, so a reader
//! sees a whole artefact or none. The directory is host-owned: deserializing native code is only
//! sound because nothing but this process writes there (the same trust as the binary itself).

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::oci::Digest;

/// Where compiled components live.
#[derive(Clone, Debug)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    compat: String,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Cap on a compiled component read back from the cache (1 GiB: four times the cap on the
/// `.wasm` it was compiled from; native code is larger than wasm).
const MAX_COMPILED_BYTES: u64 = 4 * crate::localfile::MAX_WASM_BYTES;

impl CompileCache {
    /// A cache in `dir` (created if missing) for components compiled by `engine`.
    pub(crate) fn new(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(CompileCache {
            dir: dir.to_owned(),
            compat: format!("{:016x}", h.finish()),
        })
    }

    fn path(&self, module: &Digest) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", module.hex(), self.compat))
    }

    /// The cached component for `module`, if a valid one is there. A corrupt or incompatible file
    /// is removed and reported as a miss.
    pub(crate) fn get(&self, engine: &Engine, module: &Digest) -> Option<Component> {
        let path = self.path(module);
        // Read into memory rather than `deserialize_file`: an mmap of a file that someone later
        // truncates in place would fault (SIGBUS) in the middle of a verification.
        let bytes = match crate::localfile::read_regular_file_capped(
            &path,
            MAX_COMPILED_BYTES,
            "compiled-component cache entry",
        ) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => return None,
            Err(e) => {
                tracing::warn!(error = %e, "compiled-component cache entry unreadable; compiling again");
                return None;
            }
        };
        // SAFETY: the file was produced by `Engine::precompile_component` of an engine with the
        // same compatibility hash and written atomically by this host into its own directory;
        // wasmtime still checks the header, version and compatibility before using it.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "dropping unusable compiled-component cache entry");
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Compile `wasm` once, store the artefact, and return the component. Failing to write the
    /// cache is logged, never fatal: the cache is an optimisation.
    pub(crate) fn compile(
        &self,
        engine: &Engine,
        module: &Digest,
        wasm: &[u8],
    ) -> wasmtime::Result<Component> {
        let bytes = engine.precompile_component(wasm)?;
        if let Err(e) = self.write(module, &bytes) {
            tracing::warn!(module = %module, error = %e, "could not write compiled-component cache");
        }
        // SAFETY: `bytes` was produced by `precompile_component` of this very engine just now.
        unsafe { Component::deserialize(engine, &bytes) }
    }

    fn write(&self, module: &Digest, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let res = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, self.path(module))
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }
}
