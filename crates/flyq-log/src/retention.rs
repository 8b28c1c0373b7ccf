//! Removing data from a log: retention by time and size, delete-records, and truncation.
//!
//! The log start offset is checkpointed *before* segments are dropped, so a crash in between
//! leaves files that the next open recognises as below the log start and removes. Dropped
//! segments are unlinked when their last reader lets go (see [`crate::segment`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::checkpoint;
use crate::error::{IoContext, LogError, Result};
use crate::log::Log;
use crate::segment::{self, INDEX_EXT, LOG_EXT, Segment, TIME_INDEX_EXT};

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes those segments held.
    pub bytes_deleted: u64,
    /// The log start offset afterwards.
    pub log_start_offset: i64,
}

impl Log {
    /// Deletes the oldest segments that break `retention.ms` (their newest record is older) or
    /// `retention.bytes` (the log is larger without them). The active segment is rolled first
    /// when all of its data has expired, so a log that stopped receiving data still empties.
    pub fn apply_retention(&self) -> Result<RetentionOutcome> {
        // Rolled segments are deleted only once sealed; seal any that wait, so a log without a
        // flush policy or flusher still gives space back.
        if !self.writer.lock().unsealed.is_empty() {
            self.flush()?;
        }
        let config = self.config();
        let now = self.env().clock.now_ms();
        let cutoff = config.retention_ms.map(|r| now - r.as_millis() as i64);
        let segments: Vec<Arc<Segment>> = self.segments.read().values().cloned().collect();
        // Only sealed segments are deleted; rolled ones wait for their seal (the next sync).
        // Nor anything a consumer may not have seen committed: only below the high watermark.
        let high_watermark = self.high_watermark();
        let sealed_count = segments
            .iter()
            .take_while(|s| s.is_sealed() && s.next_offset() <= high_watermark)
            .count();
        let sealed = &segments[..sealed_count.min(segments.len().saturating_sub(1))];
        let active = &segments[segments.len().saturating_sub(1)..];
        let mut expired = 0;
        if let Some(cutoff) = cutoff {
            for segment in sealed {
                if segment.with_indexes(|ix| ix.max_timestamp)? >= cutoff {
                    break;
                }
                expired += 1;
            }
            if expired == sealed.len()
                && let Some(active) = active.first()
                && active.size() > 0
                && active.with_indexes(|ix| ix.max_timestamp)? < cutoff
            {
                self.roll()?;
                self.flush()?;
                return self.apply_retention();
            }
        }
        let mut doomed = expired;
        if let Some(limit) = config.retention_bytes {
            let mut excess = segments[doomed..]
                .iter()
                .map(|s| s.size())
                .sum::<u64>()
                .saturating_sub(limit);
            for segment in &sealed[doomed..] {
                if segment.size() > excess {
                    break;
                }
                excess -= segment.size();
                doomed += 1;
            }
        }
        if doomed == 0 {
            return Ok(RetentionOutcome {
                log_start_offset: self.log_start_offset(),
                ..Default::default()
            });
        }
        let bytes_deleted = sealed[..doomed].iter().map(|s| s.size()).sum();
        let new_start = segments[doomed].base_offset();
        self.advance_log_start(new_start)?;
        tracing::info!(
            target: "flyq::log", dir = %self.dir().display(), segments = doomed, bytes = bytes_deleted,
            log_start_offset = new_start, "retention deleted segments"
        );
        Ok(RetentionOutcome {
            segments_deleted: doomed,
            bytes_deleted,
            log_start_offset: new_start,
        })
    }

