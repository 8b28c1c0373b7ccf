//! [`Log`]: one partition's log, the segments that make it, and its append and read paths.
//!
//! Concurrency: one appender at a time (the `writer` mutex) and any number of readers, which
//! never take the writer's lock: they snapshot the segment map, then read bytes that the writer
//! published through each segment's atomic size. Syncing happens outside the writer lock, so
//! appends continue while an `fdatasync` runs, and appenders that need durability at the same
//! time share one sync (group commit, see [`Log::sync_to`]).

use std::collections::BTreeMap;
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use flyq_protocol::BatchHeader;
use flyq_protocol::layout::{BASE_OFFSET, BATCH_HEADER_LEN, Compression, PARTITION_LEADER_EPOCH};
use flyq_protocol::record::records;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::config::LogConfig;
use crate::env::LogEnv;
use crate::error::{IoContext, LogError, Result};
use crate::recovery::{self, RecoveryReport};
use crate::segment::Segment;
use crate::storage::FileHandle;
use crate::validate::validate;

/// What an append assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// Offset of the batch's last record.
    pub last_offset: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Number of records in the batch.
    pub record_count: i32,
}

/// A batch that passed [`Log::validate`], ready for [`Log::append_valid`].
#[derive(Debug, Clone, Copy)]
pub struct ValidBatch<'a> {
    bytes: &'a [u8],
    header: BatchHeader,
}

impl ValidBatch<'_> {
    /// The batch's header as received (base offset not yet assigned).
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }
}

/// Whole batches returned by [`Log::read`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogRead {
    /// Concatenated batches, as stored; empty if there was nothing to return.
    pub batches: Bytes,
    /// Offset after the last returned batch (the requested offset if nothing was returned).
    pub next_offset: i64,
}

/// The answer of [`Log::offset_for_timestamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// Offset of the first record with a timestamp at or after the target. For compressed
    /// batches, the base offset of the first batch whose max timestamp reaches the target.
    pub offset: i64,
    /// That record's (or batch's max) timestamp.
    pub timestamp: i64,
}

pub(crate) struct Writer {
    pub active: Arc<Segment>,
    /// Pinned handle for the active segment: a failed writeback is reported to the handle that
    /// wrote, so it must stay open until synced.
    pub file: Option<FileHandle>,
    pub position: u64,
    pub next_offset: i64,
    pub leader_epoch: i32,
    /// Time of the active segment's first append (for `segment.ms`).
    pub segment_opened_ms: Option<i64>,
    /// Time of the oldest append not yet synced (for `flush.ms`).
    pub first_unsynced_ms: Option<i64>,
    /// Rolled segments not yet synced and sealed, oldest first. The next sync seals them
    /// before it syncs the active segment, so syncs always make a prefix of the log durable.
    pub unsealed: Vec<Unsealed>,
    /// A segment file was created since the directory was last synced.
    pub dir_dirty: bool,
    /// Rolls so far (a sync knows whether a roll happened while it ran).
    pub rolls: u64,
}

/// A rolled segment waiting to be sealed, with the handle that wrote it.
#[derive(Clone)]
pub(crate) struct Unsealed {
    pub segment: Arc<Segment>,
    pub file: Option<FileHandle>,
}

impl Writer {
    pub(crate) fn new(active: Arc<Segment>, unsealed: Vec<Unsealed>) -> Self {
        Self {
            position: active.size(),
            next_offset: active.next_offset(),
            active,
            file: None,
            leader_epoch: -1,
            segment_opened_ms: None,
            first_unsynced_ms: None,
            unsealed,
            dir_dirty: false,
            rolls: 0,
        }
    }
}

#[derive(Debug, Default)]
struct SyncState {
    /// A leader is syncing.
    syncing: bool,
    /// The largest offset any caller is waiting to see durable.
    requested: i64,
}

/// How many syncs in a row one leader runs for others before handing the role on.
const MAX_LEADER_ROUNDS: u32 = 8;
/// Where the header fields the log assigns (base offset, partition leader epoch) end: an
/// append rewrites these bytes and writes the rest of the batch untouched.
const LOG_ASSIGNED_END: usize = PARTITION_LEADER_EPOCH.end();

