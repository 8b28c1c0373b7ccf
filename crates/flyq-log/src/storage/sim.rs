//! [`SimStorage`]: an in-memory disk for crash, fsync-failure and disk-full tests.
//!
//! Each file (inode) keeps two images: the *live* bytes every reader sees, and the *durable*
//! bytes that survive a crash, plus the list of writes since the last sync. Directory entries
//! work the same way: creating, removing and renaming a file changes the live namespace at once
//! and the durable namespace only at `sync_dir`.
//!
//! A crash ([`SimStorage::crash_image`], or automatically after a set number of operations with
//! [`SimStorage::crash_after_ops`]) builds a new disk from the durable state plus an arbitrary,
//! seeded subset of the unsynced operations: each pending write is kept, dropped, or torn at a
//! random byte, as a real page cache may have written back any of it. That is harsher than
//! "lose everything after the last sync", and it is what a log's recovery must survive.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FileHandle, Storage, StorageFile};

/// A simulated disk. Cloning gives another handle to the same disk.
#[derive(Debug, Clone, Default)]
pub struct SimStorage {
    disk: Arc<Mutex<Disk>>,
}

#[derive(Debug, Clone)]
enum FileOp {
    Write { pos: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone)]
enum DirOp {
    Link { path: PathBuf, ino: u64 },
    Unlink { path: PathBuf },
    Rename { from: PathBuf, to: PathBuf },
}

impl DirOp {
    fn dir(&self) -> Option<&Path> {
        match self {
            DirOp::Link { path, .. } | DirOp::Unlink { path } => path.parent(),
            DirOp::Rename { to, .. } => to.parent(),
        }
    }

