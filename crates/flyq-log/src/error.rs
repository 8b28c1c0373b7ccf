//! The log's error type.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use flyq_protocol::BatchError;

/// Everything a log operation can fail with.
#[derive(Debug, Error)]
pub enum LogError {
    /// The batch was refused before anything was written.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// The requested offset is outside `[log_start, log_end]`.
    #[error("offset {offset} out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// Offset asked for.
        offset: i64,
        /// First offset in the log.
        log_start: i64,
        /// Offset the next append gets.
        log_end: i64,
    },
    /// The disk is full. Nothing was appended; the log stays usable and appends succeed again
    /// once space is freed.
    #[error("disk full while {context}")]
    DiskFull {
        /// What the log was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An I/O operation failed.
    #[error("I/O error while {context}")]
    Io {
        /// What the log was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An earlier fsync or write failed, so the log refuses writes until it is reopened:
    /// after a failed fsync the kernel may have dropped the dirty pages, and nothing written
    /// since can be promised durable.
    #[error("log is poisoned by an earlier storage failure: {0}")]
    Poisoned(Arc<str>),
    /// Data in a segment that should be intact failed its checks.
    #[error("corrupt segment {path}: {detail} at byte {position}")]
    CorruptSegment {
        /// The segment's log file.
        path: PathBuf,
        /// Byte position of the bad batch.
        position: u64,
        /// What check failed.
        detail: String,
    },
    /// The configuration cannot be honoured.
    #[error("invalid log config: {0}")]
    Config(String),
}

impl LogError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        let context = context.into();
        if source.kind() == io::ErrorKind::StorageFull {
            LogError::DiskFull { context, source }
        } else {
            LogError::Io { context, source }
        }
    }

    /// Whether retrying later may succeed without reopening the log.
    pub fn is_retriable(&self) -> bool {
        matches!(self, LogError::DiskFull { .. })
    }
}

/// Result type of log operations.
pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// Adds context to I/O results.
pub(crate) trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| LogError::io(what(), e))
    }
}
