//! OffsetCommit (8): stores a group's consumed positions durably, with a code per partition
//! (UNKNOWN_TOPIC_OR_PARTITION for partitions that do not exist, as Kafka answers).

use bytes::Bytes;
use flyq_broker::group::{CommittedOffset, MemberClaim, codes};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::{Close, Request};
use crate::errors::group_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: OffsetCommitRequest = request.decode()?;
    let offsets = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                let committed = CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p
                        .committed_metadata
                        .as_ref()
                        .map(|m| m.as_str().to_owned())
                        .unwrap_or_default(),
                };
                (t.name.as_str().to_owned(), p.partition_index, committed)
            })
        })
        .collect();
    let claim = MemberClaim {
        member_id: req.member_id.as_str(),
        instance_id: req.group_instance_id.as_ref().map(|i| i.as_str()),
        generation: req.generation_id_or_member_epoch,
    };
    let broker = &request.context.broker;
    let partition_exists = |topic: &str, partition| broker.partition(topic, partition).is_ok();
    let results = broker
        .groups()
        .commit(req.group_id.as_str(), claim, offsets, partition_exists)
        .await;
    // One code per partition, in request order.
    let mut results = results.into_iter();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(group_code(
                            results.next().unwrap_or(codes::UNKNOWN_SERVER_ERROR),
                        ))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    request.respond(&OffsetCommitResponse::default().with_topics(topics))
}
