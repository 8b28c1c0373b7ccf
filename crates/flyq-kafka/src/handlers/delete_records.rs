//! DeleteRecords (21): moves partitions' log start offsets (-1: to the high watermark), through
//! [`flyq_broker::Broker::delete_records`].

use bytes::Bytes;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{Close, Request};
use crate::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: DeleteRecordsRequest = request.decode()?;
    let broker = &request.context.broker;
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in topic.partitions {
            let result = DeleteRecordsPartitionResult::default()
                .with_partition_index(wanted.partition_index)
                .with_low_watermark(-1);
            let moved = broker
                .delete_records(topic.name.as_str(), wanted.partition_index, wanted.offset)
                .await;
            partitions.push(match moved {
                Ok(low_watermark) => result.with_low_watermark(low_watermark),
                Err(e) => result.with_error_code(error_code(&e)),
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    request.respond(&DeleteRecordsResponse::default().with_topics(topics))
}
