//! Fetch (1): whole batches from each partition, up to its high watermark.
//!
//! If fewer than `min_bytes` are ready, the request waits (up to `max_wait_ms`, capped by the
//! broker) on the partitions' high watermarks and answers as soon as one moves. Byte limits:
//! each partition's `partition_max_bytes`, the request's `max_bytes` and the broker's own cap,
//! except that the first batch found is always returned whole, so a batch larger than the
//! limits cannot stall a consumer. No fetch sessions yet: every response is a full one
//! (session id 0), which clients accept.

use std::time::{Duration, Instant};

use bytes::Bytes;
use flyq_broker::Broker;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};

use super::{Close, Request};
use crate::kafka::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: FetchRequest = request.decode()?;
    let context = request.context;
    let broker = &context.broker;
    let max_total = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .clamp(1, context.config.max_fetch_bytes);
    let max_wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0))
        .min(context.config.max_fetch_wait);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let deadline = Instant::now() + max_wait;
    loop {
        let mut watches = Vec::new();
        let mut total = 0usize;
        let mut errors = false;
        let mut responses = Vec::with_capacity(req.topics.len());
        for topic in &req.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for wanted in &topic.partitions {
                let answer = PartitionData::default()
                    .with_partition_index(wanted.partition)
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_records(Some(Bytes::new()));
                let partition = match broker.partition(topic.topic.as_str(), wanted.partition) {
                    Ok(p) => p,
                    Err(e) => {
                        errors = true;
                        partitions.push(answer.with_error_code(error_code(&e)));
                        continue;
                    }
                };
                // Subscribe before reading: an append in between then still wakes us.
                watches.push(partition.watch_high_watermark());
                let log = &partition.log;
                let high_watermark = log.high_watermark();
                let mut answer = answer
                    .with_high_watermark(high_watermark)
                    .with_last_stable_offset(high_watermark);
                if request.version >= 5 {
                    answer = answer.with_log_start_offset(log.log_start_offset());
                }
                let budget = usize::try_from(wanted.partition_max_bytes)
                    .unwrap_or(0)
                    .min(max_total.saturating_sub(total));
                if budget == 0 && total > 0 {
                    partitions.push(answer);
                    continue;
                }
                match broker.read(&partition, wanted.fetch_offset, budget.max(1)) {
                    Ok(read) => {
                        total += read.batches.len();
                        partitions.push(answer.with_records(Some(read.batches)));
                    }
                    Err(e) => {
                        errors = true;
                        partitions.push(answer.with_error_code(error_code(&e)));
                    }
                }
            }
            responses.push(
                FetchableTopicResponse::default()
                    .with_topic(topic.topic.clone())
                    .with_partitions(partitions),
            );
        }
        let now = Instant::now();
        // min_bytes = 0 answers at once; a min_bytes above what one response may carry is
        // capped, or it could never be met and every append would wake a pointless re-read.
        let enough = total >= min_bytes.min(max_total);
        if enough || errors || now >= deadline || watches.is_empty() {
            return request.respond(&FetchResponse::default().with_responses(responses));
        }
        Broker::wait_for_data(watches, deadline - now).await;
    }
}
