//! Fetch (1): whole batches from each partition, up to its high watermark.
//!
//! Byte limits: each partition's `partition_max_bytes`, and for the whole response the
//! request's `max_bytes` capped by the broker's own limit. As in Kafka, only the very first
//! batch of the response may exceed them, so that a batch larger than the limits cannot stall
//! a consumer: the first partition that has data returns at least its first batch whole; every
//! later partition gets at most what is left of both limits, possibly nothing. (A client such
//! as librdkafka refuses a response above its own size limit, so one more whole batch would
//! stall it instead.)
//!
//! If fewer than `min_bytes` are ready, the request waits (up to `max_wait_ms`, capped by the
//! broker) on the partitions' high watermarks and answers as soon as one moves; each wake-up
//! reads again under the same limits. It answers at once, whatever `min_bytes` says, when the
//! limits held back data that is ready: waiting cannot add it to this response, and the
//! client's next fetch takes it. No fetch sessions yet: every response is a full one (session
//! id 0), which clients accept.
//!
//! Reads run on a blocking thread: data not in the page cache waits for the disk, and that
//! wait must not hold an async worker that other connections need.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flyq_broker::{Broker, Partition};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use tokio::sync::watch;

use super::{Close, Request};
use crate::kafka::errors::{error_code, log_error_code};

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: Arc<FetchRequest> = Arc::new(request.decode()?);
    let context = request.context;
    let max_total = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .clamp(1, context.config.max_fetch_bytes);
    let max_wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0))
        .min(context.config.max_fetch_wait);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let deadline = Instant::now() + max_wait;
    loop {
        let broker = Arc::clone(&context.broker);
        let wanted = Arc::clone(&req);
        let version = request.version;
        let pass =
            tokio::task::spawn_blocking(move || read_all(&broker, &wanted, version, max_total))
                .await
                .map_err(|e| Close(format!("a fetch read failed: {e}")))?;
        let now = Instant::now();
        // min_bytes = 0 answers at once; a min_bytes above what one response may carry is
        // capped, or it could never be met and every append would wake a pointless re-read.
        // Data that the limits held back is ready for the client's next fetch: waiting would
        // only delay it.
        let enough = pass.total >= min_bytes.min(max_total) || pass.held_back;
        if enough || pass.errors || now >= deadline || pass.watches.is_empty() {
            for (partition, bytes, from, next_offset) in &pass.served {
                partition.record_fetched(*bytes, *from, *next_offset);
            }
            return request.respond(&FetchResponse::default().with_responses(pass.responses));
        }
        Broker::wait_for_data(pass.watches, deadline - now).await;
    }
}

/// One read over every partition a fetch asks for.
struct ReadPass {
    responses: Vec<FetchableTopicResponse>,
    /// High-watermark watches, subscribed before each partition was read, so an append in
    /// between still wakes the waiting request.
    watches: Vec<watch::Receiver<i64>>,
    /// Bytes of batches read.
    total: usize,
    /// Whether any partition answered with an error (which ends the wait at once).
    errors: bool,
    /// Whether some partition had data below its high watermark that this pass did not return.
    held_back: bool,
    /// What each partition read: bytes, from which offset, to which. Counted in the traffic
    /// metrics only if this pass is the one answered.
    served: Vec<(Arc<Partition>, usize, i64, i64)>,
}

fn read_all(broker: &Broker, req: &FetchRequest, version: i16, max_total: usize) -> ReadPass {
    let mut pass = ReadPass {
        responses: Vec::with_capacity(req.topics.len()),
        watches: Vec::new(),
        total: 0,
        errors: false,
        held_back: false,
        served: Vec::new(),
    };
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
                    pass.errors = true;
                    partitions.push(answer.with_error_code(error_code(&e)));
                    continue;
                }
            };
            pass.watches.push(partition.watch_high_watermark());
            let log = &partition.log;
            let high_watermark = log.high_watermark();
            let mut answer = answer
                .with_high_watermark(high_watermark)
                .with_last_stable_offset(high_watermark);
            if version >= 5 {
                answer = answer.with_log_start_offset(log.log_start_offset());
            }
            let budget = usize::try_from(wanted.partition_max_bytes)
                .unwrap_or(0)
                .min(max_total.saturating_sub(pass.total));
            // Kafka's `minOneMessage`: only until the response holds some data may a batch
            // exceed the limits.
            let read = if pass.total == 0 {
                log.read(wanted.fetch_offset, budget, high_watermark)
            } else {
                log.read_at_most(wanted.fetch_offset, budget, high_watermark)
            };
            match read {
                Ok(read) => {
                    pass.total += read.batches.len();
                    pass.held_back |= read.next_offset < high_watermark;
                    pass.served.push((
                        Arc::clone(&partition),
                        read.batches.len(),
                        wanted.fetch_offset,
                        read.next_offset,
                    ));
                    partitions.push(answer.with_records(Some(read.batches)));
                }
                Err(e) => {
                    pass.errors = true;
                    partitions.push(answer.with_error_code(log_error_code(&e)));
                }
            }
        }
        pass.responses.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions),
        );
    }
    pass
}
