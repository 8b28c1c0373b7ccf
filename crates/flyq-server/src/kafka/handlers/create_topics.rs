//! CreateTopics (19): new topics with a partition count and config overrides. A single node
//! takes replication factor 1 (or -1, the default) only, and no manual replica assignment.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{Close, Request, config_map, str_bytes};
use crate::kafka::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: CreateTopicsRequest = request.decode()?;
    let broker = &request.context.broker;
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let name = topic.name.as_str().to_owned();
        let partitions = if topic.num_partitions == -1 {
            broker.config().default_partitions
        } else {
            topic.num_partitions
        };
        let configs = config_map(topic.configs.iter().map(|c| (&c.name, c.value.as_ref())));
        let version = request.version;
        let mut result = CreatableTopicResult::default().with_name(topic.name.clone());
        if version >= 5 {
            result = result
                .with_num_partitions(partitions)
                .with_replication_factor(1);
        }
        let failure = |code: i16, message: String| {
            let failed = CreatableTopicResult::default()
                .with_name(topic.name.clone())
                .with_error_code(code);
            if version >= 5 {
                failed
                    .with_error_message(Some(str_bytes(message)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
            } else {
                failed.with_error_message(Some(str_bytes(message)))
            }
        };
        let result = if !matches!(topic.replication_factor, -1 | 1) {
            failure(
                ResponseError::InvalidReplicationFactor.code(),
                format!(
                    "replication factor {} is more than this single node has",
                    topic.replication_factor
                ),
            )
        } else if !topic.assignments.is_empty() {
            failure(
                ResponseError::InvalidReplicaAssignment.code(),
                "manual replica assignment is not supported".into(),
            )
        } else if req.validate_only {
            match broker.validate_new_topic(&name, partitions, &configs) {
                Ok(()) => result,
                Err(e) => failure(error_code(&e), e.to_string()),
            }
        } else {
            // Opening the partitions' logs and saving the metadata is file I/O with fsyncs.
            let created = {
                let broker = std::sync::Arc::clone(broker);
                let name = name.clone();
                tokio::task::spawn_blocking(move || broker.create_topic(&name, partitions, configs))
                    .await
            };
            let created = match created {
                Ok(result) => result,
                Err(e) => Err(flyq_broker::BrokerError::Metadata {
                    context: "creating a topic".into(),
                    source: std::io::Error::other(e),
                }),
            };
            match created {
                Ok(created) if version >= 7 => result.with_topic_id(created.id),
                Ok(_) => result,
                Err(e) => failure(error_code(&e), e.to_string()),
            }
        };
        results.push(result);
    }
    request.respond(&CreateTopicsResponse::default().with_topics(results))
}
