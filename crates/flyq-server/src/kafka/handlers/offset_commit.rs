//! OffsetCommit (8): stores a group's consumed positions durably.

use bytes::Bytes;
use flyq_broker::group::CommittedOffset;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::{Close, Request};

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
    let code = request
        .context
        .broker
        .groups()
        .commit(
            req.group_id.as_str(),
            req.member_id.as_str(),
            req.generation_id_or_member_epoch,
            offsets,
        )
        .await;
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
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    request.respond(&OffsetCommitResponse::default().with_topics(topics))
}
