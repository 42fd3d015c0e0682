//! What one `vouch` process opens once: the disk cache (one writer per process), the compile
//! cache, and the executor a command verifies with.

use std::path::{Path, PathBuf};

use super::build::{self, BuildError};
use crate::config::Config;
use crate::executor::Executor;
use crate::plugin::PluginClient;
use crate::runtime::{Runtime, RuntimeError};
use crate::store::disk::{DiskCache, DiskCacheConfig, DiskCacheError};

/// Why a command's process could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The disk cache could not be opened.
    #[error("cannot open the disk cache {}", dir.display())]
    DiskCache {
        /// Its directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: DiskCacheError,
    },
    /// What the configuration file describes could not be built.
    #[error("config file {}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<BuildError>,
    },
    /// The wasm runtime could not be created.
    #[error("cannot create the verifier runtime")]
    Runtime(#[source] RuntimeError),
}

/// The disk cache `config` asks for, opened (once per process: readers and the writer task).
pub async fn open_disk(config: &Config) -> Result<Option<DiskCache>, AppError> {
    let Some(dir) = config.disk_cache_dir() else {
        return Ok(None);
    };
    let disk = DiskCache::open(&dir, DiskCacheConfig::default())
        .await
        .map_err(|source| AppError::DiskCache { dir, source })?;
    Ok(Some(disk))
}

/// Wait (bounded by `stores.diskCacheFlushTimeoutMs`) for the background writes of the disk
/// cache, so content this process already used is in the cache index when it exits; then stop
/// the writer. A timeout is logged, never an error of the command.
pub async fn close_disk(disk: Option<DiskCache>, config: &Config) {
    if let Some(disk) = disk {
        // `close` logs what went wrong; the command's outcome does not depend on the cache.
        let _ = disk.close(config.stores.disk_cache_flush_timeout()).await;
    }
}

/// The executor `config` (loaded from `config_path`, named in errors) describes: runtime,
/// verifiers (loaded and config-checked; `oci://` ones through `plugins` when given), policy and
/// settings.
pub async fn executor_for(
    config: &Config,
    config_path: &Path,
    disk: Option<&DiskCache>,
    compile_cache: CompileCacheChoice,
    plugins: Option<PluginClient>,
) -> Result<Executor, AppError> {
    let in_config = |source: BuildError| AppError::Config {
        path: config_path.to_owned(),
        source: Box::new(source),
    };
    let revocation = build::revocation(config, disk).map_err(|e| in_config(e.into()))?;
    let mut runtime_config = build::runtime_config(config);
    match compile_cache {
        CompileCacheChoice::Off => runtime_config.compile_cache_dir = None,
        CompileCacheChoice::UserDefault if runtime_config.compile_cache_dir.is_none() => {
            runtime_config.compile_cache_dir = user_compile_cache();
        }
        CompileCacheChoice::UserDefault => {}
    }
    let runtime = Runtime::new(runtime_config)
        .map_err(AppError::Runtime)?
        .with_revocation(revocation);
    build::executor_with(&runtime, config, "", plugins)
        .await
        .map_err(in_config)
}

/// Where `vouch verify` keeps compiled verifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompileCacheChoice {
    /// The config's (inside its disk cache), else the user's cache directory (see
    /// [`user_compile_cache`]).
    UserDefault,
    /// None: compile every verifier afresh (`--no-cache`).
    Off,
}

/// The compile cache in the user's cache directory: `compiled/` in `$VOUCH_CACHE_DIR`, else in
/// `$XDG_CACHE_HOME/vouch`, else in `$HOME/.cache/vouch` (relative paths are ignored, as the XDG
/// specification says), created private to the user. `None` (every run compiles afresh, said
/// in a warning) when no such directory can be made safe: deserializing native code is only
/// sound from a directory no one else can write.
pub fn user_compile_cache() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = var("VOUCH_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("vouch")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("vouch")))?;
    let dir = base.join("compiled");
    match private_dir(&dir) {
        Ok(()) => Some(dir),
        Err(why) => {
            tracing::warn!(dir = %dir.display(), why, "not caching compiled verifiers");
            None
        }
    }
}

/// Create `dir` (mode 0700, parents as needed) unless it exists, then check that it is a
/// directory (not a symlink) owned by this user and writable by no one else.
fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create it: {e}"))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot stat it: {e}"))?;
    if !meta.is_dir() {
        return Err("it is not a directory".into());
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(format!(
            "it is owned by uid {}, not by this user",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "it is writable by others (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiled native code is only loaded from a directory no one else can write.
    #[test]
    fn the_user_compile_cache_must_be_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/compiled");
        private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = private_dir(&dir).unwrap_err();
        assert!(e.contains("writable by others (mode 777)"), "{e}");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path(), &link).unwrap();
        assert_eq!(private_dir(&link).unwrap_err(), "it is not a directory");
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(
            private_dir(&file)
                .unwrap_err()
                .starts_with("cannot create it")
        );
    }
}
