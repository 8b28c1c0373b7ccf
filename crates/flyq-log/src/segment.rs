//! One segment: a `.log` file of RecordBatch v2 bytes, its sparse offset index (`.index`) and
//! its time index (`.timeindex`), named by the segment's base offset in 20 digits.
//!
//! A segment is shared (`Arc`) between the log's writer and any number of readers. Readers see
//! only the first [`Segment::size`] bytes, which the writer advances after a write completes.
//! When the log drops a segment (retention, delete-records) its files are unlinked only when the
//! last reader lets go of it, so deletion never pulls bytes out from under a read in progress.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use flyq_protocol::BatchHeader;
use flyq_protocol::header::{batch_size, check};
use flyq_protocol::layout::{BATCH_HEADER_LEN, BATCH_LENGTH_PREFIX};
use parking_lot::RwLock;

use crate::env::LogEnv;
use crate::error::{IoContext, LogError, Result};
use crate::index::{OffsetEntry, SparseIndex, TimeEntry};
use crate::storage::{FileHandle, StorageFile};
use crate::validate::MAX_BATCH_BYTES;

/// Extension of segment data files.
pub const LOG_EXT: &str = "log";
/// Extension of offset index files.
pub const INDEX_EXT: &str = "index";
/// Extension of time index files.
pub const TIME_INDEX_EXT: &str = "timeindex";

/// The file name of a segment file: the base offset in 20 digits and an extension.
pub fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// Parses `<20 digits>.<ext>` into the base offset.
pub fn parse_file_name(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
}

/// The in-memory index state of a segment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Indexes {
    pub offsets: SparseIndex<OffsetEntry>,
    pub times: SparseIndex<TimeEntry>,
    /// Bytes appended since the last offset index entry.
    pub bytes_since_entry: u64,
    /// Largest batch max-timestamp in the segment (-1 if empty).
    pub max_timestamp: i64,
}

impl Indexes {
    fn empty() -> Self {
        Self {
            max_timestamp: -1,
            ..Self::default()
        }
    }

    /// Accounts for a batch at `position`, adding index entries every `interval` bytes.
    pub fn on_batch(&mut self, base: i64, position: u64, header: &BatchHeader, interval: u64) {
        let relative = (header.base_offset - base) as u32;
        if self.offsets.last().is_none() || self.bytes_since_entry >= interval {
            self.offsets.push(OffsetEntry {
                relative_offset: relative,
                position: position as u32,
            });
            self.bytes_since_entry = 0;
            self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
            if self
                .times
                .last()
                .is_none_or(|t| self.max_timestamp > t.timestamp)
            {
                self.times.push(TimeEntry {
                    timestamp: self.max_timestamp,
                    relative_offset: relative,
                });
            }
        }
        self.bytes_since_entry += header.total_len();
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
    }
}

/// Where a scan of batches stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanEnd {
    /// Position after the last good batch.
    pub position: u64,
    /// Offset after the last good batch.
    pub next_offset: i64,
    /// Why the scan stopped before the end, if it did.
    pub problem: Option<String>,
}

/// Reads consecutive batches from a file through one reusable buffer.
pub(crate) struct BatchScanner<'a> {
    file: &'a dyn StorageFile,
    pub position: u64,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

const SCAN_CHUNK: u64 = 1 << 20;

