//! ListOffsets (2): an offset per partition, by spec: the latest (-1: the high watermark), the
//! earliest (-2), the record with the largest timestamp (-3, v7+), the earliest local offset
//! (-4, v8+: the log start, as nothing is tiered), the latest tiered offset (-5, v9+: none, as
//! nothing is tiered), or the first record at or after a timestamp (>= 0). The lookups are
//! the broker's ([`flyq_broker::Broker::list_offsets`]).

use bytes::Bytes;
use flyq_broker::OffsetSpec;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{Close, Request};
use crate::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: ListOffsetsRequest = request.decode()?;
    let broker = &request.context.broker;
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in topic.partitions {
            // Defaults: no offset, no timestamp, unknown leader epoch (-1).
            let answer = ListOffsetsPartitionResponse::default()
                .with_partition_index(wanted.partition_index)
                .with_timestamp(-1)
                .with_offset(-1);
            let Some(spec) = OffsetSpec::from_kafka(wanted.timestamp) else {
                partitions.push(answer.with_error_code(ResponseError::InvalidRequest.code()));
                continue;
            };
            let found = broker
                .list_offsets(topic.name.as_str(), wanted.partition_index, spec)
                .await;
            partitions.push(match found {
                Ok(Some(found)) => {
                    let answer = answer
                        .with_offset(found.offset)
                        .with_timestamp(found.timestamp);
                    if request.version >= 4 {
                        answer.with_leader_epoch(found.leader_epoch)
                    } else {
                        answer
                    }
                }
                Ok(None) => answer,
                Err(e) => answer.with_error_code(error_code(&e)),
            });
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    request.respond(&ListOffsetsResponse::default().with_topics(topics))
}
