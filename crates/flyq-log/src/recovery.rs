//! Opening a log: finding its segments and recovering the active one after a crash.
//!
//! Sealed segments are trusted without reading them: a segment is only sealed after its data
//! and indexes were synced, so a crash cannot have torn it. Their indexes are checked lazily,
//! on first use. Only the active segment can hold unsynced bytes, and only after its last
//! *durable* index entry (index entries reach disk only after the data they point to, see
//! [`crate::index`]). So recovery verifies the active segment from that entry on, CRC by CRC,
//! and truncates at the first incomplete or corrupt batch, logging exactly what it dropped.
//! After a clean shutdown that is one batch; after a crash, at most the unsynced tail.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::checkpoint;
use crate::config::LogConfig;
use crate::env::LogEnv;
use crate::error::{IoContext, Result};
use crate::index::{OffsetEntry, SparseIndex, TimeEntry};
use crate::log::Writer;
use crate::segment::{self, INDEX_EXT, Indexes, LOG_EXT, Segment, TIME_INDEX_EXT};
use crate::verify::Corruption;

/// A torn or corrupt tail that recovery cut off the active segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Base offset of the segment that was cut.
    pub segment_base_offset: i64,
    /// Byte position the segment was cut at (its new size).
    pub position: u64,
    /// Bytes dropped.
    pub bytes_dropped: u64,
    /// The first offset that was dropped (the log's new end offset).
    pub first_dropped_offset: i64,
    /// Why the bytes at `position` were not a valid batch.
    pub reason: String,
}

/// What happened when a log was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments found.
    pub segments: usize,
    /// Bytes of the active segment verified batch by batch.
    pub scanned_bytes: u64,
    /// The tail cut off the active segment, if any.
    pub truncation: Option<Truncation>,
    /// Damage found in data that was already durable. Such data is never cut: the log opens
    /// fenced (reads serve what precedes the damage, writes are refused) until it is repaired.
    pub corruption: Option<Corruption>,
    /// Leftover files removed (temporary files, orphan indexes, segments below the log start).
    pub removed_files: Vec<String>,
}

pub(crate) struct Recovered {
    pub segments: BTreeMap<i64, Arc<Segment>>,
    pub writer: Writer,
    pub log_start: i64,
    pub report: RecoveryReport,
}

pub(crate) fn recover(dir: &Path, env: &Arc<LogEnv>, config: &LogConfig) -> Result<Recovered> {
    let storage = &*env.storage;
    storage
        .create_dir_all(dir)
        .context(|| format!("creating {}", dir.display()))?;
    let names = storage
        .list_dir(dir)
        .context(|| format!("listing {}", dir.display()))?;
    let mut report = RecoveryReport::default();
    let mut bases: Vec<i64> = names
        .iter()
        .filter_map(|n| segment::parse_file_name(n, LOG_EXT))
        .collect();
    bases.sort_unstable();
    let checkpointed_start = checkpoint::read(storage, dir)
        .context(|| format!("reading log start of {}", dir.display()))?;
    let mut log_start = checkpointed_start
        .unwrap_or(0)
        .max(bases.first().copied().unwrap_or(0));

    // Segments wholly below the log start were deleted before a crash finished removing them.
    let mut doomed: Vec<i64> = Vec::new();
    while bases.len() > 1 && bases[1] <= log_start {
        doomed.push(bases.remove(0));
    }
    for name in &names {
        let base = segment::parse_file_name(name, LOG_EXT)
            .or_else(|| segment::parse_file_name(name, INDEX_EXT))
            .or_else(|| segment::parse_file_name(name, TIME_INDEX_EXT));
        let leftover = match base {
            Some(b) => doomed.contains(&b) || !bases.contains(&b),
            None => name.ends_with(".tmp"),
        };
        if leftover {
            storage
                .remove_file(&dir.join(name))
                .context(|| format!("removing {name}"))?;
            report.removed_files.push(name.clone());
        }
    }
    if !report.removed_files.is_empty() {
        storage
            .sync_dir(dir)
            .context(|| format!("syncing {}", dir.display()))?;
        tracing::info!(target: "flyq::log", dir = %dir.display(), files = ?report.removed_files, "removed leftover files");
    }

    let mut segments = BTreeMap::new();
    let Some(&active_base) = bases.last() else {
        return fresh(dir, env, log_start, report);
    };
    for pair in bases.windows(2) {
        let path = dir.join(segment::file_name(pair[0], LOG_EXT));
        let size = storage
            .file_len(&path)
            .context(|| format!("sizing {}", path.display()))?;
        segments.insert(pair[0], Segment::sealed(env, dir, pair[0], size, pair[1]));
    }
    let active = recover_active(dir, env, config, active_base, &mut report)?;
    if active.next_offset() < log_start {
        // Everything up to a checkpointed log start past the surviving data was deleted.
        drop(segments);
        for base in bases {
            for ext in [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT] {
                let _ = storage.remove_file(&dir.join(segment::file_name(base, ext)));
            }
        }
        return fresh(dir, env, log_start, report);
    }
    log_start = log_start.max(active_base.min(bases[0]));
    segments.insert(active_base, Arc::clone(&active));
    report.segments = segments.len();
    let writer = Writer {
        position: active.size(),
        next_offset: active.next_offset(),
        active,
        file: None,
        leader_epoch: -1,
        segment_opened_ms: None,
        first_unsynced_ms: None,
    };
    Ok(Recovered {
        segments,
        writer,
        log_start,
        report,
    })
}

