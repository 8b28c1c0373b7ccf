//! Kafka RecordBatch v2: the header fields the log needs, and validation before append.
//!
//! The log stores batches exactly as the producer sent them. It only reads the fixed 61-byte
//! header, verifies the CRC-32C, and rewrites the two fields that sit *outside* the CRC: the
//! base offset (bytes 0..8) and the partition leader epoch (bytes 12..16).
//!
//! ```text
//! offset  size  field                    covered by CRC
//!      0     8  base_offset              no  (assigned by the log)
//!      8     4  batch_length             no  (bytes after this field)
//!     12     4  partition_leader_epoch   no  (assigned by the log)
//!     16     1  magic (= 2)              no
//!     17     4  crc (CRC-32C)            no
//!     21     2  attributes               yes (bits 0-2 compression, 3 timestamp type,
//!                                             4 transactional, 5 control)
//!     23     4  last_offset_delta        yes
//!     27     8  base_timestamp           yes
//!     35     8  max_timestamp            yes
//!     43     8  producer_id              yes
//!     51     2  producer_epoch           yes
//!     53     4  base_sequence            yes
//!     57     4  records_count            yes
//!     61     -  records                  yes
//! ```

use thiserror::Error;

/// Size of the fixed RecordBatch v2 header.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before (and including) the `batch_length` field: the part not counted by it.
pub const BATCH_LENGTH_PREFIX: usize = 12;
/// The only batch format the log stores.
pub const MAGIC_V2: i8 = 2;
/// The largest batch the log accepts or reads back, whatever `max.message.bytes` says: a
/// length field read from disk never sizes an allocation beyond this.
pub const MAX_BATCH_BYTES: usize = 256 << 20;

const CRC_START: usize = 21;

/// Compression codec of a batch (attribute bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Records stored as they are.
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing, as the Java client writes it).
    Snappy,
    /// LZ4 frame.
    Lz4,
    /// Zstandard.
    Zstd,
}

/// Why a batch was refused. Each maps to one Kafka error code in the server.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// Fewer bytes than a batch header.
    #[error("batch too short: {len} bytes, a RecordBatch v2 header is {BATCH_HEADER_LEN}")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
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
    /// The batch is larger than the topic's `max.message.bytes`.
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge {
        /// Size of the batch.
        size: usize,
        /// Configured limit.
        max: usize,
    },
}

/// A read-only view of a RecordBatch v2 header. Construct with [`BatchHeader::parse`] (no
/// checks beyond length) or [`validate`] (full checks).
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

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Reads the header fields from the first [`BATCH_HEADER_LEN`] bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, BatchError> {
        if bytes.len() < BATCH_HEADER_LEN {
            return Err(BatchError::TooShort { len: bytes.len() });
        }
        Ok(Self {
            base_offset: be_i64(bytes, 0),
            batch_length: be_i32(bytes, 8),
            partition_leader_epoch: be_i32(bytes, 12),
            magic: bytes[16] as i8,
            crc: be_i32(bytes, 17) as u32,
            attributes: be_i16(bytes, 21),
            last_offset_delta: be_i32(bytes, 23),
            base_timestamp: be_i64(bytes, 27),
            max_timestamp: be_i64(bytes, 35),
            producer_id: be_i64(bytes, 43),
            producer_epoch: be_i16(bytes, 51),
            base_sequence: be_i32(bytes, 53),
            records_count: be_i32(bytes, 57),
        })
    }

    /// Total size of the batch on disk, prefix included.
    pub fn total_len(&self) -> u64 {
        BATCH_LENGTH_PREFIX as u64 + self.batch_length.max(0) as u64
    }

    /// Offset of the last record. (Saturating: `base_offset` is not covered by the CRC, so a
    /// damaged one read from disk must not overflow.)
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Offset the next batch will start at.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Compression codec, or the unknown codec number.
    pub fn compression(&self) -> Result<Compression, BatchError> {
        match self.attributes & 0x07 {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(BatchError::UnsupportedCompression(other as u8)),
        }
    }

    /// Whether this is a transaction control batch (commit/abort marker).
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

