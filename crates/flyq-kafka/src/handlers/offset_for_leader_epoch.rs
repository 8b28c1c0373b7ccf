//! OffsetForLeaderEpoch (23): the end offset of a leader epoch, which clients use to detect a
//! log that was truncated under them (KIP-320); the answer is the broker's
//! ([`flyq_broker::Broker::end_of_leader_epoch`]).

use bytes::Bytes;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::{Close, Request};
use crate::errors::error_code;

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
                    match broker.end_of_leader_epoch(
                        topic.topic.as_str(),
                        wanted.partition,
                        wanted.current_leader_epoch,
                        wanted.leader_epoch,
                    ) {
                        Err(e) => answer.with_error_code(error_code(&e)),
                        Ok(None) => answer,
                        Ok(Some((epoch, end))) => {
                            answer.with_leader_epoch(epoch).with_end_offset(end)
                        }
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
