//! Reading and writing RecordBatch v2 headers through the [`layout`](crate::layout): the
//! header view, the structural check every stored or received batch must pass, and the
//! CRC-32C over the range it covers.

use thiserror::Error;

use crate::layout::{
    ATTRIBUTES, BASE_OFFSET, BASE_SEQUENCE, BASE_TIMESTAMP, BATCH_HEADER_LEN, BATCH_LENGTH,
    BATCH_LENGTH_PREFIX, COMPRESSION_CODEC_MASK, CONTROL_FLAG, CRC, CRC_COVERS_FROM, Compression,
    LAST_OFFSET_DELTA, LOG_APPEND_TIME_FLAG, MAGIC, MAGIC_V2, MAX_TIMESTAMP,
    PARTITION_LEADER_EPOCH, PRODUCER_EPOCH, PRODUCER_ID, RECORDS_COUNT,
};

/// Why bytes are not an acceptable batch. Each maps to one Kafka error code in the server.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// Fewer bytes than a batch header.
    #[error("batch too short: {len} bytes, a RecordBatch v2 header is {BATCH_HEADER_LEN}")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// `batch_length` is negative: no batch can follow.
    #[error("negative batch length {0}")]
    NegativeLength(i32),
    /// `batch_length` does not match the bytes received.
    #[error("batch_length says {declared} bytes follow, but {actual} do")]
    LengthMismatch {
        /// Value of the `batch_length` field.
        declared: i64,
        /// Bytes actually following the field.
        actual: usize,
    },
    /// Not a v2 batch.
    #[error("unsupported record batch magic {0} (only v2 is stored)")]
    BadMagic(i8),
    /// CRC-32C over attributes..end does not match.
    #[error("CRC-32C mismatch: header says {expected:#010x}, bytes give {actual:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        expected: u32,
        /// CRC computed over the bytes.
        actual: u32,
    },
    /// `records_count` is negative, zero, or disagrees with `last_offset_delta`.
    #[error("records_count {count} inconsistent with last_offset_delta {last_offset_delta}")]
    RecordCountMismatch {
        /// Value of `records_count`.
        count: i32,
        /// Value of `last_offset_delta`.
        last_offset_delta: i32,
    },
    /// The records section does not hold exactly `records_count` well-formed records.
    #[error("malformed records: {0}")]
    MalformedRecords(&'static str),
    /// Compression codec bits name no known codec.
    #[error("unknown compression codec {0}")]
    UnsupportedCompression(u8),
    /// A compressed records section that cannot be decompressed (or would inflate past the
    /// broker's bound), found where the broker must decompress it.
    #[error("undecodable records: {0}")]
    Undecodable(String),
    /// The batch is larger than the limit that applies (`max.message.bytes` in the log).
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge {
        /// Size of the batch.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// Calls `$apply!` with every [`BatchHeader`] field and the layout field it is stored in: the
/// one list both reading and writing a header go by.
macro_rules! header_fields {
    ($apply:ident) => {
        $apply! {
            base_offset: BASE_OFFSET,
            batch_length: BATCH_LENGTH,
            partition_leader_epoch: PARTITION_LEADER_EPOCH,
            magic: MAGIC,
            crc: CRC,
            attributes: ATTRIBUTES,
            last_offset_delta: LAST_OFFSET_DELTA,
            base_timestamp: BASE_TIMESTAMP,
            max_timestamp: MAX_TIMESTAMP,
            producer_id: PRODUCER_ID,
            producer_epoch: PRODUCER_EPOCH,
            base_sequence: BASE_SEQUENCE,
            records_count: RECORDS_COUNT
        }
    };
}

/// A RecordBatch v2 header, field by field. Read one with [`BatchHeader::parse`] (no checks
/// beyond length) or [`check`] (structure and CRC); write one with [`BatchHeader::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes following the `batch_length` field.
    pub batch_length: i32,
    /// Leader epoch under which the batch was appended.
    pub partition_leader_epoch: i32,
    /// Format version; 2 for every stored batch.
    pub magic: i8,
    /// CRC-32C from the header.
    pub crc: u32,
    /// Attribute bits.
    pub attributes: i16,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub records_count: i32,
}

impl BatchHeader {
    /// The header a producer writes for `records_count` records before the batch is sealed:
    /// offsets from 0, leader epoch and producer fields -1, and the length and CRC still to
    /// be filled in ([`batch_length_of`], [`set_producer`], [`write_crc`]).
    pub fn unsealed(
        compression: Compression,
        records_count: i32,
        base_timestamp: i64,
        max_timestamp: i64,
    ) -> Self {
        Self {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: MAGIC_V2,
            crc: 0,
            attributes: compression.attributes(),
            last_offset_delta: records_count.saturating_sub(1),
            base_timestamp,
            max_timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count,
        }
    }

    /// Reads the header fields from the first [`BATCH_HEADER_LEN`] bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, BatchError> {
        Self::read(bytes).ok_or(BatchError::TooShort { len: bytes.len() })
    }

    fn read(bytes: &[u8]) -> Option<Self> {
        macro_rules! read {
            ($($name:ident: $field:ident),*) => {
                Some(Self { $($name: $field.read(bytes)?),* })
            };
        }
        header_fields!(read)
    }

    /// Writes every field into the first [`BATCH_HEADER_LEN`] bytes of `batch`.
    ///
    /// # Panics
    /// If `batch` is shorter than a header: writers size their buffers first.
    pub fn write(&self, batch: &mut [u8]) {
        macro_rules! write {
            ($($name:ident: $field:ident),*) => {{
                $($field.write(batch, self.$name);)*
            }};
        }
        header_fields!(write)
    }

    /// Total size of the batch, length prefix included.
    pub fn total_len(&self) -> u64 {
        BATCH_LENGTH_PREFIX as u64 + self.batch_length.max(0) as u64
    }

    /// Offset of the last record (saturating).
    pub fn last_offset(&self) -> i64 {
        last_offset(self.base_offset, self.last_offset_delta)
    }

    /// Offset the next batch will start at.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Compression codec, or the unknown codec number.
    pub fn compression(&self) -> Result<Compression, BatchError> {
        Compression::from_attributes(self.attributes).ok_or(BatchError::UnsupportedCompression(
            (self.attributes & COMPRESSION_CODEC_MASK) as u8,
        ))
    }

    /// Whether this is a transaction control batch (commit/abort marker).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }
}

