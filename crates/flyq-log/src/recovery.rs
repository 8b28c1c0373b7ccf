//! Opening a log: finding its segments and recovering those a crash may have torn.
//!
//! A segment whose offset index ends with the seal trailer was synced and sealed, and so was
//! every older one (segments are sealed oldest first). Those are trusted without reading them;
//! their indexes are checked lazily, on first use. Only the segments after the newest sealed
//! one (normally just the active segment, sometimes a rolled one whose seal a crash cut short)
//! can hold unsynced bytes, and only after their last *durable* index entry (entries reach
//! disk only after the data they point to, see [`crate::index`]). Recovery verifies them in
//! order from that entry on, CRC by CRC. At the first incomplete or corrupt batch it cuts the
//! segment there and removes every later segment: syncs go oldest first, so nothing after a
//! torn point was ever acknowledged. Every cut is logged with what it dropped. After a clean
//! shutdown this verifies about one index interval; after a crash, at most the unsynced tail.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use flyq_protocol::header::batch_size;
use flyq_protocol::layout::BATCH_LENGTH_PREFIX;

use crate::checkpoint;
use crate::config::LogConfig;
use crate::env::LogEnv;
use crate::error::{IoContext, Result};
use crate::index::{OffsetEntry, SparseIndex, TimeEntry};
use crate::segment::{self, INDEX_EXT, Indexes, LOG_EXT, Segment, TIME_INDEX_EXT};
use crate::verify::Corruption;
use crate::writer::Writer;

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
    /// Later segments removed with the tail (their base offsets).
    pub segments_removed: Vec<i64>,
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
    let log_start = checkpointed_start
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
    if bases.is_empty() {
        return fresh(dir, env, log_start, report);
    }

    // The newest sealed segment: it and everything older is complete and durable.
    let mut first_unsealed = 0;
    for (i, base) in bases.iter().enumerate().rev() {
        if Segment::has_seal_trailer(env, dir, *base)? {
            first_unsealed = i + 1;
            break;
        }
    }
    // The last segment is always recovered: it becomes the active one.
    let first_unsealed = first_unsealed.min(bases.len() - 1);
    let mut segments = BTreeMap::new();
    for pair in bases[..=first_unsealed].windows(2) {
        let path = dir.join(segment::file_name(pair[0], LOG_EXT));
        let size = storage
            .file_len(&path)
            .context(|| format!("sizing {}", path.display()))?;
        segments.insert(pair[0], Segment::sealed(env, dir, pair[0], size, pair[1]));
    }

    let mut active = None;
    for (i, &base) in bases.iter().enumerate().skip(first_unsealed) {
        let next_base = bases.get(i + 1).copied();
        let (segment, outcome) = recover_segment(dir, env, config, base, &mut report)?;
        let ended_early = next_base.is_some_and(|next| segment.next_offset() != next);
        if outcome == Outcome::Fenced
            || next_base.is_none()
            || ended_early
            || outcome == Outcome::Cut
        {
            if outcome != Outcome::Fenced && next_base.is_some() {
                let removed = remove_later_segments(dir, env, &bases[i + 1..])?;
                let truncation = report.truncation.get_or_insert_with(|| Truncation {
                    segment_base_offset: base,
                    position: segment.size(),
                    bytes_dropped: 0,
                    first_dropped_offset: segment.next_offset(),
                    reason: "the segment ends before the next one begins".into(),
                    segments_removed: Vec::new(),
                });
                truncation.segments_removed = removed;
                tracing::warn!(
                    target: "flyq::log", dir = %dir.display(), segments = ?truncation.segments_removed,
                    first_dropped_offset = truncation.first_dropped_offset,
                    "recovery removed segments after a torn point"
                );
            }
            segments.insert(base, Arc::clone(&segment));
            active = Some(segment);
            break;
        }
        // A complete rolled segment whose seal a crash interrupted: seal it now.
        segment.seal()?;
        segments.insert(base, segment);
    }
    let Some(active) = active else {
        return Err(crate::error::LogError::Config(format!(
            "no active segment in {}",
            dir.display()
        )));
    };
    if active.next_offset() < log_start {
        // Everything up to a checkpointed log start past the surviving data was deleted.
        drop(segments);
        drop(active);
        for base in bases {
            for ext in [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT] {
                let _ = storage.remove_file(&dir.join(segment::file_name(base, ext)));
            }
        }
        return fresh(dir, env, log_start, report);
    }
    let log_start = log_start.max(*segments.keys().next().unwrap_or(&log_start));
    report.segments = segments.len();
    let writer = Writer::new(active, Vec::new());
    Ok(Recovered {
        segments,
        writer,
        log_start,
        report,
    })
}

