//! OffsetDelete (47): removes a group's committed offsets for some partitions.

use bytes::Bytes;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::{Close, Request};

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: OffsetDeleteRequest = request.decode()?;
    let partitions = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.as_str().to_owned(), p.partition_index))
        })
        .collect();
    let code = request
        .context
        .broker
        .groups()
        .delete_offsets(req.group_id.as_str(), partitions)
        .await;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetDeleteResponsePartition::default().with_partition_index(p.partition_index)
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