/// The size of the batch at the start of `bytes` (its length prefix plus `batch_length`), once
/// that prefix is there; `Ok(None)` before. The batch itself may not have fully arrived.
pub fn batch_size(bytes: &[u8]) -> Result<Option<usize>, BatchError> {
    let Some(len) = BATCH_LENGTH.read(bytes) else {
        return Ok(None);
    };
    let len = usize::try_from(len).map_err(|_| BatchError::NegativeLength(len))?;
    Ok(Some(BATCH_LENGTH_PREFIX.saturating_add(len)))
}

/// The `batch_length` a batch of `total_len` bytes declares, or `None` if it does not fit the
/// field (or is shorter than the prefix).
pub fn batch_length_of(total_len: usize) -> Option<i32> {
    i32::try_from(total_len.checked_sub(BATCH_LENGTH_PREFIX)?).ok()
}

/// The offset after the last record of the batch whose header starts `bytes` (base offset
/// plus last offset delta plus one), if the header reaches that far.
pub fn peek_next_offset(bytes: &[u8]) -> Option<i64> {
    let last = last_offset(BASE_OFFSET.read(bytes)?, LAST_OFFSET_DELTA.read(bytes)?);
    Some(last.saturating_add(1))
}

/// Saturating: both fields are producer-written, and `base_offset` is not covered by the CRC,
/// so a damaged one must not overflow.
fn last_offset(base_offset: i64, last_offset_delta: i32) -> i64 {
    base_offset.saturating_add(i64::from(last_offset_delta))
}

/// Whether the batch whose header starts `bytes` holds compressed records.
pub fn peek_compressed(bytes: &[u8]) -> bool {
    ATTRIBUTES
        .read(bytes)
        .is_some_and(|a| a & COMPRESSION_CODEC_MASK != 0)
}

/// The CRC-32C of a batch as the header defines it (attributes to the end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(CRC_COVERS_FROM..).unwrap_or_default())
}

/// Computes the batch's CRC-32C and writes it into its header.
///
/// # Panics
/// If `batch` is shorter than a header.
pub fn write_crc(batch: &mut [u8]) {
    let crc = compute_crc(batch);
    CRC.write(batch, crc);
}