impl<'a> BatchScanner<'a> {
    pub fn new(file: &'a dyn StorageFile, position: u64, end: u64) -> Self {
        Self {
            file,
            position,
            end,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    fn ensure(&mut self, n: u64) -> io::Result<bool> {
        let have = (self.buf_start + self.buf.len() as u64).saturating_sub(self.position);
        if self.position >= self.buf_start && have >= n {
            return Ok(true);
        }
        let len = n.max(SCAN_CHUNK).min(self.end - self.position);
        if len < n {
            return Ok(false);
        }
        self.buf.resize(len as usize, 0);
        self.file.read_exact_at(&mut self.buf, self.position)?;
        self.buf_start = self.position;
        Ok(true)
    }

    /// The next whole batch as `(position, bytes)`, `Ok(None)` at the end, or `Err(Ok(reason))`
    /// when the bytes at the current position are not a complete batch.
    pub fn next_batch(&mut self) -> std::result::Result<Option<(u64, &[u8])>, io::Result<String>> {
        if self.position >= self.end {
            return Ok(None);
        }
        if !self.ensure(BATCH_LENGTH_PREFIX as u64).map_err(Err)? {
            return Err(Ok("incomplete batch length prefix".into()));
        }
        let at = (self.position - self.buf_start) as usize;
        let total = match batch_size(&self.buf[at..]) {
            Ok(Some(t)) if (BATCH_HEADER_LEN..=MAX_BATCH_BYTES).contains(&t) => t as u64,
            _ => return Err(Ok("invalid batch length".into())),
        };
        if !self.ensure(total).map_err(Err)? {
            return Err(Ok(format!(
                "batch of {total} bytes runs past the end of the file"
            )));
        }
        let at = (self.position - self.buf_start) as usize;
        let position = self.position;
        self.position += total;
        Ok(Some((position, &self.buf[at..at + total as usize])))
    }
}

/// Verifies the batches of `file` from `position` (expected to hold `offset`) up to `end`:
/// length, CRC and offset continuity. Calls `on_batch` for each good batch and stops at the
/// first bad or incomplete one, saying why in [`ScanEnd::problem`].
pub(crate) fn scan_file(
    file: &dyn StorageFile,
    path: &Path,
    position: u64,
    offset: i64,
    end: u64,
    mut on_batch: impl FnMut(u64, &BatchHeader),
) -> Result<ScanEnd> {
    let mut scanner = BatchScanner::new(file, position, end);
    let mut next_offset = offset;
    loop {
        let (pos, bytes) = match scanner.next_batch() {
            Ok(Some(item)) => item,
            Ok(None) => {
                return Ok(ScanEnd {
                    position: scanner.position,
                    next_offset,
                    problem: None,
                });
            }
            Err(Ok(problem)) => {
                let position = scanner.position;
                return Ok(ScanEnd {
                    position,
                    next_offset,
                    problem: Some(problem),
                });
            }
            Err(Err(e)) => return Err(LogError::io(format!("scanning {}", path.display()), e)),
        };
        let problem = match check(bytes) {
            Ok(h) if h.base_offset != next_offset => {
                format!(
                    "batch has base offset {}, expected {next_offset}",
                    h.base_offset
                )
            }
            Ok(h) => {
                on_batch(pos, &h);
                next_offset = h.next_offset();
                continue;
            }
            Err(e) => e.to_string(),
        };
        return Ok(ScanEnd {
            position: pos,
            next_offset,
            problem: Some(problem),
        });
    }
}

/// A segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    base_offset: i64,
    id: u64,
    log_path: PathBuf,
    index_path: PathBuf,
    time_index_path: PathBuf,
    env: Arc<LogEnv>,
    size: AtomicU64,
    next_offset: AtomicI64,
    sealed: AtomicBool,
    deleted: AtomicBool,
    indexes: RwLock<Option<Indexes>>,
}

impl Segment {
    fn new(env: &Arc<LogEnv>, dir: &Path, base_offset: i64, size: u64, next: i64) -> Self {
        Self {
            base_offset,
            id: env.segment_id(),
            log_path: dir.join(file_name(base_offset, LOG_EXT)),
            index_path: dir.join(file_name(base_offset, INDEX_EXT)),
            time_index_path: dir.join(file_name(base_offset, TIME_INDEX_EXT)),
            env: Arc::clone(env),
            size: AtomicU64::new(size),
            next_offset: AtomicI64::new(next),
            sealed: AtomicBool::new(false),
            deleted: AtomicBool::new(false),
            indexes: RwLock::new(None),
        }
    }

