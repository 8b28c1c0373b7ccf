//! Resources shared by every log of a process: the storage backend, the clock, and the bounded
//! caches that keep thousands of partitions cheap.
//!
//! A partition costs no file handle and no index memory until it is read or written: segment
//! files are opened through [`LogEnv`]'s handle cache and sealed segments' indexes are loaded on
//! first use into an index cache, both LRU-bounded, so an idle partition holds neither. (The
//! active segment of a partition being written pins one handle: a write error reported by
//! `fsync` must reach the handle that wrote, and a reopened file would not see it.)

use std::num::NonZeroUsize;
use std::sync::{Arc, Weak};

use lru::LruCache;
use parking_lot::Mutex;

use crate::clock::{Clock, SystemClock};
use crate::segment::Segment;
use crate::storage::{FileHandle, FsStorage, Storage};

/// How many open segment files and loaded sealed-segment indexes a process keeps by default.
pub const DEFAULT_OPEN_SEGMENTS: usize = 1024;

/// Process-wide resources for logs. Share one `Arc<LogEnv>` between all logs.
#[derive(Debug)]
pub struct LogEnv {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) clock: Arc<dyn Clock>,
    files: Mutex<LruCache<u64, FileHandle>>,
    indexes: Mutex<LruCache<u64, Weak<Segment>>>,
    next_segment_id: std::sync::atomic::AtomicU64,
}

impl LogEnv {
    /// An environment on `storage` with `clock`, keeping at most `open_segments` segment files
    /// open and as many sealed-segment indexes loaded.
    pub fn new(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        open_segments: usize,
    ) -> Arc<Self> {
        let cap = NonZeroUsize::new(open_segments.max(1)).unwrap_or(NonZeroUsize::MIN);
        Arc::new(Self {
            storage,
            clock,
            files: Mutex::new(LruCache::new(cap)),
            indexes: Mutex::new(LruCache::new(cap)),
            next_segment_id: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The real file system and clock with default cache sizes.
    pub fn os() -> Arc<Self> {
        Self::new(
            Arc::new(FsStorage),
            Arc::new(SystemClock),
            DEFAULT_OPEN_SEGMENTS,
        )
    }

    /// The storage backend.
    pub fn storage(&self) -> &dyn Storage {
        &*self.storage
    }

    /// A shared handle to the storage backend, for other stores of the process (metadata).
    pub fn shared_storage(&self) -> Arc<dyn Storage> {
        Arc::clone(&self.storage)
    }

    /// Number of segment files currently held open by the handle cache.
    pub fn open_files(&self) -> usize {
        self.files.lock().len()
    }

    /// Number of sealed segments whose indexes are currently loaded.
    pub fn loaded_indexes(&self) -> usize {
        self.indexes.lock().len()
    }

    pub(crate) fn segment_id(&self) -> u64 {
        self.next_segment_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The cached handle for segment `id`, opening it with `open` on a miss.
    pub(crate) fn file(
        &self,
        id: u64,
        open: impl FnOnce() -> std::io::Result<FileHandle>,
    ) -> std::io::Result<FileHandle> {
        if let Some(f) = self.files.lock().get(&id) {
            return Ok(Arc::clone(f));
        }
        // Open outside the lock: other segments' reads need not wait for this open.
        let file = open()?;
        self.files.lock().put(id, Arc::clone(&file));
        Ok(file)
    }

    /// Records that a sealed segment's indexes were loaded, unloading the least recently used
    /// ones beyond the cache's capacity.
    pub(crate) fn index_loaded(&self, segment: &Arc<Segment>) {
        let evicted = self
            .indexes
            .lock()
            .push(segment.id(), Arc::downgrade(segment));
        if let Some((id, victim)) = evicted
            && id != segment.id()
            && let Some(victim) = victim.upgrade()
        {
            victim.unload_indexes();
        }
    }

    /// Marks a sealed segment's indexes as recently used.
    pub(crate) fn index_touched(&self, id: u64) {
        self.indexes.lock().get(&id);
    }

    /// Stops tracking a segment's indexes (it became the active segment again).
    pub(crate) fn forget_index(&self, id: u64) {
        self.indexes.lock().pop(&id);
    }

    /// Forgets everything cached for a segment that is going away.
    pub(crate) fn forget(&self, id: u64) {
        self.files.lock().pop(&id);
        self.indexes.lock().pop(&id);
    }
}
