//! A hardened RecordBatch v2 decoder, for anything that decodes batches written by producers
//! it does not trust: the consumer, and the broker's HTTP message browser.
//!
//! kafka-protocol's own decoder inflates compressed batches without a limit and pre-allocates
//! for the record count in the batch header, which the producer chose: a small gzip bomb or a
//! forged count of 2^31-1 makes it allocate gigabytes, and a failed allocation aborts the
//! process. [`BatchDecoder`] inflates within a byte budget shared by the batches it decodes and
//! refuses record counts the inflated bytes cannot hold.

use std::cell::Cell;

use bytes::Bytes;
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};

use crate::codec::{CodecError, inflate};
use crate::header::BatchHeader;
use crate::layout;
use crate::record::MIN_RECORD_BYTES;

/// Why a batch could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The batch inflates to more than the budget left: decode it later with a new budget, or
    /// give up if a whole budget cannot hold it.
    #[error("the batch inflates to more than the {budget} bytes left to decode into")]
    OverBudget {
        /// The budget left when the batch was refused.
        budget: usize,
    },
    /// The batch is malformed, or claims more records than its bytes or the limit allow.
    #[error("{0}")]
    Invalid(String),
}

/// One decoded batch.
#[derive(Debug, Clone)]
pub struct DecodedBatch {
    /// The offset of the batch's first record.
    pub base_offset: i64,
    /// The offset after the batch's last record (base offset + last offset delta + 1), which
    /// is where reading continues even when the batch holds no records for the reader (a
    /// transaction marker, or records compacted away).
    pub next_offset: i64,
    /// Whether this is a control batch (transaction markers, not user records).
    pub control: bool,
    /// The records, in order.
    pub records: Vec<Record>,
}

/// Decodes record batches within limits; one decoder's budget is shared by every batch it
/// decodes, so it bounds the memory of a whole fetch response or browser page.
#[derive(Debug)]
pub struct BatchDecoder {
    budget: usize,
    max_records: usize,
}

impl BatchDecoder {
    /// A decoder that inflates at most `budget` bytes in all and refuses batches claiming more
    /// than `max_records` records.
    pub fn new(budget: usize, max_records: usize) -> Self {
        Self {
            budget,
            max_records,
        }
    }

    /// The inflation budget left.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Decodes the one whole batch `batch` holds, charging its decoded records section to the
    /// budget.
    pub fn decode(&mut self, batch: Bytes) -> Result<DecodedBatch, DecodeError> {
        let header = BatchHeader::parse(&batch).map_err(|_| {
            DecodeError::Invalid(format!(
                "batch of {} bytes is shorter than its header",
                batch.len()
            ))
        })?;
        let count = header.records_count;
        let count = usize::try_from(count)
            .map_err(|_| DecodeError::Invalid(format!("negative record count {count}")))?;
        if count > self.max_records {
            return Err(DecodeError::Invalid(format!(
                "batch claims {count} records, more than the {} allowed",
                self.max_records
            )));
        }
        // The closure must be `Fn`; the outcome of the budget check leaves through cells.
        let budget = Cell::new(self.budget);
        let over_budget = Cell::new(false);
        let inflate = |compressed: &mut Bytes, compression| {
            let inflated = match inflate(compressed.split_off(0), codec(compression), budget.get())
            {
                Ok(inflated) => inflated,
                Err(CodecError::OverBudget) => {
                    over_budget.set(true);
                    anyhow::bail!("over budget");
                }
                Err(CodecError::Invalid(what)) => anyhow::bail!(what),
            };
            // Checked here, before kafka-protocol pre-allocates for the count: the inflated
            // bytes must be able to hold that many records.
            if count.saturating_mul(MIN_RECORD_BYTES) > inflated.len() {
                anyhow::bail!("batch claims {count} records in {} bytes", inflated.len());
            }
            budget.set(budget.get().saturating_sub(inflated.len()));
            Ok(inflated)
        };
        let mut batch = batch;
        let decoded = RecordBatchDecoder::decode_with_custom_compression(&mut batch, Some(inflate));
        if over_budget.get() {
            return Err(DecodeError::OverBudget {
                budget: self.budget,
            });
        }
        let set = decoded.map_err(|e| DecodeError::Invalid(e.to_string()))?;
        self.budget = budget.get();
        Ok(DecodedBatch {
            base_offset: header.base_offset,
            next_offset: header.next_offset(),
            control: header.is_control(),
            records: set.records,
        })
    }
}