/// An empty log starting at `log_start`.
fn fresh(
    dir: &Path,
    env: &Arc<LogEnv>,
    log_start: i64,
    mut report: RecoveryReport,
) -> Result<Recovered> {
    let (active, _file) = Segment::create(env, dir, log_start)?;
    env.storage
        .sync_dir(dir)
        .context(|| format!("syncing {}", dir.display()))?;
    report.segments = 1;
    let mut segments = BTreeMap::new();
    segments.insert(log_start, Arc::clone(&active));
    let writer = Writer {
        active,
        file: None,
        position: 0,
        next_offset: log_start,
        leader_epoch: -1,
        segment_opened_ms: None,
        first_unsynced_ms: None,
    };
    Ok(Recovered {
        segments,
        writer,
        log_start,
        report,
    })
}

/// Verifies the active segment from its last durable index entry and cuts a bad tail.
fn recover_active(
    dir: &Path,
    env: &Arc<LogEnv>,
    config: &LogConfig,
    base: i64,
    report: &mut RecoveryReport,
) -> Result<Arc<Segment>> {
    let storage = &*env.storage;
    let log_path = dir.join(segment::file_name(base, LOG_EXT));
    let index_path = dir.join(segment::file_name(base, INDEX_EXT));
    let time_index_path = dir.join(segment::file_name(base, TIME_INDEX_EXT));
    let file = storage
        .open(&log_path, false)
        .context(|| format!("opening {}", log_path.display()))?;
    let len = file
        .size()
        .context(|| format!("sizing {}", log_path.display()))?;
    let (mut offsets, _) =
        SparseIndex::<OffsetEntry>::load(storage, &index_path, |e| u64::from(e.position) < len)
            .context(|| format!("reading {}", index_path.display()))?;
    let (mut times, _) = SparseIndex::<TimeEntry>::load(storage, &time_index_path, |_| true)
        .context(|| format!("reading {}", time_index_path.display()))?;

    // The batch at the last persisted entry is durable: its entry was written after an fsync
    // covering it. Damage up to there is corruption, not a torn write.
    let durable_position = offsets.last().map(|e| u64::from(e.position));
    // Start at the last index entry whose batch is intact (normally the very last one).
    let (start_position, start_offset) = loop {
        let Some(entry) = offsets.last().copied() else {
            break (0, base);
        };
        let position = u64::from(entry.position);
        let offset = base + i64::from(entry.relative_offset);
        if first_batch_intact(&*file, &log_path, position, offset, len)? {
            break (position, offset);
        }
        offsets.truncate(offsets.entries().len() - 1);
    };
    let start_relative = (start_offset - base) as u32;
    let keep_times = times
        .entries()
        .partition_point(|t| t.relative_offset <= start_relative);
    times.truncate(keep_times);

    let mut indexes = Indexes {
        max_timestamp: times.last().map_or(-1, |t| t.timestamp),
        offsets,
        times,
        bytes_since_entry: 0,
    };
    let interval = config.index_interval_bytes;
    let end = segment::scan_file(
        &*file,
        &log_path,
        start_position,
        start_offset,
        len,
        |pos, h| {
            indexes.on_batch(base, pos, h, interval);
        },
    )?;
    report.scanned_bytes = end.position - start_position;
    if let Some(problem) = &end.problem
        && durable_position.is_some_and(|durable| end.position <= durable)
    {
        let corruption = Corruption {
            segment_base_offset: base,
            position: end.position,
            detail: problem.clone(),
        };
        tracing::error!(
            target: "flyq::log",
            segment = %log_path.display(),
            position = corruption.position,
            detail = %corruption.detail,
            "corrupt batch in durable data; the log is fenced (read-only up to it), nothing was cut"
        );
        report.corruption = Some(corruption);
        return Ok(Segment::recovered(env, dir, base, &end, indexes));
    }
    if end.position < len {
        let truncation = Truncation {
            segment_base_offset: base,
            position: end.position,
            bytes_dropped: len - end.position,
            first_dropped_offset: end.next_offset,
            reason: end
                .problem
                .clone()
                .unwrap_or_else(|| "trailing bytes".into()),
        };
        tracing::warn!(
            target: "flyq::log",
            segment = %log_path.display(),
            position = truncation.position,
            bytes_dropped = truncation.bytes_dropped,
            first_dropped_offset = truncation.first_dropped_offset,
            reason = %truncation.reason,
            "recovery truncated a torn or corrupt tail of the active segment"
        );
        file.set_len(end.position)
            .context(|| format!("truncating {}", log_path.display()))?;
        report.truncation = Some(truncation);
    }
    if end.position > start_position || report.truncation.is_some() {
        // What survived the crash may still sit in the page cache only: make it durable before
        // recording index entries for it.
        file.sync_data()
            .context(|| format!("syncing {}", log_path.display()))?;
    }
    // Cut stale entries durably first, then add the entries for what the scan verified.
    indexes
        .offsets
        .trim_file(storage, &index_path)
        .and_then(|()| indexes.times.trim_file(storage, &time_index_path))
        .and_then(|()| indexes.offsets.persist(storage, &index_path, |_| true))
        .and_then(|()| indexes.times.persist(storage, &time_index_path, |_| true))
        .context(|| format!("rewriting indexes of {}", log_path.display()))?;
    Ok(Segment::recovered(env, dir, base, &end, indexes))
}

/// Whether a complete, valid batch with base offset `offset` starts at `position`.
fn first_batch_intact(
    file: &dyn crate::storage::StorageFile,
    path: &Path,
    position: u64,
    offset: i64,
    len: u64,
) -> Result<bool> {
    let mut prefix = [0u8; crate::batch::BATCH_LENGTH_PREFIX];
    if len.saturating_sub(position) < prefix.len() as u64 {
        return Ok(false);
    }
    file.read_exact_at(&mut prefix, position)
        .context(|| format!("reading {}", path.display()))?;
    let Some(total) = crate::batch::peek_total_len(&prefix) else {
        return Ok(false);
    };
    let end = position.saturating_add(total);
    if end > len {
        return Ok(false);
    }
    let scan = segment::scan_file(file, path, position, offset, end, |_, _| {})?;
    Ok(scan.problem.is_none() && scan.position == end)
}
