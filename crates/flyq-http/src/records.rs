//! The message browser: `GET /api/v1/topics/{topic}/partitions/{partition}/records`, one
//! page of records from an offset, decoded for people.
//!
//! Keys, values and header values are shown as UTF-8 text when they are valid UTF-8 and as
//! base64 otherwise, each with its encoding named. Compressed batches are inflated, within a
//! budget per request (see [`crate::decompress`]); the bytes read from the log are bounded
//! too, so a page may hold fewer than `limit` records: page on with `next_offset`.

use std::cell::Cell;

use axum::extract::State;
use base64::Engine as _;
use bytes::Bytes;
use flyq_broker::Broker;
use flyq_log::BatchHeader;
use kafka_protocol::records::{Record, RecordBatchDecoder, TimestampType};
use serde::{Deserialize, Serialize};

use crate::blocking::with_broker;
use crate::decompress::decompress;
use crate::error::{ApiError, ApiResult, Json, Path, Query};
use crate::state::HttpState;

/// Records per page unless the caller asks otherwise.
pub(crate) const DEFAULT_LIMIT: usize = 20;
/// Most records per page.
pub(crate) const MAX_LIMIT: usize = 1000;
/// Most stored bytes one page reads from the log (a single larger batch is still read whole).
const MAX_READ_BYTES: usize = 4 << 20;
/// Most bytes one page inflates compressed batches into.
const MAX_INFLATED_BYTES: usize = 16 << 20;
/// The smallest encoded record: length, attributes, timestamp and offset deltas, key and
/// value lengths, header count, one byte each.
const MIN_RECORD_BYTES: usize = 7;
/// Most records one batch may claim before the browser refuses to decode it (a 1 MiB batch
/// of the smallest records holds about 150,000).
const MAX_BATCH_RECORDS: usize = 200_000;

/// Query parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    /// First offset wanted; the log start offset if absent.
    offset: Option<i64>,
    /// Most records returned, 1 to 1000 (default 20).
    limit: Option<usize>,
}

/// Bytes as text when they are UTF-8, else base64.
#[derive(Debug, Serialize)]
pub(crate) struct Data {
    encoding: &'static str,
    data: String,
}

impl Data {
    fn of(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self {
                encoding: "utf8",
                data: text.to_owned(),
            },
            Err(_) => Self {
                encoding: "base64",
                data: base64::engine::general_purpose::STANDARD.encode(bytes),
            },
        }
    }
}

/// A record header.
#[derive(Debug, Serialize)]
pub(crate) struct Header {
    key: String,
    value: Option<Data>,
}

/// A record as the browser shows it.
#[derive(Debug, Serialize)]
pub(crate) struct RecordView {
    offset: i64,
    timestamp: i64,
    /// `create_time` (set by the producer) or `log_append_time`.
    timestamp_type: &'static str,
    key: Option<Data>,
    value: Option<Data>,
    headers: Vec<Header>,
}

impl RecordView {
    fn of(record: &Record) -> Self {
        Self {
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: match record.timestamp_type {
                TimestampType::Creation => "create_time",
                TimestampType::LogAppend => "log_append_time",
            },
            key: record.key.as_deref().map(Data::of),
            value: record.value.as_deref().map(Data::of),
            headers: record
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: v.as_deref().map(Data::of),
                })
                .collect(),
        }
    }
}

/// One page of records.
#[derive(Debug, Serialize)]
pub(crate) struct RecordPage {
    topic: String,
    partition: i32,
    log_start_offset: i64,
    high_watermark: i64,
    records: Vec<RecordView>,
    /// Where the next page starts.
    next_offset: i64,
}

/// Decodes one stored batch, inflating at most `budget` bytes (which it then uses up).
fn decode_batch(
    batch: Bytes,
    header: &BatchHeader,
    budget: &Cell<usize>,
) -> anyhow::Result<Vec<Record>> {
    // kafka-protocol reserves space for the header's record count before decoding: check it
    // against the bytes that can actually hold that many records, or a forged count in a
    // stored batch would make it allocate without bound.
    let count = usize::try_from(header.records_count).unwrap_or(0);
    let inflate = |compressed: &mut Bytes, compression| {
        let inflated = decompress(compressed.split_off(0), compression, budget.get())?;
        if count > MAX_BATCH_RECORDS || count.saturating_mul(MIN_RECORD_BYTES) > inflated.len() {
            anyhow::bail!("batch claims {count} records in {} bytes", inflated.len());
        }
        budget.set(budget.get().saturating_sub(inflated.len()));
        Ok(inflated)
    };
    let mut batch = batch;
    Ok(RecordBatchDecoder::decode_with_custom_compression(&mut batch, Some(inflate))?.records)
}

