//! The message browser: `GET /api/v1/topics/{topic}/partitions/{partition}/records`, one
//! page of records from an offset, decoded for people.
//!
//! Keys, values and header values are shown as UTF-8 text when they are valid UTF-8 and as
//! base64 otherwise, each with its encoding named. Compressed batches are inflated, within a
//! budget per request (see [`flyq_protocol::decode`]); the bytes read from the log are bounded
//! too, so a page may hold fewer than `limit` records: page on with `next_offset`. Batches are
//! read through the broker's fetch (its blocking hop included) and decoded on the request's
//! task, within those budgets.

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use std::sync::Arc;
use std::time::Duration;

use flyq_broker::{Broker, FetchSpec, PartitionFetch};
use flyq_protocol::BatchHeader;
use flyq_protocol::decode::BatchDecoder;
use kafka_protocol::records::{Record, TimestampType};
use serde::{Deserialize, Serialize};

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

async fn browse(
    broker: &Arc<Broker>,
    topic: &str,
    index: i32,
    from: Option<i64>,
    limit: usize,
) -> ApiResult<RecordPage> {
    // An unknown topic is its own 404, not an unknown partition of it.
    broker
        .topic(topic)
        .ok_or_else(|| ApiError::unknown_topic(topic))?;
    let view = broker.partition(topic, index)?.view();
    let (start, high_watermark) = (view.log_start_offset, view.high_watermark);
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
    let mut decoder = BatchDecoder::new(MAX_INFLATED_BYTES, MAX_BATCH_RECORDS);
    'reading: while page.records.len() < limit && page.next_offset < high_watermark && read_left > 0
    {
        let spec = FetchSpec {
            max_bytes: read_left,
            min_bytes: 0,
            max_wait: Duration::ZERO,
            partitions: vec![PartitionFetch {
                topic: topic.to_owned(),
                partition: index,
                offset: page.next_offset,
                max_bytes: read_left,
            }],
        };
        let Some(read) = broker.fetch(spec).await?.pop() else {
            break;
        };
        let mut rest = read.batches?;
        if rest.is_empty() {
            break;
        }
        read_left = read_left.saturating_sub(rest.len());
        while !rest.is_empty() {
            let header = BatchHeader::parse(&rest)
                .map_err(|e| ApiError::internal("reading a stored batch header", &e))?;
            let len = usize::try_from(header.total_len())
                .unwrap_or(usize::MAX)
                .min(rest.len());
            let batch = rest.split_to(len);
            let records = match decoder.decode(batch) {
                Ok(decoded) => decoded.records,
                // Show what decoded; the next page starts at this batch and reports it.
                Err(_) if !page.records.is_empty() => break 'reading,
                // What a producer stored cannot be shown (too large to inflate within the
                // budget, or corrupt): say which batch, and where the next one starts.
                Err(e) => {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "batch_undecodable",
                        format!(
                            "the batch at offsets {}..{} cannot be shown ({e}); continue at offset={}",
                            header.base_offset,
                            header.next_offset(),
                            header.next_offset()
                        ),
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
    browse(state.broker()?, &topic, partition, query.offset, limit)
        .await
        .map(Json)
}