    /// Creates a new, empty active segment and its log file (the caller syncs the directory).
    pub fn create(
        env: &Arc<LogEnv>,
        dir: &Path,
        base_offset: i64,
    ) -> Result<(Arc<Self>, FileHandle)> {
        let segment = Self::new(env, dir, base_offset, 0, base_offset);
        let file = env
            .storage
            .open(&segment.log_path, true)
            .context(|| format!("creating {}", segment.log_path.display()))?;
        file.set_len(0)
            .context(|| format!("emptying {}", segment.log_path.display()))?;
        // The index files are created now, so the directory sync that makes the log file
        // durable makes them durable too (a lost index would cost recovery its durable mark).
        for path in [&segment.index_path, &segment.time_index_path] {
            env.storage
                .open(path, true)
                .and_then(|f| f.set_len(0))
                .context(|| format!("creating {}", path.display()))?;
        }
        *segment.indexes.write() = Some(Indexes::empty());
        Ok((Arc::new(segment), file))
    }

    /// A sealed segment found on disk, trusted as durable (it, or a newer segment, carries the
    /// seal trailer, written only after its data was synced).
    /// Nothing is read until it is used.
    pub fn sealed(env: &Arc<LogEnv>, dir: &Path, base: i64, size: u64, next: i64) -> Arc<Self> {
        let segment = Self::new(env, dir, base, size, next);
        segment.sealed.store(true, Ordering::Release);
        Arc::new(segment)
    }