fn browse(
    broker: &Broker,
    topic: &str,
    index: i32,
    from: Option<i64>,
    limit: usize,
) -> ApiResult<RecordPage> {
    // An unknown topic is its own 404, not an unknown partition of it.
    broker
        .topic(topic)
        .ok_or_else(|| ApiError::unknown_topic(topic))?;
    let partition = broker.partition(topic, index)?;
    let log = &partition.log;
    let (start, high_watermark) = (log.log_start_offset(), log.high_watermark());
    let from = from.unwrap_or(start);
    if !(start..=high_watermark).contains(&from) {
        return Err(ApiError::bad_request(
            "offset_out_of_range",
            format!(
                "offset {from} is outside {start}..={high_watermark} (log start to high watermark)"
            ),
        ));
    }
    let mut page = RecordPage {
        topic: topic.to_owned(),
        partition: index,
        log_start_offset: start,
        high_watermark,
        records: Vec::new(),
        next_offset: from,
    };
    let mut read_left = MAX_READ_BYTES;
    let budget = Cell::new(MAX_INFLATED_BYTES);
    'reading: while page.records.len() < limit && page.next_offset < high_watermark && read_left > 0
    {
        let read = broker.read(&partition, page.next_offset, read_left)?;
        if read.batches.is_empty() {
            break;
        }
        read_left = read_left.saturating_sub(read.batches.len());
        let mut rest = read.batches;
        while !rest.is_empty() {
            let header = BatchHeader::parse(&rest)
                .map_err(|e| ApiError::internal("reading a stored batch header", &e))?;
            let len = usize::try_from(header.total_len())
                .unwrap_or(usize::MAX)
                .min(rest.len());
            let batch = rest.split_to(len);
            let records = match decode_batch(batch, &header, &budget) {
                Ok(records) => records,
                // Show what decoded; the next page starts at this batch and reports it.
                Err(_) if !page.records.is_empty() => break 'reading,
                Err(e) => {
                    return Err(ApiError::internal(
                        &format!("decoding the batch at offset {}", header.base_offset),
                        &e,
                    ));
                }
            };
            let wanted_from = page.next_offset;
            for record in records
                .iter()
                .filter(|r| r.offset >= wanted_from && !r.control)
            {
                if page.records.len() == limit {
                    break 'reading;
                }
                page.records.push(RecordView::of(record));
                page.next_offset = record.offset + 1;
            }
            page.next_offset = page.next_offset.max(header.next_offset());
        }
    }
    Ok(page)
}

pub(crate) async fn list(
    State(state): State<HttpState>,
    Path((topic, partition)): Path<(String, i32)>,
    Query(query): Query<Page>,
) -> ApiResult<Json<RecordPage>> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    if query.offset.is_some_and(|o| o < 0) {
        return Err(ApiError::bad_request(
            "invalid_offset",
            "offset must not be negative",
        ));
    }
    let broker = state.broker()?;
    with_broker(broker, move |b| {
        browse(b, &topic, partition, query.offset, limit)
    })
    .await
    .map(Json)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::BytesMut;
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};

    use super::*;

    fn batch(compression: Compression, count: i64) -> Bytes {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: i as i32,
                timestamp: 1_700_000_000_000,
                key: None,
                value: Some(Bytes::from(format!("value {i} ").repeat(50))),
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

    #[test]
    fn batches_in_every_codec_decode_within_the_budget() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let bytes = batch(compression, 100);
            let header = BatchHeader::parse(&bytes).unwrap();
            let budget = Cell::new(1 << 20);
            let records = decode_batch(bytes.clone(), &header, &budget).unwrap();
            assert_eq!(records.len(), 100, "{compression:?}");
            assert_eq!(
                records[99].value.as_deref(),
                Some("value 99 ".repeat(50).as_bytes())
            );
            assert!(budget.get() < 1 << 20, "{compression:?} used no budget");
            // A budget smaller than the batch inflates to refuses it. (Uncompressed records
            // are already in memory, bounded by the log read: nothing to inflate.)
            if compression != Compression::None {
                let small = Cell::new(1000);
                assert!(
                    decode_batch(bytes, &header, &small).is_err(),
                    "{compression:?}"
                );
            }
        }
    }

    #[test]
    fn a_forged_record_count_is_refused_before_allocating() {
        let mut bytes = batch(Compression::Gzip, 2).to_vec();
        // records_count sits at byte 57 of the batch header; re-sign the batch (CRC at byte
        // 17) as a producer forging it would, so only the count guard stands in the way.
        bytes[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = flyq_log::batch::compute_crc(&bytes);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        let header = BatchHeader::parse(&bytes).unwrap();
        let err = decode_batch(Bytes::from(bytes), &header, &Cell::new(1 << 20)).unwrap_err();
        assert!(err.to_string().contains("claims"), "{err}");
    }
}
