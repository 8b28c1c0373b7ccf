//! CreatePartitions (37): grows topics, optionally with a manual replica assignment for the
//! new partitions (one list per new partition, naming live brokers).

use bytes::Bytes;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{Close, Request, str_bytes};
use crate::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: CreatePartitionsRequest = request.decode()?;
    let broker = &request.context.broker;
    let mut results = Vec::with_capacity(req.topics.len());
    for topic in req.topics {
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        let assignment = topic
            .assignments
            .as_ref()
            .filter(|lists| !lists.is_empty())
            .map(|lists| {
                lists
                    .iter()
                    .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            });
        let grown = broker
            .create_partitions(
                topic.name.as_str(),
                topic.count,
                assignment,
                req.validate_only,
            )
            .await;
        results.push(match grown {
            Ok(()) => result,
            Err(e) => result
                .with_error_code(error_code(&e))
                .with_error_message(Some(str_bytes(e.to_string()))),
        });
    }
    request.respond(&CreatePartitionsResponse::default().with_results(results))
}
