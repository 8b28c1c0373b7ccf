//! OffsetDelete (47): removes a group's committed offsets for partitions of topics the group is
//! not subscribed to; those it still consumes answer GROUP_SUBSCRIBED_TO_TOPIC (86).

use std::collections::HashSet;

use bytes::{Buf, Bytes};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, OffsetDeleteRequest, OffsetDeleteResponse,
};
use kafka_protocol::protocol::Decodable;

use super::{Close, Request};
use crate::kafka::errors::group_code;

/// The topics a consumer-protocol member subscribes to, from its JoinGroup metadata (a version
/// prefix, then the subscription at that version).
fn subscribed_topics(metadata: &Bytes) -> Vec<String> {
    let mut body = metadata.clone();
    if body.remaining() < 2 {
        return Vec::new();
    }
    let version = body.get_i16().clamp(0, 3);
    ConsumerProtocolSubscription::decode(&mut body, version)
        .map(|s| s.topics.iter().map(|t| t.as_str().to_owned()).collect())
        .unwrap_or_default()
}

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: OffsetDeleteRequest = request.decode()?;
    let groups = request.context.broker.groups();
    let subscribed: HashSet<String> = match groups.describe(req.group_id.as_str()) {
        Some(group) if group.protocol_type == "consumer" => group
            .members
            .iter()
            .flat_map(|m| subscribed_topics(&m.metadata))
            .collect(),
        _ => HashSet::new(),
    };
    let deletable = req
        .topics
        .iter()
        .filter(|t| !subscribed.contains(t.name.as_str()))
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.as_str().to_owned(), p.partition_index))
        })
        .collect::<Vec<_>>();
    let code = if deletable.is_empty() {
        0
    } else {
        group_code(
            groups
                .delete_offsets(req.group_id.as_str(), deletable)
                .await,
        )
    };
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let in_use = subscribed.contains(t.name.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let answer = OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index);
                    if in_use {
                        answer.with_error_code(ResponseError::GroupSubscribedToTopic.code())
                    } else {
                        answer
                    }
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    request.respond(
        &OffsetDeleteResponse::default()
            .with_error_code(code)
            .with_topics(topics),
    )
}