/// Reads the total length of the batch starting at `bytes` from its 12-byte prefix, if present.
pub fn peek_total_len(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < BATCH_LENGTH_PREFIX {
        return None;
    }
    let len = be_i32(bytes, 8);
    (len >= 0).then(|| BATCH_LENGTH_PREFIX as u64 + len as u64)
}

/// The CRC-32C of a batch as the header defines it (attributes to the end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START.min(batch.len())..])
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

/// Everything [`check`] does, plus what a producer's batch must satisfy before it is appended:
/// the size limit, `records_count == last_offset_delta + 1` (a fresh batch has no gaps), and
/// for uncompressed batches, that the records section frames exactly `records_count` records.
pub fn validate(bytes: &[u8], max_batch_bytes: usize) -> Result<BatchHeader, BatchError> {
    if bytes.len() > max_batch_bytes {
        return Err(BatchError::TooLarge {
            size: bytes.len(),
            max: max_batch_bytes,
        });
    }
    let header = check(bytes)?;
    if i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1 {
        return Err(BatchError::RecordCountMismatch {
            count: header.records_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    if header.compression()? == Compression::None {
        check_record_framing(&bytes[BATCH_HEADER_LEN..], header.records_count)?;
    }
    Ok(header)
}

/// One record of an uncompressed batch, as [`records`] yields it (headers are not parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// `offset_delta` field of the record.
    pub offset_delta: i32,
    /// `timestamp_delta` field of the record.
    pub timestamp_delta: i64,
    /// The key, `None` if null.
    pub key: Option<&'a [u8]>,
    /// The value, `None` if null (a tombstone).
    pub value: Option<&'a [u8]>,
}

/// Walks the length-prefixed records of an uncompressed records section. Stops (with an error
/// item) at the first malformed one.
pub fn records(section: &[u8]) -> impl Iterator<Item = Result<Record<'_>, BatchError>> + '_ {
    let mut rest = section;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let item = next_record(&mut rest);
        if item.is_err() {
            rest = &[];
        }
        Some(item)
    })
}

fn next_record<'a>(rest: &mut &'a [u8]) -> Result<Record<'a>, BatchError> {
    let len = read_varint(rest).ok_or(BatchError::MalformedRecords("bad record length"))?;
    let len = usize::try_from(len).map_err(|_| BatchError::MalformedRecords("negative length"))?;
    if len > rest.len() {
        return Err(BatchError::MalformedRecords("record longer than the batch"));
    }
    let (mut body, tail) = rest.split_at(len);
    *rest = tail;
    if body.is_empty() {
        return Err(BatchError::MalformedRecords("empty record"));
    }
    body = &body[1..]; // attributes
    let timestamp_delta =
        read_varint(&mut body).ok_or(BatchError::MalformedRecords("bad timestamp delta"))?;
    let offset_delta = read_varint(&mut body)
        .and_then(|d| i32::try_from(d).ok())
        .ok_or(BatchError::MalformedRecords("bad offset delta"))?;
    let key = read_bytes(&mut body).ok_or(BatchError::MalformedRecords("bad key"))?;
    let value = read_bytes(&mut body).ok_or(BatchError::MalformedRecords("bad value"))?;
    Ok(Record {
        offset_delta,
        timestamp_delta,
        key,
        value,
    })
}

/// Reads a varint-length-prefixed byte string (-1 is null).
fn read_bytes<'a>(buf: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    let len = read_varint(buf)?;
    if len == -1 {
        return Some(None);
    }
    let len = usize::try_from(len).ok().filter(|l| *l <= buf.len())?;
    let (bytes, rest) = buf.split_at(len);
    *buf = rest;
    Some(Some(bytes))
}

