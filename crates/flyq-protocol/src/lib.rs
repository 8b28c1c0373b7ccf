//! FlyQ's wire formats shared by the storage engine, the broker, the HTTP API and the Rust SDK,
//! each defined once:
//!
//! - [`layout`]: the RecordBatch v2 header layout (field offsets and widths, attribute bits,
//!   the bytes the CRC covers). Nothing outside this crate names a header byte offset.
//! - [`header`]: the header read and written field by field, the structural check every
//!   stored or received batch passes (length, magic, CRC-32C, counts, codec), and the CRC.
//! - [`record`]: record framing inside a batch (zig-zag varints, record encode and decode).
//! - [`builder`]: uncompressed batches for tests, tools and the group coordinator.
//! - [`decode`]: the hardened decoder for batches written by producers one does not trust
//!   (inflating within a budget, record counts checked against the bytes).
//! - [`consumer_protocol`]: the standard ConsumerProtocol encodings of group member
//!   subscriptions and assignments.
//!
//! What it must not do: I/O of any kind, an async runtime (no tokio), or depend on the log,
//! the broker or the SDK (they depend on it). Nor does it hold their policies: limits such as
//! `max.message.bytes` are the caller's, and turning errors into Kafka error codes is the
//! Kafka listener's job.
//!
//! ```
//! use flyq_protocol::builder::{RecordSpec, build_batch};
//! use flyq_protocol::{header, layout};
//!
//! let batch = build_batch(0, 1_700_000_000_000, &[RecordSpec::value("hello")]);
//! let parsed = header::check(&batch)?;
//! assert_eq!((parsed.records_count, parsed.total_len()), (1, batch.len() as u64));
//! assert_eq!(layout::RECORDS_COUNT.read(&batch), Some(1));
//! # Ok::<(), flyq_protocol::BatchError>(())
//! ```

pub mod builder;
pub mod codec;
pub mod consumer_protocol;
pub mod decode;
pub mod header;
pub mod layout;
pub mod record;
mod varint;

pub use consumer_protocol::TopicPartition;
pub use header::{BatchError, BatchHeader};
pub use layout::Compression;
pub use record::Header;
