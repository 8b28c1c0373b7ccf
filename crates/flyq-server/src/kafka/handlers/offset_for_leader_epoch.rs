//! OffsetForLeaderEpoch (23): the end offset of a leader epoch, which clients use to detect a
//! log that was truncated under them (KIP-320). On a single node there is one epoch, 0, since
//! each partition was created; it ends at the log end.

use bytes::Bytes;
use flyq_broker::LEADER_EPOCH;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::{Close, Request};
use crate::kafka::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: OffsetForLeaderEpochRequest = request.decode()?;
    let broker = &request.context.broker;
    let topics = req
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| {
                    let answer = EpochEndOffset::default()
                        .with_partition(wanted.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    match broker.partition(topic.topic.as_str(), wanted.partition) {
                        Err(e) => answer.with_error_code(error_code(&e)),
                        // The client knows of an epoch this node never had.
                        Ok(_) if wanted.current_leader_epoch > LEADER_EPOCH => {
                            answer.with_error_code(ResponseError::UnknownLeaderEpoch.code())
                        }
                        Ok(_) if wanted.leader_epoch > LEADER_EPOCH => answer,
                        Ok(partition) => answer
                            .with_leader_epoch(LEADER_EPOCH)
                            .with_end_offset(partition.log.log_end_offset()),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    request.respond(&OffsetForLeaderEpochResponse::default().with_topics(topics))
}