fn check_record_framing(section: &[u8], count: i32) -> Result<(), BatchError> {
    let mut seen: i64 = 0;
    for record in records(section) {
        let record = record?;
        if i64::from(record.offset_delta) != seen {
            return Err(BatchError::MalformedRecords(
                "offset deltas not consecutive",
            ));
        }
        seen += 1;
        if seen > i64::from(count) {
            return Err(BatchError::MalformedRecords(
                "more records than records_count",
            ));
        }
    }
    if seen != i64::from(count) {
        return Err(BatchError::MalformedRecords(
            "fewer records than records_count",
        ));
    }
    Ok(())
}

/// Reads a zig-zag varint (at most 10 bytes, as Kafka's varlong); `None` if malformed.
fn read_varint(buf: &mut &[u8]) -> Option<i64> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *buf = &buf[i + 1..];
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

/// Rewrites the log-assigned fields of a batch header in place.
pub fn write_log_fields(prefix: &mut [u8; 16], base_offset: i64, leader_epoch: i32) {
    prefix[0..8].copy_from_slice(&base_offset.to_be_bytes());
    prefix[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Attribute bit 3: the batch's timestamps are the broker's append time.
pub const LOG_APPEND_TIME_FLAG: i16 = 0x08;
const ATTRIBUTES_AT: usize = 21;
const MAX_TIMESTAMP_AT: usize = 35;
const CRC_AT: usize = 17;

/// Marks a whole batch as carrying the broker's append time (`message.timestamp.type =
/// LogAppendTime`): sets attribute bit 3 and the max timestamp, and recomputes the CRC. Kafka
/// clients then read every record's timestamp as `append_time_ms`. Does nothing to a buffer
/// shorter than a header.
pub fn stamp_log_append_time(batch: &mut [u8], append_time_ms: i64) {
    if batch.len() < BATCH_HEADER_LEN {
        return;
    }
    let attributes = be_i16(batch, ATTRIBUTES_AT) | LOG_APPEND_TIME_FLAG;
    batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&append_time_ms.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{RecordSpec, build_batch};
    use proptest::prelude::*;

    #[test]
    fn stamping_the_append_time_keeps_the_batch_valid() {
        let mut batch = simple(3);
        stamp_log_append_time(&mut batch, 1_700_000_000_123);
        let header = check(&batch).unwrap();
        assert_eq!(header.max_timestamp, 1_700_000_000_123);
        assert_eq!(
            header.attributes & LOG_APPEND_TIME_FLAG,
            LOG_APPEND_TIME_FLAG
        );
        assert_eq!(header.compression().unwrap(), Compression::None);
    }

    fn simple(records: usize) -> Vec<u8> {
        let specs: Vec<RecordSpec> = (0..records)
            .map(|i| RecordSpec::value(format!("v{i}").into_bytes()))
            .collect();
        build_batch(0, 1_000, &specs)
    }

    #[test]
    fn valid_batch_passes_and_reports_header() {
        let b = simple(3);
        let h = validate(&b, 1 << 20).unwrap();
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.total_len(), b.len() as u64);
        assert_eq!(h.compression().unwrap(), Compression::None);
    }

    #[test]
    fn each_corruption_gets_its_own_error() {
        let good = simple(2);
        assert!(matches!(
            validate(&good[..30], 1 << 20),
            Err(BatchError::TooShort { .. })
        ));
        let mut b = good.clone();
        b[11] ^= 1;
        assert!(matches!(
            validate(&b, 1 << 20),
            Err(BatchError::LengthMismatch { .. })
        ));
        let mut b = good.clone();
        b[16] = 1;
        assert_eq!(validate(&b, 1 << 20), Err(BatchError::BadMagic(1)));
        let mut b = good.clone();
        *b.last_mut().unwrap() ^= 0x40;
        assert!(matches!(
            validate(&b, 1 << 20),
            Err(BatchError::CrcMismatch { .. })
        ));
        assert!(matches!(
            validate(&good, 10),
            Err(BatchError::TooLarge { size: _, max: 10 })
        ));
    }

    fn recrc(b: &mut [u8]) {
        let crc = compute_crc(b);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
    }

    #[test]
    fn count_and_delta_must_agree() {
        let mut b = simple(2);
        b[57..61].copy_from_slice(&5i32.to_be_bytes());
        recrc(&mut b);
        assert!(matches!(
            validate(&b, 1 << 20),
            Err(BatchError::RecordCountMismatch { .. })
        ));
        let mut b = simple(2);
        b[57..61].copy_from_slice(&(-1i32).to_be_bytes());
        b[23..27].copy_from_slice(&(-2i32).to_be_bytes());
        recrc(&mut b);
        assert!(matches!(
            validate(&b, 1 << 20),
            Err(BatchError::RecordCountMismatch { .. })
        ));
    }

    #[test]
    fn record_framing_is_checked_for_uncompressed_batches() {
        // Claim 3 records while only 2 are framed.
        let mut b = simple(2);
        b[57..61].copy_from_slice(&3i32.to_be_bytes());
        b[23..27].copy_from_slice(&2i32.to_be_bytes());
        recrc(&mut b);
        assert!(matches!(
            validate(&b, 1 << 20),
            Err(BatchError::MalformedRecords(_))
        ));
        // A record length pointing past the end of the batch.
        let mut b = simple(1);
        b[BATCH_HEADER_LEN] = 0x7e; // zig-zag 63: longer than what follows
        recrc(&mut b);
        assert!(matches!(
            validate(&b, 1 << 20),
            Err(BatchError::MalformedRecords(_))
        ));
    }

    #[test]
    fn records_yield_keys_and_values_and_nulls() {
        let specs = vec![
            RecordSpec {
                key: Some(b"k".to_vec()),
                ..RecordSpec::value(b"v".to_vec())
            },
            RecordSpec {
                timestamp_delta: 7,
                ..RecordSpec::default()
            },
        ];
        let b = build_batch(0, 0, &specs);
        let recs: Vec<Record<'_>> = records(&b[BATCH_HEADER_LEN..])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            (recs[0].key, recs[0].value),
            (Some(&b"k"[..]), Some(&b"v"[..]))
        );
        assert_eq!(
            (recs[1].key, recs[1].value, recs[1].timestamp_delta),
            (None, None, 7)
        );
        assert_eq!(recs[1].offset_delta, 1);
    }

    #[test]
    fn unknown_codec_is_unsupported_compression() {
        let mut b = simple(1);
        b[22] |= 0x05;
        recrc(&mut b);
        assert_eq!(
            validate(&b, 1 << 20),
            Err(BatchError::UnsupportedCompression(5))
        );
    }

    #[test]
    fn compressed_batches_are_not_unpacked() {
        // Gzip attribute with opaque payload: validated by CRC and header only.
        let mut b = simple(2);
        b[22] |= 0x01;
        let len = b.len();
        b[BATCH_HEADER_LEN..len].fill(0xAB);
        recrc(&mut b);
        assert_eq!(
            validate(&b, 1 << 20).unwrap().compression().unwrap(),
            Compression::Gzip
        );
    }

    #[test]
    fn varint_longer_than_ten_bytes_is_rejected() {
        let mut buf: &[u8] = &[0xff; 11];
        assert_eq!(read_varint(&mut buf), None);
    }

    proptest! {
        #[test]
        fn varints_round_trip(v in any::<i64>()) {
            let mut zz = ((v << 1) ^ (v >> 63)) as u64;
            let mut out = Vec::new();
            loop {
                let byte = (zz & 0x7f) as u8;
                zz >>= 7;
                if zz == 0 { out.push(byte); break; }
                out.push(byte | 0x80);
            }
            let mut slice: &[u8] = &out;
            prop_assert_eq!(read_varint(&mut slice), Some(v));
            prop_assert!(slice.is_empty());
        }

        #[test]
        fn any_built_batch_validates(values in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..64), 1..20)) {
            let specs: Vec<RecordSpec> = values.into_iter().map(RecordSpec::value).collect();
            let b = build_batch(7, 5, &specs);
            let h = validate(&b, 1 << 20).unwrap();
            prop_assert_eq!(h.records_count as usize, specs.len());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = validate(&bytes, 1 << 20);
        }
    }
}
