//! [`Log`]: one partition's log and the segments that make it: its state, opening, closing,
//! accessors and poisoning. Each path over that state adds its own `impl Log` block in its own
//! module: appending and rolling in `writer`, group commit in `group_commit`, reads in `read`,
//! timestamp lookup in `timestamp_lookup`, retention and truncation in `retention`, the scrub
//! in `verify`.
//!
//! Concurrency: one appender at a time (the `writer` mutex) and any number of readers, which
//! never take the writer's lock: they snapshot the segment map, then read bytes that the writer
//! published through each segment's atomic size. Syncing happens outside the writer lock, so
//! appends continue while an `fdatasync` runs, and appenders that need durability at the same
//! time share one sync (group commit, see [`Log::sync_to`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::config::LogConfig;
use crate::env::LogEnv;
use crate::error::{LogError, Result};
use crate::group_commit::SyncState;
use crate::recovery::{self, RecoveryReport};
use crate::segment::Segment;
use crate::writer::Writer;

/// A partition log. Share it as `Arc<Log>`; every method takes `&self`.
pub struct Log {
    pub(crate) dir: PathBuf,
    pub(crate) env: Arc<LogEnv>,
    pub(crate) config: RwLock<LogConfig>,
    pub(crate) segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) sync: Mutex<SyncState>,
    pub(crate) synced: Condvar,
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

    pub(crate) fn check_poison(&self) -> Result<()> {
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