/// A partition log. Share it as `Arc<Log>`; every method takes `&self`.
pub struct Log {
    dir: PathBuf,
    env: Arc<LogEnv>,
    config: RwLock<LogConfig>,
    pub(crate) segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    pub(crate) writer: Mutex<Writer>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    pub(crate) log_start: AtomicI64,
    pub(crate) high_watermark: AtomicI64,
    pub(crate) log_end: AtomicI64,
    pub(crate) durable_end: AtomicI64,
    poison: Mutex<Option<Arc<str>>>,
    recovery: RecoveryReport,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .field("log_start", &self.log_start_offset())
            .field("log_end", &self.log_end_offset())
            .finish_non_exhaustive()
    }
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, recovering it after a crash: sealed
    /// segments are trusted, the active one is verified from its last durable index entry and a
    /// torn tail is cut (see [`Log::recovery_report`]).
    pub fn open(dir: impl AsRef<Path>, config: LogConfig, env: Arc<LogEnv>) -> Result<Self> {
        config.validate().map_err(LogError::Config)?;
        let dir = dir.as_ref().to_path_buf();
        let recovered = recovery::recover(&dir, &env, &config)?;
        let log_end = recovered.writer.next_offset;
        let poison = recovered.report.corruption.as_ref().map(|c| {
            Arc::from(format!(
                "corrupt batch at byte {} of segment {}: {}; writes refused until repaired",
                c.position, c.segment_base_offset, c.detail
            ))
        });
        Ok(Self {
            dir,
            env,
            config: RwLock::new(config),
            segments: RwLock::new(recovered.segments),
            writer: Mutex::new(recovered.writer),
            sync: Mutex::new(SyncState::default()),
            synced: Condvar::new(),
            log_start: AtomicI64::new(recovered.log_start),
            high_watermark: AtomicI64::new(log_end),
            log_end: AtomicI64::new(log_end),
            durable_end: AtomicI64::new(log_end),
            poison: Mutex::new(poison),
            recovery: recovered.report,
        })
    }

    /// The directory holding this log's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn env(&self) -> &Arc<LogEnv> {
        &self.env
    }

    /// What recovery found and did when the log was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// A copy of the current configuration.
    pub fn config(&self) -> LogConfig {
        self.config.read().clone()
    }

    /// Replaces the configuration (retention, roll and flush settings apply from now on).
    pub fn set_config(&self, config: LogConfig) -> Result<()> {
        config.validate().map_err(LogError::Config)?;
        *self.config.write() = config;
        Ok(())
    }

    /// First offset still in the log. Invariant: `log_start <= high_watermark <= log_end`.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }

    /// Offset the next append will get.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end.load(Ordering::Acquire)
    }

    /// Offset up to which records are committed (replicated); consumers read below it.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Advances the high watermark to `offset`, clamped to `[log_start, log_end]`; it never
    /// moves back (concurrent appenders may report out of order). Returns the high watermark.
    /// Only truncation lowers it.
    pub fn set_high_watermark(&self, offset: i64) -> i64 {
        let clamped = offset.clamp(self.log_start_offset(), self.log_end_offset());
        self.high_watermark
            .fetch_max(clamped, Ordering::AcqRel)
            .max(clamped)
    }

    /// Offset up to which every record is known to be on stable storage.
    pub fn durable_offset(&self) -> i64 {
        self.durable_end.load(Ordering::Acquire)
    }

    /// Sets the leader epoch stamped on batches appended from now on.
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.writer.lock().leader_epoch = epoch;
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.read().len()
    }

    /// Total bytes in the log's segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.read().values().map(|s| s.size()).sum()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.read().keys().copied().collect()
    }

    /// Whether an earlier storage failure stopped writes, and why.
    pub fn poisoned(&self) -> Option<Arc<str>> {
        self.poison.lock().clone()
    }

    fn check_poison(&self) -> Result<()> {
        match &*self.poison.lock() {
            Some(reason) => Err(LogError::Poisoned(Arc::clone(reason))),
            None => Ok(()),
        }
    }

    /// Stops all further writes: called on any storage failure after which the on-disk state
    /// is no longer known.
    pub(crate) fn poison_with(&self, error: LogError) -> LogError {
        let reason: Arc<str> = Arc::from(format!("{error}: {}", source_chain(&error)));
        tracing::error!(target: "flyq::log", dir = %self.dir.display(), %reason, "log poisoned: refusing writes until reopened");
        self.poison.lock().get_or_insert(reason);
        error
    }

    /// Validates `batch`, assigns its offsets and appends it. Under `flush.messages` the call
    /// returns only once the batch is durable.
    pub fn append(&self, batch: &[u8]) -> Result<AppendInfo> {
        let info = self.append_valid(self.validate(batch)?)?;
        self.sync_for_policy(&info)?;
        Ok(info)
    }

    /// Checks a batch as [`Log::append`] would (size limit, CRC, counts, framing), so that a
    /// caller can judge it (e.g. its producer sequence) before appending it with
    /// [`Log::append_valid`], without the checks running twice.
    pub fn validate<'a>(&self, batch: &'a [u8]) -> Result<ValidBatch<'a>> {
        let max = self.config.read().max_batch_bytes;
        let header = validate(batch, max)?;
        Ok(ValidBatch {
            bytes: batch,
            header,
        })
    }

    /// Appends a validated batch without waiting for durability: the caller follows with
    /// [`Log::sync_for_policy`] (after releasing any lock a concurrent appender would need, so
    /// that appenders can share one sync).
    pub fn append_valid(&self, batch: ValidBatch<'_>) -> Result<AppendInfo> {
        let config = self.config.read().clone();
        let mut w = self.writer.lock();
        self.check_poison()?;
        self.maybe_roll(&mut w, &config, batch.bytes.len() as u64, &batch.header)?;
        self.write_batch(&mut w, &config, batch.bytes, batch.header)
    }

    /// Waits until the batch `info` describes is durable, if the `flush.messages` policy asks
    /// for it now; returns at once otherwise.
    pub fn sync_for_policy(&self, info: &AppendInfo) -> Result<()> {
        if let Some(n) = self.config.read().flush.messages {
            let unsynced = info.last_offset + 1 - self.durable_offset();
            if unsynced >= n as i64 {
                self.sync_to(info.last_offset + 1)?;
            }
        }
        Ok(())
    }

    fn write_batch(
        &self,
        w: &mut Writer,
        config: &LogConfig,
        batch: &[u8],
        mut header: BatchHeader,
    ) -> Result<AppendInfo> {
        let base_offset = w.next_offset;
        let mut prefix = [0u8; LOG_ASSIGNED_END];
        prefix.copy_from_slice(&batch[..LOG_ASSIGNED_END]);
        BASE_OFFSET.write(&mut prefix, base_offset);
        PARTITION_LEADER_EPOCH.write(&mut prefix, w.leader_epoch);
        let file = match &w.file {
            Some(f) => Arc::clone(f),
            None => {
                let f = self
                    .env
                    .storage
                    .open(w.active.log_path(), false)
                    .context(|| format!("opening {}", w.active.log_path().display()))?;
                w.file = Some(Arc::clone(&f));
                f
            }
        };
        let bufs = [
            IoSlice::new(&prefix),
            IoSlice::new(&batch[LOG_ASSIGNED_END..]),
        ];
        if let Err(e) = file.write_all_at(&bufs, w.position) {
            let error = LogError::io(format!("appending to {}", w.active.log_path().display()), e);
            // A failed write may have left a partial batch past the end: cut it off. If that
            // works and the cause was a full disk, the log is intact and stays writable.
            return match file.set_len(w.position) {
                Ok(()) if error.is_retriable() => Err(error),
                _ => Err(self.poison_with(error)),
            };
        }
        header.base_offset = base_offset;
        let position = w.position;
        let interval = config.index_interval_bytes;
        w.active.with_indexes_mut(|ix| {
            ix.on_batch(w.active.base_offset(), position, &header, interval)
        });
        w.position += batch.len() as u64;
        w.next_offset = header.next_offset();
        let now = self.env.clock.now_ms();
        w.segment_opened_ms.get_or_insert(now);
        w.first_unsynced_ms.get_or_insert(now);
        w.active.publish(w.position, w.next_offset);
        self.log_end.store(w.next_offset, Ordering::Release);
        Ok(AppendInfo {
            base_offset,
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp,
            record_count: header.records_count,
        })
    }

    fn maybe_roll(
        &self,
        w: &mut Writer,
        config: &LogConfig,
        len: u64,
        header: &BatchHeader,
    ) -> Result<()> {
        let full = w.position > 0 && w.position + len > config.segment_bytes;
        let offsets_overflow = w.next_offset + i64::from(header.last_offset_delta)
            - w.active.base_offset()
            > i64::from(u32::MAX);
        let aged = match (config.segment_ms, w.segment_opened_ms) {
            (Some(max_age), Some(opened)) => {
                w.position > 0 && self.env.clock.now_ms() - opened >= max_age.as_millis() as i64
            }
            _ => false,
        };
        if full || offsets_overflow || aged {
            self.roll_locked(w)?;
        }
        Ok(())
    }

    /// Starts a new segment even if the active one is not full (it is sealed by the next
    /// sync). Does nothing on an empty active segment.
    pub fn roll(&self) -> Result<()> {
        let mut w = self.writer.lock();
        self.check_poison()?;
        if w.position > 0 {
            self.roll_locked(&mut w)?;
        }
        Ok(())
    }

    /// Rolls with the writer locked. Nothing is synced here: the old segment joins
    /// `unsealed`, and the next sync (a waiting appender, the background flusher, or close)
    /// syncs and seals it. A roll therefore never stalls appends behind a segment's write-back.
    fn roll_locked(&self, w: &mut Writer) -> Result<()> {
        let (segment, file) = Segment::create(&self.env, &self.dir, w.next_offset)?;
        self.segments
            .write()
            .insert(segment.base_offset(), Arc::clone(&segment));
        let old = std::mem::replace(&mut w.active, segment);
        let old_file = w.file.replace(file);
        w.unsealed.push(Unsealed {
            segment: old,
            file: old_file,
        });
        w.position = 0;
        w.segment_opened_ms = None;
        w.dir_dirty = true;
        w.rolls += 1;
        tracing::debug!(target: "flyq::log", dir = %self.dir.display(), base_offset = w.next_offset, "rolled segment");
        Ok(())
    }

    /// Blocks until every record below `offset` is durable. Concurrent callers share syncs
    /// (group commit): the first becomes the leader and syncs everything written so far; the
    /// others wait and return as soon as a sync covers them. While callers are still waiting
    /// for data the last sync did not cover, the leader runs another sync right away (up to
    /// [`MAX_LEADER_ROUNDS`]) instead of handing the role to a waiter that would first have to
    /// be woken: on a busy machine that wake-up costs as much as a sync.
    pub fn sync_to(&self, offset: i64) -> Result<()> {
        let mut state = self.sync.lock();
        loop {
            self.check_poison()?;
            // A truncation may have moved the end below what the caller asked for.
            let target = offset.min(self.log_end_offset());
            if self.durable_offset() >= target {
                return Ok(());
            }
            state.requested = state.requested.max(target);
            if state.syncing {
                self.synced.wait(&mut state);
                continue;
            }
            state.syncing = true;
            let mut rounds = 0;
            let result = loop {
                let result = parking_lot::MutexGuard::unlocked(&mut state, || self.sync_once());
                rounds += 1;
                self.synced.notify_all();
                let wanted = state.requested.min(self.log_end_offset());
                if result.is_err() || wanted <= self.durable_offset() || rounds >= MAX_LEADER_ROUNDS
                {
                    break result;
                }
            };
            state.syncing = false;
            self.synced.notify_all();
            result?;
        }
    }

    /// Runs `f` as the sync leader: no sync runs while it does. `flush` uses it to seal, and
    /// `truncate_to` so that no sync can act on a position the truncation is removing.
    pub(crate) fn lead<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let mut state = self.sync.lock();
        while state.syncing {
            self.synced.wait(&mut state);
        }
        state.syncing = true;
        let result = parking_lot::MutexGuard::unlocked(&mut state, f);
        state.syncing = false;
        drop(state);
        self.synced.notify_all();
        result
    }

    /// Lowers what waiting callers asked for to a truncated end.
    pub(crate) fn forget_requests_past(&self, end: i64) {
        let mut state = self.sync.lock();
        state.requested = state.requested.min(end);
    }

    /// Syncs everything appended so far: the directory if segments were created, then rolled
    /// segments (sealing each), then the active segment, whose durable index entries are then
    /// written.
    fn sync_once(&self) -> Result<()> {
        let (unsealed, dir_dirty, rolls, segment, file, position, next_offset) = {
            let w = self.writer.lock();
            let active = (
                Arc::clone(&w.active),
                w.file.clone(),
                w.position,
                w.next_offset,
            );
            (
                w.unsealed.clone(),
                w.dir_dirty,
                w.rolls,
                active.0,
                active.1,
                active.2,
                active.3,
            )
        };
        if dir_dirty {
            self.env
                .storage
                .sync_dir(&self.dir)
                .context(|| format!("syncing {}", self.dir.display()))
                .map_err(|e| self.poison_with(e))?;
        }
        for rolled in &unsealed {
            match self.seal_rolled(rolled) {
                // Its data is synced; only the seal waits for space. Keep syncing the rest.
                Err(e) if e.is_retriable() => tracing::warn!(
                    target: "flyq::log", segment = %rolled.segment.log_path().display(), error = %e,
                    "rolled segment synced but not sealed yet"
                ),
                other => other?,
            }
        }
        if let Some(file) = file {
            let started = std::time::Instant::now();
            file.sync_data()
                .context(|| format!("syncing {}", segment.log_path().display()))
                .map_err(|e| self.poison_with(e))?;
            metrics::histogram!("flyq_log_fsync_duration_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        // The data is durable now whatever happens to the index entries: if writing them fails
        // for lack of space they stay in memory and recovery would just scan further.
        match segment.persist_indexes(position, next_offset) {
            Err(e) if e.is_retriable() => {
                tracing::warn!(target: "flyq::log", dir = %self.dir.display(), error = %e, "index entries not written");
            }
            other => other.map_err(|e| self.poison_with(e))?,
        }
        self.durable_end.fetch_max(next_offset, Ordering::AcqRel);
        let mut w = self.writer.lock();
        w.unsealed.retain(|u| !u.segment.is_sealed());
        if w.rolls == rolls {
            w.dir_dirty = false;
        }
        if w.next_offset == next_offset {
            w.first_unsynced_ms = None;
        }
        Ok(())
    }

    /// Syncs and seals a rolled segment. A full disk while writing its index leaves it unsealed
    /// (retried by the next sync); any other failure poisons the log.
    fn seal_rolled(&self, rolled: &Unsealed) -> Result<()> {
        let segment = &rolled.segment;
        if segment.is_sealed() {
            return Ok(());
        }
        let file = match &rolled.file {
            Some(f) => Arc::clone(f),
            None => segment.file()?,
        };
        file.sync_data()
            .context(|| format!("syncing {}", segment.log_path().display()))
            .map_err(|e| self.poison_with(e))?;
        segment.seal().map_err(|e| {
            if e.is_retriable() {
                e
            } else {
                self.poison_with(e)
            }
        })
    }

    /// Syncs everything appended so far and seals rolled segments.
    pub fn flush(&self) -> Result<()> {
        self.sync_to(self.log_end_offset())?;
        if self.writer.lock().unsealed.is_empty() {
            return Ok(());
        }
        // The data was durable already, but rolled segments still wait for their seal: take
        // the leader role for one more sync.
        self.lead(|| {
            self.check_poison()?;
            self.sync_once()
        })
    }

    /// Syncs if the oldest unsynced append is older than `flush.ms`, or (whatever the policy)
    /// if rolled segments wait for their seal. Returns whether it synced.
    pub fn flush_if_due(&self) -> Result<bool> {
        let interval = self.config.read().flush.interval;
        let due = {
            let w = self.writer.lock();
            let aged = match (interval, w.first_unsynced_ms) {
                (Some(interval), Some(first)) => {
                    self.env.clock.now_ms() - first >= interval.as_millis() as i64
                }
                _ => false,
            };
            aged || !w.unsealed.is_empty()
        };
        if due {
            self.flush()?;
        }
        Ok(due)
    }

    /// The segment holding `offset`, or the first one after it.
    pub(crate) fn segment_for(&self, offset: i64) -> Option<Arc<Segment>> {
        let segments = self.segments.read();
        segments
            .range(..=offset)
            .next_back()
            .filter(|(_, s)| s.next_offset() > offset)
            .or_else(|| segments.range(offset + 1..).next())
            .map(|(_, s)| Arc::clone(s))
    }

    /// Reads whole batches starting with the one that contains `offset`: as many as fit in
    /// `max_bytes`, but always at least one if one exists, and only batches that end below
    /// `upper` (pass [`Log::high_watermark`] for consumers, [`Log::log_end_offset`] for
    /// replicas). Never returns a partial batch.
    pub fn read(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<LogRead> {
        self.read_batches(offset, max_bytes, upper, true)
    }

    /// Like [`Log::read`], but never more than `max_bytes`: nothing at all when the first batch
    /// does not fit. For a fetch response that already carries data, where only the response's
    /// very first batch may exceed the limits.
    pub fn read_at_most(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<LogRead> {
        self.read_batches(offset, max_bytes, upper, false)
    }

    fn read_batches(
        &self,
        offset: i64,
        max_bytes: usize,
        upper: i64,
        first_may_exceed: bool,
    ) -> Result<LogRead> {
        let (log_start, log_end) = (self.log_start_offset(), self.log_end_offset());
        if offset < log_start || offset > log_end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
            });
        }
        let empty = LogRead {
            batches: Bytes::new(),
            next_offset: offset,
        };
        let upper = upper.min(log_end);
        // A budget too small for any batch spares the lookup: a fetch whose budget is spent
        // still asks every later partition.
        let nothing_fits = !first_may_exceed && max_bytes < BATCH_HEADER_LEN;
        if offset >= upper || nothing_fits {
            return Ok(empty);
        }
        let Some(segment) = self.segment_for(offset) else {
            return Ok(empty);
        };
        let Some((position, first)) = segment.locate(offset)? else {
            return Ok(empty);
        };
        let first_fits = first_may_exceed || first.total_len() <= max_bytes as u64;
        if first.last_offset() >= upper || !first_fits {
            return Ok(empty);
        }
        let available = segment.size().saturating_sub(position);
        let want = (max_bytes as u64).max(first.total_len()).min(available);
        let mut buf = vec![0u8; want as usize];
        segment
            .file()?
            .read_exact_at(&mut buf, position)
            .context(|| format!("reading {}", segment.log_path().display()))?;
        // Keep the whole batches that fit and end below `upper`; the first always counts.
        let mut end = 0usize;
        let mut next_offset = offset;
        while let Ok(h) = BatchHeader::parse(&buf[end..]) {
            let len = h.total_len() as usize;
            let fits = end + len <= buf.len() && (end == 0 || end + len <= max_bytes);
            if !fits || h.last_offset() >= upper {
                break;
            }
            end += len;
            next_offset = h.next_offset();
        }
        buf.truncate(end);
        Ok(LogRead {
            batches: Bytes::from(buf),
            next_offset,
        })
    }

    /// The first record whose timestamp is at or after `timestamp` (Kafka's ListOffsets by
    /// time), or `None` if every record is older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        let log_start = self.log_start_offset();
        let segments: Vec<Arc<Segment>> = self.segments.read().values().cloned().collect();
        let last = segments.len().saturating_sub(1);
        for (i, segment) in segments.iter().enumerate() {
            if segment.next_offset() <= log_start {
                continue;
            }
            // The active segment's running maximum is exact only at index entries: search it.
            let max = segment.with_indexes(|ix| ix.max_timestamp)?;
            if max < timestamp && i != last {
                continue;
            }
            if let Some(found) = self.find_timestamp_in(segment, timestamp, log_start)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (Kafka's ListOffsets MAX_TIMESTAMP, KIP-734): the
    /// first of them when several share it, or `None` if the log holds no record. As in
    /// [`Log::offset_for_timestamp`], a compressed batch answers with its base offset and its
    /// max timestamp (records are not decompressed).
    pub fn offset_of_max_timestamp(&self) -> Result<Option<TimestampOffset>> {
        let log_start = self.log_start_offset();
        let segments: Vec<Arc<Segment>> = self
            .segments
            .read()
            .values()
            .filter(|s| s.next_offset() > log_start)
            .cloned()
            .collect();
        let last = segments.len().saturating_sub(1);
        // The largest timestamp, and the first segment that holds it.
        let mut top: Option<(i64, &Arc<Segment>)> = None;
        for (i, segment) in segments.iter().enumerate() {
            let max = if segment.base_offset() >= log_start && i != last {
                // A rolled segment wholly above the log start: its index maximum is exact.
                Some(segment.with_indexes(|ix| ix.max_timestamp)?)
            } else {
                self.live_max_timestamp(segment, log_start)?
            };
            if let Some(max) = max
                && top.is_none_or(|(highest, _)| max > highest)
            {
                top = Some((max, segment));
            }
        }
        match top {
            Some((max, segment)) => self.find_timestamp_in(segment, max, log_start),
            None => Ok(None),
        }
    }

    /// The largest max-timestamp of `segment`'s readable batches that hold offsets at or after
    /// `log_start`, or `None` if there are none. The index cannot answer alone: in the active
    /// segment it may count a batch that is being appended and is not readable yet, and where
    /// the log start cuts a segment it counts deleted records. So headers are read from the
    /// log start, or from the last offset index entry, up to which the time index holds the
    /// running maximum.
    fn live_max_timestamp(&self, segment: &Arc<Segment>, log_start: i64) -> Result<Option<i64>> {
        let (position, mut max) = if segment.base_offset() >= log_start {
            segment
                .with_indexes(|ix| {
                    ix.offsets.last().map(|entry| {
                        let times = ix.times.entries();
                        let up_to_entry =
                            times.partition_point(|t| t.relative_offset <= entry.relative_offset);
                        let known = up_to_entry.checked_sub(1).map(|i| times[i].timestamp);
                        (u64::from(entry.position), known)
                    })
                })?
                .unwrap_or((0, None))
        } else {
            match segment.locate(log_start)? {
                Some((position, _)) => (position, None),
                None => return Ok(None),
            }
        };
        segment.walk_headers(position, |_, header| {
            max = Some(max.map_or(header.max_timestamp, |m| m.max(header.max_timestamp)));
            true
        })?;
        Ok(max)
    }

    fn find_timestamp_in(
        &self,
        segment: &Arc<Segment>,
        timestamp: i64,
        log_start: i64,
    ) -> Result<Option<TimestampOffset>> {
        let base = segment.base_offset();
        let from_offset = segment
            .with_indexes(|ix| {
                ix.times
                    .below(timestamp)
                    .map(|t| base + i64::from(t.relative_offset))
            })?
            .unwrap_or(base)
            .max(log_start);
        let Some((start, _)) = segment.locate(from_offset)? else {
            return Ok(None);
        };
        let mut hit = None;
        segment.walk_headers(start, |pos, h| {
            if h.max_timestamp >= timestamp && h.last_offset() >= log_start {
                hit = Some((pos, *h));
                false
            } else {
                true
            }
        })?;
        let Some((position, header)) = hit else {
            return Ok(None);
        };
        let fallback = TimestampOffset {
            offset: header.base_offset.max(log_start),
            timestamp: header.max_timestamp,
        };
        if header.compression() != Ok(Compression::None) {
            return Ok(Some(fallback));
        }
        // Uncompressed: find the exact record by its timestamp delta. (The length was read
        // without a CRC check: it sizes nothing beyond the segment.)
        let len = header.total_len();
        if len > segment.size().saturating_sub(position) || len < BATCH_HEADER_LEN as u64 {
            return Ok(Some(fallback));
        }
        let mut bytes = vec![0u8; len as usize];
        segment
            .file()?
            .read_exact_at(&mut bytes, position)
            .context(|| format!("reading {}", segment.log_path().display()))?;
        let records = records(&bytes[BATCH_HEADER_LEN..]);
        for record in records.flatten() {
            let offset = header
                .base_offset
                .saturating_add(i64::from(record.offset_delta));
            let ts = header.base_timestamp.saturating_add(record.timestamp_delta);
            if ts >= timestamp && offset >= log_start {
                return Ok(Some(TimestampOffset {
                    offset,
                    timestamp: ts,
                }));
            }
        }
        Ok(Some(fallback))
    }

    /// Calls `visit` with the header of every batch from the one holding `from` to the end, in
    /// order, reading headers only (no payloads, no CRC checks): for rebuilding state such as
    /// idempotent-producer sequences after a restart.
    pub fn for_each_batch_header(
        &self,
        from: i64,
        mut visit: impl FnMut(&BatchHeader),
    ) -> Result<()> {
        let from = from.max(self.log_start_offset());
        let segments: Vec<Arc<Segment>> = self.segments.read().values().cloned().collect();
        for segment in segments.iter().filter(|s| s.next_offset() > from) {
            let start = match segment.locate(from)? {
                Some((position, _)) => position,
                None => continue,
            };
            segment.walk_headers(start, |_, header| {
                visit(header);
                true
            })?;
        }
        Ok(())
    }

    /// Syncs everything, seals rolled segments, and syncs the active segment's index files too,
    /// so that the next open verifies about one index interval even after a power loss.
    pub fn close(self) -> Result<()> {
        self.flush()?;
        let active = Arc::clone(&self.writer.lock().active);
        active.sync_index_files()
    }
}

fn source_chain(error: &LogError) -> String {
    let mut out = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
