//! OffsetDelete (47): removes a group's committed offsets for partitions of topics the group is
//! not subscribed to; those it still consumes answer GROUP_SUBSCRIBED_TO_TOPIC (86).

use std::collections::HashSet;

use bytes::Bytes;
use flyq_protocol::consumer_protocol::decode_subscription;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::{Close, Request};
use crate::errors::group_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: OffsetDeleteRequest = request.decode()?;
    let groups = request.context.broker.groups();
    let subscribed: HashSet<String> = match groups.describe(req.group_id.as_str()) {
        Some(group) if group.protocol_type == "consumer" => group
            .members
            .iter()
            // A member whose metadata does not decode subscribes to nothing we can name.
            .flat_map(|m| {
                decode_subscription(m.metadata.clone())
                    .map(|s| s.topics)
                    .unwrap_or_default()
            })
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