    fn apply(&self, names: &mut BTreeMap<PathBuf, u64>) {
        match self {
            DirOp::Link { path, ino } => {
                names.insert(path.clone(), *ino);
            }
            DirOp::Unlink { path } => {
                names.remove(path);
            }
            DirOp::Rename { from, to } => {
                if let Some(ino) = names.remove(from) {
                    names.insert(to.clone(), ino);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<FileOp>,
}

#[derive(Debug, Default)]
struct Disk {
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    live_names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    pending_dir_ops: Vec<DirOp>,
    /// Bytes of live file data allowed in total; writes beyond fail with `StorageFull`.
    capacity: Option<u64>,
    /// While set, every `sync_data` fails with an I/O error.
    fail_syncs: bool,
    ops: u64,
    crash_at_op: Option<u64>,
    crash_seed: u64,
    crashed: Option<Box<SimStorage>>,
}

fn apply_op(data: &mut Vec<u8>, op: &FileOp) {
    match op {
        FileOp::Write { pos, bytes } => write_into(data, *pos, bytes),
        FileOp::SetLen(len) => data.resize(*len as usize, 0),
    }
}

fn write_into(data: &mut Vec<u8>, pos: u64, bytes: &[u8]) {
    let pos = pos as usize;
    let end = pos + bytes.len();
    if data.len() < end {
        data.resize(end, 0);
    }
    data[pos..end].copy_from_slice(bytes);
}

/// splitmix64: a tiny deterministic generator, so a crash image is reproducible from its seed.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn crashed_error() -> io::Error {
    io::Error::other("simulated crash: the disk is gone")
}

impl Disk {
    fn live_bytes(&self) -> u64 {
        self.inodes.values().map(|i| i.live.len() as u64).sum()
    }

    /// Counts a mutating operation; fails once the configured crash point has been reached.
    fn tick(&mut self) -> io::Result<()> {
        if self.crashed.is_some() {
            return Err(crashed_error());
        }
        self.ops += 1;
        if self.crash_at_op.is_some_and(|at| self.ops >= at) {
            let image = self.image(self.crash_seed);
            self.crashed = Some(Box::new(image));
            return Err(crashed_error());
        }
        Ok(())
    }

    fn image(&self, seed: u64) -> SimStorage {
        let mut rng = seed;
        let mut inodes = HashMap::new();
        for (&ino, inode) in &self.inodes {
            let mut data = inode.durable.clone();
            for op in &inode.pending {
                match next_random(&mut rng) % 3 {
                    0 => {}
                    1 => apply_op(&mut data, op),
                    _ => match op {
                        // A torn write: some prefix of it reached the disk.
                        FileOp::Write { pos, bytes } => {
                            let keep = (next_random(&mut rng) % (bytes.len() as u64 + 1)) as usize;
                            write_into(&mut data, *pos, &bytes[..keep]);
                        }
                        FileOp::SetLen(_) => apply_op(&mut data, op),
                    },
                }
            }
            let inode = Inode {
                live: data.clone(),
                durable: data,
                pending: Vec::new(),
            };
            inodes.insert(ino, inode);
        }
        let mut names = self.durable_names.clone();
        for op in &self.pending_dir_ops {
            if next_random(&mut rng).is_multiple_of(2) {
                op.apply(&mut names);
            }
        }
        let disk = Disk {
            inodes,
            next_ino: self.next_ino,
            live_names: names.clone(),
            durable_names: names,
            ..Disk::default()
        };
        SimStorage {
            disk: Arc::new(Mutex::new(disk)),
        }
    }
}

impl SimStorage {
    /// A new, empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// The disk as it would be found after a power loss now: durable state plus a seeded,
    /// arbitrary subset of unsynced writes (some torn) and directory operations.
    pub fn crash_image(&self, seed: u64) -> SimStorage {
        self.disk.lock().image(seed)
    }

    /// Crashes the disk at the `n`-th mutating operation from now (write, set_len, sync, create,
    /// remove, rename, sync_dir): that operation and every later one fail, and the crash image
    /// (seeded with `seed`) is kept for [`SimStorage::take_crash_image`].
    pub fn crash_after_ops(&self, n: u64, seed: u64) {
        let mut disk = self.disk.lock();
        disk.crash_at_op = Some(disk.ops + n.max(1));
        disk.crash_seed = seed;
    }

    /// The image taken when the scheduled crash happened, if it has.
    pub fn take_crash_image(&self) -> Option<SimStorage> {
        self.disk.lock().crashed.take().map(|b| *b)
    }

    /// Makes every `sync_data` fail with EIO while `fail` is set (unsynced writes stay unsynced).
    pub fn set_fail_syncs(&self, fail: bool) {
        self.disk.lock().fail_syncs = fail;
    }

    /// Limits the total live file bytes; `None` removes the limit.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.disk.lock().capacity = bytes;
    }
}

#[derive(Debug)]
struct SimFile {
    disk: Arc<Mutex<Disk>>,
    ino: u64,
}

impl SimFile {
    fn with_inode<T>(&self, f: impl FnOnce(&mut Inode) -> T) -> io::Result<T> {
        let mut disk = self.disk.lock();
        if disk.crashed.is_some() {
            return Err(crashed_error());
        }
        let inode = disk.inodes.get_mut(&self.ino).ok_or_else(crashed_error)?;
        Ok(f(inode))
    }
}

impl StorageFile for SimFile {
    fn size(&self) -> io::Result<u64> {
        self.with_inode(|i| i.live.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.with_inode(|i| {
            let start = (pos as usize).min(i.live.len());
            let n = buf.len().min(i.live.len() - start);
            buf[..n].copy_from_slice(&i.live[start..start + n]);
            n
        })
    }

    fn write_all_at(&self, bufs: &[IoSlice<'_>], pos: u64) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.tick()?;
        let mut bytes: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        let mut result = Ok(());
        if let Some(capacity) = disk.capacity {
            let current = disk
                .inodes
                .get(&self.ino)
                .map_or(0, |i| i.live.len() as u64);
            let growth = (pos + bytes.len() as u64).saturating_sub(current);
            let free = capacity.saturating_sub(disk.live_bytes());
            if growth > free {
                // Like a real file system: write what fits, then report the disk full.
                bytes.truncate((bytes.len() as u64 - (growth - free)) as usize);
                result = Err(io::Error::from(io::ErrorKind::StorageFull));
            }
        }
        let inode = disk.inodes.get_mut(&self.ino).ok_or_else(crashed_error)?;
        write_into(&mut inode.live, pos, &bytes);
        inode.pending.push(FileOp::Write { pos, bytes });
        result
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.tick()?;
        if let Some(capacity) = disk.capacity {
            let current = disk
                .inodes
                .get(&self.ino)
                .map_or(0, |i| i.live.len() as u64);
            if len > current && len - current > capacity.saturating_sub(disk.live_bytes()) {
                return Err(io::ErrorKind::StorageFull.into());
            }
        }
        let inode = disk.inodes.get_mut(&self.ino).ok_or_else(crashed_error)?;
        inode.live.resize(len as usize, 0);
        inode.pending.push(FileOp::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.tick()?;
        if disk.fail_syncs {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::IO.raw_os_error(),
            ));
        }
        let inode = disk.inodes.get_mut(&self.ino).ok_or_else(crashed_error)?;
        for op in std::mem::take(&mut inode.pending) {
            apply_op(&mut inode.durable, &op);
        }
        Ok(())
    }
}

impl Storage for SimStorage {
    fn open(&self, path: &Path, create: bool) -> io::Result<FileHandle> {
        let mut disk = self.disk.lock();
        if disk.crashed.is_some() {
            return Err(crashed_error());
        }
        let ino = match disk.live_names.get(path) {
            Some(&ino) => ino,
            None if create => {
                disk.tick()?;
                let ino = disk.next_ino;
                disk.next_ino += 1;
                disk.inodes.insert(ino, Inode::default());
                disk.live_names.insert(path.to_owned(), ino);
                disk.pending_dir_ops.push(DirOp::Link {
                    path: path.to_owned(),
                    ino,
                });
                ino
            }
            None => return Err(io::ErrorKind::NotFound.into()),
        };
        Ok(Arc::new(SimFile {
            disk: Arc::clone(&self.disk),
            ino,
        }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.tick()?;
        disk.live_names
            .remove(path)
            .ok_or(io::ErrorKind::NotFound)?;
        disk.pending_dir_ops.push(DirOp::Unlink {
            path: path.to_owned(),
        });
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.tick()?;
        let ino = disk
            .live_names
            .remove(from)
            .ok_or(io::ErrorKind::NotFound)?;
        disk.live_names.insert(to.to_owned(), ino);
        disk.pending_dir_ops.push(DirOp::Rename {
            from: from.to_owned(),
            to: to.to_owned(),
        });
        Ok(())
    }

    fn create_dir_all(&self, _path: &Path) -> io::Result<()> {
        // Directories are implicit in paths; creating one is always durable in this model.
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let disk = self.disk.lock();
        if disk.crashed.is_some() {
            return Err(crashed_error());
        }
        Ok(disk
            .live_names
            .keys()
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.tick()?;
        let (now, later): (Vec<DirOp>, Vec<DirOp>) = std::mem::take(&mut disk.pending_dir_ops)
            .into_iter()
            .partition(|op| op.dir() == Some(path));
        for op in &now {
            op.apply(&mut disk.durable_names);
        }
        disk.pending_dir_ops = later;
        Ok(())
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let disk = self.disk.lock();
        let ino = disk.live_names.get(path).ok_or(io::ErrorKind::NotFound)?;
        Ok(disk.inodes.get(ino).map_or(0, |i| i.live.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(f: &FileHandle, pos: u64, bytes: &[u8]) {
        f.write_all_at(&[IoSlice::new(bytes)], pos).unwrap();
    }

    #[test]
    fn synced_data_survives_every_crash_image() {
        let disk = SimStorage::new();
        let dir = Path::new("/d");
        let f = disk.open(&dir.join("a"), true).unwrap();
        disk.sync_dir(dir).unwrap();
        write(&f, 0, b"durable");
        f.sync_data().unwrap();
        write(&f, 7, b"-maybe");
        for seed in 0..50 {
            let image = disk.crash_image(seed);
            let bytes = crate::storage::read_file(&image, &dir.join("a"), 1 << 20).unwrap();
            assert!(bytes.starts_with(b"durable"), "seed {seed}: {bytes:?}");
            assert!(
                b"durable-maybe".starts_with(&bytes[..bytes.len().min(13)]) || bytes.len() <= 13
            );
        }
    }

    #[test]
    fn unsynced_directory_entries_may_vanish() {
        let disk = SimStorage::new();
        let dir = Path::new("/d");
        disk.open(&dir.join("a"), true).unwrap();
        let outcomes: Vec<bool> = (0..32)
            .map(|seed| disk.crash_image(seed).file_len(&dir.join("a")).is_ok())
            .collect();
        assert!(outcomes.contains(&true) && outcomes.contains(&false));
        disk.sync_dir(dir).unwrap();
        assert!((0..32).all(|seed| disk.crash_image(seed).file_len(&dir.join("a")).is_ok()));
    }

    #[test]
    fn failed_sync_leaves_writes_unsynced() {
        let disk = SimStorage::new();
        let f = disk.open(Path::new("/a"), true).unwrap();
        write(&f, 0, b"x");
        disk.set_fail_syncs(true);
        assert!(f.sync_data().is_err());
        assert_eq!(disk.disk.lock().inodes[&0].durable.len(), 0);
    }

    #[test]
    fn capacity_limits_growth_and_reports_storage_full() {
        let disk = SimStorage::new();
        disk.set_capacity(Some(10));
        let f = disk.open(Path::new("/a"), true).unwrap();
        let err = f.write_all_at(&[IoSlice::new(&[7; 16])], 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(f.size().unwrap(), 10);
        f.set_len(0).unwrap();
        disk.set_capacity(None);
        write(&f, 0, &[7; 16]);
        assert_eq!(f.size().unwrap(), 16);
    }

    #[test]
    fn scheduled_crash_fails_later_operations_and_keeps_an_image() {
        let disk = SimStorage::new();
        let f = disk.open(Path::new("/a"), true).unwrap();
        disk.crash_after_ops(2, 1);
        write(&f, 0, b"one");
        assert!(f.write_all_at(&[IoSlice::new(b"two")], 3).is_err());
        assert!(f.read_at(&mut [0; 3], 0).is_err());
        assert!(disk.take_crash_image().is_some());
    }
}
