//! RecordBatch v2 encoding: records are written straight into a per-partition buffer as they
//! are sent, behind room left for the 61-byte batch header; closing the batch fills that header
//! in place (or, with compression, compresses the records behind a new one); sealing writes the
//! producer id, epoch and base sequence and the CRC-32C.
//!
//! Layout (Kafka's DefaultRecordBatch): baseOffset i64 | batchLength i32 |
//! partitionLeaderEpoch i32 | magic i8 | crc u32 | attributes i16 | lastOffsetDelta i32 |
//! baseTimestamp i64 | maxTimestamp i64 | producerId i64 | producerEpoch i16 |
//! baseSequence i32 | recordCount i32 | records. The CRC covers attributes to the end.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

use crate::error::{Error, Result};
use crate::types::Header;

/// Bytes before the first record.
pub(crate) const HEADER_SIZE: usize = 61;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const PRODUCER_ID_OFFSET: usize = 43;

/// Record compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing, as the Java client writes it).
    Snappy,
    /// LZ4 frames.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    fn attribute(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn uvarint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Length prefix of an optional byte string: -1 for null.
fn bytes_len(b: Option<&[u8]>) -> i32 {
    b.map_or(-1, |b| i32::try_from(b.len()).unwrap_or(i32::MAX))
}

fn sized_len(b: Option<&[u8]>) -> usize {
    uvarint_len(u64::from(zigzag32(bytes_len(b)))) + b.map_or(0, <[u8]>::len)
}

fn put_sized(buf: &mut BytesMut, b: Option<&[u8]>) {
    put_uvarint(buf, u64::from(zigzag32(bytes_len(b))));
    if let Some(b) = b {
        buf.put_slice(b);
    }
}

/// Upper bound of a record's encoded size, for memory accounting before it is encoded.
pub(crate) fn record_size_bound(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    // length(5) + attributes(1) + timestamp delta(10) + offset delta(5) + header count(5).
    let fixed = 26;
    let headers: usize = headers
        .iter()
        .map(|h| sized_len(Some(h.key.as_bytes())) + sized_len(h.value.as_deref()))
        .sum();
    fixed + sized_len(key) + sized_len(value) + headers
}

/// An open batch: uncompressed records, appended in place after [`HEADER_SIZE`] bytes kept for
/// the header, so an uncompressed batch is sent from the buffer it was written into.
#[derive(Debug)]
pub(crate) struct BatchBuilder {
    buf: BytesMut,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// A builder whose buffer holds `capacity` bytes, header included, before it grows.
    pub(crate) fn new(capacity: usize, first_timestamp: i64) -> Self {
        let mut buf = BytesMut::with_capacity(capacity.max(HEADER_SIZE));
        buf.put_bytes(0, HEADER_SIZE);
        Self {
            buf,
            count: 0,
            base_timestamp: first_timestamp,
            max_timestamp: first_timestamp,
        }
    }

