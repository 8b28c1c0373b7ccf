//! Sparse segment indexes: the offset index and the time index share this one structure.
//!
//! An index is a sorted list of fixed-size big-endian entries, held in memory for lookups and
//! appended to its file. The rule that makes recovery cheap: **an entry reaches the file only
//! after the log bytes it points to were fsynced.** So every entry found in an index file after
//! a crash points into durable data, and recovery of the active segment can start its CRC scan
//! at the last valid entry instead of at the segment's first byte.
//!
//! Entries not yet persisted stay in memory only ([`SparseIndex::persist`] writes them later).
//!
//! A sealed segment's offset index ends with a **seal trailer**: one entry of all `0xFF` bytes
//! (no real entry can have it: positions stay below 2^31). It is written last, after the data
//! and every entry were synced, so a trailer on disk proves the segment complete and durable.

use std::io::{self, IoSlice};
use std::path::Path;

use crate::storage::{Storage, read_file};

/// A fixed-size index entry.
pub(crate) trait IndexEntry: Copy + std::fmt::Debug {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Encodes into exactly `SIZE` bytes.
    fn encode(&self, out: &mut Vec<u8>);
    /// Decodes from exactly `SIZE` bytes.
    fn decode(bytes: &[u8]) -> Self;
    /// Whether `self` may follow `prev` in a well-formed index (keys strictly increasing).
    fn follows(&self, prev: &Self) -> bool;
}

/// Offset index entry: the batch whose base offset is `base + relative_offset` starts at
/// byte `position` of the segment's log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        Self {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
    fn follows(&self, prev: &Self) -> bool {
        self.relative_offset > prev.relative_offset && self.position > prev.position
    }
}

/// Time index entry: every record before the batch at `base + relative_offset`, and that batch
/// itself, has a timestamp `<= timestamp`; `timestamp` is the segment's running maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        let mut ts = [0; 8];
        ts.copy_from_slice(&b[..8]);
        Self {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
    fn follows(&self, prev: &Self) -> bool {
        self.timestamp > prev.timestamp && self.relative_offset >= prev.relative_offset
    }
}

/// An in-memory sparse index mirrored by an append-only file.
#[derive(Debug, Clone)]
pub(crate) struct SparseIndex<E> {
    entries: Vec<E>,
    /// `entries[..persisted]` are in the file.
    persisted: usize,
    /// The file ends with the seal trailer.
    sealed: bool,
}

impl<E: IndexEntry> Default for SparseIndex<E> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            persisted: 0,
            sealed: false,
        }
    }
}

impl<E: IndexEntry> SparseIndex<E> {
    /// Loads the longest well-formed prefix of the index file accepted by `valid`, for a
    /// segment of `segment_bytes` (which bounds how many entries it can have: one per batch at
    /// most); a missing file is an empty index. Returns the index and how many entries were
    /// rejected.
    pub fn load(
        storage: &dyn Storage,
        path: &Path,
        segment_bytes: u64,
        valid: impl Fn(&E) -> bool,
    ) -> io::Result<(Self, usize)> {
        let max_entries = segment_bytes / flyq_protocol::layout::BATCH_HEADER_LEN as u64 + 2;
        let bytes = match read_file(storage, path, max_entries * E::SIZE as u64) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let whole = bytes.len() - bytes.len() % E::SIZE;
        let sealed = whole >= E::SIZE && bytes[whole - E::SIZE..whole].iter().all(|b| *b == 0xFF);
        let body = &bytes[..if sealed { whole - E::SIZE } else { whole }];
        let total = body.len() / E::SIZE;
        let mut entries: Vec<E> = Vec::with_capacity(total);
        for chunk in body.chunks_exact(E::SIZE) {
            let entry = E::decode(chunk);
            let in_order = entries.last().is_none_or(|prev| entry.follows(prev));
            if !in_order || !valid(&entry) {
                break;
            }
            entries.push(entry);
        }
        let rejected = total - entries.len();
        let persisted = entries.len();
        // A trailer counts only after a complete, well-formed index.
        let sealed = sealed && rejected == 0 && bytes.len() == whole;
        Ok((
            Self {
                entries,
                persisted,
                sealed,
            },
            rejected,
        ))
    }

