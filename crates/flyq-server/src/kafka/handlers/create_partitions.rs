//! CreatePartitions (37): grows topics, optionally with a manual replica assignment for the
//! new partitions (one list per new partition, naming live brokers).

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{Close, Request, str_bytes};
use crate::kafka::errors::error_code;

pub(crate) async fn handle(mut request: Request<'_>) -> Result<Option<Bytes>, Close> {
    let req: CreatePartitionsRequest = request.decode()?;
    let broker = &request.context.broker;
    let results = req
        .topics
        .into_iter()
        .map(|topic| {
            let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            let checked = match &topic.assignments {
                Some(lists) if !lists.is_empty() => {
                    let lists: Vec<Vec<i32>> = lists
                        .iter()
                        .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                        .collect();
                    let new = broker
                        .topic(topic.name.as_str())
                        .map(|t| topic.count - t.partitions.len() as i32);
                    match new {
                        Some(new) if usize::try_from(new).ok() != Some(lists.len()) => Err((
                            ResponseError::InvalidReplicaAssignment.code(),
                            format!("{} replica lists for {new} new partitions", lists.len()),
                        )),
                        _ => broker
                            .check_replica_assignment(&lists)
                            .map(drop)
                            .map_err(|e| (error_code(&e), e.to_string())),
                    }
                }
                _ => Ok(()),
            };
            if let Err((code, message)) = checked {
                return result
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message)));
            }
            match broker.create_partitions(topic.name.as_str(), topic.count, req.validate_only) {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(error_code(&e))
                    .with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    request.respond(&CreatePartitionsResponse::default().with_results(results))
}
