//! Encodes uncompressed RecordBatch v2 bytes: for tests, benchmarks and tools that need a
//! valid batch without a Kafka client. The broker never re-encodes what producers send.

use crate::batch::{BATCH_HEADER_LEN, MAGIC_V2, compute_crc};

/// One record to encode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSpec {
    /// Record key; `None` encodes a null key.
    pub key: Option<Vec<u8>>,
    /// Record value; `None` encodes a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers as (key, value) pairs.
    pub headers: Vec<(String, Vec<u8>)>,
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

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut zz = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let byte = (zz & 0x7f) as u8;
        zz >>= 7;
        if zz == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
        None => put_varint(out, -1),
    }
}

/// Encodes `records` as one uncompressed batch with the given base offset and timestamp, no
/// producer id, and partition leader epoch -1 (as a producer sends it).
pub fn build_batch(base_offset: i64, base_timestamp: i64, records: &[RecordSpec]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut record = Vec::new();
    for (delta, spec) in records.iter().enumerate() {
        record.clear();
        record.push(0); // attributes
        put_varint(&mut record, spec.timestamp_delta);
        put_varint(&mut record, delta as i64);
        put_bytes(&mut record, spec.key.as_deref());
        put_bytes(&mut record, spec.value.as_deref());
        put_varint(&mut record, spec.headers.len() as i64);
        for (k, v) in &spec.headers {
            put_bytes(&mut record, Some(k.as_bytes()));
            put_bytes(&mut record, Some(v));
        }
        put_varint(&mut body, record.len() as i64);
        body.extend_from_slice(&record);
    }
    let max_delta = records.iter().map(|r| r.timestamp_delta).max().unwrap_or(0);
    let mut out = Vec::with_capacity(BATCH_HEADER_LEN + body.len());
    out.extend_from_slice(&base_offset.to_be_bytes());
    out.extend_from_slice(&((BATCH_HEADER_LEN - 12 + body.len()) as i32).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    out.push(MAGIC_V2 as u8);
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.extend_from_slice(&0i16.to_be_bytes()); // attributes
    out.extend_from_slice(&(records.len() as i32 - 1).to_be_bytes());
    out.extend_from_slice(&base_timestamp.to_be_bytes());
    out.extend_from_slice(&(base_timestamp + max_delta).to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    out.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    out.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    out.extend_from_slice(&(records.len() as i32).to_be_bytes());
    out.extend_from_slice(&body);
    let crc = compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
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
    batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
    batch[51..53].copy_from_slice(&epoch.to_be_bytes());
    batch[53..57].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = compute_crc(&batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
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
