//! Encodes uncompressed RecordBatch v2 bytes: for tests, benchmarks and tools that need a
//! valid batch without a Kafka client, and for the group coordinator's own records. The
//! broker never re-encodes what producers send.

use crate::header::{BatchHeader, batch_length_of, set_producer, write_crc};
use crate::layout::{BATCH_HEADER_LEN, Compression};
use crate::record::{Header, encode_record};

/// One record to encode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSpec {
    /// Record key; `None` encodes a null key.
    pub key: Option<Vec<u8>>,
    /// Record value; `None` encodes a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// Milliseconds after the batch's base timestamp.
    pub timestamp_delta: i64,
}

impl RecordSpec {
    /// A record with only a value.
    pub fn value(value: impl Into<Vec<u8>>) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::default()
        }
    }
}

/// Encodes `records` as one uncompressed batch with the given base offset and timestamp, no
/// producer id, and partition leader epoch -1 (as a producer sends it).
pub fn build_batch(base_offset: i64, base_timestamp: i64, records: &[RecordSpec]) -> Vec<u8> {
    let mut out = vec![0u8; BATCH_HEADER_LEN];
    for (delta, spec) in records.iter().enumerate() {
        encode_record(
            &mut out,
            i32::try_from(delta).unwrap_or(i32::MAX),
            spec.timestamp_delta,
            spec.key.as_deref(),
            spec.value.as_deref(),
            &spec.headers,
        );
    }
    let max_delta = records.iter().map(|r| r.timestamp_delta).max().unwrap_or(0);
    let count = i32::try_from(records.len()).unwrap_or(i32::MAX);
    let header = BatchHeader {
        base_offset,
        // The batches built here (test data, the coordinator's commits, which a request
        // frame bounds) are far below the 2 GiB the field can state.
        batch_length: batch_length_of(out.len()).unwrap_or(i32::MAX),
        ..BatchHeader::unsealed(
            Compression::None,
            count,
            base_timestamp,
            base_timestamp.saturating_add(max_delta),
        )
    };
    header.write(&mut out);
    write_crc(&mut out);
    out
}

/// Marks a batch as written by an idempotent producer (producer id, epoch, first sequence) and
/// recomputes its CRC.
pub fn with_producer(
    mut batch: Vec<u8>,
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
) -> Vec<u8> {
    set_producer(&mut batch, producer_id, epoch, base_sequence);
    batch
}

/// A batch of `count` records whose values are `value_len` bytes each, a quick way to make a
/// batch of a given size.
pub fn filler_batch(base_timestamp: i64, count: usize, value_len: usize) -> Vec<u8> {
    let specs: Vec<RecordSpec> = (0..count)
        .map(|i| RecordSpec::value(vec![(i % 251) as u8; value_len]))
        .collect();
    build_batch(0, base_timestamp, &specs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::check;

    #[test]
    fn a_built_batch_decodes_with_kafka_protocols_decoder() {
        use kafka_protocol::records::RecordBatchDecoder;
        let specs = vec![
            RecordSpec {
                key: Some(b"k".to_vec()),
                headers: vec![Header::new("h", "v")],
                ..RecordSpec::value(b"one".to_vec())
            },
            RecordSpec {
                timestamp_delta: 7,
                ..RecordSpec::value(b"two".to_vec())
            },
        ];
        let batch = with_producer(build_batch(40, 1_000, &specs), 7, 3, 42);
        let header = check(&batch).unwrap();
        assert_eq!((header.last_offset_delta, header.max_timestamp), (1, 1_007));
        // kafka-protocol's decoder is an implementation independent of this crate; it checks
        // the CRC too.
        let set = RecordBatchDecoder::decode(&mut bytes::Bytes::from(batch)).unwrap();
        let got: Vec<_> = set
            .records
            .iter()
            .map(|r| (r.offset, r.timestamp, r.sequence, r.value.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (40, 1_000, 42, Some(&b"one"[..])),
                (41, 1_007, 43, Some(&b"two"[..]))
            ]
        );
        let first = &set.records[0];
        assert_eq!((first.producer_id, first.producer_epoch), (7, 3));
        assert_eq!(first.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(first.headers.len(), 1);
    }
}
