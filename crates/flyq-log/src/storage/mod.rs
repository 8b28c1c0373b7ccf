//! The file I/O backend the log is written against.
//!
//! Everything the log does to the disk goes through [`Storage`] and [`StorageFile`]: positional
//! reads and writes, `set_len`, data sync, directory listing and directory sync. Production uses
//! [`FsStorage`]; tests use [`SimStorage`], a simulated disk that can crash (keeping only what
//! was synced, plus an arbitrary subset of what was not), fail a sync, or run out of space.
//!
//! The trait is deliberately small and positional (no shared file cursor), so one open file can
//! be used by concurrent readers and the single appender of a log without coordination.

mod fs;
mod sim;

use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use fs::FsStorage;
pub use sim::SimStorage;

/// An open file. All offsets are absolute byte positions.
pub trait StorageFile: Send + Sync + std::fmt::Debug {
    /// Current length of the file in bytes.
    fn size(&self) -> io::Result<u64>;

    /// Reads up to `buf.len()` bytes at `pos`; returns how many were read (0 at end of file).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;

    /// Writes all of `bufs`, in order, starting at `pos`.
    ///
    /// On error an unknown prefix may have been written.
    fn write_all_at(&self, bufs: &[IoSlice<'_>], pos: u64) -> io::Result<()>;

    /// Truncates or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;

    /// Reads exactly `buf.len()` bytes at `pos`, failing with `UnexpectedEof` if the file is shorter.
    fn read_exact_at(&self, mut buf: &mut [u8], mut pos: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, pos) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    pos += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A shared handle to an open file.
pub type FileHandle = Arc<dyn StorageFile>;

/// A file system: opens files and manages directory entries.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Opens `path` for reading and writing, creating it (empty) when `create` is set.
    fn open(&self, path: &Path, create: bool) -> io::Result<FileHandle>;

    /// Removes a file. Durable only after [`Storage::sync_dir`] on its directory.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Atomically renames `from` to `to`, replacing `to`. Durable only after `sync_dir`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;

    /// Lists the file names (not paths) in a directory.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;

    /// Makes the directory's entries (created, removed, renamed files) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;

    /// Length of the file at `path`, without opening it.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
}

/// Writes `contents` to `path` atomically and durably: a temporary file is written and synced,
/// renamed over `path`, and the directory synced. Readers see the old or the new contents.
pub fn write_file_atomic(storage: &dyn Storage, path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string().push(".tmp");
    let file = storage.open(&tmp, true)?;
    file.set_len(0)?;
    file.write_all_at(&[IoSlice::new(contents)], 0)?;
    file.sync_data()?;
    drop(file);
    storage.rename(&tmp, path)?;
    storage.sync_dir(dir)
}

/// Reads a file into memory, at most its first `max_len` bytes: what a file on disk claims to
/// hold never sizes an allocation beyond what the caller can use.
pub fn read_file(storage: &dyn Storage, path: &Path, max_len: u64) -> io::Result<Vec<u8>> {
    let file = storage.open(path, false)?;
    let len =
        usize::try_from(file.size()?.min(max_len)).map_err(|_| io::ErrorKind::FileTooLarge)?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}
