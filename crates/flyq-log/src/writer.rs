//! The append path of [`Log`]: validating a batch, assigning its offsets and leader epoch,
//! writing it to the active segment, and rolling to a new segment. The writer's state
//! ([`Writer`]) sits behind `Log::writer`, so one appender at a time; making appends durable is
//! `group_commit`'s job.

use std::io::IoSlice;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use flyq_protocol::BatchHeader;
use flyq_protocol::layout::{BASE_OFFSET, PARTITION_LEADER_EPOCH};

use crate::config::LogConfig;
use crate::error::{IoContext, LogError, Result};
use crate::log::Log;
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

/// Where the header fields the log assigns (base offset, partition leader epoch) end: an
/// append rewrites these bytes and writes the rest of the batch untouched.
const LOG_ASSIGNED_END: usize = PARTITION_LEADER_EPOCH.end();

impl Log {
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
}
