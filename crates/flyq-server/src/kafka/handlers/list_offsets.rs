//! ListOffsets (2): an offset per partition, by spec: the latest (-1: the high watermark), the
//! earliest (-2), the record with the largest timestamp (-3, v7+), the earliest local offset
//! (-4, v8+: the log start, as nothing is tiered), the latest tiered offset (-5, v9+: none, as
//! nothing is tiered), or the first record at or after a timestamp (>= 0).

use bytes::Bytes;
use flyq_log::{Log, TimestampOffset};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{Close, Request};
use crate::kafka::errors::{error_code, log_error_code};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// The leader epoch of every batch on a single node.
const LEADER_EPOCH: i32 = 0;

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
            let answer = match broker.partition(topic.name.as_str(), wanted.partition_index) {
                Err(e) => answer.with_error_code(error_code(&e)),
                Ok(partition) => match lookup(&partition.log, wanted.timestamp) {
                    Ok(Some(found)) => {
                        let answer = answer
                            .with_offset(found.offset)
                            .with_timestamp(found.timestamp);
                        if request.version >= 4 {
                            answer.with_leader_epoch(LEADER_EPOCH)
                        } else {
                            answer
                        }
                    }
                    Ok(None) => answer,
                    Err(code) => answer.with_error_code(code),
                },
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

/// The offset (and for lookups by time, the timestamp) that `spec` names in `log`; `None`
/// when there is none. Specs without a timestamp answer with -1 there, as Kafka does. The
/// error is a Kafka error code (INVALID_REQUEST for a negative timestamp that names no spec).
fn lookup(log: &Log, spec: i64) -> Result<Option<TimestampOffset>, i16> {
    let offset_only = |offset| {
        Some(TimestampOffset {
            offset,
            timestamp: -1,
        })
    };
    let by_time = match spec {
        LATEST => return Ok(offset_only(log.high_watermark())),
        EARLIEST | EARLIEST_LOCAL => return Ok(offset_only(log.log_start_offset())),
        LATEST_TIERED => return Ok(None),
        MAX_TIMESTAMP => log.offset_of_max_timestamp(),
        timestamp if timestamp >= 0 => log.offset_for_timestamp(timestamp),
        _ => return Err(ResponseError::InvalidRequest.code()),
    };
    // As Kafka: a record not yet below the high watermark is not visible to consumers, so it
    // is not answered either.
    let high_watermark = log.high_watermark();
    Ok(by_time
        .map_err(|e| log_error_code(&e))?
        .filter(|found| found.offset < high_watermark))
}