    /// The active segment after recovery, with its rebuilt indexes.
    pub fn recovered(
        env: &Arc<LogEnv>,
        dir: &Path,
        base: i64,
        end: &ScanEnd,
        indexes: Indexes,
    ) -> Arc<Self> {
        let segment = Self::new(env, dir, base, end.position, end.next_offset);
        *segment.indexes.write() = Some(indexes);
        Arc::new(segment)
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Bytes visible to readers.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Offset after the segment's last batch.
    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// A handle to the log file, from the process-wide cache.
    pub fn file(&self) -> Result<FileHandle> {
        self.env
            .file(self.id, || self.env.storage.open(&self.log_path, false))
            .context(|| format!("opening {}", self.log_path.display()))
    }

    /// Publishes a write of `len` bytes that ended the segment at `size` / `next_offset`.
    pub fn publish(&self, size: u64, next_offset: i64) {
        self.next_offset.store(next_offset, Ordering::Release);
        self.size.store(size, Ordering::Release);
    }

    /// Runs `f` on the segment's indexes, loading a sealed segment's from disk on first use.
    pub fn with_indexes<T>(self: &Arc<Self>, f: impl FnOnce(&Indexes) -> T) -> Result<T> {
        {
            let guard = self.indexes.read();
            if let Some(indexes) = guard.as_ref() {
                if self.is_sealed() {
                    self.env.index_touched(self.id);
                }
                return Ok(f(indexes));
            }
        }
        let loaded = self.load_indexes()?;
        let out = {
            // Another thread may have loaded them meanwhile: keep what is there.
            let mut guard = self.indexes.write();
            f(guard.get_or_insert(loaded))
        };
        self.env.index_loaded(self);
        Ok(out)
    }

    /// Mutates the indexes of the active segment (always loaded).
    pub fn with_indexes_mut<T>(&self, f: impl FnOnce(&mut Indexes) -> T) -> T {
        let mut guard = self.indexes.write();
        f(guard.get_or_insert_with(Indexes::empty))
    }

    /// Drops a sealed segment's loaded indexes (they are reloaded on next use).
    pub fn unload_indexes(&self) {
        if self.is_sealed() {
            *self.indexes.write() = None;
        }
    }

    /// Loads a sealed segment's indexes, checking them against the log file; rebuilds them by
    /// scanning the segment when they do not check out.
    fn load_indexes(&self) -> Result<Indexes> {
        let storage = &*self.env.storage;
        let size = self.size();
        let span = (self.next_offset() - self.base_offset) as u64;
        let (offsets, _) = SparseIndex::<OffsetEntry>::load(storage, &self.index_path, size, |e| {
            u64::from(e.position) < size && u64::from(e.relative_offset) < span
        })
        .context(|| format!("reading {}", self.index_path.display()))?;
        let (times, _) =
            SparseIndex::<TimeEntry>::load(storage, &self.time_index_path, size, |e| {
                u64::from(e.relative_offset) < span
            })
            .context(|| format!("reading {}", self.time_index_path.display()))?;
        let complete = offsets.is_sealed()
            && offsets.file_len() > 0
            && self.tail_checks_out(&offsets)?
            && times.last().is_some();
        if complete {
            let max_timestamp = times.last().map_or(-1, |t| t.timestamp);
            return Ok(Indexes {
                offsets,
                times,
                bytes_since_entry: 0,
                max_timestamp,
            });
        }
        tracing::warn!(
            target: "flyq::log",
            segment = %self.log_path.display(),
            "index does not match the segment; rebuilding it from the log"
        );
        self.rebuild_indexes()
    }

    /// Walks batch headers from the last index entry: they must end exactly at the file's size
    /// and offset continuity must hold up to the next segment's base offset.
    fn tail_checks_out(&self, offsets: &SparseIndex<OffsetEntry>) -> Result<bool> {
        let Some(last) = offsets.last() else {
            return Ok(false);
        };
        let mut expected = self.base_offset + i64::from(last.relative_offset);
        let mut end = None;
        let ok = self.walk_headers(u64::from(last.position), |_, h| {
            if h.base_offset != expected {
                return false;
            }
            expected = h.next_offset();
            end = Some(expected);
            true
        })?;
        Ok(ok && end == Some(self.next_offset()))
    }

    /// Scans the whole segment, verifying every batch, and builds fresh indexes (kept in memory
    /// and written to the index files). A bad batch makes the segment corrupt: it is reported,
    /// never cut, because a sealed segment was durable.
    ///
    /// The rebuilt index uses the default `index.interval.bytes`: a segment does not remember
    /// the interval it was written with, and any interval gives correct lookups.
    fn rebuild_indexes(&self) -> Result<Indexes> {
        let interval = crate::config::LogConfig::default().index_interval_bytes;
        let mut indexes = Indexes::empty();
        let end = self.scan(0, self.base_offset, self.size(), |position, header| {
            indexes.on_batch(self.base_offset, position, header, interval);
        })?;
        if let Some(problem) = end.problem {
            return Err(self.corrupt(end.position, problem));
        }
        if end.next_offset != self.next_offset() {
            let detail = format!(
                "segment ends at offset {} but the next segment starts at {}",
                end.next_offset,
                self.next_offset()
            );
            return Err(self.corrupt(end.position, detail));
        }
        self.finish_time_index(&mut indexes);
        // Both files are rewritten from scratch: `persist` cuts them to their (zero) persisted
        // length before writing.
        let storage = &*self.env.storage;
        indexes
            .offsets
            .persist(storage, &self.index_path, |_| true)
            .and_then(|()| {
                indexes
                    .times
                    .persist(storage, &self.time_index_path, |_| true)
            })
            .context(|| format!("rewriting indexes of {}", self.log_path.display()))?;
        Ok(indexes)
    }

    fn finish_time_index(&self, indexes: &mut Indexes) {
        let last_batch = indexes.offsets.last().map_or(0, |e| e.relative_offset);
        let max = indexes.max_timestamp;
        if indexes.times.last().is_none_or(|t| max > t.timestamp) && max >= 0 {
            let relative = last_batch.max(indexes.times.last().map_or(0, |t| t.relative_offset));
            indexes.times.push(TimeEntry {
                timestamp: max,
                relative_offset: relative,
            });
        }
    }

    pub fn corrupt(&self, position: u64, detail: String) -> LogError {
        tracing::error!(
            target: "flyq::log",
            segment = %self.log_path.display(),
            position,
            %detail,
            "corrupt batch in a sealed segment; the segment is fenced, not truncated"
        );
        LogError::CorruptSegment {
            path: self.log_path.clone(),
            position,
            detail,
        }
    }

    /// Verifies batches from `position` (expected to hold `offset`) up to `end`: length, CRC,
    /// and offset continuity. Calls `on_batch` for each good one; stops at the first bad one.
    pub fn scan(
        &self,
        position: u64,
        offset: i64,
        end: u64,
        on_batch: impl FnMut(u64, &BatchHeader),
    ) -> Result<ScanEnd> {
        scan_file(
            &*self.file()?,
            &self.log_path,
            position,
            offset,
            end,
            on_batch,
        )
    }

    /// Walks batch headers (no CRC) from `position` to the segment's visible end, calling
    /// `visit(position, header)` until it returns false. Returns whether the walk reached the
    /// end with every header readable.
    pub fn walk_headers(
        &self,
        mut position: u64,
        mut visit: impl FnMut(u64, &BatchHeader) -> bool,
    ) -> Result<bool> {
        let file = self.file()?;
        let end = self.size();
        let mut head = [0u8; BATCH_HEADER_LEN];
        while position < end {
            if end - position < BATCH_HEADER_LEN as u64 {
                return Ok(false);
            }
            file.read_exact_at(&mut head, position)
                .context(|| format!("reading {}", self.log_path.display()))?;
            let Ok(header) = BatchHeader::parse(&head) else {
                return Ok(false);
            };
            if header.batch_length < (BATCH_HEADER_LEN - BATCH_LENGTH_PREFIX) as i32 {
                return Ok(false);
            }
            if !visit(position, &header) {
                return Ok(true);
            }
            position += header.total_len();
        }
        Ok(position == end)
    }

    /// Byte position of the batch containing `offset` (or the first batch after it), with that
    /// batch's header, or `None` if the segment holds no such batch.
    pub fn locate(self: &Arc<Self>, offset: i64) -> Result<Option<(u64, BatchHeader)>> {
        let relative = (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
        let start = self.with_indexes(|ix| ix.offsets.floor(relative).map_or(0, |e| e.position))?;
        let mut found = None;
        self.walk_headers(u64::from(start), |pos, h| {
            if h.last_offset() >= offset {
                found = Some((pos, *h));
                false
            } else {
                true
            }
        })?;
        Ok(found)
    }

    /// Writes index entries whose batches are durable: those before `synced_position` and
    /// `synced_next_offset`.
    pub fn persist_indexes(&self, synced_position: u64, synced_next_offset: i64) -> Result<()> {
        let storage = &*self.env.storage;
        let base = self.base_offset;
        let mut guard = self.indexes.write();
        let Some(ix) = guard.as_mut() else {
            return Ok(());
        };
        ix.offsets
            .persist(storage, &self.index_path, |e| {
                u64::from(e.position) < synced_position
            })
            .context(|| format!("writing {}", self.index_path.display()))?;
        ix.times
            .persist(storage, &self.time_index_path, |e| {
                base + i64::from(e.relative_offset) < synced_next_offset
            })
            .context(|| format!("writing {}", self.time_index_path.display()))
    }

    /// Seals a segment whose data is synced: final time index entry, every index entry written
    /// and synced, then the seal trailer (see [`crate::index`]). Idempotent.
    pub fn seal(self: &Arc<Self>) -> Result<()> {
        let storage = &*self.env.storage;
        {
            let mut guard = self.indexes.write();
            let ix = guard.get_or_insert_with(Indexes::empty);
            self.finish_time_index(ix);
            ix.times
                .persist(storage, &self.time_index_path, |_| true)
                .and_then(|()| storage.open(&self.time_index_path, true)?.sync_data())
                .context(|| format!("sealing {}", self.time_index_path.display()))?;
            ix.offsets
                .seal_file(storage, &self.index_path)
                .context(|| format!("sealing {}", self.index_path.display()))?;
        }
        self.sealed.store(true, Ordering::Release);
        self.env.index_loaded(self);
        Ok(())
    }

    /// Whether the segment's offset index on disk ends with the seal trailer (reads 8 bytes).
    pub fn has_seal_trailer(env: &LogEnv, dir: &Path, base_offset: i64) -> Result<bool> {
        let path = dir.join(file_name(base_offset, INDEX_EXT));
        let file = match env.storage.open(&path, false) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(LogError::io(format!("opening {}", path.display()), e)),
        };
        let len = file
            .size()
            .context(|| format!("sizing {}", path.display()))?;
        if len < 8 || len % 8 != 0 {
            return Ok(false);
        }
        let mut tail = [0u8; 8];
        file.read_exact_at(&mut tail, len - 8)
            .context(|| format!("reading {}", path.display()))?;
        Ok(tail == [0xFF; 8])
    }

    /// Shrinks the segment to end at `position` / `next_offset` (truncation for replication).
    pub fn truncate_to(
        &self,
        file: &dyn StorageFile,
        position: u64,
        next_offset: i64,
    ) -> Result<()> {
        self.publish(position, next_offset);
        file.set_len(position)
            .context(|| format!("truncating {}", self.log_path.display()))?;
        let storage = &*self.env.storage;
        let mut guard = self.indexes.write();
        if let Some(ix) = guard.as_mut() {
            let keep_offsets = ix
                .offsets
                .entries()
                .partition_point(|e| u64::from(e.position) < position);
            ix.offsets.truncate(keep_offsets);
            let span = next_offset - self.base_offset;
            let keep_times = ix
                .times
                .entries()
                .partition_point(|e| i64::from(e.relative_offset) < span);
            ix.times.truncate(keep_times);
            ix.max_timestamp = ix.times.last().map_or(-1, |t| t.timestamp);
            ix.bytes_since_entry = u64::MAX / 2;
            ix.offsets
                .trim_file(storage, &self.index_path)
                .and_then(|()| ix.times.trim_file(storage, &self.time_index_path))
                .context(|| format!("truncating indexes of {}", self.log_path.display()))?;
        }
        Ok(())
    }

    /// Makes a sealed segment writable again (it becomes the active segment after truncation):
    /// its indexes are loaded and the seal trailer is removed durably, so a crash from here on
    /// cannot leave the segment claiming to be complete.
    pub fn unseal(self: &Arc<Self>) -> Result<()> {
        self.with_indexes(|_| ())?;
        {
            let mut guard = self.indexes.write();
            if let Some(ix) = guard.as_mut() {
                let entries = ix.offsets.entries().len();
                ix.offsets.truncate(entries);
                ix.offsets
                    .trim_file(&*self.env.storage, &self.index_path)
                    .context(|| format!("unsealing {}", self.index_path.display()))?;
            }
        }
        self.sealed.store(false, Ordering::Release);
        self.env.forget_index(self.id);
        Ok(())
    }

    /// Fsyncs both index files (those that exist).
    pub fn sync_index_files(&self) -> Result<()> {
        for path in [&self.index_path, &self.time_index_path] {
            match self.env.storage.open(path, false) {
                Ok(file) => file
                    .sync_data()
                    .context(|| format!("syncing {}", path.display()))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(format!("opening {}", path.display()), e)),
            }
        }
        Ok(())
    }

    /// Marks the segment's files for deletion once the last reference is dropped.
    pub fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        self.env.forget(self.id);
        if self.deleted.load(Ordering::Acquire) {
            for path in [&self.log_path, &self.index_path, &self.time_index_path] {
                match self.env.storage.remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(
                        target: "flyq::log", path = %path.display(), error = %e,
                        "could not delete a removed segment's file"
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_have_twenty_digits_and_parse_back() {
        assert_eq!(file_name(0, LOG_EXT), "00000000000000000000.log");
        assert_eq!(file_name(1234, INDEX_EXT), "00000000000000001234.index");
        assert_eq!(
            parse_file_name("00000000000000001234.index", INDEX_EXT),
            Some(1234)
        );
        assert_eq!(parse_file_name("1234.log", LOG_EXT), None);
        assert_eq!(parse_file_name("0000000000000000123x.log", LOG_EXT), None);
        assert_eq!(
            parse_file_name("00000000000000001234.log.deleted", LOG_EXT),
            None
        );
    }
}