/// kafka-protocol's name for a codec, in this crate's terms.
fn codec(compression: Compression) -> layout::Compression {
    match compression {
        Compression::None => layout::Compression::None,
        Compression::Gzip => layout::Compression::Gzip,
        Compression::Snappy => layout::Compression::Snappy,
        Compression::Lz4 => layout::Compression::Lz4,
        Compression::Zstd => layout::Compression::Zstd,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::BytesMut;
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::records::{RecordBatchEncoder, RecordEncodeOptions, TimestampType};

    use super::*;
    use crate::header::write_crc;
    use crate::layout::{BASE_OFFSET, BASE_TIMESTAMP, RECORDS_COUNT};

    fn batch(compression: Compression, count: i64, value: &str) -> Bytes {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: 100 + i,
                sequence: i as i32,
                timestamp: 1_700_000_000_000,
                key: None,
                value: Some(Bytes::from(format!("{value} {i} ").repeat(50))),
                headers: IndexMap::new(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
        buf.freeze()
    }

    /// Overwrites the header's record count and re-signs the batch, as a forging producer would.
    fn forge_count(batch: &Bytes, count: i32) -> Bytes {
        let mut bytes = batch.to_vec();
        RECORDS_COUNT.write(&mut bytes, count);
        write_crc(&mut bytes);
        Bytes::from(bytes)
    }

    #[test]
    fn batches_in_every_codec_decode_within_the_budget() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let bytes = batch(compression, 100, "value");
            let mut decoder = BatchDecoder::new(1 << 20, 1000);
            let decoded = decoder.decode(bytes.clone()).unwrap();
            assert_eq!(decoded.records.len(), 100, "{compression:?}");
            assert_eq!((decoded.base_offset, decoded.next_offset), (100, 200));
            assert_eq!(
                decoded.records[99].value.as_deref(),
                Some("value 99 ".repeat(50).as_bytes())
            );
            assert!(decoder.budget() < 1 << 20, "{compression:?} used no budget");
            // A budget smaller than the batch inflates to refuses it. (Uncompressed records
            // are already in memory: nothing to inflate.)
            if compression != Compression::None {
                let err = BatchDecoder::new(1000, 1000).decode(bytes).unwrap_err();
                assert_eq!(err, DecodeError::OverBudget { budget: 1000 });
            }
        }
    }

    #[test]
    fn a_forged_record_count_is_refused_before_allocating() {
        for compression in [Compression::None, Compression::Gzip] {
            let forged = forge_count(&batch(compression, 2, "v"), i32::MAX);
            // Within the record limit, the count check against the bytes must catch it.
            let err = BatchDecoder::new(1 << 20, usize::MAX)
                .decode(forged.clone())
                .unwrap_err();
            assert!(err.to_string().contains("claims"), "{compression:?}: {err}");
            let err = BatchDecoder::new(1 << 20, 1000).decode(forged).unwrap_err();
            assert!(err.to_string().contains("claims"), "{compression:?}: {err}");
        }
    }

    #[test]
    fn the_budget_is_shared_by_the_batches_of_one_decoder() {
        let bytes = batch(Compression::Gzip, 100, "value");
        let one = BatchDecoder::new(1 << 20, 1000)
            .decode(bytes.clone())
            .unwrap();
        let size: usize = one.records.len() * 400;
        let mut decoder = BatchDecoder::new(size * 3 / 2, 1000);
        decoder.decode(bytes.clone()).unwrap();
        assert!(matches!(
            decoder.decode(bytes),
            Err(DecodeError::OverBudget { .. })
        ));
    }

    #[test]
    fn offsets_and_timestamps_near_the_limit_wrap_instead_of_panicking() {
        // Base offset and first timestamp are producer-chosen; the deltas are added to them.
        let mut bytes = batch(Compression::None, 2, "v").to_vec();
        BASE_OFFSET.write(&mut bytes, i64::MAX);
        BASE_TIMESTAMP.write(&mut bytes, i64::MAX);
        write_crc(&mut bytes);
        let decoded = BatchDecoder::new(1 << 20, 1000)
            .decode(Bytes::from(bytes))
            .unwrap();
        assert_eq!(decoded.records[1].offset, i64::MIN);
        assert_eq!(decoded.next_offset, i64::MAX);
    }
}