    /// Makes `offset` the new log start (Kafka's DeleteRecords): records below it can no longer
    /// be read, and segments wholly below it are deleted. `offset` must not pass the high
    /// watermark. Returns the log start offset afterwards.
    pub fn delete_records(&self, offset: i64) -> Result<i64> {
        let high_watermark = self.high_watermark();
        if offset < 0 || offset > high_watermark {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset(),
                log_end: high_watermark,
            });
        }
        if offset > self.log_start_offset() {
            self.advance_log_start(offset)?;
        }
        Ok(self.log_start_offset())
    }

    /// Durably moves the log start to `offset`, then drops the segments wholly below it.
    fn advance_log_start(&self, offset: i64) -> Result<()> {
        let mut writer = self.writer.lock();
        // Re-checked under the lock: a concurrent call may have moved the start further.
        if offset <= self.log_start_offset() {
            return Ok(());
        }
        if offset > writer.next_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset(),
                log_end: writer.next_offset,
            });
        }
        let storage = self.env().storage();
        checkpoint::write(storage, self.dir(), offset)
            .context(|| format!("writing the log start of {}", self.dir().display()))?;
        self.log_start_offset_store(offset);
        let active_base = writer.active.base_offset();
        let mut map = self.segments.write();
        let doomed: Vec<i64> = map
            .values()
            .filter(|s| s.base_offset() != active_base && s.next_offset() <= offset)
            .map(|s| s.base_offset())
            .collect();
        for base in &doomed {
            if let Some(segment) = map.remove(base) {
                segment.mark_deleted();
            }
        }
        writer
            .unsealed
            .retain(|u| !doomed.contains(&u.segment.base_offset()));
        Ok(())
    }

    /// Removes every record at or after `offset` (a follower truncating to its leader's log).
    /// `offset` is rounded down to the start of the batch that contains it; a cut below the log
    /// start offset is refused. Runs as the sync leader, so no sync acts on what it removes.
    pub fn truncate_to(&self, offset: i64) -> Result<()> {
        self.lead(|| self.truncate_locked(offset))
    }

    fn truncate_locked(&self, offset: i64) -> Result<()> {
        let mut w = self.writer.lock();
        if let Some(reason) = self.poisoned() {
            return Err(LogError::Poisoned(reason));
        }
        if offset >= w.next_offset {
            return Ok(());
        }
        let log_start = self.log_start_offset();
        let out_of_range = |offset| LogError::OffsetOutOfRange {
            offset,
            log_start,
            log_end: w.next_offset,
        };
        let target = self
            .segment_for(offset)
            .filter(|s| s.base_offset() <= offset && offset >= log_start)
            .ok_or_else(|| out_of_range(offset))?;
        let (position, new_end) = match target.locate(offset)? {
            Some((position, header)) => (position, header.base_offset),
            None => (target.size(), target.next_offset()),
        };
        if new_end < log_start {
            return Err(out_of_range(new_end));
        }
        // Prepare the target before anything is destroyed: the handle that wrote it (a write
        // error must reach it), and no seal trailer.
        let pinned = if Arc::ptr_eq(&target, &w.active) {
            w.file.clone()
        } else {
            w.unsealed
                .iter()
                .find(|u| Arc::ptr_eq(&u.segment, &target))
                .and_then(|u| u.file.clone())
        };
        let file = match pinned {
            Some(file) => file,
            None => self
                .env()
                .storage()
                .open(target.log_path(), false)
                .context(|| format!("opening {}", target.log_path().display()))?,
        };
        if target.is_sealed() {
            target.unseal()?;
        }
        // From here on a failure leaves the log part-truncated: poison it.
        let later: Vec<Arc<Segment>> = {
            let mut map = self.segments.write();
            let bases: Vec<i64> = map
                .range(target.base_offset() + 1..)
                .map(|(b, _)| *b)
                .collect();
            bases.iter().rev().filter_map(|b| map.remove(b)).collect()
        };
        w.unsealed
            .retain(|u| u.segment.base_offset() < target.base_offset());
        // Later segments go now, durably, before their offsets can be reused. Newest first, one
        // directory sync each: a crash part-way leaves a prefix of the segments, never a hole.
        for segment in &later {
            self.remove_segment_files(segment.base_offset())
                .map_err(|e| self.poison_with(e))?;
        }
        target
            .truncate_to(&*file, position, new_end)
            .and_then(|()| {
                file.sync_data()
                    .context(|| format!("syncing {}", target.log_path().display()))
            })
            .map_err(|e| self.poison_with(e))?;
        w.active = target;
        w.file = Some(file);
        w.position = position;
        w.next_offset = new_end;
        w.segment_opened_ms = None;
        self.truncate_offsets(new_end);
        self.forget_requests_past(new_end);
        tracing::info!(target: "flyq::log", dir = %self.dir().display(), log_end_offset = new_end, "truncated log");
        Ok(())
    }
}

impl Log {
    /// Unlinks a segment's files (indexes first, the log last) and syncs the directory.
    fn remove_segment_files(&self, base: i64) -> Result<()> {
        let storage = self.env().storage();
        for ext in [INDEX_EXT, TIME_INDEX_EXT, LOG_EXT] {
            let path = self.dir().join(segment::file_name(base, ext));
            match storage.remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LogError::io(format!("removing {}", path.display()), e));
                }
                _ => {}
            }
        }
        storage
            .sync_dir(self.dir())
            .context(|| format!("syncing {}", self.dir().display()))
    }

    fn log_start_offset_store(&self, offset: i64) {
        self.log_start.fetch_max(offset, Ordering::AcqRel);
    }

    fn truncate_offsets(&self, end: i64) {
        self.log_end.store(end, Ordering::Release);
        self.high_watermark.fetch_min(end, Ordering::AcqRel);
        self.durable_end.fetch_min(end, Ordering::AcqRel);
    }
}