/// Marks a whole batch as carrying the broker's append time (`message.timestamp.type =
/// LogAppendTime`): sets the timestamp-type attribute bit and the max timestamp, and rewrites
/// the CRC. Kafka clients then read every record's timestamp as `append_time_ms`.
///
/// # Panics
/// If `batch` is shorter than a header.
pub fn stamp_log_append_time(batch: &mut [u8], append_time_ms: i64) {
    let attributes = ATTRIBUTES.read(batch).unwrap_or(0) | LOG_APPEND_TIME_FLAG;
    ATTRIBUTES.write(batch, attributes);
    MAX_TIMESTAMP.write(batch, append_time_ms);
    write_crc(batch);
}

/// Marks a batch as written by an idempotent producer (producer id, epoch, first sequence) and
/// writes its CRC: the last step before it is sent.
///
/// # Panics
/// If `batch` is shorter than a header.
pub fn set_producer(batch: &mut [u8], producer_id: i64, epoch: i16, base_sequence: i32) {
    PRODUCER_ID.write(batch, producer_id);
    PRODUCER_EPOCH.write(batch, epoch);
    BASE_SEQUENCE.write(batch, base_sequence);
    write_crc(batch);
}

/// Checks the structure and checksum of one stored or received batch: length, magic, CRC and
/// the header's internal consistency. Does not look inside the records.
pub fn check(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(bytes)?;
    let actual = bytes.len() - BATCH_LENGTH_PREFIX;
    if header.batch_length < 0 || header.batch_length as usize != actual {
        return Err(BatchError::LengthMismatch {
            declared: header.batch_length.into(),
            actual,
        });
    }
    if header.magic != MAGIC_V2 {
        return Err(BatchError::BadMagic(header.magic));
    }
    let crc = compute_crc(bytes);
    if crc != header.crc {
        return Err(BatchError::CrcMismatch {
            expected: header.crc,
            actual: crc,
        });
    }
    if header.last_offset_delta < 0
        || header.records_count < 0
        || (header.records_count == 0 && !header.is_control())
    {
        return Err(BatchError::RecordCountMismatch {
            count: header.records_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    header.compression()?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::filler_batch;

    #[test]
    fn stamping_the_append_time_keeps_the_batch_valid() {
        let mut batch = filler_batch(0, 3, 10);
        stamp_log_append_time(&mut batch, 1_700_000_000_123);
        let header = check(&batch).unwrap();
        assert_eq!(header.max_timestamp, 1_700_000_000_123);
        assert_eq!(
            header.attributes & LOG_APPEND_TIME_FLAG,
            LOG_APPEND_TIME_FLAG
        );
        assert_eq!(header.compression().unwrap(), Compression::None);
    }

    #[test]
    fn a_written_header_parses_back_field_for_field() {
        let header = BatchHeader {
            base_offset: 1 << 40,
            batch_length: 49,
            partition_leader_epoch: 7,
            magic: MAGIC_V2,
            crc: 0xdead_beef,
            attributes: Compression::Zstd.attributes() | CONTROL_FLAG,
            last_offset_delta: 3,
            base_timestamp: -5,
            max_timestamp: 1_700_000_000_000,
            producer_id: 42,
            producer_epoch: 9,
            base_sequence: 1_000,
            records_count: 4,
        };
        let mut bytes = [0u8; BATCH_HEADER_LEN];
        header.write(&mut bytes);
        assert_eq!(BatchHeader::parse(&bytes), Ok(header));
        assert_eq!(header.compression(), Ok(Compression::Zstd));
        assert!(header.is_control());
        assert_eq!(
            BatchHeader::parse(&bytes[..BATCH_HEADER_LEN - 1]),
            Err(BatchError::TooShort { len: 60 })
        );
    }

    #[test]
    fn a_header_written_by_kafka_protocols_encoder_parses_field_for_field() {
        use bytes::{Bytes, BytesMut};
        use kafka_protocol::indexmap::IndexMap;
        use kafka_protocol::records::{
            Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };
        // kafka-protocol's encoder is an implementation independent of this crate.
        let records: Vec<Record> = [(100, 1_005), (101, 1_000)]
            .into_iter()
            .map(|(offset, timestamp)| Record {
                transactional: false,
                control: true,
                delete_horizon: false,
                partition_leader_epoch: 9,
                producer_id: 7,
                producer_epoch: 3,
                timestamp_type: TimestampType::Creation,
                offset,
                sequence: 42 + (offset - 100) as i32,
                timestamp,
                key: None,
                value: Some(Bytes::from_static(b"v")),
                headers: IndexMap::new(),
            })
            .collect();
        let options = RecordEncodeOptions {
            version: 2,
            compression: kafka_protocol::records::Compression::Gzip,
        };
        let mut batch = BytesMut::new();
        RecordBatchEncoder::encode(&mut batch, &records, &options).unwrap();
        let h = check(&batch).unwrap();
        assert_eq!(
            (h.base_offset, h.total_len(), h.partition_leader_epoch),
            (100, batch.len() as u64, 9)
        );
        assert_eq!((h.last_offset_delta, h.records_count), (1, 2));
        assert_eq!((h.base_timestamp, h.max_timestamp), (1_000, 1_005));
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 3, 42)
        );
        assert_eq!(h.compression(), Ok(Compression::Gzip));
        assert!(h.is_control());
        assert_eq!(h.crc, compute_crc(&batch));
    }

    #[test]
    fn a_partial_header_is_read_as_far_as_it_goes() {
        let batch = filler_batch(1_000, 3, 2);
        assert_eq!(batch_size(&batch), Ok(Some(batch.len())));
        assert_eq!(batch_size(&batch[..BATCH_LENGTH_PREFIX - 1]), Ok(None));
        assert_eq!(peek_next_offset(&batch[..LAST_OFFSET_DELTA.end()]), Some(3));
        assert_eq!(
            peek_next_offset(&batch[..LAST_OFFSET_DELTA.end() - 1]),
            None
        );
        assert!(!peek_compressed(&batch));
        let mut negative = batch.clone();
        BATCH_LENGTH.write(&mut negative, -5);
        assert_eq!(batch_size(&negative), Err(BatchError::NegativeLength(-5)));
    }

    #[test]
    fn next_offset_saturates_instead_of_overflowing() {
        let mut batch = filler_batch(1_000, 2, 2);
        BASE_OFFSET.write(&mut batch, i64::MAX);
        assert_eq!(peek_next_offset(&batch), Some(i64::MAX));
        assert_eq!(BatchHeader::parse(&batch).unwrap().next_offset(), i64::MAX);
    }

    #[test]
    fn check_gives_each_corruption_its_own_error() {
        let good = filler_batch(1_000, 2, 2);
        assert_eq!(check(&good).unwrap().records_count, 2);
        assert!(matches!(
            check(&good[..30]),
            Err(BatchError::TooShort { .. })
        ));
        let mut b = good.clone();
        b[BATCH_LENGTH.end() - 1] ^= 1;
        assert!(matches!(check(&b), Err(BatchError::LengthMismatch { .. })));
        let mut b = good.clone();
        MAGIC.write(&mut b, 1);
        assert_eq!(check(&b), Err(BatchError::BadMagic(1)));
        let mut b = good.clone();
        *b.last_mut().unwrap() ^= 0x40;
        assert!(matches!(check(&b), Err(BatchError::CrcMismatch { .. })));
        let mut b = good.clone();
        RECORDS_COUNT.write(&mut b, -1);
        write_crc(&mut b);
        assert!(matches!(
            check(&b),
            Err(BatchError::RecordCountMismatch { .. })
        ));
        let mut b = good;
        ATTRIBUTES.write(&mut b, 5);
        write_crc(&mut b);
        assert_eq!(check(&b), Err(BatchError::UnsupportedCompression(5)));
    }

    #[test]
    fn set_producer_marks_the_batch_and_keeps_its_crc_valid() {
        let mut batch = filler_batch(1_000, 1, 2);
        set_producer(&mut batch, 7, 3, 42);
        let header = check(&batch).unwrap();
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (7, 3, 42)
        );
    }

    #[test]
    fn the_declared_length_counts_the_bytes_after_the_prefix() {
        assert_eq!(batch_length_of(61), Some(49));
        assert_eq!(batch_length_of(11), None);
        assert_eq!(
            batch_length_of(BATCH_LENGTH_PREFIX + i32::MAX as usize + 1),
            None
        );
        let batch = filler_batch(1_000, 1, 2);
        let header = check(&batch).unwrap();
        assert_eq!(batch_length_of(batch.len()), Some(header.batch_length));
        assert_eq!(header.total_len(), batch.len() as u64);
    }
}
