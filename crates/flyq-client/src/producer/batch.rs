//! The producer's batch writer: records are encoded straight into a per-partition buffer as
//! they are sent, behind room left for the 61-byte batch header; closing the batch fills that
//! header in place (or, with compression, compresses the records behind a new one); sealing
//! writes the producer id, epoch and base sequence and the CRC-32C. Record framing and the
//! header layout are `flyq_protocol`'s: this module only decides when and where to write.

use bytes::{BufMut, Bytes, BytesMut};
use flyq_protocol::header::{BatchHeader, batch_length_of, set_producer};
use flyq_protocol::layout::BATCH_HEADER_LEN;
use flyq_protocol::record::encode_record;
use flyq_protocol::{Compression, Header};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

use crate::error::{Error, Result};

/// An open batch: uncompressed records, appended in place after [`BATCH_HEADER_LEN`] bytes kept
/// for the header, so an uncompressed batch is sent from the buffer it was written into.
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
        let mut buf = BytesMut::with_capacity(capacity.max(BATCH_HEADER_LEN));
        buf.put_bytes(0, BATCH_HEADER_LEN);
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
        let timestamp_delta = timestamp.wrapping_sub(self.base_timestamp);
        encode_record(&mut self.buf, index, timestamp_delta, key, value, headers);
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        index
    }

    /// Fills in the header, compressing the records behind it first if asked; producer fields
    /// and CRC are written by [`seal`]. Uncompressed, the buffer is used as it is: no copy.
    pub(crate) fn close(mut self, compression: Compression) -> Result<BytesMut> {
        let mut out = if compression == Compression::None {
            std::mem::take(&mut self.buf)
        } else {
            let mut out = BytesMut::with_capacity(self.buf.len());
            out.put_bytes(0, BATCH_HEADER_LEN);
            self.compress_into(&mut out, compression)?;
            out
        };
        let batch_length = batch_length_of(out.len()).ok_or(Error::RecordTooLarge {
            size: out.len(),
            limit: i32::MAX as usize,
        })?;
        let header = BatchHeader {
            batch_length,
            ..BatchHeader::unsealed(
                compression,
                self.count,
                self.base_timestamp,
                self.max_timestamp,
            )
        };
        header.write(&mut out);
        Ok(out)
    }

    fn compress_into(&self, out: &mut BytesMut, compression: Compression) -> Result<()> {
        let raw = &self.buf[BATCH_HEADER_LEN..];
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
    set_producer(&mut batch, producer_id, epoch, base_sequence);
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
        for c in Compression::ALL {
            round_trip(c);
        }
    }
}