    /// Whether the file ends with the seal trailer.
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Writes every entry and then the seal trailer, syncing before and after the trailer so it
    /// can only be on disk behind a complete index.
    pub fn seal_file(&mut self, storage: &dyn Storage, path: &Path) -> io::Result<()> {
        if self.sealed {
            return Ok(());
        }
        self.persist(storage, path, |_| true)?;
        let file = storage.open(path, true)?;
        file.sync_data()?;
        file.write_all_at(&[IoSlice::new(&[0xFF; 16][..E::SIZE])], self.file_len())?;
        file.sync_data()?;
        self.sealed = true;
        Ok(())
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn last(&self) -> Option<&E> {
        self.entries.last()
    }

    /// Adds an entry in memory; ignored if it would break the ordering.
    pub fn push(&mut self, entry: E) {
        if self.entries.last().is_none_or(|prev| entry.follows(prev)) {
            self.entries.push(entry);
        }
    }

    /// Forgets entries from `keep` on (and the seal), in memory; the file is cut at the next
    /// persist or trim.
    pub fn truncate(&mut self, keep: usize) {
        self.entries.truncate(keep);
        self.persisted = self.persisted.min(keep);
        self.sealed = false;
    }

    /// Length of the file holding the persisted entries (and the trailer, if sealed).
    pub fn file_len(&self) -> u64 {
        ((self.persisted + usize::from(self.sealed)) * E::SIZE) as u64
    }

    /// Writes the entries accepted by `durable` (a prefix: entries are ordered) that are not yet
    /// in the file, cutting the file first to the persisted length so stale entries go.
    pub fn persist(
        &mut self,
        storage: &dyn Storage,
        path: &Path,
        durable: impl Fn(&E) -> bool,
    ) -> io::Result<()> {
        let upto = self.entries.partition_point(|e| durable(e));
        if upto <= self.persisted || self.sealed {
            return Ok(());
        }
        let mut buf = Vec::with_capacity((upto - self.persisted) * E::SIZE);
        for entry in &self.entries[self.persisted..upto] {
            entry.encode(&mut buf);
        }
        let file = storage.open(path, true)?;
        let at = self.file_len();
        if file.size()? != at {
            file.set_len(at)?;
        }
        file.write_all_at(&[IoSlice::new(&buf)], at)?;
        self.persisted = upto;
        Ok(())
    }

    /// Cuts the file to exactly the persisted entries and syncs the cut. Stale entries past
    /// the cut must not come back after a crash: they would point into data written later.
    pub fn trim_file(&self, storage: &dyn Storage, path: &Path) -> io::Result<()> {
        match storage.open(path, false) {
            Ok(file) if file.size()? != self.file_len() => {
                file.set_len(self.file_len())?;
                file.sync_data()
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl SparseIndex<OffsetEntry> {
    /// The last entry whose offset is `<= relative_offset`.
    pub fn floor(&self, relative_offset: u32) -> Option<OffsetEntry> {
        let i = self
            .entries
            .partition_point(|e| e.relative_offset <= relative_offset);
        i.checked_sub(1).map(|i| self.entries[i])
    }
}

impl SparseIndex<TimeEntry> {
    /// The last entry whose timestamp is strictly below `timestamp`.
    pub fn below(&self, timestamp: i64) -> Option<TimeEntry> {
        let i = self.entries.partition_point(|e| e.timestamp < timestamp);
        i.checked_sub(1).map(|i| self.entries[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SimStorage;
    use proptest::prelude::*;

    fn offsets(n: u32) -> SparseIndex<OffsetEntry> {
        let mut idx = SparseIndex::default();
        for i in 0..n {
            idx.push(OffsetEntry {
                relative_offset: i * 10,
                position: i * 4096,
            });
        }
        idx
    }

    #[test]
    fn floor_finds_the_entry_at_or_before() {
        let idx = offsets(100);
        assert_eq!(idx.floor(0).unwrap().position, 0);
        assert_eq!(
            idx.floor(15).unwrap(),
            OffsetEntry {
                relative_offset: 10,
                position: 4096
            }
        );
        assert_eq!(idx.floor(10_000).unwrap().relative_offset, 990);
        assert_eq!(SparseIndex::<OffsetEntry>::default().floor(5), None);
    }

    #[test]
    fn out_of_order_entries_are_not_accepted() {
        let mut idx = offsets(3);
        idx.push(OffsetEntry {
            relative_offset: 5,
            position: 1 << 20,
        });
        idx.push(OffsetEntry {
            relative_offset: 100,
            position: 4096,
        });
        assert_eq!(idx.entries().len(), 3);
    }

    #[test]
    fn persist_writes_only_durable_entries_and_load_reads_them_back() {
        let disk = SimStorage::new();
        let path = Path::new("/x.index");
        let mut idx = offsets(10);
        idx.persist(&disk, path, |e| e.position < 5 * 4096).unwrap();
        let (loaded, rejected) =
            SparseIndex::<OffsetEntry>::load(&disk, path, 1 << 20, |_| true).unwrap();
        assert_eq!((loaded.entries().len(), rejected), (5, 0));
        idx.persist(&disk, path, |_| true).unwrap();
        let (loaded, _) = SparseIndex::<OffsetEntry>::load(&disk, path, 1 << 20, |_| true).unwrap();
        assert_eq!(loaded.entries(), idx.entries());
    }

    #[test]
    fn load_stops_at_garbage_and_partial_entries() {
        let disk = SimStorage::new();
        let path = Path::new("/x.index");
        let mut idx = offsets(4);
        idx.persist(&disk, path, |_| true).unwrap();
        let f = disk.open(path, false).unwrap();
        // A zeroed entry after real ones (a page written back out of order) and a torn tail.
        f.write_all_at(&[IoSlice::new(&[0; 8]), IoSlice::new(&[1, 2, 3])], 32)
            .unwrap();
        let (loaded, rejected) =
            SparseIndex::<OffsetEntry>::load(&disk, path, 1 << 20, |_| true).unwrap();
        assert_eq!((loaded.entries().len(), rejected), (4, 1));
        let (loaded, _) =
            SparseIndex::<OffsetEntry>::load(&disk, path, 1 << 20, |e| e.position < 8192).unwrap();
        assert_eq!(loaded.entries().len(), 2);
    }

    #[test]
    fn seal_trailer_marks_a_complete_index_and_truncate_removes_it() {
        let disk = SimStorage::new();
        let path = Path::new("/x.index");
        let mut idx = offsets(3);
        idx.seal_file(&disk, path).unwrap();
        let (loaded, rejected) =
            SparseIndex::<OffsetEntry>::load(&disk, path, 1 << 20, |_| true).unwrap();
        assert!(loaded.is_sealed());
        assert_eq!((loaded.entries(), rejected), (idx.entries(), 0));
        let mut loaded = loaded;
        loaded.truncate(2);
        loaded.trim_file(&disk, path).unwrap();
        let (again, _) = SparseIndex::<OffsetEntry>::load(&disk, path, 1 << 20, |_| true).unwrap();
        assert!(!again.is_sealed());
        assert_eq!(again.entries().len(), 2);
        // A trailer behind a damaged entry does not count.
        let f = disk.open(path, false).unwrap();
        f.write_all_at(&[IoSlice::new(&[0; 8]), IoSlice::new(&[0xFF; 8])], 16)
            .unwrap();
        let (damaged, rejected) =
            SparseIndex::<OffsetEntry>::load(&disk, path, 1 << 20, |_| true).unwrap();
        assert!(!damaged.is_sealed() && rejected == 1);
    }

    #[test]
    fn time_index_below_is_strict() {
        let mut idx = SparseIndex::<TimeEntry>::default();
        for (ts, off) in [(100, 0), (200, 5), (300, 9)] {
            idx.push(TimeEntry {
                timestamp: ts,
                relative_offset: off,
            });
        }
        assert_eq!(idx.below(100), None);
        assert_eq!(idx.below(101).unwrap().relative_offset, 0);
        assert_eq!(idx.below(300).unwrap().relative_offset, 5);
        assert_eq!(idx.below(i64::MAX).unwrap().relative_offset, 9);
    }

    proptest! {
        #[test]
        fn floor_matches_a_linear_scan(
            gaps in proptest::collection::vec(1u32..1000, 0..300),
            probe in 0u32..400_000,
        ) {
            let mut idx = SparseIndex::default();
            let mut off = 0;
            for (i, gap) in gaps.iter().enumerate() {
                off += gap;
                idx.push(OffsetEntry { relative_offset: off, position: i as u32 * 100 + 1 });
            }
            let expected = idx.entries().iter().rev().find(|e| e.relative_offset <= probe).copied();
            prop_assert_eq!(idx.floor(probe), expected);
        }

        #[test]
        fn encode_decode_round_trip(rel in any::<u32>(), pos in any::<u32>(), ts in any::<i64>()) {
            let mut b = Vec::new();
            OffsetEntry { relative_offset: rel, position: pos }.encode(&mut b);
            prop_assert_eq!(OffsetEntry::decode(&b), OffsetEntry { relative_offset: rel, position: pos });
            let mut b = Vec::new();
            TimeEntry { timestamp: ts, relative_offset: rel }.encode(&mut b);
            prop_assert_eq!(TimeEntry::decode(&b), TimeEntry { timestamp: ts, relative_offset: rel });
        }
    }
}