/// Removes segments newest first, syncing the directory after each, so that a crash in between
/// still leaves a prefix of the log. Returns their base offsets.
fn remove_later_segments(dir: &Path, env: &LogEnv, bases: &[i64]) -> Result<Vec<i64>> {
    for &base in bases.iter().rev() {
        for ext in [INDEX_EXT, TIME_INDEX_EXT, LOG_EXT] {
            let path = dir.join(segment::file_name(base, ext));
            match env.storage.remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(crate::error::LogError::io(
                        format!("removing {}", path.display()),
                        e,
                    ));
                }
                _ => {}
            }
        }
        env.storage
            .sync_dir(dir)
            .context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(bases.to_vec())
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
    Ok(Recovered {
        segments,
        writer: Writer::new(active, Vec::new()),
        log_start,
        report,
    })
}

/// How the recovery of one segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every byte verified.
    Clean,
    /// A torn tail was cut.
    Cut,
    /// Durable data is damaged: nothing was cut; the log opens fenced.
    Fenced,
}

/// Verifies a segment from its last durable index entry and cuts a torn tail.
fn recover_segment(
    dir: &Path,
    env: &Arc<LogEnv>,
    config: &LogConfig,
    base: i64,
    report: &mut RecoveryReport,
) -> Result<(Arc<Segment>, Outcome)> {
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
    let (mut offsets, _) = SparseIndex::<OffsetEntry>::load(storage, &index_path, len, |e| {
        u64::from(e.position) < len
    })
    .context(|| format!("reading {}", index_path.display()))?;
    let (mut times, _) = SparseIndex::<TimeEntry>::load(storage, &time_index_path, len, |_| true)
        .context(|| format!("reading {}", time_index_path.display()))?;
    // A segment recovered here is written to again (or sealed anew): a seal trailer it may
    // carry (a truncation into a sealed segment cut short by a crash) goes with the trim below.
    let entries = offsets.entries().len();
    offsets.truncate(entries);

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
    report.scanned_bytes += end.position - start_position;
    let mut cut = false;
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
        return Ok((
            Segment::recovered(env, dir, base, &end, indexes),
            Outcome::Fenced,
        ));
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
            segments_removed: Vec::new(),
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
        cut = true;
    }
    if end.position > start_position || cut {
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
    let outcome = if cut { Outcome::Cut } else { Outcome::Clean };
    Ok((Segment::recovered(env, dir, base, &end, indexes), outcome))
}

/// Whether a complete, valid batch with base offset `offset` starts at `position`.
fn first_batch_intact(
    file: &dyn crate::storage::StorageFile,
    path: &Path,
    position: u64,
    offset: i64,
    len: u64,
) -> Result<bool> {
    let mut prefix = [0u8; BATCH_LENGTH_PREFIX];
    if len.saturating_sub(position) < prefix.len() as u64 {
        return Ok(false);
    }
    file.read_exact_at(&mut prefix, position)
        .context(|| format!("reading {}", path.display()))?;
    let Ok(Some(total)) = batch_size(&prefix) else {
        return Ok(false);
    };
    let end = position.saturating_add(total as u64);
    if end > len {
        return Ok(false);
    }
    let scan = segment::scan_file(file, path, position, offset, end, |_, _| {})?;
    Ok(scan.problem.is_none() && scan.position == end)
}
