//! FlyQ's storage engine: a crash-safe, segmented, append-only log of Kafka RecordBatch v2
//! bytes, one per partition.
//!
//! Batches are stored exactly as producers sent them; the log assigns the base offset and the
//! partition leader epoch (the two header fields outside the CRC) and never decodes records on
//! the append or read path. Reads return whole batches. See `docs/log-format.md` for the bytes
//! on disk and `docs/architecture.md` for the design. The batch format itself (header layout,
//! structural check, record framing) is `flyq_protocol`'s; what the log requires of a batch
//! before appending it is its own (`validate`).
//!
//! This crate is synchronous and knows nothing of networking or Kafka requests. All file I/O
//! goes through [`storage::Storage`], so tests can run the log on a simulated disk that crashes,
//! fails fsyncs or fills up.
//!
//! ```
//! use flyq_log::{Log, LogConfig, LogEnv};
//! use flyq_protocol::builder;
//! # let dir = tempfile::tempdir().unwrap();
//! let log = Log::open(dir.path().join("orders-0"), LogConfig::default(), LogEnv::os())?;
//! let info = log.append(&builder::filler_batch(1_700_000_000_000, 10, 100))?;
//! assert_eq!((info.base_offset, info.last_offset), (0, 9));
//! let read = log.read(0, 1 << 20, log.log_end_offset())?;
//! assert_eq!(read.next_offset, 10);
//! # Ok::<(), flyq_log::LogError>(())
//! ```

mod checkpoint;
mod clock;
mod config;
mod env;
mod error;
mod flush;
mod group_commit;
mod index;
mod log;
mod read;
mod recovery;
mod retention;
mod segment;
pub mod storage;
mod timestamp_lookup;
mod validate;
pub use validate::validate;
mod verify;
mod writer;

pub use checkpoint::LOG_START_FILE;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{FlushPolicy, LogConfig, MAX_SEGMENT_BYTES};
pub use env::{DEFAULT_OPEN_SEGMENTS, LogEnv};
pub use error::{LogError, Result};
pub use flush::Flusher;
/// The batch types of this crate's API (`LogError::InvalidBatch`, `Log::for_each_batch_header`).
pub use flyq_protocol::{BatchError, BatchHeader};
pub use log::Log;
pub use read::LogRead;
pub use recovery::{RecoveryReport, Truncation};
pub use retention::RetentionOutcome;
pub use segment::{INDEX_EXT, LOG_EXT, TIME_INDEX_EXT, file_name as segment_file_name};
pub use timestamp_lookup::TimestampOffset;
pub use verify::Corruption;
pub use writer::{AppendInfo, ValidBatch};
