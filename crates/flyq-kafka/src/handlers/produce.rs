//! Produce (0): append each partition's RecordBatch as it arrived.
//!
//! acks = 0 gets no response; 1 and -1 (all) are answered after the append, which on a single
//! node is also when the high watermark passes it. Durability beyond that is the topic's flush
//! policy (`flush.messages` = 1 syncs before the answer). acks = -1 on a topic whose
//! `min.insync.replicas` exceeds the in-sync replicas is refused (NOT_ENOUGH_REPLICAS). A
//! `LogAppendTime` topic answers with the append time the broker stamped.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{Close, Request};
use crate::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: ProduceRequest = request.decode()?;
    let broker = &request.context.broker;
    let acks = flyq_broker::Acks::from_kafka(req.acks);
    let acks_valid = acks.is_some();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.as_str().to_owned();
        let known = acks_valid && matches!(broker.topic_or_auto_create(&name).await, Ok(Some(_)));
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let answer = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1);
            let answer = if !acks_valid {
                answer.with_error_code(ResponseError::InvalidRequiredAcks.code())
            } else if !known {
                answer.with_error_code(ResponseError::UnknownTopicOrPartition.code())
            } else {
                let records = data.records.unwrap_or_default();
                let acks = acks.unwrap_or(flyq_broker::Acks::All);
                match broker.produce(&name, data.index, records, acks).await {
                    Ok(outcome) => {
                        let answer = answer
                            .with_base_offset(outcome.base_offset)
                            .with_log_append_time_ms(outcome.log_append_time.unwrap_or(-1));
                        if request.version >= 5 {
                            answer.with_log_start_offset(outcome.log_start_offset)
                        } else {
                            answer
                        }
                    }
                    Err(e) => {
                        tracing::debug!(target: "flyq::kafka", topic = %name, partition = data.index, error = %e, "produce refused");
                        answer.with_error_code(error_code(&e))
                    }
                }
            };
            partitions.push(answer);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    if req.acks == 0 {
        return Ok(None);
    }
    request.respond(&ProduceResponse::default().with_responses(responses))
}
