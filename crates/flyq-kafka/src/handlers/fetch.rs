//! Fetch (1): whole batches from each partition, up to its high watermark, with Kafka's size
//! limits and the long-poll wait, both the broker's ([`flyq_broker::Broker::fetch`]). This
//! handler translates: the request's limits are capped by the broker's own
//! (`max_fetch_bytes`, `max_fetch_wait`), and the answers go back in the request's order. No
//! fetch sessions yet: every response is a full one (session id 0), which clients accept.

use std::time::Duration;

use bytes::Bytes;
use flyq_broker::{FetchSpec, PartitionFetch};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};

use super::{Close, Request};
use crate::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: FetchRequest = request.decode()?;
    let context = request.context;
    let spec = FetchSpec {
        max_bytes: usize::try_from(req.max_bytes)
            .unwrap_or(0)
            .clamp(1, context.config.max_fetch_bytes),
        min_bytes: usize::try_from(req.min_bytes).unwrap_or(0),
        max_wait: Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0))
            .min(context.config.max_fetch_wait),
        partitions: req
            .topics
            .iter()
            .flat_map(|topic| {
                topic.partitions.iter().map(|p| PartitionFetch {
                    topic: topic.topic.as_str().to_owned(),
                    partition: p.partition,
                    offset: p.fetch_offset,
                    max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
                })
            })
            .collect(),
    };
    let answers = context
        .broker
        .fetch(spec)
        .await
        .map_err(|e| Close(format!("a fetch failed: {e}")))?;
    let mut answers = answers.into_iter();
    let mut responses = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in &topic.partitions {
            let mut answer = PartitionData::default()
                .with_partition_index(wanted.partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_records(Some(Bytes::new()));
            let Some(fetched) = answers.next() else {
                return Err(Close(
                    "the broker answered fewer partitions than asked".into(),
                ));
            };
            if let Some(view) = &fetched.view {
                answer = answer
                    .with_high_watermark(view.high_watermark)
                    .with_last_stable_offset(view.high_watermark);
                if request.version >= 5 {
                    answer = answer.with_log_start_offset(view.log_start_offset);
                }
            }
            partitions.push(match fetched.batches {
                Ok(batches) => answer.with_records(Some(batches)),
                Err(e) => answer.with_error_code(error_code(&e)),
            });
        }
        responses.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic)
                .with_partitions(partitions),
        );
    }
    request.respond(&FetchResponse::default().with_responses(responses))
}
