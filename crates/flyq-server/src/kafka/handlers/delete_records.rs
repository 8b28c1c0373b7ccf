//! DeleteRecords (21): moves partitions' log start offsets (-1: to the high watermark).

use bytes::Bytes;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{Close, Request};
use crate::kafka::errors::{error_code, log_error_code};

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: DeleteRecordsRequest = request.decode()?;
    let broker = std::sync::Arc::clone(&request.context.broker);
    let mut topics = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for wanted in topic.partitions {
            let result = DeleteRecordsPartitionResult::default()
                .with_partition_index(wanted.partition_index)
                .with_low_watermark(-1);
            let partition = flyq_broker::refuse_internal_topic(topic.name.as_str())
                .and_then(|()| broker.partition(topic.name.as_str(), wanted.partition_index));
            let result = match partition {
                Err(e) => result.with_error_code(error_code(&e)),
                Ok(partition) => {
                    // Moving the log start writes and syncs a checkpoint: off the async threads.
                    let outcome = tokio::task::spawn_blocking(move || {
                        let log = &partition.log;
                        let offset = if wanted.offset == -1 {
                            log.high_watermark()
                        } else {
                            wanted.offset
                        };
                        log.delete_records(offset)
                    })
                    .await;
                    match outcome {
                        Ok(Ok(low_watermark)) => result.with_low_watermark(low_watermark),
                        Ok(Err(e)) => result.with_error_code(log_error_code(&e)),
                        Err(_) => result.with_error_code(
                            kafka_protocol::ResponseError::UnknownServerError.code(),
                        ),
                    }
                }
            };
            partitions.push(result);
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    request.respond(&DeleteRecordsResponse::default().with_topics(topics))
}
