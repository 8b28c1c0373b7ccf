//! The RecordBatch v2 header layout: where each field sits, how wide it is, what the attribute
//! bits mean and which bytes the CRC covers. Every reader and writer of batch headers in FlyQ
//! (the log, the broker, the SDK's producer and consumer, the HTTP browser) goes through
//! these definitions; nothing else names a header byte offset.
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

use std::marker::PhantomData;

/// A big-endian integer a header field holds.
pub trait FieldValue: Copy {
    /// Bytes the value takes in the header.
    const WIDTH: usize;
    /// The value in the first [`Self::WIDTH`] bytes of `bytes`, if there are that many.
    fn read_be(bytes: &[u8]) -> Option<Self>;
    /// Writes the value into the first [`Self::WIDTH`] bytes of `out`.
    ///
    /// # Panics
    /// If `out` is shorter than [`Self::WIDTH`].
    fn write_be(self, out: &mut [u8]);
}

macro_rules! field_value {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();

            #[inline]
            fn read_be(bytes: &[u8]) -> Option<Self> {
                bytes.first_chunk().map(|b| <$t>::from_be_bytes(*b))
            }

            #[inline]
            fn write_be(self, out: &mut [u8]) {
                out[..Self::WIDTH].copy_from_slice(&self.to_be_bytes());
            }
        }
    )*};
}

field_value!(i8, i16, i32, i64, u32);

/// One fixed-width header field: where it starts, and (by its type) how wide it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<T> {
    at: usize,
    value: PhantomData<T>,
}

impl<T: FieldValue> Field<T> {
    /// The first field.
    const fn first() -> Self {
        Self {
            at: 0,
            value: PhantomData,
        }
    }

    /// The field that starts where `previous` ends: the header is its fields back to back,
    /// so each offset follows from the widths before it.
    const fn after<U: FieldValue>(previous: Field<U>) -> Self {
        Self {
            at: previous.end(),
            value: PhantomData,
        }
    }

    /// Where the field starts.
    pub const fn at(&self) -> usize {
        self.at
    }

    /// Where the field ends (exclusive).
    pub const fn end(&self) -> usize {
        self.at + T::WIDTH
    }

    /// The field's value in `batch`, or `None` if `batch` ends before the field does (a
    /// partly arrived header can be read as far as it goes).
    #[inline]
    pub fn read(&self, batch: &[u8]) -> Option<T> {
        batch.get(self.at..).and_then(T::read_be)
    }

    /// Writes the field into `batch`.
    ///
    /// # Panics
    /// If `batch` ends before the field does: writers size their header buffers first.
    #[inline]
    pub fn write(&self, batch: &mut [u8], value: T) {
        value.write_be(&mut batch[self.at..]);
    }
}

/// Offset of the batch's first record (assigned by the log; a producer sends 0).
pub const BASE_OFFSET: Field<i64> = Field::first();
/// Bytes of the batch after this field.
pub const BATCH_LENGTH: Field<i32> = Field::after(BASE_OFFSET);
/// Leader epoch under which the batch was appended (assigned by the log; -1 from producers).
pub const PARTITION_LEADER_EPOCH: Field<i32> = Field::after(BATCH_LENGTH);
/// Format version: [`MAGIC_V2`].
pub const MAGIC: Field<i8> = Field::after(PARTITION_LEADER_EPOCH);
/// CRC-32C of the bytes from [`CRC_COVERS_FROM`] to the end of the batch.
pub const CRC: Field<u32> = Field::after(MAGIC);
/// Attribute bits: [`COMPRESSION_CODEC_MASK`], [`CONTROL_FLAG`].
pub const ATTRIBUTES: Field<i16> = Field::after(CRC);
/// Offset of the last record minus the base offset.
pub const LAST_OFFSET_DELTA: Field<i32> = Field::after(ATTRIBUTES);
/// Timestamp of the first record.
pub const BASE_TIMESTAMP: Field<i64> = Field::after(LAST_OFFSET_DELTA);
/// Largest timestamp in the batch.
pub const MAX_TIMESTAMP: Field<i64> = Field::after(BASE_TIMESTAMP);
/// Idempotent or transactional producer id, or -1.
pub const PRODUCER_ID: Field<i64> = Field::after(MAX_TIMESTAMP);
/// Producer epoch, or -1.
pub const PRODUCER_EPOCH: Field<i16> = Field::after(PRODUCER_ID);
/// Sequence number of the first record, or -1.
pub const BASE_SEQUENCE: Field<i32> = Field::after(PRODUCER_EPOCH);
/// Number of records.
pub const RECORDS_COUNT: Field<i32> = Field::after(BASE_SEQUENCE);

