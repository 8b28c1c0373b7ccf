//! Per-log settings, with Kafka's topic-config names and defaults.

use std::time::Duration;

/// When appended data is fsynced. Kafka's `flush.messages` / `flush.ms`.
///
/// Whatever the policy, a rolled segment is synced and sealed by the next sync (the background
/// [`crate::Flusher`] runs one promptly), and [`crate::Log::flush`] syncs on demand. Concurrent appenders waiting for a sync share one `fdatasync` (group commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Sync before `append` returns once this many records are unsynced (`flush.messages`);
    /// `Some(1)` syncs every append. `None` never syncs on count.
    pub messages: Option<u64>,
    /// Sync in the background once the oldest unsynced append is this old (`flush.ms`), driven
    /// by [`crate::Flusher`]. `None` never syncs on time.
    pub interval: Option<Duration>,
}

impl FlushPolicy {
    /// Sync before every append is acknowledged.
    pub const EVERY_APPEND: Self = Self {
        messages: Some(1),
        interval: None,
    };

    /// Leave syncing to the background flusher, every `interval`.
    pub fn every(interval: Duration) -> Self {
        Self {
            messages: None,
            interval: Some(interval),
        }
    }
}

impl Default for FlushPolicy {
    /// FlyQ's default: a background sync at most one second after an append.
    fn default() -> Self {
        Self::every(Duration::from_secs(1))
    }
}

/// Settings of one partition log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll to a new segment when the active one would grow past this (`segment.bytes`).
    pub segment_bytes: u64,
    /// Roll when the active segment's first append is older than this (`segment.ms`).
    pub segment_ms: Option<Duration>,
    /// Bytes between index entries (`index.interval.bytes`).
    pub index_interval_bytes: u64,
    /// Largest batch accepted (`max.message.bytes`).
    pub max_batch_bytes: usize,
    /// Delete segments whose newest record is older than this (`retention.ms`; `None` = keep).
    pub retention_ms: Option<Duration>,
    /// Delete oldest segments while the log is larger than this (`retention.bytes`).
    pub retention_bytes: Option<u64>,
    /// Fsync policy (`flush.messages`, `flush.ms`).
    pub flush: FlushPolicy,
}

/// Largest `segment.bytes`: index entries hold 32-bit positions.
pub const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: Some(Duration::from_secs(7 * 24 * 3600)),
            index_interval_bytes: 4096,
            max_batch_bytes: 1_048_588,
            retention_ms: Some(Duration::from_secs(7 * 24 * 3600)),
            retention_bytes: None,
            flush: FlushPolicy::default(),
        }
    }
}

impl LogConfig {
    /// Rejects settings the log cannot honour, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if !(1024..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return Err(format!(
                "segment.bytes must be between 1024 and {MAX_SEGMENT_BYTES}, got {}",
                self.segment_bytes
            ));
        }
        if self.index_interval_bytes == 0 {
            return Err("index.interval.bytes must be positive".into());
        }
        if !(flyq_protocol::layout::BATCH_HEADER_LEN..=crate::validate::MAX_BATCH_BYTES)
            .contains(&self.max_batch_bytes)
        {
            return Err(format!(
                "max.message.bytes must be between {} and {}, got {}",
                flyq_protocol::layout::BATCH_HEADER_LEN,
                crate::validate::MAX_BATCH_BYTES,
                self.max_batch_bytes
            ));
        }
        if self.flush.messages == Some(0) {
            return Err("flush.messages must be at least 1".into());
        }
        Ok(())
    }
}
