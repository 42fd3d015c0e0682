//! Bounded, non-blocking reads of local files: every file Vouch reads from the local file system
//! (verifier `.wasm` files, the configuration and the files it names, OCI layouts, its own caches)
//! goes through here or through the same checks.
//!
//! - Only regular files are read. The type is checked before opening (a FIFO, socket or device
//!   is never opened), and again on the open descriptor, which is opened with `O_NONBLOCK` so
//!   that a FIFO swapped in between the two checks cannot block the open.
//! - Every read has a size cap: a file whose size on disk is over it is refused before reading,
//!   and at most `cap + 1` bytes are read, so a file that grows while it is read (or a
//!   pseudo-file reporting size 0) is caught too.
//!
//! The caps (documented in `docs/configuration.md`):
//! [`MAX_WASM_BYTES`] for verifier components, [`MAX_CONFIG_FILE_BYTES`] for configuration files
//! and what they name (trust material, keys, Rego policies, TLS files, Docker `config.json`).

use std::fs::{File, FileType, Metadata};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Cap on a verifier `.wasm` component read from a path (256 MiB; the largest seen, a
/// componentize-py verifier with CPython inside, is ~19 MiB).
pub const MAX_WASM_BYTES: u64 = 256 << 20;
/// Cap on a configuration file and on every file it names: trust material, public keys, Rego
/// policies, TLS certificates and keys, Docker `config.json` (4 MiB).
pub const MAX_CONFIG_FILE_BYTES: u64 = 4 << 20;

/// Flags every local read opens its file with: never block on a FIFO, never acquire a
/// controlling terminal.
pub const OPEN_FLAGS: i32 = libc::O_NONBLOCK | libc::O_NOCTTY;

/// Why a local file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LocalFileError {
    /// The file does not exist.
    #[error("{what} `{path}` does not exist")]
    NotFound {
        /// What the file is for (`verifier component`, `config file`, ...).
        what: String,
        /// The path as given.
        path: PathBuf,
    },
    /// The path names something other than a regular file.
    #[error("{what} `{path}` is {kind}, not a regular file")]
    NotRegular {
        /// What the file is for.
        what: String,
        /// The path as given.
        path: PathBuf,
        /// What it is instead (`a FIFO (named pipe)`, `a character device`, ...).
        kind: &'static str,
    },
    /// The file is larger than the cap.
    #[error("{what} `{path}` is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// What the file is for.
        what: String,
        /// The path as given.
        path: PathBuf,
        /// Its size on disk, or how much was read before the read stopped.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// Opening or reading failed.
    #[error("cannot read {what} `{path}`: {source}")]
    Io {
        /// What the file is for.
        what: String,
        /// The path as given.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl LocalFileError {
    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, LocalFileError::NotFound { .. })
    }
}

/// What a file type is, for error messages (`None` for a regular file): one body for std's and
/// cap-std's `FileType`, whose Unix extension traits are distinct.
macro_rules! kind_of {
    ($ft:expr) => {{
        let ft = $ft;
        if ft.is_file() {
            None
        } else if ft.is_dir() {
            Some("a directory")
        } else if ft.is_fifo() {
            Some("a FIFO (named pipe)")
        } else if ft.is_socket() {
            Some("a socket")
        } else if ft.is_char_device() {
            Some("a character device")
        } else if ft.is_block_device() {
            Some("a block device")
        } else if ft.is_symlink() {
            Some("a symbolic link")
        } else {
            Some("a special file")
        }
    }};
}

/// What a file type is, for error messages; `None` for a regular file.
pub fn non_regular_kind(ft: &FileType) -> Option<&'static str> {
    kind_of!(ft)
}

/// Clear `O_NONBLOCK` on a descriptor opened with [`OPEN_FLAGS`] once it is known to be a
/// regular file (where it has no effect on Linux, but reads then behave as usual everywhere).
pub fn clear_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, flags - rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// Read at most `cap + 1` bytes of `reader` (so that content over the cap is detected without
/// reading more of it), preallocating `size_hint` bytes (bounded by the cap).
pub fn read_to_end_capped(reader: impl Read, cap: u64, size_hint: u64) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(size_hint.min(cap) as usize);
    reader.take(cap.saturating_add(1)).read_to_end(&mut data)?;
    Ok(data)
}

/// Open `path` for reading if it is a regular file of at most `cap` bytes: its type is checked
/// before opening and again on the descriptor. Returns the file and its metadata.
pub fn open_regular_file(
    path: &Path,
    cap: u64,
    what: &str,
) -> Result<(File, Metadata), LocalFileError> {
    let io_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::NotFound {
            LocalFileError::NotFound {
                what: what.to_owned(),
                path: path.to_owned(),
            }
        } else {
            LocalFileError::Io {
                what: what.to_owned(),
                path: path.to_owned(),
                source,
            }
        }
    };
    let check = |meta: &Metadata| -> Result<(), LocalFileError> {
        if let Some(kind) = non_regular_kind(&meta.file_type()) {
            return Err(LocalFileError::NotRegular {
                what: what.to_owned(),
                path: path.to_owned(),
                kind,
            });
        }
        if meta.len() > cap {
            return Err(LocalFileError::TooLarge {
                what: what.to_owned(),
                path: path.to_owned(),
                size: meta.len(),
                limit: cap,
            });
        }
        Ok(())
    };
    // Before opening: a device or FIFO is never opened at all.
    check(&std::fs::metadata(path).map_err(io_err)?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_FLAGS)
        .open(path)
        .map_err(io_err)?;
    // On the descriptor: what was opened is what is read, whatever was renamed in between.
    let meta = file.metadata().map_err(io_err)?;
    check(&meta)?;
    clear_nonblocking(&file).map_err(io_err)?;
    Ok((file, meta))
}