/// Size of the fixed header: the records start here.
pub const BATCH_HEADER_LEN: usize = RECORDS_COUNT.end();
/// Bytes up to and including `batch_length`: the part its value does not count.
pub const BATCH_LENGTH_PREFIX: usize = BATCH_LENGTH.end();
/// The CRC covers the batch from the attributes to its end, so the log can assign the base
/// offset and leader epoch (before the CRC) without recomputing it.
pub const CRC_COVERS_FROM: usize = ATTRIBUTES.at();
/// The only batch format FlyQ reads and writes.
pub const MAGIC_V2: i8 = 2;

/// Attribute bits 0-2: the compression codec.
pub const COMPRESSION_CODEC_MASK: i16 = 0x07;
/// Attribute bit 3: the batch's timestamps are the broker's append time (LogAppendTime).
pub const LOG_APPEND_TIME_FLAG: i16 = 0x08;
/// Attribute bit 5: a control batch (transaction markers, not user records).
pub const CONTROL_FLAG: i16 = 0x20;

/// Compression codec of a batch (attribute bits 0-2; the discriminant is the codec number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Records stored as they are.
    #[default]
    None = 0,
    /// gzip.
    Gzip = 1,
    /// Snappy (xerial framing, as the Java client writes it).
    Snappy = 2,
    /// LZ4 frames.
    Lz4 = 3,
    /// Zstandard.
    Zstd = 4,
}

impl Compression {
    /// Every codec Kafka defines.
    pub const ALL: [Self; 5] = [Self::None, Self::Gzip, Self::Snappy, Self::Lz4, Self::Zstd];

    /// The codec named by `attributes`, or `None` for a codec number Kafka does not define.
    pub fn from_attributes(attributes: i16) -> Option<Self> {
        let codec = attributes & COMPRESSION_CODEC_MASK;
        Self::ALL.into_iter().find(|c| c.attributes() == codec)
    }

    /// The codec's attribute bits.
    pub fn attributes(self) -> i16 {
        self as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_sit_where_kafka_puts_them() {
        // Kafka's DefaultRecordBatch offsets, written out rather than derived.
        let starts_and_ends = [
            (BASE_OFFSET.at(), BASE_OFFSET.end(), 0, 8),
            (BATCH_LENGTH.at(), BATCH_LENGTH.end(), 8, 12),
            (
                PARTITION_LEADER_EPOCH.at(),
                PARTITION_LEADER_EPOCH.end(),
                12,
                16,
            ),
            (MAGIC.at(), MAGIC.end(), 16, 17),
            (CRC.at(), CRC.end(), 17, 21),
            (ATTRIBUTES.at(), ATTRIBUTES.end(), 21, 23),
            (LAST_OFFSET_DELTA.at(), LAST_OFFSET_DELTA.end(), 23, 27),
            (BASE_TIMESTAMP.at(), BASE_TIMESTAMP.end(), 27, 35),
            (MAX_TIMESTAMP.at(), MAX_TIMESTAMP.end(), 35, 43),
            (PRODUCER_ID.at(), PRODUCER_ID.end(), 43, 51),
            (PRODUCER_EPOCH.at(), PRODUCER_EPOCH.end(), 51, 53),
            (BASE_SEQUENCE.at(), BASE_SEQUENCE.end(), 53, 57),
            (RECORDS_COUNT.at(), RECORDS_COUNT.end(), 57, 61),
        ];
        for (at, end, kafka_at, kafka_end) in starts_and_ends {
            assert_eq!((at, end), (kafka_at, kafka_end));
        }
        assert_eq!(
            (BATCH_HEADER_LEN, BATCH_LENGTH_PREFIX, CRC_COVERS_FROM),
            (61, 12, 21)
        );
    }

    #[test]
    fn a_field_reads_back_what_was_written_and_nothing_past_the_end() {
        let mut header = [0u8; BATCH_HEADER_LEN];
        PRODUCER_EPOCH.write(&mut header, -2);
        assert_eq!(&header[51..53], &[0xff, 0xfe]);
        assert_eq!(PRODUCER_EPOCH.read(&header), Some(-2));
        assert_eq!(PRODUCER_EPOCH.read(&header[..52]), None);
        assert_eq!(RECORDS_COUNT.read(&header[..60]), None);
    }

    #[test]
    fn codecs_round_trip_through_their_attribute_bits() {
        for c in Compression::ALL {
            // Other attribute bits (timestamp type, control) do not change the codec.
            assert_eq!(
                Compression::from_attributes(c.attributes() | CONTROL_FLAG),
                Some(c)
            );
        }
        assert_eq!(Compression::from_attributes(5), None);
    }
}
