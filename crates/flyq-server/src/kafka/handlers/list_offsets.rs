//! ListOffsets (2): the earliest offset (-2), the latest (-1: the high watermark), or the
//! first offset at or after a timestamp.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{Close, Request};
use crate::kafka::errors::{error_code, log_error_code};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: ListOffsetsRequest = request.decode()?;
    let broker = &request.context.broker;
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in topic.partitions {
            let mut answer = ListOffsetsPartitionResponse::default()
                .with_partition_index(wanted.partition_index)
                .with_timestamp(-1)
                .with_offset(-1);
            if request.version >= 4 {
                answer = answer.with_leader_epoch(0);
            }
            let answer = match broker.partition(topic.name.as_str(), wanted.partition_index) {
                Err(e) => answer.with_error_code(error_code(&e)),
                Ok(partition) => {
                    let log = &partition.log;
                    match wanted.timestamp {
                        LATEST => answer.with_offset(log.high_watermark()),
                        EARLIEST => answer.with_offset(log.log_start_offset()),
                        ts if ts >= 0 => match log.offset_for_timestamp(ts) {
                            Ok(Some(found)) => answer
                                .with_offset(found.offset)
                                .with_timestamp(found.timestamp),
                            Ok(None) => answer,
                            Err(e) => answer.with_error_code(log_error_code(&e)),
                        },
                        _ => answer.with_error_code(ResponseError::InvalidRequest.code()),
                    }
                }
            };
            partitions.push(answer);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    request.respond(&ListOffsetsResponse::default().with_topics(topics))
}