/// Why [`open_regular_in`] refused or failed to open a file.
#[derive(Debug)]
pub enum OpenInDirError {
    /// Stat or open failed (`NotFound` included).
    Io(io::Error),
    /// The path names something other than a regular file: what it is.
    NotRegular(&'static str),
}

/// What a non-regular file type (as cap-std reports it) is, for error messages; `None` for a
/// regular file.
fn non_regular_cap_kind(ft: &cap_std::fs::FileType) -> Option<&'static str> {
    use cap_std::fs::FileTypeExt as _;
    kind_of!(ft)
}

/// Open `rel` inside `dir` (cap-std: never escaping it) for reading if it is a regular file,
/// with the same two type checks as [`open_regular_file`]. The caller applies its size cap to
/// the returned metadata and reads with [`read_to_end_capped`].
pub fn open_regular_in(
    dir: &cap_std::fs::Dir,
    rel: &str,
) -> Result<(File, Metadata), OpenInDirError> {
    use cap_std::fs::OpenOptionsExt as _;
    let before = dir.metadata(rel).map_err(OpenInDirError::Io)?;
    if let Some(kind) = non_regular_cap_kind(&before.file_type()) {
        return Err(OpenInDirError::NotRegular(kind));
    }
    let file = dir
        .open_with(
            rel,
            cap_std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(OPEN_FLAGS),
        )
        .map_err(OpenInDirError::Io)?
        .into_std();
    let meta = file.metadata().map_err(OpenInDirError::Io)?;
    if let Some(kind) = non_regular_kind(&meta.file_type()) {
        return Err(OpenInDirError::NotRegular(kind));
    }
    clear_nonblocking(&file).map_err(OpenInDirError::Io)?;
    Ok((file, meta))
}

/// Read the regular file `path` (following symbolic links) whole, refusing anything that is not
/// a regular file and anything over `cap` bytes. `what` names the file in errors.
pub fn read_regular_file_capped(
    path: &Path,
    cap: u64,
    what: &str,
) -> Result<Vec<u8>, LocalFileError> {
    let (file, meta) = open_regular_file(path, cap, what)?;
    let data = read_to_end_capped(file, cap, meta.len()).map_err(|source| LocalFileError::Io {
        what: what.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    if data.len() as u64 > cap {
        return Err(LocalFileError::TooLarge {
            what: what.to_owned(),
            path: path.to_owned(),
            size: data.len() as u64,
            limit: cap,
        });
    }
    Ok(data)
}

/// [`read_regular_file_capped`] as UTF-8 text.
pub fn read_regular_file_capped_to_string(
    path: &Path,
    cap: u64,
    what: &str,
) -> Result<String, LocalFileError> {
    let bytes = read_regular_file_capped(path, cap, what)?;
    String::from_utf8(bytes).map_err(|e| LocalFileError::Io {
        what: what.to_owned(),
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, e.utf8_error()),
    })
}

/// [`read_regular_file_capped`] on tokio's blocking pool.
pub async fn read_regular_file_capped_async(
    path: &Path,
    cap: u64,
    what: &str,
) -> Result<Vec<u8>, LocalFileError> {
    let (owned_path, owned_what) = (path.to_owned(), what.to_owned());
    tokio::task::spawn_blocking(move || read_regular_file_capped(&owned_path, cap, &owned_what))
        .await
        .map_err(|e| LocalFileError::Io {
            what: what.to_owned(),
            path: path.to_owned(),
            source: io::Error::other(format!("read task failed: {e}")),
        })?
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn mkfifo(path: &Path) {
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            path,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
    }

    #[test]
    fn reads_a_regular_file_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(
            read_regular_file_capped(&path, 5, "test file").unwrap(),
            b"hello"
        );
        // Through a symbolic link too.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(
            read_regular_file_capped(&link, 5, "test file").unwrap(),
            b"hello"
        );
    }

    #[test]
    fn over_the_cap_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello!").unwrap();
        let err = read_regular_file_capped(&path, 5, "test file").unwrap_err();
        assert!(
            matches!(
                err,
                LocalFileError::TooLarge {
                    size: 6,
                    limit: 5,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_fifo_is_refused_at_once_naming_its_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipe");
        mkfifo(&path);
        let t = Instant::now();
        let err = read_regular_file_capped(&path, 1 << 20, "verifier component").unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(matches!(err, LocalFileError::NotRegular { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("FIFO") && text.contains(&path.display().to_string()),
            "{text}"
        );
    }

    #[test]
    fn devices_directories_and_missing_files_are_refused() {
        let err = read_regular_file_capped(Path::new("/dev/zero"), 1 << 20, "x").unwrap_err();
        assert!(
            err.to_string()
                .contains("`/dev/zero` is a character device, not a regular file"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = read_regular_file_capped(dir.path(), 1 << 20, "x").unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
        let err = read_regular_file_capped(&dir.path().join("absent"), 1, "x").unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }

    #[test]
    fn a_pseudo_file_reporting_size_zero_is_still_capped() {
        // /proc files are regular files whose metadata says 0 bytes.
        let err = read_regular_file_capped(Path::new("/proc/self/status"), 16, "x").unwrap_err();
        assert!(
            matches!(
                err,
                LocalFileError::TooLarge {
                    size: 17,
                    limit: 16,
                    ..
                }
            ),
            "{err}"
        );
    }
}