    /// Encoded bytes so far, header included (before compression).
    pub(crate) fn size(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn count(&self) -> i32 {
        self.count
    }

    /// Appends a record; returns its index in the batch.
    pub(crate) fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> i32 {
        let index = self.count;
        let ts_delta = zigzag64(timestamp.wrapping_sub(self.base_timestamp));
        let offset_delta = u64::from(zigzag32(index));
        let header_count = u64::from(zigzag32(i32::try_from(headers.len()).unwrap_or(i32::MAX)));
        let headers_len: usize = headers
            .iter()
            .map(|h| sized_len(Some(h.key.as_bytes())) + sized_len(h.value.as_deref()))
            .sum();
        let body = 1
            + uvarint_len(ts_delta)
            + uvarint_len(offset_delta)
            + sized_len(key)
            + sized_len(value)
            + uvarint_len(header_count)
            + headers_len;
        let r = &mut self.buf;
        put_uvarint(
            r,
            u64::from(zigzag32(i32::try_from(body).unwrap_or(i32::MAX))),
        );
        r.put_u8(0);
        put_uvarint(r, ts_delta);
        put_uvarint(r, offset_delta);
        put_sized(r, key);
        put_sized(r, value);
        put_uvarint(r, header_count);
        for h in headers {
            put_sized(r, Some(h.key.as_bytes()));
            put_sized(r, h.value.as_deref());
        }
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        index
    }

    /// Writes the batch header (with `compression`'s attribute) at the start of `out`.
    fn write_header(&self, out: &mut [u8], compression: Compression) {
        let mut h = &mut out[..HEADER_SIZE];
        h.put_i64(0);
        h.put_i32(0); // batch length, at the end of `close`
        h.put_i32(-1); // partition leader epoch: the broker sets it
        h.put_i8(2);
        h.put_u32(0); // crc, at seal
        h.put_i16(compression.attribute());
        h.put_i32(self.count - 1);
        h.put_i64(self.base_timestamp);
        h.put_i64(self.max_timestamp);
        h.put_i64(-1);
        h.put_i16(-1);
        h.put_i32(-1);
        h.put_i32(self.count);
    }

    /// Fills in the header, compressing the records behind it first if asked; producer fields
    /// and CRC are written by [`seal`]. Uncompressed, the buffer is used as it is: no copy.
    pub(crate) fn close(mut self, compression: Compression) -> Result<BytesMut> {
        let mut out = if compression == Compression::None {
            let mut out = std::mem::take(&mut self.buf);
            self.write_header(&mut out, compression);
            out
        } else {
            let mut out = BytesMut::with_capacity(self.buf.len());
            out.put_bytes(0, HEADER_SIZE);
            self.write_header(&mut out, compression);
            self.compress_into(&mut out, compression)?;
            out
        };
        let batch_len = i32::try_from(out.len() - 12).map_err(|_| Error::RecordTooLarge {
            size: out.len(),
            limit: i32::MAX as usize,
        })?;
        out[8..12].copy_from_slice(&batch_len.to_be_bytes());
        Ok(out)
    }

    fn compress_into(&self, out: &mut BytesMut, compression: Compression) -> Result<()> {
        let raw = &self.buf[HEADER_SIZE..];
        let copy = |b: &mut BytesMut| {
            b.put_slice(raw);
            Ok(())
        };
        let compressed = match compression {
            Compression::None => copy(out),
            Compression::Gzip => Gzip::compress(out, copy),
            Compression::Snappy => Snappy::compress(out, copy),
            Compression::Lz4 => Lz4::compress(out, copy),
            Compression::Zstd => Zstd::compress(out, copy),
        };
        compressed.map_err(|e| Error::Protocol {
            addr: String::new(),
            what: format!("{compression:?} compression failed: {e}"),
        })
    }
}

/// Writes the idempotence fields and the CRC; `batch` comes from [`BatchBuilder::close`].
pub(crate) fn seal(mut batch: BytesMut, producer_id: i64, epoch: i16, base_sequence: i32) -> Bytes {
    let p = PRODUCER_ID_OFFSET;
    batch[p..p + 8].copy_from_slice(&producer_id.to_be_bytes());
    batch[p + 8..p + 10].copy_from_slice(&epoch.to_be_bytes());
    batch[p + 10..p + 14].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    batch.freeze()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    fn round_trip(compression: Compression) {
        let mut b = BatchBuilder::new(1024, 1_000);
        let headers = [
            Header::new("h", "v"),
            Header {
                key: "n".into(),
                value: None,
            },
        ];
        assert_eq!(b.append(1_000, Some(b"k0"), Some(b"v0"), &headers), 0);
        assert_eq!(b.append(999, None, Some(b""), &[]), 1);
        assert_eq!(b.append(1_005, Some(b"k2"), None, &[]), 2);
        let mut bytes = seal(b.close(compression).unwrap(), 7, 3, 42);
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        assert_eq!(set.records.len(), 3);
        let r = &set.records;
        assert_eq!(
            (r[0].producer_id, r[0].producer_epoch, r[0].sequence),
            (7, 3, 42)
        );
        assert_eq!(r[2].sequence, 44);
        assert_eq!((r[0].offset, r[1].offset, r[2].offset), (0, 1, 2));
        assert_eq!(
            (r[0].timestamp, r[1].timestamp, r[2].timestamp),
            (1_000, 999, 1_005)
        );
        assert_eq!(r[0].key.as_deref(), Some(&b"k0"[..]));
        assert_eq!(r[1].key, None);
        assert_eq!(r[1].value.as_deref(), Some(&b""[..]));
        assert_eq!(r[2].value, None);
        assert_eq!(r[0].headers.len(), 2);
        let header = |k: &str| {
            r[0].headers
                .iter()
                .find(|(key, _)| key.as_str() == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("h"), Some(Some(bytes::Bytes::from_static(b"v"))));
        assert_eq!(header("n"), Some(None));
    }

    #[test]
    fn batches_round_trip_through_the_reference_decoder_with_every_codec() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            round_trip(c);
        }
    }

    #[test]
    fn size_bound_covers_the_encoded_record() {
        let headers = [Header::new("key", vec![0u8; 300])];
        let value = vec![1u8; 200];
        let mut b = BatchBuilder::new(0, 0);
        b.append(i64::MAX / 2, Some(b"k"), Some(&value), &headers);
        assert!(b.size() - HEADER_SIZE <= record_size_bound(Some(b"k"), Some(&value), &headers));
    }

    #[test]
    fn varint_lengths_match_encoding() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut buf = BytesMut::new();
            put_uvarint(&mut buf, v);
            assert_eq!(buf.len(), uvarint_len(v), "{v}");
        }
    }
}
